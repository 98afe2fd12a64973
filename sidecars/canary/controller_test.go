package canary_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/sidecars/canary"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/promquery"
)

// canaryDoc is a policy whose route web-split is rolled from web-v1 to web-v2 in steps
// 10, 50 and 100 (1 minute each), measured every 30 s by the metrics given (YAML list items
// under analysis.metrics, indented by ten spaces; none: no analysis).
func canaryDoc(metrics string) string {
	doc := `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: p}
spec:
  services:
    - name: web
      port: 8080
      endpoints: [{address: 10.0.0.1}]
      routes:
        - name: web-split
          backends: [{service: web-v1}]
    - {name: web-v1, port: 8080, endpoints: [{address: 10.0.0.2}]}
    - {name: web-v2, port: 8080, endpoints: [{address: 10.0.0.3}]}
  canaries:
    - name: web-rollout
      route: web-split
      stable: web-v1
      canary: web-v2
      steps:
        - {weight: 10, pause: 1m}
        - {weight: 50, pause: 1m}
        - {weight: 100, pause: 1m}
      analysis:
        interval: 30s
        failureLimit: 1
        consecutiveSuccessLimit: 2
`
	if metrics != "" {
		doc += "        metrics:\n" + metrics
	}
	return doc
}

// rig is a controller on a policy with a record of every weight it served.
type rig struct {
	t      *testing.T
	p      *policy.Policy
	clock  *promquery.ManualClock
	reg    *prometheus.Registry
	c      *canary.Controller
	mu     sync.Mutex
	served []uint32 // the canary's weight in every configuration served
	// headerRoutes: whether each configuration served has the route of the canary's headers.
	headerRoutes []bool
}

func newRig(t *testing.T, doc string, start time.Time, statePath string, prom canary.Options) *rig {
	t.Helper()
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, p: p, clock: promquery.NewManualClock(start), reg: prometheus.NewRegistry()}
	opts := prom
	opts.Clock, opts.StatePath, opts.Registerer = r.clock, statePath, r.reg
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Policy = func() *policy.Policy { return r.p }
	opts.Apply = func(_ context.Context, o canary.Overlay) error {
		q, err := o(r.p)
		if err != nil {
			return err
		}
		w := uint32(0)
		for _, b := range q.Route("web-split").Backends {
			if b.Service == "web-v2" {
				w = b.Weight
			}
		}
		hr := q.Route(policy.HeaderRouteName("web-split"))
		if hr != nil && (len(hr.Backends) != 1 || hr.Backends[0].Service != "web-v2") {
			t.Errorf("header route sends to %+v, want web-v2 alone", hr.Backends)
		}
		r.mu.Lock()
		r.served = append(r.served, w)
		r.headerRoutes = append(r.headerRoutes, hr != nil)
		r.mu.Unlock()
		return nil
	}
	if r.c, err = canary.New(opts); err != nil {
		t.Fatal(err)
	}
	return r
}

// step advances the clock by d and runs one step.
func (r *rig) step(d time.Duration) *canary.State {
	r.t.Helper()
	r.clock.Add(d)
	if _, err := r.c.Step(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	return r.c.State("web-rollout")
}

func (r *rig) weights() []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint32(nil), r.served...)
}

// metric is the value of the series of family name with the given label pairs.
func (r *rig) metric(name string, labels ...string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	r.t.Fatalf("no series %s%v", name, labels)
	return 0
}

func equal(a, b []uint32) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// The requests matching a canary's headers go to the canary while its rollout runs, paused
// or not, and no longer once it ended: after an abort they go to the stable like the rest,
// after a promotion the route sends everything to the canary anyway.
func TestHeaderRoutesWhileTheRolloutRuns(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	doc := canaryDoc("") + "      headers: [{name: x-canary, exact: always}]\n"
	ctx := context.Background()
	for _, end := range []struct {
		name    string
		act     func(*canary.Controller) error
		weights []uint32
	}{
		{"abort", func(c *canary.Controller) error { return c.Abort(ctx, "web-rollout") }, []uint32{10, 50, 0}},
		{"promote", func(c *canary.Controller) error { return c.Promote(ctx, "web-rollout") }, []uint32{10, 50, 100}},
	} {
		t.Run(end.name, func(t *testing.T) {
			r := newRig(t, doc, start, "", canary.Options{})
			r.step(0)
			r.step(time.Minute)
			if err := r.c.Pause(ctx, "web-rollout"); err != nil {
				t.Fatal(err)
			}
			r.step(time.Minute)
			if err := end.act(r.c); err != nil {
				t.Fatal(err)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if !equal(r.served, end.weights) || fmt.Sprint(r.headerRoutes) != "[true true false]" {
				t.Errorf("served weights %v with header routes %v, want %v with [true true false]", r.served, r.headerRoutes, end.weights)
			}
		})
	}
}

// A first step of weight 0 is a header-only phase: only the requests matching the canary's
// headers reach it while its analysis runs; the rollout then steps the weights up as usual,
// or rolls back from there before any other request reached the canary.
func TestHeaderOnlyPhase(t *testing.T) {
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	metric := "          - {name: success-rate, query: 'min(app_success_ratio)', min: 0.99}\n"
	doc := strings.Replace(canaryDoc(metric), "{weight: 10, pause: 1m}", "{weight: 0, pause: 1m}", 1) +
		"      headers: [{name: x-canary, exact: always}]\n"
	for _, c := range []struct {
		name         string
		success      float64
		weights      []uint32
		headerRoutes string
		phase        string
	}{
		{"passes", 0.999, []uint32{0, 50}, "[true true]", canary.PhaseProgressing},
		{"fails", 0.5, []uint32{0, 0}, "[true false]", canary.PhaseFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, doc, start, "", canary.Options{Prometheus: &blockingQuerier{v: c.success}})
			if st := r.step(0); st.Weight != 0 || st.Phase != canary.PhaseProgressing {
				t.Fatalf("start: %+v", st)
			}
			r.step(30 * time.Second)
			st := r.step(30 * time.Second)
			r.mu.Lock()
			defer r.mu.Unlock()
			if !equal(r.served, c.weights) || fmt.Sprint(r.headerRoutes) != c.headerRoutes || st.Phase != c.phase {
				t.Errorf("served weights %v with header routes %v, phase %s; want %v with %s, %s", r.served, r.headerRoutes, st.Phase, c.weights, c.headerRoutes, c.phase)
			}
		})
	}
}

// Advance moves a rollout, paused or not, to its next step at once, before its pause ends,
// and promotes it from its last step.
func TestAdvance(t *testing.T) {
	start := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	r := newRig(t, canaryDoc(""), start, filepath.Join(t.TempDir(), "state.json"), canary.Options{})
	ctx := context.Background()
	r.step(0)
	if err := r.c.Pause(ctx, "web-rollout"); err != nil {
		t.Fatal(err)
	}
	r.clock.Add(10 * time.Second)
	if err := r.c.Advance(ctx, "web-rollout"); err != nil {
		t.Fatal(err)
	}
	if st := r.c.State("web-rollout"); st.Step != 1 || st.Weight != 50 || st.Phase != canary.PhaseProgressing || !st.StepStarted.Equal(r.clock.Now()) {
		t.Fatalf("after advancing a paused rollout: %+v", st)
	}
	if err := r.c.Advance(ctx, "web-rollout"); err != nil {
		t.Fatal(err)
	}
	if err := r.c.Advance(ctx, "web-rollout"); err != nil {
		t.Fatal(err)
	}
	st := r.c.State("web-rollout")
	if st.Phase != canary.PhasePromoted || st.Weight != 100 || st.Stable != "web-v2" || !strings.Contains(st.Reason, "advanced past the last step") {
		t.Fatalf("after advancing past the last step: %+v", st)
	}
	if w := r.weights(); !equal(w, []uint32{10, 50, 100}) {
		t.Errorf("served weights %v, want [10 50 100]", w)
	}
	if err := r.c.Advance(ctx, "web-rollout"); !errors.Is(err, canary.ErrEnded) {
		t.Errorf("advancing an ended rollout: %v, want ErrEnded", err)
	}
}

// Without analysis metrics a rollout advances on its pauses alone; manual actions pause,
// resume and abort it, and an ended rollout refuses further actions.
func TestManualControl(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	statePath := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, canaryDoc(""), start, statePath, canary.Options{})
	ctx := context.Background()
	if st := r.step(0); st.Weight != 10 || st.Phase != canary.PhaseProgressing {
		t.Fatalf("start: %+v", st)
	}
	if st := r.step(time.Minute); st.Weight != 50 || st.Step != 1 {
		t.Fatalf("after the first pause: %+v", st)
	}
	// What the backends' autoscalers plan for: the weight now and at the next step.
	for _, w := range []struct {
		service, step string
		want          float64
	}{{"web-v2", "current", 50}, {"web-v2", "next", 100}, {"web-v1", "current", 50}, {"web-v1", "next", 0}} {
		if got := r.metric("foresight_canary_backend_weight", "namespace", "default", "service", w.service, "step", w.step); got != w.want {
			t.Errorf("foresight_canary_backend_weight{service=%q,step=%q} = %v, want %v", w.service, w.step, got, w.want)
		}
	}
	if err := r.c.Pause(ctx, "web-rollout"); err != nil {
		t.Fatal(err)
	}
	if st := r.step(5 * time.Minute); st.Weight != 50 || st.Phase != canary.PhasePaused {
		t.Fatalf("paused rollout moved: %+v", st)
	}
	if err := r.c.Resume(ctx, "web-rollout"); err != nil {
		t.Fatal(err)
	}
	if st := r.step(30 * time.Second); st.Weight != 50 {
		t.Fatalf("resume must restart the step's pause: %+v", st)
	}
	if err := r.c.Abort(ctx, "web-rollout"); err != nil {
		t.Fatal(err)
	}
	st := r.c.State("web-rollout")
	if st.Phase != canary.PhaseAborted || st.Weight != 0 || st.Stable != "web-v1" {
		t.Fatalf("aborted: %+v", st)
	}
	if w := r.weights(); !equal(w, []uint32{10, 50, 0}) {
		t.Errorf("served weights %v, want [10 50 0]", w)
	}
	if err := r.c.Promote(ctx, "web-rollout"); !errors.Is(err, canary.ErrEnded) {
		t.Errorf("promote after abort: %v", err)
	}
	if err := r.c.Pause(ctx, "nope"); !errors.Is(err, canary.ErrUnknown) {
		t.Errorf("pause of an unknown canary: %v", err)
	}
	if st := r.step(10 * time.Minute); st.Phase != canary.PhaseAborted || st.Weight != 0 {
		t.Errorf("an aborted rollout restarted: %+v", st)
	}
	// The abort survives a restart.
	r2 := newRig(t, canaryDoc(""), r.clock.Now(), statePath, canary.Options{})
	if st := r2.step(time.Minute); st.Phase != canary.PhaseAborted || st.Weight != 0 {
		t.Errorf("abort forgotten after a restart: %+v", st)
	}
	if got := r.metric("foresight_canary_weight"); got != 0 {
		t.Errorf("foresight_canary_weight = %v", got)
	}
	if got := r.metric("foresight_canary_backend_weight", "service", "web-v2", "step", "next"); got != 0 {
		t.Errorf("an aborted canary's next weight = %v, want 0", got)
	}
	if got := r.metric("foresight_canary_outcomes_total", "outcome", "aborted"); got != 1 {
		t.Errorf("aborted outcomes = %v", got)
	}
}

// Promote sends everything to the canary at once.
func TestManualPromote(t *testing.T) {
	r := newRig(t, canaryDoc(""), time.Now(), "", canary.Options{})
	r.step(0)
	if err := r.c.Promote(context.Background(), "web-rollout"); err != nil {
		t.Fatal(err)
	}
	if st := r.c.State("web-rollout"); st.Phase != canary.PhasePromoted || st.Weight != 100 || st.Stable != "web-v2" {
		t.Fatalf("promoted: %+v", st)
	}
	if w := r.weights(); !equal(w, []uint32{10, 100}) {
		t.Errorf("served weights %v", w)
	}
}

// The admin API refuses every request without the right bearer token and performs actions
// with it.
func TestAdminHandler(t *testing.T) {
	r := newRig(t, canaryDoc(""), time.Now(), "", canary.Options{})
	r.step(0)
	srv := httptest.NewServer(r.c.AdminHandler([]byte("s3cret-token")))
	defer srv.Close()
	do := func(method, path, auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer s3cret", "Bearer s3cret-token2", "Basic s3cret-token", "s3cret-token"} {
		for _, req := range [][2]string{{"GET", "/canaries"}, {"POST", "/canaries/web-rollout/abort"}, {"POST", "/canaries/web-rollout/promote"}} {
			if code, _ := do(req[0], req[1], auth); code != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: %d, want 401", req[0], req[1], auth, code)
			}
		}
	}
	if st := r.c.State("web-rollout"); st.Phase != canary.PhaseProgressing || st.Weight != 10 {
		t.Fatalf("refused requests changed the rollout: %+v", st)
	}
	const tok = "Bearer s3cret-token"
	if code, body := do("GET", "/canaries", tok); code != 200 || !strings.Contains(body, `"phase": "progressing"`) {
		t.Errorf("GET /canaries: %d %s", code, body)
	}
	if code, body := do("POST", "/canaries/web-rollout/pause", tok); code != 200 || !strings.Contains(body, `"phase": "paused"`) {
		t.Errorf("pause: %d %s", code, body)
	}
	if code, _ := do("POST", "/canaries/web-rollout/explode", tok); code != 404 {
		t.Errorf("unknown action: %d", code)
	}
	if code, _ := do("POST", "/canaries/nope/abort", tok); code != 404 {
		t.Errorf("unknown canary: %d", code)
	}
	if code, body := do("POST", "/canaries/web-rollout/abort", tok); code != 200 || !strings.Contains(body, `"weight": 0`) {
		t.Errorf("abort: %d %s", code, body)
	}
	if code, _ := do("POST", "/canaries/web-rollout/resume", tok); code != http.StatusConflict {
		t.Errorf("resume after abort: %d, want 409", code)
	}
	if code, _ := do("GET", "/canaries/web-rollout/abort", tok); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of an action: %d, want 405", code)
	}
}

// A reload that changes the steps of a running rollout keeps it within the new steps.
func TestStepsChangedByReload(t *testing.T) {
	r := newRig(t, canaryDoc(""), time.Now(), "", canary.Options{})
	r.step(0)
	r.step(time.Minute)
	if st := r.step(time.Minute); st.Step != 2 || st.Weight != 100 {
		t.Fatalf("before the reload: %+v", st)
	}
	p, err := policy.Parse([]byte(strings.Replace(canaryDoc(""), "        - {weight: 100, pause: 1m}\n", "", 1)), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	if st := r.step(time.Second); st.Step != 1 || st.Weight != 50 || st.Phase != canary.PhaseProgressing {
		t.Fatalf("after the reload: %+v", st)
	}
	if st := r.step(time.Minute); st.Phase != canary.PhasePromoted {
		t.Fatalf("not promoted: %+v", st)
	}
}

// A canary the policy no longer declares loses its gauges: no autoscaler keeps planning
// for the backend weights of a rollout that is gone.
func TestRemovedCanaryLosesItsGauges(t *testing.T) {
	r := newRig(t, canaryDoc(""), time.Now(), "", canary.Options{})
	r.step(0)
	count := func() int {
		mfs, err := r.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			if mf.GetType() == dto.MetricType_GAUGE {
				n += len(mf.GetMetric())
			}
		}
		return n
	}
	if n := count(); n == 0 {
		t.Fatal("no canary gauges while the rollout runs")
	}
	p := r.p.Clone()
	p.Spec.Canaries = nil
	r.p = p
	r.step(time.Second)
	if n := count(); n != 0 {
		t.Errorf("%d canary gauge series left after the canary was removed from the policy", n)
	}
}

// blockingQuerier answers every query with one sample of value v, or, while block is set,
// holds the query until its context ends and returns the context's error, as a Prometheus
// client does when it is stopped mid-query.
type blockingQuerier struct {
	v       float64
	block   bool
	started chan struct{} // receives once per held query
}

func (q *blockingQuerier) Query(ctx context.Context, _ string, ts time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	if q.block {
		q.started <- struct{}{}
		<-ctx.Done()
		return nil, nil, nil, ctx.Err()
	}
	return model.Vector{{Value: model.SampleValue(q.v), Timestamp: model.TimeFromUnixNano(ts.UnixNano())}}, nil, nil, nil
}

// A step stopped while its analysis query runs records nothing: the canceled query is not a
// failed measurement, neither in memory nor in the state file, and the analysis stays due
// for the next run, which measures it.
func TestStoppedQueryRecordsNoMeasurement(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "state.json")
	metric := "          - {name: success-rate, query: 'min(app_success_ratio)', min: 0.99}\n"
	q := &blockingQuerier{v: 0.999, block: true, started: make(chan struct{}, 1)}
	r := newRig(t, canaryDoc(metric), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), statePath, canary.Options{Prometheus: q})
	r.step(0)
	r.clock.Add(30 * time.Second) // the analysis is due

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.c.Step(ctx)
		done <- err
	}()
	<-q.started
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped step: %v", err)
	}
	st := r.c.State("web-rollout")
	if st.Failures != 0 || len(st.History) != 0 {
		t.Fatalf("a canceled query was recorded: failures %d, history %+v", st.Failures, st.History)
	}
	if st.NextAnalysis.After(r.clock.Now()) {
		t.Fatalf("the interrupted analysis is no longer due: next at %v, now %v", st.NextAnalysis, r.clock.Now())
	}
	reloaded := newRig(t, canaryDoc(metric), r.clock.Now(), statePath, canary.Options{Prometheus: q})
	if st := reloaded.c.State("web-rollout"); st != nil && (st.Failures != 0 || len(st.History) != 0) {
		t.Fatalf("the state file holds the canceled query: %+v", st)
	}

	q.block = false
	st = r.step(0)
	if len(st.History) != 1 || st.History[0].Result != canary.ResultSuccessful || st.Failures != 0 {
		t.Fatalf("the next run did not measure the due analysis: %+v", st)
	}
}

// A controller that does not lead starts and advances nothing and refuses manual actions
// (503 on the admin API); it serves the leader's state when it reloads it, and carries on
// from that state's step once it leads.
func TestFollowerServesTheLeadersState(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	statePath := filepath.Join(t.TempDir(), "state.json")
	var leading atomic.Bool
	f := newRig(t, canaryDoc(""), start, statePath, canary.Options{Leading: leading.Load})
	if st := f.step(0); st != nil {
		t.Fatalf("a follower started the rollout: %+v", st)
	}
	if err := f.c.Pause(context.Background(), "web-rollout"); !errors.Is(err, canary.ErrNotLeader) {
		t.Errorf("pause on a follower: %v, want ErrNotLeader", err)
	}
	srv := httptest.NewServer(f.c.AdminHandler([]byte("tok")))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/canaries/web-rollout/abort", nil)
	req.Header.Set("Authorization", "Bearer tok")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("abort on a follower's admin API: %v %v, want 503", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}

	// The leader, on the same state file (as the state ConfigMap copies it), reaches step 2.
	l := newRig(t, canaryDoc(""), start, statePath, canary.Options{})
	l.step(0)
	if st := l.step(time.Minute); st.Weight != 50 {
		t.Fatalf("leader: %+v", st)
	}
	if err := f.c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)
	if st := f.step(5 * time.Minute); st == nil || st.Weight != 50 || st.Step != 1 {
		t.Fatalf("follower after reload: %+v, want the leader's step 1 at 50", st)
	}
	if w := f.weights(); !equal(w, []uint32{50}) {
		t.Errorf("follower served %v, want [50]", w)
	}
	if got := f.metric("foresight_canary_weight"); got != 50 {
		t.Errorf("follower's foresight_canary_weight = %v, want 50", got)
	}
	// Leading, it carries on from the leader's step: the pause of step 1 has passed.
	leading.Store(true)
	if st := f.step(0); st.Weight != 100 || st.Step != 2 {
		t.Fatalf("new leader: %+v, want step 2 at 100", st)
	}
}

// A state file that holds null (valid JSON, as a state ConfigMap may) is no state: the
// controller starts rollouts from it instead of failing.
func TestNullStateIsNoState(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(statePath, []byte("null"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, canaryDoc(""), time.Now(), statePath, canary.Options{})
	if st := r.step(0); st == nil || st.Weight != 10 {
		t.Fatalf("after a null state: %+v", st)
	}
	if err := os.WriteFile(statePath, []byte("null"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := r.step(0); st == nil || st.Weight != 10 {
		t.Fatalf("after reloading a null state: %+v", st)
	}
}

// A canary with an identity keeps its rollout when its services are renamed (the Gateway API
// names an HTTPRoute's service anew once a GRPCRoute sends to its port too), and picks up a
// rollout saved under its service names before it had one. Without an identity a rename
// starts the rollout again.
func TestIdentityKeepsTheRolloutAcrossARename(t *testing.T) {
	renamed := func(identity string) *policy.Policy {
		p, err := policy.Parse([]byte(strings.NewReplacer("web-v1", "web-v1-http1").Replace(canaryDoc(""))), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.Canaries[0].Identity = identity
		return p
	}
	const identity = "shop/web-v1:8080->shop/web-v2:8080"
	for _, withIdentity := range []bool{true, false} {
		r := newRig(t, canaryDoc(""), time.Now(), "", canary.Options{})
		r.step(0)
		if st := r.step(time.Minute); st.Step != 1 || st.Weight != 50 {
			t.Fatalf("before: %+v", st)
		}
		if !withIdentity {
			r.p = renamed("")
			if st := r.step(time.Second); st.Step != 0 || st.Weight != 10 {
				t.Errorf("renamed without an identity: %+v, want the rollout started again", st)
			}
			continue
		}
		// The state was kept under the service names; the same canary now has an identity.
		r.p.Spec.Canaries[0].Identity = identity
		st := r.step(time.Second)
		if st.Step != 1 || st.Weight != 50 || st.Identity != "web-split/"+identity || st.Key != "web-split/web-v1->web-v2" {
			t.Fatalf("identity added: %+v, want step 1 at 50 with the identity", st)
		}
		r.p = renamed(identity)
		// Key follows the names, so that a version that knows no identities (a follower
		// during a rolling update, or a rollback) still finds the rollout.
		if st := r.step(time.Second); st.Step != 1 || st.Weight != 50 || st.Phase != canary.PhaseProgressing || st.Key != "web-split/web-v1-http1->web-v2" {
			t.Errorf("renamed: %+v, want the rollout kept at step 1 under the new names", st)
		}
		if st := r.step(time.Minute); st.Step != 2 || st.Weight != 100 {
			t.Errorf("after the rename: %+v, want the next step", st)
		}
	}
}
