package backtest

import (
	"context"
	"math"
	"testing"

	"github.com/foresight-dev/foresight/adapter/slo"
)

func TestSLOModeReport(t *testing.T) {
	samples := diurnal(4, 60, 5)
	opts := quickOptions()
	opts.SLO = &SLOOptions{UnderProvisioned: -1, MaxUtilization: 1.1}
	res, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report
	s := rep.SLO
	if s == nil {
		t.Fatal("no SLO report")
	}
	if s.UnderProvisioned != rep.Baseline.UnderProvisionedShare || s.MaxUtilization != 1.1 {
		t.Errorf("objective %v, ceiling %v: want the baseline's share %v and 1.1", s.UnderProvisioned, s.MaxUtilization, rep.Baseline.UnderProvisionedShare)
	}
	if s.Scaling.Target != 1 {
		t.Errorf("SLO mode replayed at target %v, want AverageValue 1", s.Scaling.Target)
	}
	if want := 1 - s.Scaling.PodMinutes/rep.Baseline.PodMinutes; math.Abs(s.Saving-want) > 1e-12 {
		t.Errorf("saving %v, want %v", s.Saving, want)
	}
	if s.BestFixedSaving != rep.Predictive.Saving || (s.BestFixedSaving > 0 && math.Abs(s.ShareOfBestFixed-s.Saving/s.BestFixedSaving) > 1e-12) {
		t.Errorf("best fixed %v (predictive %v), share %v", s.BestFixedSaving, rep.Predictive.Saving, s.ShareOfBestFixed)
	}
	if s.MeanUtilization < slo.DefaultMinUtilization || s.MeanUtilization > 1.1 || s.FinalUtilization > 1.1 {
		t.Errorf("utilisation mean %v, final %v outside [%v, 1.1]", s.MeanUtilization, s.FinalUtilization, slo.DefaultMinUtilization)
	}
	// A smooth, well forecast load: SLO mode moves above the reactive
	// target and saves pod-minutes at the baseline's safety.
	if !(s.MeanUtilization > opts.ReactiveTarget) || !(s.Saving > 0) {
		t.Errorf("SLO mode: mean utilisation %v, saving %v; want above %v and a saving", s.MeanUtilization, s.Saving, opts.ReactiveTarget)
	}
	// Without SLO options there is no SLO report.
	res, err = Run(context.Background(), samples, quickOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.SLO != nil {
		t.Error("SLO report without SLO options")
	}
}
