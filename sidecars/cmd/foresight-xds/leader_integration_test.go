//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foresight-dev/foresight/internal/testharness/grpcbackend"
	"github.com/foresight-dev/foresight/sidecars/canary"
	"github.com/foresight-dev/foresight/sidecars/statemirror"
)

// replica is one control plane replica of the leader election test, with a proxyless gRPC
// client of its own.
type replica struct {
	f    serveFlags
	stop func()
	conn *grpc.ClientConn
}

// leads says whether the replica holds the Lease, by its metric.
func (r *replica) leads(t *testing.T) bool {
	return counter(t, r.f.metricsAddr, "foresight_xds_leader") == 1
}

// answers makes n calls over the replica's client, with the metadata pairs given, and
// returns the backends that answered, and the errors of failed calls. (grpc-go fails a call
// picked for a cluster it is still adding, as when a weight comes back from 0:
// docs/canary.md.)
func (r *replica) answers(n int, md ...string) map[string]int {
	got := map[string]int{}
	for range n {
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), md...), 10*time.Second)
		var header metadata.MD
		_, err := healthpb.NewHealthClient(r.conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header), grpc.WaitForReady(true))
		cancel()
		if err != nil {
			got[err.Error()]++
			continue
		}
		got[strings.Join(header.Get("backend"), ",")]++
	}
	return got
}

// onlyFromBackend waits until every call of 20 through r, with the metadata pairs given, is
// answered by want.
func (r *replica) onlyFromBackend(t *testing.T, want string, md ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := r.answers(20, md...)
		if got[want] == 20 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls through %s with metadata %v answered by %v, want only %s", r.f.xdsAddress, md, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// greeterRolloutPolicy writes a policy whose canary greeter-rollout moves the route split of
// greeter from greeter-v1 to greeter-v2 (two health servers answering with their names, v1
// and v2) in steps (a YAML flow list), with the further YAML lines of the canary in extra,
// for the proxyless gRPC clients of app=shop; it returns its path.
func greeterRolloutPolicy(t *testing.T, steps, extra string) string {
	t.Helper()
	v1, v2 := startNamedHealth(t, "v1"), startNamedHealth(t, "v2")
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	doc := fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: rollout, namespace: test}
spec:
  services:
    - name: greeter
      port: 50051
      protocol: grpc
      endpoints: [{address: 127.0.0.1, port: %[1]d}]
      routes:
        - name: split
          backends: [{service: greeter-v1}]
    - {name: greeter-v1, port: 50051, protocol: grpc, endpoints: [{address: 127.0.0.1, port: %[1]d}]}
    - {name: greeter-v2, port: 50051, protocol: grpc, endpoints: [{address: 127.0.0.1, port: %[2]d}]}
  nodeGroups:
    - {name: shop-clients, kind: grpc, selector: {app: shop}, upstreams: [greeter]}
  canaries:
    - name: greeter-rollout
      route: split
      stable: greeter-v1
      canary: greeter-v2
      steps: %[3]s
%[4]s`, v1, v2, steps, extra)
	if err := os.WriteFile(policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return policyFile
}

// shopClient is a proxyless gRPC client of xds:///greeter, a node of the shop-clients group
// (app=shop) of the policy file, configured by the control plane at xdsAddress.
func shopClient(t *testing.T, xdsAddress, policyFile string) *grpc.ClientConn {
	t.Helper()
	code, out, errOut := runCmd("bootstrap", "--format", "grpc", "--node", "shop-"+xdsAddress, "--service", "shop",
		"--metadata", "app=shop", "--xds-address", xdsAddress, "--policy", policyFile)
	if code != 0 {
		t.Fatalf("bootstrap: exit %d: %s", code, errOut)
	}
	conn, err := grpcbackend.XDSClient(t, []byte(out), "xds:///greeter")
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestServeReplicasElectOneLeader runs three serve replicas with --leader-elect-lease
// against a real kube-apiserver, as the service account with only the Role of
// deploy/xds/base/state.yaml, each with a grpc-go xDS client of its own. One replica leads
// and drives a canary rollout; the others serve its weights and refuse manual actions.
// When the leader stops, another takes over at the rollout's step (it neither restarts
// the rollout nor repeats a step), and what it decides reaches the remaining follower.
func TestServeReplicasElectOneLeader(t *testing.T) {
	ctx := context.Background()
	c, saKubeconfig := startStateCluster(t)

	policyFile := greeterRolloutPolicy(t, "[{weight: 50, pause: 3s}, {weight: 100, pause: 1h}]", "")
	dir := filepath.Dir(policyFile)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	start := func() *replica {
		d := t.TempDir()
		f := serveFlags{policy: policyFile, kubeconfig: saKubeconfig, kubeQPS: defaultKubeQPS, kubeBurst: defaultKubeBurst,
			xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: time.Hour,
			experimentState: filepath.Join(d, "experiments.json"), stateDir: filepath.Join(d, "state"),
			adminAddr: freeAddr(t), adminTokenFile: tokenFile,
			stateConfigMap: "foresight/foresight-xds-state", leaderLease: "foresight/foresight-xds",
			leaderTiming: leaderTiming{leaseDuration: 4 * time.Second, renewDeadline: 3 * time.Second, retryPeriod: 500 * time.Millisecond}}
		r := &replica{f: f, stop: startServeFlags(t, f)}
		r.conn = shopClient(t, f.xdsAddress, policyFile)
		return r
	}
	replicas := []*replica{start(), start(), start()}
	leaderOf := func(rs []*replica) *replica {
		t.Helper()
		var leader *replica
		waitFor(t, "one leader", func() bool {
			leader = nil
			for _, r := range rs {
				if r.leads(t) {
					if leader != nil {
						return false
					}
					leader = r
				}
			}
			return leader != nil
		})
		return leader
	}
	lead := leaderOf(replicas)

	// The leader's rollout reaches its second step; every replica's client follows it.
	for _, r := range replicas {
		r.onlyFromBackend(t, "v2")
	}
	configMaps := c.Admin.CoreV1().ConfigMaps("foresight")
	state := func() *canary.State {
		t.Helper()
		cm, err := configMaps.Get(ctx, "foresight-xds-state", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var states map[string]*canary.State
		if err := json.Unmarshal([]byte(cm.Data["canaries.json"]), &states); err != nil {
			t.Fatalf("canaries.json in the ConfigMap: %v", err)
		}
		return states["greeter-rollout"]
	}
	before := state()
	if before == nil || before.Step != 1 || before.Weight != 100 {
		t.Fatalf("rollout state in the ConfigMap: %+v, want step 1 at 100", before)
	}
	lease, err := c.Admin.CoordinationV1().Leases("foresight").Get(ctx, "foresight-xds", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("the Lease: %+v, %v", lease, err)
	}
	firstHolder := *lease.Spec.HolderIdentity
	// The leader took the state ConfigMap over: its term fences any leader before it.
	fence := func() (term, writer string) {
		t.Helper()
		cm, err := configMaps.Get(ctx, "foresight-xds-state", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Annotations[statemirror.TermAnnotation], cm.Annotations[statemirror.WriterAnnotation]
	}
	firstTerm, writer := fence()
	if writer != firstHolder {
		t.Errorf("state ConfigMap taken over by %q; want the leader, %s", writer, firstHolder)
	}

	var followers []*replica
	for _, r := range replicas {
		if r != lead {
			followers = append(followers, r)
		}
	}
	admin := func(r *replica, args ...string) (int, string, string) {
		return runCmd(append([]string{"canary"}, append(args, "--admin-url=http://"+r.f.adminAddr, "--token-file", tokenFile)...)...)
	}
	if code, _, errOut := admin(followers[0], "abort", "greeter-rollout"); code != 1 || !strings.Contains(errOut, "503") || !strings.Contains(errOut, "the leader is "+firstHolder) {
		t.Errorf("abort on a follower: exit %d, %s; want a 503 naming the leader, %s", code, errOut, firstHolder)
	}
	if code, out, errOut := admin(followers[0], "status", "greeter-rollout"); code != 0 || !strings.Contains(out, `"weight": 100`) {
		t.Errorf("status on a follower: exit %d, %s%s; want the leader's rollout", code, out, errOut)
	}

	// The leader stops (a rolling update, a node drain): it gives the Lease up, and another
	// replica carries on at the same step, with the same step start.
	lead.stop()
	next := leaderOf(followers)
	lease, err = c.Admin.CoordinationV1().Leases("foresight").Get(ctx, "foresight-xds", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == firstHolder {
		t.Fatalf("the Lease after the leader stopped: %+v, %v; want another holder", lease.Spec, err)
	}
	for _, r := range followers {
		if got := r.answers(20); got["v2"] != 20 {
			t.Errorf("after the leader stopped, calls through %s answered by %v; want only v2 (the rollout restarted?)", r.f.xdsAddress, got)
		}
	}
	if after := state(); after.Step != 1 || !after.StepStarted.Equal(before.StepStarted) || after.Phase != canary.PhaseProgressing {
		t.Errorf("rollout after the takeover: %+v, want step 1 started at %s", after, before.StepStarted)
	}
	if term, writer := fence(); writer != *lease.Spec.HolderIdentity || atoi(t, term) <= atoi(t, firstTerm) {
		t.Errorf("state ConfigMap after the takeover: term %q by %q; want a term after %q by %s", term, writer, firstTerm, *lease.Spec.HolderIdentity)
	}

	// What the new leader decides reaches the follower left.
	if code, out, errOut := admin(next, "abort", "greeter-rollout"); code != 0 || !strings.Contains(out, `"phase": "aborted"`) {
		t.Fatalf("abort on the new leader: exit %d, %s%s", code, out, errOut)
	}
	for _, r := range followers {
		r.onlyFromBackend(t, "v1")
	}
	if st := state(); st.Phase != canary.PhaseAborted {
		t.Errorf("the abort is not in the ConfigMap: %+v", st)
	}
}

// atoi is s as a number, failing the test when it is not one.
func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
