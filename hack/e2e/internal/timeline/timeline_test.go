package timeline

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2021, 10, 20, 23, 0, 0, 0, time.UTC)

// rampLoad is 50 until 10m, rises by 100 per minute to 550 at 15m, then falls back.
func rampLoad(t time.Time) (float64, bool) {
	m := t.Sub(t0).Minutes()
	switch {
	case m < 10:
		return 50, true
	case m <= 15:
		return 50 + 100*(m-10), true
	case m <= 20:
		return 550 - 100*(m-15), true
	default:
		return 50, true
	}
}

// record returns one point per minute with the replica counts given by fn.
func record(fn func(m float64) (pred, react int32)) []Point {
	var ps []Point
	for m := 0; m <= 40; m++ {
		p, r := fn(float64(m))
		ps = append(ps, Point{Data: t0.Add(time.Duration(m) * time.Minute), Predictive: p, Reactive: r})
	}
	return ps
}

var opts = RampOptions{Target: 50, Tolerance: 0.1, Window: 10 * time.Minute, MinRise: 3, Step: time.Minute}

func TestRampsMeasuresLead(t *testing.T) {
	// Predictive reaches 10 replicas at minute 12, reactive at minute 16.
	ps := record(func(m float64) (int32, int32) {
		p, r := int32(1), int32(1)
		if m >= 12 && m <= 22 {
			p = 10
		}
		if m >= 16 && m <= 25 {
			r = 10
		}
		return p, r
	})
	rs := Ramps(rampLoad, ps, opts, t0, t0.Add(40*time.Minute))
	if len(rs) != 1 {
		t.Fatalf("want 1 ramp, got %d: %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Required != 10 { // ceil(550 / 55)
		t.Errorf("Required = %d, want 10", r.Required)
	}
	if !r.Peak.Equal(t0.Add(15 * time.Minute)) {
		t.Errorf("Peak = %v, want minute 15", r.Peak)
	}
	lead, ok := r.Lead()
	if !ok || lead != 4*time.Minute {
		t.Errorf("Lead = %v, %v; want 4m, true", lead, ok)
	}
	ahead, ok := r.AheadOfPeak()
	if !ok || ahead != 3*time.Minute {
		t.Errorf("AheadOfPeak = %v, %v; want 3m, true", ahead, ok)
	}
}

func TestRampsReportsLaggingPredictive(t *testing.T) {
	// The "predictive" HPA is the slower one here: the lead must come out negative.
	ps := record(func(m float64) (int32, int32) {
		p, r := int32(1), int32(1)
		if m >= 18 {
			p = 10
		}
		if m >= 15 {
			r = 10
		}
		return p, r
	})
	rs := Ramps(rampLoad, ps, opts, t0, t0.Add(40*time.Minute))
	if len(rs) != 1 {
		t.Fatalf("want 1 ramp, got %d", len(rs))
	}
	if lead, ok := rs[0].Lead(); !ok || lead != -3*time.Minute {
		t.Errorf("Lead = %v, %v; want -3m, true", lead, ok)
	}
	if ahead, _ := rs[0].AheadOfPeak(); ahead >= 0 {
		t.Errorf("AheadOfPeak = %v, want negative", ahead)
	}
}

func TestRampsSkipsRampsAlreadyCovered(t *testing.T) {
	// Both HPAs hold 12 replicas throughout: the ramp separates nothing.
	ps := record(func(float64) (int32, int32) { return 12, 12 })
	if rs := Ramps(rampLoad, ps, opts, t0, t0.Add(40*time.Minute)); len(rs) != 0 {
		t.Fatalf("want no ramp, got %+v", rs)
	}
}

func TestRampsNeverReached(t *testing.T) {
	ps := record(func(float64) (int32, int32) { return 1, 1 })
	rs := Ramps(rampLoad, ps, opts, t0, t0.Add(40*time.Minute))
	if len(rs) != 1 {
		t.Fatalf("want 1 ramp, got %d", len(rs))
	}
	if _, ok := rs[0].Lead(); ok {
		t.Error("Lead ok = true, want false when neither HPA reached the peak's replicas")
	}
}

func TestPrintMarksErrors(t *testing.T) {
	var b bytes.Buffer
	nan := func() float64 { var z float64; return z / z }()
	Print(&b, []Point{{Wall: time.Second, Data: t0, Load: 5, PredictedValue: nan, ReactiveValue: 4, Predictive: 2, Reactive: 1, Note: "prometheus stopped"}}, time.Second)
	out := b.String()
	for _, want := range []string{"error", "prometheus stopped", "10-20 23:00:00"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
