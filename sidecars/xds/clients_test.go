package xds

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// groupsPolicy is a policy with one service and the gateway node groups given as YAML flow
// mappings, in order.
func groupsPolicy(t *testing.T, groups ...string) *policy.Policy {
	t.Helper()
	doc := "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p, namespace: test}\nspec:\n" +
		"  services:\n    - {name: web, port: 8080, endpoints: [{address: 10.0.0.1}]}\n" +
		"  virtualHosts:\n    - {name: public, domains: [\"*\"], routes: [{name: all, backends: [{service: web}]}]}\n  nodeGroups:\n"
	for _, g := range groups {
		doc += "    - " + g + "\n"
	}
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// reconciled is a Server bound to a Reconciler serving p, under ctx.
func reconciled(t *testing.T, ctx context.Context, p *policy.Policy) (*Reconciler, *Server) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(&xdstest.LogBuffer{}, nil))
	rec := NewReconciler(log)
	srv, err := New(ctx, Options{NodeGroup: rec.NodeGroup, Registerer: prometheus.NewRegistry(), VersionPrefix: "t", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rec.Bind(srv)
	if err := rec.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	return rec, srv
}

// startReconciled serves p through a Reconciler on loopback until the test ends.
func startReconciled(t *testing.T, p *policy.Policy) (*Reconciler, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rec, srv := reconciled(t, ctx, p)
	return rec, serveOnLoopback(t, ctx, cancel, srv)
}

// node is a node of cluster edge with the metadata, whose values may be strings, booleans or
// numbers.
func node(id string, md map[string]any) *envoy_config_core_v3.Node {
	s, err := structpb.NewStruct(md)
	if err != nil {
		panic(err)
	}
	return &envoy_config_core_v3.Node{Id: id, Cluster: "edge", Metadata: s}
}

// listeners subscribes s to every listener, acknowledges the first response and returns the
// names of its listeners.
func listeners(t *testing.T, s *xdstest.Stream) []string {
	t.Helper()
	if err := s.Subscribe(resourcev3.ListenerType); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range r.GetResources() {
		l := &envoy_config_listener_v3.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			t.Fatal(err)
		}
		names = append(names, l.GetName())
	}
	return names
}

// openNode opens a state-of-the-world stream for n on its own connection.
func openNode(t *testing.T, addr string, n *envoy_config_core_v3.Node) *xdstest.Stream {
	t.Helper()
	conn, err := xdstest.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := xdstest.Open(ctx, conn, n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMovedNodeReconnectsToItsNewGroup: a policy change that puts a connected node in
// another group (a group inserted before its own, or its group renamed) ends its stream
// with UNAVAILABLE before anything is served, instead of serving it its old group's
// configuration, or an empty one; reconnected, it gets its new group's.
func TestMovedNodeReconnectsToItsNewGroup(t *testing.T) {
	ctx := context.Background()
	stable := "{name: stable, kind: gateway, selector: {app: web}, port: 8080}"
	rec, addr := startReconciled(t, groupsPolicy(t, stable))
	n := node("web-1", map[string]any{"app": "web", "track": "canary"})
	for _, change := range []struct {
		name  string
		p     *policy.Policy
		group string
	}{
		{"a group inserted before", groupsPolicy(t, "{name: canary, kind: gateway, selector: {track: canary}, port: 9090}", stable), "canary"},
		{"its group renamed", groupsPolicy(t, "{name: canary-renamed, kind: gateway, selector: {track: canary}, port: 9090}", stable), "canary-renamed"},
	} {
		s := openNode(t, addr, n)
		before := listeners(t, s)
		if err := rec.SetPolicy(ctx, change.p); err != nil {
			t.Fatal(err)
		}
		// The stream ends; a response of the new group's may come first (the proxy's last
		// acknowledgement, read after the change), but never an empty configuration.
		var err error
		for err == nil {
			var r *discovery.DiscoveryResponse
			if r, err = s.Recv(5 * time.Second); err == nil && len(r.GetResources()) == 0 {
				t.Errorf("%s: an empty configuration was served before the stream ended", change.name)
			}
		}
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), change.group) {
			t.Fatalf("%s: after the change the stream ended with %v; want UNAVAILABLE naming group %q", change.name, err, change.group)
		}
		if got := listeners(t, openNode(t, addr, n)); len(got) != 1 || got[0] != "gateway-9090" {
			t.Errorf("%s: reconnected, listeners %v (before %v), want the new group's gateway-9090", change.name, got, before)
		}
	}
	// A policy change that keeps the node's group leaves its stream open.
	s := openNode(t, addr, n)
	listeners(t, s)
	if err := rec.SetPolicy(ctx, groupsPolicy(t, "{name: canary-renamed, kind: gateway, selector: {track: canary}, port: 9091}", stable)); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Recv(5 * time.Second); err != nil || len(r.GetResources()) != 1 {
		t.Errorf("same group, new port: %v %v, want the new listener on the open stream", r, err)
	}
}

// TestStreamServesOneNode: a request naming another node than the stream's first is refused.
func TestStreamServesOneNode(t *testing.T) {
	_, addr := startReconciled(t, groupsPolicy(t, "{name: a, kind: gateway, selector: {app: a}}", "{name: b, kind: gateway, selector: {app: b}}"))
	s := openNode(t, addr, node("a-1", map[string]any{"app": "a"}))
	listeners(t, s)
	err := s.Send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, Node: node("b-1", map[string]any{"app": "b"})})
	if err == nil {
		_, err = s.Recv(5 * time.Second)
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "a stream serves one node") {
		t.Fatalf("another node on the stream: %v, want INVALID_ARGUMENT", err)
	}
}

// TestMetadataOtherThanStringsSelects: a node whose metadata holds a boolean or a number (as
// YAML and JSON bootstraps write them) is selected by a selector of their text.
func TestMetadataOtherThanStringsSelects(t *testing.T) {
	rec, _ := startReconciled(t, groupsPolicy(t, `{name: flagged, kind: gateway, selector: {canary: "true", replicas: "2"}}`, "{name: rest, kind: gateway, selector: {app: web}}"))
	for _, md := range []map[string]any{{"canary": "true", "replicas": "2", "app": "web"}, {"canary": true, "replicas": 2, "app": "web"}} {
		if g, ok := rec.NodeGroup(node("n", md)); !ok || g != "flagged" {
			t.Errorf("metadata %v: group %q %v, want flagged", md, g, ok)
		}
	}
	if g, _ := rec.NodeGroup(node("n", map[string]any{"canary": false, "replicas": 2.5, "app": "web"})); g != "rest" {
		t.Errorf("canary false, replicas 2.5: group %q, want rest", g)
	}
}

// TestTypesAStreamAsksFor: a stream may not ask for a type URL over maxTypeURLBytes, more
// than maxStreamTypes types, or routes or endpoints by wildcard; an empty first request for
// endpoints is no wildcard (it gets nothing), where one for listeners is.
func TestTypesAStreamAsksFor(t *testing.T) {
	_, addr := startReconciled(t, groupsPolicy(t, "{name: edge, kind: gateway, selector: {app: web}}"))
	n := node("web-1", map[string]any{"app": "web"})
	refused := func(what string, reqs ...*discovery.DiscoveryRequest) {
		t.Helper()
		s := openNode(t, addr, n)
		var err error
		for _, r := range reqs {
			if err = s.Send(r); err != nil {
				break
			}
		}
		for err == nil {
			_, err = s.Recv(5 * time.Second)
		}
		if code := status.Code(err); code != codes.InvalidArgument && code != codes.ResourceExhausted {
			t.Errorf("%s: %v, want the stream refused", what, err)
		}
	}
	refused("a long type URL", &discovery.DiscoveryRequest{TypeUrl: "type.googleapis.com/" + strings.Repeat("x", maxTypeURLBytes)})
	var many []*discovery.DiscoveryRequest
	for i := range maxStreamTypes + 1 {
		many = append(many, &discovery.DiscoveryRequest{TypeUrl: fmt.Sprintf("type.googleapis.com/example.T%d", i)})
	}
	refused("too many types", many...)
	refused("endpoints by wildcard", &discovery.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNames: []string{"*"}})

	s := openNode(t, addr, n)
	if err := s.Subscribe(resourcev3.EndpointType); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Recv(time.Second); err == nil && len(r.GetResources()) > 0 {
		t.Errorf("an empty first request for endpoints got %d resources, want none", len(r.GetResources()))
	}
	if got := listeners(t, s); len(got) != 1 {
		t.Errorf("listeners by wildcard: %v", got)
	}
}

// TestNodeInNoGroupAnyMore: a policy change that puts a connected node in no group ends its
// stream (PERMISSION_DENIED) before it is served, instead of leaving it on its old group,
// which other nodes keep; when its group disappears instead, the node is served that group's
// empty configuration, which takes its configuration away, and when the group comes back,
// its stream ends (UNAVAILABLE) for it to reconnect to it.
func TestNodeInNoGroupAnyMore(t *testing.T) {
	ctx := context.Background()
	rec, addr := startReconciled(t, groupsPolicy(t, "{name: edge, kind: gateway, selector: {app: web}}"))
	s := openNode(t, addr, node("web-1", map[string]any{"app": "web", "track": "canary"}))
	listeners(t, s)
	if err := rec.SetPolicy(ctx, groupsPolicy(t, "{name: edge, kind: gateway, selector: {app: web, track: stable}}")); err != nil {
		t.Fatal(err)
	}
	var err error
	for err == nil {
		_, err = s.Recv(5 * time.Second)
	}
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "no node group") {
		t.Fatalf("stream of a node in no group any more ended with %v, want PERMISSION_DENIED", err)
	}

	s = openNode(t, addr, node("web-2", map[string]any{"app": "web", "track": "stable"}))
	listeners(t, s)
	if err := rec.SetPolicy(ctx, groupsPolicy(t, "{name: other, kind: gateway, selector: {app: api}}")); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(5 * time.Second)
	if err != nil || len(r.GetResources()) != 0 {
		t.Fatalf("node of a group that disappeared: %v %v, want an empty configuration", r, err)
	}
	// Its acknowledgement watches the empty configuration of no group: when a policy gives it
	// its group again, its stream ends, and it reconnects to it.
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	if err := rec.SetPolicy(ctx, groupsPolicy(t, "{name: other, kind: gateway, selector: {app: api}}", "{name: edge, kind: gateway, selector: {app: web}}")); err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = s.Recv(5 * time.Second)
	}
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), `is in node group "edge" again: reconnect`) {
		t.Fatalf("stream of a node in its group again ended with %v, want UNAVAILABLE", err)
	}
	if got := listeners(t, openNode(t, addr, node("web-2", map[string]any{"app": "web", "track": "stable"}))); len(got) != 1 {
		t.Errorf("reconnected: listeners %v", got)
	}
}

// TestRegroupRefusesWhatThePolicyNoLongerAdmits: regroup ends, before a policy is served,
// the stream whose group that policy does not let its identities into, with
// PERMISSION_DENIED, and leaves the others.
func TestRegroupRefusesWhatThePolicyNoLongerAdmits(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c := newCallbacks(slog.New(slog.DiscardHandler), m, nil, func(string, []string) bool { return true }, nil, Limits{})
	open := func(id int64, identity string) *streamRevoker {
		st := newStreamState()
		st.node, st.group, st.identities = node(fmt.Sprint(id), nil), "edge", []string{identity}
		st.revoker = &streamRevoker{revoked: make(chan struct{})}
		c.sotw[id] = st
		return st.revoker
	}
	kept, refused := open(1, "spiffe://t/ns/shop/sa/kept"), open(2, "spiffe://t/ns/shop/sa/refused")
	edge := func(*envoy_config_core_v3.Node) (string, bool) { return "edge", true }
	c.regroup(edge, edge, func(string) bool { return true },
		func(_ string, ids []string) bool { return ids[0] != "spiffe://t/ns/shop/sa/refused" })
	select {
	case <-refused.revoked:
		if status.Code(refused.err) != codes.PermissionDenied {
			t.Errorf("refused stream ended with %v", refused.err)
		}
	default:
		t.Error("the stream the policy no longer admits was not ended")
	}
	select {
	case <-kept.revoked:
		t.Errorf("an admitted stream was ended: %v", kept.err)
	default:
	}
}

// TestRevokedStreamSendsNothing: once a stream is revoked, nothing more is sent on it,
// whatever its handler still answers.
func TestRevokedStreamSendsNothing(t *testing.T) {
	sent := &countingStream{}
	rev := &streamRevoker{revoked: make(chan struct{})}
	g := &silentStreamGuard{ServerStream: sent, rev: rev}
	if err := g.SendMsg(&discovery.DiscoveryResponse{}); err != nil || sent.n != 1 {
		t.Fatalf("send before revocation: %v, %d sent", err, sent.n)
	}
	rev.revoke(status.Error(codes.Unavailable, "moved"))
	if err := g.SendMsg(&discovery.DiscoveryResponse{}); status.Code(err) != codes.Unavailable || sent.n != 1 {
		t.Fatalf("send after revocation: %v, %d sent; want the revocation's error and nothing sent", err, sent.n)
	}
}

// countingStream is a grpc.ServerStream that counts the messages sent on it.
type countingStream struct {
	grpc.ServerStream
	n int
}

func (s *countingStream) SendMsg(any) error { s.n++; return nil }

// TestReconcilerWarmsNewClustersBeforeRoutes: through the Reconciler, a policy that adds a
// service and routes to it is served as the protocol orders it to a proxy that warms like
// Envoy (it asks for a new cluster's endpoints and acknowledges the clusters once it has
// them): the new cluster, its endpoints, and only then the route to it. SetPolicy waits
// for the proxy, whose requests are answered meanwhile.
func TestReconcilerWarmsNewClustersBeforeRoutes(t *testing.T) {
	doc := func(services, backends string) *policy.Policy {
		p, err := policy.Parse([]byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p, namespace: test}\nspec:\n"+
			"  services:\n"+services+
			"  virtualHosts:\n    - {name: public, domains: [\"*\"], routes: [{name: all, backends: ["+backends+"]}]}\n"+
			"  nodeGroups:\n    - {name: edge, kind: gateway, selector: {app: web}}\n"), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	web := "    - {name: web, port: 8080, endpoints: [{address: 10.0.0.1}]}\n"
	rec, addr := startReconciled(t, doc(web, "{service: web}"))
	s := openNode(t, addr, node("web-1", map[string]any{"app": "web"}))
	recv := func(typeURL string) *discovery.DiscoveryResponse { return recvType(t, s, typeURL) }
	names := func(r *discovery.DiscoveryResponse) []string { return responseNames(t, r) }
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	cds := recv(resourcev3.ClusterType)
	if err := s.Subscribe(resourcev3.EndpointType, names(cds)...); err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(recv(resourcev3.EndpointType)); err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(cds); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(resourcev3.ListenerType); err != nil {
		t.Fatal(err)
	}
	lds := recv(resourcev3.ListenerType)
	if err := s.ACK(lds); err != nil {
		t.Fatal(err)
	}
	held := map[string]types.ResourceWithTTL{}
	for _, a := range lds.GetResources() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		held[cachev3.GetResourceName(m)] = types.ResourceWithTTL{Resource: m}
	}
	routeNames := slices.Sorted(maps.Keys(cachev3.GetResourceReferences(held)[resourcev3.RouteType]))
	if len(routeNames) == 0 {
		t.Fatal("the listeners name no route configuration")
	}
	if err := s.Subscribe(resourcev3.RouteType, routeNames...); err != nil {
		t.Fatal(err)
	}
	rds := recv(resourcev3.RouteType)
	if err := s.ACK(rds); err != nil {
		t.Fatal(err)
	}

	set := make(chan error, 1)
	go func() {
		set <- rec.SetPolicy(context.Background(), doc(web+"    - {name: api, port: 8080, endpoints: [{address: 10.0.0.2}]}\n", "{service: web, weight: 90}, {service: api, weight: 10}"))
	}()
	before := names(cds)
	cds = recv(resourcev3.ClusterType)
	clusters := names(cds)
	added := slices.DeleteFunc(slices.Clone(clusters), func(c string) bool { return slices.Contains(before, c) })
	if len(added) != 1 {
		t.Fatalf("clusters after the change: %v (before %v)", clusters, before)
	}
	// Warming the new cluster: its endpoints, then the clusters' acknowledgement.
	if err := s.Subscribe(resourcev3.EndpointType, clusters...); err != nil {
		t.Fatal(err)
	}
	if eds := recv(resourcev3.EndpointType); !slices.Equal(names(eds), added) {
		t.Fatalf("endpoints after the change: %v, want those of %v", names(eds), added)
	} else if err := s.ACK(eds); err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(cds); err != nil {
		t.Fatal(err)
	}
	if r := recv(resourcev3.RouteType); proto.Equal(r, rds) || r.GetVersionInfo() == rds.GetVersionInfo() {
		t.Errorf("the routes did not change: version %s", r.GetVersionInfo())
	}
	if err := <-set; err != nil {
		t.Fatal(err)
	}
}
