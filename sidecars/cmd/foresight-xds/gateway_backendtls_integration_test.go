//go:build integration

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// TestServeGatewayAPIBackendTLS runs serve with --gateway-controller-name as a service
// account with only the shipped ClusterRole, against a real kube-apiserver with the Gateway
// API's BackendTLSPolicy CRD: a BackendTLSPolicy on the Service a route of the Gateway
// shop/edge sends to is Accepted with its references resolved, and the Gateway's Envoy
// proxies get the Service's cluster with TLS that sends the policy's hostname and trusts the
// ConfigMap's CA. A TLS client configured with exactly that completes a real handshake with
// a backend whose certificate that CA signed for the hostname, and refuses one of another
// CA. Once the ConfigMap is deleted the policy says NoValidCACertificate and the cluster's
// TLS accepts no server, so requests fail rather than go out in plaintext.
func TestServeGatewayAPIBackendTLS(t *testing.T) {
	ctx := context.Background()
	sh := startShop(t)
	installGatewayCRDs(t, sh.c, nil, "backendtlspolicies")
	sh.createWebService(t)
	sh.createWebRoute(t)
	ca, err := pki.NewCA("web-ca")
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-ca"}, Data: map[string]string{gatewayapi.CACertificateKey: string(ca.CertPEM)}}
	if _, err := sh.c.Admin.CoreV1().ConfigMaps("shop").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := &gwv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-tls"}, Spec: gwv1.BackendTLSPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwv1.LocalPolicyTargetReference{Kind: "Service", Name: "web"}}},
		Validation: gwv1.BackendTLSPolicyValidation{Hostname: "web.shop.svc", CACertificateRefs: []gwv1.LocalObjectReference{{Kind: "ConfigMap", Name: "web-ca"}}}}}
	if _, err := sh.gw.GatewayV1().BackendTLSPolicies("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	f := gatewayServeFlags(t, sh.c, t.TempDir())
	startServeFlags(t, f)

	condition := func(typ string, status metav1.ConditionStatus, reason string) func() error {
		return func() error {
			got, err := sh.gw.GatewayV1().BackendTLSPolicies("shop").Get(ctx, "web-tls", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(got.Status.Ancestors) != 1 || got.Status.Ancestors[0].AncestorRef.Name != "edge" {
				return fmt.Errorf("ancestors %+v, want the Gateway edge", got.Status.Ancestors)
			}
			c := meta.FindStatusCondition(got.Status.Ancestors[0].Conditions, typ)
			if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != got.Generation {
				return fmt.Errorf("%s = %+v, want %s %s", typ, c, status, reason)
			}
			return nil
		}
	}
	eventuallyWithin(t, 60*time.Second, "the policy accepted", condition("Accepted", metav1.ConditionTrue, "Accepted"))
	eventuallyWithin(t, 10*time.Second, "its references resolved", condition("ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs"))
	if err := supportsFeatures(ctx, sh.gw, true); err != nil {
		t.Error(err)
	}

	var served *envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext
	eventuallyWithin(t, 30*time.Second, "the web cluster served with TLS", func() error {
		served, err = webClusterTLS(ctx, f.xdsAddress)
		return err
	})
	vc := served.GetCommonTlsContext().GetValidationContext()
	if served.GetSni() != "web.shop.svc" || !bytes.Equal(vc.GetTrustedCa().GetInlineBytes(), ca.CertPEM) {
		t.Fatalf("served TLS: SNI %q, trusted CA %v; want web.shop.svc and the ConfigMap's CA", served.GetSni(), vc.GetTrustedCa())
	}
	if err := handshakeWithBackend(ctx, served, ca); err != nil {
		t.Errorf("backend of the policy's CA: %v", err)
	}
	other, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshakeWithBackend(ctx, served, other); err == nil {
		t.Error("a backend of another CA passed the served validation")
	}

	if err := sh.c.Admin.CoreV1().ConfigMaps("shop").Delete(ctx, "web-ca", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "the policy without a valid CA", condition("Accepted", metav1.ConditionFalse, "NoValidCACertificate"))
	eventuallyWithin(t, 30*time.Second, "the web cluster served with TLS no server passes", func() error {
		got, err := webClusterTLS(ctx, f.xdsAddress)
		if err != nil {
			return err
		}
		if sans := got.GetCommonTlsContext().GetValidationContext().GetMatchTypedSubjectAltNames(); len(sans) != 1 || !strings.HasSuffix(sans[0].GetMatcher().GetExact(), ".invalid") {
			return fmt.Errorf("served TLS %v, want one subject alternative name under .invalid", got)
		}
		return nil
	})
}

// webClusterTLS asks the control plane, as a new Envoy proxy of the Gateway shop/edge, for
// its clusters and returns the TLS of the Service web's.
func webClusterTLS(ctx context.Context, xdsAddr string) (*envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext, error) {
	conn, err := xdstest.Dial(xdsAddr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := openEdgeProxy(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		return nil, err
	}
	r, err := s.Recv(30 * time.Second)
	if err != nil {
		return nil, err
	}
	want := gatewayapi.ServiceName("shop", "web", 80)
	for _, a := range r.GetResources() {
		c := &envoy_config_cluster_v3.Cluster{}
		if err := a.UnmarshalTo(c); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(c.GetName(), want) {
			continue
		}
		ut := &envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext{}
		if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(ut); err != nil {
			return nil, fmt.Errorf("cluster %s: no upstream TLS: %w", c.GetName(), err)
		}
		return ut, nil
	}
	return nil, fmt.Errorf("no cluster %s among %d", want, len(r.GetResources()))
}

// handshakeWithBackend completes a real TLS handshake, as a client that trusts only the
// served CA and verifies the served SNI, with a backend on loopback whose certificate
// signer issued for web.shop.svc.
func handshakeWithBackend(ctx context.Context, served *envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext, signer *pki.CA) error {
	leaf, err := signer.Sign(pki.LeafOptions{CommonName: "web", DNSNames: []string{"web.shop.svc"}, Server: true})
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(served.GetCommonTlsContext().GetValidationContext().GetTrustedCa().GetInlineBytes()) {
		return fmt.Errorf("the served trusted CA holds no PEM certificate")
	}
	_, err = loopbackHandshake(ctx, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: roots, ServerName: served.GetSni(), MinVersion: tls.VersionTLS12})
	return err
}
