//go:build integration

package canary_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/sidecars/canary"
)

// t0 is where the backfilled history starts; the controllers' clocks start there.
var t0 = time.Now().Add(-3 * time.Hour).Truncate(time.Hour)

// series is a backfilled series of app_success_ratio{scenario} (or another name) every 15 s
// for 30 minutes from t0: good until bad, then badValue.
func series(name, scenario string, good, badValue float64, bad time.Duration) promtest.Series {
	s := promtest.Series{Name: name, Labels: map[string]string{"scenario": scenario}}
	for d := time.Duration(0); d <= 30*time.Minute; d += 15 * time.Second {
		v := good
		if bad > 0 && d >= bad {
			v = badValue
		}
		s.Samples = append(s.Samples, source.Sample{T: t0.Add(d).UnixMilli(), V: v})
	}
	return s
}

// analysisMetrics measures success ratio (>= 0.99) and p99 latency (<= 0.3 s) of the
// scenario, plus a dry-run metric that is always out of its threshold.
func analysisMetrics(scenario string) string {
	return strings.NewReplacer("SCENARIO", scenario).Replace(`          - name: success-rate
            query: min(app_success_ratio{scenario="SCENARIO"})
            min: 0.99
          - name: p99-latency
            query: max(app_latency_p99_seconds{scenario="SCENARIO"})
            max: 0.3
          - name: error-budget
            query: max(app_error_budget_burn{scenario="SCENARIO"})
            max: 1
            dryRun: true
`)
}

// TestAnalysisAgainstPrometheus drives rollouts whose analysis a real Prometheus answers
// from backfilled history, with the controller's clock stepped through that history.
func TestAnalysisAgainstPrometheus(t *testing.T) {
	prom := promtest.StartPrometheus(t, promtest.Options{Series: []promtest.Series{
		series("app_success_ratio", "healthy", 0.999, 0, 0),
		series("app_latency_p99_seconds", "healthy", 0.12, 0, 0),
		series("app_error_budget_burn", "healthy", 5, 0, 0),
		series("app_success_ratio", "breach", 0.999, 0.9, 90*time.Second),
		series("app_latency_p99_seconds", "breach", 0.12, 0, 0),
		series("app_error_budget_burn", "breach", 0, 0, 0),
		series("app_success_ratio", "restart", 0.999, 0, 0),
		series("app_latency_p99_seconds", "restart", 0.12, 0, 0),
		series("app_error_budget_burn", "restart", 0, 0, 0),
	}})
	client, err := promapi.NewClient(promapi.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	withProm := canary.Options{Prometheus: promv1.NewAPI(client)}

	t.Run("healthy canary is promoted through every step", func(t *testing.T) {
		r := newRig(t, canaryDoc(analysisMetrics("healthy")), t0, filepath.Join(t.TempDir(), "s.json"), withProm)
		var st *canary.State
		for i := 0; i <= 6; i++ {
			st = r.step(map[bool]time.Duration{true: 0, false: 30 * time.Second}[i == 0])
		}
		if st.Phase != canary.PhasePromoted || st.Weight != 100 || st.Stable != "web-v2" || st.Failures != 0 {
			t.Fatalf("after 3 minutes: %+v", st)
		}
		if w := r.weights(); !equal(w, []uint32{10, 50, 100}) {
			t.Errorf("served weights %v, want [10 50 100]", w)
		}
		if len(st.History) != 6 {
			t.Fatalf("%d measurements, want 6", len(st.History))
		}
		for _, m := range st.History {
			if m.Result != canary.ResultSuccessful || m.Metrics[2].Result != canary.ResultFailed || !m.Metrics[2].DryRun {
				t.Errorf("measurement %+v: want successful with the dry-run metric failed", m)
			}
		}
		if got := r.metric("foresight_canary_analyses_total", "result", "successful"); got != 6 {
			t.Errorf("successful analyses = %v", got)
		}
		if got := r.metric("foresight_canary_metric_value", "metric", "p99-latency"); got != 0.12 {
			t.Errorf("p99 value = %v", got)
		}
		if got := r.metric("foresight_canary_phase", "phase", "promoted"); got != 1 {
			t.Errorf("promoted phase = %v", got)
		}
	})

	t.Run("breaching canary is rolled back", func(t *testing.T) {
		r := newRig(t, canaryDoc(analysisMetrics("breach")), t0, "", withProm)
		r.step(0)
		r.step(30 * time.Second)
		if st := r.step(30 * time.Second); st.Weight != 50 {
			t.Fatalf("at 60 s: %+v", st)
		}
		// The success ratio drops to 0.9 at 90 s: one failure is tolerated, the second rolls back.
		if st := r.step(30 * time.Second); st.Phase != canary.PhaseProgressing || st.Failures != 1 {
			t.Fatalf("at 90 s: %+v", st)
		}
		st := r.step(30 * time.Second)
		if st.Phase != canary.PhaseFailed || st.Weight != 0 || st.Stable != "web-v1" || !strings.Contains(st.Reason, "success-rate = 0.9") {
			t.Fatalf("at 120 s: %+v", st)
		}
		if w := r.weights(); !equal(w, []uint32{10, 50, 0}) {
			t.Errorf("served weights %v, want [10 50 0]", w)
		}
		if st := r.step(10 * time.Minute); st.Phase != canary.PhaseFailed || st.Weight != 0 {
			t.Errorf("a failed rollout moved on: %+v", st)
		}
		if got := r.metric("foresight_canary_outcomes_total", "outcome", "failed"); got != 1 {
			t.Errorf("failed outcomes = %v", got)
		}
	})

	t.Run("restart resumes at the same step", func(t *testing.T) {
		statePath := filepath.Join(t.TempDir(), "s.json")
		r := newRig(t, canaryDoc(analysisMetrics("restart")), t0, statePath, withProm)
		r.step(0)
		r.step(30 * time.Second)
		r.step(30 * time.Second)
		before := r.step(30 * time.Second)
		if before.Step != 1 || before.Weight != 50 || before.Consecutive != 1 {
			t.Fatalf("before the restart: %+v", before)
		}
		// A new controller on the same state file serves the step's weight before measuring.
		r2 := newRig(t, canaryDoc(analysisMetrics("restart")), r.clock.Now(), statePath, withProm)
		if err := r2.c.Restore(t.Context()); err != nil {
			t.Fatal(err)
		}
		if w := r2.weights(); !equal(w, []uint32{50}) {
			t.Fatalf("restored weights %v, want [50]", w)
		}
		st := r2.c.State("web-rollout")
		if st.Step != 1 || st.Consecutive != 1 || len(st.History) != len(before.History) {
			t.Fatalf("after the restart: %+v", st)
		}
		st = r2.step(30 * time.Second) // second success of step 1: advance to 100
		if st.Step != 2 || st.Weight != 100 {
			t.Fatalf("after the restart's first step: %+v", st)
		}
		r2.step(30 * time.Second)
		if st = r2.step(30 * time.Second); st.Phase != canary.PhasePromoted {
			t.Fatalf("not promoted: %+v", st)
		}
		if w := r2.weights(); !equal(w, []uint32{50, 100}) {
			t.Errorf("served weights after the restart %v, want [50 100]", w)
		}
	})

	t.Run("inconclusive analysis holds the step", func(t *testing.T) {
		r := newRig(t, canaryDoc(analysisMetrics("nothing-here")), t0, "", withProm)
		var st *canary.State
		for i := 0; i < 10; i++ {
			st = r.step(30 * time.Second)
		}
		if st.Phase != canary.PhaseProgressing || st.Step != 0 || st.Weight != 10 || st.Failures != 0 {
			t.Fatalf("after 5 minutes of empty results: %+v", st)
		}
		if got := r.metric("foresight_canary_analyses_total", "result", "inconclusive"); got != 9 {
			t.Errorf("inconclusive analyses = %v, want 9", got)
		}
	})
}
