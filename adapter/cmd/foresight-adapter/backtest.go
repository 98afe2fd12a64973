package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/adapter/backtest"
	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/trace"
	"github.com/foresight-dev/foresight/internal/cli"
	"github.com/foresight-dev/foresight/internal/clip"
)

// backtestModels are the models --model accepts.
var backtestModels = []forecast.Model{
	forecast.ModelAuto, forecast.ModelSeasonalNaive, forecast.ModelHoltWinters,
	forecast.ModelARIMA, forecast.ModelLinear, forecast.ModelFourier, forecast.ModelProfile,
	forecast.ModelProphet,
}

// runBacktest implements `foresight-adapter backtest`.
func runBacktest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts := backtest.DefaultOptions()
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "load trace, CSV `FILE` with rows ts,value (ts in Unix seconds, milli-, micro- or nanoseconds or RFC 3339, the first row's form throughout; header optional; gaps allowed)")
	column := fs.String("column", "", columnUsage)
	var prom source.PrometheusConfig
	cli.AddPFlags(fs, prom.AddFlags)
	fs.BoolVar(&prom.InsecureSkipVerify, "prometheus-insecure-skip-tls-verify", false, "alias of --prometheus-insecure-skip-verify")
	ph := promHistoryFlags{}
	fs.StringVar(&ph.query, "query", "", "with --prometheus-url: PromQL `QUERY` whose one series is the load (aggregate with sum() to one series)")
	fs.DurationVar(&ph.rng, "range", 14*24*time.Hour, "with --prometheus-url: how far back to read the query's history")
	fs.StringVar(&ph.end, "end", "", "with --prometheus-url: RFC 3339 `TIME` the history ends at (default: now)")
	fs.DurationVar(&ph.step, "step", time.Minute, "with --prometheus-url: the query's resolution, whole seconds")
	model := fs.String("model", string(opts.Model), "predictive model: "+modelList())
	fs.BoolVar(&opts.CompareModels, "compare-models", false, "also run every model that auto chooses among forced alone, each as a strategy of the report named after it, and list them by share of perfect foresight")
	servedOut := fs.String("served-out", "", "write the value served at each input row to CSV `FILE` (ts,value)")
	plotOut := fs.String("plot", "", "write a PNG plot of load, served value and replicas to `FILE`")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	fs.DurationVar(&opts.Horizon, "horizon", opts.Horizon, "forecast horizon")
	fs.Float64Var(&opts.Quantile, "quantile", opts.Quantile, "served upper quantile of the forecast, in (0, 1)")
	fs.DurationVar(&opts.Warmup, "warmup", opts.Warmup, "leading time simulated but not scored")
	fs.DurationVar(&opts.StartupDelay, "startup", opts.StartupDelay, "time a new pod takes before it serves load")
	fs.Float64Var(&opts.Capacity, "capacity", 0, "load one pod serves (default: p99 load / --pods-at-p99)")
	fs.Float64Var(&opts.PodsAtP99, "pods-at-p99", opts.PodsAtP99, "pods the p99 load needs at full capacity (sets the capacity)")
	fs.Float64Var(&opts.ReactiveTarget, "reactive-target", opts.ReactiveTarget, "reactive baseline's HPA target, fraction of capacity")
	fs.Float64Var(&opts.TargetMin, "target-min", opts.TargetMin, "lowest HPA target searched, fraction of capacity")
	fs.Float64Var(&opts.TargetMax, "target-max", opts.TargetMax, "highest HPA target searched, fraction of capacity")
	fs.Float64Var(&opts.TargetStep, "target-step", opts.TargetStep, "step of the target search")
	allowance := fs.Float64("allowance", 100*opts.Allowance, "extra under-provisioned time, in percentage points, that still counts as equally safe")
	minReplicas := fs.Int("min-replicas", int(opts.MinReplicas), "HPA minReplicas")
	maxReplicas := fs.Int("max-replicas", int(opts.MaxReplicas), "HPA maxReplicas")
	fs.DurationVar(&opts.SyncPeriod, "sync-period", opts.SyncPeriod, "HPA controller sync period")
	fs.DurationVar(&opts.History, "history", 0, "forecaster history window (default: the forecaster's)")
	fs.DurationVar(&opts.RefitInterval, "refit-interval", 0, "forecaster refit interval (default: the forecaster's)")
	fs.Var(spikeFilterFlag{&opts.FilterSpikes}, "filter-spikes", "when forecasters read each sample as the median of it and the two before it, so a one-sample spike moves neither the forecast nor the served value: auto (where a series' excursions are isolated samples), on (alone: --filter-spikes) or off; a rule's filterSpikes (default auto)")
	sloFlags := addSLOFlags(fs, "the predictive forecast is also served as replica demand at the utilisation that meets it", "--target-max")
	rulesFile := fs.String("rules", "", "rule `FILE` whose --rule's schedule and events bound every served value at the trace's time (a queue rule's queue settings, in place of --drain-time, --wake-lead and --cool-down, switch to queue mode unless --queue-throughput is given)")
	ruleName := fs.String("rule", "", "metric `NAME` of the rule in --rules")
	// A worker throughput switches the backtest to its queue mode.
	qo := backtest.DefaultQueueOptions()
	fs.Float64Var(&qo.Params.Throughput, "queue-throughput", 0, "queue mode: items one worker processes per second; the trace is the arrival rate (items/s)")
	fs.DurationVar(&qo.Params.DrainTime, "drain-time", qo.Params.DrainTime, "queue mode: drain the backlog within this")
	fs.DurationVar(&qo.Params.WakeLead, "wake-lead", qo.Params.WakeLead, "queue mode: wake this long before forecast arrivals")
	fs.DurationVar(&qo.Params.CoolDown, "cool-down", qo.Params.CoolDown, "queue mode: idle this long before scaling to zero")
	fs.Float64Var(&qo.ActivationThreshold, "keda-threshold", qo.ActivationThreshold, "queue mode: backlog above which the KEDA-like strategy activates")
	fs.DurationVar(&qo.KEDACoolDown, "keda-cool-down", qo.KEDACoolDown, "queue mode: the KEDA-like strategy's cooldownPeriod")
	fs.Float64Var(&qo.ArrivalsAbove, "arrivals-above", 0, "queue mode: the trace's idle level: a step's arrival rate is its value less this, none at or below it (load that is not queue work)")
	fs.DurationVar(&qo.ScaleDownStabilization, "scale-down-stabilization", qo.ScaleDownStabilization, "queue mode: the HPAs' scale-down stabilization window")
	// Price inputs switch the backtest to its cost mode (shadowreport.go).
	costs := addCostFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: foresight-adapter backtest --input FILE.csv [flags]")
		fmt.Fprintln(stderr, "       foresight-adapter backtest --prometheus-url URL --query PROMQL [--range 336h] [--end TIME] [--step 1m] [flags]")
		fmt.Fprintln(stderr, "\nReplays a load trace through the forecaster and the HPA model and compares")
		fmt.Fprintln(stderr, "predictive with reactive scaling.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *input == "" && prom.Address == "":
		return fmt.Errorf("%w: --input is required, or --prometheus-url with --query: give exactly one of --input FILE.csv and --prometheus-url URL", errUsage)
	case *input != "" && prom.Address != "":
		return fmt.Errorf("%w: give exactly one of --input FILE.csv and --prometheus-url URL, not both", errUsage)
	case *column != "" && *input == "":
		return fmt.Errorf("%w: --column picks a column of --input FILE.csv; with --prometheus-url the --query is the load", errUsage)
	}
	var set []string
	fs.Visit(func(f *flag.Flag) { set = append(set, f.Name) })
	if err := ph.validate(prom.Address != "", set); err != nil {
		return err
	}
	opts.Model = forecast.Model(*model)
	if !slices.Contains(backtestModels, opts.Model) {
		return fmt.Errorf("%w: --model %q is not one of %s", errUsage, *model, modelList())
	}
	opts.Allowance = *allowance / 100
	var err error
	if opts.SLO, err = sloFlags.options(); err != nil {
		return err
	}
	opts.MinReplicas, opts.MaxReplicas = int32(*minReplicas), int32(*maxReplicas)
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}

	if (*rulesFile == "") != (*ruleName == "") {
		return fmt.Errorf("%w: --rules and --rule go together", errUsage)
	}
	if *rulesFile != "" {
		f, err := config.Load(*rulesFile)
		if err != nil {
			return err
		}
		r := f.Rule(*ruleName)
		if r == nil {
			return fmt.Errorf("%w: %s has no rule %q", errUsage, *rulesFile, *ruleName)
		}
		opts.Schedule = r.ScheduleSpec()
		qo.Schedule = opts.Schedule
		if r.Queue != nil && qo.Params.Throughput == 0 {
			// A queue rule's own parameters switch to queue mode.
			qo.Params = r.Queue.Params
		}
	}

	// where names the input in errors, name in reports and plots.
	var samples []backtest.Sample
	where, name := *input, filepath.Base(*input)
	if prom.Address != "" {
		where = "prometheus: " + ph.query
		name = where
		if samples, err = ph.read(ctx, prom, stderr); err != nil {
			return err
		}
	} else if samples, err = readTrace(*input, *column); err != nil {
		return err
	}
	if qo.Params.Throughput == 0 && qo.ArrivalsAbove != 0 {
		return fmt.Errorf("%w: --arrivals-above needs queue mode (--queue-throughput or a queue rule)", errUsage)
	}
	if qo.Params.Throughput != 0 {
		if *servedOut != "" || *plotOut != "" || costs.enabled() || opts.CompareModels {
			return fmt.Errorf("%w: --served-out, --plot, --compare-models and price inputs are not available in queue mode", errUsage)
		}
		qo.ForecastOptions = opts.ForecastOptions
		qo.StartupDelay, qo.SyncPeriod, qo.MaxReplicas, qo.Warmup = opts.StartupDelay, opts.SyncPeriod, opts.MaxReplicas, opts.Warmup
		qo.MinReplicas = opts.MinReplicas
		if err := qo.Params.Validate(); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		rep, err := backtest.RunQueue(ctx, samples, qo)
		if err != nil {
			return withWarmupHint(err, where)
		}
		if *asJSON {
			return rep.WriteJSON(stdout)
		}
		return rep.WriteTable(stdout, name)
	}
	if costs.enabled() {
		if *servedOut != "" || *plotOut != "" || opts.CompareModels {
			return fmt.Errorf("%w: --served-out, --plot and --compare-models are not available with price inputs", errUsage)
		}
		return withWarmupHint(runCostBacktest(ctx, samples, opts, costs, name, *asJSON, stdout), where)
	}
	if isTerminal(stderr) {
		p := &progressLine{w: stderr, last: -1}
		opts.Progress = p.update
		defer p.clear()
	}
	res, err := backtest.Run(ctx, samples, opts)
	if err != nil {
		return withWarmupHint(err, where)
	}
	if *servedOut != "" {
		if err := writeFile(*servedOut, func(w io.Writer) error {
			return backtest.WriteServedCSV(w, res.Samples, res.Served[backtest.StrategyPredictive])
		}); err != nil {
			return err
		}
	}
	if *plotOut != "" {
		if err := writeFile(*plotOut, func(w io.Writer) error {
			return backtest.WritePlot(w, res, name)
		}); err != nil {
			return err
		}
	}
	if *asJSON {
		return res.Report.WriteJSON(stdout)
	}
	return res.Report.WriteTable(stdout, name)
}

// withWarmupHint names the input of an error about an input shorter than the
// warm-up and says how to lower the warm-up; other errors pass unchanged.
func withWarmupHint(err error, input string) error {
	var short *backtest.ShortInputError
	if !errors.As(err, &short) {
		return err
	}
	return fmt.Errorf("%s: %w; give a longer input, or lower the warm-up with --warmup (for example --warmup %v, half the input)",
		input, err, (short.Span / 2).Truncate(time.Minute))
}

func modelList() string {
	names := make([]string, len(backtestModels))
	for i, m := range backtestModels {
		names[i] = string(m)
	}
	return strings.Join(names, "|")
}

// writeFile writes path through fn, reporting errors with the path.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine redraws one status line as forecasting advances.
type progressLine struct {
	w     io.Writer
	stage string
	last  int
}

func (p *progressLine) update(stage string, done, total int) {
	percent := 100 * done / max(total, 1)
	if stage == p.stage && percent == p.last {
		return
	}
	p.stage, p.last = stage, percent
	fmt.Fprintf(p.w, "\r%-28s %3d%% (%d/%d rows)\033[K", stage, percent, done, total)
}

func (p *progressLine) clear() {
	if p.last >= 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// sloFlags are the SLO-mode flags that the backtest and shadow-report share.
type sloFlags struct {
	objective string
	ceiling   float64
}

// addSLOFlags registers --slo and --slo-max-utilization on fs; what says
// what SLO mode adds, ceiling names the default ceiling.
func addSLOFlags(fs *flag.FlagSet, what, ceiling string) *sloFlags {
	f := &sloFlags{}
	fs.StringVar(&f.objective, "slo", "", "SLO mode: allowed under-provisioned share of time, in percent, or \"baseline\" for the reactive baseline's own share; "+what)
	fs.Float64Var(&f.ceiling, "slo-max-utilization", 0, "SLO mode: ceiling on utilisation, fraction of capacity (default: "+ceiling+")")
	return f
}

// options returns the SLO options the flags give (nil without --slo).
func (f *sloFlags) options() (*backtest.SLOOptions, error) {
	if f.objective == "" {
		if f.ceiling != 0 {
			return nil, fmt.Errorf("%w: --slo-max-utilization needs --slo", errUsage)
		}
		return nil, nil
	}
	if !(f.ceiling >= 0) {
		return nil, fmt.Errorf("%w: --slo-max-utilization %v must be positive", errUsage, f.ceiling)
	}
	o := &backtest.SLOOptions{UnderProvisioned: -1, MaxUtilization: f.ceiling}
	if f.objective != "baseline" {
		v, err := strconv.ParseFloat(f.objective, 64)
		if err != nil || !(v >= 0 && v < 100) {
			return nil, fmt.Errorf("%w: --slo %q must be a percentage in [0, 100) or \"baseline\"", errUsage, f.objective)
		}
		o.UnderProvisioned = v / 100
	}
	return o, nil
}

// promHistoryFlags choose the history of one PromQL query that `backtest
// --prometheus-url` replays in place of a CSV trace.
type promHistoryFlags struct {
	query string
	rng   time.Duration
	end   string
	step  time.Duration
}

// validate checks the flags; fromPrometheus says whether --prometheus-url is
// given, set is every flag given on the command line (without
// --prometheus-url, none of the Prometheus flags may be given).
func (f *promHistoryFlags) validate(fromPrometheus bool, set []string) error {
	if !fromPrometheus {
		for _, name := range set {
			if name == "query" || name == "range" || name == "end" || name == "step" || strings.HasPrefix(name, "prometheus-") {
				return fmt.Errorf("%w: --%s reads from Prometheus: give --prometheus-url and --query, not --input", errUsage, name)
			}
		}
		return nil
	}
	if strings.TrimSpace(f.query) == "" {
		return fmt.Errorf("%w: --prometheus-url needs --query PROMQL, the load of one workload (one series)", errUsage)
	}
	if f.step < time.Second || f.step%time.Second != 0 {
		return fmt.Errorf("%w: --step %v must be a whole number of seconds, at least 1s", errUsage, f.step)
	}
	if f.rng < f.step {
		return fmt.Errorf("%w: --range %v must be at least --step %v", errUsage, f.rng, f.step)
	}
	if steps := int64(f.rng / f.step); steps >= trace.MaxRows {
		return fmt.Errorf("%w: --range %v at --step %v is %d steps, more than the %d a trace may hold: shorten --range or lengthen --step",
			errUsage, f.rng, f.step, steps+1, trace.MaxRows)
	}
	if f.end != "" {
		if _, err := time.Parse(time.RFC3339, f.end); err != nil {
			return fmt.Errorf("%w: --end %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", errUsage, f.end)
		}
	}
	return nil
}

// window returns the evaluation range: it ends at --end (default now), moved
// back onto a multiple of the step in Unix time, and starts --range before,
// on the same grid, so every evaluation lands on the same steps whatever
// --end is (and VictoriaMetrics, which aligns a range to its step, answers
// exactly).
func (f *promHistoryFlags) window(now time.Time) (start, end time.Time) {
	if f.end != "" {
		now, _ = time.Parse(time.RFC3339, f.end) // validate checked it
	}
	step := int64(f.step / time.Second)
	e := now.Unix()
	e -= ((e % step) + step) % step
	s := e - int64(f.rng/f.step)*step
	return time.Unix(s, 0).UTC(), time.Unix(e, 0).UTC()
}

// read evaluates the query over the window on the Prometheus cfg names
// (source.Prometheus: long ranges are split into chunks) and returns its one
// series as trace samples. Steps without a value stay gaps. Query warnings
// are logged to stderr.
func (f *promHistoryFlags) read(ctx context.Context, cfg source.PrometheusConfig, stderr io.Writer) ([]backtest.Sample, error) {
	src, err := source.NewPrometheus(cfg, nil, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	start, end := f.window(time.Now())
	// The common mistake, a query of one series per pod, fails here on one
	// point per series rather than after reading every series' history.
	now, err := src.Query(ctx, f.query, end)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: query %q: %w", cfg.Address, f.query, err)
	}
	if len(now) > 1 {
		return nil, tooManySeries(f.query, now, "at "+end.Format(time.RFC3339))
	}
	series, err := src.QueryRange(ctx, f.query, start, end, f.step)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: query %q: %w", cfg.Address, f.query, err)
	}
	return seriesSamples(f.query, series, start, end, f.step)
}

// maxListedSeries bounds the label sets an error about too many series lists.
const maxListedSeries = 5

// seriesSamples returns the one series of a query's result as trace samples
// (Unix seconds). No series, several series, or a value that is not a load (not
// finite, negative) is an error naming the query.
func seriesSamples(query string, series []source.Series, start, end time.Time, step time.Duration) ([]backtest.Sample, error) {
	over := fmt.Sprintf("[%s, %s] at step %v", start.Format(time.RFC3339), end.Format(time.RFC3339), step)
	switch len(series) {
	case 0:
		return nil, fmt.Errorf("query %q returned no series over %s: check the query and --range in the Prometheus UI", query, over)
	case 1:
	default:
		return nil, tooManySeries(query, series, "over "+over)
	}
	out := make([]backtest.Sample, 0, len(series[0].Samples))
	for _, p := range series[0].Samples {
		if why := trace.CheckLoad(p.V); why != "" {
			return nil, fmt.Errorf("query %q: value %v at %s %s, not a load", query, p.V, time.UnixMilli(p.T).UTC().Format(time.RFC3339), why)
		}
		out = append(out, backtest.Sample{TS: p.T / 1000, Value: p.V})
	}
	return out, nil
}

// tooManySeries is the error for a query that returned several series when
// it was evaluated when says: it lists their label sets, at most
// maxListedSeries of them, each shortened.
func tooManySeries(query string, series []source.Series, when string) error {
	sets := make([]string, 0, maxListedSeries+1)
	for i, s := range series {
		if i == maxListedSeries {
			sets = append(sets, fmt.Sprintf("and %d more", len(series)-i))
			break
		}
		sets = append(sets, clip.Text(s.Labels.String(), 120))
	}
	return fmt.Errorf("query %q returned %d series %s, want one: %s; aggregate them to one series, e.g. sum(%s)",
		query, len(series), when, strings.Join(sets, ", "), clip.Text(query, 80))
}

// spikeFilterFlag is --filter-spikes: auto, on (also true, or the flag
// alone) or off (also false).
type spikeFilterFlag struct{ p *forecast.SpikeFilter }

func (f spikeFilterFlag) String() string {
	if f.p == nil || *f.p == "" {
		return string(forecast.SpikeFilterAuto)
	}
	return string(*f.p)
}

func (f spikeFilterFlag) Set(s string) error {
	switch s {
	case "true":
		s = string(forecast.SpikeFilterOn)
	case "false":
		s = string(forecast.SpikeFilterOff)
	}
	v, err := forecast.ParseSpikeFilter(s)
	if err != nil {
		return err
	}
	*f.p = v
	return nil
}

// IsBoolFlag lets the flag stand alone for on.
func (f spikeFilterFlag) IsBoolFlag() bool { return true }
