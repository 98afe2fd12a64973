//go:build integration

package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
)

// TestServeImportedConfig runs `foresight-adapter serve` with prometheus-adapter's
// walkthrough config unchanged and a Foresight rule file beside it (--config twice) on
// a real Prometheus, and reads the served values of both on /metrics.
func TestServeImportedConfig(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	prom := promtest.StartPrometheus(t, promtest.Options{Series: []promtest.Series{
		{Name: "queue_consumer_lag", Labels: map[string]string{"namespace": "shop", "name": "orders"}, Samples: flatSamples(end, 40)},
		{Name: "queue_consumer_lag", Labels: map[string]string{"namespace": "other", "name": "orders"}, Samples: flatSamples(end, 7)},
		{Name: "load", Labels: map[string]string{"namespace": "shop"}, Samples: flatSamples(end, 5)},
	}})
	dir := t.TempDir()
	native := filepath.Join(dir, "native.yaml")
	writeTestFile(t, native, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: load_forecast
    query: load{<<.LabelMatchers>>}
    forecast: {model: reactive, step: 15s, horizon: 15s, history: 6h}
`), 0o600)
	imported, err := filepath.Abs("../../config/promadapter/testdata/walkthrough.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := startServe(t, dir, imported, prom.URL, end, "--config", native, "--metrics-relist-interval", "1h")
	run.awaitServed(t, map[string]float64{"queue_consumer_lag|shop": 40, "queue_consumer_lag|other": 7, "load_forecast|shop": 5},
		func(lv map[string]string) string { return lv["metric"] + "|" + lv["namespace"] })
	if logs := run.logs.String(); !strings.Contains(logs, "prometheus-adapter config imported") {
		t.Errorf("logs lack the import:\n%s", logs)
	}
}

// TestServeClusterWideExternal runs `foresight-adapter serve` with the
// `namespaced: false` rule of prometheus-adapter's external metrics docs on
// a real Prometheus: without --allow-cluster-wide-external-metrics serve
// refuses the file with its line and field; with it, the rule's query runs
// without a namespace matcher, as prometheus-adapter's, and serves its sum
// by name split by namespace (so that a selector on the namespace matches):
// per name, the parts add up to prometheus-adapter's sum over every
// namespace and over the series without one.
func TestServeClusterWideExternal(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	prom := promtest.StartPrometheus(t, promtest.Options{Series: []promtest.Series{
		{Name: "queue_depth", Labels: map[string]string{"namespace": "shop", "name": "orders"}, Samples: flatSamples(end, 40)},
		{Name: "queue_depth", Labels: map[string]string{"namespace": "other", "name": "orders"}, Samples: flatSamples(end, 7)},
		{Name: "queue_depth", Labels: map[string]string{"name": "orders", "broker": "b1"}, Samples: flatSamples(end, 3)},
		{Name: "queue_depth", Labels: map[string]string{"namespace": "shop", "name": "mail"}, Samples: flatSamples(end, 2)},
	}})
	imported, err := filepath.Abs("../../config/promadapter/testdata/namespaced-false.yaml")
	if err != nil {
		t.Fatal(err)
	}

	refused := startServe(t, t.TempDir(), imported, prom.URL, end, "--metrics-relist-interval", "1h")
	select {
	case <-refused.done:
	case <-time.After(60 * time.Second):
		t.Fatal("serve started with namespaced: false and no --allow-cluster-wide-external-metrics")
	}
	if want := imported + ":8: externalRules[0].resources.namespaced"; refused.err == nil || !strings.Contains(refused.err.Error(), want) {
		t.Errorf("serve without the flag: %v, want %q", refused.err, want)
	}

	run := startServe(t, t.TempDir(), imported, prom.URL, end, "--metrics-relist-interval", "1h", "--allow-cluster-wide-external-metrics")
	run.awaitServed(t, map[string]float64{
		`name="orders",namespace="shop"`: 40, `name="orders",namespace="other"`: 7, `name="orders"`: 3, `name="mail",namespace="shop"`: 2,
	}, func(lv map[string]string) string {
		if lv["metric"] != "queue_depth" {
			return ""
		}
		return lv["series"]
	})
}

// flatSamples are a constant v every 15 s over the half hour up to end.
func flatSamples(end time.Time, v float64) []source.Sample {
	var out []source.Sample
	for ts := end.Add(-30 * time.Minute); !ts.After(end); ts = ts.Add(15 * time.Second) {
		out = append(out, source.Sample{T: ts.UnixMilli(), V: v})
	}
	return out
}

// awaitServed waits up to a minute for the foresight_forecast_served_value series on
// serve's /metrics, by key of their labels (a series whose key is "" is left out), to be
// want.
func (r *serveRun) awaitServed(t *testing.T, want map[string]float64, key func(labels map[string]string) string) {
	t.Helper()
	var got map[string]float64
	r.await(t, 60*time.Second, 100*time.Millisecond, func() (bool, string) {
		got = map[string]float64{}
		for _, m := range scrapeFamilies(r.metricsURL)["foresight_forecast_served_value"].GetMetric() {
			if k := key(labelValues(m)); k != "" {
				got[k] = m.GetGauge().GetValue()
			}
		}
		return maps.Equal(got, want), fmt.Sprintf("served values %v, want %v", got, want)
	})
}
