// Package backtest replays a load trace through Foresight's forecaster and
// the HPA model, and scores predictive against reactive scaling: forecast
// error, under-provisioned time, unmet demand, pod-minutes, scaling actions,
// and the pod-minutes a higher HPA target saves at equal safety. It runs
// exactly the forecasting code the adapter serves with (adapter/forecast).
package backtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/schedule"
	"github.com/foresight-dev/foresight/adapter/trace"
)

// Options configure a backtest. Start from DefaultOptions.
type Options struct {
	// Step is the sample spacing; zero infers it from the samples.
	Step time.Duration
	// ForecastOptions configure the strategies' forecasters.
	ForecastOptions
	// Capacity is the load one ready pod serves; zero derives it from PodsAtP99.
	Capacity float64
	// PodsAtP99 sets Capacity to p99(load)/PodsAtP99 when Capacity is zero.
	PodsAtP99 float64
	// StartupDelay is the time a new pod takes before it serves load.
	StartupDelay time.Duration
	// Warmup is the leading time that is simulated but not scored.
	Warmup time.Duration
	// ReactiveTarget is the reactive baseline's HPA target as a fraction of capacity.
	ReactiveTarget float64
	// TargetMin, TargetMax and TargetStep define the grid of targets searched
	// (fractions of capacity). The grid reaches above 1: a predictive strategy
	// serves an upper quantile of the coming peak, not the load itself, so the
	// target that keeps it as safe as the reactive baseline can exceed a pod's
	// capacity.
	TargetMin, TargetMax, TargetStep float64
	// Allowance is how much more under-provisioned time share (a fraction:
	// 0.001 is 0.1 percentage point) a higher target may have and still count
	// as equally safe.
	Allowance float64
	// MinReplicas and MaxReplicas bound the HPA.
	MinReplicas, MaxReplicas int32
	// SyncPeriod is the HPA controller's sync period.
	SyncPeriod time.Duration
	// CompareModels adds a strategy for each model that auto chooses among
	// and the report does not run already, forced alone and named after
	// it, so that the report shows how each model alone would have scaled
	// the trace beside auto's choice among them.
	CompareModels bool
	// Schedule bounds every strategy's served value at its sample's (the
	// trace's) time, as serving bounds it at the data time (a rule's
	// schedule and events). The zero Schedule changes nothing.
	Schedule schedule.Schedule
	// SLO, when set, adds SLO mode: the predictive forecast served as
	// replica demand at the utilisation an slo.Controller chooses (target
	// AverageValue 1), reported in Report.SLO.
	SLO *SLOOptions
	// Progress, when set, is called as forecasting advances.
	Progress func(stage string, done, total int)
}

// DefaultOptions returns the settings of the project's published figures:
// horizon 5m, quantile 0.9, auto model, p99 load needs 20 pods, 120 s pod
// start-up, 2 days of warm-up, reactive baseline at 70% of capacity.
func DefaultOptions() Options {
	return Options{
		ForecastOptions: defaultForecastOptions(),
		PodsAtP99:       20,
		StartupDelay:    120 * time.Second,
		Warmup:          48 * time.Hour,
		ReactiveTarget:  0.70,
		TargetMin:       0.30,
		TargetMax:       1.50,
		TargetStep:      0.01,
		Allowance:       0.001,
		MinReplicas:     1,
		MaxReplicas:     10000,
		SyncPeriod:      hpa.DefaultSyncPeriod,
	}
}

// Validate reports the first invalid option.
func (o Options) Validate() error {
	switch {
	case o.Step < 0:
		return fmt.Errorf("step %v is negative", o.Step)
	case o.Horizon <= 0:
		return fmt.Errorf("horizon %v must be positive", o.Horizon)
	case !(o.Quantile > 0 && o.Quantile < 1):
		return fmt.Errorf("quantile %v must be in (0, 1)", o.Quantile)
	case o.Capacity < 0 || math.IsNaN(o.Capacity) || math.IsInf(o.Capacity, 0):
		return fmt.Errorf("capacity %v must be positive and finite (or 0 to derive it)", o.Capacity)
	case o.Capacity == 0 && !(o.PodsAtP99 > 0):
		return fmt.Errorf("pods at p99 %v must be positive", o.PodsAtP99)
	case o.StartupDelay < 0:
		return fmt.Errorf("start-up delay %v is negative", o.StartupDelay)
	case o.Warmup < 0:
		return fmt.Errorf("warm-up %v is negative", o.Warmup)
	case !(o.ReactiveTarget > 0):
		return fmt.Errorf("reactive target %v must be positive", o.ReactiveTarget)
	case !(o.TargetMin > 0) || !(o.TargetMax >= o.TargetMin) || !(o.TargetStep > 0):
		return fmt.Errorf("target grid [%v, %v] step %v is invalid", o.TargetMin, o.TargetMax, o.TargetStep)
	case (o.TargetMax-o.TargetMin)/o.TargetStep > 10000:
		return fmt.Errorf("target grid [%v, %v] step %v has too many points", o.TargetMin, o.TargetMax, o.TargetStep)
	case o.Allowance < 0:
		return fmt.Errorf("allowance %v is negative", o.Allowance)
	}
	return nil
}

// Strategy names of the report.
const (
	StrategyReactive   = "reactive"
	StrategySeasonal   = "seasonal-naive"
	StrategyLinear     = "linear"
	StrategyPredictive = "predictive"
	// StrategyPerfect serves the true peak load of the coming horizon plus
	// pod start-up (floored at the observed value): what a pod asked for now
	// must cover from when it is ready to the end of the horizon. It is a
	// clairvoyant bound on what forecasting can save.
	StrategyPerfect = "perfect"
)

// Result is a finished backtest: the report and the series behind it.
type Result struct {
	// Report is the scored comparison.
	Report Report
	// Samples are the input rows.
	Samples []Sample
	// Served holds, per strategy name, the value served after each sample.
	Served map[string][]float64
	// ReactiveReplicas and PredictiveReplicas are the replica counts per
	// tick of the reactive baseline and of predictive scaling at its chosen target.
	ReactiveReplicas, PredictiveReplicas []int32
	// TickSeconds is the tick length of the replica series; they start at Samples[0].TS.
	TickSeconds int64
}

// ShortInputError is Run's error for an input that ends before its warm-up
// does: nothing would be scored.
type ShortInputError struct {
	// Rows is the number of input rows.
	Rows int
	// Span is the time from the first row to the last.
	Span time.Duration
	// Warmup is the leading time simulated but not scored.
	Warmup time.Duration
}

func (e *ShortInputError) Error() string {
	return fmt.Sprintf("backtest: the input spans %v (%d rows), not more than the warm-up of %v that is simulated before scoring starts: nothing would be scored",
		e.Span, e.Rows, e.Warmup)
}

// millisecondsHint says, for a step of a whole number of thousands of seconds, that the
// timestamps may be milliseconds counted from the start (0, 60000, ...), which are read as
// seconds: a step of 60000 s is a minute in milliseconds. "" otherwise.
func millisecondsHint(step time.Duration) string {
	s := int64(step / time.Second)
	if s < 1000 || s%1000 != 0 {
		return ""
	}
	return fmt.Sprintf(" (the timestamps step by %d: if they are milliseconds, not seconds, the step is %v; write them in seconds)", s, time.Duration(s)*time.Millisecond)
}

// Run backtests samples (time-ordered, as trace.Parse returns them).
func Run(ctx context.Context, samples []Sample, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	if len(samples) < 2 {
		return nil, fmt.Errorf("backtest: need at least 2 samples, got %d", len(samples))
	}
	step := opts.Step
	if step == 0 {
		var err error
		if step, err = trace.InferStep(samples); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
	}
	// Rows a clock stamped a second or two off the step's grid are replayed on it: a
	// row that came late would leave its tick without load.
	samples, moved, largestMove := trace.OnGrid(samples, step)
	// A horizon shorter than the input's step ends inside the next step: the
	// forecaster looks that one step ahead, as a horizon that is not a whole
	// number of steps covers the steps it ends in (the report says so).
	requested := opts.Horizon
	if opts.Horizon < step {
		opts.Horizon = step
	}
	// The forecaster's settings at the input's step are checked once here,
	// so that settings the input's step makes invalid get one error, not one
	// per strategy.
	fs := opts.settings(step, opts.Model)
	if err := fs.Validate(); err != nil {
		return nil, fmt.Errorf("backtest: at the input's step of %v: %w%s", step, err, millisecondsHint(step))
	}
	p99 := quantile(samples, 0.99)
	capacity, err := opts.podCapacity(p99, len(samples))
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	if span := time.Duration(samples[len(samples)-1].TS-samples[0].TS) * time.Second; span <= opts.Warmup {
		return nil, &ShortInputError{Rows: len(samples), Span: span, Warmup: opts.Warmup}
	}
	hcfg := opts.HPA()
	tl, err := NewTimeline(samples, TimelineConfig{Step: step, Warmup: opts.Warmup, Capacity: capacity, HPA: hcfg})
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}

	strategies := []strategy{
		{StrategyReactive, forecast.ModelReactive},
		{StrategySeasonal, forecast.ModelSeasonalNaive},
		{StrategyLinear, forecast.ModelLinear},
	}
	if opts.CompareModels {
		strategies = append(strategies, comparedModels(opts.Model)...)
	}
	strategies = append(strategies, strategy{StrategyPredictive, opts.Model})
	warmEnd := samples[0].TS + int64(opts.Warmup/time.Second)
	served, stats, err := serveAll(ctx, samples, step, strategies, opts, warmEnd)
	if err != nil {
		return nil, err
	}

	grid := targetGrid(opts)
	// The forecast is scored against the load of the samples its served
	// value covers: the horizon to the end of the step it ends in.
	covered := time.Duration(fs.HorizonSteps()) * step
	peaks := horizonPeaks(samples, int64(covered/time.Second))
	perfect := perfectForesight(samples, int64((opts.Horizon+opts.StartupDelay)/time.Second))
	served[StrategyPerfect] = perfect
	strategies = append(strategies, strategy{StrategyPerfect, "oracle"})
	seasonalErr := forecastError(samples, served[StrategySeasonal], peaks, warmEnd)
	rep := Report{
		Input: InputInfo{
			Rows:          len(samples),
			StepSeconds:   step.Seconds(),
			Start:         samples[0].TS,
			End:           samples[len(samples)-1].TS,
			MissingRows:   missingRows(samples, int64(step/time.Second)),
			MovedRows:     moved,
			LargestMove:   largestMove.Seconds(),
			ScoredMinutes: tl.ScoredMinutes(),
		},
		Settings: SettingsInfo{
			HorizonSeconds:      opts.Horizon.Seconds(),
			RequestedHorizon:    requested.Seconds(),
			Quantile:            opts.Quantile,
			Model:               string(opts.Model),
			FilterSpikes:        string(fs.FilterSpikes),
			Capacity:            capacity,
			P99Load:             p99,
			PodsAtP99:           p99 / capacity,
			StartupDelaySeconds: opts.StartupDelay.Seconds(),
			PerfectSeconds:      (opts.Horizon + opts.StartupDelay).Seconds(),
			WarmupSeconds:       opts.Warmup.Seconds(),
			ReactiveTarget:      opts.ReactiveTarget,
			TargetGrid:          []float64{grid[0], grid[len(grid)-1], opts.TargetStep},
			Allowance:           opts.Allowance,
			MinReplicas:         opts.MinReplicas,
			MaxReplicas:         opts.MaxReplicas,
			SyncPeriodSeconds:   opts.SyncPeriod.Seconds(),
			CompareModels:       opts.CompareModels,
		},
	}
	baseline, err := tl.Replay(served[StrategyReactive], opts.ReactiveTarget, nil)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	rep.Baseline = baseline
	sweeps, atBase, err := sweepAll(ctx, tl, served, strategies, grid, opts.ReactiveTarget)
	if err != nil {
		return nil, err
	}
	for i, s := range strategies {
		sr := StrategyReport{
			Name:             s.name,
			Model:            string(s.model),
			Forecast:         forecastError(samples, served[s.name], peaks, warmEnd),
			FallbackShare:    stats[s.name].fallbackShare(),
			SpikesFiltered:   stats[s.name].spikesFilteredShare(),
			ModelRows:        stats[s.name].Models,
			AtReactiveTarget: atBase[i],
		}
		if seasonalErr.MAE > 0 {
			m := sr.Forecast.MAE / seasonalErr.MAE
			sr.Forecast.MASE = &m
		}
		if s.name != StrategyReactive {
			if best, ok := cheapestAsSafe(sweeps[s.name], baseline.UnderProvisionedShare+opts.Allowance); ok {
				sr.Best = &Choice{Scaling: best, Saving: saving(baseline.PodMinutes, best.PodMinutes)}
			}
		}
		rep.Strategies = append(rep.Strategies, sr)
	}
	shareOfPerfect(rep.Strategies)
	rep.Predictive = summarize(rep, sweeps)
	if opts.SLO != nil {
		sr, err := runSLO(tl, samples, served[StrategyPredictive], stats[StrategyPredictive].FallbackRows, capacity, step, hcfg, opts, rep)
		if err != nil {
			return nil, err
		}
		rep.SLO = &sr
	}

	res := &Result{Report: rep, Samples: samples, Served: served, TickSeconds: tl.tick}
	n, _ := tl.Ticks()
	res.ReactiveReplicas = make([]int32, n)
	if _, err := tl.Replay(served[StrategyReactive], opts.ReactiveTarget, res.ReactiveReplicas); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	res.PredictiveReplicas = make([]int32, n)
	if _, err := tl.Replay(served[StrategyPredictive], rep.Predictive.Target, res.PredictiveReplicas); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	return res, nil
}

// strategy is a way of producing the value the HPA sees.
type strategy struct {
	name  string
	model forecast.Model
}

// comparedModels are the strategies Options.CompareModels adds: every model
// auto chooses among that the report does not run already (the reactive
// baseline, seasonal naive, linear, and the predictive strategy's model),
// forced alone and named after it.
func comparedModels(predictive forecast.Model) []strategy {
	var out []strategy
	for _, m := range forecast.Models() {
		switch m {
		case forecast.ModelAuto, forecast.ModelReactive, forecast.ModelSeasonalNaive, forecast.ModelLinear, predictive:
			continue
		}
		out = append(out, strategy{string(m), m})
	}
	return out
}

// serveAll runs one forecaster per strategy (concurrently) over samples.
func serveAll(ctx context.Context, samples []Sample, step time.Duration, strategies []strategy, opts Options, warmEnd int64) (map[string][]float64, map[string]ServeStats, error) {
	served := make(map[string][]float64, len(strategies))
	stats := make(map[string]ServeStats, len(strategies))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(strategies))
	progressDone := make([]int, len(strategies))
	for i, s := range strategies {
		wg.Go(func() {
			settings := opts.settings(step, s.model)
			var progress func(done, total int)
			if opts.Progress != nil {
				progress = func(done, _ int) {
					mu.Lock()
					defer mu.Unlock()
					progressDone[i] = done
					sum := 0
					for _, d := range progressDone {
						sum += d
					}
					opts.Progress("forecasting", sum, len(strategies)*len(samples))
				}
			}
			values, st, err := Serve(ctx, samples, settings, warmEnd, progress)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[i] = fmt.Errorf("backtest: strategy %s (model %s): %w", s.name, s.model, err)
				return
			}
			applySchedule(opts.Schedule, samples, values)
			served[s.name], stats[s.name] = values, st
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return served, stats, nil
}

// sweepAll replays every strategy at every grid target and at the reactive
// target, one goroutine per strategy.
func sweepAll(ctx context.Context, tl *Timeline, served map[string][]float64, strategies []strategy, grid []float64, reactiveTarget float64) (map[string][]Scaling, []Scaling, error) {
	sweeps := make([][]Scaling, len(strategies))
	atBase := make([]Scaling, len(strategies))
	errs := make([]error, len(strategies))
	var wg sync.WaitGroup
	for i, s := range strategies {
		wg.Go(func() {
			sweep := make([]Scaling, len(grid))
			for j, target := range grid {
				if err := ctx.Err(); err != nil {
					errs[i] = fmt.Errorf("backtest: %w", err)
					return
				}
				var err error
				if sweep[j], err = tl.Replay(served[s.name], target, nil); err != nil {
					errs[i] = fmt.Errorf("backtest: strategy %s: %w", s.name, err)
					return
				}
			}
			at, err := tl.Replay(served[s.name], reactiveTarget, nil)
			if err != nil {
				errs[i] = fmt.Errorf("backtest: strategy %s: %w", s.name, err)
				return
			}
			sweeps[i], atBase[i] = sweep, at
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	out := make(map[string][]Scaling, len(strategies))
	for i, s := range strategies {
		out[s.name] = sweeps[i]
	}
	return out, atBase, nil
}

// ServeStats counts what a forecaster served from the scored part on.
type ServeStats struct {
	// Scored is the number of rows at or after the start of scoring.
	Scored int
	// Fallback is how many of them served the reactive value as a fallback.
	Fallback int
	// SpikesFiltered is how many of them read the median of three
	// (forecast.Forecast.SpikesFiltered).
	SpikesFiltered int
	// Models counts those rows per model in use.
	Models map[string]int
	// FallbackRows reports, per row (scored or not), that the reactive
	// fallback was served after it.
	FallbackRows []bool `json:"-"`
}

func (s ServeStats) fallbackShare() float64 { return s.share(s.Fallback) }

func (s ServeStats) spikesFilteredShare() float64 { return s.share(s.SpikesFiltered) }

// share is n over the scored rows (0 without any).
func (s ServeStats) share(n int) float64 {
	if s.Scored == 0 {
		return 0
	}
	return float64(n) / float64(s.Scored)
}

// ForecastOptions configure the forecasters a backtest runs.
type ForecastOptions struct {
	// Horizon is the forecaster's horizon.
	Horizon time.Duration
	// Quantile is the served upper quantile.
	Quantile float64
	// Model is the predictive strategy's model (auto by default).
	Model forecast.Model
	// History, RefitInterval and Hold are passed to the forecaster; zero means its default.
	History, RefitInterval, Hold time.Duration
	// FilterSpikes is when the forecasting strategies read each sample as
	// the median of it and the two before it (forecast.Settings.FilterSpikes;
	// "" is the forecaster's default, auto). The reactive baseline stays the
	// plain HPA it is measured against.
	FilterSpikes forecast.SpikeFilter
}

// defaultForecastOptions are the published figures' forecast settings:
// horizon 5m, quantile 0.9, the auto model.
func defaultForecastOptions() ForecastOptions {
	return ForecastOptions{Horizon: 5 * time.Minute, Quantile: 0.9, Model: forecast.ModelAuto}
}

// settings are the forecaster's settings of a strategy serving model on an
// input of the given step, with the forecaster's defaults applied.
func (o ForecastOptions) settings(step time.Duration, model forecast.Model) forecast.Settings {
	s := forecast.Settings{
		Step:          step,
		Horizon:       o.Horizon,
		Quantile:      o.Quantile,
		Model:         model,
		History:       o.History,
		RefitInterval: o.RefitInterval,
		Hold:          o.Hold,
		FilterSpikes:  o.FilterSpikes,
	}
	if model == forecast.ModelReactive {
		s.FilterSpikes = forecast.SpikeFilterOff
	}
	s.SetDefaults()
	return s
}

// Serve feeds samples to a new forecaster with settings, one at a time, and
// returns the value it serves after each: Observe then Serve, as the adapter
// does. Only samples at or before a row's timestamp influence its value.
func Serve(ctx context.Context, samples []Sample, settings forecast.Settings, scoredFrom int64, progress func(done, total int)) ([]float64, ServeStats, error) {
	st := ServeStats{Models: map[string]int{}}
	f, err := forecast.NewForecaster(settings)
	if err != nil {
		return nil, st, fmt.Errorf("new forecaster: %w", err)
	}
	out := make([]float64, len(samples))
	st.FallbackRows = make([]bool, len(samples))
	report := max(len(samples)/200, 1)
	for i, s := range samples {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, st, err
			}
		}
		if err := f.Observe(s.TS, s.Value); err != nil {
			return nil, st, fmt.Errorf("observe row %d (ts %d): %w", i+1, s.TS, err)
		}
		fc := f.Serve()
		if math.IsNaN(fc.Value) || math.IsInf(fc.Value, 0) {
			return nil, st, fmt.Errorf("forecaster served %v after ts %d", fc.Value, s.TS)
		}
		out[i] = fc.Value
		st.FallbackRows[i] = fc.Fallback
		if s.TS >= scoredFrom {
			st.Scored++
			if fc.Fallback {
				st.Fallback++
			}
			if fc.SpikesFiltered {
				st.SpikesFiltered++
			}
			st.Models[string(fc.Model)]++
		}
		if progress != nil && (i%report == 0 || i == len(samples)-1) {
			progress(i+1, len(samples))
		}
	}
	return out, st, nil
}

// perfectForesight returns, per sample, the highest load of the samples in
// (ts, ts+window], floored at the sample's own value.
func perfectForesight(samples []Sample, window int64) []float64 {
	peaks := horizonPeaks(samples, window)
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = s.Value
		if !math.IsNaN(peaks[i]) {
			out[i] = max(peaks[i], s.Value)
		}
	}
	return out
}

// shareOfPerfect sets, on every strategy with a best target, the share of
// the perfect strategy's saving it reaches (when perfect saves anything).
func shareOfPerfect(strategies []StrategyReport) {
	var perfect *Choice
	for _, s := range strategies {
		if s.Name == StrategyPerfect {
			perfect = s.Best
		}
	}
	if perfect == nil || !(perfect.Saving > 0) {
		return
	}
	for i := range strategies {
		if b := strategies[i].Best; b != nil {
			share := b.Saving / perfect.Saving
			strategies[i].ShareOfPerfect = &share
		}
	}
}

// targetGrid lists the targets from TargetMin to TargetMax, rounded to 1e-9.
func targetGrid(o Options) []float64 {
	var grid []float64
	for i := 0; ; i++ {
		t := math.Round((o.TargetMin+float64(i)*o.TargetStep)*1e9) / 1e9
		if t > o.TargetMax+1e-9 {
			break
		}
		grid = append(grid, t)
	}
	return grid
}

// cheapestAsSafe returns the sweep entry with the fewest pod-minutes whose
// under-provisioned share is at most limit (ties: the safer one).
func cheapestAsSafe(sweep []Scaling, limit float64) (Scaling, bool) {
	var best Scaling
	found := false
	for _, s := range sweep {
		if s.UnderProvisionedShare > limit+1e-12 {
			continue
		}
		if !found || s.PodMinutes < best.PodMinutes ||
			(s.PodMinutes == best.PodMinutes && s.UnderProvisionedShare < best.UnderProvisionedShare) {
			best, found = s, true
		}
	}
	return best, found
}

func saving(base, other float64) float64 {
	if base == 0 {
		return 0
	}
	return 1 - other/base
}

// summarize picks predictive scaling's target and runs the reverse check.
func summarize(rep Report, sweeps map[string][]Scaling) PredictiveSummary {
	pred := rep.strategy(StrategyPredictive)
	sum := PredictiveSummary{Model: pred.Model, Baseline: rep.Baseline}
	if best := rep.strategy(StrategyPerfect).Best; best != nil {
		sum.PerfectSaving = best.Saving
	}
	if pred.ShareOfPerfect != nil {
		sum.ShareOfPerfect = *pred.ShareOfPerfect
	}
	chosen := pred.AtReactiveTarget
	if pred.Best != nil {
		chosen = pred.Best.Scaling
		sum.MeetsSafety = true
		sum.Saving = pred.Best.Saving
	} else {
		// No target is as safe as the baseline: report the safest one.
		sweep := slices.Clone(sweeps[StrategyPredictive])
		sort.SliceStable(sweep, func(i, j int) bool {
			if sweep[i].UnderProvisionedShare != sweep[j].UnderProvisionedShare {
				return sweep[i].UnderProvisionedShare < sweep[j].UnderProvisionedShare
			}
			return sweep[i].PodMinutes < sweep[j].PodMinutes
		})
		if len(sweep) > 0 {
			chosen = sweep[0]
		}
		sum.Saving = saving(rep.Baseline.PodMinutes, chosen.PodMinutes)
	}
	sum.Target = chosen.Target
	sum.Chosen = chosen

	rc := ReverseCheck{PredictiveTarget: chosen.Target, PredictivePodMinutes: chosen.PodMinutes,
		PredictiveUnderProvisionedMinutes: chosen.UnderProvisionedMinutes}
	reactive := sweeps[StrategyReactive]
	if r, ok := cheapestAsSafe(reactive, chosen.UnderProvisionedShare); ok {
		rc.Matched = true
		rc.ReactiveTarget = r.Target
		rc.ReactivePodMinutes = r.PodMinutes
		rc.ReactiveUnderProvisionedMinutes = r.UnderProvisionedMinutes
	} else if len(reactive) > 0 {
		// Reactive is never that safe on the grid: compare with its safest target.
		safest := reactive[0]
		for _, r := range reactive {
			if r.UnderProvisionedShare < safest.UnderProvisionedShare {
				safest = r
			}
		}
		rc.ReactiveTarget = safest.Target
		rc.ReactivePodMinutes = safest.PodMinutes
		rc.ReactiveUnderProvisionedMinutes = safest.UnderProvisionedMinutes
	}
	if chosen.PodMinutes > 0 {
		rc.Ratio = rc.ReactivePodMinutes / chosen.PodMinutes
	}
	rc.Passes = !rc.Matched || rc.Ratio >= ReverseCheckMinRatio
	sum.Reverse = rc
	return sum
}

// ReverseCheckMinRatio is the least share of predictive scaling's pod-minutes
// that reactive scaling must need to be as safe, for predictive scaling to
// count as not worse than reactive.
const ReverseCheckMinRatio = 0.95

// HPA is the HPA model the options describe (replica bounds, sync period,
// pod start-up), its target left for each replay to set.
func (o Options) HPA() hpa.Config {
	return hpa.Config{
		MinReplicas:  o.MinReplicas,
		MaxReplicas:  o.MaxReplicas,
		SyncPeriod:   o.SyncPeriod,
		StartupDelay: o.StartupDelay,
	}
}

// PodCapacity is the load one pod serves: Capacity, or when that is zero
// the samples' p99 load (nearest rank) over PodsAtP99. It is an error when
// the p99 load is not positive.
func (o Options) PodCapacity(samples []Sample) (float64, error) {
	p99 := 0.0
	if o.Capacity == 0 && len(samples) > 0 {
		p99 = quantile(samples, 0.99)
	}
	return o.podCapacity(p99, len(samples))
}

// podCapacity is PodCapacity for a trace of n samples whose p99 load is p99.
func (o Options) podCapacity(p99 float64, n int) (float64, error) {
	if o.Capacity != 0 {
		return o.Capacity, nil
	}
	if c := p99 / o.PodsAtP99; c > 0 && !math.IsInf(c, 0) {
		return c, nil
	}
	return 0, fmt.Errorf("the p99 load of %d samples is not positive, so it cannot set the pod capacity: give the load one pod serves (--capacity)", n)
}

// quantile returns the q-quantile (nearest rank) of the sample values.
func quantile(samples []Sample, q float64) float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = s.Value
	}
	sort.Float64s(v)
	idx := int(math.Ceil(q*float64(len(v)))) - 1
	return v[min(max(idx, 0), len(v)-1)]
}

// missingRows counts the steps between first and last sample that have no row.
func missingRows(samples []Sample, step int64) int {
	if step <= 0 {
		return 0
	}
	span := (samples[len(samples)-1].TS - samples[0].TS) / step
	return max(int(span)+1-len(samples), 0)
}

// applySchedule bounds the values served after each sample by s at the
// sample's time.
func applySchedule(s schedule.Schedule, samples []Sample, values []float64) {
	if s.Empty() {
		return
	}
	for i := range values {
		values[i], _ = s.Apply(time.Unix(samples[i].TS, 0), values[i])
	}
}
