package xds

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// addClusters applies webConfig plus the clusters names (with their endpoints).
func addClusters(t *testing.T, f *fixture, names ...string) {
	t.Helper()
	c := webConfig(t, 9000)
	for i, n := range names {
		c.Clusters = append(c.Clusters, cluster(n))
		c.Endpoints = append(c.Endpoints, assignment(n, uint32(9100+i)))
	}
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": c}); err != nil {
		t.Fatal(err)
	}
}

// warmTimeouts are the warm waits of f that ended before every proxy answered.
func warmTimeouts(f *fixture) float64 { return testutil.ToFloat64(f.srv.metrics.clusterWarmTimeouts) }

// TestClusterWarmLeavesOutDeltaStreamsOfNoClusters: a delta stream that subscribed to
// clusters with "*" and then unsubscribed "*" subscribes to no cluster: go-control-plane
// sends it none again, and no change that adds clusters waits for it.
func TestClusterWarmLeavesOutDeltaStreamsOfNoClusters(t *testing.T) {
	f := startWith(t, Options{ClusterWarmTimeout: 500 * time.Millisecond})
	addClusters(t, f)
	d := openDelta(t, f, "web-1", "web")
	if err := d.Subscribe(resourcev3.ClusterType, "*"); err != nil {
		t.Fatal(err)
	}
	r, err := d.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ACK(r); err != nil {
		t.Fatal(err)
	}
	if err := d.Unsubscribe(resourcev3.ClusterType, "*"); err != nil {
		t.Fatal(err)
	}
	// go-control-plane answers the unsubscription with the clusters removed.
	r, err = d.Recv(5 * time.Second)
	if err != nil || len(r.GetRemovedResources()) != 2 {
		t.Fatalf("unsubscribing *: %v %v", r, err)
	}
	if err := d.ACK(r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.srv.callbacks.acks.Load() == 2 })

	for i := 1; i <= 3; i++ {
		names := make([]string, i)
		for j := range names {
			names[j] = fmt.Sprintf("new-%d.default", j)
		}
		addClusters(t, f, names...)
		if r, err := d.Recv(100 * time.Millisecond); err == nil {
			t.Fatalf("the unsubscribed stream was sent %v", r)
		}
	}
	if n := warmTimeouts(f); n != 0 {
		t.Errorf("%v waits timed out for a stream that subscribes to no cluster, want none", n)
	}
}

// TestClusterWarmWaitsOnceForAStuckStream: a client that acknowledged its clusters and then
// stops reading its stream (its HTTP/2 window fills: here with subscriptions the resubscribe
// wrapper answers each time) cannot be sent the next clusters: the first change that adds
// clusters waits for it until the warm timeout; it is lagging from then on, and the next
// changes do not wait for it.
func TestClusterWarmWaitsOnceForAStuckStream(t *testing.T) {
	f := startWith(t, Options{ClusterWarmTimeout: 500 * time.Millisecond})
	addClusters(t, f)

	// A client with fixed 64 KiB windows (no BDP growth), which reads only when told.
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&discovery.DeltaDiscoveryRequest{Node: xdstest.Node("web-stuck", "web", nil), TypeUrl: resourcev3.ClusterType,
		ResourceNamesSubscribe: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: r.GetNonce()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.srv.callbacks.acks.Load() == 1 })
	// From now on the client reads nothing. Each subscription to a route it holds is sent it
	// again (resubscribing); a few thousand fill the windows and block the server's Send.
	go func() {
		for i := 0; i < 5000; i++ {
			if s.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{"svc-a", "svc-b"}}) != nil {
				return
			}
		}
	}()
	time.Sleep(2 * time.Second)

	for i := 1; i <= 3; i++ {
		names := make([]string, i)
		for j := range names {
			names[j] = fmt.Sprintf("new-%d.default", j)
		}
		addClusters(t, f, names...)
	}
	if n := warmTimeouts(f); n != 1 {
		t.Errorf("%v waits timed out for a stream that cannot be sent clusters, want the first only", n)
	}
}

// TestWatchIsKeyedByTheGroupItsRequestWasTakenUnder: the cache keys a stream's watch by the
// group the callbacks took its request under (and checked its identities for), even where the
// grouping changes before the watch is made (the policy change's regroup ends the stream
// then); a node no stream holds is grouped as it is now, and a stream's key goes with it.
func TestWatchIsKeyedByTheGroupItsRequestWasTakenUnder(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var now atomic.Value
	now.Store("edge")
	grouping := func(*envoy_config_core_v3.Node) (string, bool) { return now.Load().(string), true }
	c := newCallbacks(slog.New(slog.DiscardHandler), m, grouping, nil, nil, Limits{})
	h := nodeHash{group: grouping, keys: c.keys}
	n := xdstest.Node("web-1", "web", nil)
	for _, named := range []*envoy_config_core_v3.Node{n, nil} { // the first request names the node
		if _, err := c.request(c.sotw, 1, named, resourcev3.ListenerType, "", "", &subscription{}, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	now.Store("vault")
	if got := h.ID(n); got != "edge" {
		t.Errorf("the stream's node is keyed %q, want edge, its request's group", got)
	}
	if got := h.ID(xdstest.Node("web-2", "web", nil)); got != "vault" {
		t.Errorf("another node is keyed %q, want vault", got)
	}
	c.closed(c.sotw, 1)
	if got := h.ID(n); got != "vault" {
		t.Errorf("once its stream ended, the node is keyed %q, want vault", got)
	}
}
