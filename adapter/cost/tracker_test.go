package cost

import (
	"math"
	"testing"
	"time"
)

func TestTrackerHoldsThenFallsBack(t *testing.T) {
	tr := NewTracker(10*time.Minute, 24*time.Hour)
	if _, st := tr.Ratio(0, 0); st != PriceMissing {
		t.Fatalf("state before any price = %s, want missing", st)
	}
	if err := tr.Observe(1000, 0.2); err != nil {
		t.Fatal(err)
	}
	if r, st := tr.Ratio(1000, 0.1); st != PriceFresh || r != 2 {
		t.Fatalf("fresh ratio = %v (%s), want 2 (fresh)", r, st)
	}
	if r, st := tr.Ratio(1000+600, 0.1); st != PriceHeld || r != 2 {
		t.Fatalf("ratio at the hold limit = %v (%s), want 2 (held)", r, st)
	}
	if r, st := tr.Ratio(1000+601, 0.1); st != PriceMissing || r != 0 {
		t.Fatalf("ratio past the hold limit = %v (%s), want 0 (missing)", r, st)
	}
	p := Params{Capacity: 10}
	p.SetDefaults()
	if got, blind := p.Weigh(70, 0, 0).Value, 70/(10*0.7); math.Abs(got-blind) > 1e-12 {
		t.Fatalf("missing price weighs %v, want cost-blind %v", got, blind)
	}
}

// dayNight is a replica price that doubles from 08:00 to 20:00 (UTC).
func dayNight(ts int64) float64 {
	if h := (ts / 3600) % 24; h >= 8 && h < 20 {
		return 2
	}
	return 1
}

func TestTrackerReferenceIsLowestPriceOfTheWindow(t *testing.T) {
	tr := NewTracker(time.Hour, 7*24*time.Hour)
	if tr.Reference() != 0 {
		t.Fatalf("reference before any price = %v, want 0", tr.Reference())
	}
	// Start by day: the reference is the day price until the first night.
	for ts := int64(9 * 3600); ts < 14*86400; ts += 300 {
		if err := tr.Observe(ts, dayNight(ts)); err != nil {
			t.Fatal(err)
		}
		want := 1.0
		if ts < 20*3600 {
			want = 2
		}
		if ref := tr.Reference(); ref != want {
			t.Fatalf("reference at %v = %v, want %v", time.Duration(ts)*time.Second, ref, want)
		}
		if r, st := tr.Ratio(ts, 0); st != PriceFresh || r != dayNight(ts)/want {
			t.Fatalf("ratio at %v = %v (%s), want %v", time.Duration(ts)*time.Second, r, st, dayNight(ts)/want)
		}
	}
	if len(tr.lows) > 2 {
		t.Errorf("tracker keeps %d candidate lows for a two-level price, want at most 2", len(tr.lows))
	}
	if err := tr.Observe(0, 1); err == nil {
		t.Fatal("a price from the past was accepted")
	}
	if err := tr.Observe(14*86400, math.Inf(1)); err == nil {
		t.Fatal("an infinite price was accepted")
	}
}

// A low leaves the reference once it is older than the window: after a week
// of a price rise, the reference is the new level.
func TestTrackerReferenceForgetsOldLows(t *testing.T) {
	tr := NewTracker(time.Hour, 24*time.Hour)
	for ts := int64(0); ts <= 3*86400; ts += 3600 {
		price := 1.0
		if ts >= 86400 {
			price = 3 + float64((ts/3600)%2) // 3 and 4 alternating after the first day
		}
		if err := tr.Observe(ts, price); err != nil {
			t.Fatal(err)
		}
		switch {
		case ts < 2*86400 && tr.Reference() != 1:
			t.Fatalf("reference at hour %d = %v, want the low of 1 still in the window", ts/3600, tr.Reference())
		case ts > 2*86400+3600 && tr.Reference() != 3:
			t.Fatalf("reference at hour %d = %v, want 3 once the low of 1 left the window", ts/3600, tr.Reference())
		}
	}
}
