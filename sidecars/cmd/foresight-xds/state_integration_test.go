//go:build integration

package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/sidecars/statemirror"
)

// startStateCluster starts a kube-apiserver with the namespace foresight, its service
// account foresight-xds and the objects of deploy/xds/base/state.yaml (the state ConfigMap,
// the Role and its binding), and returns it with a kubeconfig of that service account.
func startStateCluster(t *testing.T) (*cluster.Cluster, string) {
	t.Helper()
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: needs.KubeBinDir(t), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	kubectl(t, c, "--kubeconfig", c.AdminKubeconfig, "create", "namespace", "foresight")
	kubectl(t, c, "--kubeconfig", c.AdminKubeconfig, "create", "serviceaccount", "foresight-xds", "-n", "foresight")
	kubectl(t, c, "--kubeconfig", c.AdminKubeconfig, "create", "-f", filepath.Join(needs.Root(t), "deploy", "xds", "base", "state.yaml"))
	saKubeconfig, err := c.ServiceAccountKubeconfig(ctx, "foresight", "foresight-xds", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c, saKubeconfig
}

// TestServeKeepsItsStateInTheConfigMap runs serve --state-configmap against a real
// kube-apiserver, as a service account with only the Role of deploy/xds/base/state.yaml: the
// state files of a first pod reach the ConfigMap; a second pod, with an empty state
// directory as after a rolling update, starts from them; a pod whose files outlived a
// container restart keeps its own; a ConfigMap whose state is not JSON does not stop a pod
// from starting; and copies that fail are counted and retried.
func TestServeKeepsItsStateInTheConfigMap(t *testing.T) {
	ctx := context.Background()
	c, saKubeconfig := startStateCluster(t)
	configMaps := c.Admin.CoreV1().ConfigMaps("foresight")
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: state}\nspec: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := func(dir string) serveFlags {
		return serveFlags{policy: policyFile, kubeconfig: saKubeconfig, kubeQPS: defaultKubeQPS, kubeBurst: defaultKubeBurst,
			xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: time.Hour, stateConfigMap: "foresight/foresight-xds-state",
			experimentState: filepath.Join(dir, "experiments.json"), stateDir: filepath.Join(dir, "state")}
	}
	const aborted = `{"cart-delay": {"at": "2026-12-06T06:00:00Z", "reason": "guard error_ratio 0.2 > 0.05"}}`

	first := pod(t.TempDir())
	if err := os.WriteFile(first.experimentState, []byte(aborted), 0o600); err != nil {
		t.Fatal(err)
	}
	stop := startServeFlags(t, first)
	waitFor(t, "the first pod's state in the ConfigMap", func() bool {
		cm, err := configMaps.Get(ctx, "foresight-xds-state", metav1.GetOptions{})
		return err == nil && cm.Data["experiments.json"] == aborted
	})
	// A change just before the pod stops is kept too.
	const later = `{"cart-delay": {"at": "2026-12-06T06:00:00Z", "reason": "guard error_ratio 0.2 > 0.05"}, "search-abort": {"at": "2026-12-06T06:05:00Z", "reason": "guard p99 3s > 1s"}}`
	if err := os.WriteFile(first.experimentState, []byte(later), 0o600); err != nil {
		t.Fatal(err)
	}
	stop()
	if cm, err := configMaps.Get(ctx, "foresight-xds-state", metav1.GetOptions{}); err != nil || cm.Data["experiments.json"] != later {
		t.Fatalf("after the first pod stopped: %v %v, want its last state", cm.Data, err)
	}

	second := pod(t.TempDir())
	startServeFlags(t, second)
	if got, err := os.ReadFile(second.experimentState); err != nil || string(got) != later {
		t.Errorf("second pod's state %q, %v; want the first pod's last", got, err)
	}
	if _, err := os.Stat(filepath.Join(second.stateDir, "canaries.json")); err == nil {
		t.Error("a canary state appeared that no pod wrote")
	}

	// Each pod takes the ConfigMap over at start, fencing the one before it (still running,
	// as in a rolling update): the term grows by one a pod.
	term := func() int {
		cm, err := configMaps.Get(ctx, "foresight-xds-state", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(cm.Annotations[statemirror.TermAnnotation])
		return n
	}
	waitFor(t, "the second pod took the ConfigMap over", func() bool { return term() == 2 })

	restarted := pod(t.TempDir())
	const own = `{"own": {"at": "2026-12-06T07:00:00Z", "reason": "kept"}}`
	if err := os.WriteFile(restarted.experimentState, []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	startServeFlags(t, restarted)
	if got, _ := os.ReadFile(restarted.experimentState); string(got) != own {
		t.Errorf("a restarted container's state became %q, want its own", got)
	}
	waitFor(t, "the restarted pod took the ConfigMap over", func() bool { return term() == 3 })
	// The second pod, fenced, no longer copies its changes; the restarted pod's state is kept,
	// and the second pod serves it from then on.
	if err := os.WriteFile(second.experimentState, []byte(`{"stale": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restarted pod's state in the ConfigMap", func() bool {
		cm, err := configMaps.Get(ctx, "foresight-xds-state", metav1.GetOptions{})
		return err == nil && cm.Data["experiments.json"] == own
	})
	waitFor(t, "the fenced second pod follows the restarted pod's state", func() bool {
		got, err := os.ReadFile(second.experimentState)
		return err == nil && string(got) == own
	})
	if l, r := counter(t, second.metricsAddr, "foresight_xds_leader"), counter(t, restarted.metricsAddr, "foresight_xds_leader"); l != 0 || r != 1 {
		t.Errorf("foresight_xds_leader: %v on the fenced pod, %v on the one that took the ConfigMap over; want 0 and 1", l, r)
	}

	if _, err := configMaps.Patch(ctx, "foresight-xds-state", types.MergePatchType, []byte(`{"data": {"canaries.json": "{not json"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	broken := pod(t.TempDir())
	startServeFlags(t, broken)
	if _, err := os.Stat(filepath.Join(broken.stateDir, "canaries.json")); err == nil {
		t.Error("state that is not JSON was restored")
	}

	// Without the ConfigMap, a change cannot be kept: counted, and retried.
	if err := configMaps.Delete(ctx, "foresight-xds-state", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	const lost = `{"lost": {"at": "2026-12-06T08:00:00Z", "reason": "not kept"}}`
	if err := os.WriteFile(broken.experimentState, []byte(lost), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failed copies counted", func() bool {
		return counter(t, broken.metricsAddr, "foresight_xds_state_copy_failures_total") >= 2
	})
}
