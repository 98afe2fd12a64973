// Package shadow evaluates scaling strategies on live data without acting on
// them: for one series it runs several strategies (a forecast model, an HPA
// target and optionally cost weighting), each with its own forecaster, feeds
// each strategy's served value to the project's HPA model (adapter/hpa) on
// the simulation timeline adapter/backtest uses (adapter/hpasim), and reports over sliding
// windows what each would have done: replicas, under-provisioned minutes,
// pod-minutes, dollars, scaling actions and forecast error.
package shadow

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/hpasim"
	"github.com/foresight-dev/foresight/adapter/schedule"
	"github.com/foresight-dev/foresight/adapter/slo"
)

// Strategy is one way of serving a metric, evaluated in shadow.
type Strategy struct {
	// Name labels the strategy (for example reactive, holt-winters, cost-weighted).
	Name string `json:"name"`
	// Settings configure the strategy's forecaster (model reactive for
	// reactive scaling).
	Settings forecast.Settings `json:"-"`
	// Target is the HPA's AverageValue target as a fraction of pod capacity.
	// Ignored for cost-weighted strategies, whose metric is in replicas
	// (target 1).
	Target float64 `json:"target"`
	// Cost, when set, makes the strategy cost-weighted: it serves
	// V = Cost.Weigh(L, price/reference, spot share).Value for its
	// forecaster's served value L. Cost.Capacity zero means Config.Capacity.
	Cost *cost.Params `json:"cost,omitempty"`
	// SLO, when set, makes the strategy SLO mode: it serves the replica
	// demand its own slo.Controller chooses for the forecaster's served
	// value (target 1), as an SLO rule serves and the backtest's SLO mode
	// replays it. SLO.Step zero means Config.Step.
	SLO *slo.Config `json:"-"`
}

// Config configures an Evaluator.
type Config struct {
	// Capacity is the load one ready pod serves. Required.
	Capacity float64
	// HPA is the autoscaler; its Target is set per strategy.
	HPA hpa.Config
	// Step is the spacing of the samples. Required.
	Step time.Duration
	// ScoreFrom is the Unix second from which ticks count in the totals
	// (earlier ticks are simulated, not counted). Windows count every tick.
	ScoreFrom int64
	// Windows are the sliding windows reported. Default DefaultWindows.
	Windows []time.Duration
	// Resolution is the width of the buckets windows are summed from; a
	// window ends at the latest simulated tick and starts at the first
	// bucket boundary inside it. Default 5 minutes (rounded up to whole
	// ticks): a week is 2,017 buckets per strategy.
	Resolution time.Duration
	// PriceHold and ReferenceWindow configure the cost strategies' price
	// tracker (defaults 1h and 7 days).
	PriceHold, ReferenceWindow time.Duration
	// Schedule bounds every strategy's served value (in the rule's served
	// unit: load, or a cost strategy's replica demand) at each sample's time,
	// as serving does.
	Schedule schedule.Schedule
}

// DefaultResolution is the default width of the window buckets.
const DefaultResolution = 5 * time.Minute

// DefaultWindows are the sliding windows: an hour, a day and a week.
var DefaultWindows = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Evaluator runs strategies in shadow on one series. Feed it the samples the
// serving loop sees, in time order, with Observe (and prices with
// ObservePrice). It is not safe for concurrent use.
type Evaluator struct {
	cfg        Config
	clk        hpasim.Clock
	ticks      []hpasim.Tick // scratch for the ticks one sample completes
	strategies []*strategyState
	bucketSec  int64
	buckets    int

	tracker   *cost.Tracker
	prices    []pricePoint // price points not yet superseded for the next tick
	pending   []pricePoint // prices after the latest sample, in force once a sample reaches them
	spotShare float64

	visible    []visibleSample // samples the next ticks may see, oldest first
	firstValue []float64       // per strategy: served value of the first sample
	samples    int64           // samples fed to the clock
}

// visibleSample is a sample (by its index on the clock) and what each
// strategy served after it.
type visibleSample struct {
	index  int64
	served []float64
}

type strategyState struct {
	s        Strategy
	params   cost.Params
	f        *forecast.Forecaster
	hpa      hpa.Config // Target set
	scaler   hpasim.Scaler
	ring     []Figures // bucket ring
	ringAt   []int64   // bucket index held in each ring slot (-1 empty)
	total    Figures
	replicas int32
	last     forecast.Forecast
	lastV    float64
	slo      *slo.Controller // SLO-mode strategies
}

// NewEvaluator returns an evaluator for the strategies (at least one, names unique).
func NewEvaluator(cfg Config, strategies []Strategy) (*Evaluator, error) {
	if len(strategies) == 0 {
		return nil, errors.New("shadow: no strategies")
	}
	h := cfg.HPA
	h.Target = 1
	h.SetDefaults()
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("shadow: %w", err)
	}
	cfg.HPA = h
	if !(cfg.Capacity > 0) || math.IsInf(cfg.Capacity, 0) {
		return nil, fmt.Errorf("shadow: capacity %v must be positive and finite", cfg.Capacity)
	}
	clk, err := hpasim.NewClock(cfg.Step, h)
	if err != nil {
		return nil, fmt.Errorf("shadow: %w", err)
	}
	tick := clk.TickSeconds()
	if len(cfg.Windows) == 0 {
		cfg.Windows = DefaultWindows
	}
	if cfg.Resolution == 0 {
		cfg.Resolution = DefaultResolution
	}
	if cfg.PriceHold == 0 {
		cfg.PriceHold = time.Hour
	}
	if cfg.ReferenceWindow == 0 {
		cfg.ReferenceWindow = 7 * 24 * time.Hour
	}
	bucketSec := int64(cfg.Resolution / time.Second)
	if bucketSec <= 0 {
		return nil, fmt.Errorf("shadow: resolution %v must be at least a second", cfg.Resolution)
	}
	bucketSec = (bucketSec + tick - 1) / tick * tick
	longest := slices.Max(cfg.Windows)
	for _, w := range cfg.Windows {
		if w <= 0 {
			return nil, fmt.Errorf("shadow: window %v must be positive", w)
		}
	}
	e := &Evaluator{
		cfg: cfg, clk: clk, bucketSec: bucketSec,
		buckets: int((int64(longest/time.Second)+bucketSec-1)/bucketSec) + 1,
		tracker: cost.NewTracker(cfg.PriceHold, cfg.ReferenceWindow),
	}
	seen := map[string]bool{}
	for i, s := range strategies {
		if s.Name == "" || seen[s.Name] {
			return nil, fmt.Errorf("shadow: strategy %d: name %q is empty or repeated", i, s.Name)
		}
		seen[s.Name] = true
		settings := s.Settings
		if settings.Step == 0 {
			settings.Step = cfg.Step
		}
		f, err := forecast.NewForecaster(settings)
		if err != nil {
			return nil, fmt.Errorf("shadow: strategy %s: %w", s.Name, err)
		}
		st := &strategyState{s: s, f: f}
		st.hpa = h
		st.hpa.Target = s.Target
		if s.Cost != nil {
			p := *s.Cost
			if p.Capacity == 0 {
				p.Capacity = cfg.Capacity
			}
			p.SetDefaults()
			if err := p.Validate(); err != nil {
				return nil, fmt.Errorf("shadow: strategy %s: cost: %w", s.Name, err)
			}
			st.params = p
			st.hpa.Target = 1
		}
		if s.SLO != nil {
			if s.Cost != nil {
				return nil, fmt.Errorf("shadow: strategy %s: both cost-weighted and SLO mode", s.Name)
			}
			c := *s.SLO
			if c.Step == 0 {
				c.Step = cfg.Step
			}
			if st.slo, err = slo.New(c); err != nil {
				return nil, fmt.Errorf("shadow: strategy %s: %w", s.Name, err)
			}
			st.hpa.Target = 1
		}
		if err := st.hpa.Validate(); err != nil {
			return nil, fmt.Errorf("shadow: strategy %s: %w", s.Name, err)
		}
		st.scaler = hpasim.NewScaler(st.hpa)
		st.ring = make([]Figures, e.buckets)
		st.ringAt = make([]int64, e.buckets)
		for j := range st.ringAt {
			st.ringAt[j] = -1
		}
		e.strategies = append(e.strategies, st)
	}
	return e, nil
}

// SetSpotShare sets f, the share of the workload's pods on spot capacity,
// used by cost-weighted strategies from the next sample on.
func (e *Evaluator) SetSpotShare(f float64) { e.spotShare = f }

// ObservePrice records the price of one replica-hour from Unix second ts on.
// Cost-weighted strategies weigh a sample at ts with the prices observed up
// to then; dollars of a tick use the price in force at the tick's start
// (before the first price, the first price). A price later than the latest
// sample waits until a sample reaches it, so prices may be given ahead of
// the samples (a price history before the load history). Prices must come
// in time order.
func (e *Evaluator) ObservePrice(ts int64, price float64) error {
	if n := len(e.pending); n > 0 && ts < e.pending[n-1].TS {
		return fmt.Errorf("shadow: price at ts %d is before the last one at %d", ts, e.pending[n-1].TS)
	}
	if e.clk.Started() && ts <= e.clk.Last() && len(e.pending) == 0 {
		return e.applyPrice(pricePoint{TS: ts, Price: price})
	}
	if err := (&cost.Tracker{}).Observe(ts, price); err != nil { // validate now, apply later
		return fmt.Errorf("shadow: %w", err)
	}
	e.pending = append(e.pending, pricePoint{TS: ts, Price: price})
	return nil
}

// applyPrice puts a price in force.
func (e *Evaluator) applyPrice(p pricePoint) error {
	if err := e.tracker.Observe(p.TS, p.Price); err != nil {
		return fmt.Errorf("shadow: %w", err)
	}
	e.prices = append(e.prices, p)
	return nil
}

// applyPending puts in force the waiting prices from before or at ts.
func (e *Evaluator) applyPending(ts int64) error {
	i := 0
	for ; i < len(e.pending) && e.pending[i].TS <= ts; i++ {
		if err := e.applyPrice(e.pending[i]); err != nil {
			e.pending = e.pending[i+1:]
			return err
		}
	}
	e.pending = e.pending[i:]
	return nil
}

// Observe feeds the sample at Unix second ts with load v to every strategy,
// then simulates the ticks it completes. Samples must come in time order;
// a non-finite value is skipped as a gap (as the serving loop does).
func (e *Evaluator) Observe(ts int64, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	if e.clk.Started() && ts <= e.clk.Last() {
		return fmt.Errorf("shadow: sample at ts %d is not after the last one at %d", ts, e.clk.Last())
	}
	if err := e.applyPending(ts); err != nil {
		return err
	}
	served := make([]float64, len(e.strategies))
	bounds := e.cfg.Schedule.At(time.Unix(ts, 0))
	for i, st := range e.strategies {
		if err := st.f.Observe(ts, v); err != nil {
			return fmt.Errorf("shadow: strategy %s: %w", st.s.Name, err)
		}
		fc := st.f.Serve()
		st.last = fc
		val := bounds.Apply(fc.Value)
		if st.s.Cost != nil {
			ratio, _ := e.tracker.Ratio(ts, st.params.ReferencePrice)
			val = bounds.Apply(st.params.Weigh(fc.Value, ratio, e.spotShare).Value) * e.cfg.Capacity
		}
		if st.slo != nil {
			if err := st.slo.Observe(ts, v, fc.Value, fc.Fallback); err != nil {
				return fmt.Errorf("shadow: strategy %s: %w", st.s.Name, err)
			}
			val = bounds.Apply(st.slo.Demand(fc.Value, fc.Fallback)) * e.cfg.Capacity
		}
		if math.IsNaN(val) || math.IsInf(val, 0) {
			return fmt.Errorf("shadow: strategy %s served %v at ts %d", st.s.Name, val, ts)
		}
		st.lastV = val
		served[i] = val
		if ev := fc.Evaluation; ev.Valid {
			b := st.bucket(e, ts)
			b.Evaluations++
			b.absError += math.Abs(ev.Forecast - ev.Actual)
			b.actual += ev.Actual
			if ts >= e.cfg.ScoreFrom {
				st.total.Evaluations++
				st.total.absError += math.Abs(ev.Forecast - ev.Actual)
				st.total.actual += ev.Actual
			}
		}
	}
	if e.firstValue == nil {
		e.firstValue = served
	}
	e.ticks = e.clk.Advance(ts, v, e.ticks[:0])
	for _, tk := range e.ticks {
		for len(e.visible) > 1 && e.visible[0].index < tk.Visible {
			e.visible = e.visible[1:]
		}
		price := e.priceAt(tk.T)
		load := tk.Load / e.cfg.Capacity
		for i, st := range e.strategies {
			first := e.firstValue[i] / e.cfg.Capacity
			if tk.K == 0 && !math.IsNaN(load) {
				first = load
			}
			rescaled, err := st.scaler.Step(e.clk.Start(), tk, e.visible[0].served[i]/e.cfg.Capacity, first)
			if err != nil {
				return fmt.Errorf("shadow: strategy %s: %w", st.s.Name, err)
			}
			st.replicas = st.scaler.Total()
			st.account(e, tk, load, rescaled, price)
		}
	}
	e.visible = append(e.visible, visibleSample{index: e.samples, served: served})
	e.samples++
	return nil
}

// priceAt returns the price in force at t (0 with no prices), dropping
// price points that no later tick can need.
func (e *Evaluator) priceAt(t int64) float64 {
	for len(e.prices) > 1 && e.prices[1].TS <= t {
		e.prices = e.prices[1:]
	}
	if len(e.prices) == 0 {
		return 0
	}
	return e.prices[0].Price
}

// account adds one simulated tick, carrying load (in units of pod
// capacity; NaN in a gap), to the strategy's buckets and totals.
func (st *strategyState) account(e *Evaluator, tk hpasim.Tick, load float64, rescaled bool, price float64) {
	b := st.bucket(e, tk.T)
	total := st.scaler.Total()
	tick := e.clk.TickSeconds()
	add := func(f *Figures) {
		if rescaled {
			f.ScalingActions++
		}
		if math.IsNaN(load) {
			return
		}
		minutes := float64(tick) / 60
		f.ScoredMinutes += minutes
		f.PodMinutes += float64(total) * minutes
		f.Dollars += float64(total) * price * float64(tick) / 3600
		f.PeakReplicas = max(f.PeakReplicas, total)
		if load > float64(st.scaler.Ready(tk.T)) {
			f.UnderProvisionedMinutes += minutes
		}
	}
	add(b)
	if tk.T >= e.cfg.ScoreFrom {
		add(&st.total)
	}
}

// bucket returns the ring bucket of Unix second t, clearing it when it held
// an older bucket.
func (st *strategyState) bucket(e *Evaluator, t int64) *Figures {
	idx := floorDiv(t, e.bucketSec)
	slot := int(idx % int64(e.buckets))
	if slot < 0 {
		slot += e.buckets
	}
	if st.ringAt[slot] != idx {
		st.ring[slot] = Figures{}
		st.ringAt[slot] = idx
	}
	return &st.ring[slot]
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// pricePoint is a replica-hour price in force from Unix second ts on.
type pricePoint struct {
	TS    int64
	Price float64
}
