package forecast

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestFlooredLiftsByTheShareOfTheExcess(t *testing.T) {
	for _, c := range []struct{ u, v, share, want float64 }{
		{10, 20, 1, 20},      // the whole floor: the latest value
		{0.1, 0.3, 1, 0.3},   // exactly max(u, v), not u + (v - u)
		{10, 20, 0.5, 15},    // half the excess
		{10, 20, 0, 10},      // none of it
		{20, 10, 0.5, 20},    // no excess: the forecast
		{20, 20, 0.3, 20},    // equal
		{-5, 3, 0.25, -3},    // from a negative forecast
		{10, 20, 1.5, 20},    // more than the whole: the whole
		{10, 20, 0.35, 13.5}, // a persistence
	} {
		if got := floored(c.u, c.v, c.share); math.Abs(got-c.want) > 1e-12 || (c.share >= 1 && got != math.Max(c.u, c.v)) {
			t.Errorf("floored(%v, %v, %v) = %v, want %v", c.u, c.v, c.share, got, c.want)
		}
	}
}

func TestFloorSharesFollowThePersistenceOfExcursions(t *testing.T) {
	for _, c := range []struct {
		persistence float64
		median      bool
		want        []float64
	}{
		{1.5, false, []float64{1}},        // a trend: the latest value predicts the next steps
		{1, false, []float64{1}},          // excursions that last
		{0.35, false, []float64{1, 0.35}}, // independent noise: a third of an excursion is left a step later
		{0.35, true, []float64{1}},        // read through the median of three: its floor is that median
		{-0.2, false, []float64{1, 0}},    // excursions that reverse: none of them
		{math.NaN(), false, []float64{1}}, // not measured
	} {
		if got := floorShares(c.persistence, c.median); !slices.Equal(got, c.want) {
			t.Errorf("floorShares(%v, median %v) = %v, want %v", c.persistence, c.median, got, c.want)
		}
	}
}

// TestServedValueTakesTheChosenFloor: on a daily sine with independent
// noise, whose excursions fade (a third of one is left a step later), model
// choice serves a part of the latest value's excess over the forecast, and
// Serve floors with exactly that share; on the noise-free sine, whose
// excursions last, the whole reactive floor.
func TestServedValueTakesTheChosenFloor(t *testing.T) {
	step := time.Minute
	day := int(24 * time.Hour / step)
	for _, c := range []struct {
		name    string
		s       series
		partial bool
	}{
		{"independent noise", noisyDaily(4, 20, 1), true},
		{"noise-free", generate(4*day, step, sinusoid(step, 200, 80)), false},
	} {
		f, err := NewForecaster(Settings{Step: step, WarmUp: 2 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		served, lifted := 0, 0
		floor := math.NaN()
		for i := range c.s.ts {
			if err := f.Observe(c.s.ts[i], c.s.vals[i]); err != nil {
				t.Fatal(err)
			}
			out := f.Serve()
			if out.Fallback {
				continue
			}
			served++
			for _, sc := range f.Scores() {
				if sc.Model == out.Model {
					floor = sc.Floor
				}
			}
			if want := floored(out.Upper, out.Observed, floor); out.Value != want {
				t.Fatalf("%s: row %d served %v, want %v: Upper %v, Observed %v, floor share %v", c.name, i, out.Value, want, out.Upper, out.Observed, floor)
			}
			if out.Observed > out.Upper && out.Value < out.Observed {
				lifted++
			}
		}
		if served == 0 {
			t.Fatalf("%s: no model was served", c.name)
		}
		switch {
		case c.partial && !(floor > 0.2 && floor < 0.5):
			t.Errorf("%s: floor share %v at the end, want the persistence of independent noise (0.27-0.36)", c.name, floor)
		case c.partial && lifted == 0:
			t.Errorf("%s: the served value never stayed below a latest value above the forecast", c.name)
		case !c.partial && (floor != 1 || lifted != 0):
			t.Errorf("%s: floor share %v, %d rows below the latest value, want the whole floor", c.name, floor, lifted)
		}
	}
}
