package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcxds "google.golang.org/grpc/xds"

	"github.com/foresight-dev/foresight/internal/testharness/grpcbackend"
)

// namedHealth is a gRPC health server that names itself in a response header.
type namedHealth struct {
	healthpb.UnimplementedHealthServer
	name string
}

func (h namedHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	_ = grpc.SetHeader(ctx, metadata.Pairs("backend", h.name))
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func startNamedHealth(t *testing.T, name string) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, namedHealth{name: name})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().(*net.TCPAddr).Port
}

// greeterPolicy writes a policy routing the proxyless gRPC clients of app=shop from greeter
// to greeter-v2, two health servers answering with their names (v1, v2), and returns its path.
func greeterPolicy(t *testing.T) string {
	t.Helper()
	v1, v2 := startNamedHealth(t, "v1"), startNamedHealth(t, "v2")
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	doc := fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: grpc-bootstrap, namespace: test}
spec:
  services:
    - name: greeter
      port: 50051
      protocol: grpc
      endpoints: [{address: 127.0.0.1, port: %d}]
      routes:
        - name: to-v2
          backends: [{service: greeter-v2}]
    - name: greeter-v2
      port: 50051
      protocol: grpc
      endpoints: [{address: 127.0.0.1, port: %d}]
  nodeGroups:
    - {name: shop-clients, kind: grpc, selector: {app: shop}, upstreams: [greeter]}
`, v1, v2)
	if err := os.WriteFile(policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return policyFile
}

// TestGRPCBootstrapDrivesARealClient feeds exactly what `bootstrap --format grpc` prints to
// grpc-go's xDS resolver, against the control plane run by `serve`: the client is assigned to
// its node group by the metadata given on the command line and its call goes where the policy
// routes it. The Envoy bootstrap, fed to the same resolver, is refused.
func TestGRPCBootstrapDrivesARealClient(t *testing.T) {
	policyFile := greeterPolicy(t)
	f := startServe(t, policyFile, time.Hour)

	code, out, errOut := runCmd("bootstrap", "--format", "grpc", "--node", "shop-7f9c", "--service", "shop",
		"--metadata", "app=shop", "--xds-address", f.xdsAddress, "--policy", policyFile)
	if code != 0 {
		t.Fatalf("bootstrap --format grpc: exit %d: %s", code, errOut)
	}
	if got, err := callGreeter(t, out, 10*time.Second); err != nil || got != "v2" {
		t.Fatalf("call over xds:///greeter answered by %q, %v; want v2 (the policy routes greeter to greeter-v2)", got, err)
	}
	waitFor(t, "client counted as proxyless gRPC", func() bool {
		return metric(t, f.metricsAddr, `foresight_xds_connected_proxies{kind="grpc"} 1`)
	})

	code, envoyOut, errOut := runCmd("bootstrap", "--format", "envoy-json", "--node", "shop-7f9c", "--service", "shop", "--xds-address", f.xdsAddress)
	if code != 0 {
		t.Fatalf("bootstrap --format envoy-json: exit %d: %s", code, errOut)
	}
	if _, err := callGreeter(t, envoyOut, 10*time.Second); err == nil || !strings.Contains(err.Error(), "xds_servers") {
		t.Fatalf("grpc-go given an Envoy bootstrap: %v, want an error about xds_servers", err)
	}
}

// callGreeter makes one call to xds:///greeter with grpc-go's xDS resolver configured by
// bootstrap, waiting at most timeout for the client to be ready, and returns the name of the
// backend that answered. The client stays connected until the test ends.
func callGreeter(t *testing.T, bootstrap string, timeout time.Duration) (string, error) {
	conn, err := grpcbackend.XDSClient(t, []byte(bootstrap), "xds:///greeter")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var md metadata.MD
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md), grpc.WaitForReady(true)); err != nil {
		return "", err
	}
	if got := md.Get("backend"); len(got) == 1 {
		return got[0], nil
	}
	return "", fmt.Errorf("answer without one backend header: %v", md)
}

func TestGRPCBootstrapRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--format", "grpc", "--gateway"}, 2, "--gateway is an Envoy role"},
		{[]string{"--format", "envoy", "--xds-creds", "tls"}, 1, "needs its CA bundle (--xds-ca-file)"},
		{[]string{"--format", "envoy", "--xds-ca-file", "ca.pem"}, 1, "certificate files need tls channel credentials"},
		{[]string{"--format", "envoy-json", "--listener-name-template", "%s"}, 2, "--listener-name-template applies to --format grpc only"},
		{[]string{"--format", "grpc", "--xds-creds", "plaintext"}, 1, `channel credentials "plaintext"`},
		{[]string{"--format", "grpc", "--xds-creds", "tls", "--xds-cert-file", "c.pem"}, 1, "needs its key"},
		{[]string{"--format", "grpc", "--metadata", "novalue"}, 2, "want KEY=VALUE"},
		{[]string{"--format", "grpc", "--policy", "../../../deploy/policies/grpc.yaml"}, 1, "belongs to no node group"},
		{[]string{"--format", "envoy", "--metadata", "app.kubernetes.io/component=ratings-client", "--policy", "../../../deploy/policies/grpc.yaml"}, 1, "of kind grpc, not sidecar"},
		{[]string{"--format", "toml"}, 2, `unknown format "toml"`},
	} {
		args := append([]string{"bootstrap", "--node", "n-1", "--service", "shop"}, tc.args...)
		code, _, errOut := runCmd(args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	code, out, errOut := runCmd("bootstrap", "--format", "grpc", "--node", "n-1", "--service", "ratings-client",
		"--metadata", "app.kubernetes.io/component=ratings-client", "--policy", "../../../deploy/policies/grpc.yaml",
		"--xds-creds", "tls", "--xds-ca-file", "/etc/foresight/ca.pem", "--listener-name-template", "%s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"type": "tls"`, `"ca_certificate_file": "/etc/foresight/ca.pem"`, `"client_default_listener_resource_name_template": "%s"`, `"server_features": [`} {
		if !strings.Contains(out, want) {
			t.Errorf("grpc bootstrap lacks %s:\n%s", want, out)
		}
	}
	if _, err := grpcxds.NewXDSResolverWithConfigForTesting([]byte(out)); err != nil {
		t.Errorf("grpc-go refuses the tls bootstrap: %v", err)
	}
}
