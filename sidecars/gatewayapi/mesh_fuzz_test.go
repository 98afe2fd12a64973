package gatewayapi

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strconv"
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

// meshCase is a random input of mesh routes with a policy file, and how to read it (desc).
type meshCase struct {
	in   *Input
	file string
	desc []string
}

// randomMeshCase draws a meshCase: five Services (one named like another's generated policy
// service), some with a second port; one to three HTTPRoutes or GRPCRoutes on one or two
// Service parents (a port, the last port or every port), some with a CanaryPolicy; a
// Gateway's route sometimes; file services for some ports, with or without TLS, HTTP/2 or
// routes of their own; a proxyless gRPC group with or without upstreams, or none.
func randomMeshCase(r *rand.Rand) (*meshCase, error) {
	ns := "shop"
	names := []string{"a", "b", "shop-b-80", "x", "y"}
	var services []*corev1.Service
	ports := map[string][]int32{}
	for _, n := range names {
		ps := []int32{80}
		if r.Intn(3) == 0 {
			ps = append(ps, 9090)
		}
		ports[n] = ps
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}}
		for _, p := range ps {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "p" + strconv.Itoa(int(p)), Port: p})
		}
		services = append(services, s)
	}
	desc := []string{}
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0), Services: services}
	pick := func() string { return names[r.Intn(len(names))] }
	nroutes := 1 + r.Intn(3)
	for i := 0; i < nroutes; i++ {
		name := fmt.Sprintf("r%d", i)
		var prs []gwv1.ParentReference
		for j := 0; j < 1+r.Intn(2); j++ {
			p := pick()
			pr := serviceParent(p, 80)
			switch r.Intn(3) {
			case 0:
				pr.Port = nil // every port
			case 1:
				pr.Port = ptr(ports[p][len(ports[p])-1])
			}
			prs = append(prs, pr)
		}
		stable, canary := pick(), pick()
		b1 := ref(stable, 80, 100)
		b2 := ref(canary, 80, int32(r.Intn(2)))
		meta := metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(time.Unix(int64(100+r.Intn(5)), 0))}
		grpc := r.Intn(4) == 0
		if grpc {
			in.GRPCRoutes = append(in.GRPCRoutes, &gwv1.GRPCRoute{ObjectMeta: meta, Spec: gwv1.GRPCRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: prs},
				Rules: []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: b1}, {BackendRef: b2}}}}}})
		} else {
			in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: meta, Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: prs},
				Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: b1}, {BackendRef: b2}}}}}})
		}
		var pd []string
		for _, pr := range prs {
			pd = append(pd, fmt.Sprintf("%s:%v", pr.Name, func() any {
				if pr.Port == nil {
					return "*"
				}
				return *pr.Port
			}()))
		}
		desc = append(desc, fmt.Sprintf("route %s grpc=%v parents %v -> %s(100) %s(%d) t=%d", name, grpc, pd, stable, canary, *b2.Weight, meta.CreationTimestamp.Unix()))
		if !grpc && r.Intn(2) == 0 && stable != canary {
			in.CanaryPolicies = append(in.CanaryPolicies, &CanaryPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-rollout"}, Spec: CanaryPolicySpec{
				TargetRefs: []gwv1.LocalPolicyTargetReference{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Name: gwv1.ObjectName(name)}},
				Stable:     stable, Canary: canary, Steps: []CanaryPolicyStep{{Weight: 20, Pause: metav1.Duration{Duration: time.Minute}}}}})
			desc = append(desc, "  canary over "+name)
		}
	}
	// A Gateway sometimes, whose route sends to a Service.
	if r.Intn(2) == 0 {
		b := pick()
		in.GatewayClasses = []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "foresight", Generation: 1}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}}
		in.Gateways = []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge", Generation: 1}, Spec: gwv1.GatewaySpec{
			GatewayClassName: "foresight", Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}}}}
		in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gw-route", Generation: 1, CreationTimestamp: metav1.NewTime(time.Unix(10, 0))}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}}, Hostnames: []gwv1.Hostname{"gw.shop"},
			Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref(b, 80, 1)}}}}}})
		desc = append(desc, "gateway route -> "+b+":80")
	}
	// The file.
	var fs []string
	fileNames := []string{"client"}
	var plain []string // file services without TLS, which a proxyless group may name
	for _, n := range names {
		for _, p := range ports[n] {
			if r.Intn(2) == 0 {
				continue
			}
			fn := n
			if p != 80 {
				fn = n + "-" + strconv.Itoa(int(p))
			}
			if strings.HasPrefix(fn, "shop-") { // no file service named as spec's
				fn = "f" + fn
			}
			s := fmt.Sprintf("{name: %s, port: %d, discovery: kubernetes", fn, p)
			if fn != n {
				s += ", kubernetesService: " + n
			}
			if r.Intn(2) == 0 {
				s += ", tls: {sni: " + n + ".shop}"
			} else {
				plain = append(plain, fn)
			}
			if r.Intn(4) == 0 {
				s += ", protocol: http2"
			}
			if r.Intn(4) == 0 {
				s += ", routes: [{name: own-" + fn + "}]"
			}
			s += "}"
			fs = append(fs, s)
			fileNames = append(fileNames, fn)
		}
	}
	file := "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: m, namespace: shop}\nspec:\n  services:\n  - {name: client, port: 80, endpoints: [{address: 10.0.0.1}]}\n"
	for _, s := range fs {
		file += "  - " + s + "\n"
	}
	file += "  nodeGroups:\n  - {name: client, services: [client], upstreams: [" + strings.Join(fileNames[1:], ", ") + "]}\n"
	switch r.Intn(3) {
	case 0:
		file += "  - {name: clients, kind: grpc, selector: {app: client}}\n"
	case 1:
		if len(plain) > 0 {
			file += "  - {name: clients, kind: grpc, selector: {app: client}, upstreams: [" + plain[r.Intn(len(plain))] + "]}\n"
		}
	}
	p, err := policy.Parse([]byte(file), "file.yaml")
	if err != nil {
		return nil, err
	}
	in.File = p
	return &meshCase{in: in, file: file, desc: desc}, nil
}

// FuzzMeshRefusals draws random mesh inputs (randomMeshCase) with a policy file and checks
// what Translate says against what the merge serves: the merge refuses nothing of the
// translation; a route accepted on a Service parent is translated there, and a route refused
// on all of them is not; a refused port could not be served without its refusal alone
// (while the refusals that other ports cause are few enough to be made one at a time); the
// merged policy is valid.
func FuzzMeshRefusals(f *testing.F) {
	for seed := range int64(200) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed int64) {
		c, err := randomMeshCase(rand.New(rand.NewSource(seed)))
		if err != nil {
			t.Fatalf("the drawn policy file is invalid: %v", err)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s\n%s\n%s", fmt.Sprintf(format, args...), strings.Join(c.desc, "\n"), c.file)
		}
		tr, refused := translateMesh(c.in)
		res := tr.res
		if _, _, m := mergedMesh(c.in.File, res.Spec); len(m.refused) > 0 {
			fail("the merge refuses what is translated: %v", m.refused)
		}
		translated := map[string]bool{} // route names with translated mesh routes
		for _, s := range res.Spec.Services {
			for _, rt := range s.Routes {
				if s.RoutesForClients {
					translated[strings.SplitN(rt.Name, "/", 4)[2]] = true
				}
			}
		}
		for _, kind := range []map[types.NamespacedName][]gwv1.RouteParentStatus{res.HTTPRoutes, res.GRPCRoutes} {
			for nn, ps := range kind {
				if nn.Name == "gw-route" {
					continue
				}
				accepted := slices.ContainsFunc(ps, func(p gwv1.RouteParentStatus) bool {
					return conditions.Require(t, p.Conditions, "Accepted").Status == metav1.ConditionTrue
				})
				if accepted != translated[nn.Name] {
					fail("route %s: accepted %v, translated %v: %+v", nn.Name, accepted, translated[nn.Name], ps)
				}
			}
		}
		caused := 0 // refusals that other ports' routes cause
		for _, r := range refused {
			if r.cause != "" {
				caused++
			}
		}
		if caused <= maxMeshRetranslations/2 {
			for sp := range refused {
				less := maps.Clone(refused)
				delete(less, sp)
				if len(translateOnce(c.in, less).meshRefusals()) == 0 {
					fail("port %v refused (%s), and served without that refusal", sp, refused[sp].msg)
				}
			}
		}
		if err := Merge(c.in.File, res.Spec).Validate(); err != nil {
			fail("the merge is invalid: %v", err)
		}
	})
}
