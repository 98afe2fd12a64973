package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/sidecars/promquery"
)

// TestServeFlagsReachPrometheusAsTheAdapterDoes checks serve's Prometheus flags are the
// adapter's: the guards' and analyses' queries carry the bearer token of its file and the
// tenant header, and an answer over --prometheus-max-response-bytes fails.
func TestServeFlagsReachPrometheusAsTheAdapterDoes(t *testing.T) {
	var auth, tenant string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, tenant = r.Header.Get("Authorization"), r.Header.Get("X-Scope-OrgID")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0.01"]}]}}`)
	}))
	t.Cleanup(srv.Close)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--policy", "p.yaml", "--prometheus-url", srv.URL, "--prometheus-bearer-token-file", token, "--prometheus-header", "X-Scope-OrgID=team-a"}
	f, _, err := parseServeFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	q, err := promQuerier(f.prometheus)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := promquery.Instant(context.Background(), q, "error_ratio", time.Now()); err != nil || v.String() == "" {
		t.Fatalf("query: %v, %v", v, err)
	}
	if auth != "Bearer s3cret" || tenant != "team-a" {
		t.Errorf("Authorization %q, X-Scope-OrgID %q; want the token and the tenant", auth, tenant)
	}

	f, _, err = parseServeFlags(append(args, "--prometheus-max-response-bytes", "20"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if q, err = promQuerier(f.prometheus); err != nil {
		t.Fatal(err)
	}
	if _, _, err := promquery.Instant(context.Background(), q, "error_ratio", time.Now()); err == nil || !strings.Contains(err.Error(), "exceeded 20 bytes") {
		t.Errorf("answer over the limit: %v", err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert-file", "c.pem"}, "--tls-cert-file and --tls-private-key-file go together"},
		{[]string{"--client-ca-file", "ca.pem"}, "--client-ca-file needs --tls-cert-file"},
		{[]string{"--tls-cert-file", "c.pem", "--tls-private-key-file", "k.pem", "--require-node-identity"}, "--require-node-identity needs --client-ca-file"},
		{[]string{"--gateway-controller-name", "foresight.dev/xds", "--gateway-service-account", "{gateway}-proxy"}, "--gateway-service-account needs --gateway-controller-name and --require-node-identity"},
		{[]string{"--tls-cert-file", "c.pem", "--tls-private-key-file", "k.pem", "--client-ca-file", "ca.pem", "--require-node-identity", "--gateway-service-account", "{gateway}-proxy"},
			"--gateway-service-account needs --gateway-controller-name and --require-node-identity"},
		{[]string{"--tls-cert-file", "c.pem", "--tls-private-key-file", "k.pem", "--client-ca-file", "ca.pem", "--require-node-identity", "--gateway-controller-name", "foresight.dev/xds",
			"--gateway-service-account", "{gateway}_proxy"}, `--gateway-service-account: ServiceAccount template "{gateway}_proxy": "a_proxy" is not a valid ServiceAccount name`},
		{[]string{"--prometheus-header", "novalue"}, "prometheus-header"},
		{[]string{"--state-configmap", "foresight-xds-state"}, "--state-configmap: \"foresight-xds-state\": want NAMESPACE/NAME"},
		{[]string{"--state-configmap", "foresight/a/b"}, "want NAMESPACE/NAME"},
		{[]string{"--leader-elect-lease", "foresight-xds"}, "--leader-elect-lease: \"foresight-xds\": want NAMESPACE/NAME"},
		{[]string{"--leader-elect-lease", "foresight/foresight-xds"}, "--leader-elect-lease needs --state-configmap"},
		{[]string{"--leader-elect-lease", "ns/l", "--state-configmap", "ns/s", "--leader-elect-renew-deadline", "20s"}, "the lease duration (15s) must be longer than the renew deadline (20s)"},
		{[]string{"--leader-elect-lease", "ns/l", "--state-configmap", "ns/s", "--leader-elect-retry-period", "0s"}, "the retry period (0s) must be positive"},
		// client-go jitters the retry period by up to 1.2: a deadline of 1.1 periods is refused at parse, not at the first election.
		{[]string{"--leader-elect-lease", "ns/l", "--state-configmap", "ns/s", "--leader-elect-renew-deadline", "2.2s"}, "the renew deadline (2.2s) must be longer than 1.2 times the retry period (2s)"},
	} {
		if _, _, err := parseServeFlags(append([]string{"--policy", "p.yaml"}, tc.args...), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	f, _, err = parseServeFlags([]string{"--policy", "p.yaml", "--tls-cert-file", "c.pem", "--tls-private-key-file", "k.pem", "--client-ca-file", "ca.pem",
		"--require-node-identity", "--gateway-controller-name", "foresight.dev/xds", "--gateway-service-account", "{gateway}-proxy"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if sa, err := f.gatewayServiceAccount.Name("edge"); err != nil || sa != "edge-proxy" {
		t.Errorf("--gateway-service-account {gateway}-proxy names %q, %v for Gateway edge; want edge-proxy", sa, err)
	}
}
