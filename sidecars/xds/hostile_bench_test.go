package xds

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"

	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// heapInUse is the live heap after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// hostileServer serves the web group (two clusters) on loopback with default limits and
// returns it with conns connections to it.
func hostileServer(b *testing.B, ctx context.Context, conns int) (*Server, []*grpc.ClientConn) {
	b.Helper()
	// Every client here has one address (loopback): the per-address limits are the totals.
	limits := Limits{MaxConnectionsPerAddress: DefaultLimits.MaxConnections, MaxStreamsPerAddress: DefaultLimits.MaxStreams}
	srv, err := New(ctx, Options{NodeGroup: groupOf, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: limits})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Apply(ctx, map[string]Config{"web": webConfig(b, 9000)}); err != nil {
		b.Fatal(err)
	}
	return srv, serveAndDial(b, ctx, srv, conns)
}

// BenchmarkUnknownNodeFlood opens streams of distinct node ids that belong to no node group,
// one after another over 8 connections: each is refused. It reports the live heap the flood
// leaves behind per refused node (client and server share the process) and the refusals per
// second.
func BenchmarkUnknownNodeFlood(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, cc := hostileServer(b, ctx, 8)
	before := heapInUse()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sctx, scancel := context.WithCancel(ctx)
		s, err := xdstest.Open(sctx, cc[i%len(cc)], xdstest.Node(fmt.Sprintf("intruder-%d", i), fmt.Sprintf("nobody-%d", i), nil))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Subscribe(resourcev3.ClusterType); err != nil {
			b.Fatal(err)
		}
		if _, err := s.RecvBlocking(); err == nil {
			b.Fatal("an unknown node was served")
		}
		scancel()
	}
	b.StopTimer()
	for srv.callbacks.streamCount() > 0 {
		runtime.Gosched()
	}
	b.ReportMetric(float64(heapInUse()-before)/float64(b.N), "retained-B/node")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refusals/s")
}

// BenchmarkHeldStreams holds b.N streams of distinct member nodes (one ADS stream each, 8 per
// connection, each subscribed to the group's clusters and acknowledged) and reports the live
// heap per held stream, client and server together: times --max-streams it bounds what
// connected proxies can make the process hold.
func BenchmarkHeldStreams(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := (b.N + 7) / 8
	srv, cc := hostileServer(b, ctx, conns)
	before := heapInUse()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := xdstest.Open(ctx, cc[i/8], xdstest.Node(fmt.Sprintf("web-%d", i), "web", nil))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Subscribe(resourcev3.ClusterType); err != nil {
			b.Fatal(err)
		}
		r, err := s.RecvBlocking()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.ACK(r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := srv.callbacks.streamCount(); got != b.N {
		b.Fatalf("server holds %d streams, want %d", got, b.N)
	}
	b.ReportMetric(float64(heapInUse()-before)/float64(b.N), "heap-B/stream")
}

// BenchmarkSubscribedNames holds b.N streams of member nodes, each subscribed to 1,000
// route names of 50 or 6 bytes that do not exist (endpoint names outside a node's group are
// not subscribed at all), and reports the live heap per byte of
// subscribed names (client and server together): the factor between
// Limits.MaxSubscribedBytes and the memory it admits.
func BenchmarkSubscribedNames(b *testing.B) {
	for _, c := range []struct {
		name  string
		size  int
		delta bool
	}{{"sotw-50B", 50, false}, {"sotw-6B", 6, false}, {"delta-50B", 50, true}, {"delta-6B", 6, true}} {
		b.Run(c.name, func(b *testing.B) { subscribedNames(b, c.size, c.delta) })
	}
}

// subscribedNames holds b.N streams of 1,000 distinct names of size bytes each, state of the
// world or delta, and reports the live heap they take per byte of the subscription budget
// they are charged.
func subscribedNames(b *testing.B, size int, delta bool) {
	const names = 1000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, cc := hostileServer(b, ctx, (b.N+7)/8)
	before := heapInUse()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list := make([]string, names)
		for j := range list {
			list[j] = fmt.Sprintf("%0*d", size, i*names+j)
		}
		node := xdstest.Node(fmt.Sprintf("web-%d", i), "web", nil)
		var err error
		if delta {
			var d *xdstest.DeltaStream
			if d, err = xdstest.OpenDelta(ctx, cc[i/8], node); err == nil {
				err = d.Subscribe(resourcev3.RouteType, list...)
			}
		} else {
			var s *xdstest.Stream
			if s, err = xdstest.Open(ctx, cc[i/8], node); err == nil {
				err = s.Subscribe(resourcev3.RouteType, list...)
			}
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	charged := b.N * names * (size + nameOverheadBytes)
	for {
		srv.callbacks.mu.Lock()
		got := srv.callbacks.subscribed
		srv.callbacks.mu.Unlock()
		if got == charged {
			break
		}
		runtime.Gosched()
	}
	b.StopTimer()
	b.ReportMetric(float64(heapInUse()-before)/float64(charged), "heap-B/budget-byte")
	b.ReportMetric(float64(heapInUse()-before)/float64(b.N*names), "heap-B/name")
}
