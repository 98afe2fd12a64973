package shadow

import (
	"fmt"
	"math"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
)

// clock is the simulation clock of one series, shared by its strategies: it
// follows backtest.Timeline exactly, incrementally. Ticks have the length
// gcd(step, sync period, start-up delay) and start at the first sample. Sample
// i carries the load of (TS-step, TS] and becomes visible to the HPA at TS;
// tick k, starting at t, is simulated once a sample at or after t+tick has
// arrived: its load is that sample's if the sample's interval reaches back to
// t (else the tick is a gap), and the HPA sees the latest sample at or before t.
type clock struct {
	step, tick, sync int64
	capacity         float64
	scoreFrom        int64

	started bool
	start   int64
	next    int64 // index of the next tick to simulate
	lastTS  int64
}

func newClock(step time.Duration, h hpa.Config, capacity float64, scoreFrom int64) (clock, error) {
	s := int64(step / time.Second)
	if s <= 0 || step%time.Second != 0 {
		return clock{}, fmt.Errorf("shadow: step %v must be a positive whole number of seconds", step)
	}
	if !(capacity > 0) || math.IsInf(capacity, 0) {
		return clock{}, fmt.Errorf("shadow: capacity %v must be positive and finite", capacity)
	}
	sync := int64(h.SyncPeriod / time.Second)
	tick := gcd(s, sync)
	if startup := int64(h.StartupDelay / time.Second); startup > 0 {
		tick = gcd(tick, startup)
	}
	return clock{step: s, tick: tick, sync: sync, capacity: capacity, scoreFrom: scoreFrom}, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// tickInfo is one tick to simulate.
type tickInfo struct {
	k      int64
	t      int64
	load   float64 // in units of pod capacity; NaN in a gap
	sync   bool    // the HPA syncs at this tick
	scored bool    // at or after scoreFrom
}

// advance returns the ticks that the sample at ts with value v completes, in
// order. The first sample only starts the clock.
func (c *clock) advance(ts int64, v float64) []tickInfo {
	if !c.started {
		c.started, c.start, c.lastTS = true, ts, ts
		return nil
	}
	var out []tickInfo
	for {
		t := c.start + c.next*c.tick
		if t+c.tick > ts {
			break
		}
		ti := tickInfo{k: c.next, t: t, load: math.NaN(), sync: c.next%(c.sync/c.tick) == 0, scored: t >= c.scoreFrom}
		if ts-c.step <= t {
			ti.load = v / c.capacity
		}
		out = append(out, ti)
		c.next++
	}
	c.lastTS = ts
	return out
}

// run is one strategy's HPA and pods on the clock.
type run struct {
	cfg  hpa.Config // Target set
	ctrl *hpa.Controller
	pods *hpa.Pods
}

// tickResult is what one tick of a run produced.
type tickResult struct {
	total, ready int32
	rescaled     bool
}

// step simulates one tick with the served value visible at its start (in
// load units) and, for the first tick, the served value of the first sample.
func (r *run) step(c *clock, ti tickInfo, visible, firstServed float64) (tickResult, error) {
	if r.ctrl == nil {
		first := firstServed / c.capacity
		if !math.IsNaN(ti.load) {
			first = ti.load
		}
		initial := int32(min(max(math.Ceil(first/r.cfg.Target), float64(r.cfg.MinReplicas)), float64(r.cfg.MaxReplicas)))
		ctrl, err := hpa.NewController(r.cfg, initial)
		if err != nil {
			return tickResult{}, fmt.Errorf("shadow: %w", err)
		}
		r.ctrl = ctrl
		r.pods = hpa.NewPods(initial, r.cfg.StartupDelay, c.start)
	}
	var res tickResult
	if ti.sync {
		if math.IsNaN(visible) || math.IsInf(visible, 0) {
			return tickResult{}, fmt.Errorf("shadow: served value %v at ts %d", visible, ti.t)
		}
		if d := r.ctrl.Sync(ti.t, visible/c.capacity); d.Rescaled {
			r.pods.Scale(ti.t, d.Desired)
			res.rescaled = true
		}
	}
	res.total = r.pods.Total()
	res.ready = r.pods.Ready(ti.t)
	return res, nil
}
