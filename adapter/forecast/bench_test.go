package forecast

import (
	"math"
	"runtime"
	"testing"
	"time"
)

// diurnal is a generated one-minute load: a daily cycle with a weekday
// pattern, noise and occasional bursts (deterministic).
func diurnal(n int) series {
	rng := newRand(99)
	burst := 0
	return generate(n, time.Minute, func(i int) float64 {
		day := float64(i%1440) / 1440
		v := 100 + 60*math.Sin(2*math.Pi*(day-0.3)) + 20*math.Sin(4*math.Pi*day)
		if (i/1440)%7 >= 5 {
			v *= 0.6
		}
		if burst == 0 && rng.Float64() < 0.002 {
			burst = 10 + rng.IntN(20)
		}
		if burst > 0 {
			burst--
			v *= 1.5
		}
		return math.Max(0, v+5*rng.NormFloat64())
	})
}

// BenchmarkFitChoose14Days: detecting seasons, fitting every candidate and
// choosing by rolling-origin backtest for 14 days of one-minute history.
func BenchmarkFitChoose14Days(b *testing.B) { benchFitChoose14Days(b, "crane-input1", SpikeFilterAuto) }

// BenchmarkFitChoose14DaysWeekly is the same on a series with daily and
// weekly seasons detected, where the profile is weekday-aware.
func BenchmarkFitChoose14DaysWeekly(b *testing.B) {
	benchFitChoose14Days(b, "nasa-http-1995", SpikeFilterAuto)
}

// BenchmarkFitChoose14DaysSpikesFiltered is the first with the spike filter
// on: the fit reads the median of three.
func BenchmarkFitChoose14DaysSpikesFiltered(b *testing.B) {
	benchFitChoose14Days(b, "crane-input1", SpikeFilterOn)
}

// benchFitChoose14Days measures a refit as the forecaster runs it: the
// spike filter's choice (auto: the window's excursion persistence), then
// fit and choose.
func benchFitChoose14Days(b *testing.B, trace string, filter SpikeFilter) {
	s := loadTrace(b, trace)
	y, obs := s.dense()
	n := 14 * 1440
	y, obs = y[len(y)-n:], obs[len(obs)-n:]
	st := Settings{Step: time.Minute, FilterSpikes: filter}
	st.SetDefaults()
	f, err := NewForecaster(st)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p := excursionPersistence(y, obs, st.Step)
		c := refit(y, obs, st, n, -1, f.readsMedian(y, obs, p), p)
		if c.pred == nil {
			b.Fatal("no model")
		}
	}
}

func benchReplay(b *testing.B, s series) {
	st := Settings{Step: s.step}
	var f *Forecaster
	for b.Loop() {
		var err error
		if f, err = NewForecaster(st); err != nil {
			b.Fatal(err)
		}
		for i := range s.ts {
			if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
				b.Fatal(err)
			}
			_ = f.Serve()
		}
	}
	b.ReportMetric(float64(len(s.ts)), "steps")
	b.ReportMetric(float64(f.StateBytes()), "bytes/series")
}

// BenchmarkReplay16DaysOneMinute: a whole 16-day one-minute trace, Observe
// and Serve every step, refits on schedule.
func BenchmarkReplay16DaysOneMinute(b *testing.B) { benchReplay(b, loadTrace(b, "crane-input1")) }

// BenchmarkReplay15DaysFifteenSeconds: the 15-second trace (about 90,000 steps).
func BenchmarkReplay15DaysFifteenSeconds(b *testing.B) {
	benchReplay(b, loadTrace(b, "crane-input15"))
}

// BenchmarkObserveServe: one step between refits, for each model.
func BenchmarkObserveServe(b *testing.B) {
	s := diurnal(20 * 1440)
	for _, m := range []Model{ModelAuto, ModelSeasonalNaive, ModelHoltWinters, ModelARIMA, ModelLinear, ModelFourier, ModelProfile, ModelProphet} {
		b.Run(string(m), func(b *testing.B) {
			st := Settings{Step: time.Minute, Model: m, RefitInterval: 14 * 24 * time.Hour}
			f, err := NewForecaster(st)
			if err != nil {
				b.Fatal(err)
			}
			warm := 3 * 1440
			for i := 0; i < warm; i++ {
				if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
					b.Fatal(err)
				}
			}
			i := warm
			b.ReportAllocs()
			for b.Loop() {
				// Past the generated series, repeat its values at later times.
				if err := f.Observe(s.ts[0]+int64(i)*60, s.vals[i%len(s.vals)]); err != nil {
					b.Fatal(err)
				}
				_ = f.Serve()
				i++
			}
			b.ReportMetric(float64(f.StateBytes()), "bytes/series")
		})
	}
}

// BenchmarkMemory1000Series: heap of 1,000 forecasters holding 14 days of
// one-minute history each (plus one fitted model's state, measured by
// StateBytes, which the history dominates).
func BenchmarkMemory1000Series(b *testing.B) {
	const series = 1000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fs := make([]*Forecaster, series)
		for j := range fs {
			f, err := NewForecaster(Settings{Step: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			for k := 0; k < 14*1440; k++ {
				f.hist.push(float64(k), true)
			}
			fs[j] = f
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/1000series")
		runtime.KeepAlive(fs)
	}
}
