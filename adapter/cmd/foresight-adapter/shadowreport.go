package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/adapter/backtest"
	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/slo"
	"github.com/foresight-dev/foresight/adapter/trace"
)

// runShadowReport implements `foresight-adapter shadow-report`.
func runShadowReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts := backtest.DefaultOptions()
	opts.Warmup = 0
	fs := flag.NewFlagSet("shadow-report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "evaluate offline on a load trace, CSV `FILE` with rows ts,value (ts in Unix seconds, Unix milliseconds or RFC 3339, as for backtest --input)")
	column := fs.String("column", "", columnUsage)
	metricsURL := fs.String("metrics-url", "", "read the shadow metrics of a running adapter from this /metrics `URL`")
	strategies := fs.String("strategies", "reactive,holt-winters,auto", "comma-separated strategies: reactive, a model ("+strings.Join(modelNames(), ", ")+"), cost-weighted or slo (SLO mode, with --slo); NAME@TARGET sets the HPA target")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	target := fs.Float64("target", opts.ReactiveTarget, "HPA target of strategies without @TARGET, fraction of pod capacity")
	fs.DurationVar(&opts.Horizon, "horizon", opts.Horizon, "forecast horizon (offline)")
	fs.Float64Var(&opts.Quantile, "quantile", opts.Quantile, "served upper quantile (offline)")
	fs.DurationVar(&opts.StartupDelay, "startup", opts.StartupDelay, "time a new pod takes before it serves load (offline)")
	fs.Float64Var(&opts.Capacity, "capacity", 0, "load one pod serves (default: p99 load / --pods-at-p99)")
	fs.Float64Var(&opts.PodsAtP99, "pods-at-p99", opts.PodsAtP99, "pods the p99 load needs at full capacity (sets the capacity)")
	fs.DurationVar(&opts.SyncPeriod, "sync-period", opts.SyncPeriod, "HPA controller sync period (offline)")
	fs.DurationVar(&opts.Warmup, "warmup", opts.Warmup, "leading time simulated but not counted in the totals nor in --slo baseline (offline)")
	costFlags := addCostFlags(fs)
	sloFlags := addSLOFlags(fs, "the slo strategy serves the auto model's forecast as replica demand at the utilisation that meets it (offline)", "1.5")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: foresight-adapter shadow-report (--input FILE.csv | --metrics-url URL) [flags]")
		fmt.Fprintln(stderr, "\nSummarises which scaling strategy would have been better over the last day and")
		fmt.Fprintln(stderr, "week: the cheapest with no more under-provisioned minutes than reactive scaling.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*input == "") == (*metricsURL == "") {
		return fmt.Errorf("%w: give exactly one of --input and --metrics-url", errUsage)
	}
	if *column != "" && *input == "" {
		return fmt.Errorf("%w: --column picks a column of --input FILE.csv, not of --metrics-url", errUsage)
	}
	var rep shadow.Report
	if *metricsURL != "" {
		sums, err := scrapeShadow(ctx, *metricsURL)
		if err != nil {
			return err
		}
		if len(sums) == 0 {
			return fmt.Errorf("%s has no foresight_shadow_* metrics with windows 1d or 7d: is shadow evaluation configured?", *metricsURL)
		}
		rep = shadow.NewReport(sums)
	} else {
		params, err := costFlags.resolved()
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		if opts.SLO, err = sloFlags.options(); err != nil {
			return err
		}
		strats, err := parseOfflineStrategies(*strategies, *target, params, opts.SLO != nil)
		if err != nil {
			return err
		}
		samples, err := readTrace(*input, *column)
		if err != nil {
			return err
		}
		prices, err := costFlags.loadPrices(samples[0].TS, samples[len(samples)-1].TS)
		if err != nil {
			return err
		}
		sum, err := shadowOffline(ctx, samples, prices, costFlags.spotShare, strats, opts)
		if err != nil {
			return err
		}
		sum.Series = filepath.Base(*input)
		rep = shadow.NewReport([]shadow.Summary{sum})
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteTable(stdout)
}

// parseOfflineStrategies parses --strategies; slo, the SLO mode of --slo
// (withSLO), goes last, its controller configured by shadowOffline.
func parseOfflineStrategies(list string, target float64, params cost.Params, withSLO bool) ([]shadow.Strategy, error) {
	var rest []string
	hasSLO := false
	for _, item := range strings.Split(list, ",") {
		switch item = strings.TrimSpace(item); {
		case item == shadow.StrategySLO && hasSLO:
			return nil, fmt.Errorf("%w: --strategies: strategy %q is listed twice", errUsage, item)
		case item == shadow.StrategySLO:
			hasSLO = true
		case strings.HasPrefix(item, shadow.StrategySLO+"@"):
			return nil, fmt.Errorf("%w: --strategies: %q: the slo strategy's HPA target is 1 replica (AverageValue 1), it takes no @TARGET", errUsage, item)
		default:
			rest = append(rest, item)
		}
	}
	switch {
	case hasSLO && !withSLO:
		return nil, fmt.Errorf("%w: the slo strategy needs --slo (the allowed under-provisioned share)", errUsage)
	case withSLO && !hasSLO:
		return nil, fmt.Errorf("%w: --slo needs the slo strategy in --strategies", errUsage)
	}
	var strats []shadow.Strategy
	if len(rest) > 0 || !hasSLO {
		var err error
		if strats, err = shadow.ParseStrategies(strings.Join(rest, ","), forecast.Settings{}, target, params); err != nil {
			return nil, fmt.Errorf("%w: --strategies: %w", errUsage, err)
		}
	}
	if hasSLO {
		strats = append(strats, shadow.Strategy{Name: shadow.StrategySLO, Target: 1, SLO: &slo.Config{}})
	}
	return strats, nil
}

// reportWindows are the windows shadow-report judges: the last day and week.
var reportWindows = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour}

// shadowOffline replays samples through an Evaluator, as the adapter would
// have fed it, with the backtest's capacity and HPA settings; totals count
// from opts.Warmup on. The slo strategy runs SLO mode as the backtest does
// (opts.SLO, its predictive model), its objective "baseline" being the
// reactive baseline's under-provisioned share over the same time.
func shadowOffline(ctx context.Context, samples []backtest.Sample, prices []backtest.PricePoint, spotShare float64, strats []shadow.Strategy, opts backtest.Options) (shadow.Summary, error) {
	step, err := trace.InferStep(samples)
	if err != nil {
		return shadow.Summary{}, fmt.Errorf("shadow-report: %w", err)
	}
	capacity, err := opts.PodCapacity(samples)
	if err != nil {
		return shadow.Summary{}, fmt.Errorf("shadow-report: %w (--capacity)", err)
	}
	h := opts.HPA()
	for i := range strats {
		strats[i].Settings.Step = step
		strats[i].Settings.Horizon = opts.Horizon
		strats[i].Settings.Quantile = opts.Quantile
		if strats[i].SLO == nil {
			continue
		}
		baseline := 0.0
		if opts.SLO.UnderProvisioned < 0 {
			base, err := backtest.ReactiveBaseline(ctx, samples, step, capacity, opts)
			if err != nil {
				return shadow.Summary{}, fmt.Errorf("shadow-report: %w", err)
			}
			baseline = base.UnderProvisionedShare
		}
		c := opts.SLO.ControllerConfig(baseline, capacity, step, h, opts)
		strats[i].SLO = &c
		strats[i].Settings.Model = opts.Model
		strats[i].Settings.History, strats[i].Settings.RefitInterval, strats[i].Settings.Hold = opts.History, opts.RefitInterval, opts.Hold
	}
	ev, err := shadow.NewEvaluator(shadow.Config{
		Capacity:  capacity,
		HPA:       h,
		Step:      step,
		Windows:   reportWindows,
		ScoreFrom: samples[0].TS + int64(opts.Warmup/time.Second),
	}, strats)
	if err != nil {
		return shadow.Summary{}, fmt.Errorf("shadow-report: %w", err)
	}
	ev.SetSpotShare(spotShare)
	next := 0
	for i, s := range samples {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return shadow.Summary{}, err
			}
		}
		for next < len(prices) && prices[next].TS <= s.TS {
			if err := ev.ObservePrice(prices[next].TS, prices[next].Price); err != nil {
				return shadow.Summary{}, fmt.Errorf("shadow-report: %w", err)
			}
			next++
		}
		if err := ev.Observe(s.TS, s.Value); err != nil {
			return shadow.Summary{}, fmt.Errorf("shadow-report: row %d: %w", i+1, err)
		}
	}
	return ev.Summary(), nil
}

func modelNames() []string {
	var out []string
	for _, m := range forecast.Models() {
		out = append(out, string(m))
	}
	return out
}

// columnUsage describes --column, the flag that picks the load's column of
// an --input file of several series.
const columnUsage = "with --input: the load's column of a CSV file of several series side by side (a Grafana or pandas export), by its `NAME` in the file's header; default: the second of two columns, or the one headed value"

// readTrace opens and parses a load trace: the column named column of a
// file with a header, or, when column is empty, a `ts,value` file.
func readTrace(path, column string) ([]backtest.Sample, error) {
	if column == "" {
		samples, err := readCSV("input", path, trace.Parse)
		if errors.Is(err, trace.ErrNoColumn) {
			err = fmt.Errorf("%w (name the load's column with --column)", err)
		}
		return samples, err
	}
	return readCSV("input", path, func(r io.Reader, name string) ([]backtest.Sample, error) {
		return trace.ParseField(r, name, column)
	})
}

// readPrices opens and parses a price series.
func readPrices(path string) ([]backtest.PricePoint, error) {
	return readCSV("prices", path, backtest.ParsePriceCSV)
}

// readCSV opens path and parses it; what names the file in an error opening it.
func readCSV[T any](what, path string, parse func(io.Reader, string) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	defer f.Close()
	return parse(f, path)
}

// scrapeShadow reads the shadow metrics of a running adapter.
func scrapeShadow(ctx context.Context, rawURL string) ([]shadow.Summary, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: --metrics-url %q is not an http(s) URL", errUsage, rawURL)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("metrics request: %w", err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", rawURL, resp.Status)
	}
	windows := make([]string, len(reportWindows))
	for i, w := range reportWindows {
		windows[i] = shadow.WindowLabel(w.Seconds())
	}
	sums, err := shadow.SummariesFromMetrics(io.LimitReader(resp.Body, 64<<20), windows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rawURL, err)
	}
	return sums, nil
}

// costFlags are the --cost-* flags and the price inputs shared by
// shadow-report and the backtest's cost mode.
type costFlags struct {
	params                 cost.Params
	spotShare              float64
	prices, spot, onDemand string
	dayNight               string
}

// addCostFlags registers the cost flags on fs.
func addCostFlags(fs *flag.FlagSet) *costFlags {
	c := &costFlags{}
	fs.Float64Var(&c.params.Capacity, "cost-capacity", 0, "cost weighting: load one replica serves at 100% (default: the pod capacity)")
	fs.Float64Var(&c.params.TargetUtilization, "cost-target-utilization", 0, "cost weighting: u0, utilisation at the reference price (default: the reactive target, 0.7)")
	fs.Float64Var(&c.params.Elasticity, "cost-elasticity", 0, "cost weighting: a in u = u0 * r^a (default 0.5)")
	fs.Float64Var(&c.params.MinUtilization, "cost-min-utilization", 0, "cost weighting: umin (default 0.5)")
	fs.Float64Var(&c.params.MaxUtilization, "cost-max-utilization", 0, "cost weighting: umax (default 0.9)")
	fs.Float64Var(&c.params.ReferencePrice, "cost-reference-price", 0, "cost weighting: reference replica-hour price (default: the lowest price of the last week)")
	fs.Float64Var(&c.params.InterruptionDiscount, "cost-interruption-discount", 0, "cost weighting: q, capacity discount of spot replicas, in [0, 1)")
	fs.Float64Var(&c.spotShare, "spot-share", 0, "share of replicas on spot capacity, in [0, 1]")
	fs.StringVar(&c.prices, "prices", "", "replica price per hour, CSV `FILE` with rows ts,price")
	fs.StringVar(&c.spot, "spot-prices", "", "spot replica price per hour, CSV `FILE` (with --on-demand-prices and --spot-share)")
	fs.StringVar(&c.onDemand, "on-demand-prices", "", "on-demand replica price per hour, CSV `FILE` (with --spot-prices)")
	fs.StringVar(&c.dayNight, "day-night-prices", "", "generated prices `DAY/NIGHT`: a replica-hour costs DAY from 08:00 to 20:00 UTC, NIGHT otherwise (for example 2/1)")
	return c
}

// loadPrices reads the price inputs: --prices, --spot-prices and
// --on-demand-prices mixed by --spot-share, or --day-night-prices generated
// over [start, end]. No price flag gives nil.
func (c *costFlags) loadPrices(start, end int64) ([]backtest.PricePoint, error) {
	given := 0
	for _, f := range []string{c.prices, c.spot + c.onDemand, c.dayNight} {
		if f != "" {
			given++
		}
	}
	switch {
	case given > 1:
		return nil, fmt.Errorf("%w: give one of --prices, --spot-prices with --on-demand-prices, and --day-night-prices", errUsage)
	case c.dayNight != "":
		day, night, ok := strings.Cut(c.dayNight, "/")
		d, errD := strconv.ParseFloat(day, 64)
		n, errN := strconv.ParseFloat(night, 64)
		if !ok || errD != nil || errN != nil {
			return nil, fmt.Errorf("%w: --day-night-prices %q is not DAY/NIGHT (for example 2/1)", errUsage, c.dayNight)
		}
		pts, err := backtest.DayNightPrices(start, end, d, n, 8, 20)
		if err != nil {
			return nil, fmt.Errorf("%w: --day-night-prices: %w", errUsage, err)
		}
		return pts, nil
	case c.prices != "":
		return readPrices(c.prices)
	case (c.spot == "") != (c.onDemand == ""):
		return nil, fmt.Errorf("%w: --spot-prices and --on-demand-prices go together", errUsage)
	case c.spot == "":
		return nil, nil
	}
	spot, err := readPrices(c.spot)
	if err != nil {
		return nil, err
	}
	onDemand, err := readPrices(c.onDemand)
	if err != nil {
		return nil, err
	}
	mixed, err := backtest.MixSpotPrices(spot, onDemand, c.spotShare)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return mixed, nil
}

// params returns the cost parameters with defaults, validated, except for
// a zero capacity (filled in later from the pod capacity).
func (c *costFlags) resolved() (cost.Params, error) {
	p := c.params
	p.SetDefaults()
	check := p
	if check.Capacity == 0 {
		check.Capacity = 1
	}
	if err := check.Validate(); err != nil {
		return cost.Params{}, fmt.Errorf("cost flags: %w", err)
	}
	if !(c.spotShare >= 0 && c.spotShare <= 1) {
		return cost.Params{}, fmt.Errorf("--spot-share %v must be in [0, 1]", c.spotShare)
	}
	return p, nil
}

// enabled reports whether a price input was given (the backtest then runs
// in cost mode).
func (c *costFlags) enabled() bool {
	return c.prices != "" || c.spot != "" || c.onDemand != "" || c.dayNight != ""
}

// runCostBacktest runs the backtest's cost mode (backtest.RunCost) on
// samples with the cost flags and writes its report. The backtest
// subcommand calls it when costFlags.enabled().
func runCostBacktest(ctx context.Context, samples []backtest.Sample, opts backtest.Options, c *costFlags, name string, asJSON bool, stdout io.Writer) error {
	prices, err := c.loadPrices(samples[0].TS, samples[len(samples)-1].TS)
	if err != nil {
		return err
	}
	if !(c.spotShare >= 0 && c.spotShare <= 1) {
		return fmt.Errorf("%w: --spot-share %v must be in [0, 1]", errUsage, c.spotShare)
	}
	res, err := backtest.RunCost(ctx, samples, prices, opts, backtest.CostOptions{Params: c.params, SpotShare: c.spotShare})
	if err != nil {
		return err
	}
	if asJSON {
		return res.Report.WriteJSON(stdout)
	}
	return res.Report.WriteTable(stdout, name)
}
