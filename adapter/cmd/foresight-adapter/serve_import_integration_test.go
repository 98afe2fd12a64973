//go:build integration

package main

import (
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
	gauge := func(v float64) []source.Sample {
		var out []source.Sample
		for ts := end.Add(-30 * time.Minute); !ts.After(end); ts = ts.Add(15 * time.Second) {
			out = append(out, source.Sample{T: ts.UnixMilli(), V: v})
		}
		return out
	}
	prom := promtest.StartPrometheus(t, promtest.Options{Series: []promtest.Series{
		{Name: "queue_consumer_lag", Labels: map[string]string{"namespace": "shop", "name": "orders"}, Samples: gauge(40)},
		{Name: "queue_consumer_lag", Labels: map[string]string{"namespace": "other", "name": "orders"}, Samples: gauge(7)},
		{Name: "load", Labels: map[string]string{"namespace": "shop"}, Samples: gauge(5)},
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
	want := map[string]float64{"queue_consumer_lag|shop": 40, "queue_consumer_lag|other": 7, "load_forecast|shop": 5}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]float64{}
		if fam := scrapeFamilies(run.metricsURL)["foresight_forecast_served_value"]; fam != nil {
			for _, m := range fam.GetMetric() {
				var metric, ns string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "metric":
						metric = l.GetValue()
					case "namespace":
						ns = l.GetValue()
					}
				}
				got[metric+"|"+ns] = m.GetGauge().GetValue()
			}
		}
		ok := len(got) == len(want)
		for k, v := range want {
			ok = ok && got[k] == v
		}
		if ok {
			break
		}
		select {
		case <-run.done:
			t.Fatalf("serve stopped: %v\n%s", run.err, run.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("served values %v, want %v\n%s", got, want, run.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if logs := run.logs.String(); !strings.Contains(logs, "prometheus-adapter config imported") {
		t.Errorf("logs lack the import:\n%s", logs)
	}
}

// TestServeClusterWideExternal runs `foresight-adapter serve` with the
// `namespaced: false` rule of prometheus-adapter's external metrics docs on
// a real Prometheus: without --allow-cluster-wide-external-metrics serve
// refuses the file with its line and field; with it, the rule's query runs
// without a namespace matcher, as prometheus-adapter's, and serves the sum
// over every namespace and over the series without one.
func TestServeClusterWideExternal(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	gauge := func(v float64) []source.Sample {
		var out []source.Sample
		for ts := end.Add(-30 * time.Minute); !ts.After(end); ts = ts.Add(15 * time.Second) {
			out = append(out, source.Sample{T: ts.UnixMilli(), V: v})
		}
		return out
	}
	prom := promtest.StartPrometheus(t, promtest.Options{Series: []promtest.Series{
		{Name: "queue_depth", Labels: map[string]string{"namespace": "shop", "name": "orders"}, Samples: gauge(40)},
		{Name: "queue_depth", Labels: map[string]string{"namespace": "other", "name": "orders"}, Samples: gauge(7)},
		{Name: "queue_depth", Labels: map[string]string{"name": "orders", "broker": "b1"}, Samples: gauge(3)},
		{Name: "queue_depth", Labels: map[string]string{"namespace": "shop", "name": "mail"}, Samples: gauge(2)},
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
	want := map[string]float64{`name="orders"`: 50, `name="mail"`: 2}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]float64{}
		if fam := scrapeFamilies(run.metricsURL)["foresight_forecast_served_value"]; fam != nil {
			for _, m := range fam.GetMetric() {
				var metric, series string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "metric":
						metric = l.GetValue()
					case "series":
						series = l.GetValue()
					}
				}
				if metric == "queue_depth" {
					got[series] = m.GetGauge().GetValue()
				}
			}
		}
		ok := len(got) == len(want)
		for k, v := range want {
			ok = ok && got[k] == v
		}
		if ok {
			break
		}
		select {
		case <-run.done:
			t.Fatalf("serve stopped: %v\n%s", run.err, run.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("served values %v, want %v\n%s", got, want, run.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
