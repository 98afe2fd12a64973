package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// diurnal returns a generated trace: a daily sinusoid with noise and a few
// bursts, one sample per step, for days days.
func diurnal(days int, step int64, seed uint64) []Sample {
	rng := rand.New(rand.NewPCG(seed, 7))
	n := int(int64(days) * 86400 / step)
	out := make([]Sample, n)
	const start = 1_700_000_000
	for i := range n {
		ts := start + int64(i)*step
		v := 100 + 60*math.Sin(2*math.Pi*float64(ts%86400)/86400) + rng.NormFloat64()*4
		if rng.IntN(2000) == 0 {
			v *= 1.5
		}
		out[i] = Sample{TS: ts, Value: max(v, 0)}
	}
	return out
}

func quickOptions() Options {
	o := DefaultOptions()
	o.Warmup = 24 * time.Hour
	return o
}

func TestRunReportShape(t *testing.T) {
	samples := diurnal(3, 60, 1)
	res, err := Run(context.Background(), samples, quickOptions())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := res.Report.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	for _, key := range []string{"input", "settings", "baseline", "strategies", "predictive"} {
		if _, ok := doc[key]; !ok {
			t.Errorf("report lacks %q", key)
		}
	}
	strategies, _ := doc["strategies"].([]any)
	var names []string
	for _, s := range strategies {
		m := s.(map[string]any)
		names = append(names, m["name"].(string))
		for _, key := range []string{"model", "forecast", "at_reactive_target", "fallback_share"} {
			if _, ok := m[key]; !ok {
				t.Errorf("strategy %v lacks %q", m["name"], key)
			}
		}
		sc := m["at_reactive_target"].(map[string]any)
		for _, key := range []string{"target", "pod_minutes", "underprovisioned_minutes", "underprovisioned_share", "unmet_demand_share", "scaling_actions"} {
			if _, ok := sc[key]; !ok {
				t.Errorf("strategy %v scaling lacks %q", m["name"], key)
			}
		}
		fe := m["forecast"].(map[string]any)
		for _, key := range []string{"mae", "smape", "under_forecast_share"} {
			if _, ok := fe[key]; !ok {
				t.Errorf("strategy %v forecast lacks %q", m["name"], key)
			}
		}
	}
	if want := []string{"reactive", "seasonal-naive", "linear", "predictive", "perfect"}; !slices.Equal(names, want) {
		t.Fatalf("strategies %v, want %v", names, want)
	}
	pred := doc["predictive"].(map[string]any)
	for _, key := range []string{"target", "saving", "meets_safety", "chosen", "baseline", "reverse"} {
		if _, ok := pred[key]; !ok {
			t.Errorf("predictive lacks %q", key)
		}
	}

	r := res.Report
	if r.Input.Rows != len(samples) || r.Input.StepSeconds != 60 || r.Input.ScoredMinutes != 2*1440-1 {
		t.Errorf("input %+v", r.Input)
	}
	// The capacity makes the p99 load need 20 pods.
	if got := r.Settings.P99Load / r.Settings.Capacity; math.Abs(got-20) > 1e-9 {
		t.Errorf("p99 needs %v pods, want 20", got)
	}
	// The reactive strategy at the reactive target is the baseline.
	if r.Strategies[0].AtReactiveTarget != r.Baseline {
		t.Errorf("reactive strategy %+v differs from baseline %+v", r.Strategies[0].AtReactiveTarget, r.Baseline)
	}
	if m := r.Strategies[1].Forecast.MASE; m == nil || *m != 1 {
		t.Errorf("seasonal-naive MASE %v, want 1", m)
	}
	// A chosen target must honour the safety rule it was chosen by.
	for _, s := range r.Strategies {
		if s.Best != nil && s.Best.UnderProvisionedShare > r.Baseline.UnderProvisionedShare+r.Settings.Allowance+1e-12 {
			t.Errorf("%s best target %v is less safe than the baseline", s.Name, s.Best.Target)
		}
	}
	if rc := r.Predictive.Reverse; rc.Matched && rc.ReactiveUnderProvisionedMinutes > rc.PredictiveUnderProvisionedMinutes+1e-9 {
		t.Errorf("reverse check matched a less safe reactive target: %+v", rc)
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table, "diurnal"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"strategy", "reactive", "seasonal-naive", "linear", "predictive", "reverse check"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// Served values are causal (truncating the input leaves earlier values
// unchanged) and deterministic (equal inputs, equal outputs).
func TestServedCausalAndDeterministic(t *testing.T) {
	samples := diurnal(2, 60, 2)
	settings := forecast.Settings{Step: time.Minute, Horizon: 5 * time.Minute, Quantile: 0.9, Model: forecast.ModelAuto}
	full, _, err := Serve(context.Background(), samples, settings, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := Serve(context.Background(), samples, settings, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(full, again) {
		t.Fatal("two runs on the same input served different values")
	}
	for _, cut := range []int{1, 100, 1440, 2000, len(samples) - 1} {
		part, _, err := Serve(context.Background(), samples[:cut], settings, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range part {
			if part[i] != full[i] {
				t.Fatalf("truncated at %d rows: row %d served %v, full input served %v", cut, i, part[i], full[i])
			}
		}
	}
}

func TestWritePlotIsPNG(t *testing.T) {
	res, err := Run(context.Background(), diurnal(3, 60, 3), quickOptions())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WritePlot(&buf, res, "diurnal"); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("plot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 400 {
		t.Fatalf("plot is %dx%d, too small to read", b.Dx(), b.Dy())
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	samples := diurnal(1, 60, 4)
	for name, mutate := range map[string]func(*Options){
		"quantile":      func(o *Options) { o.Quantile = 1.5 },
		"horizon":       func(o *Options) { o.Horizon = 0 },
		"grid":          func(o *Options) { o.TargetMax = 0.1 },
		"capacity":      func(o *Options) { o.Capacity = -1 },
		"startup delay": func(o *Options) { o.StartupDelay = -time.Second },
	} {
		o := quickOptions()
		mutate(&o)
		if _, err := Run(context.Background(), samples, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	zero := []Sample{{TS: 0, Value: 0}, {TS: 60, Value: 0}, {TS: 120, Value: 0}}
	if _, err := Run(context.Background(), zero, quickOptions()); err == nil || !strings.Contains(err.Error(), "p99") {
		t.Errorf("all-zero trace: error %v, want one about the p99 load", err)
	}
}

// TestRunRejectsInputShorterThanWarmup: an input that ends before the
// warm-up does would score nothing; Run says how long it is and how long
// the warm-up, instead of returning a report of zeros.
func TestRunRejectsInputShorterThanWarmup(t *testing.T) {
	samples := diurnal(1, 60, 6) // one day of one-minute rows
	o := quickOptions()
	o.Warmup = 24 * time.Hour
	_, err := Run(context.Background(), samples, o)
	var short *ShortInputError
	if !errors.As(err, &short) {
		t.Fatalf("one day with a one-day warm-up: error %v, want a ShortInputError", err)
	}
	span := time.Duration(samples[len(samples)-1].TS-samples[0].TS) * time.Second
	if short.Span != span || short.Rows != len(samples) || short.Warmup != o.Warmup {
		t.Errorf("error fields %+v, want span %v, %d rows, warm-up %v", *short, span, len(samples), o.Warmup)
	}
	for _, want := range []string{"spans " + span.String(), fmt.Sprintf("(%d rows)", len(samples)), "warm-up of 24h0m0s", "nothing would be scored"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	o.Warmup = 12 * time.Hour
	res, err := Run(context.Background(), samples, o)
	if err != nil {
		t.Fatalf("half-day warm-up: %v", err)
	}
	if res.Report.Predictive.Baseline.PodMinutes == 0 {
		t.Error("half-day warm-up: nothing scored")
	}
}

func TestRunHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, diurnal(3, 60, 5), quickOptions()); err == nil {
		t.Fatal("cancelled run: no error")
	}
}

// The perfect strategy serves the highest load of the coming horizon plus
// start-up, and every strategy's share of perfect foresight is its saving
// over perfect's, in the report, its JSON and its table.
func TestRunReportsShareOfPerfect(t *testing.T) {
	samples := diurnal(3, 60, 6)
	opts := quickOptions()
	res, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	window := int64((opts.Horizon + opts.StartupDelay) / time.Second)
	perfect := res.Served[StrategyPerfect]
	for i, s := range samples {
		want := s.Value
		for j := i + 1; j < len(samples) && samples[j].TS <= s.TS+window; j++ {
			want = max(want, samples[j].Value)
		}
		if perfect[i] != want {
			t.Fatalf("perfect row %d served %v, want the highest load of the next %ds %v", i, perfect[i], window, want)
		}
	}
	r := res.Report
	if r.Settings.PerfectSeconds != float64(window) {
		t.Errorf("perfect look-ahead %vs, want %ds", r.Settings.PerfectSeconds, window)
	}
	var perf *Choice
	for _, s := range r.Strategies {
		if s.Name == StrategyPerfect {
			perf = s.Best
		}
	}
	if perf == nil || !(perf.Saving > 0) {
		t.Fatalf("perfect foresight saves nothing on a daily trace: %+v", perf)
	}
	if r.Predictive.PerfectSaving != perf.Saving {
		t.Errorf("summary's perfect saving %v, want %v", r.Predictive.PerfectSaving, perf.Saving)
	}
	shares := 0
	for _, s := range r.Strategies {
		if s.Best == nil {
			if s.ShareOfPerfect != nil {
				t.Errorf("%s has a share of perfect without a best target", s.Name)
			}
			continue
		}
		if s.ShareOfPerfect == nil {
			t.Errorf("%s lacks its share of perfect", s.Name)
			continue
		}
		shares++
		if want := s.Best.Saving / perf.Saving; math.Abs(*s.ShareOfPerfect-want) > 1e-12 {
			t.Errorf("%s share of perfect %v, want %v", s.Name, *s.ShareOfPerfect, want)
		}
		if s.Name == StrategyPredictive && r.Predictive.ShareOfPerfect != *s.ShareOfPerfect {
			t.Errorf("summary's share %v, want predictive's %v", r.Predictive.ShareOfPerfect, *s.ShareOfPerfect)
		}
	}
	if shares < 2 {
		t.Errorf("only %d strategies have a share of perfect", shares)
	}
	var js, table bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Predictive map[string]any `json:"predictive"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"perfect_saving", "share_of_perfect"} {
		if _, ok := doc.Predictive[key]; !ok {
			t.Errorf("predictive summary's JSON lacks %q", key)
		}
	}
	if err := r.WriteTable(&table, "diurnal"); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("predictive reaches %.0f%% of it", 100*r.Predictive.ShareOfPerfect)
	if !strings.Contains(table.String(), "of perfect") || !strings.Contains(table.String(), want) {
		t.Errorf("table lacks the share of perfect (%q):\n%s", want, table.String())
	}
}

// TestRunLooksOneStepAheadOnAnInputCoarserThanTheHorizon: an hourly input
// with the default 5-minute horizon is forecast one step (an hour) ahead, as
// a horizon that is not a whole number of steps covers the steps it ends in:
// the report is the one an explicit 1h horizon gives, and says which
// horizon was asked for.
func TestRunLooksOneStepAheadOnAnInputCoarserThanTheHorizon(t *testing.T) {
	samples := diurnal(7, 3600, 3)
	opts := DefaultOptions()
	opts.Warmup = 48 * time.Hour
	res, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatalf("hourly input with a 5m horizon: %v", err)
	}
	st := res.Report.Settings
	if st.HorizonSeconds != 3600 || st.RequestedHorizon != 300 || st.PerfectSeconds != 3600+120 {
		t.Fatalf("horizon %vs (asked %vs), perfect foresight %vs: want 3600 (300 asked) and 3720",
			st.HorizonSeconds, st.RequestedHorizon, st.PerfectSeconds)
	}
	var table strings.Builder
	if err := res.Report.WriteTable(&table, "hourly"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "horizon 1h0m0s (one step; 5m0s asked)") {
		t.Errorf("table does not say the horizon was raised to one step:\n%s", table.String())
	}
	opts.Horizon = time.Hour
	explicit, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatalf("hourly input with a 1h horizon: %v", err)
	}
	if got, want := res.Report.Predictive, explicit.Report.Predictive; got.Chosen.PodMinutes != want.Chosen.PodMinutes || got.Target != want.Target {
		t.Errorf("raised horizon: predictive %.0f pod-minutes at %.2f; explicit 1h: %.0f at %.2f",
			got.Chosen.PodMinutes, got.Target, want.Chosen.PodMinutes, want.Target)
	}
	if res.Report.Settings.RequestedHorizon == explicit.Report.Settings.RequestedHorizon {
		t.Errorf("both reports say %vs was asked", explicit.Report.Settings.RequestedHorizon)
	}
}

// TestPodCapacity: an explicit capacity wins; otherwise the p99 load (nearest
// rank) over PodsAtP99, and an error naming the p99 load when that is zero.
func TestPodCapacity(t *testing.T) {
	samples := make([]Sample, 100)
	for i := range samples {
		samples[i] = Sample{TS: int64(60 * i), Value: float64(i + 1)} // p99 = 99
	}
	o := DefaultOptions()
	o.PodsAtP99 = 9
	if c, err := o.PodCapacity(samples); err != nil || c != 11 {
		t.Errorf("PodCapacity from p99 = %v, %v; want 11", c, err)
	}
	o.Capacity = 2.5
	if c, err := o.PodCapacity(samples); err != nil || c != 2.5 {
		t.Errorf("PodCapacity with an explicit capacity = %v, %v; want 2.5", c, err)
	}
	o.Capacity = 0
	for i := range samples {
		samples[i].Value = 0
	}
	if _, err := o.PodCapacity(samples); err == nil || !strings.Contains(err.Error(), "p99") {
		t.Errorf("PodCapacity of an all-zero trace: error %v, want one about the p99 load", err)
	}
	if _, err := o.PodCapacity(nil); err == nil {
		t.Error("PodCapacity of no samples: no error")
	}
}

// TestFilterSpikesOnTheForecastsOnly: Options.FilterSpikes reaches the
// forecasting strategies and the report, not the reactive baseline (the
// plain HPA every strategy is measured against). On a daily load with
// one-minute spikes, which no pod can start in time for, the filtered
// forecast saves more at equal safety than the one that chases them, and
// the default (auto) filters them from its first fit on.
func TestFilterSpikesOnTheForecastsOnly(t *testing.T) {
	samples := diurnal(4, 60, 3)
	rng := rand.New(rand.NewPCG(3, 11))
	for i := range samples {
		if rng.IntN(33) == 0 {
			samples[i].Value *= 1.2 + 0.6*rng.Float64()
		}
	}
	opts := quickOptions()
	opts.FilterSpikes = forecast.SpikeFilterOff
	plain, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.FilterSpikes = forecast.SpikeFilterOn
	filtered, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.FilterSpikes = ""
	auto, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	p, f, a := plain.Report, filtered.Report, auto.Report
	if p.Settings.FilterSpikes != "off" || f.Settings.FilterSpikes != "on" || a.Settings.FilterSpikes != "auto" {
		t.Errorf("settings report filter_spikes %q, %q and %q, want off, on and auto", p.Settings.FilterSpikes, f.Settings.FilterSpikes, a.Settings.FilterSpikes)
	}
	if ps, fs := p.strategy(StrategyPredictive).SpikesFiltered, f.strategy(StrategyPredictive).SpikesFiltered; ps != 0 || fs != 1 {
		t.Errorf("spikes filtered on %.2f of the rows with the filter off, %.2f with it on; want 0 and 1", ps, fs)
	}
	// Auto reads the samples themselves until its first fit has measured
	// the spikes (the warm-up, before scoring), the median after.
	if as := a.strategy(StrategyPredictive).SpikesFiltered; as != 1 {
		t.Errorf("auto filtered %.2f of the scored rows of a spiky load, want all", as)
	}
	if a.Predictive.Saving != f.Predictive.Saving {
		t.Errorf("auto saves %.4f, the filter on %.4f: want the same on a load spiky throughout", a.Predictive.Saving, f.Predictive.Saving)
	}
	if !slices.Equal(plain.Served[StrategyReactive], filtered.Served[StrategyReactive]) || p.Baseline != f.Baseline {
		t.Fatal("the filter changed the reactive baseline")
	}
	if slices.Equal(plain.Served[StrategyPredictive], filtered.Served[StrategyPredictive]) {
		t.Fatal("the filter did not reach the predictive strategy")
	}
	if !f.Predictive.MeetsSafety || !(f.Predictive.Saving > p.Predictive.Saving) {
		t.Errorf("filtered saving %.4f (safe: %v), chasing the spikes %.4f: want the filtered one higher",
			f.Predictive.Saving, f.Predictive.MeetsSafety, p.Predictive.Saving)
	}
	t.Logf("saving at equal safety: %.2f%% chasing the spikes, %.2f%% filtered; perfect foresight %.2f%%",
		100*p.Predictive.Saving, 100*f.Predictive.Saving, 100*f.Predictive.PerfectSaving)
}

// TestCompareModelsRunsEachModelAlone: CompareModels adds each model that
// auto chooses among, forced alone, as a strategy named after it; each
// scales as a backtest with that model as the predictive strategy does, the
// predictive strategy's own model is not run twice, and the table lists the
// models best first.
func TestCompareModelsRunsEachModelAlone(t *testing.T) {
	samples := diurnal(3, 60, 5)
	opts := quickOptions()
	opts.CompareModels = true
	res, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report
	var names []string
	for _, s := range r.Strategies {
		names = append(names, s.Name)
	}
	want := []string{"reactive", "seasonal-naive", "linear", "holt-winters", "arima", "fourier", "profile", "prophet", "predictive", "perfect"}
	if !slices.Equal(names, want) || !r.Settings.CompareModels {
		t.Fatalf("strategies %v (compare_models %v), want %v", names, r.Settings.CompareModels, want)
	}

	pinned := quickOptions()
	pinned.Model = forecast.ModelProfile
	alone, err := Run(context.Background(), samples, pinned)
	if err != nil {
		t.Fatal(err)
	}
	got, ref := r.strategy("profile"), alone.Report.strategy(StrategyPredictive)
	if got.Model != "profile" || got.Best == nil || ref.Best == nil || *got.Best != *ref.Best || !slices.Equal(res.Served["profile"], alone.Served[StrategyPredictive]) {
		t.Fatalf("profile compared %+v (best %+v), profile as the predictive model %+v (best %+v)", got, got.Best, ref, ref.Best)
	}

	pinned.CompareModels = true
	both, err := Run(context.Background(), samples, pinned)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range both.Report.Strategies {
		if s.Name == "profile" {
			t.Fatalf("the predictive strategy's model profile ran twice: %v", both.Report.Strategies)
		}
	}

	var table bytes.Buffer
	if err := r.WriteTable(&table, "diurnal"); err != nil {
		t.Fatal(err)
	}
	_, line, ok := strings.Cut(table.String(), "models forced alone, by share of perfect foresight: ")
	if !ok {
		t.Fatalf("table lacks the models forced alone:\n%s", table.String())
	}
	line, _, _ = strings.Cut(line, ";")
	prev := math.Inf(1)
	for part := range strings.SplitSeq(line, ", ") {
		name, _, _ := strings.Cut(part, " ")
		s := r.strategy(name)
		saving := math.Inf(-1)
		if s.Best != nil {
			saving = s.Best.Saving
		}
		if s.Name == "" || saving > prev {
			t.Fatalf("%q in %q: not a compared model, or listed after a model that saves less", part, line)
		}
		prev = saving
	}
	if n := strings.Count(line, ", ") + 1; n != 7 {
		t.Fatalf("%d models listed in %q, want 7", n, line)
	}
}

// TestRunReplaysJitteredRowsOnTheirGrid: rows a clock stamped up to two seconds early or late
// are replayed on the step's grid: the backtest scores the same time and gives the same
// report as for the rows on time, and says how many rows moved.
func TestRunReplaysJitteredRowsOnTheirGrid(t *testing.T) {
	onTime := diurnal(3, 60, 5)
	jittered := slices.Clone(onTime)
	for i := range jittered {
		jittered[i].TS += int64(i%5) - 2 // -2, -1, 0, 1, 2 seconds
	}
	want, err := Run(context.Background(), onTime, quickOptions())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Run(context.Background(), jittered, quickOptions())
	if err != nil {
		t.Fatal(err)
	}
	in := got.Report.Input
	if in.StepSeconds != 60 || in.MissingRows != 0 || in.MovedRows != len(jittered)*4/5 || in.LargestMove != 2 {
		t.Errorf("input %+v: want step 60 s, no missing rows, %d moved by up to 2 s", in, len(jittered)*4/5)
	}
	var table bytes.Buffer
	if err := got.Report.WriteTable(&table, "jittered.csv"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "0 missing rows, 3456 moved onto the step's grid (by up to 2s)") {
		t.Errorf("table does not say the rows moved:\n%s", table.String())
	}
	in.MovedRows, in.LargestMove = 0, 0
	got.Report.Input = in
	if !reflect.DeepEqual(got.Report, want.Report) {
		t.Errorf("jittered rows: report\n%+v\nwant\n%+v", got.Report, want.Report)
	}
}

// TestRunHintsAtMillisecondTimestamps: timestamps written in milliseconds from the start (0,
// 60000, ...) read as seconds make a step of 16 hours, which the forecaster's settings refuse;
// the error says the step would be a minute in milliseconds. A step of seconds gets no hint.
func TestRunHintsAtMillisecondTimestamps(t *testing.T) {
	samples := diurnal(3, 60, 6)
	ms := make([]Sample, len(samples))
	for i, s := range samples {
		ms[i] = Sample{TS: (s.TS - samples[0].TS) * 1000, Value: s.Value}
	}
	_, err := Run(context.Background(), ms, quickOptions())
	if err == nil || !strings.Contains(err.Error(), "if they are milliseconds, not seconds, the step is 1m0s") {
		t.Errorf("a step of 60000 s: error %v, want the milliseconds hint", err)
	}
	if hint := millisecondsHint(7 * time.Hour); hint != "" {
		t.Errorf("a step of 25200 s: hint %q, want none", hint)
	}
}
