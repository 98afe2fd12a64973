package charts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/config/promadapter"
	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// configData returns data[key] of the ConfigMap name, or fails.
func configData(t *testing.T, objs []*unstructured.Unstructured, name, key string) string {
	t.Helper()
	cm := find(objs, "ConfigMap", name)
	if cm == nil {
		t.Fatalf("no ConfigMap %s", name)
	}
	v, ok, _ := unstructured.NestedString(cm.Object, "data", key)
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", name, key)
	}
	return v
}

// TestConfigFilesLoad checks that the files the charts mount are accepted by the parsers
// the programs load them with: the adapter's rule file, the control plane's policy and
// its experiments (validated against the policy), for every render case.
func TestConfigFilesLoad(t *testing.T) {
	for _, c := range renderCases() {
		t.Run(c.chart+"/"+c.name, func(t *testing.T) {
			objs := render(t, c.chart, c.values(t))
			switch c.chart {
			case adapterChart:
				f, err := config.Parse([]byte(configData(t, objs, "foresight-adapter-rules", "rules.yaml")), "rules.yaml")
				if err != nil {
					t.Fatalf("the chart's rule file: %v", err)
				}
				if len(f.Rules) == 0 {
					t.Error("the chart's rule file has no rules")
				}
				cm := find(objs, "ConfigMap", "foresight-adapter-rules")
				if pa, ok, _ := unstructured.NestedString(cm.Object, "data", "prometheus-adapter.yaml"); ok {
					if _, err := promadapter.Parse([]byte(pa), "prometheus-adapter.yaml"); err != nil {
						t.Fatalf("the chart's prometheus-adapter config: %v", err)
					}
					if !strings.Contains(configArgs(t, objs), "--config=/etc/foresight/prometheus-adapter.yaml") {
						t.Error("the chart mounts a prometheus-adapter config the adapter is not given")
					}
				}
			case xdsChart:
				p, err := policy.Parse([]byte(configData(t, objs, "foresight-xds-policy", "policy.yaml")), "policy.yaml")
				if err != nil {
					t.Fatalf("the chart's policy: %v", err)
				}
				exps, err := experiment.Parse([]byte(configData(t, objs, "foresight-xds-policy", "experiments.yaml")), "experiments.yaml")
				if err != nil {
					t.Fatalf("the chart's experiments: %v", err)
				}
				if err := experiment.ValidateAgainst(exps, p); err != nil {
					t.Fatalf("the chart's experiments against its policy: %v", err)
				}
			}
		})
	}
}

// configArgs returns the adapter container's arguments, one a line.
func configArgs(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	args, _, _ := unstructured.NestedStringSlice(adapterContainer(t, objs), "args")
	return strings.Join(args, "\n")
}

// adapterContainer returns the adapter container of the Deployment foresight-adapter.
func adapterContainer(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	return chartContainer(t, objs, adapterChart)
}

// chartContainer returns the program's container of a chart's Deployment (named as the
// chart, as the default release renders it): adapter or xds.
func chartContainer(t *testing.T, objs []*unstructured.Unstructured, chart string) map[string]any {
	t.Helper()
	name := map[string]string{adapterChart: "adapter", xdsChart: "xds"}[chart]
	d := find(objs, "Deployment", chart)
	if d == nil {
		t.Fatalf("no Deployment %s", chart)
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		if c, _ := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("the Deployment %s has no %s container", chart, name)
	return nil
}

// TestPolicyOfTheValuesReplacesTheExample: a policy given in the values is the policy file
// as it is, not merged with the example the chart serves by default (Helm merges maps), and
// the example's experiment, which targets the example's route, comes only with it.
func TestPolicyOfTheValuesReplacesTheExample(t *testing.T) {
	mesh, err := os.ReadFile(filepath.Join("..", "..", "deploy", "policies", "mesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Helm reads values as YAML 1.1, where a bare on is true: quoted, as the values say.
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(string(mesh), " on: [", ` "on": [`)), &doc); err != nil {
		t.Fatal(err)
	}
	objs := render(t, xdsChart, map[string]any{"policy": doc})
	p, err := policy.Parse([]byte(configData(t, objs, "foresight-xds-policy", "policy.yaml")), "policy.yaml")
	if err != nil {
		t.Fatalf("the rendered policy: %v", err)
	}
	want, err := policy.Load(filepath.Join("..", "..", "deploy", "policies", "mesh.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Name != want.Metadata.Name || p.Metadata.Namespace != want.Metadata.Namespace || len(p.Spec.VirtualHosts) != len(want.Spec.VirtualHosts) || len(p.Spec.Services) != len(want.Spec.Services) {
		t.Errorf("rendered policy %+v (%d virtual hosts, %d services), want mesh.yaml's %+v (%d, %d)",
			p.Metadata, len(p.Spec.VirtualHosts), len(p.Spec.Services), want.Metadata, len(want.Spec.VirtualHosts), len(want.Spec.Services))
	}
	if exps := configData(t, objs, "foresight-xds-policy", "experiments.yaml"); strings.TrimSpace(exps) != "" {
		t.Errorf("experiments with a policy of the values: %q, want none", exps)
	}
}
