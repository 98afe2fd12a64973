package shadow

import (
	"fmt"
	"io"
	"slices"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// SummariesFromMetrics rebuilds series summaries from a running adapter's
// /metrics text (the foresight_shadow_* gauges). Only the windows named in
// windows (labels such as 1d, 7d) are kept, in that order; strategies are
// sorted by name. Total figures, tick and end are not in the metrics and
// stay zero. The slo strategy of an SLO rule's series gets the state of the
// controller the rule serves with (the foresight_slo_* gauges of the same
// series; the shadow strategy's controller is fed the same samples), but
// for the objective, which /metrics does not export.
func SummariesFromMetrics(r io.Reader, windows []string) ([]Summary, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	byKey := map[SeriesID]map[string]*StrategySummary{}
	get := func(m *dto.Metric) (*StrategySummary, map[string]string) {
		lv := map[string]string{}
		for _, l := range m.GetLabel() {
			lv[l.GetName()] = l.GetValue()
		}
		k := SeriesID{Metric: lv["metric"], Namespace: lv["namespace"], Series: lv["series"]}
		if byKey[k] == nil {
			byKey[k] = map[string]*StrategySummary{}
		}
		st := byKey[k][lv["strategy"]]
		if st == nil {
			st = &StrategySummary{Name: lv["strategy"]}
			for _, w := range windows {
				st.Windows = append(st.Windows, Window{Window: w})
			}
			byKey[k][lv["strategy"]] = st
		}
		return st, lv
	}
	windowIndex := map[string]int{}
	for i, w := range windows {
		windowIndex[w] = i
	}
	set := map[string]func(f *Figures, v float64){
		"foresight_shadow_underprovisioned_minutes": func(f *Figures, v float64) { f.UnderProvisionedMinutes = v },
		"foresight_shadow_pod_minutes":              func(f *Figures, v float64) { f.PodMinutes = v },
		"foresight_shadow_cost_dollars":             func(f *Figures, v float64) { f.Dollars = v },
		"foresight_shadow_scaling_actions":          func(f *Figures, v float64) { f.ScalingActions = int(v) },
		"foresight_shadow_forecast_error_ratio": func(f *Figures, v float64) {
			f.ForecastErrorRatio = v
			if v > 0 {
				f.Evaluations = 1 // known to have been scored
			}
		},
	}
	if mf := families["foresight_shadow_replicas"]; mf != nil {
		for _, m := range mf.GetMetric() {
			st, _ := get(m)
			st.Replicas = int32(m.GetGauge().GetValue())
		}
	}
	for name, fn := range set {
		mf := families[name]
		if mf == nil {
			continue
		}
		for _, m := range mf.GetMetric() {
			st, lv := get(m)
			i, ok := windowIndex[lv["window"]]
			if !ok {
				continue
			}
			fn(&st.Windows[i].Figures, m.GetGauge().GetValue())
		}
	}
	sloSet := map[string]func(s *SLOState, v float64){
		"foresight_slo_utilization":          func(s *SLOState, v float64) { s.Utilization = v },
		"foresight_slo_fallback_utilization": func(s *SLOState, v float64) { s.FallbackUtilization = v },
		"foresight_slo_underprovisioned_share": func(s *SLOState, v float64) {
			s.UnderProvisionedShare = &v
		},
		"foresight_slo_underprovisioned_objective": func(s *SLOState, v float64) {
			s.Objective = &v
		},
		"foresight_slo_pod_minutes":          func(s *SLOState, v float64) { s.PodMinutes = v },
		"foresight_slo_reactive_pod_minutes": func(s *SLOState, v float64) { s.ReactivePodMinutes = v },
	}
	for name, fn := range sloSet {
		for _, m := range families[name].GetMetric() {
			lv := map[string]string{}
			for _, l := range m.GetLabel() {
				lv[l.GetName()] = l.GetValue()
			}
			st := byKey[SeriesID{Metric: lv["metric"], Namespace: lv["namespace"], Series: lv["series"]}][StrategySLO]
			if st == nil {
				continue // an SLO rule without shadow evaluation
			}
			if st.SLO == nil {
				st.SLO = &SLOState{}
			}
			fn(st.SLO, m.GetGauge().GetValue())
		}
	}
	keys := make([]SeriesID, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, SeriesID.Compare)
	var out []Summary
	for _, k := range keys {
		s := Summary{Metric: k.Metric, Namespace: k.Namespace, Series: k.Series}
		names := make([]string, 0, len(byKey[k]))
		for n := range byKey[k] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s.Strategies = append(s.Strategies, *byKey[k][n])
		}
		out = append(out, s)
	}
	return out, nil
}
