//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveHeaderCanary runs serve with greeter-rollout in steps (a YAML flow list) and the
// header x-canary: always, an admin listener, and a grpc-go client of the shop; it returns
// the replica and the admin token's file.
func serveHeaderCanary(t *testing.T, steps string) (*replica, string) {
	t.Helper()
	policyFile := greeterRolloutPolicy(t, steps, "      headers: [{name: x-canary, exact: always}]\n")
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
	return r, tokenFile
}

// canaryAction runs `foresight-xds canary ACTION greeter-rollout` against r's admin listener
// and checks the rollout's phase after it.
func (r *replica) canaryAction(t *testing.T, tokenFile, action, phase string) {
	t.Helper()
	code, out, errOut := runCmd("canary", action, "greeter-rollout", "--admin-url=http://"+r.f.adminAddr, "--token-file", tokenFile)
	if code != 0 || !strings.Contains(out, `"phase": "`+phase+`"`) {
		t.Fatalf("%s: exit %d, %s%s", action, code, out, errOut)
	}
}

// TestServeCanaryHeaders runs serve with a canary whose headers send testers to the new
// version: grpc-go clients calling with the header reach only v2 from the first step, at a
// weight of 1%, while calls without it are split by the weights; once the rollout is aborted,
// calls with the header reach v1 like the rest.
func TestServeCanaryHeaders(t *testing.T) {
	r, tokenFile := serveHeaderCanary(t, "[{weight: 1, pause: 1h}, {weight: 100, pause: 1h}]")
	r.onlyFromBackend(t, "v2", "x-canary", "always")
	if got := r.answers(20); got["v1"] == 0 {
		t.Errorf("calls without the header at 1%% answered by %v, want v1 too", got)
	}
	if got := r.answers(20, "x-canary", "sometimes"); got["v1"] == 0 {
		t.Errorf("calls with another value of the header answered by %v, want v1 too", got)
	}
	r.canaryAction(t, tokenFile, "abort", "aborted")
	r.onlyFromBackend(t, "v1", "x-canary", "always")
}

// TestServeHeaderOnlyPhase: a rollout whose first step has weight 0 sends the calls with the
// header, and only those, to v2; the others reach v1 alone until an operator advances the
// rollout (`foresight-xds canary advance`, before the hour's pause ends) to 50%, where they
// reach both; advanced past its last step it is promoted and every call reaches v2.
func TestServeHeaderOnlyPhase(t *testing.T) {
	r, tokenFile := serveHeaderCanary(t, "[{weight: 0, pause: 1h}, {weight: 50, pause: 1h}]")
	r.onlyFromBackend(t, "v2", "x-canary", "always")
	r.onlyFromBackend(t, "v1")
	if got := r.answers(100); got["v1"] != 100 {
		t.Errorf("calls without the header in the header-only phase answered by %v, want v1 alone", got)
	}
	r.canaryAction(t, tokenFile, "advance", "progressing")
	waitFor(t, "calls without the header reach v2 too at 50%", func() bool { return r.answers(20)["v2"] > 0 })
	r.onlyFromBackend(t, "v2", "x-canary", "always")
	r.canaryAction(t, tokenFile, "advance", "promoted")
	r.onlyFromBackend(t, "v2")
}
