package serving

import (
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
)

// TestNativeLoaderResourceMetrics: a Foresight rule file's resourceMetrics
// reach the resource metrics on every load (nil once the section is gone),
// next to its rules, and the auto format sends such a file to the native loader.
func TestNativeLoaderResourceMetrics(t *testing.T) {
	var got []*resourcemetrics.Rules
	load, err := FormatLoader(FormatAuto, NativeLoader(config.Policy{}, func(path string, rr *resourcemetrics.Rules) error {
		if path != "rules.yaml" {
			t.Errorf("path %q", path)
		}
		got = append(got, rr)
		return nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	const rule = `
- name: http_requests_per_second
  query: sum by (namespace, service) (rate(http_requests_total{<<.LabelMatchers>>}[2m]))
`
	const resources = `resourceMetrics:
  cpu:
    containerQuery: sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{container!="",<<.LabelMatchers>>}[5m]))
    nodeQuery: sum by (node) (rate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[5m]))
  memory:
    containerQuery: sum by (namespace, pod, container) (container_memory_working_set_bytes{container!="",<<.LabelMatchers>>})
    nodeQuery: sum by (node) (node_memory_working_set_bytes{<<.LabelMatchers>>})
`
	head := "apiVersion: foresight.dev/v1alpha1\nkind: MetricRules\nrules:" + rule
	rules, err := load("rules.yaml", []byte(head+resources))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || len(got) != 1 || got[0] == nil {
		t.Fatalf("rules %d, resource rules %v", len(rules), got)
	}
	if q, _ := got[0].ContainerMemory.Render(); !strings.Contains(q, `container_memory_working_set_bytes{container!="",namespace!="",pod!=""}`) {
		t.Errorf("container memory query %q", q)
	}
	if _, err := load("rules.yaml", []byte(head)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1] != nil {
		t.Errorf("after the section is removed: %v, want nil", got)
	}
}
