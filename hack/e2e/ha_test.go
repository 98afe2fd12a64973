//go:build e2e

// The high-availability scenario: two adapter replicas (two processes on two
// loopback ports) behind the one Service of deploy/adapter, a real HPA
// controller reading the predicted metric through kube-apiserver's aggregator
// while the load ramps up, and one replica killed (SIGKILL) in the middle of
// the ramp. The HPA controller's requests must keep succeeding (at most those
// in flight on the killed replica fail), and the replica started again must,
// once Ready, serve the same values as the one that stayed.
//
// How the aggregator reaches two replicas. A real cluster lists both pods in
// the Service's EndpointSlices and the aggregator (or kube-proxy) spreads
// connections over them. A control plane on loopback cannot: Endpoints and
// EndpointSlices refuse loopback addresses (the test checks this for an
// EndpointSlice and logs kube-apiserver's answer), and every address a
// process here can listen on is loopback. So the ExternalName
// Service "localhost" points the aggregator at a TCP balancer in the test
// process (internal/balancer), which relays each connection to a replica,
// round-robin, and skips a replica it cannot dial, as kube-proxy does once
// a dead pod has left the endpoints. What the test proves is unchanged: the
// aggregator holds long-lived connections, the one to the killed replica
// breaks mid-ramp, and the HPA controller's next requests reach the other.
//
// Unlike TestPredictiveHPALeadsReactive the adapters run on the wall clock
// (no --clock-start/--clock-speed): a restarted replica with an accelerated
// clock of its own would run at a different data time than the other one,
// and the test compares their answers. The trace is shifted so that the
// 01:00 ramp of the trace arrives while the test runs.
//
// Run it with `make e2e`, or:
//
//	hack/e2e/build.sh && cd hack/e2e && go test -tags e2e -count=1 -timeout 15m -v -run TestHPASurvivesLosingAReplica .
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/foresight-dev/foresight/hack/e2e/internal/balancer"
	"github.com/foresight-dev/foresight/hack/e2e/internal/replay"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/internal/testharness/procs"
)

const nsHA = "e2e-ha"

// Data times of the HA scenario (trace time).
var (
	haLow  = time.Date(2021, 10, 21, 0, 59, 0, 0, time.UTC) // the ramp's start: load 190 requests/s
	haKill = time.Date(2021, 10, 21, 1, 0, 30, 0, time.UTC) // mid-ramp: load 260 -> 330 requests/s
	haEnd  = time.Date(2021, 10, 21, 1, 3, 30, 0, time.UTC) // near the plateau: load 470 -> 520 requests/s
	// haSetup is the wall time the setup is expected to take (about 30 s):
	// the trace is shifted so that haLow arrives about when the HPA starts.
	haSetup = 45 * time.Second
	// maxFailedSyncs bounds the HPA controller's failed metric reads: those in
	// flight on the killed replica's connection (one per sync at most, and a
	// sync every hpaSync).
	maxFailedSyncs = 2
)

// haObservation is one poll of the HPA during the scenario.
type haObservation struct {
	at            time.Time
	scalingActive corev1.ConditionStatus
	reason        string
	readErr       bool // the test's own read through the aggregator failed
	replicas      int32
}

func TestHPASurvivesLosingAReplica(t *testing.T) {
	root := needs.Root(t)
	binDir := needs.KubeBinDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	workDir, phase := newWorkDir(t, "foresight-e2e-ha-")

	adapterBin := adapterBinary(t, root, workDir)
	tr, err := replay.LoadTrace(filepath.Join(root, "testdata", "traces", traceFile))
	if err != nil {
		t.Fatal(err)
	}
	// Wall clock = data time + shift: haLow arrives haSetup from now.
	shift := time.Now().Add(haSetup).Sub(haLow).Truncate(tr.Step)
	dataAt := func(w time.Time) time.Time { return w.Add(-shift) }
	series := []replay.Series{
		{"namespace": nsHA, "service": "web"},
		{"namespace": "foresight-example", "service": "web"},
		{"namespace": "foresight-example", "service": "api"},
	}
	prom, _ := startTracePrometheus(ctx, t, workDir, tr, shift, haLow.Add(-history), haEnd.Add(10*time.Minute), series, nil, phase)
	c, lbPort, objs, adapterCA := startControlPlane(ctx, t, root, workDir, binDir, phase)
	checkLoopbackEndpointSlice(ctx, t, c)

	configs := configFiles(t, objs, workDir)
	ports := make([]int, 2)
	backends := make([]string, 2)
	for i := range ports {
		if ports[i], err = procs.FreePort(); err != nil {
			t.Fatal(err)
		}
		backends[i] = fmt.Sprintf("127.0.0.1:%d", ports[i])
	}
	// The APIServices point at lbPort, startControlPlane's free port.
	lb, err := balancer.ListenOn(fmt.Sprintf("127.0.0.1:%d", lbPort), backends...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lb.Close() })

	replicas := make([]*procs.Proc, 2)
	for i := range replicas {
		replicas[i] = startAdapter(ctx, t, c, fmt.Sprintf("foresight-adapter-%d", i), adapterBin, workDir, ports[i], configs, prom.URL, adapterCA)
		phase(fmt.Sprintf("replica %d ready on %s (data time %s)", i, backends[i], dataAt(time.Now()).Format("15:04:05")))
	}
	waitAPIServicesAvailable(ctx, t, c)
	phase("APIServices Available through the balancer")
	applyWorkload(ctx, t, c, nsHA, predictedMetric)
	waitHPAHealthy(ctx, t, c, nsHA)
	phase(fmt.Sprintf("HPA %s/web reads %s (data time %s)", nsHA, predictedMetric, dataAt(time.Now()).Format("15:04:05")))

	// Watch the HPA until the end of the scenario.
	var (
		mu  sync.Mutex
		obs []haObservation
	)
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			o := haObservation{at: time.Now(), readErr: math.IsNaN(metricValue(wctx, c, nsHA, predictedMetric))}
			if h, err := c.Admin.AutoscalingV2().HorizontalPodAutoscalers(nsHA).Get(wctx, "web", metav1.GetOptions{}); err == nil {
				if h.Status.DesiredReplicas > 0 {
					o.replicas = h.Status.DesiredReplicas
				}
				for _, cond := range h.Status.Conditions {
					if cond.Type == autoscalingv2.ScalingActive {
						o.scalingActive, o.reason = cond.Status, cond.Reason
					}
				}
			}
			if wctx.Err() != nil {
				return
			}
			mu.Lock()
			obs = append(obs, o)
			mu.Unlock()
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// Mid-ramp (and after at least a few HPA syncs), kill the replica that
	// holds the aggregator's connections.
	sleepUntil(ctx, time.Now().Add(5*hpaSync))
	sleepUntil(ctx, haKill.Add(shift))
	victim := 0
	if lb.Stats(backends[1]).Active > lb.Stats(backends[0]).Active {
		victim = 1
	}
	before := lb.Stats(backends[victim])
	if before.Active == 0 {
		t.Errorf("no connection open to either replica at the kill (%+v, %+v): the kill breaks nothing", lb.Stats(backends[0]), lb.Stats(backends[1]))
	}
	survivor := 1 - victim
	relayedBefore := lb.Stats(backends[survivor]).Relayed
	killedAt := time.Now()
	if err := syscall.Kill(-replicas[victim].Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("kill replica %d: %v", victim, err)
	}
	<-replicas[victim].Done()
	phase(fmt.Sprintf("KILLED replica %d (%d open connections) at data time %s", victim, before.Active, dataAt(killedAt).Format("15:04:05")))

	// Let the HPA run on one replica for a few syncs, then start the killed one again.
	sleepUntil(ctx, time.Now().Add(5*hpaSync))
	restartedAt := time.Now()
	replicas[victim] = startAdapter(ctx, t, c, fmt.Sprintf("foresight-adapter-%d-restarted", victim), adapterBin, workDir, ports[victim], configs, prom.URL, adapterCA)
	toReady := time.Since(restartedAt)
	phase(fmt.Sprintf("replica %d started again: Ready after %.1fs", victim, toReady.Seconds()))

	same := compareReplicas(ctx, t, c, adapterCA, ports)
	phase(fmt.Sprintf("replicas compared directly: %s", same))

	// Keep the HPA running on both replicas to the plateau.
	sleepUntil(ctx, haEnd.Add(shift))
	stopWatch()
	<-watched
	phase(fmt.Sprintf("scenario done (data time %s)", dataAt(time.Now()).Format("15:04:05")))

	if got := lb.Stats(backends[survivor]).Relayed; got <= relayedBefore {
		t.Errorf("no connection reached the surviving replica after the kill (%d relayed before, %d after)", relayedBefore, got)
	}
	failedEvents := hpaFailedMetricEvents(ctx, t, c, nsHA)
	mu.Lock()
	defer mu.Unlock()
	var inactive, readErrs int
	var minReplicas, maxReplicasSeen int32 = math.MaxInt32, 0
	for _, o := range obs {
		if o.scalingActive == corev1.ConditionFalse {
			inactive++
			t.Logf("%s (data %s): ScalingActive=False/%s", o.at.Format("15:04:05.0"), dataAt(o.at).Format("15:04:05"), o.reason)
		}
		if o.readErr {
			readErrs++
			t.Logf("%s (data %s): metric read through the aggregator failed", o.at.Format("15:04:05.0"), dataAt(o.at).Format("15:04:05"))
		}
		if o.replicas > 0 {
			minReplicas, maxReplicasSeen = min(minReplicas, o.replicas), max(maxReplicasSeen, o.replicas)
		}
	}
	t.Logf("HA figures: %d HPA polls, ScalingActive=False in %d; FailedGetExternalMetric events: %d; the test's own reads through the aggregator failed %d of %d times; restarted replica Ready after %.1fs; desired replicas %d..%d; adapter logs in %s",
		len(obs), inactive, failedEvents, readErrs, len(obs), toReady.Seconds(), minReplicas, maxReplicasSeen, c.LogDir)
	if failedEvents > maxFailedSyncs {
		t.Errorf("the HPA controller failed to read its metric %d times, want at most %d (the reads in flight on the killed replica)", failedEvents, maxFailedSyncs)
	}
	if readErrs > maxFailedSyncs {
		t.Errorf("reads through the aggregator failed %d times, want at most %d", readErrs, maxFailedSyncs)
	}
	if err := hpaHealthy(ctx, c, nsHA, "web"); err != nil {
		t.Errorf("HPA %s/web at the end: %v", nsHA, err)
	}
}

func sleepUntil(ctx context.Context, at time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(at)):
	}
}

// waitHPAHealthy waits until the HPA web in ns reads its metric.
func waitHPAHealthy(ctx context.Context, t *testing.T, c *cluster.Cluster, ns string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := hpaHealthy(ctx, c, ns, "web")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			desc, _ := kubectl(c, "describe", "hpa", "-n", ns, "web")
			t.Fatalf("HPA %s/web: %v\n%s", ns, err, desc)
		}
		time.Sleep(time.Second)
	}
}

// hpaFailedMetricEvents counts the HPA controller's FailedGetExternalMetric
// events in ns (each event's count: the controller aggregates repeats).
func hpaFailedMetricEvents(ctx context.Context, t *testing.T, c *cluster.Cluster, ns string) int {
	t.Helper()
	evs, err := c.Admin.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list events in %s: %v", ns, err)
	}
	n := 0
	for _, e := range evs.Items {
		if e.Reason != "FailedGetExternalMetric" && e.Reason != "FailedComputeMetricsReplicas" {
			continue
		}
		t.Logf("event %s x%d: %s", e.Reason, max(e.Count, 1), e.Message)
		if e.Reason == "FailedGetExternalMetric" {
			n += int(max(e.Count, 1))
		}
	}
	return n
}

// checkLoopbackEndpointSlice logs whether kube-apiserver accepts an
// EndpointSlice with loopback addresses (why the test balances itself).
func checkLoopbackEndpointSlice(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	port, proto := int32(443), corev1.ProtocolTCP
	_, err := c.Admin.DiscoveryV1().EndpointSlices("foresight").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "loopback-probe", Labels: map[string]string{discoveryv1.LabelServiceName: "loopback-probe"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.2"}}, {Addresses: []string{"127.0.0.3"}}},
		Ports:       []discoveryv1.EndpointPort{{Port: &port, Protocol: &proto}},
	}, metav1.CreateOptions{})
	if err == nil {
		t.Log("kube-apiserver accepted an EndpointSlice with loopback addresses 127.0.0.2 and 127.0.0.3")
		_ = c.Admin.DiscoveryV1().EndpointSlices("foresight").Delete(ctx, "loopback-probe", metav1.DeleteOptions{})
		return
	}
	t.Logf("kube-apiserver refuses an EndpointSlice with loopback addresses: %v", err)
}

// compareReplicas asks each replica directly (as the cluster admin) for the
// predicted and the reactive metric of nsHA and fails unless both answer the
// same bytes for answers at the same timestamp; it retries while the
// replicas straddle an evaluation (different timestamps), at most 20 times
// (10 s), and returns a summary.
func compareReplicas(ctx context.Context, t *testing.T, c *cluster.Cluster, ca *pki.CA, ports []int) string {
	t.Helper()
	clients := make([]*rest.RESTClient, len(ports))
	for i, port := range ports {
		clients[i] = adapterAdminClient(t, c, port, ca)
	}
	var summary []string
	for _, metric := range []string{predictedMetric, reactiveMetric} {
		path := "/apis/external.metrics.k8s.io/v1beta1/namespaces/" + nsHA + "/" + metric
		var bodies [][]byte
		matched := false
		for attempt := 0; attempt < 20 && !matched; attempt++ {
			bodies = bodies[:0]
			for i, rc := range clients {
				b, err := rc.Get().AbsPath(path).Param("labelSelector", "service=web").SetHeader("Accept", "application/json").Do(ctx).Raw()
				if err != nil {
					t.Fatalf("replica %d: GET %s: %v", i, path, err)
				}
				bodies = append(bodies, b)
			}
			if bytes.Equal(bodies[0], bodies[1]) {
				matched = true
				break
			}
			if attempt == 19 {
				t.Errorf("%s: the replicas answered at different timestamps for 10 s:\n%s\n%s", metric, bodies[0], bodies[1])
				break
			}
			ts0, v0 := externalItems(t, bodies[0])
			ts1, v1 := externalItems(t, bodies[1])
			if ts0 == ts1 {
				t.Errorf("%s at %s: replica 0 answers %s, replica 1 answers %s\n%s\n%s", metric, ts0, v0, v1, bodies[0], bodies[1])
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if !matched {
			summary = append(summary, metric+" differs")
			continue
		}
		ts, v := externalItems(t, bodies[0])
		summary = append(summary, fmt.Sprintf("%s=%s at %s", metric, v, ts))
	}
	return strings.Join(summary, ", ")
}

// externalItems returns the timestamps and values of an
// ExternalMetricValueList, joined; the list must have items.
func externalItems(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var l struct {
		Items []struct {
			Timestamp string `json:"timestamp"`
			Value     string `json:"value"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &l); err != nil || len(l.Items) == 0 {
		t.Fatalf("not an ExternalMetricValueList with items (%v): %s", err, body)
	}
	var ts, vs []string
	for _, it := range l.Items {
		ts, vs = append(ts, it.Timestamp), append(vs, it.Value)
	}
	return strings.Join(ts, ","), strings.Join(vs, ",")
}
