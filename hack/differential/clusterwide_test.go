//go:build differential

package differential

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	cmv1beta1 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta1"
	external_metricsv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
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
// rule's by (queue). A selector on the namespace label selects the series
// of that namespace in both, as prometheus-adapter matches it before its
// sum: Foresight keeps the namespace label in that sum's grouping, so its
// items are split by namespace too, and add up to prometheus-adapter's per
// queue (as an HPA adds them).
func compareClusterWide(t *testing.T, sides []*side) {
	list := func(s *side, namespace, selector string) values {
		t.Helper()
		return listClusterWide(t, s, namespace, selector)
	}
	sum := func(keep func(namespace, queue string) bool) values {
		out := values{}
		for _, q := range brokerQueues {
			if keep(q.namespace, q.queue) {
				out[q.queue] += q.depth
			}
		}
		return out
	}
	for _, namespace := range []string{"shop", "billing", "search"} {
		for _, c := range []struct {
			selector string
			keep     func(namespace, queue string) bool
		}{
			{"", func(string, string) bool { return true }},
			{"queue=orders", func(_, q string) bool { return q == "orders" }},
			{"queue!=orders", func(_, q string) bool { return q != "orders" }},
			{"queue in (dead.letter,invoices)", func(_, q string) bool { return q == "dead.letter" || q == "invoices" }},
			{"namespace=billing", func(ns, _ string) bool { return ns == "billing" }},
			{"namespace=shop,queue=orders", func(ns, q string) bool { return ns == "shop" && q == "orders" }},
			{"namespace!=shop", func(ns, _ string) bool { return ns != "shop" }},
		} {
			what := fmt.Sprintf("%s in %s {%s}", brokerMetric, namespace, c.selector)
			f, p := list(sides[0], namespace, c.selector), list(sides[1], namespace, c.selector)
			sameValues(t, what, f, p)
			sameValues(t, what+" against the data", f, sum(c.keep))
		}
	}
}

// listClusterWide is the cluster-wide metric in namespace for selector,
// its items summed by queue. An item's labels are its queue, and for
// Foresight the namespace of the series it sums where they have one.
func listClusterWide(t *testing.T, s *side, namespace, selector string) values {
	t.Helper()
	out := values{}
	for _, it := range listExternal(t, s, brokerMetric, namespace, selector) {
		extra := maps.Clone(it.MetricLabels)
		delete(extra, "queue")
		if s.name == adapterproc.Foresight {
			delete(extra, "namespace")
		}
		if it.MetricLabels["queue"] == "" || len(extra) > 0 {
			t.Errorf("%s: %s in %s {%s}: item labels %v", s.name, brokerMetric, namespace, selector, it.MetricLabels)
		}
		out[it.MetricLabels["queue"]] += it.Value.AsApproximateFloat64()
	}
	return out
}

// newTenant returns a user of cl's CA whom RBAC allows to read external and
// custom metrics in namespace only (a Role and RoleBinding there).
func newTenant(ctx context.Context, t *testing.T, cl *cluster.Cluster, namespace string) *adapterproc.Client {
	t.Helper()
	const user = "differential-tenant"
	c, err := adapterproc.NewClient(ctx, cl.Admin, cl.CA, user, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: namespace}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"external.metrics.k8s.io", "custom.metrics.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
	}}
	if _, err := cl.Admin.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := cl.Admin.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// compareClusterWideAuthorization: a cluster-wide metric is still read
// through a namespace, and authorized there. Asked directly (past the
// aggregator), both adapters answer a user allowed metrics in shop only
// with every namespace's series from shop, and refuse it in billing; so
// for the metric of namespace shop and of namespace billing.
func compareClusterWideAuthorization(t *testing.T, sides []*side) {
	for _, s := range sides {
		cfg := s.tenant.RESTConfig(s.proc.URL)
		cfg.Timeout = 30 * time.Second
		ext, err := external_metrics.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ext.NamespacedMetrics("shop").List(brokerMetric, labels.Everything())
		if err != nil {
			t.Errorf("%s: %s in shop for a user allowed there: %v", s.name, brokerMetric, err)
		} else if queues := queuesOf(l.Items); len(queues) != 3 {
			t.Errorf("%s: %s in shop: queues %v, want the 3 queues of every namespace", s.name, brokerMetric, queues)
		}
		if _, err := ext.NamespacedMetrics("billing").List(brokerMetric, labels.Everything()); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %s in billing for a user allowed in shop only: %v, want Forbidden", s.name, brokerMetric, err)
		}
		// A namespace's metric is authorized in that namespace too.
		custom, err := custom_metrics.NewForVersionForConfig(cfg, podsRESTMapper(), cmv1beta1.SchemeGroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := custom.RootScopedMetrics().GetForObject(namespaceGK, "shop", "http_requests_per_second", labels.Everything()); err != nil {
			t.Errorf("%s: namespace shop's metric for a user allowed there: %v", s.name, err)
		}
		if _, err := custom.RootScopedMetrics().GetForObject(namespaceGK, "billing", "http_requests_per_second", labels.Everything()); !apierrors.IsForbidden(err) {
			t.Errorf("%s: namespace billing's metric for a user allowed in shop only: %v, want Forbidden", s.name, err)
		}
	}
}

// queuesOf is the set of queues items name.
func queuesOf(items []external_metricsv1beta1.ExternalMetricValue) map[string]bool {
	out := map[string]bool{}
	for _, it := range items {
		out[it.MetricLabels["queue"]] = true
	}
	return out
}
