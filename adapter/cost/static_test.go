package cost

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// kube-state-metrics-shaped series: three checkout pods on an on-demand
// m5.large node, a spot node and a node of an unpriced class; node labels as
// kube_node_labels exports them with an allowlist.
const kubeStateSeries = `
load 1m
  kube_pod_info{namespace="shop",pod="checkout-a",node="n1",uid="u1",host_ip="10.0.0.1"} 1x20
  kube_pod_info{namespace="shop",pod="checkout-b",node="n2",uid="u2",host_ip="10.0.0.2"} 1x20
  kube_pod_info{namespace="shop",pod="checkout-c",node="n3",uid="u3",host_ip="10.0.0.3"} 1x20
  kube_pod_info{namespace="shop",pod="cart-a",node="n2",uid="u4",host_ip="10.0.0.2"} 1x20
  kube_pod_info{namespace="other",pod="checkout-d",node="n2",uid="u5",host_ip="10.0.0.2"} 1x20
  kube_node_labels{node="n1",label_node_kubernetes_io_instance_type="m5.large",label_karpenter_sh_capacity_type="on-demand"} 1x20
  kube_node_labels{node="n2",label_node_kubernetes_io_instance_type="m5.large",label_karpenter_sh_capacity_type="spot"} 1x20
  kube_node_labels{node="n3",label_node_kubernetes_io_instance_type="c7g.xlarge",label_karpenter_sh_capacity_type="on-demand"} 1x20
`

func TestStaticQueries(t *testing.T) {
	prices := []StaticPrice{
		{NodeLabels: map[string]string{"karpenter.sh/capacity-type": "spot"}, Hourly: 0.03, Spot: true},
		{NodeLabels: map[string]string{"node.kubernetes.io/instance-type": "m5.large"}, Hourly: 0.09},
	}
	q, err := StaticQueries(`{pod=~"checkout-.+"}`, prices)
	if err != nil {
		t.Fatal(err)
	}
	// shop: checkout-a on n1 (m5.large on-demand: 0.09), checkout-b on n2
	// (spot, first class wins over m5.large: 0.03), checkout-c on n3 (no
	// class: left out). other: checkout-d on n2 (0.03, spot).
	script := kubeStateSeries + `
eval instant at 5m ` + q.ReplicaPrice + `
  {namespace="shop"} 0.06
  {namespace="other"} 0.03

eval instant at 5m ` + q.WorkloadCost + `
  {namespace="shop"} 0.12
  {namespace="other"} 0.03

eval instant at 5m ` + q.SpotShare + `
  {namespace="shop"} 0.5
  {namespace="other"} 1
`
	promqltest.RunTest(t, script, promqltest.NewTestEngine(t, false, 5*time.Minute, 100000))

	// A class without labels prices every remaining node.
	q, err = StaticQueries(`{namespace="shop", pod=~"checkout-.+"}`, append(prices, StaticPrice{Hourly: 0.2}))
	if err != nil {
		t.Fatal(err)
	}
	script = kubeStateSeries + `
eval instant at 5m ` + q.WorkloadCost + `
  {namespace="shop"} 0.32
`
	promqltest.RunTest(t, script, promqltest.NewTestEngine(t, false, 5*time.Minute, 100000))
}

func TestStaticQueriesRejects(t *testing.T) {
	for _, c := range []struct {
		sel    string
		prices []StaticPrice
		want   string
	}{
		{`{pod="a"}`, nil, "at least one price"},
		{`{pod="a"}`, []StaticPrice{{Hourly: -1}}, "hourly price"},
		{`{pod="a"}`, []StaticPrice{{NodeLabels: map[string]string{"a b": "x"}, Hourly: 1}}, `node label "a b"`},
		{`up`, []StaticPrice{{Hourly: 1}}, "workload selector"},
	} {
		if _, err := StaticQueries(c.sel, c.prices); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("StaticQueries(%q, %+v) = %v, want error containing %q", c.sel, c.prices, err, c.want)
		}
	}
	if got, _ := NodeLabelName("node.kubernetes.io/instance-type"); got != "label_node_kubernetes_io_instance_type" {
		t.Errorf("NodeLabelName = %q", got)
	}
}
