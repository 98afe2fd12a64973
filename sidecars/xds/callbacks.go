package xds

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	node    *core.Node
	kind    string
	pending map[string]sentResponse // by type URL
}

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

// callbacks implements server.Callbacks: stream accounting, ACK latency and NACK detection.
type callbacks struct {
	log     *slog.Logger
	metrics *metrics
	group   func(*core.Node) (string, bool)
	onNACK  func(NACK)
	now     func() time.Time

	acks atomic.Int64 // ACKs received, for benchmarks and tests

	mu    sync.Mutex
	sotw  map[int64]*streamState
	delta map[int64]*streamState
}

func newCallbacks(log *slog.Logger, m *metrics, group func(*core.Node) (string, bool), onNACK func(NACK)) *callbacks {
	return &callbacks{
		log: log, metrics: m, group: group, onNACK: onNACK, now: time.Now,
		sotw: map[int64]*streamState{}, delta: map[int64]*streamState{},
	}
}

func (c *callbacks) open(streams map[int64]*streamState, id int64) {
	c.mu.Lock()
	streams[id] = &streamState{pending: map[string]sentResponse{}}
	c.mu.Unlock()
}

func (c *callbacks) closed(streams map[int64]*streamState, id int64) {
	c.mu.Lock()
	st := streams[id]
	delete(streams, id)
	c.mu.Unlock()
	if st != nil && st.node != nil {
		c.metrics.connected.WithLabelValues(st.kind).Dec()
		c.log.Info("proxy disconnected", "node", st.node.GetId(), "kind", st.kind, "stream", id)
	}
}

// request handles a request on a stream: registers the node on its first request, rejects
// nodes without a node group, and classifies the request as ACK or NACK of a pending response.
func (c *callbacks) request(streams map[int64]*streamState, id int64, node *core.Node, typeURL, nonce, version string, errDetail interface{ GetMessage() string }, hasErr bool) error {
	c.mu.Lock()
	st := streams[id]
	if st == nil {
		st = &streamState{pending: map[string]sentResponse{}}
		streams[id] = st
	}
	if node == nil {
		node = st.node
	}
	first := st.node == nil && node != nil
	if first {
		st.node = node
		st.kind = ProxyKind(node)
	}
	p, waiting := st.pending[typeURL]
	matched := waiting && nonce != "" && p.nonce == nonce
	if matched {
		delete(st.pending, typeURL)
	}
	c.mu.Unlock()

	group, ok := c.group(node)
	if first {
		if !ok {
			c.mu.Lock()
			st.node = nil
			c.mu.Unlock()
			c.log.Warn("proxy rejected: no node group", "node", node.GetId(), "cluster", node.GetCluster(), "stream", id)
			return status.Errorf(codes.PermissionDenied, "node %q (cluster %q) belongs to no node group of the traffic policy", node.GetId(), node.GetCluster())
		}
		c.metrics.connected.WithLabelValues(st.kind).Inc()
		c.log.Info("proxy connected", "node", node.GetId(), "cluster", node.GetCluster(), "group", group, "kind", st.kind, "stream", id)
	}
	if !matched {
		return nil
	}
	label := typeLabel(typeURL)
	if hasErr {
		c.metrics.nacks.WithLabelValues(node.GetId(), label).Inc()
		n := NACK{NodeID: node.GetId(), Group: group, TypeURL: typeURL, Version: version, Nonce: nonce, Message: errDetail.GetMessage()}
		c.log.Warn("proxy rejected configuration (NACK)", "node", n.NodeID, "group", group, "type", label,
			"rejected_nonce", nonce, "running_version", version, "error", n.Message)
		if c.onNACK != nil {
			c.onNACK(n)
		}
		return nil
	}
	c.metrics.pushAck.WithLabelValues(label).Observe(c.now().Sub(p.sent).Seconds())
	c.acks.Add(1)
	return nil
}

func (c *callbacks) response(streams map[int64]*streamState, id int64, typeURL, nonce, version string) {
	c.mu.Lock()
	if st := streams[id]; st != nil {
		st.pending[typeURL] = sentResponse{nonce: nonce, version: version, sent: c.now()}
	}
	c.mu.Unlock()
	c.metrics.pushes.WithLabelValues(typeLabel(typeURL)).Inc()
}

// OnStreamOpen implements sotw.Callbacks.
func (c *callbacks) OnStreamOpen(_ context.Context, id int64, _ string) error {
	c.open(c.sotw, id)
	return nil
}

// OnStreamClosed implements sotw.Callbacks.
func (c *callbacks) OnStreamClosed(id int64, _ *core.Node) { c.closed(c.sotw, id) }

// OnStreamRequest implements sotw.Callbacks.
func (c *callbacks) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	return c.request(c.sotw, id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetVersionInfo(), req.GetErrorDetail(), req.GetErrorDetail() != nil)
}

// OnStreamResponse implements sotw.Callbacks.
func (c *callbacks) OnStreamResponse(_ context.Context, id int64, req *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	c.response(c.sotw, id, req.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
}

// OnDeltaStreamOpen implements delta.Callbacks.
func (c *callbacks) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	c.open(c.delta, id)
	return nil
}

// OnDeltaStreamClosed implements delta.Callbacks.
func (c *callbacks) OnDeltaStreamClosed(id int64, _ *core.Node) { c.closed(c.delta, id) }

// OnStreamDeltaRequest implements delta.Callbacks.
func (c *callbacks) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	return c.request(c.delta, id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), "", req.GetErrorDetail(), req.GetErrorDetail() != nil)
}

// OnStreamDeltaResponse implements delta.Callbacks.
func (c *callbacks) OnStreamDeltaResponse(id int64, req *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	c.response(c.delta, id, req.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
}

// OnFetchRequest implements rest.Callbacks; REST fetches are not served.
func (c *callbacks) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "REST xDS is not served")
}

// OnFetchResponse implements rest.Callbacks.
func (c *callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}
