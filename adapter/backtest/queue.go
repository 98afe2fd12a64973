package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/queue"
	"github.com/foresight-dev/foresight/adapter/schedule"
	"github.com/foresight-dev/foresight/adapter/trace"
)

// Queue strategy names of a queue backtest.
const (
	// QueueReactive serves the queue demand of the observed arrival rate and
	// backlog (no forecast), scaling to zero after the cool-down.
	QueueReactive = "reactive-backlog"
	// QueueKEDA activates on a backlog above a threshold (0 -> 1 replica at
	// once), scales on backlog per replica while active, and drops to 0 a
	// cool-down after the last activity, bypassing the HPA, as KEDA does.
	QueueKEDA = "keda-like"
	// QueuePredictive serves the queue demand of the forecast arrival rate:
	// it wakes a wake lead before forecast arrivals.
	QueuePredictive = "predictive"
	// QueueAlwaysOn is QueueReactive with minReplicas 1: never cold.
	QueueAlwaysOn = "always-on"
)

// QueueOptions configure a queue backtest: the trace's values are the
// arrival rate (items per second); workers process Params.Throughput items
// per second each once ready.
type QueueOptions struct {
	// Params are the queue demand's parameters.
	Params queue.Params
	// ForecastOptions configure the predictive strategy's forecaster of the
	// arrival rate (under auto it reads the samples themselves:
	// forecast.Settings.ForQueueArrivals).
	ForecastOptions
	// Step is the trace's step; zero infers it.
	Step time.Duration
	// StartupDelay is the time a new worker takes before it processes items.
	StartupDelay time.Duration
	// SyncPeriod is the HPA controller's sync period.
	SyncPeriod time.Duration
	// ScaleDownStabilization is the HPAs' scale-down stabilization window.
	ScaleDownStabilization time.Duration
	// MinReplicas is the minReplicas of the scale-to-zero strategies (0 to scale to zero).
	MinReplicas int32
	// MaxReplicas bounds every strategy.
	MaxReplicas int32
	// Warmup is the leading time simulated but not scored.
	Warmup time.Duration
	// ActivationThreshold is the backlog above which the KEDA-like strategy activates.
	ActivationThreshold float64
	// KEDACoolDown is the KEDA-like strategy's cool-down (KEDA's cooldownPeriod).
	KEDACoolDown time.Duration
	// Schedule bounds the value the adapter's strategies (reactive-backlog,
	// predictive, always-on) serve at each sync, at the trace's time.
	Schedule schedule.Schedule
	// ArrivalsAbove is the trace's idle level: the arrival rate of a step is
	// its value less ArrivalsAbove, and none when the value is at most that
	// (load that is not queue work: a metric's idle floor, background
	// requests). Zero takes the values as they are.
	ArrivalsAbove float64
}

// DefaultQueueOptions returns a queue backtest's defaults: 1 item/s per
// worker, drain 5m, wake lead 90s, cool-down 5m; 60 s worker start-up, 15 s
// HPA sync, 60 s scale-down stabilization (deploy/adapter/examples/hpa-queue.yaml);
// KEDA activation above 0 items, 300 s cool-down.
func DefaultQueueOptions() QueueOptions {
	return QueueOptions{
		Params:          queue.Params{Throughput: 1, DrainTime: 5 * time.Minute, WakeLead: 90 * time.Second, CoolDown: 5 * time.Minute},
		ForecastOptions: defaultForecastOptions(),
		StartupDelay:    60 * time.Second, SyncPeriod: hpa.DefaultSyncPeriod, ScaleDownStabilization: time.Minute,
		MaxReplicas: 1000, Warmup: 48 * time.Hour, KEDACoolDown: 300 * time.Second,
	}
}

// QueueStrategyReport is one strategy's figures over the scored time.
type QueueStrategyReport struct {
	Name string `json:"name"`
	// WorkerMinutes counts every worker, starting ones included.
	WorkerMinutes float64 `json:"worker_minutes"`
	// Wakes is the number of times items arrived into an idle queue (empty,
	// with nothing arriving the second before).
	Wakes int `json:"wakes"`
	// ColdWakes is how many of those found no ready worker.
	ColdWakes int `json:"cold_wakes"`
	// MeanFirstJobWaitSeconds, P50FirstJobWaitSeconds,
	// P99FirstJobWaitSeconds and MaxFirstJobWaitSeconds are the mean,
	// median, 99th percentile (nearest rank) and maximum of the time from a
	// wake to the first ready worker (0 when one was ready), over all wakes.
	MeanFirstJobWaitSeconds float64 `json:"mean_first_job_wait_seconds"`
	P50FirstJobWaitSeconds  float64 `json:"p50_first_job_wait_seconds"`
	P99FirstJobWaitSeconds  float64 `json:"p99_first_job_wait_seconds"`
	MaxFirstJobWaitSeconds  float64 `json:"max_first_job_wait_seconds"`
	// MeanBacklog is the mean number of items waiting.
	MeanBacklog float64 `json:"mean_backlog"`
	// ZeroShare is the share of the scored time at zero workers.
	ZeroShare float64 `json:"zero_share"`
}

// QueueReport is a finished queue backtest.
type QueueReport struct {
	Rows          int                   `json:"rows"`
	ScoredMinutes float64               `json:"scored_minutes"`
	Strategies    []QueueStrategyReport `json:"strategies"`
}

// RunQueue simulates a work queue fed by the trace's arrival rate under each
// queue strategy, on a one-second clock: items arrive at the rate of the
// latest sample, ready workers process Throughput items per second each, and
// each strategy's HPA (target AverageValue 1) syncs every SyncPeriod on the
// value the strategy serves from what it can see then.
func RunQueue(ctx context.Context, samples []Sample, o QueueOptions) (*QueueReport, error) {
	if err := o.Params.Validate(); err != nil {
		return nil, fmt.Errorf("backtest: queue: %w", err)
	}
	if len(samples) < 2 {
		return nil, fmt.Errorf("backtest: need at least 2 samples, got %d", len(samples))
	}
	step := o.Step
	if step == 0 {
		var err error
		if step, err = trace.InferStep(samples); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
	}
	samples, _, _ = trace.OnGrid(samples, step) // as Run replays them
	if span := time.Duration(samples[len(samples)-1].TS-samples[0].TS) * time.Second; span <= o.Warmup {
		return nil, &ShortInputError{Rows: len(samples), Span: span, Warmup: o.Warmup}
	}
	if o.ArrivalsAbove < 0 || math.IsNaN(o.ArrivalsAbove) || math.IsInf(o.ArrivalsAbove, 0) {
		return nil, fmt.Errorf("backtest: queue: arrivals above %v: must be a finite value, at least 0", o.ArrivalsAbove)
	}
	if o.ArrivalsAbove > 0 {
		samples = arrivalsAbove(samples, o.ArrivalsAbove)
	}
	warmEnd := samples[0].TS + int64(o.Warmup/time.Second)
	predicted, _, err := Serve(ctx, samples, o.settings(step, o.Model).ForQueueArrivals(), warmEnd, nil)
	if err != nil {
		return nil, fmt.Errorf("backtest: queue forecast: %w", err)
	}
	rep := &QueueReport{Rows: len(samples), ScoredMinutes: float64(samples[len(samples)-1].TS-warmEnd) / 60}
	for _, name := range []string{QueueReactive, QueueKEDA, QueuePredictive, QueueAlwaysOn} {
		sr, err := simulateQueue(ctx, samples, predicted, o, name, warmEnd)
		if err != nil {
			return nil, err
		}
		rep.Strategies = append(rep.Strategies, sr)
	}
	return rep, nil
}

// arrivalsAbove returns the samples' arrival rates above the idle level
// (value less level, at least 0; gaps stay gaps). The forecaster of the
// predictive strategy sees these rates, as it sees the queue's in serving.
func arrivalsAbove(samples []Sample, level float64) []Sample {
	out := make([]Sample, len(samples))
	for i, s := range samples {
		out[i] = s
		if !math.IsNaN(s.Value) {
			out[i].Value = max(s.Value-level, 0)
		}
	}
	return out
}

// simulateQueue runs one strategy over the trace.
func simulateQueue(ctx context.Context, samples []Sample, predicted []float64, o QueueOptions, name string, warmEnd int64) (QueueStrategyReport, error) {
	sr := QueueStrategyReport{Name: name}
	minReplicas := o.MinReplicas
	if name == QueueAlwaysOn {
		minReplicas = max(minReplicas, 1)
	}
	behavior := hpa.DefaultBehavior()
	behavior.ScaleDown.StabilizationWindow = o.ScaleDownStabilization
	cfg := hpa.Config{Target: 1, MinReplicas: minReplicas, ScaleToZero: minReplicas == 0, MaxReplicas: o.MaxReplicas,
		SyncPeriod: o.SyncPeriod, StartupDelay: o.StartupDelay, Behavior: &behavior}
	kedaCfg := cfg
	kedaCfg.MinReplicas, kedaCfg.ScaleToZero = max(minReplicas, 1), false
	start := samples[0].TS
	ctl, err := hpa.NewController(cfg, minReplicas)
	if err != nil {
		return sr, fmt.Errorf("backtest: queue: %w", err)
	}
	pods := hpa.NewPods(minReplicas, o.StartupDelay, start)
	var tracker queue.Tracker
	var backlog float64
	kedaActive, kedaLast := false, int64(0)
	syncEvery := int64(o.SyncPeriod / time.Second)
	var waits []float64
	waitFrom := int64(-1) // Unix second items arrived into an empty queue with no ready worker
	scoredSeconds, workerSeconds, backlogSum, zeroSeconds := 0.0, 0.0, 0.0, 0.0
	idx := 0
	prevRate := 0.0
	end := samples[len(samples)-1].TS
	for t := start; t <= end; t++ {
		if (t-start)%86400 == 0 {
			if err := ctx.Err(); err != nil {
				return sr, err
			}
		}
		for idx+1 < len(samples) && samples[idx+1].TS <= t {
			idx++
		}
		rate := max(samples[idx].Value, 0)
		if math.IsNaN(rate) {
			rate = 0
		}
		scored := t >= warmEnd
		// Arrivals, then processing by the workers ready now. A wake is
		// arrivals after a second with an empty queue and none arriving.
		wasIdle := backlog <= 0 && prevRate <= 0
		prevRate = rate
		backlog += rate
		ready := pods.Ready(t)
		if wasIdle && backlog > 0 && scored {
			sr.Wakes++
			if ready == 0 {
				sr.ColdWakes++
				waitFrom = t
			} else {
				waits = append(waits, 0)
			}
		}
		if waitFrom >= 0 && ready > 0 {
			waits = append(waits, float64(t-waitFrom))
			waitFrom = -1
		}
		backlog = max(backlog-float64(ready)*o.Params.Throughput, 0)
		if scored {
			scoredSeconds++
			workerSeconds += float64(pods.Total())
			backlogSum += backlog
			if pods.Total() == 0 {
				zeroSeconds++
			}
		}
		if (t-start)%syncEvery != 0 {
			continue
		}
		in := queue.Input{At: t, Backlog: backlog, Arrivals: rate, Predicted: rate}
		switch name {
		case QueueKEDA:
			if backlog > o.ActivationThreshold || rate > 0 {
				kedaLast = t
			}
			active := kedaLast > 0 && t-kedaLast < int64(o.KEDACoolDown/time.Second)
			switch {
			case active && !kedaActive: // KEDA scales 0 -> 1 itself, then hands over to its HPA
				kedaActive = true
				if ctl, err = hpa.NewController(kedaCfg, kedaCfg.MinReplicas); err != nil {
					return sr, fmt.Errorf("backtest: queue: %w", err)
				}
				pods.Scale(t, kedaCfg.MinReplicas)
			case !active && kedaActive: // and 1 -> 0 after its cool-down
				kedaActive = false
				pods.Scale(t, minReplicas)
			}
			if kedaActive {
				d := ctl.Sync(t, backlog/(o.Params.Throughput*o.Params.DrainTime.Seconds()))
				pods.Scale(t, d.Desired)
			}
			continue
		case QueuePredictive:
			in.Predicted = predicted[idx]
		}
		v, _ := tracker.Demand(o.Params, in)
		v, _ = o.Schedule.Apply(time.Unix(t, 0), v)
		pods.Scale(t, ctl.Sync(t, v).Desired)
	}
	if waitFrom >= 0 {
		waits = append(waits, float64(end-waitFrom)) // still waiting at the end
	}
	if scoredSeconds > 0 {
		sr.WorkerMinutes = workerSeconds / 60
		sr.MeanBacklog = backlogSum / scoredSeconds
		sr.ZeroShare = zeroSeconds / scoredSeconds
	}
	for _, w := range waits {
		sr.MeanFirstJobWaitSeconds += w / float64(len(waits))
		sr.MaxFirstJobWaitSeconds = max(sr.MaxFirstJobWaitSeconds, w)
	}
	if len(waits) > 0 {
		sr.P50FirstJobWaitSeconds = nearestRank(waits, 0.5)
		sr.P99FirstJobWaitSeconds = nearestRank(waits, 0.99)
	}
	return sr, nil
}

// nearestRank returns the q-quantile (nearest rank) of x, which it sorts.
func nearestRank(x []float64, q float64) float64 {
	sort.Float64s(x)
	return x[min(max(int(math.Ceil(q*float64(len(x))))-1, 0), len(x)-1)]
}

// WriteTable prints the queue report as a table.
func (r *QueueReport) WriteTable(w io.Writer, name string) error {
	fmt.Fprintf(w, "queue backtest of %s: %d rows, %.0f scored minutes\n\n", name, r.Rows, r.ScoredMinutes)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tworker-minutes\twakes\tcold wakes\tfirst-job wait s: mean\tp50\tp99\tmax\tmean backlog\tat zero\t")
	for _, s := range r.Strategies {
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%.1f\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f%%\t\n", s.Name, s.WorkerMinutes, s.Wakes, s.ColdWakes,
			s.MeanFirstJobWaitSeconds, s.P50FirstJobWaitSeconds, s.P99FirstJobWaitSeconds, s.MaxFirstJobWaitSeconds, s.MeanBacklog, 100*s.ZeroShare)
	}
	return tw.Flush()
}

// WriteJSON prints the queue report as indented JSON.
func (r *QueueReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
