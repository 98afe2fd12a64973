package shadow

import (
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/schedule"
)

// TestScheduleBoundsShadowStrategies checks that the shadow evaluation serves
// what serving serves: the rule's schedule floor applies at each sample's time.
func TestScheduleBoundsShadowStrategies(t *testing.T) {
	floor := 100.0
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	ev, err := NewEvaluator(Config{
		Capacity: 10,
		HPA:      hpa.Config{MaxReplicas: 100, SyncPeriod: time.Minute},
		Step:     time.Minute,
		// 10:00-11:00 UTC: at least 100 (10 pods at target 1).
		Schedule: schedule.Schedule{Windows: []schedule.Window{{Start: 10 * 60, End: 11 * 60, Min: &floor}}},
	}, []Strategy{{Name: "reactive@1", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 1}})
	if err != nil {
		t.Fatal(err)
	}
	served := func(ts time.Time) StrategySummary {
		t.Helper()
		if err := ev.Observe(ts.Unix(), 40); err != nil {
			t.Fatal(err)
		}
		return ev.Summary().Strategies[0]
	}
	for ts := start; ts.Before(start.Add(time.Hour)); ts = ts.Add(time.Minute) {
		if s := served(ts); s.Served != 40 {
			t.Fatalf("%s: served %v before the window, want 40", ts.Format(time.Kitchen), s.Served)
		}
	}
	var s StrategySummary
	for ts := start.Add(time.Hour); ts.Before(start.Add(time.Hour + 10*time.Minute)); ts = ts.Add(time.Minute) {
		if s = served(ts); s.Served != 100 {
			t.Fatalf("%s: served %v in the window, want the floor 100", ts.Format(time.Kitchen), s.Served)
		}
	}
	if s.Replicas != 10 {
		t.Errorf("replicas in the window = %d, want 10", s.Replicas)
	}
}
