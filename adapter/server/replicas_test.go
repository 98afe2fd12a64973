package server_test

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/source"
)

// A replica is not ready while its warm start (the first cycle, loading
// the rules' history) is under way, and is once it is done.
func TestNotReadyUntilWarmStartDone(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, clientRules, fillClientData, gate)
	h.url = h.serve(t, false)
	// The loop's first cycle waits on the source: the warm start is under way.
	err := h.get(h.url, "/readyz")
	if err == nil || !strings.Contains(err.Error(), "[-]forecasts failed") {
		t.Fatalf("readyz during the warm start: %v; want the forecasts check failing", err)
	}
	if err := h.get(h.url, "/healthz"); err != nil {
		t.Fatalf("healthz during the warm start: %v; a warming replica is alive", err)
	}
	close(gate)
	waitFor(t, 60*time.Second, "ready after the warm start", func() bool { return h.get(h.url, "/readyz") == nil })
	if !h.loop.Ready() {
		t.Fatal("readyz answered 200 before every rule completed its first cycle")
	}
}

// fittedRules are clientRules with the external metric's model chosen
// among the fitted ones.
var fittedRules = strings.Replace(clientRules, "model: reactive", "model: auto", 1)

// Two replicas fed the same history serve the same values for the same
// series in the same cycle: a failover or a load balancer switching
// replicas does not change what an HPA reads.
func TestReplicasServeTheSameValues(t *testing.T) {
	fill := func(emb *source.Embedded) {
		for _, q := range []string{"orders", "emails", "refunds"} {
			values := make([]float64, 600)
			for i := range values {
				values[i] = 100 + 40*float64(i%60)/60 + float64(len(q)*i%7)
			}
			appendSteps(t, emb, labels.FromStrings("__name__", "redis_list_length", "namespace", "a", "queue", q), t0, values...)
		}
	}
	a := startHarness(t, fittedRules, fill)
	b := startHarness(t, fittedRules, fill)
	const path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/a/queue_depth"
	compare := func(cycle string) {
		t.Helper()
		codeA, bodyA := fetch(t, a.url+path, "application/json")
		codeB, bodyB := fetch(t, b.url+path, "application/json")
		if codeA != 200 || codeB != 200 || !bytes.Equal(bodyA, bodyB) {
			t.Fatalf("%s: replica A answered %d\n%s\nreplica B %d\n%s", cycle, codeA, bodyA, codeB, bodyB)
		}
		if !strings.Contains(string(bodyA), `"refunds"`) {
			t.Fatalf("%s: answer without every series: %s", cycle, bodyA)
		}
	}
	compare("after the warm start")

	// One more minute of data, the same on both, and the cycle that reads it.
	next := t0.Add(time.Minute)
	for _, h := range []*harness{a, b} {
		for _, q := range []string{"orders", "emails", "refunds"} {
			appendSteps(t, h.emb, labels.FromStrings("__name__", "redis_list_length", "namespace", "a", "queue", q), next, 250)
		}
		h.clock.Set(next)
	}
	stamp := next.UTC().Format(time.RFC3339)
	for _, h := range []*harness{a, b} {
		waitFor(t, 60*time.Second, "the next cycle served", func() bool {
			_, body := fetch(t, h.url+path, "application/json")
			return strings.Count(string(body), stamp) == 3
		})
	}
	compare("after the next cycle")
}

// lateRules forecast one external metric with refits every hour on six
// hours of history.
const lateRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: queue_depth
    query: redis_list_length{<<.LabelMatchers>>}
    api: external
    forecast: {step: 1m, model: auto, history: 6h, refitInterval: 1h, staleAfter: 3m}
`

// A replica started later (a restart, a rollout) serves the same values as
// the replica that has been running and refitting all along: refits fall on
// the data-time grid and the late one loads the history they need.
func TestReplicaStartedLaterServesTheSameValues(t *testing.T) {
	const minutes = 16 * 60 // data ending at t0
	fill := func(emb *source.Embedded) {
		for k, q := range []string{"orders", "emails"} {
			values := make([]float64, minutes)
			for i := range values {
				// A wave with a trend and deterministic noise: fits on different windows differ.
				values[i] = 200 + 0.05*float64(i) + 60*math.Sin(2*math.Pi*float64(i)/(97+float64(k)*13)) + float64((i*7919+k*31)%23)
			}
			appendSteps(t, emb, labels.FromStrings("__name__", "redis_list_length", "namespace", "a", "queue", q), t0, values...)
		}
	}
	const path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/a/queue_depth"
	// The early replica starts 150 minutes before t0 and follows the data in
	// cycles of one to five minutes, refitting on the way.
	early := newHarness(t, lateRules, fill, nil)
	early.clock.Set(t0.Add(-150 * time.Minute))
	early.url = early.serve(t, false)
	waitFor(t, 60*time.Second, "early replica ready", func() bool { return early.loop.Ready() })
	for at, i := t0.Add(-150*time.Minute), 0; at.Before(t0); i++ {
		at = at.Add(time.Duration(1+i%5) * time.Minute)
		if at.After(t0) {
			at = t0
		}
		early.clock.Set(at)
		stamp := at.UTC().Format(time.RFC3339)
		waitFor(t, 60*time.Second, "early replica's cycle at "+stamp, func() bool {
			_, body := fetch(t, early.url+path, "application/json")
			return strings.Count(string(body), stamp) == 2
		})
	}
	late := startHarness(t, lateRules, fill)
	codeE, bodyE := fetch(t, early.url+path, "application/json")
	codeL, bodyL := fetch(t, late.url+path, "application/json")
	if codeE != 200 || codeL != 200 || !bytes.Equal(bodyE, bodyL) {
		t.Fatalf("at %s the replica running since two and a half hours answered %d\n%s\nthe one started now %d\n%s", t0.Format(time.RFC3339), codeE, bodyE, codeL, bodyL)
	}
	if !strings.Contains(string(bodyE), `"emails"`) {
		t.Fatalf("answer without every series: %s", bodyE)
	}
}
