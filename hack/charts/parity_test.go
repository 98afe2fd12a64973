package charts

import (
	"errors"
	"io"
	"maps"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// generatedSuffix is the content hash kustomize's configMapGenerator appends to a name.
var generatedSuffix = regexp.MustCompile(`-[a-z0-9]{10}$`)

// TestChartMatchesKustomizeBase renders each chart with its default values as release
// <chart> in namespace foresight, and the kustomize base beside it, and checks that they
// produce the same objects (kind, namespace, name) with the same security-relevant fields:
// RBAC rules, role references and subjects, pod and container security contexts, ports,
// probes, image (the base's kustomize tag and the chart's appVersion), arguments,
// environment, volumes, APIService specs and the certificates. The
// charts leave out what the bases add for `kubectl apply -k` alone: the Namespaces
// (helm install --create-namespace makes the release's).
//
// The xds chart with gatewayAPI.enabled is compared the same way with the kustomize overlay
// deploy/xds/gateway-api (its Foresight CRDs, ClusterRole, binding, GatewayClass and flags).
func TestChartMatchesKustomizeBase(t *testing.T) {
	cases := []struct {
		name, chart, dir, values string
	}{
		{adapterChart, adapterChart, "adapter/base", ""},
		{xdsChart, xdsChart, "xds/base", ""},
		{xdsChart + "/gatewayAPI", xdsChart, "xds/gateway-api", "gatewayAPI: {enabled: true}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kustomized, err := Kustomize(filepath.Join("..", "..", "deploy", filepath.FromSlash(c.dir)))
			if err != nil {
				t.Fatal(err)
			}
			baseObjs, err := Objects(kustomized)
			if err != nil {
				t.Fatal(err)
			}
			var vals map[string]any
			if c.values != "" {
				vals = values(t, c.values)
			}
			want := projectAll(t, baseObjs, true)
			got := projectAll(t, render(t, c.chart, vals), false)
			for _, k := range slices.Sorted(maps.Keys(want)) {
				g, ok := got[k]
				if !ok {
					t.Errorf("%s is in the kustomize base, not in the chart", k)
					continue
				}
				if !reflect.DeepEqual(normalizeJSON(t, g), normalizeJSON(t, want[k])) {
					gy, _ := yaml.Marshal(g)
					wy, _ := yaml.Marshal(want[k])
					t.Errorf("%s differs:\nchart:\n%s\nkustomize base:\n%s", k, gy, wy)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(got)) {
				if _, ok := want[k]; !ok {
					t.Errorf("%s is in the chart, not in the kustomize base", k)
				}
			}
		})
	}
}

// projectAll keys each object by kind, namespace and name and keeps its compared fields.
// Namespaces are left out; kustomize's generated names lose their hash suffix.
func projectAll(t *testing.T, objs []*unstructured.Unstructured, kustomized bool) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			continue
		}
		o = o.DeepCopy()
		if kustomized {
			unhashGenerated(o)
		}
		k := Key(o)
		if _, dup := out[k]; dup {
			t.Fatalf("%s rendered twice", k)
		}
		out[k] = project(t, o)
	}
	return out
}

// unhashGenerated strips kustomize's hash suffix from a ConfigMap's name and from the
// references to ConfigMaps in a Deployment.
func unhashGenerated(o *unstructured.Unstructured) {
	switch o.GetKind() {
	case "ConfigMap":
		o.SetName(generatedSuffix.ReplaceAllString(o.GetName(), ""))
	case "Deployment":
		walk(o.Object, func(m map[string]any) {
			for _, ref := range []string{"configMapKeyRef", "configMap"} {
				if r, ok := m[ref].(map[string]any); ok {
					if n, ok := r["name"].(string); ok {
						r["name"] = generatedSuffix.ReplaceAllString(n, "")
					}
				}
			}
		})
	}
}

func walk(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for _, e := range v {
			walk(e, f)
		}
	case []any:
		for _, e := range v {
			walk(e, f)
		}
	}
}

// project keeps the fields compared between the chart and the base for o's kind.
func project(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	field := func(path ...string) any {
		v, _, err := unstructured.NestedFieldNoCopy(o.Object, path...)
		if err != nil {
			t.Fatalf("%s: %v", Key(o), err)
		}
		return v
	}
	switch o.GetKind() {
	case "ClusterRole", "Role":
		return map[string]any{"rules": field("rules")}
	case "ClusterRoleBinding", "RoleBinding":
		return map[string]any{"roleRef": field("roleRef"), "subjects": field("subjects")}
	case "ServiceAccount":
		return map[string]any{"automountServiceAccountToken": field("automountServiceAccountToken")}
	case "Service":
		return map[string]any{"ports": field("spec", "ports"), "type": field("spec", "type")}
	case "APIService":
		return map[string]any{
			"spec":     field("spec"),
			"injectCA": o.GetAnnotations()["cert-manager.io/inject-ca-from"],
		}
	case "PodDisruptionBudget":
		return map[string]any{"minAvailable": field("spec", "minAvailable")}
	case "Issuer", "Certificate", "CustomResourceDefinition", "GatewayClass":
		return map[string]any{"spec": field("spec")}
	case "ConfigMap":
		return map[string]any{"data": parseData(t, o)}
	case "Deployment":
		pod := field("spec", "template", "spec").(map[string]any)
		var containers []any
		for _, c := range pod["containers"].([]any) {
			c := c.(map[string]any)
			containers = append(containers, map[string]any{
				"name": c["name"], "image": c["image"], "args": c["args"], "env": c["env"], "ports": c["ports"],
				"securityContext": c["securityContext"], "readinessProbe": c["readinessProbe"],
				"livenessProbe": c["livenessProbe"], "resources": c["resources"], "volumeMounts": c["volumeMounts"],
			})
		}
		return map[string]any{
			"replicas": field("spec", "replicas"), "strategy": field("spec", "strategy"),
			"serviceAccountName": pod["serviceAccountName"], "securityContext": pod["securityContext"],
			"volumes": pod["volumes"], "containers": containers,
		}
	}
	t.Fatalf("%s: no fields to compare for kind %s", Key(o), o.GetKind())
	return nil
}

// parseData parses each YAML file in a ConfigMap (one or more documents) as the programs
// do (yaml.v3: `on` is a string, not YAML 1.1's true), so that the chart's toYaml and the
// base's hand-written files compare by content.
func parseData(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	data, _, _ := unstructured.NestedStringMap(o.Object, "data")
	out := map[string]any{}
	for k, v := range data {
		if !strings.HasSuffix(k, ".yaml") {
			out[k] = v
			continue
		}
		var docs []any
		dec := yamlv3.NewDecoder(strings.NewReader(v))
		for {
			var doc any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: data %s: %v", Key(o), k, err)
			}
			if doc != nil {
				docs = append(docs, doc)
			}
		}
		out[k] = docs
	}
	return out
}
