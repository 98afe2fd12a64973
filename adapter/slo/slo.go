// Package slo chooses the utilisation at which a series' forecast is served
// so that an under-provisioning objective holds. The operator states the
// share of time the workload may be under-provisioned and a ceiling on
// utilisation; the HPA runs with target AverageValue 1 on the replica
// demand V = L / (capacity * u), where L is the forecaster's served value.
// A Controller replays the series' own recent history (its load and the
// values the forecaster served) through the project's HPA model
// (adapter/hpasim) at candidate utilisations, takes the highest one whose
// under-provisioned share meets the objective, and moves u towards it by a
// bounded step per evaluation, never above the ceiling.
//
// It is pure: time enters only as sample timestamps, and the same samples
// give the same utilisations, which is what lets serving, the backtest and
// tests run the same code.
package slo

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/hpasim"
)

// Config configures a Controller.
type Config struct {
	// Capacity is the load one ready replica serves at 100% utilisation. Required.
	Capacity float64
	// UnderProvisioned is the allowed share of time (in [0, 1)) when the
	// load exceeds the ready replicas' capacity. Required (0 means never).
	UnderProvisioned float64
	// MaxUtilization is the ceiling of the chosen utilisation. Default 1.
	MaxUtilization float64
	// MinUtilization is the floor. Default DefaultMinUtilization.
	MinUtilization float64
	// InitialUtilization is served until the history proves another.
	// Default ReactiveTarget.
	InitialUtilization float64
	// ReactiveTarget is the reactive baseline's HPA target (a fraction of
	// capacity) that the status compares pod-minutes with. Default 0.7.
	ReactiveTarget float64
	// Window is the recent history the evaluation replays. Default
	// DefaultWindow (or MaxWindowSteps steps if fewer): a week, because the
	// utilisation that meets the objective varies from day to day and a
	// day's replay chases that noise.
	Window time.Duration
	// Every is the data time between evaluations, which fall on its
	// multiples (Unix time). Default DefaultEvery.
	Every time.Duration
	// MaxChange is how far u moves per evaluation at most. Default DefaultMaxChange.
	MaxChange float64
	// Step is the spacing of the samples. Required.
	Step time.Duration
	// HPA is the autoscaler (its Target is set by the controller).
	HPA hpa.Config
}

// Defaults of Config.
const (
	DefaultMinUtilization = 0.3
	DefaultReactiveTarget = 0.7
	DefaultWindow         = 7 * 24 * time.Hour
	DefaultEvery          = time.Hour
	DefaultMaxChange      = 0.02
	// minHistory is the least history an evaluation needs.
	minHistory = 6 * time.Hour
	// MaxWindowSteps bounds the window: 8 bytes a step (0.8 MB a series),
	// plus 16 bytes per gap and per change of utilisation in it.
	MaxWindowSteps = 100_000
	// resolution is the precision of the utilisation search.
	resolution = 0.005
)

// SetDefaults gives every unset field of c its default.
func (c *Config) SetDefaults() {
	if c.MaxUtilization == 0 {
		c.MaxUtilization = 1
	}
	if c.MinUtilization == 0 {
		c.MinUtilization = min(DefaultMinUtilization, c.MaxUtilization)
	}
	if c.ReactiveTarget == 0 {
		c.ReactiveTarget = DefaultReactiveTarget
	}
	if c.InitialUtilization == 0 {
		c.InitialUtilization = min(max(c.ReactiveTarget, c.MinUtilization), c.MaxUtilization)
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
		if c.Step > 0 && c.Window/c.Step > MaxWindowSteps {
			c.Window = MaxWindowSteps * c.Step
		}
	}
	if c.Every == 0 {
		c.Every = DefaultEvery
	}
	if c.MaxChange == 0 {
		c.MaxChange = DefaultMaxChange
	}
}

// Lookback is the history a new controller is fed (a restart, a replica
// started later) so that it serves what one running all along serves: the
// window, plus the evaluations the utilisation needs to cross from floor to
// ceiling. Two controllers fed the same samples move towards the same
// wanted utilisation by the same bounded step, so the gap between them
// never grows and closes once both reach it.
func (c Config) Lookback() time.Duration {
	c.SetDefaults()
	steps := math.Ceil((c.MaxUtilization - c.MinUtilization) / c.MaxChange)
	return c.Window + time.Duration(steps)*c.Every
}

// Validate reports the first invalid field of c (after defaults).
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !(c.Capacity > 0) || !finite(c.Capacity):
		return fmt.Errorf("capacity %v: must be positive", c.Capacity)
	case !(c.UnderProvisioned >= 0 && c.UnderProvisioned < 1):
		return fmt.Errorf("under-provisioned share %v: must be in [0, 1)", c.UnderProvisioned)
	case !(c.MaxUtilization > 0 && c.MaxUtilization <= 2):
		return fmt.Errorf("max utilisation %v: must be in (0, 2]", c.MaxUtilization)
	case !(c.MinUtilization > 0 && c.MinUtilization <= c.MaxUtilization):
		return fmt.Errorf("min utilisation %v: must be in (0, max utilisation %v]", c.MinUtilization, c.MaxUtilization)
	case !(c.InitialUtilization >= c.MinUtilization && c.InitialUtilization <= c.MaxUtilization):
		return fmt.Errorf("initial utilisation %v: must be within [%v, %v]", c.InitialUtilization, c.MinUtilization, c.MaxUtilization)
	case !(c.ReactiveTarget > 0 && c.ReactiveTarget <= 2):
		return fmt.Errorf("reactive target %v: must be in (0, 2]", c.ReactiveTarget)
	case !(c.MaxChange > 0):
		return fmt.Errorf("max change %v: must be positive", c.MaxChange)
	case c.Step <= 0 || c.Step%time.Second != 0:
		return fmt.Errorf("step %v: must be a positive whole number of seconds", c.Step)
	case c.Window < minHistory:
		return fmt.Errorf("window %v: must be at least %v", c.Window, minHistory)
	case c.Window/c.Step > MaxWindowSteps:
		return fmt.Errorf("window %v: more than %d steps of %v", c.Window, MaxWindowSteps, c.Step)
	case c.Every < c.Step:
		return fmt.Errorf("evaluation interval %v: must be at least one step (%v)", c.Every, c.Step)
	}
	return nil
}

// Status is what the latest evaluation found.
type Status struct {
	// Utilization is the utilisation a model's forecast is served at now.
	Utilization float64
	// Wanted is the highest utilisation that met the objective over the
	// window's time a model's forecast was served, at the latest
	// evaluation that had enough of it (Utilization moves towards it).
	Wanted float64
	// FallbackUtilization and FallbackWanted are the same for the time the
	// forecaster served its reactive fallback.
	FallbackUtilization, FallbackWanted float64
	// UnderProvisionedShare is the share of the window's time the served
	// demand left the workload under-provisioned (NaN before the first evaluation).
	UnderProvisionedShare float64
	// PodMinutes and ReactivePodMinutes are the pod-minutes over the
	// window of the served demand and of the reactive baseline (the load
	// itself at ReactiveTarget).
	PodMinutes, ReactivePodMinutes float64
	// Evaluations counts the evaluations run.
	Evaluations int64
}

// Controller chooses the utilisation of one series. It is not safe for
// concurrent use.
type Controller struct {
	cfg     Config
	stepSec int64
	every   int64 // seconds between evaluations

	// win is the window: per sample its load, the forecaster's served
	// value L, whether a model (not the reactive fallback) served it and
	// the utilisation in force when it was served.
	win *history

	u      float64 // for a model's forecasts
	uf     float64 // for the reactive fallback
	nextAt int64
	status Status
}

// New validates cfg (after defaults) and returns a Controller.
func New(cfg Config) (*Controller, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("slo: %w", err)
	}
	h := cfg.HPA
	h.Target = 1
	h.SetDefaults()
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("slo: %w", err)
	}
	cfg.HPA = h
	stepSec := int64(cfg.Step / time.Second)
	c := &Controller{
		cfg: cfg, stepSec: stepSec, every: int64(cfg.Every / time.Second),
		win: newHistory(int(cfg.Window/cfg.Step), stepSec, cfg.InitialUtilization, cfg.InitialUtilization),
		u:   cfg.InitialUtilization, uf: cfg.InitialUtilization,
	}
	c.status = Status{Utilization: c.u, Wanted: c.u, FallbackUtilization: c.uf, FallbackWanted: c.uf, UnderProvisionedShare: math.NaN()}
	return c, nil
}

// Config returns the configuration in use (defaults applied).
func (c *Controller) Config() Config { return c.cfg }

// Utilization returns the utilisation a model's forecast is served at now.
func (c *Controller) Utilization() float64 { return c.u }

// FallbackUtilization returns the utilisation the forecaster's reactive
// fallback is served at now.
func (c *Controller) FallbackUtilization() float64 { return c.uf }

// Status returns the latest evaluation's findings.
func (c *Controller) Status() Status { return c.status }

// Demand is the replica demand served for the forecaster's served value L
// (fallback: L is its reactive fallback).
func (c *Controller) Demand(l float64, fallback bool) float64 {
	if fallback {
		return l / (c.cfg.Capacity * c.uf)
	}
	return l / (c.cfg.Capacity * c.u)
}

// Bytes is the memory the controller holds.
func (c *Controller) Bytes() int { return 160 + c.win.bytes() }

// Observe records the sample (ts, load) and the value L the forecaster
// served after it, in time order, and re-evaluates the utilisation when an
// evaluation is due. fallback reports that the forecaster served its
// reactive fallback (warm-up, drift, no skill) rather than a model's
// forecast: such values need the reactive margin, not the model's, so the
// choice of utilisation scores only the time a model's forecast was in
// force. Timestamps must increase; values must be finite.
func (c *Controller) Observe(ts int64, load, served float64, fallback bool) error {
	if math.IsNaN(load) || math.IsInf(load, 0) || math.IsNaN(served) || math.IsInf(served, 0) {
		return fmt.Errorf("slo: non-finite sample (load %v, served %v) at ts %d", load, served, ts)
	}
	if c.win.len() > 0 && ts <= c.win.last {
		return fmt.Errorf("slo: sample at ts %d is not after %d", ts, c.win.last)
	}
	c.win.push(ts, load, served, !fallback)
	if c.nextAt == 0 {
		c.nextAt = c.boundaryAfter(ts)
	}
	if ts >= c.nextAt {
		c.nextAt = c.boundaryAfter(ts)
		if c.win.span() >= int64(minHistory/time.Second) {
			c.evaluate()
			c.win.setUtil(c.u, c.uf)
		}
	}
	return nil
}

// boundaryAfter is the first multiple of the evaluation interval (in Unix
// seconds) after ts: evaluations fall on data-time boundaries, so replicas
// fed the same samples evaluate at the same moments whenever they started.
func (c *Controller) boundaryAfter(ts int64) int64 {
	b := ts - ts%c.every
	if ts%c.every < 0 {
		b -= c.every
	}
	return b + c.every
}

// evaluate replays the window and moves the utilisation.
func (c *Controller) evaluate() {
	tl, err := c.timeline()
	if err != nil {
		return // a window the clock cannot lay out keeps the utilisation
	}
	capacity := c.cfg.Capacity
	served, demand, model, load := tl.served, tl.demand, tl.model, tl.base
	// Each class of served value (a model's forecast, the reactive
	// fallback) has its own utilisation, chosen over the time that class
	// was in force, the other class's samples at the utilisations they had.
	// A class with too little time in the window keeps its utilisation.
	for _, class := range []bool{true, false} {
		if tl.ticks[b2i(class)]*tl.tick < int64(minHistory/time.Second) {
			continue
		}
		meets := func(u float64) bool {
			r := tl.replay(func(k int) float64 {
				if model[k] == class {
					return served[k] / (capacity * u)
				}
				return demand[k]
			}, c.cfg.HPA, b2i(class))
			return r.under <= c.cfg.UnderProvisioned
		}
		lo, hi := c.cfg.MinUtilization, c.cfg.MaxUtilization
		want := lo
		if meets(hi) {
			want = hi
		} else if meets(lo) {
			// Bisect for the highest utilisation that meets the objective.
			for hi-lo > resolution {
				mid := (lo + hi) / 2
				if meets(mid) {
					lo = mid
				} else {
					hi = mid
				}
			}
			want = lo
		}
		u := &c.uf
		if class {
			u = &c.u
			c.status.Wanted = want
		} else {
			c.status.FallbackWanted = want
		}
		*u += max(-c.cfg.MaxChange, min(c.cfg.MaxChange, want-*u))
		*u = max(c.cfg.MinUtilization, min(c.cfg.MaxUtilization, *u))
	}
	achieved := tl.replay(func(k int) float64 { return demand[k] }, c.cfg.HPA, -1)
	reactive := c.cfg.HPA
	reactive.Target = c.cfg.ReactiveTarget
	base := tl.replay(func(k int) float64 { return load[k] }, reactive, -1)
	c.status = Status{Utilization: c.u, Wanted: c.status.Wanted,
		FallbackUtilization: c.uf, FallbackWanted: c.status.FallbackWanted,
		UnderProvisionedShare: achieved.under,
		PodMinutes:            achieved.podMinutes, ReactivePodMinutes: base.podMinutes, Evaluations: c.status.Evaluations + 1}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// window is the controller's history laid on the simulation clock.
type window struct {
	start   int64
	tick    int64
	load    []float64 // per tick, in replicas at 100% (NaN in gaps)
	visible []int32   // per tick: the sample (window index) the HPA sees
	sync    []bool
	class   []int8 // per tick: 1 when a model's forecast is in force, 0 the fallback
	// ticks counts the covered ticks per class.
	ticks [2]int64

	// Per sample (window index, oldest first):
	served []float64 // the forecaster's served value L
	demand []float64 // the replica demand it was served as, L / (capacity * u) at the u in force then
	model  []bool    // a model's forecast (not the reactive fallback) was served
	base   []float64 // the load in replicas at 100%, the reactive baseline's served value
}

var errEmpty = errors.New("empty window")

func (c *Controller) timeline() (*window, error) {
	clk, err := hpasim.NewClock(c.cfg.Step, c.cfg.HPA)
	if err != nil {
		return nil, err
	}
	capacity := c.cfg.Capacity
	n := c.win.len()
	w := &window{start: c.win.first, tick: clk.TickSeconds(),
		served: make([]float64, n), demand: make([]float64, n), model: make([]bool, n), base: make([]float64, n)}
	nt := int(c.win.span() / w.tick)
	w.load, w.visible, w.sync, w.class = make([]float64, 0, nt), make([]int32, 0, nt), make([]bool, 0, nt), make([]int8, 0, nt)
	var ticks []hpasim.Tick
	c.win.each(func(k int, s sample) {
		w.served[k] = float64(s.served)
		w.demand[k] = float64(s.served) / (capacity * float64(s.util))
		w.model[k] = s.model
		w.base[k] = float64(s.load) / capacity
		ticks = clk.Advance(s.ts, float64(s.load), ticks[:0])
		for _, tk := range ticks {
			w.load = append(w.load, tk.Load/capacity)
			w.visible = append(w.visible, int32(tk.Visible))
			w.sync = append(w.sync, tk.Sync)
			cl := b2i(w.model[tk.Visible])
			w.class = append(w.class, int8(cl))
			if !math.IsNaN(tk.Load) {
				w.ticks[cl]++
			}
		}
	})
	if len(w.load) == 0 {
		return nil, errEmpty
	}
	return w, nil
}

type replayResult struct {
	under      float64 // share of covered ticks under-provisioned
	podMinutes float64
}

// replay runs the HPA h on the values served(k) (in h.Target's unit) of the
// window's samples and scores every covered tick of the class (-1: every
// class).
func (w *window) replay(served func(k int) float64, h hpa.Config, class int) replayResult {
	first := served(0)
	if !math.IsNaN(w.load[0]) {
		first = w.load[0]
	}
	sc := hpasim.NewScaler(h)
	var under, covered, pods int64
	for k := range w.load {
		t := w.start + int64(k)*w.tick
		if _, err := sc.Step(w.start, hpasim.Tick{K: int64(k), T: t, Sync: w.sync[k]}, served(int(w.visible[k])), first); err != nil {
			return replayResult{under: math.Inf(1)}
		}
		if math.IsNaN(w.load[k]) || (class >= 0 && int(w.class[k]) != class) {
			continue
		}
		covered++
		pods += int64(sc.Total())
		if w.load[k] > float64(sc.Ready(t)) {
			under++
		}
	}
	if covered == 0 {
		return replayResult{}
	}
	return replayResult{under: float64(under) / float64(covered), podMinutes: float64(pods) * float64(w.tick) / 60}
}
