// Package xds serves Envoy and proxyless gRPC configuration over the aggregated discovery
// service (ADS), state-of-the-world and delta, with ordered ADS responses.
//
// Listeners, routes and clusters live in a go-control-plane SnapshotCache keyed by node group;
// endpoints live in one LinearCache shared by all groups. Both carry a version prefix unique to
// the process start, so a restarted control plane never reuses a version a proxy already holds.
// Every configuration is checked before any of it is served: a failing configuration is counted
// and logged, and the last good one keeps serving. Updates are applied in the order the xDS
// protocol asks for (clusters, endpoints, listeners, routes, then removals), so a proxy never
// sees a route pointing to a cluster it does not know.
package xds

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/config"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/foresight-dev/foresight/sidecars/check"
)

// Config is the set of Envoy resources served to one node group.
type Config struct {
	// Listeners are *envoy_config_listener_v3.Listener.
	Listeners []types.Resource
	// Routes are *envoy_config_route_v3.RouteConfiguration.
	Routes []types.Resource
	// Clusters are *envoy_config_cluster_v3.Cluster.
	Clusters []types.Resource
	// Endpoints are *envoy_config_endpoint_v3.ClusterLoadAssignment; they are served from one
	// cache shared by all groups, so two groups must agree on an assignment of the same name,
	// and a group's nodes read only the assignments its own Config lists.
	Endpoints []types.Resource
}

// Options configure a Server.
type Options struct {
	// NodeGroup maps a connecting node to its node group; nodes without a group are refused.
	NodeGroup func(node *core.Node) (group string, ok bool)
	// Authorize, when set, decides whether a client may join its node group, given the
	// identities of its verified client certificate (CertificateIdentities: SPIFFE IDs, then
	// DNS names as dns:NAME), none without mutual TLS. Every
	// request is checked; a refused stream ends with PERMISSION_DENIED. Reconciler.Authorize
	// admits the identities the group lists.
	Authorize func(group string, identities []string) bool
	// Logger receives structured logs; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the server's metrics; a private registry when nil.
	Registerer prometheus.Registerer
	// VersionPrefix starts every served version; derived from the start time when empty.
	VersionPrefix string
	// OnNACK, when set, is called for every NACK after it is logged and counted.
	OnNACK func(NACK)
	// Keepalive are the server's keepalive parameters; DefaultKeepalive when zero.
	Keepalive keepalive.ServerParameters
	// KeepaliveEnforcement is the policy for client pings; DefaultKeepaliveEnforcement when zero.
	KeepaliveEnforcement keepalive.EnforcementPolicy
	// Limits bound what clients can make the server hold; DefaultLimits for each zero field.
	Limits Limits
	// Check says what the proxies accept beyond field validation (the largest RE2 program of
	// a regex); its zero value checks for Envoy's defaults. foresight-xds serve passes
	// --regex-program-size-limit.
	Check check.Options
	// ClusterWarmTimeout bounds how long a configuration that adds clusters waits for the
	// proxies to acknowledge them before its listeners and routes refer to them;
	// DefaultClusterWarmTimeout when zero, no wait when negative.
	ClusterWarmTimeout time.Duration
	// TLS, when set, serves ADS over TLS with this configuration (tlsfiles.Server.Config:
	// with a client CA bundle, only clients with a certificate of one of its CAs connect).
	// Nil serves plaintext: gateways' listeners carry their TLS private keys, so serve
	// plaintext only where nothing else can reach the port.
	TLS *tls.Config
}

// Limits bound the memory and work clients can claim from the server. A proxy needs one
// connection with one ADS stream; everything above that is refused, never queued.
type Limits struct {
	// MaxRecvMsgBytes bounds one message received from a client.
	MaxRecvMsgBytes int
	// MaxStreamsPerConnection bounds the concurrent streams of one connection (HTTP/2
	// SETTINGS_MAX_CONCURRENT_STREAMS).
	MaxStreamsPerConnection uint32
	// MaxConnections bounds the open connections: connections above it wait in the kernel's
	// accept queue until one closes.
	MaxConnections int
	// MaxStreams bounds the ADS streams open at once; one more is refused with
	// RESOURCE_EXHAUSTED.
	MaxStreams int
	// MaxConnectionsPerAddress bounds the open connections from one client IP address; a
	// connection over it is closed as soon as it is accepted, so one address cannot take
	// every place under MaxConnections.
	MaxConnectionsPerAddress int
	// MaxStreamsPerAddress bounds the ADS streams open at once from one client IP address;
	// one more is refused with RESOURCE_EXHAUSTED, so one address cannot take every place
	// under MaxStreams.
	MaxStreamsPerAddress int
	// MaxSubscribedBytes bounds the resource names all streams subscribe to, in bytes of names
	// and nameOverheadBytes for each (with the versions a delta stream says it holds), and
	// what the nodes they name hold in memory past 16 KiB each (nodeBytes); a request that
	// would pass it is refused with RESOURCE_EXHAUSTED.
	MaxSubscribedBytes int
	// HandshakeTimeout bounds the time a new connection may take to send its HTTP/2 preface.
	HandshakeTimeout time.Duration
	// FirstRequestTimeout bounds the time a new stream may take to send its first request
	// (which names its node); a stream that stays silent is ended with DEADLINE_EXCEEDED so
	// it cannot hold a place under MaxStreams.
	FirstRequestTimeout time.Duration
}

// DefaultLimits: 1 MiB messages (an Envoy subscribing to 10,000 clusters by name sends about
// 0.5 MB), 8 streams per connection, 4096 connections and streams, a quarter of them from one
// client address (the pods of a node on its host network share its address: a few hundred at
// most), 64 MiB of subscribed names, 10 s for the handshake and for a stream's first request.
var DefaultLimits = Limits{
	MaxRecvMsgBytes:          1 << 20,
	MaxStreamsPerConnection:  8,
	MaxConnections:           4096,
	MaxStreams:               4096,
	MaxConnectionsPerAddress: 1024,
	MaxStreamsPerAddress:     1024,
	MaxSubscribedBytes:       64 << 20,
	HandshakeTimeout:         10 * time.Second,
	FirstRequestTimeout:      10 * time.Second,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	positiveOr(&l.MaxRecvMsgBytes, d.MaxRecvMsgBytes)
	if l.MaxStreamsPerConnection == 0 {
		l.MaxStreamsPerConnection = d.MaxStreamsPerConnection
	}
	positiveOr(&l.MaxConnections, d.MaxConnections)
	positiveOr(&l.MaxStreams, d.MaxStreams)
	positiveOr(&l.MaxSubscribedBytes, d.MaxSubscribedBytes)
	positiveOr(&l.MaxConnectionsPerAddress, d.MaxConnectionsPerAddress)
	positiveOr(&l.MaxStreamsPerAddress, d.MaxStreamsPerAddress)
	positiveOr(&l.HandshakeTimeout, d.HandshakeTimeout)
	positiveOr(&l.FirstRequestTimeout, d.FirstRequestTimeout)
	return l
}

// positiveOr sets *v to d unless *v is positive.
func positiveOr[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// DefaultKeepalive pings idle proxies every 30 s, drops them 10 s after an unanswered ping,
// and closes a connection that had no stream for 5 minutes.
var DefaultKeepalive = keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, MaxConnectionIdle: 5 * time.Minute}

// DefaultKeepaliveEnforcement lets clients ping every 5 s, also without active streams.
var DefaultKeepaliveEnforcement = keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}

// typedSet is one resource type of one group: its items by name and their version.
type typedSet struct {
	version string
	items   map[string]types.Resource
}

// groupState is what one node group is served.
type groupState struct {
	listeners, routes, clusters typedSet
	// endpoints are the names of the endpoint assignments the group's clusters read: all its
	// nodes may read of the cache shared by all groups.
	endpoints nameSet
	// vanished marks the empty configuration of a group the policy no longer has, served
	// once to what still watches it; the next configuration drops the group.
	vanished bool
}

// Server is the xDS control plane: caches, ADS server, NACK tracking and metrics.
type Server struct {
	log       *slog.Logger
	metrics   *metrics
	prefix    string
	snapshots cachev3.SnapshotCache
	endpoints *cachev3.LinearCache
	xds       serverv3.Server
	callbacks *callbacks
	opts      Options
	byAddr    atomic.Pointer[addressLimitListener] // Serve's per-address connection limit

	mu        sync.Mutex // serializes updates
	groups    map[string]*groupState
	eds       map[string]types.Resource
	generated int
}

// nodeHash maps nodes to node groups for the SnapshotCache: a stream's node to the key its
// request was taken under (callbacks.keys), so that its watch is of the group the request was
// admitted to, whatever the grouping a moment later; another node (none is, once the
// callbacks took its request) by group.
type nodeHash struct {
	group func(*core.Node) (string, bool)
	keys  *sync.Map
}

// noGroup is the cache key of the nodes in no group: its configuration is empty. A stream's
// first request is refused when its node is in no group; a later one (the node's group
// disappeared, or no longer selects it, just before it asked) is served the empty
// configuration, which takes what it had away. Group names are never empty.
const noGroup = ""

// ID implements cache.NodeHash.
func (h nodeHash) ID(node *core.Node) string {
	if key, ok := h.keys.Load(node); ok {
		return key.(string)
	}
	g, ok := h.group(node)
	if !ok {
		return noGroup
	}
	return g
}

// New builds a Server; ctx bounds the lifetime of every stream it serves.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.NodeGroup == nil {
		return nil, errors.New("xds: Options.NodeGroup is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.VersionPrefix == "" {
		opts.VersionPrefix = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if opts.Keepalive == (keepalive.ServerParameters{}) {
		opts.Keepalive = DefaultKeepalive
	}
	if opts.KeepaliveEnforcement == (keepalive.EnforcementPolicy{}) {
		opts.KeepaliveEnforcement = DefaultKeepaliveEnforcement
	}
	opts.Limits = opts.Limits.withDefaults()
	if opts.ClusterWarmTimeout == 0 {
		opts.ClusterWarmTimeout = DefaultClusterWarmTimeout
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("xds: register metrics: %w", err)
	}
	s := &Server{
		log:     opts.Logger,
		metrics: m,
		prefix:  opts.VersionPrefix,
		opts:    opts,
		groups:  map[string]*groupState{},
		eds:     map[string]types.Resource{},
	}
	s.callbacks = newCallbacks(opts.Logger, m, opts.NodeGroup, opts.Authorize, opts.OnNACK, opts.Limits)
	// The snapshot cache runs in non-ADS mode: in ADS mode it withholds a response until every
	// resource of the type in the snapshot was requested, which starves proxyless gRPC clients
	// that watch only the listeners of the targets they dial. Ordering is kept by Update's
	// staged snapshots and by the ordered ADS server.
	s.snapshots = cachev3.NewSnapshotCache(false, nodeHash{group: opts.NodeGroup, keys: s.callbacks.keys}, cacheLogger{opts.Logger})
	var none groupState
	none.listeners.version, none.routes.version, none.clusters.version = s.version(nil), s.version(nil), s.version(nil)
	if err := s.snapshots.SetSnapshot(ctx, noGroup, snapshotOf(none.listeners, none.routes, none.clusters)); err != nil {
		return nil, fmt.Errorf("set the empty snapshot of nodes in no group: %w", err)
	}
	s.endpoints = cachev3.NewLinearCache(resourcev3.EndpointType,
		cachev3.WithVersionPrefix(opts.VersionPrefix+"-eds-"), cachev3.WithLogger(cacheLogger{opts.Logger}))
	mux := &cachev3.MuxCache{
		Classify: func(r *cachev3.Request) string { return classify(r.GetTypeUrl()) },
		ClassifyDelta: func(r *cachev3.DeltaRequest) string {
			return classify(r.GetTypeUrl())
		},
		Caches: map[string]cachev3.Cache{"snapshot": resubscribing{s.snapshots}, "endpoints": resubscribing{s.endpoints},
			"unserved": &unservedCache{log: opts.Logger, requests: m.unserved}},
	}
	// Routes and endpoints are asked for by name: an empty first request for them is no
	// wildcard (the protocol's legacy wildcard is for listeners and clusters), which would
	// hand a node every group's endpoints.
	s.xds = serverv3.NewServer(ctx, mux, s.callbacks, sotw.WithOrderedADS(), config.DeactivateLegacyWildcardForTypes(noWildcardTypes))
	return s, nil
}

func classify(typeURL string) string {
	switch typeURL {
	case resourcev3.EndpointType:
		return "endpoints"
	case resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType:
		return "snapshot"
	default:
		return "unserved"
	}
}

// VersionPrefix is the prefix of every version this server hands out.
func (s *Server) VersionPrefix() string { return s.prefix }

// Register adds the aggregated discovery service (state-of-the-world and delta) to g.
func (s *Server) Register(g *grpc.Server) {
	discovery.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// NewGRPCServer returns a gRPC server with the keepalive policy, the message, stream and
// handshake limits, TLS when Options.TLS is set, and the ADS service registered.
func (s *Server) NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	l := s.opts.Limits
	if s.opts.TLS != nil {
		extra = append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(s.opts.TLS))}, extra...)
	}
	opts := append([]grpc.ServerOption{
		grpc.KeepaliveParams(s.opts.Keepalive),
		grpc.KeepaliveEnforcementPolicy(s.opts.KeepaliveEnforcement),
		grpc.MaxRecvMsgSize(l.MaxRecvMsgBytes),
		grpc.MaxConcurrentStreams(l.MaxStreamsPerConnection),
		grpc.ConnectionTimeout(l.HandshakeTimeout),
		grpc.ChainStreamInterceptor(guardStreams(l.FirstRequestTimeout)),
	}, extra...)
	g := grpc.NewServer(opts...)
	s.Register(g)
	return g
}

// Serve serves ADS on lis until ctx ends, then stops gracefully (at most 5 s). At most
// Limits.MaxConnections connections are open at once, and Limits.MaxConnectionsPerAddress
// from one client address.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	g := s.NewGRPCServer()
	byAddr := newAddressLimitListener(lis, s.opts.Limits.MaxConnectionsPerAddress, s.metrics.connsRefused, s.log)
	s.byAddr.Store(byAddr)
	lis = netutil.LimitListener(byAddr, s.opts.Limits.MaxConnections)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		stopped := make(chan struct{})
		go func() { g.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			g.Stop()
		}
	}()
	s.log.Info("xds server listening", "address", lis.Addr().String(), "tls", s.opts.TLS != nil, "version_prefix", s.prefix)
	err := g.Serve(lis)
	<-done
	if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("xds: serve %s: %w", lis.Addr(), err)
	}
	return nil
}

// ErrRejected wraps every error of a configuration that was refused.
var ErrRejected = errors.New("configuration rejected")

// Apply checks configs (one per node group) and, when every check passes, serves them. A
// failing configuration is not served at all: it is counted in
// foresight_xds_snapshots_rejected_total, logged, and the last good configuration stays.
func (s *Server) Apply(ctx context.Context, configs map[string]Config) error {
	next, eds, err := s.prepare(configs)
	if err != nil {
		return s.reject(err)
	}
	return s.serve(ctx, &checked{groups: next, eds: eds})
}

// rejected wraps the error of a configuration that failed a check in ErrRejected; it counts
// and logs nothing (a dry run's refusal is not a rejected configuration).
func rejected(err error) error { return fmt.Errorf("%w: %w", ErrRejected, err) }

// reject refuses a configuration that failed a check: see refused.
func (s *Server) reject(err error) error { return s.refused(rejected(err)) }

// refused counts a configuration that was not served in foresight_xds_snapshots_rejected_total
// and logs it; err is the rejection (it wraps ErrRejected), returned as it is.
func (s *Server) refused(err error) error {
	s.metrics.snapshotsRejected.Inc()
	s.log.Error("configuration rejected; the last good configuration keeps serving", "error", err)
	return err
}

// prepare validates configs and indexes them; nothing is served yet.
func (s *Server) prepare(configs map[string]Config) (map[string]*groupState, map[string]types.Resource, error) {
	next := make(map[string]*groupState, len(configs))
	eds := map[string]types.Resource{}
	edsOwner := map[string]string{}
	for _, group := range slices.Sorted(maps.Keys(configs)) {
		c := configs[group]
		if group == "" {
			return nil, nil, errors.New("empty node group name")
		}
		var g groupState
		var err error
		if g.listeners.items, err = index(group, resourcev3.ListenerType, c.Listeners); err != nil {
			return nil, nil, err
		}
		if g.routes.items, err = index(group, resourcev3.RouteType, c.Routes); err != nil {
			return nil, nil, err
		}
		if g.clusters.items, err = index(group, resourcev3.ClusterType, c.Clusters); err != nil {
			return nil, nil, err
		}
		ge, err := index(group, resourcev3.EndpointType, c.Endpoints)
		if err != nil {
			return nil, nil, err
		}
		g.endpoints = make(nameSet, len(ge))
		for name, r := range ge {
			g.endpoints[name] = struct{}{}
			if prev, ok := eds[name]; ok && !proto.Equal(prev, r) {
				return nil, nil, fmt.Errorf("endpoints %q differ between node groups %q and %q", name, edsOwner[name], group)
			}
			eds[name] = r
			edsOwner[name] = group
		}
		g.listeners.version = s.version(g.listeners.items)
		g.routes.version = s.version(g.routes.items)
		g.clusters.version = s.version(g.clusters.items)
		next[group] = &g
	}
	return next, eds, nil
}

// validator is implemented by every Envoy resource (protoc-gen-validate).
type validator interface{ ValidateAll() error }

// index validates resources of one type and indexes them by name.
func index(group, typeURL string, resources []types.Resource) (map[string]types.Resource, error) {
	out := make(map[string]types.Resource, len(resources))
	for i, r := range resources {
		if r == nil {
			return nil, fmt.Errorf("group %q: %s #%d is nil", group, typeLabel(typeURL), i)
		}
		if got := string(r.ProtoReflect().Descriptor().FullName()); resourcev3.APITypePrefix+got != typeURL {
			return nil, fmt.Errorf("group %q: %s #%d has type %s", group, typeLabel(typeURL), i, got)
		}
		name := cachev3.GetResourceName(r)
		if name == "" {
			return nil, fmt.Errorf("group %q: %s #%d has no name", group, typeLabel(typeURL), i)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("group %q: duplicate %s %q", group, typeLabel(typeURL), name)
		}
		if v, ok := r.(validator); ok {
			if err := v.ValidateAll(); err != nil {
				return nil, fmt.Errorf("group %q: %s %q: %w", group, typeLabel(typeURL), name, err)
			}
		}
		out[name] = r
	}
	return out, nil
}

// version is the process prefix plus a hash of the resources' deterministic encoding, so the
// same content keeps its version (no needless pushes) and a restart changes every version.
func (s *Server) version(items map[string]types.Resource) string {
	h := fnv.New64a()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, name := range slices.Sorted(maps.Keys(items)) {
		b, err := opts.Marshal(items[name])
		if err != nil { // cannot happen for valid messages; make the version unique instead
			b = []byte(fmt.Sprintf("%p", items[name]))
		}
		_, _ = h.Write([]byte(name))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write(b)
		_, _ = h.Write([]byte{0})
	}
	return s.prefix + "-" + strconv.FormatUint(h.Sum64(), 36)
}

func (s *Server) union(old, next typedSet) typedSet {
	if old.items == nil {
		return next
	}
	merged := make(map[string]types.Resource, len(old.items)+len(next.items))
	for n, r := range old.items {
		merged[n] = r
	}
	removed := false
	for n := range old.items {
		if _, ok := next.items[n]; !ok {
			removed = true
		}
	}
	if !removed {
		return next
	}
	for n, r := range next.items {
		merged[n] = r
	}
	return typedSet{version: s.version(merged), items: merged}
}

func snapshotOf(l, r, c typedSet) *cachev3.Snapshot {
	snap := &cachev3.Snapshot{}
	set := func(typeURL string, t typedSet) {
		items := make([]types.Resource, 0, len(t.items))
		for _, it := range t.items {
			items = append(items, it)
		}
		snap.Resources[cachev3.GetResponseType(typeURL)] = cachev3.NewResources(t.version, items)
	}
	set(resourcev3.ListenerType, l)
	set(resourcev3.RouteType, r)
	set(resourcev3.ClusterType, c)
	return snap
}

// serve installs a checked configuration in protocol order: clusters (old and new), then
// endpoints, listeners, routes, and finally the removal of clusters and endpoints no longer
// used (the endpoints of new clusters are in place before the clusters, unread until then). Where clusters are added, the proxies of their groups have them warmed (with their
// endpoints) before listeners and routes refer to them (warmNewClusters).
func (s *Server) serve(ctx context.Context, c *checked) error {
	next, eds := c.groups, c.eds
	s.mu.Lock()
	defer s.mu.Unlock()
	var drop []string
	for g, st := range s.groups {
		if _, ok := next[g]; ok {
			continue
		}
		if st.vanished { // served empty already: dropped
			drop = append(drop, g)
			continue
		}
		// A group that disappeared is served an empty configuration, once.
		empty := &groupState{vanished: true}
		empty.listeners.version = s.version(nil)
		empty.routes.version = s.version(nil)
		empty.clusters.version = s.version(nil)
		next[g] = empty
	}
	names := slices.Sorted(maps.Keys(next))
	old := func(g string) *groupState {
		if o, ok := s.groups[g]; ok {
			return o
		}
		return &groupState{} // versions "" answer no watch: nothing is sent before its stage
	}
	set := func(g string, l, r, c typedSet) error {
		if err := s.snapshots.SetSnapshot(ctx, g, snapshotOf(l, r, c)); err != nil {
			return fmt.Errorf("set snapshot of group %q: %w", g, err)
		}
		return nil
	}
	// The endpoints of clusters the configuration adds, which nothing reads yet, go first: a
	// proxy asks for them as soon as it has the clusters.
	added, changed := map[string]types.Resource{}, map[string]types.Resource{}
	var removed []string
	for name, r := range eds {
		if prev, ok := s.eds[name]; !ok {
			added[name] = r
		} else if !proto.Equal(prev, r) {
			changed[name] = r
		}
	}
	for name := range s.eds {
		if _, ok := eds[name]; !ok {
			removed = append(removed, name)
		}
	}
	if len(added) > 0 {
		if err := s.endpoints.UpdateResources(added, nil); err != nil {
			return fmt.Errorf("add endpoints: %w", err)
		}
	}
	// 1. clusters: new and changed ones, keeping removed ones for now. While the proxies warm
	// the new ones, each group may read the endpoints of its old and new clusters.
	clusters := make(map[string]typedSet, len(names))
	warm := map[string]string{} // the groups that gain clusters, to their clusters' version
	for _, g := range names {
		o, n := old(g), next[g]
		clusters[g] = s.union(o.clusters, n.clusters)
		if o.clusters.items != nil && gains(o.clusters.items, n.clusters.items) {
			warm[g] = clusters[g].version
		}
	}
	var inSync map[*streamState]string
	if len(warm) > 0 && s.opts.ClusterWarmTimeout > 0 {
		widened := make(map[string]*groupState, len(names))
		for _, g := range names {
			widened[g] = &groupState{endpoints: old(g).endpoints.with(next[g].endpoints)}
		}
		s.callbacks.scope.set(widened)
		inSync = s.callbacks.inSync(warm, resourcev3.ClusterType)
	}
	for _, g := range names {
		o := old(g)
		if err := set(g, o.listeners, o.routes, clusters[g]); err != nil {
			return err
		}
	}
	// 2. endpoints that changed.
	if len(changed) > 0 {
		if err := s.endpoints.UpdateResources(changed, nil); err != nil {
			return fmt.Errorf("update endpoints: %w", err)
		}
	}
	s.warmNewClusters(ctx, inSync)
	// 3. listeners (routes unchanged); 4. routes; 5. cluster removals.
	for _, g := range names {
		o, n := old(g), next[g]
		if err := set(g, n.listeners, o.routes, clusters[g]); err != nil {
			return err
		}
	}
	for _, g := range names {
		n := next[g]
		if err := set(g, n.listeners, n.routes, clusters[g]); err != nil {
			return err
		}
	}
	for _, g := range names {
		n := next[g]
		if err := set(g, n.listeners, n.routes, n.clusters); err != nil {
			return err
		}
	}
	if len(removed) > 0 {
		if err := s.endpoints.UpdateResources(nil, removed); err != nil {
			return fmt.Errorf("remove endpoints: %w", err)
		}
	}
	s.groups = next
	s.callbacks.scope.set(next)
	s.callbacks.regained()
	for _, g := range drop {
		s.snapshots.ClearSnapshot(g)
	}
	s.eds = eds
	s.generated++
	s.recordSize()
	s.log.Info("configuration served", "groups", len(next), "generation", s.generated, "endpoints", len(eds))
	return nil
}

// recordSize updates the snapshot gauges; called with s.mu held.
func (s *Server) recordSize() {
	count := map[string]map[string]struct{}{"listener": {}, "route": {}, "cluster": {}}
	bytes := 0
	for _, g := range s.groups {
		for label, t := range map[string]typedSet{"listener": g.listeners, "route": g.routes, "cluster": g.clusters} {
			for name, r := range t.items {
				count[label][name] = struct{}{}
				bytes += proto.Size(r)
			}
		}
	}
	for label, names := range count {
		s.metrics.snapshotRes.WithLabelValues(label).Set(float64(len(names)))
	}
	for _, r := range s.eds {
		bytes += proto.Size(r)
	}
	s.metrics.snapshotRes.WithLabelValues("endpoint").Set(float64(len(s.eds)))
	s.metrics.snapshotBytes.Set(float64(bytes))
}

// Served returns the names of the resources each group is currently served, by type label
// (listener, route, cluster), and the endpoint names; for tests and debugging.
func (s *Server) Served() (groups map[string]map[string][]string, endpoints []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	groups = map[string]map[string][]string{}
	for g, st := range s.groups {
		groups[g] = map[string][]string{
			"listener": slices.Sorted(maps.Keys(st.listeners.items)),
			"route":    slices.Sorted(maps.Keys(st.routes.items)),
			"cluster":  slices.Sorted(maps.Keys(st.clusters.items)),
		}
	}
	return groups, slices.Sorted(maps.Keys(s.eds))
}

// guardStreams ends a stream whose first message does not arrive within timeout, and a stream
// the server revokes (its streamRevoker, in the stream's context): the interceptor returns
// DEADLINE_EXCEEDED or the revocation's error, gRPC ends the stream, and the ADS handler,
// whose reads then fail, returns and releases the stream's state.
func guardStreams(timeout time.Duration) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		rev := &streamRevoker{revoked: make(chan struct{})}
		g := &silentStreamGuard{ServerStream: ss, ctx: context.WithValue(ss.Context(), revokerKey{}, rev), rev: rev}
		expired := make(chan struct{})
		timer := time.AfterFunc(timeout, func() {
			if g.state.CompareAndSwap(streamWaiting, streamExpired) {
				close(expired)
			}
		})
		defer timer.Stop()
		done := make(chan error, 1)
		go func() { done <- handler(srv, g) }()
		select {
		case err := <-done:
			return err
		case <-expired:
			return status.Errorf(codes.DeadlineExceeded, "no discovery request within %v of opening the stream", timeout)
		case <-rev.revoked:
			return rev.err
		}
	}
}

// revokerKey is the context key of a stream's streamRevoker.
type revokerKey struct{}

// streamRevoker ends one stream from outside its handler.
type streamRevoker struct {
	once    sync.Once
	err     error
	revoked chan struct{}
}

// revoke ends the stream with err (the first call's; later calls do nothing).
func (r *streamRevoker) revoke(err error) {
	r.once.Do(func() { r.err = err; close(r.revoked) })
}

// revokerOf is the streamRevoker of a stream's context, nil when it has none.
func revokerOf(ctx context.Context) *streamRevoker {
	r, _ := ctx.Value(revokerKey{}).(*streamRevoker)
	return r
}

// States of a silentStreamGuard.
const (
	streamWaiting int32 = iota
	streamSpoke
	streamExpired
)

// silentStreamGuard is a stream that has until its first-request timer fires to speak: state
// moves once, from streamWaiting to streamSpoke or streamExpired. A message arriving after
// the timer fired is not handed on.
type silentStreamGuard struct {
	grpc.ServerStream
	ctx   context.Context // the stream's, with its streamRevoker
	rev   *streamRevoker
	state atomic.Int32
}

// Context is the stream's context, carrying its streamRevoker.
func (g *silentStreamGuard) Context() context.Context { return g.ctx }

// SendMsg sends m unless the stream was revoked: the handler may still be answering a watch
// when the revocation ends the stream, and a revoked stream's proxy must get nothing more
// (not its old group's configuration, nor the empty one of a group that disappeared).
func (g *silentStreamGuard) SendMsg(m any) error {
	select {
	case <-g.rev.revoked:
		return g.rev.err
	default:
	}
	return g.ServerStream.SendMsg(m)
}

func (g *silentStreamGuard) RecvMsg(m any) error {
	if err := g.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if !g.state.CompareAndSwap(streamWaiting, streamSpoke) && g.state.Load() == streamExpired {
		return status.Error(codes.DeadlineExceeded, "stream ended: no discovery request in time")
	}
	return nil
}
