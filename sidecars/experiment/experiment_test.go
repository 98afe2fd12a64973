package experiment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/promquery"
)

const experimentsYAML = `apiVersion: foresight.dev/v1alpha1
kind: FaultExperiment
metadata:
  name: checkout-abort
spec:
  target: {route: backend-checkout}
  fault:
    abort: {httpStatus: 503, percent: 30}
  start: 2026-11-25T20:00:00Z
  duration: 10m
  guard:
    query: sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m])) > 0.05
    interval: 30s
---
apiVersion: foresight.dev/v1alpha1
kind: FaultExperiment
metadata:
  name: backend-delay
spec:
  target: {service: backend}
  fault:
    delay: {fixed: 200ms, percent: 100}
  start: 2026-11-25T20:05:00Z
  duration: 1m
`

func TestParse(t *testing.T) {
	exps, err := Parse([]byte(experimentsYAML), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(exps) != 2 {
		t.Fatalf("%d experiments, want 2", len(exps))
	}
	e := exps[0]
	if e.Name() != "checkout-abort" || e.Spec.Target.Route != "backend-checkout" || e.Spec.Fault.Abort.HTTPStatus != 503 {
		t.Errorf("first experiment %+v", e)
	}
	if want := time.Date(2026, 11, 25, 20, 10, 0, 0, time.UTC); !e.End().Equal(want) {
		t.Errorf("end %v, want %v", e.End(), want)
	}
	if e.GuardInterval() != 30*time.Second || exps[1].GuardInterval() != DefaultGuardInterval {
		t.Errorf("guard intervals %v %v", e.GuardInterval(), exps[1].GuardInterval())
	}
}

func TestParseErrorsNameFileLineAndField(t *testing.T) {
	for _, tc := range []struct {
		name, edit, want string
	}{
		{"unknown field", "  duration: 10m\n", "exp.yaml:10: spec.durationn: unknown field (known: duration, fault, guard, start, target)"},
		{"bad duration", "  duration: 10m\n", `exp.yaml:10: spec.duration: invalid duration "ten"`},
		{"zero duration", "  duration: 10m\n", "exp.yaml:10: spec.duration: required, > 0"},
		{"both targets", "  target: {route: backend-checkout}\n", "exp.yaml:6: spec.target: exactly one of route and service"},
		{"percent", "    abort: {httpStatus: 503, percent: 30}\n", "exp.yaml:8: spec.fault.abort.percent: must be 0..100"},
		{"kind", "kind: FaultExperiment\n", `exp.yaml:2: kind: must be FaultExperiment, not "Experiment"`},
		{"empty guard", "    interval: 30s\n", "exp.yaml:11: spec.guard.query: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repl := map[string]string{
				"unknown field": "  durationn: 10m\n",
				"bad duration":  "  duration: ten\n",
				"zero duration": "  duration: 0s\n",
				"both targets":  "  target: {route: backend-checkout, service: backend}\n",
				"percent":       "    abort: {httpStatus: 503, percent: 150}\n",
				"kind":          "kind: Experiment\n",
				"empty guard":   "    interval: 30s\n",
			}[tc.name]
			doc := strings.Replace(experimentsYAML, tc.edit, repl, 1)
			if tc.name == "empty guard" {
				doc = strings.Replace(doc, `    query: sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m])) > 0.05`+"\n", "", 1)
			}
			_, err := Parse([]byte(doc), "exp.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// yaml.v3 names line 7, where the fault mapping starts.
	_, err := Parse([]byte(strings.Replace(experimentsYAML, "  start: 2026-11-25T20:00:00Z", "   start: 2026-11-25T20:00:00Z", 1)), "exp.yaml")
	if err == nil || err.Error() != "exp.yaml:9: invalid YAML: did not find expected key" {
		t.Fatalf("syntax error: %v", err)
	}
	// Every document is checked, each error at its own line.
	_, err = Parse([]byte(strings.Replace(experimentsYAML, "  duration: 1m\n", "  duration: 1m\n  guardd: {}\n", 1)), "exp.yaml")
	if err == nil || err.Error() != "exp.yaml:25: spec.guardd: unknown field (known: duration, fault, guard, start, target)" {
		t.Fatalf("error in the second document: %v", err)
	}
	_, err = Parse([]byte(experimentsYAML+"---\n"+strings.SplitN(experimentsYAML, "---\n", 2)[0]), "exp.yaml")
	if err == nil || !strings.Contains(err.Error(), `experiment "checkout-abort" is declared twice (first on line 4)`) {
		t.Fatalf("duplicate: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(experimentsYAML))
	f.Add([]byte("kind: FaultExperiment\nspec: {duration: 1s}\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		exps, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		for _, e := range exps {
			if e.Name() == "" || e.Spec.Duration <= 0 || e.Spec.Start.IsZero() {
				t.Fatalf("Parse accepted an invalid experiment: %+v", e)
			}
		}
	})
}

func testPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load("../translate/testdata/fault.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recorder applies overlays to a base policy like the control plane does.
type recorder struct {
	base    *policy.Policy
	mu      sync.Mutex
	served  []*policy.Policy
	clock   *promquery.ManualClock
	applied []time.Time
}

func (r *recorder) apply(_ context.Context, o Overlay) error {
	p, err := o(r.base)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.served = append(r.served, p)
	r.applied = append(r.applied, r.clock.Now())
	r.mu.Unlock()
	return nil
}

func (r *recorder) last() *policy.Policy {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.served[len(r.served)-1]
}

type stubQuerier struct {
	value model.Value
	err   error
	calls int
}

func (s *stubQuerier) Query(_ context.Context, _ string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	s.calls++
	return s.value, nil, nil, s.err
}

func TestLifecycleFollowsTheClock(t *testing.T) {
	exps, err := Parse([]byte(experimentsYAML), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exps = exps[1:] // backend-delay, no guard: 20:05 for 1m
	clock := promquery.NewManualClock(time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC))
	rec := &recorder{base: testPolicy(t), clock: clock}
	reg := prometheus.NewRegistry()
	r, err := NewRunner(exps, Options{Clock: clock, Apply: rec.apply, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wait, err := r.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.State("backend-delay") != StatePending || wait != 5*time.Minute || len(rec.served) != 0 {
		t.Fatalf("before start: state %s, wait %v, applied %d", r.State("backend-delay"), wait, len(rec.served))
	}
	clock.Set(time.Date(2026, 11, 25, 20, 5, 0, 0, time.UTC))
	if wait, err = r.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if r.State("backend-delay") != StateRunning || wait != time.Minute {
		t.Fatalf("at start: state %s wait %v", r.State("backend-delay"), wait)
	}
	if f := rec.last().Service("backend").Fault; f == nil || f.Delay.Fixed.D() != 200*time.Millisecond || f.Delay.Percent != 100 {
		t.Fatalf("served fault at start: %+v", f)
	}
	if rec.base.Service("backend").Fault.Delay.Fixed.D() != 100*time.Millisecond {
		t.Fatal("the overlay modified the base policy")
	}
	if got := testutil.ToFloat64(r.activeGauge.WithLabelValues("backend-delay", "service/backend")); got != 1 {
		t.Errorf("active = %v", got)
	}
	// A rebuild one nanosecond after the end carries no fault even before the runner steps.
	clock.Set(time.Date(2026, 11, 25, 20, 6, 0, 1, time.UTC))
	p, err := r.Overlay(rec.base)
	if err != nil {
		t.Fatal(err)
	}
	if p.Service("backend").Fault.Delay.Fixed.D() != 100*time.Millisecond {
		t.Fatal("an ended experiment's fault was overlaid")
	}
	if _, err = r.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if r.State("backend-delay") != StateCompleted || len(rec.served) != 2 {
		t.Fatalf("after end: state %s, %d applies", r.State("backend-delay"), len(rec.served))
	}
	if rec.last().Service("backend").Fault.Delay.Fixed.D() != 100*time.Millisecond {
		t.Fatal("fault still served after the end")
	}
	if got := testutil.ToFloat64(r.stateGauge.WithLabelValues("backend-delay", StateCompleted)); got != 1 {
		t.Errorf("state gauge completed = %v", got)
	}
}

func TestGuardAbortSurvivesRestart(t *testing.T) {
	exps, err := Parse([]byte(experimentsYAML), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exps = exps[:1] // checkout-abort with guard, 20:00 for 10m
	state := filepath.Join(t.TempDir(), "experiments.json")
	clock := promquery.NewManualClock(time.Date(2026, 11, 25, 20, 1, 0, 0, time.UTC))
	rec := &recorder{base: testPolicy(t), clock: clock}
	q := &stubQuerier{value: model.Vector{}}
	r, err := NewRunner(exps, Options{Clock: clock, Apply: rec.apply, Prometheus: q, StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if r.State("checkout-abort") != StateRunning || q.calls != 1 {
		t.Fatalf("state %s after %d guard calls", r.State("checkout-abort"), q.calls)
	}
	if f := rec.last().Route("backend-checkout").Fault; f == nil || f.Abort.Percent != 30 || len(f.Headers) != 0 {
		t.Fatalf("served route fault %+v", f)
	}
	// Not due yet: no evaluation.
	clock.Set(clock.Now().Add(10 * time.Second))
	if _, err := r.Step(ctx); err != nil || q.calls != 1 {
		t.Fatalf("guard evaluated before its interval (%d calls, %v)", q.calls, err)
	}
	q.value = model.Vector{&model.Sample{Value: 0.2}}
	clock.Set(clock.Now().Add(20 * time.Second))
	if _, err := r.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if r.State("checkout-abort") != StateAborted {
		t.Fatalf("state %s after the guard fired", r.State("checkout-abort"))
	}
	if f := rec.last().Route("backend-checkout").Fault; f == nil || f.Abort.Percent != 50 || len(f.Headers) != 1 {
		t.Fatalf("aborted experiment's fault still served: %+v", f)
	}
	if testutil.ToFloat64(r.aborts.WithLabelValues("checkout-abort")) != 1 || testutil.ToFloat64(r.guardValue.WithLabelValues("checkout-abort")) != 0.2 {
		t.Error("abort or guard value not recorded")
	}
	// A restarted control plane, within the experiment's window, does not resume it.
	rec2 := &recorder{base: testPolicy(t), clock: clock}
	r2, err := NewRunner(exps, Options{Clock: clock, Apply: rec2.apply, Prometheus: &stubQuerier{value: model.Vector{}}, StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.State("checkout-abort") != StateAborted || len(rec2.served) != 0 {
		t.Fatalf("after restart: state %s, %d applies", r2.State("checkout-abort"), len(rec2.served))
	}
}

func TestGuardErrorAborts(t *testing.T) {
	exps, _ := Parse([]byte(experimentsYAML), "exp.yaml")
	clock := promquery.NewManualClock(time.Date(2026, 11, 25, 20, 1, 0, 0, time.UTC))
	rec := &recorder{base: testPolicy(t), clock: clock}
	r, err := NewRunner(exps[:1], Options{Clock: clock, Apply: rec.apply, Prometheus: &stubQuerier{err: errors.New("connection refused")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.State("checkout-abort") != StateAborted || len(rec.served) != 0 {
		t.Fatalf("state %s with an unreachable Prometheus, %d applies", r.State("checkout-abort"), len(rec.served))
	}
}

func TestEndedExperimentIsNeverApplied(t *testing.T) {
	exps, _ := Parse([]byte(experimentsYAML), "exp.yaml")
	clock := promquery.NewManualClock(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
	rec := &recorder{base: testPolicy(t), clock: clock}
	r, err := NewRunner(exps, Options{Clock: clock, Apply: rec.apply})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.served) != 0 || r.State("checkout-abort") != StateCompleted {
		t.Fatalf("%d applies, state %s", len(rec.served), r.State("checkout-abort"))
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		v     model.Value
		fired bool
		value float64
	}{
		{model.Vector{}, false, 0},
		{model.Vector{&model.Sample{Value: 0.07}, &model.Sample{Value: 0.3}}, true, 0.3},
		{&model.Scalar{Value: 0}, false, 0},
		{&model.Scalar{Value: 1}, true, 1},
	} {
		fired, value := judge(tc.v)
		if fired != tc.fired || value != tc.value {
			t.Errorf("judge(%v) = %v, %v; want %v, %v", tc.v, fired, value, tc.fired, tc.value)
		}
	}
}

func TestValidateAgainst(t *testing.T) {
	exps, _ := Parse([]byte(strings.ReplaceAll(experimentsYAML, "backend-checkout", "nowhere")), "exp.yaml")
	err := ValidateAgainst(exps, testPolicy(t))
	if err == nil || !strings.Contains(err.Error(), `experiment "checkout-abort"`) || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("ValidateAgainst = %v", err)
	}
}

// TestOverlayWithChangesNothing: OverlayWith overlays the running experiments it is given,
// not the runner's, and leaves the runner's experiments as they are.
func TestOverlayWithChangesNothing(t *testing.T) {
	exps, err := Parse([]byte(experimentsYAML), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exps = exps[1:] // backend-delay, no guard: 20:05 for 1m
	clock := promquery.NewManualClock(time.Date(2026, 11, 25, 20, 5, 30, 0, time.UTC))
	base := testPolicy(t)
	r, err := NewRunner(nil, Options{Clock: clock, Apply: func(context.Context, Overlay) error { return nil }, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	delay := func(o Overlay) time.Duration {
		t.Helper()
		p, err := o(base)
		if err != nil {
			t.Fatal(err)
		}
		return p.Service("backend").Fault.Delay.Fixed.D()
	}
	if got := delay(r.OverlayWith(exps)); got != 200*time.Millisecond {
		t.Fatalf("OverlayWith the running experiment: delay %v", got)
	}
	if got := delay(r.Overlay); got != 100*time.Millisecond || len(r.Experiments()) != 0 {
		t.Fatalf("after OverlayWith the runner overlays delay %v and drives %d experiments", got, len(r.Experiments()))
	}
	r.SetExperiments(exps)
	if got := delay(r.OverlayWith(nil)); got != 100*time.Millisecond {
		t.Fatalf("OverlayWith no experiment: delay %v", got)
	}
	if got := delay(r.Overlay); got != 200*time.Millisecond {
		t.Fatalf("the runner's own overlay: delay %v", got)
	}
}

// A runner that does not lead serves an experiment by its times without evaluating its
// guard, and serves the aborts the leader records once it reloads them; it does not step
// in a busy loop while a guarded experiment runs.
func TestFollowerServesTheLeadersAborts(t *testing.T) {
	exps, err := Parse([]byte(experimentsYAML), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exps = exps[:1] // checkout-abort with guard, 20:00 for 10m
	state := filepath.Join(t.TempDir(), "experiments.json")
	clock := promquery.NewManualClock(time.Date(2026, 11, 25, 20, 1, 0, 0, time.UTC))
	ctx := context.Background()

	follows := &recorder{base: testPolicy(t), clock: clock}
	fq := &stubQuerier{value: model.Vector{&model.Sample{Value: 0.9}}} // would fire
	var leading atomic.Bool
	follower, err := NewRunner(exps, Options{Clock: clock, Apply: follows.apply, Prometheus: fq, StatePath: state, Leading: leading.Load})
	if err != nil {
		t.Fatal(err)
	}
	wait, err := follower.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fq.calls != 0 || follower.State("checkout-abort") != StateRunning {
		t.Fatalf("follower: %d guard calls, state %s; want none, running", fq.calls, follower.State("checkout-abort"))
	}
	if wait != 9*time.Minute {
		t.Errorf("follower waits %v, want the 9 minutes to the end", wait)
	}
	if f := follows.last().Route("backend-checkout").Fault; f == nil || f.Abort.Percent != 30 {
		t.Fatalf("follower serves %+v, want the experiment's fault", f)
	}

	// The leader aborts; its record reaches the follower's file.
	lq := &stubQuerier{value: model.Vector{&model.Sample{Value: 0.2}}}
	leader, err := NewRunner(exps, Options{Clock: clock, Apply: (&recorder{base: testPolicy(t), clock: clock}).apply, Prometheus: lq, StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Step(ctx); err != nil || leader.State("checkout-abort") != StateAborted {
		t.Fatalf("leader: state %s, %v", leader.State("checkout-abort"), err)
	}
	if err := follower.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if follower.State("checkout-abort") != StateAborted || fq.calls != 0 {
		t.Fatalf("follower after reload: %s, %d guard calls", follower.State("checkout-abort"), fq.calls)
	}
	if f := follows.last().Route("backend-checkout").Fault; f == nil || f.Abort.Percent != 50 {
		t.Fatalf("follower still serves the aborted fault: %+v", f)
	}
	// Once it leads, it evaluates the guards of running experiments itself.
	leading.Store(true)
	clock.Set(clock.Now().Add(time.Second))
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	if err := follower.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if fq.calls != 1 || follower.State("checkout-abort") != StateAborted {
		t.Errorf("leading: %d guard calls, state %s; want 1, aborted", fq.calls, follower.State("checkout-abort"))
	}
}

// An abort record that holds null (valid JSON, as a state ConfigMap may) is an empty record:
// the guard's abort is recorded in it.
func TestNullAbortRecordIsEmpty(t *testing.T) {
	exps, err := Parse([]byte(experimentsYAML), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "experiments.json")
	if err := os.WriteFile(state, []byte("null"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := promquery.NewManualClock(time.Date(2026, 11, 25, 20, 1, 0, 0, time.UTC))
	rec := &recorder{base: testPolicy(t), clock: clock}
	r, err := NewRunner(exps[:1], Options{Clock: clock, Apply: rec.apply, Prometheus: &stubQuerier{value: model.Vector{&model.Sample{Value: 0.2}}}, StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(context.Background()); err != nil || r.State("checkout-abort") != StateAborted {
		t.Fatalf("state %s, %v; want aborted", r.State("checkout-abort"), err)
	}
}
