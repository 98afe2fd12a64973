//go:build integration

package serving

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/promclient"
)

// counter is a counter rising by rate per second, one sample every 15s up to end.
func counter(end time.Time, d time.Duration, rate float64) []source.Sample {
	var out []source.Sample
	for ts := end.Add(-d); !ts.After(end); ts = ts.Add(15 * time.Second) {
		out = append(out, source.Sample{T: ts.UnixMilli(), V: rate * ts.Sub(end.Add(-d)).Seconds()})
	}
	return out
}

func gauge(end time.Time, d time.Duration, v float64) []source.Sample {
	var out []source.Sample
	for ts := end.Add(-d); !ts.After(end); ts = ts.Add(15 * time.Second) {
		out = append(out, source.Sample{T: ts.UnixMilli(), V: v})
	}
	return out
}

// TestImportedRulesServeWhatPrometheusAdapterWould loads prometheus-adapter's Helm chart
// default rules and the walkthrough's rules (two files, next to a Foresight rule file)
// against a real Prometheus, and checks that every served value is the one the
// query prometheus-adapter builds for the same request gives, except where Foresight
// differs on purpose: a label value is matched as written, never as a regex.
func TestImportedRulesServeWhatPrometheusAdapterWould(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	const span = 40 * time.Minute
	cpu := func(ns, pod, container string) map[string]string {
		return map[string]string{"namespace": ns, "pod": pod, "container": container}
	}
	srv := promtest.StartPrometheus(t, promtest.Options{Series: []promtest.Series{
		{Name: "container_cpu_usage_seconds_total", Labels: cpu("shop", "web-1", "app"), Samples: counter(end, span, 1.5)},
		{Name: "container_cpu_usage_seconds_total", Labels: cpu("shop", "web-2", "app"), Samples: counter(end, span, 0.5)},
		{Name: "container_cpu_usage_seconds_total", Labels: cpu("shop", "web-2", "POD"), Samples: counter(end, span, 100)},
		{Name: "container_cpu_usage_seconds_total", Labels: cpu("other", "web-1", "app"), Samples: counter(end, span, 7)},
		{Name: "container_memory_working_set_bytes", Labels: cpu("shop", "web-1", "app"), Samples: gauge(end, span, 3e8)},
		{Name: "queue_consumer_lag", Labels: map[string]string{"namespace": "shop", "name": "q.x"}, Samples: gauge(end, span, 40)},
		{Name: "queue_consumer_lag", Labels: map[string]string{"namespace": "shop", "name": "qax"}, Samples: gauge(end, span, 2)},
		{Name: "queue_consumer_lag", Labels: map[string]string{"namespace": "other", "name": "q.x"}, Samples: gauge(end, span, 1000)},
		{Name: "load", Labels: map[string]string{"namespace": "shop"}, Samples: gauge(end, span, 5)},
	}})
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	src, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: srv.URL}}, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	native := filepath.Join(dir, "native.yaml")
	if err := os.WriteFile(native, []byte(rulesYAML(ruleYAML("load_forecast", "load{<<.LabelMatchers>>}", ""))), 0o600); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return end }
	loop, store, m := startLoopAt(t, LoopOptions{Source: src, Logger: log, Now: now}, reg)
	load, err := FormatLoader(FormatAuto, ConfigLoader, ImportLoader(config.Policy{}, src, now, 10*time.Minute, log, nil))
	if err != nil {
		t.Fatal(err)
	}
	testdata := "../config/promadapter/testdata/"
	r := NewReloader([]string{testdata + "helm-default.yaml", testdata + "walkthrough.yaml", native}, load, loop, m, log, time.Hour)
	if err := r.Reload(true); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	waitUntil(t, "first cycle", loop.Ready)

	// instant runs a query at the time of a served value, as prometheus-adapter would at request time.
	instant := func(q string, at int64) map[string]float64 {
		t.Helper()
		res, err := src.Query(ctx, q, time.Unix(at, 0))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, s := range res {
			out[s.Labels.Get("pod")+s.Labels.Get("name")] = s.Samples[0].V
		}
		return out
	}
	pods := schema.GroupResource{Resource: "pods"}
	for _, c := range []struct {
		metric, adapterQuery string
		want                 int
	}{
		{"cpu_usage", `sum(rate(container_cpu_usage_seconds_total{namespace="shop",pod=~"web-1|web-2",container!="POD"}[5m])) by (pod)`, 2},
		{"memory_working_set_bytes", `sum(container_memory_working_set_bytes{namespace="shop",pod=~"web-1|web-2",container!="POD"}) by (pod)`, 1},
	} {
		es, _, err := store.Lookup(Query{Metric: c.metric, API: APIPods, Resource: pods, Namespace: "shop", Objects: map[string]bool{"web-1": true, "web-2": true}})
		if err != nil || len(es) != c.want {
			t.Fatalf("%s: %d entries, %v; want %d", c.metric, len(es), err, c.want)
		}
		want := instant(c.adapterQuery, es[0].Forecast.At)
		for _, e := range es {
			if w, ok := want[e.Object]; !ok || math.Abs(e.Forecast.Value-w) > 1e-9 {
				t.Errorf("%s %s = %v, prometheus-adapter's query gives %v (%v)", c.metric, e.Object, e.Forecast.Value, w, want)
			}
		}
	}
	if es, _, _ := store.Lookup(Query{Metric: "cpu_usage", API: APIPods, Resource: pods, Namespace: "shop", Objects: map[string]bool{"web-1": true}}); len(es) != 1 || math.Abs(es[0].Forecast.Value-1.5) > 1e-9 {
		t.Errorf("cpu_usage of shop/web-1 = %+v, want 1.5 (not other/web-1's 7)", es)
	}

	// External: the selector name in (q.x) is the label value q.x. prometheus-adapter
	// pastes it into name=~"q.x", which also matches qax; Foresight does not.
	sel, err := k8slabels.Parse("name in (q.x)")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := source.SelectorMatchers("namespace", "shop", sel)
	if err != nil {
		t.Fatal(err)
	}
	es, _, err := store.Lookup(Query{Metric: "queue_consumer_lag", API: APIExternal, Namespace: "shop", Matchers: ms})
	if err != nil || len(es) != 1 || es[0].Forecast.Value != 40 {
		t.Fatalf("queue_consumer_lag{name=q.x} in shop = %+v, %v; want one value 40", es, err)
	}
	if got := instant(`sum(queue_consumer_lag{name="q.x",namespace="shop"}) by (name)`, es[0].Forecast.At)["q.x"]; got != es[0].Forecast.Value {
		t.Errorf("served %v, prometheus-adapter's query with the value escaped gives %v", es[0].Forecast.Value, got)
	}
	if got := instant(`sum(queue_consumer_lag{name=~"q.x",namespace="shop"})`, es[0].Forecast.At)[""]; got != 42 {
		t.Errorf("prometheus-adapter's unescaped regex gives %v, want 42 (q.x and qax): the difference this test documents", got)
	}
	// The native rule serves next to the imported ones.
	if es, _, err := store.Lookup(Query{Metric: "load_forecast", API: APIExternal, Namespace: "shop"}); err != nil || len(es) != 1 {
		t.Errorf("native rule: %+v, %v", es, err)
	}
	// A broken imported file is refused on reload; the last good rules keep serving.
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("rules:\n- seriesQuery: '{a!=\"\"}'\n  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r2 := NewReloader([]string{broken}, load, loop, m, log, time.Hour)
	if err := r2.Reload(true); err == nil {
		t.Error("broken prometheus-adapter config accepted")
	}
	if _, _, err := store.Lookup(Query{Metric: "cpu_usage", API: APIPods, Resource: pods, Namespace: "shop"}); err != nil {
		t.Errorf("after a refused reload: %v", err)
	}
}
