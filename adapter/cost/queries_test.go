package cost

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// OpenCost-shaped series: two pods of the checkout workload on nodes n1 and n2,
// a pod of another namespace on n1, node prices with labels that only some
// releases export, a GPU on n1, and node n2's prices vanishing after 4 minutes.
const openCostSeries = `
load 1m
  container_cpu_allocation{namespace="shop",pod="checkout-a",node="n1",container="app",instance="oc:9003",job="opencost"} 2x20
  container_cpu_allocation{namespace="shop",pod="checkout-b",node="n2",container="app",instance="oc:9003",job="opencost"} 1x20
  container_cpu_allocation{namespace="other",pod="checkout-c",node="n1",container="app"} 4x20
  container_memory_allocation_bytes{namespace="shop",pod="checkout-a",node="n1",container="app"} 4294967296x20
  container_memory_allocation_bytes{namespace="shop",pod="checkout-b",node="n2",container="app"} 2147483648x20
  container_memory_allocation_bytes{namespace="other",pod="checkout-c",node="n1",container="app"} 1073741824x20
  container_gpu_allocation{namespace="shop",pod="checkout-a",node="n1",container="app"} 1x20
  node_cpu_hourly_cost{node="n1",instance_type="m5.large"} 0.03x20
  node_cpu_hourly_cost{node="n2",instance_type="m5.large",provider_id="aws:///i-2",arch="amd64"} 0.01x4
  node_ram_hourly_cost{node="n1"} 0.004x20
  node_ram_hourly_cost{node="n2",instance_type="m5.large"} 0.002x4
  node_gpu_hourly_cost{node="n1"} 0.5x20
  kubecost_node_is_spot{node="n1"} 0x20
  kubecost_node_is_spot{node="n2"} 1x4
`

func TestWorkloadQueriesJoinOnNode(t *testing.T) {
	q, err := WorkloadQueries(`{namespace="shop", pod=~"checkout-.+"}`)
	if err != nil {
		t.Fatal(err)
	}
	// checkout-a: 2 cpu * 0.03 + 4 GiB * 0.004 + 1 gpu * 0.5 = 0.576
	// checkout-b: 1 cpu * 0.01 + 2 GiB * 0.002 (no GPU)       = 0.014
	// After n2 disappears (its last sample at 4m is stale 5m later) only
	// checkout-a is priced; it is on an on-demand node.
	script := openCostSeries + `
eval instant at 2m ` + q.ReplicaPrice + `
  {namespace="shop"} 0.295

eval instant at 2m ` + q.WorkloadCost + `
  {namespace="shop"} 0.59

eval instant at 2m ` + q.SpotShare + `
  {namespace="shop"} 0.5

eval instant at 12m ` + q.ReplicaPrice + `
  {namespace="shop"} 0.576

eval instant at 12m ` + q.SpotShare + `
  {namespace="shop"} 0
`
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 100000)
	promqltest.RunTest(t, script, engine)
}

// TestWorkloadQueriesPerNamespace: a selector without a namespace prices
// each namespace's pods apart; a series is weighed with its own namespace's price.
func TestWorkloadQueriesPerNamespace(t *testing.T) {
	q, err := WorkloadQueries(`{pod=~"checkout-.+"}`)
	if err != nil {
		t.Fatal(err)
	}
	// checkout-c (namespace other): 4 cpu * 0.03 + 1 GiB * 0.004 = 0.124, on an on-demand node.
	script := openCostSeries + `
eval instant at 2m ` + q.ReplicaPrice + `
  {namespace="shop"} 0.295
  {namespace="other"} 0.124

eval instant at 2m ` + q.WorkloadCost + `
  {namespace="shop"} 0.59
  {namespace="other"} 0.124

eval instant at 2m ` + q.SpotShare + `
  {namespace="shop"} 0.5
  {namespace="other"} 0
`
	promqltest.RunTest(t, script, promqltest.NewTestEngine(t, false, 5*time.Minute, 100000))
}

func TestWorkloadQueriesWithoutPrices(t *testing.T) {
	q, err := WorkloadQueries(`{namespace="shop"}`)
	if err != nil {
		t.Fatal(err)
	}
	// Allocations but no price metric at all: the queries return nothing,
	// which the caller treats as a missing price (hold, then cost-blind).
	script := `
load 1m
  container_cpu_allocation{namespace="shop",pod="p",node="n1"} 1x10
  container_memory_allocation_bytes{namespace="shop",pod="p",node="n1"} 1073741824x10

eval instant at 5m ` + q.ReplicaPrice + `

eval instant at 5m ` + q.SpotShare + `
`
	promqltest.RunTest(t, script, promqltest.NewTestEngine(t, false, 5*time.Minute, 100000))
}

func TestWorkloadQueriesRejectsBadSelectors(t *testing.T) {
	for _, sel := range []string{``, `{}`, `up{job="x"}`, `{namespace="shop"} or vector(1)`, `{namespace=~"("}`} {
		if _, err := WorkloadQueries(sel); err == nil {
			t.Errorf("selector %q accepted", sel)
		} else if !strings.Contains(err.Error(), "workload selector") {
			t.Errorf("error for %q does not name the selector: %v", sel, err)
		}
	}
}
