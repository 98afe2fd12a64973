package shadow_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/backtest"
	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/trace"
)

// traceSamples returns up to days of crane-input0 (or the trace named by
// FORESIGHT_SHADOW_TRACE) from the repository's testdata/traces.
func traceSamples(t *testing.T, days int) ([]backtest.Sample, string) {
	t.Helper()
	name := "crane-input0"
	if n := os.Getenv("FORESIGHT_SHADOW_TRACE"); n != "" {
		name = n
	}
	samples, err := trace.ReadFile(filepath.Join("..", "..", "testdata", "traces", name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	end := samples[0].TS + int64(days)*86400
	n := 0
	for n < len(samples) && samples[n].TS <= end {
		n++
	}
	return samples[:n], name
}

// TestShadowEqualsBacktest replays a real trace through an Evaluator with
// three strategies and checks that pod-minutes, under-provisioned minutes and
// scaling actions equal what the backtest's Timeline.Replay computes for the
// same served values, and that the cost-weighted strategy serves what
// backtest.WeighDemand computes.
func TestShadowEqualsBacktest(t *testing.T) {
	days := 3
	if os.Getenv("FORESIGHT_SHADOW_TRACE") == "nasa-http-1995" {
		days = 40 // past the gap of Jul 28-31 and the outage of Aug 1-3
	}
	samples, name := traceSamples(t, days)
	step, err := trace.InferStep(samples)
	if err != nil {
		t.Fatal(err)
	}
	capacity := 0.0
	for _, s := range samples {
		capacity = max(capacity, s.Value)
	}
	capacity /= 15
	warmup := 24 * time.Hour
	scoreFrom := samples[0].TS + int64(warmup/time.Second)
	h := hpa.Config{MinReplicas: 1, MaxReplicas: 1000, StartupDelay: 120 * time.Second}
	base := forecast.Settings{Step: step, Horizon: 5 * time.Minute, Quantile: 0.9, RefitInterval: 2 * time.Hour, WarmUp: 6 * time.Hour}
	withModel := func(m forecast.Model) forecast.Settings { s := base; s.Model = m; return s }
	params := cost.Params{}
	strategies := []shadow.Strategy{
		{Name: "reactive", Settings: withModel(forecast.ModelReactive), Target: 0.7},
		{Name: "holt-winters", Settings: withModel(forecast.ModelHoltWinters), Target: 0.8},
		{Name: "cost-weighted", Settings: withModel(forecast.ModelSeasonalNaive), Cost: &params},
	}
	prices, err := backtest.DayNightPrices(samples[0].TS, samples[len(samples)-1].TS, 2, 1, 8, 20)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := shadow.NewEvaluator(shadow.Config{Capacity: capacity, HPA: h, Step: step, ScoreFrom: scoreFrom}, strategies)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for _, s := range samples {
		for next < len(prices) && prices[next].TS <= s.TS {
			if err := ev.ObservePrice(prices[next].TS, prices[next].Price); err != nil {
				t.Fatal(err)
			}
			next++
		}
		if err := ev.Observe(s.TS, s.Value); err != nil {
			t.Fatal(err)
		}
	}
	got := ev.Summary()

	tl, err := backtest.NewTimeline(samples, backtest.TimelineConfig{Step: step, Warmup: warmup, Capacity: capacity, HPA: h})
	if err != nil {
		t.Fatal(err)
	}
	n, tick := tl.Ticks()
	if wantEnd := samples[0].TS + int64(n)*tick; got.End != wantEnd {
		t.Fatalf("evaluator simulated up to %d, timeline to %d", got.End, wantEnd)
	}
	for i, st := range strategies {
		served, _, err := backtest.Serve(context.Background(), samples, st.Settings, scoreFrom, nil)
		if err != nil {
			t.Fatal(err)
		}
		target := st.Target
		if st.Cost != nil {
			p := *st.Cost
			p.SetDefaults()
			p.Capacity = capacity
			weighted, err := backtest.WeighDemand(samples, served, prices, p, backtest.CostOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for j, v := range weighted {
				served[j] = v * capacity
			}
			target = 1
		}
		replicas := make([]int32, n)
		want, err := tl.Replay(served, target, replicas)
		if err != nil {
			t.Fatal(err)
		}
		g := got.Strategies[i].Total
		t.Logf("%s %s: shadow pod-min %.0f under-min %.1f actions %d $%.2f; backtest %.0f %.1f %d $%.2f",
			name, st.Name, g.PodMinutes, g.UnderProvisionedMinutes, g.ScalingActions, g.Dollars,
			want.PodMinutes, want.UnderProvisionedMinutes, want.ScalingActions, tl.Dollars(replicas, prices))
		if g.PodMinutes != want.PodMinutes || g.UnderProvisionedMinutes != want.UnderProvisionedMinutes ||
			g.ScalingActions != want.ScalingActions || g.PeakReplicas != want.PeakReplicas {
			t.Errorf("%s: shadow %+v, backtest %+v", st.Name, g, want)
		}
		if d := tl.Dollars(replicas, prices); math.Abs(g.Dollars-d) > 1e-6*d {
			t.Errorf("%s: shadow dollars %v, backtest %v", st.Name, g.Dollars, d)
		}
		if got.Strategies[i].Replicas != replicas[n-1] {
			t.Errorf("%s: shadow replicas now %d, backtest's last tick %d", st.Name, got.Strategies[i].Replicas, replicas[n-1])
		}
		if want.PodMinutes == 0 {
			t.Errorf("%s: nothing was scored", st.Name)
		}
	}
}
