package serving

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// CostMetrics are the metrics of cost-weighted rules (docs/metrics.md): the
// served value V and its parts L, r, u, f, the workload's hourly cost and
// whether the cost-blind value is served.
type CostMetrics struct {
	served, load, ratio, util, spot, hourly, fallback *prometheus.GaugeVec
}

// NewCostMetrics creates the metrics and registers them on reg.
func NewCostMetrics(reg prometheus.Registerer) (*CostMetrics, error) {
	series := []string{"metric", "namespace", "series"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, series)
	}
	m := &CostMetrics{
		served:   gauge("foresight_cost_served_value", "Cost-weighted replica demand V = L / (k * u(r) * (1 - q*f)) served to the HPA (target AverageValue 1)."),
		load:     gauge("foresight_cost_load", "Predicted load L that the cost-weighted value weighs."),
		ratio:    gauge("foresight_cost_price_ratio", "Replica price over the reference price, r (0 while prices are missing)."),
		util:     gauge("foresight_cost_target_utilization", "Target utilisation u(r) = clamp(u0 * r^a, umin, umax)."),
		spot:     gauge("foresight_cost_spot_share", "Share f of the workload's pods on spot nodes."),
		hourly:   gauge("foresight_cost_workload_hourly_cost_dollars", "Hourly cost of the workload's pods in the series' namespace, in dollars."),
		fallback: gauge("foresight_cost_fallback", "1 while prices are missing past the hold limit and the cost-blind value is served."),
	}
	for _, c := range m.all() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("serving: register cost metrics: %w", err)
		}
	}
	return m, nil
}

func (m *CostMetrics) all() []*prometheus.GaugeVec {
	return []*prometheus.GaugeVec{m.served, m.load, m.ratio, m.util, m.spot, m.hourly, m.fallback}
}

// forget drops the metrics that match labels (a rule, or one series).
func (m *CostMetrics) forget(l prometheus.Labels) {
	if m == nil {
		return
	}
	for _, v := range m.all() {
		v.DeletePartialMatch(l)
	}
}
