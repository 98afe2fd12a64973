//go:build e2e

// The queue scenario: scale to zero and back on a Redis list, with a plain
// HPA. A real redis-server per worker namespace, Debian's redis_exporter for
// each, scraped every second by a real Prometheus that also holds the same
// producer's history (backfilled: the LPUSH count of previous days, as much
// as the predictive rule's lookback asks for, whatever the time of day, up
// to 30 s before it starts, as after a restart: the adapter must keep that
// history across the hole, which is longer than the rules' staleAfter). A
// producer in the test pushes bursts of jobs onto both lists at the same wall
// times; consumers in the test stand in for each worker Deployment's pods
// (no kubelet: the pool runs spec.replicas consumers, each ready after a
// start-up delay). One Deployment scales on the predicted worker demand, one
// on the reactive demand, both HPAs minReplicas 0. Asserted: the predictive
// workload has a ready worker when the first job of at least 80% of the bursts
// arrives and the reactive one does not; every job pushed is popped exactly
// once; both reach zero in every idle gap; and while Prometheus is stopped
// with a backlog (through the time they would otherwise reach zero) neither
// scales to zero: the stale source makes the HPAs hold.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/hack/e2e/internal/jobqueue"
	"github.com/foresight-dev/foresight/hack/e2e/internal/replay"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/internal/testharness/promserver"
)

// The queue scenario's parameters (wall time; nothing is accelerated). They
// match testdata/queue-rules.yaml: 2 jobs/s per worker, 16 s horizon, 12 s
// wake lead, 4 s cool-down.
const (
	qKey          = "jobs"
	qPredicted    = "jobs_workers_predicted"
	qReactive     = "jobs_workers"
	qPeriod       = 50 * time.Second // a burst starts every qPeriod, on Unix-time multiples of it
	qBurstLength  = 8 * time.Second
	qLiveBursts   = 6
	qOutageBurst  = 2                // Prometheus stops during this live burst,
	qOutageAfter  = 4 * time.Second  // this long after it starts (jobs are queued),
	qOutageLength = 30 * time.Second // for longer than the workloads take to reach zero
	qStartup      = 3 * time.Second  // a consumer's start-up (a pod's)
	qThroughput   = 2.0              // jobs per second per consumer
	qMaxReplicas  = 10
	// qRestartHole is how long before Prometheus starts its backfilled
	// history ends: a Prometheus back from downtime, longer than the rules'
	// staleAfter (10s), whose first scrapes come after the adapter's warm start.
	qRestartHole = 30 * time.Second
	qHistoryStep = 2 * time.Second
)

// qSizes are the jobs of the bursts, by slot number (Unix time / qPeriod)
// modulo its length. A day holds a whole number of periods and of size
// cycles, so every day has the same bursts at the same times of day: a
// producer that runs the same schedule every day.
var qSizes = []int{24, 40, 32, 48, 28, 36}

// qBurst is the burst of slot s.
func qBurst(s int64) jobqueue.Burst {
	return jobqueue.Burst{At: time.Unix(s*int64(qPeriod/time.Second), 0), Length: qBurstLength, Jobs: qSizes[s%int64(len(qSizes))]}
}

// qWorkload is one worker namespace: its Redis, exporter, consumers and ledger.
type qWorkload struct {
	ns, metric   string
	redisAddr    string
	exporterAddr string
	pool         *jobqueue.Pool
	ledger       *jobqueue.Ledger
	readyAtFirst []int // ready consumers when each live burst's first job was pushed
}

// qPoint is one sample of the scenario, for both workloads (predictive first).
type qPoint struct {
	at       time.Time
	replicas [2]int32
	ready    [2]int
	backlog  [2]int64
	value    [2]float64 // served metric through the aggregator; NaN on error
	promDown bool
}

func TestQueueScaleToZeroWakesBeforeBursts(t *testing.T) {
	if day := int64(24 * time.Hour / qPeriod); int64(24*time.Hour)%int64(qPeriod) != 0 || day%int64(len(qSizes)) != 0 {
		t.Fatalf("a day must hold whole periods (%s) and size cycles (%d)", qPeriod, len(qSizes))
	}
	root := needs.Root(t)
	binDir := needs.KubeBinDir(t)
	redisBin := needs.Program(t, "redis-server")
	exporterBin := needs.Program(t, "prometheus-redis-exporter")
	promBin, promtool := needs.Program(t, "prometheus"), needs.Program(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	workDir, phase := newWorkDir(t, "foresight-e2e-queue-")
	adapterBin := adapterBinary(t, root, workDir)
	phase("adapter binary ready")

	c, adapterPort, _, adapterCA := startControlPlane(ctx, t, root, workDir, binDir, phase)

	// A Redis and an exporter per workload.
	w := []*qWorkload{{ns: "e2e-queue-predictive", metric: qPredicted}, {ns: "e2e-queue-reactive", metric: qReactive}}
	for _, wl := range w {
		rp, addr, err := jobqueue.StartRedis(ctx, "redis-"+wl.ns, c.LogDir, redisBin)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rp.Stop(5 * time.Second) })
		ep, eaddr, err := jobqueue.StartExporter(ctx, "redis-exporter-"+wl.ns, c.LogDir, exporterBin, addr, qKey)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Stop(5 * time.Second) })
		wl.redisAddr, wl.exporterAddr, wl.ledger = addr, eaddr, jobqueue.NewLedger()
		if wl.pool, err = jobqueue.NewPool(jobqueue.PoolOptions{Addr: addr, Key: qKey, StartupDelay: qStartup, Throughput: qThroughput, Ledger: wl.ledger}); err != nil {
			t.Fatal(err)
		}
	}
	phase("redis-server and redis_exporter ready for " + w[0].ns + " and " + w[1].ns)

	rulesFile := filepath.Join(root, "hack", "e2e", "testdata", "queue-rules.yaml")
	history := queueHistory(t, rulesFile)
	prom := startQueuePrometheus(ctx, t, workDir, promBin, promtool, w, time.Now().Add(-qRestartHole), history)
	phase("prometheus ready at " + prom.URL + ", scraping both exporters every second, with " + history.String() + " of history")

	startAdapter(ctx, t, c, "foresight-adapter", adapterBin, workDir, adapterPort, []string{rulesFile}, prom.URL, adapterCA)
	waitAPIServicesAvailable(ctx, t, c)
	phase("adapter ready, APIServices Available")
	for _, wl := range w {
		applyQueueWorkload(ctx, t, c, wl.ns, wl.metric)
	}
	phase("worker Deployments (1 replica) and HPAs (minReplicas 0) applied")
	// The HPA wakes from zero only a workload it scaled to zero itself.
	if !waitQueuesIdle(ctx, t, c, w, 2*time.Minute) {
		for _, wl := range w {
			desc, _ := kubectl(c, "describe", "hpa", "-n", wl.ns, "worker")
			t.Logf("kubectl describe hpa -n %s worker:\n%s", wl.ns, desc)
		}
		t.Fatal("the HPAs did not scale the idle workers to zero within 2 minutes")
	}
	phase("both HPAs scaled their idle workers to zero")
	// The predictive series must serve its model, not the reactive value,
	// before the bursts: otherwise every burst below fails for that reason.
	for _, line := range forecastFallbacks(ctx, t, c, adapterPort, adapterCA) {
		if strings.HasPrefix(line, fmt.Sprintf(`foresight_forecast_fallback{metric=%q,namespace=%q,`, qPredicted, w[0].ns)) && strings.HasSuffix(line, " 1") {
			t.Fatalf("before the first burst %s serves the reactive value (%s); the adapter log (in the kept work dir) says why", qPredicted, line)
		}
	}

	// The consumers follow the Deployments; the recorder samples everything.
	first := time.Now().Add(25*time.Second).Unix()/int64(qPeriod/time.Second) + 1
	var bursts []jobqueue.Burst
	for s := first; s < first+qLiveBursts; s++ {
		bursts = append(bursts, qBurst(s))
	}
	outageFrom := bursts[qOutageBurst].At.Add(qOutageAfter)
	outageTo := outageFrom.Add(qOutageLength)
	runCtx, stopRun := context.WithCancel(ctx)
	var points []qPoint
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		points = recordQueue(runCtx, t, c, w, prom, outageFrom)
	}()
	phase(fmt.Sprintf("producing %d bursts every %s from %s; Prometheus down %s..%s", qLiveBursts, qPeriod,
		bursts[0].At.Format("15:04:05"), outageFrom.Format("15:04:05"), outageTo.Format("15:04:05")))

	errs := make(chan error, len(w))
	for _, wl := range w {
		conn, err := jobqueue.Dial(ctx, wl.redisAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wl.readyAtFirst = make([]int, len(bursts))
		go func() {
			errs <- jobqueue.Produce(ctx, conn, qKey, bursts, wl.ledger, func(k int) { wl.readyAtFirst[k] = wl.pool.Ready() })
		}()
	}
	for range w {
		if err := <-errs; err != nil {
			t.Fatalf("producer: %v", err)
		}
	}
	phase("every burst pushed; waiting for both queues to drain and both workloads to reach zero")
	idle := waitQueuesIdle(ctx, t, c, w, 2*time.Minute)
	stopRun()
	wg.Wait()
	for _, wl := range w {
		if err := wl.pool.Close(); err != nil {
			t.Errorf("%s consumers: %v", wl.ns, err)
		}
	}
	phase("run done")

	logQueueTimeline(t, points, bursts)
	checkQueueBursts(t, w, bursts, points)
	for _, wl := range w {
		pushed, pops := wl.ledger.Counts()
		if err := wl.ledger.Check(); err != nil {
			t.Errorf("%s: %v", wl.ns, err)
		} else {
			t.Logf("%s: %d jobs pushed, each popped exactly once (%d pops)", wl.ns, pushed, pops)
		}
	}
	if !idle {
		t.Errorf("the queues did not drain and both workloads reach zero within 2 minutes of the last burst")
	}
	// The outage as it happened: from the stop to the restart.
	var downFrom, downTo time.Time
	for _, p := range points {
		if p.promDown {
			if downFrom.IsZero() {
				downFrom = p.at
			}
			downTo = p.at
		}
	}
	if !downFrom.IsZero() {
		outageFrom, outageTo = downFrom, downTo
	}
	checkQueueZeros(t, bursts, points, outageFrom, outageTo)
	checkQueueOutage(t, points, outageFrom, outageTo)
	logForecastFallbacks(ctx, t, c, adapterPort, adapterCA)
	phase("done")
}

// queueHistory is how much of the producer's history the Prometheus must hold
// for the predictive rule of rulesFile to fit its whole window: the rule's
// lookback (its history behind the latest refit on the grid, which is up to a
// refit interval ago) and an hour more for the restart hole. With less, a
// fit on the grid would see a shorter window the later in the grid's interval
// (the day) the test runs, and too short a window serves the reactive value.
func queueHistory(t *testing.T, rulesFile string) time.Duration {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	// The two settings the lookback depends on, as Go durations (the rule
	// file's own decoder needs the whole PromQL parser).
	var rules struct {
		Rules []struct {
			Name     string `json:"name"`
			Forecast struct {
				History       string `json:"history"`
				RefitInterval string `json:"refitInterval"`
			} `json:"forecast"`
		} `json:"rules"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	for _, r := range rules.Rules {
		if r.Name != qPredicted {
			continue
		}
		history, herr := time.ParseDuration(r.Forecast.History)
		refit, rerr := time.ParseDuration(r.Forecast.RefitInterval)
		if herr != nil || rerr != nil {
			t.Fatalf("%s: rule %s: history and refitInterval must be Go durations here: %v", rulesFile, qPredicted, errors.Join(herr, rerr))
		}
		return forecast.Settings{Step: qHistoryStep, History: history, RefitInterval: refit}.Lookback() + time.Hour
	}
	t.Fatalf("%s has no rule %s", rulesFile, qPredicted)
	return 0
}

// startQueuePrometheus backfills a Prometheus with history of the producer's
// LPUSH count before histEnd, for each workload, as the series its exporter's
// scrape continues (same labels), and starts it scraping both exporters every
// second.
func startQueuePrometheus(ctx context.Context, t *testing.T, workDir, promBin, promtool string, w []*qWorkload, histEnd time.Time, history time.Duration) *promserver.Server {
	t.Helper()
	dir := filepath.Join(workDir, "prometheus")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: redis\n  static_configs:\n")
	var series []replay.Series
	for _, wl := range w {
		fmt.Fprintf(&cfg, "  - targets: ['%s']\n    labels: {namespace: %s}\n", wl.exporterAddr, wl.ns)
		series = append(series, replay.Series{"cmd": "lpush", "job": "redis", "instance": wl.exporterAddr, "namespace": wl.ns})
	}
	// The arrival rate of each history step: the jobs pushed in (t-step, t].
	end := histEnd.Truncate(qHistoryStep)
	var samples []replay.Sample
	for at := end.Add(-history); !at.After(end); at = at.Add(qHistoryStep) {
		samples = append(samples, replay.Sample{T: at, V: float64(pushedIn(at.Add(-qHistoryStep), at)) / qHistoryStep.Seconds()})
	}
	om := filepath.Join(dir, "history.om")
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	if err := replay.WriteOpenMetrics(f, "redis_commands", "Total number of calls per command (the producer's LPUSH of previous days).", samples, qHistoryStep, series); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	prom, err := promserver.New(promserver.Options{Bin: promBin, Dir: dir, Config: cfg.String(), Args: replay.PrometheusArgs,
		LookbackDelta: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := promserver.Backfill(ctx, promtool, om, prom.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := prom.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	return prom
}

// pushedIn counts the jobs the schedule pushes in (from, to].
func pushedIn(from, to time.Time) int {
	n := 0
	p := int64(qPeriod / time.Second)
	for s := from.Unix()/p - 1; s <= to.Unix()/p; s++ {
		b := qBurst(s)
		for i := range b.Jobs {
			at := b.At.Add(time.Duration(float64(b.Length) * float64(i) / float64(b.Jobs)))
			if at.After(from) && !at.After(to) {
				n++
			}
		}
	}
	return n
}

// applyQueueWorkload applies namespace ns with a worker Deployment of one
// replica (the HPA wakes from zero only what it scaled to zero) and an HPA with minReplicas 0 on metric (External, AverageValue 1:
// the metric is a worker count), its behavior scaled to the compressed time.
func applyQueueWorkload(ctx context.Context, t *testing.T, c *cluster.Cluster, ns, metric string) {
	t.Helper()
	opts := applyDeployment(ctx, t, c, ns, "worker")
	hpa := autoscalingv2ac.HorizontalPodAutoscaler("worker", ns).WithSpec(autoscalingv2ac.HorizontalPodAutoscalerSpec().
		WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName("worker")).
		WithMinReplicas(0).WithMaxReplicas(qMaxReplicas).
		WithMetrics(autoscalingv2ac.MetricSpec().WithType(autoscalingv2.ExternalMetricSourceType).
			WithExternal(autoscalingv2ac.ExternalMetricSource().
				WithMetric(autoscalingv2ac.MetricIdentifier().WithName(metric)).
				WithTarget(autoscalingv2ac.MetricTarget().WithType(autoscalingv2.AverageValueMetricType).WithAverageValue(resource.MustParse("1"))))).
		// The adapter's cool-down already waits out idle spells; the defaults
		// (300 s scale-down window) are for minutes, not the seconds here.
		WithBehavior(autoscalingv2ac.HorizontalPodAutoscalerBehavior().
			WithScaleUp(autoscalingv2ac.HPAScalingRules().WithStabilizationWindowSeconds(0).
				WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(autoscalingv2.PodsScalingPolicy).WithValue(qMaxReplicas).WithPeriodSeconds(1))).
			WithScaleDown(autoscalingv2ac.HPAScalingRules().WithStabilizationWindowSeconds(0).
				WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(autoscalingv2.PercentScalingPolicy).WithValue(100).WithPeriodSeconds(1)))))
	if _, err := c.Admin.AutoscalingV2().HorizontalPodAutoscalers(ns).Apply(ctx, hpa, opts); err != nil {
		t.Fatalf("apply HPA %s/worker: %v", ns, err)
	}
}

// recordQueue keeps each workload's consumers at its Deployment's
// spec.replicas and samples the scenario every 250 ms until ctx ends; it stops
// Prometheus at outageFrom (or once both workloads have workers) for
// qOutageLength.
func recordQueue(ctx context.Context, t *testing.T, c *cluster.Cluster, w []*qWorkload, prom *promserver.Server, outageFrom time.Time) []qPoint {
	conns := make([]*jobqueue.Conn, len(w))
	for i, wl := range w {
		conn, err := jobqueue.Dial(ctx, wl.redisAddr)
		if err != nil {
			t.Errorf("recorder: %v", err)
			return nil
		}
		defer conn.Close()
		conns[i] = conn
	}
	// The outage runs beside the sampling, which must not wait for
	// Prometheus to stop or start. It begins at outageFrom or later, once
	// both workloads have workers (the reactive one wakes after the burst came).
	var down atomic.Bool
	outage := make(chan struct{})
	started := false
	startOutage := func() {
		started = true
		down.Store(true)
		go func() {
			defer close(outage)
			prom.Stop()
			select {
			case <-ctx.Done():
			case <-time.After(qOutageLength):
			}
			if err := prom.Start(context.Background()); err != nil {
				t.Errorf("restart prometheus: %v", err)
			}
			down.Store(false)
		}()
	}
	defer func() {
		if started {
			<-outage
		}
	}()
	var points []qPoint
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		now := time.Now()
		p := qPoint{at: now, promDown: down.Load(), value: [2]float64{math.NaN(), math.NaN()}}
		for i, wl := range w {
			d, err := c.Admin.AppsV1().Deployments(wl.ns).Get(ctx, "worker", metav1.GetOptions{})
			if err != nil {
				if ctx.Err() != nil {
					return points
				}
				t.Errorf("get deployment %s/worker: %v", wl.ns, err)
				continue
			}
			if d.Spec.Replicas != nil {
				p.replicas[i] = *d.Spec.Replicas
			}
			wl.pool.Scale(int(p.replicas[i]))
			p.ready[i] = wl.pool.Ready()
			if l, err := conns[i].LLen(qKey); err == nil {
				p.backlog[i] = l
			}
			if n%2 == 0 { // the metric every 500 ms: it changes once per 2 s step
				p.value[i] = externalValue(ctx, c, wl.ns, wl.metric)
			} else if len(points) > 0 {
				p.value[i] = points[len(points)-1].value[i]
			}
		}
		points = append(points, p)
		if !started && !now.Before(outageFrom) && (p.replicas[0] > 0 && p.replicas[1] > 0 || now.After(outageFrom.Add(15*time.Second))) {
			startOutage()
		}
		select {
		case <-ctx.Done():
			return points
		case <-tick.C:
		}
	}
}

// externalValue reads the external metric of namespace ns (its one series)
// through kube-apiserver's aggregator, as the HPA controller does; NaN on error.
func externalValue(ctx context.Context, c *cluster.Cluster, ns, metric string) float64 {
	raw, err := c.Admin.CoreV1().RESTClient().Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1/namespaces", ns, metric).DoRaw(ctx)
	if err != nil {
		return math.NaN()
	}
	var l externalMetricList
	if err := json.Unmarshal(raw, &l); err != nil || len(l.Items) != 1 {
		return math.NaN()
	}
	return l.Items[0].Value.AsApproximateFloat64()
}

// waitQueuesIdle waits until both lists are empty and both Deployments at zero.
func waitQueuesIdle(ctx context.Context, t *testing.T, c *cluster.Cluster, w []*qWorkload, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		idle := true
		for _, wl := range w {
			conn, err := jobqueue.Dial(ctx, wl.redisAddr)
			if err != nil {
				t.Fatal(err)
			}
			n, err := conn.LLen(qKey)
			_ = conn.Close()
			d, derr := c.Admin.AppsV1().Deployments(wl.ns).Get(ctx, "worker", metav1.GetOptions{})
			if err != nil || derr != nil || n > 0 || d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
				idle = false
			}
		}
		if idle {
			return true
		}
		time.Sleep(500 * time.Millisecond)
	}
	return false
}

// logQueueTimeline logs the recorded points once a second.
func logQueueTimeline(t *testing.T, points []qPoint, bursts []jobqueue.Burst) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s  %-5s  %-17s  %-13s  %-13s  %-15s  %s\n", "time", "burst", "arrivals jobs/s", "replicas p/r", "ready p/r", "backlog p/r", "served p/r")
	var last time.Time
	for _, p := range points {
		if p.at.Sub(last) < time.Second {
			continue
		}
		last = p.at
		rate, in := 0.0, ""
		for k, bu := range bursts {
			if r := bu.Rate(p.at); r > 0 {
				rate, in = r, fmt.Sprint(k)
			}
		}
		note := ""
		if p.promDown {
			note = "  PROMETHEUS DOWN"
		}
		fmt.Fprintf(&b, "%-8s  %-5s  %-17.1f  %5d / %-5d  %5d / %-5d  %5d / %-7d  %5.2f / %.2f%s\n", p.at.Format("15:04:05"), in, rate,
			p.replicas[0], p.replicas[1], p.ready[0], p.ready[1], p.backlog[0], p.backlog[1], p.value[0], p.value[1], note)
	}
	t.Logf("timeline (p: predictive, r: reactive; served: the worker demand through the aggregator, NaN on error):\n%s", b.String())
}

// checkQueueBursts asserts that the predictive workload had a ready worker at
// the first job of at least 80% of the bursts and the reactive one did not,
// and logs each burst's first-job wait and the worker-minutes.
func checkQueueBursts(t *testing.T, w []*qWorkload, bursts []jobqueue.Burst, points []qPoint) {
	t.Helper()
	share := make([]float64, len(w))
	t.Logf("%-5s  %-8s  %4s  %-24s  %-24s", "burst", "at", "jobs", "predictive ready / wait", "reactive ready / wait")
	waits := make([][]time.Duration, len(w))
	for k, b := range bursts {
		var cols [2]string
		for i, wl := range w {
			if wl.readyAtFirst[k] > 0 {
				share[i]++
			}
			wait := time.Duration(-1)
			for _, p := range points {
				if !p.at.Before(b.At) && p.ready[i] > 0 {
					wait = max(0, p.at.Sub(b.At).Truncate(250*time.Millisecond))
					break
				}
			}
			if wl.readyAtFirst[k] > 0 {
				wait = 0
			}
			waits[i] = append(waits[i], wait)
			cols[i] = fmt.Sprintf("%d / %s", wl.readyAtFirst[k], wait)
		}
		t.Logf("%-5d  %-8s  %4d  %-24s  %-24s", k, b.At.Format("15:04:05"), b.Jobs, cols[0], cols[1])
	}
	for i, wl := range w {
		share[i] /= float64(len(bursts))
		var workerSeconds float64
		for j := 1; j < len(points); j++ {
			workerSeconds += float64(points[j-1].replicas[i]) * points[j].at.Sub(points[j-1].at).Seconds()
		}
		var sum, worst time.Duration
		for _, d := range waits[i] {
			sum += d
			worst = max(worst, d)
		}
		sorted := slices.Sorted(slices.Values(waits[i]))
		rank := func(q float64) time.Duration {
			return sorted[min(max(int(math.Ceil(q*float64(len(sorted))))-1, 0), len(sorted)-1)]
		}
		t.Logf("%s (%s): a ready worker at the first job of %.0f%% of the bursts; first-job wait p50 %s, p99 %s, mean %s, max %s; %.1f worker-minutes",
			wl.ns, wl.metric, 100*share[i], rank(0.5), rank(0.99), (sum / time.Duration(len(waits[i]))).Truncate(10*time.Millisecond), worst, workerSeconds/60)
	}
	if share[0] < 0.8 {
		t.Errorf("the predictive workload had a ready worker at the first job of %.0f%% of the bursts, want at least 80%%", 100*share[0])
	}
	if share[1] >= 0.8 || share[1] >= share[0] {
		t.Errorf("the reactive workload had a ready worker at the first job of %.0f%% of the bursts (predictive %.0f%%): it should not, scaling to zero between them", 100*share[1], 100*share[0])
	}
}

// checkQueueZeros asserts that both workloads reach zero in every idle gap
// between bursts, but the one Prometheus is stopped in (after the last burst,
// the test waits for it).
func checkQueueZeros(t *testing.T, bursts []jobqueue.Burst, points []qPoint, outageFrom, outageTo time.Time) {
	t.Helper()
	for k, b := range bursts {
		if k+1 == len(bursts) {
			break // after the last burst: waitQueuesIdle waited for both to reach zero
		}
		from, to := b.At.Add(b.Length), bursts[k+1].At
		if from.Before(outageTo) && to.After(outageFrom) {
			continue
		}
		var zero [2]bool
		for _, p := range points {
			if p.at.Before(from) || !p.at.Before(to) {
				continue
			}
			for i := range zero {
				zero[i] = zero[i] || p.replicas[i] == 0
			}
		}
		for i, name := range []string{"predictive", "reactive"} {
			if !zero[i] {
				t.Errorf("the %s workload never reached zero between burst %d's end (%s) and %s", name, k, from.Format("15:04:05"), to.Format("15:04:05"))
			}
		}
	}
}

// checkQueueOutage asserts that while Prometheus was down neither workload
// was at zero (they had workers when it stopped, and the stale source is an
// error on which the HPA holds), and that the metric reads did fail (the
// served values went stale rather than to zero).
func checkQueueOutage(t *testing.T, points []qPoint, outageFrom, outageTo time.Time) {
	t.Helper()
	var during []qPoint
	for _, p := range points {
		if p.promDown {
			during = append(during, p)
		}
	}
	if len(during) == 0 || during[len(during)-1].at.Sub(during[0].at) < qOutageLength-2*time.Second {
		t.Fatalf("Prometheus was down for %d samples; the outage %s..%s was not covered", len(during), outageFrom.Format("15:04:05"), outageTo.Format("15:04:05"))
	}
	for i, name := range []string{"predictive", "reactive"} {
		failed, minReplicas := 0, int32(math.MaxInt32)
		for _, p := range during {
			if math.IsNaN(p.value[i]) {
				failed++
			}
			minReplicas = min(minReplicas, p.replicas[i])
		}
		if minReplicas == 0 {
			t.Errorf("the %s workload scaled to zero while Prometheus was down", name)
		}
		if failed == 0 {
			t.Errorf("every read of the %s metric succeeded while Prometheus was down: the value never went stale, so the outage proved nothing", name)
		}
		t.Logf("outage (%s): the %s workload held %d..%d replicas; %d of %d metric reads failed (stale is an error, never a zero)",
			qOutageLength, name, minReplicas, during[len(during)-1].replicas[i], failed, len(during))
	}
}

// logForecastFallbacks logs the adapter's forecast fallback series (drift
// or warm-up make a series serve its reactive value), which explain a
// predictive workload that stopped waking early.
func logForecastFallbacks(ctx context.Context, t *testing.T, c *cluster.Cluster, port int, ca *pki.CA) {
	t.Helper()
	t.Logf("adapter forecast fallbacks:\n%s", strings.Join(forecastFallbacks(ctx, t, c, port, ca), "\n"))
}

// forecastFallbacks returns the adapter's forecast fallback lines of /metrics
// (none when it cannot be read, which is logged).
func forecastFallbacks(ctx context.Context, t *testing.T, c *cluster.Cluster, port int, ca *pki.CA) []string {
	t.Helper()
	body, err := adapterAdminClient(t, c, port, ca).Get().AbsPath("/metrics").Do(ctx).Raw()
	if err != nil {
		t.Logf("adapter /metrics: %v", err)
		return nil
	}
	var lines []string
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.HasPrefix(line, "foresight_forecast_fallback{") || strings.HasPrefix(line, "foresight_forecast_drift_fallbacks_total{") {
			lines = append(lines, line)
		}
	}
	return lines
}
