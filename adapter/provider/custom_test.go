package provider

import (
	"context"
	"fmt"
	"strings"
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

var podsResource = schema.GroupResource{Resource: "pods"}

// series is one stored series of a custom metric: its object, value, sample
// time (Unix seconds) and labels besides the namespace.
type series struct {
	object string
	value  float64
	at     int64
	kv     []string
}

// customStore publishes one ready rule of metric for gr (the pods API for
// pods, else the object API) whose series in namespace ns are given.
func customStore(t *testing.T, store *serving.Store, metric string, gr schema.GroupResource, ns string, ss ...series) {
	t.Helper()
	api := serving.APIObject
	if gr == podsResource {
		api = serving.APIPods
	}
	snap := &serving.Snapshot{Info: serving.RuleInfo{Metric: metric, API: api, Resource: gr, NamespaceLabel: "namespace"}, Ready: true,
		ByNamespace: map[string][]*serving.Entry{}}
	for _, s := range ss {
		ls := labels.FromStrings(append([]string{"namespace", ns}, s.kv...)...)
		snap.ByNamespace[ns] = append(snap.ByNamespace[ns], &serving.Entry{Labels: ls, Key: ls.String(), Namespace: ns, Object: s.object,
			SeriesName: s.object, Forecast: forecast.Forecast{At: s.at, Value: s.value}})
		snap.Series++
	}
	snap.Index()
	store.Publish(snap)
}

// TestOneItemPerObject: an object with several series (one of them per
// container) is one item of a list, their sum at the oldest sample time,
// the value its name is answered with; its neighbours are untouched.
func TestOneItemPerObject(t *testing.T) {
	now := time.Now().Unix()
	for _, pods := range []int{1, 20} { // few series, and more than the stack holds
		t.Run(fmt.Sprintf("%d pods", pods), func(t *testing.T) {
			store := serving.NewStore(nil)
			var ss []series
			want := map[string]float64{}
			for i := range pods {
				name := fmt.Sprintf("web-%d", i)
				ss = append(ss, series{name, 160, now, []string{"pod", name}}, series{name, 1000, now - 30, []string{"pod", name, "container", "app"}})
				want[name] = 1160
			}
			ss = append(ss, series{"batch-1", 170, now, []string{"pod", "batch-1"}})
			want["batch-1"] = 170
			customStore(t, store, "pod_rps", podsResource, "shop", ss...)
			p := New(store, nil)
			info := cmprovider.CustomMetricInfo{GroupResource: podsResource, Metric: "pod_rps", Namespaced: true}
			l, err := p.GetMetricBySelector(context.Background(), "shop", k8slabels.Everything(), info, k8slabels.Everything())
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != len(want) {
				t.Errorf("%d items, want one per pod (%d): %+v", len(l.Items), len(want), l.Items)
			}
			seen := map[string]bool{}
			for _, it := range l.Items {
				name := it.DescribedObject.Name
				if seen[name] {
					t.Errorf("pod %s listed twice", name)
				}
				seen[name] = true
				if got := it.Value.AsApproximateFloat64(); got != want[name] {
					t.Errorf("pod %s: %v, want %v", name, got, want[name])
				}
				wantAt := now
				if name != "batch-1" {
					wantAt = now - 30 // the older of its two series
				}
				if it.Timestamp.Unix() != wantAt {
					t.Errorf("pod %s at %d, want %d", name, it.Timestamp.Unix(), wantAt)
				}
			}
			v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "shop", Name: "web-0"}, info, k8slabels.Everything())
			if err != nil || v.Value.AsApproximateFloat64() != 1160 || v.Timestamp.Unix() != now-30 {
				t.Errorf("web-0 by name: %+v, %v; want 1160 at %d", v, err, now-30)
			}
		})
	}
}

// TestMetricLabelSelector: a metric label selector selects among the
// series the rule's query keeps, summed per object; one that names a label
// no series of the namespace carries (the query aggregated it away) is
// refused, by name and in a list, rather than answered with no value.
func TestMetricLabelSelector(t *testing.T) {
	now := time.Now().Unix()
	store := serving.NewStore(nil)
	// Per pod, as an imported rule's query groups them: by (namespace, pod).
	customStore(t, store, "per_pod", podsResource, "shop",
		series{"web-1", 140, now, []string{"pod", "web-1"}}, series{"web-2", 1160, now, []string{"pod", "web-2"}})
	// Per container, as a query that keeps the container label.
	customStore(t, store, "per_container", podsResource, "shop",
		series{"web-1", 140, now, []string{"pod", "web-1", "container", "app"}},
		series{"web-2", 160, now, []string{"pod", "web-2", "container", "sidecar"}},
		series{"web-2", 1000, now, []string{"pod", "web-2", "container", "app"}})
	p := New(store, nil)
	list := func(metric, ns, selector string) (map[string]float64, error) {
		t.Helper()
		sel, err := k8slabels.Parse(selector)
		if err != nil {
			t.Fatal(err)
		}
		info := cmprovider.CustomMetricInfo{GroupResource: podsResource, Metric: metric, Namespaced: true}
		l, err := p.GetMetricBySelector(context.Background(), ns, k8slabels.Everything(), info, sel)
		if err != nil {
			return nil, err
		}
		got := map[string]float64{}
		for _, it := range l.Items {
			got[it.DescribedObject.Name] = it.Value.AsApproximateFloat64()
		}
		return got, nil
	}
	for _, c := range []struct {
		metric, selector string
		want             map[string]float64
	}{
		{"per_container", "container=app", map[string]float64{"web-1": 140, "web-2": 1000}},
		{"per_container", "container!=app", map[string]float64{"web-2": 160}},
		{"per_container", "container in (app,sidecar)", map[string]float64{"web-1": 140, "web-2": 1160}},
		{"per_pod", "pod=web-2", map[string]float64{"web-2": 1160}},
		{"per_pod", "namespace=shop", map[string]float64{"web-1": 140, "web-2": 1160}},
	} {
		got, err := list(c.metric, "shop", c.selector)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s {%s}: %v, %v; want %v", c.metric, c.selector, got, err, c.want)
		}
	}
	for _, selector := range []string{"container=app", "container!=app", "!container", "container"} {
		if got, err := list("per_pod", "shop", selector); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `carry no label "container"`) {
			t.Errorf("per_pod {%s}: %v, %v; want a bad request naming the label", selector, got, err)
		}
		sel, _ := k8slabels.Parse(selector)
		v, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "shop", Name: "web-2"},
			cmprovider.CustomMetricInfo{GroupResource: podsResource, Metric: "per_pod", Namespaced: true}, sel)
		if !apierrors.IsBadRequest(err) {
			t.Errorf("per_pod web-2 {%s}: %v, %v; want a bad request", selector, v, err)
		}
	}
	// A namespace without series has nothing to tell: an empty list.
	if got, err := list("per_pod", "billing", "container=app"); err != nil || len(got) != 0 {
		t.Errorf("per_pod in a namespace without series: %v, %v; want an empty list", got, err)
	}
}
