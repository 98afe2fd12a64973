package serving

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// lockedBuffer is a log sink safe for the loop's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const costRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: checkout_replicas
    query: sum by (namespace, service) (load{<<.LabelMatchers>>})
    forecast: {step: 1m, model: reactive, history: 8h, staleAfter: 5m}
    cost:
      pods: '{pod=~"checkout-.+"}'
      capacity: 10
      targetUtilization: 0.7
      elasticity: 1
      minUtilization: 0.5
      maxUtilization: 0.9
      referencePrice: 0.1
      interruptionDiscount: 0.5
      priceHold: 10m
`

// TestCostWeightedServing runs a cost-weighted rule in the loop over an
// embedded TSDB holding a load series and OpenCost-shaped price series: the
// served value is cost.Params.Weigh of the forecast with the price ratio and
// spot share from the OpenCost join; when prices stop, the last price is held
// up to the hold limit, then the cost-blind value is served (metric and log);
// when prices return, the weighting resumes.
func TestCostWeightedServing(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	t0 := testNow
	series := func(from, to time.Time, v func(time.Time) float64, kv ...string) {
		appendMinutely(t, emb, from, to, v, kv...)
	}
	load := func(ts time.Time) float64 { return 80 + 20*math.Sin(float64(ts.Unix())/900) }
	series(t0.Add(-8*time.Hour), t0.Add(40*time.Minute), load, "__name__", "load", "namespace", "shop", "service", "checkout", "pod", "checkout-a")
	// Prices until t0, a gap, and prices again from t0+25m.
	price := func(v float64, kv ...string) {
		f := func(time.Time) float64 { return v }
		series(t0.Add(-8*time.Hour), t0, f, kv...)
		series(t0.Add(25*time.Minute), t0.Add(40*time.Minute), f, kv...)
	}
	// checkout-a on on-demand node n1: 1 core * 0.1 + 1 GiB * 0.02 = 0.12 $/h;
	// checkout-b on spot node n2: 1 core * 0.05 + 1 GiB * 0.01 = 0.06 $/h.
	price(1, "__name__", "container_cpu_allocation", "namespace", "shop", "pod", "checkout-a", "node", "n1", "container", "app")
	price(1, "__name__", "container_cpu_allocation", "namespace", "shop", "pod", "checkout-b", "node", "n2", "container", "app")
	price(1<<30, "__name__", "container_memory_allocation_bytes", "namespace", "shop", "pod", "checkout-a", "node", "n1", "container", "app")
	price(1<<30, "__name__", "container_memory_allocation_bytes", "namespace", "shop", "pod", "checkout-b", "node", "n2", "container", "app")
	price(0.1, "__name__", "node_cpu_hourly_cost", "node", "n1", "instance_type", "m5.large")
	price(0.05, "__name__", "node_cpu_hourly_cost", "node", "n2", "instance_type", "m5.large")
	price(0.02, "__name__", "node_ram_hourly_cost", "node", "n1")
	price(0.01, "__name__", "node_ram_hourly_cost", "node", "n2")
	price(0, "__name__", "kubecost_node_is_spot", "node", "n1")
	price(1, "__name__", "kubecost_node_is_spot", "node", "n2")

	cm, err := NewCostMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cl := runClockedLoopWith(t, reg, LoopOptions{Source: emb, CostMetrics: cm, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, ConfigLoader, costRules)
	loop, store, m := cl.loop, cl.store, cl.metrics
	params := cl.rules[0].Cost.Params
	settings := cl.rules[0].Settings

	// L: the rule's forecast of the same samples, from a forecaster of its own.
	f, err := forecast.NewForecaster(settings)
	if err != nil {
		t.Fatal(err)
	}
	fed := t0.Add(-8 * time.Hour)
	forecastAt := func(at time.Time) float64 {
		for ; !fed.After(at); fed = fed.Add(time.Minute) {
			if err := f.Observe(fed.Unix(), load(fed)); err != nil {
				t.Fatal(err)
			}
		}
		return f.Serve().Value
	}
	lv := []string{"checkout_replicas", "shop", `namespace="shop",service="checkout"`}
	check := func(when string, at time.Time, ratio, spot, hourly float64, fallback bool) {
		t.Helper()
		want := params.Weigh(forecastAt(at), ratio, spot)
		es, _, err := store.Lookup(Query{Metric: "checkout_replicas", API: APIExternal, Namespace: "shop"})
		if err != nil || len(es) != 1 {
			t.Fatalf("%s: lookup %v, %v", when, es, err)
		}
		if got := es[0].Forecast.Value; math.Abs(got-want.Value) > 1e-9 || es[0].Forecast.At != at.Unix() {
			t.Errorf("%s: served %v at %d, want V = %v (L %v, r %v, u %v, f %v) at %d", when, got, es[0].Forecast.At, want.Value, want.Load, ratio, want.Utilization, spot, at.Unix())
		}
		for _, g := range []struct {
			name string
			vec  *prometheus.GaugeVec
			want float64
		}{
			{"served", cm.served, want.Value}, {"load", cm.load, want.Load}, {"ratio", cm.ratio, ratio},
			{"utilization", cm.util, want.Utilization}, {"spot", cm.spot, spot},
		} {
			if got := testutil.ToFloat64(g.vec.WithLabelValues(lv...)); math.Abs(got-g.want) > 1e-9 {
				t.Errorf("%s: %s metric = %v, want %v", when, g.name, got, g.want)
			}
		}
		if got := seriesGauges(t, m, "foresight_forecast_served_value")[strings.Join(lv, "|")]; math.Abs(got-want.Value) > 1e-9 {
			t.Errorf("%s: forecast served metric = %v, want %v", when, got, want.Value)
		}
		fb := 0.0
		if fallback {
			fb = 1
		}
		if got := testutil.ToFloat64(cm.fallback.WithLabelValues(lv...)); got != fb {
			t.Errorf("%s: fallback metric = %v, want %v", when, got, fb)
		}
		if math.IsNaN(hourly) {
			if n := testutil.CollectAndCount(cm.hourly); n != 0 {
				t.Errorf("%s: hourly cost exported without prices (%d series)", when, n)
			}
		} else if got := testutil.ToFloat64(cm.hourly.WithLabelValues(lv...)); math.Abs(got-hourly) > 1e-9 {
			t.Errorf("%s: hourly cost = %v, want %v", when, got, hourly)
		}
	}
	advance := func(d time.Duration) { cl.advance(t, d, 1) }

	// Fresh prices: r = mean replica price 0.09 / reference 0.1, f = 1/2.
	check("fresh", t0, 0.9, 0.5, 0.18, false)
	if v := testutil.ToFloat64(cm.util.WithLabelValues(lv...)); math.Abs(v-0.63) > 1e-9 {
		t.Errorf("u = %v, want 0.7 * 0.9 = 0.63", v)
	}
	// 12 minutes on: the last price (seen up to the PromQL lookback, 5m) is held.
	advance(12 * time.Minute)
	check("held", t0.Add(12*time.Minute), 0.9, 0.5, 0.18, false)
	if strings.Contains(logs.String(), "cost-blind") {
		t.Errorf("fell back while the price is held:\n%s", logs.String())
	}
	// 20 minutes on: past the hold limit, the cost-blind value L / (k * u0).
	advance(8 * time.Minute)
	check("missing", t0.Add(20*time.Minute), 0, 0, math.NaN(), true)
	blind := forecastAt(t0.Add(20*time.Minute)) / (params.Capacity * params.TargetUtilization)
	if got := testutil.ToFloat64(cm.served.WithLabelValues(lv...)); math.Abs(got-blind) > 1e-9 {
		t.Errorf("fallback serves %v, want cost-blind %v", got, blind)
	}
	if !strings.Contains(logs.String(), "no price within the hold limit; serving the cost-blind value") {
		t.Errorf("fallback not logged:\n%s", logs.String())
	}
	// Prices return.
	advance(10 * time.Minute)
	check("back", t0.Add(30*time.Minute), 0.9, 0.5, 0.18, false)
	if !strings.Contains(logs.String(), "prices back") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}

	// Removing the rule removes its cost metrics.
	if err := loop.SetRules(nil); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(cm.served); n != 0 {
		t.Errorf("cost metrics of a removed rule: %d series", n)
	}
}
