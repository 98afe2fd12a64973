package serving

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-dev/foresight/adapter/source"
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

// TestSkippedSeriesAreCounted serves a query whose result holds a series without the
// namespace label (a job's, beside the load): that one is not served, and
// foresight_adapter_series_skipped counts it, while the labelled series is served. A
// series of no labels at all (the default of `or vector(0)`) is not counted.
func TestSkippedSeriesAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	appendMinutely(t, emb, testNow.Add(-time.Hour), testNow, constant(10), "__name__", "load", "namespace", "live")
	query := `'load{<<.LabelMatchers>>} or label_replace(vector(1), "job", "x", "", "") or vector(2)'`
	c := runClockedLoop(t, reg, emb, rulesYAML(ruleYAML("load", query, "")))
	if got := testutil.ToFloat64(c.metrics.skipped.WithLabelValues("load")); got != 1 {
		t.Errorf("skipped gauge = %v, want 1 (the job's series)", got)
	}
	if got := testutil.ToFloat64(c.metrics.series.WithLabelValues("load")); got != 1 {
		t.Errorf("series gauge = %v, want 1", got)
	}
	if es, _, err := c.store.Lookup(Query{Metric: "load", API: APIExternal, Namespace: "live"}); err != nil || len(es) != 1 {
		t.Errorf("labelled series: %+v, %v", es, err)
	}
}

// outageSource fails every range query while down is set, as a stopped
// Prometheus does, and counts the failures.
type outageSource struct {
	source.Source
	down     atomic.Bool
	failures atomic.Int64
}

func (o *outageSource) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]source.Series, error) {
	if o.down.Load() {
		o.failures.Add(1)
		return nil, errors.New("connection refused")
	}
	return o.Source.QueryRange(ctx, q, start, end, step)
}

// TestLoopKeepsSeriesAcrossAnOutage checks that an outage of the source
// longer than the staleness limit, which leaves a hole in every series, does
// not drop the series (with their forecasters' history) when the source
// answers again before their data does: they are stale (an error, the HPA
// holds), and only a series still absent once data has flowed again for the
// staleness limit is dropped.
func TestLoopKeepsSeriesAcrossAnOutage(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	appendRange := func(ns string, from, to time.Time) {
		appendMinutely(t, emb, from, to, constant(10), "__name__", "load", "namespace", ns)
	}
	appendRange("back", testNow.Add(-time.Hour), testNow)
	appendRange("gone", testNow.Add(-time.Hour), testNow)
	src := &outageSource{Source: emb}
	c := runClockedLoop(t, reg, src, rulesYAML(ruleYAML("load", "load{<<.LabelMatchers>>}", ", staleAfter: 5m")))
	lookup := func(ns string) ([]*Entry, error) {
		es, _, err := c.store.Lookup(Query{Metric: "load", API: APIExternal, Namespace: ns})
		return es, err
	}
	if es, err := lookup("back"); err != nil || len(es) != 1 {
		t.Fatalf("before the outage: %v, %v", es, err)
	}

	// Ten minutes down, then up again with no data yet for the outage.
	src.down.Store(true)
	c.clock.Add(int64(10 * time.Minute / time.Second))
	waitUntil(t, "a failed cycle", func() bool { return src.failures.Load() > 0 })
	src.down.Store(false)
	c.advance(t, time.Minute, 1)
	var stale *StaleError
	for _, ns := range []string{"back", "gone"} {
		if _, err := lookup(ns); !errors.As(err, &stale) {
			t.Errorf("%s right after the outage: err = %v, want StaleError (kept, stale), not dropped", ns, err)
		}
	}

	// Data flows again for one series; the other stays absent past the limit.
	from := testNow.Add(11 * time.Minute)
	appendRange("back", from, from.Add(6*time.Minute))
	c.advance(t, time.Minute, 1)
	if es, err := lookup("gone"); !errors.As(err, &stale) {
		t.Errorf("gone, data flowing for 1m: %v, %v; want still kept (stale)", es, err)
	}
	for range 6 {
		c.advance(t, time.Minute, 1)
	}
	if es, err := lookup("back"); err != nil || len(es) != 1 || es[0].Forecast.At < from.Add(6*time.Minute).Unix() {
		t.Errorf("back after the outage: %v, %v; want its latest forecast", es, err)
	}
	if es, err := lookup("gone"); err != nil || len(es) != 0 {
		t.Errorf("gone, absent while data flowed for 7m: %v, %v; want dropped", es, err)
	}
}

// TestLoopKeepsSeriesAcrossASourceRestart checks a warm start on a source
// whose data has a hole in every series longer than the staleness limit (a
// Prometheus that was down, restarted and has not scraped yet) and that
// answers without error: no series is dropped while no series of the rule
// has recent data, and when data resumes, one series before the other, both
// keep the history their forecasts were fitted on (a series dropped and
// found again would warm up from nothing and serve its reactive value).
func TestLoopKeepsSeriesAcrossASourceRestart(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	appendRange := func(ns string, from, to time.Time) {
		appendMinutely(t, emb, from, to, constant(10), "__name__", "load", "namespace", ns)
	}
	// Eight hours (past the warm-up) that stopped 20 minutes ago.
	for _, ns := range []string{"first", "later"} {
		appendRange(ns, testNow.Add(-8*time.Hour), testNow.Add(-20*time.Minute))
	}
	c := runClockedLoop(t, reg, emb, rulesYAML("  - name: load\n    query: load{<<.LabelMatchers>>}\n    api: external\n    forecast: {step: 1m, model: linear, staleAfter: 5m}\n"))
	lookup := func(ns string) ([]*Entry, error) {
		es, _, err := c.store.Lookup(Query{Metric: "load", API: APIExternal, Namespace: ns})
		return es, err
	}
	var stale *StaleError
	check := func(when string) {
		t.Helper()
		for _, ns := range []string{"first", "later"} {
			if es, err := lookup(ns); !errors.As(err, &stale) {
				t.Errorf("%s, %s: %v, %v; want StaleError (kept, stale), not dropped", ns, when, es, err)
			}
		}
	}
	check("warm start")
	c.advance(t, time.Minute, 1)
	check("a cycle with no data for any series")

	// Data resumes for one series, two minutes later for the other.
	appendRange("first", testNow.Add(2*time.Minute), testNow.Add(8*time.Minute))
	appendRange("later", testNow.Add(4*time.Minute), testNow.Add(8*time.Minute))
	for range 7 {
		c.advance(t, time.Minute, 1)
	}
	for _, ns := range []string{"first", "later"} {
		es, err := lookup(ns)
		if err != nil || len(es) != 1 {
			t.Errorf("%s after data resumed: %v, %v; want its forecast", ns, es, err)
			continue
		}
		if fc := es[0].Forecast; fc.Fallback || fc.Model != "linear" {
			t.Errorf("%s after data resumed: model %s, fallback %v (%s); want the linear model fitted on its history", ns, fc.Model, fc.Fallback, fc.Reason)
		}
	}
}
