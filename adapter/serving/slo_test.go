package serving

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/slo"
)

const sloRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: checkout_replicas
    query: sum by (namespace, service) (load{<<.LabelMatchers>>})
    forecast: {step: 1m, model: reactive, history: 6h, staleAfter: 5m}
    slo:
      capacity: 10
      underProvisioned: 0.01
      maxUtilization: 1.1
      window: 12h
`

// TestSLOServing runs an SLO rule in the loop over an embedded TSDB: each
// series serves its forecast as replica demand L / (capacity * u), where u
// is what an slo.Controller fed the same samples and served values chose;
// the metrics report u, the achieved under-provisioned share and the
// pod-minutes against the reactive baseline; removing the rule removes them.
func TestSLOServing(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	t0 := testNow
	load := func(ts time.Time) float64 {
		x := float64(ts.Unix())
		return 80 + 30*math.Sin(x/7200) + 10*math.Sin(x/97)
	}
	appendMinutely(t, emb, t0.Add(-14*time.Hour), t0.Add(3*time.Hour), load, "__name__", "load", "namespace", "shop", "service", "checkout")
	sm, err := NewSLOMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cl := runClockedLoopWith(t, reg, LoopOptions{Source: emb, SLOMetrics: sm}, ConfigLoader, sloRules)
	loop, store, rules := cl.loop, cl.store, cl.rules

	// The same forecaster and controller fed the samples the loop fetched:
	// its first cycle reads back the controller's lookback (the window and
	// the climb from floor to ceiling, 52h), longer than the forecast's
	// history (6h), so the utilisation is what a replica running all along
	// serves; the series starts 14h back.
	f, err := forecast.NewForecaster(rules[0].Settings)
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := slo.New(*rules[0].SLO)
	if err != nil {
		t.Fatal(err)
	}
	fed := t0.Add(-14 * time.Hour)
	expect := func(at time.Time) float64 {
		for ; !fed.After(at); fed = fed.Add(time.Minute) {
			if err := f.Observe(fed.Unix(), load(fed)); err != nil {
				t.Fatal(err)
			}
			fc := f.Serve()
			if err := ctrl.Observe(fed.Unix(), load(fed), fc.Value, fc.Fallback); err != nil {
				t.Fatal(err)
			}
		}
		fc := f.Serve()
		return ctrl.Demand(fc.Value, fc.Fallback)
	}
	lv := []string{"checkout_replicas", "shop", `namespace="shop",service="checkout"`}
	check := func(when string, at time.Time) {
		t.Helper()
		want := expect(at)
		es, _, err := store.Lookup(Query{Metric: "checkout_replicas", API: APIExternal, Namespace: "shop"})
		if err != nil || len(es) != 1 {
			t.Fatalf("%s: lookup %v, %v", when, es, err)
		}
		if got := es[0].Forecast.Value; math.Abs(got-want) > 1e-9 || es[0].Forecast.At != at.Unix() {
			t.Errorf("%s: served %v at %d, want %v at %d (u %v)", when, got, es[0].Forecast.At, want, at.Unix(), ctrl.Utilization())
		}
		st := ctrl.Status()
		if st.Evaluations == 0 {
			t.Fatalf("%s: the controller has not evaluated yet", when)
		}
		for _, g := range []struct {
			name string
			vec  *prometheus.GaugeVec
			want float64
		}{
			{"served", sm.served, want}, {"utilization", sm.util, st.Utilization}, {"wanted", sm.wanted, st.Wanted},
			{"fallback utilization", sm.fallbackUtil, st.FallbackUtilization},
			{"under-provisioned", sm.under, st.UnderProvisionedShare}, {"pod-minutes", sm.pods, st.PodMinutes},
			{"reactive pod-minutes", sm.reactivePods, st.ReactivePodMinutes},
		} {
			if got := testutil.ToFloat64(g.vec.WithLabelValues(lv...)); math.Abs(got-g.want) > 1e-9 {
				t.Errorf("%s: %s metric = %v, want %v", when, g.name, got, g.want)
			}
		}
	}
	check("warm start", t0)
	// The loop keeps feeding the controller: an hour on, it has evaluated again.
	cl.advance(t, 90*time.Minute, 1)
	before := ctrl.Status().Evaluations
	check("90 minutes on", t0.Add(90*time.Minute))
	if ctrl.Status().Evaluations <= before {
		t.Errorf("no evaluation in 90 minutes of data time")
	}
	if u := ctrl.Utilization(); u <= 0 || u > 1.1 {
		t.Errorf("utilisation %v outside (0, ceiling 1.1]", u)
	}

	if err := loop.SetRules(nil); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(sm.util); n != 0 {
		t.Errorf("SLO metrics of a removed rule: %d series", n)
	}
}

// An SLO rule's shadow evaluation runs the rule as it serves it: an "slo"
// strategy with the rule's model and controller configuration, served.
func TestSLORuleShadowRunsItsSLOMode(t *testing.T) {
	rules, err := ConfigLoader("rules.yaml", []byte(sloRules+`    shadow:
      strategies: [reactive, auto]
      capacity: 10
`))
	if err != nil {
		t.Fatal(err)
	}
	sh := rules[0].Shadow
	if sh == nil || len(sh.Strategies) != 3 {
		t.Fatalf("shadow spec %+v: want the listed strategies and slo", sh)
	}
	s := sh.Strategies[2]
	if s.Name != shadow.StrategySLO || s.SLO == nil || *s.SLO != *rules[0].SLO || s.Settings.Model != rules[0].Settings.Model || sh.Served != shadow.StrategySLO {
		t.Errorf("slo strategy %+v (served %q), rule SLO %+v model %v", s, sh.Served, rules[0].SLO, rules[0].Settings.Model)
	}
	if _, err := shadow.NewEvaluator(sh.Config, sh.Strategies); err != nil {
		t.Errorf("the rule's shadow strategies do not make an evaluator: %v", err)
	}
}
