package featuretests

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_service_discovery_v3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	_ "github.com/foresight-dev/foresight/sidecars/check" // registers every typed_config type
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/xds"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// controlPlane is the real xDS server with a reconciler, serving on loopback.
type controlPlane struct {
	server *xds.Server
	rec    *xds.Reconciler
	reg    *prometheus.Registry
	logs   *xdstest.LogBuffer
	addr   string
	done   chan struct{}
}

func startControlPlane(t testing.TB, p *policy.Policy) *controlPlane {
	t.Helper()
	return startControlPlaneCtx(t, context.Background(), p, "127.0.0.1:0", "test")
}

// startControlPlaneCtx starts a control plane on addr that stops when ctx ends (or at the
// end of the test); versions start with prefix.
func startControlPlaneCtx(t testing.TB, parent context.Context, p *policy.Policy, addr, prefix string) *controlPlane {
	t.Helper()
	ctx, cancel := context.WithCancel(parent)
	cp := &controlPlane{reg: prometheus.NewRegistry(), logs: &xdstest.LogBuffer{}, done: make(chan struct{})}
	log := slog.New(slog.NewJSONHandler(cp.logs, nil))
	cp.rec = xds.NewReconciler(log)
	srv, err := xds.New(ctx, xds.Options{NodeGroup: cp.rec.NodeGroup, Registerer: cp.reg, Logger: log, VersionPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	cp.server = srv
	cp.rec.Bind(srv)
	if p != nil {
		if err := cp.rec.SetPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	var lis net.Listener
	for i := 0; ; i++ { // a just-closed port may take a moment to be free again
		if lis, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	cp.addr = lis.Addr().String()
	go func() {
		defer close(cp.done)
		if err := srv.Serve(ctx, lis); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); cp.wait() })
	return cp
}

// wait blocks until the control plane stopped serving.
func (cp *controlPlane) wait() { <-cp.done }

// histogramCount is the total sample count of a histogram family.
func histogramCount(t *testing.T, cp *controlPlane, name string) uint64 {
	t.Helper()
	mfs, err := cp.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func loadPolicy(t *testing.T, path string) *policy.Policy {
	t.Helper()
	p, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// nodeFor returns a node of group g: its node cluster is the group's first service; proxyless
// groups identify as grpc-go.
func nodeFor(g policy.NodeGroup) *envoy_config_core_v3.Node {
	n := xdstest.Node(g.Name+"-0", g.Services[0], g.Selector)
	if g.Kind == policy.NodeGRPC {
		n.UserAgentName = "gRPC Go"
	}
	return n
}

func (cp *controlPlane) open(t *testing.T, node *envoy_config_core_v3.Node) *xdstest.Stream {
	t.Helper()
	conn, err := xdstest.Dial(cp.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := xdstest.Open(ctx, conn, node)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// exchange subscribes to typeURL/names, receives the response, ACKs it and returns it.
func exchange(t *testing.T, s *xdstest.Stream, typeURL string, names ...string) *envoy_service_discovery_v3.DiscoveryResponse {
	t.Helper()
	if err := s.Subscribe(typeURL, names...); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(5 * time.Second)
	if err != nil {
		t.Fatalf("%s %v: %v", typeURL, names, err)
	}
	if r.GetTypeUrl() != typeURL {
		t.Fatalf("got %s, want %s", r.GetTypeUrl(), typeURL)
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func unpack[T any, PT interface {
	*T
	proto.Message
}](t *testing.T, a *anypb.Any) PT {
	t.Helper()
	m := PT(new(T))
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatal(err)
	}
	return m
}

// edsNames are the ClusterLoadAssignment names EDS clusters ask for.
func edsNames(t *testing.T, r *envoy_service_discovery_v3.DiscoveryResponse) []string {
	var names []string
	for _, a := range r.GetResources() {
		c := unpack[envoy_config_cluster_v3.Cluster](t, a)
		if c.GetType() == envoy_config_cluster_v3.Cluster_EDS {
			n := c.GetEdsClusterConfig().GetServiceName()
			if n == "" {
				n = c.GetName()
			}
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// rdsNames are the route configurations the listeners ask for.
func rdsNames(t *testing.T, r *envoy_service_discovery_v3.DiscoveryResponse) []string {
	seen := map[string]bool{}
	for _, a := range r.GetResources() {
		l := unpack[envoy_config_listener_v3.Listener](t, a)
		var hcms []*anypb.Any
		if l.GetApiListener() != nil {
			hcms = append(hcms, l.GetApiListener().GetApiListener())
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if tc := f.GetTypedConfig(); tc != nil && strings.HasSuffix(tc.GetTypeUrl(), "HttpConnectionManager") {
					hcms = append(hcms, tc)
				}
			}
		}
		for _, h := range hcms {
			m := unpack[envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager](t, h)
			if n := m.GetRds().GetRouteConfigName(); n != "" {
				seen[n] = true
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// clusterNames are the clusters the route configurations send traffic to.
func clusterNames(t *testing.T, r *envoy_service_discovery_v3.DiscoveryResponse) []string {
	seen := map[string]bool{}
	for _, a := range r.GetResources() {
		rc := unpack[envoy_config_route_v3.RouteConfiguration](t, a)
		for _, vh := range rc.GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				if c := rt.GetRoute().GetCluster(); c != "" {
					seen[c] = true
				}
				for _, wc := range rt.GetRoute().GetWeightedClusters().GetClusters() {
					seen[wc.GetName()] = true
				}
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// conversation runs the discovery a proxy of group g performs and returns every response.
// Envoy: CDS (wildcard), EDS, LDS (wildcard), RDS. Proxyless gRPC: LDS for its targets, RDS,
// CDS and EDS by name.
func conversation(t *testing.T, cp *controlPlane, p *policy.Policy, g policy.NodeGroup) []*envoy_service_discovery_v3.DiscoveryResponse {
	s := cp.open(t, nodeFor(g))
	var out []*envoy_service_discovery_v3.DiscoveryResponse
	if g.Kind == policy.NodeGRPC {
		var targets []string
		for _, svc := range p.Spec.Services {
			if len(g.Upstreams) == 0 || contains(g.Upstreams, svc.Name) {
				targets = append(targets, svc.Name)
				targets = append(targets, svc.Hosts...)
			}
		}
		sort.Strings(targets)
		lds := exchange(t, s, resourcev3.ListenerType, targets...)
		rds := exchange(t, s, resourcev3.RouteType, rdsNames(t, lds)...)
		cds := exchange(t, s, resourcev3.ClusterType, clusterNames(t, rds)...)
		eds := exchange(t, s, resourcev3.EndpointType, edsNames(t, cds)...)
		return append(out, lds, rds, cds, eds)
	}
	cds := exchange(t, s, resourcev3.ClusterType)
	out = append(out, cds)
	if names := edsNames(t, cds); len(names) > 0 {
		out = append(out, exchange(t, s, resourcev3.EndpointType, names...))
	}
	lds := exchange(t, s, resourcev3.ListenerType)
	out = append(out, lds)
	if names := rdsNames(t, lds); len(names) > 0 {
		out = append(out, exchange(t, s, resourcev3.RouteType, names...))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// normalise renders responses as stable JSON: resources sorted by name, versions and nonces
// replaced by placeholders that keep which responses share a version.
func normalise(t *testing.T, responses []*envoy_service_discovery_v3.DiscoveryResponse) []any {
	t.Helper()
	var out []any
	for _, r := range responses {
		type named struct {
			name string
			json any
		}
		var rs []named
		for _, a := range r.GetResources() {
			m, err := a.UnmarshalNew()
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, named{cache.GetResourceName(m), stableJSON(t, a)})
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].name < rs[j].name })
		var resources []any
		for _, x := range rs {
			resources = append(resources, x.json)
		}
		version := "<version>"
		if strings.HasPrefix(r.GetVersionInfo(), "test-eds-") {
			version = "<endpoint-version>"
		}
		out = append(out, map[string]any{"typeUrl": r.GetTypeUrl(), "versionInfo": version, "resources": resources})
	}
	return out
}

func stableJSON(t *testing.T, m proto.Message) any {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// golden compares got with testdata/name.golden.json, or rewrites it with -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sidecars/featuretests -update to create it)", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("responses differ from %s (rerun with -update if the change is intended):\n%s", path, diff(string(want), string(b)))
	}
}

// diff shows the first differing lines.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return ""
}
