package provider

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	cmprovider "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/serving"
)

// TestNamespacesMetric: one metric name served for pods, for services and for
// namespaces (three rules, stored apart): discovery lists them, namespaces as
// root-scoped; the library's call for /namespaces/{ns}/metrics/{metric}
// (the namespace given as the object's name) reads that namespace's value,
// described as a cluster-scoped object (no namespace), and the pods' values
// are unaffected.
func TestNamespacesMetric(t *testing.T) {
	store := serving.NewStore(nil)
	now := time.Now().Unix()
	entry := func(ns, obj string, v float64, kv ...string) *serving.Entry {
		ls := labels.FromStrings(kv...)
		return &serving.Entry{Labels: ls, Key: ls.String(), Namespace: ns, Object: obj, Forecast: forecast.Forecast{At: now, Value: v}}
	}
	pods := &serving.Snapshot{Info: serving.RuleInfo{Metric: "rps", API: serving.APIPods, Resource: schema.GroupResource{Resource: "pods"}, NamespaceLabel: "namespace"}, Ready: true,
		ByNamespace: map[string][]*serving.Entry{"a": {entry("a", "p1", 1, "namespace", "a", "pod", "p1"), entry("a", "p2", 2, "namespace", "a", "pod", "p2")}, "b": {entry("b", "p1", 4, "namespace", "b", "pod", "p1")}}}
	namespaces := &serving.Snapshot{Info: serving.RuleInfo{Metric: "rps", API: serving.APIObject, Resource: serving.NamespacesResource, NamespaceLabel: "namespace"}, Ready: true,
		ByNamespace: map[string][]*serving.Entry{"a": {entry("a", "a", 3, "namespace", "a")}, "b": {entry("b", "b", 4, "namespace", "b")}}}
	services := &serving.Snapshot{Info: serving.RuleInfo{Metric: "rps", API: serving.APIObject, Resource: schema.GroupResource{Resource: "services"}, NamespaceLabel: "namespace"}, Ready: true,
		ByNamespace: map[string][]*serving.Entry{"a": {entry("a", "web", 7, "namespace", "a", "service", "web")}}}
	for _, s := range []*serving.Snapshot{pods, namespaces, services} {
		s.Index()
		store.Publish(s)
	}
	p := New(store, nil)
	listed := map[schema.GroupResource]bool{}
	for _, m := range p.ListAllMetrics() {
		listed[m.GroupResource] = m.Namespaced
	}
	if namespaced, ok := listed[serving.NamespacesResource]; !ok || namespaced || !listed[schema.GroupResource{Resource: "pods"}] || !listed[schema.GroupResource{Resource: "services"}] || len(listed) != 3 {
		t.Errorf("discovery %v, want pods and services (namespaced) and namespaces (root-scoped)", listed)
	}
	svc := cmprovider.CustomMetricInfo{GroupResource: schema.GroupResource{Resource: "services"}, Metric: "rps", Namespaced: true}
	if v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "a", Name: "web"}, svc, k8slabels.Everything()); err != nil || v.Value.AsApproximateFloat64() != 7 || v.DescribedObject.Kind != "Service" {
		t.Errorf("service a/web: %+v, %v; want 7", v, err)
	}
	if v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "a", Name: "web"}, cmprovider.CustomMetricInfo{GroupResource: schema.GroupResource{Group: "apps", Resource: "deployments"}, Metric: "rps", Namespaced: true}, k8slabels.Everything()); !apierrors.IsNotFound(err) {
		t.Errorf("a resource no rule serves: %+v, %v; want NotFound", v, err)
	}
	info := cmprovider.CustomMetricInfo{GroupResource: serving.NamespacesResource, Metric: "rps"}
	for ns, want := range map[string]float64{"a": 3, "b": 4} {
		v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Name: ns}, info, k8slabels.Everything())
		if err != nil || v.Value.AsApproximateFloat64() != want || v.DescribedObject.Kind != "Namespace" || v.DescribedObject.Name != ns || v.DescribedObject.Namespace != "" {
			t.Errorf("namespace %s: %+v, %v; want %v", ns, v, err, want)
		}
	}
	if v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Name: "c"}, info, k8slabels.Everything()); !apierrors.IsNotFound(err) {
		t.Errorf("namespace without series: %+v, %v; want NotFound", v, err)
	}
	// /namespaces/a/namespaces/b/rps: authorized in a, never b's value.
	if v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "a", Name: "b"}, info, k8slabels.Everything()); !apierrors.IsNotFound(err) {
		t.Errorf("namespace b asked in namespace a: %+v, %v; want NotFound", v, err)
	}
	if l, err := p.GetMetricBySelector(context.Background(), "a", k8slabels.Everything(), info, k8slabels.Everything()); err != nil || len(l.Items) != 1 || l.Items[0].DescribedObject.Name != "a" || l.Items[0].DescribedObject.Namespace != "" {
		t.Errorf("namespaces listed in namespace a: %+v, %v; want a's value only", l, err)
	}
	v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "a", Name: "p2"}, cmprovider.CustomMetricInfo{GroupResource: schema.GroupResource{Resource: "pods"}, Metric: "rps", Namespaced: true}, k8slabels.Everything())
	if err != nil || v.Value.AsApproximateFloat64() != 2 || v.DescribedObject.Namespace != "a" {
		t.Errorf("pod a/p2: %+v, %v; want 2", v, err)
	}
}
