package serving

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// SLOMetrics are the metrics of SLO rules (docs/metrics.md): the served
// replica demand, the chosen utilisations (for a model's forecast and for
// the reactive fallback), the rule's objective and the under-provisioned
// share the served demand achieved over the controller's window, and the pod-minutes
// of the served demand and of the reactive baseline over that window.
type SLOMetrics struct {
	served, util, fallbackUtil, wanted, objective, under, pods, reactivePods *prometheus.GaugeVec
}

// NewSLOMetrics creates the metrics and registers them on reg.
func NewSLOMetrics(reg prometheus.Registerer) (*SLOMetrics, error) {
	series := []string{"metric", "namespace", "series"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, series)
	}
	m := &SLOMetrics{
		served:       gauge("foresight_slo_served_value", "Replica demand V = L / (capacity * u) served to the HPA (target AverageValue 1) by an SLO rule."),
		util:         gauge("foresight_slo_utilization", "Utilisation u an SLO rule serves at now."),
		fallbackUtil: gauge("foresight_slo_fallback_utilization", "Utilisation an SLO rule serves the forecaster's reactive fallback (warm-up, drift) at now, chosen over the window's fallback time."),
		wanted:       gauge("foresight_slo_wanted_utilization", "Highest utilisation that met the SLO over the window at the latest evaluation (u moves towards it)."),
		objective:    gauge("foresight_slo_underprovisioned_objective", "The SLO rule's objective: the allowed share of time under-provisioned (underProvisioned), which foresight_slo_underprovisioned_share is held to."),
		under:        gauge("foresight_slo_underprovisioned_share", "Share of the window's time the served demand left the workload under-provisioned (replayed through the HPA model)."),
		pods:         gauge("foresight_slo_pod_minutes", "Pod-minutes of the served demand over the window (replayed through the HPA model)."),
		reactivePods: gauge("foresight_slo_reactive_pod_minutes", "Pod-minutes of the reactive baseline (the load at the reactive target) over the same window."),
	}
	for _, c := range m.all() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("serving: register SLO metrics: %w", err)
		}
	}
	return m, nil
}

func (m *SLOMetrics) all() []*prometheus.GaugeVec {
	return []*prometheus.GaugeVec{m.served, m.util, m.fallbackUtil, m.wanted, m.objective, m.under, m.pods, m.reactivePods}
}

// forget drops the metrics that match labels (a rule, or one series).
func (m *SLOMetrics) forget(l prometheus.Labels) {
	if m == nil {
		return
	}
	for _, v := range m.all() {
		v.DeletePartialMatch(l)
	}
}

// sloDemand returns the forecast with its value replaced by the replica
// demand at the series' chosen utilisation, and exports the controller's
// status. Rules without an SLO return fc unchanged.
func (w *worker) sloDemand(l *Loop, st *seriesState, fc forecast.Forecast) forecast.Forecast {
	if st.slo == nil {
		return fc
	}
	fc.Value = st.slo.Demand(fc.Value, fc.Fallback)
	if m := l.sloM; m != nil {
		lv := []string{w.rule.Info.StoreKey(), st.entry.Namespace, st.entry.SeriesName}
		s := st.slo.Status()
		m.served.WithLabelValues(lv...).Set(fc.Value)
		m.util.WithLabelValues(lv...).Set(s.Utilization)
		m.fallbackUtil.WithLabelValues(lv...).Set(s.FallbackUtilization)
		m.wanted.WithLabelValues(lv...).Set(s.Wanted)
		m.objective.WithLabelValues(lv...).Set(st.slo.Config().UnderProvisioned)
		if s.Evaluations > 0 {
			m.under.WithLabelValues(lv...).Set(s.UnderProvisionedShare)
			m.pods.WithLabelValues(lv...).Set(s.PodMinutes)
			m.reactivePods.WithLabelValues(lv...).Set(s.ReactivePodMinutes)
		}
	}
	return fc
}
