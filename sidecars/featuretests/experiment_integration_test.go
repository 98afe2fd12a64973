//go:build integration

package featuretests

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/promserver"
	"github.com/foresight-dev/foresight/sidecars/experiment"
)

// experimentDoc is a FaultExperiment aborting every call on route greeter-split.
func experimentDoc(start time.Time, duration, guard string) string {
	doc := fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: FaultExperiment
metadata: {name: greeter-outage}
spec:
  target: {route: greeter-split}
  fault:
    abort: {grpcStatus: 14, percent: 100}
  start: %s
  duration: %s
`, start.UTC().Format(time.RFC3339Nano), duration)
	if guard != "" {
		doc += "  guard:\n    query: " + guard + "\n    interval: 200ms\n"
	}
	return doc
}

// outcome is one call of a probe: when it ended and whether it failed with UNAVAILABLE.
type outcome struct {
	at     time.Time
	failed bool
}

// probe calls the service every 5 ms, recording every outcome, until ctx ends or done says so.
type probe struct {
	mu       sync.Mutex
	outcomes []outcome
}

func (p *probe) run(ctx context.Context, t *testing.T, cp *controlPlane, done func([]outcome) bool) {
	conn := dialXDS(t, cp.addr)
	for ctx.Err() == nil {
		_, err := call(ctx, conn)
		p.mu.Lock()
		p.outcomes = append(p.outcomes, outcome{at: time.Now(), failed: status.Code(err) == codes.Unavailable && ctx.Err() == nil})
		stop := done(p.outcomes)
		p.mu.Unlock()
		if stop {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// appliedTimes records when an experiment runner began serving each change of its faults.
type appliedTimes struct {
	mu sync.Mutex
	at []time.Time
}

func (a *appliedTimes) add(t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.at = append(a.at, t)
}

func (a *appliedTimes) get() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at...)
}

// TestGRPCExperimentStartsAndEndsOnTime: the runner adds the fault no earlier than the start
// and removes it no earlier than the end; calls fail only once the fault is served, and once
// a call succeeds after the removal, none fails again. Orderings, not latencies: the log
// shows how late each step came.
func TestGRPCExperimentStartsAndEndsOnTime(t *testing.T) {
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	cp := startControlPlane(t, grpcPolicy(t, v1, v2, 100, 0, "", ""))
	start := time.Now().Add(700 * time.Millisecond)
	exps, err := experiment.Parse([]byte(experimentDoc(start, "1500ms", "")), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var applied appliedTimes
	reg := prometheus.NewRegistry()
	runner, err := experiment.NewRunner(exps, experiment.Options{
		Registerer: reg, Logger: slog.New(slog.NewJSONHandler(cp.logs, nil)),
		Apply: func(ctx context.Context, o experiment.Overlay) error {
			applied.add(time.Now())
			return cp.rec.SetOverlay(ctx, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { _ = runner.Run(ctx) }()
	// The probe stops 20 calls after the first success that followed the fault's removal.
	p := &probe{}
	p.run(ctx, t, cp, func(o []outcome) bool {
		at := applied.get()
		if len(at) < 2 {
			return false
		}
		for i, c := range o {
			if c.at.After(at[1]) && !c.failed {
				return len(o)-i > 20
			}
		}
		return false
	})
	if ctx.Err() != nil {
		t.Fatalf("the experiment did not run its course within 30s (faults applied at %v)", applied.get())
	}

	at := applied.get()
	end := exps[0].End()
	if at[0].Before(start) || at[1].Before(end) {
		t.Fatalf("fault added at %v (start %v), removed at %v (end %v): too early", at[0], start, at[1], end)
	}
	var first, last time.Time
	recovered := false
	for _, c := range p.outcomes {
		switch {
		case c.failed && recovered:
			t.Fatalf("a call failed at %v, after a call succeeded past the fault's removal", c.at)
		case c.failed:
			if first.IsZero() {
				first = c.at
			}
			last = c.at
		case c.at.After(at[1]):
			recovered = true
		}
	}
	if first.IsZero() {
		t.Fatalf("no call failed during the experiment (%d calls): the test proves nothing", len(p.outcomes))
	}
	if first.Before(at[0]) {
		t.Errorf("a call failed at %v, before the fault was served at %v", first, at[0])
	}
	t.Logf("%d calls; fault added %v after the start, first failure %v after it; removed %v after the end, last failure %v after it",
		len(p.outcomes), at[0].Sub(start), first.Sub(at[0]), at[1].Sub(end), last.Sub(at[1]))
	if runner.State("greeter-outage") != experiment.StateCompleted {
		t.Errorf("state %s, want completed", runner.State("greeter-outage"))
	}
}

// startPrometheus runs a real Prometheus scraping target every 200 ms and
// waits until it has scraped it once.
func startPrometheus(t testing.TB, target string) string {
	t.Helper()
	srv, err := promserver.StartScraping(context.Background(), needs.Program(t, "prometheus"), t.TempDir(), 200*time.Millisecond, promserver.Target{Addr: target})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv.URL
}

func TestGRPCExperimentGuardAborts(t *testing.T) {
	// The application's error ratio, scraped by a real Prometheus.
	appReg := prometheus.NewRegistry()
	ratio := prometheus.NewGauge(prometheus.GaugeOpts{Name: "app_error_ratio", Help: "test"})
	appReg.MustRegister(ratio)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: promhttp.HandlerFor(appReg, promhttp.HandlerOpts{}), ReadHeaderTimeout: time.Second}
	go func() { _ = app.Serve(lis) }()
	t.Cleanup(func() { app.Close() })
	promURL := startPrometheus(t, lis.Addr().String())

	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	cp := startControlPlane(t, grpcPolicy(t, v1, v2, 100, 0, "", ""))
	exps, err := experiment.Parse([]byte(experimentDoc(time.Now(), "1m", `'app_error_ratio > 0.05'`)), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	client, err := promapi.NewClient(promapi.Config{Address: promURL})
	if err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(t.TempDir(), "experiments.json")
	reg := prometheus.NewRegistry()
	runner, err := experiment.NewRunner(exps, experiment.Options{
		Registerer: reg, Logger: slog.New(slog.NewJSONHandler(cp.logs, nil)), Prometheus: promv1.NewAPI(client), StatePath: statePath,
		Apply: func(ctx context.Context, o experiment.Overlay) error { return cp.rec.SetOverlay(ctx, o) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { _ = runner.Run(ctx) }()
	conn := dialXDS(t, cp.addr)
	eventually(t, "fault served while the guard holds", func() bool {
		_, err := call(ctx, conn)
		return status.Code(err) == codes.Unavailable
	})
	if runner.State("greeter-outage") != experiment.StateRunning {
		t.Fatalf("state %s, want running", runner.State("greeter-outage"))
	}
	ratio.Set(0.2) // the protected service degrades: the guard fires
	fired := time.Now()
	eventually(t, "guard aborted the experiment and the fault is gone", func() bool {
		_, err := call(ctx, conn)
		return err == nil && runner.State("greeter-outage") == experiment.StateAborted
	})
	t.Logf("fault removed %v after the error ratio rose (scrape 200ms, guard interval 200ms)", time.Since(fired))
	if got := testutil.ToFloat64(gauge(t, reg, "foresight_experiment_aborts_total")); got != 1 {
		t.Errorf("aborts_total = %v", got)
	}
	if got := testutil.ToFloat64(gauge(t, reg, "foresight_experiment_guard_value")); got != 0.2 {
		t.Errorf("guard_value = %v, want 0.2", got)
	}
	b, err := os.ReadFile(statePath)
	if err != nil || !strings.Contains(string(b), "greeter-outage@") {
		t.Fatalf("abort not persisted: %s %v", b, err)
	}
}

// gauge returns the single series of a family as a collector for testutil.
func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: name})
			g.Set(v)
			return g
		}
	}
	t.Fatalf("no single series %s", name)
	return nil
}
