package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/internal/cli"
	"github.com/foresight-dev/foresight/internal/strictyaml"
	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// checkCmd validates policy, experiment and Kubernetes manifest files, told apart by their
// kinds: every policy is parsed, validated, translated and every node group's configuration
// checked; every experiment file is validated and its targets are checked against the
// policies given; the Gateway API objects of the manifest files are translated together as
// serve --gateway-controller-name would, and every status condition that is not as it
// should be is a problem, and what serve would serve of them (merged into the first policy
// given) is checked as a policy is. Each good file gets an OK line; each problem is printed
// with its file (and line and field where the parser knows them). The command fails if any
// file does.
func checkCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stdout)
	experiments := fs.String("experiments", "", "a FaultExperiment file (the same as naming it with the other files)")
	controller := fs.String("gateway-controller-name", defaultGatewayController, "the controllerName of foresight-xds's GatewayClasses, as serve is given it: Gateway API manifests of other classes are not checked")
	var checks check.Options
	checkOptionsFlags(fs, &checks)
	if err := cli.ParseArgs(fs, reorder(args)); err != nil {
		return err
	}
	files := fs.Args()
	if *experiments != "" {
		files = append(files, *experiments)
	}
	if len(files) == 0 {
		return cli.Usagef("check: want one or more policy, experiment or Kubernetes manifest files")
	}
	type loadedPolicy struct {
		file string
		p    *policy.Policy
	}
	var policies []loadedPolicy
	var experimentFiles, manifestFiles []string
	var problems []error
	for _, file := range files {
		kind, err := documentKind(file)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		switch kind {
		case experiment.Kind:
			experimentFiles = append(experimentFiles, file)
			continue
		case manifestsKind:
			manifestFiles = append(manifestFiles, file)
			continue
		}
		p, groups, err := checkPolicy(file, checks)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		policies = append(policies, loadedPolicy{file, p})
		fmt.Fprintf(stdout, "%s: OK (%d node groups)\n", file, groups)
	}
	for _, file := range experimentFiles {
		exps, err := experiment.Load(file)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		// An experiment file is good when one of the policies has every target it names.
		var misses []error
		for _, lp := range policies {
			err := experiment.ValidateAgainst(exps, lp.p)
			if err == nil {
				misses = nil
				break
			}
			misses = append(misses, fmt.Errorf("%s: against policy %s: %w", file, lp.file, err))
		}
		if len(misses) > 0 {
			problems = append(problems, misses...)
			continue
		}
		if len(policies) == 0 {
			fmt.Fprintf(stdout, "%s: OK (%d experiments; targets not checked: no valid policy given)\n", file, len(exps))
			continue
		}
		fmt.Fprintf(stdout, "%s: OK (%d experiments)\n", file, len(exps))
	}
	if len(manifestFiles) > 0 {
		gc, errs := readGatewayManifests(manifestFiles, *controller, checks)
		problems = append(problems, errs...)
		var base *policy.Policy
		if len(policies) > 0 {
			base = policies[0].p // serve merges the Gateway API part into its one policy file
		}
		gc.run(base, checks)
		problems = append(problems, gc.report(stdout)...)
	}
	return errors.Join(problems...)
}

// checkPolicy loads, translates and checks one policy file; it returns the policy and the
// number of its node groups.
func checkPolicy(file string, checks check.Options) (*policy.Policy, int, error) {
	p, err := loadPolicy(file, checks)
	if err != nil {
		return nil, 0, err
	}
	groups, err := checkServed(p, checks)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", file, err)
	}
	return p, groups, nil
}

// loadPolicy loads a policy file and checks it as the proxies will take it: what they refuse
// of its regexes (checks) is reported with the file, line and field, as its other problems.
func loadPolicy(file string, checks check.Options) (*policy.Policy, error) {
	p, err := policy.Load(file)
	if err != nil {
		return nil, err
	}
	if err := p.ValidateFor(checks.RegexTooLarge); err != nil {
		return nil, err
	}
	return p, nil
}

// checkServed translates a valid policy as it serves while its rollouts run (with their
// header routes too) and checks every node group's configuration; it returns the number of
// node groups.
func checkServed(p *policy.Policy, checks check.Options) (int, error) {
	running, err := p.WithAllCanaryHeaderRoutes()
	if err != nil {
		return 0, err
	}
	groups, err := translate.Translate(running)
	if err != nil {
		return 0, err
	}
	var problems []error
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		if err := checks.Check(groups[g]); err != nil {
			problems = append(problems, fmt.Errorf("node group %q: %w", g, err))
		}
	}
	if len(problems) > 0 {
		return 0, errors.Join(problems...)
	}
	return len(groups), nil
}

// checkOptionsFlags registers into o the flags of what the proxies accept, shared by serve
// and check so both refuse the same configurations.
func checkOptionsFlags(fs *flag.FlagSet, o *check.Options) {
	fs.IntVar(&o.RegexProgramSizeLimit, "regex-program-size-limit", check.DefaultRegexProgramSizeLimit,
		"largest RE2 program of a regex sent to Envoy: the proxies' runtime re2.max_program_size.error_level (-1: no limit)")
}

// documentKind tells a file's kind from its YAML documents: manifestsKind when one of them
// is a Kubernetes object the Gateway API translation reads (or a List), experiment.Kind when
// the first is an experiment, and policy.Kind for anything else (invalid YAML included),
// whose parser then says what is wrong with it.
func documentKind(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("check: %w", err)
	}
	docs, err := strictyaml.Documents(data, file)
	if err != nil || len(docs) == 0 {
		return policy.Kind, nil
	}
	kinds := make([]string, len(docs))
	for i, doc := range docs {
		if root := strictyaml.Resolve(doc); root != nil && root.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(root.Content); j += 2 {
				if root.Content[j].Value == "kind" {
					kinds[i] = root.Content[j+1].Value
				}
			}
		}
		if kinds[i] == gatewayapi.KindList || gatewayapi.ReadsKind(kinds[i]) {
			return manifestsKind, nil
		}
	}
	if kinds[0] == experiment.Kind {
		return experiment.Kind, nil
	}
	return policy.Kind, nil
}

// reorder moves flags before positional arguments so "check FILE --experiments X" works.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			if !containsEq(a) && i+1 < len(args) && !isBoolFlag(a) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func containsEq(s string) bool {
	for _, c := range s {
		if c == '=' {
			return true
		}
	}
	return false
}

func isBoolFlag(a string) bool { return a == "--gateway" || a == "-gateway" }
