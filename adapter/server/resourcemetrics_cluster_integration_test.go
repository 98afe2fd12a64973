//go:build integration

package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

// TestKubectlTopThroughKubeAPIServer registers the adapter as
// v1beta1.metrics.k8s.io with a real kube-apiserver (the aggregator) and
// runs `kubectl top pods` and `kubectl top nodes` (and `kubectl get podmetrics`): values from a real
// Prometheus, label selectors resolved against the cluster's pods and nodes,
// and a service account without RBAC refused.
func TestKubectlTopThroughKubeAPIServer(t *testing.T) {
	binDir := needs.KubeBinDir(t)
	ctx := context.Background()
	var skew atomic.Int64
	refresher, _ := kubeletRefresher(t, &skew)
	c, err := cluster.Start(ctx, cluster.Options{BinDir: binDir, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	kubectl := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := exec.Command(c.Bin("kubectl"), append([]string{"--kubeconfig", c.AdminKubeconfig}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if err != nil {
			return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String(), nil
	}

	// The cluster's pods and nodes, with the labels selectors match.
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// No controller manager creates the default service account pods need.
		if _, err := c.Admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		ns, name string
		labels   map[string]string
	}{{"team-a", "web-1", map[string]string{"app": "web", "tier": "front"}}, {"team-a", "web-2", map[string]string{"app": "web"}}, {"team-b", "db-0", map[string]string{"app": "db"}}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: p.labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app"}}}}
		if _, err := c.Admin.CoreV1().Pods(p.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name, pool := range map[string]string{"node-1": "a", "node-2": "b"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pool": pool}}}
		if _, err := c.Admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The adapter, served as in a cluster (startClusterAdapter).
	adapterURL, err := url.Parse(startClusterAdapter(t, c, serving.NewStore(time.Now), refresher))
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(adapterURL.Port())
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: %[1]s}
spec: {type: ExternalName, externalName: localhost}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: %[3]s
  service: {name: %[2]s, namespace: %[1]s, port: %[4]d}
`, adapterproc.ServiceNamespace, adapterproc.ServiceName, base64.StdEncoding.EncodeToString(caPEM), port)
	mf := filepath.Join(t.TempDir(), "apiservice.yaml")
	if err := os.WriteFile(mf, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl("apply", "-f", mf); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := kubectl("wait", "--for=condition=Available", "apiservice/v1beta1.metrics.k8s.io", "--timeout=60s"); err != nil {
		status, _ := kubectl("get", "apiservice/v1beta1.metrics.k8s.io", "-o", "jsonpath={.status}")
		t.Fatalf("%v\n%s\nstatus: %s", err, out, status)
	}

	rows := func(args ...string) map[string]string {
		t.Helper()
		out, err := kubectl(append(append([]string{"top"}, args...), "--no-headers")...)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 {
				got[f[0]] = strings.Join(f[1:], " ")
			}
		}
		return got
	}
	check := func(what string, got, want map[string]string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("kubectl top %s = %v, want %v", what, got, want)
		}
	}
	check("pods -n team-a", rows("pods", "-n", "team-a"), map[string]string{"web-1": "300m 120Mi", "web-2": "500m 200Mi"})
	check("pods -n team-a -l tier=front", rows("pods", "-n", "team-a", "-l", "tier=front"), map[string]string{"web-1": "300m 120Mi"})
	check("pods -n team-b", rows("pods", "-n", "team-b"), map[string]string{"db-0": "1000m 1024Mi"})
	nodes := rows("nodes")
	for name, want := range map[string]string{"node-1": "1500m", "node-2": "700m"} {
		if !strings.HasPrefix(nodes[name], want+" ") {
			t.Errorf("kubectl top nodes: %s = %q, want CPU %s", name, nodes[name], want)
		}
	}
	if pool := rows("nodes", "-l", "pool=b"); len(pool) != 1 || pool["node-2"] == "" {
		t.Errorf("kubectl top nodes -l pool=b = %v", pool)
	}
	// kubectl get knows the resources by their kind too, and prints their use (CPU, memory).
	use := func(args ...string) map[string]string {
		t.Helper()
		out, err := kubectl(append(append([]string{"get"}, args...), "--no-headers")...)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) == 4 {
				got[f[0]] = f[1] + " " + f[2]
			}
		}
		return got
	}
	check("get podmetrics -n team-a", use("podmetrics", "-n", "team-a"), map[string]string{"web-1": "300m 120Mi", "web-2": "500m 200Mi"})
	check("get pods.metrics.k8s.io -n team-b", use("pods.metrics.k8s.io", "-n", "team-b"), map[string]string{"db-0": "1000m 1024Mi"})
	if got := use("nodemetrics"); len(got) != 2 || !strings.HasPrefix(got["node-1"], "1500m ") {
		t.Errorf("kubectl get nodemetrics = %v", got)
	}

	// A service account without RBAC is refused, through the aggregator and
	// directly at the adapter (delegated authorization).
	if _, err := c.Admin.CoreV1().ServiceAccounts("team-a").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "no-rbac"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc, err := c.ServiceAccountKubeconfig(ctx, "team-a", "no-rbac", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(c.Bin("kubectl"), "--kubeconfig", kc, "top", "pods", "-n", "team-a").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "forbidden") {
		t.Errorf("kubectl top pods as team-a/no-rbac: %v %s; want forbidden", err, out)
	}
	out, err = exec.Command(c.Bin("kubectl"), "--kubeconfig", kc, "--server", "https://localhost:"+strconv.Itoa(port),
		"--certificate-authority", c.CAFile, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/team-a/pods").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "forbidden") {
		t.Errorf("direct GET as team-a/no-rbac: %v %s; want forbidden", err, out)
	}
}
