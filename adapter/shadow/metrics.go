package shadow

import (
	"cmp"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// SeriesID names one evaluated series by the labels of Foresight's metrics.
type SeriesID struct {
	// Metric is the rule's metric name.
	Metric string
	// Namespace is the series' namespace.
	Namespace string
	// Series is the series' identifying labels, k="v",... sorted (or the object name).
	Series string
}

// Compare orders series IDs by metric, namespace and series.
func (id SeriesID) Compare(o SeriesID) int {
	return cmp.Or(cmp.Compare(id.Metric, o.Metric), cmp.Compare(id.Namespace, o.Namespace), cmp.Compare(id.Series, o.Series))
}

// Metrics are the shadow evaluation's Prometheus metrics (docs/metrics.md).
// Windowed figures are gauges: a sliding window's sum rises and falls.
type Metrics struct {
	replicas, under, podMinutes, dollars, actions, errRatio *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	series := []string{"metric", "namespace", "series", "strategy"}
	windowed := append(append([]string(nil), series...), "window")
	gauge := func(name, help string, labels []string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		replicas:   gauge("foresight_shadow_replicas", "Replicas the strategy's HPA would run now.", series),
		under:      gauge("foresight_shadow_underprovisioned_minutes", "Minutes in the window when load exceeded the strategy's ready pods.", windowed),
		podMinutes: gauge("foresight_shadow_pod_minutes", "Pod-minutes the strategy would have run in the window, starting pods included.", windowed),
		dollars:    gauge("foresight_shadow_cost_dollars", "Dollars the strategy's pods would have cost in the window.", windowed),
		actions:    gauge("foresight_shadow_scaling_actions", "Scale updates the strategy's HPA would have made in the window.", windowed),
		errRatio:   gauge("foresight_shadow_forecast_error_ratio", "Sum of absolute forecast errors over the sum of actuals in the window.", windowed),
	}
	for _, c := range []prometheus.Collector{m.replicas, m.under, m.podMinutes, m.dollars, m.actions, m.errRatio} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("shadow: register metrics: %w", err)
		}
	}
	return m, nil
}

// Update sets the metrics of one series from its summary.
func (m *Metrics) Update(id SeriesID, s Summary) {
	for _, st := range s.Strategies {
		m.replicas.WithLabelValues(id.Metric, id.Namespace, id.Series, st.Name).Set(float64(st.Replicas))
		for _, w := range st.Windows {
			lv := []string{id.Metric, id.Namespace, id.Series, st.Name, WindowLabel(w.Seconds)}
			m.under.WithLabelValues(lv...).Set(w.UnderProvisionedMinutes)
			m.podMinutes.WithLabelValues(lv...).Set(w.PodMinutes)
			m.dollars.WithLabelValues(lv...).Set(w.Dollars)
			m.actions.WithLabelValues(lv...).Set(float64(w.ScalingActions))
			m.errRatio.WithLabelValues(lv...).Set(w.ForecastErrorRatio)
		}
	}
}

// Forget deletes every metric of one series.
func (m *Metrics) Forget(id SeriesID) {
	match := prometheus.Labels{"metric": id.Metric, "namespace": id.Namespace, "series": id.Series}
	for _, v := range []*prometheus.GaugeVec{m.replicas, m.under, m.podMinutes, m.dollars, m.actions, m.errRatio} {
		v.DeletePartialMatch(match)
	}
}

// WindowLabel renders a window length as Prometheus durations do: 1h, 1d, 7d, 90m.
func WindowLabel(seconds float64) string {
	s := int64(seconds)
	switch {
	case s > 0 && s%(7*86400) == 0 && s != 7*86400:
		return fmt.Sprintf("%dw", s/(7*86400))
	case s > 0 && s%86400 == 0:
		return fmt.Sprintf("%dd", s/86400)
	case s > 0 && s%3600 == 0:
		return fmt.Sprintf("%dh", s/3600)
	case s > 0 && s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%ds", s)
}
