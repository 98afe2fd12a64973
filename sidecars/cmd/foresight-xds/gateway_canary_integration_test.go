//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/grpcbackend"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/promserver"
	"github.com/foresight-dev/foresight/sidecars/canary"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
)

// canaryShop is a shop whose Services greeter-<version> are backends exporting their own
// metrics, scraped every 200 ms by a real Prometheus that labels their series with
// service="greeter-<version>"; the GRPCRoute greeter (host greeter.shop) sends everything
// to the first version, the second at weight 0; serve runs with --prometheus-url.
type canaryShop struct {
	*shop
	backends map[string]*grpcbackend.Backend
	f        serveFlags
	stop     func()
}

func startCanaryShop(t testing.TB, versions ...string) *canaryShop {
	t.Helper()
	s := &canaryShop{shop: startShop(t), backends: map[string]*grpcbackend.Backend{}}
	var targets []promserver.Target
	var refs []gwv1.GRPCBackendRef
	for i, v := range versions {
		svc := "greeter-" + v
		b := s.backend(t, svc, v)
		s.backends[v] = b
		targets = append(targets, promserver.Target{Addr: b.MetricsAddr, Labels: map[string]string{"service": svc}})
		switch i {
		case 0:
			refs = append(refs, backendRef(svc, 100))
		case 1:
			refs = append(refs, backendRef(svc, 0))
		}
	}
	prom, err := promserver.StartScraping(context.Background(), needs.Program(t, "prometheus"), t.TempDir(), 200*time.Millisecond, targets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	s.route(t, "greeter", "greeter.shop", refs...)
	s.f = s.serveFlags(t, t.TempDir())
	s.f.prometheus.Address = prom.URL
	s.stop = startServeFlags(t, s.f)
	return s
}

// restart stops serve and starts it again on the same state, xDS address and token, with
// new metrics and admin listeners.
func (s *canaryShop) restart(t testing.TB) {
	t.Helper()
	s.stop()
	s.f.metricsAddr, s.f.adminAddr = freeAddr(t), freeAddr(t)
	s.stop = startServeFlags(t, s.f)
}

// state is the rollout's state from the admin API (nil when serve does not know it yet).
func (s *canaryShop) state(t testing.TB, name string) *canary.State {
	t.Helper()
	token, err := canary.ReadToken(s.f.adminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+s.f.adminAddr+"/canaries/"+url.PathEscape(name), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	var st canary.State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("canary %s state: %v", name, err)
	}
	return &st
}

// waitState polls the rollout's state until cond holds (generous: analysis needs scrapes).
func (s *canaryShop) waitState(t testing.TB, name, what string, cond func(*canary.State) bool) *canary.State {
	t.Helper()
	var st *canary.State
	eventuallyWithin(t, 2*time.Minute, name+": "+what, func() error {
		if st = s.state(t, name); st == nil || !cond(st) {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})
	return st
}

// successRate is the analysis metric of a Service: the share of its calls answered OK over
// the last 2 s, from its own grpc_server_handled_total (NaN, so inconclusive, without calls).
func successRate(svc string) map[string]any {
	q := fmt.Sprintf(`sum(rate(grpc_server_handled_total{service=%q,grpc_code="OK"}[2s])) / sum(rate(grpc_server_handled_total{service=%q}[2s]))`, svc, svc)
	return map[string]any{"name": "success-rate", "query": q, "min": 0.99}
}

// traffic is steady load: grpc-go xDS clients of the Gateway, each calling in a loop with a
// pause between calls (0: none); every call is counted by the backend that answered ("" for
// a failed call).
type traffic struct {
	mu    sync.Mutex
	by    map[string]int
	last  map[string]time.Time
	calls int
	errs  []string // the first failures, with when they happened
	// entering counts the failures grpc-go's cluster manager gives a call routed to a
	// cluster its picker does not have yet: a client-side transient when a route's weights
	// bring in a new cluster (weight-0 clusters are dropped by grpc-go), as a canary's first
	// step does.
	entering int
	stop     chan struct{}
	wg       sync.WaitGroup
}

// counts is a snapshot of a traffic's counters.
type counts struct {
	calls, failed, entering int
	by                      map[string]int
}

func (c counts) minus(o counts) counts {
	d := counts{calls: c.calls - o.calls, failed: c.failed - o.failed, entering: c.entering - o.entering, by: map[string]int{}}
	for k, v := range c.by {
		d.by[k] = v - o.by[k]
	}
	return d
}

func startTraffic(t testing.TB, pause time.Duration, conns ...*grpc.ClientConn) *traffic {
	tr := &traffic{by: map[string]int{}, last: map[string]time.Time{}, stop: make(chan struct{})}
	for _, conn := range conns {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for {
				select {
				case <-tr.stop:
					return
				default:
				}
				if pause > 0 {
					time.Sleep(pause)
				}
				who, err := whoAnswers(conn)
				tr.mu.Lock()
				if err != nil {
					who = ""
					if strings.Contains(err.Error(), "unknown cluster selected for RPC") {
						tr.entering++
					}
					if len(tr.errs) < 10 {
						tr.errs = append(tr.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
					}
				}
				tr.calls++
				tr.by[who]++
				tr.last[who] = time.Now()
				tr.mu.Unlock()
			}
		}()
	}
	t.Cleanup(tr.halt)
	return tr
}

func (tr *traffic) halt() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	tr.wg.Wait()
}

func (tr *traffic) snapshot() counts {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	c := counts{calls: tr.calls, failed: tr.by[""], entering: tr.entering, by: map[string]int{}}
	for k, v := range tr.by {
		c.by[k] = v
	}
	return c
}

// failures are the first failed calls' errors.
func (tr *traffic) failures() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.errs...)
}

// lastAnswer is when who last answered a call.
func (tr *traffic) lastAnswer(who string) time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.last[who]
}

// moreCalls waits until n more calls were made than in c.
func (tr *traffic) moreCalls(t testing.TB, c counts, n int) counts {
	t.Helper()
	var now counts
	eventuallyWithin(t, time.Minute, fmt.Sprintf("%d more calls", n), func() error {
		if now = tr.snapshot(); now.calls < c.calls+n {
			return fmt.Errorf("%d calls", now.calls-c.calls)
		}
		return nil
	})
	return now
}

// weights is the sequence of distinct canary weights in a rollout's measurements.
func weights(st *canary.State) []uint32 {
	var w []uint32
	for _, m := range st.History {
		if len(w) == 0 || w[len(w)-1] != m.Weight {
			w = append(w, m.Weight)
		}
	}
	return w
}

// TestServeGatewayAPICanaryAnalysis runs serve with --gateway-controller-name and
// --prometheus-url against a real kube-apiserver and a real Prometheus scraping three
// versions of a gRPC service (each exporting its own grpc_server_handled_total), with grpc-go
// xDS clients of the Gateway calling without pause throughout. A CanaryPolicy with a
// success-rate analysis promotes a healthy v2 through every step to 100% (the control plane
// killed and restarted mid-rollout resumes at the same step and pause start, the clients
// keep their configuration meanwhile), the GRPCRoute object is never rewritten, and v2
// becomes the stable as docs/canary.md says (the state records it; the route's backends
// are then updated and the policy removed without a call going back to v1). A second
// CanaryPolicy to a v3 failing 10% of its calls is rolled back at its second failed
// measurement (failureLimit 1: within two analysis intervals); every failed call is one the
// canary failed, and fewer than 1% of the run's calls fail. The only other failure allowed,
// once a client at most, is grpc-go's as a cluster enters a route (see traffic.entering).
func TestServeGatewayAPICanaryAnalysis(t *testing.T) {
	s := startCanaryShop(t, "v1", "v2", "v3")
	ctx := context.Background()
	var conns []*grpc.ClientConn
	for range 3 {
		conn := gatewayClient(t, s.f.xdsAddress, "greeter.shop")
		eventuallyWithin(t, time.Minute, "route served", func() error { return onlyFrom(conn, "v1", 10) })
		conns = append(conns, conn)
	}
	tr := startTraffic(t, time.Millisecond, conns...)
	routeBefore, err := s.gw.GatewayV1().GRPCRoutes("shop").Get(ctx, "greeter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A healthy canary: 10% for 2 s, 50% for 20 s (longer than a restart takes on a loaded
	// machine), analysed every second.
	analysis := func(svc string) map[string]any {
		return map[string]any{"interval": "1s", "failureLimit": int64(1), "metrics": []any{successRate(svc)}}
	}
	v2 := canaryPolicy("release-v2", "greeter", "greeter-v1", "greeter-v2",
		[]any{map[string]any{"weight": int64(10), "pause": "2s"}, map[string]any{"weight": int64(50), "pause": "20s"}}, analysis("greeter-v2"))
	if _, err := s.canaryPolicies().Create(ctx, v2, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, time.Minute, "release-v2 accepted", s.canaryAccepted("release-v2", metav1.ConditionTrue, "Accepted", ""))
	name := gatewayapi.CanaryName("shop", "release-v2")
	before := s.waitState(t, name, "second step", func(st *canary.State) bool { return st.Step == 1 })
	if !succeededAt(before, 0) {
		t.Fatalf("the first step advanced without a successful measurement: %+v", before.History)
	}

	// Killed at 50%: the clients keep calling both versions; restarted, serve resumes the step.
	s.stop()
	down := tr.snapshot()
	whileDown := tr.moreCalls(t, down, 200).minus(down)
	if whileDown.failed != 0 || whileDown.by["v1"] == 0 || whileDown.by["v2"] == 0 {
		t.Fatalf("while the control plane was down: %+v, want calls to v1 and v2 and none failed", whileDown)
	}
	restarted := time.Now()
	s.restart(t)
	after := s.state(t, name)
	t.Logf("serve stopped at %s, restarted in %v", restarted.Format("15:04:05.000"), time.Since(restarted))
	if after == nil || after.Step != 1 || after.Weight != 50 || !after.StepStarted.Equal(before.StepStarted) {
		t.Fatalf("after the restart %+v, before %+v: want step 1 at 50%% with the same pause start", after, before)
	}

	promoted := s.waitState(t, name, "promoted", func(st *canary.State) bool { return st.Terminal() })
	if promoted.Phase != canary.PhasePromoted || promoted.Weight != 100 || promoted.Failures != 0 || !strings.Contains(promoted.Stable, "greeter-v2") {
		t.Fatalf("release-v2 ended %+v, want promoted at 100%% with greeter-v2 stable", promoted)
	}
	// Every step was measured: 10% before the restart, 50% last (the history keeps 32).
	if w := weights(before); len(w) == 0 || w[0] != 10 {
		t.Errorf("weights measured before the second step %v, want 10 first", w)
	}
	if h := promoted.History; len(h) == 0 || h[len(h)-1].Weight != 50 || h[len(h)-1].Result != canary.ResultSuccessful {
		t.Errorf("last measurement before the promotion %+v, want a successful one at 50%%", h)
	}
	for _, conn := range conns {
		eventuallyWithin(t, 30*time.Second, "promoted: v2 only", func() error { return onlyFrom(conn, "v2", 20) })
	}
	healthy := tr.snapshot()
	// No call fails but, at most once a client, grpc-go's transient as the canary's cluster
	// enters the route.
	if healthy.failed != healthy.entering || healthy.entering > len(conns) {
		t.Errorf("%d of %d calls failed during the healthy rollout: %v", healthy.failed, healthy.calls, tr.failures())
	}
	t.Logf("healthy rollout: %+v", healthy)
	routeAfter, err := s.gw.GatewayV1().GRPCRoutes("shop").Get(ctx, "greeter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if routeAfter.Generation != routeBefore.Generation || !reflect.DeepEqual(routeAfter.Spec, routeBefore.Spec) {
		t.Errorf("the rollout rewrote the GRPCRoute (generation %d -> %d)", routeBefore.Generation, routeAfter.Generation)
	}

	// Made permanent: the route sends to v2 (and v3 at weight 0, the next release), then the
	// CanaryPolicy goes; no call reaches v1 again.
	s.setBackends(t, "greeter", backendRef("greeter-v2", 100), backendRef("greeter-v3", 0))
	eventuallyWithin(t, 30*time.Second, "route update observed", func() error {
		got, err := s.gw.GatewayV1().GRPCRoutes("shop").Get(ctx, "greeter", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.Status.Parents) != 1 {
			return fmt.Errorf("parents %+v", got.Status.Parents)
		}
		return wantCondition(got.Status.Parents[0].Conditions, "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs", got.Generation)
	})
	if err := s.canaryPolicies().Delete(ctx, "release-v2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, time.Minute, "release-v2 forgotten", func() error {
		if !metric(t, s.f.metricsAddr, fmt.Sprintf(`foresight_canary_weight{canary=%q}`, name)) {
			return nil
		}
		return fmt.Errorf("serve still exports the rollout")
	})
	permanent := tr.moreCalls(t, tr.snapshot(), 300).minus(healthy)
	if permanent.by["v1"] != 0 || permanent.failed != 0 || permanent.by["v3"] != 0 {
		t.Fatalf("after the promotion was made permanent: %+v, want v2 only", permanent)
	}

	// A canary failing 10% of its calls: rolled back at its second failed measurement.
	s.backends["v3"].FailEvery(10)
	start, injected := tr.snapshot(), s.backends["v3"].Failed()
	v3 := canaryPolicy("release-v3", "greeter", "greeter-v2", "greeter-v3",
		[]any{map[string]any{"weight": int64(10), "pause": "1h"}}, analysis("greeter-v3"))
	if _, err := s.canaryPolicies().Create(ctx, v3, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	name = gatewayapi.CanaryName("shop", "release-v3")
	failed := s.waitState(t, name, "rolled back", func(st *canary.State) bool { return st.Terminal() })
	if failed.Phase != canary.PhaseFailed || failed.Weight != 0 || failed.Failures != 2 || !strings.Contains(failed.Stable, "greeter-v2") || !strings.Contains(failed.Reason, "success-rate") {
		t.Fatalf("release-v3 ended %+v, want failed at 0%% on success-rate with greeter-v2 stable", failed)
	}
	h := failed.History
	first := -1
	for i, m := range h {
		if m.Result == canary.ResultFailed && first < 0 {
			first = i
		}
	}
	if first != len(h)-2 || h[len(h)-1].Result != canary.ResultFailed {
		t.Errorf("measurements %+v: want the rollback at the second failed measurement in a row", h)
	}
	decided := h[len(h)-1].At
	for _, conn := range conns {
		eventuallyWithin(t, 30*time.Second, "rolled back: v2 only", func() error { return onlyFrom(conn, "v2", 20) })
	}
	all := tr.snapshot()
	run := all.minus(start)
	tr.halt()
	if run.by["v3"] == 0 {
		t.Fatalf("the canary got no calls: %+v", run)
	}
	// Every failed call is one the canary failed on purpose: none comes from the rollout or
	// the rollback themselves (but grpc-go's transient as the canary's cluster enters).
	if injected = s.backends["v3"].Failed() - injected; int64(run.failed-run.entering) != injected || run.entering > len(conns) {
		t.Errorf("%d calls failed during the rollback, the canary failed %d: %v", run.failed, injected, tr.failures())
	}
	// The run: the clients' calls from the start, through both rollouts, until they are back
	// on the stable.
	if 100*all.failed >= all.calls {
		t.Errorf("%d of %d calls of the run failed (%.2f%%), want under 1%%", all.failed, all.calls, 100*float64(all.failed)/float64(all.calls))
	}
	t.Logf("rollback: %s; %d of %d calls failed from the policy's creation until the clients were back on v2 (%.2f%%), %d of %d in the run; last answer from v3 %v after the failing measurement",
		failed.Reason, run.failed, run.calls, 100*float64(run.failed)/float64(run.calls), all.failed, all.calls, tr.lastAnswer("v3").Sub(decided))
}

// succeededAt reports whether a measurement of step succeeded.
func succeededAt(st *canary.State, step int) bool {
	for _, m := range st.History {
		if m.Step == step && m.Result == canary.ResultSuccessful {
			return true
		}
	}
	return false
}

// BenchmarkGatewayAPICanaryRollback measures a rollback of a CanaryPolicy on a GRPCRoute in
// a real kube-apiserver as a grpc-go xDS client of the Gateway lives it: the canary (20% of
// the traffic) fails 10% of its calls, its own grpc_server_handled_total reaches a real
// Prometheus (scraping every 200 ms), and serve's analysis (every 200 ms, one failure
// tolerated) rolls it back while one client calls without pause. Per rollback it reports the
// time from the failing measurement to the client's last answer from the canary
// (s/rollback, 0 when the client had left the canary before), the client's failed calls
// from the policy's creation until it is back on the stable, and all its calls.
//
//	go test -tags integration -run '^$' -bench BenchmarkGatewayAPICanaryRollback -benchtime 5x ./sidecars/cmd/foresight-xds/
func BenchmarkGatewayAPICanaryRollback(b *testing.B) {
	s := startCanaryShop(b, "v1", "v2")
	s.backends["v2"].FailEvery(10)
	conn := gatewayClient(b, s.f.xdsAddress, "greeter.shop")
	eventuallyWithin(b, time.Minute, "route served", func() error { return onlyFrom(conn, "v1", 10) })
	tr := startTraffic(b, 0, conn)
	ctx := context.Background()
	var seconds, failed, calls float64
	for i := 0; b.Loop(); i++ {
		policyName := fmt.Sprintf("rollback-%d", i)
		start := tr.snapshot()
		cp := canaryPolicy(policyName, "greeter", "greeter-v1", "greeter-v2", []any{map[string]any{"weight": int64(20), "pause": "1h"}},
			map[string]any{"interval": "200ms", "failureLimit": int64(1), "metrics": []any{successRate("greeter-v2")}})
		if _, err := s.canaryPolicies().Create(ctx, cp, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		st := s.waitState(b, gatewayapi.CanaryName("shop", policyName), "rolled back", func(st *canary.State) bool { return st.Terminal() })
		if st.Phase != canary.PhaseFailed {
			b.Fatalf("rollout ended %+v, want failed", st)
		}
		decided := st.History[len(st.History)-1].At
		// Back on the stable: 50 answers from it and none from the canary for a second.
		var end counts
		eventuallyWithin(b, time.Minute, "the client back on the stable", func() error {
			end = tr.snapshot()
			if time.Since(tr.lastAnswer("v2")) < time.Second || end.by["v1"]-start.by["v1"] < 50 {
				return fmt.Errorf("last answer from the canary at %v", tr.lastAnswer("v2"))
			}
			return nil
		})
		run := end.minus(start)
		if last := tr.lastAnswer("v2"); last.After(decided) {
			seconds += last.Sub(decided).Seconds()
		}
		failed, calls = failed+float64(run.failed), calls+float64(run.calls)
		b.StopTimer()
		if err := s.canaryPolicies().Delete(ctx, policyName, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(seconds/n, "s/rollback")
	b.ReportMetric(failed/n, "failed/rollback")
	b.ReportMetric(calls/n, "calls/rollback")
	b.ReportMetric(100*failed/calls, "%failed")
}
