package serving

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// Metrics are the adapter's own metrics (docs/metrics.md), registered on the
// registry passed to NewMetrics. The source's query metrics
// (foresight_source_*) belong to the source package.
type Metrics struct {
	perSeries   *seriesCollector
	driftFalls  *prometheus.CounterVec
	series      *prometheus.GaugeVec
	skipped     *prometheus.GaugeVec
	staleness   *prometheus.GaugeVec
	evals       *prometheus.CounterVec
	absErr      *prometheus.CounterVec
	actual      *prometheus.CounterVec
	under       *prometheus.CounterVec
	fitDuration *prometheus.HistogramVec
	reloads     *prometheus.CounterVec
	lastReload  prometheus.Gauge
	rules       prometheus.Gauge
	offHeap     prometheus.GaugeFunc

	scheduleFloor, scheduleCeiling, scheduleMultiplier *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		perSeries: newSeriesCollector(),
		driftFalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_drift_fallbacks_total", Help: "Times drift made a series fall back.",
		}, []string{"metric", "model"}),
		series: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_series", Help: "Series forecast for the rule.",
		}, []string{"metric"}),
		skipped: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_adapter_series_skipped", Help: "Result series of the rule's latest query that are not served: they lack the namespace or object label the rule serves by.",
		}, []string{"metric"}),
		staleness: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_staleness_seconds", Help: "Age of the oldest served value of the rule.",
		}, []string{"metric"}),
		evals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_evaluations_total", Help: "Forecasts scored against the later actual.",
		}, []string{"metric", "model"}),
		absErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_absolute_error_total", Help: "Sum of abs(forecast - actual) at the horizon.",
		}, []string{"metric", "model"}),
		actual: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_actual_total", Help: "Sum of abs(actual) of the forecasts scored.",
		}, []string{"metric", "model"}),
		under: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_under_forecasts_total", Help: "Forecasts below the actual.",
		}, []string{"metric", "model"}),
		fitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "foresight_forecast_fit_duration_seconds",
			Help:    "Time to fit and choose a series' model, by the model chosen.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8), // 1 ms .. 16 s
		}, []string{"model"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_adapter_config_reloads_total", Help: "Rule file reloads.",
		}, []string{"result"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "foresight_adapter_config_last_reload_successful", Help: "Whether the last reload succeeded.",
		}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "foresight_adapter_rules", Help: "Rules loaded.",
		}),
		offHeap: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "foresight_forecast_history_offheap_bytes",
			Help: "Series history stored outside the Go heap: resident, but not in go_memstats_heap_*.",
		}, func() float64 { return float64(forecast.OffHeapHistoryBytes()) }),
		scheduleFloor: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_schedule_floor", Help: "Floor the rule's schedule and events put on its served values now (absent when none is active).",
		}, []string{"metric"}),
		scheduleCeiling: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_schedule_ceiling", Help: "Ceiling the rule's schedule puts on its served values now (absent when none is active).",
		}, []string{"metric"}),
		scheduleMultiplier: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_schedule_multiplier", Help: "Product of the multipliers of the rule's active events (1 when none).",
		}, []string{"metric"}),
	}
	for _, c := range []prometheus.Collector{m.perSeries, m.driftFalls,
		m.series, m.skipped, m.staleness, m.evals, m.absErr, m.actual, m.under, m.fitDuration, m.reloads, m.lastReload, m.rules, m.offHeap,
		m.scheduleFloor, m.scheduleCeiling, m.scheduleMultiplier} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Make both results visible from the start.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m, nil
}

// forgetMetric drops the rule-level metrics of a rule that is no longer
// served. Its series-level metrics leave with its snapshot (seriesCollector).
func (m *Metrics) forgetMetric(metric string) {
	l := prometheus.Labels{"metric": metric}
	m.series.DeletePartialMatch(l)
	m.skipped.DeletePartialMatch(l)
	m.staleness.DeletePartialMatch(l)
	m.scheduleFloor.DeletePartialMatch(l)
	m.scheduleCeiling.DeletePartialMatch(l)
	m.scheduleMultiplier.DeletePartialMatch(l)
}
