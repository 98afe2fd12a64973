package serving

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the adapter's own metrics (docs/metrics.md), registered on the
// registry passed to NewMetrics. The source's query metrics
// (foresight_source_*) belong to the source package.
type Metrics struct {
	served      *prometheus.GaugeVec
	observed    *prometheus.GaugeVec
	modelInfo   *prometheus.GaugeVec
	fallback    *prometheus.GaugeVec
	driftFalls  *prometheus.CounterVec
	series      *prometheus.GaugeVec
	staleness   *prometheus.GaugeVec
	predicted   *prometheus.GaugeVec
	upper       *prometheus.GaugeVec
	evals       *prometheus.CounterVec
	absErr      *prometheus.CounterVec
	actual      *prometheus.CounterVec
	under       *prometheus.CounterVec
	fitDuration *prometheus.HistogramVec
	reloads     *prometheus.CounterVec
	lastReload  prometheus.Gauge
	rules       prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	series := []string{"metric", "namespace", "series"}
	m := &Metrics{
		served: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_served_value", Help: "Value served to the HPA.",
		}, series),
		observed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_observed_value", Help: "Latest observed load.",
		}, series),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_model_info", Help: "Model in use (1).",
		}, append(append([]string{}, series...), "model")),
		fallback: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_fallback", Help: "1 while the reactive value is served (warm-up, drift).",
		}, series),
		driftFalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_drift_fallbacks_total", Help: "Times drift made a series fall back.",
		}, []string{"metric", "model"}),
		series: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_series", Help: "Series forecast for the rule.",
		}, []string{"metric"}),
		staleness: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_staleness_seconds", Help: "Age of the oldest served value of the rule.",
		}, []string{"metric"}),
		predicted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_predicted_value", Help: "Max over the horizon of the point forecast.",
		}, series),
		upper: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_forecast_upper_value", Help: "Max over the horizon of the served quantile.",
		}, series),
		evals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_evaluations_total", Help: "Forecasts scored against the later actual.",
		}, []string{"metric", "model"}),
		absErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_absolute_error_total", Help: "Sum of abs(forecast - actual) at the horizon.",
		}, []string{"metric", "model"}),
		actual: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_forecast_actual_total", Help: "Sum of actuals scored.",
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
	}
	for _, c := range []prometheus.Collector{m.served, m.observed, m.modelInfo, m.fallback, m.driftFalls,
		m.series, m.staleness, m.predicted, m.upper, m.evals, m.absErr, m.actual, m.under, m.fitDuration, m.reloads, m.lastReload, m.rules} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Make both results visible from the start.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m, nil
}

// forgetMetric drops every series-level metric of a rule that is no longer served.
func (m *Metrics) forgetMetric(metric string) {
	l := prometheus.Labels{"metric": metric}
	m.served.DeletePartialMatch(l)
	m.observed.DeletePartialMatch(l)
	m.modelInfo.DeletePartialMatch(l)
	m.fallback.DeletePartialMatch(l)
	m.predicted.DeletePartialMatch(l)
	m.upper.DeletePartialMatch(l)
	m.series.DeletePartialMatch(l)
	m.staleness.DeletePartialMatch(l)
}

// forgetSeries drops the metrics of one series.
func (m *Metrics) forgetSeries(metric, namespace, key string) {
	l := prometheus.Labels{"metric": metric, "namespace": namespace, "series": key}
	m.served.Delete(l)
	m.observed.Delete(l)
	m.fallback.Delete(l)
	m.predicted.Delete(l)
	m.upper.Delete(l)
	m.modelInfo.DeletePartialMatch(l)
}
