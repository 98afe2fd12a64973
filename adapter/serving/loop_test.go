package serving

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLoopSeriesLifecycle checks metrics, staleness of a series that stopped
// reporting, and its removal once a healthy source no longer returns it.
func TestLoopSeriesLifecycle(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	appendRange := func(ns string, from, to time.Time, v float64) {
		appendMinutely(t, emb, from, to, constant(v), "__name__", "load", "namespace", ns)
	}
	appendRange("live", testNow.Add(-time.Hour), testNow, 10)
	appendRange("gone", testNow.Add(-time.Hour), testNow.Add(-30*time.Minute), 20)

	c := runClockedLoop(t, reg, emb, rulesYAML(ruleYAML("load", "load{<<.LabelMatchers>>}", ", staleAfter: 5m")))
	store, m := c.store, c.metrics

	// The series that stopped 30 minutes ago is stale: an error, not its old value.
	var stale *StaleError
	if _, _, err := store.Lookup(Query{Metric: "load", API: APIExternal, Namespace: "gone"}); !errors.As(err, &stale) {
		t.Errorf("stopped series: err = %v, want StaleError", err)
	}
	if got := seriesGauges(t, m, "foresight_forecast_served_value")[`load|live|__name__="load",namespace="live"`]; got != 10 {
		t.Errorf("served gauge = %v, want 10", got)
	}
	if got := testutil.ToFloat64(m.series.WithLabelValues("load")); got != 2 {
		t.Errorf("series gauge = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.staleness.WithLabelValues("load")); got < 25*60 {
		t.Errorf("staleness = %vs, want the age of the oldest series (>= 25m)", got)
	}

	// Next step: the healthy source no longer returns it, so it is dropped.
	appendRange("live", testNow.Add(time.Minute), testNow.Add(time.Minute), 11)
	c.advance(t, time.Minute, 1)
	es, _, err := store.Lookup(Query{Metric: "load", API: APIExternal, Namespace: "gone"})
	if err != nil || len(es) != 0 {
		t.Errorf("vanished series: %v, %v; want removed", es, err)
	}
	es, _, err = store.Lookup(Query{Metric: "load", API: APIExternal, Namespace: "live"})
	if err != nil || len(es) != 1 || es[0].Forecast.Value != 11 || es[0].Forecast.At != testNow.Add(time.Minute).Unix() {
		t.Errorf("live series: %+v, %v", es, err)
	}
	if got := testutil.ToFloat64(m.series.WithLabelValues("load")); got != 1 {
		t.Errorf("series gauge = %v, want 1", got)
	}
	if n := len(seriesGauges(t, m, "foresight_forecast_served_value")); n != 1 {
		t.Errorf("served gauge has %d series, want 1 (the vanished one deleted)", n)
	}
}
