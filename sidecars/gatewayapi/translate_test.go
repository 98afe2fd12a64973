package gatewayapi

import (
	"fmt"
	"maps"
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
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

const controller = "foresight.dev/xds"

func base(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: base}\nspec: {}\n"), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func svc(ns, name string, port int32) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: port}}}}
}

func ref(name string, port int32, weight int32) gwv1.BackendRef {
	return gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: &port}, Weight: &weight}
}

func input() *Input {
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "foresight", Generation: 1}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}
	other := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: gwv1.GatewayClassSpec{ControllerName: "example.com/other"}}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge", Generation: 2}, Spec: gwv1.GatewaySpec{
		GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{
			{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType},
			{Name: "udp", Port: 8443, Protocol: gwv1.UDPProtocolType},
		}}}
	theirs := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "theirs"}, Spec: gwv1.GatewaySpec{GatewayClassName: "other",
		Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}}
	parent := []gwv1.ParentReference{{Name: "edge"}}
	grpc := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter", Generation: 3}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent}, Hostnames: []gwv1.Hostname{"greeter.shop"},
		Rules: []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("greeter-v1", 50051, 100)}, {BackendRef: ref("greeter-v2", 50051, 0)}}}}}}
	split := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "split", Generation: 1}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent}, Hostnames: []gwv1.Hostname{"web.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}, {BackendRef: ref("web-next", 80, 2)}}}}}}
	missing := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "missing", Generation: 1}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent}, Hostnames: []gwv1.Hostname{"gone.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("nowhere", 80, 1)}}}}}}
	mirror := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "mirror", Generation: 4}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: parent},
		Rules:           []gwv1.HTTPRouteRule{{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterExtensionRef, ExtensionRef: &gwv1.LocalObjectReference{Group: "example.com", Kind: "Plugin", Name: "p"}}}, BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}}}}}}
	cp := &CanaryPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter-rollout", Generation: 5}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindGRPCRoute, Name: "greeter"}},
		Stable:     "greeter-v1", Canary: "greeter-v2",
		Steps: []CanaryPolicyStep{{Weight: 10, Pause: metav1.Duration{Duration: time.Minute}}, {Weight: 50, Pause: metav1.Duration{Duration: time.Minute}}}}}
	return &Input{ControllerName: controller, GatewayClasses: []*gwv1.GatewayClass{class, other}, Gateways: []*gwv1.Gateway{gw, theirs},
		GRPCRoutes: []*gwv1.GRPCRoute{grpc}, HTTPRoutes: []*gwv1.HTTPRoute{split, missing, mirror},
		Services:       []*corev1.Service{svc("shop", "greeter-v1", 50051), svc("shop", "greeter-v2", 50051), svc("shop", "web", 80), svc("shop", "web-next", 80)},
		CanaryPolicies: []*CanaryPolicy{cp}, Now: time.Unix(1_800_000_000, 0)}
}

func TestTranslateStatuses(t *testing.T) {
	res := Translate(input())
	if _, ok := res.GatewayClasses["other"]; ok {
		t.Error("status computed for another controller's class")
	}
	if c := conditions.Require(t, res.GatewayClasses["foresight"], "Accepted"); c.Status != metav1.ConditionTrue || c.ObservedGeneration != 1 {
		t.Errorf("class Accepted = %+v", c)
	}
	if _, ok := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "theirs"}]; ok {
		t.Error("status computed for another controller's Gateway")
	}
	gs := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if c := conditions.Require(t, gs.Conditions, "Accepted"); c.Status != metav1.ConditionTrue || c.ObservedGeneration != 2 {
		t.Errorf("gateway Accepted = %+v", c)
	}
	if len(gs.Listeners) != 2 {
		t.Fatalf("listeners = %+v", gs.Listeners)
	}
	if c := conditions.Require(t, gs.Listeners[1].Conditions, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonUnsupportedProtocol) {
		t.Errorf("UDP listener Accepted = %+v", c)
	}
	if gs.Listeners[0].AttachedRoutes != 3 { // greeter, split, missing (mirror is not accepted)
		t.Errorf("attached routes = %d, want 3", gs.Listeners[0].AttachedRoutes)
	}
	status := func(m map[types.NamespacedName][]gwv1.RouteParentStatus, name string) []metav1.Condition {
		ps := m[types.NamespacedName{Namespace: "shop", Name: name}]
		if len(ps) != 1 || string(ps[0].ControllerName) != controller {
			t.Fatalf("%s parents = %+v", name, ps)
		}
		return ps[0].Conditions
	}
	if c := conditions.Require(t, status(res.HTTPRoutes, "missing"), "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.RouteReasonBackendNotFound) || !strings.Contains(c.Message, "shop/nowhere") {
		t.Errorf("missing ResolvedRefs = %+v", c)
	}
	if c := conditions.Require(t, status(res.HTTPRoutes, "missing"), "Accepted"); c.Status != metav1.ConditionTrue {
		t.Errorf("missing Accepted = %+v", c)
	}
	if c := conditions.Require(t, status(res.HTTPRoutes, "mirror"), "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.RouteReasonUnsupportedValue) || c.ObservedGeneration != 4 {
		t.Errorf("mirror Accepted = %+v", c)
	}
	if c := conditions.Require(t, status(res.GRPCRoutes, "greeter"), "ResolvedRefs"); c.Status != metav1.ConditionTrue {
		t.Errorf("greeter ResolvedRefs = %+v", c)
	}
	as := res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "greeter-rollout"}]
	if len(as) != 1 || as[0].AncestorRef.Name != "edge" {
		t.Fatalf("canary ancestors = %+v", as)
	}
	if c := conditions.Require(t, as[0].Conditions, "Accepted"); c.Status != metav1.ConditionTrue {
		t.Errorf("canary Accepted = %+v", c)
	}
}

// TestTranslateServesThroughThePolicy checks the merged policy validates and translates:
// weights kept as the route gives them (1:2), a missing backend never reached (500), the
// canary over the route.
func TestTranslateServesThroughThePolicy(t *testing.T) {
	res := Translate(input())
	p := Merge(base(t), res.Spec)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	split := p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0")
	if split == nil {
		t.Fatalf("no split route in %+v", p.Spec.VirtualHosts)
	}
	if want := []policy.Backend{{Service: "shop-web-80", Weight: 1}, {Service: "shop-web-next-80", Weight: 2}}; !slices.Equal(split.Backends, want) {
		t.Errorf("split backends = %+v, want %+v", split.Backends, want)
	}
	gone := p.Route("gw.shop.edge/gone.shop:HTTPRoute/shop/missing/0/0")
	if gone == nil || len(gone.Backends) != 0 || gone.DirectResponse == nil || gone.DirectResponse.Status != 500 {
		t.Errorf("route to a missing backend = %+v, want a 500 direct response", gone)
	}
	c := p.Canary("shop-greeter-rollout")
	if c == nil || c.Stable != "shop-greeter-v1-50051" || c.Canary != "shop-greeter-v2-50051" || c.Route != "gw.shop.edge/greeter.shop:GRPCRoute/shop/greeter/0/0" {
		t.Fatalf("canary = %+v", c)
	}
	at, err := p.WithCanaryWeight(c, 10)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := translate.Translate(at)
	if err != nil {
		t.Fatal(err)
	}
	g := groups["gw.shop.edge.grpc"]
	if g == nil {
		t.Fatalf("no grpc group in %v", slices.Collect(maps.Keys(groups)))
	}
	var names []string
	for _, l := range g.Listeners {
		names = append(names, l.GetName())
	}
	if !slices.Contains(names, "greeter.shop") {
		t.Errorf("no api_listener greeter.shop")
	}
	for _, rc := range g.Routes {
		if rc.GetName() != "gw.shop.edge.grpc/gw.shop.edge/greeter.shop" {
			continue
		}
		ws := rc.GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters().GetClusters()
		if len(ws) != 2 || ws[0].GetWeight().GetValue() != 90 || ws[1].GetWeight().GetValue() != 10 {
			t.Errorf("weighted clusters at 10%% = %v", ws)
		}
		return
	}
	t.Error("no route configuration for greeter.shop")
}

// TestGRPCHeaderMatches: a GRPCRoute match's headers become the policy route's as an
// HTTPRoute's would, exact by default, regular expressions when said, and only the first of
// each name ignoring case.
func TestGRPCHeaderMatches(t *testing.T) {
	regex := gwv1.GRPCHeaderMatchRegularExpression
	exact := gwv1.GRPCHeaderMatchExact
	got := grpcHeaderMatches([]gwv1.GRPCHeaderMatch{
		{Name: "x-tenant", Value: "acme"},
		{Type: &regex, Name: "x-user", Value: "qa-.*"},
		{Type: &exact, Name: "X-Tenant", Value: "other"},
		{Type: &exact, Name: "x-region", Value: "eu"},
	})
	want := []policy.HeaderMatch{{Name: "x-tenant", Exact: "acme"}, {Name: "x-user", Regex: "qa-.*"}, {Name: "x-region", Exact: "eu"}}
	if !slices.Equal(got, want) {
		t.Errorf("header matches %+v, want %+v", got, want)
	}
}

// A CanaryPolicy's headers become the canary's: with its header routes on, proxyless gRPC
// clients of the Gateway get a first route that requires them and sends to the canary
// alone, before the weighted one. A header regex RE2 refuses refuses the policy, naming it.
func TestTranslateCanaryHeaders(t *testing.T) {
	in := input()
	regex := gwv1.HeaderMatchRegularExpression
	in.CanaryPolicies[0].Spec.Headers = []gwv1.HTTPHeaderMatch{{Name: "x-canary", Value: "always"}, {Type: &regex, Name: "x-user", Value: "qa-.*"}}
	p := Merge(base(t), Translate(in).Spec)
	c := p.Canary("shop-greeter-rollout")
	if want := []policy.HeaderMatch{{Name: "x-canary", Exact: "always"}, {Name: "x-user", Regex: "qa-.*"}}; c == nil || !slices.Equal(c.Headers, want) {
		t.Fatalf("canary headers %+v, want %+v", c, want)
	}
	at, err := p.WithCanaryWeight(c, 10)
	if err == nil {
		at, err = at.WithCanaryHeaderRoutes(c)
	}
	if err != nil {
		t.Fatal(err)
	}
	groups, err := translate.Translate(at)
	if err != nil {
		t.Fatal(err)
	}
	var routes []*envoy_config_route_v3.Route
	for _, rc := range groups["gw.shop.edge.grpc"].Routes {
		if rc.GetName() == "gw.shop.edge.grpc/gw.shop.edge/greeter.shop" {
			routes = rc.GetVirtualHosts()[0].GetRoutes()
		}
	}
	if len(routes) < 2 {
		t.Fatalf("routes of greeter.shop: %v", routes)
	}
	hs := routes[0].GetMatch().GetHeaders()
	if len(hs) != 2 || hs[0].GetName() != "x-canary" || hs[0].GetStringMatch().GetExact() != "always" || hs[1].GetStringMatch().GetSafeRegex().GetRegex() != "qa-.*" {
		t.Errorf("header route matches %v", hs)
	}
	got := routes[0].GetRoute().GetCluster()
	for _, w := range routes[0].GetRoute().GetWeightedClusters().GetClusters() {
		got += " " + w.GetName()
	}
	if !strings.Contains(got, "greeter-v2") || strings.Contains(got, "greeter-v1") {
		t.Errorf("header route sends to %q, want the canary", got)
	}
	if ws := routes[1].GetRoute().GetWeightedClusters().GetClusters(); len(ws) != 2 || ws[1].GetWeight().GetValue() != 10 || len(routes[1].GetMatch().GetHeaders()) != 0 {
		t.Errorf("second route %v, want the weighted one without the headers", routes[1])
	}

	for _, bad := range []struct{ regex, want string }{
		{"qa-(?P<x", "spec.headers[1].regex"},
		{"[a-z0-9-]{1,64}", "spec.headers[1].value: regex \"[a-z0-9-]{1,64}\" compiles to an RE2 program of 259 instructions"},
	} {
		in.CanaryPolicies[0].Spec.Headers[1].Value = bad.regex
		res := Translate(in)
		as := res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "greeter-rollout"}]
		if c := conditions.Require(t, as[0].Conditions, "Accepted"); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, bad.want) {
			t.Errorf("header regex %q: Accepted = %+v, want %q", bad.regex, c, bad.want)
		}
	}
}

// TestTranslateRefusesBadCanary: a canary whose weights do not step up, or that starts at
// weight 0 without headers, is refused on its own status; the routes keep serving.
func TestTranslateRefusesBadCanary(t *testing.T) {
	for _, c := range []struct {
		step   int
		weight uint32
		want   string
	}{{1, 5, "steps[1].weight: weights must step up"}, {0, 0, "steps[0].weight: must be 1..100, not 0 (a first step of weight 0"}} {
		in := input()
		in.CanaryPolicies[0].Spec.Steps[c.step].Weight = c.weight
		res := Translate(in)
		as := res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "greeter-rollout"}]
		cond := conditions.Require(t, as[0].Conditions, "Accepted")
		if cond.Status != metav1.ConditionFalse || cond.Reason != string(gwv1.PolicyReasonInvalid) || !strings.Contains(cond.Message, c.want) {
			t.Errorf("steps[%d] of weight %d: Accepted = %+v, want %q", c.step, c.weight, cond, c.want)
		}
		if len(res.Spec.Canaries) != 0 {
			t.Errorf("refused canary translated: %+v", res.Spec.Canaries)
		}
		if err := Merge(base(t), res.Spec).Validate(); err != nil {
			t.Error(err)
		}
	}
}

// TestTranslateHeaderOnlyPhase: with headers, a CanaryPolicy may start at weight 0, where
// only the requests matching them reach the canary.
func TestTranslateHeaderOnlyPhase(t *testing.T) {
	in := input()
	in.CanaryPolicies[0].Spec.Headers = []gwv1.HTTPHeaderMatch{{Name: "x-canary", Value: "always"}}
	in.CanaryPolicies[0].Spec.Steps[0].Weight = 0
	res := Translate(in)
	as := res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "greeter-rollout"}]
	if cond := conditions.Require(t, as[0].Conditions, "Accepted"); cond.Status != metav1.ConditionTrue {
		t.Fatalf("Accepted = %+v", cond)
	}
	p := Merge(base(t), res.Spec)
	c := p.Canary("shop-greeter-rollout")
	if c == nil || c.Steps[0].Weight != 0 || c.Steps[1].Weight != 50 {
		t.Fatalf("canary %+v", c)
	}
	at, err := p.WithCanaryWeight(c, 0)
	if err == nil {
		at, err = at.WithCanaryHeaderRoutes(c)
	}
	if err == nil {
		_, err = translate.Translate(at)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkTranslate1000Routes translates 1,000 HTTPRoutes on one Gateway, merges them into a
// policy, validates it and translates it to Envoy resources.
func BenchmarkTranslate1000Routes(b *testing.B) {
	in := input()
	in.HTTPRoutes, in.GRPCRoutes, in.CanaryPolicies = nil, nil, nil
	for i := range 1000 {
		name := fmt.Sprintf("svc-%d", i)
		in.Services = append(in.Services, svc("shop", name, 80), svc("shop", name+"-next", 80))
		path := fmt.Sprintf("/api/%d", i)
		in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("r-%d", i)},
			Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}},
				Hostnames: []gwv1.Hostname{gwv1.Hostname(fmt.Sprintf("h%d.shop", i%50))},
				Rules: []gwv1.HTTPRouteRule{{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: &path}}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref(name, 80, 90)}, {BackendRef: ref(name+"-next", 80, 10)}}}}}})
	}
	bp := base(b)
	// Gateway API objects to the policy's services, virtual hosts and node groups.
	b.Run("gatewayapi", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res := Translate(in); len(res.Spec.VirtualHosts) != 50 {
				b.Fatalf("%d virtual hosts", len(res.Spec.VirtualHosts))
			}
		}
	})
	// What the watcher takes of a refused Gateway's last served configuration to keep
	// serving it (only when a Gateway is refused).
	spec := Translate(in).Spec
	b.Run("lastgood", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if part := SpecOfGateway(spec, "shop", "edge"); len(part.VirtualHosts) != 50 {
				b.Fatalf("%d virtual hosts", len(part.VirtualHosts))
			}
		}
	})
	// The whole change as the control plane serves it: translation, merge with the policy
	// file, validation and translation to Envoy resources.
	b.Run("served", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			res := Translate(in)
			p := Merge(bp, res.Spec)
			if err := p.Validate(); err != nil {
				b.Fatal(err)
			}
			if _, err := translate.Translate(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCanaryPoliciesWhoseNamesJoinAlike: CanaryPolicy greeter-rollout in namespace shop and
// rollout in shop-greeter both join to "shop-greeter-rollout". Both are translated, under
// distinct canary names (one would refuse the whole translation), the older keeps the plain
// name whichever comes first in the input, and Result.CanaryNames says which is which.
func TestCanaryPoliciesWhoseNamesJoinAlike(t *testing.T) {
	for _, theirsFirst := range []bool{false, true} {
		in := input()
		all := gwv1.NamespacesFromAll
		in.Gateways[0].Spec.Listeners[0].AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}}
		edge := gwv1.Namespace("shop")
		in.Services = append(in.Services, svc("shop-greeter", "greeter-v1", 50051), svc("shop-greeter", "greeter-v2", 50051))
		in.GRPCRoutes = append(in.GRPCRoutes, &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop-greeter", Name: "greeter"}, Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge", Namespace: &edge}}}, Hostnames: []gwv1.Hostname{"greeter.shop-greeter"},
			Rules: []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("greeter-v1", 50051, 100)}, {BackendRef: ref("greeter-v2", 50051, 0)}}}}}})
		copied := *in.CanaryPolicies[0]
		theirs := &copied
		theirs.Namespace, theirs.Name = "shop-greeter", "rollout"
		theirs.CreationTimestamp = metav1.Unix(200, 0) // younger than shop's
		in.CanaryPolicies[0].CreationTimestamp = metav1.Unix(100, 0)
		if theirsFirst {
			in.CanaryPolicies = append([]*CanaryPolicy{theirs}, in.CanaryPolicies...)
		} else {
			in.CanaryPolicies = append(in.CanaryPolicies, theirs)
		}
		res := Translate(in)
		p := Merge(base(t), res.Spec)
		if err := p.Validate(); err != nil {
			t.Fatalf("theirs first %v: %v", theirsFirst, err)
		}
		ours, younger := res.CanaryNames[types.NamespacedName{Namespace: "shop", Name: "greeter-rollout"}], res.CanaryNames[types.NamespacedName{Namespace: "shop-greeter", Name: "rollout"}]
		if ours != "shop-greeter-rollout" || younger == ours || younger == "" {
			t.Errorf("theirs first %v: canary names %q (older) and %q (younger)", theirsFirst, ours, younger)
		}
		for _, n := range []string{ours, younger} {
			if p.Canary(n) == nil {
				t.Errorf("theirs first %v: no canary %q in %+v", theirsFirst, n, p.Spec.Canaries)
			}
		}
	}
}

// servedCanary is in's translation merged into the base policy, checked as served, and its
// canary shop-greeter-rollout (the CanaryPolicy of input).
func servedCanary(t *testing.T, in *Input) (*policy.Policy, *policy.Canary) {
	t.Helper()
	p := Merge(base(t), Translate(in).Spec)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	c := p.Canary("shop-greeter-rollout")
	if c == nil {
		t.Fatal("no canary")
	}
	return p, c
}
