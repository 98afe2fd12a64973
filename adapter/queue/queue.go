// Package queue turns a work queue's backlog and arrival rate into the
// worker demand an HPA scales on (target AverageValue 1, minReplicas 0): the
// workers needed to absorb the predicted arrivals and to drain the current
// backlog within a drain time, given one worker's throughput.
//
// The demand is 0 only when the queue is idle: the backlog is empty, no
// arrivals are observed or predicted within the wake lead, and it has been
// so for the cool-down. Otherwise it is at least 1, so that a workload at
// zero wakes up before forecast arrivals come (the wake lead is the pod
// start-up plus one HPA sync). The arithmetic is pure: Demand is a function
// of its inputs, and Tracker only remembers when the queue was last busy.
package queue

import (
	"fmt"
	"math"
	"time"
)

// Params configure the demand of one queue.
type Params struct {
	// Throughput is the items one worker processes per second. > 0.
	Throughput float64
	// DrainTime is the time the current backlog should be drained in. > 0.
	DrainTime time.Duration
	// WakeLead is how long before forecast arrivals a workload at zero must
	// be woken: its pods' start-up plus one HPA sync period. > 0.
	WakeLead time.Duration
	// CoolDown is how long the queue must have been idle before the demand
	// drops to 0. >= 0.
	CoolDown time.Duration
}

// Validate reports the first invalid parameter.
func (p Params) Validate() error {
	switch {
	case !(p.Throughput > 0) || math.IsInf(p.Throughput, 0):
		return fmt.Errorf("throughput must be a finite number > 0, got %v", p.Throughput)
	case p.DrainTime <= 0:
		return fmt.Errorf("drainTime must be positive, got %s", p.DrainTime)
	case p.WakeLead <= 0:
		return fmt.Errorf("wakeLead must be positive, got %s", p.WakeLead)
	case p.CoolDown < 0:
		return fmt.Errorf("coolDown must not be negative, got %s", p.CoolDown)
	}
	return nil
}

// Input is the state of a queue at one time.
type Input struct {
	// At is the data time, Unix seconds.
	At int64
	// Backlog is the number of items waiting.
	Backlog float64
	// Arrivals is the latest observed arrival rate, items per second.
	Arrivals float64
	// Predicted is the forecast arrival rate over the horizon (its upper
	// quantile of the peak), items per second.
	Predicted float64
}

// Reason says why the demand is what it is.
type Reason string

// The reasons of a demand.
const (
	// ReasonWork: backlog or arrivals, observed or predicted within the wake lead.
	ReasonWork Reason = "work"
	// ReasonCoolDown: idle, but not for the whole cool-down yet.
	ReasonCoolDown Reason = "cool-down"
	// ReasonIdle: idle for the cool-down; the demand is 0.
	ReasonIdle Reason = "idle"
)

// ArrivalsExpected reports whether at least one item is forecast to arrive
// within the wake lead at the predicted rate.
func (p Params) ArrivalsExpected(predicted float64) bool {
	return predicted*p.WakeLead.Seconds() >= 1
}

// Busy reports whether the queue has work now or forecast within the wake lead.
func (p Params) Busy(in Input) bool {
	return in.Backlog > 0 || in.Arrivals > 0 || p.ArrivalsExpected(in.Predicted)
}

// Demand returns the worker demand at in.At, given the Unix second the queue
// was last busy (0: never). Negative and NaN inputs count as 0.
//
//	demand = predicted / throughput + backlog / (throughput * drainTime)
//
// at least 1 while the queue is busy or within its cool-down, exactly 0 otherwise.
func (p Params) Demand(in Input, lastBusy int64) (float64, Reason) {
	backlog, predicted := nonNegative(in.Backlog), nonNegative(in.Predicted)
	raw := predicted/p.Throughput + backlog/(p.Throughput*p.DrainTime.Seconds())
	switch {
	case p.Busy(Input{Backlog: backlog, Arrivals: nonNegative(in.Arrivals), Predicted: predicted}):
		return max(raw, 1), ReasonWork
	case lastBusy > 0 && in.At-lastBusy < int64(p.CoolDown/time.Second):
		return max(raw, 1), ReasonCoolDown
	}
	return 0, ReasonIdle
}

func nonNegative(v float64) float64 {
	if v > 0 {
		return v // NaN fails the comparison
	}
	return 0
}

// Tracker remembers when one queue was last busy.
type Tracker struct {
	// LastBusy is the Unix second the queue was last busy, 0 when never seen busy.
	LastBusy int64
}

// Demand records in and returns its demand. Inputs must come in time order;
// an older one does not move LastBusy back.
func (t *Tracker) Demand(p Params, in Input) (float64, Reason) {
	if p.Busy(in) && in.At > t.LastBusy {
		t.LastBusy = in.At
	}
	return p.Demand(in, t.LastBusy)
}
