package gatewayapi

import (
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
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// cloneSpec is a deep copy of s.
func cloneSpec(s policy.Spec) policy.Spec { return (&policy.Policy{Spec: s}).Clone().Spec }

// TestMergeLeavesTheSpecAlone: Merge does not change the caller's spec (with or without a
// file service of the mesh route's port), gives the same result every time, and a canary
// overlay on the merged policy does not reach the spec either.
func TestMergeLeavesTheSpecAlone(t *testing.T) {
	in := meshInput()
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[0].Weight, in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[1].Weight = ptr(int32(100)), ptr(int32(0))
	in.HTTPRoutes[0].Spec.Rules[0].Retry = &gwv1.HTTPRouteRetry{Attempts: ptr(2)}
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-rollout"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "api-split"}},
		Stable:     "api", Canary: "api-v2", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	spec := Translate(in).Spec
	noAPI := strings.Replace(meshFile, "  - {name: api, port: 8080, discovery: kubernetes}\n", "", 1)
	noAPI = strings.Replace(noAPI, "  - {name: web, services: [web], upstreams: [api]}\n  - {name: api, services: [api]}\n", "  - {name: web, services: [web]}\n", 1)
	for _, file := range []string{meshFile, noAPI} {
		f := meshPolicy(t, file)
		before := cloneSpec(spec)
		p1 := Merge(f, spec)
		if !reflect.DeepEqual(before, spec) {
			t.Errorf("Merge changed the caller's spec")
		}
		p2 := Merge(f, spec)
		if !reflect.DeepEqual(p1, p2) {
			t.Errorf("two Merges differ")
		}
		// overlays on the served policy must not reach the spec either
		c := &p1.Spec.Canaries[0]
		if _, err := p1.WithCanaryWeight(c, 50); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(before, spec) {
			t.Errorf("overlay changed the caller's spec")
		}
	}
}

// TestMeshRouteOfAFileServiceNamedOtherwise: a file service named otherwise, standing for
// Service api (kubernetesService), takes the mesh routes and the Service's cluster names:
// clients addressing the Service by them still reach the routes.
func TestMeshRouteOfAFileServiceNamedOtherwise(t *testing.T) {
	file := strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: backend, kubernetesService: api, port: 8080, discovery: kubernetes}", 1)
	file = strings.ReplaceAll(file, "[api]", "[backend]")
	p, groups := servedWith(t, meshPolicy(t, file), Translate(meshInput()).Spec)
	if len(p.Service("backend").Routes) != 2 {
		t.Fatalf("backend routes %+v", p.Service("backend").Routes)
	}
	found := false
	for _, rc := range groups["web"].Routes {
		for _, vh := range rc.GetVirtualHosts() {
			if slices.Contains(vh.GetDomains(), "api.shop.svc.cluster.local:8080") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no virtual host of web answers api.shop.svc.cluster.local:8080: the mesh route (Accepted) is not served for the Service's own name")
	}
}

// TestMeshGRPCRouteToAnHTTP2FileService: a GRPCRoute of a Service whose file service speaks
// another protocol (http2, no TLS) merges into a valid policy that every group may be served.
func TestMeshGRPCRouteToAnHTTP2FileService(t *testing.T) {
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0),
		Services: []*corev1.Service{svc("shop", "greeter", 50051), svc("shop", "greeter-v2", 50051), svc("shop", "web", 80)},
		GRPCRoutes: []*gwv1.GRPCRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter"}, Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("greeter", 50051)}},
			Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("greeter", 50051, 90)}, {BackendRef: ref("greeter-v2", 50051, 10)}}}}}}},
	}
	file := "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: mesh, namespace: shop}\nspec:\n  services:\n  - {name: greeter, port: 50051, protocol: http2, discovery: kubernetes}\n  - {name: web, port: 80, discovery: kubernetes}\n  nodeGroups:\n  - {name: web, services: [web], upstreams: [greeter]}\n  - {name: clients, kind: grpc, selector: {app: client}, upstreams: [greeter]}\n"
	servedWith(t, meshPolicy(t, file), Translate(in).Spec)
}

// TestMeshHeaderCanaryOverHandedRoutes: a canary with header matches over routes handed to
// the file's service adds its header routes and steps its weight on the merged policy.
func TestMeshHeaderCanaryOverHandedRoutes(t *testing.T) {
	in := meshInput()
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[0].Weight, in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[1].Weight = ptr(int32(100)), ptr(int32(0))
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-rollout"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "api-split"}},
		Headers:    []gwv1.HTTPHeaderMatch{{Name: "x-canary", Value: "1"}},
		Stable:     "api", Canary: "api-v2", Steps: []CanaryPolicyStep{{Weight: 0, Pause: metav1.Duration{Duration: time.Minute}}, {Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	res := Translate(in)
	p, _ := servedWith(t, meshPolicy(t, meshFile), res.Spec)
	hp, err := p.WithAllCanaryHeaderRoutes()
	if err != nil {
		t.Fatal(err)
	}
	hp, err = hp.WithCanaryWeight(&hp.Spec.Canaries[0], 20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := translate.Translate(hp); err != nil {
		t.Fatal(err)
	}
}

// TestMergeLeavesTheSpecsRetriesAlone: the retries of handed routes, whose defaults the merge
// sets, are set on the merged policy's copy only.
func TestMergeLeavesTheSpecsRetriesAlone(t *testing.T) {
	for _, rt := range []*gwv1.HTTPRouteRetry{{}, {Attempts: ptr(0)}, {Codes: []gwv1.HTTPRouteRetryStatusCode{503}}, {Backoff: ptr(gwv1.Duration("100ms"))}} {
		in := meshInput()
		in.HTTPRoutes[0].Spec.Rules[0].Retry = rt
		in.HTTPRoutes[0].Spec.Rules[1].BackendRefs[0].Weight = ptr(int32(0))
		res := Translate(in)
		spec := res.Spec
		before := cloneSpec(spec)
		Merge(meshPolicy(t, meshFile), spec)
		Merge(base(t), spec)
		if !reflect.DeepEqual(before, spec) {
			for i := range spec.Services {
				if !reflect.DeepEqual(before.Services[i], spec.Services[i]) {
					t.Errorf("retry %+v: Merge changed service %s: %+v -> %+v", rt, spec.Services[i].Name, before.Services[i].Routes, spec.Services[i].Routes)
				}
			}
		}
	}
}

// TestMeshGRPCParentSectionNameLeavesOtherPortsAlone: a GRPCRoute attached to one port of a
// Service by sectionName does not rename the policy service of the Service's other port.
func TestMeshGRPCParentSectionNameLeavesOtherPortsAlone(t *testing.T) {
	in := oneGateway("shop", "edge", nil)
	s := svc("shop", "api", 8080)
	s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 8080}, {Name: "grpc", Port: 9090}}
	in.Services = []*corev1.Service{s}
	h := simpleRoute("shop", "web", []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"web.shop"}, nil, "api")
	h.Spec.Rules[0].BackendRefs[0].Port = ptr(int32(8080))
	pr := serviceParent("api", 0)
	pr.Port, pr.SectionName = nil, ptr(gwv1.SectionName("grpc"))
	g := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-grpc"}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{pr}},
		Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: ref("api", 9090, 1)}}}}}}
	in.HTTPRoutes, in.GRPCRoutes = []*gwv1.HTTPRoute{h}, []*gwv1.GRPCRoute{g}
	var names []string
	for _, s := range Translate(in).Spec.Services {
		names = append(names, s.Name)
	}
	if !slices.Contains(names, "shop-api-8080") {
		t.Errorf("services %v: the HTTPRoute's service of port 8080 is renamed though no GRPCRoute uses that port", names)
	}
}

// TestPolicyAncestorsOfARouteOfAGatewayAndAService: a policy on a route attached to a Gateway
// and to a Service names both as ancestors.
func TestPolicyAncestorsOfARouteOfAGatewayAndAService(t *testing.T) {
	in := meshInput()
	gw := oneGateway("shop", "edge", nil)
	in.GatewayClasses, in.Gateways = gw.GatewayClasses, gw.Gateways
	in.HTTPRoutes[0].Spec.ParentRefs = append(in.HTTPRoutes[0].Spec.ParentRefs, gwv1.ParentReference{Name: "edge"})
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[0].Weight, in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[1].Weight = ptr(int32(100)), ptr(int32(0))
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-rollout"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "api-split"}},
		Stable:     "api", Canary: "api-v2", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	res := Translate(in)
	var kinds []string
	for _, a := range res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "api-rollout"}] {
		kinds = append(kinds, string(*a.AncestorRef.Kind)+"/"+string(a.AncestorRef.Name))
	}
	if !slices.Contains(kinds, "Service/api") || !slices.Contains(kinds, "Gateway/edge") {
		t.Errorf("ancestors %v: want the Gateway and the Service", kinds)
	}
}

// TestMeshRouteToAnotherFileServiceWithTLS: a mesh route of Service web that sends to Service
// api, whose policy-file service has TLS, sends that share to the file's service, with its
// TLS, whether or not the file has web; where the file's api speaks another protocol (so the
// share cannot go to it), the routes are not served, nor the canaries over them, rather than
// reach api's endpoints without TLS.
func TestMeshRouteToAnotherFileServiceWithTLS(t *testing.T) {
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0),
		Services: []*corev1.Service{svc("shop", "web", 80), svc("shop", "api", 8080), svc("shop", "web-v2", 80)},
		HTTPRoutes: []*gwv1.HTTPRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-to-api"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("web", 80)}},
			Rules: []gwv1.HTTPRouteRule{
				{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 50)}, {BackendRef: ref("api", 8080, 50)}}},
				{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr("/v2")}}},
					BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("api", 8080, 100)}, {BackendRef: ref("web-v2", 80, 0)}}},
			}}}}}
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-rollout"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "web-to-api"}},
		Stable:     "api", Canary: "web-v2", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	res := Translate(in)
	if c, _ := accepted(t, res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "web-rollout"}]); c.Status != metav1.ConditionTrue {
		t.Fatalf("canary Accepted = %+v", c)
	}
	for _, tc := range []struct {
		name, api string
		withWeb   bool
		served    bool
	}{
		{"file web and api", "{name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}", true, true},
		{"file api only", "{name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}", false, true},
		{"file api of another protocol", "{name: api, port: 8080, protocol: http2, discovery: kubernetes, tls: {sni: api.shop}}", false, false},
	} {
		file := "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: mesh, namespace: shop}\nspec:\n  services:\n  - {name: client, port: 9000, endpoints: [{address: 10.0.0.1}]}\n  - " + tc.api + "\n"
		if tc.withWeb {
			file += "  - {name: web, port: 80, discovery: kubernetes}\n"
		}
		file += "  nodeGroups:\n  - {name: client, services: [client]}\n"
		p, groups := servedWith(t, meshPolicy(t, file), res.Spec)
		var sent []string
		for _, s := range p.Spec.Services {
			for _, r := range s.Routes {
				sent = append(sent, r.Services()...)
			}
		}
		switch {
		case tc.served && (!slices.Contains(sent, "api") || slices.Contains(sent, "shop-api-8080")):
			t.Errorf("%s: the mesh routes send to %v, want api's share to the file's api", tc.name, sent)
		case !tc.served && len(sent) > 0:
			t.Errorf("%s: routes that reach api's endpoints without its TLS are served: %v", tc.name, sent)
		case !tc.served && len(p.Spec.Canaries) > 0:
			t.Errorf("%s: the canary over routes not served is kept: %+v", tc.name, p.Spec.Canaries)
		}
		for _, c := range groups["client"].Clusters {
			if c.GetName() == "api.shop" && c.GetTransportSocket() == nil {
				t.Errorf("%s: cluster api.shop lost its TLS", tc.name)
			}
		}
	}
}

// meshFileHead starts a policy file of namespace shop, at its services.
const meshFileHead = "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: mesh, namespace: shop}\nspec:\n  services:\n"

// bypassesFileTLS names every route backend that reaches the endpoints of a Kubernetes Service
// port whose file service has TLS, through a service without it.
func bypassesFileTLS(file, p *policy.Policy) []string {
	var out []string
	for _, s := range p.Spec.Services {
		for _, r := range s.Routes {
			for _, b := range r.Backends {
				d := p.Service(b.Service)
				if d == nil || d.TLS != nil {
					continue
				}
				for _, f := range file.Spec.Services {
					k := f.KubernetesService
					if k == "" {
						k = f.Name
					}
					if f.TLS != nil && f.Discovery == policy.DiscoveryKubernetes && f.Namespace == d.Namespace && k == d.KubernetesService && f.Port == d.Port {
						out = append(out, r.Name+" -> "+b.Service)
					}
				}
			}
		}
	}
	return out
}

// TestMeshCanaryFromWeightZeroKeepsTheFilesTLS: a canary over a mesh route whose canary
// backend starts at weight 0 (so no route names it yet), the canary Service's file service
// having TLS: stepping the canary (by weight or headers) never sends the mesh's clients to
// that Service's endpoints without TLS.
func TestMeshCanaryFromWeightZeroKeepsTheFilesTLS(t *testing.T) {
	in := meshInput()
	in.HTTPRoutes[0].Spec.Rules = in.HTTPRoutes[0].Spec.Rules[:1]
	in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[0].Weight, in.HTTPRoutes[0].Spec.Rules[0].BackendRefs[1].Weight = ptr(int32(100)), ptr(int32(0))
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-rollout"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "api-split"}},
		Headers:    []gwv1.HTTPHeaderMatch{{Name: "x-canary", Value: "1"}},
		Stable:     "api", Canary: "api-v2", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	file := meshPolicy(t, meshFileHead+"  - {name: web, port: 80, discovery: kubernetes}\n  - {name: api, port: 8080, discovery: kubernetes}\n"+
		"  - {name: api-v2, port: 8080, discovery: kubernetes, tls: {sni: api-v2.shop}}\n  nodeGroups:\n  - {name: web, services: [web], upstreams: [api]}\n")
	p, _ := servedWith(t, file, Translate(in).Spec)
	c := &p.Spec.Canaries[0]
	t.Logf("canary stable %s canary %s", c.Stable, c.Canary)
	w, err := p.WithCanaryWeight(c, 20)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.WithAllCanaryHeaderRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]*policy.Policy{"weight 20": w, "header routes": h} {
		if _, err := translate.Translate(q); err != nil {
			t.Fatal(err)
		}
		if b := bypassesFileTLS(file, q); len(b) > 0 {
			t.Errorf("%s: mesh routes reach api-v2's endpoints without the file's TLS: %v", name, b)
		}
	}
}

// TestMeshRouteToAFileTLSServiceBesideAProxylessGroup: a mesh route of Service web sends to
// Service api, whose file service has TLS, and a proxyless gRPC group gets web's routes (by
// its upstreams, or by default): its clients cannot originate TLS, so the routes are not
// served, and the merged policy stays valid with no TLS upstream for them.
func TestMeshRouteToAFileTLSServiceBesideAProxylessGroup(t *testing.T) {
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0),
		Services: []*corev1.Service{svc("shop", "web", 80), svc("shop", "api", 8080)},
		HTTPRoutes: []*gwv1.HTTPRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-to-api"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("web", 80)}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 50)}, {BackendRef: ref("api", 8080, 50)}}}}}}}}
	for _, groups := range []string{
		"  - {name: clients, kind: grpc, selector: {app: client}, upstreams: [web]}\n",
		"  - {name: clients, kind: grpc, selector: {app: client}}\n",
	} {
		file := meshPolicy(t, meshFileHead+"  - {name: web, port: 80, discovery: kubernetes}\n  - {name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}\n  nodeGroups:\n"+groups)
		p := Merge(file, Translate(in).Spec)
		if err := p.Validate(); err != nil {
			t.Errorf("%s: the merged policy is invalid (the whole Gateway API configuration is refused): %v", strings.TrimSpace(groups), err)
			continue
		}
		out, err := translate.Translate(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range out["clients"].Clusters {
			if c.GetTransportSocket() != nil {
				t.Errorf("%s: proxyless clients get cluster %s with TLS", strings.TrimSpace(groups), c.GetName())
			}
		}
	}
}

// TestMeshRouteWithTwoFileServicesOfOnePort: where two file services stand for Service api
// port 8080, the mesh routes go to the one named after the Service, which answers the names
// the mesh's clients address, whatever its protocol; else to the one of the route's protocol;
// in either order of the file.
func TestMeshRouteWithTwoFileServicesOfOnePort(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"{name: api-grpc, kubernetesService: api, port: 8080, protocol: grpc, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes}", "api"},
		{"{name: api-http, kubernetesService: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, protocol: grpc, discovery: kubernetes}", "api"},
		{"{name: api-a, kubernetesService: api, port: 8080, protocol: grpc, discovery: kubernetes}", "{name: api-b, kubernetesService: api, port: 8080, discovery: kubernetes}", "api-b"},
	} {
		for _, order := range [][2]string{{tc.a, tc.b}, {tc.b, tc.a}} {
			file := meshPolicy(t, meshFileHead+"  - {name: web, port: 80, discovery: kubernetes}\n  - "+order[0]+"\n  - "+order[1]+"\n  nodeGroups:\n  - {name: web, services: [web]}\n")
			p, groups := servedWith(t, file, Translate(meshInput()).Spec)
			if len(p.Service(tc.want).Routes) != 2 {
				t.Errorf("%s first: %s has routes %+v, want the 2 mesh routes", order[0], tc.want, p.Service(tc.want).Routes)
			}
			if _, routes, _ := outboundVirtualHost(t, groups["web"], "web", "api.shop.svc.cluster.local:8080"); len(routes) != 2 {
				t.Errorf("%s first: web's virtual host for api.shop.svc.cluster.local:8080 has routes %v, want the 2 mesh routes", order[0], routes)
			}
		}
	}
}

// TestMergeDoesNotDependOnTheSpecsOrder: Merge gives the same services and canaries whatever
// the order of spec's services.
func TestMergeDoesNotDependOnTheSpecsOrder(t *testing.T) {
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0),
		Services: []*corev1.Service{svc("shop", "web", 80), svc("shop", "api", 8080), svc("shop", "api-v2", 8080)},
		HTTPRoutes: []*gwv1.HTTPRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "two"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("web", 80), serviceParent("api", 8080)}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("api", 8080, 90)}, {BackendRef: ref("api-v2", 8080, 10)}}}}}}}}
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "r"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "two"}},
		Stable:     "api", Canary: "api-v2", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	for _, f := range []string{
		"  - {name: web, port: 80, discovery: kubernetes}\n  - {name: api, port: 8080, discovery: kubernetes}\n  - {name: api-v2, port: 8080, discovery: kubernetes}\n",
		"  - {name: web, port: 80, discovery: kubernetes}\n  - {name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}\n",
		"  - {name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}\n",
		"  - {name: web, port: 80, discovery: kubernetes}\n  - {name: api-v2, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}\n",
	} {
		file := meshPolicy(t, meshFileHead+f+"  - {name: c, port: 1, endpoints: [{address: 10.0.0.1}]}\n  nodeGroups:\n  - {name: c, services: [c]}\n")
		spec := Translate(in).Spec
		a := Merge(file, spec)
		rev := cloneSpec(spec)
		slices.Reverse(rev.Services)
		b := Merge(file, rev)
		for _, s := range a.Spec.Services {
			o := b.Service(s.Name)
			if len(o.Routes) != len(s.Routes) || !slices.Equal(o.Hosts, s.Hosts) {
				t.Errorf("%q: service %s differs by spec order: %d routes %v / %d routes %v", f, s.Name, len(s.Routes), s.Hosts, len(o.Routes), o.Hosts)
			}
		}
		if len(a.Spec.Canaries) != len(b.Spec.Canaries) {
			t.Errorf("%q: canaries differ by spec order", f)
		}
	}
}

// TestMeshRouteWithAWeightZeroRefToATLSService: a mesh route whose ref of weight 0 (which a
// canary may step up) names a Service with a BackendTLSPolicy is refused like one with
// weight, and no canary steps proxyless clients onto it.
func TestMeshRouteWithAWeightZeroRefToATLSService(t *testing.T) {
	in := greeterToTLSWeb(0)
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "r"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindGRPCRoute, Name: "greeter"}},
		Stable:     "greeter", Canary: "web", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	file := meshFileHead + "  - {name: c, port: 1, endpoints: [{address: 10.0.0.1}]}\n  nodeGroups:\n  - {name: c, services: [c]}\n  - {name: clients, kind: grpc, selector: {app: client}}\n"
	res := Translate(in)
	if c := conditions.Require(t, routeStatus(t, res.GRPCRoutes, "shop", "greeter"), "Accepted"); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "Service shop/web port 50051 has a BackendTLSPolicy") {
		t.Errorf("Accepted = %+v", c)
	}
	p, _ := servedWith(t, meshPolicy(t, file), res.Spec)
	if len(p.Spec.Canaries) == 0 {
		return
	}
	w, err := p.WithCanaryWeight(&p.Spec.Canaries[0], 20)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := translate.Translate(w)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range gs["clients"].Clusters {
		if c.GetTransportSocket() != nil {
			t.Errorf("at weight 20 proxyless clients get cluster %s with TLS", c.GetName())
		}
	}
}

// TestMeshCanaryOfTwoServicesFromWeightZeroKeepsTheFilesTLS: a canary over one HTTPRoute
// with two Service parents (so it drives routes of two mesh services, and its services keep
// the translation's names), its canary backend at weight 0 and that Service's file service
// with TLS: the routes and the canary are not served, so no step sends the mesh's clients to
// api-v2's endpoints without that TLS.
func TestMeshCanaryOfTwoServicesFromWeightZeroKeepsTheFilesTLS(t *testing.T) {
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0),
		Services: []*corev1.Service{svc("shop", "web", 80), svc("shop", "api", 8080), svc("shop", "api-v2", 8080)},
		HTTPRoutes: []*gwv1.HTTPRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "two"}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{serviceParent("web", 80), serviceParent("api", 8080)}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("api", 8080, 100)}, {BackendRef: ref("api-v2", 8080, 0)}}}}}}}}
	in.CanaryPolicies = []*CanaryPolicy{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "r"}, Spec: CanaryPolicySpec{
		TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: "two"}},
		Headers:    []gwv1.HTTPHeaderMatch{{Name: "x-canary", Value: "1"}},
		Stable:     "api", Canary: "api-v2", Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}}}
	file := meshPolicy(t, meshFileHead+"  - {name: web, port: 80, discovery: kubernetes}\n  - {name: api, port: 8080, discovery: kubernetes}\n"+
		"  - {name: api-v2, port: 8080, discovery: kubernetes, tls: {sni: api-v2.shop}}\n  nodeGroups:\n  - {name: web, services: [web]}\n")
	p, _ := servedWith(t, file, Translate(in).Spec)
	if len(p.Spec.Canaries) != 0 {
		t.Errorf("the canary is served: %+v", p.Spec.Canaries)
	}
	for _, svc := range p.Spec.Services {
		for _, r := range svc.Routes {
			if strings.HasPrefix(r.Name, "mesh.") {
				t.Errorf("service %s serves mesh route %s", svc.Name, r.Name)
			}
		}
	}
}
