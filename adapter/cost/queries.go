package cost

import (
	"fmt"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// Queries are the PromQL expressions that read a workload's prices. Each
// returns one series per namespace (label `namespace`), so that a rule whose
// series span several namespaces weighs each series with the prices of its
// own namespace's pods. Allocations are joined with node prices on the
// `node` label alone: older OpenCost releases lack the provider and instance
// labels that newer ones add, and `node` is common to all of them.
type Queries struct {
	// ReplicaPrice is the mean hourly price of one of the workload's pods
	// (CPU, memory and GPU allocation times their node's unit prices).
	ReplicaPrice string
	// WorkloadCost is the hourly price of all of the workload's pods together.
	WorkloadCost string
	// SpotShare is the share of the workload's pods that run on spot nodes.
	SpotShare string
}

// NamespaceLabel is the label that the price queries group by.
const NamespaceLabel = "namespace"

// bytesPerGiB converts OpenCost's memory allocation (bytes) to the GiB that
// node_ram_hourly_cost prices.
const bytesPerGiB = 1 << 30

// WorkloadQueries builds the queries for the pods that selector selects, for
// example `{namespace="shop", pod=~"checkout-.+"}`. The selector comes from
// the rule file (written by an operator, not by API clients); it must be a
// plain label-matcher set without a metric name.
func WorkloadQueries(selector string) (Queries, error) {
	sel, err := podSelector(selector)
	if err != nil {
		return Queries{}, err
	}
	perPod := func(alloc, price string) string {
		return fmt.Sprintf("sum by (namespace, pod, node) (%s%s) * on (node) group_left () max by (node) (%s)", alloc, sel, price)
	}
	podPrice := "(" + perPod("container_cpu_allocation", "node_cpu_hourly_cost") +
		fmt.Sprintf(" + on (namespace, pod, node) (sum by (namespace, pod, node) (container_memory_allocation_bytes%s) / %d) * on (node) group_left () max by (node) (node_ram_hourly_cost)", sel, bytesPerGiB) +
		" + on (namespace, pod, node) (" + perPod("container_gpu_allocation", "node_gpu_hourly_cost") +
		fmt.Sprintf(" or sum by (namespace, pod, node) (container_cpu_allocation%s) * 0))", sel)

	q := Queries{
		ReplicaPrice: "avg by (namespace) (" + podPrice + ")",
		WorkloadCost: "sum by (namespace) (" + podPrice + ")",
		SpotShare: fmt.Sprintf("avg by (namespace) (max by (namespace, pod, node) (container_cpu_allocation%s) * 0 + on (node) group_left () max by (node) (kubecost_node_is_spot))",
			sel),
	}
	return q, q.check(selector)
}

// podSelector checks a workload's pod selector and renders it canonically.
func podSelector(selector string) (string, error) {
	p := parser.NewParser(parser.Options{})
	matchers, err := p.ParseMetricSelector(selector)
	if err != nil {
		return "", fmt.Errorf("workload selector %q: %w", selector, err)
	}
	parts := make([]string, 0, len(matchers))
	for _, m := range matchers {
		if m.Name == model.MetricNameLabel {
			return "", fmt.Errorf("workload selector %q: must not name a metric", selector)
		}
		parts = append(parts, m.String())
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("workload selector %q: needs at least one label matcher", selector)
	}
	return "{" + strings.Join(parts, ", ") + "}", nil
}

// check parses every query.
func (q Queries) check(selector string) error {
	p := parser.NewParser(parser.Options{})
	for _, c := range []struct{ name, expr string }{{"replica price", q.ReplicaPrice}, {"workload cost", q.WorkloadCost}, {"spot share", q.SpotShare}} {
		if _, err := p.ParseExpr(c.expr); err != nil {
			return fmt.Errorf("%s query for selector %q: %w", c.name, selector, err)
		}
	}
	return nil
}
