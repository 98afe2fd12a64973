package cost

import (
	"fmt"
	"math"
	"time"
)

// PriceState says where a price ratio came from.
type PriceState string

// Price states.
const (
	// PriceFresh: a price was observed at the asked time.
	PriceFresh PriceState = "fresh"
	// PriceHeld: no price now; the last known price, younger than the hold limit, is used.
	PriceHeld PriceState = "held"
	// PriceMissing: no usable price; the metric falls back to cost-blind weighting.
	PriceMissing PriceState = "missing"
)

// Tracker follows the hourly price of one workload's replica over time. It
// holds the last known price for a limited time when prices go missing, and
// keeps the lowest price of a sliding window, which serves as the reference
// price when none is configured. It is not safe for concurrent use.
//
// With the lowest recent price as reference, r >= 1: a workload runs at u0
// when its capacity is as cheap as it has been lately and hotter (up to
// umax) when it is dearer, so cost weighting never asks for more replicas
// than cost-blind scaling at u0. (A mean reference would also run cooler
// than u0 in cheap hours; at equal safety that shift saves only a few
// percent, see BENCHMARKS.md.)
type Tracker struct {
	hold   time.Duration
	window time.Duration

	last   float64
	lastTS int64
	seen   bool
	// lows holds the candidates for the window's minimum: prices increasing
	// from front to back, each with the time it was last observed.
	lows []pricePoint
}

type pricePoint struct {
	ts    int64
	price float64
}

// NewTracker returns a tracker that holds a missing price for at most hold and
// takes the reference price as the lowest price observed over the last
// window (for example a week, so that it spans every daily low).
func NewTracker(hold, window time.Duration) *Tracker {
	return &Tracker{hold: hold, window: window}
}

// Observe records the replica price at Unix-second ts. Prices must be finite
// and non-negative, and timestamps must not go back.
func (t *Tracker) Observe(ts int64, price float64) error {
	if math.IsNaN(price) || math.IsInf(price, 0) || price < 0 {
		return fmt.Errorf("cost: invalid price %v at ts %d", price, ts)
	}
	if t.seen && ts < t.lastTS {
		return fmt.Errorf("cost: price at ts %d is before the last one at %d", ts, t.lastTS)
	}
	// A price at least as high as a newer one can never be the minimum again.
	for len(t.lows) > 0 && t.lows[len(t.lows)-1].price >= price {
		t.lows = t.lows[:len(t.lows)-1]
	}
	t.lows = append(t.lows, pricePoint{ts, price})
	// Forget lows older than the window, keeping at least the newest price.
	cut := 0
	for cut < len(t.lows)-1 && time.Duration(ts-t.lows[cut].ts)*time.Second > t.window {
		cut++
	}
	t.lows = t.lows[cut:]
	t.last, t.lastTS, t.seen = price, ts, true
	return nil
}

// Price returns the price to use at ts and its state.
func (t *Tracker) Price(ts int64) (float64, PriceState) {
	switch {
	case !t.seen:
		return 0, PriceMissing
	case ts == t.lastTS:
		return t.last, PriceFresh
	case time.Duration(ts-t.lastTS)*time.Second <= t.hold:
		return t.last, PriceHeld
	default:
		return 0, PriceMissing
	}
}

// Reference returns the lowest price observed in the last window (zero
// before any observation).
func (t *Tracker) Reference() float64 {
	if len(t.lows) == 0 {
		return 0
	}
	return t.lows[0].price
}

// Ratio returns r, the price at ts over the reference (the configured one when
// positive, else the lowest price of the window), and the price's state. When the price is
// missing the ratio is 0, which Params.Weigh treats as cost-blind.
func (t *Tracker) Ratio(ts int64, reference float64) (float64, PriceState) {
	price, state := t.Price(ts)
	if state == PriceMissing {
		return 0, state
	}
	if reference <= 0 {
		reference = t.Reference()
	}
	if reference <= 0 {
		return 0, PriceMissing
	}
	return price / reference, state
}
