package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
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

func TestRunHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, diurnal(3, 60, 5), quickOptions()); err == nil {
		t.Fatal("cancelled run: no error")
	}
}
