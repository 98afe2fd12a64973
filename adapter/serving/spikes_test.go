package serving

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/adapter/config"
)

// TestFilterSpikesRule: a rule's forecast.filterSpikes reaches the
// forecaster the loop runs. On a load of 10 with a spike of 100 every third
// minute, the rule without it serves the spike when the latest sample is one,
// the rule with it serves the median of the latest three samples: 10.
func TestFilterSpikesRule(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	load := func(ts time.Time) float64 {
		if (ts.Unix()/60)%3 == 0 {
			return 100
		}
		return 10
	}
	appendMinutely(t, emb, testNow.Add(-time.Hour), testNow.Add(10*time.Minute), load, "__name__", "load", "namespace", "a")
	doc := rulesYAML(
		ruleYAML("plain", "load{<<.LabelMatchers>>}", ", filterSpikes: false"),
		ruleYAML("filtered", "load{<<.LabelMatchers>>}", ", filterSpikes: true"),
	)
	c := runClockedLoopWith(t, reg, LoopOptions{Source: emb}, NativeLoader(config.Policy{}, nil), doc)
	served := func(metric string) (at time.Time, value, observed float64) {
		t.Helper()
		es, _, err := c.store.Lookup(Query{Metric: metric, API: APIExternal, Namespace: "a"})
		if err != nil || len(es) != 1 {
			t.Fatalf("%s: %d series, %v", metric, len(es), err)
		}
		return es[0].Time(), es[0].Forecast.Value, es[0].Forecast.Observed
	}
	for range 3 { // until the latest sample is a spike
		if at, _, _ := served("plain"); load(at) == 100 {
			break
		}
		c.advance(t, time.Minute, 2)
	}
	at, v, obs := served("plain")
	if load(at) != 100 || v != 100 || obs != 100 {
		t.Fatalf("plain rule at %v (load %v): served %v, observed %v; want the spike, 100", at, load(at), v, obs)
	}
	fat, fv, fobs := served("filtered")
	if !fat.Equal(at) || fv != 10 || fobs != 10 {
		t.Errorf("filtered rule at %v: served %v, observed %v; want 10 at %v", fat, fv, fobs, at)
	}
}
