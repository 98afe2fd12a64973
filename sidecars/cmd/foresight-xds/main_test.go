package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	envoy_config_bootstrap_v3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheck(t *testing.T) {
	code, out, _ := runCmd("check", "../../../deploy/xds/base/policy.yaml", "--experiments", "../../../deploy/xds/base/experiments.yaml")
	if code != 0 || !strings.Contains(out, "OK (2 node groups)") {
		t.Fatalf("check of the deployed policy: exit %d, %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: x}\nspec:\n  services:\n    - name: a\n      port: 80\n      colour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd("check", bad)
	if code != 1 || !strings.Contains(errOut, "bad.yaml:8: spec.services[0].colour: unknown field") {
		t.Fatalf("check of a bad policy: exit %d, %q", code, errOut)
	}
	if code, _, _ := runCmd("check"); code != 2 {
		t.Fatalf("check without a file: exit %d, want 2", code)
	}
}

func TestBootstrapCommand(t *testing.T) {
	for _, format := range []string{"yaml", "json"} {
		code, out, errOut := runCmd("bootstrap", "--node", "gw-1", "--service", "gateway", "--gateway", "--xds-address", "10.0.0.5:18000", "--format", format)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		js := []byte(out)
		if format == "yaml" {
			var err error
			if js, err = yaml.YAMLToJSON(js); err != nil {
				t.Fatal(err)
			}
		}
		var b envoy_config_bootstrap_v3.Bootstrap
		if err := protojson.Unmarshal(js, &b); err != nil {
			t.Fatalf("%s output is not a bootstrap: %v", format, err)
		}
		if err := b.ValidateAll(); err != nil {
			t.Fatal(err)
		}
		if b.GetNode().GetId() != "gw-1" || b.GetStaticResources().GetClusters()[0].GetType().String() != "STATIC" {
			t.Fatalf("bootstrap node %v, xds cluster type %v", b.GetNode(), b.GetStaticResources().GetClusters()[0].GetType())
		}
	}
	if code, _, _ := runCmd("bootstrap", "--node", "x"); code != 2 {
		t.Fatalf("bootstrap without --service: exit %d, want 2", code)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func metric(t *testing.T, addr, series string) bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), series)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeReloadsPolicy runs the serve command in-process: a proxy gets its clusters, an
// invalid edit of the policy file is refused and counted while the last good configuration
// keeps serving, and a valid edit reaches the proxy.
func TestServeReloadsPolicy(t *testing.T) {
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	src, err := os.ReadFile("../../translate/testdata/weighted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	f := serveFlags{policy: policyFile, xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: 20 * time.Millisecond,
		experimentState: filepath.Join(dir, "state.json")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, f, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	waitFor(t, "metrics served", func() bool { return metric(t, f.metricsAddr, "foresight_xds_config_reloads_total") })

	conn, err := xdstest.Dial(f.xdsAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := xdstest.Open(ctx, conn, xdstest.Node("web-0", "web", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyFile, append(src, []byte("  bogus: true\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "refused reload counted", func() bool {
		return metric(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="failure"} 1`)
	})
	if got, err := s.Recv(200 * time.Millisecond); err == nil {
		t.Fatalf("an invalid policy reached the proxy: %v", got)
	}
	edited := strings.Replace(string(src), "{address: 10.0.2.1, zone: zone-b}", "{address: 10.0.2.1, zone: zone-b}, {address: 10.0.2.9}", 1)
	if edited == string(src) {
		t.Fatal("test edit did not apply")
	}
	if err := os.WriteFile(policyFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "valid reload counted", func() bool {
		return metric(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="success"} 2`)
	})
	if !metric(t, f.metricsAddr, `foresight_xds_connected_proxies{kind="sidecar"} 1`) {
		t.Error("connected proxies not reported")
	}
}

func TestVersionCommand(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		code, out, errOut := runCmd(arg)
		if code != 0 || !strings.HasPrefix(out, "foresight-xds devel") || !strings.Contains(out, "\ngo: go1.") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, out, errOut)
		}
	}
	if code, _, errOut := runCmd("version", "extra"); code != 2 || !strings.Contains(errOut, "version takes no arguments") {
		t.Errorf("version extra: exit %d, stderr %q", code, errOut)
	}
}
