package gatewayapi

import (
	"slices"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// multiPortInput is the common production Gateway: an HTTP listener on 80 whose only route
// redirects to https, an HTTPS listener on 443 serving the same hostname, plus an HTTP
// listener on 8080 that one route selects by port, a UDP listener on port 80 (which
// foresight-xds does not serve, and which does not keep the HTTP one from serving), and a
// route attached to every listener, driven by a canary.
func multiPortInput(t *testing.T) *Input {
	crt, key := pki.ServerPair(t, "web.shop")
	in := oneGateway("shop", "edge", []gwv1.Listener{
		{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
		{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType,
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "web-cert"}}}},
		{Name: "alt", Port: 8080, Protocol: gwv1.HTTPProtocolType},
		{Name: "udp-on-80", Port: 80, Protocol: gwv1.UDPProtocolType},
	}, "web", "admin", "api-v1", "api-v2")
	in.Secrets = []*corev1.Secret{tlsSecret("shop", "web-cert", crt, key)}
	https, login := "https", "/login"
	toHTTPS := simpleRoute("shop", "to-https", []gwv1.ParentReference{{Name: "edge", SectionName: ptr(gwv1.SectionName("http"))}}, []gwv1.Hostname{"web.shop"}, nil, "")
	toHTTPS.Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
		RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Scheme: &https, StatusCode: ptr(301)}}}
	web := simpleRoute("shop", "web", []gwv1.ParentReference{{Name: "edge", SectionName: ptr(gwv1.SectionName("https"))}}, []gwv1.Hostname{"web.shop"}, nil, "web")
	admin := simpleRoute("shop", "admin", []gwv1.ParentReference{{Name: "edge", Port: ptr(gwv1.PortNumber(8080))}}, []gwv1.Hostname{"admin.shop"}, nil, "")
	admin.Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
		RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Path: &gwv1.HTTPPathModifier{Type: gwv1.FullPathHTTPPathModifier, ReplaceFullPath: &login}}}}
	api := simpleRoute("shop", "api", []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"api.shop"}, nil, "")
	api.Spec.Rules[0].BackendRefs = []gwv1.HTTPBackendRef{{BackendRef: ref("api-v1", 8080, 1)}, {BackendRef: ref("api-v2", 8080, 0)}}
	in.HTTPRoutes = []*gwv1.HTTPRoute{toHTTPS, web, admin, api}
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-rollout"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "api"}},
		Stable:     "api-v1", Canary: "api-v2",
		Steps: []CanaryPolicyStep{{Weight: 10, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	return in
}

// TestGatewayServesEveryPort checks each port of a Gateway becomes its own Envoy listener
// and route configuration, TLS only on the HTTPS one, every route on the ports of the
// listeners it is attached to, with the redirect port of its own listener.
func TestGatewayServesEveryPort(t *testing.T) {
	res := Translate(multiPortInput(t))
	gs := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if gs == nil || len(gs.Listeners) != 4 {
		t.Fatalf("gateway status = %+v", gs)
	}
	for i, want := range []int32{2, 2, 2, 0} { // http: to-https, api; https: web, api; alt: admin, api
		if gs.Listeners[i].AttachedRoutes != want {
			t.Errorf("listener %s attachedRoutes = %d, want %d", gs.Listeners[i].Name, gs.Listeners[i].AttachedRoutes, want)
		}
		c := conditions.Require(t, gs.Listeners[i].Conditions, "Accepted")
		if i < 3 && c.Status != metav1.ConditionTrue {
			t.Errorf("listener %s Accepted = %+v", gs.Listeners[i].Name, c)
		}
	}
	if c := conditions.Require(t, gs.Listeners[3].Conditions, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonUnsupportedProtocol) {
		t.Errorf("UDP listener on the HTTP port: Accepted = %+v", c)
	}
	if u := res.Unserved[types.NamespacedName{Namespace: "shop", Name: "edge"}]; len(u) != 1 || u["udp-on-80"] == "" {
		t.Errorf("unserved listeners = %v, want only udp-on-80", u)
	}
	for _, name := range []string{"to-https", "web", "admin", "api"} {
		ps := res.HTTPRoutes[types.NamespacedName{Namespace: "shop", Name: name}]
		if len(ps) != 1 || conditions.Require(t, ps[0].Conditions, "Accepted").Status != metav1.ConditionTrue {
			t.Errorf("route %s parents = %+v", name, ps)
		}
	}

	p, groups := served(t, res.Spec)
	g := groups[GatewayNodeGroup("shop", "edge")]
	if g == nil {
		t.Fatal("no Envoy node group")
	}
	ports := map[string]uint32{"gateway-80": 80, "gateway-443": 443, "gateway-8080": 8080}
	if len(g.Listeners) != 3 || len(g.Routes) != 3 {
		t.Fatalf("listeners %d, route configurations %d, want 3 each", len(g.Listeners), len(g.Routes))
	}
	for _, l := range g.Listeners {
		if l.GetAddress().GetSocketAddress().GetPortValue() != ports[l.GetName()] {
			t.Errorf("listener %s on %v", l.GetName(), l.GetAddress())
		}
		if tls := l.GetFilterChains()[0].GetTransportSocket() != nil; tls != (l.GetName() == "gateway-443") {
			t.Errorf("listener %s terminates TLS: %v", l.GetName(), tls)
		}
		if rds := hcmOf(t, l).GetRds().GetRouteConfigName(); rds != "gw.shop.edge/"+l.GetName() {
			t.Errorf("listener %s takes route configuration %q", l.GetName(), rds)
		}
	}
	rc := func(name string) *routev3.RouteConfiguration {
		for _, r := range g.Routes {
			if r.GetName() == "gw.shop.edge/"+name {
				return r
			}
		}
		t.Fatalf("no route configuration for %s", name)
		return nil
	}
	vhosts := func(r *routev3.RouteConfiguration) []string {
		var out []string
		for _, vh := range r.GetVirtualHosts() {
			out = append(out, vh.GetName()+"="+strings.Join(vh.GetDomains(), ","))
		}
		return out
	}
	for l, want := range map[string][]string{
		"gateway-80":   {"gw.shop.edge/api.shop:80=api.shop", "gw.shop.edge/web.shop:80=web.shop"},
		"gateway-443":  {"gw.shop.edge/api.shop:443=api.shop", "gw.shop.edge/web.shop:443=web.shop"},
		"gateway-8080": {"gw.shop.edge/admin.shop:8080=admin.shop", "gw.shop.edge/api.shop:8080=api.shop"},
	} {
		if got := vhosts(rc(l)); !slices.Equal(got, want) {
			t.Errorf("%s virtual hosts = %v, want %v", l, got, want)
		}
		if !rc(l).GetIgnorePortInHostMatching() {
			t.Errorf("%s matches the Host with its port", l)
		}
	}
	// On 80 web.shop redirects to https (the well-known port: none in the Location), on 443
	// it is forwarded; admin.shop's redirect keeps its listener's port 8080.
	if n80, n443 := len(rc("gateway-80").GetVirtualHosts()[1].GetRoutes()), len(rc("gateway-443").GetVirtualHosts()[1].GetRoutes()); n80 != 1 || n443 != 1 {
		t.Errorf("web.shop has %d routes on 80 and %d on 443, want its own listener's one on each", n80, n443)
	}
	redirect := rc("gateway-80").GetVirtualHosts()[1].GetRoutes()[0].GetRedirect()
	if !redirect.GetHttpsRedirect() || redirect.GetPortRedirect() != 0 {
		t.Errorf("web.shop on 80: redirect %v", redirect)
	}
	if c := rc("gateway-443").GetVirtualHosts()[1].GetRoutes()[0].GetRoute().GetCluster(); c != "shop-web-8080.shop" {
		t.Errorf("web.shop on 443 goes to cluster %q", c)
	}
	if r := p.Route("gw.shop.edge/admin.shop:8080:HTTPRoute/shop/admin/0/0"); r == nil || r.Redirect == nil || r.Redirect.Port != 8080 || r.Redirect.Path != "/login" {
		t.Errorf("admin.shop redirect = %+v", r)
	}

	// Proxyless gRPC clients have no ports: one target per hostname, with the routes of
	// its HTTPS port when it has one.
	grpc := groups[GatewayNodeGroup("shop", "edge")+".grpc"]
	var targets []string
	for _, l := range grpc.Listeners {
		if rds := hcmOf(t, l).GetRds().GetRouteConfigName(); strings.Contains(rds, "/gw.shop.edge/") { // not an upstream's
			targets = append(targets, l.GetName()+"->"+rds)
		}
	}
	want := []string{
		"admin.shop->gw.shop.edge.grpc/gw.shop.edge/admin.shop:8080",
		"api.shop->gw.shop.edge.grpc/gw.shop.edge/api.shop:443",
		"web.shop->gw.shop.edge.grpc/gw.shop.edge/web.shop:443",
	}
	if slices.Sort(targets); !slices.Equal(targets, want) {
		t.Errorf("proxyless targets = %v, want %v", targets, want)
	}

	// The canary drives the route's match on every port it is served on.
	if len(p.Spec.Canaries) != 1 {
		t.Fatalf("canaries = %+v", p.Spec.Canaries)
	}
	c := p.Spec.Canaries[0]
	routes := append([]string{c.Route}, c.Routes...)
	slices.Sort(routes)
	wantRoutes := []string{
		"gw.shop.edge/api.shop:443:HTTPRoute/shop/api/0/0",
		"gw.shop.edge/api.shop:8080:HTTPRoute/shop/api/0/0",
		"gw.shop.edge/api.shop:80:HTTPRoute/shop/api/0/0",
	}
	if !slices.Equal(routes, wantRoutes) {
		t.Errorf("canary routes = %v, want %v", routes, wantRoutes)
	}
}

// TestSinglePortNamesUnchanged checks a Gateway whose HTTP listeners share one port names its
// virtual hosts without a port, and its Envoy listener and route configuration after the port.
// Another port added later leaves that Envoy listener exactly as it was, so Envoy drains
// none of its connections.
func TestSinglePortNamesUnchanged(t *testing.T) {
	listeners := []gwv1.Listener{
		{Name: "a", Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: ptr(gwv1.Hostname("a.shop"))},
		{Name: "b", Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: ptr(gwv1.Hostname("b.shop"))},
		{Name: "tcp", Port: 9000, Protocol: gwv1.TCPProtocolType},
	}
	in := oneGateway("shop", "edge", listeners, "web")
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("shop", "web", []gwv1.ParentReference{{Name: "edge"}}, nil, nil, "web")}
	p, groups := served(t, Translate(in).Spec)
	g := groups[GatewayNodeGroup("shop", "edge")]
	if len(g.Listeners) != 1 || g.Listeners[0].GetName() != "gateway-8080" || g.Routes[0].GetName() != "gw.shop.edge/gateway-8080" {
		t.Fatalf("listeners %v", g.Listeners)
	}
	if got := vhostNames(g.Routes[0]); !slices.Equal(got, []string{"gw.shop.edge/a.shop", "gw.shop.edge/b.shop"}) {
		t.Errorf("virtual hosts = %v", got)
	}
	if p.Route("gw.shop.edge/a.shop:HTTPRoute/shop/web/0/0") == nil {
		t.Error("policy route names changed")
	}

	in.Gateways[0].Spec.Listeners = append(slices.Clone(listeners), gwv1.Listener{Name: "c", Port: 9090, Protocol: gwv1.HTTPProtocolType, Hostname: ptr(gwv1.Hostname("c.shop"))})
	_, groups = served(t, Translate(in).Spec)
	two := groups[GatewayNodeGroup("shop", "edge")]
	if len(two.Listeners) != 2 || !proto.Equal(two.Listeners[0], g.Listeners[0]) || two.Listeners[1].GetName() != "gateway-9090" {
		t.Errorf("with a second port, listeners %v; want the first unchanged: %v", two.Listeners, g.Listeners[0])
	}
}

func vhostNames(rc *routev3.RouteConfiguration) []string {
	var out []string
	for _, vh := range rc.GetVirtualHosts() {
		out = append(out, vh.GetName())
	}
	return out
}

// TestListenerPort checks the port a redirect without one gets from its listener.
func TestListenerPort(t *testing.T) {
	for _, tc := range []struct {
		r        policy.Redirect
		port     int32
		protocol gwv1.ProtocolType
		want     uint32
	}{
		{policy.Redirect{Path: "/x"}, 80, gwv1.HTTPProtocolType, 0},
		{policy.Redirect{Path: "/x"}, 443, gwv1.HTTPSProtocolType, 0},
		{policy.Redirect{Path: "/x"}, 443, gwv1.HTTPProtocolType, 443},
		{policy.Redirect{Path: "/x"}, 80, gwv1.HTTPSProtocolType, 80},
		{policy.Redirect{Path: "/x"}, 8443, gwv1.HTTPSProtocolType, 8443},
		{policy.Redirect{Scheme: "https"}, 8080, gwv1.HTTPProtocolType, 0},
		{policy.Redirect{Port: 9000}, 8080, gwv1.HTTPProtocolType, 9000},
	} {
		if got := listenerPort(&tc.r, tc.port, tc.protocol); got.Port != tc.want {
			t.Errorf("%+v on %s %d: port %d, want %d", tc.r, tc.protocol, tc.port, got.Port, tc.want)
		}
	}
}

// hcmOf is the HTTP connection manager of an Envoy listener or a gRPC api_listener.
func hcmOf(t *testing.T, l *listenerv3.Listener) *hcmv3.HttpConnectionManager {
	t.Helper()
	a := l.GetApiListener().GetApiListener()
	if a == nil {
		a = l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig()
	}
	h := &hcmv3.HttpConnectionManager{}
	if err := a.UnmarshalTo(h); err != nil {
		t.Fatalf("listener %s: %v", l.GetName(), err)
	}
	return h
}
