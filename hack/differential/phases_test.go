//go:build differential

package differential

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
)

// phasePod is a pod that is not Running, or has no samples: terminated pods
// whose series are still in Prometheus' window, a pod waiting to be
// scheduled and a Running pod whose exporter was never scraped.
type phasePod struct {
	pod
	phase corev1.PodPhase
	// samples: the pod has http_requests_total (at pod.rate) and its app
	// container's cAdvisor series (milli millicores, memory MiB).
	samples       bool
	milli, memory float64
}

var phasePods = []phasePod{
	{pod: pod{"shop", "web-done", "web", 0.5}, phase: corev1.PodSucceeded, samples: true, milli: 30, memory: 24},
	{pod: pod{"billing", "api-failed", "api", 1.25}, phase: corev1.PodFailed, samples: true, milli: 60, memory: 40},
	{pod: pod{"shop", "web-pending", "web", 0}, phase: corev1.PodPending},
	{pod: pod{"search", "web-idle", "web", 0}, phase: corev1.PodRunning},
}

// phasePodNode is the node the scheduled phase pods ran on.
const phasePodNode = "node-a"

// phaseSeries are the phase pods' series, as for pods (series and
// kubeletSeries), from start to end.
func phaseSeries(start, end time.Time) []promtest.Series {
	var out []promtest.Series
	for i, p := range phasePods {
		if !p.samples {
			continue
		}
		var counter, cpu, memory []source.Sample
		for k, ts := 0, start; !ts.After(end); k, ts = k+1, ts.Add(15*time.Second) {
			counter = append(counter, source.Sample{T: ts.UnixMilli(), V: p.rate * ts.Sub(start).Seconds()})
			cpu = append(cpu, source.Sample{T: ts.UnixMilli(), V: float64(k) * 15 * p.milli / 1000})
			memory = append(memory, source.Sample{T: ts.UnixMilli(), V: p.memory * (1 << 20)})
		}
		out = append(out, promtest.Series{Name: "http_requests_total",
			Labels: map[string]string{"namespace": p.namespace, "pod": p.name, "service": p.app, "container": "app", "job": "app"}, Samples: counter})
		cid := fmt.Sprintf("%064x", 0xf000+i)
		l := map[string]string{"container": "app", "id": fmt.Sprintf("/kubepods/burstable/pod0f1e2d3c-0000-4000-8000-f%011d/%s", i, cid),
			"image": "registry.example/app:1", "name": cid, "namespace": p.namespace, "pod": p.name,
			"instance": nodeIP(phasePodNode) + ":10250", "job": "kubelet", "metrics_path": "/metrics/cadvisor", "node": phasePodNode}
		out = append(out,
			promtest.Series{Name: "container_cpu_usage_seconds_total", Labels: l, Samples: cpu},
			promtest.Series{Name: "container_memory_working_set_bytes", Labels: l, Samples: memory})
	}
	return out
}

// createPhasePods creates the phase pods with their phase, as a kubelet
// (or, for the Pending one, the lack of a scheduler) would leave them.
func createPhasePods(ctx context.Context, t *testing.T, cl *cluster.Cluster) {
	t.Helper()
	for _, p := range phasePods {
		obj := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.namespace, Labels: map[string]string{"app": p.app}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}},
		}
		if p.phase != corev1.PodPending {
			obj.Spec.NodeName = phasePodNode
		}
		created, err := cl.Admin.CoreV1().Pods(p.namespace).Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		started := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
		created.Status = corev1.PodStatus{Phase: p.phase}
		if p.phase != corev1.PodPending {
			created.Status.StartTime = &started
		}
		if _, err := cl.Admin.CoreV1().Pods(p.namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// phaseUsage is the usage of the containers of the phase pods with samples
// that are not Running, in namespace (every namespace when empty), whose app
// is in apps (any when nil): what Foresight's metrics.k8s.io serves and
// prometheus-adapter's does not (docs/migration.md).
func phaseUsage(namespace string, apps []string) usage {
	out := usage{}
	for _, p := range phasePods {
		if !p.samples || p.phase == corev1.PodRunning || (namespace != "" && p.namespace != namespace) || (apps != nil && !slices.Contains(apps, p.app)) {
			continue
		}
		out[p.namespace+"/"+p.name+"/app"] = [2]float64{p.milli / 1000, p.memory * (1 << 20)}
	}
	return out
}

// selects reports whether selector selects the pod namespace/name (of pods
// or phasePods) by its labels.
func selects(selector, name, namespace string) bool {
	sel, err := k8slabels.Parse(selector)
	if err != nil {
		return false
	}
	all := slices.Clone(pods)
	for _, p := range phasePods {
		all = append(all, p.pod)
	}
	for _, p := range all {
		if p.namespace == namespace && p.name == name {
			return sel.Matches(k8slabels.Set{"app": p.app})
		}
	}
	return false
}
