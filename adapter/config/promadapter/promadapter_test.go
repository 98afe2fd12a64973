package promadapter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/strictyaml"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestShippedExamplesLoad parses prometheus-adapter's own example configurations.
func TestShippedExamplesLoad(t *testing.T) {
	for _, c := range []struct {
		file            string
		rules, external int
		warnings        int
	}{
		{"helm-default.yaml", 6, 0, 0},
		{"manifests-config.yaml", 0, 0, 0},
		{"walkthrough.yaml", 1, 1, 0},
	} {
		t.Run(c.file, func(t *testing.T) {
			data := readTestdata(t, c.file)
			if !Detect(data) {
				t.Error("Detect = false")
			}
			cfg, err := Parse(data, c.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Rules) != c.rules || len(cfg.ExternalRules) != c.external || len(cfg.Warnings()) != c.warnings {
				t.Errorf("rules %d, externalRules %d, warnings %v; want %d, %d, %d", len(cfg.Rules), len(cfg.ExternalRules), cfg.Warnings(), c.rules, c.external, c.warnings)
			}
		})
	}
}

// TestSideBySideOverlayConfigLoads: the config the side-by-side deploy overlay ships.
func TestSideBySideOverlayConfigLoads(t *testing.T) {
	const path = "../../../deploy/adapter/overlays/side-by-side/config.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !Detect(data) {
		t.Error("not detected as a prometheus-adapter config")
	}
	if _, err := Parse(data, path); err != nil {
		t.Error(err)
	}
}

// TestDetectNative: Foresight's own rule files are not taken for imports.
func TestDetectNative(t *testing.T) {
	files, _ := filepath.Glob("../../../deploy/rules/*.yaml")
	if len(files) == 0 {
		t.Fatal("no native rule files in deploy/rules")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if Detect(data) {
			t.Errorf("%s: detected as prometheus-adapter", f)
		}
	}
}

// TestRefused checks that bad and unsafe configurations are refused with file, line and field.
func TestRefused(t *testing.T) {
	for _, c := range []struct {
		name, file, doc string
		want            []string
	}{
		{name: "namespaced false", file: "namespaced-false.yaml",
			want: []string{"namespaced-false.yaml:8: externalRules[0].resources.namespaced: namespaced: false: cluster-wide external metrics serve the series of every namespace to every namespace; refused unless the adapter runs with --allow-cluster-wide-external-metrics"}},
		// yaml.v2, which prometheus-adapter reads its file with, takes YAML 1.1's booleans.
		{name: "namespaced no", doc: "externalRules:\n- seriesQuery: '{__name__=\"depth\"}'\n  metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n  resources: {namespaced: no}\n",
			want: []string{"f.yaml:4: externalRules[0].resources.namespaced: namespaced: false: cluster-wide"}},
		{name: "namespaced quoted", doc: "externalRules:\n- seriesQuery: '{__name__=\"depth\"}'\n  metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n  resources: {namespaced: \"no\"}\n",
			want: []string{"f.yaml:4: externalRules[0].resources.namespaced: must be true or false, got \"no\""}},
		// The upstream sample is not valid YAML (unescaped quotes in a double-quoted string).
		{name: "sample config", file: "sample-config.yaml", want: []string{"sample-config.yaml:33: invalid YAML: did not find expected key"}},
		{name: "no label matchers", doc: "rules:\n- seriesQuery: 'cheddar{sharp=\"true\"}'\n  name: {as: \"cheesy_goodness\"}\n  metricsQuery: 'count(cheddar{sharp=\"true\"})'\n",
			want: []string{"f.yaml:4: rules[0].metricsQuery: query template: vector selector cheddar lacks <<.LabelMatchers>>"}},
		// Errors name <<.Series>> as written, and hold every problem of a query on its one line.
		{name: "unscoped series", doc: "externalRules:\n- seriesQuery: '{__name__=~\"q.*\"}'\n  metricsQuery: '<<.Series>>{queue_name!=\"\"}'\n",
			want: []string{"f.yaml:3: externalRules[0].metricsQuery: query template: vector selector <<.Series>> lacks <<.LabelMatchers>> inside its braces"}},
		{name: "two unscoped selectors", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: '1 - a / <<.Series>>'\n",
			want: []string{"f.yaml:3: rules[0].metricsQuery: query template: vector selector a lacks <<.LabelMatchers>> inside its braces; vector selector <<.Series>> lacks <<.LabelMatchers>> inside its braces"}},
		{name: "parse position in the query shown", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'custom_metric::x::<<.LabelMatchers>>::<<.GroupBy>>'\n",
			want: []string{`f.yaml:3: rules[0].metricsQuery: query template renders to invalid PromQL: 1:19 (in what <<.LabelMatchers>> renders to) of "custom_metric::x::<<.LabelMatchers>>::namespace,pod": unexpected "="`}},
		{name: "unknown field", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricQuery: x\n",
			want: []string{"f.yaml:3: rules[0].metricQuery: unknown field"}},
		{name: "template does not parse", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy'\n",
			want: []string{"f.yaml:3: rules[0].metricsQuery: template does not parse"}},
		{name: "renders invalid PromQL", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}'\n",
			want: []string{"f.yaml:3: rules[0].metricsQuery: query template renders to invalid PromQL"}},
		// .LabelValuesByName only as a whole matcher value on its own label (TestExpandLabelValuesByName).
		{name: "label values with other text", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>,deployment=\"<<index .LabelValuesByName \"deployment\">>-base\"})'\n",
			want: []string{"f.yaml:3: rules[0].metricsQuery: .LabelValuesByName: deployment: .LabelValuesByName is supported only as the whole value of an = or =~ matcher"}},
		{name: "label values of another label", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>,deployment=~\"<<.LabelValuesByName.service>>\"})'\n",
			want: []string{`f.yaml:3: rules[0].metricsQuery: .LabelValuesByName: deployment: matched against the values of label "service"`}},
		{name: "label values not matched", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>,pod!~\"<<.LabelValuesByName.pod>>\"})'\n",
			want: []string{"f.yaml:3: rules[0].metricsQuery: .LabelValuesByName: pod: .LabelValuesByName is supported only as the whole value of an = or =~ matcher"}},
		{name: "label values in a string", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'label_replace(sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>), \"x\", \"<<index .LabelValuesByName \"pod\">>\", \"\", \"\")'\n",
			want: []string{"f.yaml:3: rules[0].metricsQuery: .LabelValuesByName is supported only as the whole value of a label matcher"}},
		{name: "label values ranged over", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>><<range $k, $v := .LabelValuesByName>>,<<$k>>=~\"<<$v>>\"<<end>>})'\n",
			want: []string{"f.yaml:3: rules[0].metricsQuery: .LabelValuesByName is supported only as <<index .LabelValuesByName \"label\">>"}},
		{name: "matcher in a string", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'label_replace(sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>), \"x\", \"<<.LabelMatchers>>\", \"\", \"\")'\n",
			want: []string{"f.yaml:3: rules[0].metricsQuery: query template renders to invalid PromQL"}},
		{name: "bad filter", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  seriesFilters:\n  - is: '(['\n  - {is: a, isNot: b}\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n",
			want: []string{"f.yaml:4: rules[0].seriesFilters[0].is: invalid regular expression", "f.yaml:5: rules[0].seriesFilters[1]: set either is or isNot"}},
		{name: "two captures without as", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  name: {matches: '(a)(b)'}\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n",
			want: []string{"f.yaml:3: rules[0].name.as: required when name.matches has more than one capture group"}},
		{name: "series query is an expression", doc: "rules:\n- seriesQuery: 'sum(up)'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n",
			want: []string{"f.yaml:2: rules[0].seriesQuery: must be a series selector"}},
		{name: "bad resource template", doc: "rules:\n- seriesQuery: '{a!=\"\"}'\n  resources: {template: 'kube_<<.Group>>'}\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n",
			want: []string{"f.yaml:3: rules[0].resources: template: must use <<.Resource>> once"}},
		{name: "bad resource rule", doc: "resourceRules:\n  cpu:\n    containerQuery: 'sum(x{<<.LabelMatchers>>}) by (<<.Group>>)'\n  window: soon\n",
			want: []string{"f.yaml:3: resourceRules.cpu.containerQuery: template", "f.yaml:4: resourceRules.window: must be a duration"}},
		// A node query's error shows it grouped by the node, as it is served.
		{name: "node query grouped twice", doc: "resourceRules:\n  cpu:\n    nodeQuery: 'sum(rate(n{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>) by (<<.GroupBy>>)'\n",
			want: []string{`f.yaml:3: resourceRules.cpu.nodeQuery: query template renders to invalid PromQL: 1:48 of "sum(rate(n{<<.LabelMatchers>>}[1m])) by (node) by (node)": unexpected <by>`}},
		{name: "resource rule without node label", doc: "resourceRules:\n  cpu:\n    containerQuery: 'sum(rate(c{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)'\n    nodeQuery: 'sum(rate(n{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)'\n    containerLabel: container\n    resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}\n  memory:\n    containerQuery: 'sum(c{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n    nodeQuery: 'sum(n{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n    resources: {template: '<<.Resource>>'}\n",
			want: []string{"f.yaml:6: resourceRules.cpu.resources: no label names nodes", "f.yaml:7: resourceRules.memory.containerLabel: required"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, file := []byte(c.doc), "f.yaml"
			if c.file != "" {
				data, file = readTestdata(t, c.file), c.file
			}
			_, err := Parse(data, file)
			var errs strictyaml.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want strictyaml.Errors", err)
			}
			if len(errs) != len(c.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), len(c.want), err)
			}
			for i, w := range c.want {
				if i < len(errs) && (!strings.HasPrefix(errs[i].Error(), w) || strings.Contains(errs[i].Error(), "\n")) {
					t.Errorf("error %d = %q, want prefix %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}

// listerFunc is a SeriesLister over a fixed set of series, filtered by the selector.
type staticLister []labels.Labels

func (s staticLister) ListSeries(_ context.Context, selector string, _, _ time.Time) ([]labels.Labels, error) {
	ms, err := parseSelector(selector)
	if err != nil {
		return nil, err
	}
	var out []labels.Labels
	for _, ls := range s {
		ok := true
		for _, m := range ms {
			if !m.Matches(ls.Get(m.Name)) {
				ok = false
			}
		}
		if ok {
			out = append(out, ls)
		}
	}
	return out, nil
}

func expand(t *testing.T, file string, series ...labels.Labels) ([]config.Rule, []string) {
	t.Helper()
	f, warnings := importDoc(t, readTestdata(t, file), file, config.Policy{}, DefaultDiscoveryWindow, series...)
	return f.Rules, warnings
}

// importDoc imports data, the file named file, under policy, from series found within window.
func importDoc(t *testing.T, data []byte, file string, policy config.Policy, window time.Duration, series ...labels.Labels) (*config.File, []string) {
	t.Helper()
	f, warnings, err := Import(context.Background(), data, file, policy, staticLister(series), time.Now(), window)
	if err != nil {
		t.Fatal(err)
	}
	return f, warnings
}

// TestExpandHelmDefaults checks the metrics the Helm chart's default rules serve, with
// the _total counters served as rates under the name without the suffix.
func TestExpandHelmDefaults(t *testing.T) {
	rules, warnings := expand(t, "helm-default.yaml",
		labels.FromStrings("__name__", "container_cpu_usage_seconds_total", "namespace", "a", "pod", "p", "container", "c"),
		labels.FromStrings("__name__", "container_network_receive_bytes_total", "namespace", "a", "pod", "p", "container", "c"),
		labels.FromStrings("__name__", "container_memory_working_set_bytes", "namespace", "a", "pod", "p", "container", "c"),
		labels.FromStrings("__name__", "http_requests_total", "namespace", "a", "pod", "p", "service", "s", "job", "j"),
		labels.FromStrings("__name__", "queue_length", "namespace", "a", "service", "s", "instance", "i"),
		labels.FromStrings("__name__", "node_load1", "node", "n"), // no namespace: not matched by the seriesQuery
		labels.FromStrings("__name__", "kube_namespace_thing", "namespace", "a"),
	)
	want := map[string]struct {
		api      config.API
		label    string
		resource string
		query    string
	}{
		"cpu_usage":                {config.APIPods, "pod", "pods", `sum(rate(container_cpu_usage_seconds_total{<<.LabelMatchers>>,container!="POD"}[5m])) by (namespace,pod)`},
		"network_receive_bytes":    {config.APIPods, "pod", "pods", `sum(rate(container_network_receive_bytes_total{<<.LabelMatchers>>,container!="POD"}[5m])) by (namespace,pod)`},
		"memory_working_set_bytes": {config.APIPods, "pod", "pods", `sum(container_memory_working_set_bytes{<<.LabelMatchers>>,container!="POD"}) by (namespace,pod)`},
		// As in prometheus-adapter, a metric is served for each resource its labels
		// name: http_requests_total carries pod, service and job (batch/jobs too).
		"http_requests":            {config.APIPods, "pod", "pods", `sum(rate(http_requests_total{<<.LabelMatchers>>}[5m])) by (namespace,pod)`},
		"services/http_requests":   {config.APIObject, "service", "services", `sum(rate(http_requests_total{<<.LabelMatchers>>}[5m])) by (namespace,service)`},
		"jobs.batch/http_requests": {config.APIObject, "job", "jobs", `sum(rate(http_requests_total{<<.LabelMatchers>>}[5m])) by (namespace,job)`},
		"services/queue_length":    {config.APIObject, "service", "services", `sum(queue_length{<<.LabelMatchers>>}) by (namespace,service)`},
	}
	got := map[string]config.Rule{}
	namespaces := map[string]config.Rule{}
	for _, r := range rules {
		if r.Resources.Resource == "namespaces" {
			namespaces[r.Name] = r
			continue
		}
		got[r.ServedKey()] = r
	}
	if len(got) != len(want) {
		t.Errorf("served %d metrics, want %d: %v", len(got), len(want), rules)
	}
	// As in prometheus-adapter, every metric with a namespace label is also
	// served for namespaces, grouped by the namespace alone.
	wantNS := map[string]string{
		"cpu_usage":                `sum(rate(container_cpu_usage_seconds_total{<<.LabelMatchers>>,container!="POD"}[5m])) by (namespace)`,
		"network_receive_bytes":    `sum(rate(container_network_receive_bytes_total{<<.LabelMatchers>>,container!="POD"}[5m])) by (namespace)`,
		"memory_working_set_bytes": `sum(container_memory_working_set_bytes{<<.LabelMatchers>>,container!="POD"}) by (namespace)`,
		"http_requests":            `sum(rate(http_requests_total{<<.LabelMatchers>>}[5m])) by (namespace)`,
		"queue_length":             `sum(queue_length{<<.LabelMatchers>>}) by (namespace)`,
		"kube_namespace_thing":     `sum(kube_namespace_thing{<<.LabelMatchers>>}) by (namespace)`,
	}
	if len(namespaces) != len(wantNS) {
		t.Errorf("served %d namespace metrics, want %d: %v", len(namespaces), len(wantNS), namespaces)
	}
	for name, q := range wantNS {
		r := namespaces[name]
		if r.API != config.APIObject || r.Resources.Label != "namespace" || r.Resources.NamespaceLabel != "namespace" || r.Query != q {
			t.Errorf("namespaces %s = %s %+v %q, want object namespaces by namespace %q", name, r.API, r.Resources, r.Query, q)
		}
	}
	for name, w := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("metric %s not served", name)
			continue
		}
		if r.API != w.api || r.Resources.Label != w.label || r.Resources.Resource != w.resource || r.Query != w.query || r.Forecast.Model != Reactive().Model {
			t.Errorf("%s = %s %+v %q %s, want %s %s %s %q reactive", name, r.API, r.Resources, r.Query, r.Forecast.Model, w.api, w.label, w.resource, w.query)
		}
	}
	joined := strings.Join(warnings, "\n")
	for _, w := range []string{"kube_namespace_thing (series kube_namespace_thing) served for namespaces only: no label names a namespaced resource"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q:\n%s", w, joined)
		}
	}
}

// TestExpandWalkthrough: overrides with other label names, name.as with captures, and an
// external rule whose by (name) gets the namespace label added.
func TestExpandWalkthrough(t *testing.T) {
	rules, warnings := expand(t, "walkthrough.yaml",
		labels.FromStrings("__name__", "http_requests_total", "kubernetes_namespace", "a", "kubernetes_pod_name", "p", "verb", "GET"),
		labels.FromStrings("__name__", "queue_consumer_lag", "namespace", "a", "name", "q1"),
	)
	if len(rules) != 3 || len(warnings) != 0 {
		t.Fatalf("rules %+v, warnings %v", rules, warnings)
	}
	if n := rules[1]; n.Name != "http_requests_per_second" || n.Resources.Resource != "namespaces" || n.Resources.Label != "kubernetes_namespace" ||
		n.Query != `sum(rate(http_requests_total{<<.LabelMatchers>>}[2m])) by (kubernetes_namespace)` {
		t.Errorf("namespaces rule = %+v", n)
	}
	rules = append(rules[:1], rules[2:]...)
	r := rules[0]
	if r.Name != "http_requests_per_second" || r.API != config.APIPods || r.Resources.NamespaceLabel != "kubernetes_namespace" || r.Resources.Label != "kubernetes_pod_name" ||
		r.Query != `sum(rate(http_requests_total{<<.LabelMatchers>>}[2m])) by (kubernetes_namespace,kubernetes_pod_name)` {
		t.Errorf("custom rule = %+v", r)
	}
	e := rules[1]
	if e.Name != "queue_consumer_lag" || e.API != config.APIExternal || e.Resources.NamespaceLabel != "namespace" ||
		e.Query != `sum by (name, namespace) (queue_consumer_lag{<<.LabelMatchers>>})` {
		t.Errorf("external rule = %+v", e)
	}
}

// TestExpandLabelValuesByName: a metricsQuery that matches a label against its own values
// in .LabelValuesByName, as prometheus-adapter fills it from a request's matchers, is
// served with the label required instead (the objects are read at once), its selectors
// scoped by <<.LabelMatchers>> whether or not they carried it; a label the request does not
// match (the pod label of a namespaces metric) has no values, as in prometheus-adapter.
func TestExpandLabelValuesByName(t *testing.T) {
	doc := []byte(`rules:
- seriesQuery: '{__name__="http_requests_total",namespace!="",pod!=""}'
  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
  name: {matches: "^(.*)_total$", as: "${1}_by_pod"}
  metricsQuery: |
    sum(rate(<<.Series>>{namespace="<<index .LabelValuesByName "namespace">>",pod=~"<<.LabelValuesByName.pod>>"}[2m])) by (<<.GroupBy>>)
      * on (namespace, pod) group_left()
    max by (namespace, pod) (kube_pod_status_ready{<<.LabelMatchers>>,condition="true",pod=~"<<index .LabelValuesByName "pod">>"})
`)
	f, warnings := importDoc(t, doc, "f.yaml", config.Policy{}, time.Minute,
		labels.FromStrings("__name__", "http_requests_total", "namespace", "a", "pod", "p"),
	)
	if len(f.Rules) != 2 || len(warnings) != 0 {
		t.Fatalf("rules %+v, warnings %v", f.Rules, warnings)
	}
	want := map[string]string{
		"pods":       `sum by (namespace, pod) (rate(http_requests_total{<<.LabelMatchers>>,namespace!="",pod!=""}[2m])) * on (namespace, pod) group_left () max by (namespace, pod) (kube_pod_status_ready{<<.LabelMatchers>>,condition="true",pod!=""})`,
		"namespaces": `sum by (namespace) (rate(http_requests_total{<<.LabelMatchers>>,namespace!="",pod=~""}[2m])) * on (namespace, pod) group_left () max by (namespace, pod) (kube_pod_status_ready{<<.LabelMatchers>>,condition="true",pod=~""})`,
	}
	for _, r := range f.Rules {
		kind := "pods"
		if r.API == config.APIObject {
			kind = r.Resources.Resource
		}
		if r.Name != "http_requests_by_pod" || r.Query != want[kind] {
			t.Errorf("%s rule %s: query\n%s\nwant\n%s", kind, r.Name, r.Query, want[kind])
		}
		if strings.Contains(r.Query, labelValuesMark) {
			t.Errorf("%s rule: a stand-in left in %s", kind, r.Query)
		}
	}
}

// TestOverrideWithoutGroup: an override that names a built-in resource
// without its group names it in any group, as prometheus-adapter's lookup in
// the cluster's discovery does, so the rule serves the resource an HPA asks
// for (ingresses.networking.k8s.io, deployments.apps). A group given must
// match; a resource Foresight does not know is taken as written.
func TestOverrideWithoutGroup(t *testing.T) {
	for _, c := range []struct {
		override string
		want     schema.GroupResource
	}{
		{`{resource: ingress}`, schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}},
		{`{resource: ingresses}`, schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}},
		{`{resource: deployment}`, schema.GroupResource{Group: "apps", Resource: "deployments"}},
		{`{group: apps, resource: deployment}`, schema.GroupResource{Group: "apps", Resource: "deployments"}},
		{`{resource: service}`, schema.GroupResource{Resource: "services"}},
		{`{group: extensions, resource: ingresses}`, schema.GroupResource{Group: "extensions", Resource: "ingresses"}},
		{`{group: cheese.io, resource: brands}`, schema.GroupResource{Group: "cheese.io", Resource: "brands"}},
	} {
		doc := []byte("rules:\n- seriesQuery: '{__name__=\"hits_total\"}'\n  resources: {overrides: {namespace: {resource: namespace}, obj: " + c.override + "}}\n  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'\n")
		f, warnings, err := Import(context.Background(), doc, "f.yaml", config.Policy{}, staticLister{
			labels.FromStrings("__name__", "hits_total", "namespace", "a", "obj", "o"),
		}, time.Now(), time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", c.override, err)
		}
		var got []schema.GroupResource
		for _, r := range f.Rules {
			if r.API == config.APIObject && r.Resources.Resource != "namespaces" {
				got = append(got, schema.GroupResource{Group: r.Resources.Group, Resource: r.Resources.Resource})
			}
		}
		if len(got) != 1 || got[0] != c.want || len(warnings) != 0 {
			t.Errorf("%s: object rules for %v, warnings %v; want %v", c.override, got, warnings, c.want)
		}
	}
}

// TestExpandHostileNames: series names and labels that do not make valid metric names
// are left out with a warning, and one metric name is served by one rule: the later, as in
// prometheus-adapter.
func TestExpandHostileNames(t *testing.T) {
	doc := []byte(`rules:
- seriesQuery: '{namespace!=""}'
  resources: {template: "<<.Resource>>"}
  name: {matches: "^(.*)$", as: "x/${1}"}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
- seriesQuery: '{namespace!=""}'
  resources: {template: "<<.Resource>>"}
  name: {matches: "^(.*)_total$", as: "dup"}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
- seriesQuery: '{namespace!=""}'
  resources: {template: "<<.Resource>>"}
  name: {matches: "^(.*)_count$", as: "dup"}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
`)
	f, warnings := importDoc(t, doc, "f.yaml", config.Policy{}, time.Minute,
		labels.FromStrings("__name__", "a_total", "namespace", "n", "pod", "p"),
		labels.FromStrings("__name__", "b_count", "namespace", "n", "pod", "p"),
	)
	if len(f.Rules) != 2 || f.Rules[0].Name != "dup" || !strings.Contains(f.Rules[0].Query, "b_count") ||
		f.Rules[1].Name != "dup" || f.Rules[1].Resources.Resource != "namespaces" || !strings.Contains(f.Rules[1].Query, "b_count") {
		t.Errorf("rules = %+v", f.Rules)
	}
	joined := strings.Join(warnings, "\n")
	for _, w := range []string{"f.yaml:2: rules[0]: metric x/a_total (series a_total) not served: name: must match",
		"f.yaml:6: rules[1]: metric dup for pods is replaced by the one of rules[2] (series b_count)",
		"f.yaml:6: rules[1]: metric dup for namespaces is replaced by the one of rules[2] (series b_count)"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q:\n%s", w, joined)
		}
	}
}

// TestExpandServesTheLastSeriesOfAName: of the series names one rule maps to one metric
// name, the last in the series API's order is served, as in prometheus-adapter.
func TestExpandServesTheLastSeriesOfAName(t *testing.T) {
	doc := []byte(`rules:
- seriesQuery: '{namespace!=""}'
  resources: {template: "<<.Resource>>"}
  name: {matches: "^(.*?)(_count|_total)?$", as: "${1}"}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
`)
	f, _ := importDoc(t, doc, "f.yaml", config.Policy{}, time.Minute,
		labels.FromStrings("__name__", "jobs_count", "namespace", "n", "pod", "p"),
		labels.FromStrings("__name__", "jobs_total", "namespace", "n", "pod", "p"),
	)
	if len(f.Rules) == 0 || !strings.Contains(f.Rules[0].Query, "jobs_total") {
		t.Errorf("rules = %+v, want jobs served by jobs_total", f.Rules)
	}
}

func parseSelector(s string) ([]*labels.Matcher, error) { return source.ParseSeriesSelector(s) }

// TestExpandUTF8NamesStayOutOfQueries: Prometheus 3 accepts UTF-8 metric and label
// names; one that carries PromQL must never be written into a query.
func TestExpandUTF8NamesStayOutOfQueries(t *testing.T) {
	doc := []byte(`externalRules:
- seriesQuery: '{namespace!=""}'
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
`)
	f, warnings := importDoc(t, doc, "f.yaml", config.Policy{}, time.Minute,
		labels.FromStrings("__name__", `x{a="b"}) or vector(1`, "namespace", "n"),
		labels.FromStrings("__name__", "ok", "namespace", "n", `q) or vector(1) #`, "v", "queue", "q"),
	)
	if len(f.Rules) != 1 || f.Rules[0].Query != `sum(ok{<<.LabelMatchers>>}) by (namespace,queue)` {
		t.Fatalf("rules = %+v", f.Rules)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "left out of queries") {
		t.Errorf("warnings = %v", warnings)
	}
}

// TestClusterWideAllowed: with the operator's policy allowing it, the
// `namespaced: false` rule of prometheus-adapter's docs is served to every
// namespace, series without a namespace included, grouped by every label
// found so that selectors match in memory; a namespaced rule of the same file
// stays namespaced. Without the policy the same file is refused (TestRefused).
func TestClusterWideAllowed(t *testing.T) {
	file := "namespaced-false.yaml"
	data := append(readTestdata(t, file), []byte(`- seriesQuery: '{__name__="jobs_waiting",namespace!=""}'
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (name)
`)...)
	if _, err := ParsePolicy(data, file, config.Policy{}); err == nil {
		t.Fatal("namespaced: false parsed under the zero policy")
	}
	policy := config.Policy{ClusterWideExternal: true}
	f, warnings := importDoc(t, data, file, policy, time.Minute,
		labels.FromStrings("__name__", "queue_depth", "name", "q1", "namespace", "a"),
		labels.FromStrings("__name__", "queue_depth", "name", "q2"), // a broker's series, no namespace
		labels.FromStrings("__name__", "jobs_waiting", "name", "j", "namespace", "a"),
	)
	if len(f.Rules) != 2 || len(warnings) != 0 {
		t.Fatalf("rules %+v, warnings %v", f.Rules, warnings)
	}
	byName := map[string]config.Rule{}
	for _, r := range f.Rules {
		byName[r.Name] = r
	}
	cw, ns := byName["queue_depth"], byName["jobs_waiting"]
	// The sum keeps the namespace too, so that a selector on it matches.
	if !cw.Resources.ClusterWide || cw.API != config.APIExternal || cw.Query != `sum by (name, namespace) (queue_depth{<<.LabelMatchers>>})` {
		t.Errorf("cluster-wide rule = %+v", cw)
	}
	if ns.Resources.ClusterWide || ns.Query != `sum by (name, namespace) (jobs_waiting{<<.LabelMatchers>>})` {
		t.Errorf("namespaced rule = %+v", ns)
	}
	// The native file says so, and loads only under the same policy.
	out, err := NativeYAML(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "clusterWide: true") {
		t.Errorf("native file lacks clusterWide:\n%s", out)
	}
	if _, err := config.ParsePolicy(out, "rules.yaml", policy); err != nil {
		t.Errorf("native file under the policy: %v", err)
	}
	_, err = config.Parse(out, "rules.yaml")
	if err == nil || !strings.Contains(err.Error(), "resources.clusterWide: cluster-wide external metrics") {
		t.Errorf("native file under the zero policy: %v, want refused at resources.clusterWide", err)
	}
}

// TestClusterWideSelectsOnNamespace: prometheus-adapter matches a cluster-wide
// request's selector before the query aggregates, so a selector on the
// namespace selects even where the query's by (...) leaves the namespace out.
// Foresight matches selectors on the labels the query keeps: a sum or a count
// is grouped by the namespace too (its values add up to the query's per name,
// as an HPA adds an external metric's items); any other aggregation is served
// as written, with a warning that names the rule and the label.
func TestClusterWideSelectsOnNamespace(t *testing.T) {
	for _, c := range []struct {
		query, want, warning string
	}{
		{`sum(<<.Series>>{<<.LabelMatchers>>}) by (name)`, `sum by (name, namespace) (depth{<<.LabelMatchers>>})`, ""},
		{`count by (name) (<<.Series>>{<<.LabelMatchers>>})`, `count by (name, namespace) (depth{<<.LabelMatchers>>})`, ""},
		{`sum without (namespace) (<<.Series>>{<<.LabelMatchers>>})`, `sum without () (depth{<<.LabelMatchers>>})`, ""},
		{`sum(<<.Series>>{<<.LabelMatchers>>}) by (name, namespace)`, `sum(depth{<<.LabelMatchers>>}) by (name, namespace)`, ""},
		{`max(<<.Series>>{<<.LabelMatchers>>}) by (name)`, `max(depth{<<.LabelMatchers>>}) by (name)`,
			"f.yaml:2: externalRules[0]: metric depth: a selector on the namespace label matches nothing, as the query's outermost max leaves the label out"},
		{`<<.Series>>{<<.LabelMatchers>>}`, `depth{<<.LabelMatchers>>}`, ""},
	} {
		doc := []byte("externalRules:\n- seriesQuery: '{__name__=\"depth\"}'\n  metricsQuery: '" + c.query + "'\n  resources: {namespaced: false}\n")
		f, warnings, err := Import(context.Background(), doc, "f.yaml", config.Policy{ClusterWideExternal: true}, staticLister{
			labels.FromStrings("__name__", "depth", "name", "q", "namespace", "a"),
		}, time.Now(), time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if len(f.Rules) != 1 || f.Rules[0].Query != c.want {
			t.Errorf("%s: rules %+v, want query %s", c.query, f.Rules, c.want)
		}
		switch {
		case c.warning == "" && len(warnings) > 0:
			t.Errorf("%s: warnings %v, want none", c.query, warnings)
		case c.warning != "" && (len(warnings) != 1 || !strings.HasPrefix(warnings[0], c.warning)):
			t.Errorf("%s: warnings %v, want %q", c.query, warnings, c.warning)
		}
	}
}

// TestClusterWideGroupsByEveryLabel: a metricsQuery grouping by <<.GroupBy>>
// keeps every label of the series (prometheus-adapter groups by nothing and
// matches the selector in PromQL; Foresight matches it in memory).
func TestClusterWideGroupsByEveryLabel(t *testing.T) {
	doc := []byte(`externalRules:
- seriesQuery: '{__name__="lag"}'
  metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
  resources: {namespaced: false}
`)
	f, _ := importDoc(t, doc, "f.yaml", config.Policy{ClusterWideExternal: true}, time.Minute,
		labels.FromStrings("__name__", "lag", "topic", "t", "namespace", "a"),
		labels.FromStrings("__name__", "lag", "topic", "u", "group", "g"),
	)
	if len(f.Rules) != 1 || f.Rules[0].Query != `max(lag{<<.LabelMatchers>>}) by (namespace,group,topic)` {
		t.Fatalf("rules = %+v", f.Rules)
	}
}

// TestDocumentSeparators: a trailing "---" (an empty last document) is read as
// prometheus-adapter reads it, one document; a second document with content is
// refused at its line.
func TestDocumentSeparators(t *testing.T) {
	const rule = "rules:\n- seriesQuery: '{__name__=~\"^http_.*\",namespace!=\"\",pod!=\"\"}'\n  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}\n  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)\n"
	data := []byte(rule + "---\n")
	if !Detect(data) {
		t.Error("a config with a trailing --- is not detected")
	}
	if c, err := Parse(data, "f.yaml"); err != nil || len(c.Rules) != 1 {
		t.Errorf("a config with a trailing ---: %v", err)
	}
	_, err := Parse([]byte(rule+"---\nrules: []\n"), "f.yaml")
	if want := "f.yaml:5: more than one YAML document"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("second document: %v, want %s", err, want)
	}
}

// TestDetectMisspelledKey: a prometheus-adapter config whose rules key is
// misspelled is still detected, so that the error is the prometheus-adapter
// one and not a Foresight rule file's missing apiVersion and kind.
func TestDetectMisspelledKey(t *testing.T) {
	data := []byte("Rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n")
	if !Detect(data) {
		t.Fatal("a config with Rules: is not detected")
	}
	_, err := Parse(data, "f.yaml")
	if want := "f.yaml:1: Rules: unknown field (known: externalRules, resourceRules, rules)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	for _, doc := range []string{"ExternalRules: []\n", "resourcerules: {}\n"} {
		if !Detect([]byte(doc)) {
			t.Errorf("%q is not detected", doc)
		}
	}
	if Detect([]byte("Rules:\n- name: x\n  query: y\n")) {
		t.Error("a sequence without seriesQuery or metricsQuery is detected")
	}
}

// TestExpandKeepsTheNamespaceInsideFunctions: prometheus-adapter evaluates a query for one
// namespace, so a by (...) without the namespace label inside round(), histogram_quantile()
// or arithmetic is still per namespace there. Foresight evaluates it for every namespace at
// once, so the label is added to each aggregation (and matching) whose series carry it;
// without it every result series would lack its namespace and nothing would be served.
func TestExpandKeepsTheNamespaceInsideFunctions(t *testing.T) {
	doc := []byte(`rules:
- seriesQuery: 'istio_requests_total{destination_service_name!="",destination_service_namespace!=""}'
  resources:
    overrides:
      destination_service_namespace: {resource: "namespace"}
      destination_service_name: {resource: "service"}
  name: {matches: "^(.*)_total", as: "${1}_per_second"}
  metricsQuery: 'round(sum(irate(<<.Series>>{reporter="destination",<<.LabelMatchers>>}[5m])) by (destination_service_name), 0.001)'
- seriesQuery: 'istio_request_duration_milliseconds_bucket{destination_service_name!="",destination_service_namespace!=""}'
  resources:
    overrides:
      destination_service_namespace: {resource: "namespace"}
      destination_service_name: {resource: "service"}
  name: {matches: "^(.*)_bucket", as: "${1}_p90"}
  metricsQuery: 'histogram_quantile(0.90, sum(irate(<<.Series>>{reporter="destination",<<.LabelMatchers>>}[5m])) by (le,destination_service_name))'
`)
	f, warnings := importDoc(t, doc, "istio.yaml", config.Policy{}, DefaultDiscoveryWindow,
		labels.FromStrings("__name__", "istio_requests_total", "destination_service_namespace", "shop", "destination_service_name", "web", "reporter", "destination"),
		labels.FromStrings("__name__", "istio_request_duration_milliseconds_bucket", "destination_service_namespace", "shop", "destination_service_name", "web", "reporter", "destination", "le", "100"),
	)
	want := map[string]string{
		"istio_requests_per_second":               `round(sum by (destination_service_name, destination_service_namespace) (irate(istio_requests_total{<<.LabelMatchers>>,reporter="destination"}[5m])), 0.001)`,
		"istio_request_duration_milliseconds_p90": `histogram_quantile(0.9, sum by (le, destination_service_name, destination_service_namespace) (irate(istio_request_duration_milliseconds_bucket{<<.LabelMatchers>>,reporter="destination"}[5m])))`,
	}
	served := 0
	for _, r := range f.Rules {
		if r.API != config.APIObject || r.Resources.Resource != "services" {
			continue
		}
		served++
		if r.Query != want[r.Name] {
			t.Errorf("%s: query\n %s\nwant\n %s", r.Name, r.Query, want[r.Name])
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
	}
	if served != 2 {
		t.Errorf("%d services rules, want 2: %+v (warnings %v)", served, f.Rules, warnings)
	}
}

// TestServedAsPrometheusAdapterReadsIt: what prometheus-adapter reads leniently is served
// the same way, with a warning naming the line: namespaced: false on a custom rule is
// ignored, an override's resource matches in any case, and a resource named in the
// singular is served under its plural, the name an HPA asks for.
func TestServedAsPrometheusAdapterReadsIt(t *testing.T) {
	doc := []byte(`rules:
- seriesQuery: 'http_requests_total{namespace!="",service!=""}'
  resources:
    namespaced: false
    overrides:
      namespace: {resource: "Namespace"}
      service: {resource: "Service"}
  name: {matches: "^(.*)_total", as: "${1}_per_second"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
- seriesQuery: 'cheddar_total{namespace!="",brand!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      brand: {group: cheese.io, resource: brand}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
`)
	f, warnings := importDoc(t, doc, "f.yaml", config.Policy{}, DefaultDiscoveryWindow,
		labels.FromStrings("__name__", "http_requests_total", "namespace", "shop", "service", "web"),
		labels.FromStrings("__name__", "cheddar_total", "namespace", "shop", "brand", "sharp"),
	)
	served := map[string]bool{}
	for _, r := range f.Rules {
		served[r.ServedKey()] = true
	}
	for _, want := range []string{"services/http_requests_per_second", "namespaces/http_requests_per_second", "brands.cheese.io/cheddar_total"} {
		if !served[want] {
			t.Errorf("%s not served; served %v", want, served)
		}
	}
	for _, want := range []string{
		"f.yaml:4: rules[0].resources.namespaced: namespaced: false applies only to externalRules: ignored",
		`f.yaml:11: rules[1].resources: overrides[brand].resource: "brand" is taken as "brands"`,
	} {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("no warning %q in %q", want, warnings)
		}
	}
}

// TestExternalRulesWhoseValuesDoNotAddUp warns about an external rule whose query gives
// values that do not add up over series (a ratio of sums, an avg): an HPA adds the items of
// several selected series, where prometheus-adapter evaluated the query over them together.
// A sum does add up, and gets no warning.
func TestExternalRulesWhoseValuesDoNotAddUp(t *testing.T) {
	doc := []byte(`externalRules:
- seriesQuery: '{__name__="latency_sum",job!=""}'
  name: {as: "latency_per_request"}
  metricsQuery: 'sum(rate(latency_sum{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>) / sum(rate(latency_count{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
- seriesQuery: '{__name__="queue_depth",queue!=""}'
  name: {as: "queue_depth_avg"}
  metricsQuery: 'avg(queue_depth{<<.LabelMatchers>>}) by (queue)'
- seriesQuery: '{__name__="queue_ready",queue!=""}'
  metricsQuery: '2 * sum(queue_ready{<<.LabelMatchers>>}) by (queue)'
`)
	f, warnings := importDoc(t, doc, "f.yaml", config.Policy{}, DefaultDiscoveryWindow,
		labels.FromStrings("__name__", "latency_sum", "namespace", "shop", "job", "app", "instance", "a"),
		labels.FromStrings("__name__", "queue_depth", "namespace", "shop", "queue", "orders"),
		labels.FromStrings("__name__", "queue_ready", "namespace", "shop", "queue", "orders"),
	)
	if len(f.Rules) != 3 {
		t.Fatalf("rules %+v", f.Rules)
	}
	for name, want := range map[string]bool{"latency_per_request": true, "queue_depth_avg": true, "queue_ready": false} {
		warned := slices.ContainsFunc(warnings, func(w string) bool {
			return strings.Contains(w, "metric "+name+": a request whose selector matches several series")
		})
		if warned != want {
			t.Errorf("%s: warned %v, want %v (warnings %q)", name, warned, want, warnings)
		}
	}
}

// TestHelmValuesAreNamed: the values file of prometheus-adapter's Helm chart is taken for a
// prometheus-adapter config (not for a Foresight rule file) and refused with what to give
// instead, at the line of its rules.
func TestHelmValuesAreNamed(t *testing.T) {
	doc := []byte("prometheus: {url: http://prometheus, port: 9090}\nrules:\n  default: true\n  custom:\n  - seriesQuery: 'x{namespace!=\"\"}'\n    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n")
	if !Detect(doc) {
		t.Error("Helm values not detected as prometheus-adapter's")
	}
	_, err := Parse(doc, "values.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "values.yaml:2: rules: this is the rules section of prometheus-adapter's Helm chart values") {
		t.Errorf("err = %v", err)
	}
}
