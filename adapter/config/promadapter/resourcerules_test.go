package promadapter

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/source"
)

// TestResourceMetricsRules converts prometheus-adapter's shipped resourceRules
// into one query per resource and kind that reads every object at once.
func TestResourceMetricsRules(t *testing.T) {
	cfg, err := Parse(readTestdata(t, "manifests-config.yaml"), "manifests-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rr := cfg.ResourceMetricsRules()
	if rr == nil {
		t.Fatal("no resource metrics rules")
	}
	if rr.Window != 5*time.Minute {
		t.Errorf("window = %s, want 5m", rr.Window)
	}
	c := rr.ContainerCPU
	if c.NamespaceLabel != "namespace" || c.PodLabel != "pod" || c.ContainerLabel != "container" || rr.NodeMemory.NodeLabel != "node" {
		t.Errorf("labels = %+v, node %q", c, rr.NodeMemory.NodeLabel)
	}
	for _, x := range []struct {
		name string
		got  func() (string, error)
		want string
	}{
		{"container cpu", c.Render, `sum by (namespace, pod, container) (irate(container_cpu_usage_seconds_total{container!="",namespace!="",pod!="",pod!=""}[4m]))`},
		{"node memory", rr.NodeMemory.Render, `sum by (node) (node_memory_working_set_bytes{node!=""})`},
	} {
		got, err := x.got()
		if err != nil {
			t.Fatalf("%s: %v", x.name, err)
		}
		g, err := source.ParseQuery(got)
		if err != nil {
			t.Fatal(err)
		}
		if g.String() != x.want {
			t.Errorf("%s query\n got %s\nwant %s", x.name, g, x.want)
		}
	}
	if r, _ := Parse(readTestdata(t, "helm-default.yaml"), "helm-default.yaml"); r == nil || r.ResourceMetricsRules() != nil {
		t.Error("a file without resourceRules has resource metrics rules")
	}
}

// TestKubePrometheusResourceRules: kube-prometheus' resourceRules, whose node
// CPU query joins node_cpu_seconds_total{mode="idle"} (no <<.LabelMatchers>>)
// with kube_pod_info, are served: the selector without the placeholder is
// left as written, the others get the fixed matchers. The same holds after
// migrate's conversion into a resourceMetrics section.
func TestKubePrometheusResourceRules(t *testing.T) {
	cfg, err := Parse(readTestdata(t, "kube-prometheus.yaml"), "kube-prometheus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	imported := cfg.ResourceMetricsRules()
	if imported == nil {
		t.Fatal("no resource metrics rules")
	}
	section := config.FromResourceMetricsRules(imported)
	migrated, err := section.Rules()
	if err != nil {
		t.Fatalf("migrated resourceMetrics: %v", err)
	}
	want := map[string]string{
		"container cpu":    `sum by (namespace, pod, container) (irate(container_cpu_usage_seconds_total{container!="",namespace!="",pod!="",pod!=""}[2m]))`,
		"node cpu":         `sum by (node) (1 - irate(node_cpu_seconds_total{mode="idle"}[1m]) * on (namespace, pod) group_left (node) (node_namespace_pod:kube_pod_info:{node!=""})) or sum by (node) (1 - irate(windows_cpu_time_total{job="windows-exporter",mode="idle",node!=""}[4m]))`,
		"container memory": `sum by (namespace, pod, container) (container_memory_working_set_bytes{container!="",namespace!="",pod!="",pod!=""})`,
		"node memory":      `sum by (instance) (node_memory_MemTotal_bytes{instance!="",job="node-exporter"} - node_memory_MemAvailable_bytes{instance!="",job="node-exporter"}) or sum by (instance) (windows_cs_physical_memory_bytes{instance!="",job="windows-exporter"} - windows_memory_available_bytes{instance!="",job="windows-exporter"})`,
	}
	for from, rr := range map[string]*resourcemetrics.Rules{"imported": imported, "migrated": migrated} {
		for name, q := range map[string]resourcemetrics.Query{
			"container cpu": rr.ContainerCPU, "node cpu": rr.NodeCPU, "container memory": rr.ContainerMemory, "node memory": rr.NodeMemory,
		} {
			got, err := q.Render()
			if err != nil {
				t.Fatalf("%s %s: %v", from, name, err)
			}
			g, err := source.ParseQuery(got)
			if err != nil {
				t.Fatalf("%s %s: %v", from, name, err)
			}
			if g.String() != want[name] {
				t.Errorf("%s %s query\n got %s\nwant %s", from, name, g, want[name])
			}
		}
	}
}

// TestResourceRuleScope: a resourceRules query needs <<.LabelMatchers>> in
// one selector at least, while rules and externalRules need it in every one.
func TestResourceRuleScope(t *testing.T) {
	const rest = "    nodeQuery: 'sum(n{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n    containerLabel: container\n    resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}, node: {resource: node}}}\n"
	resourceRules := func(containerQuery string) string {
		return "resourceRules:\n  cpu:\n    containerQuery: '" + containerQuery + "'\n" + rest + "  memory:\n    containerQuery: 'sum(m{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n" + rest
	}
	if _, err := Parse([]byte(resourceRules(`sum(c{mode="idle"} * on(pod) k{<<.LabelMatchers>>}) by (<<.GroupBy>>)`)), "f.yaml"); err != nil {
		t.Errorf("a selector without <<.LabelMatchers>> next to one with it: %v", err)
	}
	for _, x := range []struct{ name, doc, want string }{
		{"resource rule, no selector scoped", resourceRules(`sum(c{mode="idle"} * on(pod) k) by (<<.GroupBy>>)`),
			"f.yaml:3: resourceRules.cpu.containerQuery: query template: no vector selector carries <<.LabelMatchers>> inside its braces"},
		{"rule", "rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>} * on(pod) k{mode=\"idle\"}) by (<<.GroupBy>>)'\n",
			"f.yaml:3: rules[0].metricsQuery: query template: vector selector k lacks <<.LabelMatchers>> inside its braces"},
		{"external rule", "externalRules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>} * on(pod) k{mode=\"idle\"}) by (<<.GroupBy>>)'\n",
			"f.yaml:3: externalRules[0].metricsQuery: query template: vector selector k lacks <<.LabelMatchers>> inside its braces"},
	} {
		_, err := Parse([]byte(x.doc), "f.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), x.want) {
			t.Errorf("%s: got %v, want %s", x.name, err, x.want)
		}
	}
}

// TestResourceLabelTemplate: a resources.template names the labels as prometheus-adapter renders them.
func TestResourceLabelTemplate(t *testing.T) {
	for singular, want := range map[string]string{"pod": "kube_pod", "node": "kube_node", "namespace": "kube_namespace"} {
		got, err := resourceLabel(Resources{Template: "kube_<<.Group>><<.Resource>>"}, singular)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", singular, got, err, want)
		}
	}
}

// TestOverridesBeforeTheTemplate: where an override and the template both map a label of the
// series to one resource (a DCGM exporter's exported_pod, the workload, beside its own pod),
// the override's label is the resource's, as prometheus-adapter reads it; for namespaces too.
func TestOverridesBeforeTheTemplate(t *testing.T) {
	doc := []byte(`rules:
- seriesQuery: '{source_workload_namespace!=""}'
  resources:
    template: "<<.Resource>>"
    overrides:
      source_workload_namespace: {resource: namespace}
      exported_pod: {resource: pod}
  metricsQuery: 'avg(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
`)
	f, warnings := importDoc(t, doc, "f.yaml", config.Policy{}, time.Minute,
		labels.FromStrings("__name__", "gpu_util", "source_workload_namespace", "ml", "exported_pod", "train-0", "namespace", "monitoring", "pod", "dcgm-exporter-x"))
	var pods *config.Rule
	for i := range f.Rules {
		if f.Rules[i].Resources.Resource == "pods" {
			pods = &f.Rules[i]
		}
	}
	if pods == nil || pods.Resources.Label != "exported_pod" || pods.Resources.NamespaceLabel != "source_workload_namespace" || !strings.Contains(pods.Query, "by (source_workload_namespace,exported_pod)") {
		t.Fatalf("pods rule = %+v (warnings %v), want it read by exported_pod in source_workload_namespace", pods, warnings)
	}
}
