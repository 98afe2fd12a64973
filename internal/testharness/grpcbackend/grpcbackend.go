// Package grpcbackend is a gRPC backend for the xDS tests and benchmarks: a real grpc-go
// server of the standard health service that names itself in a "backend" response header,
// can fail all, every other or every n-th call, or hold calls, and counts what it answered
// the way an instrumented service does, in client_golang metrics on its own /metrics for a
// real Prometheus to scrape:
//
//	grpc_server_handled_total{grpc_service="grpc.health.v1.Health",grpc_method="Check",grpc_code="OK"|"Unavailable"}
//
// (the series go-grpc-middleware's server metrics export). Both codes exist from the start
// at 0, so a success ratio over a backend that got no calls yet is NaN, not absent.
package grpcbackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	grpcxds "google.golang.org/grpc/xds"
)

// HeaderName is the response header naming the backend that answered.
const HeaderName = "backend"

// Backend is a running backend.
type Backend struct {
	healthpb.UnimplementedHealthServer
	// Name is what the backend answers in its header.
	Name string
	// Addr is the gRPC host:port; Port its port.
	Addr string
	Port int
	// MetricsAddr is the host:port of /metrics.
	MetricsAddr string

	calls, failed, failEvery, inflight atomic.Int64
	failAll, failOdd                   atomic.Bool
	mu                                 sync.Mutex
	hold                               <-chan struct{}
	handled                            *prometheus.CounterVec
	grpc                               *grpc.Server
	http                               *http.Server
}

// Start serves a backend called name on host (an IP address) on two free ports: gRPC and
// /metrics. Close stops it.
func Start(name, host string) (*Backend, error) {
	glis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", name, err)
	}
	mlis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		glis.Close()
		return nil, fmt.Errorf("backend %s metrics: %w", name, err)
	}
	b := &Backend{Name: name, Addr: glis.Addr().String(), Port: glis.Addr().(*net.TCPAddr).Port, MetricsAddr: mlis.Addr().String()}
	reg := prometheus.NewRegistry()
	b.handled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_handled_total",
		Help: "Total number of RPCs completed on the server, regardless of success or failure."},
		[]string{"grpc_type", "grpc_service", "grpc_method", "grpc_code"})
	reg.MustRegister(b.handled)
	for _, c := range []codes.Code{codes.OK, codes.Unavailable} {
		b.handled.WithLabelValues("unary", "grpc.health.v1.Health", "Check", c.String())
	}
	b.grpc = grpc.NewServer()
	healthpb.RegisterHealthServer(b.grpc, b)
	b.http = &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.grpc.Serve(glis) }()
	go func() { _ = b.http.Serve(mlis) }()
	return b, nil
}

// Close stops both servers.
func (b *Backend) Close() {
	b.grpc.Stop()
	_ = b.http.Close()
}

// FailEvery makes every n-th call fail with UNAVAILABLE (n > 0), or none (n = 0).
func (b *Backend) FailEvery(n int64) { b.failEvery.Store(n) }

// FailOdd makes every odd-numbered call fail with UNAVAILABLE, or none.
func (b *Backend) FailOdd(on bool) { b.failOdd.Store(on) }

// FailAll makes every call fail with UNAVAILABLE, or none.
func (b *Backend) FailAll(on bool) { b.failAll.Store(on) }

// Hold makes calls wait until release is closed (or their context ends); nil stops holding.
func (b *Backend) Hold(release <-chan struct{}) {
	b.mu.Lock()
	b.hold = release
	b.mu.Unlock()
}

// Calls is the number of calls the backend got; Failed the number it failed on purpose;
// InFlight the number it holds now.
func (b *Backend) Calls() int64    { return b.calls.Load() }
func (b *Backend) Failed() int64   { return b.failed.Load() }
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Check answers SERVING with the backend's name in the header, or fails the call.
func (b *Backend) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	n := b.calls.Add(1)
	b.mu.Lock()
	hold := b.hold
	b.mu.Unlock()
	if hold != nil {
		b.inflight.Add(1)
		defer b.inflight.Add(-1)
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fe := b.failEvery.Load(); b.failAll.Load() || (b.failOdd.Load() && n%2 == 1) || (fe > 0 && n%fe == 0) {
		b.failed.Add(1)
		b.handled.WithLabelValues("unary", "grpc.health.v1.Health", "Check", codes.Unavailable.String()).Inc()
		// No response headers: a trailers-only failure.
		return nil, status.Errorf(codes.Unavailable, "%s: injected failure of call %d", b.Name, n)
	}
	b.handled.WithLabelValues("unary", "grpc.health.v1.Health", "Check", codes.OK.String()).Inc()
	_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderName, b.Name))
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// Who makes one health call through conn and returns the backend that answered.
func Who(ctx context.Context, conn grpc.ClientConnInterface) (string, error) {
	var md metadata.MD
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
	if err != nil {
		return "", err
	}
	if v := md.Get(HeaderName); len(v) > 0 {
		return v[0], nil
	}
	return "", errors.New("no backend header in the response")
}

// XDSClient connects a grpc-go xDS client configured by bootstrap (a grpc-go bootstrap
// document, given in process rather than by GRPC_XDS_BOOTSTRAP) to target, such as
// "xds:///greeter", without transport security; the connection closes when the test ends.
func XDSClient(t testing.TB, bootstrap []byte, target string) (*grpc.ClientConn, error) {
	resolver, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(resolver))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, nil
}
