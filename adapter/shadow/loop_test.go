package shadow_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/backtest"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/source"
)

// TestShadowInServingLoopEqualsBacktest replays a real trace (shifted to end
// now) through the running serving loop, with a rule that evaluates three
// strategies in shadow, and checks that the shadow figures equal what the
// backtest computes on the samples the loop saw (the rule's range query).
func TestShadowInServingLoopEqualsBacktest(t *testing.T) {
	raw, name := traceSamples(t, 3)
	now := time.Unix(1_900_000_020, 0).Truncate(time.Minute)
	shift := now.Unix() - raw[len(raw)-1].TS
	reg := prometheus.NewRegistry()
	emb, err := source.NewEmbedded(source.EmbeddedOptions{Dir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	pts := make([]source.Sample, len(raw))
	for i, s := range raw {
		pts[i] = source.Sample{T: (s.TS + shift) * 1000, V: s.Value}
	}
	if err := emb.AppendSeries(labels.FromStrings("__name__", "load", "namespace", "shop", "app", "cart"), pts); err != nil {
		t.Fatal(err)
	}
	step := time.Minute
	settings := forecast.Settings{Step: step, Horizon: 5 * time.Minute, Quantile: 0.9, Model: forecast.ModelAuto,
		History: 14 * 24 * time.Hour, RefitInterval: 2 * time.Hour}
	withModel := func(m forecast.Model) forecast.Settings { s := settings; s.Model = m; return s }
	capacity := 0.0
	for _, s := range raw {
		capacity = max(capacity, s.Value)
	}
	capacity /= 15
	scoreFrom := raw[0].TS + shift + 86400
	h := hpa.Config{MinReplicas: 1, MaxReplicas: 1000, StartupDelay: 120 * time.Second}
	strategies := []shadow.Strategy{
		{Name: "reactive", Settings: withModel(forecast.ModelReactive), Target: 0.7},
		{Name: "holt-winters", Settings: withModel(forecast.ModelHoltWinters), Target: 0.8},
		{Name: "seasonal-naive", Settings: withModel(forecast.ModelSeasonalNaive), Target: 0.9},
	}
	shadowMetrics, err := shadow.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := serving.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := serving.NewStore(func() time.Time { return now })
	var cycles sync.WaitGroup
	cycles.Add(1)
	var once sync.Once
	loop, err := serving.NewLoop(serving.LoopOptions{Source: emb, Store: store, Metrics: m, ShadowMetrics: shadowMetrics,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, Interval: time.Hour,
		OnCycle: func(string, *serving.Snapshot) { once.Do(cycles.Done) }})
	if err != nil {
		t.Fatal(err)
	}
	rule := serving.Rule{
		Info:     serving.RuleInfo{Metric: "load", API: serving.APIExternal, NamespaceLabel: "namespace"},
		Query:    `load{namespace!=""}`,
		Settings: settings,
		Shadow: &serving.ShadowSpec{
			Config:     shadow.Config{Capacity: capacity, HPA: h, Step: step, ScoreFrom: scoreFrom},
			Strategies: strategies,
		},
	}
	if err := loop.SetRules([]serving.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { loop.Run(ctx) })
	cycles.Wait()
	cancel()
	wg.Wait()
	rep := loop.ShadowReport()
	if len(rep.Series) != 1 {
		t.Fatalf("shadow report has %d series, want 1", len(rep.Series))
	}
	got := rep.Series[0]
	if got.Metric != "load" || got.Namespace != "shop" || got.Series != `__name__="load",app="cart",namespace="shop"` {
		t.Errorf("series id %q %q %q", got.Metric, got.Namespace, got.Series)
	}

	// What the loop saw: the rule's query over the same range.
	res, err := emb.QueryRange(context.Background(), rule.Query, now.Add(-settings.History), now, step)
	if err != nil || len(res) != 1 {
		t.Fatalf("query: %v (%d series)", err, len(res))
	}
	var samples []backtest.Sample
	for _, p := range res[0].Samples {
		samples = append(samples, backtest.Sample{TS: p.T / 1000, Value: p.V})
	}
	tl, err := backtest.NewTimeline(samples, backtest.TimelineConfig{Step: step, Warmup: time.Duration(scoreFrom-samples[0].TS) * time.Second, Capacity: capacity, HPA: h})
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range strategies {
		served, _, err := backtest.Serve(context.Background(), samples, st.Settings, scoreFrom, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tl.Replay(served, st.Target, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := got.Strategies[i].Total
		t.Logf("%s via the serving loop, %s: shadow pod-min %.0f under-min %.1f actions %d; backtest %.0f %.1f %d",
			name, st.Name, g.PodMinutes, g.UnderProvisionedMinutes, g.ScalingActions, want.PodMinutes, want.UnderProvisionedMinutes, want.ScalingActions)
		if g.PodMinutes != want.PodMinutes || g.UnderProvisionedMinutes != want.UnderProvisionedMinutes || g.ScalingActions != want.ScalingActions {
			t.Errorf("%s: shadow %+v, backtest %+v", st.Name, g, want)
		}
	}
}
