package forecast

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// idleWithBursts is days at one minute of idle load (0.02, ±10%) with
// bursts of 10-200 times that, lasting 1-4 minutes, that start at random
// in 5% of the minutes of hours 8-20 of each day (counted from the series'
// start) and 0.5% of the others, seeded.
func idleWithBursts(days int, seed uint64) series {
	rng := newRand(seed)
	left, height := 0, 0.0
	return generate(days*1440, time.Minute, func(i int) float64 {
		v := 0.02 * (0.9 + 0.2*rng.Float64())
		p := 0.005
		if m := i % 1440; m >= 8*60 && m < 20*60 {
			p = 0.05
		}
		if left == 0 && rng.Float64() < p {
			left, height = 1+rng.IntN(4), 0.02*(10+190*rng.Float64())
		}
		if left > 0 {
			left--
			v += height
		}
		return v
	})
}

// servedOverPeak is the mean of the values served from step from on over
// the mean highest actual of the h steps after each.
func servedOverPeak(s series, served []float64, from, h int) float64 {
	var sv, pk float64
	for i := from; i+h < len(s.vals); i++ {
		peak := math.Inf(-1)
		for k := 1; k <= h; k++ {
			peak = max(peak, s.vals[i+k])
		}
		sv += served[i]
		pk += peak
	}
	return sv / pk
}

// TestServedScaleIsBoundedWhereEveryModelServesFarAboveThePeaks: on idle
// load with short random bursts, the upper quantile of the coming peak is
// the bursts' level through the busy hours, for every model. The served
// value's scale is then bounded: its mean stays near maxServedRatio times
// the mean actual peak (the reactive floor lifts it a little above), where
// unbounded it is far above.
func TestServedScaleIsBoundedWhereEveryModelServesFarAboveThePeaks(t *testing.T) {
	s := idleWithBursts(7, 1)
	f, err := NewForecaster(Settings{Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// served is what is served; unbounded the same with the upper forecast
	// divided back by the factor.
	served, unbounded := make([]float64, len(s.ts)), make([]float64, len(s.ts))
	bounded := 0
	for i := range s.ts {
		if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
		fc := f.Serve()
		served[i], unbounded[i] = fc.Value, fc.Value
		if f.pred != nil && f.calib < 1 && !fc.Fallback {
			unbounded[i] = floored(fc.Upper/f.calib, fc.Observed, f.floor)
			if want := fmt.Sprintf("scaled by %.2f", f.calib); !strings.Contains(fc.Reason, want) {
				t.Fatalf("step %d: the reason does not say %q: %q", i, want, fc.Reason)
			}
			if i >= 4*1440 {
				bounded++
			}
		}
	}
	h := f.Settings().HorizonSteps()
	if bounded < 2*1440 {
		t.Fatalf("the scale was bounded on %d of the last 3 days' %d steps, want most", bounded, 3*1440)
	}
	if r := servedOverPeak(s, served, 4*1440, h); r > 1.1*maxServedRatio {
		t.Errorf("over the last 3 days the served value averages %.2f times the coming peak, want at most about %.1f", r, maxServedRatio)
	}
	if r := servedOverPeak(s, unbounded, 4*1440, h); !(r > 1.3*maxServedRatio) {
		t.Errorf("unbounded, the served value averages %.2f times the coming peak: the series does not test the bound", r)
	}
}

// TestServedScaleIsLeftAloneOnNoisyPeriodicLoad: where the models serve
// near the peaks they forecast, the served value is not scaled.
func TestServedScaleIsLeftAloneOnNoisyPeriodicLoad(t *testing.T) {
	s := noisyDaily(5, 30, 2)
	f, err := NewForecaster(Settings{Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.ts {
		if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
		if f.pred != nil && f.calib != 1 {
			t.Fatalf("step %d: scale factor %v on noisy periodic load, want 1", i, f.calib)
		}
	}
}

// TestQueueArrivalsKeepTheirScale: a queue's arrival forecast is not
// scaled (Settings.ForQueueArrivals): its rate decides when workers wake
// up, and no HPA target divides it.
func TestQueueArrivalsKeepTheirScale(t *testing.T) {
	s := idleWithBursts(6, 1)
	f, err := NewForecaster(Settings{Step: time.Minute}.ForQueueArrivals())
	if err != nil {
		t.Fatal(err)
	}
	fitted := false
	for i := range s.ts {
		if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
		if f.pred == nil {
			continue
		}
		fitted = true
		if f.calib != 1 {
			t.Fatalf("step %d: queue arrivals scaled by %v, want 1", i, f.calib)
		}
	}
	if !fitted {
		t.Fatal("no fit on six days")
	}
}
