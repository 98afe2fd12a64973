//go:build integration

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/tlsfiles"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// TestServeGatewayAPIBindsProxiesToTheirServiceAccount runs serve with
// --gateway-controller-name, mutual TLS, --require-node-identity and
// --gateway-service-account {gateway}-proxy against a real kube-apiserver, and asks for the
// listeners of the Gateway shop/edge as Envoy proxies over mutual TLS: the proxy whose
// certificate names the ServiceAccount edge-proxy of shop gets the Gateway's listener; one of
// another ServiceAccount of shop, and one of edge-proxy in another namespace, are refused and
// counted (node_identity).
func TestServeGatewayAPIBindsProxiesToTheirServiceAccount(t *testing.T) {
	ctx := context.Background()
	sh := startGatewayCluster(t, "shop")
	sh.createWebService(t)
	sh.createClass(t)
	gateway := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}}}
	if _, err := sh.gw.GatewayV1().Gateways("shop").Create(ctx, gateway, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sh.createWebRoute(t)

	s := newTLSSetup(t)
	template, err := gatewayapi.ParseServiceAccountTemplate("{gateway}-proxy")
	if err != nil {
		t.Fatal(err)
	}
	f := gatewayServeFlags(t, sh.c, t.TempDir())
	f.tls = tlsfiles.Files{CertFile: s.certFile, KeyFile: s.keyFile, ClientCAFile: s.clientCA}
	f.requireNodeIdentity, f.gatewayServiceAccount = true, template
	startServeFlags(t, f)

	serverCA, err := os.ReadFile(s.serverCA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(serverCA) {
		t.Fatal("no server CA")
	}
	// listener asks for the edge proxy's listener with a certificate naming id.
	listener := func(id string) (string, error) {
		pair, err := tls.LoadX509KeyPair(s.clientPair(t, "edge-proxy", id))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := xdstest.DialTLS(f.xdsAddress, &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		l, err := edgeProxyListener(ctx, conn)
		if err != nil {
			return "", err
		}
		return l.GetName(), nil
	}
	eventuallyWithin(t, 60*time.Second, "the proxies' ServiceAccount gets the listener", func() error {
		_, err := listener("spiffe://foresight.test/ns/shop/sa/edge-proxy")
		return err
	})
	for _, id := range []string{"spiffe://foresight.test/ns/shop/sa/default", "spiffe://foresight.test/ns/other/sa/edge-proxy"} {
		name, err := listener(id)
		if !errors.Is(err, errNothingServed) || !strings.Contains(err.Error(), `node group "gw.shop.edge" admits none of the identities`) {
			t.Errorf("proxy with %s: listener %q, %v; want it refused", id, name, err)
		}
	}
	if n := counter(t, f.metricsAddr, `foresight_xds_streams_refused_total{reason="node_identity"}`); n < 2 {
		t.Errorf("node_identity refusals = %v, want at least 2", n)
	}
}
