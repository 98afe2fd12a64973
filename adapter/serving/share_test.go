package serving

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// shareRules serve a route's load times the canary backend's share of it, the larger of the
// share now and at the next step (foresight-xds' foresight_canary_backend_weight).
const shareRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: greeter_v2_load
  query: max by (namespace) (route_load{<<.LabelMatchers>>})
  forecast: {step: 1m, model: reactive, horizon: 5m, staleAfter: 5m}
  share:
    query: max by (namespace) (foresight_canary_backend_weight{<<.LabelMatchers>>,service="greeter-v2"}) / 100
`

// TestShareServesLoadTimesTheNextWeight runs a share rule on the embedded TSDB: the canary's
// metric is the route's load times its next step's weight, follows the rollout, and is stale
// (never zero or the whole load) where the share is missing or stopped.
func TestShareServesLoadTimesTheNextWeight(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	put := func(from, to time.Time, v float64, kv ...string) {
		appendMinutely(t, emb, from, to, constant(v), kv...)
	}
	from := testNow.Add(-time.Hour)
	weight := func(ns, svc, step string, from, to time.Time, v float64) {
		put(from, to, v, "__name__", "foresight_canary_backend_weight", "canary", "rollout", "namespace", ns, "service", svc, "step", step)
	}
	for _, ns := range []string{"shop", "blind", "frozen"} {
		put(from, testNow.Add(5*time.Minute), 200, "__name__", "route_load", "namespace", ns)
	}
	// shop: at 20% now, 50% at the next step; the step is taken at t0+2m (50% now, 100% next).
	weight("shop", "greeter-v2", "current", from, testNow.Add(time.Minute), 20)
	weight("shop", "greeter-v2", "next", from, testNow.Add(time.Minute), 50)
	weight("shop", "greeter-v1", "current", from, testNow.Add(5*time.Minute), 80)
	weight("shop", "greeter-v2", "current", testNow.Add(2*time.Minute), testNow.Add(5*time.Minute), 50)
	weight("shop", "greeter-v2", "next", testNow.Add(2*time.Minute), testNow.Add(5*time.Minute), 100)
	// frozen: foresight-xds stopped exporting 10 minutes ago (staleAfter 5m).
	weight("frozen", "greeter-v2", "current", from, testNow.Add(-10*time.Minute), 10)

	c := runClockedLoop(t, reg, emb, shareRules)
	served := func(ns string) (float64, error) {
		es, _, err := c.store.Lookup(Query{Metric: "greeter_v2_load", API: APIExternal, Namespace: ns})
		if err != nil {
			return 0, err
		}
		if len(es) != 1 {
			t.Fatalf("%s: %d entries", ns, len(es))
		}
		return es[0].Forecast.Value, nil
	}
	if v, err := served("shop"); err != nil || v != 100 {
		t.Errorf("t0: shop = %v, %v; want 200 x 50%% = 100 (the next step's share)", v, err)
	}
	var stale *StaleError
	for _, ns := range []string{"blind", "frozen"} {
		if v, err := served(ns); !errors.As(err, &stale) {
			t.Errorf("%s: without a fresh share: served %v, %v; want a StaleError", ns, v, err)
		}
	}
	c.advance(t, 2*time.Minute, 1)
	if v, err := served("shop"); err != nil || v != 200 {
		t.Errorf("t0+2m: shop = %v, %v; want 200 x 100%% = 200 (the promotion is next)", v, err)
	}
}
