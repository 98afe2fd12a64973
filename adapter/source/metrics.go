package source

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a source's own metrics (docs/metrics.md):
// foresight_source_query_duration_seconds{kind} and foresight_source_query_errors_total{kind}.
type Metrics struct {
	// Duration observes the latency of every query by kind (range, instant, series).
	Duration *prometheus.HistogramVec
	// Errors counts failed queries by kind.
	Errors *prometheus.CounterVec
}

// NewMetrics creates the source metrics and registers them on reg (nil: not
// registered). If reg already holds them (a second source on the same
// registry), the registered collectors are shared.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "foresight_source_query_duration_seconds",
			Help:    "Latency of queries to the metrics source, by kind (range, instant, series).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_source_query_errors_total",
			Help: "Failed queries to the metrics source, by kind (range, instant, series).",
		}, []string{"kind"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.Duration); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		m.Duration = are.ExistingCollector.(*prometheus.HistogramVec)
	}
	if err := reg.Register(m.Errors); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		m.Errors = are.ExistingCollector.(*prometheus.CounterVec)
	}
	// Export zero series for both kinds so that rate() works from the start.
	for _, k := range []string{KindRange, KindInstant, KindSeries} {
		m.Errors.WithLabelValues(k)
	}
	return m, nil
}
