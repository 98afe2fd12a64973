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
	p := Params{Capacity: 10}.Defaults()
	if got, blind := p.Weigh(70, 0, 0).Value, 70/(10*0.7); math.Abs(got-blind) > 1e-12 {
		t.Fatalf("missing price weighs %v, want cost-blind %v", got, blind)
	}
}

func TestTrackerReferenceIsRunningMean(t *testing.T) {
	tr := NewTracker(time.Hour, 7*24*time.Hour)
	// Two weeks of a price that doubles from 08:00 to 20:00.
	for ts := int64(0); ts < 14*86400; ts += 300 {
		price := 1.0
		if h := (ts / 3600) % 24; h >= 8 && h < 20 {
			price = 2
		}
		if err := tr.Observe(ts, price); err != nil {
			t.Fatal(err)
		}
	}
	if ref := tr.Reference(); math.Abs(ref-1.5) > 0.1 {
		t.Fatalf("reference = %v, want about 1.5", ref)
	}
	if err := tr.Observe(0, 1); err == nil {
		t.Fatal("a price from the past was accepted")
	}
	if err := tr.Observe(14*86400, math.Inf(1)); err == nil {
		t.Fatal("an infinite price was accepted")
	}
}

// TestTrackerReferenceAfterOneDay: the mean is bias-corrected, so one day of
// a 1/2 day-night price already averages to about 1.5 with a week's time
// constant, instead of staying near the first price.
func TestTrackerReferenceAfterOneDay(t *testing.T) {
	tr := NewTracker(time.Hour, 7*24*time.Hour)
	for ts := int64(0); ts <= 86400; ts += 3600 {
		price := 1.0
		if h := (ts / 3600) % 24; h >= 8 && h < 20 {
			price = 2
		}
		if err := tr.Observe(ts, price); err != nil {
			t.Fatal(err)
		}
		if ts == 0 && tr.Reference() != 1 {
			t.Fatalf("reference after the first price = %v, want 1", tr.Reference())
		}
	}
	if ref := tr.Reference(); math.Abs(ref-1.5) > 0.02 {
		t.Fatalf("reference after one day = %v, want 1.5 within 0.02", ref)
	}
	// The day hours (08-20) are on average more recent than the night hours
	// (00-08 and 20-24), so recency weighting puts the mean slightly above 1.5.
	if ref := tr.Reference(); !(ref > 1.5) {
		t.Fatalf("reference %v is not weighted towards the recent day price", ref)
	}
}
