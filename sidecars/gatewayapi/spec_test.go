package gatewayapi

import (
	"regexp"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// oneGateway is an Input with one Gateway of ours with the listeners (one HTTP listener on
// port 80 when none are given) and the Services.
func oneGateway(ns, name string, listeners []gwv1.Listener, services ...string) *Input {
	if len(listeners) == 0 {
		listeners = []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}
	}
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0),
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}},
		Gateways: []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: gwv1.GatewaySpec{GatewayClassName: "foresight", Listeners: listeners}}}}
	for _, s := range services {
		in.Services = append(in.Services, svc(ns, s, 8080))
	}
	return in
}

// simpleRoute is an HTTPRoute in ns with one rule: the match (any request when nil) to the
// backend Service's port 8080, when backend is not empty.
func simpleRoute(ns, name string, parents []gwv1.ParentReference, hosts []gwv1.Hostname, match *gwv1.HTTPRouteMatch, backend string) *gwv1.HTTPRoute {
	rule := gwv1.HTTPRouteRule{}
	if match != nil {
		rule.Matches = []gwv1.HTTPRouteMatch{*match}
	}
	if backend != "" {
		rule.BackendRefs = []gwv1.HTTPBackendRef{{BackendRef: ref(backend, 8080, 1)}}
	}
	return &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.Unix(1, 0)},
		Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents}, Hostnames: hosts, Rules: []gwv1.HTTPRouteRule{rule}}}
}

// serve translates in, merges it into an empty policy, validates it and translates it to
// Envoy resources by node group, failing the test on any error.
func serve(t *testing.T, in *Input) (*Result, map[string]*translate.Resources) {
	t.Helper()
	res := Translate(in)
	p := Merge(base(t), res.Spec)
	if err := p.Validate(); err != nil {
		t.Fatalf("policy refused: %v", err)
	}
	groups, err := translate.Translate(p)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	return res, groups
}

// gatewayRoutes is the one RouteConfiguration of a Gateway's Envoy node group.
func gatewayRoutes(t *testing.T, groups map[string]*translate.Resources, ns, name string) *routev3.RouteConfiguration {
	t.Helper()
	g := groups[GatewayNodeGroup(ns, name)]
	if g == nil || len(g.Routes) != 1 {
		t.Fatalf("node group %s: %v", GatewayNodeGroup(ns, name), g)
	}
	return g.Routes[0]
}

func TestLongGatewayNamesMakeValidNodeGroups(t *testing.T) {
	const ns = "gateway-conformance-infra"
	names := []string{"grpcroute-listener-hostname-matching", "grpcroute-listener-hostname-matching-2"}
	in := oneGateway(ns, names[0], nil, "v1")
	second := *in.Gateways[0]
	second.Name = names[1]
	in.Gateways = append(in.Gateways, &second)
	for _, n := range names {
		in.HTTPRoutes = append(in.HTTPRoutes, simpleRoute(ns, "r-"+n, []gwv1.ParentReference{{Name: gwv1.ObjectName(n)}}, nil, nil, "v1"))
	}
	res, groups := serve(t, in)
	seen := map[string]bool{}
	for _, g := range res.Spec.NodeGroups {
		if len(g.Name) > 63 || seen[g.Name] {
			t.Errorf("node group %q: too long or not unique", g.Name)
		}
		seen[g.Name] = true
	}
	if len(seen) != 4 {
		t.Errorf("node groups %v, want 4", seen)
	}
	for _, n := range names {
		gatewayRoutes(t, groups, ns, n)
		if !seen[GatewayNodeGroup(ns, n)+".grpc"] {
			t.Errorf("no gRPC node group for %s", n)
		}
	}
	if short := GatewayNodeGroup("shop", "edge"); short != "gw.shop.edge" {
		t.Errorf("short name changed: %q", short)
	}
}

func TestRouteOnTwoListenersOfOneHostnameServedOnce(t *testing.T) {
	foo, star := gwv1.Hostname("foo.bar.com"), gwv1.Hostname("*.bar.com")
	in := oneGateway("infra", "lhm", []gwv1.Listener{
		{Name: "listener-2", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: &foo},
		{Name: "listener-3", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: &star}}, "backend-v2")
	s2, s3 := gwv1.SectionName("listener-2"), gwv1.SectionName("listener-3")
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("infra", "backend-v2",
		[]gwv1.ParentReference{{Name: "lhm", SectionName: &s2}, {Name: "lhm", SectionName: &s3}}, []gwv1.Hostname{"foo.bar.com"}, nil, "backend-v2")}
	res, groups := serve(t, in)
	for _, p := range res.HTTPRoutes[types.NamespacedName{Namespace: "infra", Name: "backend-v2"}] {
		if c := p.Conditions[0]; c.Status != metav1.ConditionTrue {
			t.Errorf("parent %s: %+v", *p.ParentRef.SectionName, c)
		}
	}
	vhs := gatewayRoutes(t, groups, "infra", "lhm").GetVirtualHosts()
	if len(vhs) != 1 || len(vhs[0].GetRoutes()) != 1 {
		t.Fatalf("virtual hosts %v, want foo.bar.com with one route", vhs)
	}
}

func TestGatewayIgnoresPortInHost(t *testing.T) {
	in := oneGateway("infra", "gw", []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}, "v1")
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("infra", "r", []gwv1.ParentReference{{Name: "gw"}}, []gwv1.Hostname{"very.specific.com"}, nil, "v1")}
	_, groups := serve(t, in)
	if rc := gatewayRoutes(t, groups, "infra", "gw"); !rc.GetIgnorePortInHostMatching() {
		t.Errorf("RouteConfiguration %s matches the Host header with its port", rc.GetName())
	}
}

func TestPathPrefixIgnoresTrailingSlash(t *testing.T) {
	in := oneGateway("infra", "gw", nil, "v1")
	prefix, value := gwv1.PathMatchPathPrefix, "/match/prefix/"
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("infra", "r", []gwv1.ParentReference{{Name: "gw"}}, []gwv1.Hostname{"example.com"},
		&gwv1.HTTPRouteMatch{Path: &gwv1.HTTPPathMatch{Type: &prefix, Value: &value}}, "v1")}
	_, groups := serve(t, in)
	// Envoy matches whole segments itself; a regex would be refused once its compiled
	// program outgrows Envoy's limit.
	if m := gatewayRoutes(t, groups, "infra", "gw").GetVirtualHosts()[0].GetRoutes()[0].GetMatch(); m.GetPathSeparatedPrefix() != "/match/prefix" {
		t.Errorf("Envoy match %v, want path_separated_prefix /match/prefix", m)
	}
	// grpc-go does not read path_separated_prefix: it gets the equivalent regex.
	var m *routev3.RouteMatch
	if grpc := groups[GatewayNodeGroup("infra", "gw")+".grpc"]; grpc != nil {
		for _, rc := range grpc.Routes {
			if strings.HasSuffix(rc.GetName(), "/example.com") {
				m = rc.GetVirtualHosts()[0].GetRoutes()[0].GetMatch()
			}
		}
	}
	re, err := regexp.Compile("^(?:" + m.GetSafeRegex().GetRegex() + ")$")
	if err != nil || m.GetSafeRegex() == nil {
		t.Fatalf("gRPC match %v: want a path regex (%v)", m, err)
	}
	for path, want := range map[string]bool{"/match/prefix": true, "/match/prefix/": true, "/match/prefix/x": true, "/match/prefixes": false, "/match": false} {
		if re.MatchString(path) != want {
			t.Errorf("%s matches %s: %v, want %v", m.GetSafeRegex().GetRegex(), path, !want, want)
		}
	}
}

func TestRedirectWithOnlyStatusCode(t *testing.T) {
	for code, want := range map[int]routev3.RedirectAction_RedirectResponseCode{
		303: routev3.RedirectAction_SEE_OTHER, 307: routev3.RedirectAction_TEMPORARY_REDIRECT, 308: routev3.RedirectAction_PERMANENT_REDIRECT} {
		in := oneGateway("infra", "gw", nil)
		r := simpleRoute("infra", "redirect", []gwv1.ParentReference{{Name: "gw"}}, nil, nil, "")
		r.Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
			RequestRedirect: &gwv1.HTTPRequestRedirectFilter{StatusCode: &code}}}
		in.HTTPRoutes = []*gwv1.HTTPRoute{r}
		res, groups := serve(t, in)
		if c := res.HTTPRoutes[types.NamespacedName{Namespace: "infra", Name: "redirect"}][0].Conditions[0]; c.Status != metav1.ConditionTrue {
			t.Errorf("%d: %s=%s %s", code, c.Type, c.Status, c.Message)
			continue
		}
		got := gatewayRoutes(t, groups, "infra", "gw").GetVirtualHosts()[0].GetRoutes()[0].GetRedirect()
		if !proto.Equal(got, &routev3.RedirectAction{ResponseCode: want}) {
			t.Errorf("%d: redirect %v, want only the response code", code, got)
		}
	}
}

func TestHeaderMatchFirstOfEqualNames(t *testing.T) {
	in := oneGateway("default", "gw", nil, "canary")
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("default", "r", []gwv1.ParentReference{{Name: "gw"}}, nil,
		&gwv1.HTTPRouteMatch{Headers: []gwv1.HTTPHeaderMatch{{Name: "env", Value: "canary"}, {Name: "Env", Value: "prod"}, {Name: "x-b", Value: "1"}}}, "canary")}
	_, groups := serve(t, in)
	hs := gatewayRoutes(t, groups, "default", "gw").GetVirtualHosts()[0].GetRoutes()[0].GetMatch().GetHeaders()
	if len(hs) != 2 || hs[0].GetName() != "env" || hs[0].GetStringMatch().GetExact() != "canary" || hs[1].GetName() != "x-b" {
		t.Errorf("header matchers %v, want env=canary and x-b=1", hs)
	}
}

// grpcRoute is a GRPCRoute in ns with one rule to the backend Service's port 8080, created
// at the Unix second created.
func grpcRoute(ns, name string, parents []gwv1.ParentReference, hosts []gwv1.Hostname, backend string, created int64) *gwv1.GRPCRoute {
	return &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.Unix(created, 0)},
		Spec: gwv1.GRPCRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parents}, Hostnames: hosts,
			Rules: []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref(backend, 8080, 1)}}}}}}
}

func TestHTTPRouteAndGRPCRouteOnOneHostnameServeTheOlder(t *testing.T) {
	parents := []gwv1.ParentReference{{Name: "gw"}}
	for _, tc := range []struct {
		name                 string
		httpHosts, grpcHosts []gwv1.Hostname
		httpAge, grpcAge     int64 // creation times: the smaller is older
		want                 string
	}{
		{"no hostnames, HTTPRoute older", nil, nil, 1, 2, KindHTTPRoute},
		{"no hostnames, GRPCRoute older", nil, nil, 2, 1, KindGRPCRoute},
		{"same time: namespace/name decides", nil, nil, 1, 1, KindGRPCRoute}, // "api" before "web"
		{"wildcard covers the other's hostname", []gwv1.Hostname{"*.example.com"}, []gwv1.Hostname{"api.example.com"}, 1, 2, KindHTTPRoute},
		{"one without hostnames", []gwv1.Hostname{"www.example.com"}, nil, 2, 1, KindGRPCRoute},
		{"hostnames that do not overlap", []gwv1.Hostname{"www.example.com"}, []gwv1.Hostname{"api.example.com"}, 1, 2, "both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := oneGateway("infra", "gw", nil, "web", "api")
			h := simpleRoute("infra", "web", parents, tc.httpHosts, nil, "web")
			h.CreationTimestamp = metav1.Unix(tc.httpAge, 0)
			in.HTTPRoutes = []*gwv1.HTTPRoute{h}
			in.GRPCRoutes = []*gwv1.GRPCRoute{grpcRoute("infra", "api", parents, tc.grpcHosts, "api", tc.grpcAge)}
			res, _ := serve(t, in)
			got := map[string]metav1.Condition{
				KindHTTPRoute: res.HTTPRoutes[types.NamespacedName{Namespace: "infra", Name: "web"}][0].Conditions[0],
				KindGRPCRoute: res.GRPCRoutes[types.NamespacedName{Namespace: "infra", Name: "api"}][0].Conditions[0],
			}
			for kind, c := range got {
				wantOK := tc.want == "both" || tc.want == kind
				if (c.Status == metav1.ConditionTrue) != wantOK {
					t.Errorf("%s: Accepted=%s %s %q, want accepted %v", kind, c.Status, c.Reason, c.Message, wantOK)
				}
				if !wantOK && (c.Reason != routeReasonConflicted || !regexp.MustCompile(`already serves (HTTP|GRPC)Route infra/(web|api) on hostname `).MatchString(c.Message)) {
					t.Errorf("%s: reason %s, message %q: want the conflict named", kind, c.Reason, c.Message)
				}
			}
			served := map[string]bool{}
			for _, vh := range res.Spec.VirtualHosts {
				for _, r := range vh.Routes {
					for _, s := range r.Services() {
						served[s] = true
					}
				}
			}
			web, api := served[ServiceName("infra", "web", 8080)], served[ServiceName("infra", "api", 8080)]
			if web != (tc.want != KindGRPCRoute) || api != (tc.want != KindHTTPRoute) {
				t.Errorf("served to web %v, api %v; want the routes accepted (%s) only", web, api, tc.want)
			}
			if n := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "gw"}].Listeners[0].AttachedRoutes; n != map[bool]int32{true: 2, false: 1}[tc.want == "both"] {
				t.Errorf("attachedRoutes %d", n)
			}
		})
	}
}

func TestRouteAttachedTwiceToOneListenerCountsOnce(t *testing.T) {
	in := oneGateway("infra", "gw", nil, "v1")
	http := gwv1.SectionName("http")
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("infra", "r", []gwv1.ParentReference{{Name: "gw"}, {Name: "gw", SectionName: &http}}, nil, nil, "v1")}
	res, _ := serve(t, in)
	if n := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "gw"}].Listeners[0].AttachedRoutes; n != 1 {
		t.Errorf("attachedRoutes %d, want 1", n)
	}
}

// TestGatewayGroupsAdmitTheirNamespace: a Gateway's node groups (Envoy and proxyless gRPC)
// admit, under serve --require-node-identity, the workloads of the Gateway's namespace only.
func TestGatewayGroupsAdmitTheirNamespace(t *testing.T) {
	in := oneGateway("shop", "edge", nil, "v1")
	in.HTTPRoutes = append(in.HTTPRoutes, simpleRoute("shop", "r", []gwv1.ParentReference{{Name: "edge"}}, nil, nil, "v1"))
	res, _ := serve(t, in)
	for _, group := range []string{GatewayNodeGroup("shop", "edge"), GatewayNodeGroup("shop", "edge") + ".grpc"} {
		for id, want := range map[string]bool{
			"spiffe://cluster.local/ns/shop/sa/edge-gateway": true,
			"spiffe://prod.example/ns/shop/sa/default":       true,
			"spiffe://cluster.local/ns/shopping/sa/edge":     false,
			"spiffe://cluster.local/ns/other/sa/edge":        false,
		} {
			if got := (&policy.Policy{Spec: res.Spec}).AdmitsIdentity(group, []string{id}); got != want {
				t.Errorf("group %s admits %s: %v, want %v", group, id, got, want)
			}
		}
	}
}
