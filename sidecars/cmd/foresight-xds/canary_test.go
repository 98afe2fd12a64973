package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// canaryPolicyFile writes translate's weighted policy with a canary on backend-split
// (no analysis; an hour per step, so only manual actions move it) and returns its path.
func canaryPolicyFile(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("../../translate/testdata/weighted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src) + `  canaries:
    - name: backend-rollout
      route: backend-split
      stable: backend
      canary: backend-v2
      steps: [{weight: 20, pause: 1h}, {weight: 60, pause: 1h}]
`
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServeFlags runs serve with f until the test ends (or stop is called) and waits for
// its metrics.
func startServeFlags(t testing.TB, f serveFlags) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, f, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	waitFor(t, "metrics served", func() bool { return metric(t, f.metricsAddr, "foresight_xds_config_reloads_total") })
	return stop
}

// TestServeCanaryAdmin drives a rollout of a running serve through the canary command: the
// admin listener refuses requests without the token, pause and abort take effect and show in
// the metrics, and the abort survives a restart.
func TestServeCanaryAdmin(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongToken := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrongToken, []byte("not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := serveFlags{policy: canaryPolicyFile(t), xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: time.Hour,
		experimentState: filepath.Join(dir, "exp.json"), stateDir: filepath.Join(dir, "state"), adminAddr: freeAddr(t), adminTokenFile: tokenFile}
	stop := startServeFlags(t, f)
	waitFor(t, "canary started", func() bool {
		return metric(t, f.metricsAddr, `foresight_canary_weight{canary="backend-rollout"} 20`)
	})
	admin := "--admin-url=http://" + f.adminAddr

	if code, _, errOut := runCmd("canary", "pause", "backend-rollout", admin); code != 2 || !strings.Contains(errOut, "--token-file") {
		t.Errorf("pause without a token file: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCmd("canary", "pause", "backend-rollout", admin, "--token-file", wrongToken); code != 1 || !strings.Contains(errOut, "401 Unauthorized") {
		t.Errorf("pause with the wrong token: exit %d, %s", code, errOut)
	}
	if code := httpStatus(t, "POST", "http://"+f.adminAddr+"/canaries/backend-rollout/abort"); code != 401 {
		t.Errorf("abort without a token: %d, want 401", code)
	}
	if code := httpStatus(t, "POST", "http://"+f.metricsAddr+"/canaries/backend-rollout/abort"); code != 404 {
		t.Errorf("abort on the metrics port: %d, want 404", code)
	}
	if !metric(t, f.metricsAddr, `foresight_canary_phase{canary="backend-rollout",phase="progressing"} 1`) {
		t.Fatal("refused requests changed the rollout")
	}
	if code, out, errOut := runCmd("canary", "pause", "backend-rollout", admin, "--token-file", tokenFile); code != 0 || !strings.Contains(out, `"phase": "paused"`) {
		t.Fatalf("pause: exit %d, %s%s", code, out, errOut)
	}
	if !metric(t, f.metricsAddr, `foresight_canary_phase{canary="backend-rollout",phase="paused"} 1`) {
		t.Error("paused phase not in the metrics")
	}
	if code, out, errOut := runCmd("canary", "abort", "backend-rollout", admin, "--token-file", tokenFile); code != 0 || !strings.Contains(out, `"weight": 0`) {
		t.Fatalf("abort: exit %d, %s%s", code, out, errOut)
	}
	if !metric(t, f.metricsAddr, `foresight_canary_weight{canary="backend-rollout"} 0`) ||
		!metric(t, f.metricsAddr, `foresight_canary_outcomes_total{canary="backend-rollout",outcome="aborted"} 1`) {
		t.Error("abort not in the metrics")
	}
	if code, _, errOut := runCmd("canary", "resume", "backend-rollout", admin, "--token-file", tokenFile); code != 1 || !strings.Contains(errOut, "409 Conflict") {
		t.Errorf("resume after abort: exit %d, %s", code, errOut)
	}

	// A restart on the same state directory remembers the abort.
	stop()
	f.metricsAddr, f.xdsAddress, f.adminAddr = freeAddr(t), freeAddr(t), freeAddr(t)
	startServeFlags(t, f)
	waitFor(t, "canary state after the restart", func() bool {
		return metric(t, f.metricsAddr, `foresight_canary_phase{canary="backend-rollout",phase="aborted"} 1`)
	})
	if !metric(t, f.metricsAddr, `foresight_canary_weight{canary="backend-rollout"} 0`) {
		t.Error("the aborted canary got weight again after a restart")
	}
	if code, out, errOut := runCmd("canary", "status", "backend-rollout", "--admin-url=http://"+f.adminAddr, "--token-file", tokenFile); code != 0 || !strings.Contains(out, "aborted by an operator") {
		t.Errorf("status: exit %d, %s%s", code, out, errOut)
	}
}

// The admin listener needs a token: one flag without the other is a usage error, an empty
// token file refuses to start.
func TestServeAdminNeedsToken(t *testing.T) {
	if code, _, errOut := runCmd("serve", "--policy", "p.yaml", "--admin-address", "127.0.0.1:0"); code != 2 || !strings.Contains(errOut, "--admin-token-file") {
		t.Errorf("admin address without a token: exit %d, %s", code, errOut)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := serveFlags{policy: canaryPolicyFile(t), xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: time.Hour,
		experimentState: filepath.Join(t.TempDir(), "exp.json"), stateDir: t.TempDir(), adminAddr: freeAddr(t), adminTokenFile: empty}
	err := serve(context.Background(), f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty token file: %v", err)
	}
}
