//go:build integration

package backtest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// The targets on the real traces of testdata/traces, with the
// default settings (p99 needs 20 pods, 120 s start-up, horizon 5m, 2 days of
// warm-up, reactive baseline at 70%):
//   - periodic traces: predictive scaling at a higher target saves at least
//     19% of pod-minutes (median) at no more under-provisioned time (0.1
//     percentage point allowance), and on every trace at least 70% of what
//     perfect foresight saves in the same setting (at least 90% on the
//     median); a trace where no target is that safe counts as no saving at
//     all;
//   - non-periodic traces: reactive scaling as safe as predictive scaling at
//     its chosen target needs at least 95% of its pod-minutes.
var (
	periodicTraces    = []string{"crane-input0", "crane-input1", "crane-input2", "crane-input15", "nasa-http-1995"}
	nonPeriodicTraces = []string{"crane-input3", "crane-input4", "crane-input5", "crane-input6", "crane-input7"}
)

// generalisationTraces are further periodic traces held, each on its own,
// to the bar for series outside the set the forecaster was developed on: at
// least minOutsideShareOfPerfect of perfect foresight's saving at no more
// under-provisioned time (no median, no SLO-mode target). They check that
// the forecaster generalises to other steps and noise levels. crane-input12
// is left out: knowing its level over the coming ten minutes in hindsight
// reaches only 26% of perfect foresight's saving (BENCHMARKS.md, its
// known-level bound), so no forecast can meet the bar there.
var generalisationTraces = []string{
	"flights-2001-us-departures", "flights-2001-ord-departures-5m",
	"crane-input8", "crane-input9", "crane-input10", "crane-input11", "crane-input13", "crane-input14",
}

const (
	minMedianSaving          = 0.19
	minShareOfPerfect        = 0.7 // every periodic trace of the shared set
	minOutsideShareOfPerfect = 0.6 // every periodic series outside it
	minMedianShareOfPerfect  = 0.9
)

// SLO mode with the objective set to the reactive baseline's own
// under-provisioned share: on every periodic trace its saving reaches this
// share of the best fixed target's (chosen in hindsight), and the achieved
// share stays within sloSlack times the objective (plus the allowance): the
// controller learns from the past week and serves today.
const (
	minSLOShareOfBestFixed = 0.8
	sloSlack               = 1.25
)

func TestRealTracesMeetTargets(t *testing.T) {
	savings := make([]float64, 0, len(periodicTraces))
	shares := make([]float64, 0, len(periodicTraces))
	sloShares := make([]float64, 0, len(periodicTraces))
	for _, name := range periodicTraces {
		rep := runTrace(t, name, true)
		if s := rep.SLO; s == nil {
			t.Errorf("%s: no SLO report", name)
		} else {
			t.Logf("%s: SLO mode at %.2f%% under-provisioned: achieved %.2f%%, saving %+.1f%% vs best fixed target %+.1f%% (share %.0f%%), utilisation mean %.2f, final %.2f",
				name, 100*s.UnderProvisioned, 100*s.Scaling.UnderProvisionedShare, 100*s.Saving, 100*s.BestFixedSaving, 100*s.ShareOfBestFixed, s.MeanUtilization, s.FinalUtilization)
			sloShares = append(sloShares, s.ShareOfBestFixed)
			if !(s.Saving > 0) {
				t.Errorf("%s: SLO mode saves %+.1f%% against reactive, want a saving", name, 100*s.Saving)
			}
			if !(s.ShareOfBestFixed >= minSLOShareOfBestFixed) {
				t.Errorf("%s: SLO mode reaches %.0f%% of the best fixed target's saving, want >= %.0f%%", name, 100*s.ShareOfBestFixed, 100*minSLOShareOfBestFixed)
			}
			if lim := sloSlack*s.UnderProvisioned + rep.Settings.Allowance; s.Scaling.UnderProvisionedShare > lim {
				t.Errorf("%s: SLO mode under-provisioned %.3f%% of the time, objective %.3f%% (limit %.3f%%)", name,
					100*s.Scaling.UnderProvisionedShare, 100*s.UnderProvisioned, 100*lim)
			}
		}
		savings = append(savings, checkShareOfPerfect(t, name, rep, minShareOfPerfect))
		share := math.Inf(-1) // no target as safe as reactive: no share
		if rep.Predictive.MeetsSafety {
			share = rep.Predictive.ShareOfPerfect
		}
		shares = append(shares, share)
	}
	if m := median(shares); !(m >= minMedianShareOfPerfect) {
		t.Errorf("median share of perfect foresight's saving on periodic traces %.1f%%, want >= %.0f%% (per trace: %v)", 100*m, 100*minMedianShareOfPerfect, percents(shares))
	}
	if m := median(sloShares); !(m >= minSLOShareOfBestFixed) {
		t.Errorf("SLO mode: median share of the best fixed target's saving %.0f%%, want >= %.0f%% (per trace: %v)", 100*m, 100*minSLOShareOfBestFixed, percents(sloShares))
	}
	if m := median(savings); !(m >= minMedianSaving) {
		t.Errorf("median saving on periodic traces %.1f%%, want >= %.0f%% (per trace: %v)", 100*m, 100*minMedianSaving, percents(savings))
	}
	for _, name := range nonPeriodicTraces {
		rep := runTrace(t, name, true)
		rc := rep.Predictive.Reverse
		t.Logf("%s: predictive at %.0f%% (%.0f pod-min, %.0f under-min); reactive at %.0f%% (%.0f pod-min, %.0f under-min, matched %v): ratio %.3f",
			name, 100*rc.PredictiveTarget, rc.PredictivePodMinutes, rc.PredictiveUnderProvisionedMinutes,
			100*rc.ReactiveTarget, rc.ReactivePodMinutes, rc.ReactiveUnderProvisionedMinutes, rc.Matched, rc.Ratio)
		if rc.Matched && rc.ReactiveUnderProvisionedMinutes > rc.PredictiveUnderProvisionedMinutes+1e-9 {
			t.Errorf("%s: reverse check matched a less safe reactive target", name)
		}
		if rc.Matched && rc.Ratio < ReverseCheckMinRatio {
			t.Errorf("%s: reactive as safe as predictive needs %.1f%% of its pod-minutes, want >= %.0f%%",
				name, 100*rc.Ratio, 100*ReverseCheckMinRatio)
		}
	}
}

// TestGeneralisationTracesReachShareOfPerfect holds each of
// generalisationTraces to the bar for periodic series outside the shared
// traces.
func TestGeneralisationTracesReachShareOfPerfect(t *testing.T) {
	for _, name := range generalisationTraces {
		checkShareOfPerfect(t, name, runTrace(t, name, false), minOutsideShareOfPerfect)
	}
}

// TestDailyCountSeriesReachShareOfPerfect holds generated request counts to
// the bar for series outside the shared traces: Poisson counts per minute
// around a smooth daily rate, at 10 and 30 a minute on average, for 16 days.
// Such a series has nothing to forecast beyond its rate, and its noise is
// that of independent arrivals at that rate. A server told the rate exactly
// reaches 79% and 74% of perfect foresight's saving on these two series
// (BENCHMARKS.md, the known-rate bound), so the bar leaves the forecaster
// room for what it has to learn.
func TestDailyCountSeriesReachShareOfPerfect(t *testing.T) {
	for _, mean := range []float64{10, 30} {
		name := fmt.Sprintf("Poisson counts around a daily rate, %g a minute", mean)
		res, err := Run(context.Background(), dailyCounts(16, mean, 1), DefaultOptions())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkShareOfPerfect(t, name, res.Report, minOutsideShareOfPerfect)
	}
}

// dailyCounts draws days of one-minute Poisson counts, seeded, around a
// daily rate with the given mean: quiet nights at a quarter of the peak, a
// rise through the morning to a peak at midday, and a short evening
// shoulder. Samples are stamped at the end of their minute from a UTC
// midnight.
func dailyCounts(days int, mean float64, seed uint64) []Sample {
	const midnight = 1_700_006_400 // 2023-11-15T00:00:00Z
	day := 24 * 60
	src := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	shape := func(phase float64) float64 {
		evening := (phase - 0.8) / 0.04
		return 0.25 + 0.75*math.Pow((1-math.Cos(2*math.Pi*phase))/2, 1.5) + 0.15*math.Exp(-evening*evening)
	}
	var total float64
	for i := range day {
		total += shape(float64(i) / float64(day))
	}
	scale := mean * float64(day) / total
	out := make([]Sample, days*day)
	for i := range out {
		lambda := scale * shape(float64(i%day)/float64(day))
		out[i] = Sample{TS: midnight + 60*int64(i+1), Value: distuv.Poisson{Lambda: lambda, Src: src}.Rand()}
	}
	return out
}

// checkShareOfPerfect logs predictive scaling's figures on a periodic trace
// and fails unless it reaches minShare of perfect foresight's saving at a
// target no less safe than the reactive baseline. It returns the saving, or
// -Inf when no target is that safe.
func checkShareOfPerfect(t *testing.T, name string, rep Report, minShare float64) float64 {
	t.Helper()
	p := rep.Predictive
	saving := math.Inf(-1)
	if p.MeetsSafety {
		saving = p.Saving
		if p.Chosen.UnderProvisionedShare > p.Baseline.UnderProvisionedShare+rep.Settings.Allowance+1e-12 {
			t.Errorf("%s: chosen target %.2f is less safe than the baseline: %+v vs %+v", name, p.Target, p.Chosen, p.Baseline)
		}
	}
	t.Logf("%s: target %.0f%%, saving %+.1f%% (perfect foresight %+.1f%%, share %.1f%%), under-provisioned %.0f min vs reactive %.0f min, pod-minutes %.0f vs %.0f",
		name, 100*p.Target, 100*p.Saving, 100*p.PerfectSaving, 100*p.ShareOfPerfect, p.Chosen.UnderProvisionedMinutes,
		p.Baseline.UnderProvisionedMinutes, p.Chosen.PodMinutes, p.Baseline.PodMinutes)
	if p.MeetsSafety && p.PerfectSaving > 0 && math.Abs(p.ShareOfPerfect-p.Saving/p.PerfectSaving) > 1e-9 {
		t.Errorf("%s: share of perfect %v, want %v / %v", name, p.ShareOfPerfect, p.Saving, p.PerfectSaving)
	}
	if !(p.MeetsSafety && p.ShareOfPerfect >= minShare) {
		t.Errorf("%s: %.1f%% of perfect foresight's saving, want >= %.0f%%", name, 100*p.ShareOfPerfect, 100*minShare)
	}
	return saving
}

// runTrace backtests the trace name with the default options, and with SLO
// mode at the reactive baseline's under-provisioned share when slo is set.
func runTrace(t *testing.T, name string, slo bool) Report {
	t.Helper()
	opts := DefaultOptions()
	if slo {
		opts.SLO = &SLOOptions{UnderProvisioned: -1}
	}
	res, err := Run(context.Background(), readTrace(t, name), opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res.Report
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func percents(v []float64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprintf("%+.1f%%", 100*x)
	}
	return out
}
