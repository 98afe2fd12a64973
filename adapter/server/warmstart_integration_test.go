//go:build integration

package server_test

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/loadgen"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/promclient"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkWarmStartPrometheus measures the warm start of a rule from a real
// Prometheus: from an empty adapter to every series served, loading the
// history with chunked range queries. Sizes come from the environment:
// FORESIGHT_BENCH_SERIES (default 1000), FORESIGHT_BENCH_DAYS (default 14),
// FORESIGHT_BENCH_MODEL (default reactive: the query and ingest path; model
// fitting adds the forecaster's own cost per series).
//
//	go test -tags integration -run '^$' -bench WarmStart -benchtime 1x ./adapter/server/
func BenchmarkWarmStartPrometheus(b *testing.B) {
	series := envInt("FORESIGHT_BENCH_SERIES", 1000)
	days := envInt("FORESIGHT_BENCH_DAYS", 14)
	model := os.Getenv("FORESIGHT_BENCH_MODEL")
	if model == "" {
		model = "reactive"
	}
	end := time.Now().Add(-time.Minute).Truncate(time.Minute)
	steps := days * 1440
	var all []promtest.Series
	for i := range series {
		p := loadgen.Default(100+float64(i%50), uint64(i))
		samples := make([]source.Sample, steps)
		for j := range samples {
			t := end.Add(-time.Duration(steps-1-j) * time.Minute)
			samples[j] = source.Sample{T: t.UnixMilli(), V: p.At(t)}
		}
		all = append(all, promtest.Series{Name: "warm_load", Labels: map[string]string{
			"namespace": "ns-" + strconv.Itoa(i%10), "service": "svc-" + strconv.Itoa(i)}, Samples: samples})
	}
	t0 := time.Now()
	prom := promtest.StartPrometheus(b, promtest.Options{Series: all, LookbackDelta: 30 * time.Second})
	b.Logf("backfilled %d series x %d days into Prometheus in %s", series, days, time.Since(t0).Round(time.Second))

	rules := `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: warm
    query: warm_load{<<.LabelMatchers>>}
    api: external
    forecast: {step: 1m, model: ` + model + `, history: ` + strconv.Itoa(days) + `d, staleAfter: 1h}
`
	f, err := config.Parse([]byte(rules), "warm.yaml")
	if err != nil {
		b.Fatal(err)
	}
	rs, err := serving.RulesFromConfig(f)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		reg := prometheus.NewRegistry()
		src, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: prom.URL}}, reg, nil)
		if err != nil {
			b.Fatal(err)
		}
		metrics, err := serving.NewMetrics(reg)
		if err != nil {
			b.Fatal(err)
		}
		store := serving.NewStore(nil)
		loop, err := serving.NewLoop(serving.LoopOptions{Source: src, Store: store, Metrics: metrics, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		start := time.Now()
		if err := loop.SetRules(rs); err != nil {
			b.Fatal(err)
		}
		wg.Go(func() { loop.Run(ctx) })
		for !loop.Ready() {
			time.Sleep(10 * time.Millisecond)
		}
		elapsed := time.Since(start)
		snap := store.Snapshot("warm")
		cancel()
		wg.Wait()
		if snap.Series != series {
			b.Fatalf("%d series served, want %d", snap.Series, series)
		}
		b.ReportMetric(elapsed.Seconds(), "s/warm-start")
		b.Logf("warm start: %d series x %d days (model %s) served after %s", series, days, model, elapsed.Round(time.Millisecond))
	}
}
