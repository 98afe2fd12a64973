// Package hpasim runs the project's HPA model (package hpa) along a sampled
// load series: the one simulation timeline of the backtest (adapter/backtest,
// a whole trace at once) and of the shadow evaluation (adapter/shadow, one
// live sample at a time).
//
// The timeline: ticks of equal length (the greatest common divisor of the
// sample step, the HPA sync period and the pod start-up delay) start at the
// first sample. Sample i carries the load of (TS-step, TS] and becomes
// visible to the HPA at TS. Tick k, starting at t, is complete once a sample
// at or after t+tick has arrived: it carries that sample's load if the
// sample's interval reaches back to t (else the tick is a gap), and the HPA
// sees the latest sample at or before t.
package hpasim

import (
	"fmt"
	"math"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
)

// Clock lays samples, fed in time order, on the simulation's ticks.
type Clock struct {
	step, tick, sync int64

	started bool
	start   int64
	last    int64   // the latest sample's timestamp
	next    int64   // index of the next tick to complete
	samples int64   // samples fed so far
	seen    []int64 // timestamps of the samples a later tick may still see, oldest first
	first   int64   // index of seen[0]
}

// Tick is one completed tick of the timeline.
type Tick struct {
	// K is the tick's index from the first sample on.
	K int64
	// T is the Unix second at which the tick starts.
	T int64
	// Load is the load the tick carries (the covering sample's value); NaN in a gap.
	Load float64
	// Sync reports whether the HPA syncs at the tick's start.
	Sync bool
	// Visible is the index (in feeding order, from 0) of the latest sample
	// at or before T: the one whose served value the HPA sees.
	Visible int64
}

// NewClock returns the clock of samples step apart simulated with the HPA h
// (its defaults set with hpa.Config.SetDefaults).
func NewClock(step time.Duration, h hpa.Config) (Clock, error) {
	s := int64(step / time.Second)
	if s <= 0 || step%time.Second != 0 {
		return Clock{}, fmt.Errorf("step %v must be a positive whole number of seconds", step)
	}
	sync := int64(h.SyncPeriod / time.Second)
	if sync <= 0 || h.SyncPeriod%time.Second != 0 {
		return Clock{}, fmt.Errorf("sync period %v must be a positive whole number of seconds", h.SyncPeriod)
	}
	tick := gcd(s, sync)
	if startup := int64(h.StartupDelay / time.Second); startup > 0 {
		tick = gcd(tick, startup)
	}
	return Clock{step: s, tick: tick, sync: sync}, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// TickSeconds is the length of a tick.
func (c *Clock) TickSeconds() int64 { return c.tick }

// Start is the Unix second of the first sample (the start of tick 0); zero
// before the first sample.
func (c *Clock) Start() int64 { return c.start }

// Started reports whether a sample was fed.
func (c *Clock) Started() bool { return c.started }

// Last is the Unix second of the latest sample fed.
func (c *Clock) Last() int64 { return c.last }

// End is the Unix second at which the last completed tick ends (Start
// before any tick is complete).
func (c *Clock) End() int64 { return c.start + c.next*c.tick }

// Advance feeds the sample at Unix second ts (after the previous one) with
// load v and appends to ticks the ticks it completes, in order. The first
// sample only starts the clock.
func (c *Clock) Advance(ts int64, v float64, ticks []Tick) []Tick {
	index := c.samples
	c.samples++
	c.last = ts
	if !c.started {
		c.started, c.start = true, ts
		c.seen, c.first = append(c.seen[:0], ts), index
		return ticks
	}
	syncEvery := c.sync / c.tick
	for {
		t := c.start + c.next*c.tick
		if t+c.tick > ts {
			break
		}
		drop := 0
		for drop+1 < len(c.seen) && c.seen[drop+1] <= t {
			drop++
		}
		if drop > 0 {
			// Shift in place: the storage is reused, not regrown, sample after sample.
			c.seen = c.seen[:copy(c.seen, c.seen[drop:])]
			c.first += int64(drop)
		}
		tk := Tick{K: c.next, T: t, Load: math.NaN(), Sync: c.next%syncEvery == 0, Visible: c.first}
		if ts-c.step <= t {
			tk.Load = v
		}
		ticks = append(ticks, tk)
		c.next++
	}
	c.seen = append(c.seen, ts)
	return ticks
}

// Scaler is one strategy's HPA and pods on the timeline. The zero Scaler
// is not usable: start from NewScaler.
type Scaler struct {
	cfg  hpa.Config
	ctrl *hpa.Controller
	pods *hpa.Pods
}

// NewScaler returns the scaler of the HPA cfg (its Target set, its defaults
// applied). Its controller and pods start at the first Step.
func NewScaler(cfg hpa.Config) Scaler { return Scaler{cfg: cfg} }

// Step simulates the tick tk of a timeline that starts at start. visible is
// the value the HPA sees at the tick's start, in the same unit as the
// target. At the first step the HPA starts with the replicas that first (the
// load of the first tick, or, in a gap, the first served value, in the
// target's unit) needs at the target, within the replica bounds, all ready
// at start. It reports whether the HPA rescaled.
func (s *Scaler) Step(start int64, tk Tick, visible, first float64) (rescaled bool, err error) {
	if s.ctrl == nil {
		initial := int32(min(max(math.Ceil(first/s.cfg.Target), float64(s.cfg.MinReplicas)), float64(s.cfg.MaxReplicas)))
		ctrl, err := hpa.NewController(s.cfg, initial)
		if err != nil {
			return false, err
		}
		s.ctrl = ctrl
		s.pods = hpa.NewPods(initial, s.cfg.StartupDelay, start)
	}
	if !tk.Sync {
		return false, nil
	}
	if math.IsNaN(visible) || math.IsInf(visible, 0) {
		return false, fmt.Errorf("served value %v at ts %d", visible, tk.T)
	}
	if d := s.ctrl.Sync(tk.T, visible); d.Rescaled {
		s.pods.Scale(tk.T, d.Desired)
		return true, nil
	}
	return false, nil
}

// Total is the number of pods, starting ones included (0 before the first Step).
func (s *Scaler) Total() int32 {
	if s.pods == nil {
		return 0
	}
	return s.pods.Total()
}

// Ready is the number of pods serving load at Unix second t.
func (s *Scaler) Ready(t int64) int32 {
	if s.pods == nil {
		return 0
	}
	return s.pods.Ready(t)
}
