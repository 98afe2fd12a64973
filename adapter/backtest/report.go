package backtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// Report is the scored comparison of a backtest. All durations are in seconds
// or minutes as their names say; shares are fractions in [0, 1].
type Report struct {
	// Input describes the trace.
	Input InputInfo `json:"input"`
	// Settings are the settings the figures were computed with.
	Settings SettingsInfo `json:"settings"`
	// Baseline is reactive scaling at the reactive target.
	Baseline Scaling `json:"baseline"`
	// Strategies are reactive, seasonal-naive, linear, predictive and
	// perfect (clairvoyant) scaling; with Options.CompareModels the other
	// models forced alone too, after linear, each named after its model.
	Strategies []StrategyReport `json:"strategies"`
	// Predictive summarises predictive scaling against the baseline.
	Predictive PredictiveSummary `json:"predictive"`
	// SLO is SLO mode's outcome (when Options.SLO is set).
	SLO *SLOReport `json:"slo,omitempty"`
}

// InputInfo describes the input trace.
type InputInfo struct {
	// Rows is the number of samples.
	Rows int `json:"rows"`
	// StepSeconds is the (inferred) sample spacing.
	StepSeconds float64 `json:"step_seconds"`
	// Start and End are the first and last Unix-second timestamps.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// MissingRows counts steps without a row (gaps).
	MissingRows int `json:"missing_rows"`
	// MovedRows counts rows whose time was off the step's grid by at most a quarter step
	// (a clock a second early or late) and was moved onto it; LargestMove is the largest
	// such move, in seconds.
	MovedRows   int     `json:"moved_rows,omitempty"`
	LargestMove float64 `json:"largest_move_seconds,omitempty"`
	// ScoredMinutes is the time scored: after the warm-up and covered by samples.
	ScoredMinutes float64 `json:"scored_minutes"`
}

// SettingsInfo records the settings of a report.
type SettingsInfo struct {
	// HorizonSeconds is the forecaster's horizon: the one asked for, or one
	// step of the input where that is longer.
	HorizonSeconds float64 `json:"horizon_seconds"`
	// RequestedHorizon is the horizon asked for, in seconds.
	RequestedHorizon float64 `json:"requested_horizon_seconds"`
	// Quantile is the served upper quantile.
	Quantile float64 `json:"quantile"`
	// Model is the predictive strategy's model.
	Model string `json:"model"`
	// FilterSpikes is when the forecasting strategies read each sample as
	// the median of it and the two before it (Options.FilterSpikes): "auto",
	// "on" or "off".
	FilterSpikes string `json:"filter_spikes"`
	// Capacity is the load one ready pod serves.
	Capacity float64 `json:"capacity"`
	// P99Load is the 99th percentile of the trace's load.
	P99Load float64 `json:"p99_load"`
	// PodsAtP99 is P99Load / Capacity.
	PodsAtP99 float64 `json:"pods_at_p99"`
	// StartupDelaySeconds is the time a new pod takes before it serves load.
	StartupDelaySeconds float64 `json:"startup_delay_seconds"`
	// PerfectSeconds is the look-ahead of the perfect strategy: horizon plus start-up.
	PerfectSeconds float64 `json:"perfect_seconds"`
	// WarmupSeconds is the leading time not scored.
	WarmupSeconds float64 `json:"warmup_seconds"`
	// ReactiveTarget is the baseline's HPA target, a fraction of capacity.
	ReactiveTarget float64 `json:"reactive_target"`
	// TargetGrid is the searched grid: min, max, step.
	TargetGrid []float64 `json:"target_grid"`
	// Allowance is the extra under-provisioned share that counts as equally safe.
	Allowance float64 `json:"allowance"`
	// MinReplicas and MaxReplicas bound the HPA.
	MinReplicas int32 `json:"min_replicas"`
	MaxReplicas int32 `json:"max_replicas"`
	// SyncPeriodSeconds is the HPA controller's sync period.
	SyncPeriodSeconds float64 `json:"sync_period_seconds"`
	// CompareModels says that the strategies include every model auto
	// chooses among, each forced alone (Options.CompareModels).
	CompareModels bool `json:"compare_models,omitempty"`
}

// ForecastError scores the served value at t against the peak load over
// (t, t+horizon], the quantity it is meant to cover, on scored rows.
type ForecastError struct {
	// Rows is the number of rows scored.
	Rows int `json:"rows"`
	// MAE is the mean absolute error.
	MAE float64 `json:"mae"`
	// MASE is MAE scaled by the seasonal-naive strategy's MAE on the same rows
	// (absent when that is zero).
	MASE *float64 `json:"mase,omitempty"`
	// SMAPE is the symmetric mean absolute percentage error, in [0, 2].
	SMAPE float64 `json:"smape"`
	// UnderForecastShare is the share of rows whose served value was below the peak.
	UnderForecastShare float64 `json:"under_forecast_share"`
}

// StrategyReport is one strategy's forecast error and scaling.
type StrategyReport struct {
	// Name is the strategy: reactive, seasonal-naive, linear, predictive or
	// perfect, or a model's name (Options.CompareModels).
	Name string `json:"name"`
	// Model is the forecast model the strategy asked for.
	Model string `json:"model"`
	// Forecast is the forecast error of the served value.
	Forecast ForecastError `json:"forecast"`
	// FallbackShare is the share of scored rows served as a reactive fallback.
	FallbackShare float64 `json:"fallback_share"`
	// SpikesFiltered is the share of scored rows whose forecast read the
	// median of each sample and the two before it (Settings.FilterSpikes).
	SpikesFiltered float64 `json:"spikes_filtered_share"`
	// ModelRows counts scored rows per model in use.
	ModelRows map[string]int `json:"model_rows"`
	// AtReactiveTarget is the scaling at the reactive baseline's target.
	AtReactiveTarget Scaling `json:"at_reactive_target"`
	// Best is the cheapest target of the grid that is as safe as the baseline
	// (within the allowance); absent when none is.
	Best *Choice `json:"best,omitempty"`
	// ShareOfPerfect is Best's saving over the perfect strategy's best
	// saving; absent when either is absent or perfect foresight saves nothing.
	ShareOfPerfect *float64 `json:"share_of_perfect,omitempty"`
}

// Choice is a chosen target with its saving against the baseline.
type Choice struct {
	Scaling
	// Saving is 1 - pod-minutes / baseline pod-minutes.
	Saving float64 `json:"saving"`
}

// PredictiveSummary is the headline: predictive scaling at its chosen target
// against the reactive baseline, and the reverse check.
type PredictiveSummary struct {
	// Model is the predictive model asked for.
	Model string `json:"model"`
	// Target is the chosen target: the cheapest as safe as the baseline, or
	// the safest one when none is.
	Target float64 `json:"target"`
	// MeetsSafety reports that some target was as safe as the baseline.
	MeetsSafety bool `json:"meets_safety"`
	// Saving is 1 - chosen pod-minutes / baseline pod-minutes.
	Saving float64 `json:"saving"`
	// Chosen is the scaling at Target.
	Chosen Scaling `json:"chosen"`
	// PerfectSaving is the perfect strategy's saving at its cheapest target
	// as safe as the baseline, in the same setting: what forecasting could save.
	PerfectSaving float64 `json:"perfect_saving"`
	// ShareOfPerfect is Saving / PerfectSaving when predictive scaling meets
	// the baseline's safety and perfect foresight saves anything; 0 otherwise.
	ShareOfPerfect float64 `json:"share_of_perfect"`
	// Baseline is reactive scaling at the reactive target.
	Baseline Scaling `json:"baseline"`
	// Reverse is the reverse check.
	Reverse ReverseCheck `json:"reverse"`
}

// ReverseCheck asks what reactive scaling needs to be as safe as predictive
// scaling at its chosen target: the cheapest reactive target with no more
// under-provisioned time, and its pod-minutes as a ratio of predictive's.
type ReverseCheck struct {
	// PredictiveTarget is predictive scaling's chosen target.
	PredictiveTarget float64 `json:"predictive_target"`
	// PredictivePodMinutes and PredictiveUnderProvisionedMinutes are its figures.
	PredictivePodMinutes              float64 `json:"predictive_pod_minutes"`
	PredictiveUnderProvisionedMinutes float64 `json:"predictive_underprovisioned_minutes"`
	// Matched reports that a reactive target on the grid is as safe.
	Matched bool `json:"matched"`
	// ReactiveTarget is the matching target, or the safest one when none matched.
	ReactiveTarget float64 `json:"reactive_target"`
	// ReactivePodMinutes and ReactiveUnderProvisionedMinutes are reactive
	// scaling's figures at ReactiveTarget.
	ReactivePodMinutes              float64 `json:"reactive_pod_minutes"`
	ReactiveUnderProvisionedMinutes float64 `json:"reactive_underprovisioned_minutes"`
	// Ratio is reactive pod-minutes over predictive pod-minutes.
	Ratio float64 `json:"ratio"`
	// Passes reports Ratio >= ReverseCheckMinRatio, or that reactive scaling
	// cannot be as safe at all.
	Passes bool `json:"passes"`
}

// horizonPeaks returns, per sample, the peak value of the samples in
// (ts, ts+horizon], or NaN when there are none.
func horizonPeaks(samples []Sample, horizon int64) []float64 {
	peaks := make([]float64, len(samples))
	for i, s := range samples {
		peak := math.NaN()
		for j := i + 1; j < len(samples) && samples[j].TS <= s.TS+horizon; j++ {
			if math.IsNaN(peak) || samples[j].Value > peak {
				peak = samples[j].Value
			}
		}
		peaks[i] = peak
	}
	return peaks
}

// forecastError scores served values against horizon peaks on rows at or after scoredFrom.
func forecastError(samples []Sample, served, peaks []float64, scoredFrom int64) ForecastError {
	var fe ForecastError
	var absSum, smapeSum float64
	var smapeRows, under int
	for i, s := range samples {
		if s.TS < scoredFrom || math.IsNaN(peaks[i]) {
			continue
		}
		f, a := served[i], peaks[i]
		fe.Rows++
		absSum += math.Abs(f - a)
		if d := math.Abs(f) + math.Abs(a); d > 0 {
			smapeSum += 2 * math.Abs(f-a) / d
		}
		smapeRows++
		if f < a {
			under++
		}
	}
	if fe.Rows > 0 {
		fe.MAE = absSum / float64(fe.Rows)
		fe.UnderForecastShare = float64(under) / float64(fe.Rows)
		fe.SMAPE = smapeSum / float64(smapeRows)
	}
	return fe
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error { return writeJSON(w, r, "report") }

// writeJSON writes the report v as indented JSON; an error names what.
func writeJSON(w io.Writer, v any, what string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

// WriteTable writes the report as aligned text.
func (r *Report) WriteTable(w io.Writer, name string) error {
	var b strings.Builder
	in, st := r.Input, r.Settings
	moved := ""
	if in.MovedRows > 0 {
		moved = fmt.Sprintf(", %d moved onto the step's grid (by up to %s)", in.MovedRows, seconds(in.LargestMove))
	}
	fmt.Fprintf(&b, "%s: %d rows, step %s, %.1f days, %d missing rows%s; scored %.1f days after %s warm-up\n",
		name, in.Rows, seconds(in.StepSeconds), float64(in.End-in.Start)/86400, in.MissingRows, moved,
		in.ScoredMinutes/1440, seconds(st.WarmupSeconds))
	filtered := ""
	switch forecast.SpikeFilter(st.FilterSpikes) {
	case forecast.SpikeFilterOn:
		filtered = "; forecasts read the median of each sample and the two before it"
	case forecast.SpikeFilterOff:
		filtered = "; spike filter off"
	}
	horizon := seconds(st.HorizonSeconds)
	if st.RequestedHorizon > 0 && st.RequestedHorizon < st.HorizonSeconds {
		horizon += fmt.Sprintf(" (one step; %s asked)", seconds(st.RequestedHorizon))
	}
	fmt.Fprintf(&b, "pod capacity %.4g (p99 load %.4g needs %.0f pods), start-up %s, horizon %s, quantile %.2g, sync %s%s\n\n",
		st.Capacity, st.P99Load, st.PodsAtP99, seconds(st.StartupDelaySeconds), horizon, st.Quantile, seconds(st.SyncPeriodSeconds), filtered)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-14s\t%-14s\tMASE\tsMAPE\tunder-fc\tfallback\ttarget\tpod-min\tunder-prov\tunder-min\tunmet\tactions\tsaving\tof perfect\t\n", "strategy", "model")
	row := func(s StrategyReport, sc Scaling, saving, share string) {
		mase := "-"
		if s.Forecast.MASE != nil {
			mase = fmt.Sprintf("%.3f", *s.Forecast.MASE)
		}
		fmt.Fprintf(tw, "%-14s\t%-14s\t%s\t%.1f%%\t%.1f%%\t%.1f%%\t%.0f%%\t%.0f\t%.2f%%\t%.0f\t%.3f%%\t%d\t%s\t%s\t\n",
			s.Name, s.Model, mase, 100*s.Forecast.SMAPE, 100*s.Forecast.UnderForecastShare, 100*s.FallbackShare,
			100*sc.Target, sc.PodMinutes, 100*sc.UnderProvisionedShare, sc.UnderProvisionedMinutes,
			100*sc.UnmetDemandShare, sc.ScalingActions, saving, share)
	}
	for _, s := range r.Strategies {
		share := "-"
		if s.ShareOfPerfect != nil {
			share = fmt.Sprintf("%.0f%%", 100**s.ShareOfPerfect)
		}
		if s.Best == nil || s.Best.Target != s.AtReactiveTarget.Target {
			row(s, s.AtReactiveTarget, pct(saving(r.Baseline.PodMinutes, s.AtReactiveTarget.PodMinutes)), "-")
		}
		if s.Best != nil {
			row(s, s.Best.Scaling, pct(s.Best.Saving), share)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	p := r.Predictive
	b.WriteString("\n")
	if p.MeetsSafety {
		fmt.Fprintf(&b, "predictive (%s) at target %.0f%%: %s pod-minutes saved vs reactive at %.0f%% (%.0f vs %.0f); under-provisioned %.0f vs %.0f min\n",
			p.Model, 100*p.Target, pct(p.Saving), 100*r.Settings.ReactiveTarget, p.Chosen.PodMinutes, p.Baseline.PodMinutes,
			p.Chosen.UnderProvisionedMinutes, p.Baseline.UnderProvisionedMinutes)
	} else {
		fmt.Fprintf(&b, "predictive (%s): no target on the grid is as safe as reactive at %.0f%% (%.0f under-provisioned min); safest is %.0f%% with %.0f min, %s pod-minutes saved\n",
			p.Model, 100*r.Settings.ReactiveTarget, p.Baseline.UnderProvisionedMinutes, 100*p.Target, p.Chosen.UnderProvisionedMinutes, pct(p.Saving))
	}
	fmt.Fprintf(&b, "perfect foresight (highest load of the next %s) saves %s at equal safety; predictive reaches %.0f%% of it\n",
		seconds(st.PerfectSeconds), pct(p.PerfectSaving), 100*p.ShareOfPerfect)
	if f := r.strategy(StrategyPredictive).SpikesFiltered; f > 0 {
		fmt.Fprintf(&b, "spike filter %s: the predictive forecast read the median of each sample and the two before it on %.0f%% of scored rows\n",
			st.FilterSpikes, 100*f)
	}
	if st.CompareModels {
		b.WriteString(r.modelsAlone())
	}
	rc := p.Reverse
	verdict := "pass"
	if !rc.Passes {
		verdict = "FAIL"
	}
	if rc.Matched {
		fmt.Fprintf(&b, "reverse check: reactive needs target %.0f%% to be as safe (%.0f <= %.0f under-provisioned min): %.1f%% of predictive's pod-minutes (>= %.0f%%: %s)\n",
			100*rc.ReactiveTarget, rc.ReactiveUnderProvisionedMinutes, rc.PredictiveUnderProvisionedMinutes, 100*rc.Ratio, 100*ReverseCheckMinRatio, verdict)
	} else {
		fmt.Fprintf(&b, "reverse check: reactive is never as safe on the grid (best %.0f min at %.0f%%, predictive %.0f min): %s\n",
			rc.ReactiveUnderProvisionedMinutes, 100*rc.ReactiveTarget, rc.PredictiveUnderProvisionedMinutes, verdict)
	}
	if s := r.SLO; s != nil {
		fmt.Fprintf(&b, "SLO mode (under-provisioned at most %.2f%%, utilisation at most %.0f%%): achieved %.2f%% (%.0f min), %.0f pod-minutes, %s vs reactive; best fixed target %s (SLO mode reaches %.0f%% of it); utilisation mean %.0f%%, final %.0f%%\n",
			100*s.UnderProvisioned, 100*s.MaxUtilization, 100*s.Scaling.UnderProvisionedShare, s.Scaling.UnderProvisionedMinutes,
			s.Scaling.PodMinutes, pct(s.Saving), pct(s.BestFixedSaving), 100*s.ShareOfBestFixed, 100*s.MeanUtilization, 100*s.FinalUtilization)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// modelsAlone is the table's line on the models forced alone (the
// strategies other than the reactive baseline, predictive scaling and
// perfect foresight), best first by their saving at equal safety, with
// predictive scaling's for comparison.
func (r Report) modelsAlone() string {
	var alone []StrategyReport
	for _, s := range r.Strategies {
		switch s.Name {
		case StrategyReactive, StrategyPredictive, StrategyPerfect:
			continue
		}
		alone = append(alone, s)
	}
	savingOf := func(s StrategyReport) float64 {
		if s.Best == nil {
			return math.Inf(-1)
		}
		return s.Best.Saving
	}
	slices.SortStableFunc(alone, func(a, b StrategyReport) int { return cmp.Compare(savingOf(b), savingOf(a)) })
	result := func(s StrategyReport) string {
		switch {
		case s.Best == nil:
			return "never as safe"
		case s.ShareOfPerfect != nil:
			return fmt.Sprintf("%.0f%%", 100**s.ShareOfPerfect)
		default:
			return pct(s.Best.Saving) + " saved"
		}
	}
	parts := make([]string, len(alone))
	for i, s := range alone {
		parts[i] = s.Name + " " + result(s)
	}
	pred := r.strategy(StrategyPredictive)
	return fmt.Sprintf("models forced alone, by share of perfect foresight: %s; predictive (%s) %s\n",
		strings.Join(parts, ", "), pred.Model, result(pred))
}

// strategy returns the report of the strategy named name (zero if absent).
func (r Report) strategy(name string) StrategyReport {
	for _, s := range r.Strategies {
		if s.Name == name {
			return s
		}
	}
	return StrategyReport{}
}

func pct(f float64) string { return fmt.Sprintf("%+.1f%%", 100*f) }

func seconds(s float64) string { return (time.Duration(s * float64(time.Second))).String() }
