// Package forecast holds Foresight's forecasting models and the per-series
// forecaster that chooses among them. It is pure: no I/O, no clocks, no
// globals. Time enters only as the Unix-second timestamps of samples.
//
// A Forecaster keeps a compact history (float32 ring, gaps marked) and, on
// a data-time schedule (every multiple of the refit interval since the Unix
// epoch), detects seasonality, fits every candidate model
// (seasonal naive, Holt-Winters, ARIMA, linear trend, Fourier, robust
// seasonal profile) on all but
// the last day, backtests them over that day at the served horizon with a
// quantile loss, and serves the winner, or the reactive value when no
// model beats it. Between refits each step costs O(horizon + model order).
// A Page-Hinkley test on the served-value loss detects drift and falls back
// to the reactive value until a refit proves a model again.
//
// What is served is a function of the data alone, not of when the process
// started: a fit on the grid uses only the history window ending there, and
// everything between fits (drift, its refit) follows from that fit and the
// samples since. Two forecasters fed the same samples serve the same values
// from the first grid point that both saw with a full window behind it
// (Settings.Lookback).
package forecast

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Model names a forecasting model, or "auto" for automatic choice.
type Model string

// Known models.
const (
	ModelAuto          Model = "auto"
	ModelReactive      Model = "reactive"
	ModelSeasonalNaive Model = "seasonal-naive"
	ModelHoltWinters   Model = "holt-winters"
	ModelARIMA         Model = "arima"
	ModelLinear        Model = "linear"
	ModelFourier       Model = "fourier"
	ModelProfile       Model = "profile"
	ModelProphet       Model = "prophet"
)

// Models lists the models a user may ask for, auto first.
func Models() []Model {
	return []Model{ModelAuto, ModelReactive, ModelSeasonalNaive, ModelHoltWinters, ModelARIMA, ModelLinear, ModelFourier, ModelProfile, ModelProphet}
}

// ParseModel returns the Model named s, or an error listing the known names.
func ParseModel(s string) (Model, error) {
	for _, m := range Models() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown model %q (known: %s)", s, ModelNames())
}

// ModelNames lists the names of Models, comma-separated, for messages.
func ModelNames() string {
	names := make([]string, 0, len(Models()))
	for _, m := range Models() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}

// Settings configure how one series is forecast and served (see "Serving a forecast" in docs/architecture.md).
type Settings struct {
	// Step is the spacing of samples. Required.
	Step time.Duration
	// Horizon is how far ahead the served value looks. Default 5m. A
	// horizon that is not a whole number of steps is covered to the end
	// of the step it ends in (HorizonSteps).
	Horizon time.Duration
	// Quantile is the upper quantile of the forecast distribution that is served. Default 0.9.
	Quantile float64
	// Model is the model to use, or ModelAuto. Default ModelAuto.
	Model Model
	// History is how much history is kept for fitting. Default 14 days.
	History time.Duration
	// RefitInterval is how often models are refit and re-chosen, at the
	// multiples of it since the Unix epoch in data time. Default 6h.
	RefitInterval time.Duration
	// NoReactiveFloor, when true, lets the served value drop below the last observed value.
	NoReactiveFloor bool
	// NoScaleBound, when true, serves the upper forecast at its own scale
	// where every candidate of model choice serves far above the peaks it
	// forecasts (see maxServedRatio); by default it is scaled down there.
	NoScaleBound bool
	// FilterSpikes says when the forecaster reads each sample as the
	// median of it and the two samples before it: always (on), never (off),
	// or where the series' excursions are isolated samples (auto, the
	// default; chosen at each refit, see isolated). An excursion
	// of one sample then moves neither the models nor the served value
	// (nor its reactive floor), and a change that lasts is read one sample
	// late. An excursion shorter than a pod's start-up cannot be served by
	// scaling anyway, only by the HPA target's headroom; filtering it keeps
	// the HPA from holding pods for it through its scale-down
	// stabilization. Model choice, offsets, drift and Evaluation then all
	// see the filtered series. On bursty series the latest sample is the
	// best guess of the next minutes, and the filter costs more than it
	// saves.
	FilterSpikes SpikeFilter
	// Hold is how long the HPA's provision follows the highest value served
	// recently (its scale-down stabilization keeps the highest
	// recommendation of a window). Model choice and the served quantile
	// score this held value, so that sample-to-sample noise the HPA holds
	// anyway is not paid for twice. Zero (the default) chooses it per
	// series and model by the backtest among HoldChoices; at most one step
	// means none.
	Hold time.Duration
	// WarmUp is the history needed before the first fit; until then the
	// reactive value is served. Default 6h. Seasonal models further need two
	// periods of history before the season can be detected.
	WarmUp time.Duration
}

// Defaults of Settings.
const (
	DefaultHorizon       = 5 * time.Minute
	DefaultQuantile      = 0.9
	DefaultHistory       = 14 * 24 * time.Hour
	DefaultRefitInterval = 6 * time.Hour
	DefaultWarmUp        = 6 * time.Hour
)

// SetDefaults gives every unset field of s its default.
func (s *Settings) SetDefaults() {
	if s.Horizon == 0 {
		s.Horizon = DefaultHorizon
	}
	if s.Quantile == 0 {
		s.Quantile = DefaultQuantile
	}
	if s.Model == "" {
		s.Model = ModelAuto
	}
	if s.History == 0 {
		s.History = DefaultHistory
	}
	if s.RefitInterval == 0 {
		s.RefitInterval = DefaultRefitInterval
	}
	if s.WarmUp == 0 {
		s.WarmUp = DefaultWarmUp
	}
	if s.FilterSpikes == "" {
		s.FilterSpikes = SpikeFilterAuto
	}
}

// Lookback is the history to feed a forecaster started now so that it
// serves what a forecaster running all along serves: History behind the
// latest refit grid point, which is at most one RefitInterval ago.
func (s Settings) Lookback() time.Duration {
	s.SetDefaults()
	return s.History + s.RefitInterval
}

// HorizonSteps is the number of samples after a sample whose load falls in
// its horizon (stepsCovering).
func (s Settings) HorizonSteps() int {
	return stepsCovering(s.Horizon, s.Step)
}

// stepsCovering is the number of samples whose steps a span of d covers.
// A sample carries the load of the step that ends at its timestamp (as a
// Prometheus rate over the step does), so a span that is not a whole
// number of steps ends inside the step of one more sample: the count is
// rounded up. Horizons, holds and the ring's refit slack are counted so.
func stepsCovering(d, step time.Duration) int {
	return int((d + step - 1) / step)
}

// Validate reports the first field of s (after defaults) that is invalid.
func (s Settings) Validate() error {
	switch {
	case s.Step <= 0:
		return fmt.Errorf("step %v: must be positive", s.Step)
	case s.Step%time.Second != 0:
		return fmt.Errorf("step %v: must be a whole number of seconds", s.Step)
	case s.Horizon < s.Step:
		return fmt.Errorf("horizon %v: must be at least one step (%v)", s.Horizon, s.Step)
	case s.Horizon > 24*time.Hour:
		return fmt.Errorf("horizon %v: must be at most 24h", s.Horizon)
	case !(s.Quantile >= 0.5 && s.Quantile < 1):
		return fmt.Errorf("quantile %v: must be in [0.5, 1)", s.Quantile)
	case s.History < 4*s.Horizon || s.History < s.WarmUp:
		return fmt.Errorf("history %v: must cover the warm-up (%v) and four horizons", s.History, s.WarmUp)
	case s.History/s.Step > 1<<22:
		return fmt.Errorf("history %v: more than %d steps of %v", s.History, 1<<22, s.Step)
	case s.RefitInterval < s.Step:
		return fmt.Errorf("refit interval %v: must be at least one step", s.RefitInterval)
	case s.RefitInterval%time.Second != 0:
		return fmt.Errorf("refit interval %v: must be a whole number of seconds", s.RefitInterval)
	case s.Hold < 0 || s.Hold > s.History/4:
		return fmt.Errorf("hold %v: must be in [0, a quarter of the history]", s.Hold)
	case s.WarmUp < 4*s.Horizon:
		return fmt.Errorf("warm-up %v: must be at least four horizons (%v)", s.WarmUp, 4*s.Horizon)
	}
	if _, err := ParseModel(string(s.Model)); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if _, err := ParseSpikeFilter(string(s.FilterSpikes)); err != nil {
		return fmt.Errorf("filter spikes: %w", err)
	}
	return nil
}

// Forecast is what a Forecaster serves after its latest sample.
type Forecast struct {
	// At is the Unix-second timestamp of the latest observed sample.
	At int64
	// Value is the served value: the upper quantile (Settings.Quantile) of
	// the load's maximum over (At, At+Horizon] (the peak of the point
	// forecast plus the quantile of the model's recent misses of that peak),
	// floored at Observed unless the floor is off. Where the series'
	// excursions fade and model choice found it better, the floor is the
	// part of Observed's excess over Upper that is left a step later
	// (CandidateScore.Floor), not all of it.
	Value float64
	// Observed is the latest observed value (as read: the median of the
	// latest three samples when SpikesFiltered).
	Observed float64
	// SpikesFiltered reports that the forecaster reads each sample as the
	// median of it and the two before it (Settings.FilterSpikes).
	SpikesFiltered bool
	// Model is the model whose forecast is served ("reactive" while warming up or in fallback).
	Model Model
	// Fallback reports that warm-up, drift or lack of skill made the
	// forecaster serve the reactive value: Observed, plus in a drift the
	// model's learnt margin for the peak (the HPA's target was chosen for
	// a value with that margin).
	Fallback bool
	// Predicted is the point forecast over the horizon as the served value
	// reads it: its maximum, or its mean where model choice found that
	// better (Observed when reactive).
	Predicted float64
	// Upper is Predicted plus its learnt upper-quantile offset for the
	// horizon's peak, before the reactive floor (Observed when reactive;
	// Observed plus the margin in a drift). Where every model would serve
	// far above the peaks it forecasts (idle load with short bursts), it
	// is scaled down so that its mean stays within 1.5 times theirs.
	Upper float64
	// Reason says why this model is served (warm-up, drift, the backtest losses).
	Reason string
	// Evaluation scores the forecast made one horizon ago against the
	// latest sample; Valid is false when there is nothing to score.
	Evaluation Evaluation
}

// Evaluation is one forecast scored against the actual it predicted.
type Evaluation struct {
	// Valid is true when a forecast made one horizon earlier met an observed actual.
	Valid bool
	// Model made the forecast.
	Model Model
	// Forecast is the point forecast made one horizon earlier for the latest step.
	Forecast float64
	// Actual is the latest observed value.
	Actual float64
}

// Forecaster forecasts one series online. Samples are fed in time order with
// Observe; Serve returns the value to serve after the latest sample. It is
// not safe for concurrent use.
type Forecaster struct {
	s        Settings
	stepSec  int64
	h        int   // horizon in steps
	capacity int   // history in steps: the window a fit uses
	ringCap  int   // steps kept: the window plus one refit interval (see ResumeRefits)
	warm     int   // warm-up in steps
	gridSec  int64 // refit interval in seconds: fits fall on its multiples

	hist    *ring
	at      int64
	seen    bool
	lastRaw float64 // the latest sample as observed (observed() reads it)
	idx     int64   // index of the latest step since the first sample

	pred       predictor
	offsets    []float64
	scale      OffsetScale // how the offsets scale with the forecast
	peakOffset float64     // offset of the served quantile of the peak over the horizon
	calib      float64     // factor on the upper forecast: 1, or below where the served value's scale is bounded (maxServedRatio)
	floor      float64     // share of the latest value's excess over the upper forecast served (CandidateScore.Floor)
	shift      float64     // log shift of the drift statistic
	lossMean   float64     // backtest mean of the served-value loss
	fc         []float64   // point forecast after the latest step, leads 1..h
	noSkill    bool
	readsMean  bool // the served value reads the horizon's mean point forecast, not its peak
	fallback   bool // drift
	drift      pageHinkley
	driftAt    int64 // step index of the drift alarm since the latest fit, -1 if none
	driftFit   int64 // step index at which the drift's refit comes due, MaxInt64 if none
	reason     string

	pendF []float64 // served lead-h forecasts by step index mod h
	pendS []float64 // the model's served value by step index mod h (NaN: none)
	pendM []Model
	eval  Evaluation

	season Seasonality
	scores []CandidateScore

	deferred bool          // refits held back by DeferRefits
	due      int64         // step index of the latest refit that came due and has not run, -1 if none
	dueDrift bool          // that refit is the one a drift scheduled (else: on the history alone)
	fits     int64         // refits run so far
	fitTime  time.Duration // duration of the latest refit
	fitModel Model         // model chosen by the latest refit
}

// NewForecaster validates s, applies defaults and returns a Forecaster.
func NewForecaster(s Settings) (*Forecaster, error) {
	if s.Step <= 0 {
		return nil, errors.New("forecast: step must be positive")
	}
	s.SetDefaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("forecast settings: %w", err)
	}
	f := &Forecaster{
		s:        s,
		stepSec:  int64(s.Step / time.Second),
		h:        s.HorizonSteps(),
		capacity: int(s.History / s.Step),
		warm:     int(s.WarmUp / s.Step),
		gridSec:  int64(s.RefitInterval / time.Second),
	}
	// A fit comes due at most one refit interval (plus a step) before the
	// latest sample; its window must still be in the ring then.
	f.ringCap = f.capacity + stepsCovering(s.RefitInterval, s.Step) + 1
	f.hist = newRing(f.ringCap)
	f.fc = make([]float64, f.h)
	f.pendF = make([]float64, f.h)
	f.pendS = make([]float64, f.h)
	f.pendM = make([]Model, f.h)
	f.Reset()
	return f, nil
}

// Settings returns the settings in use (with defaults applied).
func (f *Forecaster) Settings() Settings { return f.s }

// Reset forgets all history and models; the forecaster warms up again.
func (f *Forecaster) Reset() {
	f.hist.reset()
	f.hist.median = f.s.FilterSpikes == SpikeFilterOn
	f.seen = false
	f.at, f.lastRaw, f.idx = 0, 0, -1
	f.pred, f.offsets = nil, nil
	f.noSkill, f.fallback, f.readsMean = false, false, false
	f.floor = 1
	f.driftAt, f.driftFit, f.due = -1, math.MaxInt64, -1
	f.reason = ReasonWarmUp
	if f.s.Model == ModelReactive {
		f.reason = "reactive by configuration"
	}
	clear(f.pendF)
	for i := range f.pendS {
		f.pendS[i] = math.NaN()
	}
	clear(f.pendM)
	f.eval = Evaluation{}
	f.season = Seasonality{}
	f.scores = nil
}

// Observe adds the sample v at Unix-second ts. Timestamps must increase;
// missing steps are gaps, filled by linear interpolation between the samples
// around them for the models' state and never scored. Non-finite values are
// rejected. A gap longer than the history resets the forecaster.
func (f *Forecaster) Observe(ts int64, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("forecast: non-finite sample %v at ts %d", v, ts)
	}
	if f.seen && ts <= f.at {
		return fmt.Errorf("forecast: sample at ts %d is not after %d", ts, f.at)
	}
	onGrid := false // the sample is the first since a multiple of the refit interval
	k := int64(1)   // steps since the latest sample (the first sample: one)
	if f.seen {
		k = (ts - f.at + f.stepSec/2) / f.stepSec
		if k < 1 {
			return fmt.Errorf("forecast: sample at ts %d is less than a step (%v) after %d", ts, f.s.Step, f.at)
		}
		onGrid = floorDiv(ts, f.gridSec) > floorDiv(f.at, f.gridSec)
		if k > int64(f.capacity) {
			f.Reset()
			k = 1
		}
	}
	for g := int64(1); g < k; g++ {
		f.step(f.lastRaw+(v-f.lastRaw)*float64(g)/float64(k), false)
	}
	f.step(v, true)
	f.at, f.lastRaw, f.seen = ts, v, true
	f.markDue(onGrid)
	if !f.deferred {
		f.runDue()
	}
	return nil
}

// observed is the latest sample as read: itself, or the median of it and
// the two before it while the history reads the median of three.
func (f *Forecaster) observed() float64 {
	if f.hist.median && f.seen {
		return f.hist.back(0)
	}
	return f.lastRaw
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// markDue records whether a refit comes due at the latest (observed) step:
// on the refit grid or at the end of the warm-up, a fit on the history
// window ending here, which depends on nothing before it (it supersedes any
// earlier due refit); after a drift, the refit it scheduled.
func (f *Forecaster) markDue(onGrid bool) {
	if f.s.Model == ModelReactive || f.hist.len() < f.warm {
		return
	}
	switch {
	case onGrid || (f.pred == nil && f.due < 0):
		f.due, f.dueDrift = f.idx, false
	case f.idx >= f.driftFit && f.due < 0:
		f.due, f.dueDrift = f.idx, true
	}
}

// runDue runs the refit that came due, if any: it fits on the history
// window ending at the step where it came due and replays the steps since,
// so the result is the same as if the refit had run at that step.
func (f *Forecaster) runDue() {
	if f.due < 0 {
		return
	}
	k := int(f.idx - f.due)
	f.due = -1
	if !f.dueDrift {
		f.driftAt = -1 // a fit on the grid sees the history alone
	}
	if k == 0 {
		f.refit()
		return
	}
	y, obs := f.hist.copyOut()
	n := len(y)
	k = min(k, n-1)
	f.idx -= int64(k)
	f.refitOn(y[:n-k], obs[:n-k])
	// The lead-h forecasts pending for scoring were made by the models before the fit.
	clear(f.pendM)
	for i := n - k; i < n; i++ {
		f.step(y[i], obs[i])
		if obs[i] {
			f.markDue(false)
			if f.due >= 0 { // a drift's refit: the replay starts after the last fit on the grid
				f.due = -1
				f.refit()
			}
		}
	}
}

// DeferRefits holds back the refits that Observe would run, until
// ResumeRefits. Loading a long history in bulk (a warm start) then fits the
// models once instead of at every refit interval on the way; what is served
// after ResumeRefits is the same as if every refit had run as it came due.
func (f *Forecaster) DeferRefits() { f.deferred = true }

// ResumeRefits ends DeferRefits: it fits on the window ending at the latest
// step where a fit on the history alone came due (the refit grid, the end of
// the warm-up) and replays the steps since, running the refits that drift
// schedules on the way.
func (f *Forecaster) ResumeRefits() {
	f.deferred = false
	f.runDue()
}

// FitStats returns how many refits the forecaster has run, how long the
// latest took and the model it chose. Callers export fit durations by
// comparing the count before and after Observe.
func (f *Forecaster) FitStats() (count int64, latest time.Duration, model Model) {
	return f.fits, f.fitTime, f.fitModel
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// step moves everything one step forward with the sample v. The models see
// v as the history stores and reads it (float32, and the median of three when the history
// reads that), so a replay from the history (runDue) repeats the steps
// exactly.
func (f *Forecaster) step(v float64, observed bool) {
	sample := v
	v = f.hist.readNext(sample)
	actual := sample // scored and remembered: the sample itself, or as read through the filter
	if f.hist.median {
		actual = v
	}
	f.idx++
	slot := int(f.idx % int64(f.h))
	f.eval = Evaluation{}
	if observed && f.pendM[slot] != "" {
		f.eval = Evaluation{Valid: true, Model: f.pendM[slot], Forecast: f.pendF[slot], Actual: actual}
	}
	if f.pred != nil && observed && !f.fallback && !f.noSkill && isFinite(f.pendS[slot]) {
		if f.drift.add(f.servedLoss(v, f.pendS[slot]) - f.lossMean) {
			f.fallback = true
			f.driftAt = f.idx
			f.reason = fmt.Sprintf("drift: forecast errors of %s shifted", f.pred.kind())
			f.driftFit = f.idx + max(1, int64(minEvalSpan/f.s.Step))
		}
	}
	f.hist.push(sample, observed)
	if f.pred != nil {
		f.pred.advance(v)
		f.pred.forecast(f.fc)
	} else {
		for i := range f.fc {
			f.fc[i] = v
		}
	}
	f.pendS[slot] = math.NaN()
	if f.pred != nil && !f.noSkill {
		f.pendS[slot] = f.modelServed(v)
	}
	// Remember what is served as the lead-h forecast for scoring later.
	m := f.servedModel()
	f.pendM[slot] = m
	if m == ModelReactive {
		f.pendF[slot] = actual
	} else {
		f.pendF[slot] = f.fc[f.h-1]
	}
}

// servedLoss is the loss of having served s for a horizon that ended with
// the value v: the pinball loss, on the log scale, against the peak of the
// horizon; NaN when a step of the horizon was not observed.
func (f *Forecaster) servedLoss(v, s float64) float64 {
	peak := v
	for k := 0; k < f.h-1; k++ {
		if !f.hist.observedBack(k) {
			return math.NaN()
		}
		peak = math.Max(peak, f.hist.back(k))
	}
	return pinball(math.Log(math.Max(peak, 0)+f.shift), math.Log(math.Max(s, 0)+f.shift), f.s.Quantile)
}

// modelServed is the value the model serves after the latest step v.
func (f *Forecaster) modelServed(v float64) float64 {
	_, u := f.upper()
	if !f.s.NoReactiveFloor {
		u = floored(u, v, f.floor)
	}
	return u
}

// upper is the model's point forecast over the horizon as the served value
// reads it (its peak or its mean) and that plus the learnt margin, before
// the reactive floor.
func (f *Forecaster) upper() (point, upper float64) {
	stat := HorizonPeak
	if f.readsMean {
		stat = HorizonMean
	}
	point = stat.of(f.fc)
	return point, f.scaledUpper(point)
}

// scaledUpper is the upper forecast of the coming peak from a point reading
// p: p plus the learnt offset, times the scale bound's factor.
func (f *Forecaster) scaledUpper(p float64) float64 {
	return f.calib * upperOf(p, f.peakOffset, f.scale)
}

func (f *Forecaster) servedModel() Model {
	if f.pred == nil || f.fallback || f.noSkill {
		return ModelReactive
	}
	return f.pred.kind()
}

// refit re-chooses the model on the stored history.
func (f *Forecaster) refit() {
	y, obs := f.hist.copyOut()
	f.refitOn(y, obs)
}

// refitOn re-chooses the model on the history y (oldest first, ending at the
// latest step) and binds it to a new ring holding that history. It uses only
// the window a fit sees (the last History, from its first observed step), so
// the fit does not depend on how much more the forecaster happens to hold.
func (f *Forecaster) refitOn(y []float64, obs []bool) {
	start := time.Now()
	if len(y) > f.capacity {
		y, obs = y[len(y)-f.capacity:], obs[len(obs)-f.capacity:]
	}
	for len(y) > 0 && !obs[0] {
		y, obs = y[1:], obs[1:]
	}
	from := -1 // the first origin of the backtest: after the drift, if one scheduled this fit
	if f.driftAt >= 0 {
		from = len(y) - 1 - int(f.idx-f.driftAt)
		if from < 0 || len(y)-from > int(evalSpan/f.s.Step) {
			from = -1
		}
	}
	f.driftAt, f.driftFit = -1, math.MaxInt64
	persistence := excursionPersistence(y, obs, f.s.Step)
	median := f.readsMedian(y, obs, persistence)
	if len(y) < f.warm {
		// Most of the window is a gap: warm up again on what follows.
		f.hist = ringFrom(y, obs, f.ringCap, median)
		f.pred, f.offsets, f.noSkill, f.fallback = nil, nil, false, false
		f.reason = ReasonWarmUp
		for i := range f.fc {
			f.fc[i] = f.hist.back(0)
		}
		return
	}
	defer func() {
		f.fits++
		f.fitTime = time.Since(start)
		f.fitModel = f.pred.kind()
	}()
	c := refit(y, obs, f.s, f.ringCap, from, median, persistence)
	f.hist = c.hist
	f.pred = c.pred
	f.offsets = c.offsets
	f.scale = c.offScale
	f.readsMean = c.stat == HorizonMean
	f.peakOffset = c.peakOffset
	f.calib = c.calib
	f.floor = c.floor
	f.shift = c.shift
	f.lossMean = c.lossMean
	f.noSkill = c.noSkill
	f.season = c.season
	f.scores = c.scores
	f.drift = newPageHinkley(c.scale, driftBlockSteps(f.s.Step))
	f.fallback = false
	// Drift scores only values this fit served.
	for i := range f.pendS {
		f.pendS[i] = math.NaN()
	}
	f.pred.forecast(f.fc)
	if !finiteAll(f.fc) || !finiteAll(f.offsets) {
		f.noSkill = true
	}
	switch {
	case c.pred.kind() == ModelReactive && f.s.Model == ModelAuto:
		f.reason = "no model beats reactive: " + describeScores(c.scores, c.pred.kind())
	case f.noSkill:
		f.reason = fmt.Sprintf("model %s cannot be fit yet", f.s.Model)
	default:
		f.reason = "chosen by backtest: " + describeScores(c.scores, c.pred.kind())
		if c.calib < 1 {
			f.reason += fmt.Sprintf("; its upper forecast scaled by %.2f, as every candidate serves over %.1f times the peaks it forecasts", c.calib, maxServedRatio)
		}
	}
}

func finiteAll(x []float64) bool {
	for _, v := range x {
		if !isFinite(v) {
			return false
		}
	}
	return true
}

// ReasonWarmUp is Forecast.Reason while the forecaster gathers the history
// of its first fit (or of a fit after a reset).
const ReasonWarmUp = "warm-up"

// Serve returns the served forecast after the latest sample.
func (f *Forecaster) Serve() Forecast {
	last := f.observed()
	out := Forecast{At: f.at, Value: last, Observed: last, Predicted: last, Upper: last,
		Model: ModelReactive, Fallback: true, Reason: f.reason, Evaluation: f.eval, SpikesFiltered: f.hist.median}
	if f.seen && f.pred != nil && f.fallback && !f.noSkill {
		// Drift: the model's forecast is not trusted, but the HPA runs at
		// the target chosen for what the model serves, margin included. The
		// observed value gets the same learnt margin for the coming peak,
		// so the fallback is not less safe than the model it stands in for.
		out.Upper = f.scaledUpper(last)
		out.Value = math.Max(out.Upper, last)
		return out
	}
	if !f.seen || f.servedModel() == ModelReactive {
		return out
	}
	point, umax := f.upper()
	out.Model, out.Fallback = f.pred.kind(), false
	out.Predicted, out.Upper, out.Value = point, umax, umax
	if !f.s.NoReactiveFloor {
		out.Value = floored(umax, last, f.floor)
	}
	return out
}

// Path writes the point forecast and its upper quantile at each lead
// 1..Settings.HorizonSteps() into point and upper (each at least that long) and
// returns the number of leads. The upper quantile at a lead comes from the
// model's recent misses at that lead. While reactive, both hold the last
// observed value.
func (f *Forecaster) Path(point, upper []float64) int {
	reactive := f.servedModel() == ModelReactive
	last := f.observed()
	for k := 0; k < f.h; k++ {
		if reactive {
			point[k], upper[k] = last, last
			continue
		}
		point[k], upper[k] = f.fc[k], upperOf(f.fc[k], f.offsets[k], f.scale)
	}
	return f.h
}

// Seasonality returns what the last refit detected.
func (f *Forecaster) Seasonality() Seasonality { return f.season }

// Scores returns the backtest losses of the candidates at the last refit.
func (f *Forecaster) Scores() []CandidateScore { return append([]CandidateScore(nil), f.scores...) }

// StateBytes estimates the memory the forecaster holds: its history ring,
// the served model's state and the per-lead buffers.
func (f *Forecaster) StateBytes() int {
	b := 256 + f.hist.bytes() + 8*(len(f.fc)+len(f.pendF)+len(f.pendS)+len(f.offsets)) + 16*len(f.pendM)
	if f.pred != nil {
		b += f.pred.stateBytes()
	}
	return b
}
