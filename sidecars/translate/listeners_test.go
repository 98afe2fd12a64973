package translate_test

import (
	"slices"
	"testing"

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
