package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsclientset "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
)

// The top phase: `kubectl top pods -A` over topNamespaces x topPodsPerNS pods
// on topNodes nodes, each adapter in turn behind kube-apiserver's aggregator
// (v1beta1.metrics.k8s.io), with prometheus-adapter v0.12's deploy/manifests
// resourceRules over kubelet-shaped series (cAdvisor's per-container and
// per-pod-cgroup series, kubelet's node series).
const (
	topNamespaces = 20
	topPodsPerNS  = 50
	topNodes      = 50
)

// topConfig is the prometheus-adapter config both adapters read, relative to
// the project's root: the project's copy of its deploy/manifests resourceRules.
const topConfig = "adapter/config/promadapter/testdata/manifests-config.yaml"

func topNamespace(i int) string { return "top-ns-" + strconv.Itoa(i) }
func topPod(i int) string       { return "pod-" + strconv.Itoa(i) }
func topNode(i int) string      { return "node-" + strconv.Itoa(i) }

// writeKubeletBlock writes the top phase's series into a TSDB block in dir,
// every minute from now-1h to now+ahead: per pod its container "app" and its
// pod cgroup (container=""), CPU counters and working-set gauges; per node
// kubelet's node CPU counter and working set.
func writeKubeletBlock(ctx context.Context, dir string, now time.Time, ahead time.Duration) (int, error) {
	w, err := tsdb.NewBlockWriter(slog.New(slog.DiscardHandler), dir, (8 * time.Hour).Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("block writer: %w", err)
	}
	defer w.Close()
	end := now.Truncate(time.Minute).Add(ahead)
	start := now.Truncate(time.Minute).Add(-time.Hour)
	samples := 0
	write := func(lbls labels.Labels, value func(k int) float64) error {
		app := w.Appender(ctx)
		var ref storage.SeriesRef
		for k, t := 0, start; !t.After(end); k, t = k+1, t.Add(time.Minute) {
			if ref, err = app.Append(ref, lbls, t.UnixMilli(), value(k)); err != nil {
				_ = app.Rollback()
				return fmt.Errorf("append %s: %w", lbls, err)
			}
			samples++
		}
		return app.Commit()
	}
	for ns := range topNamespaces {
		for p := range topPodsPerNS {
			i := ns*topPodsPerNS + p
			node := topNode(i % topNodes)
			cgroup := fmt.Sprintf("/kubepods/burstable/pod%08d-0000-4000-8000-000000000000", i)
			cid := fmt.Sprintf("%064x", i+1)
			cores := 0.05 + float64(i%20)/100
			bytes := float64((64 + i%64) << 20)
			for _, c := range []struct{ container, id, image, name string }{
				{"app", cgroup + "/" + cid, "registry.example/app:1", cid},
				{"", cgroup, "", ""},
			} {
				base := []string{"container", c.container, "id", c.id, "image", c.image, "instance", node + ":10250", "job", "kubelet",
					"metrics_path", "/metrics/cadvisor", "name", c.name, "namespace", topNamespace(ns), "node", node, "pod", topPod(p)}
				if err := write(labels.FromStrings(append([]string{"__name__", "container_cpu_usage_seconds_total"}, base...)...),
					func(k int) float64 { return float64(k) * 60 * cores }); err != nil {
					return 0, err
				}
				if err := write(labels.FromStrings(append([]string{"__name__", "container_memory_working_set_bytes"}, base...)...),
					func(int) float64 { return bytes }); err != nil {
					return 0, err
				}
			}
		}
	}
	for n := range topNodes {
		base := []string{"instance", topNode(n) + ":10250", "job", "kubelet", "metrics_path", "/metrics/resource", "node", topNode(n)}
		if err := write(labels.FromStrings(append([]string{"__name__", "node_cpu_usage_seconds_total"}, base...)...),
			func(k int) float64 { return float64(k) * 60 * 1.5 }); err != nil {
			return 0, err
		}
		if err := write(labels.FromStrings(append([]string{"__name__", "node_memory_working_set_bytes"}, base...)...),
			func(int) float64 { return 8 << 30 }); err != nil {
			return 0, err
		}
	}
	if _, err := w.Flush(ctx); err != nil {
		return 0, fmt.Errorf("write block: %w", err)
	}
	return samples, nil
}

// topObjects creates the top phase's nodes, namespaces and pods (reported Running).
func (b *bench) topObjects(ctx context.Context) error {
	admin := b.cl.Admin
	started := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	for n := range topNodes {
		if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: topNode(n)}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node: %w", err)
		}
	}
	for ns := range topNamespaces {
		name := topNamespace(ns)
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace: %w", err)
		}
		// No controller manager creates it; the ServiceAccount admission needs it.
		if _, err := admin.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create service account: %w", err)
		}
		for p := range topPodsPerNS {
			i := ns*topPodsPerNS + p
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: topPod(p), Namespace: name, Labels: map[string]string{"app": "app-" + strconv.Itoa(p%5)}},
				Spec:       corev1.PodSpec{NodeName: topNode(i % topNodes), Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			}
			created, err := admin.CoreV1().Pods(name).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create pod: %w", err)
			}
			// Reported Running, as a kubelet would: prometheus-adapter lists Running pods only.
			created.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started, Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
			}}
			if _, err := admin.CoreV1().Pods(name).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("pod status: %w", err)
			}
		}
	}
	return nil
}

// topResult is one adapter's answers to `kubectl top pods -A`.
type topResult struct {
	name   string
	res    *result
	mem    memory
	warmup time.Duration
}

// top runs the top phase: each adapter started with topConfig, registered
// as v1beta1.metrics.k8s.io, asked `kubectl top pods -A` (the official
// metrics clientset's PodMetrics list in every namespace, through the
// aggregator, as kubectl top does) by one client in a closed loop for
// -duration and at least topMinRequests times; every answer must list every
// pod.
func (b *bench) top(ctx context.Context, rep *report) error {
	const topMinRequests = 50
	t0 := time.Now()
	if err := b.topObjects(ctx); err != nil {
		return err
	}
	fmt.Printf("\ntop: %d pods in %d namespaces on %d nodes created in %s\n", topNamespaces*topPodsPerNS, topNamespaces, topNodes, time.Since(t0).Round(time.Second))
	client, err := adapterproc.NewClient(ctx, b.cl.Admin, b.cl.CA, "bench-top", "bench-resource-metrics-reader", []rbacv1.PolicyRule{
		{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list"}},
		{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
	})
	if err != nil {
		return err
	}
	cfg := client.RESTConfig(b.cl.Server)
	cfg.Timeout = 2 * time.Minute
	mc, err := metricsclientset.NewForConfig(cfg)
	if err != nil {
		return err
	}
	apis := []adapterproc.APIService{{Group: "metrics.k8s.io", Version: "v1beta1", VersionPriority: 100}}
	want := topNamespaces * topPodsPerNS
	for _, name := range b.o.adapters {
		b.runs++
		dir := filepath.Join(b.work, "top-"+name+"-"+strconv.Itoa(b.runs))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		config := filepath.Join(b.root, topConfig)
		bin := b.o.foresightBin
		if name == adapterproc.Peer {
			bin = b.o.peerBin
		}
		started := time.Now()
		a, err := adapterproc.Start(adapterproc.Options{Kind: name, Name: "top-" + name, Bin: bin, Dir: dir, LogDir: b.logDir,
			Config: config, PrometheusURL: b.promURL, Kubeconfig: b.cl.AdminKubeconfig, CA: b.cl.CA, DNSNames: []string{adapterproc.ServiceDNS}})
		if err != nil {
			return err
		}
		stop := func() { a.Proc.Stop(10 * time.Second) }
		if err := adapterproc.Register(ctx, b.cl.Cluster, a, apis); err != nil {
			stop()
			return err
		}
		if err := adapterproc.WaitAvailable(ctx, b.cl.Cluster, apis); err != nil {
			stop()
			return fmt.Errorf("%s: %w", name, err)
		}
		// Until the adapter lists every pod (Foresight after its first refresh).
		var last error
		for {
			l, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
			if err == nil && len(l.Items) == want {
				break
			}
			last = err
			if err == nil {
				last = fmt.Errorf("%d pods listed, want %d", len(l.Items), want)
			}
			if time.Since(started) > b.o.warmTimeout {
				stop()
				return fmt.Errorf("%s: kubectl top pods -A: %w (log %s)", name, last, a.Proc.LogFile)
			}
			time.Sleep(time.Second)
		}
		warm := time.Since(started)
		tp := &target{name: name, url: a.URL, proc: a.Proc, prom: b.prom}
		tls, err := client.TLS()
		if err != nil {
			stop()
			return err
		}
		tp.tls = tls
		r := &result{}
		c0 := tp.cpuNow()
		begin := time.Now()
		for time.Since(begin) < b.o.duration || r.requests < topMinRequests {
			t := time.Now()
			l, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
			r.lat = append(r.lat, time.Since(t))
			r.requests++
			if err == nil && len(l.Items) != want {
				err = fmt.Errorf("%d pods listed, want %d", len(l.Items), want)
			}
			if err != nil {
				r.failed++
				if r.firstErr == nil {
					r.firstErr = err
				}
			}
			if ctx.Err() != nil {
				stop()
				return ctx.Err()
			}
		}
		r.elapsed = time.Since(begin)
		tp.finish(r, c0)
		slices.Sort(r.lat)
		res := topResult{name: name, res: r, mem: tp.memory(ctx), warmup: warm}
		fmt.Printf("  %-9s serving all pods %s after start; %s\n  %-9s %s\n", name, warm.Round(100*time.Millisecond), res.mem, "", r)
		rep.top = append(rep.top, res)
		stop()
	}
	return nil
}
