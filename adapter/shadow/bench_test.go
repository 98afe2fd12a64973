package shadow_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/loadgen"
	"github.com/foresight-dev/foresight/adapter/shadow"
)

func benchStrategies() []shadow.Strategy {
	s := forecast.Settings{Step: time.Minute, RefitInterval: 6 * time.Hour}
	with := func(m forecast.Model) forecast.Settings { c := s; c.Model = m; return c }
	p := cost.Params{}
	return []shadow.Strategy{
		{Name: "reactive", Settings: with(forecast.ModelReactive), Target: 0.7},
		{Name: "seasonal-naive", Settings: with(forecast.ModelSeasonalNaive), Target: 0.8},
		{Name: "holt-winters", Settings: with(forecast.ModelHoltWinters), Target: 0.8},
		{Name: "cost-weighted", Settings: with(forecast.ModelSeasonalNaive), Cost: &p},
	}
}

// BenchmarkEvaluatorObserve measures one sample fed to an evaluator with
// four strategies (reactive, seasonal-naive, holt-winters, cost-weighted),
// forecasting and HPA simulation included, over 3 days of generated load.
func BenchmarkEvaluatorObserve(b *testing.B) {
	start := time.Unix(1_800_000_000, 0)
	vals := loadgen.Default(100, 1).Samples(start, start.Add(72*time.Hour), time.Minute)
	cfg := shadow.Config{Capacity: 10, HPA: hpa.Config{MaxReplicas: 1000, StartupDelay: 2 * time.Minute}, Step: time.Minute}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		ev, err := shadow.NewEvaluator(cfg, benchStrategies())
		if err != nil {
			b.Fatal(err)
		}
		for i, v := range vals {
			ts := start.Unix() + int64(i)*60
			if i%60 == 0 {
				if err := ev.ObservePrice(ts, 1+float64((ts/3600)%24/12)); err != nil {
					b.Fatal(err)
				}
			}
			if err := ev.Observe(ts, v); err != nil {
				b.Fatal(err)
			}
		}
		n += len(vals)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/sample")
}

// BenchmarkEvaluatorMemory reports the heap an evaluator with four
// strategies and the default windows (1h, 1d, 7d at 1-minute resolution)
// holds after a day of samples.
func BenchmarkEvaluatorMemory(b *testing.B) {
	start := time.Unix(1_800_000_000, 0)
	vals := loadgen.Default(100, 1).Samples(start, start.Add(24*time.Hour), time.Minute)
	cfg := shadow.Config{Capacity: 10, HPA: hpa.Config{MaxReplicas: 1000}, Step: time.Minute}
	var perEval float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ev, err := shadow.NewEvaluator(cfg, benchStrategies())
		if err != nil {
			b.Fatal(err)
		}
		for i, v := range vals {
			if err := ev.Observe(start.Unix()+int64(i)*60, v); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEval = float64(after.HeapAlloc) - float64(before.HeapAlloc)
		runtime.KeepAlive(ev)
	}
	b.ReportMetric(perEval/1024, "KiB/evaluator")
}
