//go:build integration

package featuretests

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/foresight-dev/foresight/internal/testharness/grpcbackend"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// backend is a real gRPC server on loopback serving the health service; it names itself in a
// response header and can fail, alternate or hold calls.
type backend = grpcbackend.Backend

func startBackend(t testing.TB, name string) *backend {
	t.Helper()
	b, err := grpcbackend.Start(name, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// grpcPolicy is a policy for proxyless clients of group "clients" calling xds:///greeter,
// whose route sends traffic to greeter-v1 and greeter-v2 with the given weights. extra is
// YAML added to the greeter-v1 service (resilience settings).
func grpcPolicy(t testing.TB, v1, v2 *backend, w1, w2 int, route, v1extra string) *policy.Policy {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: grpc-e2e, namespace: test}
spec:
  services:
    - name: greeter
      port: 50051
      protocol: grpc
      endpoints: [{address: 127.0.0.1, port: %d}]
      routes:
        - name: greeter-split
%s          backends:
            - {service: greeter-v1, weight: %d}
            - {service: greeter-v2, weight: %d}
    - name: greeter-v1
      port: 50051
      protocol: grpc
      endpoints: [{address: 127.0.0.1, port: %d}]
%s    - name: greeter-v2
      port: 50051
      protocol: grpc
      endpoints: [{address: 127.0.0.1, port: %d}]
  nodeGroups:
    - {name: clients, kind: grpc, services: [grpc-client], upstreams: [greeter]}
`, v1.Port, route, w1, w2, v1.Port, v1extra, v2.Port)
	p, err := policy.Parse([]byte(doc), "grpc-e2e.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return p
}

// dialXDS connects a grpc-go xDS client (bootstrap given in-process) to xds:///greeter.
func dialXDS(t testing.TB, cpAddr string) *grpc.ClientConn {
	t.Helper()
	bootstrap := fmt.Sprintf(`{
  "xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
  "node": {"id": "client-%d", "cluster": "grpc-client", "locality": {}}
}`, cpAddr, time.Now().UnixNano())
	conn, err := grpcbackend.XDSClient(t, []byte(bootstrap), "xds:///greeter")
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// call makes one RPC and returns the backend that answered (from the response header).
func call(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	var md metadata.MD
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
	if v := md.Get("backend"); len(v) > 0 {
		return v[0], err
	}
	return "", err
}

// eventually retries cond every 20 ms for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func within(t *testing.T, what string, got, want, tolerance float64) {
	t.Helper()
	if math.Abs(got-want) > tolerance {
		t.Errorf("%s = %.4f, want %.4f ± %.4f", what, got, want, tolerance)
	} else {
		t.Logf("%s = %.4f (want %.4f ± %.4f)", what, got, want, tolerance)
	}
}

func TestGRPCWeightedSplit(t *testing.T) {
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	cp := startControlPlane(t, grpcPolicy(t, v1, v2, 90, 10, "", ""))
	conn := dialXDS(t, cp.addr)
	const n = 2000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		b, err := call(context.Background(), conn)
		if err != nil {
			t.Fatal(err)
		}
		counts[b]++
	}
	// Binomial(2000, 0.1): sd 0.0067; allow 4.5 sd.
	within(t, "share of v2", float64(counts["v2"])/n, 0.10, 0.03)
	if counts["v1"]+counts["v2"] != n {
		t.Fatalf("answers from unexpected backends: %v", counts)
	}
}

func TestGRPCPolicyChangeReachesClients(t *testing.T) {
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	p := grpcPolicy(t, v1, v2, 100, 0, "", "")
	cp := startControlPlane(t, p)
	conn := dialXDS(t, cp.addr)
	if b, err := call(context.Background(), conn); err != nil || b != "v1" {
		t.Fatalf("before the change: %q, %v", b, err)
	}
	changed := time.Now()
	if err := cp.rec.SetPolicy(context.Background(), grpcPolicy(t, v1, v2, 0, 100, "", "")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "traffic moved to v2", func() bool {
		b, err := call(context.Background(), conn)
		return err == nil && b == "v2"
	})
	t.Logf("policy change reached the client after %v", time.Since(changed))
	for i := 0; i < 50; i++ {
		if b, err := call(context.Background(), conn); err != nil || b != "v2" {
			t.Fatalf("after the change: %q, %v", b, err)
		}
	}
}

func TestGRPCRetriesTurnFailuresIntoSuccess(t *testing.T) {
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	v1.FailOdd(true)
	// Without retries half of the calls fail.
	cp := startControlPlane(t, grpcPolicy(t, v1, v2, 100, 0, "", ""))
	conn := dialXDS(t, cp.addr)
	failed := 0
	for i := 0; i < 20; i++ {
		if _, err := call(context.Background(), conn); status.Code(err) == codes.Unavailable {
			failed++
		}
	}
	if failed != 10 {
		t.Fatalf("without retries %d of 20 calls failed, want 10", failed)
	}
	retries := "          retries: {on: [unavailable], count: 2, backoff: {base: 1ms, max: 5ms}}\n"
	if err := cp.rec.SetPolicy(context.Background(), grpcPolicy(t, v1, v2, 100, 0, retries, "")); err != nil {
		t.Fatal(err)
	}
	// Wait for the retry policy, then every call succeeds with two attempts at most.
	eventually(t, "retry policy in effect", func() bool {
		before := v1.Calls()
		_, err := call(context.Background(), conn)
		return err == nil && v1.Calls()-before == 2
	})
	before := v1.Calls()
	for i := 0; i < 100; i++ {
		if _, err := call(context.Background(), conn); err != nil {
			t.Fatalf("call %d failed despite retries: %v", i, err)
		}
	}
	if attempts := v1.Calls() - before; attempts != 200 {
		t.Fatalf("%d attempts for 100 calls, want 200 (each first attempt fails)", attempts)
	}
}

func TestGRPCFaultAbortAndDelay(t *testing.T) {
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	fault := "          fault:\n            abort: {grpcStatus: 14, percent: 30}\n            delay: {fixed: 250ms, percent: 50}\n"
	cp := startControlPlane(t, grpcPolicy(t, v1, v2, 100, 0, fault, ""))
	conn := dialXDS(t, cp.addr)
	const n = 600
	var aborted, delayed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	// Thirty concurrent callers keep the delays from adding up. The delay is long enough that
	// an undelayed call on a busy machine does not take as long.
	const workers = 30
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/workers; i++ {
				start := time.Now()
				_, err := call(context.Background(), conn)
				if time.Since(start) >= 250*time.Millisecond {
					delayed.Add(1)
				}
				switch status.Code(err) {
				case codes.OK:
				case codes.Unavailable:
					aborted.Add(1)
				default:
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("unexpected error: %v", err)
	}
	// Binomial sd: abort 0.019, delay 0.020; allow about 4 sd.
	within(t, "aborted share", float64(aborted.Load())/n, 0.30, 0.08)
	within(t, "delayed share", float64(delayed.Load())/n, 0.50, 0.08)
}

func TestGRPCCircuitBreakerMaxRequests(t *testing.T) {
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	cp := startControlPlane(t, grpcPolicy(t, v1, v2, 100, 0, "", "      circuitBreaker: {maxRequests: 2}\n"))
	conn := dialXDS(t, cp.addr)
	if _, err := call(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	v1.Hold(release)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := call(context.Background(), conn)
			errs <- err
		}()
	}
	// While two calls are held, the client must fail the four others at once; their answers
	// arrive before anything is released, whatever the scheduling.
	for i := 0; i < 4; i++ {
		select {
		case err := <-errs:
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("call %d finished while two calls were held: %v, want UNAVAILABLE (max_requests 2)", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of 6 calls failed fast while %d were held, max_requests is 2", i, v1.InFlight())
		}
	}
	eventually(t, "two calls held by the backend", func() bool { return v1.InFlight() >= 2 })
	if got := v1.InFlight(); got != 2 {
		t.Fatalf("%d calls reached the backend, max_requests is 2", got)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a held call failed after its release: %v", err)
		}
	}
	if got := v1.Calls(); got != 3 { // the first call and the two held ones
		t.Errorf("the backend saw %d calls, want 3", got)
	}
}

func TestGRPCOutlierEjection(t *testing.T) {
	good, bad := startBackend(t, "good"), startBackend(t, "bad")
	bad.FailAll(true)
	doc := fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: outlier-e2e, namespace: test}
spec:
  services:
    - name: greeter
      port: 50051
      protocol: grpc
      endpoints: [{address: 127.0.0.1, port: %d}, {address: 127.0.0.1, port: %d}]
      outlierDetection:
        interval: 1s
        baseEjectionTime: 60s
        maxEjectionPercent: 50
        failurePercentage: {threshold: 50, minimumHosts: 2, requestVolume: 5}
  nodeGroups:
    - {name: clients, kind: grpc, services: [grpc-client], upstreams: [greeter]}
`, good.Port, bad.Port)
	p, err := policy.Parse([]byte(doc), "outlier-e2e.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cp := startControlPlane(t, p)
	conn := dialXDS(t, cp.addr)
	// Round robin picks only among ready connections: until the failing endpoint's connection
	// is up, every call goes to the good one, however many calls that is. Call until the
	// failing endpoint has answered, so the ejection below is the outlier detector's doing.
	eventually(t, "the failing endpoint answered a call", func() bool {
		_, err := call(context.Background(), conn)
		return status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "bad: injected failure")
	})
	// The detector judges an endpoint only once it had requestVolume calls within one
	// interval, so calls follow each other without pauses until 30 in a row come from the good
	// endpoint: round robin alternates while both are in, so that run means an ejection.
	deadline := time.Now().Add(30 * time.Second)
	for run := 0; run < 30; {
		if time.Now().After(deadline) {
			t.Fatalf("the failing endpoint was not ejected within 30s (it answered %d calls)", bad.Calls())
		}
		if b, err := call(context.Background(), conn); err == nil && b == "good" {
			run++
		} else {
			run = 0
		}
	}
	before := bad.Calls()
	for i := 0; i < 20; i++ {
		if b, err := call(context.Background(), conn); err != nil || b != "good" {
			t.Fatalf("after the ejection: %q, %v", b, err)
		}
	}
	if got := bad.Calls(); got != before {
		t.Fatalf("the ejected endpoint still got %d calls", got-before)
	}
}

func TestGRPCControlPlaneRestart(t *testing.T) {
	v1, v2 := startBackend(t, "v1"), startBackend(t, "v2")
	p := grpcPolicy(t, v1, v2, 0, 100, "", "")
	ctx1, stop1 := context.WithCancel(context.Background())
	cp1 := startControlPlaneCtx(t, ctx1, p, "127.0.0.1:0", "first")
	conn := dialXDS(t, cp1.addr)
	if b, err := call(context.Background(), conn); err != nil || b != "v2" {
		t.Fatalf("before restart: %q, %v", b, err)
	}
	stop1()
	cp1.wait()
	// The client keeps its configuration while the control plane is away.
	for i := 0; i < 10; i++ {
		if b, err := call(context.Background(), conn); err != nil || b != "v2" {
			t.Fatalf("control plane down: %q, %v", b, err)
		}
	}
	cp2 := startControlPlaneCtx(t, context.Background(), p, cp1.addr, "second")
	eventually(t, "client reconnected and acknowledged the new control plane", func() bool {
		return counter(t, cp2, "foresight_xds_connected_proxies", map[string]string{"kind": "grpc"}) == 1 &&
			histogramCount(t, cp2, "foresight_xds_push_ack_duration_seconds") >= 4
	})
	for i := 0; i < 20; i++ {
		if b, err := call(context.Background(), conn); err != nil || b != "v2" {
			t.Fatalf("after restart: %q, %v", b, err)
		}
	}
	if strings.Contains(cp2.logs.String(), "NACK") {
		t.Fatalf("the client rejected the restarted control plane's configuration:\n%s", cp2.logs.String())
	}
	// And it follows the new control plane.
	if err := cp2.rec.SetPolicy(context.Background(), grpcPolicy(t, v1, v2, 100, 0, "", "")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "client follows the restarted control plane", func() bool {
		b, err := call(context.Background(), conn)
		return err == nil && b == "v1"
	})
}
