// Package timeline records the replica counts of two HPAs (predictive and
// reactive) over a replayed load trace, finds the trace's load ramps, and
// measures for each ramp when each HPA reached the replica count the ramp's
// peak needs: the predictive HPA's lead.
package timeline

import (
	"fmt"
	"io"
	"math"
	"time"
)

// Point is one observation of both HPAs.
type Point struct {
	// Wall is the time since the recording started.
	Wall time.Duration
	// Data is the data time (the adapter's clock) at the observation.
	Data time.Time
	// Load is the trace's load at Data (NaN in a gap).
	Load float64
	// Predictive and Reactive are Deployment.spec.replicas of the two workloads.
	Predictive, Reactive int32
	// PredictedValue and ReactiveValue are the metric values read through
	// kube-apiserver (NaN when the read failed).
	PredictedValue, ReactiveValue float64
	// Note marks events (fault injected, recovered).
	Note string
}

// LoadFunc returns the trace's load at a data time, false in a gap.
type LoadFunc func(t time.Time) (float64, bool)

// Ramp is one load ramp of the trace and how both HPAs met it.
type Ramp struct {
	// Start is the time of the lowest load in the Window before the peak.
	Start time.Time
	// Peak is the time of the highest load.
	Peak time.Time
	// PeakLoad is the load at Peak.
	PeakLoad float64
	// Required is the fewest replicas for which the HPA's usage ratio at the
	// peak is within its tolerance: ceil(PeakLoad / (target * (1 + tolerance))).
	Required int32
	// PredictiveAt and ReactiveAt are the first recorded data times at or
	// after Start when each HPA had at least Required replicas (zero: never,
	// within the Window after the peak).
	PredictiveAt, ReactiveAt time.Time
}

// Lead is how much earlier the predictive HPA reached Required than the
// reactive one; ok is false when either never did.
func (r Ramp) Lead() (time.Duration, bool) {
	if r.PredictiveAt.IsZero() || r.ReactiveAt.IsZero() {
		return 0, false
	}
	return r.ReactiveAt.Sub(r.PredictiveAt), true
}

// AheadOfPeak is how long before the peak the predictive HPA reached
// Required (negative: after the peak); ok is false when it never did.
func (r Ramp) AheadOfPeak() (time.Duration, bool) {
	if r.PredictiveAt.IsZero() {
		return 0, false
	}
	return r.Peak.Sub(r.PredictiveAt), true
}

// RampOptions define what counts as a ramp.
type RampOptions struct {
	// Target is the HPAs' AverageValue target (load per replica).
	Target float64
	// Tolerance is the HPA controller's tolerance (0.1 by default).
	Tolerance float64
	// Window is how far before and after a peak the load must not be higher,
	// and how far after the peak the HPAs are given to reach Required.
	Window time.Duration
	// MinRise is the fewest extra replicas, from the lowest load of the Window
	// before the peak to the peak, that make a ramp.
	MinRise int32
	// Step is the trace's step.
	Step time.Duration
}

// Ramps finds the ramps whose start and whole window lie in [from, to] and
// measures both HPAs on them from points (in time order). Ramps the reactive
// HPA already met at their start (it held enough replicas from before) are
// left out: they do not separate the two.
func Ramps(load LoadFunc, points []Point, o RampOptions, from, to time.Time) []Ramp {
	required := func(v float64) int32 {
		return int32(math.Ceil(v/(o.Target*(1+o.Tolerance)) - 1e-9))
	}
	var out []Ramp
	for t := from.Add(o.Window); !t.Add(o.Window).After(to); t = t.Add(o.Step) {
		peak, ok := load(t)
		if !ok {
			continue
		}
		isPeak, low, lowAt := true, peak, t
		for u := t.Add(-o.Window); !u.After(t.Add(o.Window)); u = u.Add(o.Step) {
			v, ok := load(u)
			if !ok {
				continue
			}
			if v > peak || (v == peak && u.Before(t)) {
				isPeak = false
				break
			}
			if u.Before(t) && v < low {
				low, lowAt = v, u
			}
		}
		if !isPeak || required(peak)-required(low) < o.MinRise {
			continue
		}
		r := Ramp{Start: lowAt, Peak: t, PeakLoad: peak, Required: required(peak)}
		end := t.Add(o.Window)
		first, metBefore := true, false
		for _, p := range points {
			if p.Data.Before(lowAt) || p.Data.After(end) {
				continue
			}
			if first {
				first, metBefore = false, p.Reactive >= r.Required
			}
			if r.PredictiveAt.IsZero() && p.Predictive >= r.Required {
				r.PredictiveAt = p.Data
			}
			if r.ReactiveAt.IsZero() && p.Reactive >= r.Required {
				r.ReactiveAt = p.Data
			}
		}
		if first || metBefore {
			continue
		}
		out = append(out, r)
		t = end
	}
	return out
}

// Print writes points as a table, one row per point at least every `every`
// of wall time (and every point with a note).
func Print(w io.Writer, points []Point, every time.Duration) {
	fmt.Fprintf(w, "%8s  %-16s  %8s  %10s  %10s  %10s  %10s  %s\n",
		"wall", "data time", "load", "predicted", "reactive", "pred.repl", "react.repl", "note")
	var last time.Duration = -every
	for _, p := range points {
		if p.Wall-last < every && p.Note == "" {
			continue
		}
		last = p.Wall
		fmt.Fprintf(w, "%7.1fs  %-16s  %8.1f  %10s  %10s  %10d  %10d  %s\n",
			p.Wall.Seconds(), p.Data.UTC().Format("01-02 15:04:05"), p.Load,
			num(p.PredictedValue), num(p.ReactiveValue), p.Predictive, p.Reactive, p.Note)
	}
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "error"
	}
	return fmt.Sprintf("%.1f", v)
}
