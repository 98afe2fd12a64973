//go:build differential

package differential

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/metrics/pkg/apis/metrics"
	metricsv1 "k8s.io/metrics/pkg/apis/metrics/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
)

// resourceRulesFile is the project's copy of prometheus-adapter v0.12's
// deploy/manifests resourceRules (kubelet's cAdvisor endpoint for containers,
// its resource endpoint for nodes), appended to config.
const resourceRulesFile = "../../adapter/config/promadapter/testdata/manifests-config.yaml"

// nodes are the cluster's nodes with their usage (cores, MiB); pods run on
// them in turn.
var nodes = []struct {
	name, ip      string
	cpu, memoryMi float64
}{{"node-a", "10.0.0.1", 1.5, 4096}, {"node-b", "10.0.0.2", 0.75, 3072}, {"node-c", "10.0.0.3", 2.25, 6144}}

// container is a container's usage: millicores and MiB.
type container struct {
	name          string
	milli, memory float64
}

// podNode is the node pod i of pods runs on.
func podNode(i int) string { return nodes[i%len(nodes)].name }

// containers are pod i's containers and their usage; the shop pods have a sidecar.
func containers(i int) []container {
	p := pods[i]
	out := []container{{"app", float64(100 + 50*i), float64(64 + 8*i)}}
	if p.namespace == "shop" {
		out = append(out, container{"sidecar", 20, 16})
	}
	return out
}

// kubeletSeries are the series a Prometheus scraping the kubelets holds for
// pods and nodes, every 15s from start to end, with the labels kubelet's
// cAdvisor endpoint exposes (container, id, image, name, namespace, pod) and
// kube-prometheus' scrape labels (instance, job, metrics_path, node): per
// pod its containers, its pod cgroup and its pause sandbox (both
// container=""), and per node kubelet's /metrics/resource node series.
// Counter values are multiples of 15s x the rate, so rates are exact.
func kubeletSeries(start, end time.Time) []promtest.Series {
	counter := func(rate float64) []source.Sample {
		var s []source.Sample
		for k, ts := 0, start; !ts.After(end); k, ts = k+1, ts.Add(15*time.Second) {
			s = append(s, source.Sample{T: ts.UnixMilli(), V: float64(k) * 15 * rate})
		}
		return s
	}
	gauge := func(v float64) []source.Sample {
		var s []source.Sample
		for ts := start; !ts.After(end); ts = ts.Add(15 * time.Second) {
			s = append(s, source.Sample{T: ts.UnixMilli(), V: v})
		}
		return s
	}
	var out []promtest.Series
	for i, p := range pods {
		node := podNode(i)
		cgroup := fmt.Sprintf("/kubepods/burstable/pod0f1e2d3c-0000-4000-8000-%012d", i)
		labels := func(c, image, name, id string) map[string]string {
			return map[string]string{"container": c, "id": id, "image": image, "name": name, "namespace": p.namespace, "pod": p.name,
				"instance": nodeIP(node) + ":10250", "job": "kubelet", "metrics_path": "/metrics/cadvisor", "node": node}
		}
		var milli, mi float64
		for j, c := range containers(i) {
			cid := fmt.Sprintf("%064x", i*16+j+1)
			l := labels(c.name, "registry.example/"+c.name+":1", cid, cgroup+"/"+cid)
			out = append(out,
				promtest.Series{Name: "container_cpu_usage_seconds_total", Labels: l, Samples: counter(c.milli / 1000)},
				promtest.Series{Name: "container_memory_working_set_bytes", Labels: l, Samples: gauge(c.memory * (1 << 20))})
			milli += c.milli
			mi += c.memory
		}
		sandbox := fmt.Sprintf("%064x", i*16)
		for _, l := range []map[string]string{labels("", "", "", cgroup), labels("", "registry.k8s.io/pause:3.10", sandbox, cgroup+"/"+sandbox)} {
			out = append(out,
				promtest.Series{Name: "container_cpu_usage_seconds_total", Labels: l, Samples: counter(milli / 1000)},
				promtest.Series{Name: "container_memory_working_set_bytes", Labels: l, Samples: gauge(mi * (1 << 20))})
		}
	}
	for _, n := range nodes {
		l := map[string]string{"instance": n.ip + ":10250", "job": "kubelet", "metrics_path": "/metrics/resource", "node": n.name}
		out = append(out,
			promtest.Series{Name: "node_cpu_usage_seconds_total", Labels: l, Samples: counter(n.cpu)},
			promtest.Series{Name: "node_memory_working_set_bytes", Labels: l, Samples: gauge(n.memoryMi * (1 << 20))})
	}
	return out
}

func nodeIP(name string) string {
	for _, n := range nodes {
		if n.name == name {
			return n.ip
		}
	}
	return ""
}

// createNodes creates the Node objects both adapters list for node metrics.
func createNodes(ctx context.Context, t *testing.T, cl *cluster.Cluster) {
	t.Helper()
	for _, n := range nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{"pool": poolOf(n.name)}}}
		if _, err := cl.Admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// poolOf: node-c is alone in pool big (a node label selector's case).
func poolOf(node string) string {
	if node == "node-c" {
		return "big"
	}
	return "small"
}

// usage maps a container ("namespace/pod/container") or a node to its CPU
// in cores and memory in bytes.
type usage map[string][2]float64

func podUsage(l []metricsv1beta1.PodMetrics) usage {
	out := usage{}
	for _, p := range l {
		for _, c := range p.Containers {
			out[p.Namespace+"/"+p.Name+"/"+c.Name] = [2]float64{c.Usage.Cpu().AsApproximateFloat64(), c.Usage.Memory().AsApproximateFloat64()}
		}
	}
	return out
}

func nodeUsage(l []metricsv1beta1.NodeMetrics) usage {
	out := usage{}
	for _, n := range l {
		out[n.Name] = [2]float64{n.Usage.Cpu().AsApproximateFloat64(), n.Usage.Memory().AsApproximateFloat64()}
	}
	return out
}

// sameUsage compares two answers within a millicore (prometheus-adapter
// truncates CPU to millicores: the 20m that irate() computes as 0.0199999
// cores it serves as 19m; docs/migration.md) and a byte.
func sameUsage(t *testing.T, what string, f, p usage) {
	t.Helper()
	if len(f) == 0 {
		t.Errorf("%s: no items", what)
	}
	keys := slices.Sorted(maps.Keys(p))
	if !slices.Equal(slices.Sorted(maps.Keys(f)), keys) {
		t.Errorf("%s: foresight %v, prometheus-adapter %v", what, f, p)
		return
	}
	for _, k := range keys {
		if math.Abs(f[k][0]-p[k][0]) > tolerance*(1+1e-9) || math.Abs(f[k][1]-p[k][1]) > 1 {
			t.Errorf("%s: %s: foresight %v, prometheus-adapter %v", what, k, f[k], p[k])
		}
	}
}

// wantUsage is the data's usage of the containers of the pods in namespace
// (every namespace when empty) whose app is in apps (any when nil).
func wantUsage(namespace string, apps []string) usage {
	out := usage{}
	for i, p := range pods {
		if (namespace != "" && p.namespace != namespace) || (apps != nil && !slices.Contains(apps, p.app)) {
			continue
		}
		for _, c := range containers(i) {
			out[p.namespace+"/"+p.name+"/"+c.name] = [2]float64{c.milli / 1000, c.memory * (1 << 20)}
		}
	}
	return out
}

// compareResourceMetrics asks both adapters, through their aggregators,
// what `kubectl top pods -A`, `kubectl top pods -n NS -l ...`, `kubectl top
// pod NAME` and `kubectl top nodes` ask (the official metrics clientset, as
// kubectl does): the same containers, nodes, usage and window, which is the
// data's (containers only: not the pod cgroup or the pause sandbox).
func compareResourceMetrics(t *testing.T, sides []*side) {
	ctx := context.Background()
	for _, c := range []struct {
		namespace, selector string
		apps                []string
	}{{"", "", nil}, {"shop", "", nil}, {"shop", "app=web", []string{"web"}}, {"billing", "app!=web", []string{"api"}}, {"search", "app in (web)", []string{"web"}}} {
		what := fmt.Sprintf("pod metrics in %q {%s}", c.namespace, c.selector)
		got := make([]usage, len(sides))
		for i, s := range sides {
			l, err := s.metrics.MetricsV1beta1().PodMetricses(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: c.selector})
			if err != nil {
				t.Fatalf("%s: %s: %v", s.name, what, err)
			}
			for _, p := range l.Items {
				if p.Window.Duration != 5*time.Minute {
					t.Errorf("%s: %s: pod %s/%s window %s, want the rules' 5m", s.name, what, p.Namespace, p.Name, p.Window.Duration)
				}
			}
			got[i] = podUsage(l.Items)
		}
		// Foresight also serves the pods that are no longer Running while
		// their series last; prometheus-adapter lists Running pods only
		// (docs/migration.md).
		extra := phaseUsage(c.namespace, c.apps)
		running := usage{}
		for k, v := range got[0] {
			if _, ok := extra[k]; !ok {
				running[k] = v
			}
		}
		for k := range extra {
			if _, ok := got[1][k]; ok {
				t.Errorf("%s: prometheus-adapter serves %s, which is not Running: the documented difference changed", what, k)
			}
		}
		sameUsage(t, what+" (Running pods)", running, got[1])
		want := wantUsage(c.namespace, c.apps)
		maps.Copy(want, extra)
		sameUsage(t, what+" against the data", got[0], want)
	}
	for _, p := range phasePods {
		for _, s := range sides {
			m, err := s.metrics.MetricsV1beta1().PodMetricses(p.namespace).Get(ctx, p.name, metav1.GetOptions{})
			what := fmt.Sprintf("%s: pod metrics of %s pod %s/%s", s.name, p.phase, p.namespace, p.name)
			switch {
			case p.samples && p.phase != corev1.PodRunning && s.name == adapterproc.Foresight:
				if err != nil {
					t.Errorf("%s: %v, want its usage", what, err)
				} else if got, want := podUsage([]metricsv1beta1.PodMetrics{*m}), phaseUsage(p.namespace, []string{p.app}); len(got) != 1 {
					t.Errorf("%s: %v, want %v", what, got, want)
				} else {
					sameUsage(t, what, got, usage{p.namespace + "/" + p.name + "/app": want[p.namespace+"/"+p.name+"/app"]})
				}
			case !apierrors.IsNotFound(err):
				t.Errorf("%s: %v, %v; want NotFound", what, m, err)
			}
		}
	}
	for i, p := range pods {
		got := make([]usage, len(sides))
		for j, s := range sides {
			m, err := s.metrics.MetricsV1beta1().PodMetricses(p.namespace).Get(ctx, p.name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: pod metrics %s/%s: %v", s.name, p.namespace, p.name, err)
			}
			got[j] = podUsage([]metricsv1beta1.PodMetrics{*m})
		}
		what := "pod metrics " + p.namespace + "/" + p.name
		sameUsage(t, what, got[0], got[1])
		if n := len(got[0]); n != len(containers(i)) {
			t.Errorf("%s: %d containers, want %d", what, n, len(containers(i)))
		}
	}
	wantNodes := func(pool string) usage {
		out := usage{}
		for _, n := range nodes {
			if pool == "" || poolOf(n.name) == pool {
				out[n.name] = [2]float64{n.cpu, n.memoryMi * (1 << 20)}
			}
		}
		return out
	}
	for _, pool := range []string{"", "big"} {
		sel := ""
		if pool != "" {
			sel = "pool=" + pool
		}
		got := make([]usage, len(sides))
		for i, s := range sides {
			l, err := s.metrics.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				t.Fatalf("%s: node metrics {%s}: %v", s.name, sel, err)
			}
			got[i] = nodeUsage(l.Items)
		}
		what := "node metrics {" + sel + "}"
		sameUsage(t, what, got[0], got[1])
		sameUsage(t, what+" against the data", got[0], wantNodes(pool))
	}
	for _, n := range nodes {
		got := make([]usage, len(sides))
		for i, s := range sides {
			m, err := s.metrics.MetricsV1beta1().NodeMetricses().Get(ctx, n.name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: node metrics %s: %v", s.name, n.name, err)
			}
			got[i] = nodeUsage([]metricsv1beta1.NodeMetrics{*m})
		}
		sameUsage(t, "node metrics "+n.name, got[0], got[1])
	}
	compareResourceMetricsV1(t, sides[0])
	var names []string
	for _, s := range sides {
		names = append(names, s.name)
	}
	t.Logf("metrics.k8s.io: %s agree on %d pods and %d nodes through the aggregator", strings.Join(names, " and "), len(pods), len(nodes))
}

// compareResourceMetricsV1 checks that Foresight answers metrics.k8s.io/v1 (which kubectl
// top asks first; prometheus-adapter serves v1beta1 only) as it answers v1beta1, which
// compareResourceMetrics compared with prometheus-adapter and the data.
func compareResourceMetricsV1(t *testing.T, s *side) {
	ctx := context.Background()
	beta, err := s.metrics.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("%s: v1beta1 pod metrics: %v", s.name, err)
	}
	v1, err := s.metrics.MetricsV1().PodMetricses("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("%s: v1 pod metrics: %v", s.name, err)
	}
	v1Pods := make([]metricsv1beta1.PodMetrics, len(v1.Items))
	for i, p := range v1.Items {
		var internalPod metrics.PodMetrics
		if err := metricsv1.Convert_v1_PodMetrics_To_metrics_PodMetrics(&p, &internalPod, nil); err != nil {
			t.Fatal(err)
		}
		if err := metricsv1beta1.Convert_metrics_PodMetrics_To_v1beta1_PodMetrics(&internalPod, &v1Pods[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	sameUsage(t, "v1 pod metrics against v1beta1", podUsage(v1Pods), podUsage(beta.Items))
	if n, err := s.metrics.MetricsV1().NodeMetricses().Get(ctx, nodes[0].name, metav1.GetOptions{}); err != nil {
		t.Errorf("%s: v1 node metrics %s: %v", s.name, nodes[0].name, err)
	} else if got, want := n.Usage.Cpu().AsApproximateFloat64(), nodes[0].cpu; math.Abs(got-want) > 1e-3 {
		t.Errorf("%s: v1 node metrics %s: CPU %v, want %v", s.name, nodes[0].name, got, want)
	}
}
