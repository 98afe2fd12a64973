package gatewayapi

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// meshFile is a policy file of a mesh: sidecars for web and api (both kubernetes discovery in
// namespace shop), web calling api.
const meshFile = `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: mesh, namespace: shop}
spec:
  services:
  - {name: web, port: 80, discovery: kubernetes}
  - {name: api, port: 8080, discovery: kubernetes}
  nodeGroups:
  - {name: web, services: [web], upstreams: [api]}
  - {name: api, services: [api]}
`

// meshPolicy parses a policy file.
func meshPolicy(t *testing.T, file string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(file), "mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serviceParent is a parentRef to port of the core Service name (a mesh route's).
func serviceParent(name string, port int32) gwv1.ParentReference {
	return gwv1.ParentReference{Group: ptr(gwv1.Group("")), Kind: ptr(gwv1.Kind(KindService)), Name: gwv1.ObjectName(name), Port: ptr(port)}
}

// meshInput has no Gateway: HTTPRoute api-split, a producer route of Service shop/api port
// 8080, sends /v2 to api-v2 and the rest 90/10 to api and api-v2.
func meshInput() *Input {
	split := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-split", Generation: 2, CreationTimestamp: metav1.NewTime(time.Unix(100, 0))}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("api", 8080)}},
		Rules: []gwv1.HTTPRouteRule{
			{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("api", 8080, 90)}, {BackendRef: ref("api-v2", 8080, 10)}}},
			{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr("/v2")}}},
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("api-v2", 8080, 1)}}},
		}}}
	return &Input{ControllerName: controller, HTTPRoutes: []*gwv1.HTTPRoute{split},
		Services: []*corev1.Service{svc("shop", "web", 80), svc("shop", "api", 8080), svc("shop", "api-v2", 8080)}, Now: time.Unix(1_800_000_000, 0)}
}

// outboundVirtualHost is the virtual host of a sidecar group's outbound route configuration
// that answers domain.
func outboundVirtualHost(t *testing.T, res *translate.Resources, group, domain string) (name string, routes []string, clusters [][]string) {
	t.Helper()
	for _, rc := range res.Routes {
		if rc.GetName() != translate.RouteConfigName(group, translate.OutboundListener) {
			continue
		}
		for _, vh := range rc.GetVirtualHosts() {
			if !slices.Contains(vh.GetDomains(), domain) {
				continue
			}
			for _, r := range vh.GetRoutes() {
				routes = append(routes, r.GetName())
				var cs []string
				if c := r.GetRoute().GetCluster(); c != "" {
					cs = append(cs, c)
				}
				for _, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
					cs = append(cs, w.GetName()+"="+w.GetWeight().String())
				}
				clusters = append(clusters, cs)
			}
			return vh.GetName(), routes, clusters
		}
	}
	t.Fatalf("group %s: no outbound virtual host answers %q", group, domain)
	return "", nil, nil
}

// TestMeshRouteRoutesTheServicesClients: an HTTPRoute whose parent is Service shop/api routes
// what web's sidecar sends to api (the file's service of that Service port), in the Gateway
// API's precedence (the /v2 prefix before the catch-all), and is accepted; api's own sidecar
// still forwards everything it receives to its application.
func TestMeshRouteRoutesTheServicesClients(t *testing.T) {
	res := Translate(meshInput())
	sts := res.HTTPRoutes[types.NamespacedName{Namespace: "shop", Name: "api-split"}]
	if len(sts) != 1 || sts[0].ParentRef.Name != "api" || string(sts[0].ControllerName) != controller {
		t.Fatalf("parent statuses = %+v", sts)
	}
	for _, typ := range []string{"Accepted", "ResolvedRefs"} {
		if c := conditions.Require(t, sts[0].Conditions, typ); c.Status != metav1.ConditionTrue || c.ObservedGeneration != 2 {
			t.Errorf("%s = %+v", typ, c)
		}
	}
	p, groups := servedWith(t, meshPolicy(t, meshFile), res.Spec)
	api := p.Service("api")
	if !api.RoutesForClients || len(api.Routes) != 2 || !strings.Contains(api.Routes[0].Name, "/1/") {
		t.Fatalf("file service api routes = %+v", api.Routes)
	}
	if own := p.Service("shop-api-8080"); own == nil || len(own.Routes) != 0 || len(own.Hosts) != 0 {
		t.Errorf("the translation's service of the port kept routes or hosts: %+v", own)
	}
	name, routes, clusters := outboundVirtualHost(t, groups["web"], "web", "api.shop.svc.cluster.local:8080")
	if name != "api" || len(routes) != 2 {
		t.Fatalf("web's outbound virtual host %q routes %v", name, routes)
	}
	// The share of api itself goes to the file's service, with the file's settings.
	if want := [][]string{{"shop-api-v2-8080.shop"}, {"api.shop=value:90", "shop-api-v2-8080.shop=value:10"}}; !slices.EqualFunc(clusters, want, slices.Equal) {
		t.Errorf("web's routes to api send to %v, want %v", clusters, want)
	}
	// web's group lists api among its upstreams: it gets the clusters api's routes send to.
	if !slices.ContainsFunc(groups["web"].Clusters, func(c *clusterv3.Cluster) bool { return c.GetName() == "shop-api-v2-8080.shop" }) {
		t.Error("web lacks the cluster of api-v2")
	}
	for _, rc := range groups["api"].Routes {
		if rc.GetName() != translate.RouteConfigName("api", translate.InboundListener) {
			continue
		}
		vh := rc.GetVirtualHosts()[0]
		if len(vh.GetRoutes()) != 1 || vh.GetRoutes()[0].GetRoute().GetCluster() != translate.InboundClusterName("api") || vh.GetRoutes()[0].GetMatch().GetPrefix() != "/" {
			t.Errorf("api's inbound routes = %v, want one to its application", vh.GetRoutes())
		}
	}
}

// TestMeshRouteWithoutAFileService: a Service the policy file does not hold gets its routes
// on the translation's service of the port, which answers the Service's cluster names.
func TestMeshRouteWithoutAFileService(t *testing.T) {
	file := strings.Replace(meshFile, "  - {name: api, port: 8080, discovery: kubernetes}\n", "", 1)
	file = strings.Replace(file, "  - {name: web, services: [web], upstreams: [api]}\n  - {name: api, services: [api]}\n", "  - {name: web, services: [web]}\n", 1)
	p, groups := servedWith(t, meshPolicy(t, file), Translate(meshInput()).Spec)
	own := p.Service("shop-api-8080")
	if !own.RoutesForClients || len(own.Routes) != 2 {
		t.Fatalf("shop-api-8080 = %+v", own)
	}
	for _, host := range []string{"api.shop", "api.shop:8080", "api.shop.svc.cluster.local", "api.shop.svc.cluster.local:8080"} {
		if name, routes, _ := outboundVirtualHost(t, groups["web"], "web", host); name != "shop-api-8080" || len(routes) != 2 {
			t.Errorf("%s: virtual host %q with routes %v", host, name, routes)
		}
	}
}

// TestMeshRouteKeepsTheFilesOwnRoutesAndNames: a file service that routes its requests
// itself keeps its routes, and a name a file service answers stays its own: the mesh routes
// stay on the translation's service, answering none of those names (a canary over them
// still finds them).
func TestMeshRouteKeepsTheFilesOwnRoutesAndNames(t *testing.T) {
	own := strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, routes: [{name: file-route, match: {prefix: /}}]}", 1)
	p, _ := servedWith(t, meshPolicy(t, own), Translate(meshInput()).Spec)
	if rs := p.Service("api").Routes; len(rs) != 1 || rs[0].Name != "file-route" || p.Service("api").RoutesForClients {
		t.Errorf("api's routes = %+v", rs)
	}
	if s := p.Service("shop-api-8080"); len(s.Routes) != 2 || len(s.Hosts) != 0 {
		t.Errorf("shop-api-8080 = %+v", s)
	}

	// A file service named otherwise that answers api.shop:8080 among its hosts.
	other := strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: gateway-api, port: 8080, discovery: kubernetes, hosts: [\"api.shop:8080\"]}", 1)
	other = strings.ReplaceAll(other, "[api]", "[gateway-api]")
	p, groups := servedWith(t, meshPolicy(t, other), Translate(meshInput()).Spec)
	if hs := p.Service("shop-api-8080").Hosts; slices.Contains(hs, "api.shop:8080") || !slices.Contains(hs, "api.shop.svc.cluster.local:8080") {
		t.Errorf("shop-api-8080 hosts = %v", hs)
	}
	if name, _, _ := outboundVirtualHost(t, groups["web"], "web", "api.shop:8080"); name != "gateway-api" {
		t.Errorf("api.shop:8080 answered by %q", name)
	}
}

// TestMeshRouteRefusals: what a mesh route cannot be attached to says why on its status,
// and changes nothing served.
func TestMeshRouteRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Input)
		reason gwv1.RouteConditionReason
		msg    string
	}{
		{"missing Service", func(in *Input) { in.HTTPRoutes[0].Spec.ParentRefs[0].Name = "nope" }, gwv1.RouteReasonNoMatchingParent, "Service shop/nope not found"},
		{"no such port", func(in *Input) { in.HTTPRoutes[0].Spec.ParentRefs[0].Port = ptr(int32(9999)) }, gwv1.RouteReasonNoMatchingParent, "no TCP port"},
		{"consumer route", func(in *Input) {
			in.HTTPRoutes[0].Namespace = "web"
			in.HTTPRoutes[0].Spec.ParentRefs[0].Namespace = ptr(gwv1.Namespace("shop"))
		}, gwv1.RouteReasonUnsupportedValue, "in another namespace"},
		{"ExternalName", func(in *Input) { in.Services[1].Spec.Type = corev1.ServiceTypeExternalName }, gwv1.RouteReasonNoMatchingParent, "ExternalName"},
		{"older GRPCRoute on the port", func(in *Input) {
			in.GRPCRoutes = []*gwv1.GRPCRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-grpc", CreationTimestamp: metav1.NewTime(time.Unix(50, 0))}, Spec: gwv1.GRPCRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("api", 8080)}},
				Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("api", 8080, 1)}}}}}}}
		}, routeReasonConflicted, "already has GRPCRoutes attached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := meshInput()
			tc.change(in)
			res := Translate(in)
			r := in.HTTPRoutes[0]
			c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, r.Namespace, r.Name), "Accepted")
			if c.Status != metav1.ConditionFalse || c.Reason != string(tc.reason) || !strings.Contains(c.Message, tc.msg) {
				t.Errorf("Accepted = %+v, want %s with %q", c, tc.reason, tc.msg)
			}
			for _, s := range res.Spec.Services {
				if slices.ContainsFunc(s.Routes, func(r policy.Route) bool { return strings.Contains(r.Name, "HTTPRoute/") }) {
					t.Errorf("service %s serves the refused route: %+v", s.Name, s.Routes)
				}
			}
		})
	}
}

// TestMeshRouteOnEveryPortOrOne: without a port the route is attached to every TCP port of
// the Service (each answering its own names, the bare ones on port 80 only); sectionName
// picks a port by name.
func TestMeshRouteOnEveryPortOrOne(t *testing.T) {
	in := meshInput()
	in.Services[1].Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "admin", Port: 9090}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}
	in.HTTPRoutes[0].Spec.ParentRefs[0].Port = nil
	in.HTTPRoutes[0].Spec.Rules = in.HTTPRoutes[0].Spec.Rules[:0]
	in.HTTPRoutes[0].Spec.Rules = append(in.HTTPRoutes[0].Spec.Rules, gwv1.HTTPRouteRule{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("api-v2", 8080, 1)}}})
	res := Translate(in)
	hosts := map[string][]string{}
	for _, s := range res.Spec.Services {
		if s.RoutesForClients {
			hosts[s.Name] = s.Hosts
		}
	}
	if len(hosts) != 2 || !slices.Contains(hosts["shop-api-80"], "api.shop") || slices.Contains(hosts["shop-api-9090"], "api.shop") || !slices.Contains(hosts["shop-api-9090"], "api.shop:9090") {
		t.Errorf("mesh services' hosts = %v", hosts)
	}
	servedWith(t, base(t), res.Spec)

	in.HTTPRoutes[0].Spec.ParentRefs[0].SectionName = ptr(gwv1.SectionName("admin"))
	res = Translate(in)
	var names []string
	for _, s := range res.Spec.Services {
		if s.RoutesForClients {
			names = append(names, s.Name)
		}
	}
	if !slices.Equal(names, []string{"shop-api-9090"}) {
		t.Errorf("with sectionName admin: mesh services %v", names)
	}
}

// withAPIRollout has meshInput's route send all to api, and CanaryPolicy api-rollout step it
// to api-v2.
func withAPIRollout(in *Input) {
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[0].Weight, in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[1].Weight = ptr(int32(100)), ptr(int32(0))
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-rollout"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "api-split"}},
		Stable:     "api", Canary: "api-v2", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
}

// TestCanaryOfAMeshRoute: a CanaryPolicy steps the weights of a mesh route's rule as it does
// a Gateway's, on the file service's routes; its status names the Service as its ancestor.
func TestCanaryOfAMeshRoute(t *testing.T) {
	in := meshInput()
	withAPIRollout(in)
	res := Translate(in)
	// Its ancestor is the route's Service parent.
	if c, a := accepted(t, res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "api-rollout"}]); c.Status != metav1.ConditionTrue || *a.Kind != KindService || a.Name != "api" || *a.Group != "" {
		t.Fatalf("CanaryPolicy Accepted = %+v on %+v", c, a)
	}
	p, _ := servedWith(t, meshPolicy(t, meshFile), res.Spec)
	c := p.Canary(res.CanaryNames[types.NamespacedName{Namespace: "shop", Name: "api-rollout"}])
	if c == nil || c.Stable != "api" || c.Canary != "shop-api-v2-8080" || p.Service("api").Routes[1].Name != c.Route {
		t.Fatalf("canary = %+v; api routes %+v", c, p.Service("api").Routes)
	}
	// The file's api routing its requests itself: the routes stay on the translation's
	// service of the port, where the canary finds them (their share of api still goes to the
	// file's service).
	own := strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, routes: [{name: file-route}]}", 1)
	p, _ = servedWith(t, meshPolicy(t, own), res.Spec)
	if c := p.Canary(res.CanaryNames[types.NamespacedName{Namespace: "shop", Name: "api-rollout"}]); c == nil || c.Stable != "api" || !slices.ContainsFunc(p.Service("shop-api-8080").Routes, func(r policy.Route) bool { return r.Name == c.Route }) {
		t.Errorf("canary beside the file's own routes = %+v", c)
	}
}

// TestMeshHostsThatAnotherServiceAnswers: a Service named to look like another Service
// port's generated name (a-b-80 in namespace a, beside Service b port 80 there) does not
// take that service's names: the generated service answers each of them, with and without
// the port, so the mesh route answers none; it is not accepted, says which service answers
// its names, and the merge is served without it.
func TestMeshHostsThatAnotherServiceAnswers(t *testing.T) {
	in := &Input{ControllerName: controller, Services: []*corev1.Service{svc("a", "b", 80), svc("a", "a-b-80", 80)}, Now: time.Unix(1_800_000_000, 0),
		HTTPRoutes: []*gwv1.HTTPRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "r"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("a-b-80", 80)}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("b", 80, 1)}}}}}}}}
	in.File = meshPolicy(t, "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: m}\nspec:\n  services: [{name: client, port: 80, endpoints: [{address: 10.0.0.1}]}]\n  nodeGroups: [{name: client, services: [client]}]\n")
	res := Translate(in)
	c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "a", "r"), "Accepted")
	if c.Status != metav1.ConditionFalse || c.Reason != routeReasonConflicted || !strings.Contains(c.Message, "port 80: no name of the Service port is left for its routes: service a-b-80 answers a-b-80.a") {
		t.Errorf("Accepted = %+v", c)
	}
	p, _ := servedWith(t, in.File, res.Spec)
	if ms := meshServices(p.Spec); len(ms) != 0 {
		t.Errorf("mesh services = %v", ms)
	}
}

// TestMeshRouteKeepsTheFileServicesSettings: the share a mesh route sends to its own Service
// goes to the file's service of that port, with its TLS and timeout; where the file's
// service speaks another protocol than the route (and so cannot take that share) and has
// TLS, the routes are not handed over at all, rather than reach its endpoints without TLS.
func TestMeshRouteKeepsTheFileServicesSettings(t *testing.T) {
	file := strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, timeout: 2s, tls: {sni: api.shop}}", 1)
	_, groups := servedWith(t, meshPolicy(t, file), Translate(meshInput()).Spec)
	if _, _, clusters := outboundVirtualHost(t, groups["web"], "web", "api.shop.svc.cluster.local:8080"); !slices.Contains(clusters[1], "api.shop=value:90") {
		t.Errorf("web's routes to api send to %v", clusters)
	}
	for _, c := range groups["web"].Clusters {
		if c.GetName() == "shop-api-8080.shop" {
			t.Errorf("web gets the translation's cluster of api's port, without TLS: %v", c.GetName())
		}
		if c.GetName() == "api.shop" && c.GetTransportSocket() == nil {
			t.Error("cluster api.shop lost its TLS")
		}
	}

	other := strings.Replace(file, "timeout: 2s,", "timeout: 2s, protocol: http2,", 1)
	p, groups := servedWith(t, meshPolicy(t, other), Translate(meshInput()).Spec)
	if rs := p.Service("api").Routes; len(rs) != 0 {
		t.Errorf("api (http2, TLS) took routes that send to its endpoints without TLS: %+v", rs)
	}
	if name, routes, _ := outboundVirtualHost(t, groups["web"], "web", "api.shop.svc.cluster.local:8080"); name != "api" || len(routes) != 1 {
		t.Errorf("web's virtual host for api: %q %v", name, routes)
	}
}

// TestMeshRouteCanaryOverHandedAndGatewayRoutes: a canary over a Gateway's route and a mesh
// route, both sending to Service api and api-v2, keeps naming the translation's services, and
// so do the handed-over routes: the merge stays valid.
func TestMeshRouteCanaryOverHandedAndGatewayRoutes(t *testing.T) {
	in := meshInput()
	in.HTTPRoutes[0].Spec.Rules = in.HTTPRoutes[0].Spec.Rules[:1]
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[0].Weight, in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[1].Weight = ptr(int32(100)), ptr(int32(0))
	gw := oneGateway("shop", "edge", nil)
	in.GatewayClasses, in.Gateways = gw.GatewayClasses, gw.Gateways
	edge := in.HTTPRoutes[0].DeepCopy()
	edge.Name, edge.Spec.ParentRefs, edge.Spec.Hostnames = "edge", []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"api.example.com"}
	in.HTTPRoutes = append(in.HTTPRoutes, edge)
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-rollout"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "api-split"}, {Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "edge"}},
		Stable:     "api", Canary: "api-v2", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	res := Translate(in)
	p, _ := servedWith(t, meshPolicy(t, meshFile), res.Spec)
	c := p.Canary(res.CanaryNames[types.NamespacedName{Namespace: "shop", Name: "api-rollout"}])
	if c == nil || c.Stable != "shop-api-8080" || len(c.AllRoutes()) != 2 {
		t.Fatalf("canary = %+v", c)
	}
	if rs := p.Service("api").Routes; len(rs) != 1 || rs[0].Backends[0].Service != "shop-api-8080" {
		t.Errorf("api's routes = %+v", rs)
	}
}

// greeterToTLSWeb is a mesh GRPCRoute of Service greeter that sends weight of its calls to
// Service web, which a BackendTLSPolicy gives TLS.
func greeterToTLSWeb(weight int32) *Input {
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0), Served: ServedKinds{BackendTLSPolicies: true},
		Services: []*corev1.Service{svc("shop", "greeter", 50051), svc("shop", "web", 50051)},
		GRPCRoutes: []*gwv1.GRPCRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter"}, Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("greeter", 50051)}},
			Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("greeter", 50051, 100-weight)}, {BackendRef: ref("web", 50051, weight)}}}}}}},
		BackendTLSPolicies: []*gwv1.BackendTLSPolicy{backendTLSPolicy("web-tls", 1, "", "web.shop")},
	}
	in.BackendTLSPolicies[0].Spec.Validation.WellKnownCACertificates = ptr(gwv1.WellKnownCACertificatesSystem)
	return in
}

// TestMeshRouteToATLSServiceIsRefused: proxyless gRPC clients of the mesh cannot originate
// TLS, so a mesh route that sends to a Service with a BackendTLSPolicy is not accepted (and
// nothing a proxyless group gets sends there).
func TestMeshRouteToATLSServiceIsRefused(t *testing.T) {
	res := Translate(greeterToTLSWeb(10))
	if c := conditions.Require(t, routeStatus(t, res.GRPCRoutes, "shop", "greeter"), "Accepted"); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "Service shop/web port 50051 has a BackendTLSPolicy") {
		t.Errorf("Accepted = %+v", c)
	}
	file := "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: mesh, namespace: shop}\nspec:\n  services:\n  - {name: greeter, port: 50051, protocol: grpc, discovery: kubernetes}\n  nodeGroups:\n  - {name: clients, kind: grpc, selector: {app: client}, upstreams: [greeter]}\n"
	servedWith(t, meshPolicy(t, file), res.Spec)
}

// TestMeshHostsOfAProxylessTarget: a name a proxyless gRPC group serves as a virtual host's
// target (the policy file's, or a Gateway's hostname) stays that target's: the mesh service
// of the Service leaves it out, and the merge is valid.
func TestMeshHostsOfAProxylessTarget(t *testing.T) {
	file := `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: mesh, namespace: shop}
spec:
  services:
  - {name: greeter-v1, port: 50051, protocol: grpc, discovery: kubernetes}
  virtualHosts:
  - {name: greeter, domains: ["greeter.shop.svc.cluster.local:50051"], routes: [{name: split, backends: [{service: greeter-v1}]}]}
  nodeGroups:
  - {name: clients, kind: grpc, selector: {app: client}, virtualHosts: [greeter]}
`
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0),
		Services: []*corev1.Service{svc("shop", "greeter", 50051), svc("shop", "greeter-v1", 50051)},
		GRPCRoutes: []*gwv1.GRPCRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter"}, Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("greeter", 50051)}},
			Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("greeter-v1", 50051, 1)}}}}}}},
	}
	p, _ := servedWith(t, meshPolicy(t, file), Translate(in).Spec)
	if hs := p.Service("shop-greeter-50051").Hosts; slices.Contains(hs, "greeter.shop.svc.cluster.local:50051") || !slices.Contains(hs, "greeter.shop:50051") {
		t.Errorf("mesh hosts = %v", hs)
	}

	// A Gateway's GRPCRoute serves the Service's cluster name to its proxyless clients.
	gw := oneGateway("shop", "internal", nil)
	in.GatewayClasses, in.Gateways = gw.GatewayClasses, gw.Gateways
	in.GRPCRoutes = append(in.GRPCRoutes, &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "gw"}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "internal"}}}, Hostnames: []gwv1.Hostname{"greeter.shop.svc.cluster.local"},
		Rules: []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("greeter", 50051, 1)}}}}}})
	p, _ = servedWith(t, base(t), Translate(in).Spec)
	if hs := p.Service("shop-greeter-50051").Hosts; slices.Contains(hs, "greeter.shop.svc.cluster.local") || !slices.Contains(hs, "greeter.shop.svc.cluster.local:50051") {
		t.Errorf("mesh hosts beside the Gateway's = %v", hs)
	}
}

// TestMeshParentOfAGRPCRouteNamesItsService: the policy service of a GRPCRoute's parent port
// is the GRPCRoutes' one (ServiceName), and an HTTPRoute's backendRef to that port gets the
// one ending in its protocol, whichever route is older.
func TestMeshParentOfAGRPCRouteNamesItsService(t *testing.T) {
	for _, grpcFirst := range []bool{false, true} {
		in := oneGateway("shop", "edge", nil)
		in.Services = []*corev1.Service{svc("shop", "greeter", 50051), svc("shop", "greeter-v2", 50051)}
		h := simpleRoute("shop", "web", []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"web.shop"}, nil, "greeter")
		h.Spec.Rules[0].BackendRefs[0].Port = ptr(int32(50051))
		g := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter"}, Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("greeter", 50051)}},
			Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("greeter-v2", 50051, 1)}}}}}}
		h.CreationTimestamp, g.CreationTimestamp = metav1.Unix(10, 0), metav1.Unix(20, 0)
		if grpcFirst {
			h.CreationTimestamp, g.CreationTimestamp = metav1.Unix(20, 0), metav1.Unix(10, 0)
		}
		in.HTTPRoutes, in.GRPCRoutes = []*gwv1.HTTPRoute{h}, []*gwv1.GRPCRoute{g}
		got := map[string]string{}
		for _, s := range Translate(in).Spec.Services {
			got[s.Name] = string(s.Protocol)
			if s.RoutesForClients {
				got[s.Name] += "+mesh"
			}
		}
		if got["shop-greeter-50051"] != "grpc+mesh" || got["shop-greeter-50051-http1"] != "http1" {
			t.Errorf("grpc first %v: services %v", grpcFirst, got)
		}
	}
}

// BenchmarkMeshRoutes1000 translates 1,000 mesh routes, one for each of 1,000 Services
// (90/10 between the Service and its -next), merges them with a policy file that has a
// service for half of those Services and one sidecar group calling every service, and
// serves the merge; and translates them with a file whose services route themselves.
func BenchmarkMeshRoutes1000(b *testing.B) {
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0)}
	for i := range 1000 {
		name := fmt.Sprintf("svc-%d", i)
		in.Services = append(in.Services, svc("shop", name, 80), svc("shop", name+"-next", 80))
		in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "r-" + name},
			Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent(name, 80)}},
				Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref(name, 80, 90)}, {BackendRef: ref(name+"-next", 80, 10)}}}}}})
	}
	// policyFile has a service for every other Service, with routes of its own if own.
	policyFile := func(own bool) *policy.Policy {
		var file strings.Builder
		file.WriteString("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: mesh, namespace: shop}\nspec:\n  services:\n  - {name: client, port: 9000, endpoints: [{address: 10.0.0.1}]}\n")
		for i := 0; i < 1000; i += 2 {
			routes := ""
			if own {
				routes = fmt.Sprintf(", routes: [{name: own-%d}]", i)
			}
			fmt.Fprintf(&file, "  - {name: svc-%d, port: 80, discovery: kubernetes%s}\n", i, routes)
		}
		file.WriteString("  nodeGroups:\n  - {name: client, services: [client]}\n")
		fp, err := policy.Parse([]byte(file.String()), "mesh.yaml")
		if err != nil {
			b.Fatal(err)
		}
		return fp
	}
	fp := policyFile(false)
	in.File = fp // as serve translates: with the file the merge takes
	b.Run("translate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if res := Translate(in); len(res.Spec.Services) != 2000 {
				b.Fatalf("%d services", len(res.Spec.Services))
			}
		}
	})
	// The same with the file routing its services itself: half the ports are refused, which
	// takes a second translation.
	b.Run("translate-half-refused", func(b *testing.B) {
		own := *in
		own.File = policyFile(true)
		b.ReportAllocs()
		for b.Loop() {
			if res := Translate(&own); len(res.Spec.Services) != 1000 { // those of the routes accepted
				b.Fatalf("%d services", len(res.Spec.Services))
			}
		}
	})
	// 1,000 routes each on two Services, with a canary over both whose stable's file service
	// has TLS: one port of each is refused (two translations).
	b.Run("translate-spanning-canaries", func(b *testing.B) {
		spanning := spanningCanaries(b, 1000)
		b.ReportAllocs()
		for b.Loop() {
			if res := Translate(spanning); len(res.Spec.Canaries) != 1000 {
				b.Fatalf("%d canaries", len(res.Spec.Canaries))
			}
		}
	})
	spec := Translate(in).Spec
	b.Run("merge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if p := Merge(fp, spec); len(p.Service("svc-0").Routes) != 1 {
				b.Fatal("svc-0 has no mesh route")
			}
		}
	})
	b.Run("served", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := Merge(fp, Translate(in).Spec)
			if err := p.Validate(); err != nil {
				b.Fatal(err)
			}
			if _, err := translate.Translate(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestMeshRouteOfTheExampleMesh: docs/canary.md's example, a GRPCRoute of Service ratings and
// a CanaryPolicy to ratings-v2, with the example policy file deploy/policies/mesh.yaml: the
// file's ratings takes the route and stays the canary's stable, and once the canary steps,
// the reviews group, which calls ratings, reaches ratings-v2 too.
func TestMeshRouteOfTheExampleMesh(t *testing.T) {
	file, err := policy.Load("../../deploy/policies/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	grpcPort := func(name string) *corev1.Service {
		s := svc("shop", name, 50051)
		s.Spec.Ports[0].Name, s.Spec.Ports[0].AppProtocol = "grpc", ptr("grpc")
		return s
	}
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0), Services: []*corev1.Service{grpcPort("ratings"), grpcPort("ratings-v2")},
		GRPCRoutes: []*gwv1.GRPCRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ratings"}, Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("ratings", 50051)}},
			Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("ratings", 50051, 100)}, {BackendRef: ref("ratings-v2", 50051, 0)}}}}}}},
		CanaryPolicies: []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ratings-rollout"}, Spec: CanaryPolicySpec{
			TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindGRPCRoute, Name: "ratings"}},
			Stable:     "ratings", Canary: "ratings-v2", Steps: []CanaryPolicyStep{{Weight: 10, Pause: metav1.Duration{Duration: 5 * time.Minute}}}}}},
	}
	res := Translate(in)
	p, _ := servedWith(t, file, res.Spec)
	c := p.Canary(res.CanaryNames[types.NamespacedName{Namespace: "shop", Name: "ratings-rollout"}])
	if rs := p.Service("ratings").Routes; len(rs) != 1 || c == nil || c.Route != rs[0].Name || c.Stable != "ratings" || c.Canary != "shop-ratings-v2-50051" {
		t.Fatalf("ratings routes %+v, canary %+v", rs, c)
	}
	stepped, err := p.WithCanaryWeight(c, 10)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := translate.Translate(stepped)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(groups["reviews"].Clusters, func(c *clusterv3.Cluster) bool { return c.GetName() == "shop-ratings-v2-50051.shop" }) {
		t.Error("reviews lacks the cluster of ratings-v2 once the canary steps")
	}
	for name, g := range groups {
		if err := check.Check(g); err != nil {
			t.Errorf("group %s at the canary's first step: %v", name, err)
		}
	}
}
