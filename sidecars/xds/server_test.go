package xds

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_extensions_filters_http_router_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_service_discovery_v3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

type fixture struct {
	srv  *Server
	reg  *prometheus.Registry
	logs *xdstest.LogBuffer
	addr string
}

func groupOf(n *envoy_config_core_v3.Node) (string, bool) {
	switch n.GetCluster() {
	case "web", "api":
		return n.GetCluster(), true
	}
	return "", false
}

func start(t *testing.T, prefix string) *fixture { return startLimited(t, prefix, Limits{}) }

// startLimited serves groupOf's groups on loopback with the given limits until the test ends.
// A configuration that adds clusters does not wait for the proxies to warm them: the tests'
// clients read what Apply served once it returns (startWarming's server waits).
func startLimited(t *testing.T, prefix string, limits Limits) *fixture {
	return startWith(t, Options{VersionPrefix: prefix, Limits: limits, ClusterWarmTimeout: -1})
}

// startWarming serves groupOf's groups on loopback with the default limits and warm timeout.
func startWarming(t *testing.T) *fixture { return startWith(t, Options{}) }

// startWith serves groupOf's groups on loopback with opts until the test ends.
func startWith(t *testing.T, opts Options) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	logs := &xdstest.LogBuffer{}
	opts.NodeGroup, opts.Registerer = groupOf, reg
	opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, reg: reg, logs: logs, addr: serveOnLoopback(t, ctx, cancel, srv)}
}

// serveOnLoopback serves srv on a loopback port until the test ends (cancel ends ctx, which
// srv serves under) and returns its address.
func serveOnLoopback(t *testing.T, ctx context.Context, cancel context.CancelFunc, srv *Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, lis); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

func cluster(name string) *envoy_config_cluster_v3.Cluster {
	return &envoy_config_cluster_v3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &envoy_config_cluster_v3.Cluster_Type{Type: envoy_config_cluster_v3.Cluster_EDS},
		EdsClusterConfig: &envoy_config_cluster_v3.Cluster_EdsClusterConfig{EdsConfig: &envoy_config_core_v3.ConfigSource{
			ConfigSourceSpecifier: &envoy_config_core_v3.ConfigSource_Ads{Ads: &envoy_config_core_v3.AggregatedConfigSource{}},
		}},
		ConnectTimeout: durationpb.New(time.Second),
	}
}

func assignment(name string, port uint32) *envoy_config_endpoint_v3.ClusterLoadAssignment {
	return &envoy_config_endpoint_v3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*envoy_config_endpoint_v3.LocalityLbEndpoints{{
		LbEndpoints: []*envoy_config_endpoint_v3.LbEndpoint{{HostIdentifier: &envoy_config_endpoint_v3.LbEndpoint_Endpoint{Endpoint: &envoy_config_endpoint_v3.Endpoint{
			Address: &envoy_config_core_v3.Address{Address: &envoy_config_core_v3.Address_SocketAddress{SocketAddress: &envoy_config_core_v3.SocketAddress{
				Address: "127.0.0.1", PortSpecifier: &envoy_config_core_v3.SocketAddress_PortValue{PortValue: port}}}},
		}}}},
	}}}
}

func routeConfig(name, clusterName string) *envoy_config_route_v3.RouteConfiguration {
	return &envoy_config_route_v3.RouteConfiguration{Name: name, VirtualHosts: []*envoy_config_route_v3.VirtualHost{{
		Name: name, Domains: []string{"*"},
		Routes: []*envoy_config_route_v3.Route{{
			Match:  &envoy_config_route_v3.RouteMatch{PathSpecifier: &envoy_config_route_v3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &envoy_config_route_v3.Route_Route{Route: &envoy_config_route_v3.RouteAction{ClusterSpecifier: &envoy_config_route_v3.RouteAction_Cluster{Cluster: clusterName}}},
		}},
	}}}
}

func apiListener(t testing.TB, name, routeName string) *envoy_config_listener_v3.Listener {
	router, err := anypb.New(&envoy_extensions_filters_http_router_v3.Router{})
	if err != nil {
		t.Fatal(err)
	}
	hcm, err := anypb.New(&envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager{
		RouteSpecifier: &envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_Rds{Rds: &envoy_extensions_filters_network_http_connection_manager_v3.Rds{
			RouteConfigName: routeName,
			ConfigSource:    &envoy_config_core_v3.ConfigSource{ConfigSourceSpecifier: &envoy_config_core_v3.ConfigSource_Ads{Ads: &envoy_config_core_v3.AggregatedConfigSource{}}},
		}},
		HttpFilters: []*envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter{{
			Name: "envoy.filters.http.router", ConfigType: &envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &envoy_config_listener_v3.Listener{Name: name, ApiListener: &envoy_config_listener_v3.ApiListener{ApiListener: hcm}}
}

func webConfig(t testing.TB, port uint32) Config {
	return Config{
		Listeners: []types.Resource{apiListener(t, "svc-a", "svc-a"), apiListener(t, "svc-b", "svc-b")},
		Routes:    []types.Resource{routeConfig("svc-a", "a.default"), routeConfig("svc-b", "b.default")},
		Clusters:  []types.Resource{cluster("a.default"), cluster("b.default")},
		Endpoints: []types.Resource{assignment("a.default", port), assignment("b.default", port+1)},
	}
}

func open(t *testing.T, f *fixture, cluster string) *xdstest.Stream {
	t.Helper()
	conn, err := xdstest.Dial(f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := xdstest.Open(ctx, conn, xdstest.Node(cluster+"-1", cluster, nil))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openDelta opens a delta ADS stream for node id of cluster on its own connection, closed
// when the test ends.
func openDelta(t *testing.T, f *fixture, id, cluster string) *xdstest.DeltaStream {
	t.Helper()
	conn, err := xdstest.Dial(f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := xdstest.OpenDelta(ctx, conn, xdstest.Node(id, cluster, nil))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func recvType(t *testing.T, s *xdstest.Stream, typeURL string) *envoy_service_discovery_v3.DiscoveryResponse {
	t.Helper()
	r, err := s.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetTypeUrl() != typeURL {
		t.Fatalf("got a %s response, want %s", r.GetTypeUrl(), typeURL)
	}
	return r
}

func TestServesPartialSubscriptionsAndTracksAcks(t *testing.T) {
	f := start(t, "p1")
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	s := open(t, f, "web")
	// A proxyless gRPC client watches only the listener of the target it dials.
	if err := s.Subscribe(resourcev3.ListenerType, "svc-a"); err != nil {
		t.Fatal(err)
	}
	r := recvType(t, s, resourcev3.ListenerType)
	if len(r.GetResources()) != 1 || !strings.HasPrefix(r.GetVersionInfo(), "p1-") {
		t.Fatalf("listener response: %d resources, version %q; want 1 resource, version p1-...", len(r.GetResources()), r.GetVersionInfo())
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(resourcev3.EndpointType, "a.default"); err != nil {
		t.Fatal(err)
	}
	r = recvType(t, s, resourcev3.EndpointType)
	if len(r.GetResources()) != 1 || !strings.HasPrefix(r.GetVersionInfo(), "p1-eds-") {
		t.Fatalf("endpoint response: %d resources, version %q", len(r.GetResources()), r.GetVersionInfo())
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return testutil.CollectAndCount(f.reg, "foresight_xds_push_ack_duration_seconds") == 2
	})
	if got := testutil.ToFloat64(f.srv.metrics.connected.WithLabelValues(KindSidecar)); got != 1 {
		t.Errorf("connected sidecars = %v, want 1", got)
	}
	if got := testutil.ToFloat64(f.srv.metrics.snapshotRes.WithLabelValues("cluster")); got != 2 {
		t.Errorf("snapshot clusters = %v, want 2", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRejectedConfigurationIsNeverServed(t *testing.T) {
	f := start(t, "p1")
	good := webConfig(t, 9000)
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": good}); err != nil {
		t.Fatal(err)
	}
	s := open(t, f, "web")
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	first := recvType(t, s, resourcev3.ClusterType)
	if err := s.ACK(first); err != nil {
		t.Fatal(err)
	}
	bad := webConfig(t, 9000)
	broken := cluster("c.default")
	broken.ConnectTimeout = durationpb.New(-time.Second) // fails ValidateAll
	bad.Clusters = append(bad.Clusters, broken)
	err := f.srv.Apply(context.Background(), map[string]Config{"web": bad})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), `cluster "c.default"`) {
		t.Fatalf("Apply(bad) = %v, want ErrRejected naming cluster c.default", err)
	}
	dup := webConfig(t, 9000)
	dup.Routes = append(dup.Routes, routeConfig("svc-a", "b.default"))
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": dup}); !errors.Is(err, ErrRejected) {
		t.Fatalf("Apply(duplicate route) = %v, want ErrRejected", err)
	}
	conflict := map[string]Config{"web": webConfig(t, 9000), "api": webConfig(t, 9100)}
	if err := f.srv.Apply(context.Background(), conflict); err == nil || !strings.Contains(err.Error(), "differ between node groups") {
		t.Fatalf("Apply(conflicting endpoints) = %v", err)
	}
	if got := testutil.ToFloat64(f.srv.metrics.snapshotsRejected); got != 3 {
		t.Errorf("rejected snapshots = %v, want 3", got)
	}
	if r, err := s.Recv(300 * time.Millisecond); err == nil {
		t.Fatalf("a rejected configuration reached the proxy: %v", r)
	}
	groups, _ := f.srv.Served()
	if got := groups["web"]["cluster"]; len(got) != 2 {
		t.Fatalf("served clusters after rejection = %v, want the last good two", got)
	}
	// A good change after the rejections is served.
	next := webConfig(t, 9000)
	next.Clusters = append(next.Clusters, cluster("c.default"))
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": next}); err != nil {
		t.Fatal(err)
	}
	r := recvType(t, s, resourcev3.ClusterType)
	if len(r.GetResources()) != 3 || r.GetVersionInfo() == first.GetVersionInfo() {
		t.Fatalf("after a good change: %d clusters, version %q (was %q)", len(r.GetResources()), r.GetVersionInfo(), first.GetVersionInfo())
	}
}

func TestNACKIsCountedAndLogged(t *testing.T) {
	f := start(t, "p1")
	var mu sync.Mutex
	var nacks []NACK
	f.srv.callbacks.onNACK = func(n NACK) { mu.Lock(); nacks = append(nacks, n); mu.Unlock() }
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	s := open(t, f, "web")
	if err := s.Subscribe(resourcev3.RouteType, "svc-a", "svc-b"); err != nil {
		t.Fatal(err)
	}
	r := recvType(t, s, resourcev3.RouteType)
	if err := s.NACK(r, "route svc-a: unknown cluster"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return testutil.ToFloat64(f.srv.metrics.nacks.WithLabelValues("web-1", "route")) == 1
	})
	logs := f.logs.String()
	for _, want := range []string{`"msg":"proxy rejected configuration (NACK)"`, `"node":"web-1"`, `"type":"route"`, `"error":"route svc-a: unknown cluster"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(nacks) != 1 || nacks[0].Group != "web" || nacks[0].Nonce != r.GetNonce() {
		t.Fatalf("OnNACK calls = %+v", nacks)
	}
}

func TestUnknownNodeIsRefused(t *testing.T) {
	f := start(t, "p1")
	s := open(t, f, "nobody")
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	_, err := s.Recv(5 * time.Second)
	if status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
		t.Fatalf("stream of an unknown node ended with %v, want PermissionDenied", err)
	}
}

func TestDeltaProtocol(t *testing.T) {
	f := start(t, "p1")
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	d := openDelta(t, f, "web-1", "web")
	if err := d.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	r, err := d.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetResources()) != 2 {
		t.Fatalf("delta clusters: %d, want 2", len(r.GetResources()))
	}
	if err := d.ACK(r); err != nil {
		t.Fatal(err)
	}
	// Removing a cluster sends only the removal.
	c := webConfig(t, 9000)
	c.Clusters = c.Clusters[:1]
	c.Routes = []types.Resource{routeConfig("svc-a", "a.default"), routeConfig("svc-b", "a.default")}
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": c}); err != nil {
		t.Fatal(err)
	}
	r, err = d.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetResources()) != 0 || len(r.GetRemovedResources()) != 1 || r.GetRemovedResources()[0] != "b.default" {
		t.Fatalf("delta update: resources %d removed %v; want only b.default removed", len(r.GetResources()), r.GetRemovedResources())
	}
}

// TestUpdateOrderClustersBeforeRoutes: a proxy that asks for a new cluster's endpoints when
// it gets the cluster, and acknowledges the clusters once it has them (as Envoy does while a
// cluster warms), is sent the cluster, its endpoints, and only then the route that sends to
// it, and last the removal of the cluster no longer used; the server waited for it.
func TestUpdateOrderClustersBeforeRoutes(t *testing.T) {
	f := startWarming(t)
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	s := open(t, f, "web")
	for _, sub := range []struct {
		typeURL string
		names   []string
	}{{resourcev3.ClusterType, nil}, {resourcev3.ListenerType, nil}, {resourcev3.RouteType, []string{"svc-a", "svc-b"}}} {
		if err := s.Subscribe(sub.typeURL, sub.names...); err != nil {
			t.Fatal(err)
		}
		if err := s.ACK(recvType(t, s, sub.typeURL)); err != nil {
			t.Fatal(err)
		}
	}
	// Point route svc-b at a new cluster and drop b.default: the proxy must see the new
	// cluster first, then the route, then the cluster removal.
	c := webConfig(t, 9000)
	c.Clusters = []types.Resource{cluster("a.default"), cluster("c.default")}
	c.Endpoints = []types.Resource{assignment("a.default", 9000), assignment("c.default", 9002)}
	c.Routes = []types.Resource{routeConfig("svc-a", "a.default"), routeConfig("svc-b", "c.default")}
	applied := make(chan error, 1)
	go func() { applied <- f.srv.Apply(context.Background(), map[string]Config{"web": c}) }()
	r := recvType(t, s, resourcev3.ClusterType)
	if len(r.GetResources()) != 3 {
		t.Fatalf("first push: %d clusters, want old and new (3)", len(r.GetResources()))
	}
	// Warming c.default: its endpoints first, the clusters' acknowledgement after.
	if err := s.Subscribe(resourcev3.EndpointType, "c.default"); err != nil {
		t.Fatal(err)
	}
	if e := recvType(t, s, resourcev3.EndpointType); len(e.GetResources()) != 1 {
		t.Fatalf("endpoints of the new cluster: %d assignments", len(e.GetResources()))
	} else if err := s.ACK(e); err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(recvType(t, s, resourcev3.RouteType)); err != nil {
		t.Fatal(err)
	}
	r = recvType(t, s, resourcev3.ClusterType)
	if len(r.GetResources()) != 2 {
		t.Fatalf("last push: %d clusters, want 2", len(r.GetResources()))
	}
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(f.srv.metrics.clusterWarmTimeouts); n != 0 {
		t.Errorf("warm timeouts counted: %v, want none (the proxy acknowledged)", n)
	}
}

// TestNACKedVersionIsNotSentAgain: after a NACK, of the first response (the client still at
// no version) or of an update, the rejected version is not sent again; the next response of
// the type is the next change. The stream handles requests in order: a request of another
// type after the NACK is answered after whatever the NACK made the server send.
func TestNACKedVersionIsNotSentAgain(t *testing.T) {
	f := start(t, "p1")
	apply := func(extra ...string) {
		t.Helper()
		c := webConfig(t, 9000)
		for _, n := range extra {
			c.Clusters = append(c.Clusters, cluster(n))
		}
		if err := f.srv.Apply(context.Background(), map[string]Config{"web": c}); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, f, "web")
	// nack rejects a cluster response, then has the server answer a request of endpoints (a
	// new set of names each time): no cluster response may come before that answer, and none
	// after it before the next change.
	nack := func(r *envoy_service_discovery_v3.DiscoveryResponse, endpoints ...string) {
		t.Helper()
		if err := s.NACK(r, "cluster: unknown filter"); err != nil {
			t.Fatal(err)
		}
		if err := s.Subscribe(resourcev3.EndpointType, endpoints...); err != nil {
			t.Fatal(err)
		}
		for {
			got, err := s.Recv(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got.GetTypeUrl() == resourcev3.ClusterType {
				t.Fatalf("the rejected clusters sent again: version %s (rejected %s)", got.GetVersionInfo(), r.GetVersionInfo())
			}
			if got.GetTypeUrl() == resourcev3.EndpointType {
				if err := s.ACK(got); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	apply()
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	first := recvType(t, s, resourcev3.ClusterType)
	nack(first, "a.default")
	apply("c.default")
	second := recvType(t, s, resourcev3.ClusterType)
	if second.GetVersionInfo() == first.GetVersionInfo() || len(second.GetResources()) != 3 {
		t.Fatalf("after a NACK of the first response: version %s (%d clusters), want the next change", second.GetVersionInfo(), len(second.GetResources()))
	}
	if err := s.ACK(second); err != nil {
		t.Fatal(err)
	}
	apply("c.default", "d.default")
	third := recvType(t, s, resourcev3.ClusterType)
	nack(third, "a.default", "b.default")
	apply("c.default", "e.default")
	fourth := recvType(t, s, resourcev3.ClusterType)
	if fourth.GetVersionInfo() == third.GetVersionInfo() {
		t.Fatalf("after a NACK of an update: the rejected version %s sent again", third.GetVersionInfo())
	}
	if got := testutil.ToFloat64(f.srv.metrics.nacks.WithLabelValues("web-1", "cluster")); got != 2 {
		t.Errorf("NACKs counted %v, want 2", got)
	}
}

// TestDeltaSubscribingAgain: as the protocol asks, a delta stream subscribing to a name it
// already holds is sent it again, for routes (the snapshot cache) and endpoints (the linear
// cache), and one subscribing to a route that does not exist is told so in
// removed_resources (an endpoint name outside the group's is withheld: keepInScope); a
// reconnecting client's initial versions still spare it what it holds.
func TestDeltaSubscribingAgain(t *testing.T) {
	f := start(t, "p1")
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	d := openDelta(t, f, "web-1", "web")
	recv := func(what string) *envoy_service_discovery_v3.DeltaDiscoveryResponse {
		t.Helper()
		r, err := d.Recv(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := d.ACK(r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	names := func(r *envoy_service_discovery_v3.DeltaDiscoveryResponse) []string {
		var out []string
		for _, res := range r.GetResources() {
			out = append(out, res.GetName())
		}
		return out
	}
	for _, tc := range []struct{ typeURL, held string }{{resourcev3.RouteType, "svc-a"}, {resourcev3.EndpointType, "a.default"}} {
		if err := d.Subscribe(tc.typeURL, tc.held); err != nil {
			t.Fatal(err)
		}
		if got := names(recv("first subscription")); !slices.Equal(got, []string{tc.held}) {
			t.Fatalf("%s: first subscription got %v", tc.typeURL, got)
		}
		if err := d.Subscribe(tc.typeURL, tc.held); err != nil {
			t.Fatal(err)
		}
		if got := names(recv("subscribing again")); !slices.Equal(got, []string{tc.held}) {
			t.Errorf("%s: subscribing again to a name held got %v, want it sent again", tc.typeURL, got)
		}
		if tc.typeURL == resourcev3.EndpointType {
			continue
		}
		if err := d.Subscribe(tc.typeURL, "nope"); err != nil {
			t.Fatal(err)
		}
		if r := recv("a name that does not exist"); len(r.GetResources()) != 0 || !slices.Equal(r.GetRemovedResources(), []string{"nope"}) {
			t.Errorf("%s: a name that does not exist: resources %v, removed %v; want nope removed", tc.typeURL, names(r), r.GetRemovedResources())
		}
	}

	// Reconnecting with what it holds: only what it lacks is sent.
	r := openDelta(t, f, "web-2", "web")
	if err := r.Send(&envoy_service_discovery_v3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResourceNamesSubscribe: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	all, err := r.Recv(5 * time.Second)
	if err != nil || len(all.GetResources()) != 2 {
		t.Fatalf("clusters: %v %v", all, err)
	}
	again := openDelta(t, f, "web-3", "web")
	held := map[string]string{all.GetResources()[0].GetName(): all.GetResources()[0].GetVersion()}
	if err := again.Send(&envoy_service_discovery_v3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResourceNamesSubscribe: []string{"*", all.GetResources()[0].GetName()}, InitialResourceVersions: held}); err != nil {
		t.Fatal(err)
	}
	if got, err := again.Recv(5 * time.Second); err != nil || len(got.GetResources()) != 1 || got.GetResources()[0].GetName() != all.GetResources()[1].GetName() {
		t.Errorf("reconnected holding %v: got %v %v, want only %s", held, got, err, all.GetResources()[1].GetName())
	}
}

// TestClusterWarmWaitIsBounded: a configuration that adds clusters waits for a proxy in sync
// with its clusters that does not answer them at most the warm timeout, and counts that; it
// does not wait for a proxy that left clusters it was sent unanswered.
func TestClusterWarmWaitIsBounded(t *testing.T) {
	f := startWith(t, Options{ClusterWarmTimeout: 200 * time.Millisecond})
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	inSync, silent := open(t, f, "web"), open(t, f, "web")
	for _, s := range []*xdstest.Stream{inSync, silent} {
		if err := s.Subscribe(resourcev3.ClusterType); err != nil {
			t.Fatal(err)
		}
	}
	if err := inSync.ACK(recvType(t, inSync, resourcev3.ClusterType)); err != nil {
		t.Fatal(err)
	}
	recvType(t, silent, resourcev3.ClusterType) // never acknowledged
	waited := func() uint64 {
		t.Helper()
		var m dto.Metric
		if err := f.srv.metrics.clusterWarm.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount()
	}
	// The acknowledgement is taken before the change: the next change waits for the stream.
	waitFor(t, func() bool { return f.srv.callbacks.acks.Load() == 1 })

	addClusters(t, f, "c.default")
	if n := warmTimeouts(f); n != 1 || waited() != 1 {
		t.Fatalf("after a change the in-sync stream did not answer: %v timeouts, %v waits; want 1 and 1", n, waited())
	}
	// Neither stream answered what it was sent: the next change waits for none.
	addClusters(t, f, "c.default", "d.default")
	if n := warmTimeouts(f); n != 1 || waited() != 1 {
		t.Errorf("a change no stream in sync gets: %v timeouts, %v waits; want still 1 and 1", n, waited())
	}
}
