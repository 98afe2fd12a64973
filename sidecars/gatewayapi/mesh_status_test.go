package gatewayapi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// meshServices are the names of the services of spec that carry mesh routes.
func meshServices(spec policy.Spec) []string {
	var out []string
	for _, s := range spec.Services {
		if s.RoutesForClients {
			out = append(out, s.Name)
		}
	}
	return out
}

// TestMeshRouteStatusSaysWhatTheFileKeepsFromServing: with the policy file in Input.File, a
// mesh route the merge would not serve is not accepted on its Service, says why, and is not
// in the translation; without the file, or with a file that lets it through, it is accepted.
func TestMeshRouteStatusSaysWhatTheFileKeepsFromServing(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		reason     gwv1.RouteConditionReason
		msg        string
	}{
		{"the file's service routes the port itself",
			strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, routes: [{name: file-route}]}", 1),
			routeReasonConflicted, `port 8080: the policy file's service "api" routes this Service port itself`},
		{"the file's service has TLS and another protocol",
			strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, protocol: http2, tls: {sni: api.shop}}", 1),
			gwv1.RouteReasonUnsupportedValue, `port 8080: the routes of this Service port would reach the endpoints of the policy file's service "api" without its TLS (they cannot send to it instead: it speaks http2, not http1)`},
		{"the file's service has TLS and a proxyless group gets the routes",
			strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}", 1) +
				"  - {name: clients, kind: grpc, selector: {app: client}}\n",
			gwv1.RouteReasonUnsupportedValue, `would send to the policy file's service "api", which has TLS, and proxyless gRPC group clients gets them`},
		{"a file virtual host of a proxyless group answers every name",
			meshFile + "  - {name: clients, kind: grpc, selector: {app: client}, upstreams: [web], virtualHosts: [api-names]}\n" +
				"  virtualHosts:\n  - {name: api-names, domains: [api.shop, api.shop.svc, api.shop.svc.cluster.local, \"api.shop:8080\", \"api.shop.svc:8080\", \"api.shop.svc.cluster.local:8080\"], routes: [{name: r, backends: [{service: web}]}]}\n",
			"", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := meshPolicy(t, tc.file)
			in := meshInput()
			in.File = file
			res := Translate(in)
			c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted")
			if tc.reason == "" {
				if c.Status != metav1.ConditionTrue {
					t.Fatalf("Accepted = %+v, want True", c)
				}
				if _, _, m := mergedMesh(file, res.Spec); len(m.refused) > 0 {
					t.Errorf("accepted, and the merge refuses %v", m.refused)
				}
				return
			}
			if c.Status != metav1.ConditionFalse || c.Reason != string(tc.reason) || !strings.Contains(c.Message, tc.msg) {
				t.Errorf("Accepted = %+v, want %s with %q", c, tc.reason, tc.msg)
			}
			if ms := meshServices(res.Spec); len(ms) > 0 {
				t.Errorf("the refused routes are translated, on %v", ms)
			}
			// The merge serves the file's own routing of api as before.
			servedWith(t, file, res.Spec)

			// Without the file, the translation cannot know: the route is accepted.
			if c := conditions.Require(t, routeStatus(t, Translate(meshInput()).HTTPRoutes, "shop", "api-split"), "Accepted"); c.Status != metav1.ConditionTrue {
				t.Errorf("without the file: Accepted = %+v", c)
			}
		})
	}
}

// TestMeshRouteStatusOnThePortsTheFileLeaves: a route on every port of a Service, one of
// which the policy file routes itself, is accepted on the others, says which port it is not
// served on, and is translated for the others only.
func TestMeshRouteStatusOnThePortsTheFileLeaves(t *testing.T) {
	in := meshInput()
	in.Services[1].Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 8080}, {Name: "admin", Port: 9090}}
	in.HTTPRoutes[0].Spec.ParentRefs[0].Port = nil
	in.File = meshPolicy(t, strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, routes: [{name: file-route}]}", 1))
	res := Translate(in)
	c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted")
	if c.Status != metav1.ConditionTrue || !strings.HasPrefix(c.Message, "accepted, but not on port 8080: the policy file's service \"api\"") {
		t.Errorf("Accepted = %+v", c)
	}
	if ms := meshServices(res.Spec); !slices.Equal(ms, []string{"shop-api-9090"}) {
		t.Errorf("mesh services = %v, want shop-api-9090 only", ms)
	}
	servedWith(t, in.File, res.Spec)
}

// TestCanaryPolicyOfARefusedMeshRoute: a CanaryPolicy over a mesh route the file keeps from
// being served drives no canary, and its status says its target is accepted nowhere.
func TestCanaryPolicyOfARefusedMeshRoute(t *testing.T) {
	in := meshInput()
	withAPIRollout(in)
	in.File = meshPolicy(t, strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, routes: [{name: file-route}]}", 1))
	res := Translate(in)
	if len(res.Spec.Canaries) != 0 {
		t.Errorf("canaries = %+v, want none", res.Spec.Canaries)
	}
	sts := res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "api-rollout"}]
	if len(sts) != 1 {
		t.Fatalf("CanaryPolicy ancestors = %+v", sts)
	}
	if c := conditions.Require(t, sts[0].Conditions, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.PolicyReasonTargetNotFound) || *sts[0].AncestorRef.Kind == KindService {
		t.Errorf("CanaryPolicy Accepted = %+v on %+v", c, sts[0].AncestorRef)
	}
}

// apiRolloutOnTwoPorts is meshInput's route, its first rule only, with the api rollout
// (withAPIRollout), on port (nil: both ports) of Service api, whose ports are 8080 and 9090,
// and a policy file whose api service is fileAPI.
func apiRolloutOnTwoPorts(t *testing.T, port *int32, fileAPI string) *Input {
	in := meshInput()
	in.Services[1].Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 8080}, {Name: "admin", Port: 9090}}
	in.HTTPRoutes[0].Spec.ParentRefs[0].Port = port
	in.HTTPRoutes[0].Spec.Rules = in.HTTPRoutes[0].Spec.Rules[:1]
	withAPIRollout(in)
	in.File = meshPolicy(t, strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", fileAPI, 1))
	return in
}

// TestMeshRefusalOfOnePortLeavesTheCanaryOfAnother: a route on both ports of Service api
// (8080 and 9090) with a CanaryPolicy from api to api-v2; the file's api (port 8080, with
// TLS) routes port 8080 itself. Port 8080 cannot be served whatever happens (the file
// answers all its names); once it is refused, the canary drives the 9090 routes only, and
// they are served, as the same route on port 9090 alone is: the refusal the canary spanning
// both ports causes waits until no other is left.
func TestMeshRefusalOfOnePortLeavesTheCanaryOfAnother(t *testing.T) {
	mk := func(port *int32) *Input {
		return apiRolloutOnTwoPorts(t, port, "{name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}, routes: [{name: file-route}]}")
	}
	// On port 9090 alone the route and its canary are served.
	alone := mk(ptr(int32(9090)))
	res := Translate(alone)
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted"); c.Status != metav1.ConditionTrue {
		t.Fatalf("on port 9090 alone: Accepted = %+v", c)
	}
	if len(res.Spec.Canaries) != 1 {
		t.Fatalf("on port 9090 alone: canaries %+v", res.Spec.Canaries)
	}
	servedWith(t, alone.File, res.Spec)

	// On every port: refused on 8080 (the file routes it), served on 9090.
	in := mk(nil)
	res = Translate(in)
	c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted")
	if c.Status != metav1.ConditionTrue || !strings.HasPrefix(c.Message, "accepted, but not on port 8080") || strings.Contains(c.Message, "port 9090") {
		t.Errorf("on every port: Accepted = %+v, want True, refused on port 8080 only", c)
	}
	if ms := meshServices(res.Spec); !slices.Equal(ms, []string{"shop-api-9090"}) {
		t.Errorf("mesh services = %v, want shop-api-9090", ms)
	}
	if cs := res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "api-rollout"}]; len(cs) == 0 || conditions.Require(t, cs[0].Conditions, "Accepted").Status != metav1.ConditionTrue {
		t.Errorf("CanaryPolicy = %+v", cs)
	}
	servedWith(t, in.File, res.Spec)
}

// TestMeshRefusalOfTheOlderKindOnAPort: an older GRPCRoute and a newer HTTPRoute on port
// 8080 of Service api. The file's service of the GRPCRoute's backend (be:9000) has TLS and
// speaks http1, so the GRPCRoute's routes are refused on the port; the HTTPRoute, which
// never sends to be, is Conflicted as before: the older GRPCRoute holds the port.
func TestMeshRefusalOfTheOlderKindOnAPort(t *testing.T) {
	in := meshInput()
	in.Services = append(in.Services, svc("shop", "be", 9000))
	in.GRPCRoutes = []*gwv1.GRPCRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-grpc", CreationTimestamp: metav1.NewTime(time.Unix(50, 0))}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("api", 8080)}},
		Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("be", 9000, 1)}}}}}}}
	in.File = meshPolicy(t, strings.Replace(meshFile, "  nodeGroups:", "  - {name: be, port: 9000, discovery: kubernetes, tls: {sni: be.shop}}\n  nodeGroups:", 1))
	res := Translate(in)
	g := conditions.Require(t, routeStatus(t, res.GRPCRoutes, "shop", "api-grpc"), "Accepted")
	if g.Status != metav1.ConditionFalse || !strings.Contains(g.Message, `policy file's service "be" without its TLS`) {
		t.Fatalf("GRPCRoute Accepted = %+v", g)
	}
	h := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted")
	if h.Status != metav1.ConditionFalse || h.Reason != routeReasonConflicted || !strings.Contains(h.Message, "already has GRPCRoutes attached") {
		t.Errorf("HTTPRoute Accepted = %+v, want Conflicted: the older GRPCRoute holds the port (the HTTPRoute never sends to be)", h)
	}
}

// TestMeshRefusalByAServiceOfARefusedRoute: in namespace a, route r1 of Service a-b-80 sends
// to itself; route r2 of Service c sends to Service b port 80, whose policy service is named
// a-b-80 and so answers every name of a-b-80 port 80 (as in
// TestMeshHostsThatAnotherServiceAnswers). The file routes c itself, so r2 is refused; once
// it is, nothing sends to b and r1 has its names, as r1 alone does: r1 is accepted.
func TestMeshRefusalByAServiceOfARefusedRoute(t *testing.T) {
	route := func(name, parent, backend string) *gwv1.HTTPRoute {
		return &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent(parent, 80)}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref(backend, 80, 1)}}}}}}
	}
	file := meshPolicy(t, "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: m, namespace: a}\nspec:\n"+
		"  services:\n  - {name: client, port: 80, endpoints: [{address: 10.0.0.1}]}\n  - {name: c, port: 80, discovery: kubernetes, routes: [{name: own}]}\n"+
		"  nodeGroups: [{name: client, services: [client]}]\n")
	mk := func(routes ...*gwv1.HTTPRoute) *Input {
		return &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0), File: file, HTTPRoutes: routes,
			Services: []*corev1.Service{svc("a", "b", 80), svc("a", "a-b-80", 80), svc("a", "c", 80)}}
	}
	// r1 alone is served.
	res := Translate(mk(route("r1", "a-b-80", "a-b-80")))
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "a", "r1"), "Accepted"); c.Status != metav1.ConditionTrue {
		t.Fatalf("r1 alone: Accepted = %+v", c)
	}
	// With r2, which is refused.
	res = Translate(mk(route("r1", "a-b-80", "a-b-80"), route("r2", "c", "b")))
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "a", "r2"), "Accepted"); c.Status != metav1.ConditionFalse {
		t.Fatalf("r2: Accepted = %+v", c)
	}
	for _, s := range res.Spec.Services {
		if s.Name == "a-b-80" {
			t.Fatalf("service a-b-80 is still translated")
		}
	}
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "a", "r1"), "Accepted"); c.Status != metav1.ConditionTrue {
		t.Errorf("r1 beside the refused r2: Accepted = %+v, want True (service a-b-80 is gone)", c)
	}
}

// TestTranslateAndMergeLeaveTheFileAlone: Translate, which runs the merge's mesh part with
// Input.File, changes neither the file nor, in Merge, the spec.
func TestTranslateAndMergeLeaveTheFileAlone(t *testing.T) {
	for _, mk := range []func() *Input{meshInput, input} {
		in := mk()
		in.HTTPRoutes = append(in.HTTPRoutes, meshInput().HTTPRoutes...)
		in.Services = append(in.Services, meshInput().Services...)
		in.File = meshPolicy(t, meshFile)
		before := in.File.Clone()
		res := Translate(in)
		if !reflect.DeepEqual(before, in.File) {
			t.Errorf("Translate changed File")
		}
		spec := res.Spec
		cp := (&policy.Policy{Spec: spec}).Clone().Spec
		Merge(in.File, spec)
		if !reflect.DeepEqual(cp, spec) {
			t.Errorf("Merge changed spec")
		}
		if !reflect.DeepEqual(before, in.File) {
			t.Errorf("Merge changed File")
		}
	}
}

// TestMeshCanarySpanningTwoPortsIsServedOnOne: a route on both ports of Service api (8080,
// 9090) with a CanaryPolicy api→api-v2; the file's api (port 8080) has TLS and routes
// nothing. On either port alone the route and its canary are served; on both, refusing one
// port takes the other's cause away, so the route is accepted on one of them.
func TestMeshCanarySpanningTwoPortsIsServedOnOne(t *testing.T) {
	mk := func(port *int32) *Input {
		return apiRolloutOnTwoPorts(t, port, "{name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}")
	}
	for _, port := range []int32{8080, 9090} {
		res := Translate(mk(ptr(port)))
		if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted"); c.Status != metav1.ConditionTrue {
			t.Fatalf("on port %d alone: Accepted = %+v", port, c)
		}
		servedWith(t, mk(nil).File, res.Spec)
	}
	res := Translate(mk(nil))
	c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted")
	if c.Status != metav1.ConditionTrue {
		t.Errorf("on both ports: Accepted = %+v, want True on one of them (either alone is served)", c)
	}
}

// meshBesideAGateway is an input in namespace ns of Gateway edge, whose route sends to
// Service b:80, and mesh route r on port 80 of the Services parents, sending all to x, with a
// CanaryPolicy from x to canary; services are the namespace's Services.
func meshBesideAGateway(ns, canary string, file *policy.Policy, services []string, parents ...string) *Input {
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge", Generation: 1}, Spec: gwv1.GatewaySpec{
		GatewayClassName: "foresight", Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}}}
	gwRoute := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw-route", Generation: 1, CreationTimestamp: metav1.NewTime(time.Unix(10, 0))}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}}, Hostnames: []gwv1.Hostname{gwv1.Hostname("gw." + ns)},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("b", 80, 1)}}}}}}
	var prs []gwv1.ParentReference
	for _, p := range parents {
		prs = append(prs, serviceParent(p, 80))
	}
	r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "r", Generation: 1, CreationTimestamp: metav1.NewTime(time.Unix(20, 0))}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: prs},
		Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("x", 80, 100)}, {BackendRef: ref(canary, 80, 0)}}}}}}
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0), File: file,
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "foresight", Generation: 1}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}},
		Gateways:       []*gwv1.Gateway{gw}, HTTPRoutes: []*gwv1.HTTPRoute{gwRoute, r},
		CanaryPolicies: []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rollout"}, Spec: CanaryPolicySpec{
			TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "r"}},
			Stable:     "x", Canary: canary, Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}}
	for _, name := range services {
		in.Services = append(in.Services, svc(ns, name, 80))
	}
	return in
}

// TestMeshFixedRefusalBesideASpanningCanary: mesh route r on Services a and other, with a
// canary over both ports' routes to a stable whose file service has TLS. other:80 can never
// be served, whatever the canary: where a Gateway's service answers its names (other is
// a-b-80, the generated name of the Gateway's backend b:80), or where a Gateway's proxyless
// group gets its routes to a file service with TLS (other is b, the canary). Once it is
// refused the canary drives a's routes only, and r is served on a:80, as r on a alone is.
func TestMeshFixedRefusalBesideASpanningCanary(t *testing.T) {
	for _, tc := range []struct {
		name, ns, other, canary, file string
		services                      []string
	}{
		{"a Gateway's service answers its names", "a", "a-b-80", "x2",
			"  - {name: x, port: 80, discovery: kubernetes, tls: {sni: x.a}}\n  nodeGroups: [{name: client, services: [client], upstreams: [x]}]\n",
			[]string{"b", "a-b-80", "a", "x", "x2"}},
		{"a Gateway's proxyless group gets its routes", "shop", "b", "b",
			"  - {name: x, port: 80, discovery: kubernetes, tls: {sni: x.shop}}\n  - {name: b, port: 80, discovery: kubernetes, tls: {sni: b.shop}}\n  nodeGroups: [{name: client, services: [client], upstreams: [x, b]}]\n",
			[]string{"a", "b", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := meshPolicy(t, "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: m, namespace: "+tc.ns+"}\nspec:\n"+
				"  services:\n  - {name: client, port: 80, endpoints: [{address: 10.0.0.1}]}\n"+tc.file)
			accepted := func(res *Result, parent string) metav1.Condition {
				ps := res.HTTPRoutes[types.NamespacedName{Namespace: tc.ns, Name: "r"}]
				i := slices.IndexFunc(ps, func(p gwv1.RouteParentStatus) bool { return string(p.ParentRef.Name) == parent })
				if i < 0 {
					t.Fatalf("no status for parent %s: %+v", parent, ps)
				}
				return conditions.Require(t, ps[i].Conditions, "Accepted")
			}
			res := Translate(meshBesideAGateway(tc.ns, tc.canary, file, tc.services, "a"))
			if c := accepted(res, "a"); c.Status != metav1.ConditionTrue || len(res.Spec.Canaries) != 1 {
				t.Fatalf("r on a alone: Accepted = %+v, canaries %+v", c, res.Spec.Canaries)
			}
			servedWith(t, file, res.Spec)
			if c := accepted(Translate(meshBesideAGateway(tc.ns, tc.canary, file, tc.services, tc.other)), tc.other); c.Status != metav1.ConditionFalse {
				t.Fatalf("r on %s alone: Accepted = %+v", tc.other, c)
			}
			res = Translate(meshBesideAGateway(tc.ns, tc.canary, file, tc.services, tc.other, "a"))
			if c := accepted(res, "a"); c.Status != metav1.ConditionTrue {
				t.Errorf("r on %s and a: Accepted on a = %+v, want True (only %s's refusal is needed)", tc.other, c, tc.other)
			}
			if c := accepted(res, tc.other); c.Status != metav1.ConditionFalse || strings.Contains(c.Message, "a canary also drives other routes with it)") {
				t.Errorf("r on %s and a: Accepted on %s = %+v, want False for its own cause", tc.other, tc.other, c)
			}
			servedWith(t, file, res.Spec)
		})
	}
}

// spanningCanaries is n HTTPRoutes r-svc-i, each on Services svc-i-alt and svc-i (port 80)
// with a CanaryPolicy from svc-i to svc-i-next over both, and a policy file whose svc-i has
// TLS: each route can be served on one of its parents, not on both (the canary over both
// keeps svc-i from being renamed to the file's service, whose TLS would be skipped).
func spanningCanaries(t testing.TB, n int) *Input {
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0)}
	var file strings.Builder
	file.WriteString("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: mesh, namespace: shop}\nspec:\n  services:\n  - {name: client, port: 9000, endpoints: [{address: 10.0.0.1}]}\n")
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		in.Services = append(in.Services, svc("shop", name, 80), svc("shop", name+"-next", 80), svc("shop", name+"-alt", 80))
		in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "r-" + name, Generation: 1},
			Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent(name+"-alt", 80), serviceParent(name, 80)}},
				Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref(name, 80, 100)}, {BackendRef: ref(name+"-next", 80, 0)}}}}}})
		in.CanaryPolicies = append(in.CanaryPolicies, &CanaryPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name + "-rollout"}, Spec: CanaryPolicySpec{
			TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: gwv1.ObjectName("r-" + name)}},
			Stable:     name, Canary: name + "-next", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}})
		fmt.Fprintf(&file, "  - {name: %s, port: 80, discovery: kubernetes, tls: {sni: %s.shop}}\n", name, name)
	}
	file.WriteString("  nodeGroups:\n  - {name: client, services: [client]}\n")
	p, err := policy.Parse([]byte(file.String()), "mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in.File = p
	return in
}

// TestMeshSpanningCanariesOfManyRoutes: with many routes whose canaries span their two
// parents, one port of each is refused in one run (one per canary), not one port per run
// until the runs run out: every route is accepted on one of its parents, and the merge
// serves them.
func TestMeshSpanningCanariesOfManyRoutes(t *testing.T) {
	in := spanningCanaries(t, 3*maxMeshRetranslations)
	res := Translate(in)
	for nn, ps := range res.HTTPRoutes {
		accepted := 0
		for _, p := range ps {
			if conditions.Require(t, p.Conditions, "Accepted").Status == metav1.ConditionTrue {
				accepted++
			}
		}
		if accepted != 1 {
			t.Errorf("%s accepted on %d parents, want 1: %+v", nn, accepted, ps)
		}
	}
	servedWith(t, in.File, res.Spec)
}

// TestPoliciesOnAServiceTheFileServesForMeshRoutes: a BackendTrafficPolicy and an
// ExperimentPolicy on Service api, to which mesh route api-split sends, are accepted, but say
// that its mesh routes send to the policy file's service api instead, whose own settings hold;
// and they do: the merged routes send to it, which has none of the policy's retries. On
// api-v2, which the file has no service of, and without the file, they say nothing more.
func TestPoliciesOnAServiceTheFileServesForMeshRoutes(t *testing.T) {
	in := meshInput()
	retries := &RetriesSpec{On: []string{"5xx"}, Count: 3}
	in.BackendTrafficPolicies = []*BackendTrafficPolicy{
		btp("api-retries", 1, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("api")}, Retries: retries}),
		btp("v2-retries", 2, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("api-v2")}, Retries: retries}),
	}
	in.ExperimentPolicies = []*ExperimentPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-chaos"}, Spec: ExperimentPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("api")},
		Fault:      FaultSpec{Abort: &FaultAbortSpec{HTTPStatus: 503, Percent: 10}},
		Start:      metav1.NewTime(in.Now), Duration: metav1.Duration{Duration: time.Hour}}}}
	const note = `accepted, but it does not hold for every route: the mesh routes that send to Service shop/api port 8080 send to the policy file's service "api" instead, whose own settings hold for them`
	message := func(sts map[types.NamespacedName][]gwv1.PolicyAncestorStatus, name string) string {
		t.Helper()
		c, _ := accepted(t, sts[types.NamespacedName{Namespace: "shop", Name: name}])
		if c.Status != metav1.ConditionTrue {
			t.Fatalf("%s: Accepted = %+v", name, c)
		}
		return c.Message
	}

	in.File = meshPolicy(t, meshFile)
	res := Translate(in)
	for _, tc := range []struct {
		sts        map[types.NamespacedName][]gwv1.PolicyAncestorStatus
		name, want string
	}{
		{res.BackendTrafficPolicies, "api-retries", note},
		{res.ExperimentPolicies, "api-chaos", note},
		{res.BackendTrafficPolicies, "v2-retries", "accepted"},
	} {
		if got := message(tc.sts, tc.name); got != tc.want {
			t.Errorf("%s: message %q, want %q", tc.name, got, tc.want)
		}
	}
	// What the note says: the translation's api has the retries, the merged routes send to
	// the file's api, which has none.
	if i := slices.IndexFunc(res.Spec.Services, func(s policy.Service) bool { return s.Name == "shop-api-8080" }); i < 0 || res.Spec.Services[i].Retries == nil {
		t.Fatalf("the translation's service of api has no retries: %+v", res.Spec.Services)
	}
	p, _ := servedWith(t, in.File, res.Spec)
	if api := p.Service("api"); api.Retries != nil || !slices.ContainsFunc(api.Routes, func(r policy.Route) bool {
		return slices.ContainsFunc(r.Backends, func(b policy.Backend) bool { return b.Service == "api" })
	}) {
		t.Errorf("the file's api: retries %+v, routes %+v", api.Retries, api.Routes)
	}

	in.File = nil
	res = Translate(in)
	if got := message(res.BackendTrafficPolicies, "api-retries"); got != "accepted" {
		t.Errorf("without the file: %q", got)
	}
}
