package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// checkCmd validates a policy (parse, validate, translate, check every node group) and,
// optionally, an experiment file against it; problems are printed one a line with file, line
// and field.
func checkCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stdout)
	experiments := fs.String("experiments", "", "FaultExperiment file to check against the policy")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"check: want exactly one policy file"}
	}
	file := fs.Arg(0)
	p, err := policy.Load(file)
	if err != nil {
		return err
	}
	groups, err := translate.Translate(p)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var problems []error
	for g, r := range groups {
		if err := check.Check(r); err != nil {
			problems = append(problems, fmt.Errorf("%s: node group %q: %w", file, g, err))
		}
	}
	if *experiments != "" {
		exps, err := experiment.Load(*experiments)
		if err != nil {
			return err
		}
		if err := experiment.ValidateAgainst(exps, p); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", *experiments, err))
		}
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	fmt.Fprintf(stdout, "%s: OK (%d node groups)\n", file, len(groups))
	return nil
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
