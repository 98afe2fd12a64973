package serving

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// seriesGauges gathers the series-level metric name from m, keyed by its
// label values joined with "|" in label name order (metric, [model,] namespace, series).
func seriesGauges(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.perSeries)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, sample := range mf.GetMetric() {
			var lv []string
			for _, lp := range sample.GetLabel() {
				lv = append(lv, lp.GetValue())
			}
			out[strings.Join(lv, "|")] = sample.GetGauge().GetValue()
		}
	}
	return out
}

func TestSeriesMetricsFollowTheStore(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(nil)
	m.perSeries.attach(store)
	entry := func(ns, name string, fc forecast.Forecast) *Entry {
		return &Entry{Labels: labels.FromStrings("namespace", ns), Namespace: ns, SeriesName: name, Forecast: fc}
	}
	store.Publish(&Snapshot{Info: RuleInfo{Metric: "rps", API: APIExternal}, Ready: true, ByNamespace: map[string][]*Entry{
		"a": {entry("a", "s1", forecast.Forecast{Value: 12, Observed: 10, Predicted: 11, Upper: 12.5, Model: "holt_winters", SpikesFiltered: true})},
		"b": {entry("b", "s2", forecast.Forecast{Value: 3, Observed: 3, Fallback: true, Model: "reactive"})},
	}})
	for name, want := range map[string]map[string]float64{
		"foresight_forecast_served_value":    {"rps|a|s1": 12, "rps|b|s2": 3},
		"foresight_forecast_observed_value":  {"rps|a|s1": 10, "rps|b|s2": 3},
		"foresight_forecast_predicted_value": {"rps|a|s1": 11, "rps|b|s2": 0},
		"foresight_forecast_upper_value":     {"rps|a|s1": 12.5, "rps|b|s2": 0},
		"foresight_forecast_fallback":        {"rps|a|s1": 0, "rps|b|s2": 1},
		"foresight_forecast_spikes_filtered": {"rps|a|s1": 1, "rps|b|s2": 0},
		"foresight_forecast_model_info":      {"rps|holt_winters|a|s1": 1, "rps|reactive|b|s2": 1},
	} {
		got := seriesGauges(t, m, name)
		if len(got) != len(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
			continue
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s{%s} = %v (present %v), want %v", name, k, g, ok, v)
			}
		}
	}
	// A rule that leaves the store leaves the metrics.
	store.Retain(map[string]bool{})
	if got := seriesGauges(t, m, "foresight_forecast_served_value"); len(got) != 0 {
		t.Errorf("after the rule left: %v", got)
	}
}
