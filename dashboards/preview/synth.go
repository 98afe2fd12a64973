package preview

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/hpasim"
	"github.com/foresight-dev/foresight/adapter/queue"
	"github.com/foresight-dev/foresight/adapter/schedule"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/slo"
)

// Scenario marks the events that the synthetic series play out, in minutes from the
// start of the load.
type Scenario struct {
	// IncidentStart and IncidentEnd bound an upstream incident: 4% of cart's requests fail.
	IncidentStart, IncidentEnd int
	// ExperimentStart is when the cart-delay fault experiment starts; its guard aborts
	// it at ExperimentAbort.
	ExperimentStart, ExperimentAbort int
	// OutageStart and OutageEnd bound a Prometheus outage seen by the adapter.
	OutageStart, OutageEnd int
	// BadPolicy is when a policy change makes one proxy NACK and one snapshot fail validation.
	BadPolicy int
	// CanaryStart is when the web-v2 canary rollout starts (10%, then 50% after 30
	// minutes); its analysis fails at CanaryFail and rolls it back.
	CanaryStart, CanaryFail int
}

// DefaultScenario places the events in the last day of n minutes.
func DefaultScenario(n int) Scenario {
	return Scenario{
		IncidentStart: n - 600, IncidentEnd: n - 540,
		ExperimentStart: n - 300, ExperimentAbort: n - 275,
		OutageStart: n - 150, OutageEnd: n - 130,
		BadPolicy:   n - 420,
		CanaryStart: n - 240, CanaryFail: n - 190,
	}
}

const (
	gatewayNS   = "edge"
	appNS       = "shop"
	systemNS    = "foresight-system"
	hpaTarget   = 25.0 // AverageValue of the web HPA: requests per second per replica
	hpaMin      = 2
	hpaMax      = 20
	horizon     = 5   // forecast horizon, minutes
	spotPrice   = 0.3 // spot price relative to on-demand
	odCPUPrice  = 0.0316
	odRAMPrice  = 0.00424
	gib         = 1 << 30
	interruptQ  = 0.2
	latencySig  = 0.6
	gatewayPods = 2
)

// envoyBuckets are Envoy's default histogram buckets (milliseconds).
var envoyBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// secondsBuckets are client_golang's default buckets (seconds).
var secondsBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// writer appends one minute's samples of every series, keeping counters' totals.
type writer struct {
	app    storage.Appender
	t      int64
	series map[string]*seriesState
	err    error
}

// seriesState is what the writer remembers of a series between minutes.
type seriesState struct {
	lset  labels.Labels
	ref   storage.SeriesRef
	total float64
}

func (w *writer) state(name string, kv []string) *seriesState {
	key := name + "\xff" + strings.Join(kv, "\xff")
	st, ok := w.series[key]
	if !ok {
		st = &seriesState{lset: labels.FromStrings(append([]string{model.MetricNameLabel, name}, kv...)...)}
		w.series[key] = st
	}
	return st
}

func (w *writer) append(st *seriesState, v float64) {
	if w.err != nil {
		return
	}
	ref, err := w.app.Append(st.ref, st.lset, w.t, v)
	if err != nil {
		w.err = fmt.Errorf("append %s: %w", st.lset, err)
		return
	}
	st.ref = ref
}

func (w *writer) gauge(name string, v float64, kv ...string) {
	w.append(w.state(name, kv), v)
}

func (w *writer) counter(name string, inc float64, kv ...string) {
	st := w.state(name, kv)
	st.total += math.Max(0, inc)
	w.append(st, st.total)
}

// histogram adds count observations drawn from a log-normal distribution with the
// given median to a classic histogram's _bucket, _count and _sum series.
func (w *writer) histogram(name string, buckets []float64, count, median, sigma float64, kv ...string) {
	for _, le := range buckets {
		w.counter(name+"_bucket", count*lognormalCDF(le, median, sigma), append(append([]string(nil), kv...), "le", trimFloat(le))...)
	}
	w.counter(name+"_bucket", count, append(append([]string(nil), kv...), "le", "+Inf")...)
	w.counter(name+"_count", count, kv...)
	w.counter(name+"_sum", count*median*math.Exp(sigma*sigma/2), kv...)
}

func lognormalCDF(x, median, sigma float64) float64 {
	if x <= 0 {
		return 0
	}
	return 0.5 * math.Erfc(-(math.Log(x)-math.Log(median))/(sigma*math.Sqrt2))
}

func trimFloat(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", f), "0"), ".")
}

// seriesForecast is the adapter's forecaster of one series with what the serving loop
// remembers to count drift fallbacks (adapter/serving).
type seriesForecast struct {
	f         *forecast.Forecaster
	fallback  bool
	hadModel  bool
	lastModel string
}

// forecastSettings are the preview's forecaster settings: the adapter's defaults (auto
// model choice, 6 h warm-up and refit) at a one-minute step.
var forecastSettings = forecast.Settings{Step: time.Minute, Horizon: horizon * time.Minute, Quantile: 0.9}

// webHPA is the web Deployment's HPA: an AverageValue target of hpaTarget requests per
// second per replica, the controller's default behaviour and sync period, and pods
// that serve two minutes after they start.
var webHPA = hpa.Config{Target: hpaTarget, MinReplicas: hpaMin, MaxReplicas: hpaMax, StartupDelay: 2 * time.Minute}

// newShadowEvaluator returns the evaluator of the preview's shadow strategies.
func newShadowEvaluator() (*shadow.Evaluator, error) {
	base := forecast.Settings{Step: time.Minute, Horizon: horizon * time.Minute, Quantile: 0.9, RefitInterval: 6 * time.Hour}
	with := func(m forecast.Model) forecast.Settings { s := base; s.Model = m; return s }
	return shadow.NewEvaluator(shadow.Config{
		Capacity: hpaTarget,
		HPA:      hpa.Config{MinReplicas: hpaMin, MaxReplicas: hpaMax, StartupDelay: 2 * time.Minute},
		Step:     time.Minute,
		Windows:  []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour},
	}, []shadow.Strategy{
		{Name: "reactive", Settings: with(forecast.ModelReactive), Target: 0.7},
		{Name: "seasonal-naive", Settings: with(forecast.ModelSeasonalNaive), Target: 0.8},
		{Name: "holt-winters", Settings: with(forecast.ModelHoltWinters), Target: 0.8},
	})
}

// writeShadow writes the foresight_shadow_* gauges of one summary, as the adapter exports them.
func writeShadow(w *writer, sum shadow.Summary) {
	for _, st := range sum.Strategies {
		kv := []string{"metric", "rps", "namespace", appNS, "series", "web", "strategy", st.Name}
		w.gauge("foresight_shadow_replicas", float64(st.Replicas), kv...)
		for _, win := range st.Windows {
			wkv := append(append([]string(nil), kv...), "window", win.Window)
			w.gauge("foresight_shadow_underprovisioned_minutes", win.UnderProvisionedMinutes, wkv...)
			w.gauge("foresight_shadow_pod_minutes", win.PodMinutes, wkv...)
			w.gauge("foresight_shadow_cost_dollars", win.Dollars, wkv...)
			w.gauge("foresight_shadow_scaling_actions", float64(win.ScalingActions), wkv...)
			w.gauge("foresight_shadow_forecast_error_ratio", win.ForecastErrorRatio, wkv...)
		}
	}
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func quantile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[int(q*float64(len(s)-1))]
}

// Populate appends, minute by minute, the series that Envoy, OpenCost,
// kube-state-metrics and Foresight's components would export while the load plays
// out, with the events of the scenario.
func Populate(app storage.Appender, load Load, sc Scenario) error {
	w := &writer{app: app, series: map[string]*seriesState{}}
	n := len(load.Values)
	peak := 0.0
	for _, v := range load.Values {
		peak = math.Max(peak, v)
	}
	// Circuit breakers and the gateway's rate limit act on the top 3% of the load.
	limit := quantile(load.Values, 0.97)
	shares := map[string]float64{"cart": 0.6, "catalog": 0.4}
	fcs := map[string]*seriesForecast{}
	for cluster := range shares {
		f, err := forecast.NewForecaster(forecastSettings)
		if err != nil {
			return err
		}
		fcs[cluster] = &seriesForecast{f: f}
	}
	shadowEval, err := newShadowEvaluator()
	if err != nil {
		return err
	}
	// SLO mode of the web workload's forecast, by the adapter's own
	// controller: pods whose hpaTarget is 70% utilisation, 1% of the time
	// under-provisioned allowed.
	sloCtl, err := slo.New(slo.Config{Capacity: hpaTarget / 0.7, UnderProvisioned: 0.01, MaxUtilization: 1,
		Step: time.Minute, HPA: webHPA})
	if err != nil {
		return err
	}
	// A schedule on the web workload's forecast, by the adapter's own
	// schedule: at least 4 on weekdays 08:00-18:00 UTC, at most 40 every
	// night 00:00-06:00 UTC, and a one-off event doubling the forecast for
	// the three hours from the trace's middle.
	floor, ceiling, double := 4.0, 40.0, 2.0
	eventStart := load.Start.Add(time.Duration(n/2) * time.Minute)
	sched := schedule.Schedule{
		Windows: []schedule.Window{{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			Start: 8 * 60, End: 18 * 60, Min: &floor}, {Start: 0, End: 6 * 60, Max: &ceiling}},
		Events: []schedule.Event{{Name: "launch", Start: eventStart, End: eventStart.Add(3 * time.Hour), Multiplier: &double}},
	}
	// A queue of batch jobs (two items/s for the first 10 minutes of every
	// second hour), its demand by the adapter's own queue tracker, its
	// backlog drained by that many workers.
	jobs := queue.Params{Throughput: 0.5, DrainTime: 5 * time.Minute, WakeLead: 2 * time.Minute, CoolDown: 10 * time.Minute}
	var jobsTracker queue.Tracker
	var backlog, workers float64
	// The web HPA: the project's HPA model on the simulation timeline of the backtest,
	// fed the served (predicted) request rate.
	hcfg := webHPA
	hcfg.SetDefaults()
	if err := hcfg.Validate(); err != nil {
		return err
	}
	clk, err := hpasim.NewClock(time.Minute, hcfg)
	if err != nil {
		return err
	}
	scaler := hpasim.NewScaler(hcfg)
	servedAt := make([]float64, 0, n) // per minute: the served value the HPA sees
	var ticks []hpasim.Tick
	prevReplicas := hpaMin
	for i := 0; i < n; i++ {
		ts := load.Start.Unix() + int64(i)*60
		w.t = ts * 1000
		L := load.Values[i]
		incident := i >= sc.IncidentStart && i < sc.IncidentEnd
		experiment := i >= sc.ExperimentStart && i < sc.ExperimentAbort
		outage := i >= sc.OutageStart && i < sc.OutageEnd
		badPolicy := i == sc.BadPolicy

		// Envoy: the gateway's upstream clusters, split over its pods.
		served := 0.0
		fellBack := false // a cluster's forecaster served its reactive fallback
		for _, cluster := range []string{"cart", "catalog"} {
			rate := L * shares[cluster]
			errRatio := 0.0005
			median := 12.0 * (1 + 0.8*(L/peak)*(L/peak)*(L/peak))
			if cluster == "cart" {
				median *= 1.8
				if incident {
					errRatio = 0.04
				}
				if experiment {
					median += 150
				}
			}
			perMin := rate * 60 / gatewayPods
			for p := 1; p <= gatewayPods; p++ {
				kv := []string{"namespace", gatewayNS, "job", "foresight-gateway", "pod", fmt.Sprintf("gateway-%d", p), "envoy_cluster_name", cluster}
				w.counter("envoy_cluster_upstream_rq_total", perMin, kv...)
				w.counter("envoy_cluster_upstream_rq_xx", perMin*(1-errRatio), append(kv, "envoy_response_code_class", "2")...)
				w.counter("envoy_cluster_upstream_rq_xx", perMin*errRatio, append(kv, "envoy_response_code_class", "5")...)
				w.histogram("envoy_cluster_upstream_rq_time", envoyBuckets, perMin, median, latencySig, kv...)
				w.counter("envoy_cluster_upstream_rq_retry", perMin*(errRatio*0.8+0.001), kv...)
				w.counter("envoy_cluster_upstream_rq_pending_overflow", math.Max(0, L-limit)*shares[cluster]*6/gatewayPods, kv...)
				ejected := 0.0
				if incident && cluster == "cart" {
					ejected = 1
				}
				w.gauge("envoy_cluster_outlier_detection_ejections_active", ejected, kv...)
			}
			pkv := []string{"namespace", gatewayNS, "job", "foresight-gateway", "envoy_local_http_ratelimit_prefix", "gateway_ingress"}
			w.counter("envoy_http_local_rate_limit_rate_limited", math.Max(0, L-1.05*limit)*30*shares[cluster], pkv...)

			// The adapter forecasts each cluster's request rate for the web HPA, and
			// exports what its serving loop exports.
			fc := fcs[cluster]
			if err := fc.f.Observe(ts, rate); err != nil {
				return fmt.Errorf("forecast %s: %w", cluster, err)
			}
			out := fc.f.Serve()
			served += out.Value
			fellBack = fellBack || out.Fallback
			skv := []string{"metric", "rps", "namespace", appNS, "series", `envoy_cluster_name="` + cluster + `"`}
			w.gauge("foresight_forecast_observed_value", out.Observed, skv...)
			w.gauge("foresight_forecast_predicted_value", out.Predicted, skv...)
			w.gauge("foresight_forecast_upper_value", out.Upper, skv...)
			w.gauge("foresight_forecast_served_value", out.Value, skv...)
			w.gauge("foresight_forecast_model_info", 1, append(skv, "model", string(out.Model))...)
			w.gauge("foresight_forecast_fallback", b2f(out.Fallback), skv...)
			w.gauge("foresight_forecast_spikes_filtered", b2f(out.SpikesFiltered), skv...)
			if ev := out.Evaluation; ev.Valid {
				mkv := []string{"metric", "rps", "model", string(ev.Model), "namespace", systemNS}
				w.counter("foresight_forecast_evaluations_total", 1, mkv...)
				w.counter("foresight_forecast_absolute_error_total", math.Abs(ev.Forecast-ev.Actual), mkv...)
				w.counter("foresight_forecast_actual_total", ev.Actual, mkv...)
				w.counter("foresight_forecast_under_forecasts_total", b2f(ev.Forecast < ev.Actual), mkv...)
			}
			if fc.hadModel {
				// Served a model's forecast before and now the reactive value: drift.
				drift := out.Fallback && !fc.fallback
				w.counter("foresight_forecast_drift_fallbacks_total", b2f(drift), "metric", "rps", "model", fc.lastModel, "namespace", systemNS)
			}
			if !out.Fallback {
				fc.hadModel, fc.lastModel = true, string(out.Model)
			}
			fc.fallback = out.Fallback
		}

		// The HPA syncs every 15 s on the served value of the latest minute it has seen.
		servedAt = append(servedAt, served)
		ticks = clk.Advance(ts, served, ticks[:0])
		for _, tk := range ticks {
			if _, err := scaler.Step(clk.Start(), tk, servedAt[tk.Visible], servedAt[0]); err != nil {
				return fmt.Errorf("web HPA: %w", err)
			}
		}
		// The model's ReplicaSet creates and deletes pods at once: the current replica
		// count is the HPA's latest decision (before its first sync, minReplicas).
		current := hpaMin
		if scaler.Total() > 0 {
			current = int(scaler.Total())
		}
		hkv := []string{"namespace", appNS, "horizontalpodautoscaler", "web"}
		w.gauge("kube_horizontalpodautoscaler_status_desired_replicas", float64(current), hkv...)
		w.gauge("kube_horizontalpodautoscaler_status_current_replicas", float64(current), hkv...)
		w.gauge("kube_horizontalpodautoscaler_spec_max_replicas", hpaMax, hkv...)
		w.gauge("kube_horizontalpodautoscaler_spec_min_replicas", hpaMin, hkv...)
		w.gauge("kube_horizontalpodautoscaler_spec_target_metric", hpaTarget, append(hkv, "metric_name", "rps", "metric_target_type", "average")...)

		// Pods of the web Deployment alternate between an on-demand and a spot node;
		// the db StatefulSet runs on demand. OpenCost prices and allocations.
		nodes := map[string]float64{"node-ondemand": 1, "node-spot": spotPrice}
		for node, rel := range nodes {
			w.gauge("node_cpu_hourly_cost", odCPUPrice*rel, "node", node, "instance_type", "m6i.xlarge")
			w.gauge("node_ram_hourly_cost", odRAMPrice*rel, "node", node, "instance_type", "m6i.xlarge")
			w.gauge("kubecost_node_is_spot", b2f(rel < 1), "node", node)
		}
		w.gauge("kube_replicaset_owner", 1, "namespace", appNS, "replicaset", "web-7d9f", "owner_kind", "Deployment", "owner_name", "web")
		spotPods, podCost := 0, 0.0
		for p := 0; p < current; p++ {
			pod := fmt.Sprintf("web-7d9f-%02d", p)
			node, rel := "node-ondemand", 1.0
			if p%2 == 1 {
				node, rel = "node-spot", spotPrice
				spotPods++
			}
			for _, c := range []struct {
				name       string
				cpu, bytes float64
			}{{"app", 0.5, gib}, {"envoy", 0.1, gib / 8}} {
				ckv := []string{"namespace", appNS, "pod", pod, "container", c.name, "node", node}
				w.gauge("container_cpu_allocation", c.cpu, ckv...)
				w.gauge("container_memory_allocation_bytes", c.bytes, ckv...)
				podCost += (c.cpu*odCPUPrice + c.bytes/gib*odRAMPrice) * rel
			}
			w.gauge("kube_pod_owner", 1, "namespace", appNS, "pod", pod, "owner_kind", "ReplicaSet", "owner_name", "web-7d9f")
			// Each web pod's sidecar calls the payments service.
			perMin := L * 0.25 * 60 / float64(current)
			kv := []string{"namespace", appNS, "job", "envoy-sidecar", "pod", pod, "envoy_cluster_name", "payments"}
			w.counter("envoy_cluster_upstream_rq_total", perMin, kv...)
			w.counter("envoy_cluster_upstream_rq_xx", perMin*0.999, append(kv, "envoy_response_code_class", "2")...)
			w.counter("envoy_cluster_upstream_rq_xx", perMin*0.001, append(kv, "envoy_response_code_class", "5")...)
			w.histogram("envoy_cluster_upstream_rq_time", envoyBuckets, perMin, 8*(1+0.5*L/peak), latencySig, kv...)
			w.counter("envoy_cluster_upstream_rq_retry", perMin*0.001, kv...)
			w.gauge("envoy_control_plane_connected_state", 1, "namespace", appNS, "pod", pod)
		}
		dkv := []string{"namespace", appNS, "pod", "db-0", "container", "postgres", "node", "node-ondemand"}
		w.gauge("container_cpu_allocation", 2, dkv...)
		w.gauge("container_memory_allocation_bytes", 8*gib, dkv...)
		w.gauge("kube_pod_owner", 1, "namespace", appNS, "pod", "db-0", "owner_kind", "StatefulSet", "owner_name", "db")

		// Cost weighting of the web workload (see docs/cost.md).
		f := float64(spotPods) / float64(current)
		r := (1 - f) + f*spotPrice
		u := math.Min(0.9, math.Max(0.5, 0.7*math.Pow(r, 0.5)))
		ckv := []string{"metric", "rps_cost_weighted", "namespace", appNS, "series", "web"}
		w.gauge("foresight_cost_load", served, ckv...)
		w.gauge("foresight_cost_spot_share", f, ckv...)
		w.gauge("foresight_cost_price_ratio", r, ckv...)
		w.gauge("foresight_cost_target_utilization", u, ckv...)
		w.gauge("foresight_cost_served_value", served/(hpaTarget*u*(1-interruptQ*f)), ckv...)
		w.gauge("foresight_cost_workload_hourly_cost_dollars", podCost, ckv...)
		w.gauge("foresight_cost_fallback", 0, ckv...)

		// SLO mode of the same forecast (the load is the clusters' total).
		if err := sloCtl.Observe(ts, L*(shares["cart"]+shares["catalog"]), served, fellBack); err != nil {
			return err
		}
		st := sloCtl.Status()
		skv := []string{"metric", "rps_slo", "namespace", appNS, "series", "web"}
		w.gauge("foresight_slo_served_value", sloCtl.Demand(served, fellBack), skv...)
		w.gauge("foresight_slo_utilization", st.Utilization, skv...)
		w.gauge("foresight_slo_fallback_utilization", st.FallbackUtilization, skv...)
		w.gauge("foresight_slo_wanted_utilization", st.Wanted, skv...)
		w.gauge("foresight_slo_underprovisioned_objective", sloCtl.Config().UnderProvisioned, skv...)
		if st.Evaluations > 0 {
			w.gauge("foresight_slo_underprovisioned_share", st.UnderProvisionedShare, skv...)
			w.gauge("foresight_slo_pod_minutes", st.PodMinutes, skv...)
			w.gauge("foresight_slo_reactive_pod_minutes", st.ReactivePodMinutes, skv...)
		}

		// The schedule's bounds and the batch queue.
		b := sched.At(time.Unix(ts, 0))
		schedKV := []string{"metric", "rps_scheduled", "namespace", appNS}
		if !math.IsNaN(b.Floor) {
			w.gauge("foresight_schedule_floor", b.Floor, schedKV...)
		}
		if !math.IsNaN(b.Ceiling) {
			w.gauge("foresight_schedule_ceiling", b.Ceiling, schedKV...)
		}
		w.gauge("foresight_schedule_multiplier", b.Multiplier, schedKV...)
		arrivals := 0.0
		if (i/60)%2 == 0 && i%60 < 10 {
			arrivals = 2
		}
		backlog = math.Max(0, backlog+60*(arrivals-workers*jobs.Throughput))
		demand, reason := jobsTracker.Demand(jobs, queue.Input{At: ts, Backlog: backlog, Arrivals: arrivals, Predicted: arrivals})
		workers = math.Ceil(demand)
		qkv := []string{"metric", "jobs_workers", "namespace", appNS, "series", "batch"}
		w.gauge("foresight_queue_backlog", backlog, qkv...)
		w.gauge("foresight_queue_idle", b2f(reason == queue.ReasonIdle), qkv...)

		// Shadow evaluation of three strategies on the web workload's load, by
		// the adapter's own evaluator, priced at the web pods' mean hourly price.
		if err := shadowEval.ObservePrice(ts, podCost/float64(current)); err != nil {
			return err
		}
		if err := shadowEval.Observe(ts, served); err != nil {
			return err
		}
		writeShadow(w, shadowEval.Summary())

		// The adapter's own health.
		akv := []string{"namespace", systemNS, "instance", "foresight-adapter-0"}
		staleness := 20.0 + float64(i%3)*10
		if outage {
			staleness = float64(i-sc.OutageStart+1) * 60
		}
		w.gauge("foresight_forecast_staleness_seconds", staleness, append(akv, "metric", "rps")...)
		w.gauge("foresight_forecast_series", 2, append(akv, "metric", "rps")...)
		w.gauge("foresight_adapter_rules", 1, akv...)
		w.gauge("foresight_adapter_config_last_reload_successful", 1, akv...)
		w.counter("foresight_adapter_config_reloads_total", b2f(i == n/2), append(akv, "result", "success")...)
		queries := 2.0
		if outage {
			w.counter("foresight_source_query_errors_total", queries, append(akv, "kind", "range")...)
			queries = 0
		} else {
			w.counter("foresight_source_query_errors_total", 0, append(akv, "kind", "range")...)
		}
		w.histogram("foresight_source_query_duration_seconds", secondsBuckets, queries, 0.04*(1+L/peak), 0.5, append(akv, "kind", "range")...)
		w.histogram("foresight_source_query_duration_seconds", secondsBuckets, 2, 0.008, 0.4, append(akv, "kind", "instant")...)
		w.histogram("foresight_forecast_fit_duration_seconds", secondsBuckets, b2f(i%15 == 0)*2, 0.03, 0.5, append(akv, "model", "seasonal_naive")...)

		// The xDS control plane: endpoint pushes follow scaling; a bad policy is NACKed
		// by one proxy and leaves another in no node group (refused), and a later one
		// fails validation.
		xkv := []string{"namespace", systemNS, "instance", "foresight-xds-0"}
		proxies := map[string]float64{"sidecar": float64(current), "gateway": gatewayPods, "grpc": 3}
		all := 0.0
		for kind, v := range proxies {
			w.gauge("foresight_xds_connected_proxies", v, append(xkv, "kind", kind)...)
			all += v
		}
		endpointPushes := 0.0
		if current != prevReplicas {
			endpointPushes = all
		}
		prevReplicas = current
		configPushes := 0.0
		if badPolicy || i == n/2 {
			configPushes = all
		}
		for _, typ := range []string{"listener", "route", "cluster", "endpoint"} {
			pushes := configPushes
			if typ == "endpoint" {
				pushes += endpointPushes
			}
			w.counter("foresight_xds_pushes_total", pushes, append(xkv, "type", typ)...)
			w.histogram("foresight_xds_push_ack_duration_seconds", secondsBuckets, pushes, 0.004*(1+all/40), 0.5, append(xkv, "type", typ)...)
		}
		w.counter("foresight_xds_nacks_total", b2f(badPolicy), append(xkv, "node", "web-7d9f-01.shop", "type", "listener")...)
		w.counter("foresight_xds_snapshots_rejected_total", b2f(i == sc.BadPolicy+30), xkv...)
		w.counter("foresight_xds_streams_refused_total", b2f(badPolicy), append(xkv, "reason", "no_node_group")...)
		w.gauge("foresight_xds_leader", 1, xkv...)
		w.counter("foresight_xds_config_reloads_total", b2f(i == n/2 || badPolicy), append(xkv, "result", "success")...)
		w.counter("foresight_xds_config_reloads_total", b2f(i == sc.BadPolicy+30), append(xkv, "result", "failure")...)
		w.gauge("foresight_xds_snapshot_bytes", 18000+350*float64(current+6), xkv...)
		for typ, v := range map[string]float64{"listener": 3, "route": 2, "cluster": 4, "endpoint": float64(current + 3)} {
			w.gauge("foresight_xds_snapshot_resources", v, append(xkv, "type", typ)...)
		}

		// The cart-delay experiment: 150 ms of delay on cart until its guard (cart's p90
		// latency, seconds) crosses 0.3 and aborts it.
		ekv := append(xkv, "experiment", "cart-delay")
		w.gauge("foresight_experiment_active", b2f(experiment), append(ekv, "target", "cart")...)
		guard := 0.0
		if i >= sc.ExperimentStart {
			guard = 0.05
			if experiment {
				guard = 0.05 + 0.3*float64(i-sc.ExperimentStart+1)/float64(sc.ExperimentAbort-sc.ExperimentStart)
			}
		}
		w.gauge("foresight_experiment_guard_value", guard, ekv...)
		w.counter("foresight_experiment_aborts_total", b2f(i == sc.ExperimentAbort), ekv...)
		state := "pending"
		switch {
		case experiment:
			state = "running"
		case i >= sc.ExperimentAbort:
			state = "aborted"
		}
		w.gauge("foresight_experiment_state", 1, append(ekv, "state", state)...)
		if i >= sc.CanaryStart {
			canaryRollout(w, sc, i, ts, xkv)
		}
		if w.err != nil {
			return w.err
		}
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// canaryRollout writes the canary metrics of minute i: web-v2 at 10% for 30 minutes, then
// 50%, until its success rate falls below 0.99 at sc.CanaryFail and it is rolled back.
func canaryRollout(w *writer, sc Scenario, i int, ts int64, xkv []string) {
	ckv := append(append([]string(nil), xkv...), "canary", "web-rollout")
	failed := i >= sc.CanaryFail
	step, weight, next := 0, 10.0, 50.0
	stepStart := sc.CanaryStart
	if i >= sc.CanaryStart+30 {
		step, weight, next, stepStart = 1, 50, 100, sc.CanaryStart+30
	}
	phase, deadline := "progressing", float64(ts+int64(stepStart+30-i)*60)
	if failed {
		weight, next, phase, deadline = 0, 0, "failed", 0
	}
	w.gauge("foresight_canary_step", float64(step), ckv...)
	w.gauge("foresight_canary_weight", weight, ckv...)
	w.gauge("foresight_canary_step_deadline_timestamp_seconds", deadline, ckv...)
	w.gauge("foresight_canary_failures", b2f(failed)*2, ckv...)
	for _, ph := range []string{"progressing", "paused", "promoted", "failed", "aborted"} {
		w.gauge("foresight_canary_phase", b2f(ph == phase), append(ckv, "phase", ph)...)
	}
	for _, b := range []struct {
		service   string
		cur, next float64
	}{{"web-v1", 100 - weight, 100 - next}, {"web-v2", weight, next}} {
		bkv := append(append([]string(nil), ckv...), "service", b.service)
		w.gauge("foresight_canary_backend_weight", b.cur, append(bkv, "step", "current")...)
		w.gauge("foresight_canary_backend_weight", b.next, append(bkv, "step", "next")...)
	}
	rate := 0.999
	if i >= sc.CanaryFail-2 {
		rate = 0.95
	}
	w.gauge("foresight_canary_metric_value", rate, append(ckv, "metric", "success-rate")...)
	result := "successful"
	if rate < 0.99 {
		result = "failed"
	}
	for _, r := range []string{"successful", "failed", "inconclusive"} {
		w.counter("foresight_canary_analyses_total", b2f(r == result && i <= sc.CanaryFail), append(ckv, "result", r)...)
	}
}
