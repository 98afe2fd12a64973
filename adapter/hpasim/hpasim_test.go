package hpasim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
)

func mustClock(t *testing.T, step time.Duration, h hpa.Config) Clock {
	t.Helper()
	h.SetDefaults()
	c, err := NewClock(step, h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClockTicks: one-minute samples, 15 s sync, 120 s start-up: 15 s ticks
// from the first sample; a sample completes the ticks that end at or before
// it; each tick carries the load of the sample covering it (none across the
// gap) and sees the latest sample at or before its start; the HPA syncs on
// every tick (15 s).
func TestClockTicks(t *testing.T) {
	c := mustClock(t, time.Minute, hpa.Config{MaxReplicas: 10, StartupDelay: 120 * time.Second})
	if c.TickSeconds() != 15 {
		t.Fatalf("tick %ds, want 15", c.TickSeconds())
	}
	var ticks []Tick
	if ticks = c.Advance(1000, 1, ticks[:0]); len(ticks) != 0 || c.Start() != 1000 {
		t.Fatalf("first sample: %v ticks, start %d", ticks, c.Start())
	}
	ticks = c.Advance(1060, 2, ticks[:0])
	if len(ticks) != 4 {
		t.Fatalf("second sample completed %d ticks, want 4", len(ticks))
	}
	for i, tk := range ticks {
		if tk.K != int64(i) || tk.T != 1000+15*int64(i) || tk.Load != 2 || tk.Visible != 0 || !tk.Sync {
			t.Errorf("tick %d: %+v", i, tk)
		}
	}
	// A gap: the sample at 1240 covers (1180, 1240] only.
	ticks = c.Advance(1240, 3, ticks[:0])
	if len(ticks) != 12 {
		t.Fatalf("after the gap: %d ticks, want 12", len(ticks))
	}
	for _, tk := range ticks {
		gap := tk.T < 1180
		if gap != math.IsNaN(tk.Load) || (!gap && tk.Load != 3) {
			t.Errorf("tick at %d: load %v (gap %v)", tk.T, tk.Load, gap)
		}
		if tk.Visible != 1 {
			t.Errorf("tick at %d sees sample %d, want 1", tk.T, tk.Visible)
		}
	}
	if c.End() != 1240 || c.Last() != 1240 {
		t.Errorf("end %d, last %d; want 1240", c.End(), c.Last())
	}
}

// TestClockVisibleWithCloseSamples: with samples closer than a tick, a tick
// sees the latest of them at or before its start.
func TestClockVisibleWithCloseSamples(t *testing.T) {
	c := mustClock(t, time.Minute, hpa.Config{MaxReplicas: 10, SyncPeriod: time.Minute})
	var ticks []Tick
	for _, ts := range []int64{0, 10, 20, 130} {
		ticks = c.Advance(ts, 1, ticks)
	}
	// Ticks of 60 s at 0 and 60: tick 0 sees sample 0 (ts 0), tick 1 sample 2 (ts 20).
	if len(ticks) != 2 || ticks[0].Visible != 0 || ticks[1].Visible != 2 {
		t.Fatalf("ticks %+v", ticks)
	}
}

func TestClockSyncEvery(t *testing.T) {
	c := mustClock(t, 15*time.Second, hpa.Config{MaxReplicas: 10, SyncPeriod: time.Minute})
	var ticks []Tick
	for ts := int64(0); ts <= 300; ts += 15 {
		ticks = c.Advance(ts, 1, ticks)
	}
	for _, tk := range ticks {
		if tk.Sync != (tk.T%60 == 0) {
			t.Errorf("tick at %d: sync %v", tk.T, tk.Sync)
		}
	}
}

func TestNewClockRejects(t *testing.T) {
	h := hpa.Config{MaxReplicas: 10}
	h.SetDefaults()
	for _, step := range []time.Duration{0, -time.Second, 1500 * time.Millisecond} {
		if _, err := NewClock(step, h); err == nil || !strings.Contains(err.Error(), "step") {
			t.Errorf("step %v: error %v", step, err)
		}
	}
	h.SyncPeriod = 0
	if _, err := NewClock(time.Minute, h); err == nil || !strings.Contains(err.Error(), "sync period") {
		t.Errorf("sync period 0: error %v", err)
	}
}

// TestScaler: the HPA starts with the replicas the first load needs, scales
// on sync ticks only, new pods serve after the start-up delay, and a
// non-finite visible value is an error naming the tick.
func TestScaler(t *testing.T) {
	cfg := hpa.Config{Target: 1, MaxReplicas: 100, StartupDelay: 30 * time.Second}
	cfg.SetDefaults()
	s := NewScaler(cfg)
	if s.Total() != 0 || s.Ready(0) != 0 {
		t.Fatal("pods before the first step")
	}
	if rescaled, err := s.Step(0, Tick{T: 0, Sync: false}, 9, 4.2); err != nil || rescaled {
		t.Fatalf("first step: %v, %v", rescaled, err)
	}
	if s.Total() != 5 || s.Ready(0) != 5 {
		t.Fatalf("initial pods %d (%d ready), want ceil(4.2) = 5", s.Total(), s.Ready(0))
	}
	rescaled, err := s.Step(0, Tick{K: 1, T: 15, Sync: true}, 8, 0)
	if err != nil || !rescaled || s.Total() != 8 {
		t.Fatalf("sync at 8: rescaled %v, %d pods, %v", rescaled, s.Total(), err)
	}
	if s.Ready(15) != 5 || s.Ready(44) != 5 || s.Ready(45) != 8 {
		t.Errorf("ready at 15/44/45: %d/%d/%d, want 5/5/8", s.Ready(15), s.Ready(44), s.Ready(45))
	}
	if _, err := s.Step(0, Tick{K: 2, T: 30, Sync: true}, math.NaN(), 0); err == nil || !strings.Contains(err.Error(), "at ts 30") {
		t.Errorf("NaN visible: %v", err)
	}
}
