package backtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/foresight-dev/foresight/adapter/cost"
)

// Strategy names of a CostReport besides reactive and predictive.
const (
	// StrategyCostWeighted is cost-weighted predictive scaling.
	StrategyCostWeighted = "cost-weighted"
	// StrategyPredictiveAtU0 is cost-blind predictive scaling at the
	// weighting's u0: what the weighting changes, all else equal.
	StrategyPredictiveAtU0 = "predictive@u0"
)

// CostOptions configure the price side of a cost backtest (RunCost).
type CostOptions struct {
	// Params are the cost-weighting parameters. A zero Capacity means the
	// backtest's pod capacity; a zero TargetUtilization means the reactive
	// target (Options.ReactiveTarget): the one target an operator sets, at
	// which cost-blind predictive scaling is compared. Other zero fields take
	// cost.Params' defaults.
	Params cost.Params
	// SpotShare is f, the share of replicas on spot capacity (0 by default).
	SpotShare float64
	// PriceHold is how long a missing price is held before the weighting
	// falls back to cost-blind. Default 1h.
	PriceHold time.Duration
	// ReferenceWindow is the window whose lowest price is the reference
	// price (used when Params.ReferencePrice is zero). Default 7 days.
	ReferenceWindow time.Duration
}

// Defaults of CostOptions.
const (
	DefaultPriceHold       = time.Hour
	DefaultReferenceWindow = 7 * 24 * time.Hour
)

// CostScaling is one strategy's scaling and what it spent.
type CostScaling struct {
	// Name is reactive, predictive or cost-weighted.
	Name string `json:"name"`
	// Scaling is the replay's outcome. Its Target is the HPA target as a
	// fraction of pod capacity (1 for cost-weighted: the metric is in replicas).
	Scaling
	// Dollars is the sum over the scored time of every pod (starting ones
	// included) times the replica price per hour.
	Dollars float64 `json:"dollars"`
}

// CostReport compares reactive, cost-blind predictive and cost-weighted
// scaling in dollars and under-provisioned time.
type CostReport struct {
	// Input describes the load trace.
	Input InputInfo `json:"input"`
	// Settings are the plain backtest's settings.
	Settings SettingsInfo `json:"settings"`
	// Params are the cost-weighting parameters used (defaults applied).
	Params cost.Params `json:"params"`
	// SpotShare is the share of replicas on spot capacity.
	SpotShare float64 `json:"spot_share"`
	// PriceRows is the number of price rows; MeanPrice their time-weighted
	// mean over the scored time.
	PriceRows int     `json:"price_rows"`
	MeanPrice float64 `json:"mean_price"`
	// HeldShare and MissingShare are the shares of input rows weighted with a
	// held price (the latest row is older than the row itself, within the
	// hold limit: normal for prices coarser than the load) and cost-blind for
	// lack of a price within the hold limit.
	HeldShare    float64 `json:"held_share"`
	MissingShare float64 `json:"missing_share"`
	// Strategies are reactive (at the reactive target), predictive (cost-blind
	// at the target the plain backtest chose), cost-weighted, and
	// predictive-at-u0 (cost-blind at the weighting's u0).
	Strategies []CostScaling `json:"strategies"`
	// Saving is 1 - cost-weighted dollars / dollars of cost-blind predictive
	// scaling at the same target u0: what the weighting saves, all else equal.
	Saving float64 `json:"saving"`
	// SavingVsChosen is 1 - cost-weighted dollars / dollars of cost-blind
	// predictive scaling at the target the plain backtest chose (its cheapest
	// target as safe as reactive scaling).
	SavingVsChosen float64 `json:"saving_vs_chosen_target"`
	// AsSafeAsReactive reports that cost-weighted scaling had no more
	// under-provisioned minutes than reactive scaling.
	AsSafeAsReactive bool `json:"as_safe_as_reactive"`
}

// CostResult is a finished cost backtest.
type CostResult struct {
	// Report is the comparison.
	Report CostReport
	// Backtest is the plain backtest it builds on.
	Backtest *Result
	// Weighted holds, per input row, the cost-weighted demand V in replicas.
	Weighted []float64
}

// RunCost backtests samples like Run and then prices them: it replays
// reactive scaling at the reactive target, cost-blind predictive scaling at
// the target Run chose, and cost-weighted scaling, which serves
// V = cost.Params.Weigh(L, price/reference, spotShare).Value for the
// predictive strategy's served value L with HPA target AverageValue 1.
// The weighting sees prices causally (a price row counts from its timestamp
// on, through a cost.Tracker); dollars use the price in force at each tick.
func RunCost(ctx context.Context, samples []Sample, prices []PricePoint, opts Options, copts CostOptions) (*CostResult, error) {
	if len(prices) == 0 {
		return nil, fmt.Errorf("cost backtest: no prices")
	}
	if !(copts.SpotShare >= 0 && copts.SpotShare <= 1) {
		return nil, fmt.Errorf("cost backtest: spot share %v must be in [0, 1]", copts.SpotShare)
	}
	if copts.PriceHold < 0 || copts.ReferenceWindow < 0 {
		return nil, fmt.Errorf("cost backtest: price hold %v and reference window %v must not be negative", copts.PriceHold, copts.ReferenceWindow)
	}
	res, err := Run(ctx, samples, opts)
	if err != nil {
		return nil, err
	}
	rep := res.Report
	params := copts.Params
	if params.Capacity == 0 {
		params.Capacity = rep.Settings.Capacity
	}
	if params.TargetUtilization == 0 {
		params.TargetUtilization = opts.ReactiveTarget
	}
	params.SetDefaults()
	if err := params.Validate(); err != nil {
		return nil, fmt.Errorf("cost backtest: cost parameters: %w", err)
	}

	tl, err := NewTimeline(samples, TimelineConfig{
		Step:     time.Duration(rep.Input.StepSeconds) * time.Second,
		Warmup:   opts.Warmup,
		Capacity: rep.Settings.Capacity,
		HPA:      opts.HPA(),
	})
	if err != nil {
		return nil, fmt.Errorf("cost backtest: %w", err)
	}
	copts.SetDefaults()
	weighted, held, missing, err := weighDemand(samples, res.Served[StrategyPredictive], prices, params, copts)
	if err != nil {
		return nil, err
	}
	servedLoad := make([]float64, len(weighted))
	for i, v := range weighted {
		servedLoad[i] = v * rep.Settings.Capacity
	}

	out := CostReport{
		Input: rep.Input, Settings: rep.Settings, Params: params, SpotShare: copts.SpotShare,
		PriceRows: len(prices), MeanPrice: tl.meanPrice(prices),
		HeldShare: share(held, len(samples)), MissingShare: share(missing, len(samples)),
	}
	runs := []struct {
		name   string
		served []float64
		target float64
	}{
		{StrategyReactive, res.Served[StrategyReactive], opts.ReactiveTarget},
		{StrategyPredictive, res.Served[StrategyPredictive], rep.Predictive.Target},
		{StrategyCostWeighted, servedLoad, 1},
		{StrategyPredictiveAtU0, res.Served[StrategyPredictive], params.TargetUtilization},
	}
	n, _ := tl.Ticks()
	replicas := make([]int32, n)
	for _, r := range runs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("cost backtest: %w", err)
		}
		sc, err := tl.Replay(r.served, r.target, replicas)
		if err != nil {
			return nil, fmt.Errorf("cost backtest: strategy %s: %w", r.name, err)
		}
		out.Strategies = append(out.Strategies, CostScaling{Name: r.name, Scaling: sc, Dollars: tl.Dollars(replicas, prices)})
	}
	reactive, blind, weightedRun, atU0 := out.Strategies[0], out.Strategies[1], out.Strategies[2], out.Strategies[3]
	out.Saving = saving(atU0.Dollars, weightedRun.Dollars)
	out.SavingVsChosen = saving(blind.Dollars, weightedRun.Dollars)
	out.AsSafeAsReactive = weightedRun.UnderProvisionedMinutes <= reactive.UnderProvisionedMinutes
	return &CostResult{Report: out, Backtest: res, Weighted: weighted}, nil
}

// WeighDemand returns the cost-weighted demand V (in replicas) after each
// sample, for the load served there (load[i] after samples[i]) and the price
// rows, seen causally through a cost.Tracker configured by copts. params must
// have their defaults applied and a capacity. Shadow evaluation computes the
// same.
func WeighDemand(samples []Sample, load []float64, prices []PricePoint, params cost.Params, copts CostOptions) ([]float64, error) {
	if len(load) != len(samples) {
		return nil, fmt.Errorf("cost weighting: %d samples but %d served values", len(samples), len(load))
	}
	copts.SetDefaults()
	w, _, _, err := weighDemand(samples, load, prices, params, copts)
	return w, err
}

// SetDefaults sets c's unset price hold and reference window to their defaults.
func (c *CostOptions) SetDefaults() {
	if c.PriceHold == 0 {
		c.PriceHold = DefaultPriceHold
	}
	if c.ReferenceWindow == 0 {
		c.ReferenceWindow = DefaultReferenceWindow
	}
}

// weighDemand computes the cost-weighted demand V (in replicas) after each
// sample from the load served there, feeding prices to a tracker as their
// timestamps pass. It counts the rows weighted with a held price and those
// weighted cost-blind for lack of a price.
func weighDemand(samples []Sample, load []float64, prices []PricePoint, params cost.Params, copts CostOptions) (weighted []float64, held, missing int, err error) {
	tr := cost.NewTracker(copts.PriceHold, copts.ReferenceWindow)
	weighted = make([]float64, len(samples))
	next := 0
	for i, s := range samples {
		for next < len(prices) && prices[next].TS <= s.TS {
			if err := tr.Observe(prices[next].TS, prices[next].Price); err != nil {
				return nil, 0, 0, fmt.Errorf("cost backtest: price row %d: %w", next+1, err)
			}
			next++
		}
		ratio, state := tr.Ratio(s.TS, params.ReferencePrice)
		switch state {
		case cost.PriceHeld:
			held++
		case cost.PriceMissing:
			missing++
		}
		v := params.Weigh(load[i], ratio, copts.SpotShare).Value
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, 0, 0, fmt.Errorf("cost backtest: weighted demand %v at ts %d", v, s.TS)
		}
		weighted[i] = v
	}
	return weighted, held, missing, nil
}

// Dollars returns what the replica counts of a replay (one per tick, as
// Replay fills them) cost over the scored ticks: pods, starting ones
// included, times the price per replica-hour in force at the tick's start.
// The scored ticks are those PodMinutes counts.
func (tl *Timeline) Dollars(replicas []int32, prices []PricePoint) float64 {
	if len(prices) == 0 {
		return 0
	}
	cur := priceCursor{points: prices}
	tickHours := hours(tl.tick)
	var sum float64
	for k := tl.scoredFrom; k < len(tl.load) && k < len(replicas); k++ {
		if math.IsNaN(tl.load[k]) {
			continue
		}
		sum += float64(replicas[k]) * cur.at(tl.start+int64(k)*tl.tick) * tickHours
	}
	return sum
}

// meanPrice is the mean price over the scored ticks.
func (tl *Timeline) meanPrice(prices []PricePoint) float64 {
	cur := priceCursor{points: prices}
	var sum float64
	var n int
	for k := tl.scoredFrom; k < len(tl.load); k++ {
		if math.IsNaN(tl.load[k]) {
			continue
		}
		sum += cur.at(tl.start + int64(k)*tl.tick)
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// WriteJSON writes the report as indented JSON.
func (r *CostReport) WriteJSON(w io.Writer) error { return writeJSON(w, r, "cost report") }

// WriteTable writes the report as aligned text.
func (r *CostReport) WriteTable(w io.Writer, name string) error {
	var b strings.Builder
	p := r.Params
	fmt.Fprintf(&b, "%s: scored %.1f days; %d price rows, mean %.4g $/replica-hour; spot share %.2g\n",
		name, r.Input.ScoredMinutes/1440, r.PriceRows, r.MeanPrice, r.SpotShare)
	fmt.Fprintf(&b, "cost weighting: capacity %.4g, u0 %.2f, elasticity %.2g, u in [%.2f, %.2f], reference %s, interruption discount %.2g\n",
		p.Capacity, p.TargetUtilization, p.Elasticity, p.MinUtilization, p.MaxUtilization, reference(p.ReferencePrice), p.InterruptionDiscount)
	if r.MissingShare > 0 {
		fmt.Fprintf(&b, "no price within the hold limit for %.1f%% of rows: weighted cost-blind there\n", 100*r.MissingShare)
	}
	b.WriteByte('\n')
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-14s\ttarget\tdollars\tpod-min\tunder-min\tunder-prov\tactions\tpeak\t\n", "strategy")
	for _, s := range r.Strategies {
		fmt.Fprintf(tw, "%-14s\t%.2f\t%.2f\t%.0f\t%.0f\t%.2f%%\t%d\t%d\t\n",
			s.Name, s.Target, s.Dollars, s.PodMinutes, s.UnderProvisionedMinutes, 100*s.UnderProvisionedShare, s.ScalingActions, s.PeakReplicas)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write cost report: %w", err)
	}
	safe := "no more"
	if !r.AsSafeAsReactive {
		safe = "MORE"
	}
	fmt.Fprintf(&b, "\ncost-weighted spends %s than cost-blind predictive at the same target u0 (saving %+.1f%%; %+.1f%% against cost-blind predictive at its chosen target), with %s under-provisioned minutes than reactive\n",
		dollarsWord(r.Saving), 100*r.Saving, 100*r.SavingVsChosen, safe)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write cost report: %w", err)
	}
	return nil
}

func reference(p float64) string {
	if p > 0 {
		return fmt.Sprintf("%.4g", p)
	}
	return "lowest price of the window"
}

func dollarsWord(saving float64) string {
	if saving >= 0 {
		return "less"
	}
	return "more"
}
