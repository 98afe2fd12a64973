//go:build integration

package backtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The "What must hold" for cost weighting: on the periodic traces,
// with a price series in which a replica costs twice as much from 08:00 to
// 20:00 UTC (of the trace's timestamps) as at night, cost-weighted scaling
// spends at least 5% fewer dollars than cost-blind predictive scaling, with
// no more under-provisioned minutes than reactive scaling at a 70% target.
// Default settings and default cost parameters: both predictive strategies
// run at the operator's one target, 70% (u0 of the weighting), and the
// weighting's reference is the lowest price of the last week.
//
// The test also logs the saving against cost-blind predictive scaling at
// the target the plain backtest chose for it (its cheapest target as safe
// as reactive): that comparison is not the requirement, and the weighting
// does not reach 5% there (BENCHMARKS.md). It always asserts what the
// weighting does by construction: it shifts pods to cheap hours, so
// cost-weighted scaling pays a lower mean price per pod-hour than
// cost-blind scaling at u0, and every strategy's dollars lie between its
// pod-hours at the lowest and at the highest price.
const minCostSaving = 0.05

func TestRealTracesCostWeighting(t *testing.T) {
	names := periodicTraces
	if only := os.Getenv("FORESIGHT_COST_TRACES"); only != "" {
		names = filepath.SplitList(only)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			rep := runCostTrace(t, name)
			for _, s := range rep.Strategies {
				t.Logf("%s %-13s target %.2f  $%.2f  pod-min %.0f  under-min %.0f  actions %d",
					name, s.Name, s.Target, s.Dollars, s.PodMinutes, s.UnderProvisionedMinutes, s.ScalingActions)
			}
			t.Logf("%s: u0 %.2f, umax %.2f, saving %+.2f%% against cost-blind predictive at u0, %+.2f%% against cost-blind predictive at its chosen target, as safe as reactive: %v",
				name, rep.Params.TargetUtilization, rep.Params.MaxUtilization, 100*rep.Saving, 100*rep.SavingVsChosen, rep.AsSafeAsReactive)
			if rep.Saving < minCostSaving {
				t.Errorf("%s: cost-weighted saves %.2f%% of cost-blind predictive's dollars, want >= %.0f%%", name, 100*rep.Saving, 100*minCostSaving)
			}
			if !rep.AsSafeAsReactive {
				t.Errorf("%s: cost-weighted has %.0f under-provisioned minutes, reactive at 70%% %.0f",
					name, rep.Strategies[2].UnderProvisionedMinutes, rep.Strategies[0].UnderProvisionedMinutes)
			}
			for _, s := range rep.Strategies {
				if ph := s.PodMinutes / 60; !(s.Dollars >= ph-1e-6 && s.Dollars <= 2*ph+1e-6) {
					t.Errorf("%s %s: $%.2f outside [%.2f, %.2f] for %.0f pod-minutes at prices 1..2", name, s.Name, s.Dollars, ph, 2*ph, s.PodMinutes)
				}
			}
			weighted, atU0 := rep.Strategies[2], rep.Strategies[3]
			if w, b := weighted.Dollars/weighted.PodMinutes, atU0.Dollars/atU0.PodMinutes; !(w < b) {
				t.Errorf("%s: cost-weighted pays $%.5f per pod-minute, cost-blind at u0 $%.5f: the weighting did not shift pods to cheap hours", name, w, b)
			}
			if !(weighted.PodMinutes <= atU0.PodMinutes) {
				t.Errorf("%s: cost-weighted used %.0f pod-minutes, cost-blind at u0 %.0f: with the lowest price as reference it never needs more", name, weighted.PodMinutes, atU0.PodMinutes)
			}
		})
	}
}

func runCostTrace(t *testing.T, name string) CostReport {
	t.Helper()
	samples := readTrace(t, name)
	prices, err := DayNightPrices(samples[0].TS, samples[len(samples)-1].TS, 2, 1, 8, 20)
	if err != nil {
		t.Fatal(err)
	}
	var copts CostOptions
	if u0 := os.Getenv("FORESIGHT_COST_U0"); u0 != "" {
		if _, err := fmt.Sscan(u0, &copts.Params.TargetUtilization); err != nil {
			t.Fatalf("FORESIGHT_COST_U0: %v", err)
		}
	}
	res, err := RunCost(context.Background(), samples, prices, DefaultOptions(), copts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res.Report
}
