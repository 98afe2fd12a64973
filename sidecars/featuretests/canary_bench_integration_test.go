//go:build integration

package featuretests

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/sidecars/canary"
)

// BenchmarkGRPCCanaryRollback measures a rollback as a proxyless gRPC client lives it: a
// canary (20% of the traffic) fails 10% of its calls, its success ratio reaches a real
// Prometheus, and the analysis (every 200 ms, one failure tolerated) rolls it back while one
// grpc-go client calls without pause. Per rollback it reports the time from the failing
// measurement to the client's last answer from the canary (s/rollback, 0 when the client
// had left the canary before), the client's failed calls and all its calls.
//
//	go test -tags integration -run '^$' -bench BenchmarkGRPCCanaryRollback -benchtime 5x ./sidecars/featuretests/
func BenchmarkGRPCCanaryRollback(b *testing.B) {
	var seconds, failed, calls float64
	for range b.N {
		s, f, c := rollbackOnce(b)
		seconds, failed, calls = seconds+s, failed+f, calls+c
	}
	n := float64(b.N)
	b.ReportMetric(seconds/n, "s/rollback")
	b.ReportMetric(failed/n, "failed/rollback")
	b.ReportMetric(calls/n, "calls/rollback")
	b.ReportMetric(100*failed/calls, "%failed")
}

func rollbackOnce(b *testing.B) (seconds, failedCalls, allCalls float64) {
	b.StopTimer()
	app := startCanaryApp(b)
	v1, v2 := startBackend(b, "v1"), startBackend(b, "v2")
	cp := startControlPlane(b, withCanary(b, grpcPolicy(b, v1, v2, 100, 0, "", ""), time.Hour))
	conn := dialXDS(b, cp.addr)
	eventually(b, "the client reaches the stable", func() bool {
		who, err := call(context.Background(), conn)
		return err == nil && who == "v1"
	})
	v2.FailEvery(10)
	b.StartTimer()

	var (
		mu      sync.Mutex
		lastV2  time.Time
		errs    atomic.Int64
		total   atomic.Int64
		stopped = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stopped:
				return
			default:
			}
			who, err := call(context.Background(), conn)
			now := time.Now()
			total.Add(1)
			if err != nil {
				errs.Add(1)
			}
			if who == "v2" || (err != nil && v2.Calls() > 0) {
				mu.Lock()
				lastV2 = now
				mu.Unlock()
			}
			// The canary's own success ratio, as its metrics would report it.
			if c := v2.Calls(); c > 0 {
				app.ratio.Set(1 - float64(v2.Failed())/float64(c))
			}
		}
	}()
	c, _, _ := runCanaries(b, cp, app, filepath.Join(b.TempDir(), "canaries.json"))
	var st *canary.State
	deadline := time.Now().Add(time.Minute)
	for st = c.State("greeter-rollout"); st == nil || st.Phase != canary.PhaseFailed; st = c.State("greeter-rollout") {
		if time.Now().After(deadline) {
			b.Fatalf("no rollback within a minute: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	decided := st.History[len(st.History)-1].At
	// The client has left the canary once it got 50 answers from the stable and none from
	// the canary for a second.
	before := v1.Calls()
	for {
		mu.Lock()
		quiet := time.Since(lastV2) > time.Second
		mu.Unlock()
		if quiet && v1.Calls() >= before+50 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the client still reaches the canary a minute after the rollback")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stopped)
	<-done
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if lastV2.After(decided) {
		seconds = lastV2.Sub(decided).Seconds()
	}
	return seconds, float64(errs.Load()), float64(total.Load())
}
