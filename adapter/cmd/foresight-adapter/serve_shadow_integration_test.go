//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"

	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/adapter/backtest"
	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/promclient"
)

// startTracePrometheus starts a real Prometheus holding the first three days
// of the real trace name as trace_load{namespace="shop",service="web"},
// shifted to end an hour ago (on a whole minute), and returns those samples and a pod capacity
// at which their peak needs 15 pods.
func startTracePrometheus(t *testing.T, name string) ([]source.Sample, *promtest.Server, float64) {
	t.Helper()
	trace := promtest.LoadTrace(t, name)
	const days = 3
	n := 0
	for n < len(trace) && trace[n].T <= trace[0].T+days*86400*1000 {
		n++
	}
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	trace = promtest.ShiftToEnd(trace[:n], end)
	prom := promtest.StartPrometheus(t, promtest.Options{
		LookbackDelta: 30 * time.Second, // range queries at 1m return exactly the stored samples
		Series: []promtest.Series{
			{Name: "trace_load", Labels: map[string]string{"namespace": "shop", "service": "web"}, Samples: trace},
		},
	})
	peak := 0.0
	for _, s := range trace {
		peak = max(peak, s.V)
	}
	return trace, prom, peak / 15
}

// ruleSamples loads the first rule of the rules file and returns it with
// the samples its query returns from Prometheus at promURL over [from, to]
// at one minute: what the adapter served from, as backtest samples.
func ruleSamples(t *testing.T, rules, promURL string, from, to time.Time) (serving.Rule, []backtest.Sample) {
	t.Helper()
	f, err := config.Load(rules)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := serving.RuleFromConfig(f.Rules[0])
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: promURL}, Timeout: 30 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.QueryRange(context.Background(), rule.Query, from, to, time.Minute)
	if err != nil || len(res) != 1 {
		t.Fatalf("query: %v (%d series)", err, len(res))
	}
	samples := make([]backtest.Sample, len(res[0].Samples))
	for i, p := range res[0].Samples {
		samples[i] = backtest.Sample{TS: p.T / 1000, Value: p.V}
	}
	return rule, samples
}

// TestServeShadowEqualsBacktest replays three days of a real trace through
// `foresight-adapter serve` (a real Prometheus backfilled with the trace, the
// data clock started where the trace ends) with a rule that names three
// strategies, scrapes foresight_shadow_* from its /metrics, and checks that
// each strategy's figures over a window spanning the whole replay equal what
// adapter/backtest computes for the same samples and strategy.
func TestServeShadowEqualsBacktest(t *testing.T) {
	trace, prom, capacity := startTracePrometheus(t, "crane-input0.csv")
	end := time.UnixMilli(trace[len(trace)-1].T) // where the data clock starts
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	writeTestFile(t, rules, []byte(fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: predicted_load
    query: trace_load{<<.LabelMatchers>>}
    forecast: {step: 1m, horizon: 5m, history: 14d, refitInterval: 2h, model: auto}
    shadow:
      strategies: [reactive, holt-winters@0.8, auto@0.9]
      capacity: %g
      target: 0.7
      windows: [1d, 30d]
      maxReplicas: 1000
      startupDelay: 2m
`, capacity)), 0o600)
	clockStart := end.Add(30 * time.Second)
	started := time.Now()
	run := startServe(t, dir, rules, prom.URL, clockStart)
	metricsURL := run.metricsURL

	windows := []string{"1d", "30d"}
	var sums []shadow.Summary
	run.await(t, 3*time.Minute, 200*time.Millisecond, func() (bool, string) {
		sums = scrapeSummaries(t, metricsURL, windows)
		return len(sums) == 1 && len(sums[0].Strategies) == 3, "no foresight_shadow_* metrics after 3 minutes:"
	})
	t.Logf("%d samples of %s: shadow figures of 3 strategies in /metrics %v after serve started", len(trace), "crane-input0.csv", time.Since(started).Round(time.Millisecond))
	got := sums[0]
	if got.Metric != "predicted_load" || got.Namespace != "shop" {
		t.Errorf("shadow series %q/%q", got.Metric, got.Namespace)
	}

	// The same samples through the backtest: what the rule's query returns.
	rule, samples := ruleSamples(t, rules, prom.URL, time.UnixMilli(trace[0].T), clockStart)
	if len(samples) != len(trace) {
		t.Fatalf("the query returns %d samples, the trace has %d", len(samples), len(trace))
	}
	spec := rule.Shadow
	tl, err := backtest.NewTimeline(samples, backtest.TimelineConfig{Step: time.Minute, Capacity: capacity,
		HPA: hpa.Config{MinReplicas: 1, MaxReplicas: 1000, StartupDelay: 2 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]shadow.StrategySummary{}
	for _, st := range got.Strategies {
		byName[st.Name] = st
	}
	for _, st := range spec.Strategies {
		served, _, err := backtest.Serve(context.Background(), samples, st.Settings, samples[0].TS, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tl.Replay(served, st.Target, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := byName[st.Name]
		if !ok {
			t.Errorf("strategy %s missing from /metrics", st.Name)
			continue
		}
		g := s.Windows[1].Figures // 30d: the whole replay
		t.Logf("%s through serve: pod-min %.0f under-min %.1f actions %d replicas %d; backtest %.0f %.1f %d",
			st.Name, g.PodMinutes, g.UnderProvisionedMinutes, g.ScalingActions, s.Replicas, want.PodMinutes, want.UnderProvisionedMinutes, want.ScalingActions)
		if g.PodMinutes != want.PodMinutes || g.UnderProvisionedMinutes != want.UnderProvisionedMinutes || g.ScalingActions != want.ScalingActions {
			t.Errorf("%s: /metrics %+v, backtest %+v", st.Name, g, want)
		}
		if d := s.Windows[0].Figures; !(d.PodMinutes > 0 && d.PodMinutes < g.PodMinutes) {
			t.Errorf("%s: 1d window pod-minutes %v, want part of the whole %v", st.Name, d.PodMinutes, g.PodMinutes)
		}
	}
	// shadow-report reads the running adapter's verdict.
	var out strings.Builder
	if err := runShadowReport(context.Background(), []string{"--metrics-url", metricsURL}, &out, io.Discard); err != nil {
		t.Fatalf("shadow-report: %v", err)
	}
	if !strings.Contains(out.String(), "predicted_load") {
		t.Errorf("shadow-report output lacks the series:\n%s", out.String())
	}
}

// serveRun is a running `foresight-adapter serve`.
type serveRun struct {
	// metricsURL is the plain-HTTP /metrics URL.
	metricsURL string
	// done is closed when serve returned; err is then its result.
	done chan struct{}
	err  error
	logs *syncBuffer
}

// startServe runs `foresight-adapter serve` with the rule file on a
// Prometheus and a data clock starting at clockStart, until the test ends;
// extra are more arguments (another --config).
func startServe(t *testing.T, dir, rules, promURL string, clockStart time.Time, extra ...string) *serveRun {
	t.Helper()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	// A cluster that is never reached: external metrics need no object listing,
	// and /metrics is read on the plain metrics address.
	writeTestFile(t, kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: none, user: {token: x}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
`), 0o600)
	metricsAddr := freeLoopbackAddr(t)
	_, securePort, _ := net.SplitHostPort(freeLoopbackAddr(t))
	ctx, cancel := context.WithCancel(context.Background())
	run := &serveRun{metricsURL: "http://" + metricsAddr + "/metrics", done: make(chan struct{}), logs: &syncBuffer{}}
	go func() {
		defer close(run.done)
		run.err = runServe(ctx, append([]string{
			"--config", rules, "--prometheus-url", promURL,
			"--lister-kubeconfig", kubeconfig, "--authentication-skip-lookup",
			"--bind-address", "127.0.0.1", "--secure-port", securePort, "--cert-dir", filepath.Join(dir, "certs"),
			"--metrics-bind-address", metricsAddr,
			"--clock-start", clockStart.Format(time.RFC3339), "--clock-speed", "1",
		}, extra...), io.Discard, run.logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-run.done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return run
}

// await polls cond every interval until it holds. The test fails when serve stops first,
// or when within has passed, with cond's last message and serve's logs.
func (r *serveRun) await(t *testing.T, within, interval time.Duration, cond func() (ok bool, msg string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		select {
		case <-r.done:
			t.Fatalf("serve stopped: %v\n%s", r.err, r.logs.String())
		default:
		}
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s\n%s", msg, r.logs.String())
		}
		time.Sleep(interval)
	}
}

// labelValues are the labels of m by name.
func labelValues(m *dto.Metric) map[string]string {
	lv := map[string]string{}
	for _, l := range m.GetLabel() {
		lv[l.GetName()] = l.GetValue()
	}
	return lv
}

func scrapeSummaries(t *testing.T, url string, windows []string) []shadow.Summary {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	sums, err := shadow.SummariesFromMetrics(resp.Body, windows)
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestServeCostWeighted runs `foresight-adapter serve` with a cost-weighted
// rule on a real Prometheus holding a day of a real trace and OpenCost-shaped
// price series, and checks in its /metrics that the served value is
// V = L / (k * u(r) * (1 - q*f)) with r, f and the hourly cost of the OpenCost
// join, and that the rule's shadow evaluation prices its strategies.
func TestServeCostWeighted(t *testing.T) {
	trace := promtest.LoadTrace(t, "crane-input0.csv")
	n := 0
	for n < len(trace) && trace[n].T <= trace[0].T+86400*1000 {
		n++
	}
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	trace = promtest.ShiftToEnd(trace[:n], end)
	constant := func(v float64) []source.Sample {
		out := make([]source.Sample, len(trace))
		for i, s := range trace {
			out[i] = source.Sample{T: s.T, V: v}
		}
		return out
	}
	// web-a on on-demand node n1: 1 core * 0.1 + 1 GiB * 0.02 = 0.12 $/h;
	// web-b on spot node n2: 1 core * 0.05 + 1 GiB * 0.01 = 0.06 $/h.
	series := []promtest.Series{
		{Name: "trace_load", Labels: map[string]string{"namespace": "shop", "service": "web"}, Samples: trace},
		{Name: "container_cpu_allocation", Labels: map[string]string{"namespace": "shop", "pod": "web-a", "node": "n1", "container": "app"}, Samples: constant(1)},
		{Name: "container_cpu_allocation", Labels: map[string]string{"namespace": "shop", "pod": "web-b", "node": "n2", "container": "app"}, Samples: constant(1)},
		{Name: "container_memory_allocation_bytes", Labels: map[string]string{"namespace": "shop", "pod": "web-a", "node": "n1", "container": "app"}, Samples: constant(1 << 30)},
		{Name: "container_memory_allocation_bytes", Labels: map[string]string{"namespace": "shop", "pod": "web-b", "node": "n2", "container": "app"}, Samples: constant(1 << 30)},
		{Name: "node_cpu_hourly_cost", Labels: map[string]string{"node": "n1", "instance_type": "m5.large"}, Samples: constant(0.1)},
		{Name: "node_cpu_hourly_cost", Labels: map[string]string{"node": "n2", "instance_type": "m5.large"}, Samples: constant(0.05)},
		{Name: "node_ram_hourly_cost", Labels: map[string]string{"node": "n1"}, Samples: constant(0.02)},
		{Name: "node_ram_hourly_cost", Labels: map[string]string{"node": "n2"}, Samples: constant(0.01)},
		{Name: "kubecost_node_is_spot", Labels: map[string]string{"node": "n1"}, Samples: constant(0)},
		{Name: "kubecost_node_is_spot", Labels: map[string]string{"node": "n2"}, Samples: constant(1)},
	}
	prom := promtest.StartPrometheus(t, promtest.Options{LookbackDelta: 30 * time.Second, Series: series})
	peak := 0.0
	for _, s := range trace {
		peak = max(peak, s.V)
	}
	capacity := peak / 10
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	writeTestFile(t, rules, []byte(fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: web_replicas_cost_weighted
    query: trace_load{<<.LabelMatchers>>}
    forecast: {step: 1m, history: 1d, refitInterval: 2h, model: holt-winters}
    cost:
      pods: '{pod=~"web-.+"}'
      capacity: %g
      targetUtilization: 0.7
      elasticity: 1
      minUtilization: 0.5
      maxUtilization: 0.9
      referencePrice: 0.1
      interruptionDiscount: 0.5
    shadow:
      strategies: [reactive, cost-weighted]
      windows: [1d]
`, capacity)), 0o600)
	run := startServe(t, dir, rules, prom.URL, end.Add(30*time.Second))
	var fams map[string]*dto.MetricFamily
	run.await(t, 2*time.Minute, 200*time.Millisecond, func() (bool, string) {
		fams = scrapeFamilies(run.metricsURL)
		return fams["foresight_cost_served_value"] != nil && fams["foresight_shadow_cost_dollars"] != nil, "no foresight_cost_* metrics after 2 minutes:"
	})
	value := func(name string) float64 {
		t.Helper()
		mf := fams[name]
		if mf == nil || len(mf.GetMetric()) != 1 {
			t.Fatalf("%s: want one series, got %v", name, mf)
		}
		m := mf.GetMetric()[0]
		lv := labelValues(m)
		if lv["metric"] != "web_replicas_cost_weighted" || lv["namespace"] != "shop" {
			t.Errorf("%s: labels %v", name, lv)
		}
		return m.GetGauge().GetValue()
	}
	load, served := value("foresight_cost_load"), value("foresight_cost_served_value")
	checks := []struct {
		name      string
		got, want float64
	}{
		{"price ratio r (0.09 / 0.1)", value("foresight_cost_price_ratio"), 0.9},
		{"utilisation u (0.7 * 0.9)", value("foresight_cost_target_utilization"), 0.63},
		{"spot share f", value("foresight_cost_spot_share"), 0.5},
		{"workload hourly cost", value("foresight_cost_workload_hourly_cost_dollars"), 0.18},
		{"fallback", value("foresight_cost_fallback"), 0},
		{"V = L / (k u (1 - q f))", served, load / (capacity * 0.63 * (1 - 0.5*0.5))},
		{"served to the HPA", value("foresight_forecast_served_value"), served},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !(load >= trace[len(trace)-1].V) {
		t.Errorf("L = %v below the last observed load %v (reactive floor)", load, trace[len(trace)-1].V)
	}
	t.Logf("L %.1f, V %.2f replicas (cost-blind would be %.2f)", load, served, load/(capacity*0.7))
	sums := scrapeSummaries(t, run.metricsURL, []string{"1d"})
	if len(sums) != 1 || len(sums[0].Strategies) != 2 {
		t.Fatalf("shadow summaries %+v", sums)
	}
	for _, st := range sums[0].Strategies {
		// The replica price is a constant $0.09/h over the whole history.
		w := st.Windows[0]
		if want := w.PodMinutes / 60 * 0.09; !(w.PodMinutes > 0) || math.Abs(w.Dollars-want) > 1e-6*want {
			t.Errorf("shadow strategy %s: $%v for %v pod-minutes over 1d, want $%v at the OpenCost replica price", st.Name, w.Dollars, w.PodMinutes, want)
		}
	}
}

func scrapeFamilies(url string) map[string]*dto.MetricFamily {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil
	}
	return fams
}

// TestServeSLOShadowReport serves an SLO rule with a shadow section from a
// real Prometheus holding three days of a real trace, and reads it back with
// `shadow-report --metrics-url`: the slo strategy's figures over a window
// spanning the whole replay are what `backtest --slo` computes for the same
// samples and settings, and its state (utilisation, achieved share against
// the rule's objective, pod-minutes against reactive) is the served
// controller's, from foresight_slo_*.
func TestServeSLOShadowReport(t *testing.T) {
	trace, prom, capacity := startTracePrometheus(t, "crane-input1.csv")
	end := time.UnixMilli(trace[len(trace)-1].T) // where the data clock starts
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	writeTestFile(t, rules, []byte(fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: web_replicas
    query: trace_load{<<.LabelMatchers>>}
    forecast: {step: 1m, horizon: 5m, history: 14d, refitInterval: 2h, model: auto}
    slo:
      capacity: %[1]g
      underProvisioned: 0.01
      maxUtilization: 1.2
      window: 1d
      maxReplicas: 1000
      startupDelay: 2m
    shadow:
      strategies: [reactive]
      capacity: %[1]g
      target: 0.7
      windows: [1d, 7d]       # what shadow-report reads; 7d spans the whole replay
      maxReplicas: 1000
      startupDelay: 2m
`, capacity)), 0o600)
	clockStart := end.Add(30 * time.Second)
	run := startServe(t, dir, rules, prom.URL, clockStart)

	// shadow-report reads the slo strategy and its state once the rule has run a cycle.
	var rep shadow.Report
	run.await(t, 3*time.Minute, 200*time.Millisecond, func() (bool, string) {
		var out strings.Builder
		err := runShadowReport(context.Background(), []string{"--metrics-url", run.metricsURL, "--json"}, &out, io.Discard)
		if err == nil {
			if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
				t.Fatalf("shadow-report --json: %v\n%s", err, out.String())
			}
			if len(rep.Series) == 1 && len(rep.Series[0].Strategies) == 2 && rep.Series[0].Strategies[1].SLO != nil &&
				rep.Series[0].Strategies[1].SLO.UnderProvisionedShare != nil {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no slo strategy with an evaluated state from shadow-report after 3 minutes (last error %v):", err)
	})
	got := rep.Series[0]
	s := got.Strategies[1] // sorted by name: reactive, slo
	if got.Metric != "web_replicas" || s.Name != shadow.StrategySLO {
		t.Fatalf("series %q strategies %+v", got.Metric, got.Strategies)
	}

	// The same samples through `backtest --slo` with the rule's settings, scored from the first sample.
	rule, samples := ruleSamples(t, rules, prom.URL, time.UnixMilli(trace[0].T), clockStart)
	c := *rule.SLO
	opts := backtest.DefaultOptions()
	opts.Step, opts.Warmup, opts.Capacity = time.Minute, 0, capacity
	opts.Horizon, opts.Quantile, opts.Model = rule.Settings.Horizon, rule.Settings.Quantile, rule.Settings.Model
	opts.History, opts.RefitInterval, opts.Hold = rule.Settings.History, rule.Settings.RefitInterval, rule.Settings.Hold
	opts.MinReplicas, opts.MaxReplicas, opts.StartupDelay, opts.SyncPeriod = c.HPA.MinReplicas, c.HPA.MaxReplicas, c.HPA.StartupDelay, c.HPA.SyncPeriod
	opts.ReactiveTarget = c.ReactiveTarget
	opts.SLO = &backtest.SLOOptions{UnderProvisioned: c.UnderProvisioned, MaxUtilization: c.MaxUtilization, Window: c.Window, Every: c.Every, MaxChange: c.MaxChange}
	bt, err := backtest.Run(context.Background(), samples, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := bt.Report.SLO.Scaling
	g := s.Windows[1].Figures // 7d: the whole replay
	t.Logf("slo strategy through serve: pod-min %.1f under-min %.2f actions %d, state %+v; backtest --slo: %.1f %.2f %d, final utilisation %v",
		g.PodMinutes, g.UnderProvisionedMinutes, g.ScalingActions, *s.SLO, want.PodMinutes, want.UnderProvisionedMinutes, want.ScalingActions, bt.Report.SLO.FinalUtilization)
	if g.PodMinutes != want.PodMinutes || g.UnderProvisionedMinutes != want.UnderProvisionedMinutes || g.ScalingActions != want.ScalingActions {
		t.Errorf("slo strategy in /metrics %+v, backtest --slo %+v", g, want)
	}
	if s.SLO.Utilization != bt.Report.SLO.FinalUtilization || s.SLO.Utilization == c.ReactiveTarget {
		t.Errorf("served utilisation %v, backtest's final %v (initial %v)", s.SLO.Utilization, bt.Report.SLO.FinalUtilization, c.ReactiveTarget)
	}
	if !(s.SLO.PodMinutes > 0 && s.SLO.ReactivePodMinutes > 0) || s.SLO.Objective == nil || *s.SLO.Objective != c.UnderProvisioned {
		t.Errorf("SLO state %+v: want pod-minutes of the window, and the rule's objective %v", *s.SLO, c.UnderProvisioned)
	}
	var table strings.Builder
	if err := runShadowReport(context.Background(), []string{"--metrics-url", run.metricsURL}, &table, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), ", slo: utilisation") || !strings.Contains(table.String(), "against reactive's") ||
		!strings.Contains(table.String(), "(objective 1.00%)") {
		t.Errorf("shadow-report table lacks the slo strategy's state:\n%s", table.String())
	}
}
