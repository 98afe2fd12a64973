package policy

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// DefaultAnalysisInterval is how often a canary's analysis runs when its interval is not set.
const DefaultAnalysisInterval = time.Minute

// Canary is a progressive rollout on one route: traffic moves from the stable backend to the
// canary backend in steps, each held for a while, as long as the analysis metrics stay within
// their thresholds. The canary controller (package canary) drives it; the policy only
// declares it.
type Canary struct {
	// Name is a DNS label, unique among canaries; required.
	Name string `yaml:"name"`
	// Route names the route whose backend weights the canary changes; required. Every
	// backend of the route must be Stable or Canary.
	Route string `yaml:"route"`
	// Routes are further routes stepped together with Route, under the same rules (a Gateway
	// API route whose rules or matches translate to several routes is rolled out as one).
	Routes []string `yaml:"routes,omitempty"`
	// Stable is the service serving now; required, a service of the policy.
	Stable string `yaml:"stable"`
	// Canary is the new version; required, a service of the policy other than Stable.
	Canary string `yaml:"canary"`
	// Steps are the canary weights, strictly increasing, each held for its pause; at least one
	// (the first may be 0 with Headers: see CanaryStep).
	Steps []CanaryStep `yaml:"steps"`
	// Analysis decides whether the rollout may go on.
	Analysis CanaryAnalysis `yaml:"analysis,omitempty"`
	// Headers, when set, send every request that matches all of them (and its route) to the
	// canary for as long as the rollout runs, at every step: testers and synthetic checks
	// reach the new version before any share of the other traffic does, which the weights
	// alone decide. After a promotion all traffic goes to the canary; after a rollback or an
	// abort none does, these requests included.
	Headers []HeaderMatch `yaml:"headers,omitempty"`
	// Identity, when set, says what the rollout is of in a way that outlives a rename of
	// Stable and Canary: the Gateway API translation sets it from the Kubernetes Services
	// and ports behind them, whose policy services can be renamed (an HTTPRoute's gets a
	// protocol suffix once a GRPCRoute sends to its port too). A rollout's state is then matched
	// by Route and Identity instead of the service names (package canary).
	Identity string `yaml:"-"`
}

// HeaderRouteName is the name of the route that sends the requests matching a canary's
// Headers to the canary, placed before the route it copies, named route.
func HeaderRouteName(route string) string { return route + "~canary-headers" }

// CanaryStep is one weight of a rollout and how long it is held.
type CanaryStep struct {
	// Weight is the canary's share in percent, 1..100; required. The first step of a canary
	// with Headers may be 0: a header-only phase, where only the requests matching them
	// reach the canary while its analysis runs.
	Weight uint32 `yaml:"weight"`
	// Pause is how long the weight is held before the next step; required, > 0.
	Pause Duration `yaml:"pause"`
}

// CanaryAnalysis is what is measured while a canary runs.
type CanaryAnalysis struct {
	// Interval between measurements. Default DefaultAnalysisInterval.
	Interval Duration `yaml:"interval,omitempty"`
	// FailureLimit is how many failed measurements are tolerated; one more rolls back.
	// Default 0 (the first failed measurement rolls back).
	FailureLimit int `yaml:"failureLimit,omitempty"`
	// ConsecutiveSuccessLimit is how many successful measurements in a row a step needs
	// before it may advance (after its pause). Default 1.
	ConsecutiveSuccessLimit int `yaml:"consecutiveSuccessLimit,omitempty"`
	// Metrics are the PromQL measurements.
	Metrics []AnalysisMetric `yaml:"metrics,omitempty"`
}

// AnalysisMetric is one PromQL measurement with its thresholds. Every sample the query
// returns must lie within [Min, Max]; an empty result is inconclusive.
type AnalysisMetric struct {
	// Name is unique within the canary; required.
	Name string `yaml:"name"`
	// Query is a PromQL expression; required and must parse.
	Query string `yaml:"query"`
	// Min is the smallest acceptable value (optional).
	Min *float64 `yaml:"min,omitempty"`
	// Max is the largest acceptable value (optional; at least one of Min and Max).
	Max *float64 `yaml:"max,omitempty"`
	// DryRun measures and reports the metric without letting it decide anything.
	DryRun bool `yaml:"dryRun,omitempty"`
}

// AnalysisInterval is the analysis interval or DefaultAnalysisInterval.
func (c *Canary) AnalysisInterval() time.Duration {
	if c.Analysis.Interval <= 0 {
		return DefaultAnalysisInterval
	}
	return c.Analysis.Interval.D()
}

// AllRoutes are Route and Routes.
func (c *Canary) AllRoutes() []string { return append([]string{c.Route}, c.Routes...) }

// SuccessesPerStep is ConsecutiveSuccessLimit, at least 1.
func (c *Canary) SuccessesPerStep() int { return max(c.Analysis.ConsecutiveSuccessLimit, 1) }

// Canary returns the named canary, or nil.
func (p *Policy) Canary(name string) *Canary {
	for i := range p.Spec.Canaries {
		if p.Spec.Canaries[i].Name == name {
			return &p.Spec.Canaries[i]
		}
	}
	return nil
}

// WithCanaryWeight returns a clone of the policy whose route of c sends weight percent to
// the canary and the rest to the stable backend; nothing else changes. The clone is
// validated; the receiver is not changed.
func (p *Policy) WithCanaryWeight(c *Canary, weight uint32) (*Policy, error) {
	if weight > 100 {
		return nil, fmt.Errorf("canary %q: weight %d > 100", c.Name, weight)
	}
	out := p.Clone()
	for _, name := range c.AllRoutes() {
		r := out.Route(name)
		if r == nil {
			return nil, fmt.Errorf("canary %q: route %q not in policy %q", c.Name, name, p.Metadata.Name)
		}
		r.Backends = []Backend{backendOf(r.Backends, c.Stable, 100-weight), backendOf(r.Backends, c.Canary, weight)}
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("policy with canary %q at %d%%: %w", c.Name, weight, err)
	}
	return out, nil
}

// backendOf is the first of bs that sends to svc, header changes included, with weight
// instead of its own; a bare backend of svc when none does.
func backendOf(bs []Backend, svc string, weight uint32) Backend {
	for _, b := range bs {
		if b.Service == svc {
			b.Weight = weight
			return b
		}
	}
	return Backend{Service: svc, Weight: weight}
}

// WithCanaryHeaderRoutes returns a clone of the policy where each route of c is preceded by
// a copy of it, named HeaderRouteName, that also requires c's Headers and sends to the
// canary alone; with no Headers, or when p has them already, the policy itself. The clone is
// validated; the receiver is not changed.
func (p *Policy) WithCanaryHeaderRoutes(c *Canary) (*Policy, error) {
	return p.withHeaderRoutes([]*Canary{c})
}

// WithAllCanaryHeaderRoutes is WithCanaryHeaderRoutes for every canary of the policy, in one
// clone: what the policy serves while all its rollouts run, for checking it before any does.
func (p *Policy) WithAllCanaryHeaderRoutes() (*Policy, error) {
	cs := make([]*Canary, len(p.Spec.Canaries))
	for i := range p.Spec.Canaries {
		cs[i] = &p.Spec.Canaries[i]
	}
	return p.withHeaderRoutes(cs)
}

// withHeaderRoutes returns a validated clone of the policy with the header routes of each
// canary of cs that has Headers and whose routes p does not have yet; the policy itself when
// there is none to add.
func (p *Policy) withHeaderRoutes(cs []*Canary) (*Policy, error) {
	var todo []*Canary
	for _, c := range cs {
		if len(c.Headers) == 0 {
			continue
		}
		if r := p.Route(HeaderRouteName(c.Route)); r != nil && r.HeadersOfCanary == c.Name {
			continue
		}
		todo = append(todo, c)
	}
	if len(todo) == 0 {
		return p, nil
	}
	out := p.Clone()
	for _, c := range todo {
		for _, name := range c.AllRoutes() {
			routes, i := out.routeIn(name)
			if routes == nil {
				return nil, fmt.Errorf("canary %q: route %q not in policy %q", c.Name, name, p.Metadata.Name)
			}
			hr := deepCopy(reflect.ValueOf((*routes)[i])).Interface().(Route)
			hr.Name = HeaderRouteName(name)
			hr.Match.Headers = append(hr.Match.Headers, deepCopy(reflect.ValueOf(c.Headers)).Interface().([]HeaderMatch)...)
			hr.Backends = []Backend{backendOf(hr.Backends, c.Canary, 100)}
			hr.HeadersOfCanary = c.Name
			*routes = slices.Insert(*routes, i, hr)
		}
	}
	if err := out.Validate(); err != nil {
		if len(todo) == 1 {
			return nil, fmt.Errorf("policy with the header routes of canary %q: %w", todo[0].Name, err)
		}
		return nil, fmt.Errorf("policy with the header routes of its canaries: %w", err)
	}
	return out, nil
}

var promqlParser = parser.NewParser(parser.Options{})

// CheckQuery says why q is not a PromQL expression returning an instant vector or a scalar
// (what canary analysis metrics and experiment guards evaluate), or nil.
func CheckQuery(q string) error {
	expr, err := promqlParser.ParseExpr(q)
	if err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}
	if t := expr.Type(); t != parser.ValueTypeVector && t != parser.ValueTypeScalar {
		return fmt.Errorf("must return an instant vector or a scalar, not a %s", t)
	}
	return nil
}

// canaries checks spec.canaries.
func (v *validator) canaries() {
	names := map[string]string{}
	routes := map[string]string{}
	for i := range v.p.Spec.Canaries {
		c := &v.p.Spec.Canaries[i]
		path := fmt.Sprintf("spec.canaries[%d]", i)
		switch {
		case !dnsLabel.MatchString(c.Name):
			v.errorf(path+".name", "must be a DNS label, not %q", c.Name)
		case names[c.Name] != "":
			v.errorf(path+".name", "duplicate canary %q (also %s)", c.Name, names[c.Name])
		default:
			names[c.Name] = path
		}
		for _, f := range []struct{ field, svc string }{{"stable", c.Stable}, {"canary", c.Canary}} {
			field, svc := f.field, f.svc
			if svc == "" {
				v.errorf(path+"."+field, "required")
			} else if v.service(svc) == nil {
				v.errorf(path+"."+field, "unknown backend service %q", svc)
			}
		}
		if c.Stable != "" && c.Stable == c.Canary {
			v.errorf(path+".canary", "must differ from stable %q", c.Stable)
		}
		v.canaryRoute(c, path, routes)
		if len(c.Steps) == 0 {
			v.errorf(path+".steps", "at least one step required")
		}
		for j, s := range c.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", path, j)
			switch {
			case s.Weight == 0 && j == 0 && len(c.Headers) > 0:
				// A header-only phase: only the requests matching the headers reach the canary.
			case s.Weight == 0 && j == 0:
				v.errorf(sp+".weight", "must be 1..100, not 0 (a first step of weight 0, where only the requests matching the canary's headers reach it, needs headers)")
			case s.Weight < 1 || s.Weight > 100:
				v.errorf(sp+".weight", "must be 1..100, not %d", s.Weight)
			case j > 0 && s.Weight <= c.Steps[j-1].Weight:
				v.errorf(sp+".weight", "weights must step up: %d does not exceed the previous step's %d", s.Weight, c.Steps[j-1].Weight)
			}
			v.positive(s.Pause, sp+".pause")
		}
		v.analysis(&c.Analysis, path+".analysis")
		v.envoy = slices.ContainsFunc(c.AllRoutes(), v.p.envoyGetsRoute)
		v.headers(c.Headers, path+".headers")
		if len(c.Headers) > 0 {
			for _, name := range c.AllRoutes() {
				if r := v.p.Route(HeaderRouteName(name)); r != nil && r.HeadersOfCanary != c.Name {
					v.errorf(path+".headers", "the route name %q is taken: it names the route of these headers", HeaderRouteName(name))
				}
			}
		}
	}
}

// canaryRoute checks that the canary's routes exist, forward to backends, are driven by
// no other canary, and send only to the canary's stable and canary services.
func (v *validator) canaryRoute(c *Canary, path string, routes map[string]string) {
	if c.Route == "" {
		v.errorf(path+".route", "required")
		return
	}
	for i, name := range c.AllRoutes() {
		field := path + ".route"
		if i > 0 {
			field = fmt.Sprintf("%s.routes[%d]", path, i-1)
		}
		if other, dup := routes[name]; dup {
			v.errorf(field, "route %q is already driven by %s", name, other)
			continue
		}
		routes[name] = path
		r := v.p.Route(name)
		if r == nil {
			v.errorf(field, "unknown route %q", name)
			continue
		}
		if len(r.Backends) == 0 {
			v.errorf(field, "route %q has no backends (redirect or direct response)", name)
			continue
		}
		for _, b := range r.Backends {
			if b.Unresolved {
				v.errorf(field, "route %q has a backend that does not resolve", name)
				continue
			}
			if b.Service != c.Stable && b.Service != c.Canary {
				v.errorf(field, "route %q sends to %q, which is neither stable %q nor canary %q", name, b.Service, c.Stable, c.Canary)
			}
		}
	}
}

func (v *validator) analysis(a *CanaryAnalysis, path string) {
	v.duration(a.Interval, path+".interval")
	if a.FailureLimit < 0 {
		v.errorf(path+".failureLimit", "must be >= 0")
	}
	if a.ConsecutiveSuccessLimit < 0 {
		v.errorf(path+".consecutiveSuccessLimit", "must be >= 0")
	}
	names := map[string]bool{}
	for i, m := range a.Metrics {
		mp := fmt.Sprintf("%s.metrics[%d]", path, i)
		if !dnsLabel.MatchString(m.Name) {
			v.errorf(mp+".name", "must be a DNS label, not %q", m.Name)
		} else if names[m.Name] {
			v.errorf(mp+".name", "duplicate metric %q", m.Name)
		}
		names[m.Name] = true
		if strings.TrimSpace(m.Query) == "" {
			v.errorf(mp+".query", "required")
		} else if err := CheckQuery(m.Query); err != nil {
			v.errorf(mp+".query", "%v", err)
		}
		if m.Min == nil && m.Max == nil {
			v.errorf(mp, "needs min, max or both")
		}
		for _, b := range []struct {
			field string
			f     *float64
		}{{"min", m.Min}, {"max", m.Max}} {
			field, f := b.field, b.f
			if f != nil && (math.IsNaN(*f) || math.IsInf(*f, 0)) {
				v.errorf(mp+"."+field, "must be a finite number")
			}
		}
		if m.Min != nil && m.Max != nil && *m.Min > *m.Max {
			v.errorf(mp+".max", "must be >= min (%g)", *m.Min)
		}
	}
}
