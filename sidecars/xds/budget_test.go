package xds

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// TestReconnectedDeltaStreamIsChargedAsAFreshOne: a delta proxy reconnecting (after a control
// plane restart or rollout, Envoy names what it holds in initial_resource_versions) is charged
// its initial versions only until the type's first response, which go-control-plane replaces
// them with (the versions returned, which a fresh stream holds too): once answered, both are
// charged alike, and a budget that fits the fleet's fresh streams fits it reconnected.
func TestReconnectedDeltaStreamIsChargedAsAFreshOne(t *testing.T) {
	const n = 300
	var c Config
	var names []string
	for i := range n {
		name := fmt.Sprintf("cluster-%03d-%s.default", i, strings.Repeat("x", 32))
		names = append(names, name)
		c.Clusters = append(c.Clusters, cluster(name))
		c.Endpoints = append(c.Endpoints, assignment(name, uint32(9000+i)))
	}
	// Room for five fresh proxies (about 36 KB each: their endpoint names).
	f := startLimited(t, "budget", Limits{MaxSubscribedBytes: 200_000})
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": c}); err != nil {
		t.Fatal(err)
	}
	charged := func() int {
		f.srv.callbacks.mu.Lock()
		defer f.srv.callbacks.mu.Unlock()
		return f.srv.callbacks.subscribed
	}
	// connect subscribes like Envoy over delta: clusters (wildcard), then their endpoints;
	// held are the versions it names as a reconnecting client (none: a fresh one).
	connect := func(id string, held map[string]map[string]string) (map[string]map[string]string, error) {
		t.Helper()
		d := openDelta(t, f, id, "web")
		got := map[string]map[string]string{}
		for _, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
			sub := []string{"*"}
			if typ == resourcev3.EndpointType {
				sub = names
			}
			if err := d.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: typ, ResourceNamesSubscribe: sub, InitialResourceVersions: held[typ]}); err != nil {
				return nil, err
			}
			r, err := d.Recv(5 * time.Second)
			if err != nil {
				return nil, err
			}
			got[typ] = map[string]string{}
			for _, res := range r.GetResources() {
				got[typ][res.GetName()] = res.GetVersion()
			}
			if err := d.ACK(r); err != nil {
				return nil, err
			}
		}
		return got, nil
	}
	before := charged()
	held, err := connect("fresh-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh := charged() - before
	t.Logf("a fresh stream is charged %d bytes", fresh)
	// The same proxy's second stream (its first one still open): it names what it holds,
	// with versions the server no longer serves (an endpoint changed meanwhile, say).
	for _, v := range held {
		for k := range v {
			v[k] += "-old"
		}
	}
	before = charged()
	if _, err := connect("fresh-1", held); err != nil {
		t.Fatal(err)
	}
	reconnected := charged() - before
	t.Logf("charged: fresh stream %d bytes, reconnected stream %d bytes (both hold the same once answered)", fresh, reconnected)
	if reconnected > fresh*3/2 {
		t.Errorf("a reconnected stream is charged %d bytes, a fresh one %d, for the same subscriptions", reconnected, fresh)
	}
	// The budget holds five fresh proxies; one fresh and one reconnected leave no room for a
	// second fresh one.
	if _, err := connect("fresh-2", nil); err != nil {
		t.Errorf("a second fresh proxy, within a budget of five fresh ones: %v (%d of 200000 bytes charged)", err, charged())
	}
}
