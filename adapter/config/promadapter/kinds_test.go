package promadapter

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestBuiltinKinds: every resource a label can name has its kind, named by
// its singular, and a kind's version is never missing; names resolve in any
// group, the core group's first.
func TestBuiltinKinds(t *testing.T) {
	for singular, gr := range builtinResources {
		gvk, ok := BuiltinKind(gr)
		if !ok || strings.ToLower(gvk.Kind) != singular || gvk.Group != gr.Group {
			t.Errorf("%s (%s): kind %v, %v", singular, gr, gvk, ok)
		}
	}
	for gr, gvk := range builtinKinds {
		if gvk.Version == "" || gvk.Kind == "" || gvk.Group != gr.Group || gr.Resource != strings.ToLower(gr.Resource) {
			t.Errorf("%s: kind %v", gr, gvk)
		}
	}
	for gr, want := range map[schema.GroupResource]string{
		{Group: "batch", Resource: "jobs"}:                           "batch/v1, Kind=Job",
		{Group: "autoscaling", Resource: "horizontalpodautoscalers"}: "autoscaling/v2, Kind=HorizontalPodAutoscaler",
		{Group: "core", Resource: "pods"}:                            "/v1, Kind=Pod",
	} {
		if gvk, ok := BuiltinKind(gr); !ok || gvk.String() != want {
			t.Errorf("%s: %v, %v; want %s", gr, gvk, ok, want)
		}
	}
	if _, ok := BuiltinKind(schema.GroupResource{Group: "cheese.io", Resource: "brands"}); ok {
		t.Error("a custom resource has a built-in kind")
	}
	for name, want := range map[string][]schema.GroupResource{
		"deployment": {{Group: "apps", Resource: "deployments"}},
		"services":   {{Resource: "services"}},
		"event":      {{Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}},
		"brand":      nil,
	} {
		if got := BuiltinResources(name); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}
