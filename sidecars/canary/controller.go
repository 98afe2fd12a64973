// Package canary drives the canary rollouts a traffic policy declares: it moves a route's
// weight from the stable backend to the canary backend step by step, measures the canary's
// analysis metrics in Prometheus at an interval, rolls back at once when more measurements
// failed than the rollout tolerates, and promotes the canary when every step passed. Its
// state (step, analysis history, outcome) is written atomically to a file after every
// change, so a restarted control plane resumes at the same step and never forgets an abort.
package canary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-dev/foresight/internal/atomicfile"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/promquery"
)

// Phases of a rollout, the values of the phase label of foresight_canary_phase.
const (
	PhaseProgressing = "progressing"
	PhasePaused      = "paused"
	PhasePromoted    = "promoted"
	PhaseFailed      = "failed"
	PhaseAborted     = "aborted"
)

var allPhases = []string{PhaseProgressing, PhasePaused, PhasePromoted, PhaseFailed, PhaseAborted}

// Results of a measurement and of each metric in it.
const (
	ResultSuccessful   = "successful"
	ResultFailed       = "failed"
	ResultInconclusive = "inconclusive"
)

// HistoryLimit bounds the measurements kept per rollout (the newest are kept).
const HistoryLimit = 32

// MetricResult is one metric of one measurement.
type MetricResult struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	// Value is the sample furthest outside the thresholds (or the last one when all are
	// within); absent when the query returned nothing or failed.
	Value  *float64 `json:"value,omitempty"`
	DryRun bool     `json:"dryRun,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// Measurement is one evaluation of a rollout's analysis.
type Measurement struct {
	At      time.Time      `json:"at"`
	Step    int            `json:"step"`
	Weight  uint32         `json:"weight"`
	Result  string         `json:"result"`
	Metrics []MetricResult `json:"metrics"`
}

// State is where one rollout stands; it is what the state file holds per canary.
type State struct {
	// Key identifies the rollout (route, stable, canary): a changed key is a new rollout,
	// unless Identity says otherwise.
	Key string `json:"key"`
	// Identity, for a canary with one (policy.Canary.Identity), is its route and identity:
	// where both the state and the canary have one, it decides instead of Key, so that a
	// rename of the services keeps the rollout. Key still follows the names, for versions
	// that know no identities.
	Identity string `json:"identity,omitempty"`
	Phase    string `json:"phase"`
	// Step is the index of the current step (len(steps) once promoted).
	Step int `json:"step"`
	// Weight is the canary's share served now.
	Weight       uint32    `json:"weight"`
	StepStarted  time.Time `json:"stepStarted"`
	NextAnalysis time.Time `json:"nextAnalysis"`
	// Failures counts failed measurements of the rollout; Consecutive the successful ones
	// in a row in the current step.
	Failures    int `json:"failures"`
	Consecutive int `json:"consecutive"`
	// Stable is the service that is stable once the rollout ended: the canary after a
	// promotion, the old stable after a rollback.
	Stable  string        `json:"stable,omitempty"`
	Reason  string        `json:"reason,omitempty"`
	Updated time.Time     `json:"updated"`
	History []Measurement `json:"history,omitempty"`
}

// Terminal reports whether the rollout ended.
func (s *State) Terminal() bool {
	return s.Phase == PhasePromoted || s.Phase == PhaseFailed || s.Phase == PhaseAborted
}

// Key identifies a rollout of c by its route and services.
func Key(c *policy.Canary) string { return c.Route + "/" + c.Stable + "->" + c.Canary }

// identityKey identifies a rollout of c by its route and Identity ("" without one).
func identityKey(c *policy.Canary) string {
	if c.Identity == "" {
		return ""
	}
	return c.Route + "/" + c.Identity
}

// isRolloutOf says whether st is a rollout of c: by their identities where both have one,
// else by Key (a state saved before identities, or a canary without one).
func isRolloutOf(st *State, c *policy.Canary) bool {
	if st == nil {
		return false
	}
	if id := identityKey(c); id != "" && st.Identity != "" {
		return st.Identity == id
	}
	return st.Key == Key(c)
}

// Overlay changes a policy before translation; see Controller.Overlay.
type Overlay = func(*policy.Policy) (*policy.Policy, error)

// Options configure a Controller.
type Options struct {
	// Clock is the time source; promquery.RealClock when nil.
	Clock promquery.Clock
	// Prometheus evaluates analysis metrics; without it every measurement of a canary with
	// metrics fails (an unwatched canary does not advance).
	Prometheus promquery.Querier
	// StatePath is the state file ("" keeps the state in memory only).
	StatePath string
	// Policy returns the policy whose canaries are driven (the last good one).
	Policy func() *policy.Policy
	// Apply serves the policy with the given overlay; called whenever a weight changes.
	Apply func(ctx context.Context, overlay Overlay) error
	// Logger receives a line for every transition; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the canary metrics; a private registry when nil.
	Registerer prometheus.Registerer
	// Leading says whether this replica drives the rollouts; nil: it always does. One that
	// does not lead serves the weights of the state it is given (Reload) and refuses manual
	// actions with ErrNotLeader.
	Leading func() bool
	// Leader names the replica that leads, for ErrNotLeader's message; nil or "": unknown.
	Leader func() string
	// OnChange, when set, is called after a rollout's phase, step, weight, failures or reason
	// changed (or a rollout started), outside the controller's lock.
	OnChange func()
}

// Controller drives the canaries of a policy.
type Controller struct {
	opts Options
	log  *slog.Logger
	m    metrics

	mu      sync.Mutex
	states  map[string]*State // by canary name
	applied string            // fingerprint of the weights last applied
	told    string            // fingerprint of the rollouts OnChange was last called for
}

// New returns a Controller, loading its state from opts.StatePath.
func New(opts Options) (*Controller, error) {
	if opts.Clock == nil {
		opts.Clock = promquery.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Apply == nil || opts.Policy == nil {
		return nil, errors.New("canary: Options.Apply and Options.Policy are required")
	}
	c := &Controller{opts: opts, log: opts.Logger, m: newMetrics(), states: map[string]*State{}}
	if err := c.m.register(opts.Registerer); err != nil {
		return nil, err
	}
	states, err := c.load()
	if err != nil {
		return nil, err
	}
	c.states = states
	return c, nil
}

// load reads the rollouts' states from the state file (none without one).
func (c *Controller) load() (map[string]*State, error) {
	states := map[string]*State{}
	if c.opts.StatePath == "" {
		return states, nil
	}
	if err := atomicfile.ReadJSON(c.opts.StatePath, &states); err != nil {
		return nil, fmt.Errorf("canary: state: %w", err)
	}
	if states == nil { // the file held null
		states = map[string]*State{}
	}
	return states, nil
}

// leading says whether this replica drives the rollouts.
func (c *Controller) leading() bool { return c.opts.Leading == nil || c.opts.Leading() }

// leader names the replica that leads, or "".
func (c *Controller) leader() string {
	if c.opts.Leader == nil {
		return ""
	}
	return c.opts.Leader()
}

// Reload reads the state file again, as the leader wrote it, and serves its weights.
func (c *Controller) Reload(ctx context.Context) error {
	states, err := c.load()
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.states = states
	if p := c.opts.Policy(); p != nil {
		c.updateMetrics(p)
	}
	c.mu.Unlock()
	c.tell()
	return c.apply(ctx)
}

// save writes the state file; called with c.mu held.
func (c *Controller) save() error {
	if c.opts.StatePath == "" {
		return nil
	}
	return atomicfile.WriteJSON(c.opts.StatePath, c.states)
}

// State returns a copy of the named rollout's state, or nil.
func (c *Controller) State(name string) *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.states[name]
	if st == nil {
		return nil
	}
	cp := *st
	cp.History = slices.Clone(st.History)
	return &cp
}

// States returns copies of every rollout's state, by canary name.
func (c *Controller) States() map[string]*State {
	c.mu.Lock()
	names := make([]string, 0, len(c.states))
	for n := range c.states {
		names = append(names, n)
	}
	c.mu.Unlock()
	out := make(map[string]*State, len(names))
	for _, n := range names {
		if st := c.State(n); st != nil {
			out[n] = st
		}
	}
	return out
}

// Overlay sets the weights of every canary's route to the weights its rollout serves now,
// and while the rollout runs, puts the routes of the canary's headers before them. A canary
// without a state yet (or whose key changed) leaves its route as the policy has it.
func (c *Controller) Overlay(p *policy.Policy) (*policy.Policy, error) {
	c.mu.Lock()
	type set struct {
		can     *policy.Canary
		weight  uint32
		running bool
	}
	var sets []set
	for i := range p.Spec.Canaries {
		can := &p.Spec.Canaries[i]
		if st := c.states[can.Name]; isRolloutOf(st, can) {
			sets = append(sets, set{can, st.Weight, !st.Terminal()})
		}
	}
	c.mu.Unlock()
	for _, s := range sets {
		next, err := p.WithCanaryWeight(s.can, s.weight)
		if err == nil && s.running {
			next, err = next.WithCanaryHeaderRoutes(s.can)
		}
		if err != nil {
			return nil, err
		}
		p = next
	}
	return p, nil
}

// Restore serves the weights of the persisted rollouts without measuring anything; call it
// once after the policy is loaded and before clients connect, so a restart resumes at the
// same weights.
func (c *Controller) Restore(ctx context.Context) error {
	return c.apply(ctx)
}

// Current is the state of the named rollout when the policy declares it now (the same
// route, stable and canary), else nil.
func (c *Controller) Current(name string) *State {
	can := policyCanary(c.opts.Policy(), name)
	if can == nil {
		return nil
	}
	if st := c.State(name); isRolloutOf(st, can) {
		return st
	}
	return nil
}

// tell calls OnChange when a rollout changed since it was last called.
func (c *Controller) tell() {
	if c.opts.OnChange == nil {
		return
	}
	c.mu.Lock()
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(c.states)) {
		st := c.states[n]
		fmt.Fprintf(&b, "%s=%s:%s:%s:%d:%d:%d:%s;", n, st.Key, st.Identity, st.Phase, st.Step, st.Weight, st.Failures, st.Reason)
	}
	changed := b.String() != c.told
	c.told = b.String()
	c.mu.Unlock()
	if changed {
		c.opts.OnChange()
	}
}

// policyCanary is p's canary name, or nil (also without a policy).
func policyCanary(p *policy.Policy, name string) *policy.Canary {
	if p == nil {
		return nil
	}
	return p.Canary(name)
}

// apply serves the overlay when the weights, or the header routes served (those of the
// running rollouts of canaries with headers), changed since the last apply.
func (c *Controller) apply(ctx context.Context) error {
	p := c.opts.Policy()
	c.mu.Lock()
	fp := ""
	for _, n := range slices.Sorted(maps.Keys(c.states)) {
		st := c.states[n]
		fp += n + "=" + st.Key + ":" + strconv.FormatUint(uint64(st.Weight), 10)
		if can := policyCanary(p, n); can != nil && len(can.Headers) > 0 && !st.Terminal() {
			fp += ":headers"
		}
		fp += ";"
	}
	changed := fp != c.applied
	c.mu.Unlock()
	if !changed {
		return nil
	}
	if err := c.opts.Apply(ctx, c.Overlay); err != nil {
		return fmt.Errorf("canary: serve weights: %w", err)
	}
	c.mu.Lock()
	c.applied = fp
	c.mu.Unlock()
	return nil
}

// Step brings every rollout up to date at the clock's current time: starts new rollouts,
// measures due analyses, rolls back, advances or promotes, persists and serves the weights.
// It returns when the next step is due.
func (c *Controller) Step(ctx context.Context) (time.Duration, error) {
	p := c.opts.Policy()
	if p == nil {
		return time.Second, nil
	}
	if !c.leading() {
		// The leader's state comes through Reload; a policy reload still needs its weights.
		c.mu.Lock()
		c.updateMetrics(p)
		c.mu.Unlock()
		return MaxWait, c.apply(ctx)
	}
	now := c.opts.Clock.Now()
	next := time.Hour
	dirty := false
	for i := range p.Spec.Canaries {
		can := &p.Spec.Canaries[i]
		c.mu.Lock()
		st := c.states[can.Name]
		if isRolloutOf(st, can) && (st.Key != Key(can) || st.Identity != identityKey(can)) {
			// Renamed services, or a state saved before identities: the same rollout.
			st.Key, st.Identity, dirty = Key(can), identityKey(can), true
		}
		if !isRolloutOf(st, can) {
			st = &State{Key: Key(can), Identity: identityKey(can), Phase: PhaseProgressing, Weight: can.Steps[0].Weight,
				StepStarted: now, NextAnalysis: now.Add(can.AnalysisInterval()), Updated: now}
			c.states[can.Name] = st
			dirty = true
			c.log.Info("canary started", "canary", can.Name, "route", can.Route, "stable", can.Stable, "canary_service", can.Canary, "weight", st.Weight)
		}
		terminal := st.Terminal()
		if !terminal {
			// A reload may have changed the steps of a running rollout: stay within them and
			// serve the current step's weight as declared now.
			st.Step = min(st.Step, len(can.Steps)-1)
			if w := can.Steps[st.Step].Weight; w != st.Weight {
				st.Weight, dirty = w, true
			}
		}
		due := !terminal && !now.Before(st.NextAnalysis)
		c.mu.Unlock()
		if terminal {
			continue
		}
		var meas *Measurement
		if due && len(can.Analysis.Metrics) > 0 {
			m := c.measure(ctx, can, st, now)
			if ctx.Err() != nil {
				// Stopping: a query cut short says nothing about the canary. The
				// analysis stays due, for the next run to measure.
				continue
			}
			meas = &m
		}
		c.mu.Lock()
		if st.Terminal() { // a manual action while measuring wins
			c.mu.Unlock()
			continue
		}
		if due {
			st.NextAnalysis = now.Add(can.AnalysisInterval())
			dirty = true
		}
		if meas != nil {
			c.record(can, st, *meas)
		}
		if st.Phase == PhaseProgressing && c.mayAdvance(can, st, now) {
			c.advance(can, st, now, "every step passed")
			dirty = true
		}
		if !st.Terminal() {
			next = min(next, st.NextAnalysis.Sub(now))
			if st.Phase == PhaseProgressing {
				next = min(next, st.StepStarted.Add(can.Steps[st.Step].Pause.D()).Sub(now))
			}
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.updateMetrics(p)
	var saveErr error
	if dirty {
		saveErr = c.save()
	}
	c.mu.Unlock()
	if saveErr != nil {
		c.log.Error("could not persist canary state", "error", saveErr)
	}
	c.tell()
	if err := c.apply(ctx); err != nil {
		c.log.Error("could not serve canary weights", "error", err)
		return min(max(next, 0), time.Second), err
	}
	return max(next, 0), saveErr
}

// mayAdvance says whether the current step held long enough and its analysis passed;
// called with c.mu held.
func (c *Controller) mayAdvance(can *policy.Canary, st *State, now time.Time) bool {
	if now.Before(st.StepStarted.Add(can.Steps[st.Step].Pause.D())) {
		return false
	}
	decisive := slices.ContainsFunc(can.Analysis.Metrics, func(m policy.AnalysisMetric) bool { return !m.DryRun })
	return !decisive || st.Consecutive >= can.SuccessesPerStep()
}

// advance moves to the next step, or promotes with reason after the last; called with c.mu
// held.
func (c *Controller) advance(can *policy.Canary, st *State, now time.Time, reason string) {
	st.Step++
	st.Consecutive = 0
	st.StepStarted = now
	st.Updated = now
	if st.Step >= len(can.Steps) {
		c.finish(can, st, PhasePromoted, reason, now)
		return
	}
	st.Weight = can.Steps[st.Step].Weight
	c.log.Info("canary advanced", "canary", can.Name, "step", st.Step, "weight", st.Weight)
}

// finish ends a rollout: promoted (canary at 100%, now the stable) or failed/aborted
// (canary at 0%); called with c.mu held.
func (c *Controller) finish(can *policy.Canary, st *State, phase, reason string, now time.Time) {
	st.Phase, st.Reason, st.Updated = phase, reason, now
	if phase == PhasePromoted {
		st.Step, st.Weight, st.Stable = len(can.Steps), 100, can.Canary
		c.log.Info("canary promoted", "canary", can.Name, "stable", can.Canary, "reason", reason)
	} else {
		st.Weight, st.Stable = 0, can.Stable
		c.log.Warn("canary rolled back", "canary", can.Name, "phase", phase, "stable", can.Stable, "reason", reason)
	}
	c.m.outcomes.WithLabelValues(can.Name, phase).Inc()
}

// record adds a measurement and rolls back when the failures exceed the limit; called with
// c.mu held.
func (c *Controller) record(can *policy.Canary, st *State, m Measurement) {
	st.History = append(st.History, m)
	if n := len(st.History) - HistoryLimit; n > 0 {
		st.History = slices.Delete(st.History, 0, n)
	}
	c.m.analyses.WithLabelValues(can.Name, m.Result).Inc()
	for _, r := range m.Metrics {
		if r.Value != nil {
			c.m.value.WithLabelValues(can.Name, r.Name).Set(*r.Value)
		}
		c.m.metricResults.WithLabelValues(can.Name, r.Name, r.Result).Inc()
	}
	switch m.Result {
	case ResultSuccessful:
		st.Consecutive++
	case ResultInconclusive:
		st.Consecutive = 0
	case ResultFailed:
		st.Consecutive = 0
		st.Failures++
		if st.Failures > can.Analysis.FailureLimit {
			c.finish(can, st, PhaseFailed, fmt.Sprintf("%d failed measurements, more than failureLimit %d; last: %s",
				st.Failures, can.Analysis.FailureLimit, failedMetrics(m)), m.At)
		}
	}
}

func failedMetrics(m Measurement) string {
	s := ""
	for _, r := range m.Metrics {
		if r.Result != ResultFailed || r.DryRun {
			continue
		}
		if s != "" {
			s += "; "
		}
		switch {
		case r.Error != "":
			s += r.Name + ": " + r.Error
		case r.Value != nil:
			s += fmt.Sprintf("%s = %g", r.Name, *r.Value)
		default:
			s += r.Name
		}
	}
	return s
}

// measure evaluates every analysis metric of can at now. The measurement fails when a
// decisive metric fails (out of its thresholds, or its query failed), is inconclusive when
// one returned nothing, and succeeds otherwise. Dry-run metrics are reported only.
func (c *Controller) measure(ctx context.Context, can *policy.Canary, st *State, now time.Time) Measurement {
	c.mu.Lock()
	m := Measurement{At: now, Step: st.Step, Weight: st.Weight, Result: ResultSuccessful}
	c.mu.Unlock()
	inconclusive := false
	for _, am := range can.Analysis.Metrics {
		r := c.evaluate(ctx, can, am, now)
		m.Metrics = append(m.Metrics, r)
		if am.DryRun {
			continue
		}
		switch r.Result {
		case ResultFailed:
			m.Result = ResultFailed
		case ResultInconclusive:
			inconclusive = true
		}
	}
	if inconclusive && m.Result != ResultFailed {
		m.Result = ResultInconclusive
	}
	c.log.Info("canary analysis", "canary", can.Name, "step", m.Step, "weight", m.Weight, "result", m.Result)
	return m
}

// evaluate runs one metric's query and judges it against its thresholds.
func (c *Controller) evaluate(ctx context.Context, can *policy.Canary, am policy.AnalysisMetric, now time.Time) MetricResult {
	r := MetricResult{Name: am.Name, DryRun: am.DryRun}
	if c.opts.Prometheus == nil {
		r.Result, r.Error = ResultFailed, "no Prometheus configured to evaluate the analysis"
		return r
	}
	v, warnings, err := promquery.Instant(ctx, c.opts.Prometheus, am.Query, now)
	if err != nil {
		c.log.Error("canary analysis query failed", "canary", can.Name, "metric", am.Name, "error", err)
		r.Result, r.Error = ResultFailed, "query failed: "+err.Error()
		return r
	}
	if len(warnings) > 0 {
		c.log.Warn("canary analysis warnings", "canary", can.Name, "metric", am.Name, "warnings", []string(warnings))
	}
	values, ok := promquery.Samples(v)
	values = slices.DeleteFunc(values, math.IsNaN)
	if !ok || len(values) == 0 {
		r.Result = ResultInconclusive
		return r
	}
	r.Result = ResultSuccessful
	for _, x := range values {
		out := (am.Min != nil && x < *am.Min) || (am.Max != nil && x > *am.Max)
		if out || r.Result == ResultSuccessful {
			x := x
			r.Value = &x
		}
		if out {
			r.Result = ResultFailed
			break
		}
	}
	return r
}

// ErrUnknown is returned by the manual actions for a canary the controller does not drive.
var ErrUnknown = errors.New("no such canary")

// ErrEnded is returned by the manual actions for a rollout that already ended.
var ErrEnded = errors.New("rollout already ended")

// ErrNotLeader is returned by the manual actions on a replica that does not lead.
var ErrNotLeader = errors.New("this control plane replica does not lead the rollouts: send the action to the leader, the holder of the control plane's Lease (its pod name, then _ and a suffix)")

// Pause holds the rollout at its current weight; analysis goes on and can still roll back.
func (c *Controller) Pause(ctx context.Context, name string) error {
	return c.act(ctx, name, func(_ *policy.Canary, st *State, _ time.Time) error {
		if st.Phase == PhasePaused {
			return nil
		}
		st.Phase = PhasePaused
		return nil
	})
}

// Resume continues a paused rollout; the current step's pause starts again.
func (c *Controller) Resume(ctx context.Context, name string) error {
	return c.act(ctx, name, func(_ *policy.Canary, st *State, now time.Time) error {
		if st.Phase == PhasePaused {
			st.Phase, st.StepStarted = PhaseProgressing, now
		}
		return nil
	})
}

// Abort rolls the canary back to 0% at once.
func (c *Controller) Abort(ctx context.Context, name string) error {
	return c.act(ctx, name, func(can *policy.Canary, st *State, now time.Time) error {
		c.finish(can, st, PhaseAborted, "aborted by an operator", now)
		return nil
	})
}

// Advance moves a rollout to its next step at once, whatever the current step's pause and
// analysis say, and promotes it from its last step; a paused rollout goes on from there.
// It is the manual gate of a header-only phase: testers check the canary, then an operator
// lets the weights start.
func (c *Controller) Advance(ctx context.Context, name string) error {
	return c.act(ctx, name, func(can *policy.Canary, st *State, now time.Time) error {
		st.Phase = PhaseProgressing
		c.advance(can, st, now, "advanced past the last step by an operator")
		return nil
	})
}

// Promote sends all traffic to the canary at once and makes it the stable.
func (c *Controller) Promote(ctx context.Context, name string) error {
	return c.act(ctx, name, func(can *policy.Canary, st *State, now time.Time) error {
		c.finish(can, st, PhasePromoted, "promoted by an operator", now)
		return nil
	})
}

// act applies a manual action to a running rollout, persists it and serves the weights.
func (c *Controller) act(ctx context.Context, name string, f func(*policy.Canary, *State, time.Time) error) error {
	if !c.leading() {
		if who := c.leader(); who != "" {
			return fmt.Errorf("canary %q: %w (the leader is %s)", name, ErrNotLeader, who)
		}
		return fmt.Errorf("canary %q: %w", name, ErrNotLeader)
	}
	p := c.opts.Policy()
	var can *policy.Canary
	if p != nil {
		can = p.Canary(name)
	}
	c.mu.Lock()
	st := c.states[name]
	if can == nil || !isRolloutOf(st, can) {
		c.mu.Unlock()
		return fmt.Errorf("canary %q: %w", name, ErrUnknown)
	}
	if st.Terminal() {
		c.mu.Unlock()
		return fmt.Errorf("canary %q: %w (%s: %s)", name, ErrEnded, st.Phase, st.Reason)
	}
	now := c.opts.Clock.Now()
	err := f(can, st, now)
	st.Updated = now
	if err == nil {
		err = c.save()
		c.updateMetrics(p)
	}
	phase := st.Phase // read under the lock: Step changes it
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.log.Info("canary manual action", "canary", name, "phase", phase)
	c.tell()
	return c.apply(ctx)
}

// MaxWait bounds the sleep of Run, so canaries a policy reload adds start soon.
const MaxWait = 2 * time.Second

// Run steps until ctx ends, sleeping until the next measurement or step is due (MaxWait at
// most).
func (c *Controller) Run(ctx context.Context) error {
	for {
		wait, err := c.Step(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Error("canary step failed; retrying", "error", err)
		}
		wait = min(wait, MaxWait)
		select {
		case <-ctx.Done():
			return nil
		case <-c.opts.Clock.After(wait):
		}
	}
}
