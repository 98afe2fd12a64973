package experiment

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/promquery"
)

// TestSetExperiments: experiments handed to a running runner are served at its next step on
// every one of their targets, and experiments taken away stop being served and lose their
// metrics.
func TestSetExperiments(t *testing.T) {
	exps, err := Parse([]byte(experimentsYAML), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock := promquery.NewManualClock(time.Date(2026, 11, 25, 20, 5, 30, 0, time.UTC))
	rec := &recorder{base: testPolicy(t), clock: clock}
	reg := prometheus.NewRegistry()
	r, err := NewRunner(nil, Options{Clock: clock, Apply: rec.apply, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Step(ctx); err != nil {
		t.Fatal(err)
	}
	// backend-delay (20:05 for 1m) covering the service and, as a second target, a route.
	e := exps[1]
	e.MoreTargets = []policy.FaultTarget{{Route: "backend-checkout"}}
	r.SetExperiments([]*Experiment{e})
	select {
	case <-r.kick:
	default:
		t.Fatal("SetExperiments did not wake the runner")
	}
	if _, err := r.Step(ctx); err != nil {
		t.Fatal(err)
	}
	p := rec.last()
	if f := p.Service("backend").Fault; f == nil || f.Delay.Fixed.D() != 200*time.Millisecond {
		t.Fatalf("service fault %+v", f)
	}
	if f := p.Route("backend-checkout").Fault; f == nil || f.Delay == nil || f.Delay.Fixed.D() != 200*time.Millisecond {
		t.Fatalf("second target's fault %+v", f)
	}
	r.SetExperiments(nil)
	if _, err := r.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if rec.last().Service("backend").Fault.Delay.Fixed.D() != 100*time.Millisecond {
		t.Fatal("a removed experiment's fault is still served")
	}
	if n := testutil.CollectAndCount(r.stateGauge); n != 0 {
		t.Errorf("%d state series left for removed experiments", n)
	}
}

// TestGuardQueryMustParse: a guard that is not PromQL is refused with its field.
func TestGuardQueryMustParse(t *testing.T) {
	doc := strings.Replace(experimentsYAML, "query: sum(rate(http_requests_total{code=~\"5..\"}[1m]))", "query: sum(rate(http_requests_total{code=~\"5..\"}[1m])", 1)
	_, err := Parse([]byte(doc), "exp.yaml")
	if err == nil || !strings.Contains(err.Error(), "exp.yaml:12: spec.guard.query: does not parse") {
		t.Fatalf("error %v", err)
	}
}
