//go:build differential

// Package differential runs foresight-adapter and prometheus-adapter v0.12.0
// side by side with the same prometheus-adapter configuration file, against
// one real Prometheus, each behind the aggregator of a kube-apiserver of its
// own (its APIServices, as deployed; the two clusters hold the same objects),
// and asks both the same questions with the official k8s.io/metrics clients
// through the aggregators: the answers must be the same, except where
// docs/migration.md says Foresight differs on purpose.
//
//	make differential
package differential

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	cmv1beta1 "k8s.io/metrics/pkg/apis/custom_metrics/v1beta1"
	external_metricsv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	metricsclientset "k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

// config is, with resourceRulesFile's resourceRules of prometheus-adapter's
// deploy/manifests appended, one prometheus-adapter v0.12.0 file given
// unchanged to both adapters: the walkthrough's rate rule (with the pod and
// namespace labels of a real exporter scraped by pod, and the service label
// its scrape config adds, so that the metric is served for pods, services and
// namespaces), the same rate through .LabelValuesByName instead of
// .LabelMatchers (served for pods; for namespaces it matches no series in
// either adapter), an external queue gauge, and a `namespaced: false` external rule of a broker's queues
// (Foresight runs with --allow-cluster-wide-external-metrics).
const config = `rules:
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: "namespace"}
      pod: {resource: "pod"}
      service: {resource: "service"}
  name:
    matches: "^(.*)_total"
    as: "${1}_per_second"
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: "namespace"}
      pod: {resource: "pod"}
  name:
    matches: "^(.*)_total"
    as: "${1}_by_pod"
  metricsQuery: 'sum(rate(<<.Series>>{namespace="<<index .LabelValuesByName "namespace">>",pod=~"<<index .LabelValuesByName "pod">>"}[2m])) by (<<.GroupBy>>)'
- seriesQuery: 'http_requests_total{namespace!="",service!=""}'
  resources:
    overrides:
      namespace: {resource: "namespace"}
      service: {resource: "service"}
  name:
    matches: "^(.*)_total"
    as: "${1}_per_service"
  metricsQuery: 'round(sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (service), 0.001)'
externalRules:
- seriesQuery: '{__name__="queue_messages_ready",queue!=""}'
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)
  resources:
    overrides: { namespace: {resource: "namespace"} }
- seriesQuery: '{__name__="broker_queue_depth",queue!=""}'
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)
  resources:
    namespaced: false
`

// Tolerance of a value: the data is a counter rising at a constant rate and
// constant gauges, so the answer does not depend on when either adapter
// sampled (prometheus-adapter at request time, Foresight at its last 15s
// cycle). prometheus-adapter truncates each value to thousandths (a milli
// quantity: rate() gives 1.4999999999 and it serves 1.499); Foresight does
// not. So two values agree within one thousandth.
const tolerance = 1e-3

// pod is one application pod: its labels on the Pod object and the rate of
// its http_requests_total counter, in requests per second.
type pod struct {
	namespace, name, app string
	rate                 float64
}

var pods = []pod{
	{"shop", "web-0", "web", 1.5}, {"shop", "web-1", "web", 2.5}, {"shop", "web-2", "web", 4},
	{"shop", "worker-0", "worker", 0.25},
	{"billing", "web-0", "web", 10}, {"billing", "api-0", "api", 3},
	{"search", "web-0", "web", 7}, {"search", "web-1", "web", 8},
}

// queues is the queue gauge per namespace and queue name; shop's q.x and
// qax are the hostile pair (a selector value with a regex metacharacter).
var queues = []struct {
	namespace, queue string
	ready            float64
}{
	{"shop", "orders", 40}, {"shop", "q.x", 7}, {"shop", "qax", 2},
	{"billing", "orders", 5}, {"billing", "invoices", 12},
}

// series are the samples of pods and queues every 15s from an hour ago to
// 30 minutes ahead (so that prometheus-adapter's instant queries at request
// time find a sample within Prometheus' 5-minute lookback all run long),
// with explicit timestamps.
func series(now time.Time) []promtest.Series {
	start, end := now.Add(-time.Hour), now.Add(30*time.Minute)
	var out []promtest.Series
	for _, p := range pods {
		var s []source.Sample
		for ts := start; !ts.After(end); ts = ts.Add(15 * time.Second) {
			s = append(s, source.Sample{T: ts.UnixMilli(), V: p.rate * ts.Sub(start).Seconds()})
		}
		out = append(out, promtest.Series{Name: "http_requests_total",
			Labels: map[string]string{"namespace": p.namespace, "pod": p.name, "service": p.app, "container": "app", "job": "app"}, Samples: s})
	}
	for _, q := range queues {
		var s []source.Sample
		for ts := start; !ts.After(end); ts = ts.Add(15 * time.Second) {
			s = append(s, source.Sample{T: ts.UnixMilli(), V: q.ready})
		}
		out = append(out, promtest.Series{Name: "queue_messages_ready",
			Labels: map[string]string{"namespace": q.namespace, "queue": q.queue, "job": "queue-exporter"}, Samples: s})
	}
	out = append(out, brokerSeries(start, end)...)
	out = append(out, phaseSeries(start, end)...)
	return append(out, kubeletSeries(start, end)...)
}

// side is one adapter under test, its cluster and its clients, which go
// through the cluster's aggregator.
type side struct {
	name      string
	proc      *adapterproc.Adapter
	cluster   *cluster.Cluster
	apis      []adapterproc.APIService // registered in the cluster's aggregator
	stranger  *adapterproc.Client      // a user RBAC allows nothing
	tenant    *adapterproc.Client      // a user RBAC allows metrics in namespace shop only
	discovery discovery.DiscoveryInterface
	custom    custom_metrics.CustomMetricsClient
	external  external_metrics.ExternalMetricsClient
	metrics   metricsclientset.Interface
}

func TestSameConfigSameAnswers(t *testing.T) {
	kubeBin := needs.KubeBinDir(t)
	peerBin := needs.Program(t, adapterproc.PeerProgram)
	root := needs.Root(t)
	work := t.TempDir()
	foresightBin := filepath.Join(work, "foresight-adapter")
	if err := adapterproc.BuildForesight(root, foresightBin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	now := time.Now().Truncate(15 * time.Second)
	prom := promtest.StartPrometheus(t, promtest.Options{Series: series(now)})

	configFile := filepath.Join(work, "config.yaml")
	resourceRules, err := os.ReadFile(resourceRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configFile, append([]byte(config), resourceRules...), 0o600); err != nil {
		t.Fatal(err)
	}

	podMapper := podsRESTMapper()
	var sides []*side
	for _, s := range []struct {
		kind, bin string
		args      []string
		apis      []adapterproc.APIService
	}{
		// The operator's switch for the namespaced: false rule; prometheus-adapter has none.
		{adapterproc.Foresight, foresightBin, []string{"--allow-cluster-wide-external-metrics"}, adapterproc.ForesightAPIs},
		{adapterproc.Peer, peerBin, nil, adapterproc.MetricsAPIs},
	} {
		// Each adapter has a cluster of its own: one aggregator owns each group.
		cl, err := cluster.Start(ctx, cluster.Options{BinDir: kubeBin, Dir: filepath.Join(work, "cluster-"+s.kind)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Stop)
		createPods(ctx, t, cl)
		createPhasePods(ctx, t, cl)
		createNodes(ctx, t, cl)
		client, err := adapterproc.NewClient(ctx, cl.Admin, cl.CA, "differential-hpa", "differential-metrics-reader", []rbacv1.PolicyRule{
			{APIGroups: []string{"custom.metrics.k8s.io", "external.metrics.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		stranger, err := adapterproc.NewClient(ctx, cl.Admin, cl.CA, "differential-stranger", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		tenant := newTenant(ctx, t, cl, "shop")
		a, err := adapterproc.Start(adapterproc.Options{
			Kind: s.kind, Name: s.kind, Bin: s.bin, Dir: filepath.Join(work, s.kind), LogDir: filepath.Join(work, "logs"),
			Config: configFile, PrometheusURL: prom.URL, Kubeconfig: cl.AdminKubeconfig, CA: cl.CA,
			DNSNames: []string{adapterproc.ServiceDNS}, Args: s.args,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Proc.Stop(10 * time.Second) })
		if err := adapterproc.Register(ctx, cl, a, s.apis); err != nil {
			t.Fatal(err)
		}
		cfg := client.RESTConfig(cl.Server)
		cfg.Timeout = 30 * time.Second
		disc, err := discovery.NewDiscoveryClientForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ext, err := external_metrics.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// custom.metrics.k8s.io/v1beta1, as the HPA controller asks when
		// the cluster's discovery prefers it; both adapters serve v1beta2 too.
		custom, err := custom_metrics.NewForVersionForConfig(cfg, podMapper, cmv1beta1.SchemeGroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		mc, err := metricsclientset.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sides = append(sides, &side{name: s.kind, proc: a, cluster: cl, apis: s.apis, stranger: stranger, tenant: tenant, discovery: disc, external: ext, custom: custom, metrics: mc})
	}
	for _, s := range sides {
		wctx, wcancel := context.WithTimeout(ctx, 4*time.Minute)
		if err := adapterproc.WaitAvailable(wctx, s.cluster, s.apis); err != nil {
			t.Fatal(err)
		}
		waitServing(wctx, t, s)
		wcancel()
	}

	t.Run("authorization", func(t *testing.T) { compareRefusal(t, sides) })
	t.Run("discovery", func(t *testing.T) { compareDiscovery(t, sides) })
	t.Run("custom", func(t *testing.T) { compareCustom(t, sides, "http_requests_per_second") })
	t.Run("custom label values", func(t *testing.T) { compareCustom(t, sides, labelValuesMetric) })
	t.Run("custom namespaces", func(t *testing.T) { compareNamespaces(t, sides) })
	t.Run("custom services", func(t *testing.T) { compareServices(t, sides, "http_requests_per_second") })
	t.Run("custom resource names", func(t *testing.T) { compareResourceNames(t, sides) })
	t.Run("custom metric selectors", func(t *testing.T) { compareMetricSelectors(t, sides) })
	// by (service) inside round(): one namespace's services in prometheus-adapter, and in
	// Foresight, which adds the namespace label there.
	t.Run("custom services inside a function", func(t *testing.T) { compareServices(t, sides, "http_requests_per_service") })
	t.Run("external", func(t *testing.T) { compareExternal(t, sides) })
	t.Run("external cluster-wide", func(t *testing.T) { compareClusterWide(t, sides) })
	t.Run("external cluster-wide authorization", func(t *testing.T) { compareClusterWideAuthorization(t, sides) })
	t.Run("resource", func(t *testing.T) { compareResourceMetrics(t, sides) })
}

// createPods creates the namespaces and Pods (bound to nodes and reported
// Running, as no kubelet runs) that both adapters list to resolve a pod label
// selector.
func createPods(ctx context.Context, t *testing.T, cl *cluster.Cluster) {
	t.Helper()
	for _, ns := range []string{"shop", "billing", "search"} {
		if _, err := cl.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// No controller manager creates it; the ServiceAccount admission needs it.
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
		if _, err := cl.Admin.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range pods {
		var cs []corev1.Container
		for _, c := range containers(i) {
			cs = append(cs, corev1.Container{Name: c.name, Image: "registry.invalid/" + c.name + ":1"})
		}
		obj := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.namespace, Labels: map[string]string{"app": p.app}},
			Spec:       corev1.PodSpec{NodeName: podNode(i), Containers: cs},
		}
		created, err := cl.Admin.CoreV1().Pods(p.namespace).Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// As the kubelet would report it: prometheus-adapter's resource
		// metrics list Running pods only (an informer on status.phase=Running).
		started := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
		created.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
		}}
		if _, err := cl.Admin.CoreV1().Pods(p.namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitServing waits until the adapter lists both metrics and answers a
// request of each API (Foresight after its first cycle, prometheus-adapter
// after its first series discovery).
func waitServing(ctx context.Context, t *testing.T, s *side) {
	t.Helper()
	var last error
	for {
		if exited, err := s.proc.Proc.Exited(); exited {
			t.Fatalf("%s exited (%v); log %s:\n%s", s.name, err, s.proc.Proc.LogFile, s.proc.Proc.Tail(3000))
		}
		_, err := s.custom.NamespacedMetrics("shop").GetForObject(podGK, "web-0", "http_requests_per_second", labels.Everything())
		if err == nil {
			_, err = s.external.NamespacedMetrics("shop").List("queue_messages_ready", labels.Everything())
		}
		if err == nil {
			_, err = s.metrics.MetricsV1beta1().PodMetricses("shop").Get(ctx, "web-0", metav1.GetOptions{})
		}
		if err == nil {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("%s does not serve: %v; log %s:\n%s", s.name, last, s.proc.Proc.LogFile, s.proc.Proc.Tail(3000))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

var (
	podGK       = schema.GroupKind{Kind: "Pod"}
	namespaceGK = schema.GroupKind{Kind: "Namespace"}
	serviceGK   = schema.GroupKind{Kind: "Service"}
)

// compareRefusal checks that both adapters, asked directly (past the
// aggregator, which authorizes on its own), refuse a user of the cluster CA
// whom RBAC allows nothing (delegated authorization), on both APIs.
func compareRefusal(t *testing.T, sides []*side) {
	for _, s := range sides {
		cfg := s.stranger.RESTConfig(s.proc.URL)
		cfg.Timeout = 30 * time.Second
		ext, err := external_metrics.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, metric := range []string{"queue_messages_ready", brokerMetric} {
			if _, err := ext.NamespacedMetrics("shop").List(metric, labels.Everything()); !apierrors.IsForbidden(err) {
				t.Errorf("%s: external metric %s for a user without RBAC: %v, want Forbidden", s.name, metric, err)
			}
		}
		custom, err := custom_metrics.NewForVersionForConfig(cfg, podsRESTMapper(), cmv1beta1.SchemeGroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := custom.NamespacedMetrics("shop").GetForObject(podGK, "web-0", "http_requests_per_second", labels.Everything()); !apierrors.IsForbidden(err) {
			t.Errorf("%s: pod metric for a user without RBAC: %v, want Forbidden", s.name, err)
		}
		if _, err := custom.RootScopedMetrics().GetForObject(namespaceGK, "shop", "http_requests_per_second", labels.Everything()); !apierrors.IsForbidden(err) {
			t.Errorf("%s: namespace metric for a user without RBAC: %v, want Forbidden", s.name, err)
		}
	}
}

// podsRESTMapper is a RESTMapper that knows Pods, Namespaces and Services, all the clients ask for.
func podsRESTMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{corev1.SchemeGroupVersion})
	m.Add(corev1.SchemeGroupVersion.WithKind("Pod"), meta.RESTScopeNamespace)
	m.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)
	m.Add(corev1.SchemeGroupVersion.WithKind("Service"), meta.RESTScopeNamespace)
	return m
}

// resourceNames returns the sorted resource names of group version gv on s.
func resourceNames(t *testing.T, s *side, gv string) []string {
	t.Helper()
	l, err := s.discovery.ServerResourcesForGroupVersion(gv)
	if err != nil {
		t.Fatalf("%s: discovery of %s: %v", s.name, gv, err)
	}
	var out []string
	for _, r := range l.APIResources {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func compareDiscovery(t *testing.T, sides []*side) {
	foresight, peer := sides[0], sides[1]
	for _, gv := range []string{"custom.metrics.k8s.io/v1beta1", "custom.metrics.k8s.io/v1beta2", "external.metrics.k8s.io/v1beta1", "metrics.k8s.io/v1beta1"} {
		f, p := resourceNames(t, foresight, gv), resourceNames(t, peer, gv)
		t.Logf("%s: foresight %v, prometheus-adapter %v", gv, f, p)
		// Both list each pod metric for namespaces too (the namespace label
		// names a namespace object).
		if !slices.Equal(f, p) {
			t.Errorf("%s: foresight lists %v, prometheus-adapter %v", gv, f, p)
		}
		for _, want := range []string{"namespaces/http_requests_per_second", "services/http_requests_per_second", "pods/http_requests_per_second", "pods/" + labelValuesMetric} {
			if strings.HasPrefix(gv, "custom.") && !slices.Contains(f, want) {
				t.Errorf("%s: no %s in %v", gv, want, f)
			}
		}
		if len(f) == 0 {
			t.Errorf("%s: nothing listed", gv)
		}
	}
}

// values maps an item's key (object name, or metric labels) to its value.
type values map[string]float64

func sameValues(t *testing.T, what string, f, p values) {
	t.Helper()
	if len(f) == 0 {
		t.Errorf("%s: no items", what)
	}
	if len(f) != len(p) {
		t.Errorf("%s: foresight %v, prometheus-adapter %v", what, f, p)
		return
	}
	for k, v := range p {
		if w, ok := f[k]; !ok || math.Abs(w-v) > tolerance*(1+1e-9) {
			t.Errorf("%s: foresight %v, prometheus-adapter %v", what, f, p)
			return
		}
	}
}

// labelValuesMetric is the pods' rate as the rule with .LabelValuesByName serves it.
const labelValuesMetric = "http_requests_by_pod"

// compareCustom reads metric, the pods' rate, for pods by selector and by name from both
// adapters.
func compareCustom(t *testing.T, sides []*side, metric string) {
	want := map[string]values{}
	all := slices.Clone(pods)
	for _, p := range phasePods {
		// Pods of every phase are listed by both adapters for a selector,
		// and served when they have series.
		if p.samples {
			all = append(all, p.pod)
		}
	}
	for _, p := range all {
		if want[p.namespace] == nil {
			want[p.namespace] = values{}
		}
		want[p.namespace][p.name] = p.rate
	}
	for _, c := range []struct{ namespace, selector string }{
		{"shop", "app=web"}, {"shop", "app in (web,worker)"}, {"shop", ""}, {"billing", "app!=web"},
		{"search", "app=web"}, {"search", "app=nothing"},
	} {
		sel, err := labels.Parse(c.selector)
		if err != nil {
			t.Fatal(err)
		}
		what := fmt.Sprintf("pods %s/{%s}", c.namespace, c.selector)
		got := make([]values, len(sides))
		for i, s := range sides {
			l, err := s.custom.NamespacedMetrics(c.namespace).GetForObjects(podGK, sel, metric, labels.Everything())
			if c.selector == "app=nothing" && s.name == adapterproc.Peer {
				// A selector that matches no pod: prometheus-adapter answers
				// 404 NotFound, Foresight an empty list (docs/migration.md);
				// an HPA gets no value either way.
				if !apierrors.IsNotFound(err) {
					t.Errorf("%s: prometheus-adapter answered %v, %v; want NotFound", what, l, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: pods %s/%q: %v", s.name, c.namespace, c.selector, err)
			}
			got[i] = values{}
			for _, it := range l.Items {
				got[i][it.DescribedObject.Name] = it.Value.AsApproximateFloat64()
			}
		}
		if c.selector == "app=nothing" {
			if len(got[0]) != 0 {
				t.Errorf("%s: foresight %v; want an empty list", what, got[0])
			}
			continue
		}
		sameValues(t, what, got[0], got[1])
		for name, v := range got[0] {
			if w, ok := want[c.namespace][name]; !ok || math.Abs(v-w) > 1e-3 {
				t.Errorf("%s: %s = %v, the counter's rate is %v", what, name, v, w)
			}
		}
		for name := range want[c.namespace] {
			if _, ok := got[0][name]; !ok && selects(c.selector, name, c.namespace) {
				t.Errorf("%s: %s with series not served", what, name)
			}
		}
	}
	// A pod without series is not found by either adapter, whatever its phase.
	for _, p := range phasePods {
		if p.samples {
			continue
		}
		for _, s := range sides {
			if v, err := s.custom.NamespacedMetrics(p.namespace).GetForObject(podGK, p.name, metric, labels.Everything()); !apierrors.IsNotFound(err) {
				t.Errorf("%s: %s pod %s/%s without series: %v, %v; want NotFound", s.name, p.phase, p.namespace, p.name, v, err)
			}
		}
	}
	for _, p := range all {
		got := make([]float64, len(sides))
		for i, s := range sides {
			v, err := s.custom.NamespacedMetrics(p.namespace).GetForObject(podGK, p.name, metric, labels.Everything())
			if err != nil {
				t.Fatalf("%s: pod %s/%s: %v", s.name, p.namespace, p.name, err)
			}
			if v.DescribedObject.Name != p.name || v.DescribedObject.Namespace != p.namespace {
				t.Errorf("%s: pod %s/%s answered for %s/%s", s.name, p.namespace, p.name, v.DescribedObject.Namespace, v.DescribedObject.Name)
			}
			got[i] = v.Value.AsApproximateFloat64()
		}
		sameValues(t, "pod "+p.namespace+"/"+p.name, values{p.name: got[0]}, values{p.name: got[1]})
	}
}

func compareExternal(t *testing.T, sides []*side) {
	const metric = "queue_messages_ready"
	list := func(s *side, namespace, selector string) values {
		t.Helper()
		// The item's labels: prometheus-adapter's are the query's by (queue);
		// Foresight adds the namespace label (docs/migration.md, external
		// metrics keep their series' labels).
		more := map[string]string{}
		if s.name == adapterproc.Foresight {
			more["namespace"] = namespace
		}
		return listByQueue(t, s, metric, namespace, selector, more)
	}
	for _, c := range []struct {
		namespace, selector string
		want                values
	}{
		{"shop", "queue=orders", values{"orders": 40}},
		{"billing", "queue=orders", values{"orders": 5}},
		{"billing", "queue in (orders,invoices)", values{"orders": 5, "invoices": 12}},
		{"billing", "", values{"orders": 5, "invoices": 12}},
		{"shop", "queue!=orders", values{"q.x": 7, "qax": 2}},
		{"shop", "queue=qax", values{"qax": 2}},
	} {
		what := fmt.Sprintf("%s in %s {%s}", metric, c.namespace, c.selector)
		f, p := list(sides[0], c.namespace, c.selector), list(sides[1], c.namespace, c.selector)
		sameValues(t, what, f, p)
		sameValues(t, what+" against the data", f, c.want)
	}
	// The hostile selector: queue in (q.x) names the value "q.x".
	// prometheus-adapter pastes it into queue=~"q.x", which also matches qax,
	// and returns both queues (an HPA sums them: 9); Foresight matches the
	// value as written (docs/migration.md).
	what := metric + " in shop {queue in (q.x)}"
	f, p := list(sides[0], "shop", "queue in (q.x)"), list(sides[1], "shop", "queue in (q.x)")
	sameValues(t, what+", foresight", f, values{"q.x": 7})
	if p["q.x"] != 7 || p["qax"] != 2 || len(p) != 2 {
		t.Errorf("%s: prometheus-adapter %v, want {q.x: 7, qax: 2} (qax matched by its unescaped regex): the documented difference changed", what, p)
	}
}

// listByQueue lists the external metric in namespace with the label selector on side s
// and sums the items' values by their queue label. Each item must have the labels queue
// and more, and no other.
func listByQueue(t *testing.T, s *side, metric, namespace, selector string, more map[string]string) values {
	t.Helper()
	out := values{}
	for _, it := range listExternal(t, s, metric, namespace, selector) {
		want := maps.Clone(more)
		want["queue"] = it.MetricLabels["queue"]
		if !maps.Equal(it.MetricLabels, want) {
			t.Errorf("%s: %s in %s {%s}: item labels %v, want %v", s.name, metric, namespace, selector, it.MetricLabels, want)
		}
		out[it.MetricLabels["queue"]] += it.Value.AsApproximateFloat64()
	}
	return out
}

// listExternal is s's answer to external metric in namespace for selector.
func listExternal(t *testing.T, s *side, metric, namespace, selector string) []external_metricsv1beta1.ExternalMetricValue {
	t.Helper()
	sel, err := labels.Parse(selector)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.external.NamespacedMetrics(namespace).List(metric, sel)
	if err != nil {
		t.Fatalf("%s: %s in %s {%s}: %v", s.name, metric, namespace, selector, err)
	}
	return l.Items
}

// compareNamespaces asks both adapters for the pod metric of whole
// namespaces (/namespaces/{namespace}/metrics/{metric}): the rule's query
// over each namespace's series, which is the sum of its pods' rates; a
// namespace without series is not found by either.
func compareNamespaces(t *testing.T, sides []*side) {
	const metric = "http_requests_per_second"
	want := values{}
	for _, p := range pods {
		want[p.namespace] += p.rate
	}
	for _, p := range phasePods {
		if p.samples {
			want[p.namespace] += p.rate
		}
	}
	// The rule with .LabelValuesByName matches pod=~"" for a namespace: no series.
	for _, s := range sides {
		if v, err := s.custom.RootScopedMetrics().GetForObject(namespaceGK, "shop", labelValuesMetric, labels.Everything()); !apierrors.IsNotFound(err) {
			t.Errorf("%s: namespace shop of %s: %v, %v; want NotFound", s.name, labelValuesMetric, v, err)
		}
	}
	for _, ns := range []string{"shop", "billing", "search", "default"} {
		got := make([]values, len(sides))
		for i, s := range sides {
			v, err := s.custom.RootScopedMetrics().GetForObject(namespaceGK, ns, metric, labels.Everything())
			if ns == "default" {
				if !apierrors.IsNotFound(err) {
					t.Errorf("%s: namespace %s without series: %v, %v; want NotFound", s.name, ns, v, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: namespace %s: %v", s.name, ns, err)
			}
			// A Namespace is cluster-scoped: its reference names no namespace.
			if v.DescribedObject.Kind != "Namespace" || v.DescribedObject.Name != ns || v.DescribedObject.Namespace != "" {
				t.Errorf("%s: namespace %s answered for %+v", s.name, ns, v.DescribedObject)
			}
			got[i] = values{ns: v.Value.AsApproximateFloat64()}
		}
		if ns == "default" {
			continue
		}
		sameValues(t, "namespace "+ns, got[0], got[1])
		sameValues(t, "namespace "+ns+" against the data", got[0], values{ns: want[ns]})
	}
}

// compareServices reads the rate metric of each service (the service label of
// the pods' series) by name from both adapters: the same metric name as for
// pods and namespaces, summed over the service's series, terminated pods'
// included, as the data says.
func compareServices(t *testing.T, sides []*side, metric string) {
	want := values{}
	for _, p := range pods {
		want[p.namespace+"/"+p.app] += p.rate
	}
	for _, p := range phasePods {
		if p.samples {
			want[p.namespace+"/"+p.app] += p.rate
		}
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		ns, svc, _ := strings.Cut(key, "/")
		got := make([]values, len(sides))
		for i, s := range sides {
			v, err := s.custom.NamespacedMetrics(ns).GetForObject(serviceGK, svc, metric, labels.Everything())
			if err != nil {
				t.Fatalf("%s: service %s: %v", s.name, key, err)
			}
			if v.DescribedObject.Kind != "Service" || v.DescribedObject.Name != svc {
				t.Errorf("%s: service %s answered for %+v", s.name, key, v.DescribedObject)
			}
			got[i] = values{key: v.Value.AsApproximateFloat64()}
		}
		sameValues(t, "service "+key, got[0], got[1])
		sameValues(t, "service "+key+" against the data", got[0], values{key: want[key]})
	}
	for i, s := range sides {
		if v, err := s.custom.NamespacedMetrics("shop").GetForObject(serviceGK, "nothing", metric, labels.Everything()); !apierrors.IsNotFound(err) {
			t.Errorf("%s (side %d): a service without series: %v, %v; want NotFound", s.name, i, v, err)
		}
	}
}
