package serving

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/source"
)

// A warm start loads each series' whole history in one batch and fits its
// model once, at the latest refit grid point, rather than at every refit
// interval of the history; the fit is timed in
// foresight_forecast_fit_duration_seconds.
func TestLoopWarmStartFitsEachSeriesOnce(t *testing.T) {
	const series = 3
	tl := newTestLoopWith(t, time.Hour, func(emb *source.Embedded) {
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
	})
	rules, err := ConfigLoader("rules.yaml", []byte(rulesYAML(
		"  - name: load\n    query: load{<<.LabelMatchers>>}\n    api: external\n    forecast: {step: 1m, model: holt-winters, history: 2d}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := tl.loop.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "first cycle", tl.loop.Ready)

	m := tl.metrics
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
