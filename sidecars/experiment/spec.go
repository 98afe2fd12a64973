// Package experiment runs time-boxed fault-injection experiments: each one overlays a fault
// (delay and/or abort) on a route or service of the traffic policy from its start until its
// end, or until its guard (a PromQL expression evaluated against Prometheus at an interval)
// returns a non-empty result. An experiment's state derives from the wall clock and a small
// persisted record of aborts, so it never outlives its end, also across restarts of the
// control plane.
package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

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

// Error is one problem in an experiment file, located by file and line.
type Error struct {
	// File is the file name.
	File string
	// Line is the 1-based line (0 when unknown).
	Line int
	// Path is the field path, e.g. "spec.duration".
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error renders "file:line: path: msg".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are all problems of a file.
type Errors []*Error

// Error joins the problems, one a line.
func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
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
// fields, wrong kinds and invalid values are errors naming the file, line and field. The
// experiments are validated on their own; ValidateAgainst checks them against a policy.
func Parse(data []byte, file string) ([]*Experiment, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	nodes := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Experiment
	var errs Errors
	names := map[string]int{}
	for {
		var e Experiment
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		var doc yaml.Node
		_ = nodes.Decode(&doc)
		if err != nil {
			errs = append(errs, yamlError(file, err))
			break
		}
		lines := map[string]int{}
		collectLines(&doc, "", lines)
		for _, ve := range e.validate() {
			ve.File, ve.Line = file, lineOf(lines, ve.Path)
			errs = append(errs, ve)
		}
		if n := e.Metadata.Name; n != "" {
			if prev, dup := names[n]; dup {
				errs = append(errs, &Error{File: file, Line: lineOf(lines, "metadata.name"), Path: "metadata.name",
					Msg: fmt.Sprintf("experiment %q is declared twice (first on line %d)", n, prev)})
			}
			names[n] = lineOf(lines, "metadata.name")
		}
		out = append(out, &e)
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return out, nil
}

// yamlError turns a YAML decoding error ("yaml: line 3: ...") into a located Error.
func yamlError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	line := 0
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return &Error{File: file, Line: line, Msg: msg}
}

// collectLines maps field paths ("spec.target.route") to the line they are written on.
func collectLines(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectLines(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			out[p] = n.Content[i].Line
			collectLines(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = c.Line
			collectLines(c, p, out)
		}
	}
}

// lineOf is the line of path or of its nearest ancestor.
func lineOf(lines map[string]int, path string) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

// validate checks the experiment on its own.
func (e *Experiment) validate() []*Error {
	var errs []*Error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
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
		if _, err := p.WithFault(e.Spec.Target, e.Spec.Fault); err != nil {
			errs = append(errs, fmt.Errorf("experiment %q: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}
