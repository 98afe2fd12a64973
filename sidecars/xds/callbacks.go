package xds

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foresight-dev/foresight/internal/clip"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Proxy kinds, the values of the kind label of foresight_xds_connected_proxies.
const (
	KindSidecar = "sidecar"
	KindGateway = "gateway"
	KindGRPC    = "grpc"
)

// RoleMetadataKey is the node metadata field naming a proxy's role; the bootstraps printed by
// foresight-xds set it to "sidecar" or "gateway".
const RoleMetadataKey = "foresight.dev/role"

// ProxyKind classifies a node: proxyless gRPC clients by their user agent, gateways by the role
// metadata field, everything else as a sidecar.
func ProxyKind(node *core.Node) string {
	if strings.HasPrefix(strings.ToLower(node.GetUserAgentName()), "grpc") {
		return KindGRPC
	}
	if f := node.GetMetadata().GetFields()[RoleMetadataKey]; f != nil && f.GetStringValue() == KindGateway {
		return KindGateway
	}
	return KindSidecar
}

// typeLabel maps a type URL to the type label of the metrics.
func typeLabel(typeURL string) string {
	switch typeURL {
	case resourcev3.ListenerType:
		return "listener"
	case resourcev3.RouteType:
		return "route"
	case resourcev3.ClusterType:
		return "cluster"
	case resourcev3.EndpointType:
		return "endpoint"
	default:
		return "other"
	}
}

// sentResponse is a response awaiting its ACK or NACK.
type sentResponse struct {
	nonce   string
	version string
	sent    time.Time
}

// streamState is what the callbacks know about one ADS stream.
type streamState struct {
	addr string // client IP address ("" when unknown)
	// identities are the SPIFFE IDs and DNS names of the client's verified certificate (none without
	// mutual TLS); they do not change while the stream lives.
	identities []string
	// revoker ends the stream from outside (nil when the stream has no guard).
	revoker *streamRevoker
	node    *core.Node
	kind    string
	// group is the node group the node was in when the stream began: the key of its watches.
	group   string
	pending map[string]sentResponse // by type URL
	// answered is the version of the last response of each type the client answered (ACK
	// or NACK), by type URL.
	answered map[string]string
	// ended says the stream ended.
	ended bool
	// keyed is the node whose watches keys holds the group of (the node the stream last named).
	keyed *core.Node
	// wildcard says, by type URL, whether a delta stream subscribes to every resource of the
	// type, as go-control-plane decides it: a first request naming none (for listeners and
	// clusters), or "*" subscribed and not unsubscribed since.
	wildcard map[string]bool
	// initial is what a delta stream's initial resource versions cost of the budget, by type
	// URL, until the type's first response replaces them.
	initial map[string]int
	// lagging says the stream did not answer clusters it was sent within a warm wait: later
	// waits leave it out until it answers a cluster response again (warmNewClusters).
	lagging bool
	// lastNonce is the nonce of the last response sent, by type URL, until a request is
	// taken: a state of the world request carrying another is stale, and go-control-plane
	// ignores it.
	lastNonce map[string]string
	// subscribed is the bytes of resource names the stream subscribes to, by type URL (with a
	// delta stream's initial resource versions of the type).
	subscribed map[string]int
	// nodeBytes is what the node the stream last named holds in memory (nodeBytes) past
	// freeNodeBytes, charged to the subscription budget as its names are.
	nodeBytes int
	// deltaNames are the names a delta stream subscribes to, by type URL (a state of the
	// world request names them all each time).
	deltaNames map[string]map[string]struct{}
	// withheld are the endpoint names the stream asked for that its group may not read: left
	// out of its subscription, they are the ones it would miss should its group gain them.
	withheld nameSet
}

func newStreamState() *streamState {
	return &streamState{pending: map[string]sentResponse{}, answered: map[string]string{}, lastNonce: map[string]string{}, subscribed: map[string]int{},
		deltaNames: map[string]map[string]struct{}{}, wildcard: map[string]bool{}, initial: map[string]int{}}
}

// maxNACKNodes bounds the node label values of foresight_xds_nacks_total; NACKs of further
// nodes are counted under otherNodes. maxLabelBytes bounds one label value.
const (
	maxNACKNodes  = 1000
	otherNodes    = "_other"
	maxLabelBytes = 128
)

// NACK describes one rejected response, as reported to Options.OnNACK.
type NACK struct {
	// NodeID is the rejecting node's id.
	NodeID string
	// Group is the node group the node belongs to.
	Group string
	// TypeURL is the rejected resource type.
	TypeURL string
	// Version is the version the node still runs (the last one it accepted).
	Version string
	// Nonce is the nonce of the rejected response.
	Nonce string
	// Message is the node's error_detail message.
	Message string
}

// callbacks implements server.Callbacks: stream accounting and limits, ACK latency and NACK
// detection.
type callbacks struct {
	log     *slog.Logger
	metrics *metrics
	group   func(*core.Node) (string, bool)
	// authorize, when set, says whether a client with these identities may join a group.
	authorize func(group string, identities []string) bool
	onNACK    func(NACK)
	limits    Limits
	now       func() time.Time

	acks atomic.Int64 // ACKs received, for benchmarks and tests

	mu         sync.Mutex
	sotw       map[int64]*streamState
	delta      map[int64]*streamState
	byAddr     map[string]int      // open streams by client address
	subscribed int                 // bytes of resource names over all streams
	nackNodes  map[string]struct{} // node label values in use
	// answers is closed, and replaced, when a stream answers a response or ends
	// (awaitAnswers waits on it).
	answers  chan struct{}
	refusals logGate // the logs of refused streams
	withheld logGate // the logs of endpoint names left out of subscriptions

	// scope is the endpoint assignments each node group may read.
	scope endpointScope
	// keys is the cache key (node group, or noGroup) each stream's latest request was taken
	// under, by the node the cache sees on it: its watches are keyed by the group it was
	// admitted to (nodeHash), not by the grouping of a moment later.
	keys *sync.Map
}

func newCallbacks(log *slog.Logger, m *metrics, group func(*core.Node) (string, bool), authorize func(string, []string) bool, onNACK func(NACK), limits Limits) *callbacks {
	return &callbacks{
		log: log, metrics: m, group: group, authorize: authorize, onNACK: onNACK, limits: limits.withDefaults(), now: time.Now,
		sotw: map[int64]*streamState{}, delta: map[int64]*streamState{}, byAddr: map[string]int{}, nackNodes: map[string]struct{}{},
		answers: make(chan struct{}), keys: &sync.Map{},
	}
}

// refuse counts a refused stream and logs it unless another refusal was logged less than
// refusalLogInterval ago; err is returned to the client.
func (c *callbacks) refuse(reason string, err error, attrs ...any) error {
	c.metrics.refused.WithLabelValues(reason).Inc()
	if c.refusals.due(c.now()) {
		c.log.Warn("stream refused (further refusals within "+refusalLogInterval.String()+" are only counted)",
			append([]any{"reason", reason, "error", err}, attrs...)...)
	}
	return err
}

func (c *callbacks) open(ctx context.Context, streams map[int64]*streamState, id int64) error {
	addr := peerAddress(ctx)
	c.mu.Lock()
	full := len(c.sotw)+len(c.delta) >= c.limits.MaxStreams
	addrFull := !full && addr != "" && c.byAddr[addr] >= c.limits.MaxStreamsPerAddress
	if !full && !addrFull {
		st := newStreamState()
		st.addr = addr
		st.identities = peerIdentities(ctx)
		st.revoker = revokerOf(ctx)
		streams[id] = st
		if addr != "" {
			c.byAddr[addr]++
		}
	}
	c.mu.Unlock()
	switch {
	case full:
		return c.refuse("stream_limit", status.Errorf(codes.ResourceExhausted, "the control plane serves at most %d streams at once", c.limits.MaxStreams), "stream", id)
	case addrFull:
		return c.refuse("address_stream_limit", status.Errorf(codes.ResourceExhausted, "the control plane serves at most %d streams at once from one address", c.limits.MaxStreamsPerAddress),
			"address", addr, "stream", id)
	}
	return nil
}

func (c *callbacks) closed(streams map[int64]*streamState, id int64) {
	c.mu.Lock()
	st := streams[id]
	delete(streams, id)
	if st != nil {
		for _, n := range st.subscribed {
			c.subscribed -= n
		}
		c.subscribed -= st.nodeBytes
		for _, n := range st.initial {
			c.subscribed -= n
		}
		if st.keyed != nil {
			c.keys.Delete(st.keyed)
		}
		st.ended = true
		c.signalAnswer()
		if st.addr != "" {
			if c.byAddr[st.addr]--; c.byAddr[st.addr] <= 0 {
				delete(c.byAddr, st.addr)
			}
		}
	}
	c.mu.Unlock()
	if st != nil && st.node != nil {
		c.metrics.connected.WithLabelValues(st.kind).Dec()
		c.log.Info("proxy disconnected", "node", st.node.GetId(), "kind", st.kind, "stream", id)
	}
}

// subscription is the change a request makes to a stream's subscribed names of one type:
// state of the world replaces them (names), delta adds and removes, and names on its first
// request of the type the versions the client holds (initial), which the stream keeps too.
type subscription struct {
	delta      bool
	names      []string
	unsubNames []string
	initial    map[string]string
}

// nameOverheadBytes is what a subscribed name costs besides its bytes: the map entries that
// hold it (go-control-plane's subscription, a delta stream's set), so that short names cannot
// hold more memory than long ones per byte of the budget.
const nameOverheadBytes = 64

// A stream asks for at most maxStreamTypes resource types, each named by a type URL of at
// most maxTypeURLBytes: a client asks for a handful (listeners, routes, clusters,
// endpoints, secrets, runtime ...), each a few dozen bytes, and every type a stream asks for
// holds a watch while it lives.
const (
	maxStreamTypes  = 16
	maxTypeURLBytes = 256
)

// noWildcardTypes are the types whose resources are only ever asked for by name: the
// protocol's wildcard subscriptions are for listeners and clusters.
var noWildcardTypes = []string{resourcev3.RouteType, resourcev3.EndpointType}

// A stream holds the node it last named while it lives. A proxy's node is its id, cluster, a
// few dozen metadata fields and its features: a few kilobytes. What one holds in memory
// (nodeBytes) is at most maxNodeBytes; its first freeNodeBytes come with the stream's place
// under Limits.MaxStreams, and the rest is charged to the subscription budget.
const (
	maxNodeBytes  = 256 << 10
	freeNodeBytes = 16 << 10
)

// nodeBytes is what a node holds in memory once decoded: its encoded bytes and, for each
// value, list element and map entry in it, nameOverheadBytes (a metadata field of one byte,
// a map entry and a value, takes about 130 bytes once decoded).
func nodeBytes(node *core.Node) int {
	values := 0
	var count func(m protoreflect.Message)
	count = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList():
				l := v.List()
				values += l.Len()
				if fd.Message() != nil {
					for i := range l.Len() {
						count(l.Get(i).Message())
					}
				}
			case fd.IsMap():
				values += v.Map().Len()
				if fd.MapValue().Message() != nil {
					v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
						count(e.Message())
						return true
					})
				}
			default:
				values++
				if fd.Message() != nil {
					count(v.Message())
				}
			}
			return true
		})
	}
	count(node.ProtoReflect())
	return proto.Size(node) + nameOverheadBytes*values
}

// versionsBytes is what a delta stream's initial resource versions cost of the subscription
// budget: the stream keeps them as the versions the client holds.
func versionsBytes(versions map[string]string) int {
	n := 0
	for k, v := range versions {
		n += len(k) + len(v) + nameOverheadBytes
	}
	return n
}

// namesBytes is what names cost of the subscription budget.
func namesBytes(names []string) int {
	n := 0
	for _, s := range names {
		n += len(s) + nameOverheadBytes
	}
	return n
}

// subscribe updates the subscribed bytes of st for typeURL; it refuses a request that would
// take all streams past Limits.MaxSubscribedBytes. A delta request changes the set of names
// subscribed: a name subscribed again, or unsubscribed while not subscribed, changes
// nothing. Called with c.mu held.
func (c *callbacks) subscribe(st *streamState, typeURL string, sub subscription) bool {
	old, known := st.subscribed[typeURL]
	next := namesBytes(sub.names)
	initial := 0                // a delta stream's initial versions, on its first request of the type
	var changes map[string]bool // delta: true subscribes a name, false unsubscribes it
	if sub.delta {
		// Subscriptions first, then unsubscriptions, as go-control-plane applies them: a
		// name in both ends unsubscribed.
		set := st.deltaNames[typeURL]
		next, changes = old, map[string]bool{}
		if !known {
			initial = versionsBytes(sub.initial)
		}
		for _, n := range sub.names {
			if _, in := set[n]; !in && !changes[n] {
				changes[n] = true
				next += len(n) + nameOverheadBytes
			}
		}
		for _, n := range sub.unsubNames {
			_, in := set[n]
			switch add, seen := changes[n]; {
			case seen && add: // subscribed above: it does not stay
				delete(changes, n)
				next -= len(n) + nameOverheadBytes
			case !seen && in:
				changes[n] = false
				next -= len(n) + nameOverheadBytes
			}
		}
	}
	if need := next - old + initial; need > 0 && c.subscribed+need > c.limits.MaxSubscribedBytes {
		return false
	}
	if sub.delta {
		// As go-control-plane decides it: the legacy wildcard of an empty first request for
		// listeners or clusters, then "*" subscribed or unsubscribed.
		wildcard := !known && len(sub.names) == 0 && !slices.Contains(noWildcardTypes, typeURL) || st.wildcard[typeURL]
		if slices.Contains(sub.names, "*") {
			wildcard = true
		}
		if slices.Contains(sub.unsubNames, "*") {
			wildcard = false
		}
		st.wildcard[typeURL] = wildcard
	}
	if initial > 0 {
		st.initial[typeURL] = initial
		c.subscribed += initial
	}
	if len(changes) > 0 {
		set := st.deltaNames[typeURL]
		if set == nil {
			set = map[string]struct{}{}
			st.deltaNames[typeURL] = set
		}
		for n, add := range changes {
			if add {
				set[n] = struct{}{}
			} else {
				delete(set, n)
			}
		}
	}
	c.subscribed += next - old
	st.subscribed[typeURL] = next
	return true
}

// holdNode charges the node a request names (cost bytes past freeNodeBytes, in place of the
// one it named before) to the subscription budget, or refuses it where the budget has no room for it.
// Called with c.mu held.
func (c *callbacks) holdNode(st *streamState, cost int) bool {
	if cost > st.nodeBytes && c.subscribed-st.nodeBytes+cost > c.limits.MaxSubscribedBytes {
		return false
	}
	c.subscribed += cost - st.nodeBytes
	st.nodeBytes = cost
	return true
}

// request handles a request on a stream: registers the node on its first request, rejects
// nodes without a node group and subscriptions past the budget, leaves out of sub the
// endpoint names the node's group may not read, and classifies the request as ACK or NACK
// of a pending response. For a NACK it returns the version the client rejected.
func (c *callbacks) request(streams map[int64]*streamState, id int64, node *core.Node, typeURL, nonce, version string, sub *subscription, errDetail interface{ GetMessage() string }, hasErr bool) (rejected string, err error) {
	c.mu.Lock()
	st := streams[id]
	if st == nil {
		st = newStreamState()
		streams[id] = st
	}
	if node != nil && st.node != nil && !sameNode(node, st.node) {
		c.mu.Unlock()
		// go-control-plane would serve the stream by the latest node, while its checks were
		// the first's: a stream is one proxy's.
		return "", c.refuse("node_changed", status.Errorf(codes.InvalidArgument, "a stream serves one node: node %q (cluster %q) follows node %q (cluster %q)",
			clipLabel(node.GetId()), clipLabel(node.GetCluster()), clipLabel(st.node.GetId()), clipLabel(st.node.GetCluster())), "stream", id)
	}
	named := node != nil
	if node == nil {
		node = st.node
	}
	if node == nil {
		// The first request of a stream names its node; without one it is in no group.
		node = &core.Node{}
	}
	first := st.node == nil
	identities := st.identities
	_, known := st.subscribed[typeURL]
	types := len(st.subscribed)
	// A state of the world request whose nonce is not that of the last response of its
	// type is stale: go-control-plane ignores it, and so does the subscription budget.
	last, sent := st.lastNonce[typeURL]
	stale := !sub.delta && sent && last != "" && nonce != last
	c.mu.Unlock()

	nodeCost := 0
	if named {
		nodeCost = nodeBytes(node)
	}
	switch {
	case nodeCost > maxNodeBytes:
		return "", c.refuse("node_size", status.Errorf(codes.InvalidArgument, "node %q holds about %d bytes in memory: at most %d", clipLabel(node.GetId()), nodeCost, maxNodeBytes), "stream", id)
	case len(typeURL) > maxTypeURLBytes:
		return "", c.refuse("type_url", status.Errorf(codes.InvalidArgument, "type URL of %d bytes: at most %d", len(typeURL), maxTypeURLBytes), "stream", id)
	case !known && types >= maxStreamTypes:
		return "", c.refuse("type_url", status.Errorf(codes.ResourceExhausted, "a stream asks for at most %d resource types", maxStreamTypes), "stream", id)
	case slices.Contains(noWildcardTypes, typeURL) && slices.Contains(sub.names, "*"):
		return "", c.refuse("type_url", status.Errorf(codes.InvalidArgument, "%s resources are asked for by name: wildcard subscriptions are for listeners and clusters", typeLabel(typeURL)), "stream", id)
	}

	group, ok := c.group(node)
	if first && !ok {
		return "", c.refuse("no_node_group", status.Errorf(codes.PermissionDenied, "node %q (cluster %q) belongs to no node group of the traffic policy", clipLabel(node.GetId()), clipLabel(node.GetCluster())),
			"node", clipLabel(node.GetId()), "cluster", clipLabel(node.GetCluster()), "stream", id)
	}
	// Every request is checked, not only the first: a policy change may move the node to
	// another group or take its identity off the group's list (reauthorize ends the streams
	// that change refuses at once).
	if ok {
		if err := c.checkIdentity(node, group, identities, id); err != nil {
			return "", err
		}
	}

	c.mu.Lock()
	if !stale && !sub.delta {
		// go-control-plane takes the request and watches anew, with no nonce until its next
		// response: any nonce is taken until then.
		delete(st.lastNonce, typeURL)
	}
	if named && !c.holdNode(st, max(nodeCost-freeNodeBytes, 0)) || !stale && !c.subscribe(st, typeURL, *sub) {
		c.mu.Unlock()
		return "", c.refuse("subscription_limit", status.Errorf(codes.ResourceExhausted, "the control plane holds at most %d bytes of subscribed resource names and nodes", c.limits.MaxSubscribedBytes),
			"node", clipLabel(node.GetId()), "stream", id)
	}
	var withheld []string
	if typeURL == resourcev3.EndpointType && !stale {
		scoped := group
		if !ok {
			scoped = noGroup
		}
		withheld = c.keepInScope(st, scoped, sub)
	}
	if first {
		st.node = node
		st.kind = ProxyKind(node)
		st.group = group
	}
	p, waiting := st.pending[typeURL]
	matched := waiting && nonce != "" && p.nonce == nonce && !stale
	if matched {
		delete(st.pending, typeURL)
		st.answered[typeURL] = p.version
		st.lagging = st.lagging && typeURL != resourcev3.ClusterType
		c.signalAnswer()
	}
	// The cache keys the watch of this request by the group it was taken under.
	if st.keyed != node {
		if st.keyed != nil {
			c.keys.Delete(st.keyed)
		}
		st.keyed = node
	}
	key := noGroup
	if ok {
		key = group
	}
	c.keys.Store(node, key)
	kind := st.kind
	c.mu.Unlock()

	if len(withheld) > 0 {
		c.countWithheld(node, group, withheld, id)
	}
	if first {
		c.metrics.connected.WithLabelValues(kind).Inc()
		c.log.Info("proxy connected", "node", node.GetId(), "cluster", node.GetCluster(), "group", group, "kind", kind, "stream", id)
		// Nodes are grouped by the policy served from the moment it is served on (Reconciler),
		// and a policy change ends the streams it moves once their node is known (regroup):
		// one whose group, or admission to it, changed while its first request was taken
		// reconnects.
		if now, in := c.group(node); !in || now != group || c.authorize != nil && !c.authorize(now, identities) {
			return "", status.Errorf(codes.Unavailable, "the node group of node %q changed as its stream began: reconnect", clipLabel(node.GetId()))
		}
	}
	if !matched {
		return "", nil
	}
	label := typeLabel(typeURL)
	if hasErr {
		c.metrics.nacks.WithLabelValues(c.nackNode(node.GetId()), label).Inc()
		n := NACK{NodeID: node.GetId(), Group: group, TypeURL: typeURL, Version: version, Nonce: nonce, Message: errDetail.GetMessage()}
		c.log.Warn("proxy rejected configuration (NACK)", "node", n.NodeID, "group", group, "type", label,
			"rejected_nonce", nonce, "running_version", version, "rejected_version", p.version, "error", n.Message)
		if c.onNACK != nil {
			c.onNACK(n)
		}
		return p.version, nil
	}
	c.metrics.pushAck.WithLabelValues(label).Observe(c.now().Sub(p.sent).Seconds())
	c.acks.Add(1)
	return "", nil
}

// keepInScope leaves out of an endpoints request the names that group (noGroup: the node is
// in no group) may not read, as if they did not exist, and returns those it had not left out
// before, but for the names group lost in the latest update, which a proxy asks for until it
// has that update. A state of the world request names every name it wants; a delta request
// changes them, and also unsubscribes the names it holds that group may read no longer.
// Called with c.mu held, after the request's names are charged to the subscription budget.
func (c *callbacks) keepInScope(st *streamState, group string, sub *subscription) (newly []string) {
	kept, out := c.scope.inScope(group, sub.names)
	sub.names = kept
	was := st.withheld
	if !sub.delta {
		st.withheld = nil
	}
	for _, n := range sub.unsubNames {
		delete(st.withheld, n)
	}
	withhold := func(n string) {
		_, before := was[n]
		_, now := st.withheld[n]
		if !before && !now && !c.scope.lost(group, n) {
			newly = append(newly, n)
		}
		if st.withheld == nil {
			st.withheld = nameSet{}
		}
		st.withheld[n] = struct{}{}
	}
	for _, n := range out {
		withhold(n)
	}
	if sub.delta {
		// The names the stream holds that its group lost since its last request.
		held := st.deltaNames[resourcev3.EndpointType]
		_, lost := c.scope.inScope(group, slices.Collect(maps.Keys(held)))
		for _, n := range lost {
			if _, ok := st.withheld[n]; !ok {
				sub.unsubNames = append(sub.unsubNames, n)
				withhold(n)
			}
		}
	}
	return newly
}

// countWithheld counts endpoint names left out of a node's subscription or response and logs
// them, at most once per refusalLogInterval.
func (c *callbacks) countWithheld(node *core.Node, group string, names []string, id int64) {
	c.metrics.withheld.Add(float64(len(names)))
	if c.withheld.due(c.now()) {
		c.log.Warn("endpoints outside the node's group withheld (further ones within "+refusalLogInterval.String()+" are only counted)",
			"node", clipLabel(node.GetId()), "group", group, "names", len(names), "first", clipLabel(names[0]), "stream", id)
	}
}

// stripped leaves out of an endpoints response for stream id the assignments its group may not
// read: those of a subscription its group lost since the stream's last request. name returns a
// resource's name; in says whether a set holds it (without copying the name).
func stripped[R any](c *callbacks, streams map[int64]*streamState, id int64, resources []R, name func(R) string, in func(nameSet, R) bool) []R {
	c.mu.Lock()
	st := streams[id]
	var group string
	var node *core.Node
	if st != nil {
		group, node = st.group, st.node
	}
	c.mu.Unlock()
	allowed := c.scope.of(group)
	var left []R
	var out []string
	for i, r := range resources {
		if in(allowed, r) {
			if out != nil {
				left = append(left, r)
			}
			continue
		}
		if out == nil {
			left = slices.Clone(resources[:i])
		}
		out = append(out, name(r))
	}
	if out == nil {
		return resources
	}
	c.countWithheld(node, group, out, id)
	return left
}

// regained ends, with UNAVAILABLE, the streams that asked for endpoints their group may now
// read, after a change of the scope: those names were left out of their subscriptions, and
// a proxy does not ask for a name again. Reconnecting, it asks for them all.
func (c *callbacks) regained() {
	// What to end and log is copied under the lock: the stream's state changes with its
	// requests.
	type ended struct {
		id          int64
		node, group string
		rev         *streamRevoker
	}
	var out []ended
	c.mu.Lock()
	for _, streams := range []map[int64]*streamState{c.sotw, c.delta} {
		for id, st := range streams {
			if len(st.withheld) == 0 || st.revoker == nil {
				continue
			}
			names := slices.Collect(maps.Keys(st.withheld))
			if kept, _ := c.scope.inScope(st.group, names); len(kept) > 0 {
				out = append(out, ended{id, st.node.GetId(), st.group, st.revoker})
			}
		}
	}
	c.mu.Unlock()
	for _, e := range out {
		c.log.Info("proxy's group now holds endpoints it asked for before: its stream ends so that it asks again", "node", clipLabel(e.node), "group", e.group, "stream", e.id)
		e.rev.revoke(status.Errorf(codes.Unavailable, "endpoints the node asked for are now in its node group %q: reconnect", e.group))
	}
}

// sameNode says whether two nodes a stream names are one: the same id, cluster and metadata,
// which decide its group.
func sameNode(a, b *core.Node) bool {
	return a.GetId() == b.GetId() && a.GetCluster() == b.GetCluster() && proto.Equal(a.GetMetadata(), b.GetMetadata())
}

// openStream is an open stream of the callbacks.
type openStream struct {
	id int64
	st *streamState
}

// revocable returns the open streams whose node is known and that the server can end.
func (c *callbacks) revocable() []openStream {
	var out []openStream
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, streams := range []map[int64]*streamState{c.sotw, c.delta} {
		for id, st := range streams {
			if st.node != nil && st.revoker != nil {
				out = append(out, openStream{id, st})
			}
		}
	}
	return out
}

// regroup ends the open streams a policy about to be served changes, before it is served:
// with PERMISSION_DENIED a stream whose node the policy puts in no group while its group
// stays (kept says whether the policy has a group), or in a group that does not admit its
// identities (admits says whether a group of the policy admits them; nil when identities are
// not checked); with UNAVAILABLE one whose node it puts in another group (group maps a node
// to its group in the policy), or in a group again after none (was maps a node to its group
// in the policy served until then). Its watches are keyed by the group it is in when it asks
// (nodeHash): the group it began in, or none. They would keep serving that group's
// configuration (or, for a group that disappears, an empty one). A moved proxy reconnects,
// keeping what it has, and gets its new group's configuration; a refused one gets nothing
// more. A node in no group whose group disappears is served that group's empty
// configuration, which takes its configuration away (reauthorize then ends its stream where
// identities are checked); its next requests watch the empty configuration of no group, so
// should a later policy give it a group again, its stream ends, for it to reconnect to it.
func (c *callbacks) regroup(was, group func(*core.Node) (string, bool), kept func(group string) bool, admits func(group string, identities []string) bool) {
	for _, o := range c.revocable() {
		node := o.st.node
		g, ok := group(node)
		_, wasIn := was(node)
		switch {
		case !ok && !kept(o.st.group):
		case !ok:
			o.st.revoker.revoke(c.inNoGroupAnyMore(node, o.id))
		case admits != nil && !admits(g, o.st.identities):
			o.st.revoker.revoke(c.identityRefused(node, g, o.st.identities, o.id))
		case g != o.st.group:
			c.log.Info("proxy moved to another node group: its stream ends so that it reconnects to it", "node", clipLabel(node.GetId()), "from", o.st.group, "to", g, "stream", o.id)
			o.st.revoker.revoke(status.Errorf(codes.Unavailable, "node %q moved from node group %q to %q: reconnect", clipLabel(node.GetId()), o.st.group, g))
		case !wasIn:
			c.log.Info("proxy in a node group again after none: its stream ends so that it reconnects to it", "node", clipLabel(node.GetId()), "group", g, "stream", o.id)
			o.st.revoker.revoke(status.Errorf(codes.Unavailable, "node %q is in node group %q again: reconnect", clipLabel(node.GetId()), g))
		}
	}
}

// checkIdentity refuses a node whose group does not admit its certificate's identities, when
// the server checks identities; nil otherwise.
func (c *callbacks) checkIdentity(node *core.Node, group string, identities []string, id int64) error {
	if c.authorize == nil || c.authorize(group, identities) {
		return nil
	}
	return c.identityRefused(node, group, identities, id)
}

// identityRefused counts and returns the refusal of stream id, whose node's group does not
// admit the identities of its certificate.
func (c *callbacks) identityRefused(node *core.Node, group string, identities []string, id int64) error {
	return c.refuse("node_identity", status.Errorf(codes.PermissionDenied, "node %q: node group %q admits none of the identities of its certificate %q", clipLabel(node.GetId()), group, clipIdentities(identities)),
		"node", clipLabel(node.GetId()), "group", group, "identities", clipIdentities(identities), "stream", id)
}

// inNoGroupAnyMore counts and returns the refusal of stream id, whose node the policy puts
// in no group any more.
func (c *callbacks) inNoGroupAnyMore(node *core.Node, id int64) error {
	return c.refuse("no_node_group", status.Errorf(codes.PermissionDenied, "node %q (cluster %q) belongs to no node group of the traffic policy any more", clipLabel(node.GetId()), clipLabel(node.GetCluster())),
		"node", clipLabel(node.GetId()), "stream", id)
}

// reauthorize ends, with PERMISSION_DENIED, every open stream whose node the current policy
// no longer admits: its node is in no group, or its group does not admit its identities.
// The server calls it after each policy change, so that a change takes effect on streams
// that send nothing more.
func (c *callbacks) reauthorize() {
	if c.authorize == nil {
		return
	}
	for _, o := range c.revocable() {
		group, ok := c.group(o.st.node)
		var err error
		if !ok {
			err = c.inNoGroupAnyMore(o.st.node, o.id)
		} else {
			err = c.checkIdentity(o.st.node, group, o.st.identities, o.id)
		}
		if err != nil {
			o.st.revoker.revoke(err)
		}
	}
}

// nackNode is the node label of a NACK: the node id (clipped), or otherNodes once
// maxNACKNodes ids are in use, so clients cannot grow the metric without bound.
func (c *callbacks) nackNode(id string) string {
	id = clipLabel(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.nackNodes[id]; ok {
		return id
	}
	if len(c.nackNodes) >= maxNACKNodes {
		return otherNodes
	}
	c.nackNodes[id] = struct{}{}
	return id
}

// clipLabel shortens a client-chosen string for labels and logs.
func clipLabel(s string) string {
	return clip.Text(s, maxLabelBytes)
}

func (c *callbacks) response(streams map[int64]*streamState, id int64, typeURL, nonce, version string) {
	c.mu.Lock()
	if st := streams[id]; st != nil {
		st.pending[typeURL] = sentResponse{nonce: nonce, version: version, sent: c.now()}
		st.lastNonce[typeURL] = nonce
		// The versions the stream holds are now those it was sent, which it holds as any
		// stream does: its initial versions are no longer kept.
		if n := st.initial[typeURL]; n > 0 {
			c.subscribed -= n
			delete(st.initial, typeURL)
		}
	}
	c.mu.Unlock()
	c.metrics.pushes.WithLabelValues(typeLabel(typeURL)).Inc()
}

// OnStreamOpen implements sotw.Callbacks.
func (c *callbacks) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return c.open(ctx, c.sotw, id)
}

// OnStreamClosed implements sotw.Callbacks.
func (c *callbacks) OnStreamClosed(id int64, _ *core.Node) { c.closed(c.sotw, id) }

// OnStreamRequest implements sotw.Callbacks. A NACK's request is passed on as if it held the
// version the client rejected: the cache then waits for a newer one, instead of sending the
// rejected version again at once, again and again (the protocol asks the server to send
// only changes).
func (c *callbacks) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	sub := subscription{names: req.GetResourceNames()}
	rejected, err := c.request(c.sotw, id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetVersionInfo(),
		&sub, req.GetErrorDetail(), req.GetErrorDetail() != nil)
	if rejected != "" {
		req.VersionInfo = rejected
	}
	req.ResourceNames = sub.names
	return err
}

// OnStreamResponse implements sotw.Callbacks.
func (c *callbacks) OnStreamResponse(_ context.Context, id int64, req *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	if resp.GetTypeUrl() == resourcev3.EndpointType {
		resp.Resources = stripped(c, c.sotw, id, resp.GetResources(), assignmentName, holdsAssignment)
	}
	c.response(c.sotw, id, req.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

// OnDeltaStreamOpen implements delta.Callbacks.
func (c *callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return c.open(ctx, c.delta, id)
}

// OnDeltaStreamClosed implements delta.Callbacks.
func (c *callbacks) OnDeltaStreamClosed(id int64, _ *core.Node) { c.closed(c.delta, id) }

// OnStreamDeltaRequest implements delta.Callbacks.
func (c *callbacks) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	sub := subscription{delta: true, names: req.GetResourceNamesSubscribe(), unsubNames: req.GetResourceNamesUnsubscribe(), initial: req.GetInitialResourceVersions()}
	_, err := c.request(c.delta, id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), "",
		&sub, req.GetErrorDetail(), req.GetErrorDetail() != nil)
	req.ResourceNamesSubscribe = sub.names
	return err
}

// OnStreamDeltaResponse implements delta.Callbacks.
func (c *callbacks) OnStreamDeltaResponse(id int64, req *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	if resp.GetTypeUrl() == resourcev3.EndpointType {
		resp.Resources = stripped(c, c.delta, id, resp.GetResources(), (*discovery.Resource).GetName,
			func(s nameSet, r *discovery.Resource) bool { _, ok := s[r.GetName()]; return ok })
	}
	c.response(c.delta, id, req.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

// OnFetchRequest implements rest.Callbacks; REST fetches are not served.
func (c *callbacks) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "REST xDS is not served")
}

// OnFetchResponse implements rest.Callbacks.
func (c *callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}
