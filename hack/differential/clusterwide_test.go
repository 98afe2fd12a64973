//go:build differential

package differential

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
)

// brokerMetric is served by config's `namespaced: false` external rule.
const brokerMetric = "broker_queue_depth"

// brokerQueues are a message broker's queue depths: some exported with the
// namespace of the application that owns the queue, some by the broker
// itself with no namespace. A cluster-wide rule serves them all to every
// namespace.
var brokerQueues = []struct {
	namespace, queue string
	depth            float64
}{
	{"shop", "orders", 3}, {"billing", "orders", 4}, {"", "orders", 5},
	{"billing", "invoices", 6}, {"", "dead.letter", 1},
}

func brokerSeries(start, end time.Time) []promtest.Series {
	var out []promtest.Series
	for _, q := range brokerQueues {
		var s []source.Sample
		for ts := start; !ts.After(end); ts = ts.Add(15 * time.Second) {
			s = append(s, source.Sample{T: ts.UnixMilli(), V: q.depth})
		}
		l := map[string]string{"queue": q.queue, "job": "broker"}
		if q.namespace != "" {
			l["namespace"] = q.namespace
		}
		out = append(out, promtest.Series{Name: brokerMetric, Labels: l, Samples: s})
	}
	return out
}

// compareClusterWide asks both adapters for the `namespaced: false` metric
// from namespaces with and without series of their own: each answers every
// namespace with the series of all namespaces (and of none), summed by the
// rule's by (queue), with the same item labels.
func compareClusterWide(t *testing.T, sides []*side) {
	list := func(s *side, namespace, selector string) values {
		t.Helper()
		sel, err := labels.Parse(selector)
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.external.NamespacedMetrics(namespace).List(brokerMetric, sel)
		if err != nil {
			t.Fatalf("%s: %s in %s {%s}: %v", s.name, brokerMetric, namespace, selector, err)
		}
		out := values{}
		for _, it := range l.Items {
			if want := map[string]string{"queue": it.MetricLabels["queue"]}; !maps.Equal(it.MetricLabels, want) {
				t.Errorf("%s: %s in %s {%s}: item labels %v, want %v", s.name, brokerMetric, namespace, selector, it.MetricLabels, want)
			}
			out[it.MetricLabels["queue"]] += it.Value.AsApproximateFloat64()
		}
		return out
	}
	sum := func(keep func(queue string) bool) values {
		out := values{}
		for _, q := range brokerQueues {
			if keep(q.queue) {
				out[q.queue] += q.depth
			}
		}
		return out
	}
	for _, namespace := range []string{"shop", "billing", "search"} {
		for _, c := range []struct {
			selector string
			keep     func(string) bool
		}{
			{"", func(string) bool { return true }},
			{"queue=orders", func(q string) bool { return q == "orders" }},
			{"queue!=orders", func(q string) bool { return q != "orders" }},
			{"queue in (dead.letter,invoices)", func(q string) bool { return q == "dead.letter" || q == "invoices" }},
		} {
			what := fmt.Sprintf("%s in %s {%s}", brokerMetric, namespace, c.selector)
			f, p := list(sides[0], namespace, c.selector), list(sides[1], namespace, c.selector)
			sameValues(t, what, f, p)
			sameValues(t, what+" against the data", f, sum(c.keep))
		}
	}
}
