package backtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/schedule"
)

// dailyBatch is 4 days of one-minute arrival rates: 2 items/s from 09:00 to
// 09:30 UTC every day, nothing otherwise.
func dailyBatch() []Sample {
	const start = 1_764_547_200 // 2025-12-01 00:00 UTC
	var out []Sample
	for ts := int64(start); ts < start+4*86400; ts += 60 {
		v := 0.0
		if s := ts % 86400; s >= 9*3600 && s < 9*3600+1800 {
			v = 2
		}
		out = append(out, Sample{TS: ts, Value: v})
	}
	return out
}

func TestRunQueueStrategies(t *testing.T) {
	o := DefaultQueueOptions()
	o.Model = forecast.ModelSeasonalNaive
	o.Params.Throughput = 0.5
	rep, err := RunQueue(context.Background(), dailyBatch(), o)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]QueueStrategyReport{}
	for _, s := range rep.Strategies {
		by[s.Name] = s
	}
	reactive, keda, pred, on := by[QueueReactive], by[QueueKEDA], by[QueuePredictive], by[QueueAlwaysOn]
	for _, s := range rep.Strategies {
		// Two scored days, one batch a day.
		if s.Wakes != 2 {
			t.Errorf("%s: %d wakes, want 2 (one batch a day over 2 scored days)", s.Name, s.Wakes)
		}
	}
	// Reactive strategies start workers when the batch is there: the first job
	// waits at least a worker's start-up.
	for _, s := range []QueueStrategyReport{reactive, keda} {
		if s.ColdWakes != 2 || s.MeanFirstJobWaitSeconds < o.StartupDelay.Seconds() {
			t.Errorf("%s: %d cold wakes, mean first-job wait %vs; want 2 and at least the %v start-up", s.Name, s.ColdWakes, s.MeanFirstJobWaitSeconds, o.StartupDelay)
		}
	}
	// Every first job of a reactive strategy waits about the same: the
	// median and 99th percentile are the waits themselves.
	for _, s := range []QueueStrategyReport{reactive, keda} {
		if s.P50FirstJobWaitSeconds < o.StartupDelay.Seconds() || s.P99FirstJobWaitSeconds != s.MaxFirstJobWaitSeconds || s.P50FirstJobWaitSeconds > s.P99FirstJobWaitSeconds {
			t.Errorf("%s: first-job wait p50 %vs, p99 %vs, max %vs; want p50 at least the start-up, p50 <= p99 = max", s.Name, s.P50FirstJobWaitSeconds, s.P99FirstJobWaitSeconds, s.MaxFirstJobWaitSeconds)
		}
	}
	// Predictive wakes before the batch: a ready worker meets the first job.
	if pred.ColdWakes != 0 || pred.MeanFirstJobWaitSeconds != 0 || pred.P99FirstJobWaitSeconds != 0 {
		t.Errorf("predictive: %d cold wakes, mean first-job wait %vs; want none", pred.ColdWakes, pred.MeanFirstJobWaitSeconds)
	}
	if on.ColdWakes != 0 || on.ZeroShare != 0 {
		t.Errorf("always-on: %d cold wakes, %v of the time at zero; want none", on.ColdWakes, on.ZeroShare)
	}
	// Scaling to zero saves most of the always-on worker-minutes.
	for _, s := range []QueueStrategyReport{reactive, keda, pred} {
		if s.ZeroShare < 0.8 || s.WorkerMinutes >= on.WorkerMinutes {
			t.Errorf("%s: %.2f of the time at zero, %.0f worker-minutes (always-on %.0f)", s.Name, s.ZeroShare, s.WorkerMinutes, on.WorkerMinutes)
		}
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf, "batch"); err != nil || !strings.Contains(buf.String(), "predictive") {
		t.Errorf("table: %v\n%s", err, buf.String())
	}
	t.Logf("\n%s", buf.String())
}

// TestRunQueueSchedule checks that a schedule floor on the adapter's
// strategies warms workers up for the batch: no cold wake for reactive either.
func TestRunQueueSchedule(t *testing.T) {
	o := DefaultQueueOptions()
	o.Model = forecast.ModelSeasonalNaive
	o.Params.Throughput = 0.5
	one := 1.0
	o.Schedule = schedule.Schedule{Windows: []schedule.Window{{Start: 8*60 + 55, End: 9*60 + 5, Min: &one}}}
	rep, err := RunQueue(context.Background(), dailyBatch(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Strategies {
		want := 0
		if s.Name == QueueKEDA {
			want = 2 // KEDA does not run the adapter's schedule
		}
		if s.ColdWakes != want {
			t.Errorf("%s: %d cold wakes with a floor of 1 from 08:55, want %d", s.Name, s.ColdWakes, want)
		}
	}
}

// TestRunQueueArrivalsAbove checks the idle level: the daily batch on a
// floor of 0.3 items/s never lets a queue idle, and with the floor as the
// idle level it is the batch alone again (the same wakes and waits).
func TestRunQueueArrivalsAbove(t *testing.T) {
	o := DefaultQueueOptions()
	o.Model = forecast.ModelSeasonalNaive
	o.Params.Throughput = 0.5
	floored := dailyBatch()
	for i := range floored {
		floored[i].Value += 0.3
	}
	rep, err := RunQueue(context.Background(), floored, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Strategies {
		if s.Wakes != 0 || s.ZeroShare != 0 {
			t.Errorf("%s on a floor: %d wakes, %v at zero; want none (items arrive every second)", s.Name, s.Wakes, s.ZeroShare)
		}
	}
	o.ArrivalsAbove = 0.3
	got, err := RunQueue(context.Background(), floored, o)
	if err != nil {
		t.Fatal(err)
	}
	o.ArrivalsAbove = 0
	want, err := RunQueue(context.Background(), dailyBatch(), o)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got.Strategies {
		w := want.Strategies[i]
		if s.Wakes != w.Wakes || s.ColdWakes != w.ColdWakes || s.P99FirstJobWaitSeconds != w.P99FirstJobWaitSeconds || s.Wakes != 2 {
			t.Errorf("%s above the floor: %d wakes, %d cold, p99 wait %vs; the batch alone: %d, %d, %vs", s.Name, s.Wakes, s.ColdWakes, s.P99FirstJobWaitSeconds, w.Wakes, w.ColdWakes, w.P99FirstJobWaitSeconds)
		}
	}
	o.ArrivalsAbove = -1
	if _, err := RunQueue(context.Background(), floored, o); err == nil {
		t.Error("a negative idle level accepted")
	}
}

func TestRunQueueRejects(t *testing.T) {
	o := DefaultQueueOptions()
	o.Params.Throughput = 0
	if _, err := RunQueue(context.Background(), dailyBatch(), o); err == nil {
		t.Error("throughput 0 accepted")
	}
	o = DefaultQueueOptions()
	o.Warmup = 5 * 24 * time.Hour
	if _, err := RunQueue(context.Background(), dailyBatch(), o); err == nil {
		t.Error("an input shorter than the warm-up accepted")
	}
}

// TestRunQueueForecastsLoneArrivals: a job that arrives for one minute a day
// is work to wake up ahead of, not a spike: by default (auto) the arrival
// forecast reads the samples themselves and predictive scaling wakes before
// it; with the spike filter forced on the job vanishes from the forecast and
// every wake is as cold as reactive scaling's.
func TestRunQueueForecastsLoneArrivals(t *testing.T) {
	var samples []Sample
	for _, s := range dailyBatch() {
		v := 0.0
		if s.TS%86400 == 9*3600 {
			v = 2
		}
		samples = append(samples, Sample{TS: s.TS, Value: v})
	}
	cold := func(filter forecast.SpikeFilter) (predictive, reactive int) {
		t.Helper()
		o := DefaultQueueOptions()
		o.Model = forecast.ModelSeasonalNaive
		o.Params.Throughput = 0.5
		o.FilterSpikes = filter
		rep, err := RunQueue(context.Background(), samples, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range rep.Strategies {
			switch s.Name {
			case QueuePredictive:
				predictive = s.ColdWakes
			case QueueReactive:
				reactive = s.ColdWakes
			}
		}
		return predictive, reactive
	}
	if p, r := cold(""); p >= r {
		t.Errorf("default: predictive %d cold wakes, reactive %d; want fewer", p, r)
	}
	if p, r := cold(forecast.SpikeFilterOn); p != r {
		t.Errorf("filter on: predictive %d cold wakes, reactive %d; want the same (the job filtered out)", p, r)
	}
}
