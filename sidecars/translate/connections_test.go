package translate_test

import (
	"slices"
	"strings"
	"testing"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_extensions_filters_network_tcp_proxy_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// connectionsPolicy is listeners.yaml with a TLS passthrough listener on 8443 (two routes by
// server name, one weighted with an unresolved share) and a TCP listener on 5432.
func connectionsPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load("testdata/listeners.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Services = append(p.Spec.Services,
		policy.Service{Name: "db", Port: 5432, Endpoints: []policy.Endpoint{{Address: "10.0.2.1"}}},
		policy.Service{Name: "mail", Port: 993, Endpoints: []policy.Endpoint{{Address: "10.0.3.1"}}})
	g := p.Group("edge")
	g.Listeners = append(g.Listeners,
		policy.GatewayListener{Port: 8443, Connections: []policy.ConnectionRoute{
			{Name: "tls/web", ServerNames: []string{"www.example.com", "*.web.example.com"}, Backends: []policy.Backend{{Service: "web", Weight: 80}, {Unresolved: true, Weight: 20}}},
			{Name: "tls/mail", ServerNames: []string{"mail.example.com"}, Backends: []policy.Backend{{Service: "mail"}}},
		}},
		policy.GatewayListener{Port: 5432, Connections: []policy.ConnectionRoute{{Name: "tcp/db", Backends: []policy.Backend{{Service: "db"}}}}})
	p.SetDefaults()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConnectionListenersForwardBySNI checks that a gateway listener with connection routes
// becomes an Envoy listener with a TCP proxy per route, chosen by the TLS server name where
// routes name one (with the TLS inspector), and that the share of an unresolved backend goes
// to the empty cluster.
func TestConnectionListenersForwardBySNI(t *testing.T) {
	edge, err := translate.TranslateGroup(connectionsPolicy(t), "edge")
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Check(edge); err != nil {
		t.Fatal(err)
	}
	if len(edge.Listeners) != 4 || len(edge.Routes) != 2 {
		t.Fatalf("%d listeners, %d route configurations, want 4 and 2 (connection listeners have none)", len(edge.Listeners), len(edge.Routes))
	}
	tls := listenerNamed(t, edge, "gateway-8443")
	if fs := tls.GetListenerFilters(); len(fs) != 1 || fs[0].GetName() != translate.TLSInspectorFilter {
		t.Errorf("passthrough listener filters %v, want the TLS inspector", fs)
	}
	chains := tls.GetFilterChains()
	if len(chains) != 2 {
		t.Fatalf("%d filter chains, want one per route", len(chains))
	}
	if got := chains[0].GetFilterChainMatch().GetServerNames(); !slices.Equal(got, []string{"www.example.com", "*.web.example.com"}) {
		t.Errorf("first chain's server names %v", got)
	}
	web := tcpProxyOf(t, chains[0].GetFilters())
	var got []string
	for _, c := range web.GetWeightedClusters().GetClusters() {
		got = append(got, c.GetName())
	}
	if !slices.Equal(got, []string{"web.test", translate.UnresolvedCluster}) || web.GetStatPrefix() != "gateway-8443/tls/web" {
		t.Errorf("web route: clusters %v, stat prefix %q", got, web.GetStatPrefix())
	}
	if mail := tcpProxyOf(t, chains[1].GetFilters()); mail.GetCluster() != "mail.test" {
		t.Errorf("mail route: cluster %q", mail.GetCluster())
	}
	if !hasCluster(edge, translate.UnresolvedCluster) || len(claNamed(t, edge, translate.UnresolvedCluster).GetEndpoints()) != 0 {
		t.Error("the unresolved share needs the empty cluster")
	}
	tcp := listenerNamed(t, edge, "gateway-5432")
	if len(tcp.GetListenerFilters()) != 0 || len(tcp.GetFilterChains()) != 1 || tcp.GetFilterChains()[0].GetFilterChainMatch() != nil {
		t.Errorf("TCP listener: %v", tcp)
	}
	if db := tcpProxyOf(t, tcp.GetFilterChains()[0].GetFilters()); db.GetCluster() != "db.test" || !hasCluster(edge, "db.test") {
		t.Errorf("TCP route: cluster %q", db.GetCluster())
	}
	// The check refuses a TCP proxy to a cluster the group lacks.
	edge.Clusters = slices.DeleteFunc(edge.Clusters, func(c *envoy_config_cluster_v3.Cluster) bool { return c.GetName() == "db.test" })
	if err := check.Check(edge); err == nil || !strings.Contains(err.Error(), `cluster "db.test" does not exist`) {
		t.Errorf("check without the TCP proxy's cluster: %v", err)
	}
}

func tcpProxyOf(t *testing.T, fs []*envoy_config_listener_v3.Filter) *envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy {
	t.Helper()
	if len(fs) != 1 || fs[0].GetName() != translate.TCPProxyFilter {
		t.Fatalf("filters %v, want one TCP proxy", fs)
	}
	return unpack(t, fs[0].GetTypedConfig(), &envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy{})
}

// TestConnectionRoutesValidated checks what the policy refuses of connection routes.
func TestConnectionRoutesValidated(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(l *policy.GatewayListener)
		want   string
	}{
		{"virtual hosts too, without TLS", func(l *policy.GatewayListener) { l.VirtualHosts = []string{"site"} }, "serves virtual hosts only with TLS certificates"},
		{"virtual hosts too, a route without server names", func(l *policy.GatewayListener) {
			l.VirtualHosts, l.TLSCertificates = []string{"site"}, []policy.TLSCertificate{{Name: "c"}}
			l.Connections[0].ServerNames = nil
		}, "connections[0].serverNames: required beside virtual hosts"},
		{"a server name HTTP's and a route's", func(l *policy.GatewayListener) {
			l.VirtualHosts, l.TLSCertificates, l.ServerNames = []string{"site"}, []policy.TLSCertificate{{Name: "c"}}, []string{"WWW.example.com"}
		}, `server name "www.example.com" is already taken by spec.nodeGroups[0].listeners[2].serverNames[0] (HTTP)`},
		{"server names without virtual hosts", func(l *policy.GatewayListener) { l.ServerNames = []string{"a.example.com"} }, "serverNames: only on a listener that serves virtual hosts and forwards connections"},
		{"unknown service", func(l *policy.GatewayListener) { l.Connections[1].Backends[0].Service = "nope" }, `unknown service "nope"`},
		{"server name twice", func(l *policy.GatewayListener) { l.Connections[1].ServerNames = []string{"WWW.example.com"} }, `server name "WWW.example.com" is already taken by tls/web`},
		{"two catch-alls", func(l *policy.GatewayListener) {
			l.Connections[0].ServerNames, l.Connections[1].ServerNames = nil, nil
		}, "takes every connection, as tls/web does already"},
		{"no backends", func(l *policy.GatewayListener) { l.Connections[1].Backends = nil }, "connections[1].backends: required"},
		{"header changes", func(l *policy.GatewayListener) {
			l.Connections[1].Backends[0].RequestHeaders = &policy.HeaderChanges{Remove: []string{"x-a"}}
		}, "connections[1].backends[0]: a connection has no headers to change"},
		{"same name", func(l *policy.GatewayListener) { l.Connections[1].Name = "tls/web" }, `duplicate connection route name "tls/web"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := connectionsPolicy(t)
			c.change(&p.Group("edge").Listeners[2])
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}
