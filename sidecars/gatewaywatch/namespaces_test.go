package gatewaywatch

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TestNamespaceCacheKeepsNameAndLabels: the cached Namespace has its name and labels and
// nothing else the API server sends (annotations, managed fields, spec, status).
func TestNamespaceCacheKeepsNameAndLabels(t *testing.T) {
	full := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", UID: "u", ResourceVersion: "7",
		Labels:        map[string]string{"shared-gateway-access": "true"},
		Annotations:   map[string]string{"big": "annotation"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}, Finalizers: []string{"f"}},
		Spec:   corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	o, err := nameAndLabels(full)
	if err != nil {
		t.Fatal(err)
	}
	n := o.(*corev1.Namespace)
	want := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", UID: "u", ResourceVersion: "7", Labels: map[string]string{"shared-gateway-access": "true"}}}
	if n.Name != want.Name || n.UID != want.UID || n.ResourceVersion != want.ResourceVersion || !maps.Equal(n.Labels, want.Labels) ||
		n.Annotations != nil || n.ManagedFields != nil || n.Finalizers != nil || n.Spec.Finalizers != nil || n.Status.Phase != "" {
		t.Errorf("cached %+v, want %+v", n, want)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "team-a", Obj: full}
	if o, _ := nameAndLabels(tomb); o != tomb {
		t.Errorf("tombstone transformed to %+v", o)
	}
}

// TestNamespaceUpdatesKickOnLabels: only a change of a namespace's labels re-translates.
func TestNamespaceUpdatesKickOnLabels(t *testing.T) {
	ns := func(rv string, kv ...string) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: rv, Labels: map[string]string{}}}
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
		return n
	}
	if labelsChanged(ns("1", "a", "1"), ns("2", "a", "1")) {
		t.Error("an update that keeps the labels kicks")
	}
	for _, cur := range []*corev1.Namespace{ns("2"), ns("2", "a", "2"), ns("2", "a", "1", "b", "1")} {
		if !labelsChanged(ns("1", "a", "1"), cur) {
			t.Errorf("labels {a: 1} to %v: no kick", cur.Labels)
		}
	}
}
