package serving

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/source"
)

// BenchmarkCostRefreshPrices measures what cost weighting adds to one cycle
// of a rule: the three OpenCost price queries over an embedded TSDB holding
// 10 namespaces of 20 pods on 50 nodes, and the weighing of 200 series.
func BenchmarkCostRefreshPrices(b *testing.B) {
	emb, err := source.NewEmbedded(source.EmbeddedOptions{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Close()
	t0 := testNow
	gauge := func(v float64, kv ...string) {
		var ss []source.Sample
		for ts := t0.Add(-10 * time.Minute); !ts.After(t0); ts = ts.Add(time.Minute) {
			ss = append(ss, source.Sample{T: ts.UnixMilli(), V: v})
		}
		if err := emb.AppendSeries(labels.FromStrings(kv...), ss); err != nil {
			b.Fatal(err)
		}
	}
	for n := range 50 {
		node := fmt.Sprintf("n%d", n)
		gauge(0.03+float64(n%5)*0.01, "__name__", "node_cpu_hourly_cost", "node", node)
		gauge(0.004, "__name__", "node_ram_hourly_cost", "node", node)
		gauge(float64(n%2), "__name__", "kubecost_node_is_spot", "node", node)
	}
	for ns := range 10 {
		for p := range 20 {
			kv := []string{"namespace", fmt.Sprintf("ns%d", ns), "pod", fmt.Sprintf("web-%d", p), "node", fmt.Sprintf("n%d", (ns*20+p)%50), "container", "app"}
			gauge(0.5, append([]string{"__name__", "container_cpu_allocation"}, kv...)...)
			gauge(1<<30, append([]string{"__name__", "container_memory_allocation_bytes"}, kv...)...)
		}
	}
	rules, err := ConfigLoader("rules.yaml", []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: web_replicas
    query: load{<<.LabelMatchers>>}
    forecast: {model: reactive}
    cost: {pods: '{pod=~"web-.+"}', capacity: 10}
`))
	if err != nil {
		b.Fatal(err)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	cm, err := NewCostMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewLoop(LoopOptions{Source: emb, Store: NewStore(nil), Metrics: m, CostMetrics: cm, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	w := &worker{rule: rules[0], series: map[string]*seriesState{}, cost: newCostState(*rules[0].Cost)}
	var states []*seriesState
	for ns := range 10 {
		for s := range 20 {
			states = append(states, &seriesState{entry: Entry{Namespace: fmt.Sprintf("ns%d", ns), SeriesName: fmt.Sprintf("s%d", s)}})
		}
	}
	fc := forecast.Forecast{Value: 100}
	ctx := context.Background()
	at := t0.Unix()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.refreshPrices(ctx, l, at, at)
		for _, st := range states {
			w.weigh(l, st, fc)
		}
	}
	b.StopTimer()
	if got := w.weigh(l, states[0], fc).Value; !(got > 0) || w.cost.byNS["ns0"] == nil {
		b.Fatalf("no prices: V %v", got)
	}
}
