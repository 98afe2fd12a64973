// Package promadapter imports prometheus-adapter (kubernetes-sigs/prometheus-adapter
// v0.12) configuration files into Foresight's rule model (adapter/config), so that a
// cluster's existing adapter configuration serves unchanged.
//
// Parse decodes such a file strictly (unknown fields, wrong kinds, regular expressions
// and templates that do not compile are refused with file, line and field) and checks
// every metricsQuery by rendering it into a Foresight query template. Discover runs each
// rule's seriesQuery against Prometheus' series API and Expand turns the discovered
// series into one Foresight rule per served metric, with the reactive model (the value
// prometheus-adapter would give). See docs/migration.md for what differs and why.
package promadapter

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// Format is the value of --config-format that forces this format.
const Format = "prometheus-adapter"

// Config is a parsed prometheus-adapter configuration file.
type Config struct {
	// Rules serve custom.metrics.k8s.io (pods and objects).
	Rules []Rule `yaml:"rules"`
	// ExternalRules serve external.metrics.k8s.io.
	ExternalRules []Rule `yaml:"externalRules"`
	// ResourceRules serve metrics.k8s.io (see ResourceMetricsRules).
	ResourceRules *ResourceRules `yaml:"resourceRules"`

	// Filename names the file in errors.
	Filename string `yaml:"-"`
	lines    strictyaml.Lines
	rules    []*compiled // Rules then ExternalRules, in file order
	// resourceRules are ResourceRules converted, nil without them.
	resourceRules *resourcemetrics.Rules
	// warnings say what is served otherwise than written (Warnings).
	warnings []string
}

// Rule is one discovery rule (an item of rules or externalRules).
type Rule struct {
	SeriesQuery   string    `yaml:"seriesQuery"`
	SeriesFilters []Filter  `yaml:"seriesFilters"`
	Resources     Resources `yaml:"resources"`
	Name          Name      `yaml:"name"`
	MetricsQuery  string    `yaml:"metricsQuery"`
}

// Filter keeps the series whose name matches Is, or does not match IsNot (exactly one is set).
type Filter struct {
	Is    string `yaml:"is"`
	IsNot string `yaml:"isNot"`
}

// Resources maps series labels to Kubernetes resources.
type Resources struct {
	// Template renders a resource's label from .Group (dots as underscores) and
	// .Resource (singular), with << >> delimiters.
	Template string `yaml:"template"`
	// Overrides map label names to resources.
	Overrides map[string]GroupResource `yaml:"overrides"`
	// Namespaced false (external rules) serves the series of every namespace
	// to any namespace: refused unless config.Policy allows it.
	Namespaced *bool `yaml:"namespaced"`
}

// GroupResource names a Kubernetes resource.
type GroupResource struct {
	Group    string `yaml:"group"`
	Resource string `yaml:"resource"`
}

// Name derives the served metric name from the series name.
type Name struct {
	Matches string `yaml:"matches"`
	As      string `yaml:"as"`
}

// ResourceRules are prometheus-adapter's metrics.k8s.io rules.
type ResourceRules struct {
	CPU    ResourceRule `yaml:"cpu"`
	Memory ResourceRule `yaml:"memory"`
	Window string       `yaml:"window"`
}

// ResourceRule is the CPU or memory rule of ResourceRules.
type ResourceRule struct {
	ContainerQuery string    `yaml:"containerQuery"`
	NodeQuery      string    `yaml:"nodeQuery"`
	Resources      Resources `yaml:"resources"`
	ContainerLabel string    `yaml:"containerLabel"`
}

// compiled is a checked rule, ready for discovery and expansion.
type compiled struct {
	path     string // "rules[0]" or "externalRules[2]"
	external bool
	// clusterWide is an external rule with namespaced: false, which the
	// policy allowed: its series are served to every namespace.
	clusterWide bool
	rule        *Rule
	filters     []filter
	matches     *regexp.Regexp
	as          string
	query       *template.Template
	// labelValues maps each key of .LabelValuesByName the query reads to its stand-in.
	labelValues map[string]string
	res         *resourceMap
}

type filter struct {
	re       *regexp.Regexp
	positive bool
}

// Detect reports whether data looks like a prometheus-adapter configuration rather
// than a Foresight rule file: a mapping without apiVersion or kind, with
// externalRules or resourceRules, or with a key (rules, or any misspelling of it
// such as Rules) whose items carry seriesQuery or metricsQuery. Keys are compared
// whatever their case, so that a misspelled one is reported by Parse as an
// unknown field of a prometheus-adapter config.
func Detect(data []byte) bool {
	docs, err := strictyaml.Documents(data, "")
	if err != nil || len(docs) != 1 {
		return false
	}
	root := strictyaml.Resolve(docs[0])
	if root == nil || root.Kind != yaml.MappingNode {
		return false
	}
	found := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch k, v := root.Content[i].Value, strictyaml.Resolve(root.Content[i+1]); {
		case k == "apiVersion" || k == "kind":
			return false
		case strings.EqualFold(k, "externalRules") || strings.EqualFold(k, "resourceRules") || hasDiscoveryItems(v) || helmValuesRules(k, v):
			found = true
		}
	}
	return found
}

// helmValuesRules reports whether key k with value v is the rules section of the values of
// prometheus-adapter's Helm chart (rules.default, rules.custom, rules.external,
// rules.resource), from which the chart renders a config.yaml.
func helmValuesRules(k string, v *yaml.Node) bool {
	if k != "rules" || v == nil || v.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		switch v.Content[i].Value {
		case "default", "custom", "external", "resource":
			return true
		}
	}
	return false
}

// helmValuesRefused is why a values file of the Helm chart is not read as a config.
const helmValuesRefused = "this is the rules section of prometheus-adapter's Helm chart values (rules.custom, rules.external, rules.resource), not a prometheus-adapter config: give the config.yaml the chart renders from it (kubectl get configmap -n NAMESPACE RELEASE-prometheus-adapter -o jsonpath='{.data.config\\.yaml}', or the ConfigMap of `helm template`), which also holds the chart's default rules when rules.default is true"

// hasDiscoveryItems reports whether n is a sequence with a mapping item that has
// a seriesQuery or metricsQuery key, as the items of rules and externalRules.
func hasDiscoveryItems(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.SequenceNode {
		return false
	}
	for _, item := range n.Content {
		if item = strictyaml.Resolve(item); item == nil || item.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j < len(item.Content); j += 2 {
			if key := item.Content[j].Value; key == "seriesQuery" || key == "metricsQuery" {
				return true
			}
		}
	}
	return false
}

// Parse decodes a prometheus-adapter configuration file strictly and checks it
// under the zero config.Policy (`namespaced: false` is refused). The error is
// a strictyaml.Errors of every problem, each with file, line and field.
func Parse(data []byte, filename string) (*Config, error) {
	return ParsePolicy(data, filename, config.Policy{})
}

// ParsePolicy is Parse under what the operator's policy allows.
func ParsePolicy(data []byte, filename string, policy config.Policy) (*Config, error) {
	docs, err := strictyaml.Documents(data, filename)
	if err != nil {
		return nil, err
	}
	switch {
	case len(docs) == 0:
		return nil, strictyaml.Errors{{File: filename, Msg: "file is empty"}}
	case len(docs) > 1:
		return nil, strictyaml.Errors{{File: filename, Line: docs[1].Line, Msg: "more than one YAML document; a prometheus-adapter config holds exactly one"}}
	}
	if root := strictyaml.Resolve(docs[0]); root != nil && root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if helmValuesRules(root.Content[i].Value, strictyaml.Resolve(root.Content[i+1])) {
				return nil, strictyaml.Errors{{File: filename, Line: root.Content[i].Line, Path: "rules", Msg: helmValuesRefused}}
			}
		}
	}
	d := strictyaml.NewDecoder(filename)
	d.YAML11Bools = true // prometheus-adapter reads its file with yaml.v2: namespaced: no
	c := &Config{Filename: filename, lines: d.Lines}
	if !d.Decode(docs[0], "", c) {
		return nil, d.Errs.Err()
	}
	c.Filename, c.lines = filename, d.Lines
	var errs strictyaml.Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, &strictyaml.Error{File: filename, Line: d.Lines.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	warn := func(path, format string, args ...any) {
		c.warnings = append(c.warnings, fmt.Sprintf("%s:%d: %s: %s", filename, d.Lines.Line(path), path, fmt.Sprintf(format, args...)))
	}
	if len(c.Rules)+len(c.ExternalRules) == 0 && c.ResourceRules == nil {
		add("", "no rules, externalRules or resourceRules")
	}
	for i := range c.Rules {
		if r := compile(&c.Rules[i], fmt.Sprintf("rules[%d]", i), false, policy, add, warn); r != nil {
			c.rules = append(c.rules, r)
		}
	}
	for i := range c.ExternalRules {
		if r := compile(&c.ExternalRules[i], fmt.Sprintf("externalRules[%d]", i), true, policy, add, warn); r != nil {
			c.rules = append(c.rules, r)
		}
	}
	if rr := c.ResourceRules; rr != nil {
		ok := true
		checkResourceRules(rr, func(path, format string, args ...any) { ok = false; add(path, format, args...) })
		if ok {
			c.resourceRules = resourceMetricsRules(rr, add)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Warnings says what of c Foresight serves otherwise than written (resourceRules are
// served: see ResourceMetricsRules).
func (c *Config) Warnings() []string {
	return c.warnings
}

// compile checks one rule at path and prepares it for discovery; add reports what refuses
// the file, warn what is served otherwise than written.
func compile(r *Rule, path string, external bool, policy config.Policy, add, warn func(path, format string, args ...any)) *compiled {
	at := func(f string) string { return path + "." + f }
	bad := false
	fail := func(p, format string, args ...any) { bad = true; add(p, format, args...) }
	c := &compiled{path: path, external: external, rule: r}
	if r.SeriesQuery == "" {
		fail(at("seriesQuery"), "required")
	} else if _, err := source.ParseSeriesSelector(r.SeriesQuery); err != nil {
		fail(at("seriesQuery"), "must be a series selector like {__name__=~\"^container_.*\",namespace!=\"\"}: %v", err)
	}
	for i, f := range r.SeriesFilters {
		p := fmt.Sprintf("%s[%d]", at("seriesFilters"), i)
		switch {
		case f.Is != "" && f.IsNot != "":
			fail(p, "set either is or isNot, not both")
		case f.Is == "" && f.IsNot == "":
			fail(p, "set is or isNot")
		default:
			expr, field := f.Is, "is"
			if f.IsNot != "" {
				expr, field = f.IsNot, "isNot"
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				fail(p+"."+field, "invalid regular expression: %v", err)
				continue
			}
			c.filters = append(c.filters, filter{re: re, positive: f.Is != ""})
		}
	}
	c.matches = regexp.MustCompile(".*")
	if r.Name.Matches != "" {
		re, err := regexp.Compile(r.Name.Matches)
		if err != nil {
			fail(at("name.matches"), "invalid regular expression: %v", err)
		} else {
			c.matches = re
			// As in prometheus-adapter, matches also filters the series.
			c.filters = append(c.filters, filter{re: re, positive: true})
		}
	}
	c.as = r.Name.As
	if c.as == "" {
		switch c.matches.NumSubexp() {
		case 0:
			c.as = "$0"
		case 1:
			c.as = "$1"
		default:
			fail(at("name.as"), "required when name.matches has more than one capture group")
		}
	}
	res, notes, err := newResourceMap(r.Resources)
	if err != nil {
		fail(at("resources"), "%v", err)
	}
	for _, n := range notes {
		warn(at("resources"), "%s", n)
	}
	c.res = res
	if n := r.Resources.Namespaced; n != nil && !*n {
		switch {
		case !external:
			// As in prometheus-adapter, which reads it on externalRules only.
			warn(at("resources.namespaced"), "namespaced: false applies only to externalRules: ignored, the rule's metrics are served per namespace")
		case !policy.ClusterWideExternal:
			fail(at("resources.namespaced"), "namespaced: false: %s", config.ClusterWideRefused)
		default:
			c.clusterWide = true
		}
	}
	if r.MetricsQuery == "" {
		fail(at("metricsQuery"), "required")
	} else if q, err := parseMetricsQuery(r.MetricsQuery); err != nil {
		fail(at("metricsQuery"), "%v", err)
	} else {
		c.query = q
		keys, other := labelValuesKeys(q.Root)
		if other {
			fail(at("metricsQuery"), ".%s is supported only as <<index .%s \"label\">> in a label matcher's value", labelValuesField, labelValuesField)
			return nil
		}
		c.labelValues = labelValuesStandIns(keys)
		groupBy, keep := []string{"namespace", "pod"}, 2
		if external {
			keep = 1
		}
		if _, err := c.nativeQuery(sampleSeries, groupBy, keep, source.TemplateOptions{}); err != nil {
			fail(at("metricsQuery"), "%v", err)
		}
	}
	if bad {
		return nil
	}
	return c
}

// queryArgs are the fields a metricsQuery template may use. LabelValuesByName holds
// stand-ins, never request values (see rewriteLabelValues).
type queryArgs struct {
	Series            string
	LabelMatchers     string
	GroupBy           string
	GroupBySlice      []string
	LabelValuesByName map[string]string
}

func parseMetricsQuery(text string) (*template.Template, error) {
	t, err := template.New("metricsQuery").Delims("<<", ">>").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template does not parse: %w", err)
	}
	return t, nil
}

// sampleSeries stands in for <<.Series>> while a query is checked before
// discovery has found the series it serves.
const sampleSeries = "foresight_sample_series"

// importMatcher (importMatcherLabel="importMatcherValue") stands in for <<.LabelMatchers>>
// while an imported query is parsed.
const (
	importMatcherLabel = "__foresight_import_matchers__"
	importMatcherValue = "x"
	importMatcher      = importMatcherLabel + `="` + importMatcherValue + `"`
)

// nativeQuery renders the rule's metricsQuery for one series name into a Foresight
// query template: .Series and .GroupBy are filled in, .LabelMatchers stays the
// placeholder that Foresight fills with escaped matchers. The first len(keep) labels
// of groupBy must survive every aggregation and vector matching whose inputs carry them:
// where the query's own by (...) or on (...) leaves them out, they are added
// (config.KeepLabel). prometheus-adapter matches one namespace (and the requested objects)
// before it evaluates the query, so evaluating it for each apart changes no value.
// The result is checked by source.ParseTemplateWith with o, whose errors name
// series <<.Series>>.
func (c *compiled) nativeQuery(series string, groupBy []string, keep int, o source.TemplateOptions) (string, error) {
	text, err := c.render(series, groupBy)
	if err != nil {
		return "", err
	}
	if expr, err := source.ParseQuery(text); err == nil {
		was := expr.String()
		for _, l := range groupBy[:keep] {
			config.KeepLabel(expr, l, importCarries(l))
		}
		if s := expr.String(); s != was {
			text = s
		}
	}
	text = strings.ReplaceAll(text, importMatcher, config.QueryPlaceholder)
	o.Series = series
	if _, err := source.ParseTemplateWith(text, o); err != nil {
		return "", err
	}
	return text, nil
}

// render executes the rule's metricsQuery for one series name grouped by
// groupBy, with importMatcher standing in for <<.LabelMatchers>> and the label values
// of .LabelValuesByName in Foresight's form (rewriteLabelValues).
func (c *compiled) render(series string, groupBy []string) (string, error) {
	var b bytes.Buffer
	err := c.query.Execute(&b, queryArgs{
		Series: series, LabelMatchers: importMatcher,
		GroupBy: strings.Join(groupBy, ","), GroupBySlice: groupBy,
		LabelValuesByName: c.labelValues,
	})
	if err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	return rewriteLabelValues(b.String(), c.labelValues, groupBy)
}

// parsed is the rule's query for series grouped by groupBy, parsed (nil when it does not
// render or parse, which the rule's validation reports).
func (c *compiled) parsed(series string, groupBy []string) parser.Expr {
	text, err := c.render(series, groupBy)
	if err != nil {
		return nil
	}
	expr, err := source.ParseQuery(text)
	if err != nil {
		return nil
	}
	return expr
}

// aggregatesAway returns the outermost aggregation of the rule's query for
// series grouped by groupBy when it leaves label out of its result (nil
// when it keeps it, or the query does not parse).
func (c *compiled) aggregatesAway(series string, groupBy []string, label string) *parser.AggregateExpr {
	expr := c.parsed(series, groupBy)
	if expr == nil {
		return nil
	}
	e := config.OutermostAggregation(expr)
	if e == nil || e.Without != slices.Contains(e.Grouping, label) {
		return nil
	}
	return e
}

// importCarries says whether a selector of an imported query selects series with label:
// those it matches by <<.LabelMatchers>> (importMatcher, the requested namespace and
// objects), or by a matcher on label that needs a value.
func importCarries(label string) func(*parser.VectorSelector) bool {
	return func(vs *parser.VectorSelector) bool {
		for _, m := range vs.LabelMatchers {
			if m.Name == importMatcherLabel || m.Name == label && !m.Matches("") {
				return true
			}
		}
		return false
	}
}

// metricName derives the served name of a series name, and whether the rule takes the
// series at all (seriesFilters and name.matches).
func (c *compiled) metricName(series string) (string, bool) {
	for _, f := range c.filters {
		if f.re.MatchString(series) != f.positive {
			return "", false
		}
	}
	m := c.matches.FindStringSubmatchIndex(series)
	if m == nil {
		return "", false
	}
	return string(c.matches.ExpandString(nil, c.as, series, m)), true
}

func checkResourceRules(rr *ResourceRules, add func(path, format string, args ...any)) {
	if rr.Window != "" {
		if _, err := model.ParseDuration(rr.Window); err != nil {
			add("resourceRules.window", `must be a duration like "5m", got %q`, rr.Window)
		}
	}
	for _, x := range []struct {
		name string
		r    *ResourceRule
	}{{"cpu", &rr.CPU}, {"memory", &rr.Memory}} {
		p := "resourceRules." + x.name
		// Each query is checked grouped by the labels of what it serves
		// (cAdvisor's, before the resources name the rule's own).
		for _, q := range []struct {
			field, text string
			groupBy     []string
		}{{"containerQuery", x.r.ContainerQuery, []string{"namespace", "pod"}}, {"nodeQuery", x.r.NodeQuery, []string{"node"}}} {
			if q.text == "" {
				continue
			}
			t, err := parseMetricsQuery(q.text)
			if err == nil {
				c := &compiled{query: t}
				_, err = c.nativeQuery(sampleSeries, q.groupBy, len(q.groupBy), resourcemetrics.TemplateOptions())
			}
			if err != nil {
				add(p+"."+q.field, "%v", err)
			}
		}
		if _, _, err := newResourceMap(x.r.Resources); err != nil {
			add(p+".resources", "%v", err)
		}
		if x.r.ContainerLabel != "" {
			if err := source.ValidateLabelName(x.r.ContainerLabel); err != nil {
				add(p+".containerLabel", "%v", err)
			}
		}
	}
}
