package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/promquery"
	"github.com/foresight-dev/foresight/sidecars/xds"
)

// TestCheckGatewayUsesTheCheckedExperiments: checkGateway checks the merge setGateway would
// serve with the experiments it is given, not those the runner drives: a translation
// without the target of a running experiment is accepted when the experiment is not part of
// it, refused when it is; and the check changes neither the served policy nor the runner.
func TestCheckGatewayUsesTheCheckedExperiments(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rec := xds.NewReconciler(log)
	srv, err := xds.New(ctx, xds.Options{NodeGroup: rec.NodeGroup, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rec.Bind(srv)
	parse := func(doc string) *policy.Policy {
		t.Helper()
		p, err := policy.Parse([]byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n"+doc), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	src := &sources{rec: rec, file: parse("  services: [{name: legacy, port: 8080, endpoints: [{address: 10.0.0.1}]}]\n")}
	if err := src.apply(ctx); err != nil {
		t.Fatal(err)
	}
	edge := parse("  services: [{name: edge-web, port: 8080, endpoints: [{address: 10.0.0.2}]}]\n").Spec
	both := parse("  services: [{name: edge-web, port: 8080, endpoints: [{address: 10.0.0.2}]}, {name: tenant-web, port: 8080, endpoints: [{address: 10.0.0.3}]}]\n").Spec
	exps, err := experiment.Parse([]byte(`apiVersion: foresight.dev/v1alpha1
kind: FaultExperiment
metadata: {name: tenant-delay}
spec:
  target: {service: tenant-web}
  fault: {delay: {fixed: 200ms, percent: 100}}
  start: 2026-11-25T20:00:00Z
  duration: 1h
`), "exp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock := promquery.NewManualClock(time.Date(2026, 11, 25, 20, 30, 0, 0, time.UTC))
	runner, err := experiment.NewRunner(nil, experiment.Options{Clock: clock, Logger: log, Registerer: prometheus.NewRegistry(),
		Apply: func(ctx context.Context, o experiment.Overlay) error { return rec.SetLayer(ctx, experimentLayer, o) }})
	if err != nil {
		t.Fatal(err)
	}
	src.setRunner(runner)
	if err := src.setGateway(ctx, both, exps); err != nil {
		t.Fatal(err)
	}
	if err := rec.SetLayer(ctx, experimentLayer, runner.Overlay); err != nil { // what the runner's Step does
		t.Fatal(err)
	}
	served := rec.Policy()

	if err := src.checkGateway(ctx, edge, nil); err != nil {
		t.Fatalf("a translation without the running experiment's target, nor the experiment: %v", err)
	}
	if err := src.checkGateway(ctx, edge, exps); err == nil || !strings.Contains(err.Error(), "tenant-web") {
		t.Fatalf("a translation without the running experiment's target, with the experiment: %v", err)
	}
	if err := src.checkGateway(ctx, both, exps); err != nil {
		t.Fatalf("the served translation: %v", err)
	}
	if rec.Policy() != served || len(runner.Experiments()) != 1 {
		t.Fatalf("the checks changed the served policy or the runner's %d experiments", len(runner.Experiments()))
	}
	// setGateway agrees with the checks.
	if err := src.setGateway(ctx, edge, exps); err == nil {
		t.Fatal("setGateway served what checkGateway refused")
	}
	if err := src.setGateway(ctx, edge, nil); err != nil {
		t.Fatalf("setGateway refused what checkGateway accepted: %v", err)
	}
}
