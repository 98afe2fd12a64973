package xds

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// BenchmarkPolicyChangeTo1000Streams measures how long a configuration change (one of 100
// clusters changes) takes to reach 1,000 connected state-of-the-world ADS streams and be
// acknowledged by every one of them, as counted by the server. Streams run over 50 loopback
// connections (20 streams each), in this process.
func BenchmarkPolicyChangeTo1000Streams(b *testing.B) { policyChangeTo1000Streams(b, false) }

// BenchmarkClusterAddedTo1000Streams is BenchmarkPolicyChangeTo1000Streams with a change that
// adds a cluster: Apply waits for the 1,000 streams to acknowledge the clusters before it
// serves the rest (warmNewClusters), so each change takes two rounds of acknowledgements.
func BenchmarkClusterAddedTo1000Streams(b *testing.B) { policyChangeTo1000Streams(b, true) }

// policyChangeTo1000Streams measures changes to 1,000 streams, each of which changes one
// cluster, or adds one (add).
func policyChangeTo1000Streams(b *testing.B, add bool) {
	const streams, conns, clusters = 1000, 50, 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := New(ctx, Options{
		NodeGroup: func(*envoy_config_core_v3.Node) (string, bool) { return "web", true },
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits:    Limits{MaxStreamsPerConnection: streams / conns},
	})
	if err != nil {
		b.Fatal(err)
	}
	config := func(gen int) map[string]Config {
		var cs []types.Resource
		for i := 0; i < clusters; i++ {
			c := cluster(fmt.Sprintf("svc-%03d.default", i))
			if i == gen%clusters {
				c.ConnectTimeout = durationpb.New(time.Duration(gen+1) * time.Millisecond)
			}
			cs = append(cs, c)
		}
		if add {
			cs = append(cs, cluster(fmt.Sprintf("added-%d.default", gen)))
		}
		return map[string]Config{"web": {Clusters: cs}}
	}
	if err := srv.Apply(ctx, config(0)); err != nil {
		b.Fatal(err)
	}
	cc := serveAndDial(b, ctx, srv, conns)
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		s, err := xdstest.Open(ctx, cc[i%conns], xdstest.Node(fmt.Sprintf("web-%d", i), "web", nil))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Subscribe(resourcev3.ClusterType); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { // ACK every response until the benchmark ends
			defer wg.Done()
			for {
				r, err := s.RecvBlocking()
				if err != nil {
					return
				}
				if err := s.ACK(r); err != nil {
					return
				}
			}
		}()
	}
	waitACKs := func(n int64) {
		for srv.callbacks.acks.Load() < n {
			time.Sleep(100 * time.Microsecond)
		}
	}
	waitACKs(streams)
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		target := srv.callbacks.acks.Load() + streams
		if err := srv.Apply(ctx, config(i)); err != nil {
			b.Fatal(err)
		}
		waitACKs(target)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/change")
	// CPU time of the whole process (server and the 1,000 clients) per change: the figure that
	// does not depend on how busy the shared machine is.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/change")
	cancel()
	wg.Wait()
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serveAndDial serves srv on loopback until ctx ends and returns conns connections to it,
// closed at the end of the benchmark.
func serveAndDial(b *testing.B, ctx context.Context, srv *Server, conns int) []*grpc.ClientConn {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, lis) }()
	var cc []*grpc.ClientConn
	for i := 0; i < conns; i++ {
		c, err := xdstest.Dial(lis.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		cc = append(cc, c)
	}
	return cc
}
