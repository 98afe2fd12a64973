//go:build e2e

package e2e

// The prometheus-adapter side of the scenario: the adapter, given the
// prometheus-adapter config of testdata/prometheus-adapter.yaml unchanged next
// to its own rules, serves metrics.k8s.io from its resourceRules (kubelet's
// cAdvisor and resource metrics) and a Pods metric from its walkthrough rule;
// an HPA on a Resource CPU metric and one on that Pods metric scale as the
// HPA controller's formula says for the usage in Prometheus. The test plays
// the scheduler and the kubelet (the control plane has neither): it creates
// the pods bound to a node and reports them Running and Ready. The scale
// targets are StatefulSets, whose controller does not run, so the pods stay
// the ones the test made and the expected replica count is exact:
// ceil(readyPods * current/target).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/foresight-dev/foresight/internal/testharness/cluster"
)

const (
	nsResource = "e2e-resource" // HPA on the Resource CPU metric (metrics.k8s.io)
	nsImported = "e2e-imported" // HPA on the imported Pods metric (custom.metrics.k8s.io)
	// importedMetric is the walkthrough rule's name for jobs_processed_total.
	importedMetric = "jobs_processed_per_second"
	// kubeletStep is the scrape interval of the kubelet-shaped series (data time).
	kubeletStep = 15 * time.Second
	// cpuTargetUtilization is the Resource HPA's target, in percent of the pods' requests.
	cpuTargetUtilization = 100
	// jobsTarget is the Pods HPA's AverageValue target, in jobs per second.
	jobsTarget = 20
	// containerRequest is every container's CPU request, in millicores.
	containerRequest = 100
)

// e2eNodes are the nodes the pods run on.
var e2eNodes = []struct {
	name, ip      string
	cpu, memoryMi float64 // usage: cores, MiB
}{{"e2e-node-a", "10.0.0.1", 1.25, 3072}, {"e2e-node-b", "10.0.0.2", 0.5, 2048}}

// kubeletContainer is one container's usage: millicores and MiB.
type kubeletContainer struct {
	name          string
	milli, memory float64
}

// kubeletPod is a pod the test runs, with its containers' usage (cAdvisor
// series) or its application counter's rate (jobs_processed_total, 0: none).
type kubeletPod struct {
	namespace, name, app, node string
	containers                 []kubeletContainer
	jobsPerSecond              float64
}

// resourcePods: the CPU pods use 300m and 400m for requests of 200m each:
// 175% of their requests, so the Resource HPA (target 100%) wants
// ceil(2 * 1.75) = 4 replicas; the job pods process 30 and 40 per second, 35
// on average, so the Pods HPA (target 20) wants ceil(2 * 1.75) = 4.
var resourcePods = []kubeletPod{
	{namespace: nsResource, name: "cpu-0", app: "cpu", node: "e2e-node-a",
		containers: []kubeletContainer{{"app", 250, 64}, {"sidecar", 50, 16}}},
	{namespace: nsResource, name: "cpu-1", app: "cpu", node: "e2e-node-b",
		containers: []kubeletContainer{{"app", 350, 96}, {"sidecar", 50, 16}}},
	{namespace: nsImported, name: "queue-0", app: "queue", node: "e2e-node-a", jobsPerSecond: 30,
		containers: []kubeletContainer{{"worker", 100, 32}}},
	{namespace: nsImported, name: "queue-1", app: "queue", node: "e2e-node-b", jobsPerSecond: 40,
		containers: []kubeletContainer{{"worker", 100, 32}}},
}

// wantReplicas is what both HPAs must scale their StatefulSet to (from 2).
const wantReplicas = 4

// writeKubeletSeries writes, every kubeletStep from from to to, the series
// a Prometheus scraping the kubelets (cAdvisor and /metrics/resource, with
// kube-prometheus' job, node and metrics_path labels) and the pods' own
// exporter would hold: per pod the pod cgroup (container="") and the pause
// sandbox (container="", the pause image) besides each container, which the
// resourceRules' container!="" leaves out. Counter values are multiples of
// kubeletStep*usage, so rates are exact.
func writeKubeletSeries(w io.Writer, from, to time.Time) error {
	bw := bufio.NewWriter(w)
	type series struct {
		labels string
		rate   float64 // counters: per second; gauges: 0
		value  float64 // gauges
	}
	lbl := func(kv ...string) string {
		var parts []string
		for i := 0; i < len(kv); i += 2 {
			parts = append(parts, fmt.Sprintf("%s=%q", kv[i], kv[i+1]))
		}
		return strings.Join(parts, ",")
	}
	var cpu, mem, jobs, nodeCPU, nodeMem []series
	for i, p := range resourcePods {
		node := nodeIP(p.node)
		uid := fmt.Sprintf("0f1e2d3c-0000-4000-8000-%012d", i)
		podCgroup := "/kubepods/burstable/pod" + uid
		cadvisor := func(container, image, name, id string) string {
			return lbl("container", container, "id", id, "image", image, "instance", node+":10250", "job", "kubelet",
				"metrics_path", "/metrics/cadvisor", "name", name, "namespace", p.namespace, "node", p.node, "pod", p.name)
		}
		var totalMilli, totalMi float64
		for j, c := range p.containers {
			cid := fmt.Sprintf("%064x", i*16+j+1)
			l := cadvisor(c.name, "registry.example/"+c.name+":1", cid, podCgroup+"/"+cid)
			cpu = append(cpu, series{labels: l, rate: c.milli / 1000})
			mem = append(mem, series{labels: l, value: c.memory * (1 << 20)})
			totalMilli += c.milli
			totalMi += c.memory
		}
		sandbox := fmt.Sprintf("%064x", i*16)
		for _, l := range []string{
			cadvisor("", "", "", podCgroup),
			cadvisor("", "registry.k8s.io/pause:3.10", sandbox, podCgroup+"/"+sandbox),
		} {
			// The pod cgroup holds its containers' usage; the sandbox a little.
			cpu = append(cpu, series{labels: l, rate: totalMilli / 1000})
			mem = append(mem, series{labels: l, value: totalMi * (1 << 20)})
		}
		if p.jobsPerSecond > 0 {
			jobs = append(jobs, series{labels: lbl("container", "worker", "instance", fmt.Sprintf("10.1.0.%d:8080", i+1),
				"job", "queue-worker", "namespace", p.namespace, "pod", p.name), rate: p.jobsPerSecond})
		}
	}
	for _, n := range e2eNodes {
		l := lbl("instance", n.ip+":10250", "job", "kubelet", "metrics_path", "/metrics/resource", "node", n.name)
		nodeCPU = append(nodeCPU, series{labels: l, rate: n.cpu})
		nodeMem = append(nodeMem, series{labels: l, value: n.memoryMi * (1 << 20)})
	}
	family := func(name, typ string, ss []series) {
		fmt.Fprintf(bw, "# TYPE %s %s\n", name, typ)
		sample := name
		if typ == "counter" {
			sample += "_total"
		}
		for _, s := range ss {
			for k, ts := 0, from; !ts.After(to); k, ts = k+1, ts.Add(kubeletStep) {
				v := s.value
				if typ == "counter" {
					v = float64(k) * s.rate * kubeletStep.Seconds()
				}
				fmt.Fprintf(bw, "%s{%s} %s %d\n", sample, s.labels, strconv.FormatFloat(v, 'f', -1, 64), ts.Unix())
			}
		}
	}
	family("container_cpu_usage_seconds", "counter", cpu)
	family("container_memory_working_set_bytes", "gauge", mem)
	family("node_cpu_usage_seconds", "counter", nodeCPU)
	family("node_memory_working_set_bytes", "gauge", nodeMem)
	family("jobs_processed", "counter", jobs)
	fmt.Fprintln(bw, "# EOF")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write kubelet series: %w", err)
	}
	return nil
}

func nodeIP(name string) string {
	for _, n := range e2eNodes {
		if n.name == name {
			return n.ip
		}
	}
	return ""
}

// kubeletSeriesFile writes writeKubeletSeries' OpenMetrics into dir.
func kubeletSeriesFile(t *testing.T, dir string, from, to time.Time) string {
	t.Helper()
	p := filepath.Join(dir, "kubelet.om")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeKubeletSeries(f, from, to); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// applyResourceWorkloads creates the nodes, the namespaces, the pods (bound
// and reported Running and Ready an hour ago, past the HPA's CPU
// initialization period), a StatefulSet of 2 replicas per namespace, and
// the two HPAs.
func applyResourceWorkloads(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	for _, n := range e2eNodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{"e2e": "resource"}}}
		created, err := c.Admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create node %s: %v", n.name, err)
		}
		capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")}
		created.Status.Capacity, created.Status.Allocatable = capacity, capacity
		if _, err := c.Admin.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("node %s status: %v", n.name, err)
		}
	}
	for _, ns := range []string{nsResource, nsImported} {
		if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, namespace(ns), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
		// The ServiceAccount controller makes it too; pod admission needs it now.
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
		if _, err := c.Admin.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("service account %s/default: %v", ns, err)
		}
	}
	started := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	for _, p := range resourcePods {
		var containers []corev1.Container
		for _, ct := range p.containers {
			containers = append(containers, corev1.Container{Name: ct.name, Image: "registry.example/" + ct.name + ":1",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: *resource.NewMilliQuantity(containerRequest, resource.DecimalSI)}}})
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.namespace, Labels: map[string]string{"app": p.app}},
			Spec:       corev1.PodSpec{NodeName: p.node, Containers: containers, AutomountServiceAccountToken: ptr.To(false)},
		}
		created, err := c.Admin.CoreV1().Pods(p.namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create pod %s/%s: %v", p.namespace, p.name, err)
		}
		created.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &started,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
			},
		}
		if _, err := c.Admin.CoreV1().Pods(p.namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("pod %s/%s status: %v", p.namespace, p.name, err)
		}
	}
	for _, w := range []struct {
		ns, name string
		metric   autoscalingv2.MetricSpec
	}{
		{nsResource, "cpu", autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](cpuTargetUtilization)},
		}}},
		{nsImported, "queue", autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: importedMetric},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: resource.NewQuantity(jobsTarget, resource.DecimalSI)},
		}}},
	} {
		labels := map[string]string{"app": w.name}
		sts := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.ns},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To[int32](2), ServiceName: w.name,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: w.name, Image: "registry.k8s.io/pause:3.10"}}}},
			},
		}
		if _, err := c.Admin.AppsV1().StatefulSets(w.ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create statefulset %s/%s: %v", w.ns, w.name, err)
		}
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: w.name},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{w.metric},
			},
		}
		if _, err := c.Admin.AutoscalingV2().HorizontalPodAutoscalers(w.ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create HPA %s/%s: %v", w.ns, w.name, err)
		}
	}
}

// checkResourceHPAs waits (up to deadline) for both HPAs to report the
// metric the data gives and to have scaled their StatefulSet to
// wantReplicas, and checks `kubectl top pod` and `kubectl top node` through
// the aggregator against the data. It runs beside the replay (t.Errorf and
// t.Logf only).
func checkResourceHPAs(ctx context.Context, t *testing.T, c *cluster.Cluster, deadline time.Time) {
	t.Helper()
	// The CPU pods' mean usage over their mean request, in percent; the job pods' mean rate.
	wantUtilization, wantJobs := int32(175), 35.0
	for _, h := range []struct{ ns, name string }{{nsResource, "cpu"}, {nsImported, "queue"}} {
		var last string
		for {
			err := func() error {
				hpa, err := c.Admin.AutoscalingV2().HorizontalPodAutoscalers(h.ns).Get(ctx, h.name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if err := hpaHealthy(ctx, c, h.ns, h.name); err != nil {
					return err
				}
				cur := hpa.Status.CurrentMetrics[0]
				switch {
				case cur.Resource != nil:
					u := cur.Resource.Current.AverageUtilization
					if u == nil || math.Abs(float64(*u-wantUtilization)) > 1 {
						return fmt.Errorf("current CPU utilization %v, want %d%% (average value %v)", ptrString(u), wantUtilization, cur.Resource.Current.AverageValue)
					}
				case cur.Pods != nil:
					v := cur.Pods.Current.AverageValue
					if v == nil || math.Abs(v.AsApproximateFloat64()-wantJobs) > 0.01 {
						return fmt.Errorf("current %s %v, want %g", importedMetric, v, wantJobs)
					}
				default:
					return fmt.Errorf("current metric %+v: neither Resource nor Pods", cur)
				}
				sts, err := c.Admin.AppsV1().StatefulSets(h.ns).Get(ctx, h.name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if hpa.Status.DesiredReplicas != wantReplicas || sts.Spec.Replicas == nil || *sts.Spec.Replicas != wantReplicas {
					return fmt.Errorf("desired %d replicas, StatefulSet at %s; want %d", hpa.Status.DesiredReplicas, ptrString(sts.Spec.Replicas), wantReplicas)
				}
				return nil
			}()
			if err == nil {
				t.Logf("HPA %s/%s scaled its StatefulSet from 2 to %d replicas", h.ns, h.name, wantReplicas)
				break
			}
			if s := err.Error(); s != last {
				t.Logf("HPA %s/%s: %s", h.ns, h.name, s)
				last = s
			}
			if time.Now().After(deadline) {
				desc, _ := kubectl(c, "describe", "hpa", "-n", h.ns, h.name)
				t.Errorf("HPA %s/%s: %v\n%s", h.ns, h.name, err, desc)
				break
			}
			time.Sleep(time.Second)
		}
	}
	desc, _ := kubectl(c, "describe", "hpa", "-n", nsResource, "cpu")
	t.Logf("kubectl describe hpa -n %s cpu (Resource CPU, metrics.k8s.io):\n%s", nsResource, desc)
	desc, _ = kubectl(c, "describe", "hpa", "-n", nsImported, "queue")
	t.Logf("kubectl describe hpa -n %s queue (Pods metric of an imported prometheus-adapter rule):\n%s", nsImported, desc)
	checkKubectlTop(t, c)
}

// topLine is a line of `kubectl top`: a name, CPU in millicores, memory in Mi.
var topLine = regexp.MustCompile(`^(\S+)\s+(\d+)m\s+(?:\d+%\s+)?(\d+)Mi\b`)

// checkKubectlTop runs `kubectl top pod` and `kubectl top node` (through the
// aggregator, as a user would) and compares them with the data: containers
// only (not the pod cgroup or the pause sandbox), within 1m and 1Mi.
func checkKubectlTop(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	want := map[string][2]float64{}
	for _, p := range resourcePods {
		var milli, mi float64
		for _, ct := range p.containers {
			milli += ct.milli
			mi += ct.memory
		}
		want[p.namespace+"/"+p.name] = [2]float64{milli, mi}
	}
	for _, n := range e2eNodes {
		want[n.name] = [2]float64{n.cpu * 1000, n.memoryMi}
	}
	parse := func(prefix string, args ...string) map[string][2]float64 {
		out, err := kubectl(c, args...)
		if err != nil {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			return nil
		}
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
		got := map[string][2]float64{}
		for line := range strings.SplitSeq(out, "\n") {
			if m := topLine.FindStringSubmatch(line); m != nil {
				cpu, _ := strconv.ParseFloat(m[2], 64)
				mem, _ := strconv.ParseFloat(m[3], 64)
				got[prefix+m[1]] = [2]float64{cpu, mem}
			}
		}
		return got
	}
	got := parse(nsResource+"/", "top", "pod", "-n", nsResource)
	for k, v := range parse(nsImported+"/", "top", "pod", "-n", nsImported) {
		got[k] = v
	}
	for k, v := range parse("", "top", "node", "-l", "e2e=resource") {
		got[k] = v
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g[0]-w[0]) > 1 || math.Abs(g[1]-w[1]) > 1 {
			t.Errorf("kubectl top %s: %v (found %t), want %gm CPU and %gMi", k, g, ok, w[0], w[1])
		}
	}
	if len(got) != len(want) {
		t.Errorf("kubectl top listed %d pods and nodes, want %d: %v", len(got), len(want), got)
	}
	// kubectl top asks v1 (the chart registers it beside v1beta1, which the HPA asks); both
	// answer.
	for _, version := range []string{"v1", "v1beta1"} {
		raw, err := kubectl(c, "get", "--raw", "/apis/metrics.k8s.io/"+version+"/namespaces/"+nsResource+"/pods/cpu-0")
		if err != nil {
			t.Errorf("kubectl get --raw %s pods/cpu-0: %v\n%s", version, err, raw)
			continue
		}
		var pm struct {
			APIVersion string `json:"apiVersion"`
			Containers []struct {
				Name string `json:"name"`
			} `json:"containers"`
		}
		if err := json.Unmarshal([]byte(raw), &pm); err != nil || len(pm.Containers) != 2 || pm.APIVersion != "metrics.k8s.io/"+version {
			t.Errorf("PodMetrics %s/cpu-0 (%s): want its two containers (app, sidecar), got %s (%v)", nsResource, version, raw, err)
		}
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}
