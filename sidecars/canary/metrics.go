package canary

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// metrics are the foresight_canary_* series.
type metrics struct {
	step          *prometheus.GaugeVec
	weight        *prometheus.GaugeVec
	phase         *prometheus.GaugeVec
	failures      *prometheus.GaugeVec
	stepDeadline  *prometheus.GaugeVec
	value         *prometheus.GaugeVec
	analyses      *prometheus.CounterVec
	metricResults *prometheus.CounterVec
	outcomes      *prometheus.CounterVec
	backend       *prometheus.GaugeVec
	// exported are the canaries whose gauges are set: those a policy no longer declares
	// lose theirs, so that no autoscaler plans for a rollout that is gone.
	exported map[string]bool
}

func newMetrics() metrics {
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	return metrics{
		exported:      map[string]bool{},
		step:          g("foresight_canary_step", "Index of the rollout's current step (the number of steps once promoted).", "canary"),
		weight:        g("foresight_canary_weight", "Percent of the route's traffic the canary backend gets.", "canary"),
		phase:         g("foresight_canary_phase", "1 for the rollout's current phase (progressing, paused, promoted, failed, aborted).", "canary", "phase"),
		failures:      g("foresight_canary_failures", "Failed analysis measurements of the rollout so far.", "canary"),
		stepDeadline:  g("foresight_canary_step_deadline_timestamp_seconds", "When the current step's pause ends (Unix seconds); 0 once the rollout ended.", "canary"),
		value:         g("foresight_canary_metric_value", "Last value of an analysis metric (the sample furthest outside its thresholds).", "canary", "metric"),
		analyses:      cv("foresight_canary_analyses_total", "Analysis measurements by result (successful, failed, inconclusive).", "canary", "result"),
		metricResults: cv("foresight_canary_metric_results_total", "Analysis metric evaluations by result, dry-run metrics included.", "canary", "metric", "result"),
		outcomes:      cv("foresight_canary_outcomes_total", "Rollouts ended, by outcome (promoted, failed, aborted).", "canary", "outcome"),
		backend: g("foresight_canary_backend_weight", "Percent of the rollout's route traffic a backend gets now (step=\"current\") and once the next step is taken (step=\"next\"), by the backend's Kubernetes namespace and Service: what an autoscaler of the backend should plan for.",
			"canary", "namespace", "service", "step"),
	}
}

func (m metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.step, m.weight, m.phase, m.failures, m.stepDeadline, m.value, m.analyses, m.metricResults, m.outcomes, m.backend} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("canary: register metrics: %w", err)
		}
	}
	return nil
}

// updateMetrics sets the gauges from the states of p's canaries; called with c.mu held.
func (c *Controller) updateMetrics(p *policy.Policy) {
	declared := map[string]bool{}
	for i := range p.Spec.Canaries {
		can := &p.Spec.Canaries[i]
		st := c.states[can.Name]
		if !isRolloutOf(st, can) {
			continue
		}
		declared[can.Name] = true
		c.m.step.WithLabelValues(can.Name).Set(float64(st.Step))
		c.m.weight.WithLabelValues(can.Name).Set(float64(st.Weight))
		c.m.failures.WithLabelValues(can.Name).Set(float64(st.Failures))
		for _, ph := range allPhases {
			v := 0.0
			if ph == st.Phase {
				v = 1
			}
			c.m.phase.WithLabelValues(can.Name, ph).Set(v)
		}
		deadline := 0.0
		if !st.Terminal() {
			deadline = float64(st.StepStarted.Add(can.Steps[st.Step].Pause.D()).Unix())
		}
		c.m.stepDeadline.WithLabelValues(can.Name).Set(deadline)
		next := st.Weight
		if st.Phase == PhaseProgressing || st.Phase == PhasePaused {
			next = 100
			if st.Step+1 < len(can.Steps) {
				next = can.Steps[st.Step+1].Weight
			}
		}
		for _, b := range []struct {
			svc       string
			cur, next uint32
		}{{can.Stable, 100 - st.Weight, 100 - next}, {can.Canary, st.Weight, next}} {
			ns, name := backendOf(p, b.svc)
			c.m.backend.WithLabelValues(can.Name, ns, name, "current").Set(float64(b.cur))
			c.m.backend.WithLabelValues(can.Name, ns, name, "next").Set(float64(b.next))
		}
		for _, o := range []string{PhasePromoted, PhaseFailed, PhaseAborted} {
			c.m.outcomes.WithLabelValues(can.Name, o)
		}
	}
	for name := range c.m.exported {
		if !declared[name] {
			for _, g := range []*prometheus.GaugeVec{c.m.step, c.m.weight, c.m.phase, c.m.failures, c.m.stepDeadline, c.m.value, c.m.backend} {
				g.DeletePartialMatch(prometheus.Labels{"canary": name})
			}
		}
	}
	c.m.exported = declared
}

// backendOf is the Kubernetes namespace and Service of a policy service (its own name when
// it names no other).
func backendOf(p *policy.Policy, service string) (namespace, name string) {
	svc := p.Service(service)
	if svc == nil {
		return "", service
	}
	if svc.KubernetesService != "" {
		return svc.Namespace, svc.KubernetesService
	}
	return svc.Namespace, svc.Name
}
