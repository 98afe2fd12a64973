package charts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// examplesOutside are the files of deploy/adapter/examples that the
// kustomization leaves out on purpose (they need rules and a price source of
// their own: deploy/adapter/README.md).
var examplesOutside = map[string]bool{"hpa-cost-weighted.yaml": true, "kustomization.yaml": true}

// TestExamplesKustomization builds deploy/adapter/examples with kustomize and
// checks that every example file but examplesOutside is in it, object for
// object, in the example namespace, and that every HPA scales a Deployment of
// the build; the queue workers' HPAs scale to zero.
func TestExamplesKustomization(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "adapter", "examples")
	built, err := Kustomize(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(built)
	if err != nil {
		t.Fatal(err)
	}
	key := func(o *unstructured.Unstructured) string { return o.GetKind() + "/" + o.GetName() }
	have := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		have[key(o)] = o
		if o.GetKind() != "Namespace" && o.GetNamespace() != "foresight-example" {
			t.Errorf("%s: namespace %q, want foresight-example", key(o), o.GetNamespace())
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if examplesOutside[filepath.Base(f)] {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fileObjs, err := Objects(string(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(fileObjs) == 0 {
			t.Errorf("%s: no objects", f)
		}
		for _, o := range fileObjs {
			if have[key(o)] == nil {
				t.Errorf("%s: %s is not in the kustomize build of %s", filepath.Base(f), key(o), dir)
			}
		}
	}
	queueHPAs := 0
	for _, o := range objs {
		if o.GetKind() != "HorizontalPodAutoscaler" {
			continue
		}
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "scaleTargetRef", "kind")
		name, _, _ := unstructured.NestedString(o.Object, "spec", "scaleTargetRef", "name")
		if have[kind+"/"+name] == nil {
			t.Errorf("%s scales %s/%s, which the build does not have", key(o), kind, name)
		}
		metric, _, _ := unstructured.NestedSlice(o.Object, "spec", "metrics")
		if len(metric) == 1 && strings.Contains(strings.Join(metricNames(metric), ","), "_demand") {
			queueHPAs++
			// The YAML decoder gives int or int64 by input: compare the printed value.
			if minR, ok, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "minReplicas"); !ok || fmt.Sprint(minR) != "0" {
				t.Errorf("%s: queue worker HPA with minReplicas %v, want 0", key(o), minR)
			}
		}
	}
	if queueHPAs == 0 {
		t.Error("the examples' build has no queue worker HPA (hpa-queue.yaml)")
	}
	t.Logf("kustomize build of %s: %d objects, %d queue worker HPAs", dir, len(objs), queueHPAs)
}

// metricNames returns the metric names of an HPA's spec.metrics.
func metricNames(metrics []any) []string {
	var out []string
	for _, m := range metrics {
		mm, _ := m.(map[string]any)
		for _, src := range []string{"external", "object", "pods"} {
			if n, ok, _ := unstructured.NestedString(mm, src, "metric", "name"); ok {
				out = append(out, n)
			}
		}
	}
	return out
}
