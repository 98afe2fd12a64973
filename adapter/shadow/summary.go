package shadow

import (
	"math"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// Figures are what a strategy would have done over some time.
type Figures struct {
	// ScoredMinutes is the simulated time that a sample covers.
	ScoredMinutes float64 `json:"scored_minutes"`
	// PodMinutes counts every pod, starting ones included, over ScoredMinutes.
	PodMinutes float64 `json:"pod_minutes"`
	// UnderProvisionedMinutes is the time when load exceeded ready pods x capacity.
	UnderProvisionedMinutes float64 `json:"underprovisioned_minutes"`
	// ScalingActions counts scale updates.
	ScalingActions int `json:"scaling_actions"`
	// Dollars is pods times the replica price per hour, over ScoredMinutes.
	Dollars float64 `json:"dollars"`
	// PeakReplicas is the largest replica count.
	PeakReplicas int32 `json:"peak_replicas"`
	// Evaluations counts forecasts scored against the actual one horizon later.
	Evaluations int `json:"evaluations"`
	// ForecastErrorRatio is sum |forecast - actual| / sum actual over the
	// evaluations (0 without any).
	ForecastErrorRatio float64 `json:"forecast_error_ratio"`

	absError, actual float64
}

func (f *Figures) add(o Figures) {
	f.ScoredMinutes += o.ScoredMinutes
	f.PodMinutes += o.PodMinutes
	f.UnderProvisionedMinutes += o.UnderProvisionedMinutes
	f.ScalingActions += o.ScalingActions
	f.Dollars += o.Dollars
	f.PeakReplicas = max(f.PeakReplicas, o.PeakReplicas)
	f.Evaluations += o.Evaluations
	f.absError += o.absError
	f.actual += o.actual
}

func (f Figures) final() Figures {
	if f.actual > 0 {
		f.ForecastErrorRatio = f.absError / f.actual
	}
	return f
}

// Window is a strategy's figures over one sliding window.
type Window struct {
	// Window is the window's label (1h, 1d, 7d: see WindowLabel).
	Window string `json:"window"`
	// Seconds is the window's length.
	Seconds float64 `json:"seconds"`
	Figures
}

// StrategySummary is one strategy's current state and figures.
type StrategySummary struct {
	// Name is the strategy's name.
	Name string `json:"name"`
	// Model is the model its forecaster asked for.
	Model string `json:"model"`
	// CostWeighted reports that the strategy serves a cost-weighted demand.
	CostWeighted bool `json:"cost_weighted"`
	// Target is the HPA target (fraction of pod capacity; 1 replica for cost-weighted).
	Target float64 `json:"target"`
	// Replicas is the replica count at the latest simulated tick.
	Replicas int32 `json:"replicas"`
	// Served is the value served after the latest sample (load units).
	Served float64 `json:"served"`
	// ModelInUse is the model whose forecast is served now.
	ModelInUse string `json:"model_in_use"`
	// Total is the figures since Config.ScoreFrom.
	Total Figures `json:"total"`
	// Windows are the figures over the sliding windows, shortest first.
	Windows []Window `json:"windows"`
	// SLO is an SLO-mode strategy's controller state (nil otherwise).
	SLO *SLOState `json:"slo,omitempty"`
}

// SLOState is what an SLO-mode strategy's controller chose and found over
// its window (slo.Status).
type SLOState struct {
	// Objective is the allowed under-provisioned share (nil when read
	// from the /metrics of a server that does not export it).
	Objective *float64 `json:"underprovisioned_objective,omitempty"`
	// Utilization and FallbackUtilization are the utilisations served now
	// for a model's forecast and for the reactive fallback.
	Utilization         float64 `json:"utilization"`
	FallbackUtilization float64 `json:"fallback_utilization"`
	// UnderProvisionedShare, PodMinutes and ReactivePodMinutes are the
	// controller's replay of its window (NaN share before its first
	// evaluation is reported as null).
	UnderProvisionedShare *float64 `json:"underprovisioned_share"`
	PodMinutes            float64  `json:"pod_minutes"`
	ReactivePodMinutes    float64  `json:"reactive_pod_minutes"`
}

// Summary is an evaluator's state: the JSON a shadow-report reads.
type Summary struct {
	// Metric, Namespace and Series identify the series (empty offline).
	Metric    string `json:"metric,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Series    string `json:"series,omitempty"`
	// End is the Unix second up to which ticks are simulated.
	End int64 `json:"end"`
	// TickSeconds is the simulation's tick.
	TickSeconds int64 `json:"tick_seconds"`
	// Strategies are in the evaluator's order.
	Strategies []StrategySummary `json:"strategies"`
}

// ID is the series the summary is of.
func (s Summary) ID() SeriesID {
	return SeriesID{Metric: s.Metric, Namespace: s.Namespace, Series: s.Series}
}

// End returns the Unix second up to which ticks have been simulated (0 before any).
func (e *Evaluator) End() int64 {
	if !e.clk.Started() {
		return 0
	}
	return e.clk.End()
}

// Summary returns the strategies' figures over the windows ending at End.
func (e *Evaluator) Summary() Summary {
	end := e.End()
	sum := Summary{End: end, TickSeconds: e.clk.TickSeconds()}
	windows := append([]time.Duration(nil), e.cfg.Windows...)
	sortDurations(windows)
	for _, st := range e.strategies {
		ss := StrategySummary{
			Name: st.s.Name, Model: string(st.f.Settings().Model), CostWeighted: st.s.Cost != nil,
			Target: st.hpa.Target, Replicas: st.replicas, Served: st.lastV,
			ModelInUse: string(st.last.Model), Total: st.total.final(),
		}
		if ss.Model == "" {
			ss.Model = string(forecast.ModelAuto)
		}
		if st.slo != nil {
			stat := st.slo.Status()
			objective := st.slo.Config().UnderProvisioned
			ss.SLO = &SLOState{Objective: &objective, Utilization: stat.Utilization,
				FallbackUtilization: stat.FallbackUtilization, PodMinutes: stat.PodMinutes, ReactivePodMinutes: stat.ReactivePodMinutes}
			if !math.IsNaN(stat.UnderProvisionedShare) {
				share := stat.UnderProvisionedShare
				ss.SLO.UnderProvisionedShare = &share
			}
		}
		for _, w := range windows {
			ss.Windows = append(ss.Windows, Window{Window: WindowLabel(w.Seconds()), Seconds: w.Seconds(), Figures: st.window(e, end, w).final()})
		}
		sum.Strategies = append(sum.Strategies, ss)
	}
	return sum
}

// window sums the buckets that start at or after end - w (and before end).
func (st *strategyState) window(e *Evaluator, end int64, w time.Duration) Figures {
	var f Figures
	if end == 0 {
		return f
	}
	from := floorDiv(end-int64(w/time.Second)+e.bucketSec-1, e.bucketSec) // first whole bucket in the window
	to := floorDiv(max(end-1, e.clk.Last()), e.bucketSec)                 // forecast evaluations run to the latest sample
	for i, at := range st.ringAt {
		if at >= from && at <= to {
			f.add(st.ring[i])
		}
	}
	return f
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
