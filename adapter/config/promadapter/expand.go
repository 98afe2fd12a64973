package promadapter

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/source"
)

// ErrDiscovery marks an error of Discover: Prometheus could not list the
// series of a rule, which says nothing about the rule file itself.
var ErrDiscovery = errors.New("listing its series from Prometheus failed")

// DefaultDiscoveryWindow is how far back Discover looks for series, as
// prometheus-adapter's --metrics-max-age defaults to its relist interval (10m).
const DefaultDiscoveryWindow = 10 * time.Minute

// MaxGroupByLabels bounds the labels an external metric keeps per series.
const MaxGroupByLabels = 64

// Reactive is the forecast section of an imported rule: the last observed value,
// as prometheus-adapter serves, read every 15s. The history is the shortest a
// forecaster takes (its warm-up). A rule opts into forecasting by setting another
// model (after `foresight-adapter migrate`).
func Reactive() config.Forecast {
	return config.Forecast{Model: forecast.ModelReactive, Step: 15 * time.Second, Horizon: 15 * time.Second, History: forecast.DefaultWarmUp}
}

// Discovery holds the series each rule's seriesQuery matched.
type Discovery struct {
	series [][]labels.Labels // per Config.rules
}

// Discover runs every rule's seriesQuery against the series API over [end-window, end].
func (c *Config) Discover(ctx context.Context, lister source.SeriesLister, end time.Time, window time.Duration) (*Discovery, error) {
	d := &Discovery{series: make([][]labels.Labels, len(c.rules))}
	bySelector := map[string][]labels.Labels{}
	for i, r := range c.rules {
		sel := r.rule.SeriesQuery
		got, ok := bySelector[sel]
		if !ok {
			var err error
			if got, err = lister.ListSeries(ctx, sel, end.Add(-window), end); err != nil {
				return nil, fmt.Errorf("%s: %s.seriesQuery: %w: %w", c.Filename, r.path, ErrDiscovery, err)
			}
			bySelector[sel] = got
		}
		d.series[i] = got
	}
	return d, nil
}

// metricInfo is one served metric found by a rule.
type metricInfo struct {
	series string          // the Prometheus series name
	labels map[string]bool // label names seen on its series
}

// Expand turns discovered series into Foresight rules, one per served metric, each
// defaulted and validated. What cannot be served is left out with a warning: a series
// without a namespace label, a metric of cluster-scoped objects only, a second
// resource. As in prometheus-adapter, a later rule serving a metric an earlier one
// serves replaces it (with a warning on the earlier one), and of the series names a rule
// maps to one metric name, the last (in the series API's order) is served.
func (c *Config) Expand(d *Discovery) (rules []config.Rule, warnings []string) {
	warn := func(path, format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf("%s:%d: %s: %s", c.Filename, c.lines.Line(path), path, fmt.Sprintf(format, args...)))
	}
	// served are the rules by served key: the path of the rule they come from and their index.
	type servedAt struct {
		path string
		at   int
	}
	served := map[string]servedAt{}
	add := func(path, name string, m *metricInfo, rule config.Rule) {
		key := rule.ServedKey()
		prev, dup := served[key]
		if !dup {
			served[key] = servedAt{path, len(rules)}
			rules = append(rules, rule)
			return
		}
		warn(prev.path, "metric %s for %s is replaced by the one of %s (series %s): the later rule serves it, as in prometheus-adapter", name, resourceOf(rule), path, m.series)
		rules[prev.at] = rule
		served[key] = servedAt{path, prev.at}
	}
	for i, r := range c.rules {
		metrics := map[string]*metricInfo{}
		badNames := map[string]bool{}
		for _, ls := range d.series[i] {
			series := ls.Get(model.MetricNameLabel)
			name, ok := r.metricName(series)
			if !ok {
				continue
			}
			// Series and label names are written into the query: only the legacy
			// charset, never a UTF-8 name that could carry PromQL.
			if !model.LegacyValidation.IsValidMetricName(series) {
				badNames[series] = true
				continue
			}
			m := metrics[name]
			if m == nil {
				m = &metricInfo{series: series, labels: map[string]bool{}}
				metrics[name] = m
			} else if m.series != series {
				// prometheus-adapter too serves one series name per metric: the last.
				m = &metricInfo{series: series, labels: map[string]bool{}}
				metrics[name] = m
			}
			ls.Range(func(l labels.Label) {
				if l.Name == model.MetricNameLabel {
					return
				}
				if source.ValidateLabelName(l.Name) != nil {
					badNames[l.Name] = true
					return
				}
				m.labels[l.Name] = true
			})
		}
		if len(badNames) > 0 {
			bad := make([]string, 0, len(badNames))
			for n := range badNames {
				bad = append(bad, fmt.Sprintf("%q", n))
			}
			sort.Strings(bad)
			if len(bad) > 10 {
				bad = append(bad[:10], "...")
			}
			warn(r.path, "series and label names outside [a-zA-Z_:][a-zA-Z0-9_:]* are left out of queries: %s", strings.Join(bad, ", "))
		}
		names := make([]string, 0, len(metrics))
		for n := range metrics {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			m := metrics[name]
			found, err := r.nativeRules(name, m, warn)
			if err != nil {
				warn(r.path, "metric %s (series %s) not served: %v", name, m.series, err)
				continue
			}
			for _, rule := range found {
				add(r.path, name, m, rule)
			}
		}
		if r.external {
			continue
		}
		// As in prometheus-adapter, a metric whose series carry the label of
		// namespaces is also served for namespaces: the sum (or whatever the
		// query aggregates) over each namespace's series.
		for _, name := range names {
			m := metrics[name]
			rule, err := r.namespacesRule(name, m)
			if err != nil {
				warn(r.path, "metric %s (series %s) not served for namespaces: %v", name, m.series, err)
				continue
			}
			if rule != nil {
				add(r.path, name, m, *rule)
			}
		}
	}
	return rules, warnings
}

// namespacesRule is the Foresight rule serving metric name from m's series
// for namespaces (nil when the series have no label of namespaces): the
// metricsQuery grouped by the namespace label alone.
func (r *compiled) namespacesRule(name string, m *metricInfo) (*config.Rule, error) {
	labelNames := make([]string, 0, len(m.labels))
	for l := range m.labels {
		labelNames = append(labelNames, l)
	}
	sort.Strings(labelNames)
	nsLabel := r.res.namespaceLabel(labelNames)
	if nsLabel == "" {
		return nil, nil
	}
	out := config.Rule{Name: name, API: config.APIObject, Forecast: Reactive(), Resources: config.Resources{
		NamespaceLabel: nsLabel, Resource: "namespaces", Label: nsLabel,
	}}
	return r.withQuery(out, m.series, []string{nsLabel}, 1)
}

// resourceOf names what rule serves, for messages: "external", "pods" or the
// object resource.
func resourceOf(rule config.Rule) string {
	switch rule.API {
	case config.APIExternal:
		return "external"
	case config.APIPods:
		return "pods"
	}
	return rule.Resources.GroupResource().String()
}

// nativeRules are the Foresight rules serving metric name from m's series: one
// external rule, or as prometheus-adapter does, one rule for each namespaced
// resource a label of the series names (pods first, then in label order); none,
// with a warning, when there is nothing Foresight can serve.
func (r *compiled) nativeRules(name string, m *metricInfo, warn func(path, format string, args ...any)) ([]config.Rule, error) {
	rule, labels, err := r.nativeRule(name, m, warn)
	if rule == nil || err != nil {
		return nil, err
	}
	if len(labels) == 0 { // an external rule, whole
		return []config.Rule{*rule}, nil
	}
	var out []config.Rule
	for _, l := range labels {
		gr, _ := r.res.resourceFor(l)
		o := *rule
		o.Resources.Label = l
		if gr == (schema.GroupResource{Resource: "pods"}) {
			o.API = config.APIPods
		} else {
			o.API = config.APIObject
			o.Resources.Group, o.Resources.Resource = gr.Group, gr.Resource
		}
		q, err := r.withQuery(o, m.series, []string{rule.Resources.NamespaceLabel, l}, 2)
		if err != nil {
			return nil, err
		}
		out = append(out, *q)
	}
	return out, nil
}

// nativeRule is the Foresight rule serving metric name from m's series (nil, with a
// warning, when there is nothing Foresight can serve). For the custom metrics API it
// is returned without its resource and query, and labels are the series labels that
// name a namespaced resource, pods first: each makes one rule (nativeRules).
func (r *compiled) nativeRule(name string, m *metricInfo, warn func(path, format string, args ...any)) (*config.Rule, []string, error) {
	labelNames := make([]string, 0, len(m.labels))
	for l := range m.labels {
		labelNames = append(labelNames, l)
	}
	sort.Strings(labelNames)
	nsLabel := r.res.namespaceLabel(labelNames)
	if nsLabel == "" && r.external && m.labels[config.DefaultNamespaceLabel] && r.rule.Resources.Template == "" && len(r.rule.Resources.Overrides) == 0 {
		nsLabel = config.DefaultNamespaceLabel
	}
	if r.clusterWide {
		rule, err := r.clusterWideRule(name, m, nsLabel, labelNames, warn)
		return rule, nil, err
	}
	if nsLabel == "" {
		warn(r.path, "metric %s (series %s) not served: its series have no label mapped to namespaces in resources, and Foresight serves namespaced metrics only", name, m.series)
		return nil, nil, nil
	}
	out := config.Rule{Name: name, Forecast: Reactive(), Resources: config.Resources{NamespaceLabel: nsLabel}}
	if r.external {
		out.API = config.APIExternal
		groupBy := []string{nsLabel}
		for _, l := range labelNames {
			if l != nsLabel && len(groupBy) < MaxGroupByLabels {
				groupBy = append(groupBy, l)
			}
		}
		rule, err := r.withQuery(out, m.series, groupBy, 1)
		if err == nil && !r.addsUp(m.series, groupBy) {
			warn(r.path, "metric %s: a request whose selector matches several series gets one item per series, which an HPA adds up, where prometheus-adapter evaluated the query over them together; the query's value does not add up over series (an avg, max, min or quantile, or a ratio): select one series in the HPA's selector, or record the total", name)
		}
		return rule, nil, err
	}
	var found []string
	for _, l := range labelNames {
		gr, ok := r.res.resourceFor(l)
		if !ok || clusterScoped[gr] || r.res.resourceLabel(gr, labelNames) != l {
			continue
		}
		if gr == (schema.GroupResource{Resource: "pods"}) {
			found = append([]string{l}, found...)
		} else {
			found = append(found, l)
		}
	}
	if len(found) == 0 {
		warn(r.path, "metric %s (series %s) served for namespaces only: no label names a namespaced resource (Foresight does not serve node or persistent volume metrics)", name, m.series)
		return nil, nil, nil
	}
	return &out, found, nil
}

// addsUp says whether the rule's query for series, grouped by groupBy, gives values that
// add up over series: no aggregation, or a sum or count (times a scalar), so that the items
// an HPA adds give what prometheus-adapter's one evaluation over the selected series gave.
func (r *compiled) addsUp(series string, groupBy []string) bool {
	expr := r.parsed(series, groupBy)
	return expr == nil || additive(expr)
}

// additive says whether expr's values add up over its series (see addsUp).
func additive(expr parser.Expr) bool {
	switch e := expr.(type) {
	case *parser.ParenExpr:
		return additive(e.Expr)
	case *parser.AggregateExpr:
		return e.Op == parser.SUM || e.Op == parser.COUNT
	case *parser.Call:
		for _, a := range e.Args {
			if t := a.Type(); (t == parser.ValueTypeVector || t == parser.ValueTypeMatrix) && !additive(a) {
				return false
			}
		}
		return true
	case *parser.BinaryExpr:
		lv, rv := e.LHS.Type() == parser.ValueTypeVector, e.RHS.Type() == parser.ValueTypeVector
		switch {
		case lv && rv && !e.Op.IsSetOperator():
			return false
		case lv && rv:
			return additive(e.LHS) && additive(e.RHS)
		case lv:
			return additive(e.LHS)
		case rv:
			return additive(e.RHS)
		}
	}
	return true
}

// clusterWideRule is the Foresight rule serving metric name of a
// `namespaced: false` external rule: as prometheus-adapter, which leaves the
// namespace matcher out of such a rule's query, it serves the series of
// every namespace (and of none) to a request in any namespace. The query is
// grouped by every label found on the series (nsLabel, when the resources
// name one, first) so that a request's selector is matched in memory.
//
// A selector matches only the labels the query keeps. prometheus-adapter
// matched it before aggregating, so the `by (name)` of its external example
// still answers a selector on the namespace. Where the query's outermost
// aggregation is a sum or a count, it is also grouped by the namespace
// label: the values then add up, over the namespaces, to what the query
// gave, as an HPA adds the items of an external metric. Any other
// aggregation that leaves the namespace out is served as written, with a
// warning.
func (r *compiled) clusterWideRule(name string, m *metricInfo, nsLabel string, labelNames []string, warn func(path, format string, args ...any)) (*config.Rule, error) {
	if nsLabel == "" {
		nsLabel = config.DefaultNamespaceLabel
	}
	out := config.Rule{
		Name: name, API: config.APIExternal, Forecast: Reactive(),
		Resources: config.Resources{NamespaceLabel: nsLabel, ClusterWide: true},
	}
	var groupBy []string
	if m.labels[nsLabel] {
		groupBy = append(groupBy, nsLabel)
	}
	for _, l := range labelNames {
		if l != nsLabel && len(groupBy) < MaxGroupByLabels {
			groupBy = append(groupBy, l)
		}
	}
	keep := 0
	if m.labels[nsLabel] {
		if e := r.aggregatesAway(m.series, groupBy, nsLabel); e != nil {
			if e.Op == parser.SUM || e.Op == parser.COUNT {
				keep = 1
			} else {
				warn(r.path, "metric %s: a selector on the %s label matches nothing, as the query's outermost %s leaves the label out (Foresight matches selectors on the labels the query keeps; prometheus-adapter matched them before aggregating): group by %s too if an HPA selects on it", name, nsLabel, e.Op, nsLabel)
			}
		}
	}
	return r.withQuery(out, m.series, groupBy, keep)
}

// Import parses a prometheus-adapter file under policy, discovers its metrics and returns the
// Foresight rule file that serves them (rules possibly empty), with warnings about
// what is not served.
func Import(ctx context.Context, data []byte, filename string, policy config.Policy, lister source.SeriesLister, now time.Time, window time.Duration) (*config.File, []string, error) {
	c, err := ParsePolicy(data, filename, policy)
	if err != nil {
		return nil, nil, err
	}
	d, err := c.Discover(ctx, lister, now, window)
	if err != nil {
		return nil, nil, err
	}
	rules, warnings := c.Expand(d)
	f := &config.File{Filename: filename, APIVersion: config.APIVersion, Kind: config.Kind, Rules: rules}
	if c.resourceRules != nil {
		f.ResourceMetrics = config.FromResourceMetricsRules(c.resourceRules)
	}
	return f, append(c.Warnings(), warnings...), nil
}

// withQuery completes rule out with the native query of series grouped by
// groupBy (see nativeQuery), its defaults and its validation.
func (r *compiled) withQuery(out config.Rule, series string, groupBy []string, keep int) (*config.Rule, error) {
	q, err := r.nativeQuery(series, groupBy, keep, source.TemplateOptions{})
	if err != nil {
		return nil, err
	}
	out.Query = q
	out.SetDefaults()
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}
