package experiment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/internal/atomicfile"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/promquery"
)

// States of an experiment, the values of the state label of foresight_experiment_state.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StateCompleted = "completed"
	StateAborted   = "aborted"
)

var allStates = []string{StatePending, StateRunning, StateCompleted, StateAborted}

// Clock tells the time and waits; tests inject a fake one.
type Clock = promquery.Clock

// RealClock is the wall clock.
type RealClock = promquery.RealClock

// Querier evaluates an instant PromQL query; prometheus/client_golang's v1.API satisfies it.
type Querier = promquery.Querier

// Overlay changes a policy before translation; see Runner.Overlay.
type Overlay = func(*policy.Policy) (*policy.Policy, error)

// Options configure a Runner.
type Options struct {
	// Clock is the time source; RealClock when nil.
	Clock Clock
	// Prometheus evaluates guards; experiments with a guard abort at their first evaluation
	// when it is nil.
	Prometheus Querier
	// StatePath is the file recording aborts across restarts ("" keeps them in memory only).
	StatePath string
	// Apply serves the policy with the given overlay; the runner calls it whenever the set of
	// active faults changes.
	Apply func(ctx context.Context, overlay Overlay) error
	// Logger receives a line for every transition; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the experiment metrics; a private registry when nil.
	Registerer prometheus.Registerer
	// Leading says whether this replica evaluates the guards and records aborts; nil: it
	// always does. One that does not lead serves the experiments by their times and the
	// abort record it is given (Reload).
	Leading func() bool
	// OnChange, when set, is called after an experiment's state changed (it started, ended
	// or was aborted), outside the runner's lock.
	OnChange func()
}

// abortRecord is what the state file remembers about an aborted run.
type abortRecord struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// Runner drives a set of experiments.
type Runner struct {
	opts Options
	exps []*Experiment
	log  *slog.Logger

	stateGauge  *prometheus.GaugeVec
	activeGauge *prometheus.GaugeVec
	aborts      *prometheus.CounterVec
	guardValue  *prometheus.GaugeVec

	mu        sync.Mutex
	aborted   map[string]abortRecord // by Experiment.Key
	state     map[string]string      // last reported state, by name
	applied   string                 // fingerprint of the active set last applied
	nextGuard map[string]time.Time
	// kick wakes Run when the experiments change.
	kick chan struct{}
}

// NewRunner returns a Runner for exps, loading the abort record from opts.StatePath.
func NewRunner(exps []*Experiment, opts Options) (*Runner, error) {
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Apply == nil {
		return nil, errors.New("experiment: Options.Apply is required")
	}
	r := &Runner{
		opts: opts, exps: exps, log: opts.Logger,
		stateGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_experiment_state", Help: "1 for the current state of each experiment.",
		}, []string{"experiment", "state"}),
		activeGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_experiment_active", Help: "1 while the experiment's fault is in the served configuration.",
		}, []string{"experiment", "target"}),
		aborts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_experiment_aborts_total", Help: "Experiments aborted by their guard.",
		}, []string{"experiment"}),
		guardValue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "foresight_experiment_guard_value", Help: "Last value of the experiment's guard expression.",
		}, []string{"experiment"}),
		aborted: map[string]abortRecord{}, state: map[string]string{}, nextGuard: map[string]time.Time{},
		kick: make(chan struct{}, 1),
	}
	for _, c := range []prometheus.Collector{r.stateGauge, r.activeGauge, r.aborts, r.guardValue} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("experiment: register metrics: %w", err)
		}
	}
	aborted, err := r.load()
	if err != nil {
		return nil, err
	}
	r.aborted = aborted
	for _, e := range exps {
		r.aborts.WithLabelValues(e.Name())
	}
	return r, nil
}

// load reads the abort record from the state file (empty without one).
func (r *Runner) load() (map[string]abortRecord, error) {
	aborted := map[string]abortRecord{}
	if r.opts.StatePath == "" {
		return aborted, nil
	}
	if err := atomicfile.ReadJSON(r.opts.StatePath, &aborted); err != nil {
		return nil, fmt.Errorf("experiment: state: %w", err)
	}
	if aborted == nil { // the file held null
		aborted = map[string]abortRecord{}
	}
	return aborted, nil
}

// Reload reads the abort record again, as the leader wrote it, and has Run step at once.
func (r *Runner) Reload() error {
	aborted, err := r.load()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.aborted = aborted
	r.mu.Unlock()
	r.wake()
	return nil
}

// save writes the abort record atomically; called with r.mu held.
func (r *Runner) save() error {
	if r.opts.StatePath == "" {
		return nil
	}
	if err := atomicfile.WriteJSON(r.opts.StatePath, r.aborted); err != nil {
		return fmt.Errorf("experiment: state: %w", err)
	}
	return nil
}

// Experiments are the experiments the runner drives.
func (r *Runner) Experiments() []*Experiment {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.exps)
}

// SetExperiments replaces the experiments the runner drives (for example when Kubernetes
// ExperimentPolicies change) and has Run step at once. Runs already aborted stay aborted: the
// record is by name and start. The metrics of experiments no longer there are dropped.
func (r *Runner) SetExperiments(exps []*Experiment) {
	r.mu.Lock()
	keep := map[string]bool{}
	for _, e := range exps {
		keep[e.Name()] = true
		r.aborts.WithLabelValues(e.Name())
	}
	for _, e := range r.exps {
		if !keep[e.Name()] {
			n := e.Name()
			r.stateGauge.DeletePartialMatch(prometheus.Labels{"experiment": n})
			r.activeGauge.DeletePartialMatch(prometheus.Labels{"experiment": n})
			r.aborts.DeleteLabelValues(n)
			r.guardValue.DeleteLabelValues(n)
			delete(r.state, n)
		}
	}
	r.exps = exps
	r.applied = "\x00" // re-apply: the targets of a run may have changed
	r.mu.Unlock()
	r.wake()
}

// wake has Run step at once.
func (r *Runner) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// stateAt is e's state at now; called with r.mu held.
func (r *Runner) stateAt(e *Experiment, now time.Time) string {
	if _, ok := r.aborted[e.Key()]; ok {
		return StateAborted
	}
	switch {
	case now.Before(e.Spec.Start):
		return StatePending
	case now.Before(e.End()):
		return StateRunning
	default:
		return StateCompleted
	}
}

// Status is an experiment's state now and, when aborted, when and why; ok is false for an
// experiment the runner does not drive.
func (r *Runner) Status(name string) (state, reason string, abortedAt time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.exps {
		if e.Name() == name {
			rec := r.aborted[e.Key()]
			return r.stateAt(e, r.opts.Clock.Now()), rec.Reason, rec.At, true
		}
	}
	return "", "", time.Time{}, false
}

// State returns the experiment's state now ("" for one the runner does not drive).
func (r *Runner) State(name string) string {
	state, _, _, _ := r.Status(name)
	return state
}

// Overlay adds the faults of the experiments running at the moment it is called. Because it
// reads the clock itself, a configuration rebuilt after an experiment's end never carries its
// fault, whatever the runner's loop is doing.
func (r *Runner) Overlay(p *policy.Policy) (*policy.Policy, error) {
	r.mu.Lock()
	running := r.running(r.exps)
	r.mu.Unlock()
	return withFaults(p, running)
}

// OverlayWith is the overlay Overlay would be if the runner drove exps instead of its own
// experiments: the faults of those of exps running when it is called (by their start, end and
// the runner's abort record). It changes nothing in the runner, so a caller can check a
// configuration with other experiments before it hands them to SetExperiments.
func (r *Runner) OverlayWith(exps []*Experiment) Overlay {
	exps = slices.Clone(exps)
	return func(p *policy.Policy) (*policy.Policy, error) {
		r.mu.Lock()
		running := r.running(exps)
		r.mu.Unlock()
		return withFaults(p, running)
	}
}

// running are the experiments of exps running now; called with r.mu held.
func (r *Runner) running(exps []*Experiment) []*Experiment {
	var out []*Experiment
	now := r.opts.Clock.Now()
	for _, e := range exps {
		if r.stateAt(e, now) == StateRunning {
			out = append(out, e)
		}
	}
	return out
}

// withFaults adds the faults of the experiments to p.
func withFaults(p *policy.Policy, exps []*Experiment) (*policy.Policy, error) {
	for _, e := range exps {
		next, err := e.overlay(p)
		if err != nil {
			return nil, err
		}
		p = next
	}
	return p, nil
}

// Step brings everything up to date at the clock's current time: evaluates due guards,
// records transitions (logs and metrics), and re-applies the overlay when the set of active
// faults changed. It returns when the next step is due.
func (r *Runner) Step(ctx context.Context) (time.Duration, error) {
	now := r.opts.Clock.Now()
	leading := r.opts.Leading == nil || r.opts.Leading()
	r.mu.Lock()
	var guards []*Experiment
	for _, e := range r.exps {
		if leading && e.Spec.Guard != nil && r.stateAt(e, now) == StateRunning {
			if due, ok := r.nextGuard[e.Key()]; !ok || !now.Before(due) {
				guards = append(guards, e)
			}
		}
	}
	r.mu.Unlock()
	for _, e := range guards {
		fired, reason := r.evaluate(ctx, e, now)
		r.mu.Lock()
		r.nextGuard[e.Key()] = now.Add(e.GuardInterval())
		if fired && r.stateAt(e, r.opts.Clock.Now()) == StateRunning {
			r.aborted[e.Key()] = abortRecord{At: now, Reason: reason}
			r.aborts.WithLabelValues(e.Name()).Inc()
			if err := r.save(); err != nil {
				r.log.Error("could not persist experiment abort", "experiment", e.Name(), "error", err)
			}
			r.log.Warn("experiment aborted by its guard", "experiment", e.Name(), "target", e.Spec.Target.String(), "reason", reason)
		}
		r.mu.Unlock()
	}

	r.mu.Lock()
	now = r.opts.Clock.Now()
	fingerprint := ""
	next := time.Duration(math.MaxInt64)
	transitions := false
	for _, e := range r.exps {
		st := r.stateAt(e, now)
		if prev := r.state[e.Name()]; prev != st {
			transitions = true
			r.state[e.Name()] = st
			r.log.Info("experiment state", "experiment", e.Name(), "target", e.Spec.Target.String(), "from", prev, "to", st,
				"start", e.Spec.Start, "end", e.End())
		}
		for _, s := range allStates {
			v := 0.0
			if s == st {
				v = 1
			}
			r.stateGauge.WithLabelValues(e.Name(), s).Set(v)
		}
		switch st {
		case StatePending:
			next = min(next, e.Spec.Start.Sub(now))
		case StateRunning:
			fingerprint += e.Key() + ";"
			next = min(next, e.End().Sub(now))
			if leading && e.Spec.Guard != nil {
				next = min(next, r.nextGuard[e.Key()].Sub(now))
			}
		}
	}
	changed := fingerprint != r.applied
	r.mu.Unlock()
	if transitions && r.opts.OnChange != nil {
		r.opts.OnChange()
	}

	if changed {
		if err := r.opts.Apply(ctx, r.Overlay); err != nil {
			r.log.Error("could not serve experiment faults", "error", err)
			return min(next, time.Second), fmt.Errorf("apply experiments: %w", err)
		}
		r.mu.Lock()
		r.applied = fingerprint
		r.mu.Unlock()
	}
	r.mu.Lock()
	for _, e := range r.exps {
		v := 0.0
		if r.stateAt(e, now) == StateRunning {
			v = 1
		}
		r.activeGauge.WithLabelValues(e.Name(), e.Spec.Target.String()).Set(v)
	}
	r.mu.Unlock()
	return max(next, 0), nil
}

// evaluate runs e's guard; an evaluation error fires it (an unwatched experiment stops).
func (r *Runner) evaluate(ctx context.Context, e *Experiment, now time.Time) (bool, string) {
	if r.opts.Prometheus == nil {
		return true, "no Prometheus configured to evaluate the guard"
	}
	v, warnings, err := promquery.Instant(ctx, r.opts.Prometheus, e.Spec.Guard.Query, now)
	if err != nil {
		r.log.Error("experiment guard failed", "experiment", e.Name(), "query", e.Spec.Guard.Query, "error", err)
		return true, "guard evaluation failed: " + err.Error()
	}
	if len(warnings) > 0 {
		r.log.Warn("experiment guard warnings", "experiment", e.Name(), "warnings", []string(warnings))
	}
	fired, value := judge(v)
	if !math.IsNaN(value) {
		r.guardValue.WithLabelValues(e.Name()).Set(value)
	}
	r.log.Debug("experiment guard evaluated", "experiment", e.Name(), "value", value, "fired", fired)
	if fired {
		return true, fmt.Sprintf("guard %q returned %g", e.Spec.Guard.Query, value)
	}
	return false, ""
}

// judge says whether a query result fires a guard and which value to report: a non-empty
// vector or matrix fires (value: the largest sample); a scalar fires when non-zero.
func judge(v model.Value) (bool, float64) {
	if x, ok := v.(*model.Scalar); ok {
		return float64(x.Value) != 0, float64(x.Value)
	}
	values, ok := promquery.Samples(v)
	if !ok {
		return false, math.NaN()
	}
	if len(values) == 0 {
		return false, 0
	}
	return true, promquery.Max(values)
}

// Run steps until ctx ends, sleeping until the next start, end or guard evaluation.
func (r *Runner) Run(ctx context.Context) error {
	for {
		wait, err := r.Step(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Error("experiment step failed; retrying", "error", err)
		}
		if wait > time.Hour {
			wait = time.Hour
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-r.opts.Clock.After(wait):
		}
	}
}
