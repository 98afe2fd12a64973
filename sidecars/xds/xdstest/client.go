// Package xdstest is a raw ADS client for tests and benchmarks: it speaks the aggregated
// discovery protocol (state-of-the-world and delta) as an Envoy node would, one request at a
// time, so tests can assert the exact responses a control plane sends.
package xdstest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

// Node returns an Envoy node with the given id, cluster (the service it fronts) and metadata.
func Node(id, cluster string, metadata map[string]string) *core.Node {
	n := &core.Node{Id: id, Cluster: cluster, UserAgentName: "envoy"}
	if len(metadata) > 0 {
		fields := map[string]*structpb.Value{}
		for k, v := range metadata {
			fields[k] = structpb.NewStringValue(v)
		}
		n.Metadata = &structpb.Struct{Fields: fields}
	}
	return n
}

// Dial connects to an ADS server on addr without TLS.
func Dial(addr string) (*grpc.ClientConn, error) {
	return dial(addr, insecure.NewCredentials())
}

// DialTLS connects to an ADS server on addr over TLS with cfg (its roots, and the client
// certificate a server that requires one verifies).
func DialTLS(addr string, cfg *tls.Config) (*grpc.ClientConn, error) {
	return dial(addr, credentials.NewTLS(cfg))
}

func dial(addr string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// Stream is one state-of-the-world ADS stream.
type Stream struct {
	node   *core.Node
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	sent   bool
	// last ACKed version and nonce by type URL
	version map[string]string
	nonce   map[string]string
	names   map[string][]string
	recv    chan result[*discovery.DiscoveryResponse]
}

// result is one response a stream received, or the error that ended it.
type result[R any] struct {
	r   R
	err error
}

// receive delivers what recv returns on a channel until recv fails; the channel is
// closed after the failure.
func receive[R any](recv func() (R, error)) chan result[R] {
	ch := make(chan result[R], 16)
	go func() {
		for {
			r, err := recv()
			ch <- result[R]{r, err}
			if err != nil {
				close(ch)
				return
			}
		}
	}()
	return ch
}

// recvWithin waits at most timeout for the next response on ch; kind names the stream in
// errors ("" or " delta").
func recvWithin[R any](ch <-chan result[R], timeout time.Duration, kind string) (R, error) {
	var none R
	select {
	case res, ok := <-ch:
		if !ok {
			return none, fmt.Errorf("receive%s: stream closed", kind)
		}
		if res.err != nil {
			return none, fmt.Errorf("receive%s: %w", kind, res.err)
		}
		return res.r, nil
	case <-time.After(timeout):
		return none, fmt.Errorf("no%s response within %s", kind, timeout)
	}
}

// Open opens a state-of-the-world ADS stream for node on conn.
func Open(ctx context.Context, conn *grpc.ClientConn, node *core.Node) (*Stream, error) {
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("open ADS stream: %w", err)
	}
	return &Stream{node: node, stream: s, version: map[string]string{}, nonce: map[string]string{}, names: map[string][]string{}, recv: receive(s.Recv)}, nil
}

// Subscribe requests the named resources of typeURL (none: wildcard), carrying the last
// accepted version and nonce of the type.
func (s *Stream) Subscribe(typeURL string, names ...string) error {
	s.names[typeURL] = names
	return s.send(&discovery.DiscoveryRequest{
		TypeUrl: typeURL, ResourceNames: names,
		VersionInfo: s.version[typeURL], ResponseNonce: s.nonce[typeURL],
	})
}

// Send sends req as it is (with the stream's node when it is the first request): for what
// Subscribe, ACK and NACK do not send, such as a stale nonce or another node.
func (s *Stream) Send(req *discovery.DiscoveryRequest) error { return s.send(req) }

func (s *Stream) send(req *discovery.DiscoveryRequest) error {
	if !s.sent {
		req.Node = s.node
		s.sent = true
	}
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("send %s request: %w", req.GetTypeUrl(), endedBy(err, s.recv))
	}
	return nil
}

// endedBy is the status the server ended the stream with when a send failed with io.EOF:
// gRPC reports it to the receiving side only, so it is read from recv (dropping any
// responses still queued: the stream is over). Any other error is returned as it is.
func endedBy[R any](err error, recv <-chan result[R]) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	for {
		select {
		case res, ok := <-recv:
			if !ok {
				return err
			}
			if res.err != nil {
				return res.err
			}
		case <-time.After(10 * time.Second):
			return err
		}
	}
}

// Recv waits at most timeout for the next response.
func (s *Stream) Recv(timeout time.Duration) (*discovery.DiscoveryResponse, error) {
	return recvWithin(s.recv, timeout, "")
}

// RecvBlocking waits for the next response without a timeout (cancel the stream's context to
// stop it).
func (s *Stream) RecvBlocking() (*discovery.DiscoveryResponse, error) {
	res, ok := <-s.recv
	if !ok {
		return nil, fmt.Errorf("receive: stream closed")
	}
	return res.r, res.err
}

// ACK accepts resp, keeping the current subscription of its type.
func (s *Stream) ACK(resp *discovery.DiscoveryResponse) error {
	s.version[resp.GetTypeUrl()] = resp.GetVersionInfo()
	s.nonce[resp.GetTypeUrl()] = resp.GetNonce()
	return s.send(&discovery.DiscoveryRequest{
		TypeUrl: resp.GetTypeUrl(), ResourceNames: s.names[resp.GetTypeUrl()],
		VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(),
	})
}

// NACK rejects resp with message, keeping the previously accepted version.
func (s *Stream) NACK(resp *discovery.DiscoveryResponse, message string) error {
	s.nonce[resp.GetTypeUrl()] = resp.GetNonce()
	return s.send(&discovery.DiscoveryRequest{
		TypeUrl: resp.GetTypeUrl(), ResourceNames: s.names[resp.GetTypeUrl()],
		VersionInfo: s.version[resp.GetTypeUrl()], ResponseNonce: resp.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: 3, Message: message},
	})
}

// Close ends the sending side of the stream.
func (s *Stream) Close() error { return s.stream.CloseSend() }

// DeltaStream is one incremental (delta) ADS stream.
type DeltaStream struct {
	node   *core.Node
	stream discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	sent   bool
	recv   chan result[*discovery.DeltaDiscoveryResponse]
}

// OpenDelta opens a delta ADS stream for node on conn.
func OpenDelta(ctx context.Context, conn *grpc.ClientConn, node *core.Node) (*DeltaStream, error) {
	s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("open delta ADS stream: %w", err)
	}
	return &DeltaStream{node: node, stream: s, recv: receive(s.Recv)}, nil
}

// Subscribe adds names (none: wildcard "*") to the subscription of typeURL.
func (s *DeltaStream) Subscribe(typeURL string, names ...string) error {
	if len(names) == 0 {
		names = []string{"*"}
	}
	return s.send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesSubscribe: names})
}

// Unsubscribe removes names from the subscription of typeURL.
func (s *DeltaStream) Unsubscribe(typeURL string, names ...string) error {
	return s.send(&discovery.DeltaDiscoveryRequest{TypeUrl: typeURL, ResourceNamesUnsubscribe: names})
}

// Send sends req as it is (with the node on the stream's first request).
func (s *DeltaStream) Send(req *discovery.DeltaDiscoveryRequest) error { return s.send(req) }

func (s *DeltaStream) send(req *discovery.DeltaDiscoveryRequest) error {
	if !s.sent {
		req.Node = s.node
		s.sent = true
	}
	if err := s.stream.Send(req); err != nil {
		return fmt.Errorf("send delta %s request: %w", req.GetTypeUrl(), endedBy(err, s.recv))
	}
	return nil
}

// Recv waits at most timeout for the next delta response.
func (s *DeltaStream) Recv(timeout time.Duration) (*discovery.DeltaDiscoveryResponse, error) {
	return recvWithin(s.recv, timeout, " delta")
}

// ACK accepts resp.
func (s *DeltaStream) ACK(resp *discovery.DeltaDiscoveryResponse) error {
	return s.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()})
}

// Close ends the sending side of the stream.
func (s *DeltaStream) Close() error { return s.stream.CloseSend() }
