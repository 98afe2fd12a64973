package gatewayapi

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// twoGateways is a spec as the translation writes it for Gateways shop/a and shop/b: both
// route to service "shared"; a's routes also to "a-only" and b's to "b-only"; canary "a-c"
// is on a's route, "ab-c" on a route of each; "stray" is a service nothing names.
func twoGateways() policy.Spec {
	route := func(name string, services ...string) policy.Route {
		r := policy.Route{Name: name}
		for _, s := range services {
			r.Backends = append(r.Backends, policy.Backend{Service: s, Weight: 50})
		}
		return r
	}
	group := func(name string, vhosts ...string) []policy.NodeGroup {
		return []policy.NodeGroup{
			{Name: name + ".grpc", Kind: policy.NodeGRPC, VirtualHosts: vhosts[:1], Upstreams: []string{"grpc-up-" + name}},
			{Name: name, Kind: policy.NodeGateway, Listeners: []policy.GatewayListener{{Port: 80, VirtualHosts: vhosts}}},
		}
	}
	return policy.Spec{
		Services: []policy.Service{{Name: "shared", Port: 80}, {Name: "a-only", Port: 80}, {Name: "b-only", Port: 80},
			{Name: "stray", Port: 80}, {Name: "grpc-up-gw.shop.a", Port: 80}, {Name: "grpc-up-gw.shop.b", Port: 80}},
		VirtualHosts: []policy.VirtualHost{
			{Name: "gw.shop.a/a.shop", Domains: []string{"a.shop"}, Routes: []policy.Route{route("ra1", "shared", "a-only")}},
			{Name: "gw.shop.a/x.shop", Domains: []string{"x.shop"}, Routes: []policy.Route{route("ra2", "shared")}},
			{Name: "gw.shop.b/b.shop", Domains: []string{"b.shop"}, Routes: []policy.Route{route("rb1", "shared", "b-only")}},
		},
		NodeGroups: append(group("gw.shop.a", "gw.shop.a/a.shop", "gw.shop.a/x.shop"), group("gw.shop.b", "gw.shop.b/b.shop")...),
		Canaries: []policy.Canary{{Name: "a-c", Route: "ra1", Stable: "shared", Canary: "a-only"},
			{Name: "ab-c", Route: "ra2", Routes: []string{"rb1"}, Stable: "shared", Canary: "b-only"}},
	}
}

func specNames(s policy.Spec) [4][]string {
	var out [4][]string
	for _, x := range s.Services {
		out[0] = append(out[0], x.Name)
	}
	for _, x := range s.VirtualHosts {
		out[1] = append(out[1], x.Name)
	}
	for _, x := range s.NodeGroups {
		out[2] = append(out[2], x.Name)
	}
	for _, x := range s.Canaries {
		out[3] = append(out[3], x.Name)
	}
	return out
}

// TestSpecOfGateway: a Gateway's part is exactly its node groups, the virtual hosts they
// serve, the services those routes, the gRPC group's upstreams and its canaries name, and
// the canaries all of whose routes are its own; it shares nothing with the spec.
func TestSpecOfGateway(t *testing.T) {
	spec := twoGateways()
	a := SpecOfGateway(spec, "shop", "a")
	want := [4][]string{{"shared", "a-only", "grpc-up-gw.shop.a"}, {"gw.shop.a/a.shop", "gw.shop.a/x.shop"}, {"gw.shop.a.grpc", "gw.shop.a"}, {"a-c"}}
	if got := specNames(a); !reflect.DeepEqual(got, want) {
		t.Errorf("part of a = %v, want %v", got, want)
	}
	b := SpecOfGateway(spec, "shop", "b")
	want = [4][]string{{"shared", "b-only", "grpc-up-gw.shop.b"}, {"gw.shop.b/b.shop"}, {"gw.shop.b.grpc", "gw.shop.b"}, nil}
	if got := specNames(b); !reflect.DeepEqual(got, want) {
		t.Errorf("part of b = %v, want %v (a canary over both Gateways is neither's)", got, want)
	}
	if got := specNames(SpecOfGateway(spec, "shop", "gone")); !reflect.DeepEqual(got, [4][]string{}) {
		t.Errorf("part of a Gateway that serves nothing = %v", got)
	}
	a.VirtualHosts[0].Routes[0].Backends[0].Service = "changed"
	a.NodeGroups[1].Listeners[0].VirtualHosts[0] = "changed"
	if !reflect.DeepEqual(spec, twoGateways()) {
		t.Error("the part shares memory with the spec")
	}
}

// TestSpecOfGatewayOfATranslation: the parts of each Gateway of a real translation hold
// every node group and virtual host of it, each once.
func TestSpecOfGatewayOfATranslation(t *testing.T) {
	in := oneGateway("shop", "a", nil, "web")
	b := *in.Gateways[0]
	b.Name = "b"
	in.Gateways = append(in.Gateways, &b)
	in.HTTPRoutes = []*gwv1.HTTPRoute{
		simpleRoute("shop", "ra", []gwv1.ParentReference{{Name: "a"}}, []gwv1.Hostname{"a.shop", "x.shop"}, nil, "web"),
		simpleRoute("shop", "rb", []gwv1.ParentReference{{Name: "b"}}, []gwv1.Hostname{"b.shop"}, nil, "web"),
	}
	res := Translate(in)
	var parts policy.Spec
	for _, g := range []string{"a", "b"} {
		var err error
		if parts, err = Splice(parts, SpecOfGateway(res.Spec, "shop", g)); err != nil {
			t.Fatal(err)
		}
	}
	got, all := specNames(parts), specNames(res.Spec)
	for i := range 3 {
		slices.Sort(got[i])
		slices.Sort(all[i])
	}
	if !reflect.DeepEqual(got, all) {
		t.Errorf("the Gateways' parts hold %v, the translation %v", got, all)
	}
	if a := specNames(SpecOfGateway(res.Spec, "shop", "a")); !reflect.DeepEqual(a[1], []string{"gw.shop.a/a.shop", "gw.shop.a/x.shop"}) {
		t.Errorf("virtual hosts of a: %v", a[1])
	}
}

// TestSpecOfGatewayLeavesOutMeshRoutes: a Gateway's part holds the services its routes send
// to without the routes of their Service's mesh clients, which are no Gateway's (and may send
// to services the part does not hold).
func TestSpecOfGatewayLeavesOutMeshRoutes(t *testing.T) {
	in := oneGateway("shop", "a", nil, "web", "web-next")
	in.HTTPRoutes = []*gwv1.HTTPRoute{
		simpleRoute("shop", "ra", []gwv1.ParentReference{{Name: "a"}}, []gwv1.Hostname{"a.shop"}, nil, "web"),
		simpleRoute("shop", "mesh", []gwv1.ParentReference{serviceParent("web", 8080)}, nil, nil, "web-next"),
	}
	res := Translate(in)
	full := slices.IndexFunc(res.Spec.Services, func(s policy.Service) bool { return s.Name == "shop-web-8080" })
	if full < 0 || len(res.Spec.Services[full].Routes) != 1 {
		t.Fatalf("translation services = %+v", res.Spec.Services)
	}
	part := SpecOfGateway(res.Spec, "shop", "a")
	if len(part.Services) != 1 || part.Services[0].Name != "shop-web-8080" || part.Services[0].Routes != nil || part.Services[0].Hosts != nil || part.Services[0].RoutesForClients {
		t.Errorf("part services = %+v", part.Services)
	}
	if len(res.Spec.Services[full].Routes) != 1 {
		t.Error("SpecOfGateway changed the translation")
	}
}

// TestSplice: the part is added, de-duplicated by name with the spec's entries kept (a
// service both define keeps the spec's version); neither argument changes; the result
// shares nothing with the part.
func TestSplice(t *testing.T) {
	full := twoGateways()
	a := SpecOfGateway(full, "shop", "a")
	reduced := SpecOfGateway(full, "shop", "b")
	reduced.Services[0].Protocol = policy.ProtocolHTTP2 // "shared" as the current translation has it
	before := SpecOfGateway(full, "shop", "b")
	before.Services[0].Protocol = policy.ProtocolHTTP2
	out, err := Splice(reduced, a)
	if err != nil {
		t.Fatal(err)
	}
	want := [4][]string{{"shared", "b-only", "grpc-up-gw.shop.b", "a-only", "grpc-up-gw.shop.a"},
		{"gw.shop.b/b.shop", "gw.shop.a/a.shop", "gw.shop.a/x.shop"},
		{"gw.shop.b.grpc", "gw.shop.b", "gw.shop.a.grpc", "gw.shop.a"}, {"a-c"}}
	if got := specNames(out); !reflect.DeepEqual(got, want) {
		t.Errorf("splice = %v, want %v", got, want)
	}
	if out.Services[0].Protocol != policy.ProtocolHTTP2 {
		t.Errorf("service defined by both: %+v, want the reduced spec's", out.Services[0])
	}
	if !reflect.DeepEqual(reduced, before) || !reflect.DeepEqual(a, SpecOfGateway(full, "shop", "a")) {
		t.Error("an argument changed")
	}
	out.VirtualHosts[1].Routes[0].Name = "changed"
	if a.VirtualHosts[0].Routes[0].Name != "ra1" {
		t.Error("the splice shares memory with the part")
	}
	if got, err := Splice(reduced, policy.Spec{}); err != nil || !reflect.DeepEqual(got, reduced) {
		t.Errorf("splicing nothing: %+v, %v", got, err)
	}
	// A name that now stands for another Service port: the part would reach its endpoints.
	moved := SpecOfGateway(full, "shop", "b")
	moved.Services[0].Namespace, moved.Services[0].KubernetesService = "shop-api", "v1"
	if got, err := Splice(moved, a); err == nil || !strings.Contains(err.Error(), "service shared stood for Service") || !reflect.DeepEqual(got, moved) {
		t.Errorf("splicing over a service name that moved: %v, %v", specNames(got), err)
	}
}

// TestExperimentsOn: an experiment belongs to a part when every target is one of its
// routes; a service target (shared with other Gateways) or a route elsewhere leaves it out.
// SpliceExperiments keeps the names already there.
func TestExperimentsOn(t *testing.T) {
	exp := func(name string, targets ...policy.FaultTarget) *experiment.Experiment {
		e := &experiment.Experiment{Metadata: policy.Metadata{Name: name}}
		e.Spec.Target, e.MoreTargets = targets[0], targets[1:]
		return e
	}
	r := func(n string) policy.FaultTarget { return policy.FaultTarget{Route: n} }
	exps := []*experiment.Experiment{exp("on-a", r("ra1"), r("ra2")), exp("on-a-and-b", r("ra1"), r("rb1")),
		exp("on-service", policy.FaultTarget{Service: "a-only"}), exp("on-b", r("rb1"))}
	got := ExperimentsOn(exps, SpecOfGateway(twoGateways(), "shop", "a"))
	if len(got) != 1 || got[0].Name() != "on-a" {
		t.Errorf("experiments on a: %v", got)
	}
	other := exp("on-a", r("rb1"))
	spliced := SpliceExperiments([]*experiment.Experiment{other, exps[3]}, got)
	if len(spliced) != 2 || spliced[0] != other {
		t.Errorf("spliced experiments: %v", spliced)
	}
	if spliced = SpliceExperiments(exps[3:], got); len(spliced) != 2 || spliced[1] != got[0] {
		t.Errorf("spliced experiments: %v", spliced)
	}
}
