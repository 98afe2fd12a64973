package serving

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/source"
)

// CostSpec makes a rule serve the cost-weighted replica demand of its
// forecast (see docs/cost.md) instead of the forecast itself.
type CostSpec struct {
	// Params are the weighting parameters (defaults applied, validated).
	Params cost.Params
	// Queries read the replica price, the workload's hourly cost and its spot
	// share per namespace; they run through the loop's source once a cycle.
	Queries cost.Queries
	// PriceHold is how long the last price is held when prices go missing;
	// past it the series serve the cost-blind value.
	PriceHold time.Duration
	// ReferenceWindow is the window of the lowest-price reference (cost.Tracker).
	ReferenceWindow time.Duration
}

// costState is a cost-weighted rule's prices, per namespace.
type costState struct {
	spec CostSpec
	at   int64 // data time of the latest price refresh (Unix seconds)
	byNS map[string]*nsPrices
}

// nsPrices are the prices of the workload's pods in one namespace.
type nsPrices struct {
	tracker      *cost.Tracker
	lastObserved int64 // Unix second of the latest price the tracker took
	spot         float64
	spotAt       int64
	hourly       float64
	hourlyAt     int64
}

func newCostState(spec CostSpec) *costState {
	return &costState{spec: spec, byNS: map[string]*nsPrices{}}
}

func (c *costState) ns(namespace string) *nsPrices {
	p := c.byNS[namespace]
	if p == nil {
		p = &nsPrices{tracker: cost.NewTracker(c.spec.PriceHold, c.spec.ReferenceWindow)}
		c.byNS[namespace] = p
	}
	return p
}

// refreshPrices reads the rule's prices at data time at through the loop's
// source and records them; from (before at) also loads the replica price
// history since from, so that the reference price (the lowest
// recent price) starts from the same window as the forecasts. A failed query leaves the last prices in
// place: they are held up to the hold limit like prices that are absent.
func (w *worker) refreshPrices(ctx context.Context, l *Loop, from, at int64) {
	c := w.cost
	if c == nil {
		return
	}
	c.at = at
	q := c.spec.Queries
	query := func(name, query string, from int64) map[string][]source.Sample {
		res, err := l.source.QueryRange(ctx, query, time.Unix(from, 0), time.Unix(at, 0), w.rule.Settings.Step)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("cost: price query failed; holding the last prices", "metric", w.rule.Info.StoreKey(), "query", name, "err", err)
			}
			return nil
		}
		out := map[string][]source.Sample{}
		for _, s := range res {
			ns := s.Labels.Get(cost.NamespaceLabel)
			out[ns] = append(out[ns], s.Samples...)
		}
		return out
	}
	// The workload's cost and spot share: the latest point since from.
	last := func(pts []source.Sample) (float64, int64, bool) {
		for i := len(pts) - 1; i >= 0; i-- {
			if ts := pts[i].T / 1000; ts <= at {
				return pts[i].V, ts, true
			}
		}
		return 0, 0, false
	}
	recent := max(from, at-int64(c.spec.PriceHold/time.Second))
	for ns, pts := range query("workload cost", q.WorkloadCost, recent) {
		if v, ts, ok := last(pts); ok && v >= 0 && !math.IsInf(v, 0) {
			p := c.ns(ns)
			p.hourly, p.hourlyAt = v, ts
		}
	}
	for ns, pts := range query("spot share", q.SpotShare, recent) {
		if v, ts, ok := last(pts); ok && v >= 0 && v <= 1 {
			p := c.ns(ns)
			p.spot, p.spotAt = v, ts
		}
	}
	for ns, pts := range query("replica price", q.ReplicaPrice, from) {
		p := c.ns(ns)
		for _, pt := range pts {
			ts := pt.T / 1000
			if ts <= p.lastObserved || ts > at {
				continue
			}
			if err := p.tracker.Observe(ts, pt.V); err != nil {
				l.log.Warn("cost: price ignored", "metric", w.rule.Info.StoreKey(), "namespace", ns, "err", err)
				continue
			}
			p.lastObserved = ts
			if w.shadow != nil {
				// The shadow evaluation prices its strategies' pods, and weighs
				// cost-weighted strategies, with the same prices.
				if err := w.shadow.ObserveNamespacePrice(ns, ts, pt.V, p.spot); err != nil {
					l.log.Warn("cost: shadow price ignored", "metric", w.rule.Info.StoreKey(), "namespace", ns, "err", err)
				}
			}
		}
	}
}

// weigh returns the forecast with its value replaced by the cost-weighted
// demand V, and exports V and its parts. With prices missing past the hold
// limit, V is the cost-blind L / (k * u0), and the series says so.
func (w *worker) weigh(l *Loop, st *seriesState, fc forecast.Forecast) forecast.Forecast {
	c := w.cost
	if c == nil {
		return fc
	}
	spec := c.spec
	ratio, state := 0.0, cost.PriceMissing
	p := c.byNS[st.entry.Namespace]
	if p != nil {
		ratio, state = p.tracker.Ratio(c.at, spec.Params.ReferencePrice)
	}
	spot, hourly := 0.0, math.NaN()
	if state != cost.PriceMissing {
		if c.at-p.spotAt <= int64(spec.PriceHold/time.Second) {
			spot = p.spot
		}
		if c.at-p.hourlyAt <= int64(spec.PriceHold/time.Second) {
			hourly = p.hourly
		}
	}
	wt := spec.Params.Weigh(fc.Value, ratio, spot)
	fallback := state == cost.PriceMissing
	if fallback != st.costFallback || !st.costSeen {
		if fallback {
			l.log.Warn("cost: no price within the hold limit; serving the cost-blind value",
				"metric", w.rule.Info.StoreKey(), "namespace", st.entry.Namespace, "series", st.entry.SeriesName, "hold", spec.PriceHold)
		} else if st.costSeen {
			l.log.Info("cost: prices back; serving the cost-weighted value",
				"metric", w.rule.Info.StoreKey(), "namespace", st.entry.Namespace, "series", st.entry.SeriesName, "state", string(state))
		}
		st.costFallback, st.costSeen = fallback, true
	}
	if m := l.costM; m != nil {
		lv := []string{w.rule.Info.StoreKey(), st.entry.Namespace, st.entry.SeriesName}
		m.served.WithLabelValues(lv...).Set(wt.Value)
		m.load.WithLabelValues(lv...).Set(wt.Load)
		m.ratio.WithLabelValues(lv...).Set(wt.PriceRatio)
		m.util.WithLabelValues(lv...).Set(wt.Utilization)
		m.spot.WithLabelValues(lv...).Set(wt.SpotShare)
		if math.IsNaN(hourly) {
			m.hourly.DeleteLabelValues(lv...)
		} else {
			m.hourly.WithLabelValues(lv...).Set(hourly)
		}
		fb := 0.0
		if fallback {
			fb = 1
		}
		m.fallback.WithLabelValues(lv...).Set(fb)
	}
	fc.Value = wt.Value
	return fc
}

// forgetCost drops the cost and SLO metrics of a rule (metric) or one series.
func (l *Loop) forgetCost(lbls prometheus.Labels) {
	l.costM.forget(lbls)
	l.sloM.forget(lbls)
}
