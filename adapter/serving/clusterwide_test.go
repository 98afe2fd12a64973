package serving

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/adapter/config"
)

// TestClusterWideRule: a cluster-wide external rule (allowed by the policy)
// serves the series of every namespace, and those without one, to a request
// in any namespace; a namespaced rule on the same series serves a namespace
// its own series only, and never one without a namespace.
func TestClusterWideRule(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	for _, kv := range [][]string{
		{"__name__", "depth", "namespace", "a", "queue", "x"},
		{"__name__", "depth", "namespace", "b", "queue", "y"},
		{"__name__", "depth", "queue", "z"}, // a broker's series, no namespace
	} {
		appendMinutely(t, emb, testNow.Add(-time.Hour), testNow, constant(float64(len(kv[len(kv)-1]))), kv...)
	}
	doc := rulesYAML(
		ruleYAML("depth_all", "depth{<<.LabelMatchers>>}", "")+"    resources: {clusterWide: true}\n",
		ruleYAML("depth_own", "depth{<<.LabelMatchers>>}", ""),
	)
	if _, err := ConfigLoader("rules.yaml", []byte(doc)); err == nil {
		t.Fatal("a cluster-wide rule loaded under the zero policy")
	}
	c := runClockedLoopWith(t, reg, LoopOptions{Source: emb}, NativeLoader(config.Policy{ClusterWideExternal: true}, nil), doc)
	queues := func(metric, ns string) []string {
		t.Helper()
		es, info, err := c.store.Lookup(Query{Metric: metric, API: APIExternal, Namespace: ns})
		if err != nil {
			t.Fatalf("%s in %s: %v", metric, ns, err)
		}
		if info.ClusterWide != (metric == "depth_all") {
			t.Errorf("%s: ClusterWide = %v", metric, info.ClusterWide)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Labels.Get("queue"))
		}
		slices.Sort(out)
		return out
	}
	for _, ns := range []string{"a", "b", "elsewhere"} {
		if got := queues("depth_all", ns); !slices.Equal(got, []string{"x", "y", "z"}) {
			t.Errorf("cluster-wide in %s: queues %v, want [x y z]", ns, got)
		}
	}
	if got := queues("depth_own", "a"); !slices.Equal(got, []string{"x"}) {
		t.Errorf("namespaced in a: queues %v, want [x]", got)
	}
	if got := queues("depth_own", "elsewhere"); len(got) != 0 {
		t.Errorf("namespaced in elsewhere: queues %v, want none", got)
	}
	if got := queues("depth_own", ""); len(got) != 0 {
		t.Errorf("namespaced, no namespace: queues %v, want none (a series without namespace is never served)", got)
	}
}
