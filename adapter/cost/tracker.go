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
// keeps a time-weighted running mean that serves as the reference price when
// none is configured. It is not safe for concurrent use.
//
// The mean treats the price as a step function (each price holds until the
// next observation) and forgets exponentially with time constant tau. It is
// bias-corrected: while less than tau of prices has been seen it is close to
// the plain time-weighted mean of what was seen, not pulled towards the first
// price, so a daily price cycle averages out after one day.
type Tracker struct {
	hold time.Duration
	tau  time.Duration

	last, mean  float64
	sum, weight float64 // exponentially weighted price-seconds and seconds
	lastTS      int64
	seen        bool
}

// NewTracker returns a tracker that holds a missing price for at most hold and
// averages prices with time constant tau (for example a week, so that a daily
// price cycle averages out).
func NewTracker(hold, tau time.Duration) *Tracker {
	return &Tracker{hold: hold, tau: tau}
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
	if !t.seen {
		t.mean = price
	} else if dt := float64(ts - t.lastTS); dt > 0 {
		// The last price held over (lastTS, ts].
		decay := math.Exp(-dt / t.tau.Seconds())
		t.sum = decay*t.sum + (1-decay)*t.last
		t.weight = decay*t.weight + (1 - decay)
		t.mean = t.sum / t.weight
	}
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

// Reference returns the running mean price: the first price until time has
// passed, then the bias-corrected time-weighted mean (zero before any observation).
func (t *Tracker) Reference() float64 { return t.mean }

// Ratio returns r, the price at ts over the reference (the configured one when
// positive, else the running mean), and the price's state. When the price is
// missing the ratio is 0, which Params.Weigh treats as cost-blind.
func (t *Tracker) Ratio(ts int64, reference float64) (float64, PriceState) {
	price, state := t.Price(ts)
	if state == PriceMissing {
		return 0, state
	}
	if reference <= 0 {
		reference = t.mean
	}
	if reference <= 0 {
		return 0, PriceMissing
	}
	return price / reference, state
}
