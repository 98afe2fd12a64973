package forecast

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/trace"
)

// series is a generated or loaded series: timestamps and values.
type series struct {
	ts   []int64
	vals []float64
	step time.Duration
}

// generateStart is the timestamp of generate's first step: not a multiple of
// an hour, so refits do not fall on the series' first step.
const generateStart = 1_700_000_000

// generate builds n steps of f(i) at the given step, starting at generateStart.
func generate(n int, step time.Duration, f func(i int) float64) series {
	s := series{ts: make([]int64, n), vals: make([]float64, n), step: step}
	for i := range n {
		s.ts[i] = generateStart + int64(i)*int64(step/time.Second)
		s.vals[i] = f(i)
	}
	return s
}

// sinusoid is a daily sine around a positive level.
func sinusoid(step time.Duration, level, amp float64) func(i int) float64 {
	period := float64(24 * time.Hour / step)
	return func(i int) float64 { return level + amp*math.Sin(2*math.Pi*float64(i)/period) }
}

// noisyDaily is days of a daily sine (200 ± 80) at one minute with
// Gaussian noise of the given deviation, clipped at zero, seeded.
func noisyDaily(days int, sd float64, seed uint64) series {
	step := time.Minute
	day := int(24 * time.Hour / step)
	rng := newRand(seed)
	return generate(days*day, step, func(i int) float64 {
		return max(0, 200+80*math.Sin(2*math.Pi*float64(i%day)/float64(day))+sd*rng.NormFloat64())
	})
}

// replay feeds s through a new forecaster and returns every Serve result.
func replay(t testing.TB, st Settings, s series) []Forecast {
	t.Helper()
	f, err := NewForecaster(st)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Forecast, len(s.ts))
	for i := range s.ts {
		if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatalf("observe row %d: %v", i, err)
		}
		out[i] = f.Serve()
	}
	return out
}

// loadTrace reads the real load trace name (without .csv) from the
// repository's testdata/traces.
func loadTrace(t testing.TB, name string) series {
	t.Helper()
	rows, err := trace.ReadFile(filepath.Join("..", "..", "testdata", "traces", name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	step, err := trace.InferStep(rows)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s := series{ts: make([]int64, len(rows)), vals: make([]float64, len(rows)), step: step}
	for i, r := range rows {
		s.ts[i], s.vals[i] = r.TS, r.Value
	}
	return s
}

// dense lays s out on its step grid with an observed mask.
func (s series) dense() ([]float64, []bool) {
	stepSec := int64(s.step / time.Second)
	n := int((s.ts[len(s.ts)-1]-s.ts[0])/stepSec) + 1
	y := make([]float64, n)
	obs := make([]bool, n)
	for i, ts := range s.ts {
		k := int((ts - s.ts[0]) / stepSec)
		y[k], obs[k] = s.vals[i], true
	}
	return y, obs
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
