package backtest

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/slo"
)

// SLOOptions configure the backtest's SLO mode (package slo).
type SLOOptions struct {
	// UnderProvisioned is the allowed under-provisioned share of time; a
	// negative value means the reactive baseline's own share in the backtest.
	UnderProvisioned float64
	// MaxUtilization is the ceiling on utilisation; zero means the target grid's top (TargetMax).
	MaxUtilization float64
	// Window, Every and MaxChange configure the controller; zero means its defaults.
	Window, Every time.Duration
	MaxChange     float64
}

// SLOReport is SLO mode's outcome in a backtest.
type SLOReport struct {
	// UnderProvisioned is the objective the controller was given.
	UnderProvisioned float64 `json:"underprovisioned_objective"`
	// MaxUtilization is the ceiling it was given.
	MaxUtilization float64 `json:"max_utilization"`
	// Scaling is the outcome over the scored time (Target 1: AverageValue 1 replica).
	Scaling Scaling `json:"scaling"`
	// Saving is the pod-minutes saved against the reactive baseline.
	Saving float64 `json:"saving"`
	// BestFixedSaving is the saving of the predictive strategy's best fixed
	// target chosen in hindsight (0 when no target is as safe as the baseline).
	BestFixedSaving float64 `json:"best_fixed_saving"`
	// ShareOfBestFixed is Saving / BestFixedSaving (0 when that is not positive).
	ShareOfBestFixed float64 `json:"share_of_best_fixed"`
	// MeanUtilization and FinalUtilization describe the utilisations served
	// over the scored time.
	MeanUtilization  float64 `json:"mean_utilization"`
	FinalUtilization float64 `json:"final_utilization"`
}

// ControllerConfig is the SLO controller's configuration for these options
// in a backtest (or an offline shadow evaluation) with opts: the objective
// (baseline: the reactive baseline's under-provisioned share), the ceiling
// (default: the target grid's top), the reactive target the status compares
// with (capped by the ceiling), the series' capacity and step and the HPA h.
func (o SLOOptions) ControllerConfig(baseline, capacity float64, step time.Duration, h hpa.Config, opts Options) slo.Config {
	objective := o.UnderProvisioned
	if objective < 0 {
		objective = baseline
	}
	ceiling := o.MaxUtilization
	if ceiling == 0 {
		ceiling = opts.TargetMax
	}
	return slo.Config{
		Capacity: capacity, UnderProvisioned: objective, MaxUtilization: ceiling,
		ReactiveTarget: min(opts.ReactiveTarget, ceiling), Window: o.Window, Every: o.Every, MaxChange: o.MaxChange,
		Step: step, HPA: h,
	}
}

// ReactiveBaseline replays reactive scaling (the reactive forecaster's
// values at opts.ReactiveTarget) over samples with the pod capacity, scored
// after opts.Warmup: the baseline Run compares every strategy with, and
// whose under-provisioned share SLOOptions' baseline objective is.
func ReactiveBaseline(ctx context.Context, samples []Sample, step time.Duration, capacity float64, opts Options) (Scaling, error) {
	tl, err := NewTimeline(samples, TimelineConfig{Step: step, Warmup: opts.Warmup, Capacity: capacity, HPA: opts.HPA()})
	if err != nil {
		return Scaling{}, fmt.Errorf("backtest: %w", err)
	}
	warmEnd := samples[0].TS + int64(opts.Warmup/time.Second)
	served, _, err := Serve(ctx, samples, opts.settings(step, forecast.ModelReactive), warmEnd, nil)
	if err != nil {
		return Scaling{}, fmt.Errorf("backtest: reactive baseline: %w", err)
	}
	applySchedule(opts.Schedule, samples, served)
	sc, err := tl.Replay(served, opts.ReactiveTarget, nil)
	if err != nil {
		return Scaling{}, fmt.Errorf("backtest: reactive baseline: %w", err)
	}
	return sc, nil
}

// runSLO serves the predictive strategy's values (fallback[i]: row i's was the reactive fallback) as SLO-mode replica demand
// (the controller sees each sample and the value served after it, then
// sets what is served until the next) and replays the HPA at AverageValue 1.
func runSLO(tl *Timeline, samples []Sample, served []float64, fallback []bool, capacity float64, step time.Duration, h hpa.Config, opts Options, rep Report) (SLOReport, error) {
	cfg := opts.SLO.ControllerConfig(rep.Baseline.UnderProvisionedShare, capacity, step, h, opts)
	objective, ceiling := cfg.UnderProvisioned, cfg.MaxUtilization
	ctrl, err := slo.New(cfg)
	if err != nil {
		return SLOReport{}, fmt.Errorf("backtest: %w", err)
	}
	warmEnd := samples[0].TS + int64(opts.Warmup/time.Second)
	demand := make([]float64, len(samples))
	var usum float64
	var un int
	for i, s := range samples {
		if err := ctrl.Observe(s.TS, s.Value, served[i], fallback[i]); err != nil {
			return SLOReport{}, fmt.Errorf("backtest: slo at row %d: %w", i+1, err)
		}
		// In the replay's unit (load, target a fraction of capacity):
		// demand V replicas at target 1 is V*capacity.
		demand[i] = ctrl.Demand(served[i], fallback[i]) * capacity
		if s.TS >= warmEnd {
			usum += ctrl.Utilization()
			un++
		}
	}
	sc, err := tl.Replay(demand, 1, nil)
	if err != nil {
		return SLOReport{}, fmt.Errorf("backtest: slo: %w", err)
	}
	r := SLOReport{UnderProvisioned: objective, MaxUtilization: ceiling, Scaling: sc,
		Saving: saving(rep.Baseline.PodMinutes, sc.PodMinutes), FinalUtilization: ctrl.Utilization()}
	if un > 0 {
		r.MeanUtilization = usum / float64(un)
	}
	if rep.Predictive.MeetsSafety {
		r.BestFixedSaving = rep.Predictive.Saving
	}
	if r.BestFixedSaving > 0 {
		r.ShareOfBestFixed = r.Saving / r.BestFixedSaving
	}
	if math.IsNaN(r.ShareOfBestFixed) {
		r.ShareOfBestFixed = 0
	}
	return r, nil
}
