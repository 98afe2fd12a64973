package backtest

import (
	"context"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/schedule"
)

// TestRunAppliesScheduleAtTraceTime checks that every strategy's served value
// is bounded by the schedule at its sample's time, not at the wall clock.
func TestRunAppliesScheduleAtTraceTime(t *testing.T) {
	samples := diurnal(2, 60, 3)
	ceiling, floor := 90.0, 150.0
	opts := quickOptions()
	opts.Schedule = schedule.Schedule{Windows: []schedule.Window{
		{Start: 6 * 60, End: 9 * 60, Max: &ceiling}, // the diurnal peak is near 06:00 UTC
		{Start: 18 * 60, End: 19 * 60, Min: &floor}, // and its trough near 18:00 UTC
	}}
	res, err := Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	settings := forecast.Settings{Step: time.Minute, Horizon: opts.Horizon, Quantile: opts.Quantile, Model: forecast.ModelReactive}
	warmEnd := samples[0].TS + int64(opts.Warmup/time.Second)
	unbounded, _, err := Serve(context.Background(), samples, settings, warmEnd, nil)
	if err != nil {
		t.Fatal(err)
	}
	capped, floored := 0, 0
	for i, s := range samples {
		want, b := opts.Schedule.Apply(time.Unix(s.TS, 0), unbounded[i])
		if got := res.Served[StrategyReactive][i]; got != want {
			t.Fatalf("row %d (%s): reactive served %v, want %v", i, time.Unix(s.TS, 0).UTC().Format(time.Kitchen), got, want)
		}
		if want != unbounded[i] {
			if b.Ceiling == ceiling {
				capped++
			} else {
				floored++
			}
		}
		for name, served := range res.Served {
			if name == StrategyPerfect {
				continue
			}
			if h := time.Unix(s.TS, 0).UTC().Hour(); h >= 6 && h < 9 && served[i] > ceiling {
				t.Fatalf("row %d: %s served %v above the ceiling %v", i, name, served[i], ceiling)
			}
		}
	}
	if capped == 0 || floored == 0 {
		t.Errorf("the schedule capped %d and floored %d rows; the test needs both", capped, floored)
	}
}
