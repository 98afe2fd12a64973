package translate_test

import (
	"slices"
	"strings"
	"testing"

	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// TestGatewayListenerPerPort checks each listener of a gateway group becomes an Envoy
// listener on its port with its own route configuration holding only its virtual hosts,
// and that only a listener with certificates terminates TLS.
func TestGatewayListenerPerPort(t *testing.T) {
	p, err := policy.Load("testdata/listeners.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.Group("edge").Listeners[1].TLSCertificates = []policy.TLSCertificate{{Name: "test/site", CertificateChain: []byte("chain"), PrivateKey: []byte("key")}}
	edge, err := translate.TranslateGroup(p, "edge")
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Check(edge); err != nil {
		t.Fatal(err)
	}
	if len(edge.Listeners) != 2 || len(edge.Routes) != 2 {
		t.Fatalf("%d listeners, %d route configurations, want 2 each", len(edge.Listeners), len(edge.Routes))
	}
	for _, c := range []struct {
		listener string
		port     uint32
		vhosts   []string
		tls      bool
	}{{"gateway-80", 80, []string{"insecure"}, false}, {"gateway-443", 443, []string{"site"}, true}} {
		l := listenerNamed(t, edge, c.listener)
		if got := l.GetAddress().GetSocketAddress().GetPortValue(); got != c.port {
			t.Errorf("%s on port %d, want %d", c.listener, got, c.port)
		}
		if ts := l.GetFilterChains()[0].GetTransportSocket(); (ts != nil) != c.tls || c.tls && ts.GetName() != translate.TLSTransportSocket {
			t.Errorf("%s transport socket %v, want TLS %v", c.listener, ts, c.tls)
		}
		h := hcm(t, l)
		if h.GetStatPrefix() != c.listener || h.GetRds().GetRouteConfigName() != "edge/"+c.listener {
			t.Errorf("%s: stat prefix %q, RDS %q", c.listener, h.GetStatPrefix(), h.GetRds().GetRouteConfigName())
		}
		var got []string
		for _, vh := range routeConfig(t, edge, "edge/"+c.listener).GetVirtualHosts() {
			got = append(got, vh.GetName())
		}
		if !slices.Equal(got, c.vhosts) {
			t.Errorf("%s virtual hosts %v, want %v", c.listener, got, c.vhosts)
		}
	}
	if !routeNamed(t, vhostNamed(t, routeConfig(t, edge, "edge/gateway-80"), "insecure"), "to-https").GetRedirect().GetHttpsRedirect() {
		t.Error("port 80 does not redirect to https")
	}

	// Removing the port-80 listener leaves the port-443 listener and its route configuration
	// exactly as they were: Envoy sees no change to them and drains none of their connections.
	p.Group("edge").Listeners = p.Group("edge").Listeners[1:]
	one, err := translate.TranslateGroup(p, "edge")
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Listeners) != 1 || !proto.Equal(one.Listeners[0], listenerNamed(t, edge, "gateway-443")) ||
		len(one.Routes) != 1 || !proto.Equal(one.Routes[0], routeConfig(t, edge, "edge/gateway-443")) {
		t.Errorf("the port-443 listener changed when the port-80 listener was removed: %v", one.Listeners)
	}
}

// TestGatewayListenerValidatesClientCertificates checks a listener with client CAs requires
// a client certificate that chains to them, and one whose client certificate is optional
// lets in clients without one or with one that does not verify.
func TestGatewayListenerValidatesClientCertificates(t *testing.T) {
	for _, optional := range []bool{false, true} {
		p, err := policy.Load("testdata/listeners.yaml")
		if err != nil {
			t.Fatal(err)
		}
		l := &p.Group("edge").Listeners[1]
		l.TLSCertificates = []policy.TLSCertificate{{Name: "test/site", CertificateChain: []byte("chain"), PrivateKey: []byte("key")}}
		l.ClientCAs, l.ClientCertificateOptional = []byte("client CAs"), optional
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		edge, err := translate.TranslateGroup(p, "edge")
		if err != nil {
			t.Fatal(err)
		}
		if err := check.Check(edge); err != nil {
			t.Fatal(err)
		}
		var ctx envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext
		if err := listenerNamed(t, edge, "gateway-443").GetFilterChains()[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(&ctx); err != nil {
			t.Fatal(err)
		}
		vc := ctx.GetCommonTlsContext().GetValidationContext()
		untrusted := vc.GetTrustChainVerification() == envoy_extensions_transport_sockets_tls_v3.CertificateValidationContext_ACCEPT_UNTRUSTED
		if string(vc.GetTrustedCa().GetInlineBytes()) != "client CAs" || ctx.GetRequireClientCertificate().GetValue() == optional || untrusted != optional {
			t.Errorf("optional %v: require %v, trust chain verification %v, CAs %q", optional, ctx.GetRequireClientCertificate().GetValue(), vc.GetTrustChainVerification(), vc.GetTrustedCa().GetInlineBytes())
		}
	}

	p, err := policy.Load("testdata/listeners.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.Group("edge").Listeners[0].ClientCAs = []byte("client CAs")
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "client certificate validation needs TLS certificates") {
		t.Errorf("client CAs on a listener without TLS: %v", err)
	}
}
