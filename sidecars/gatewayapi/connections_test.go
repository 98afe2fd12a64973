package gatewayapi

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// tlsRoute is a TLSRoute in shop created at second age, to the backendRefs.
func tlsRoute(name string, age int64, parents []gwv1.ParentReference, hosts []gwv1.Hostname, refs ...gwv1.BackendRef) *gwv1.TLSRoute {
	return &gwv1.TLSRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 1, CreationTimestamp: metav1.Unix(age, 0)},
		Spec: gwv1.TLSRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents}, Hostnames: hosts, Rules: []gwv1.TLSRouteRule{{BackendRefs: refs}}}}
}

// tcpRoute is a TCPRoute in shop created at second age, to the backendRefs.
func tcpRoute(name string, age int64, parents []gwv1.ParentReference, refs ...gwv1.BackendRef) *gwv1.TCPRoute {
	return &gwv1.TCPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 1, CreationTimestamp: metav1.Unix(age, 0)},
		Spec: gwv1.TCPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents}, Rules: []gwv1.TCPRouteRule{{BackendRefs: refs}}}}
}

// connectionsInput is a Gateway with a TLS passthrough listener for *.example.com on 443, a
// TCP listener on 5432, a TLS listener that would terminate TLS on 8443 without a
// certificate, one that terminates TLS on 9443 and an HTTP listener on 80, and the routes of
// TestTLSAndTCPRoutes.
func connectionsInput(t *testing.T) *Input {
	passthrough, terminate := gwv1.TLSModePassthrough, gwv1.TLSModeTerminate
	wild := gwv1.Hostname("*.example.com")
	in := oneGateway("shop", "edge", []gwv1.Listener{
		{Name: "tls", Port: 443, Protocol: gwv1.TLSProtocolType, Hostname: &wild, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}},
		{Name: "db", Port: 5432, Protocol: gwv1.TCPProtocolType},
		{Name: "tls-terminate", Port: 8443, Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &terminate}},
		{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
		{Name: "tls-terminate-ok", Port: 9443, Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &terminate, CertificateRefs: []gwv1.SecretObjectReference{{Name: "bar-cert"}}}},
	})
	crt, key := pki.ServerPair(t, "bar.example.com")
	in.Secrets = []*corev1.Secret{tlsSecret("shop", "bar-cert", crt, key)}
	https := "https"
	web := svc("shop", "web", 443)
	web.Spec.Ports[0].AppProtocol = &https // the backend speaks TLS: passed through, it needs no BackendTLSPolicy
	in.Services = []*corev1.Service{web, svc("shop", "mail", 993), svc("shop", "pg", 5432), svc("shop", "pg-next", 5432)}
	on := func(section string) []gwv1.ParentReference {
		s := gwv1.SectionName(section)
		return []gwv1.ParentReference{{Name: "edge", SectionName: &s}}
	}
	in.TLSRoutes = []*gwv1.TLSRoute{
		tlsRoute("web", 1, on("tls"), []gwv1.Hostname{"www.example.com", "www.example.net"}, ref("web", 443, 1)),
		tlsRoute("web-copy", 2, on("tls"), []gwv1.Hostname{"www.example.com"}, ref("mail", 993, 1)),
		tlsRoute("all", 3, on("tls"), []gwv1.Hostname{"*.example.com"}, ref("mail", 993, 1)),
		tlsRoute("elsewhere", 4, on("tls"), []gwv1.Hostname{"mail.example.org"}, ref("mail", 993, 1)),
		tlsRoute("terminated", 5, on("tls-terminate"), []gwv1.Hostname{"bar.example.com"}, ref("mail", 993, 1)),
		tlsRoute("terminated-ok", 6, on("tls-terminate-ok"), []gwv1.Hostname{"bar.example.com"}, ref("pg", 5432, 1)),
	}
	in.TCPRoutes = []*gwv1.TCPRoute{
		tcpRoute("pg", 1, on("db"), ref("pg", 5432, 90), ref("pg-next", 5432, 5), ref("pg-gone", 5432, 5)),
		tcpRoute("pg-copy", 2, on("db"), ref("pg", 5432, 1)),
	}
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("shop", "on-tls", on("tls"), nil, nil, "web")}
	in.Served = ServedKinds{TLSRoutes: true, TCPRoutes: true}
	return in
}

// TestTLSAndTCPRoutes translates TLSRoutes on a TLS passthrough listener and TCPRoutes on a
// TCP listener: each becomes a connection route of the port's listener, a TLSRoute with the
// server names it shares with the listener, a TCPRoute with every connection; of two
// routes that want the same server name (or the same TCP listener) both are accepted and
// attached, as the API asks, and the older is served;
// an unresolved share stays unresolved (those connections are refused); the passed-through
// backend gets a policy service of its own without TLS; a TLS listener that terminates TLS
// with its certificate forwards what it decrypts, and one without a certificate is not
// accepted, so the Gateway says that some listeners are not valid.
func TestTLSAndTCPRoutes(t *testing.T) {
	res := Translate(connectionsInput(t))
	status := func(m map[types.NamespacedName][]gwv1.RouteParentStatus, name, typ string) metav1.Condition {
		t.Helper()
		ps := m[types.NamespacedName{Namespace: "shop", Name: name}]
		if len(ps) != 1 {
			t.Fatalf("%s: parent statuses %+v", name, ps)
		}
		return conditions.Require(t, ps[0].Conditions, typ)
	}
	for _, c := range []struct {
		m            map[types.NamespacedName][]gwv1.RouteParentStatus
		name, typ    string
		ok           bool
		reason, text string
	}{
		{res.TLSRoutes, "web", "Accepted", true, "Accepted", ""},
		{res.TLSRoutes, "web", "ResolvedRefs", true, "ResolvedRefs", ""},
		{res.TLSRoutes, "web-copy", "Accepted", true, "Accepted", "not served where listener tls already passes server name www.example.com through to TLSRoute shop/web"},
		{res.TLSRoutes, "all", "Accepted", true, "Accepted", ""},
		{res.TLSRoutes, "elsewhere", "Accepted", false, string(gwv1.RouteReasonNoMatchingListenerHostname), ""},
		{res.TLSRoutes, "terminated", "Accepted", false, string(gwv1.RouteReasonNotAllowedByListeners), ""},
		{res.TLSRoutes, "terminated-ok", "Accepted", true, "Accepted", ""},
		{res.TCPRoutes, "pg", "Accepted", true, "Accepted", ""},
		{res.TCPRoutes, "pg", "ResolvedRefs", false, string(gwv1.RouteReasonBackendNotFound), "shop/pg-gone"},
		{res.TCPRoutes, "pg-copy", "Accepted", true, "Accepted", "not served where listener db already forwards its connections to TCPRoute shop/pg"},
		{res.HTTPRoutes, "on-tls", "Accepted", false, string(gwv1.RouteReasonNotAllowedByListeners), ""},
	} {
		got := status(c.m, c.name, c.typ)
		if (got.Status == metav1.ConditionTrue) != c.ok || got.Reason != c.reason || !strings.Contains(got.Message, c.text) {
			t.Errorf("%s %s = %s (%s: %s), want %v (%s: ...%s...)", c.name, c.typ, got.Status, got.Reason, got.Message, c.ok, c.reason, c.text)
		}
	}
	gs := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if c := conditions.Require(t, gs.Conditions, "Accepted"); c.Status != metav1.ConditionTrue || c.Reason != string(gwv1.GatewayReasonListenersNotValid) || !strings.Contains(c.Message, "tls-terminate") {
		t.Errorf("Gateway Accepted = %+v, want True (ListenersNotValid) naming tls-terminate", c)
	}
	kinds := func(i int) []gwv1.Kind {
		var out []gwv1.Kind
		for _, k := range gs.Listeners[i].SupportedKinds {
			out = append(out, k.Kind)
		}
		return out
	}
	if !slices.Equal(kinds(0), []gwv1.Kind{KindTLSRoute}) || !slices.Equal(kinds(1), []gwv1.Kind{KindTCPRoute}) || gs.Listeners[0].AttachedRoutes != 3 || gs.Listeners[1].AttachedRoutes != 2 {
		t.Errorf("listeners: kinds %v, %v; attached %d, %d", kinds(0), kinds(1), gs.Listeners[0].AttachedRoutes, gs.Listeners[1].AttachedRoutes)
	}
	if c := conditions.Require(t, gs.Listeners[2].Conditions, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonInvalid) || !strings.Contains(c.Message, "certificateRefs") {
		t.Errorf("TLS listener that would terminate TLS without a certificate: Accepted = %+v", c)
	}

	p, groups := served(t, res.Spec)
	edge := p.Group(GatewayNodeGroup("shop", "edge"))
	byPort := map[uint32][]policy.ConnectionRoute{}
	for _, l := range edge.Listeners {
		byPort[l.Port] = l.Connections
	}
	want := map[uint32][]policy.ConnectionRoute{
		443: {
			{Name: "TLSRoute/shop/web", ServerNames: []string{"www.example.com"}, Backends: []policy.Backend{{Service: "shop-web-443-tcp", Weight: 1}}},
			{Name: "TLSRoute/shop/all", ServerNames: []string{"*.example.com"}, Backends: []policy.Backend{{Service: "shop-mail-993-tcp", Weight: 1}}},
		},
		5432: {{Name: "TCPRoute/shop/pg", Backends: []policy.Backend{{Service: "shop-pg-5432-tcp", Weight: 90}, {Service: "shop-pg-next-5432-tcp", Weight: 5}, {Unresolved: true, Weight: 5}}}},
		9443: {{Name: "TLSRoute/shop/terminated-ok", ServerNames: []string{"bar.example.com"}, Backends: []policy.Backend{{Service: "shop-pg-5432-tcp", Weight: 1}}}},
	}
	if len(byPort) != 4 || !slices.EqualFunc(byPort[443], want[443], sameConnectionRoute) || !slices.EqualFunc(byPort[5432], want[5432], sameConnectionRoute) ||
		!slices.EqualFunc(byPort[9443], want[9443], sameConnectionRoute) || len(byPort[80]) != 0 {
		t.Errorf("connection routes by port %+v, want %+v, none on 80 (HTTP) and no listener on 8443", byPort, want)
	}
	for _, l := range edge.Listeners {
		if terminates := len(l.TLSCertificates) > 0; terminates != (l.Port == 9443) {
			t.Errorf("listener on %d terminates TLS: %v", l.Port, terminates)
		}
	}
	if s := p.Service("shop-web-443-tcp"); s == nil || s.TLS != nil || s.KubernetesService != "web" {
		t.Errorf("the passed-through backend's service: %+v", s)
	}
	// No route forwards requests: no group of proxyless gRPC clients (with no upstreams it
	// would get every service).
	if grpc := p.Group(GatewayNodeGroup("shop", "edge") + ".grpc"); grpc != nil {
		t.Errorf("proxyless group %+v", grpc)
	}
	// The Gateway's part, as kept to serve it alone, names the services of its connection
	// routes.
	part := SpecOfGateway(res.Spec, "shop", "edge")
	served(t, part)
	if len(part.Services) != 4 {
		t.Errorf("the Gateway's part has services %+v, want the four of its connection routes", part.Services)
	}
	g := groups[GatewayNodeGroup("shop", "edge")]
	if len(g.Listeners) != 4 {
		t.Fatalf("%d Envoy listeners, want the two TLS, the TCP and the HTTP ones", len(g.Listeners))
	}
	for _, l := range g.Listeners {
		if l.GetName() == "gateway-80" {
			continue // the HTTP listener, with no route attached (TestListenerWithNoRouteAnswers404)
		}
		ts := l.GetFilterChains()[0].GetTransportSocket()
		if (ts != nil) != (l.GetName() == "gateway-9443") {
			t.Errorf("Envoy listener %s: transport socket %v", l.GetName(), ts)
		}
		if ts != nil {
			ctx := &envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil || len(ctx.GetCommonTlsContext().GetAlpnProtocols()) != 0 || len(ctx.GetCommonTlsContext().GetTlsCertificates()) != 1 {
				t.Errorf("Envoy listener %s terminates TLS with %v (%v), want its certificate and no ALPN", l.GetName(), ctx, err)
			}
		}
	}
}

func sameConnectionRoute(a, b policy.ConnectionRoute) bool {
	return a.Name == b.Name && slices.Equal(a.ServerNames, b.ServerNames) && slices.Equal(a.Backends, b.Backends)
}

// TestRoutesAttachToListenersWaitingForCertificates attaches a route to an HTTPS listener
// whose certificate Secret does not exist: the listener is accepted but not served, and
// the route counts in its AttachedRoutes and is accepted, as the Gateway API asks (the
// problem is the listener's certificate, not the route); it is served on the HTTP listener.
// A Gateway with only that listener is accepted, and serves nothing.
func TestRoutesAttachToListenersWaitingForCertificates(t *testing.T) {
	in := oneGateway("shop", "edge", []gwv1.Listener{
		{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
		{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType, TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "missing"}}}},
	}, "web")
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("shop", "site", []gwv1.ParentReference{{Name: "edge"}}, nil, nil, "web")}
	res := Translate(in)
	gs := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if gs.Listeners[0].AttachedRoutes != 1 || gs.Listeners[1].AttachedRoutes != 1 {
		t.Errorf("attached routes %d and %d, want 1 on each", gs.Listeners[0].AttachedRoutes, gs.Listeners[1].AttachedRoutes)
	}
	if c := conditions.Require(t, gs.Listeners[1].Conditions, "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonInvalidCertificateRef) {
		t.Errorf("HTTPS listener ResolvedRefs = %+v", c)
	}
	ps := res.HTTPRoutes[types.NamespacedName{Namespace: "shop", Name: "site"}]
	if len(ps) != 1 || conditions.Require(t, ps[0].Conditions, "Accepted").Status != metav1.ConditionTrue {
		t.Errorf("route statuses %+v, want accepted", ps)
	}
	p, _ := served(t, res.Spec)
	if ls := p.Group(GatewayNodeGroup("shop", "edge")).Listeners; len(ls) != 1 || ls[0].Port != 80 {
		t.Errorf("served listeners %+v, want only the HTTP one", ls)
	}

	// With the HTTPS listener alone, the Gateway is still accepted (its listener is), and
	// nothing is served.
	in.Gateways[0].Spec.Listeners = in.Gateways[0].Spec.Listeners[1:]
	res = Translate(in)
	gs = res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if c := conditions.Require(t, gs.Conditions, "Accepted"); c.Status != metav1.ConditionTrue || gs.Listeners[0].AttachedRoutes != 1 {
		t.Errorf("Gateway with its one listener waiting: Accepted %+v, attached %d", c, gs.Listeners[0].AttachedRoutes)
	}
	if len(res.Spec.NodeGroups) != 0 {
		t.Errorf("node groups %+v, want none served", res.Spec.NodeGroups)
	}
}

// TestTLSListenersOfBothModesOnAPort: TLS listeners of one port may pass TLS through and
// terminate it (TLSRouteModeMixed), each for its own hostname. Both are accepted and
// programmed; the port's one Envoy listener has a filter chain per route and mode, matched
// on the server name: the terminating ones with the port's certificates, the passthrough
// ones without TLS, a route attached to listeners of both modes once in each (the
// passthrough one named with /passthrough). A ListenerSet's passthrough listener joins such
// a port. A passthrough listener alone on its port is accepted with TLSRoute its only kind
// (a TCPRoute allowed there is an invalid kind).
func TestTLSListenersOfBothModesOnAPort(t *testing.T) {
	passthrough, terminate := gwv1.TLSModePassthrough, gwv1.TLSModeTerminate
	a, b, c := gwv1.Hostname("*.t.example.com"), gwv1.Hostname("*.p.example.com"), gwv1.Hostname("team.example.com")
	in := oneGateway("shop", "edge", []gwv1.Listener{
		{Name: "tls-terminate", Port: 8443, Protocol: gwv1.TLSProtocolType, Hostname: &a, TLS: &gwv1.ListenerTLSConfig{Mode: &terminate, CertificateRefs: []gwv1.SecretObjectReference{{Name: "tls-cert"}}}},
		{Name: "tls-passthrough", Port: 8443, Protocol: gwv1.TLSProtocolType, Hostname: &b, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}},
		{Name: "alone", Port: 443, Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough},
			AllowedRoutes: &gwv1.AllowedRoutes{Kinds: []gwv1.RouteGroupKind{{Kind: KindTCPRoute}, {Kind: KindTLSRoute}}}},
	})
	in.Gateways[0].Spec.AllowedListeners = &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: ptr(gwv1.NamespacesFromSame)}}
	in.Served = ServedKinds{TLSRoutes: true, ListenerSets: true}
	in.ListenerSets = []*gwv1.ListenerSet{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "team"}, Spec: gwv1.ListenerSetSpec{
		ParentRef: gwv1.ParentGatewayReference{Name: "edge"},
		Listeners: []gwv1.ListenerEntry{{Name: "team-passthrough", Port: 8443, Protocol: gwv1.TLSProtocolType, Hostname: &c, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}}}}}}
	crt, key := pki.ServerPair(t, "*.t.example.com")
	in.Secrets = []*corev1.Secret{tlsSecret("shop", "tls-cert", crt, key)}
	in.Services = []*corev1.Service{svc("shop", "plain", 3000), svc("shop", "secure", 8443)}
	parent := []gwv1.ParentReference{{Name: "edge"}}
	in.TLSRoutes = []*gwv1.TLSRoute{
		tlsRoute("terminated", 1, parent, []gwv1.Hostname{"a.t.example.com"}, ref("plain", 3000, 1)),
		tlsRoute("passed", 2, parent, []gwv1.Hostname{"a.p.example.com"}, ref("secure", 8443, 1)),
		tlsRoute("both", 3, parent, []gwv1.Hostname{"b.t.example.com", "b.p.example.com"}, ref("secure", 8443, 1)),
		tlsRoute("team", 4, []gwv1.ParentReference{{Kind: ptr(gwv1.Kind(KindListenerSet)), Name: "team"}}, []gwv1.Hostname{c}, ref("secure", 8443, 1)),
	}
	res := Translate(in)
	gs := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	for i, want := range []int32{2, 2} {
		l := gs.Listeners[i]
		if c := conditions.Require(t, l.Conditions, "Accepted"); c.Status != metav1.ConditionTrue {
			t.Errorf("listener %s Accepted = %+v", l.Name, c)
		}
		if why, unserved := res.Unserved[types.NamespacedName{Namespace: "shop", Name: "edge"}][l.Name]; unserved {
			t.Errorf("listener %s not served: %s", l.Name, why)
		}
		if l.AttachedRoutes != want {
			t.Errorf("listener %s: %d attached routes, want %d", l.Name, l.AttachedRoutes, want)
		}
	}
	ls := res.ListenerSets[types.NamespacedName{Namespace: "shop", Name: "team"}]
	if ls == nil || len(ls.Listeners) != 1 || !meta.IsStatusConditionTrue(ls.Listeners[0].Conditions, "Accepted") || len(res.ListenerSetUnserved) != 0 {
		t.Errorf("the ListenerSet's passthrough listener on the mixed port: %+v", ls)
	}
	for _, name := range []string{"terminated", "passed", "both", "team"} {
		if c := conditions.Require(t, routeStatus(t, res.TLSRoutes, "shop", name), "Accepted"); c.Status != metav1.ConditionTrue {
			t.Errorf("TLSRoute %s Accepted = %+v", name, c)
		}
	}
	_, groups := served(t, res.Spec)
	var mixed *envoy_config_listener_v3.Listener
	for _, l := range groups[GatewayNodeGroup("shop", "edge")].Listeners {
		if l.GetName() == "gateway-8443" {
			mixed = l
		}
	}
	if mixed == nil {
		t.Fatal("no Envoy listener for port 8443")
	}
	got := map[string]string{}
	for _, fc := range mixed.GetFilterChains() {
		mode := "passthrough"
		if ts := fc.GetTransportSocket(); ts != nil {
			ctx := &envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil || len(ctx.GetCommonTlsContext().GetTlsCertificates()) != 1 {
				t.Errorf("chain %s terminates with %v (%v)", fc.GetName(), ctx, err)
			}
			mode = "terminate"
		}
		got[fc.GetName()] = mode + " " + strings.Join(fc.GetFilterChainMatch().GetServerNames(), ",")
	}
	want := map[string]string{
		"TLSRoute/shop/terminated":         "terminate a.t.example.com",
		"TLSRoute/shop/passed/passthrough": "passthrough a.p.example.com",
		"TLSRoute/shop/both":               "terminate b.t.example.com",
		"TLSRoute/shop/both/passthrough":   "passthrough b.p.example.com",
		"TLSRoute/shop/team/passthrough":   "passthrough team.example.com",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("filter chain %s: %q, want %q (all: %v)", name, got[name], w, got)
		}
	}

	alone := gs.Listeners[2]
	if c := conditions.Require(t, alone.Conditions, "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonInvalidRouteKinds) ||
		len(alone.SupportedKinds) != 1 || alone.SupportedKinds[0].Kind != KindTLSRoute {
		t.Errorf("passthrough listener allowing TCPRoute: ResolvedRefs %+v, kinds %+v", c, alone.SupportedKinds)
	}
}

// TestGatewayFieldsNotServedAreSaid: a Gateway's infrastructure.parametersRef is refused
// (InvalidParameters), as a GatewayClass's is: foresight-xds takes no parameters; a client
// certificate for backends (spec.tls.backend) is not served, which the Gateway's
// ResolvedRefs says while the rest is served; requested addresses are reported as not
// assigned whether or not every listener is served.
func TestGatewayFieldsNotServedAreSaid(t *testing.T) {
	in := oneGateway("shop", "edge", nil, "web")
	in.Gateways[0].Spec.Infrastructure = &gwv1.GatewayInfrastructure{ParametersRef: &gwv1.LocalParametersReference{Group: "example.com", Kind: "Params", Name: "p"}}
	gs := Translate(in).Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if c := conditions.Require(t, gs.Conditions, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.GatewayReasonInvalidParameters) || !strings.Contains(c.Message, "Params.example.com p") {
		t.Errorf("Gateway with parametersRef: Accepted %+v", c)
	}

	in = oneGateway("shop", "edge", []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}, {Name: "udp", Port: 53, Protocol: gwv1.UDPProtocolType}}, "web")
	in.Gateways[0].Spec.TLS = &gwv1.GatewayTLSConfig{Backend: &gwv1.GatewayBackendTLS{ClientCertificateRef: &gwv1.SecretObjectReference{Name: "client"}}}
	in.Gateways[0].Spec.Addresses = []gwv1.GatewaySpecAddress{{Type: ptr(gwv1.IPAddressType), Value: "10.0.0.7"}}
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("shop", "site", []gwv1.ParentReference{{Name: "edge"}}, nil, nil, "web")}
	res := Translate(in)
	nn := types.NamespacedName{Namespace: "shop", Name: "edge"}
	gs = res.Gateways[nn]
	if c := conditions.Require(t, gs.Conditions, "Accepted"); c.Status != metav1.ConditionTrue || c.Reason != string(gwv1.GatewayReasonListenersNotValid) {
		t.Errorf("Accepted %+v", c)
	}
	if c := conditions.Require(t, gs.Conditions, "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.GatewayReasonInvalidClientCertificateRef) || !strings.Contains(c.Message, "not supported") {
		t.Errorf("ResolvedRefs %+v", c)
	}
	if !strings.Contains(res.AddressesNotAssigned[nn], "10.0.0.7") {
		t.Errorf("addresses not assigned: %q", res.AddressesNotAssigned[nn])
	}
	served(t, res.Spec)
}

// TestPoliciesOnServicesOfConnectionRoutes: a BackendTrafficPolicy on a Service only a
// TCPRoute sends to sets the circuit breaker of its -tcp policy service, and its status
// names the Gateway the route is attached to.
func TestPoliciesOnServicesOfConnectionRoutes(t *testing.T) {
	in := connectionsInput(t)
	in.BackendTrafficPolicies = []*BackendTrafficPolicy{btp("pg-limits", 1, BackendTrafficPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("pg-next")}, CircuitBreaker: &CircuitBreakerSpec{MaxConnections: 10}})}
	res := Translate(in)
	c, a := accepted(t, res.BackendTrafficPolicies[types.NamespacedName{Namespace: "shop", Name: "pg-limits"}])
	if c.Status != metav1.ConditionTrue || *a.Kind != KindGateway || a.Name != "edge" {
		t.Errorf("Accepted %+v on %+v, want accepted on the Gateway shop/edge", c, a)
	}
	p, _ := served(t, res.Spec)
	if s := p.Service("shop-pg-next-5432-tcp"); s == nil || s.CircuitBreaker == nil || s.CircuitBreaker.MaxConnections != 10 {
		t.Errorf("the -tcp service %+v, want the circuit breaker", s)
	}
}

// TestTLSListenerIsolation: a TLS connection for the hostname of a listener without routes
// is refused, not passed through to the route of a less specific listener of the port that
// would take it by its wildcard: a connection belongs to the most specific listener.
func TestTLSListenerIsolation(t *testing.T) {
	passthrough := gwv1.TLSModePassthrough
	secure := gwv1.Hostname("secure.example.com")
	in := oneGateway("shop", "edge", []gwv1.Listener{
		{Name: "all", Port: 443, Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}},
		{Name: "secure", Port: 443, Protocol: gwv1.TLSProtocolType, Hostname: &secure, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}},
	}, "team")
	in.Services[0].Spec.Ports[0].Port = 443
	s := gwv1.SectionName("all")
	in.TLSRoutes = []*gwv1.TLSRoute{tlsRoute("team", 1, []gwv1.ParentReference{{Name: "edge", SectionName: &s}}, []gwv1.Hostname{"*.example.com"}, ref("team", 443, 1))}
	in.Served.TLSRoutes = true
	res := Translate(in)
	p, groups := served(t, res.Spec)
	ls := p.Group(GatewayNodeGroup("shop", "edge")).Listeners
	if len(ls) != 1 || len(ls[0].Connections) != 2 {
		t.Fatalf("listeners %+v, want one with the route and the refusal", ls)
	}
	refusal := ls[0].Connections[1]
	if refusal.Name != "Listener/secure/no-route" || !slices.Equal(refusal.ServerNames, []string{"secure.example.com"}) || len(refusal.Backends) != 1 || !refusal.Backends[0].Unresolved {
		t.Errorf("refusal %+v, want secure.example.com's connections refused", refusal)
	}
	if l := groups[GatewayNodeGroup("shop", "edge")].Listeners[0]; len(l.GetFilterChains()) != 2 {
		t.Errorf("Envoy listener with %d filter chains, want 2", len(l.GetFilterChains()))
	}
}

// TestConnectionListenerWithNoRouteWaits: a TCP or TLS listener with no route attached has
// nowhere to send a connection, so nothing listens on its port yet, and a Gateway with
// nothing else has no node group; the listener is not reported unserved (it stays
// Programmed, as the conformance suite asks of a listener waiting for routes). Once a route
// attaches it is served.
func TestConnectionListenerWithNoRouteWaits(t *testing.T) {
	nn := types.NamespacedName{Namespace: "shop", Name: "edge"}
	passthrough := gwv1.TLSModePassthrough
	in := oneGateway("shop", "edge", []gwv1.Listener{
		{Name: "db", Port: 5432, Protocol: gwv1.TCPProtocolType},
		{Name: "tls", Port: 443, Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}},
	})
	in.Served = ServedKinds{TLSRoutes: true, TCPRoutes: true}
	in.Services = []*corev1.Service{svc("shop", "pg", 5432)}
	res := Translate(in)
	if u := res.Unserved[nn]; len(u) != 0 {
		t.Errorf("listeners waiting for routes reported unserved: %v", u)
	}
	// Its proxies join its group, and are served no listener: nothing listens yet.
	p, groups := served(t, res.Spec)
	if g := p.Group(GatewayNodeGroup("shop", "edge")); g == nil || len(g.Listeners) != 0 || len(res.Spec.NodeGroups) != 1 {
		t.Errorf("node groups %+v, want the Envoy group alone, without listeners", res.Spec.NodeGroups)
	}
	if r := groups[GatewayNodeGroup("shop", "edge")]; r == nil || len(r.Listeners) != 0 || len(r.Clusters) != 0 {
		t.Errorf("resources %+v, want none", r)
	}

	s := gwv1.SectionName("db")
	in.TCPRoutes = []*gwv1.TCPRoute{tcpRoute("pg", 1, []gwv1.ParentReference{{Name: "edge", SectionName: &s}}, ref("pg", 5432, 1))}
	res = Translate(in)
	p, _ = served(t, res.Spec)
	if ls := p.Group(GatewayNodeGroup("shop", "edge")).Listeners; len(ls) != 1 || ls[0].Port != 5432 {
		t.Errorf("served listeners %+v, want the TCP one", ls)
	}
}

// TestTLSRouteKeepsTheServerNamesNoOlderRouteTakes: of two TLSRoutes that share one of their
// server names on a listener, the older is served that name, and the newer is served the
// names it does not share, saying which one it is not served.
func TestTLSRouteKeepsTheServerNamesNoOlderRouteTakes(t *testing.T) {
	passthrough := gwv1.TLSModePassthrough
	wild := gwv1.Hostname("*.example.com")
	in := oneGateway("shop", "edge", []gwv1.Listener{{Name: "tls", Port: 443, Protocol: gwv1.TLSProtocolType, Hostname: &wild, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}}})
	in.Served = ServedKinds{TLSRoutes: true}
	in.Services = []*corev1.Service{svc("shop", "a", 443), svc("shop", "b", 443)}
	on := []gwv1.ParentReference{{Name: "edge"}}
	in.TLSRoutes = []*gwv1.TLSRoute{
		tlsRoute("newer", 2, on, []gwv1.Hostname{"a.example.com", "b.example.com"}, ref("b", 443, 1)),
		tlsRoute("older", 1, on, []gwv1.Hostname{"a.example.com"}, ref("a", 443, 1)),
	}
	res := Translate(in)
	p, _ := served(t, res.Spec)
	got := map[string][]string{}
	for _, c := range p.Group(GatewayNodeGroup("shop", "edge")).Listeners[0].Connections {
		got[c.Name] = c.ServerNames
	}
	if want := map[string][]string{"TLSRoute/shop/older": {"a.example.com"}, "TLSRoute/shop/newer": {"b.example.com"}}; !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("server names by route %v, want %v", got, want)
	}
	c := conditions.Require(t, res.TLSRoutes[types.NamespacedName{Namespace: "shop", Name: "newer"}][0].Conditions, "Accepted")
	if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "server name a.example.com through to TLSRoute shop/older") || strings.Contains(c.Message, "b.example.com") {
		t.Errorf("newer route Accepted = %+v, want True naming a.example.com only", c)
	}
}

// filterChains describes the filter chains of an Envoy listener by name: the network filter,
// "+tls" where the chain terminates TLS, and the server names it takes.
func filterChains(l *envoy_config_listener_v3.Listener) map[string]string {
	out := map[string]string{}
	for _, fc := range l.GetFilterChains() {
		kind := fc.GetFilters()[0].GetName()
		if fc.GetTransportSocket() != nil {
			kind += "+tls"
		}
		out[fc.GetName()] = kind + " " + strings.Join(fc.GetFilterChainMatch().GetServerNames(), ",")
	}
	return out
}

// wantChains checks the filter chains of an Envoy listener (filterChains) against want.
func wantChains(t *testing.T, what string, l *envoy_config_listener_v3.Listener, want map[string]string) {
	t.Helper()
	if got := filterChains(l); !maps.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// TestHTTPSAndTLSListenersOnAPort: HTTPS and TLS listeners may share a port, told apart by
// server name. The port's one Envoy listener serves HTTP on a chain for the HTTPS listeners'
// hostnames (which win over a less specific TLS name) and on a chain for any other name, and
// forwards the connections of the TLSRoutes on chains of their own (passed through, the
// port's certificates being the HTTPS ones); a TLS listener's hostname without a route gets
// a chain that refuses its connections (HTTP would take them otherwise). An HTTPS and a TLS
// listener with the same hostname cannot be told apart: neither is accepted
// (HostnameConflict); the other listeners serve.
func TestHTTPSAndTLSListenersOnAPort(t *testing.T) {
	passthrough := gwv1.TLSModePassthrough
	host := func(h string) *gwv1.Hostname { return ptr(gwv1.Hostname(h)) }
	https := func(name, h string) gwv1.Listener {
		return gwv1.Listener{Name: gwv1.SectionName(name), Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: host(h),
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "web-cert"}}}}
	}
	tls := func(name, h string) gwv1.Listener {
		return gwv1.Listener{Name: gwv1.SectionName(name), Port: 443, Protocol: gwv1.TLSProtocolType, Hostname: host(h), TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}}
	}
	in := oneGateway("shop", "edge", []gwv1.Listener{
		https("https", "*.example.com"), https("https-inner", "a.p.example.com"),
		tls("argocd", "argocd.example.com"), tls("quiet", "*.p.example.com"),
		https("dup-https", "dup.example.com"), tls("dup-tls", "dup.example.com"),
	}, "web")
	crt, key := pki.ServerPair(t, "*.example.com")
	in.Secrets = []*corev1.Secret{tlsSecret("shop", "web-cert", crt, key)}
	in.Services = append(in.Services, svc("shop", "argocd", 443))
	in.Served.TLSRoutes = true
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("shop", "site", []gwv1.ParentReference{{Name: "edge", SectionName: ptr(gwv1.SectionName("https"))}}, []gwv1.Hostname{"www.example.com"}, nil, "web")}
	in.TLSRoutes = []*gwv1.TLSRoute{tlsRoute("argocd", 1, []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"argocd.example.com"}, ref("argocd", 443, 1))}
	res := Translate(in)
	gs := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	for _, l := range gs.Listeners {
		a := conditions.Require(t, l.Conditions, "Accepted")
		dup := strings.HasPrefix(string(l.Name), "dup-")
		if dup != (a.Status == metav1.ConditionFalse) || dup && (a.Reason != string(gwv1.ListenerReasonHostnameConflict) || !strings.Contains(a.Message, "dup.example.com")) {
			t.Errorf("listener %s Accepted = %+v", l.Name, a)
		}
		if c := conditions.Require(t, l.Conditions, "Conflicted"); dup != (c.Status == metav1.ConditionTrue) || dup && c.Reason != string(gwv1.ListenerReasonHostnameConflict) {
			t.Errorf("listener %s Conflicted = %+v", l.Name, c)
		}
	}
	for name, m := range map[string]map[types.NamespacedName][]gwv1.RouteParentStatus{"site": res.HTTPRoutes, "argocd": res.TLSRoutes} {
		if c := conditions.Require(t, routeStatus(t, m, "shop", name), "Accepted"); c.Status != metav1.ConditionTrue {
			t.Errorf("route %s Accepted = %+v", name, c)
		}
	}
	_, groups := served(t, res.Spec)
	g := groups[GatewayNodeGroup("shop", "edge")]
	if g == nil || len(g.Listeners) != 1 {
		t.Fatalf("Envoy listeners %v, want the one of port 443", g)
	}
	l := g.Listeners[0]
	if fs := l.GetListenerFilters(); len(fs) != 1 || fs[0].GetName() != translate.TLSInspectorFilter {
		t.Errorf("listener filters %v, want the TLS inspector", fs)
	}
	wantChains(t, "filter chains", l, map[string]string{
		translate.HTTPSChain:               translate.HCMFilter + "+tls *.example.com,a.p.example.com",
		translate.HTTPSAnyChain:            translate.HCMFilter + "+tls ",
		"TLSRoute/shop/argocd/passthrough": translate.TCPProxyFilter + " argocd.example.com",
		"Listener/quiet/no-route":          translate.TCPProxyFilter + " *.p.example.com",
	})
}

// TestTLSListenersBesideHTTPSAreIsolated: on a port with HTTPS listeners, a TLS listener's
// hostname is its own even before a route attaches (its connections are closed rather than
// served HTTP), and a TLS listener without a hostname owns every server name no other
// listener has: HTTP then keeps only the HTTPS listeners' hostnames, and every other
// connection is closed unless a TLSRoute takes its name.
func TestTLSListenersBesideHTTPSAreIsolated(t *testing.T) {
	passthrough := gwv1.TLSModePassthrough
	listener := func(t *testing.T, ls []gwv1.Listener, routes ...*gwv1.TLSRoute) *envoy_config_listener_v3.Listener {
		t.Helper()
		in := oneGateway("shop", "edge", ls, "web")
		crt, key := pki.ServerPair(t, "*.example.com")
		in.Secrets = []*corev1.Secret{tlsSecret("shop", "web-cert", crt, key)}
		in.Services = append(in.Services, svc("shop", "db", 5432))
		in.Served.TLSRoutes = true
		in.TLSRoutes = routes
		_, groups := served(t, Translate(in).Spec)
		g := groups[GatewayNodeGroup("shop", "edge")]
		if g == nil || len(g.Listeners) != 1 {
			t.Fatalf("Envoy listeners %v, want one", g)
		}
		return g.Listeners[0]
	}
	httpsListener := func(h string) gwv1.Listener {
		l := gwv1.Listener{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType, TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "web-cert"}}}}
		if h != "" {
			l.Hostname = ptr(gwv1.Hostname(h))
		}
		return l
	}
	tlsListener := func(name, h string) gwv1.Listener {
		l := gwv1.Listener{Name: gwv1.SectionName(name), Port: 443, Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}}
		if h != "" {
			l.Hostname = ptr(gwv1.Hostname(h))
		}
		return l
	}
	wantChains(t, "a TLS listener without a route", listener(t, []gwv1.Listener{httpsListener("*.example.com"), tlsListener("secure", "secure.example.com")}), map[string]string{
		translate.HTTPSChain:       translate.HCMFilter + "+tls *.example.com",
		translate.HTTPSAnyChain:    translate.HCMFilter + "+tls ",
		"Listener/secure/no-route": translate.TCPProxyFilter + " secure.example.com",
	})
	wantChains(t, "a TLS listener without a hostname", listener(t, []gwv1.Listener{httpsListener("tenant.example.com"), tlsListener("tls-any", "")},
		tlsRoute("db", 1, []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"db.example.com"}, ref("db", 5432, 1))), map[string]string{
		translate.HTTPSChain:           translate.HCMFilter + "+tls tenant.example.com",
		"TLSRoute/shop/db/passthrough": translate.TCPProxyFilter + " db.example.com",
		"Listener/tls-any/no-route":    translate.TCPProxyFilter + " ",
	})
}

// TestWeightZeroBackendIsNotTheRouteDefault: a backendRef of weight 0 kept for its header
// filters (a canary before its rollout) does not lend the route its Service's timeout and
// retries: the first backend that gets traffic does.
func TestWeightZeroBackendIsNotTheRouteDefault(t *testing.T) {
	in := input()
	in.CanaryPolicies = nil
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs = []gwv1.HTTPBackendRef{
		{BackendRef: ref("web-next", 80, 0), Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"x-version": "next"}, nil)}}},
		{BackendRef: ref("web", 80, 1)},
	}
	in.BackendTrafficPolicies = []*BackendTrafficPolicy{btp("web", 1, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("web")},
		Timeout: &metav1.Duration{Duration: 5 * time.Second}, Retries: &RetriesSpec{On: []string{"5xx"}, Count: 3}})}
	_, groups := served(t, Translate(in).Spec)
	a := envoyRoute(t, groups["gw.shop.edge"], "gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0").GetRoute()
	if cs := a.GetWeightedClusters().GetClusters(); len(cs) != 2 || cs[0].GetWeight().GetValue() != 0 {
		t.Fatalf("weighted clusters %v, want the weight-0 one kept", cs)
	}
	if a.GetTimeout().AsDuration() != 5*time.Second || a.GetRetryPolicy().GetNumRetries().GetValue() != 3 {
		t.Errorf("timeout %v, retries %v: want web's 5s and 3", a.GetTimeout(), a.GetRetryPolicy())
	}
}
