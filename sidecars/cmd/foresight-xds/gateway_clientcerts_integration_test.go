//go:build integration

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
)

// TestServeGatewayAPIClientCertificates runs serve with --gateway-controller-name as a
// service account with only the shipped ClusterRole, against a real kube-apiserver: a
// Gateway whose HTTPS listener must validate client certificates against a ConfigMap's
// ca.crt is not served while the ConfigMap is missing (NoValidCACertificate), and once it
// exists its listener requires client certificates of that CA. A TLS server configured with
// exactly what the Gateway's proxies are served lets a client of that CA in and refuses a
// client without a certificate.
func TestServeGatewayAPIClientCertificates(t *testing.T) {
	ctx := context.Background()
	sh := startGatewayCluster(t, "shop")
	c, gw := sh.c, sh.gw
	sh.createWebService(t)
	sh.createClass(t)
	serverCA, err := pki.NewCA("edge-ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := serverCA.Sign(pki.LeafOptions{CommonName: "web.shop", DNSNames: []string{"web.shop"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	sh.createTLSSecret(t, "edge-cert", cert.CertPEM, cert.KeyPEM)
	gateway := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		TLS: &gwv1.GatewayTLSConfig{Frontend: &gwv1.FrontendTLSConfig{Default: gwv1.TLSConfig{Validation: &gwv1.FrontendTLSValidation{
			CACertificateRefs: []gwv1.ObjectReference{{Kind: "ConfigMap", Name: "clients-ca"}}}}}},
		Listeners: []gwv1.Listener{{Name: "https", Port: 8443, Protocol: gwv1.HTTPSProtocolType,
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "edge-cert"}}}}}}}
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, gateway, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sh.createWebRoute(t)
	f := gatewayServeFlags(t, c, t.TempDir())
	startServeFlags(t, f)

	listener := func(typ string, status metav1.ConditionStatus, reason string) func() error {
		return func() error {
			gen, l, err := edgeListener(ctx, gw)
			if err != nil {
				return err
			}
			return wantCondition(l.Conditions, typ, status, reason, gen)
		}
	}
	eventuallyWithin(t, 60*time.Second, "ConfigMap missing: not accepted", listener("Accepted", metav1.ConditionFalse, "NoValidCACertificate"))

	clientsCA, err := pki.NewCA("clients")
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "clients-ca"}, Data: map[string]string{"ca.crt": string(clientsCA.CertPEM)}}
	if _, err := c.Admin.CoreV1().ConfigMaps("shop").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "ConfigMap created: programmed", listener("Programmed", metav1.ConditionTrue, "Programmed"))

	dt, err := servedTLS(ctx, f.xdsAddress)
	if err != nil {
		t.Fatal(err)
	}
	vc := dt.GetCommonTlsContext().GetValidationContext()
	if !dt.GetRequireClientCertificate().GetValue() || !bytes.Equal(vc.GetTrustedCa().GetInlineBytes(), clientsCA.CertPEM) {
		t.Fatalf("served TLS context: require client certificate %v, trusted CA %q", dt.GetRequireClientCertificate(), vc.GetTrustedCa().GetInlineBytes())
	}
	client, err := clientsCA.Sign(pki.LeafOptions{CommonName: "shop-frontend"})
	if err != nil {
		t.Fatal(err)
	}
	clientPair, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshakeRequiringClients(dt, serverCA, &clientPair); err != nil {
		t.Errorf("client of the ConfigMap's CA: %v", err)
	}
	if err := handshakeRequiringClients(dt, serverCA, nil); err == nil {
		t.Error("a client without a certificate was let in")
	}
}

// handshakeRequiringClients runs a TLS server on loopback with the certificate, the trusted
// CAs and the client certificate requirement of the served context dt, and connects to it
// as a client that trusts serverCA and presents clientCert (none when nil). The error is the
// handshake's, as the client sees it on its first read.
func handshakeRequiringClients(dt *envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext, serverCA *pki.CA, clientCert *tls.Certificate) error {
	common := dt.GetCommonTlsContext()
	pair, err := tls.X509KeyPair(common.GetTlsCertificates()[0].GetCertificateChain().GetInlineBytes(), common.GetTlsCertificates()[0].GetPrivateKey().GetInlineBytes())
	if err != nil {
		return err
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(common.GetValidationContext().GetTrustedCa().GetInlineBytes()) {
		return fmt.Errorf("no CA certificate in the served trusted CA")
	}
	auth := tls.VerifyClientCertIfGiven
	if dt.GetRequireClientCertificate().GetValue() {
		auth = tls.RequireAndVerifyClientCert
	}
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	cfg := &tls.Config{RootCAs: roots, ServerName: "web.shop", MinVersion: tls.VersionTLS12}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	_, err = loopbackHandshake(context.Background(), &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: clientCAs, ClientAuth: auth, MinVersion: tls.VersionTLS12}, cfg)
	return err
}
