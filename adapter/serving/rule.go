package serving

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/config/promadapter"
	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/schedule"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/slo"
	"github.com/foresight-dev/foresight/adapter/source"
)

// Rule is one served metric as the loop runs it: a rendered query whose result
// series are forecast one by one, and where the results are served.
type Rule struct {
	// Info names the metric and where it is served.
	Info RuleInfo
	// Query is the rule's PromQL with its label matchers rendered to select
	// every namespace; requests filter the results in memory.
	Query string
	// ObjectLabel is the series label holding the object name (object and pods rules).
	ObjectLabel string
	// Settings configure each series' Forecaster; Settings.Step is also the
	// query step and, unless the Loop overrides it, the cycle interval.
	Settings forecast.Settings
	// Shadow, when set, evaluates strategies in shadow on every sample of
	// every series of the rule (adapter/shadow).
	Shadow *ShadowSpec
	// Cost, when set, serves the cost-weighted replica demand of each
	// series' forecast instead of the forecast (target AverageValue 1).
	Cost *CostSpec
	// Queue, when set, serves the worker demand of a work queue whose
	// arrival rate is Query (target AverageValue 1, minReplicas 0).
	Queue *QueueSpec
	// Share, when set, multiplies each series' forecast by its share.
	Share *ShareSpec
	// SLO, when set, serves each series' forecast as replica demand at the
	// utilisation its slo.Controller chooses (target AverageValue 1).
	SLO *slo.Config
	// Schedule bounds every served value by calendar, at the loop's data time.
	Schedule schedule.Schedule
}

// ShadowSpec configures the shadow evaluation of a rule's series.
type ShadowSpec struct {
	// Config configures each series' shadow.Evaluator.
	Config shadow.Config
	// Strategies are evaluated side by side.
	Strategies []shadow.Strategy
	// Served names the strategy whose value the rule serves ("" when unknown).
	Served string
}

// RulesFromConfig converts a validated rule file into the loop's rules. Each
// query is rendered with a matcher that selects every namespace (the namespace
// label must be present), so a series without a namespace is never served.
func RulesFromConfig(f *config.File) ([]Rule, error) {
	out := make([]Rule, 0, len(f.Rules))
	for _, cr := range f.Rules {
		r, err := RuleFromConfig(cr)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RuleFromConfig converts one validated config rule.
func RuleFromConfig(cr config.Rule) (Rule, error) {
	nsLabel := cr.Resources.NamespaceLabel
	if nsLabel == "" {
		nsLabel = config.DefaultNamespaceLabel
	}
	ms, err := source.AllNamespacesMatchers(nsLabel)
	if err != nil {
		return Rule{}, fmt.Errorf("rule %s: %w", cr.Name, err)
	}
	q, err := source.RenderQuery(cr.Query, ms)
	if err != nil {
		return Rule{}, fmt.Errorf("rule %s: %w", cr.Name, err)
	}
	api := API(cr.API)
	if api == "" {
		api = APIExternal
	}
	r := Rule{
		Info: RuleInfo{
			Metric:         cr.Name,
			API:            api,
			NamespaceLabel: nsLabel,
			StaleAfter:     cr.Forecast.StaleAfter,
		},
		Query:    q,
		Settings: cr.ForecastSettings(),
	}
	if c := cr.Cost; c != nil {
		q, err := c.Queries()
		if err != nil {
			return Rule{}, fmt.Errorf("rule %s: cost: %w", cr.Name, err)
		}
		params := c.Params
		params.SetDefaults()
		r.Cost = &CostSpec{Params: params, Queries: q, PriceHold: c.PriceHold, ReferenceWindow: c.ReferenceWindow}
		if err := r.Cost.Params.Validate(); err != nil {
			return Rule{}, fmt.Errorf("rule %s: cost: %w", cr.Name, err)
		}
	}
	if q := cr.Queue; q != nil {
		bq, err := source.RenderQuery(q.Backlog, ms)
		if err != nil {
			return Rule{}, fmt.Errorf("rule %s: queue backlog: %w", cr.Name, err)
		}
		if err := q.Params.Validate(); err != nil {
			return Rule{}, fmt.Errorf("rule %s: queue: %w", cr.Name, err)
		}
		r.Queue = &QueueSpec{BacklogQuery: bq, Params: q.Params}
	}
	if s := cr.Share; s != nil {
		q, err := source.RenderQuery(s.Query, ms)
		if err != nil {
			return Rule{}, fmt.Errorf("rule %s: share: %w", cr.Name, err)
		}
		on := s.On
		if len(on) == 0 {
			on = []string{nsLabel}
		}
		r.Share = &ShareSpec{Query: q, On: on}
	}
	if s := cr.SLO; s != nil {
		c := s.ControllerConfig(r.Settings.Step)
		if _, err := slo.New(c); err != nil {
			return Rule{}, fmt.Errorf("rule %s: %w", cr.Name, err)
		}
		r.SLO = &c
	}
	r.Schedule = cr.ScheduleSpec()
	if s := cr.Shadow; s != nil {
		spec, err := shadowSpec(cr, r)
		if err != nil {
			return Rule{}, fmt.Errorf("rule %s: shadow: %w", cr.Name, err)
		}
		r.Shadow = spec
	}
	switch api {
	case APIObject:
		r.Info.Resource = cr.Resources.GroupResource()
		r.ObjectLabel = cr.Resources.Label
	case APIPods:
		r.Info.Resource.Resource = "pods"
		r.ObjectLabel = cr.Resources.Label
		if r.ObjectLabel == "" {
			r.ObjectLabel = "pod"
		}
	}
	return r, nil
}

// shadowSpec converts a validated rule's shadow section; r is the converted
// rule so far (its settings and cost).
func shadowSpec(cr config.Rule, r Rule) (*ShadowSpec, error) {
	s := cr.Shadow
	var params cost.Params
	cfg := shadow.Config{
		Capacity: s.Capacity,
		HPA: hpa.Config{MinReplicas: s.MinReplicas, MaxReplicas: s.MaxReplicas, SyncPeriod: s.SyncPeriod,
			StartupDelay: s.StartupDelay},
		Step:     r.Settings.Step,
		Windows:  append([]time.Duration(nil), s.Windows...),
		Schedule: cr.ScheduleSpec(),
	}
	if r.Cost != nil {
		params = r.Cost.Params
		cfg.PriceHold, cfg.ReferenceWindow = r.Cost.PriceHold, r.Cost.ReferenceWindow
	}
	strategies, err := shadow.ParseStrategies(strings.Join(s.Strategies, ","), r.Settings, s.Target, params)
	if err != nil {
		return nil, err
	}
	for i := range strategies {
		if strategies[i].Cost != nil {
			// cost-weighted weighs the rule's own forecast model, as the rule serves it.
			strategies[i].Settings.Model = r.Settings.Model
		}
	}
	if r.SLO != nil {
		// An SLO rule's shadow evaluation runs the rule as it serves: its
		// model, its controller, replica demand at target 1.
		if slices.ContainsFunc(strategies, func(s shadow.Strategy) bool { return s.Name == shadow.StrategySLO }) {
			return nil, fmt.Errorf("strategy %q is the rule's own SLO mode, added by itself", shadow.StrategySLO)
		}
		c := *r.SLO
		strategies = append(strategies, shadow.Strategy{Name: shadow.StrategySLO, Settings: r.Settings, Target: 1, SLO: &c})
	}
	if _, err := shadow.NewEvaluator(cfg, strategies); err != nil {
		return nil, err
	}
	served := s.Served(&cr)
	if r.SLO != nil {
		served = shadow.StrategySLO
	}
	return &ShadowSpec{Config: cfg, Strategies: strategies, Served: served}, nil
}

// ConfigLoader is the RuleLoader of rule files in the config package's format.
func ConfigLoader(path string, data []byte) ([]Rule, error) {
	f, err := config.Parse(data, path)
	if err != nil {
		return nil, err
	}
	return RulesFromConfig(f)
}

// NativeLoader returns the RuleLoader of Foresight rule files: ConfigLoader's
// rules, and the file's resourceMetrics section to resources (when not nil).
func NativeLoader(resources ResourceRulesFunc) RuleLoader {
	return func(path string, data []byte) ([]Rule, error) {
		f, err := config.Parse(data, path)
		if err != nil {
			return nil, err
		}
		rules, err := RulesFromConfig(f)
		if err != nil {
			return nil, err
		}
		if err := setResourceRules(path, f, resources); err != nil {
			return nil, err
		}
		return rules, nil
	}
}

// setResourceRules gives the resource metrics queries of f (nil without a
// resourceMetrics section) to resources, when not nil.
func setResourceRules(path string, f *config.File, resources ResourceRulesFunc) error {
	if resources == nil {
		return nil
	}
	var rr *resourcemetrics.Rules
	if f.ResourceMetrics != nil {
		var err error
		if rr, err = f.ResourceMetrics.Rules(); err != nil {
			return fmt.Errorf("%s: resourceMetrics: %w", path, err)
		}
	}
	return resources(path, rr)
}

// Config formats a RuleLoader from FormatLoader reads.
const (
	// FormatAuto tells each file's format by its shape (promadapter.Detect).
	FormatAuto = "auto"
	// FormatForesight is Foresight's rule file (adapter/config).
	FormatForesight = "foresight"
	// FormatPrometheusAdapter is a prometheus-adapter configuration (adapter/config/promadapter).
	FormatPrometheusAdapter = promadapter.Format
)

// ResourceRulesFunc receives the resource metrics rules of an imported file
// (nil when it has none) each time the file loads; an error refuses the file.
type ResourceRulesFunc func(path string, rules *resourcemetrics.Rules) error

// ImportLoader returns the RuleLoader of prometheus-adapter configuration files:
// each load runs the file's series queries with lister over the last window up
// to now() and serves the metrics found with reactive rules; its resourceRules
// go to resources (when not nil). What is not served is logged as a warning.
func ImportLoader(lister source.SeriesLister, now func() time.Time, window time.Duration, log *slog.Logger, resources ResourceRulesFunc) RuleLoader {
	return func(path string, data []byte) ([]Rule, error) {
		f, warnings, err := promadapter.Import(context.Background(), data, path, lister, now(), window)
		if err != nil {
			return nil, err
		}
		if err := setResourceRules(path, f, resources); err != nil {
			return nil, err
		}
		for _, w := range warnings {
			log.Warn("prometheus-adapter config: " + w)
		}
		log.Info("prometheus-adapter config imported", "file", path, "metrics", len(f.Rules))
		return RulesFromConfig(f)
	}
}

// FormatLoader returns the RuleLoader of format: Foresight rule files load with
// native and prometheus-adapter configurations with imported (FormatAuto
// tells them apart by their shape).
func FormatLoader(format string, native, imported RuleLoader) (RuleLoader, error) {
	switch format {
	case FormatAuto, "":
		return func(path string, data []byte) ([]Rule, error) {
			if promadapter.Detect(data) {
				return imported(path, data)
			}
			return native(path, data)
		}, nil
	case FormatForesight:
		return native, nil
	case FormatPrometheusAdapter:
		return imported, nil
	default:
		return nil, fmt.Errorf("config format must be %s, %s or %s, got %q", FormatAuto, FormatForesight, FormatPrometheusAdapter, format)
	}
}
