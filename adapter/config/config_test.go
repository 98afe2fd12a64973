package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/internal/strictyaml"
)

const validFile = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: predicted_requests_per_second
  query: sum by (namespace, service) (rate(envoy_cluster_upstream_rq_total{<<.LabelMatchers>>}[1m]))
- name: predicted_queue_length
  api: object
  query: sum by (namespace, deployment) (redis_key_size{<<.LabelMatchers>>})
  resources:
    group: apps
    resource: deployments
    label: deployment
  forecast:
    horizon: 10m
    quantile: 0.95
    model: holt-winters
    history: 7d
    refitInterval: 1h
    step: 30s
    reactiveFloor: false
    staleAfter: 3m
    filterSpikes: true
`

func TestParseValid(t *testing.T) {
	f, err := Parse([]byte(validFile), "rules.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(f.Rules) != 2 {
		t.Fatalf("got %d rules, want 2", len(f.Rules))
	}
	r0 := f.Rules[0]
	if r0.API != APIExternal || r0.Resources.NamespaceLabel != "namespace" || r0.Line != 4 {
		t.Errorf("rule 0 defaults: api %q namespaceLabel %q line %d", r0.API, r0.Resources.NamespaceLabel, r0.Line)
	}
	want0 := forecast.Settings{Step: time.Minute, Horizon: 5 * time.Minute, Quantile: 0.9, Model: forecast.ModelAuto,
		History: 14 * 24 * time.Hour, RefitInterval: 6 * time.Hour}
	if got := r0.ForecastSettings(); got != want0 {
		t.Errorf("rule 0 settings = %+v, want %+v", got, want0)
	}
	if r0.Forecast.StaleAfter != 5*time.Minute {
		t.Errorf("rule 0 staleAfter = %v, want 5m", r0.Forecast.StaleAfter)
	}
	r1 := f.Rules[1]
	want1 := forecast.Settings{Step: 30 * time.Second, Horizon: 10 * time.Minute, Quantile: 0.95, Model: forecast.ModelHoltWinters,
		History: 7 * 24 * time.Hour, RefitInterval: time.Hour, NoReactiveFloor: true, FilterSpikes: forecast.SpikeFilterOn}
	if got := r1.ForecastSettings(); got != want1 {
		t.Errorf("rule 1 settings = %+v, want %+v", got, want1)
	}
	if gr := r1.Resources.GroupResource(); gr.Group != "apps" || gr.Resource != "deployments" || r1.Resources.Label != "deployment" {
		t.Errorf("rule 1 resources = %+v", r1.Resources)
	}
	if r1.Forecast.StaleAfter != 3*time.Minute {
		t.Errorf("rule 1 staleAfter = %v", r1.Forecast.StaleAfter)
	}
	if f.Rule("predicted_queue_length") != &f.Rules[1] || f.Rule("nope") != nil {
		t.Error("File.Rule lookup is wrong")
	}
}

func TestParsePodsDefaults(t *testing.T) {
	f, err := Parse([]byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: cpu
  api: pods
  query: sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{<<.LabelMatchers>>}[5m]))
`), "pods.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Rules[0].Resources; r.Resource != "pods" || r.Label != "pod" || r.Group != "" {
		t.Errorf("pods defaults = %+v", r)
	}
}

// replaceLine swaps the line that contains old for new in validFile.
func replaceLine(t *testing.T, old, new string) string {
	t.Helper()
	return replaceText(t, "validFile", validFile, old, new)
}

// replaceText swaps the first old for new in src (named name in failures).
func replaceText(t *testing.T, name, src, old, new string) string {
	t.Helper()
	if !strings.Contains(src, old) {
		t.Fatalf("%s lacks %q", name, old)
	}
	return strings.Replace(src, old, new, 1)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // every message must appear in the error
	}{
		{"empty", "", []string{"rules.yaml: file is empty"}},
		{"syntax", "apiVersion: [\n", []string{"rules.yaml:1: invalid YAML"}},
		// yaml.v3 names line 13, where the forecast mapping starts.
		{"syntax at its line", replaceLine(t, "    staleAfter: 3m", "   staleAfter: 3m"),
			[]string{"rules.yaml:21: invalid YAML: did not find expected key"}},
		{"two documents", validFile + "---\nkind: x\n", []string{"rules.yaml:23: more than one YAML document"}},
		{"not a mapping", "- a\n", []string{"rules.yaml:1: must be a mapping, got a list"}},
		{"unknown top-level key", validFile + "source:\n  url: x\n", []string{"rules.yaml:23: source: unknown field"}},
		{"unknown rule key", replaceLine(t, "  api: object", "  api: object\n  labels: {}"),
			[]string{"rules.yaml:8: rules[1].labels: unknown field"}},
		{"unknown forecast key", replaceLine(t, "    horizon: 10m", "    horizon: 10m\n    horizn: 10m"),
			[]string{"rules.yaml:15: rules[1].forecast.horizn: unknown field"}},
		{"duplicate key", replaceLine(t, "    step: 30s", "    step: 30s\n    step: 1m"),
			[]string{"rules.yaml:20: rules[1].forecast.step: duplicate field"}},
		{"wrong apiVersion", strings.Replace(validFile, "foresight.dev/v1alpha1", "foresight.dev/v2", 1),
			[]string{`rules.yaml:1: apiVersion: must be "foresight.dev/v1alpha1", got "foresight.dev/v2"`}},
		{"missing kind", strings.Replace(validFile, "kind: MetricRules\n", "", 1),
			[]string{`rules.yaml:1: kind: required, must be "MetricRules"`}},
		{"no rules", "apiVersion: foresight.dev/v1alpha1\nkind: MetricRules\nrules: []\n",
			[]string{"rules.yaml:3: rules: at least one rule (or resourceMetrics) is required"}},
		{"rules not a list", "apiVersion: foresight.dev/v1alpha1\nkind: MetricRules\nrules: {a: b}\n",
			[]string{"rules.yaml:3: rules: must be a list, got a mapping"}},
		{"quantile out of range", replaceLine(t, "quantile: 0.95", "quantile: 1.5"),
			[]string{"rules.yaml:15: rules[1].forecast.quantile: must be in (0,1), got 1.5"}},
		{"quantile zero", replaceLine(t, "quantile: 0.95", "quantile: 0"),
			[]string{"rules.yaml:15: rules[1].forecast.quantile: must be in (0,1), got 0"}},
		{"quantile not a number", replaceLine(t, "quantile: 0.95", "quantile: high"),
			[]string{`rules.yaml:15: rules[1].forecast.quantile: must be a number, got "high"`}},
		{"bad duration", replaceLine(t, "horizon: 10m", "horizon: 10 minutes"),
			[]string{`rules.yaml:14: rules[1].forecast.horizon: must be a duration like "5m" or "14d", got "10 minutes"`}},
		{"number as duration", replaceLine(t, "horizon: 10m", "horizon: 600"),
			[]string{`rules.yaml:14: rules[1].forecast.horizon: must be a duration like "5m" or "14d", got "600"`}},
		{"zero duration", replaceLine(t, "history: 7d", "history: 0s"),
			[]string{`rules.yaml:17: rules[1].forecast.history: must be positive, got "0s"`}},
		{"horizon not a multiple of step", replaceLine(t, "horizon: 10m", "horizon: 45s"),
			[]string{"rules.yaml:14: rules[1].forecast.horizon: must be a multiple of step 30s, got 45s"}},
		{"history too short", replaceLine(t, "history: 7d", "history: 15m"),
			[]string{"rules.yaml:17: rules[1].forecast.history: must cover at least twice the horizon"}},
		{"history shorter than the warm-up", replaceLine(t, "history: 7d", "history: 2h"),
			[]string{"rules.yaml:13: rules[1].forecast: history 2h0m0s: must cover the warm-up (6h0m0s) and four horizons"}},
		{"history too many points", replaceLine(t, "step: 30s", "step: 1s"),
			[]string{"rules.yaml:17: rules[1].forecast.history: holds 604800 steps of 1s, at most 100000"}},
		{"staleAfter below step", replaceLine(t, "staleAfter: 3m", "staleAfter: 10s"),
			[]string{"rules.yaml:21: rules[1].forecast.staleAfter: must be at least step 30s, got 10s"}},
		{"refit below step", replaceLine(t, "refitInterval: 1h", "refitInterval: 10s"),
			[]string{"rules.yaml:18: rules[1].forecast.refitInterval: must be at least step 30s, got 10s"}},
		{"unknown model", replaceLine(t, "model: holt-winters", "model: kalman"),
			[]string{`rules.yaml:16: rules[1].forecast.model: must be one of auto, reactive, seasonal-naive, holt-winters, arima, linear, fourier, profile, prophet, got "kalman"`}},
		{"reactiveFloor not bool", replaceLine(t, "reactiveFloor: false", "reactiveFloor: nope"),
			[]string{`rules.yaml:20: rules[1].forecast.reactiveFloor: must be true or false, got "nope"`}},
		{"filterSpikes unknown", replaceLine(t, "filterSpikes: true", "filterSpikes: median"),
			[]string{`rules.yaml:22: rules[1].forecast.filterSpikes: must be true, false or "auto", got "median"`}},
		{"filterSpikes a list", replaceLine(t, "filterSpikes: true", "filterSpikes: [auto]"),
			[]string{`rules.yaml:22: rules[1].forecast.filterSpikes: must be true, false or "auto", got a list`}},
		{"unknown api", replaceLine(t, "api: object", "api: custom"),
			[]string{`rules.yaml:7: rules[1].api: must be one of external, object, pods, got "custom"`}},
		{"missing name", replaceLine(t, "- name: predicted_queue_length", "- name: \"\""),
			[]string{"rules.yaml:6: rules[1].name: required"}},
		{"invalid metric name", replaceLine(t, "name: predicted_queue_length", "name: queue/length"),
			[]string{`rules.yaml:6: rules[1].name: must match`}},
		{"name not a string", replaceLine(t, "name: predicted_queue_length", "name: 42"),
			[]string{`rules.yaml:6: rules[1].name: must be a string, got integer "42" (quote it)`}},
		{"duplicate name", validFile + "- name: predicted_queue_length\n  api: object\n  query: sum by (namespace, deployment) (x{<<.LabelMatchers>>})\n  resources: {group: apps, resource: deployments, label: deployment}\n",
			[]string{`rules.yaml:23: rules[2].name: duplicate metric name "predicted_queue_length" (also rules[1])`}},
		{"duplicate name on the pods and external APIs", validFile + "- name: predicted_requests_per_second\n  api: pods\n  query: sum by (namespace, pod) (x{<<.LabelMatchers>>})\n",
			[]string{`rules.yaml:23: rules[2].name: duplicate metric name "predicted_requests_per_second" (also rules[0])`}},
		{"missing query", replaceLine(t, "  query: sum by (namespace, deployment) (redis_key_size{<<.LabelMatchers>>})", ""),
			[]string{"rules.yaml:6: rules[1].query: required"}},
		{"query without placeholder", replaceLine(t, "redis_key_size{<<.LabelMatchers>>}", "redis_key_size"),
			[]string{"rules.yaml:8: rules[1].query: query template: vector selector redis_key_size lacks <<.LabelMatchers>>"}},
		{"query invalid PromQL", replaceLine(t, "redis_key_size{<<.LabelMatchers>>})", "redis_key_size{<<.LabelMatchers>>}"),
			[]string{"rules.yaml:8: rules[1].query: query template renders to invalid PromQL"}},
		{"query unknown template field", replaceLine(t, "redis_key_size{<<.LabelMatchers>>}", "redis_key_size{<<.Series>>}"),
			[]string{"rules.yaml:8: rules[1].query: query template:", "can't evaluate field Series"}},
		{"query drops namespace", replaceLine(t, "sum by (namespace, deployment)", "sum by (deployment)"),
			[]string{`rules.yaml:8: rules[1].query: its result drops the namespace label "namespace"`}},
		{"query drops object label", replaceLine(t, "sum by (namespace, deployment)", "sum by (namespace)"),
			[]string{`rules.yaml:8: rules[1].query: its result drops the object label "deployment"`}},
		{"query returns a range vector", replaceLine(t, "sum by (namespace, deployment) (redis_key_size{<<.LabelMatchers>>})", "redis_key_size{<<.LabelMatchers>>}[5m]"),
			[]string{"rules.yaml:8: rules[1].query: must return an instant vector, returns a matrix"}},
		{"object without resource", replaceLine(t, "    resource: deployments\n", ""),
			[]string{"rules.yaml:9: rules[1].resources.resource: required for object rules"}},
		{"object without label", replaceLine(t, "    label: deployment\n", ""),
			[]string{"rules.yaml:9: rules[1].resources.label: required for object rules"}},
		{"bad namespace label", replaceLine(t, "    group: apps", "    group: apps\n    namespaceLabel: kubernetes.io/ns"),
			[]string{`rules.yaml:11: rules[1].resources.namespaceLabel: invalid label name "kubernetes.io/ns"`}},
		{"bad group", replaceLine(t, "group: apps", "group: Apps_"),
			[]string{"rules.yaml:10: rules[1].resources.group: must be an API group like apps"}},
		{"resources on external", strings.Replace(validFile, "  query: sum by (namespace, service)", "  resources: {resource: services}\n  query: sum by (namespace, service)", 1),
			[]string{"rules.yaml:5: rules[0].resources: group, resource and label apply only to object and pods rules"}},
		{"empty cost section", replaceLine(t, "  api: object", "  api: object\n  cost: {}"),
			[]string{"rules.yaml:8: rules[1].cost.capacity: required", "rules.yaml:8: rules[1].cost.pods: required"}},
		{"several errors at once", replaceLine(t, "quantile: 0.95\n    model: holt-winters", "quantile: 2\n    model: magic"),
			[]string{"rules.yaml:15: rules[1].forecast.quantile: must be in (0,1), got 2", `rules.yaml:16: rules[1].forecast.model: must be one of`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { _ = parseFails(t, tc.in, tc.want) })
	}
}

// parseFails parses in as rules.yaml, checks that it fails with every
// message of want, as *strictyaml.Errors naming the file, and returns the error.
func parseFails(t *testing.T, in string, want []string) error {
	t.Helper()
	f, err := Parse([]byte(in), "rules.yaml")
	if err == nil {
		t.Fatalf("Parse succeeded with %d rules, want error", len(f.Rules))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error\n%v\nlacks\n%s", err, w)
		}
	}
	// Every joined error is a *strictyaml.Error naming the file.
	var fe *strictyaml.Error
	if !errors.As(err, &fe) || fe.File != "rules.yaml" {
		t.Errorf("error %v is not a *strictyaml.Error for rules.yaml", err)
	}
	return err
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(p, []byte(validFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v, want error naming the file", err)
	}
}

func TestRuleValidateInCode(t *testing.T) {
	r := Rule{Name: "x", Query: `foo{<<.LabelMatchers>>}`}
	r.SetDefaults()
	if err := r.Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	r.Forecast.Quantile = 0
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "forecast.quantile: must be in (0,1), got 0") {
		t.Errorf("Validate = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validFile))
	f.Add([]byte("apiVersion: foresight.dev/v1alpha1\nkind: MetricRules\nrules:\n- name: a\n  query: x{<<.LabelMatchers>>}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("rules:\n- &r {name: a}\n- *r\n"))
	f.Add([]byte("{"))
	f.Add([]byte(costFile))
	f.Add([]byte(scheduleFile))
	f.Add([]byte(sloFile))
	f.Add([]byte("apiVersion: foresight.dev/v1alpha1\nkind: MetricRules\nrules:\n- name: a\n  query: x{<<.LabelMatchers>>}\n  resources: {clusterWide: true}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// A file that parses is valid and stays valid when validated again.
		if err := file.Validate(); err != nil {
			t.Fatalf("parsed file fails Validate: %v", err)
		}
		for _, r := range file.Rules {
			if r.Forecast.Quantile <= 0 || r.Forecast.Quantile >= 1 || r.Forecast.Step <= 0 {
				t.Fatalf("invalid settings accepted: %+v", r.Forecast)
			}
			if r.Resources.ClusterWide {
				t.Fatalf("cluster-wide rule %s accepted under the zero policy", r.Name)
			}
		}
		// The operator's policy only ever lets more files through, and only
		// external rules become cluster-wide.
		allowed, err := ParsePolicy(data, "fuzz.yaml", Policy{ClusterWideExternal: true})
		if err != nil {
			t.Fatalf("parses under the zero policy, refused when cluster-wide rules are allowed: %v", err)
		}
		for _, r := range allowed.Rules {
			if r.Resources.ClusterWide && r.API != APIExternal {
				t.Fatalf("cluster-wide %s rule %s accepted", r.API, r.Name)
			}
		}
	})
}

func TestOneErrorPerProblem(t *testing.T) {
	_, err := Parse([]byte("apiVersion: foresight.dev/v1alpha1\nkind: MetricRules\nrules:\n- name: a\n  query: x{<<.LabelMatchers>>}\n  forecast: {quantile: high}\n"), "r.yaml")
	if err == nil {
		t.Fatal("accepted quantile: high")
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != 1 {
		t.Errorf("%d errors for one problem:\n%v", got, err)
	}
}

func TestDecodeAndValidationErrorsTogether(t *testing.T) {
	in := replaceLine(t, "name: predicted_queue_length", "name: 42")
	in = strings.Replace(in, "quantile: 0.95", "quantile: 1.5", 1)
	in = strings.Replace(in, "    step: 30s", "    step: 30s\n    stepp: 1m", 1)
	_, err := Parse([]byte(in), "rules.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`rules.yaml:6: rules[1].name: must be a string, got integer "42" (quote it)`,
		"rules.yaml:15: rules[1].forecast.quantile: must be in (0,1), got 1.5",
		"rules.yaml:20: rules[1].forecast.stepp: unknown field (known: filterSpikes, history, horizon, model, quantile, reactiveFloor, refitInterval, staleAfter, step)",
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant (sorted by line, name not also reported as required):\n%s", got, strings.Join(want, "\n"))
	}
}

// TestClusterWidePolicy: resources.clusterWide is refused, with file, line
// and field, unless the adapter's policy allows it, and never allowed on a
// custom-metrics rule.
func TestClusterWidePolicy(t *testing.T) {
	doc := `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: broker_queue_depth
  api: external
  query: sum by (queue) (broker_queue_depth{<<.LabelMatchers>>})
  resources:
    clusterWide: true
- name: pod_load
  api: pods
  query: sum by (namespace, pod) (load{<<.LabelMatchers>>})
  resources: {clusterWide: true}
`
	_, err := Parse([]byte(doc), "r.yaml")
	want := []string{
		"r.yaml:8: rules[0].resources.clusterWide: cluster-wide external metrics serve the series of every namespace to every namespace; refused unless the adapter runs with --allow-cluster-wide-external-metrics",
		"r.yaml:12: rules[1].resources.clusterWide: applies only to external rules",
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("zero policy: %v, want %q", err, w)
		}
	}
	_, err = ParsePolicy([]byte(doc), "r.yaml", Policy{ClusterWideExternal: true})
	if err == nil || strings.Contains(err.Error(), "rules[0]") || !strings.Contains(err.Error(), want[1]) {
		t.Errorf("allowed: %v, want only %q", err, want[1])
	}
	f, err := ParsePolicy([]byte(strings.SplitN(doc, "- name: pod_load", 2)[0]), "r.yaml", Policy{ClusterWideExternal: true})
	if err != nil {
		t.Fatal(err)
	}
	// The namespace label may be dropped by a cluster-wide rule's query.
	if r := f.Rules[0]; !r.Resources.ClusterWide || r.API != APIExternal {
		t.Errorf("rule = %+v", r)
	}
}

// TestNamespacesRules: a metric name is served by one rule and by one
// namespaces rule besides, whose object label is its namespace label (by default).
func TestNamespacesRules(t *testing.T) {
	head := "apiVersion: foresight.dev/v1alpha1\nkind: MetricRules\nrules:\n"
	pods := "- name: rps\n  api: pods\n  query: sum by (namespace, pod) (rate(r{<<.LabelMatchers>>}[1m]))\n"
	ns := "- name: rps\n  api: object\n  query: sum by (namespace) (rate(r{<<.LabelMatchers>>}[1m]))\n  resources: {resource: namespaces, label: namespace}\n"
	if _, err := Parse([]byte(head+pods+ns), "r.yaml"); err != nil {
		t.Errorf("pods and namespaces rules of one name: %v", err)
	}
	_, err := Parse([]byte(head+pods+ns+ns), "r.yaml")
	if err == nil || !strings.Contains(err.Error(), `r.yaml:11: rules[2].name: duplicate metric name "rps" (also rules[1])`) {
		t.Errorf("two namespaces rules of one name: %v", err)
	}
	bad := strings.Replace(ns, "label: namespace", "label: pod", 1)
	_, err = Parse([]byte(head+bad), "r.yaml")
	if err == nil || !strings.Contains(err.Error(), `rules[0].resources.label: a namespaces rule's object label is its namespace label "namespace", got "pod"`) {
		t.Errorf("namespaces rule labelled by pod: %v", err)
	}
	// The label defaults to the namespace label.
	f, err := Parse([]byte(head+strings.Replace(ns, ", label: namespace", "", 1)), "r.yaml")
	if err != nil || f.Rules[0].Resources.Label != "namespace" {
		t.Errorf("namespaces rule without a label: %v", err)
	}
}

// TestQueueRuleForecastsArrivalsUnfiltered: a queue rule's arrival forecast
// reads the samples themselves unless the file turns the spike filter on.
func TestQueueRuleForecastsArrivalsUnfiltered(t *testing.T) {
	for filter, want := range map[forecast.SpikeFilter]forecast.SpikeFilter{
		"":                       forecast.SpikeFilterOff,
		forecast.SpikeFilterAuto: forecast.SpikeFilterOff,
		forecast.SpikeFilterOn:   forecast.SpikeFilterOn,
		forecast.SpikeFilterOff:  forecast.SpikeFilterOff,
	} {
		r := Rule{Forecast: Forecast{Step: time.Minute, FilterSpikes: filter}, Queue: &Queue{}}
		if got := r.ForecastSettings().FilterSpikes; got != want {
			t.Errorf("queue rule with filterSpikes %q: forecast reads %q, want %q", filter, got, want)
		}
		r.Queue = nil
		if got := r.ForecastSettings().FilterSpikes; got != filter {
			t.Errorf("plain rule with filterSpikes %q: forecast reads %q", filter, got)
		}
	}
}
