package forecast

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// series is a generated or loaded series: timestamps and values.
type series struct {
	ts   []int64
	vals []float64
	step time.Duration
}

// generate builds n steps of f(i) at the given step, starting at a fixed epoch.
func generate(n int, step time.Duration, f func(i int) float64) series {
	s := series{ts: make([]int64, n), vals: make([]float64, n), step: step}
	for i := range n {
		s.ts[i] = 1_700_000_000 + int64(i)*int64(step/time.Second)
		s.vals[i] = f(i)
	}
	return s
}

// sinusoid is a daily sine around a positive level.
func sinusoid(step time.Duration, level, amp float64) func(i int) float64 {
	period := float64(24 * time.Hour / step)
	return func(i int) float64 { return level + amp*math.Sin(2*math.Pi*float64(i)/period) }
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

// traceDir is <project root>/../shared/traces, or "" when absent.
func traceDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "traces")
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}

// loadTrace reads a trace CSV (ts,value with a header) from the shared
// traces, skipping the test when the folder is absent.
func loadTrace(t testing.TB, name string) series {
	t.Helper()
	d := traceDir(t)
	if d == "" {
		t.Skip("../shared/traces not found next to the project root: skipping real-trace test")
	}
	fh, err := os.Open(filepath.Join(d, name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var s series
	sc := bufio.NewScanner(fh)
	line := 0
	for sc.Scan() {
		line++
		a, b, ok := strings.Cut(sc.Text(), ",")
		if !ok {
			t.Fatalf("%s line %d: no comma", name, line)
		}
		ts, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			if line == 1 {
				continue // header
			}
			t.Fatalf("%s line %d: %v", name, line, err)
		}
		v, err := strconv.ParseFloat(b, 64)
		if err != nil {
			t.Fatalf("%s line %d: %v", name, line, err)
		}
		s.ts = append(s.ts, ts)
		s.vals = append(s.vals, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	s.step = time.Duration(s.ts[1]-s.ts[0]) * time.Second
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
