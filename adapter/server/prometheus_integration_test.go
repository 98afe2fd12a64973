//go:build integration

package server_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/provider"
	"github.com/foresight-dev/foresight/adapter/server"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/promclient"
)

const traceRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: predicted_load
    query: trace_load{<<.LabelMatchers>>}
    api: external
    forecast: {step: 1m, horizon: 5m, staleAfter: 5m}
`

// TestRealPrometheus runs the adapter against a real Prometheus backfilled
// with a real trace: the served value equals a Forecaster fed the same
// samples; with Prometheus stopped it serves until the staleness limit, then
// errors; after Prometheus restarts it serves again without a restart.
func TestRealPrometheus(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	trace := promtest.ShiftToEnd(promtest.LoadTrace(t, "crane-input1.csv"), end)
	prom := promtest.StartPrometheus(t, promtest.Options{
		LookbackDelta: 30 * time.Second, // range queries at 1m return exactly the stored samples
		Series: []promtest.Series{
			{Name: "trace_load", Labels: map[string]string{"namespace": "shop", "service": "web"}, Samples: trace},
		},
	})

	// The adapter's data clock starts 30 minutes before the trace ends; the
	// rest of the trace becomes visible as the clock advances.
	clock := &fakeClock{}
	clock.Set(end.Add(-30 * time.Minute))
	reg := prometheus.NewRegistry()
	src, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: prom.URL}, Timeout: 5 * time.Second}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := serving.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := serving.NewStore(clock.Now)
	loop, err := serving.NewLoop(serving.LoopOptions{Source: src, Store: store, Metrics: metrics,
		Logger: slog.New(slog.DiscardHandler), Now: clock.Now, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse([]byte(traceRules), "trace-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := serving.RulesFromConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := loop.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { loop.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	client, err := external_metrics.NewForConfig(serveLocal(t, server.Config{Provider: provider.New(store, nil), Registry: reg, Logger: slog.New(slog.DiscardHandler)}))
	if err != nil {
		t.Fatal(err)
	}
	get := func() (float64, time.Time, error) {
		l, err := client.NamespacedMetrics("shop").List("predicted_load", k8slabels.Everything())
		if err != nil {
			return 0, time.Time{}, err
		}
		if len(l.Items) != 1 {
			return 0, time.Time{}, errors.New("want one series")
		}
		return float64(l.Items[0].Value.MilliValue()) / 1000, l.Items[0].Timestamp.Time, nil
	}
	// expected feeds a fresh Forecaster the trace samples the loop loaded,
	// from the first step of its window (clock at start - history), in the
	// batches the loop's cycles loaded them: up to each clock time checked so
	// far. The loop refits at the end of a cycle (DeferRefits), so the
	// reference does too.
	windowStart := (clock.Now().Add(-rules[0].Settings.Lookback()).Unix() + 59) / 60 * 60
	var cycleEnds []int64
	expected := func() (forecast.Forecast, time.Time) {
		fc, err := forecast.NewForecaster(rules[0].Settings)
		if err != nil {
			t.Fatal(err)
		}
		var last int64
		next := 0
		fc.DeferRefits()
		for _, s := range trace {
			ts := s.T / 1000
			if ts < windowStart || ts > cycleEnds[len(cycleEnds)-1] {
				continue
			}
			for ; ts > cycleEnds[next]; next++ {
				fc.ResumeRefits() // the end of a cycle
				fc.DeferRefits()
			}
			if err := fc.Observe(ts, s.V); err != nil {
				t.Fatal(err)
			}
			last = ts
		}
		fc.ResumeRefits()
		return fc.Serve(), time.Unix(last, 0)
	}
	check := func(what string) {
		t.Helper()
		cycleEnds = append(cycleEnds, clock.Now().Unix())
		want, at := expected()
		var got float64
		var gotAt time.Time
		waitFor(t, 60*time.Second, what, func() bool {
			got, gotAt, err = get()
			return err == nil && gotAt.Equal(at)
		})
		es, _, err := store.Lookup(serving.Query{Metric: "predicted_load", API: serving.APIExternal, Namespace: "shop"})
		if err != nil || len(es) != 1 {
			t.Fatalf("%s: store lookup: %v", what, err)
		}
		if es[0].Forecast.Value != want.Value || es[0].Forecast.Model != want.Model {
			t.Errorf("%s: store serves %v (%s), a Forecaster fed the same trace samples serves %v (%s)",
				what, es[0].Forecast.Value, es[0].Forecast.Model, want.Value, want.Model)
		}
		if wantMilli := math.Ceil(want.Value*1000) / 1000; got != wantMilli {
			t.Errorf("%s: API serves %v, want %v", what, got, wantMilli)
		}
		t.Logf("%s: served %v at %v by %s (observed %v)", what, got, gotAt, want.Model, want.Observed)
	}

	check("warm start")

	// Data time advances: new samples are fetched incrementally.
	clock.Advance(3 * time.Minute)
	check("incremental update")

	// Prometheus goes down: served until the staleness limit, then an error.
	sourceMetrics, err := source.NewMetrics(reg) // the collectors the source registered
	if err != nil {
		t.Fatal(err)
	}
	queryErrors := func() float64 {
		return testutil.ToFloat64(sourceMetrics.Errors.WithLabelValues("range")) +
			testutil.ToFloat64(sourceMetrics.Errors.WithLabelValues("instant"))
	}
	prom.Stop()
	_, lastAt, err := get()
	if err != nil {
		t.Fatalf("right after the source stopped: %v", err)
	}
	clock.Set(lastAt.Add(4 * time.Minute))
	failedBefore := queryErrors()
	waitFor(t, 60*time.Second, "several failing cycles", func() bool { return queryErrors() >= failedBefore+3 })
	if _, _, err := get(); err != nil {
		t.Errorf("within the staleness limit, source down: %v", err)
	}
	clock.Set(lastAt.Add(6 * time.Minute))
	_, _, err = get()
	if err == nil || apierrors.IsNotFound(err) || !apierrors.IsServiceUnavailable(err) {
		t.Errorf("past the staleness limit: err = %v, want ServiceUnavailable", err)
	}

	// Prometheus comes back: serving resumes, the gap is filled, values match again.
	prom.Start()
	check("recovery after Prometheus restart")
}
