package serving

import (
	"testing"
	"time"
)

// TestUntilGridPoint: wall-clock cycles fall on step boundaries since the
// Unix epoch plus the settle delay, whatever time a replica started at.
func TestUntilGridPoint(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		now          string
		step, settle time.Duration
		want         time.Duration
	}{
		{"2026-12-03T04:33:40Z", time.Minute, 15 * time.Second, 35 * time.Second},
		{"2026-12-03T04:33:10Z", time.Minute, 15 * time.Second, 5 * time.Second},
		{"2026-12-03T04:33:15Z", time.Minute, 15 * time.Second, time.Minute}, // exactly on one: the next
		{"2026-12-03T04:33:15.5Z", time.Minute, 15 * time.Second, 59500 * time.Millisecond},
		{"2026-12-03T04:33:01Z", 2 * time.Second, 500 * time.Millisecond, 1500 * time.Millisecond},
		{"2026-12-03T04:33:00Z", 7 * time.Second, 0, 7*time.Second - time.Duration(at("2026-12-03T04:33:00Z").Unix()%7)*time.Second},
	} {
		got := untilGridPoint(at(c.now), c.step, c.settle)
		if got != c.want {
			t.Errorf("untilGridPoint(%s, %s, %s) = %s, want %s", c.now, c.step, c.settle, got, c.want)
		}
		if next := at(c.now).Add(got).Add(-c.settle); next.UnixNano()%int64(c.step) != 0 {
			t.Errorf("untilGridPoint(%s, %s, %s) lands at %s, not on the grid", c.now, c.step, c.settle, next)
		}
	}
}

// TestWallClockLoopsReadOnlySettledPoints: on the wall clock a cycle reads
// grid points at least the settle delay old, and a fixed Interval (tests,
// accelerated clocks) reads up to now.
func TestWallClockLoopsReadOnlySettledPoints(t *testing.T) {
	wall := &Loop{}
	if got := wall.settle(time.Minute); got != 15*time.Second {
		t.Errorf("settle of a 1m step on the wall clock: %s, want 15s", got)
	}
	if got := wall.settle(2 * time.Second); got != 500*time.Millisecond {
		t.Errorf("settle of a 2s step on the wall clock: %s, want 500ms", got)
	}
	if got := wall.settle(time.Hour); got != 15*time.Second {
		t.Errorf("settle of a 1h step on the wall clock: %s, want at most 15s", got)
	}
	fixed := &Loop{interval: 10 * time.Millisecond}
	if got := fixed.settle(time.Minute); got != 0 {
		t.Errorf("settle with a fixed interval: %s, want 0", got)
	}
	if got := fixed.untilNextCycle(time.Minute); got != 10*time.Millisecond {
		t.Errorf("next cycle with a fixed interval: %s, want 10ms", got)
	}
}
