package gatewayapi

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// routeStatus is the conditions of our parent entry of a route.
func routeStatus(t *testing.T, m map[types.NamespacedName][]gwv1.RouteParentStatus, ns, name string) []metav1.Condition {
	t.Helper()
	ps := m[types.NamespacedName{Namespace: ns, Name: name}]
	if len(ps) != 1 {
		t.Fatalf("%s/%s parents = %+v", ns, name, ps)
	}
	return ps[0].Conditions
}

// envoyRoute finds the translated Envoy route of a policy route in a node group.
func envoyRoute(t *testing.T, res *translate.Resources, name string) *envoy_config_route_v3.Route {
	t.Helper()
	for _, rc := range res.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				if r.GetName() == name {
					return r
				}
			}
		}
	}
	t.Fatalf("no route %q", name)
	return nil
}

// TestTranslatePartlyInvalidBackends: the share of a backendRef that does not resolve is
// answered with 500 (Envoy) or fails (proxyless gRPC: an EDS cluster without endpoints)
// rather than going to the other backends, and the route says ResolvedRefs=False.
func TestTranslatePartlyInvalidBackends(t *testing.T) {
	in := input()
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs = []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 3)}, {BackendRef: ref("nowhere", 80, 1)}}
	in.GRPCRoutes[0].Spec.Rules[0].BackendRefs = []gwv1.GRPCBackendRef{{BackendRef: ref("greeter-v1", 50051, 1)}, {BackendRef: ref("greeter-v9", 50051, 1)}}
	in.CanaryPolicies = nil
	res := Translate(in)
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.RouteReasonBackendNotFound) || !strings.Contains(c.Message, "rules[0].backendRefs[1]") {
		t.Errorf("split ResolvedRefs = %+v", c)
	}
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "Accepted"); c.Status != metav1.ConditionTrue {
		t.Errorf("split Accepted = %+v", c)
	}
	p, groups := served(t, res.Spec)
	const httpName, grpcName = "gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0", "gw.shop.edge/greeter.shop:GRPCRoute/shop/greeter/0/0"
	if want := []policy.Backend{{Service: "shop-web-80", Weight: 3}, {Weight: 1, Unresolved: true}}; !slices.Equal(p.Route(httpName).Backends, want) {
		t.Errorf("split backends = %+v, want %+v", p.Route(httpName).Backends, want)
	}
	// Envoy: the unresolved share names a cluster it is never sent, answered with 500.
	envoy := groups["gw.shop.edge"]
	a := envoyRoute(t, envoy, httpName).GetRoute()
	ws := a.GetWeightedClusters().GetClusters()
	if len(ws) != 2 || ws[1].GetName() != translate.UnresolvedCluster || ws[1].GetWeight().GetValue() != 1 || ws[0].GetWeight().GetValue() != 3 {
		t.Errorf("weighted clusters = %v", ws)
	}
	if a.GetClusterNotFoundResponseCode() != envoy_config_route_v3.RouteAction_INTERNAL_SERVER_ERROR {
		t.Errorf("cluster_not_found_response_code = %v, want 500", a.GetClusterNotFoundResponseCode())
	}
	for _, c := range envoy.Clusters {
		if c.GetName() == translate.UnresolvedCluster {
			t.Error("Envoy is sent the unresolved cluster: it would answer 503, not 500")
		}
	}
	// Proxyless gRPC: the unresolved share goes to a cluster without endpoints.
	grpc := groups["gw.shop.edge.grpc"]
	ws = envoyRoute(t, grpc, grpcName).GetRoute().GetWeightedClusters().GetClusters()
	if len(ws) != 2 || ws[1].GetName() != translate.UnresolvedCluster || ws[1].GetWeight().GetValue() != 1 || ws[0].GetWeight().GetValue() != 1 {
		t.Errorf("gRPC weighted clusters = %v", ws)
	}
	found := false
	for _, c := range grpc.Clusters {
		found = found || c.GetName() == translate.UnresolvedCluster
	}
	if !found {
		t.Error("no unresolved cluster for gRPC clients")
	}
	for _, e := range grpc.Endpoints {
		if e.GetClusterName() == translate.UnresolvedCluster && len(e.GetEndpoints()) != 0 {
			t.Errorf("unresolved cluster has endpoints: %v", e)
		}
	}
}

// TestTranslateKeepsRelativeWeights: backendRef weights reach Envoy and grpc-go as the route
// gives them, so a tenth of a percent is not rounded away; refs to one Service add up and
// refs of weight 0 are left out. The largest weights the API allows stay within what Envoy
// takes.
func TestTranslateKeepsRelativeWeights(t *testing.T) {
	const httpName, grpcName = "gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0", "gw.shop.edge/greeter.shop:GRPCRoute/shop/greeter/0/0"
	for _, tc := range []struct {
		name               string
		http, grpc         []gwv1.BackendRef
		wantHTTP, wantGRPC []uint32 // the weights of the weighted clusters, in order
	}{
		{"a tenth of a percent", []gwv1.BackendRef{ref("web", 80, 999), ref("web-next", 80, 1)},
			[]gwv1.BackendRef{ref("greeter-v1", 50051, 999), ref("greeter-v2", 50051, 1)}, []uint32{999, 1}, []uint32{999, 1}},
		{"refs to one Service add up, weight 0 left out", []gwv1.BackendRef{ref("web", 80, 1), ref("web-next", 80, 0), ref("web", 80, 2), ref("web-next", 80, 5)},
			[]gwv1.BackendRef{ref("greeter-v1", 50051, 1), ref("greeter-v2", 50051, 0), ref("greeter-v1", 50051, 2), ref("greeter-v2", 50051, 5)}, []uint32{3, 5}, []uint32{3, 5}},
		{"the API's largest weights", []gwv1.BackendRef{ref("web", 80, 1_000_000), ref("web-next", 80, 1_000_000)},
			[]gwv1.BackendRef{ref("greeter-v1", 50051, 1_000_000), ref("greeter-v2", 50051, 1)}, []uint32{1_000_000, 1_000_000}, []uint32{1_000_000, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input()
			in.CanaryPolicies = nil
			in.HTTPRoutes[0].Spec.Rules[0].BackendRefs = nil
			for _, r := range tc.http {
				in.HTTPRoutes[0].Spec.Rules[0].BackendRefs = append(in.HTTPRoutes[0].Spec.Rules[0].BackendRefs, gwv1.HTTPBackendRef{BackendRef: r})
			}
			in.GRPCRoutes[0].Spec.Rules[0].BackendRefs = nil
			for _, r := range tc.grpc {
				in.GRPCRoutes[0].Spec.Rules[0].BackendRefs = append(in.GRPCRoutes[0].Spec.Rules[0].BackendRefs, gwv1.GRPCBackendRef{BackendRef: r})
			}
			_, groups := served(t, Translate(in).Spec)
			weights := func(r *envoy_config_route_v3.Route) []uint32 {
				var ws []uint32
				for _, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
					ws = append(ws, w.GetWeight().GetValue())
				}
				return ws
			}
			if got := weights(envoyRoute(t, groups["gw.shop.edge"], httpName)); !slices.Equal(got, tc.wantHTTP) {
				t.Errorf("Envoy weighted clusters %v, want %v", got, tc.wantHTTP)
			}
			if got := weights(envoyRoute(t, groups["gw.shop.edge.grpc"], grpcName)); !slices.Equal(got, tc.wantGRPC) {
				t.Errorf("grpc-go weighted clusters %v, want %v", got, tc.wantGRPC)
			}
		})
	}
}

// TestTranslateAllWeightInvalid: a rule whose only weighted ref does not resolve answers 500
// as a whole, even next to a resolved ref of weight 0.
func TestTranslateAllWeightInvalid(t *testing.T) {
	in := input()
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs = []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 0)}, {BackendRef: ref("nowhere", 80, 1)}}
	p := Merge(base(t), Translate(in).Spec)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	r := p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0")
	if len(r.Backends) != 0 || r.DirectResponse == nil || r.DirectResponse.Status != 500 {
		t.Errorf("route = %+v, want a 500 direct response", r)
	}
}

// TestTranslateReferenceGrants: a backendRef to another namespace resolves only while a
// ReferenceGrant there permits the route's kind from its namespace to that Service.
func TestTranslateReferenceGrants(t *testing.T) {
	other := gwv1.Namespace("stock")
	crossRef := ref("items", 80, 1)
	crossRef.Namespace = &other
	grant := func(kind string, ns gwv1.Namespace, name string) *gwv1.ReferenceGrant {
		g := &gwv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "stock", Name: "shop-routes"}, Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: gwv1.Kind(kind), Namespace: ns}},
			To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: KindService}}}}
		if name != "" {
			n := gwv1.ObjectName(name)
			g.Spec.To[0].Name = &n
		}
		return g
	}
	for _, tc := range []struct {
		name   string
		grants []*gwv1.ReferenceGrant
		ok     bool
	}{
		{"no grant", nil, false},
		{"grant for the route's kind and namespace", []*gwv1.ReferenceGrant{grant(KindHTTPRoute, "shop", "")}, true},
		{"grant naming the Service", []*gwv1.ReferenceGrant{grant(KindHTTPRoute, "shop", "items")}, true},
		{"grant naming another Service", []*gwv1.ReferenceGrant{grant(KindHTTPRoute, "shop", "other")}, false},
		{"grant for another kind", []*gwv1.ReferenceGrant{grant(KindGRPCRoute, "shop", "")}, false},
		{"grant for another namespace", []*gwv1.ReferenceGrant{grant(KindHTTPRoute, "web", "")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input()
			in.Services = append(in.Services, svc("stock", "items", 80))
			in.HTTPRoutes[0].Spec.Rules[0].BackendRefs = []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}, {BackendRef: crossRef}}
			in.ReferenceGrants = tc.grants
			res := Translate(in)
			c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "ResolvedRefs")
			p := Merge(base(t), res.Spec)
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			bs := p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0").Backends
			if tc.ok {
				if c.Status != metav1.ConditionTrue {
					t.Errorf("ResolvedRefs = %+v", c)
				}
				if want := []policy.Backend{{Service: "shop-web-80", Weight: 1}, {Service: "stock-items-80", Weight: 1}}; !slices.Equal(bs, want) {
					t.Errorf("backends = %+v, want %+v", bs, want)
				}
				return
			}
			if c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.RouteReasonRefNotPermitted) || !strings.Contains(c.Message, "stock/items") {
				t.Errorf("ResolvedRefs = %+v", c)
			}
			if want := []policy.Backend{{Service: "shop-web-80", Weight: 1}, {Weight: 1, Unresolved: true}}; !slices.Equal(bs, want) {
				t.Errorf("backends = %+v, want %+v", bs, want)
			}
		})
	}
}

// served merges a translation into the base policy, validates it, translates it and checks
// that every node group's resources may be served, failing t otherwise.
func served(t testing.TB, spec policy.Spec) (*policy.Policy, map[string]*translate.Resources) {
	t.Helper()
	return servedWith(t, base(t), spec)
}

// servedWith is served with the policy file file instead of the base policy.
func servedWith(t testing.TB, file *policy.Policy, spec policy.Spec) (*policy.Policy, map[string]*translate.Resources) {
	t.Helper()
	p := Merge(file, spec)
	if err := p.Validate(); err != nil {
		t.Fatalf("the translation makes an invalid policy: %v", err)
	}
	groups, err := translate.Translate(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range groups {
		if err := check.Check(g); err != nil {
			t.Fatalf("node group %s would not be served: %v", name, err)
		}
	}
	return p, groups
}

// TestGRPCAndHTTPRoutesToOneServicePort sends an HTTPRoute and a GRPCRoute to the same
// Service port: each gets a policy service speaking its own protocol (gRPC for the
// GRPCRoute, HTTP/1.1 for the HTTPRoute), whichever route is older.
func TestGRPCAndHTTPRoutesToOneServicePort(t *testing.T) {
	for _, grpcFirst := range []bool{true, false} {
		in := input()
		in.Services = append(in.Services, svc("shop", "api", 9000))
		older, newer := metav1.NewTime(time.Unix(100, 0)), metav1.NewTime(time.Unix(200, 0))
		httpAt, grpcAt := older, newer
		if grpcFirst {
			httpAt, grpcAt = newer, older
		}
		parent := []gwv1.ParentReference{{Name: "edge"}}
		in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "rest", CreationTimestamp: httpAt}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent}, Hostnames: []gwv1.Hostname{"rest.example.com"},
			Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("api", 9000, 1)}}}}}})
		in.GRPCRoutes = append(in.GRPCRoutes, &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "rpc", CreationTimestamp: grpcAt}, Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent}, Hostnames: []gwv1.Hostname{"rpc.example.com"},
			Rules: []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("api", 9000, 1)}}}}}})
		res := Translate(in)
		for _, cs := range [][]metav1.Condition{routeStatus(t, res.HTTPRoutes, "shop", "rest"), routeStatus(t, res.GRPCRoutes, "shop", "rpc")} {
			if c := conditions.Require(t, cs, "ResolvedRefs"); c.Status != metav1.ConditionTrue {
				t.Errorf("ResolvedRefs %+v", c)
			}
		}
		protocols := map[string]policy.Protocol{}
		for _, s := range res.Spec.Services {
			protocols[s.Name] = s.Protocol
		}
		backendOf := func(vhost string) string {
			for _, vh := range res.Spec.VirtualHosts {
				if slices.Contains(vh.Domains, vhost) {
					return vh.Routes[0].Backends[0].Service
				}
			}
			t.Fatalf("no virtual host for %s", vhost)
			return ""
		}
		rest, rpc := backendOf("rest.example.com"), backendOf("rpc.example.com")
		if rest == rpc || protocols[rest] != policy.ProtocolHTTP1 || protocols[rpc] != policy.ProtocolGRPC {
			t.Errorf("grpc first %v: HTTPRoute to %s (%s), GRPCRoute to %s (%s); want two policy services, http1 and grpc",
				grpcFirst, rest, protocols[rest], rpc, protocols[rpc])
		}
		if rpc != ServiceName("shop", "api", 9000) || rest != "shop-api-9000-http1" {
			t.Errorf("names %s and %s, want %s for the GRPCRoutes and shop-api-9000-http1", rpc, rest, ServiceName("shop", "api", 9000))
		}
		if err := Merge(base(t), res.Spec).Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServicesWhoseNamesJoinAlikeKeepTheirOwnEndpoints: Service api-v1 in namespace shop and
// v1 in shop-api both join to "shop-api-v1", and a third namespace is named like the hashed
// name the younger gets. Each route is served with its own Service's endpoints, whatever the
// order the routes come in, and the oldest Service keeps the plain name, so a Service created
// later in another namespace never takes nor renames it.
func TestServicesWhoseNamesJoinAlikeKeepTheirOwnEndpoints(t *testing.T) {
	at := func(sec int64, ns, name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.Unix(sec, 0)},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	route := func(ns, host, backend string) *gwv1.HTTPRoute {
		edge := gwv1.Namespace("shop")
		return &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge", Namespace: &edge}}},
			Hostnames:       []gwv1.Hostname{gwv1.Hostname(host)},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref(backend, 80, 1)}}}}}}
	}
	younger := "shop-api-" + hashOf("shop-api/v1") + "-v1" // the join shop-api/v1 gets
	for _, oldest := range []string{"shop", "shop-api"} {
		for _, reversed := range []bool{false, true} {
			in := input()
			in.GRPCRoutes, in.CanaryPolicies = nil, nil
			all := gwv1.NamespacesFromAll
			in.Gateways[0].Spec.Listeners[0].AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}}
			a, b := at(100, "shop", "api-v1"), at(200, "shop-api", "v1")
			if oldest == "shop-api" {
				a.CreationTimestamp, b.CreationTimestamp = b.CreationTimestamp, a.CreationTimestamp
			}
			crafted := at(50, strings.TrimSuffix(younger, "-v1"), "v1")
			in.Services = append(in.Services, a, b, crafted)
			routes := []*gwv1.HTTPRoute{route("shop", "a.example", "api-v1"), route("shop-api", "b.example", "v1"), route(crafted.Namespace, "c.example", "v1")}
			if reversed {
				slices.Reverse(routes)
			}
			in.HTTPRoutes = routes
			res := Translate(in)
			defs := map[string]policy.Service{}
			for _, s := range res.Spec.Services {
				defs[s.Name] = s
			}
			names := map[string]string{}
			for host, want := range map[string]types.NamespacedName{"a.example": {Namespace: "shop", Name: "api-v1"},
				"b.example": {Namespace: "shop-api", Name: "v1"}, "c.example": {Namespace: crafted.Namespace, Name: "v1"}} {
				for _, vh := range res.Spec.VirtualHosts {
					if !slices.Contains(vh.Domains, host) {
						continue
					}
					name := vh.Routes[0].Backends[0].Service
					if d := defs[name]; d.Namespace != want.Namespace || d.KubernetesService != want.Name {
						t.Errorf("oldest %s, reversed %v: %s is served by %s = %s/%s, want Service %s", oldest, reversed, host, name, d.Namespace, d.KubernetesService, want)
					}
					names[host] = name
				}
			}
			if len(names) != 3 || names["a.example"] == names["b.example"] || names["b.example"] == names["c.example"] || names["a.example"] == names["c.example"] {
				t.Errorf("oldest %s, reversed %v: policy services %v, want three distinct", oldest, reversed, names)
			}
			plain := map[string]string{"shop": "a.example", "shop-api": "b.example"}[oldest]
			if names[plain] != "shop-api-v1-80" {
				t.Errorf("oldest %s, reversed %v: the oldest Service's route %s sends to %s, want the plain shop-api-v1-80", oldest, reversed, plain, names[plain])
			}
			if err := Merge(base(t), res.Spec).Validate(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// hashOf is the 12 hex digits a Service that does not own its join inserts (joinedName).
func hashOf(namespacedName string) string {
	h := sha256.Sum256([]byte(namespacedName))
	return hex.EncodeToString(h[:6])
}

// TestCanaryIdentityOutlivesTheProtocolSuffix: a GRPCRoute added beside an HTTPRoute that a
// CanaryPolicy rolls out renames the HTTPRoute's policy services (a protocol suffix); the
// canary's identity, by which its rollout's state is found, stays the same.
func TestCanaryIdentityOutlivesTheProtocolSuffix(t *testing.T) {
	in := input()
	grpc := in.GRPCRoutes
	in.GRPCRoutes = nil
	in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter-web"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}}, Hostnames: []gwv1.Hostname{"greeter-web.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("greeter-v1", 50051, 100)}, {BackendRef: ref("greeter-v2", 50051, 0)}}}}}})
	in.CanaryPolicies[0].Spec.TargetRefs = []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "greeter-web"}}
	_, alone := servedCanary(t, in)
	in.GRPCRoutes = grpc
	_, beside := servedCanary(t, in)
	if alone.Stable == beside.Stable {
		t.Fatalf("stable %s either way: the GRPCRoute was to rename it", alone.Stable)
	}
	if want := "shop/greeter-v1:50051->shop/greeter-v2:50051"; alone.Identity != want || beside.Identity != want {
		t.Errorf("identities %q and %q, want %q", alone.Identity, beside.Identity, want)
	}
}

// TestCanaryOverRoutesOfBothKinds: a CanaryPolicy over a GRPCRoute and an HTTPRoute that send
// to the same Service ports would step two pairs of policy services (one per protocol); it
// is refused saying so, and one over the GRPCRoute alone is accepted.
func TestCanaryOverRoutesOfBothKinds(t *testing.T) {
	in := input()
	in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter-web"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}}, Hostnames: []gwv1.Hostname{"greeter-web.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("greeter-v1", 50051, 100)}, {BackendRef: ref("greeter-v2", 50051, 0)}}}}}})
	accepted := func(res *Result) metav1.Condition {
		t.Helper()
		as := res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "greeter-rollout"}]
		if len(as) == 0 {
			t.Fatal("no ancestor status")
		}
		return conditions.Require(t, as[0].Conditions, "Accepted")
	}
	if c := accepted(Translate(in)); c.Status != metav1.ConditionTrue {
		t.Fatalf("over the GRPCRoute alone: %+v", c)
	}
	cp := in.CanaryPolicies[0]
	cp.Spec.TargetRefs = append(cp.Spec.TargetRefs, gwv1.LocalPolicyTargetReference{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "greeter-web"})
	res := Translate(in)
	if c := accepted(res); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.PolicyReasonInvalid) ||
		!strings.Contains(c.Message, `the targeted rules send to Service "greeter-v1" over different protocols`) {
		t.Errorf("over routes of both kinds: %+v", c)
	}
	if err := Merge(base(t), res.Spec).Validate(); err != nil {
		t.Error(err)
	}
}
