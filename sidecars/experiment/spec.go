// Package experiment runs time-boxed fault-injection experiments: each one overlays a fault
// (delay and/or abort) on a route or service of the traffic policy from its start until its
// end, or until its guard (a PromQL expression evaluated against Prometheus at an interval)
// returns a non-empty result. An experiment's state derives from the wall clock and a small
// persisted record of aborts, so it never outlives its end, also across restarts of the
// control plane.
package experiment

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/internal/strictyaml"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Kind is the kind of an experiment document.
const Kind = "FaultExperiment"

// DefaultGuardInterval is how often a guard is evaluated when its interval is not set.
const DefaultGuardInterval = 15 * time.Second

// Experiment is one FaultExperiment document.
type Experiment struct {
	// APIVersion must be policy.APIVersion.
	APIVersion string `yaml:"apiVersion"`
	// Kind must be Kind.
	Kind string `yaml:"kind"`
	// Metadata names the experiment (metadata.name is required and unique).
	Metadata policy.Metadata `yaml:"metadata"`
	// Spec says what, when and how long.
	Spec Spec `yaml:"spec"`
	// MoreTargets are targets the fault is added to besides Spec.Target. Not part of the
	// document: translations whose target stands for several routes (an ExperimentPolicy on a
	// Gateway API route) set it.
	MoreTargets []policy.FaultTarget `yaml:"-"`
}

// Targets are Spec.Target and MoreTargets.
func (e *Experiment) Targets() []policy.FaultTarget {
	return append([]policy.FaultTarget{e.Spec.Target}, e.MoreTargets...)
}

// Spec is the body of an experiment.
type Spec struct {
	// Target is the route or service the fault applies to; exactly one of route and service.
	Target policy.FaultTarget `yaml:"target"`
	// Fault is the delay and/or abort to inject, optionally only for requests with headers.
	Fault policy.Fault `yaml:"fault"`
	// Start is when the fault is added (RFC 3339); required.
	Start time.Time `yaml:"start"`
	// Duration is how long the fault stays at most; required, > 0.
	Duration policy.Duration `yaml:"duration"`
	// Guard aborts the experiment early (optional).
	Guard *Guard `yaml:"guard,omitempty"`
}

// Guard is a PromQL expression that aborts the experiment as soon as it returns a non-empty
// result (for a comparison like `error_ratio > 0.05`: as soon as it holds), or a non-zero
// scalar. An evaluation error also aborts: an experiment that cannot be watched stops.
type Guard struct {
	// Query is the PromQL expression; required.
	Query string `yaml:"query"`
	// Interval between evaluations while the experiment runs. Default 15s.
	Interval policy.Duration `yaml:"interval,omitempty"`
}

// Name returns metadata.name.
func (e *Experiment) Name() string { return e.Metadata.Name }

// End is Start + Duration.
func (e *Experiment) End() time.Time { return e.Spec.Start.Add(e.Spec.Duration.D()) }

// Key identifies one run of an experiment: its name and start, so a redeclared experiment
// with a new start is a new run.
func (e *Experiment) Key() string {
	return e.Metadata.Name + "@" + e.Spec.Start.UTC().Format(time.RFC3339Nano)
}

// GuardInterval is the guard's interval or DefaultGuardInterval.
func (e *Experiment) GuardInterval() time.Duration {
	if e.Spec.Guard == nil || e.Spec.Guard.Interval == 0 {
		return DefaultGuardInterval
	}
	return e.Spec.Guard.Interval.D()
}

// Load reads and parses an experiment file.
func Load(path string) ([]*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load experiments: %w", err)
	}
	return Parse(data, path)
}

// Parse parses one or more FaultExperiment documents (separated by ---) strictly: unknown
// fields, wrong kinds and invalid values are errors naming the file, line and field path
// (a strictyaml.Errors). Empty documents are skipped. The experiments are validated on their
// own; ValidateAgainst checks them against a policy.
func Parse(data []byte, file string) ([]*Experiment, error) {
	docs, err := strictyaml.Documents(data, file)
	if err != nil {
		return nil, err
	}
	var out []*Experiment
	var errs strictyaml.Errors
	names := map[string]int{}
	for _, doc := range docs {
		if strictyaml.IsNull(doc) {
			continue
		}
		d := strictyaml.NewDecoder(file)
		var e Experiment
		if !d.Decode(doc, "", &e) {
			errs = append(errs, d.Errs...)
			continue
		}
		for _, ve := range e.validate() {
			ve.File, ve.Line = file, d.Lines.Line(ve.Path)
			errs = append(errs, ve)
		}
		if n := e.Metadata.Name; n != "" {
			line := d.Lines.Line("metadata.name")
			if prev, dup := names[n]; dup {
				errs = append(errs, &strictyaml.Error{File: file, Line: line, Path: "metadata.name",
					Msg: fmt.Sprintf("experiment %q is declared twice (first on line %d)", n, prev)})
			} else {
				names[n] = line
			}
		}
		out = append(out, &e)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Validate checks the experiment on its own; the errors name fields by path, without file
// or line.
func (e *Experiment) Validate() error {
	var errs strictyaml.Errors
	errs = append(errs, e.validate()...)
	return errs.Err()
}

// overlay returns p with the experiment's fault added to each of its targets.
func (e *Experiment) overlay(p *policy.Policy) (*policy.Policy, error) {
	for _, t := range e.Targets() {
		next, err := p.WithFault(t, e.Spec.Fault)
		if err != nil {
			return nil, fmt.Errorf("experiment %q: %w", e.Name(), err)
		}
		p = next
	}
	return p, nil
}

// validate checks the experiment on its own.
func (e *Experiment) validate() []*strictyaml.Error {
	var errs []*strictyaml.Error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &strictyaml.Error{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if e.APIVersion != policy.APIVersion {
		bad("apiVersion", "must be %s, not %q", policy.APIVersion, e.APIVersion)
	}
	if e.Kind != Kind {
		bad("kind", "must be %s, not %q", Kind, e.Kind)
	}
	if e.Metadata.Name == "" {
		bad("metadata.name", "required")
	}
	t := e.Spec.Target
	if (t.Route == "") == (t.Service == "") {
		bad("spec.target", "exactly one of route and service")
	}
	f := e.Spec.Fault
	if f.Delay == nil && f.Abort == nil {
		bad("spec.fault", "needs a delay, an abort or both")
	}
	if d := f.Delay; d != nil {
		if d.Fixed <= 0 {
			bad("spec.fault.delay.fixed", "must be > 0")
		}
		if d.Percent < 0 || d.Percent > 100 {
			bad("spec.fault.delay.percent", "must be 0..100")
		}
	}
	if a := f.Abort; a != nil {
		if (a.HTTPStatus == 0) == (a.GRPCStatus == nil) {
			bad("spec.fault.abort", "exactly one of httpStatus and grpcStatus")
		}
		if a.Percent < 0 || a.Percent > 100 {
			bad("spec.fault.abort.percent", "must be 0..100")
		}
	}
	if e.Spec.Start.IsZero() {
		bad("spec.start", "required (RFC 3339, e.g. 2026-11-25T20:00:00Z)")
	}
	if e.Spec.Duration <= 0 {
		bad("spec.duration", "required, > 0")
	}
	if g := e.Spec.Guard; g != nil {
		if strings.TrimSpace(g.Query) == "" {
			bad("spec.guard.query", "required")
		} else if err := policy.CheckQuery(g.Query); err != nil {
			bad("spec.guard.query", "%v", err)
		}
		if g.Interval < 0 {
			bad("spec.guard.interval", "must be >= 0")
		}
	}
	return errs
}

// ValidateAgainst checks that every experiment's fault can be overlaid on p (the target
// exists and the result validates).
func ValidateAgainst(exps []*Experiment, p *policy.Policy) error {
	var errs []error
	for _, e := range exps {
		if _, err := e.overlay(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
