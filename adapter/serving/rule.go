package serving

import (
	"fmt"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/shadow"
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
}

// ShadowSpec configures the shadow evaluation of a rule's series.
type ShadowSpec struct {
	// Config configures each series' shadow.Evaluator.
	Config shadow.Config
	// Strategies are evaluated side by side.
	Strategies []shadow.Strategy
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

// ConfigLoader is the RuleLoader of rule files in the config package's format.
func ConfigLoader(path string, data []byte) ([]Rule, error) {
	f, err := config.Parse(data, path)
	if err != nil {
		return nil, err
	}
	return RulesFromConfig(f)
}
