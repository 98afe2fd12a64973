//go:build integration

package main

import (
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
	policyFile := greeterRolloutPolicy(t, "[{weight: 1, pause: 1h}, {weight: 100, pause: 1h}]", "      headers: [{name: x-canary, exact: always}]\n")
	dir := filepath.Dir(policyFile)
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
