package shadow

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Verdict names the strategy that would have been better over one window of
// one series: among the strategies with no more under-provisioned minutes
// than the reference strategy (reactive when present, else the safest), the
// cheapest in dollars when prices were known, else in pod-minutes.
type Verdict struct {
	// Window is the window label (1d, 7d).
	Window string `json:"window"`
	// Best is the better strategy's name.
	Best string `json:"best"`
	// Reference is the strategy whose safety the others must match.
	Reference string `json:"reference"`
	// By is "dollars" or "pod-minutes".
	By string `json:"by"`
	// Saving is 1 - best / reference, in the unit of By.
	Saving float64 `json:"saving"`
	// Safest is the strategy with the fewest under-provisioned minutes
	// (ties: the cheaper), and SafestExtraCost its cost over Best's (a fraction).
	Safest          string  `json:"safest"`
	SafestExtraCost float64 `json:"safest_extra_cost"`
}

// Report is what shadow-report prints: per series, the strategies' figures
// over the windows and the verdict per window.
type Report struct {
	// Series are the evaluated series' summaries.
	Series []Summary `json:"series"`
	// Verdicts holds, per series (same order), one verdict per window.
	Verdicts [][]Verdict `json:"verdicts"`
}

// NewReport judges the summaries.
func NewReport(sums []Summary) Report {
	r := Report{Series: sums}
	for _, s := range sums {
		r.Verdicts = append(r.Verdicts, Judge(s))
	}
	return r
}

// Judge returns the verdict of every window of the summary.
func Judge(s Summary) []Verdict {
	if len(s.Strategies) == 0 {
		return nil
	}
	var out []Verdict
	for wi, w := range s.Strategies[0].Windows {
		figs := make([]Figures, len(s.Strategies))
		for i, st := range s.Strategies {
			if wi < len(st.Windows) {
				figs[i] = st.Windows[wi].Figures
			}
		}
		ref := -1
		for i, st := range s.Strategies {
			if st.Name == "reactive" {
				ref = i
			}
		}
		if ref < 0 {
			ref = 0
			for i, f := range figs {
				if f.UnderProvisionedMinutes < figs[ref].UnderProvisionedMinutes {
					ref = i
				}
			}
		}
		by := "pod-minutes"
		cost := func(f Figures) float64 { return f.PodMinutes }
		if figs[ref].Dollars > 0 {
			by = "dollars"
			cost = func(f Figures) float64 { return f.Dollars }
		}
		best := ref
		for i, f := range figs {
			if f.UnderProvisionedMinutes <= figs[ref].UnderProvisionedMinutes && cost(f) < cost(figs[best]) {
				best = i
			}
		}
		safest := 0
		for i, f := range figs {
			if f.UnderProvisionedMinutes < figs[safest].UnderProvisionedMinutes ||
				(f.UnderProvisionedMinutes == figs[safest].UnderProvisionedMinutes && cost(f) < cost(figs[safest])) {
				safest = i
			}
		}
		v := Verdict{Window: w.Window, Best: s.Strategies[best].Name, Reference: s.Strategies[ref].Name, By: by,
			Safest: s.Strategies[safest].Name}
		if c := cost(figs[ref]); c > 0 {
			v.Saving = 1 - cost(figs[best])/c
		}
		if c := cost(figs[best]); c > 0 {
			v.SafestExtraCost = cost(figs[safest])/c - 1
		}
		out = append(out, v)
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write shadow report: %w", err)
	}
	return nil
}

// WriteTable writes, per series and window, one row per strategy and the verdict.
func (r Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	for si, s := range r.Series {
		id := strings.Trim(strings.Join([]string{s.Metric, s.Namespace, s.Series}, " "), " ")
		if id == "" {
			id = "series"
		}
		if len(s.Strategies) == 0 {
			continue
		}
		for _, st := range s.Strategies {
			if st.SLO != nil {
				writeSLOState(&b, id, st.Name, *st.SLO)
			}
		}
		for wi, win := range s.Strategies[0].Windows {
			fmt.Fprintf(&b, "%s, last %s:\n", id, win.Window)
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "strategy\treplicas\tpod-min\tunder-min\tdollars\tactions\tfc-error\t\n")
			rows := s.Strategies
			for _, st := range rows {
				if wi >= len(st.Windows) {
					continue
				}
				f := st.Windows[wi].Figures
				fc := "-"
				if f.Evaluations > 0 {
					fc = fmt.Sprintf("%.1f%%", 100*f.ForecastErrorRatio)
				}
				fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%s\t%d\t%s\t\n", st.Name, st.Replicas, f.PodMinutes,
					f.UnderProvisionedMinutes, money(f.Dollars), f.ScalingActions, fc)
			}
			if err := tw.Flush(); err != nil {
				return fmt.Errorf("write shadow report: %w", err)
			}
			if si < len(r.Verdicts) && wi < len(r.Verdicts[si]) {
				v := r.Verdicts[si][wi]
				if v.Best == v.Reference {
					fmt.Fprintf(&b, "better: %s (no strategy is cheaper in %s at no more under-provisioned minutes)\n", v.Best, v.By)
				} else {
					fmt.Fprintf(&b, "better: %s (saves %.1f%% of %s's %s at no more under-provisioned minutes)\n",
						v.Best, 100*v.Saving, v.Reference, v.By)
				}
				if v.Safest != v.Best {
					fmt.Fprintf(&b, "safest: %s (%+.1f%% %s against %s)\n", v.Safest, 100*v.SafestExtraCost, v.By, v.Best)
				}
			}
			b.WriteByte('\n')
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write shadow report: %w", err)
	}
	return nil
}

// writeSLOState writes an SLO-mode strategy's controller state: the
// utilisations it serves at, and its replay of its window against the
// objective and the reactive baseline.
func writeSLOState(b *strings.Builder, id, name string, s SLOState) {
	fmt.Fprintf(b, "%s, %s: utilisation %.1f%% (reactive fallback %.1f%%)", id, name, 100*s.Utilization, 100*s.FallbackUtilization)
	if s.UnderProvisionedShare == nil {
		b.WriteString(", no evaluation yet\n\n")
		return
	}
	fmt.Fprintf(b, "; over its window under-provisioned %.2f%%", 100**s.UnderProvisionedShare)
	if s.Objective != nil {
		fmt.Fprintf(b, " (objective %.2f%%)", 100**s.Objective)
	}
	fmt.Fprintf(b, ", %.0f pod-minutes", s.PodMinutes)
	if s.ReactivePodMinutes > 0 {
		fmt.Fprintf(b, " against reactive's %.0f (%+.1f%%)", s.ReactivePodMinutes, 100*(s.PodMinutes/s.ReactivePodMinutes-1))
	}
	b.WriteString("\n\n")
}

func money(d float64) string {
	if d == 0 || math.IsNaN(d) {
		return "-"
	}
	return fmt.Sprintf("%.2f", d)
}
