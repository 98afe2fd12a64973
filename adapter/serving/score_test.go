package serving

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// A series' moves between a model and the reactive value are logged once
// each, with the metric, namespace, series and reason: the first fit of a
// model named in the rule that cannot serve (Warn), a fallback after a model
// served (Info, and the drift counter), and the recovery (Info). Warm-up and
// a steady state log nothing.
func TestScoreLogsServingTransitions(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	w := &worker{rule: Rule{Info: RuleInfo{Metric: "jobs_predicted", API: APIExternal},
		Settings: forecast.Settings{Model: forecast.ModelSeasonalNaive}}}
	st := &seriesState{entry: Entry{Namespace: "shop", SeriesName: `queue="jobs"`}}
	reactive := func(reason string) forecast.Forecast {
		return forecast.Forecast{Model: forecast.ModelReactive, Fallback: true, Reason: reason}
	}
	model := forecast.Forecast{Model: forecast.ModelSeasonalNaive, Reason: "chosen by backtest"}
	steps := []struct {
		fc   forecast.Forecast
		want string // the line logged, "" for none
	}{
		{reactive(forecast.ReasonWarmUp), ""},
		{reactive(forecast.ReasonWarmUp), ""},
		{reactive("model seasonal-naive cannot be fit yet"), `level=WARN msg="the rule's model cannot serve this series yet; it serves the reactive value" metric=jobs_predicted namespace=shop series="queue=\"jobs\"" reason="model seasonal-naive cannot be fit yet"`},
		{reactive("model seasonal-naive cannot be fit yet"), ""},
		{model, ""},
		{model, ""},
		{reactive("drift: forecast errors of seasonal-naive shifted"), `level=INFO msg="series serves the reactive value" metric=jobs_predicted namespace=shop series="queue=\"jobs\"" model=seasonal-naive reason="drift: forecast errors of seasonal-naive shifted"`},
		{reactive("drift: forecast errors of seasonal-naive shifted"), ""},
		{model, `level=INFO msg="series serves a model again" metric=jobs_predicted namespace=shop series="queue=\"jobs\"" model=seasonal-naive`},
		{model, ""},
	}
	for i, s := range steps {
		buf.Reset()
		w.score(m, log, st, s.fc)
		got := strings.TrimSpace(buf.String())
		if s.want == "" {
			if got != "" {
				t.Errorf("step %d (%s): logged %q, want nothing", i, s.fc.Reason, got)
			}
			continue
		}
		// The time and the data time vary; the rest is the line.
		if !strings.Contains(got, s.want) {
			t.Errorf("step %d (%s): logged %q, want it to contain %q", i, s.fc.Reason, got, s.want)
		}
	}
	if got := testutil.ToFloat64(m.driftFalls.WithLabelValues("jobs_predicted", string(forecast.ModelSeasonalNaive))); got != 1 {
		t.Errorf("drift fallbacks counted: %v, want 1", got)
	}
}

// A gauge below zero (a consumer lag of -1) is scored by the size of its actual, and a value
// that is not finite is not scored: neither stops the loop (a counter cannot decrease).
func TestScoreTakesNegativeAndNonFiniteValues(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{rule: Rule{Info: RuleInfo{Metric: "lag", API: APIExternal}, Settings: forecast.Settings{Model: forecast.ModelAuto}}}
	st := &seriesState{entry: Entry{Namespace: "shop", SeriesName: `topic="jobs"`}}
	eval := func(fc, actual float64) forecast.Forecast {
		return forecast.Forecast{Model: forecast.ModelHoltWinters, Evaluation: forecast.Evaluation{Valid: true, Model: forecast.ModelHoltWinters, Forecast: fc, Actual: actual}}
	}
	log := slog.New(slog.DiscardHandler)
	for _, fc := range []forecast.Forecast{eval(2, -1), eval(-3, -5), eval(math.NaN(), 4), eval(1, math.Inf(1))} {
		w.score(m, log, st, fc)
	}
	model := string(forecast.ModelHoltWinters)
	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"evaluations", testutil.ToFloat64(m.evals.WithLabelValues("lag", model)), 2},
		{"absolute error", testutil.ToFloat64(m.absErr.WithLabelValues("lag", model)), 3 + 2},
		{"actual", testutil.ToFloat64(m.actual.WithLabelValues("lag", model)), 1 + 5},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}
