package gatewayapi

import (
	"maps"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// servedHosts maps each hostname the translation serves to the services its routes send to.
func servedHosts(res *Result) map[string][]string {
	out := map[string][]string{}
	for _, vh := range res.Spec.VirtualHosts {
		svcs := map[string]bool{}
		for _, r := range vh.Routes {
			for _, s := range r.Services() {
				svcs[s] = true
			}
		}
		for _, d := range vh.Domains {
			out[d] = slices.Sorted(maps.Keys(svcs))
		}
	}
	return out
}

// TestMostSpecificListenerOwnsItsHostname: a request goes to the most specific listener of
// its port, so a route attached to a less specific listener (a catch-all one that admits
// every namespace) does not serve the hostnames a more specific listener of the port covers,
// and cannot add its rules to another team's hostname. It still serves the others, and is
// still attached (Accepted) when it is left none.
func TestMostSpecificListenerOwnsItsHostname(t *testing.T) {
	all := gwv1.NamespacesFromAll
	host := func(h string) *gwv1.Hostname { v := gwv1.Hostname(h); return &v }
	listeners := []gwv1.Listener{
		{Name: "shared", Port: 80, Protocol: gwv1.HTTPProtocolType, AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}}},
		{Name: "team", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: host("a.example.com")},
		{Name: "wild", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: host("*.team.example.com")},
		{Name: "other-port", Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: host("b.example.com")},
	}
	section := func(s string) []gwv1.ParentReference {
		return []gwv1.ParentReference{{Name: "gw", Namespace: ptr(gwv1.Namespace("infra")), SectionName: ptr(gwv1.SectionName(s))}}
	}
	in := oneGateway("infra", "gw", listeners, "team-web", "wild-web")
	in.Services = append(in.Services, svc("tenant", "intruder", 8080))
	team := simpleRoute("infra", "team", section("team"), nil, nil, "team-web")
	wild := simpleRoute("infra", "wild", section("wild"), nil, nil, "wild-web")
	intruder := simpleRoute("tenant", "intruder", section("shared"),
		[]gwv1.Hostname{"a.example.com", "x.team.example.com", "*.team.example.com", "b.example.com", "c.example.com"}, nil, "intruder")
	onlyTaken := simpleRoute("tenant", "only-taken", section("shared"), []gwv1.Hostname{"a.example.com"}, nil, "intruder")
	in.HTTPRoutes = []*gwv1.HTTPRoute{team, wild, intruder, onlyTaken}
	res, _ := serve(t, in)

	want := map[string][]string{
		"a.example.com":      {ServiceName("infra", "team-web", 8080)},
		"*.team.example.com": {ServiceName("infra", "wild-web", 8080)},
		// The other listener on port 8080 does not take b.example.com from port 80.
		"b.example.com": {ServiceName("tenant", "intruder", 8080)},
		"c.example.com": {ServiceName("tenant", "intruder", 8080)},
	}
	got := servedHosts(res)
	for h, svcs := range want {
		if !slices.Equal(got[h], svcs) {
			t.Errorf("%s serves %v, want %v", h, got[h], svcs)
		}
	}
	if svcs, ok := got["x.team.example.com"]; ok {
		t.Errorf("x.team.example.com, which listener wild covers, is served by the shared listener's route: %v", svcs)
	}
	for _, name := range []string{"intruder", "only-taken"} {
		st := res.HTTPRoutes[types.NamespacedName{Namespace: "tenant", Name: name}]
		if len(st) != 1 || st[0].Conditions[0].Type != "Accepted" || st[0].Conditions[0].Status != metav1.ConditionTrue {
			t.Errorf("route %s: %+v, want Accepted", name, st)
		}
	}
	if n := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "gw"}].Listeners[0].AttachedRoutes; n != 2 {
		t.Errorf("the shared listener has %d attached routes, want 2", n)
	}

	// Without the team listener, the shared listener's route serves a.example.com.
	in.Gateways[0].Spec.Listeners = slices.Delete(slices.Clone(listeners), 1, 2)
	in.HTTPRoutes = []*gwv1.HTTPRoute{wild, intruder}
	res, _ = serve(t, in)
	if got := servedHosts(res)["a.example.com"]; !slices.Equal(got, []string{ServiceName("tenant", "intruder", 8080)}) {
		t.Errorf("without the team listener a.example.com serves %v", got)
	}
}

// TestListenerWithoutRoutesAnswers404: a request for the hostname of a listener that has no
// route for it goes to that listener, not to a less specific listener's routes: its hostname
// gets a virtual host that answers 404 on Envoy, and none on proxyless gRPC. Where nothing
// else would catch the request, no such virtual host is added.
func TestListenerWithoutRoutesAnswers404(t *testing.T) {
	host := func(h string) *gwv1.Hostname { v := gwv1.Hostname(h); return &v }
	listeners := []gwv1.Listener{
		{Name: "shared", Port: 80, Protocol: gwv1.HTTPProtocolType},
		{Name: "team", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: host("a.example.com")},
		{Name: "wild", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: host("*.example.com")},
	}
	section := func(s string) []gwv1.ParentReference {
		return []gwv1.ParentReference{{Name: "gw", SectionName: ptr(gwv1.SectionName(s))}}
	}
	in := oneGateway("infra", "gw", listeners, "web", "wild-web")
	shared := simpleRoute("infra", "shared", section("shared"), nil, nil, "web")
	wildOne := simpleRoute("infra", "wild-one", section("wild"), []gwv1.Hostname{"b.example.com"}, nil, "wild-web")
	in.HTTPRoutes = []*gwv1.HTTPRoute{shared, wildOne}
	res := Translate(in)
	served(t, res.Spec) // valid, and passes the checks of what Envoy accepts

	vhosts := map[string]policy.VirtualHost{}
	for _, vh := range res.Spec.VirtualHosts {
		vhosts[vh.Domains[0]] = vh
	}
	for _, h := range []string{"a.example.com", "*.example.com"} {
		vh, ok := vhosts[h]
		if !ok || len(vh.Routes) != 1 || vh.Routes[0].DirectResponse == nil || vh.Routes[0].DirectResponse.Status != 404 {
			t.Errorf("%s: virtual host %+v, want one route that answers 404", h, vh)
		}
	}
	got := servedHosts(res)
	if want := []string{ServiceName("infra", "web", 8080)}; !slices.Equal(got["*"], want) {
		t.Errorf("* serves %v, want %v", got["*"], want)
	}
	if want := []string{ServiceName("infra", "wild-web", 8080)}; !slices.Equal(got["b.example.com"], want) {
		t.Errorf("b.example.com serves %v, want %v", got["b.example.com"], want)
	}
	for _, ng := range res.Spec.NodeGroups {
		if ng.Kind == policy.NodeGRPC && slices.Contains(ng.VirtualHosts, vhosts["a.example.com"].Name) {
			t.Error("proxyless gRPC clients get a target for the listener without routes")
		}
	}

	// Without routes on the catch-all listener nothing would catch those hostnames.
	in.HTTPRoutes = []*gwv1.HTTPRoute{wildOne}
	res, _ = serve(t, in)
	if _, ok := servedHosts(res)["a.example.com"]; ok {
		t.Error("a.example.com gets a virtual host though no other route would catch it")
	}
}

// TestListenerWithNoRouteAnswers404: a Gateway whose listeners have no route attached yet is
// served all the same, as its Programmed condition says: its proxies join its node group and
// listen on every HTTP port, answering each request 404. An HTTP port with routes is
// unchanged, and a proxyless gRPC group (nothing to forward to) is not made.
func TestListenerWithNoRouteAnswers404(t *testing.T) {
	host := gwv1.Hostname("a.example.com")
	in := oneGateway("shop", "edge", []gwv1.Listener{
		{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType},
		{Name: "named", Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: &host},
	})
	res, groups := serve(t, in)
	if _, unserved := res.Unserved[types.NamespacedName{Namespace: "shop", Name: "edge"}]; unserved {
		t.Errorf("listeners unserved: %v", res.Unserved)
	}
	served(t, res.Spec)
	g := groups[GatewayNodeGroup("shop", "edge")]
	if g == nil || len(g.Listeners) != 2 {
		t.Fatalf("node group of a Gateway with no routes: %+v, want its two HTTP listeners", g)
	}
	if _, ok := groups[GatewayNodeGroup("shop", "edge")+".grpc"]; ok {
		t.Error("a proxyless gRPC group for a Gateway with no routes")
	}
	for _, rc := range g.Routes {
		vhs := rc.GetVirtualHosts()
		if len(vhs) != 1 || !slices.Equal(vhs[0].GetDomains(), []string{"*"}) || len(vhs[0].GetRoutes()) != 1 {
			t.Fatalf("route configuration %s: %v, want one virtual host for every hostname", rc.GetName(), vhs)
		}
		if d := vhs[0].GetRoutes()[0].GetDirectResponse(); d.GetStatus() != 404 {
			t.Errorf("route configuration %s answers %v, want 404", rc.GetName(), d)
		}
	}

	in.Services = append(in.Services, svc("shop", "web", 8080))
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("shop", "web", []gwv1.ParentReference{{Name: "edge", SectionName: ptr(gwv1.SectionName("http"))}}, nil, nil, "web")}
	res, _ = serve(t, in)
	routes := map[string][]policy.Route{}
	for _, vh := range res.Spec.VirtualHosts {
		routes[vh.Name] = vh.Routes
	}
	if r := routes["gw.shop.edge/*:80"]; len(r) != 1 || r[0].DirectResponse != nil || !slices.Equal(r[0].Services(), []string{ServiceName("shop", "web", 8080)}) {
		t.Errorf("with a route on port 80: its routes %+v, want the route alone", r)
	}
	if r := routes["gw.shop.edge/*:8080"]; len(r) != 1 || r[0].DirectResponse == nil || r[0].DirectResponse.Status != 404 {
		t.Errorf("port 8080, still with no route: %+v, want the 404", r)
	}
}
