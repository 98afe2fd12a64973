package xds

import (
	"context"
	"errors"
	"fmt"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

func dial(t *testing.T, f *fixture) *grpc.ClientConn {
	t.Helper()
	conn, err := xdstest.Dial(f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// openOn opens a stream for node id/cluster on conn and sends its first request.
func openOn(t *testing.T, ctx context.Context, conn *grpc.ClientConn, id, cluster string, names ...string) (*xdstest.Stream, error) {
	t.Helper()
	s, err := xdstest.Open(ctx, conn, xdstest.Node(id, cluster, nil))
	if err != nil {
		return nil, err
	}
	return s, s.Subscribe(resourcev3.ClusterType, names...)
}

// streamCount is the number of streams the callbacks hold state for.
func (c *callbacks) streamCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sotw) + len(c.delta)
}

// TestUnknownNodesLeaveNoState floods the server with streams of 2,000 distinct node ids that
// belong to no node group: each is refused, none leaves state behind, none is counted as
// connected, and the refusals are counted but logged at most once a second.
func TestUnknownNodesLeaveNoState(t *testing.T) {
	f := startLimited(t, "limits", Limits{})
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	conns := []*grpc.ClientConn{dial(t, f), dial(t, f), dial(t, f), dial(t, f)}
	const n = 2000
	began := time.Now()
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := openOn(t, ctx, conns[i%len(conns)], fmt.Sprintf("intruder-%d", i), fmt.Sprintf("nobody-%d", i))
		if err == nil {
			_, err = s.Recv(10 * time.Second)
		}
		cancel()
		if status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
			t.Fatalf("stream %d of an unknown node: %v, want PERMISSION_DENIED", i, err)
		}
	}
	elapsed := time.Since(began)
	waitFor(t, func() bool { return f.srv.callbacks.streamCount() == 0 })
	if got := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("no_node_group")); got != n {
		t.Errorf("refused streams counted %v, want %d", got, n)
	}
	if got := testutil.ToFloat64(f.srv.metrics.connected.WithLabelValues(KindSidecar)); got != 0 {
		t.Errorf("connected sidecars %v, want 0", got)
	}
	if lines, most := strings.Count(f.logs.String(), "stream refused"), 1+int(elapsed/refusalLogInterval); lines > most {
		t.Errorf("%d refusal log lines in %v, want at most %d", lines, elapsed, most)
	}
	// A member is still served.
	s := open(t, f, "web")
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	recvType(t, s, resourcev3.ClusterType)
}

// TestStreamLimits: a connection gets at most MaxStreamsPerConnection streams (one more waits
// for HTTP/2 stream quota and never opens), and over all connections one stream more than
// MaxStreams is refused; closing a stream frees its place.
func TestStreamLimits(t *testing.T) {
	f := startLimited(t, "limits", Limits{MaxStreamsPerConnection: 2, MaxStreams: 3})
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := dial(t, f), dial(t, f)
	var held []*xdstest.Stream
	hold := func(conn *grpc.ClientConn, id string) {
		s, err := openOn(t, ctx, conn, id, "web")
		if err != nil {
			t.Fatal(err)
		}
		recvType(t, s, resourcev3.ClusterType)
		held = append(held, s)
	}
	hold(a, "web-0")
	hold(a, "web-1")
	// A third stream on connection a, while the server holds two streams in all (under
	// MaxStreams): the connection's SETTINGS allow two, so it never opens.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if s, err := openOn(t, short, a, "web-extra", "web"); err == nil {
		if r, err := s.Recv(time.Second); err == nil {
			t.Fatalf("a third stream on one connection was served: %v", r)
		}
	}
	hold(b, "web-2")
	// A fourth stream in all, on connection b: refused.
	ctx4, cancel4 := context.WithCancel(ctx)
	s, err := openOn(t, ctx4, b, "web-4", "web")
	if err == nil {
		_, err = s.Recv(10 * time.Second)
	}
	if status.Code(errors.Unwrap(err)) != codes.ResourceExhausted {
		t.Fatalf("a stream over MaxStreams: %v, want RESOURCE_EXHAUSTED", err)
	}
	cancel4()
	if got := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("stream_limit")); got < 1 {
		t.Errorf("stream_limit refusals counted %v", got)
	}
	_ = held
}

// TestMessageAndSubscriptionLimits: a request over MaxRecvMsgBytes ends its stream with
// RESOURCE_EXHAUSTED; subscriptions past MaxSubscribedBytes over all streams are refused, and
// a closed stream gives its share back.
func TestMessageAndSubscriptionLimits(t *testing.T) {
	f := startLimited(t, "limits", Limits{MaxRecvMsgBytes: 64 << 10, MaxSubscribedBytes: 1000})
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, f)
	names := func(n, size int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%0*d", size, i)
		}
		return out
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := openOn(t, ctx, conn, "web-big", "web", names(1000, 100)...) // 100 kB of names
	if err == nil {
		_, err = s.Recv(10 * time.Second)
	}
	if status.Code(errors.Unwrap(err)) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("a 100 kB request with a 64 kB limit: %v, want RESOURCE_EXHAUSTED", err)
	}

	ctx1, cancel1 := context.WithCancel(ctx)
	first, err := openOn(t, ctx1, conn, "web-1", "web", names(6, 100)...) // 600 bytes
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(10 * time.Second); err != nil {
		t.Fatalf("600 bytes of names within a 1000-byte budget: %v", err)
	}
	// A request with a stale nonce is ignored (go-control-plane keeps the subscription), and
	// so is it by the budget: the 600 bytes stay counted.
	if err := first.Send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: "stale-1"}); err != nil {
		t.Fatal(err)
	}
	// The stream's requests are handled in order: once its listeners come, the stale request
	// was handled.
	if err := first.Subscribe(resourcev3.ListenerType); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	second, err := openOn(t, ctx, conn, "web-2", "web", names(6, 100)...)
	if err == nil {
		_, err = second.Recv(10 * time.Second)
	}
	if status.Code(errors.Unwrap(err)) != codes.ResourceExhausted {
		t.Fatalf("another 600 bytes past the 1000-byte budget: %v, want RESOURCE_EXHAUSTED", err)
	}
	if got := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("subscription_limit")); got != 1 {
		t.Errorf("subscription_limit refusals counted %v, want 1", got)
	}
	// After an acknowledgement go-control-plane watches anew with no nonce, and takes a
	// request of any nonce until its next response: the budget counts it too.
	ctx4, cancel4 := context.WithCancel(ctx)
	defer cancel4()
	fourth, err := openOn(t, ctx4, conn, "web-4", "web")
	if err != nil {
		t.Fatal(err)
	}
	r4, err := fourth.Recv(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := fourth.ACK(r4); err != nil {
		t.Fatal(err)
	}
	if err := fourth.Send(&discovery.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: "any", ResourceNames: names(4, 100)}); err == nil {
		_, err = fourth.Recv(10 * time.Second)
		if status.Code(errors.Unwrap(err)) != codes.ResourceExhausted {
			t.Fatalf("400 bytes more past the 1000-byte budget after an acknowledgement: %v, want RESOURCE_EXHAUSTED", err)
		}
	}
	cancel1()
	waitFor(t, func() bool {
		f.srv.callbacks.mu.Lock()
		defer f.srv.callbacks.mu.Unlock()
		return f.srv.callbacks.subscribed == 0
	})
	third, err := openOn(t, ctx, conn, "web-3", "web", names(6, 100)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := third.Recv(10 * time.Second); err != nil {
		t.Fatalf("600 bytes once the first stream gave its share back: %v", err)
	}
}

// TestNACKNodeLabelsBounded: NACKs from more distinct nodes than maxNACKNodes share one label
// value, and a long node id is clipped.
func TestNACKNodeLabelsBounded(t *testing.T) {
	c := newCallbacks(slog.Default(), nil, groupOf, nil, nil, Limits{})
	for i := 0; i < maxNACKNodes; i++ {
		if got := c.nackNode(fmt.Sprintf("node-%d", i)); got != fmt.Sprintf("node-%d", i) {
			t.Fatalf("label %q for node-%d", got, i)
		}
	}
	if got := c.nackNode("one-too-many"); got != otherNodes {
		t.Errorf("label %q past the limit, want %q", got, otherNodes)
	}
	if got := c.nackNode("node-7"); got != "node-7" {
		t.Errorf("a known node's label became %q", got)
	}
	if got := clipLabel(strings.Repeat("x", 10000)); len(got) > maxLabelBytes+3 {
		t.Errorf("clipped id is %d bytes", len(got))
	}
}

// TestSilentStreamIsEnded: a stream that never sends a request is ended with
// DEADLINE_EXCEEDED after FirstRequestTimeout and gives its place back; a stream that spoke in
// time is still served after its own timeout passed (shown by a silent stream opened after it
// expiring first).
func TestSilentStreamIsEnded(t *testing.T) {
	f := startLimited(t, "limits", Limits{FirstRequestTimeout: 200 * time.Millisecond, MaxStreams: 2})
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	expectSilentEnded := func(id string) {
		t.Helper()
		silent, err := xdstest.Open(ctx, conn, xdstest.Node(id, "web", nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := silent.Recv(10 * time.Second); status.Code(errors.Unwrap(err)) != codes.DeadlineExceeded {
			t.Fatalf("a silent stream: %v, want DEADLINE_EXCEEDED", err)
		}
	}
	expectSilentEnded("web-silent-1")
	waitFor(t, func() bool { return f.srv.callbacks.streamCount() == 0 })

	s, err := openOn(t, ctx, conn, "web-1", "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(recvType(t, s, resourcev3.ClusterType)); err != nil {
		t.Fatal(err)
	}
	expectSilentEnded("web-silent-2") // opened after web-1: web-1's timeout has passed too
	changed := webConfig(t, 9000)
	changed.Clusters[0].(*envoy_config_cluster_v3.Cluster).ConnectTimeout = durationpb.New(2 * time.Second)
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": changed}); err != nil {
		t.Fatal(err)
	}
	recvType(t, s, resourcev3.ClusterType)
	waitFor(t, func() bool { return f.srv.callbacks.streamCount() == 1 }) // the silent one's state goes
}

// dialFrom dials the fixture's server from the loopback address local.
func dialFrom(t *testing.T, f *fixture, local string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
			return d.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// within waits up to 30 s for cond.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPerAddressLimits: one client address gets at most MaxStreamsPerAddress streams (one more
// is refused while the server holds fewer than MaxStreams) and MaxConnectionsPerAddress
// connections (one more is closed as soon as it is accepted); another address is still
// served, and closing a connection gives its place back.
func TestPerAddressLimits(t *testing.T) {
	f := startLimited(t, "limits", Limits{MaxStreamsPerAddress: 2, MaxConnectionsPerAddress: 2, MaxStreams: 100, MaxConnections: 100})
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hold := func(conn *grpc.ClientConn, id string) *xdstest.Stream {
		t.Helper()
		s, err := openOn(t, ctx, conn, id, "web")
		if err != nil {
			t.Fatal(err)
		}
		recvType(t, s, resourcev3.ClusterType)
		return s
	}
	a, b := dialFrom(t, f, "127.0.0.1"), dialFrom(t, f, "127.0.0.1")
	hold(a, "web-a")
	hold(b, "web-b")
	within(t, "two connections from 127.0.0.1 counted", func() bool { return f.srv.byAddr.Load().openFrom("127.0.0.1") == 2 })

	// A third stream from 127.0.0.1, on a connection that has room for it: refused.
	s, err := openOn(t, ctx, a, "web-a2", "web")
	if err == nil {
		_, err = s.Recv(10 * time.Second)
	}
	if status.Code(errors.Unwrap(err)) != codes.ResourceExhausted {
		t.Fatalf("a third stream from one address: %v, want RESOURCE_EXHAUSTED", err)
	}
	if got := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("address_stream_limit")); got != 1 {
		t.Errorf("address_stream_limit refusals counted %v, want 1", got)
	}

	// Another address is served meanwhile.
	hold(dialFrom(t, f, "127.0.0.2"), "web-other")

	// A third connection from 127.0.0.1: closed when accepted, never served.
	c := dialFrom(t, f, "127.0.0.1")
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if s, err := openOn(t, short, c, "web-c", "web"); err == nil {
		if r, err := s.Recv(3 * time.Second); err == nil {
			t.Fatalf("a stream on a third connection from one address was served: %v", r)
		}
	}
	within(t, "the third connection refused and counted", func() bool {
		return testutil.ToFloat64(f.srv.metrics.connsRefused) >= 1
	})
	_ = c.Close()

	// Closing a connection gives its places back: a new connection and stream are served.
	_ = b.Close()
	within(t, "the closed connection released", func() bool { return f.srv.byAddr.Load().openFrom("127.0.0.1") == 1 })
	within(t, "its stream released", func() bool { return f.srv.callbacks.streamCount() == 2 })
	hold(dialFrom(t, f, "127.0.0.1"), "web-d")
}

// TestDeltaSubscriptionBudgetCountsTheSetOfNames: a delta stream's share of the budget is what
// the names it subscribes to cost (their bytes and nameOverheadBytes each): unsubscribing
// names it never subscribed frees nothing, and subscribing names it already has takes nothing
// more.
func TestDeltaSubscriptionBudgetCountsTheSetOfNames(t *testing.T) {
	c := newCallbacks(slog.New(slog.DiscardHandler), nil, nil, nil, nil, Limits{MaxSubscribedBytes: 500})
	st := newStreamState()
	names := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%09d", prefix, i) // 10 bytes each
		}
		return out
	}
	six := 6 * (10 + nameOverheadBytes)
	sub := func(subscribe, unsubscribe []string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.subscribe(st, "eds", subscription{delta: true, names: subscribe, unsubNames: unsubscribe})
	}
	if !sub(names("a", 6), nil) || c.subscribed != six {
		t.Fatalf("six names within 500 bytes: subscribed %d", c.subscribed)
	}
	if !sub(names("a", 6), nil) || c.subscribed != six {
		t.Errorf("the same names again: subscribed %d, want %d", c.subscribed, six)
	}
	if sub(names("b", 6), names("c", 6)) {
		t.Errorf("six more names, unsubscribing names never subscribed: accepted (subscribed %d)", c.subscribed)
	}
	if c.subscribed != six {
		t.Errorf("a refused request changed the budget: %d", c.subscribed)
	}
	if !sub(names("b", 6), names("a", 6)) || c.subscribed != six {
		t.Errorf("swapping six names for six: subscribed %d, want %d", c.subscribed, six)
	}
	if !sub(names("b", 1), names("b", 1)) || c.subscribed != six-(10+nameOverheadBytes) {
		t.Errorf("a name subscribed and unsubscribed in one request (it ends unsubscribed): subscribed %d, want %d", c.subscribed, six-(10+nameOverheadBytes))
	}
	if !sub(names("c", 1), names("c", 1)) || c.subscribed != six-(10+nameOverheadBytes) {
		t.Errorf("a new name subscribed and unsubscribed in one request: subscribed %d, want %d", c.subscribed, six-(10+nameOverheadBytes))
	}
	if !sub(names("b", 6), nil) || c.subscribed != six {
		t.Errorf("six names again: subscribed %d, want %d", c.subscribed, six)
	}
	if !sub(nil, names("b", 6)) || c.subscribed != 0 || len(st.deltaNames["eds"]) != 0 {
		t.Errorf("everything unsubscribed: subscribed %d, names %v", c.subscribed, st.deltaNames["eds"])
	}
}

// TestDeltaStreamWithoutNodeIsRefused: the first request of a delta stream names no node: the
// stream is refused as one of a node in no group is, not left waiting.
func TestDeltaStreamWithoutNodeIsRefused(t *testing.T) {
	f := start(t, "p1")
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := xdstest.OpenDelta(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Recv(5 * time.Second); status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
		t.Fatalf("a delta stream without a node: %v, want PermissionDenied", err)
	}
}

// metadataNode is a node of cluster web whose metadata has n fields of 8 bytes.
func metadataNode(id string, n int) *core.Node {
	md := map[string]string{}
	for i := range n {
		md[fmt.Sprintf("k%07d", i)] = "abcdefgh"
	}
	return xdstest.Node(id, "web", md)
}

// TestNodesAndInitialVersionsAreCharged: what a node holds in memory past freeNodeBytes is
// charged to the subscription budget while its stream lives, and given back when it ends; a
// node over maxNodeBytes is refused with INVALID_ARGUMENT; the versions a delta stream says
// it holds are charged as its names are.
func TestNodesAndInitialVersionsAreCharged(t *testing.T) {
	f := startLimited(t, "nodes", Limits{MaxSubscribedBytes: 100_000})
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(ctx context.Context, node *core.Node) error {
		s, err := xdstest.Open(ctx, conn, node)
		if err == nil {
			err = s.Subscribe(resourcev3.ClusterType)
		}
		if err == nil {
			_, err = s.Recv(10 * time.Second)
		}
		return err
	}
	// A node of 400 fields holds about 60 KB: about 44 KB past the free 16 KiB.
	node := metadataNode("big-1", 400)
	charged := nodeBytes(node) - freeNodeBytes
	if charged < 34_000 || charged > 50_000 {
		t.Fatalf("a node of 400 fields of 8 bytes charges %d bytes, want about 44 KB", charged)
	}
	ctx1, cancel1 := context.WithCancel(ctx)
	if err := open(ctx1, node); err != nil {
		t.Fatalf("a first node of 44 KB within a 100 KB budget: %v", err)
	}
	if err := open(ctx, metadataNode("big-2", 400)); err != nil {
		t.Fatalf("a second one: %v", err)
	}
	if err := open(ctx, metadataNode("big-3", 400)); status.Code(errors.Unwrap(err)) != codes.ResourceExhausted {
		t.Fatalf("a third node past the budget: %v, want RESOURCE_EXHAUSTED", err)
	}
	if err := open(ctx, xdstest.Node("small", "web", nil)); err != nil {
		t.Fatalf("a node of a few bytes, within its free share: %v", err)
	}
	cancel1()
	waitFor(t, func() bool {
		f.srv.callbacks.mu.Lock()
		defer f.srv.callbacks.mu.Unlock()
		return f.srv.callbacks.subscribed < 2*charged
	})
	if err := open(ctx, metadataNode("big-4", 400)); err != nil {
		t.Fatalf("once the first stream gave its node's share back: %v", err)
	}

	huge := metadataNode("huge", 3000)
	if err := open(ctx, huge); status.Code(errors.Unwrap(err)) != codes.InvalidArgument || !strings.Contains(err.Error(), "bytes in memory: at most 262144") {
		t.Fatalf("a node of %d bytes in memory: %v, want INVALID_ARGUMENT", nodeBytes(huge), err)
	}
	if got := testutil.ToFloat64(f.srv.metrics.refused.WithLabelValues("node_size")); got != 1 {
		t.Errorf("node_size refusals counted %v, want 1", got)
	}

	// 1,000 versions of 40-byte names: about 104 KB, past what is left.
	versions := map[string]string{}
	for i := range 1000 {
		versions[fmt.Sprintf("%040d", i)] = "1"
	}
	d, err := xdstest.OpenDelta(ctx, conn, xdstest.Node("delta", "web", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resourcev3.SecretType, ResourceNamesSubscribe: []string{"*"}, InitialResourceVersions: versions}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Recv(10 * time.Second); status.Code(errors.Unwrap(err)) != codes.ResourceExhausted {
		t.Fatalf("a delta stream holding 104 KB of versions: %v, want RESOURCE_EXHAUSTED", err)
	}
}
