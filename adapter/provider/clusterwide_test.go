package provider

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/metrics/pkg/apis/external_metrics"
	cmprovider "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/serving"
)

// TestClusterWideSelectors: on a cluster-wide external metric a request in
// any namespace reads the series of every namespace, and a selector on the
// namespace label selects like any other label (prometheus-adapter's
// `namespaced: false`); on a namespaced metric the request's namespace is
// enforced and a conflicting namespace selector selects nothing. Both the
// library's path and the fast path's encoders are checked.
func TestClusterWideSelectors(t *testing.T) {
	store := serving.NewStore(nil)
	now := time.Now().Unix()
	entries := func(bucket func(ns string) string) map[string][]*serving.Entry {
		out := map[string][]*serving.Entry{}
		for _, s := range [][2]string{{"a", "x"}, {"b", "y"}, {"", "z"}} {
			ls := labels.FromStrings("namespace", s[0], "queue", s[1])
			e := &serving.Entry{Labels: ls, Key: ls.String(), Namespace: s[0], Forecast: forecast.Forecast{At: now, Value: 1}}
			out[bucket(s[0])] = append(out[bucket(s[0])], e)
		}
		return out
	}
	for _, snap := range []*serving.Snapshot{
		{Info: serving.RuleInfo{Metric: "all", API: serving.APIExternal, NamespaceLabel: "namespace", ClusterWide: true},
			ByNamespace: entries(func(string) string { return serving.ClusterWideKey }), Ready: true},
		{Info: serving.RuleInfo{Metric: "own", API: serving.APIExternal, NamespaceLabel: "namespace"},
			ByNamespace: entries(func(ns string) string { return ns }), Ready: true},
	} {
		snap.Index()
		store.Publish(snap)
	}
	p := New(store, nil)
	queues := func(metric, ns, selector string) ([]string, error) {
		t.Helper()
		sel, err := k8slabels.Parse(selector)
		if err != nil {
			t.Fatal(err)
		}
		l, err := p.GetExternalMetric(context.Background(), ns, sel, cmprovider.ExternalMetricInfo{Metric: metric})
		var viaLib []string
		if err == nil {
			for _, it := range l.Items {
				viaLib = append(viaLib, it.MetricLabels["queue"])
			}
		}
		b, ferr := p.AppendExternalMetricList(nil, ns, metric, selector)
		if (err == nil) != (ferr == nil) {
			t.Fatalf("%s in %s {%s}: library %v, fast path %v", metric, ns, selector, err, ferr)
		}
		if err != nil {
			return nil, err
		}
		var fast external_metrics.ExternalMetricValueList
		if err := json.Unmarshal(b, &fast); err != nil {
			t.Fatal(err)
		}
		var viaFast []string
		for _, it := range fast.Items {
			viaFast = append(viaFast, it.MetricLabels["queue"])
		}
		slices.Sort(viaLib)
		slices.Sort(viaFast)
		if !slices.Equal(viaLib, viaFast) {
			t.Errorf("%s in %s {%s}: library %v, fast path %v", metric, ns, selector, viaLib, viaFast)
		}
		return viaLib, nil
	}
	for _, c := range []struct {
		metric, ns, selector string
		want                 []string
	}{
		{"all", "a", "", []string{"x", "y", "z"}},
		{"all", "elsewhere", "queue!=x", []string{"y", "z"}},
		{"all", "a", "namespace=b", []string{"y"}},
		{"all", "a", "!namespace", []string{"z"}},
		{"own", "a", "", []string{"x"}},
		{"own", "b", "namespace=b", []string{"y"}},
		{"own", "elsewhere", "", nil},
	} {
		got, err := queues(c.metric, c.ns, c.selector)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s in %s {%s}: %v, %v; want %v", c.metric, c.ns, c.selector, got, err, c.want)
		}
	}
	// A selector the request's namespace cannot satisfy selects nothing, as Kubernetes lists.
	for _, selector := range []string{"namespace=b", "namespace notin (a)", "!namespace"} {
		if got, err := queues("own", "a", selector); err != nil || len(got) != 0 {
			t.Errorf("namespaced metric in a {%s}: %v, %v; want no items", selector, got, err)
		}
	}
}
