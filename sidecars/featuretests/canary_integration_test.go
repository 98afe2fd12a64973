//go:build integration

package featuretests

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foresight-dev/foresight/sidecars/canary"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// canaryApp is an application whose success ratio a real Prometheus scrapes every 200 ms.
type canaryApp struct {
	ratio prometheus.Gauge
	prom  promv1.API
}

func startCanaryApp(t testing.TB) *canaryApp {
	t.Helper()
	reg := prometheus.NewRegistry()
	a := &canaryApp{ratio: prometheus.NewGauge(prometheus.GaugeOpts{Name: "app_success_ratio", Help: "test"})}
	a.ratio.Set(1)
	reg.MustRegister(a.ratio)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close() })
	client, err := promapi.NewClient(promapi.Config{Address: startPrometheus(t, lis.Addr().String())})
	if err != nil {
		t.Fatal(err)
	}
	a.prom = promv1.NewAPI(client)
	return a
}

// withCanary adds a rollout of greeter-split from greeter-v1 to greeter-v2 to p: steps
// 20% and 60% (the second held for pause2), analysed every 200 ms against a success ratio
// of at least 0.99, one failure tolerated.
func withCanary(t testing.TB, p *policy.Policy, pause2 time.Duration) *policy.Policy {
	t.Helper()
	minRatio := 0.99
	p = p.Clone()
	p.Spec.Canaries = []policy.Canary{{
		Name: "greeter-rollout", Route: "greeter-split", Stable: "greeter-v1", Canary: "greeter-v2",
		Steps: []policy.CanaryStep{{Weight: 20, Pause: policy.Duration(600 * time.Millisecond)}, {Weight: 60, Pause: policy.Duration(pause2)}},
		Analysis: policy.CanaryAnalysis{Interval: policy.Duration(200 * time.Millisecond), FailureLimit: 1,
			Metrics: []policy.AnalysisMetric{{Name: "success-rate", Query: "min(app_success_ratio)", Min: &minRatio}}},
	}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// servedWeights records the canary weights a controller served, in order.
type servedWeights struct {
	mu sync.Mutex
	w  []uint32
}

func (s *servedWeights) get() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.w...)
}

// runCanaries starts a canary controller serving through cp until the returned stop.
func runCanaries(t testing.TB, cp *controlPlane, app *canaryApp, statePath string) (*canary.Controller, *servedWeights, func()) {
	t.Helper()
	sw := &servedWeights{}
	c, err := canary.New(canary.Options{
		Prometheus: app.prom, StatePath: statePath, Policy: cp.rec.Policy, Registerer: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewJSONHandler(cp.logs, nil)),
		Apply: func(ctx context.Context, o canary.Overlay) error {
			if err := cp.rec.SetLayer(ctx, "canary", o); err != nil {
				return err
			}
			q, _ := o(cp.rec.Policy())
			sw.mu.Lock()
			sw.w = append(sw.w, q.Route("greeter-split").Backends[1].Weight)
			sw.mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return c, sw, stop
}

// countBackends makes n calls through conn and counts the answers per backend.
func countBackends(t *testing.T, cp *controlPlane, n int) map[string]int {
	t.Helper()
	conn := dialXDS(t, cp.addr)
	got := map[string]int{}
	for i := 0; i < n; i++ {
		b, err := call(context.Background(), conn)
		if err != nil {
			t.Fatal(err)
		}
		got[b]++
	}
	return got
}

// waitServed waits until the last weight the controller served is last: a rollout's phase
// changes under the controller's lock before the new weights are handed to the control plane.
func waitServed(t *testing.T, sw *servedWeights, last uint32) []uint32 {
	t.Helper()
	var w []uint32
	eventually(t, fmt.Sprintf("weight %d served", last), func() bool {
		w = sw.get()
		return len(w) > 0 && w[len(w)-1] == last
	})
	return w
}

func waitPhase(t *testing.T, c *canary.Controller, phase string) *canary.State {
	t.Helper()
	var st *canary.State
	eventually(t, "canary "+phase, func() bool {
		st = c.State("greeter-rollout")
		return st != nil && st.Phase == phase
	})
	return st
}

func TestGRPCCanaryPromotedThroughEveryStep(t *testing.T) {
	app := startCanaryApp(t)
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	cp := startControlPlane(t, withCanary(t, grpcPolicy(t, v1, v2, 100, 0, "", ""), 600*time.Millisecond))
	conn := dialXDS(t, cp.addr)
	c, sw, _ := runCanaries(t, cp, app, filepath.Join(t.TempDir(), "canaries.json"))
	st := waitPhase(t, c, canary.PhasePromoted)
	if st.Weight != 100 || st.Stable != "greeter-v2" || st.Failures != 0 {
		t.Fatalf("promoted state %+v", st)
	}
	if w := waitServed(t, sw, 100); len(w) != 3 || w[0] != 20 || w[1] != 60 {
		t.Fatalf("served weights %v, want [20 60 100]", w)
	}
	eventually(t, "the client reaches the canary only", func() bool {
		b, err := call(context.Background(), conn)
		return err == nil && b == "v2"
	})
	if got := countBackends(t, cp, 100); got["v2"] != 100 {
		t.Errorf("after promotion: %v, want all on v2", got)
	}
	t.Logf("promoted after %d measurements", len(st.History))
}

func TestGRPCCanaryBreachRollsBack(t *testing.T) {
	app := startCanaryApp(t)
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	cp := startControlPlane(t, withCanary(t, grpcPolicy(t, v1, v2, 100, 0, "", ""), time.Hour))
	conn := dialXDS(t, cp.addr)
	c, sw, _ := runCanaries(t, cp, app, filepath.Join(t.TempDir(), "canaries.json"))
	eventually(t, "the client reaches the canary", func() bool {
		b, err := call(context.Background(), conn)
		return err == nil && b == "v2"
	})
	app.ratio.Set(0.5)
	st := waitPhase(t, c, canary.PhaseFailed)
	if st.Weight != 0 || st.Failures != 2 || st.Stable != "greeter-v1" {
		t.Fatalf("failed state %+v", st)
	}
	if w := waitServed(t, sw, 0); len(w) < 2 || w[0] != 20 {
		t.Fatalf("served weights %v, want 20 first and 0 last", w)
	}
	eventually(t, "the client reaches the stable only", func() bool {
		b, err := call(context.Background(), conn)
		return err == nil && b == "v1"
	})
	if got := countBackends(t, cp, 100); got["v1"] != 100 {
		t.Errorf("after the rollback: %v, want all on v1", got)
	}
	t.Logf("rolled back: %s", st.Reason)
}

func TestGRPCCanaryRestartResumesAtTheSameStep(t *testing.T) {
	app := startCanaryApp(t)
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	p := withCanary(t, grpcPolicy(t, v1, v2, 100, 0, "", ""), time.Hour)
	statePath := filepath.Join(t.TempDir(), "canaries.json")

	ctx1, stopCP1 := context.WithCancel(context.Background())
	cp1 := startControlPlaneCtx(t, ctx1, p, "127.0.0.1:0", "first")
	c1, _, stop1 := runCanaries(t, cp1, app, statePath)
	eventually(t, "second step reached", func() bool {
		st := c1.State("greeter-rollout")
		return st != nil && st.Step == 1
	})
	before := c1.State("greeter-rollout")
	stop1()
	stopCP1()
	cp1.wait()

	// A new control plane on the same state file serves the second step's weight at once.
	cp2 := startControlPlaneCtx(t, context.Background(), p, "127.0.0.1:0", "second")
	c2, sw, _ := runCanaries(t, cp2, app, statePath)
	if w := sw.get(); len(w) == 0 || w[0] != 60 {
		t.Fatalf("first weights served after the restart %v, want 60 first", w)
	}
	st := c2.State("greeter-rollout")
	if st.Step != 1 || st.Weight != 60 || !st.StepStarted.Equal(before.StepStarted) {
		t.Fatalf("after the restart %+v, before %+v", st, before)
	}
	got := countBackends(t, cp2, 400) // 60% of 400: v2 < v1 is 4 standard deviations off
	if got["v1"] == 0 || got["v2"] < got["v1"] {
		t.Errorf("after the restart at 60%%: %v", got)
	}
	t.Logf("after the restart: %v", got)
}
