package cost

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// StaticPrice prices the replicas that run on one class of nodes, for
// clusters without OpenCost or Kubecost.
type StaticPrice struct {
	// NodeLabels are the Kubernetes labels a node must carry, for example
	// node.kubernetes.io/instance-type: m5.large or
	// karpenter.sh/capacity-type: spot. Empty matches every node.
	NodeLabels map[string]string
	// Hourly is the price of one replica-hour on such a node, in dollars.
	Hourly float64
	// Spot marks the class as spot (interruptible) capacity.
	Spot bool
}

// StaticQueries builds the price queries of the pods that selector selects
// from static prices per node class, using kube-state-metrics: kube_pod_info
// (the pod's node) and kube_node_labels (the node's labels, exported as
// label_<name> when kube-state-metrics' --metric-labels-allowlist lists them).
// A pod is priced by the first class whose labels its node carries; pods on
// nodes that match no class are left out.
func StaticQueries(selector string, prices []StaticPrice) (Queries, error) {
	sel, err := podSelector(selector)
	if err != nil {
		return Queries{}, err
	}
	if len(prices) == 0 {
		return Queries{}, errors.New("static prices: at least one price is required")
	}
	var price, spot []string
	for i, p := range prices {
		if math.IsNaN(p.Hourly) || math.IsInf(p.Hourly, 0) || p.Hourly < 0 {
			return Queries{}, fmt.Errorf("static prices[%d]: hourly price must be finite and >= 0, got %v", i, p.Hourly)
		}
		nodes, err := nodeClass(p.NodeLabels)
		if err != nil {
			return Queries{}, fmt.Errorf("static prices[%d]: %w", i, err)
		}
		// `or` keeps the left side for a node already priced: the first class wins.
		price = append(price, fmt.Sprintf("%s * 0 + %s", nodes, strconv.FormatFloat(p.Hourly, 'g', -1, 64)))
		flag := "0"
		if p.Spot {
			flag = "1"
		}
		spot = append(spot, fmt.Sprintf("%s * 0 + %s", nodes, flag))
	}
	pods := fmt.Sprintf("max by (namespace, pod, node) (kube_pod_info%s)", sel)
	podPrice := fmt.Sprintf("(%s * 0 + on (node) group_left () (%s))", pods, strings.Join(price, " or "))
	q := Queries{
		ReplicaPrice: "avg by (namespace) " + podPrice,
		WorkloadCost: "sum by (namespace) " + podPrice,
		SpotShare:    fmt.Sprintf("avg by (namespace) (%s * 0 + on (node) group_left () (%s))", pods, strings.Join(spot, " or ")),
	}
	return q, q.check(selector)
}

// nodeClass renders the nodes that carry every label of want, one series per node.
func nodeClass(want map[string]string) (string, error) {
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		name, err := NodeLabelName(k)
		if err != nil {
			return "", err
		}
		m, err := labels.NewMatcher(labels.MatchEqual, name, want[k])
		if err != nil {
			return "", fmt.Errorf("node label %q: %w", k, err)
		}
		parts = append(parts, m.String())
	}
	return fmt.Sprintf("max by (node) (kube_node_labels{%s})", strings.Join(parts, ", ")), nil
}

// NodeLabelName returns the label under which kube-state-metrics exports the
// Kubernetes node label k on kube_node_labels: "label_" and k with every
// character other than a letter, digit or underscore replaced by "_"
// (node.kubernetes.io/instance-type becomes label_node_kubernetes_io_instance_type).
func NodeLabelName(k string) (string, error) {
	if k == "" || len(k) > 317 {
		return "", fmt.Errorf("node label %q: must be a Kubernetes label name", k)
	}
	var b strings.Builder
	b.WriteString("label_")
	for _, r := range k {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r == '.' || r == '/' || r == '-':
			b.WriteByte('_')
		default:
			return "", fmt.Errorf("node label %q: must be a Kubernetes label name (letters, digits, '-', '_', '.', one '/')", k)
		}
	}
	return b.String(), nil
}
