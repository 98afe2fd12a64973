//go:build integration

package server_test

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/foresight-dev/foresight/adapter/config/promadapter"
	"github.com/foresight-dev/foresight/adapter/provider"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/server"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/promclient"
)

// podLabels stands in for the cluster's pods and nodes for label selectors
// (the adapter lists them from kube-apiserver in a cluster).
type podLabels map[string]map[string]k8slabels.Set // namespace ("" for nodes) -> name -> labels

func (p podLabels) ListObjectNames(_ context.Context, namespace string, sel k8slabels.Selector, _ schema.GroupResource) ([]string, error) {
	var out []string
	for name, l := range p[namespace] {
		if sel.Matches(l) {
			out = append(out, name)
		}
	}
	return out, nil
}

var _ provider.ObjectLister = podLabels(nil)

// kubeletSeries are cAdvisor- and kubelet-shaped series ending at end, one
// sample every 15 s for 10 minutes: CPU counters growing at cores per second,
// memory working sets constant.
func kubeletSeries(end time.Time) []promtest.Series {
	counter := func(cores float64) []source.Sample {
		var s []source.Sample
		for i := 40; i >= 0; i-- {
			t := end.Add(-time.Duration(i) * 15 * time.Second)
			s = append(s, source.Sample{T: t.UnixMilli(), V: cores * float64(t.Unix()-end.Add(-time.Hour).Unix())})
		}
		return s
	}
	gauge := func(v float64) []source.Sample {
		var s []source.Sample
		for i := 40; i >= 0; i-- {
			s = append(s, source.Sample{T: end.Add(-time.Duration(i) * 15 * time.Second).UnixMilli(), V: v})
		}
		return s
	}
	c := func(ns, pod, container string) map[string]string {
		return map[string]string{"namespace": ns, "pod": pod, "container": container, "node": "node-1"}
	}
	return []promtest.Series{
		{Name: "container_cpu_usage_seconds_total", Labels: c("team-a", "web-1", "app"), Samples: counter(0.25)},
		{Name: "container_memory_working_set_bytes", Labels: c("team-a", "web-1", "app"), Samples: gauge(100 << 20)},
		{Name: "container_cpu_usage_seconds_total", Labels: c("team-a", "web-1", "sidecar"), Samples: counter(0.05)},
		{Name: "container_memory_working_set_bytes", Labels: c("team-a", "web-1", "sidecar"), Samples: gauge(20 << 20)},
		// The pod cgroup's total (container="") must not count as a container.
		{Name: "container_cpu_usage_seconds_total", Labels: c("team-a", "web-1", ""), Samples: counter(0.3)},
		{Name: "container_memory_working_set_bytes", Labels: c("team-a", "web-1", ""), Samples: gauge(120 << 20)},
		{Name: "container_cpu_usage_seconds_total", Labels: c("team-a", "web-2", "app"), Samples: counter(0.5)},
		{Name: "container_memory_working_set_bytes", Labels: c("team-a", "web-2", "app"), Samples: gauge(200 << 20)},
		{Name: "container_cpu_usage_seconds_total", Labels: c("team-b", "db-0", "db"), Samples: counter(1)},
		{Name: "container_memory_working_set_bytes", Labels: c("team-b", "db-0", "db"), Samples: gauge(1 << 30)},
		// CPU without memory: metrics-server reports neither.
		{Name: "container_cpu_usage_seconds_total", Labels: c("team-b", "half-0", "x"), Samples: counter(1)},
		{Name: "node_cpu_usage_seconds_total", Labels: map[string]string{"node": "node-1"}, Samples: counter(1.5)},
		{Name: "node_memory_working_set_bytes", Labels: map[string]string{"node": "node-1"}, Samples: gauge(4 << 30)},
		{Name: "node_cpu_usage_seconds_total", Labels: map[string]string{"node": "node-2"}, Samples: counter(0.7)},
		{Name: "node_memory_working_set_bytes", Labels: map[string]string{"node": "node-2"}, Samples: gauge(2 << 30)},
	}
}

// TestResourceMetricsRealPrometheus serves prometheus-adapter's shipped
// resourceRules from a real Prometheus and reads them with the official
// metrics.k8s.io client: CPU as a rate in cores, memory working set bytes,
// the rules' window, namespaces isolated, label selectors applied; with
// Prometheus down the API fails once the snapshot is stale, never zeros.
func TestResourceMetricsRealPrometheus(t *testing.T) {
	var skew atomic.Int64 // added to the refresher's clock
	refresher, prom := kubeletRefresher(t, &skew)
	end := time.Now().Truncate(15 * time.Second)

	objects := podLabels{
		"team-a": {"web-1": {"app": "web", "tier": "front"}, "web-2": {"app": "web"}},
		"team-b": {"db-0": {"app": "db"}},
		"":       {"node-1": {"pool": "a"}, "node-2": {"pool": "b"}},
	}
	client, err := metricsclient.NewForConfig(serveLocal(t, server.Config{
		Provider: provider.New(serving.NewStore(time.Now), nil), Logger: slog.New(slog.DiscardHandler),
		ResourceMetrics: &server.ResourceMetrics{Source: refresher, Objects: objects},
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := client.MetricsV1beta1()
	var pods *metricsv1beta1.PodMetricsList
	waitFor(t, 60*time.Second, "server up", func() bool {
		pods, err = m.PodMetricses("team-a").List(ctx, metav1.ListOptions{})
		return err == nil
	})

	type usage struct{ milliCPU, bytes int64 }
	podUsage := func(p metricsv1beta1.PodMetrics) map[string]usage {
		out := map[string]usage{}
		for _, c := range p.Containers {
			out[c.Name] = usage{c.Usage.Cpu().MilliValue(), c.Usage.Memory().Value()}
		}
		return out
	}
	names := func(items []metricsv1beta1.PodMetrics) []string {
		var out []string
		for _, p := range items {
			out = append(out, p.Namespace+"/"+p.Name)
		}
		return out
	}
	if got := names(pods.Items); !slices.Equal(got, []string{"team-a/web-1", "team-a/web-2"}) {
		t.Fatalf("team-a pods = %v", got)
	}
	web1 := pods.Items[0]
	if got, want := podUsage(web1), map[string]usage{"app": {250, 100 << 20}, "sidecar": {50, 20 << 20}}; !maps.Equal(got, want) {
		t.Errorf("web-1 usage = %v, want %v", got, want)
	}
	if web1.Window.Duration != 5*time.Minute {
		t.Errorf("window = %s, want the rules' 5m", web1.Window.Duration)
	}
	if ts := web1.Timestamp.Time; ts.Before(end.Add(-15*time.Second)) || ts.After(time.Now()) {
		t.Errorf("timestamp %s, want the last samples' (%s)", ts, end)
	}

	db, err := m.PodMetricses("team-b").Get(ctx, "db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := podUsage(*db); !maps.Equal(got, map[string]usage{"db": {1000, 1 << 30}}) {
		t.Errorf("db-0 usage = %v", got)
	}
	// Namespaces are isolated: team-b's pod is not found from team-a.
	if _, err := m.PodMetricses("team-a").Get(ctx, "db-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("team-a get db-0: err = %v, want NotFound", err)
	}
	if _, err := m.PodMetricses("team-b").Get(ctx, "half-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod with CPU only: err = %v, want NotFound", err)
	}
	// Label selectors select by the pods' labels.
	front, err := m.PodMetricses("team-a").List(ctx, metav1.ListOptions{LabelSelector: "tier=front"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(front.Items); !slices.Equal(got, []string{"team-a/web-1"}) {
		t.Errorf("tier=front = %v, want team-a/web-1", got)
	}
	all, err := m.PodMetricses("").List(ctx, metav1.ListOptions{LabelSelector: "app in (web,db)"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(all.Items); !slices.Equal(got, []string{"team-a/web-1", "team-a/web-2", "team-b/db-0"}) {
		t.Errorf("all namespaces app in (web,db) = %v", got)
	}

	nodes, err := m.NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]usage{}
	for _, n := range nodes.Items {
		got[n.Name] = usage{n.Usage.Cpu().MilliValue(), n.Usage.Memory().Value()}
	}
	if want := map[string]usage{"node-1": {1500, 4 << 30}, "node-2": {700, 2 << 30}}; !maps.Equal(got, want) {
		t.Errorf("nodes = %v, want %v", got, want)
	}
	poolB, err := m.NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "pool=b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(poolB.Items) != 1 || poolB.Items[0].Name != "node-2" {
		t.Errorf("pool=b nodes = %v", poolB.Items)
	}
	if n, err := m.NodeMetricses().Get(ctx, "node-1", metav1.GetOptions{}); err != nil || n.Usage.Cpu().MilliValue() != 1500 {
		t.Errorf("get node-1 = %v, %v", n, err)
	}

	// metrics.k8s.io/v1, which kubectl top asks first, answers the same, and the group's
	// discovery prefers it.
	v1 := client.MetricsV1()
	v1front, err := v1.PodMetricses("team-a").List(ctx, metav1.ListOptions{LabelSelector: "tier=front"})
	if err != nil {
		t.Fatal(err)
	}
	if len(v1front.Items) != 1 || v1front.Items[0].Name != "web-1" || len(v1front.Items[0].Containers) != 2 ||
		v1front.Items[0].Window.Duration != 5*time.Minute {
		t.Errorf("v1 tier=front = %+v", v1front.Items)
	}
	for _, c := range v1front.Items[0].Containers {
		want := podUsage(web1)[c.Name]
		if got := (usage{c.Usage.Cpu().MilliValue(), c.Usage.Memory().Value()}); got != want {
			t.Errorf("v1 web-1 container %s = %v, v1beta1 %v", c.Name, got, want)
		}
	}
	if p, err := v1.PodMetricses("team-b").Get(ctx, "db-0", metav1.GetOptions{}); err != nil || len(p.Containers) != 1 ||
		p.Containers[0].Usage.Cpu().MilliValue() != 1000 || p.Containers[0].Usage.Memory().Value() != 1<<30 {
		t.Errorf("v1 get db-0 = %+v, %v", p, err)
	}
	if _, err := v1.PodMetricses("team-a").Get(ctx, "db-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("v1 team-a get db-0: err = %v, want NotFound", err)
	}
	if n, err := v1.NodeMetricses().Get(ctx, "node-2", metav1.GetOptions{}); err != nil || n.Usage.Cpu().MilliValue() != 700 || n.Usage.Memory().Value() != 2<<30 {
		t.Errorf("v1 get node-2 = %+v, %v", n, err)
	}
	groups, err := client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups {
		if g.Name != "metrics.k8s.io" {
			continue
		}
		var versions []string
		for _, v := range g.Versions {
			versions = append(versions, v.Version)
		}
		if g.PreferredVersion.Version != "v1" || !slices.Equal(versions, []string{"v1", "v1beta1"}) {
			t.Errorf("metrics.k8s.io discovery: preferred %s of %v, want v1 of [v1 v1beta1]", g.PreferredVersion.Version, versions)
		}
	}

	// Prometheus down: the last snapshot serves until it is stale, then an error.
	prom.Stop()
	if err := refresher.Refresh(ctx); err == nil {
		t.Fatal("refresh with Prometheus down succeeded")
	}
	if _, err := m.PodMetricses("team-a").Get(ctx, "web-1", metav1.GetOptions{}); err != nil {
		t.Errorf("before the staleness limit: %v", err)
	}
	skew.Store(int64(2 * time.Minute))
	if _, err := m.PodMetricses("team-a").List(ctx, metav1.ListOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("stale pods: err = %v, want ServiceUnavailable", err)
	}
	if _, err := m.NodeMetricses().Get(ctx, "node-1", metav1.GetOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("stale node: err = %v, want ServiceUnavailable", err)
	}
}

// kubeletRefresher starts a real Prometheus holding kubeletSeries ending now
// and returns a refresher of prometheus-adapter's shipped resourceRules on it,
// refreshed once. skew is added to the refresher's clock.
func kubeletRefresher(t *testing.T, skew *atomic.Int64) (*resourcemetrics.Refresher, *promtest.Server) {
	t.Helper()
	end := time.Now().Truncate(15 * time.Second)
	prom := promtest.StartPrometheus(t, promtest.Options{Series: kubeletSeries(end)})
	data, err := os.ReadFile("../config/promadapter/testdata/manifests-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := promadapter.Parse(data, "manifests-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: prom.URL}, Timeout: 5 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	refresher, err := resourcemetrics.NewRefresher(resourcemetrics.Options{
		Querier: src, Rules: cfg.ResourceMetricsRules(), Interval: time.Hour, StaleAfter: time.Minute,
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := refresher.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return refresher, prom
}
