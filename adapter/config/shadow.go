package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// StrategyCostWeighted names the cost-weighted strategy in a shadow section:
// the rule's forecast model weighted by the rule's cost section.
const StrategyCostWeighted = "cost-weighted"

// Shadow is a rule's shadow evaluation: several strategies run side by side
// on every series of the rule, each with its own forecaster and the
// project's HPA model, and the adapter exports what each would have done
// (foresight_shadow_* in /metrics). One strategy is the one served; the
// others never reach the HPA. A rule with an slo section also runs its SLO
// mode as the strategy "slo", which is then the one served.
//
//	shadow:
//	  strategies: [reactive, holt-winters, auto@0.8, cost-weighted]
//	  serve: auto@0.8        # the strategy the rule serves (default: implied by forecast.model and cost)
//	  capacity: 50           # load one pod serves (default: cost.capacity or slo.capacity)
//	  target: 0.7            # HPA target of strategies without @TARGET, fraction of capacity
//	  windows: [1h, 1d, 7d]
//	  minReplicas: 1
//	  maxReplicas: 100
//	  syncPeriod: 15s
//	  startupDelay: 2m
type Shadow struct {
	// Strategies are the strategies as written: a model name (reactive,
	// auto, holt-winters, arima, ...) or cost-weighted, optionally with
	// @TARGET, the HPA target as a fraction of pod capacity in (0, 2].
	// At least two; names unique.
	Strategies []string
	// Serve is the strategy the rule serves. It must be listed and agree
	// with the rule's forecast.model and cost section. Default: the listed
	// strategy that they imply (cost-weighted with a cost section, else the
	// model's name).
	Serve string
	// Capacity is the load one ready pod serves. Default: cost.capacity or slo.capacity;
	// required without them.
	Capacity float64
	// Target is the HPA target of strategies without @TARGET. Default DefaultShadowTarget.
	Target float64
	// Windows are the sliding windows reported. Default 1h, 1d, 7d.
	Windows []time.Duration
	// MinReplicas and MaxReplicas bound the simulated HPA. Defaults 1 and DefaultShadowMaxReplicas.
	MinReplicas, MaxReplicas int32
	// SyncPeriod is the simulated HPA's sync period. Default 15s.
	SyncPeriod time.Duration
	// StartupDelay is how long a new pod takes before it serves load. Default DefaultShadowStartupDelay.
	StartupDelay time.Duration

	startupSet bool
}

// Defaults of a rule's shadow section.
const (
	DefaultShadowTarget       = 0.7
	DefaultShadowMaxReplicas  = 1000
	DefaultShadowSyncPeriod   = 15 * time.Second
	DefaultShadowStartupDelay = 2 * time.Minute
)

// DefaultShadowWindows returns the default sliding windows: an hour, a day and a week.
func DefaultShadowWindows() []time.Duration {
	return []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
}

// maxShadowStrategies bounds the strategies of one rule: each runs a forecaster per series.
const maxShadowStrategies = 8

func (d *decoder) shadow(n *yaml.Node, path string) *Shadow {
	s := &Shadow{}
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"strategies": func(n *yaml.Node, p string) {
			for i, item := range d.Sequence(n, p) {
				s.Strategies = append(s.Strategies, d.String(item, strictyaml.Item(p, i)))
			}
		},
		"serve":    func(n *yaml.Node, p string) { s.Serve = d.String(n, p) },
		"capacity": func(n *yaml.Node, p string) { s.Capacity = d.Float(n, p) },
		"target":   func(n *yaml.Node, p string) { s.Target = d.Float(n, p) },
		"windows": func(n *yaml.Node, p string) {
			for i, item := range d.Sequence(n, p) {
				s.Windows = append(s.Windows, d.duration(item, strictyaml.Item(p, i)))
			}
		},
		"minReplicas": func(n *yaml.Node, p string) { s.MinReplicas = int32(d.Int(n, p, math.MinInt32, math.MaxInt32)) },
		"maxReplicas": func(n *yaml.Node, p string) { s.MaxReplicas = int32(d.Int(n, p, math.MinInt32, math.MaxInt32)) },
		"syncPeriod":  func(n *yaml.Node, p string) { s.SyncPeriod = d.duration(n, p) },
		"startupDelay": func(n *yaml.Node, p string) {
			s.StartupDelay, s.startupSet = d.zeroDuration(n, p), true
		},
	})
	return s
}

// zeroDuration is duration that also accepts 0s.
func (d *decoder) zeroDuration(n *yaml.Node, path string) time.Duration {
	if r := strictyaml.Resolve(n); r != nil && r.Kind == yaml.ScalarNode && (r.Value == "0" || r.Value == "0s") {
		return 0
	}
	return d.duration(n, path)
}

// SetDefaults fills the shadow section's unset fields; c and o are the rule's cost and slo
// sections (or nil), whose capacity is the default.
func (s *Shadow) SetDefaults(c *Cost, o *SLO) {
	switch {
	case s.Capacity != 0:
	case c != nil:
		s.Capacity = c.Params.Capacity
	case o != nil:
		s.Capacity = o.Config.Capacity
	}
	if s.Target == 0 {
		s.Target = DefaultShadowTarget
	}
	if len(s.Windows) == 0 {
		s.Windows = DefaultShadowWindows()
	}
	if s.MinReplicas == 0 {
		s.MinReplicas = 1
	}
	if s.MaxReplicas == 0 {
		s.MaxReplicas = DefaultShadowMaxReplicas
	}
	if s.SyncPeriod == 0 {
		s.SyncPeriod = DefaultShadowSyncPeriod
	}
	if !s.startupSet && s.StartupDelay == 0 {
		s.StartupDelay = DefaultShadowStartupDelay
	}
}

// StrategyName splits a strategy as written into its name and its target
// (0 when it has no @TARGET).
func StrategyName(item string) (name string, target float64, err error) {
	name, t, ok := strings.Cut(item, "@")
	if !ok {
		return name, 0, nil
	}
	v, perr := strconv.ParseFloat(t, 64)
	if perr != nil || !(v > 0) || v > 2 {
		return name, 0, fmt.Errorf("target %q after @ must be a number in (0, 2]", t)
	}
	return name, v, nil
}

// impliedServe returns the strategy name the rule's settings serve.
func impliedServe(r *Rule) string {
	if r.Cost != nil {
		return StrategyCostWeighted
	}
	return string(r.Forecast.Model)
}

// Served returns the listed strategy the rule serves (after SetDefaults and Validate).
func (s *Shadow) Served(r *Rule) string {
	if s.Serve != "" {
		return s.Serve
	}
	want := impliedServe(r)
	for _, item := range s.Strategies {
		if name, _, _ := StrategyName(item); name == want {
			return item
		}
	}
	return ""
}

func (s *Shadow) validate(p string, r *Rule, add func(field, format string, args ...any)) {
	at := func(field string) string { return p + "." + field }
	limit, note := maxShadowStrategies, ""
	if r.SLO != nil {
		// The rule's SLO mode runs as one more strategy, the served one.
		limit, note = maxShadowStrategies-1, " (the slo section runs one more)"
	}
	switch {
	case r.SLO != nil && len(s.Strategies) < 1:
		add(at("strategies"), "at least one strategy is required, evaluated in shadow beside the slo section's, which is served")
	case r.SLO == nil && len(s.Strategies) < 2:
		add(at("strategies"), "at least two strategies are required (one served, the others in shadow), got %d", len(s.Strategies))
	case len(s.Strategies) > limit:
		add(at("strategies"), "at most %d strategies are allowed%s (each runs a forecaster per series), got %d", limit, note, len(s.Strategies))
	}
	seen := map[string]int{}
	for i, item := range s.Strategies {
		ip := fmt.Sprintf("%s[%d]", at("strategies"), i)
		if item == "" {
			add(ip, "must name a strategy, got nothing") // not repeated when it failed to decode
			continue
		}
		if j, dup := seen[item]; dup {
			add(ip, "strategy %q is listed twice (also strategies[%d])", item, j)
			continue
		}
		seen[item] = i
		name, _, err := StrategyName(item)
		if err != nil {
			add(ip, "%v", err)
			continue
		}
		if name == StrategyCostWeighted {
			if r.Cost == nil {
				add(ip, "cost-weighted needs the rule's cost section (its prices and parameters)")
			}
			continue
		}
		if _, err := forecast.ParseModel(name); err != nil {
			add(ip, "must be cost-weighted or a model (%s), optionally with @TARGET, got %q", forecast.ModelNames(), item)
		}
	}
	want := impliedServe(r)
	if s.Serve != "" && r.SLO != nil {
		add(at("serve"), "an SLO rule serves its slo strategy (added beside the listed ones): drop serve")
	} else if s.Serve != "" {
		if _, listed := seen[s.Serve]; !listed {
			add(at("serve"), "must be one of the listed strategies, got %q", s.Serve)
		} else if name, _, _ := StrategyName(s.Serve); name != want {
			add(at("serve"), "the rule serves %q (from forecast.model and cost), not %q: set forecast.model to match", want, name)
		}
	} else if r.SLO == nil && len(s.Strategies) >= 2 && s.Served(r) == "" {
		// (An SLO rule serves its slo strategy, added beside the listed ones.)
		add(at("strategies"), "must list the strategy the rule serves, %q (from forecast.model and cost), or set serve", want)
	}
	switch {
	case s.Capacity > 0:
	case s.Capacity == 0 && (r.Cost != nil || r.SLO != nil):
		// The default, cost.capacity or slo.capacity, is invalid: reported there.
	case s.Capacity == 0:
		add(at("capacity"), "required without a cost or slo section: the load one ready pod serves")
	default:
		add(at("capacity"), "must be > 0, got %v", s.Capacity)
	}
	if !(s.Target > 0 && s.Target <= 2) {
		add(at("target"), "must be in (0, 2], got %v", s.Target)
	}
	for i, w := range s.Windows {
		if w > 0 && (w < r.Forecast.Step || w%r.Forecast.Step != 0) {
			add(fmt.Sprintf("%s[%d]", at("windows"), i), "must be a multiple of step %s, got %s", fmtDur(r.Forecast.Step), fmtDur(w))
		}
		if w > 90*24*time.Hour {
			add(fmt.Sprintf("%s[%d]", at("windows"), i), "must be at most 90d, got %s", fmtDur(w))
		}
	}
	if s.MinReplicas < 1 {
		add(at("minReplicas"), "must be at least 1, got %d", s.MinReplicas)
	}
	if s.MaxReplicas < s.MinReplicas {
		add(at("maxReplicas"), "must be at least minReplicas %d, got %d", s.MinReplicas, s.MaxReplicas)
	}
	if s.SyncPeriod > 0 && (s.SyncPeriod < time.Second || s.SyncPeriod%time.Second != 0) {
		add(at("syncPeriod"), "must be a whole number of seconds, got %s", fmtDur(s.SyncPeriod))
	}
	if s.StartupDelay%time.Second != 0 {
		add(at("startupDelay"), "must be a whole number of seconds, got %s", fmtDur(s.StartupDelay))
	}
}
