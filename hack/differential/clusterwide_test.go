//go:build differential

package differential

import (
	"context"
	"fmt"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	cmv1beta1 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta1"
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
// rule's by (queue), with the same item labels.
func compareClusterWide(t *testing.T, sides []*side) {
	list := func(s *side, namespace, selector string) values {
		t.Helper()
		return listByQueue(t, s, brokerMetric, namespace, selector, map[string]string{})
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
		} else if len(l.Items) != 3 {
			t.Errorf("%s: %s in shop: %d items, want the 3 queues of every namespace", s.name, brokerMetric, len(l.Items))
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
