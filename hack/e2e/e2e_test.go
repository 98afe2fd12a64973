//go:build e2e

// The e2e scenario: a real kube-apiserver with its aggregator, a real HPA
// controller in kube-controller-manager, the adapter registered through the
// APIServices of its Helm chart (rendered, the certificate and caBundle set as
// cert-manager would, server-side applied), and
// a real Prometheus holding a real periodic load trace, replayed in
// accelerated time. Two identical Deployments, one HPA on the reactive
// metric and one on the predicted metric; the test records spec.replicas of
// both and asserts that the predictive one reaches the replicas each load
// peak needs before the peak and before the reactive one. Mid-run Prometheus
// is stopped (the HPAs must hold their replicas) and started again (scaling
// must resume).
//
// Run it with `make e2e`, or:
//
//	hack/e2e/build.sh && cd hack/e2e && go test -tags e2e -count=1 -timeout 20m -v .
package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/foresight-dev/foresight/hack/e2e/internal/replay"
	"github.com/foresight-dev/foresight/hack/e2e/internal/timeline"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/internal/testharness/promserver"
)

// The scenario's fixed parameters.
const (
	traceFile = "crane-input2.csv" // production metric, periodic: a ramp every 30 minutes
	// target is the HPAs' AverageValue: load one replica serves.
	target          = 50.0
	maxReplicas     = 20
	hpaSync         = 2 * time.Second
	predictedMetric = "http_requests_per_second_predicted"
	reactiveMetric  = "http_requests_per_second"
	nsPredictive    = "e2e-predictive"
	nsReactive      = "e2e-reactive"
	fieldManager    = "foresight-e2e"
	defaultSpeed    = 40.0
	// rateWindow is the rules' rate() window: the load the HPAs can see is the
	// mean of the last replay.RateSteps trace steps in it.
	rateWindow = 2 * time.Minute
	// scaleDownWindow is both HPAs' scale-down stabilization window (wall time).
	scaleDownWindow = 10 * time.Second
)

// Data times of the replay (trace time: the trace keeps its own timestamps).
var (
	clockStart = time.Date(2021, 10, 20, 22, 40, 0, 0, time.UTC) // 20 min before the 23:00 ramp
	faultStart = time.Date(2021, 10, 21, 0, 54, 0, 0, time.UTC)  // at the low before the 01:00 ramp
	faultEnd   = time.Date(2021, 10, 21, 1, 14, 0, 0, time.UTC)  // on the plateau after it
	replayEnd  = time.Date(2021, 10, 21, 2, 20, 0, 0, time.UTC)  // after the 01:30 and 02:00 ramps
	history    = 4 * 24 * time.Hour                              // the e2e rules keep 3d
)

func TestPredictiveHPALeadsReactive(t *testing.T) {
	root := needs.Root(t)
	tracePath := filepath.Join(root, "testdata", "traces", traceFile)
	binDir := needs.KubeBinDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	workDir, phase := newWorkDir(t, "foresight-e2e-")

	adapterBin := adapterBinary(t, root, workDir)
	speed := defaultSpeed
	if s := os.Getenv("FORESIGHT_E2E_SPEED"); s != "" {
		var err error
		if speed, err = strconv.ParseFloat(s, 64); err != nil || speed <= 0 {
			t.Fatalf("FORESIGHT_E2E_SPEED=%q: want a positive number", s)
		}
	}
	accelerated := hasFlag(adapterBin, "--clock-speed") && hasFlag(adapterBin, "--clock-start")
	if !accelerated {
		t.Errorf("foresight-adapter serve has no --clock-start/--clock-speed flags: the trace cannot be replayed in accelerated time; running at wall-clock speed, where the ramps do not fit in the run")
		speed = 1
	}
	phase("adapter binary ready")

	// Prometheus: the trace as a request counter per target series, backfilled.
	tr, err := replay.LoadTrace(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	// Without the adapter's data clock, shift the trace so that now is clockStart.
	shift := time.Duration(0)
	if !accelerated {
		shift = time.Until(clockStart) * -1
		shift = shift.Truncate(tr.Step)
	}
	series := []replay.Series{
		{"namespace": nsPredictive, "service": "web"},
		{"namespace": nsReactive, "service": "web"},
		{"namespace": "foresight-example", "service": "web"},
		{"namespace": "foresight-example", "service": "api"},
	}
	// The kubelets' and an application's per-pod series, for the HPAs on
	// metrics.k8s.io and on the imported prometheus-adapter rule.
	kubelet := kubeletSeriesFile(t, workDir, clockStart.Add(-30*time.Minute).Add(shift), replayEnd.Add(10*time.Minute).Add(shift))
	prom, rateSteps := startTracePrometheus(ctx, t, workDir, tr, shift, clockStart.Add(-history), replayEnd.Add(10*time.Minute), series, []string{kubelet}, phase)

	c, adapterPort, objs, adapterCA := startControlPlane(ctx, t, root, workDir, binDir, phase)

	configs := configFiles(t, objs, workDir)
	extra := []string{"--resource-metrics-interval=5s"}
	if accelerated {
		extra = append(extra, "--clock-start="+clockStart.Format(time.RFC3339), "--clock-speed="+strconv.FormatFloat(speed, 'f', -1, 64))
	}
	wallStart := time.Now()
	dataAt := func(w time.Time) time.Time {
		if !accelerated {
			return w.Add(-shift)
		}
		return clockStart.Add(time.Duration(float64(w.Sub(wallStart)) * speed))
	}
	startAdapter(ctx, t, c, "foresight-adapter", adapterBin, workDir, adapterPort, configs, prom.URL, adapterCA, extra...)
	phase(fmt.Sprintf("adapter ready on 127.0.0.1:%d (data time %s)", adapterPort, dataAt(time.Now()).Format(time.RFC3339)))
	waitAPIServicesAvailable(ctx, t, c)
	phase("APIServices Available through the ExternalName localhost Service")

	// The two workloads and their HPAs.
	for _, ns := range []string{nsPredictive, nsReactive} {
		metric := reactiveMetric
		if ns == nsPredictive {
			metric = predictedMetric
		}
		applyWorkload(ctx, t, c, ns, metric)
	}
	applyResourceWorkloads(ctx, t, c)
	phase("workloads and HPAs applied (and the Resource CPU and imported Pods metric HPAs)")
	// The HPAs on metrics.k8s.io and on the imported rule are checked during
	// the replay's first ramps, before the Prometheus outage.
	resourceChecked := make(chan struct{})
	go func() {
		defer close(resourceChecked)
		checkResourceHPAs(ctx, t, c, time.Now().Add(time.Duration(float64(faultStart.Sub(clockStart))/speed*0.6)))
	}()

	points := record(ctx, t, c, tr, rateSteps, prom, dataAt, speed)
	phase("replay done")
	<-resourceChecked

	var b strings.Builder
	timeline.Print(&b, points, 2*time.Second)
	t.Logf("timeline (load and metric values in requests/s; target %.0f per replica):\n%s", target, b.String())

	checkRamps(t, tr, rateSteps, points, speed)
	checkFault(t, points, speed)
	checkFastPathServedHPAs(ctx, t, c, adapterPort, adapterCA) // before this test's own requests
	checkAPIs(ctx, t, c)
	checkAdapterAuthorization(ctx, t, c, adapterPort, adapterCA)
	phase("done")
}

// applyDeployment server-side applies namespace ns and a Deployment name of
// one replica (app=name, a pause container) in it, and returns the apply
// options it used.
func applyDeployment(ctx context.Context, t *testing.T, c *cluster.Cluster, ns, name string) metav1.ApplyOptions {
	t.Helper()
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if _, err := c.Admin.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(ns), opts); err != nil {
		t.Fatalf("apply namespace %s: %v", ns, err)
	}
	labels := map[string]string{"app": name}
	dep := appsv1ac.Deployment(name, ns).WithSpec(appsv1ac.DeploymentSpec().
		WithReplicas(1).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
		WithTemplate(corev1ac.PodTemplateSpec().WithLabels(labels).WithSpec(corev1ac.PodSpec().
			WithContainers(corev1ac.Container().WithName(name).WithImage("registry.k8s.io/pause:3.10")))))
	if _, err := c.Admin.AppsV1().Deployments(ns).Apply(ctx, dep, opts); err != nil {
		t.Fatalf("apply deployment %s/%s: %v", ns, name, err)
	}
	return opts
}

// applyWorkload server-side applies namespace ns with a Deployment web and an
// HPA on metric (External, AverageValue target). Both HPAs are identical but
// for the metric; their behavior is scaled to the replay's wall-clock pace.
func applyWorkload(ctx context.Context, t *testing.T, c *cluster.Cluster, ns, metric string) {
	t.Helper()
	opts := applyDeployment(ctx, t, c, ns, "web")
	avg := resource.MustParse(strconv.FormatFloat(target, 'f', -1, 64))
	hpa := autoscalingv2ac.HorizontalPodAutoscaler("web", ns).WithSpec(autoscalingv2ac.HorizontalPodAutoscalerSpec().
		WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName("web")).
		WithMinReplicas(1).WithMaxReplicas(maxReplicas).
		WithMetrics(autoscalingv2ac.MetricSpec().WithType(autoscalingv2.ExternalMetricSourceType).
			WithExternal(autoscalingv2ac.ExternalMetricSource().
				WithMetric(autoscalingv2ac.MetricIdentifier().WithName(metric).
					WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"service": "web"}))).
				WithTarget(autoscalingv2ac.MetricTarget().WithType(autoscalingv2.AverageValueMetricType).WithAverageValue(avg)))).
		// Replayed time runs tens of times faster than the HPA's clock: the default
		// 15 s scale-up period and 300 s scale-down window would hide every ramp.
		WithBehavior(autoscalingv2ac.HorizontalPodAutoscalerBehavior().
			WithScaleUp(autoscalingv2ac.HPAScalingRules().WithStabilizationWindowSeconds(0).
				WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(autoscalingv2.PodsScalingPolicy).WithValue(maxReplicas).WithPeriodSeconds(1))).
			WithScaleDown(autoscalingv2ac.HPAScalingRules().WithStabilizationWindowSeconds(int32(scaleDownWindow / time.Second)).
				WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(autoscalingv2.PercentScalingPolicy).WithValue(100).WithPeriodSeconds(1)))))
	if _, err := c.Admin.AutoscalingV2().HorizontalPodAutoscalers(ns).Apply(ctx, hpa, opts); err != nil {
		t.Fatalf("apply HPA %s/web: %v", ns, err)
	}
}

// record samples both Deployments' spec.replicas and both metrics (through
// kube-apiserver) until the replay ends, stopping Prometheus between
// faultStart and faultEnd.
func record(ctx context.Context, t *testing.T, c *cluster.Cluster, tr *replay.Trace, rateSteps int, prom *promserver.Server, dataAt func(time.Time) time.Time, speed float64) []timeline.Point {
	t.Helper()
	began := time.Now()
	end := began.Add(time.Duration(float64(replayEnd.Sub(dataAt(began))) / speed))
	if maxWall := began.Add(6 * time.Minute); end.After(maxWall) {
		end = maxWall
	}
	var points []timeline.Point
	faultDone, faultOn := false, false
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for now := time.Now(); now.Before(end); now = time.Now() {
		data := dataAt(now)
		p := timeline.Point{Wall: now.Sub(began), Data: data, Load: math.NaN()}
		if v, ok := tr.Mean(data, rateSteps); ok {
			p.Load = v
		}
		p.Predictive = replicas(ctx, t, c, nsPredictive)
		p.Reactive = replicas(ctx, t, c, nsReactive)
		p.PredictedValue = metricValue(ctx, c, nsPredictive, predictedMetric)
		p.ReactiveValue = metricValue(ctx, c, nsReactive, reactiveMetric)
		switch {
		case !faultOn && !faultDone && !data.Before(faultStart):
			prom.Stop()
			faultOn = true
			p.Note = "FAULT: prometheus stopped"
		case faultOn && !data.Before(faultEnd):
			if err := prom.Start(ctx); err != nil {
				t.Fatalf("restart prometheus: %v", err)
			}
			faultOn, faultDone = false, true
			p.Note = "prometheus started again"
		case faultOn:
			p.Note = "(prometheus down) " + hpaScalingActive(ctx, c, nsPredictive)
		}
		points = append(points, p)
		select {
		case <-ctx.Done():
			t.Fatalf("replay: %v", ctx.Err())
		case <-tick.C:
		}
	}
	return points
}

func replicas(ctx context.Context, t *testing.T, c *cluster.Cluster, ns string) int32 {
	t.Helper()
	d, err := c.Admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s/web: %v", ns, err)
	}
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// externalMetricList is the part of an ExternalMetricValueList the test reads.
type externalMetricList struct {
	Items []struct {
		MetricName   string            `json:"metricName"`
		MetricLabels map[string]string `json:"metricLabels"`
		Value        resource.Quantity `json:"value"`
	} `json:"items"`
}

// metricValue reads metric for service=web in ns through kube-apiserver's
// aggregator, as the HPA controller does; NaN on error.
func metricValue(ctx context.Context, c *cluster.Cluster, ns, metric string) float64 {
	raw, err := c.Admin.CoreV1().RESTClient().Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1/namespaces", ns, metric).
		Param("labelSelector", "service=web").DoRaw(ctx)
	if err != nil {
		return math.NaN()
	}
	var l externalMetricList
	if err := json.Unmarshal(raw, &l); err != nil || len(l.Items) != 1 {
		return math.NaN()
	}
	return l.Items[0].Value.AsApproximateFloat64()
}

// hpaScalingActive summarizes the HPA's ScalingActive condition.
func hpaScalingActive(ctx context.Context, c *cluster.Cluster, ns string) string {
	h, err := c.Admin.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return "hpa: " + err.Error()
	}
	for _, cond := range h.Status.Conditions {
		if cond.Type == autoscalingv2.ScalingActive {
			return fmt.Sprintf("ScalingActive=%s/%s", cond.Status, cond.Reason)
		}
	}
	return "ScalingActive unknown"
}

// checkRamps asserts the predictive lead on every ramp outside the fault.
func checkRamps(t *testing.T, tr *replay.Trace, rateSteps int, points []timeline.Point, speed float64) {
	t.Helper()
	if len(points) == 0 {
		t.Fatal("no points recorded")
	}
	load := func(at time.Time) (float64, bool) { return tr.Mean(at, rateSteps) }
	o := timeline.RampOptions{Target: target, Tolerance: 0.1, Window: 10 * time.Minute, MinRise: 3, Step: tr.Step}
	first := points[0].Data
	last := points[len(points)-1].Data
	// The HPAs start at one replica: give them a few minutes of data time to settle.
	ramps := timeline.Ramps(load, points, o, first.Add(5*time.Minute), faultStart)
	ramps = append(ramps, timeline.Ramps(load, points, o, faultEnd.Add(5*time.Minute), last)...)
	if len(ramps) < 2 {
		t.Errorf("only %d load ramps in the recorded window (%s .. %s): too few to judge", len(ramps), first.Format(time.RFC3339), last.Format(time.RFC3339))
	}
	t.Logf("%-8s  %-8s  %8s  %8s  %-9s  %-9s  %12s  %12s", "start", "peak", "peak", "required", "predictive", "reactive", "lead", "ahead of peak")
	for _, r := range ramps {
		lead, leadOK := r.Lead()
		ahead, aheadOK := r.AheadOfPeak()
		t.Logf("%-8s  %-8s  %8.1f  %8d  %-9s  %-9s  %12s  %12s", r.Start.Format("15:04"), r.Peak.Format("15:04"), r.PeakLoad, r.Required,
			clock(r.PredictiveAt), clock(r.ReactiveAt), both(lead, leadOK, speed), both(ahead, aheadOK, speed))
		switch {
		case !aheadOK:
			t.Errorf("ramp peaking %s: the predictive HPA never reached %d replicas", r.Peak.Format("15:04"), r.Required)
		case ahead <= 0:
			t.Errorf("ramp peaking %s: the predictive HPA reached %d replicas %s after the peak", r.Peak.Format("15:04"), r.Required, -ahead)
		}
		if !r.ReactiveAt.IsZero() && (!leadOK || lead <= 0) {
			t.Errorf("ramp peaking %s: the predictive HPA did not lead the reactive one (lead %s)", r.Peak.Format("15:04"), lead)
		}
	}
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("15:04:05")
}

// both formats a data-time duration and its wall-clock equivalent.
func both(d time.Duration, ok bool, speed float64) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%s (%.1fs wall)", d, d.Seconds()/speed)
}

// checkFault asserts that while Prometheus was down neither HPA fell to its
// minimum (or below what it held just before), and that scaling resumed after.
func checkFault(t *testing.T, points []timeline.Point, speed float64) {
	t.Helper()
	var before, during, after []timeline.Point
	for _, p := range points {
		switch {
		case p.Data.Before(faultStart):
			before = append(before, p)
		case p.Data.Before(faultEnd):
			during = append(during, p)
		default:
			after = append(after, p)
		}
	}
	if len(before) == 0 || len(during) == 0 || len(after) == 0 {
		t.Errorf("fault scenario not covered: %d points before, %d during, %d after the outage", len(before), len(during), len(after))
		return
	}
	held := before[len(before)-1]
	// Until the last served value goes stale (the rule's staleAfter) the HPA
	// still acts on it; from the first failed read on it must hold its
	// replicas (after at most one sync already under way) and never fall to
	// its minimum.
	var errorsSeen int
	var frozen *timeline.Point
	for i, p := range during {
		if p.Predictive <= 1 && held.Predictive > 1 {
			t.Errorf("outage: the predictive HPA fell to its minimum at %s (held %d)", p.Data.Format("15:04:05"), held.Predictive)
		}
		if !math.IsNaN(p.PredictedValue) {
			continue
		}
		errorsSeen++
		if frozen == nil {
			// One sync period may already be under way with the last good value.
			for j := i; j < len(during); j++ {
				if during[j].Wall-p.Wall > 2*hpaSync {
					frozen = &during[j]
					break
				}
			}
			if frozen == nil {
				continue
			}
		}
		if p.Wall > frozen.Wall && p.Predictive != frozen.Predictive {
			t.Errorf("outage: with no metric the predictive HPA changed from %d to %d replicas at %s", frozen.Predictive, p.Predictive, p.Data.Format("15:04:05"))
			break
		}
	}
	last := during[len(during)-1]
	if errorsSeen == 0 || frozen == nil {
		t.Errorf("outage: every metric read succeeded: the served value never went stale, so the outage proved nothing")
	}
	t.Logf("outage %s..%s: predictive %d -> %d replicas (held %d from the first failed read) (reactive %d -> %d); metric reads failed %d of %d times (stale values are errors, not zeros); %s",
		faultStart.Format("15:04"), faultEnd.Format("15:04"), held.Predictive, last.Predictive, frozenReplicas(frozen), held.Reactive, last.Reactive, errorsSeen, len(during), last.Note)
	changed := false
	for _, p := range after {
		if p.Predictive != last.Predictive && !math.IsNaN(p.PredictedValue) {
			changed = true
			t.Logf("scaling resumed at %s: predictive %d -> %d replicas", p.Data.Format("15:04:05"), last.Predictive, p.Predictive)
			break
		}
	}
	if !changed {
		t.Errorf("after Prometheus came back the predictive HPA never left %d replicas", last.Predictive)
	}
}

func frozenReplicas(p *timeline.Point) int32 {
	if p == nil {
		return -1
	}
	return p.Predictive
}

// checkAPIs checks what an operator sees: the predicted value through
// `kubectl get --raw`, and `kubectl describe hpa` with the metric and no errors
// (the scenario's HPAs and the examples of deploy/adapter/examples).
func checkAPIs(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	path := "/apis/external.metrics.k8s.io/v1beta1/namespaces/" + nsPredictive + "/" + predictedMetric
	out, err := kubectl(c, "get", "--raw", path)
	if err != nil {
		t.Errorf("kubectl get --raw %s: %v\n%s", path, err, out)
	} else {
		var l externalMetricList
		if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Items) == 0 {
			t.Errorf("kubectl get --raw %s: no items (%v): %s", path, err, out)
		} else {
			t.Logf("kubectl get --raw %s:\n%s", path, out)
			for _, it := range l.Items {
				if it.MetricName != predictedMetric || it.MetricLabels["namespace"] != nsPredictive || it.Value.Sign() <= 0 {
					t.Errorf("kubectl get --raw %s: unexpected item %+v", path, it)
				}
			}
		}
	}
	// Other namespaces' series never leak into a namespace's answer.
	out, err = kubectl(c, "get", "--raw", "/apis/external.metrics.k8s.io/v1beta1/namespaces/kube-system/"+predictedMetric)
	if err == nil && strings.Contains(out, "service") {
		t.Errorf("kube-system sees series of other namespaces: %s", out)
	}

	hpas := [][2]string{{nsPredictive, "web"}, {nsReactive, "web"}, {"foresight-example", "web"}, {"foresight-example", "api"}}
	deadline := time.Now().Add(time.Minute)
	for _, h := range hpas {
		for {
			err := hpaHealthy(ctx, c, h[0], h[1])
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				desc, _ := kubectl(c, "describe", "hpa", "-n", h[0], h[1])
				t.Errorf("HPA %s/%s: %v\n%s", h[0], h[1], err, desc)
				break
			}
			time.Sleep(time.Second)
		}
	}
	desc, err := kubectl(c, "describe", "hpa", "-n", nsPredictive, "web")
	if err != nil {
		t.Errorf("kubectl describe hpa: %v\n%s", err, desc)
	}
	t.Logf("kubectl describe hpa -n %s web:\n%s", nsPredictive, desc)
	if !strings.Contains(desc, predictedMetric) || strings.Contains(desc, "<unknown>") {
		t.Errorf("kubectl describe hpa does not show the metric %s with a value", predictedMetric)
	}
	desc, _ = kubectl(c, "describe", "hpa", "-n", "foresight-example", "api")
	t.Logf("kubectl describe hpa -n foresight-example api (Object metric on a Service):\n%s", desc)
}

// checkAdapterAuthorization calls the adapter directly, past the aggregator,
// with service-account tokens: the adapter's delegated authentication and
// authorization (TokenReview and SubjectAccessReview through kube-apiserver)
// let the HPA controller's account read the external metric and forbid an
// account without RBAC, on the fast path HPAs use and on the library's.
func checkAdapterAuthorization(ctx context.Context, t *testing.T, c *cluster.Cluster, port int, ca *pki.CA) {
	t.Helper()
	if _, err := c.Admin.CoreV1().ServiceAccounts(nsPredictive).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "no-rbac"},
	}, metav1.CreateOptions{}); err != nil {
		t.Errorf("create service account: %v", err)
		return
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	list := func(ns, name, query string) (int, string) {
		kc, err := c.ServiceAccountKubeconfig(ctx, ns, name, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", kc)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Host = fmt.Sprintf("https://127.0.0.1:%d", port)
		cfg.TLSClientConfig = rest.TLSClientConfig{CAData: caPEM, ServerName: "localhost"}
		rc, err := rest.UnversionedRESTClientFor(withJSON(cfg))
		if err != nil {
			t.Fatal(err)
		}
		path := "/apis/external.metrics.k8s.io/v1beta1/namespaces/" + nsPredictive + "/" + predictedMetric
		var code int
		body, err := rc.Get().AbsPath(path).SetHeader("Accept", "application/json").Param("labelSelector", query).
			Do(ctx).StatusCode(&code).Raw()
		if err != nil && code == 0 {
			t.Errorf("GET %s as %s/%s: %v", path, ns, name, err)
		}
		return code, string(body)
	}
	for _, q := range []string{"", "service=web"} {
		if code, body := list("kube-system", "horizontal-pod-autoscaler", q); code != 200 || !strings.Contains(body, predictedMetric) {
			t.Errorf("adapter, HPA controller's account, selector %q: %d %s; want 200 with the metric", q, code, body)
		}
		if code, body := list(nsPredictive, "no-rbac", q); code != 403 || strings.Contains(body, `"items"`) {
			t.Errorf("adapter, account without RBAC, selector %q: %d %s; want 403 and no items", q, code, body)
		}
	}
	t.Log("adapter: HPA controller's account allowed, account without RBAC forbidden (direct, delegated authn/authz)")
}

// checkFastPathServedHPAs reads the adapter's /metrics (as the cluster
// admin, a client certificate the adapter's delegated authentication
// accepts) and checks that the HPA controller's requests, which reach it
// through kube-apiserver's aggregator asking for protobuf, were answered on
// the fast path (foresight_adapter_request_duration_seconds). Called before
// the test sends requests of its own to the adapter.
func checkFastPathServedHPAs(ctx context.Context, t *testing.T, c *cluster.Cluster, port int, ca *pki.CA) {
	t.Helper()
	rc := adapterAdminClient(t, c, port, ca)
	body, err := rc.Get().AbsPath("/metrics").Do(ctx).Raw()
	if err != nil {
		t.Errorf("adapter /metrics: %v", err)
		return
	}
	const series = `foresight_adapter_request_duration_seconds_count{code="200"} `
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || n < 1 {
				t.Errorf("adapter answered %s HPA requests on the fast path, want some: the HPA controller's requests took the library's chain", v)
			} else {
				t.Logf("adapter: %.0f HPA controller requests answered on the fast path", n)
			}
			return
		}
	}
	t.Errorf("adapter /metrics has no %s: no HPA request was answered on the fast path", strings.TrimSpace(series))
}

func withJSON(cfg *rest.Config) *rest.Config {
	cfg.GroupVersion = &schema.GroupVersion{}
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return cfg
}

// hpaHealthy returns nil when the HPA reads its metric with no error: a
// current value for every metric, AbleToScale and ScalingActive true.
func hpaHealthy(ctx context.Context, c *cluster.Cluster, ns, name string) error {
	h, err := c.Admin.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if len(h.Status.CurrentMetrics) != len(h.Spec.Metrics) {
		return fmt.Errorf("%d current metrics for %d metrics", len(h.Status.CurrentMetrics), len(h.Spec.Metrics))
	}
	for _, m := range h.Status.CurrentMetrics {
		var cur *autoscalingv2.MetricValueStatus
		switch {
		case m.External != nil:
			cur = &m.External.Current
		case m.Object != nil:
			cur = &m.Object.Current
		}
		if cur != nil && cur.AverageValue != nil && cur.AverageValue.Sign() < 0 {
			return fmt.Errorf("current average value %s is negative (Deployment status.replicas not maintained?)", cur.AverageValue)
		}
	}
	want := map[autoscalingv2.HorizontalPodAutoscalerConditionType]bool{autoscalingv2.AbleToScale: false, autoscalingv2.ScalingActive: false}
	for _, cond := range h.Status.Conditions {
		if _, ok := want[cond.Type]; ok {
			if cond.Status != corev1.ConditionTrue {
				return fmt.Errorf("condition %s=%s: %s: %s", cond.Type, cond.Status, cond.Reason, cond.Message)
			}
			want[cond.Type] = true
		}
	}
	for typ, seen := range want {
		if !seen {
			return fmt.Errorf("condition %s not reported yet", typ)
		}
	}
	return nil
}
