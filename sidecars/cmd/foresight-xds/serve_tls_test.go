package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/internal/tlsfiles"
	"github.com/foresight-dev/foresight/sidecars/translate"
	"github.com/foresight-dev/foresight/sidecars/xds"
)

// tlsSetup is a control plane's serving pair, the CA that signed it, and a client pair of
// the CA its --client-ca-file names, all written to files.
type tlsSetup struct {
	clientAuthority           *pki.CA
	serverCA, clientCA        string
	certFile, keyFile         string
	clientCert, clientKey     string
	strangerCert, strangerKey string
}

func newTLSSetup(t *testing.T) tlsSetup {
	t.Helper()
	dir := t.TempDir()
	var s tlsSetup
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	serverCA, err := pki.NewCA("xds-server-ca")
	must(err)
	clientCA, err := pki.NewCA("xds-client-ca")
	must(err)
	stranger, err := pki.NewCA("stranger-ca")
	must(err)
	srv, err := serverCA.Sign(pki.LeafOptions{CommonName: "foresight-xds", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	must(err)
	s.certFile, s.keyFile, err = srv.Write(dir, "server")
	must(err)
	cl, err := clientCA.Sign(pki.LeafOptions{CommonName: "shop-7f9c"})
	must(err)
	s.clientCert, s.clientKey, err = cl.Write(dir, "client")
	must(err)
	sl, err := stranger.Sign(pki.LeafOptions{CommonName: "shop-7f9c"})
	must(err)
	s.strangerCert, s.strangerKey, err = sl.Write(dir, "stranger")
	must(err)
	s.serverCA, err = serverCA.WriteCert(dir, "server-ca")
	must(err)
	s.clientCA, err = clientCA.WriteCert(dir, "client-ca")
	must(err)
	s.clientAuthority = clientCA
	return s
}

// client writes a client pair of the client CA with the SANs sans (dns:NAME a DNS name, else
// a URI) and returns the bootstrap flags that present it.
func (s tlsSetup) client(t *testing.T, name string, sans ...string) []string {
	t.Helper()
	cert, key := s.clientPair(t, name, sans...)
	return []string{"--xds-creds", "tls", "--xds-ca-file", s.serverCA, "--xds-cert-file", cert, "--xds-key-file", key}
}

// clientPair writes a client pair of the client CA with the SANs sans (dns:NAME a DNS name,
// else a URI) and returns its certificate and key files.
func (s tlsSetup) clientPair(t *testing.T, name string, sans ...string) (certFile, keyFile string) {
	t.Helper()
	var uris, dnsNames []string
	for _, san := range sans {
		if n, ok := strings.CutPrefix(san, "dns:"); ok {
			dnsNames = append(dnsNames, n)
		} else {
			uris = append(uris, san)
		}
	}
	l, err := s.clientAuthority.Sign(pki.LeafOptions{CommonName: name, URIs: uris, DNSNames: dnsNames})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err = l.Write(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestServeOverTLSServesOnlyClientsOfItsCA runs serve with TLS and a client CA bundle, and
// real grpc-go xDS clients configured by what `bootstrap --format grpc` prints: the client
// with a certificate of that CA gets its configuration and its call is routed by the policy;
// a plaintext client, a client without a certificate and one of another CA get nothing.
func TestServeOverTLSServesOnlyClientsOfItsCA(t *testing.T) {
	s := newTLSSetup(t)
	dir := t.TempDir()
	f := serveFlags{policy: greeterPolicy(t), xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: time.Hour,
		experimentState: filepath.Join(dir, "exp.json"), stateDir: filepath.Join(dir, "state"),
		tls: tlsfiles.Files{CertFile: s.certFile, KeyFile: s.keyFile, ClientCAFile: s.clientCA}}
	startServeFlags(t, f)

	bootstrap := func(extra ...string) string {
		t.Helper()
		args := append([]string{"bootstrap", "--format", "grpc", "--node", "shop-7f9c", "--service", "shop",
			"--metadata", "app=shop", "--xds-address", f.xdsAddress}, extra...)
		code, out, errOut := runCmd(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", extra, code, errOut)
		}
		return out
	}
	good := bootstrap("--xds-creds", "tls", "--xds-ca-file", s.serverCA, "--xds-cert-file", s.clientCert, "--xds-key-file", s.clientKey)
	if got, err := callGreeter(t, good, 10*time.Second); err != nil || got != "v2" {
		t.Fatalf("client of the CA: answered by %q, %v; want v2", got, err)
	}
	refused := map[string]string{
		"plaintext":              bootstrap(),
		"no client certificate":  bootstrap("--xds-creds", "tls", "--xds-ca-file", s.serverCA),
		"a stranger certificate": bootstrap("--xds-creds", "tls", "--xds-ca-file", s.serverCA, "--xds-cert-file", s.strangerCert, "--xds-key-file", s.strangerKey),
	}
	t.Run("refused", func(t *testing.T) {
		for name, b := range refused {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if got, err := callGreeter(t, b, 3*time.Second); err == nil {
					t.Errorf("answered by %q, want no configuration and so no call", got)
				}
			})
		}
	})
	if !metric(t, f.metricsAddr, `foresight_xds_connected_proxies{kind="grpc"} 1`) {
		t.Error("want exactly one proxyless gRPC client connected")
	}
	pair, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "foresight_xds_tls_certificate_expiry_timestamp_seconds " + strconv.FormatFloat(float64(pair.Leaf.NotAfter.Unix()), 'g', -1, 64); !metric(t, f.metricsAddr, want) {
		t.Errorf("metrics lack %q", want)
	}
}

// TestEnvoyBootstrapVerifiesTheControlPlane checks the Envoy bootstrap of a TLS channel: the
// control plane's cluster offers h2 over TLS, trusts only the given CA bundle, requires the
// certificate to name the address's host, and presents the client certificate.
func TestEnvoyBootstrapVerifiesTheControlPlane(t *testing.T) {
	for _, tc := range []struct {
		addr string
		san  tlsv3.SubjectAltNameMatcher_SanType
	}{{"foresight-xds.foresight.svc:18000", tlsv3.SubjectAltNameMatcher_DNS}, {"10.0.0.5:18000", tlsv3.SubjectAltNameMatcher_IP_ADDRESS}} {
		code, out, errOut := runCmd("bootstrap", "--format", "envoy-json", "--node", "gw-1", "--service", "edge", "--gateway",
			"--xds-address", tc.addr, "--xds-creds", "tls", "--xds-ca-file", "/etc/foresight/ca.crt",
			"--xds-cert-file", "/etc/foresight/tls.crt", "--xds-key-file", "/etc/foresight/tls.key")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.addr, code, errOut)
		}
		var b bootstrapv3.Bootstrap
		if err := protojson.Unmarshal([]byte(out), &b); err != nil {
			t.Fatal(err)
		}
		var ts *corev3.TransportSocket
		for _, c := range b.GetStaticResources().GetClusters() {
			if c.GetName() == xds.XDSClusterName {
				ts = c.GetTransportSocket()
			}
		}
		var up tlsv3.UpstreamTlsContext
		if ts.GetName() != translate.TLSTransportSocket || ts.GetTypedConfig().UnmarshalTo(&up) != nil {
			t.Fatalf("%s: control plane cluster's transport socket %v, want TLS", tc.addr, ts)
		}
		host, _, _ := net.SplitHostPort(tc.addr)
		common := up.GetCommonTlsContext()
		vc := common.GetValidationContext()
		sans := vc.GetMatchTypedSubjectAltNames()
		if vc.GetTrustedCa().GetFilename() != "/etc/foresight/ca.crt" || len(sans) != 1 || sans[0].GetSanType() != tc.san || sans[0].GetMatcher().GetExact() != host {
			t.Errorf("%s: validation %v, want the CA file and the host %s as %v", tc.addr, vc, host, tc.san)
		}
		if certs := common.GetTlsCertificates(); len(certs) != 1 || certs[0].GetCertificateChain().GetFilename() != "/etc/foresight/tls.crt" || certs[0].GetPrivateKey().GetFilename() != "/etc/foresight/tls.key" {
			t.Errorf("%s: client certificate %v", tc.addr, certs)
		}
		if !slices.Equal(common.GetAlpnProtocols(), []string{"h2"}) {
			t.Errorf("%s: ALPN %v, want h2", tc.addr, common.GetAlpnProtocols())
		}
		if wantSNI := map[bool]string{true: "", false: host}[net.ParseIP(host) != nil]; up.GetSni() != wantSNI {
			t.Errorf("%s: SNI %q, want %q", tc.addr, up.GetSni(), wantSNI)
		}
	}
}

// TestEnvoyBootstrapReadsRenewableSecrets checks --xds-secrets-file: the bootstrap's control
// plane cluster takes its CA bundle and client certificate from SDS secrets in that file
// (keeping the host check in the bootstrap), and the file, YAML or JSON by its name, holds
// the two secrets naming the files, valid for Envoy. A name Envoy cannot read and a channel
// without TLS are refused.
func TestEnvoyBootstrapReadsRenewableSecrets(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"xds-secrets.yaml", "xds-secrets.json"} {
		secretsFile := filepath.Join(dir, name)
		code, out, errOut := runCmd("bootstrap", "--format", "envoy-json", "--node", "web-1", "--service", "web",
			"--xds-address", "foresight-xds.foresight.svc:18000", "--xds-creds", "tls", "--xds-ca-file", "/etc/foresight/ca.crt",
			"--xds-cert-file", "/var/run/secrets/spiffe.io/tls.crt", "--xds-key-file", "/var/run/secrets/spiffe.io/tls.key",
			"--xds-secrets-file", secretsFile)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errOut)
		}
		var b bootstrapv3.Bootstrap
		if err := protojson.Unmarshal([]byte(out), &b); err != nil {
			t.Fatal(err)
		}
		var up tlsv3.UpstreamTlsContext
		for _, c := range b.GetStaticResources().GetClusters() {
			if c.GetName() == xds.XDSClusterName {
				if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(&up); err != nil {
					t.Fatal(err)
				}
			}
		}
		common := up.GetCommonTlsContext()
		combined := common.GetCombinedValidationContext()
		sans := combined.GetDefaultValidationContext().GetMatchTypedSubjectAltNames()
		sds := combined.GetValidationContextSdsSecretConfig()
		if len(sans) != 1 || sans[0].GetMatcher().GetExact() != "foresight-xds.foresight.svc" || combined.GetDefaultValidationContext().GetTrustedCa() != nil ||
			sds.GetName() != xds.XDSTrustedCASecret || sds.GetSdsConfig().GetPathConfigSource().GetPath() != secretsFile {
			t.Errorf("%s: validation %v, want the host checked here and the CA from the secret in the file", name, combined)
		}
		if certs := common.GetTlsCertificateSdsSecretConfigs(); len(certs) != 1 || certs[0].GetName() != xds.XDSClientCertificateSecret ||
			certs[0].GetSdsConfig().GetPathConfigSource().GetPath() != secretsFile || len(common.GetTlsCertificates()) != 0 {
			t.Errorf("%s: client certificate %v, want the secret in the file", name, certs)
		}

		data, err := os.ReadFile(secretsFile)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(name) == ".yaml" {
			if data, err = yaml.YAMLToJSON(data); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		var resp discoveryv3.DiscoveryResponse
		if err := protojson.Unmarshal(data, &resp); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, data)
		}
		if err := resp.ValidateAll(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string]*tlsv3.Secret{}
		for _, a := range resp.GetResources() {
			var sec tlsv3.Secret
			if err := a.UnmarshalTo(&sec); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := sec.ValidateAll(); err != nil {
				t.Fatalf("%s: secret %s: %v", name, sec.GetName(), err)
			}
			got[sec.GetName()] = &sec
		}
		ca, cert := got[xds.XDSTrustedCASecret], got[xds.XDSClientCertificateSecret]
		if len(got) != 2 || ca.GetValidationContext().GetTrustedCa().GetFilename() != "/etc/foresight/ca.crt" ||
			cert.GetTlsCertificate().GetCertificateChain().GetFilename() != "/var/run/secrets/spiffe.io/tls.crt" ||
			cert.GetTlsCertificate().GetPrivateKey().GetFilename() != "/var/run/secrets/spiffe.io/tls.key" {
			t.Errorf("%s: secrets %v", name, got)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--xds-creds", "tls", "--xds-ca-file", "ca.crt", "--xds-secrets-file", filepath.Join(dir, "secrets.txt")}, "must end in .json or .yaml"},
		{[]string{"--xds-secrets-file", filepath.Join(dir, "plain.yaml")}, "needs tls channel credentials"},
		{[]string{"--format", "grpc", "--xds-creds", "tls", "--xds-secrets-file", filepath.Join(dir, "g.yaml")}, "--xds-secrets-file is Envoy's"},
	} {
		code, _, errOut := runCmd(append([]string{"bootstrap", "--node", "web-1", "--service", "web"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want an error with %q", tc.args, code, errOut, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "plain.yaml")); err == nil {
		t.Error("a refused bootstrap wrote its secrets file")
	}
}

// TestServeRequiresNodeIdentity runs serve with --require-node-identity and real grpc-go xDS
// clients over mutual TLS: only the client whose certificate's SPIFFE ID the node group lists
// gets its configuration; one of another namespace and one without a SPIFFE ID are refused
// and counted. When a policy reload takes the identity off the group, the admitted client's
// stream ends at once and it is refused from then on.
func TestServeRequiresNodeIdentity(t *testing.T) {
	s := newTLSSetup(t)
	dir := t.TempDir()
	policyFile := greeterPolicy(t)
	doc, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	const group = "{name: shop-clients, kind: grpc, selector: {app: shop}, upstreams: [greeter]"
	withIdentity := func(pattern string) {
		t.Helper()
		out := strings.Replace(string(doc), group, group+`, identities: ["`+pattern+`"]`, 1)
		if out == string(doc) {
			t.Fatal("the greeter policy changed: no group to give identities")
		}
		if err := os.WriteFile(policyFile, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withIdentity("spiffe://foresight.test/ns/shop/sa/*")
	f := serveFlags{policy: policyFile, xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: 50 * time.Millisecond,
		experimentState: filepath.Join(dir, "exp.json"), stateDir: filepath.Join(dir, "state"), requireNodeIdentity: true,
		tls: tlsfiles.Files{CertFile: s.certFile, KeyFile: s.keyFile, ClientCAFile: s.clientCA}}
	startServeFlags(t, f)

	bootstrap := func(creds []string) string {
		t.Helper()
		args := append([]string{"bootstrap", "--format", "grpc", "--node", "shop-7f9c", "--service", "shop",
			"--metadata", "app=shop", "--xds-address", f.xdsAddress}, creds...)
		code, out, errOut := runCmd(args...)
		if code != 0 {
			t.Fatalf("bootstrap: exit %d: %s", code, errOut)
		}
		return out
	}
	admitted := bootstrap(s.client(t, "shop", "spiffe://foresight.test/ns/shop/sa/shop"))
	if got, err := callGreeter(t, admitted, 10*time.Second); err != nil || got != "v2" {
		t.Fatalf("client of the group's namespace: answered by %q, %v; want v2", got, err)
	}
	for name, creds := range map[string][]string{
		"another namespace": s.client(t, "other", "spiffe://foresight.test/ns/other/sa/shop"),
		"no SPIFFE ID":      s.client(t, "plain", "https://foresight.test/ns/shop/sa/shop"),
	} {
		if got, err := callGreeter(t, bootstrap(creds), 3*time.Second); err == nil {
			t.Errorf("%s: answered by %q, want no configuration and so no call", name, got)
		}
	}
	if n := counter(t, f.metricsAddr, `foresight_xds_streams_refused_total{reason="node_identity"}`); n < 2 {
		t.Errorf("node_identity refusals = %v, want at least 2", n)
	}
	if !metric(t, f.metricsAddr, `foresight_xds_connected_proxies{kind="grpc"} 1`) {
		t.Fatal("want exactly the admitted client connected")
	}

	withIdentity("spiffe://foresight.test/ns/ops/sa/*")
	waitFor(t, "the admitted client's stream ended", func() bool {
		return metric(t, f.metricsAddr, `foresight_xds_connected_proxies{kind="grpc"} 0`)
	})
	if got, err := callGreeter(t, admitted, 3*time.Second); err == nil {
		t.Errorf("after the reload a new client with the old identity was answered by %q", got)
	}

	// DNS names: a certificate without a SPIFFE ID is admitted by its DNS SAN.
	loaded := counter(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="success"}`)
	withIdentity("dns:*.shop.svc.cluster.local")
	waitFor(t, "the DNS identity loaded", func() bool {
		return counter(t, f.metricsAddr, `foresight_xds_config_reloads_total{result="success"}`) > loaded
	})
	if got, err := callGreeter(t, bootstrap(s.client(t, "web", "dns:web.shop.svc.cluster.local")), 10*time.Second); err != nil || got != "v2" {
		t.Errorf("client with the DNS name web.shop.svc.cluster.local: answered by %q, %v; want v2", got, err)
	}
	if got, err := callGreeter(t, bootstrap(s.client(t, "web", "dns:web.other.svc.cluster.local", "spiffe://foresight.test/ns/shop/sa/web")), 3*time.Second); err == nil {
		t.Errorf("client with the DNS name web.other.svc.cluster.local: answered by %q, want no configuration", got)
	}
}

// TestBootstrapPolicyChecksTheIdentity: bootstrap --policy fails when the node's group lists
// identities that the client certificate it presents does not name, as the control plane
// would refuse it, and passes for a certificate the group admits.
func TestBootstrapPolicyChecksTheIdentity(t *testing.T) {
	s := newTLSSetup(t)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	doc := `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: identities}
spec:
  services:
    - {name: greeter, port: 50051, protocol: grpc, endpoints: [{address: 127.0.0.1}]}
  nodeGroups:
    - {name: shop-clients, kind: grpc, selector: {app: shop}, identities: ["spiffe://foresight.test/ns/shop/sa/*"]}
`
	if err := os.WriteFile(policyFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(creds []string) (int, string) {
		args := append([]string{"bootstrap", "--format", "grpc", "--node", "n", "--service", "shop", "--metadata", "app=shop", "--policy", policyFile}, creds...)
		code, _, errOut := runCmd(args...)
		return code, errOut
	}
	if code, errOut := run(s.client(t, "shop", "spiffe://foresight.test/ns/shop/sa/web")); code != 0 {
		t.Errorf("admitted certificate: exit %d: %s", code, errOut)
	}
	if code, errOut := run(s.client(t, "other", "spiffe://foresight.test/ns/other/sa/web")); code == 0 ||
		!strings.Contains(errOut, `node group "shop-clients" admits none of the identities ["spiffe://foresight.test/ns/other/sa/web"]`) {
		t.Errorf("certificate of another namespace: exit %d: %s", code, errOut)
	}
	if code, errOut := run(nil); code != 0 {
		t.Errorf("no client certificate (nothing to check): exit %d: %s", code, errOut)
	}
	if code, errOut := run(s.client(t, "dns", "dns:web.shop.svc")); code == 0 ||
		!strings.Contains(errOut, `admits none of the identities ["dns:web.shop.svc"]`) {
		t.Errorf("certificate with a DNS name only: exit %d: %s", code, errOut)
	}
}
