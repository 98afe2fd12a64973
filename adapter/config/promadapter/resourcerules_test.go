package promadapter

import (
	"testing"
	"time"

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

// TestResourceLabelTemplate: a resources.template names the labels as prometheus-adapter renders them.
func TestResourceLabelTemplate(t *testing.T) {
	for singular, want := range map[string]string{"pod": "kube_pod", "node": "kube_node", "namespace": "kube_namespace"} {
		got, err := resourceLabel(Resources{Template: "kube_<<.Group>><<.Resource>>"}, singular)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", singular, got, err, want)
		}
	}
}
