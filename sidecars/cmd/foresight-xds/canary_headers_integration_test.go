//go:build integration

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeCanaryHeaders runs serve with a canary whose headers send testers to the new
// version: grpc-go clients calling with the header reach only v2 from the first step, at a
// weight of 1%, while calls without it are split by the weights; once the rollout is aborted,
// calls with the header reach v1 like the rest.
func TestServeCanaryHeaders(t *testing.T) {
	v1, v2 := startNamedHealth(t, "v1"), startNamedHealth(t, "v2")
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	doc := fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: testers, namespace: test}
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
      steps: [{weight: 1, pause: 1h}, {weight: 100, pause: 1h}]
      headers: [{name: x-canary, exact: always}]
`, v1, v2)
	if err := os.WriteFile(policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := serveFlags{policy: policyFile, xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: time.Hour,
		experimentState: filepath.Join(dir, "experiments.json"), stateDir: filepath.Join(dir, "state"),
		adminAddr: freeAddr(t), adminTokenFile: tokenFile}
	r := &replica{f: f, stop: startServeFlags(t, f)}
	r.conn = shopClient(t, f.xdsAddress, policyFile)

	r.onlyFromBackend(t, "v2", "x-canary", "always")
	if got := r.answers(20); got["v1"] == 0 {
		t.Errorf("calls without the header at 1%% answered by %v, want v1 too", got)
	}
	if got := r.answers(20, "x-canary", "sometimes"); got["v1"] == 0 {
		t.Errorf("calls with another value of the header answered by %v, want v1 too", got)
	}

	code, out, errOut := runCmd("canary", "abort", "greeter-rollout", "--admin-url=http://"+f.adminAddr, "--token-file", tokenFile)
	if code != 0 || !strings.Contains(out, `"phase": "aborted"`) {
		t.Fatalf("abort: exit %d, %s%s", code, out, errOut)
	}
	r.onlyFromBackend(t, "v1", "x-canary", "always")
}
