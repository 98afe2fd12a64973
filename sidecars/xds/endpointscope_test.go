package xds

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	envoy_service_discovery_v3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// apiConfig is the configuration of the api group: its cluster api.default, and the
// clusters of webConfig(t, 9000) that extra names, with the same endpoints.
func apiConfig(extra ...string) Config {
	c := Config{Clusters: []types.Resource{cluster("api.default")}, Endpoints: []types.Resource{assignment("api.default", 9100)}}
	for _, n := range extra {
		c.Clusters = append(c.Clusters, cluster(n))
		c.Endpoints = append(c.Endpoints, assignment(n, 9000))
	}
	return c
}

// scopeFixture serves the web group (webConfig at webPort) and the api group (apiConfig with
// apiExtra).
type scopeFixture struct {
	*fixture
	t *testing.T
}

func (f scopeFixture) apply(webPort uint32, apiExtra ...string) {
	f.t.Helper()
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(f.t, webPort), "api": apiConfig(apiExtra...)}); err != nil {
		f.t.Fatal(err)
	}
}

// responseNames are the names of the resources of a response, sorted.
func responseNames(t *testing.T, r *envoy_service_discovery_v3.DiscoveryResponse) []string {
	t.Helper()
	var got []string
	for _, a := range r.GetResources() {
		cla, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cachev3.GetResourceName(cla))
	}
	slices.Sort(got)
	return got
}

// askEndpoints sends a state of the world request for names on s and returns the names of
// the response, acknowledged.
func askEndpoints(t *testing.T, s *xdstest.Stream, names ...string) []string {
	t.Helper()
	if err := s.Subscribe(resourcev3.EndpointType, names...); err != nil {
		t.Fatal(err)
	}
	r := recvType(t, s, resourcev3.EndpointType)
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	return responseNames(t, r)
}

// TestEndpointsAreScopedToTheNodeGroup: a node reads the endpoints of its own group's clusters
// only. A name of another group's cluster is left out of its subscription, as one that does
// not exist, on state of the world and delta streams alike, and counted; once its group gets
// that cluster too, a fresh stream reads it, and once the group loses it, no longer.
func TestEndpointsAreScopedToTheNodeGroup(t *testing.T) {
	f := scopeFixture{start(t, "scope"), t}
	f.apply(9000)

	if got := askEndpoints(t, open(t, f.fixture, "api"), "a.default", "api.default"); !slices.Equal(got, []string{"api.default"}) {
		t.Fatalf("api node asking for a.default (web's) and api.default: read %v, want [api.default]", got)
	}
	if got := testutil.ToFloat64(f.srv.metrics.withheld); got != 1 {
		t.Errorf("endpoint names withheld: counted %v, want 1", got)
	}

	d := openDelta(t, f.fixture, "api-2", "api")
	if err := d.Subscribe(resourcev3.EndpointType, "b.default"); err != nil {
		t.Fatal(err)
	}
	if r, err := d.Recv(time.Second); err == nil && len(r.GetResources()) > 0 {
		t.Fatalf("delta: api node subscribing to b.default (web's) read %d resources", len(r.GetResources()))
	}
	if err := d.Subscribe(resourcev3.EndpointType, "api.default"); err != nil {
		t.Fatal(err)
	}
	r, err := d.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetResources()) != 1 || r.GetResources()[0].GetName() != "api.default" {
		t.Fatalf("delta: api node subscribing to api.default read %v", r.GetResources())
	}
	if err := d.ACK(r); err != nil {
		t.Fatal(err)
	}
	// b.default was left out of the subscription: a change to it reaches no api node.
	f.apply(9500)
	if r, err := d.Recv(time.Second); err == nil {
		t.Fatalf("delta: a change to web's b.default reached an api node: %v", r.GetResources())
	}

	f.apply(9000, "a.default")
	if got := askEndpoints(t, open(t, f.fixture, "api"), "a.default", "api.default"); !slices.Equal(got, []string{"a.default", "api.default"}) {
		t.Fatalf("after api's group got cluster a.default too: read %v, want both", got)
	}
	f.apply(9000)
	before := testutil.ToFloat64(f.srv.metrics.withheld)
	if got := askEndpoints(t, open(t, f.fixture, "api"), "a.default", "api.default"); !slices.Equal(got, []string{"api.default"}) {
		t.Fatalf("after api's group lost cluster a.default: read %v, want [api.default]", got)
	}
	// A proxy asks for a cluster its group lost until it has the update: not counted.
	if got := testutil.ToFloat64(f.srv.metrics.withheld); got != before {
		t.Errorf("withheld counted %v for a name the group lost in the latest update, want %v", got, before)
	}
	if got := askEndpoints(t, open(t, f.fixture, "api"), "b.default", "b.default", "api.default"); !slices.Equal(got, []string{"api.default"}) {
		t.Fatalf("api node asking twice for b.default: read %v", got)
	}
	if got := testutil.ToFloat64(f.srv.metrics.withheld); got != before+1 {
		t.Errorf("withheld counted %v for a name asked for twice, want %v", got, before+1)
	}
}

// TestEndpointsOfALostClusterStopAtOnce: a node subscribed to a cluster's endpoints while its
// group held the cluster reads no update of them once its group loses it, though another
// group keeps the cluster and the node has not asked again: the update is left out of what
// it is sent, on state of the world and delta streams; its next delta request unsubscribes
// the name.
func TestEndpointsOfALostClusterStopAtOnce(t *testing.T) {
	f := scopeFixture{start(t, "lost"), t}
	f.apply(9000, "a.default")
	s := open(t, f.fixture, "api")
	if got := askEndpoints(t, s, "a.default", "api.default"); !slices.Equal(got, []string{"a.default", "api.default"}) {
		t.Fatalf("sotw: read %v, want both", got)
	}
	d := openDelta(t, f.fixture, "api-2", "api")
	if err := d.Subscribe(resourcev3.EndpointType, "a.default", "api.default"); err != nil {
		t.Fatal(err)
	}
	r, err := d.Recv(5 * time.Second)
	if err != nil || len(r.GetResources()) != 2 {
		t.Fatalf("delta: %v, %v; want both", r.GetResources(), err)
	}
	if err := d.ACK(r); err != nil {
		t.Fatal(err)
	}

	// Both ACKs are served before the change: an ACK served after it leaves a.default out of
	// its stream's subscription at once, as lost, and no update of it is then withheld.
	waitFor(t, func() bool { return f.srv.callbacks.acks.Load() >= 2 })
	f.apply(9000) // api loses a.default; web keeps it
	before := testutil.ToFloat64(f.srv.metrics.withheld)
	f.apply(9700) // web's a.default changes
	if r, err := s.Recv(2 * time.Second); err == nil && slices.Contains(responseNames(t, r), "a.default") {
		t.Fatal("sotw: an update of a.default reached an api node after its group lost the cluster")
	}
	if r, err := d.Recv(2 * time.Second); err == nil && slices.ContainsFunc(r.GetResources(), func(x *envoy_service_discovery_v3.Resource) bool { return x.GetName() == "a.default" }) {
		t.Fatal("delta: an update of a.default reached an api node after its group lost the cluster")
	}
	waitFor(t, func() bool { return testutil.ToFloat64(f.srv.metrics.withheld) >= before+2 }) // one update a stream
	// The delta stream's next request unsubscribes it from a.default, which it holds.
	if err := d.Subscribe(resourcev3.EndpointType, "api.default"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		f.srv.callbacks.mu.Lock()
		defer f.srv.callbacks.mu.Unlock()
		for _, st := range f.srv.callbacks.delta {
			if _, out := st.withheld["a.default"]; out {
				_, held := st.deltaNames[resourcev3.EndpointType]["a.default"]
				return held // the client's own subscription stays as it made it
			}
		}
		return false
	})
}

// TestEndpointsRegainedEndTheStreamThatAskedForThem: a stream that asked for endpoints its
// group did not hold (left out of its subscription) is ended, UNAVAILABLE, once its group
// gains them, so that its proxy reconnects and asks again, instead of waiting for them for
// ever; a stream that asked for none is not.
func TestEndpointsRegainedEndTheStreamThatAskedForThem(t *testing.T) {
	f := scopeFixture{start(t, "regained"), t}
	f.apply(9000)
	asked := open(t, f.fixture, "api")
	if got := askEndpoints(t, asked, "a.default", "api.default"); !slices.Equal(got, []string{"api.default"}) {
		t.Fatalf("read %v, want [api.default]", got)
	}
	other := openDelta(t, f.fixture, "api-2", "api")
	if err := other.Subscribe(resourcev3.EndpointType, "api.default"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Recv(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	f.apply(9000, "a.default")
	var err error
	for err == nil {
		_, err = asked.Recv(5 * time.Second)
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("the stream that asked for a.default ended with %v, want UNAVAILABLE", err)
	}
	if r, err := other.Recv(time.Second); status.Code(err) == codes.Unavailable {
		t.Fatalf("a stream that asked only for its own endpoints ended: %v (%v)", err, r)
	}
	if got := askEndpoints(t, open(t, f.fixture, "api"), "a.default", "api.default"); !slices.Equal(got, []string{"a.default", "api.default"}) {
		t.Fatalf("reconnected: read %v, want both", got)
	}
}

// TestEndpointScope: each group reads the names of its own assignments; a node in no group,
// or of a group the scope does not know, none; names all in scope come back as they are.
func TestEndpointScope(t *testing.T) {
	state := func(names ...string) *groupState {
		g := &groupState{endpoints: nameSet{}}
		for _, n := range names {
			g.endpoints[n] = struct{}{}
		}
		return g
	}
	var s endpointScope
	asked := []string{"a", "b", "c", "d"}
	if kept, out := s.inScope("web", asked); len(kept) != 0 || len(out) != 4 {
		t.Errorf("before any update: kept %v, out %v; want none kept", kept, out)
	}
	s.set(map[string]*groupState{"web": state("a", "b"), "api": state("c")})
	for group, want := range map[string][]string{"web": {"a", "b"}, "api": {"c"}, noGroup: nil, "gone": nil} {
		kept, out := s.inScope(group, asked)
		if !slices.Equal(kept, want) || len(kept)+len(out) != len(asked) {
			t.Errorf("%q reads %v (out %v), want %v", group, kept, out, want)
		}
	}
	s.set(map[string]*groupState{"web": state("a"), "api": state("c")})
	if !s.lost("web", "b") || s.lost("web", "a") || s.lost("api", "b") || s.lost(noGroup, "b") {
		t.Error("lost: want only b, which web held before the latest update")
	}
	s.set(map[string]*groupState{"web": state("a", "b"), "api": state("c")})
	names := []string{"b", "a"}
	if kept, out := s.inScope("web", names); out != nil || &kept[0] != &names[0] {
		t.Errorf("names all in scope: kept %v (a copy: %v), out %v", kept, &kept[0] != &names[0], out)
	}
}

// TestAssignmentNameReadsTheEncoding: the cluster name of an encoded assignment, whatever
// fields precede it; "" for an encoding that holds none or does not parse.
func TestAssignmentNameReadsTheEncoding(t *testing.T) {
	a, err := anypb.New(assignment("shop-web.shop", 8080))
	if err != nil {
		t.Fatal(err)
	}
	if got := assignmentName(a); got != "shop-web.shop" {
		t.Errorf("name %q, want shop-web.shop", got)
	}
	// The endpoints (field 2) written before the name.
	var reordered []byte
	reordered = append(reordered, a.GetValue()[len("shop-web.shop")+2:]...)
	reordered = append(reordered, a.GetValue()[:len("shop-web.shop")+2]...)
	if got := assignmentName(&anypb.Any{Value: reordered}); got != "shop-web.shop" {
		t.Errorf("name after the endpoints: %q", got)
	}
	for _, bad := range [][]byte{nil, {0x0a, 0x05, 'a'}, {0xff}} {
		if got := assignmentName(&anypb.Any{Value: bad}); got != "" {
			t.Errorf("encoding %x: name %q, want none", bad, got)
		}
	}
}

// BenchmarkEndpointsResponseInScope measures what keeping an endpoints response to a stream's
// group costs: a state of the world response of 1,000 assignments, all in scope (the common
// case, sent whole) or half of them out of scope (left out).
func BenchmarkEndpointsResponseInScope(b *testing.B) {
	for _, c := range []struct {
		name string
		out  int
	}{{"all-in-scope", 0}, {"half-out", 500}} {
		b.Run(c.name, func(b *testing.B) {
			cb := newCallbacks(slog.New(slog.DiscardHandler), nil, nil, nil, nil, Limits{})
			cb.metrics, _ = newMetrics(prometheus.NewRegistry())
			web := &groupState{endpoints: nameSet{}}
			var resources []*anypb.Any
			for i := range 1000 {
				name := fmt.Sprintf("svc-%04d.shop", i)
				if i >= c.out {
					web.endpoints[name] = struct{}{}
				}
				a, err := anypb.New(assignment(name, 8080))
				if err != nil {
					b.Fatal(err)
				}
				resources = append(resources, a)
			}
			cb.scope.set(map[string]*groupState{"web": web})
			st := newStreamState()
			st.group, st.node = "web", xdstest.Node("web-1", "web", nil)
			cb.sotw[1] = st
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if got := stripped(cb, cb.sotw, 1, resources, assignmentName, holdsAssignment); len(got) != 1000-c.out {
					b.Fatalf("kept %d", len(got))
				}
			}
		})
	}
}
