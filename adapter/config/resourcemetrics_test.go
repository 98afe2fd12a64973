package config

import (
	"strings"
	"testing"
	"time"
)

const resourceMetricsFile = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
resourceMetrics:
  cpu:
    containerQuery: sum by (namespace, pod, container) (irate(container_cpu_usage_seconds_total{container!="",<<.LabelMatchers>>}[4m]))
    nodeQuery: sum by (instance) (irate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[4m]))
    nodeLabel: instance
  memory:
    containerQuery: sum by (namespace, pod, container) (container_memory_working_set_bytes{container!="",<<.LabelMatchers>>})
    nodeQuery: node_memory_working_set_bytes{<<.LabelMatchers>>}
`

// TestResourceMetricsSection: a rule file may hold only resourceMetrics; the
// defaults fill the window and labels, and each query renders for every
// object at once, restricted to the series naming one.
func TestResourceMetricsSection(t *testing.T) {
	f, err := Parse([]byte(resourceMetricsFile), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rr, err := f.ResourceMetrics.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if rr.Window != 5*time.Minute {
		t.Errorf("window %s, want the default 5m", rr.Window)
	}
	for _, c := range []struct {
		name  string
		query func() (string, error)
		want  string
	}{
		{"container cpu", rr.ContainerCPU.Render, `sum by (namespace, pod, container) (irate(container_cpu_usage_seconds_total{container!="",namespace!="",pod!=""}[4m]))`},
		{"node cpu", rr.NodeCPU.Render, `sum by (instance) (irate(node_cpu_usage_seconds_total{instance!=""}[4m]))`},
		{"node memory", rr.NodeMemory.Render, `node_memory_working_set_bytes{node!=""}`},
	} {
		got, err := c.query()
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if q := rr.ContainerMemory; q.NamespaceLabel != "namespace" || q.PodLabel != "pod" || q.ContainerLabel != "container" {
		t.Errorf("container memory labels %+v, want the defaults", q)
	}
}

// TestResourceMetricsUnscopedSelector: a resource query may join a selector
// without <<.LabelMatchers>> (kube-prometheus' node CPU) with one that carries
// it; the first is rendered as written.
func TestResourceMetricsUnscopedSelector(t *testing.T) {
	const nodeQuery = `sum by (node) (1 - irate(node_cpu_seconds_total{mode="idle"}[1m]) * on (namespace, pod) group_left (node) kube_pod_info{<<.LabelMatchers>>})`
	text := strings.Replace(resourceMetricsFile, "sum by (instance) (irate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[4m]))\n    nodeLabel: instance", nodeQuery, 1)
	f, err := Parse([]byte(text), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rr, err := f.ResourceMetrics.Rules()
	if err != nil {
		t.Fatal(err)
	}
	want := `sum by (node) (1 - irate(node_cpu_seconds_total{mode="idle"}[1m]) * on (namespace, pod) group_left (node) kube_pod_info{node!=""})`
	if got, err := rr.NodeCPU.Render(); err != nil || got != want {
		t.Errorf("node cpu: %q, %v; want %q", got, err, want)
	}
}

// TestResourceMetricsErrors: each problem of the section is reported with
// file, line and field.
func TestResourceMetricsErrors(t *testing.T) {
	for _, c := range []struct {
		name, edit, want string
	}{
		{"dropped label", "sum by (namespace, pod, container) (container_memory", `rules.yaml:9: resourceMetrics.memory.containerQuery: its result drops label "container"`},
		{"no matchers", "<<.LabelMatchers>>}[4m]))\n    nodeLabel", `rules.yaml:6: resourceMetrics.cpu.nodeQuery: query template: no vector selector carries <<.LabelMatchers>> inside its braces`},
		{"bad label", "nodeLabel: instance", `rules.yaml:7: resourceMetrics.cpu.nodeLabel:`},
		{"unknown key", "nodeQuery: node_memory", `rules.yaml:10: resourceMetrics.memory.nodequery:`},
		{"bad window", "resourceMetrics:\n", `rules.yaml:4: resourceMetrics.window: must be positive`},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := resourceMetricsFile
			switch c.name {
			case "dropped label":
				text = strings.Replace(text, c.edit, "sum by (namespace, pod) (container_memory", 1)
			case "no matchers":
				text = strings.Replace(text, "irate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[4m]))\n    nodeLabel", "irate(node_cpu_usage_seconds_total[4m]))\n    nodeLabel", 1)
			case "bad label":
				text = strings.Replace(text, c.edit, "nodeLabel: 1node", 1)
			case "unknown key":
				text = strings.Replace(text, c.edit, "nodequery: node_memory", 1)
			case "bad window":
				text = strings.Replace(text, c.edit, "resourceMetrics:\n  window: 0s\n", 1)
			}
			_, err := Parse([]byte(text), "rules.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant one containing %q", err, c.want)
			}
		})
	}
}
