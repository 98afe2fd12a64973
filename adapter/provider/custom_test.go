package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
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
