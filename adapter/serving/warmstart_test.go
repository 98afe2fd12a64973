package serving

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/source"
)

// A warm start loads each series' whole history in one batch and fits its
// model once, after the last sample, rather than at every refit interval of
// the history; the fit is timed in foresight_forecast_fit_duration_seconds.
func TestLoopWarmStartFitsEachSeriesOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb, err := source.NewEmbedded(source.EmbeddedOptions{Dir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	const series = 3
	from := testNow.Add(-2 * 24 * time.Hour) // eight 6-hour refit intervals
	for i := range series {
		var s []source.Sample
		for ts := from; !ts.After(testNow); ts = ts.Add(time.Minute) {
			day := 2 * math.Pi * float64(ts.Unix()%86400) / 86400
			s = append(s, source.Sample{T: ts.UnixMilli(), V: 100 + 40*math.Sin(day) + float64(i)})
		}
		if err := emb.AppendSeries(labels.FromStrings("__name__", "load", "namespace", "ns", "service", "s"+strconv.Itoa(i)), s); err != nil {
			t.Fatal(err)
		}
	}
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return testNow }
	loop, err := NewLoop(LoopOptions{Source: emb, Store: NewStore(now), Metrics: m, Logger: slog.New(slog.DiscardHandler),
		Now: now, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := ConfigLoader("rules.yaml", []byte(rulesYAML(
		"  - name: load\n    query: load{<<.LabelMatchers>>}\n    api: external\n    forecast: {step: 1m, model: holt-winters, history: 2d}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := loop.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { loop.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	waitUntil(t, "first cycle", loop.Ready)

	if n := testutil.CollectAndCount(m.fitDuration); n != 1 {
		t.Fatalf("fit duration histogram has %d label sets, want 1 (model holt-winters)", n)
	}
	var pb dto.Metric
	if err := m.fitDuration.WithLabelValues("holt-winters").(prometheus.Metric).Write(&pb); err != nil {
		t.Fatal(err)
	}
	if n := pb.GetHistogram().GetSampleCount(); n != series {
		t.Errorf("%d fits recorded for %d series warm-started on 2 days, want one each", n, series)
	}
	if sum := pb.GetHistogram().GetSampleSum(); sum <= 0 {
		t.Errorf("fit durations sum to %vs, want > 0", sum)
	}
}
