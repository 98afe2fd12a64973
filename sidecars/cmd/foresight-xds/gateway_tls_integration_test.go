//go:build integration

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/translate"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// TestServeGatewayAPIHTTPS runs serve with --gateway-controller-name as a service account
// with only the shipped ClusterRole, against a real kube-apiserver: an HTTPS listener whose
// Secret is missing, is not of type kubernetes.io/tls, then holds a key that is not the
// certificate's, says
// ResolvedRefs=False (InvalidCertificateRef) and is not programmed; once the Secret is
// valid the listener is programmed and the Gateway's Envoy listener terminates TLS with it.
// Then the Secret turns invalid twice (a key of another certificate, a tls.crt that is not
// PEM): the listener says so (InvalidCertificateRef, naming the Secret and the error), stays
// programmed, and a real TLS handshake with what is served still shows the last valid
// certificate; a renewed certificate is served at once; deleting the Secret takes the
// listener out of service.
func TestServeGatewayAPIHTTPS(t *testing.T) {
	ctx := context.Background()
	sh := startGatewayCluster(t, "shop")
	c, gw := sh.c, sh.gw
	sh.createWebService(t)
	sh.createClass(t)
	gateway := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{{Name: "https", Port: 8443, Protocol: gwv1.HTTPSProtocolType,
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "edge-cert"}}}}}}}
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, gateway, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	route := sh.createWebRoute(t)

	f := gatewayServeFlags(t, c, t.TempDir())
	startServeFlags(t, f)

	// listener checks the https listener's conditions; msg, when set, must be in ResolvedRefs.
	listener := func(resolved metav1.ConditionStatus, reason, msg string, programmed metav1.ConditionStatus) func() error {
		return func() error {
			gen, l, err := edgeListener(ctx, gw)
			if err != nil {
				return err
			}
			cs := l.Conditions
			if err := wantCondition(cs, "ResolvedRefs", resolved, reason, gen); err != nil {
				return err
			}
			if c := meta.FindStatusCondition(cs, "ResolvedRefs"); !strings.Contains(c.Message, msg) {
				return fmt.Errorf("ResolvedRefs message %q does not say %q", c.Message, msg)
			}
			if c := meta.FindStatusCondition(cs, "Programmed"); c == nil || c.Status != programmed {
				return fmt.Errorf("Programmed = %+v, want %s", c, programmed)
			}
			return nil
		}
	}
	eventuallyWithin(t, 60*time.Second, "missing Secret: InvalidCertificateRef", listener(metav1.ConditionFalse, "InvalidCertificateRef", "not found", metav1.ConditionFalse))

	ca, err := pki.NewCA("edge-ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(pki.LeafOptions{CommonName: "web.shop", DNSNames: []string{"web.shop"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	// A key of another certificate: any CA will do.
	_, otherKey := pki.ServerPair(t, "web.shop")
	// A valid pair in a Secret of another type is not even cached (the watch asks for
	// kubernetes.io/tls Secrets only): the reference stays unresolved.
	opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge-cert"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{corev1.TLSCertKey: cert.CertPEM, corev1.TLSPrivateKeyKey: cert.KeyPEM}}
	if _, err := c.Admin.CoreV1().Secrets("shop").Create(ctx, opaque, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The route changes after the Secret, so a translation that read the Secret would have run.
	if err := gw.GatewayV1().HTTPRoutes("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "route deleted: no attached routes", func() error {
		got, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.Status.Listeners) != 1 || got.Status.Listeners[0].AttachedRoutes != 0 {
			return fmt.Errorf("listeners %+v", got.Status.Listeners)
		}
		return nil
	})
	if err := listener(metav1.ConditionFalse, "InvalidCertificateRef", "not found", metav1.ConditionFalse)(); err != nil {
		t.Fatalf("an Opaque Secret was used: %v", err)
	}
	if err := c.Admin.CoreV1().Secrets("shop").Delete(ctx, "edge-cert", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	route.ResourceVersion = ""
	if _, err := gw.GatewayV1().HTTPRoutes("shop").Create(ctx, route, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	secret := sh.createTLSSecret(t, "edge-cert", cert.CertPEM, otherKey)
	eventuallyWithin(t, 30*time.Second, "key of another certificate: InvalidCertificateRef", listener(metav1.ConditionFalse, "InvalidCertificateRef", "does not match", metav1.ConditionFalse))

	secret.Data[corev1.TLSPrivateKeyKey] = cert.KeyPEM
	if _, err := c.Admin.CoreV1().Secrets("shop").Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "valid Secret: programmed", listener(metav1.ConditionTrue, "ResolvedRefs", "", metav1.ConditionTrue))

	// The Gateway's Envoy proxy gets a listener on 8443 that terminates TLS with the Secret.
	_, r := edgeListeners(ctx, t, f.xdsAddress)
	if len(r.GetResources()) != 1 {
		t.Fatalf("%d listeners, want 1", len(r.GetResources()))
	}
	l := &envoy_config_listener_v3.Listener{}
	if err := r.GetResources()[0].UnmarshalTo(l); err != nil {
		t.Fatal(err)
	}
	if p := l.GetAddress().GetSocketAddress().GetPortValue(); p != 8443 {
		t.Errorf("listener port %d, want 8443", p)
	}
	ts := l.GetFilterChains()[0].GetTransportSocket()
	if ts.GetName() != translate.TLSTransportSocket {
		t.Fatalf("transport socket %v, want TLS", ts)
	}
	dt := &envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(dt); err != nil {
		t.Fatal(err)
	}
	certs := dt.GetCommonTlsContext().GetTlsCertificates()
	if len(certs) != 1 || !bytes.Equal(certs[0].GetCertificateChain().GetInlineBytes(), cert.CertPEM) || !bytes.Equal(certs[0].GetPrivateKey().GetInlineBytes(), cert.KeyPEM) {
		t.Errorf("the listener's certificates are not the Secret's: %v", certs)
	}
	// handshakes completes a TLS handshake for web.shop with what the Gateway's proxies are
	// served now, by a client that trusts the CA, and wants the leaf it is shown to be want.
	handshakes := func(what string, want *pki.Leaf) {
		t.Helper()
		got, err := handshakeWithServed(ctx, f.xdsAddress, ca)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(got.Raw, derOf(t, want.CertPEM)) {
			t.Fatalf("%s: the handshake showed %s (serial %s), not the expected certificate", what, got.Subject, got.SerialNumber)
		}
	}
	handshakes("valid Secret", cert)

	// The Secret turns invalid: first a key of another certificate, then a tls.crt that is
	// not PEM. The listener keeps serving the last valid certificate, stays programmed and
	// says why in ResolvedRefs. The status is written after the configuration is applied, so
	// once it shows, the handshake uses what is served after the update.
	for _, bad := range []struct {
		what     string
		crt, key []byte
		msg      string
	}{
		{"key of another certificate", cert.CertPEM, otherKey, "private key does not match public key"},
		{"tls.crt not PEM", []byte("not a certificate"), cert.KeyPEM, "failed to find any PEM data"},
	} {
		secret.Data = map[string][]byte{corev1.TLSCertKey: bad.crt, corev1.TLSPrivateKeyKey: bad.key}
		if _, err := c.Admin.CoreV1().Secrets("shop").Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventuallyWithin(t, 30*time.Second, bad.what+": last valid certificate kept", listener(metav1.ConditionFalse, "InvalidCertificateRef", bad.msg, metav1.ConditionTrue))
		if err := listener(metav1.ConditionFalse, "InvalidCertificateRef", "its last valid certificate keeps being served", metav1.ConditionTrue)(); err != nil {
			t.Fatal(err)
		}
		handshakes(bad.what, cert)
	}

	// A renewed certificate fixes the Secret: it is served at once.
	renewed, err := ca.Sign(pki.LeafOptions{CommonName: "web.shop", DNSNames: []string{"web.shop"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	secret.Data = map[string][]byte{corev1.TLSCertKey: renewed.CertPEM, corev1.TLSPrivateKeyKey: renewed.KeyPEM}
	if _, err := c.Admin.CoreV1().Secrets("shop").Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "renewed Secret: resolved", listener(metav1.ConditionTrue, "ResolvedRefs", "", metav1.ConditionTrue))
	handshakes("renewed Secret", renewed)

	// Deleting the Secret is the operator's explicit act: the listener stops being served.
	if err := c.Admin.CoreV1().Secrets("shop").Delete(ctx, "edge-cert", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "deleted Secret: not programmed", listener(metav1.ConditionFalse, "InvalidCertificateRef", "not found", metav1.ConditionFalse))
	if got, err := handshakeWithServed(ctx, f.xdsAddress, ca); !errors.Is(err, errNothingServed) {
		t.Fatalf("deleted Secret: a proxy of the Gateway is still served a certificate (%v, %v)", got, err)
	}
}

// errNothingServed: the Gateway's proxies are served no listener.
var errNothingServed = errors.New("no listener is served to the Gateway's proxies")

// servedTLS asks the control plane, as a new Envoy proxy of the Gateway shop/edge, for its
// listeners, and returns the TLS context of the first; errNothingServed when the proxy gets
// no listener.
func servedTLS(ctx context.Context, xdsAddr string) (*envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext, error) {
	conn, err := xdstest.Dial(xdsAddr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	l, err := edgeProxyListener(ctx, conn)
	if err != nil {
		return nil, err
	}
	dt := &envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext{}
	if err := l.GetFilterChains()[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(dt); err != nil {
		return nil, fmt.Errorf("listener %s: no TLS context: %w", l.GetName(), err)
	}
	return dt, nil
}

// edgeProxyListener asks the control plane on conn, as a new Envoy proxy of the Gateway
// shop/edge, for its listeners, and returns the first; errNothingServed when the proxy gets
// none or is refused (PERMISSION_DENIED: it belongs to no node group, or its certificate
// names no identity its group admits).
func edgeProxyListener(ctx context.Context, conn *grpc.ClientConn) (*envoy_config_listener_v3.Listener, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := openEdgeProxy(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := s.Subscribe(resourcev3.ListenerType); err != nil {
		return nil, err
	}
	r, err := s.Recv(30 * time.Second)
	switch {
	case status.Code(err) == codes.PermissionDenied:
		return nil, fmt.Errorf("%w: %w", errNothingServed, err)
	case err != nil:
		return nil, err
	case len(r.GetResources()) == 0:
		return nil, errNothingServed
	}
	l := &envoy_config_listener_v3.Listener{}
	if err := r.GetResources()[0].UnmarshalTo(l); err != nil {
		return nil, err
	}
	return l, nil
}

// handshakeWithServed takes the certificate and key the HTTPS listener served to a new Envoy
// proxy of the Gateway shop/edge terminates TLS with (servedTLS), and completes a real TLS
// handshake with them: a server on loopback presenting that pair, a client that trusts only
// ca and asks for web.shop. It returns the leaf the client verified, or errNothingServed
// when the proxy gets no listener.
func handshakeWithServed(ctx context.Context, xdsAddr string, ca *pki.CA) (*x509.Certificate, error) {
	dt, err := servedTLS(ctx, xdsAddr)
	if err != nil {
		return nil, err
	}
	certs := dt.GetCommonTlsContext().GetTlsCertificates()
	if len(certs) != 1 {
		return nil, fmt.Errorf("%d certificates, want 1", len(certs))
	}
	pair, err := tls.X509KeyPair(certs[0].GetCertificateChain().GetInlineBytes(), certs[0].GetPrivateKey().GetInlineBytes())
	if err != nil {
		return nil, fmt.Errorf("the served certificate and key are not a pair: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	state, err := loopbackHandshake(ctx, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: roots, ServerName: "web.shop", MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, fmt.Errorf("TLS handshake with the served certificate: %w", err)
	}
	return state.PeerCertificates[0], nil
}

// loopbackHandshake runs a TLS server on loopback with server, which answers one connection
// once its handshake completes, and connects to it with client: it returns the client's
// connection state, or the handshake's error as the client sees it by its first read (a
// client certificate the server refuses shows there under TLS 1.3).
func loopbackHandshake(ctx context.Context, server, client *tls.Config) (tls.ConnectionState, error) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if c.(*tls.Conn).HandshakeContext(ctx) == nil {
			_, _ = c.Write([]byte("ok"))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := (&tls.Dialer{Config: client}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.(*tls.Conn).ConnectionState(), nil
}

// derOf is the DER of the one PEM certificate in p.
func derOf(t *testing.T, p []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatalf("no PEM block in %q", p)
	}
	return b.Bytes
}
