package xds

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// TestEndpointsAreScopedToTheNodeGroup: a node reads the endpoints of its own group's clusters
// only. A name of another group's cluster is left out of its subscription, as one that does
// not exist, on state of the world and delta streams alike, and counted; once its group gets
// that cluster too, the node reads it, and once the group loses it, no longer.
func TestEndpointsAreScopedToTheNodeGroup(t *testing.T) {
	ctx := context.Background()
	f := start(t, "scope")
	apply := func(api Config) {
		t.Helper()
		if err := f.srv.Apply(ctx, map[string]Config{"web": webConfig(t, 9000), "api": api}); err != nil {
			t.Fatal(err)
		}
	}
	apply(apiConfig())

	// ask asks for names on a new stream: a stream is sent only what it has not read yet.
	ask := func(names ...string) []string {
		t.Helper()
		s := open(t, f, "api")
		if err := s.Subscribe(resourcev3.EndpointType, names...); err != nil {
			t.Fatal(err)
		}
		r := recvType(t, s, resourcev3.EndpointType)
		if err := s.ACK(r); err != nil {
			t.Fatal(err)
		}
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
	if got := ask("a.default", "api.default"); !slices.Equal(got, []string{"api.default"}) {
		t.Fatalf("api node asking for a.default (web's) and api.default: read %v, want [api.default]", got)
	}
	if got := testutil.ToFloat64(f.srv.metrics.withheld); got != 1 {
		t.Errorf("endpoint names withheld: counted %v, want 1", got)
	}

	d := openDelta(t, f, "api-2", "api")
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
	changed := webConfig(t, 9500)
	if err := f.srv.Apply(ctx, map[string]Config{"web": changed, "api": apiConfig()}); err != nil {
		t.Fatal(err)
	}
	if r, err := d.Recv(time.Second); err == nil {
		t.Fatalf("delta: a change to web's b.default reached an api node: %v", r.GetResources())
	}

	apply(apiConfig("a.default"))
	if got := ask("a.default", "api.default"); !slices.Equal(got, []string{"a.default", "api.default"}) {
		t.Fatalf("after api's group got cluster a.default too: read %v, want both", got)
	}
	apply(apiConfig())
	if got := ask("a.default", "api.default"); !slices.Equal(got, []string{"api.default"}) {
		t.Fatalf("after api's group lost cluster a.default: read %v, want [api.default]", got)
	}
}

// TestEndpointScopeWidensWhileAnUpdateIsServed: while an update is served, a group may read
// the endpoints of its old and new clusters (its proxies ask for a new cluster's as soon as
// they get it, and stop asking for a removed one's only once it is gone); afterwards only the
// new ones. A node in no group reads none.
func TestEndpointScopeWidensWhileAnUpdateIsServed(t *testing.T) {
	state := func(names ...string) *groupState {
		g := &groupState{endpoints: nameSet{}}
		for _, n := range names {
			g.endpoints[n] = struct{}{}
		}
		return g
	}
	old := map[string]*groupState{"web": state("a", "b"), "api": state("c")}
	next := map[string]*groupState{"web": state("b", "d"), "api": state("c"), "new": state("e")}
	var s endpointScope
	s.narrow(old)
	asked := []string{"a", "b", "c", "d", "e"}
	read := func(group string) []string {
		kept, withheld := s.inScope(group, asked)
		if len(kept)+withheld != len(asked) {
			t.Fatalf("group %s: kept %v and withheld %d of %v", group, kept, withheld, asked)
		}
		return kept
	}
	if got := read("web"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("before the update web reads %v, want [a b]", got)
	}
	s.widen(old, next)
	for group, want := range map[string][]string{"web": {"a", "b", "d"}, "api": {"c"}, "new": {"e"}, noGroup: nil} {
		if got := read(group); !slices.Equal(got, want) {
			t.Errorf("while the update is served %q reads %v, want %v", group, got, want)
		}
	}
	s.narrow(next)
	for group, want := range map[string][]string{"web": {"b", "d"}, "api": {"c"}, "new": {"e"}, noGroup: nil} {
		if got := read(group); !slices.Equal(got, want) {
			t.Errorf("after the update %q reads %v, want %v", group, got, want)
		}
	}
	if kept, withheld := s.inScope("web", []string{"b", "d"}); withheld != 0 || len(kept) != 2 {
		t.Errorf("names all in scope: kept %v, withheld %d", kept, withheld)
	}
}
