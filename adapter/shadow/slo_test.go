package shadow

import (
	"math"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/slo"
)

// An SLO-mode strategy serves, after every sample, the replica demand that
// an slo.Controller fed the same samples and forecasts chooses (the code
// the backtest's SLO mode and serving run), replays it at target 1, and
// reports the controller's utilisation, achieved share and pod-minutes
// against the reactive baseline.
func TestSLOStrategyServesTheControllersDemand(t *testing.T) {
	h := hpa.Config{MaxReplicas: 1000, StartupDelay: 2 * time.Minute}
	sloCfg := slo.Config{Capacity: 10, UnderProvisioned: 0.02, MaxUtilization: 1.2, Window: 12 * time.Hour, HPA: h}
	settings := forecast.Settings{Step: time.Minute, Horizon: 5 * time.Minute, Model: forecast.ModelSeasonalNaive, History: 2 * 24 * time.Hour}
	ev, err := NewEvaluator(Config{Capacity: 10, HPA: h, Step: time.Minute}, []Strategy{
		{Name: "reactive", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 0.7},
		{Name: StrategySLO, Settings: settings, Target: 0.7, SLO: &sloCfg},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := forecast.NewForecaster(settings)
	if err != nil {
		t.Fatal(err)
	}
	c := sloCfg
	c.Step = time.Minute
	ctrl, err := slo.New(c)
	if err != nil {
		t.Fatal(err)
	}
	start := int64(1_800_000_000)
	for i := range 3 * 1440 {
		ts := start + int64(i)*60
		v := 200 + 100*math.Sin(2*math.Pi*float64(i)/1440) + float64((i*7919)%17)
		if err := ev.Observe(ts, v); err != nil {
			t.Fatal(err)
		}
		if err := f.Observe(ts, v); err != nil {
			t.Fatal(err)
		}
		fc := f.Serve()
		if err := ctrl.Observe(ts, v, fc.Value, fc.Fallback); err != nil {
			t.Fatal(err)
		}
		got := ev.strategies[1].lastV
		if want := ctrl.Demand(fc.Value, fc.Fallback) * 10; math.Abs(got-want) > 1e-9 {
			t.Fatalf("sample %d: SLO strategy served %v, the controller's demand is %v", i, got, want)
		}
	}
	sum := ev.Summary()
	s, r := sum.Strategies[1], sum.Strategies[0]
	st := ctrl.Status()
	if s.Target != 1 || s.SLO == nil || r.SLO != nil {
		t.Fatalf("SLO strategy target %v, state %+v; reactive state %+v", s.Target, s.SLO, r.SLO)
	}
	if st.Evaluations == 0 || s.SLO.UnderProvisionedShare == nil || *s.SLO.UnderProvisionedShare != st.UnderProvisionedShare ||
		s.SLO.Utilization != st.Utilization || s.SLO.PodMinutes != st.PodMinutes || s.SLO.ReactivePodMinutes != st.ReactivePodMinutes {
		t.Errorf("SLO state %+v, controller status %+v", s.SLO, st)
	}
	if s.SLO.Utilization == c.ReactiveTarget || s.SLO.Utilization == 0 {
		t.Errorf("utilisation %v: the controller never moved", s.SLO.Utilization)
	}
	if !(s.Total.PodMinutes > 0) || s.Total.PodMinutes == r.Total.PodMinutes {
		t.Errorf("pod-minutes: SLO strategy %v, reactive %v", s.Total.PodMinutes, r.Total.PodMinutes)
	}
	if _, err := NewEvaluator(Config{Capacity: 10, HPA: h, Step: time.Minute}, []Strategy{
		{Name: "bad", Settings: settings, SLO: &slo.Config{Capacity: 10, UnderProvisioned: 2}},
	}); err == nil {
		t.Error("an invalid SLO configuration was accepted")
	}
}
