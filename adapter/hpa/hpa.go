// Package hpa models the Kubernetes HorizontalPodAutoscaler v2 controller
// (pkg/controller/podautoscaler of Kubernetes v1.37) for one External metric
// with an AverageValue target, plus the pods of the scaled workload with a
// start-up delay. It is pure: time enters only as Unix-second timestamps, so
// a backtest or a shadow evaluation can replay any series through it.
//
// What is modelled, in the controller's order, at every sync:
//   - the scale subresource's replica count is the controller's own last
//     decision (the ReplicaSet creates and deletes pods well within a sync);
//   - the metric value and the target travel as milli-quantities;
//   - usage ratio = value / (target * status replicas); inside the tolerance
//     band [1-tolerance, 1+tolerance] the proposal is the current count,
//     otherwise ceil(value / target);
//   - a current count outside [min, max] is first brought back into range;
//   - stabilization: the proposal is clamped between the lowest
//     recommendation of the scale-up window and the highest of the
//     scale-down window (the current proposal included, and the initial
//     replica count recorded at the first sync);
//   - rate limits: per policy, the replica count at the start of the
//     policy's period (current minus scale-ups plus scale-downs within it)
//     gives the limit; the select policy (Max by default) picks among them;
//   - min and max replicas bound the result.
package hpa

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// PolicyType is the kind of a scaling policy: a number of pods or a percentage.
type PolicyType string

// Policy types, as in autoscaling/v2.
const (
	PodsPolicy    PolicyType = "Pods"
	PercentPolicy PolicyType = "Percent"
)

// SelectPolicy chooses among the limits of several policies.
type SelectPolicy string

// Select policies, as in autoscaling/v2.
const (
	// SelectMax allows the largest change (the default).
	SelectMax SelectPolicy = "Max"
	// SelectMin allows the smallest change.
	SelectMin SelectPolicy = "Min"
	// SelectDisabled forbids scaling in that direction.
	SelectDisabled SelectPolicy = "Disabled"
)

// Policy limits how much the replica count may change within Period.
type Policy struct {
	// Type is PodsPolicy or PercentPolicy.
	Type PolicyType
	// Value is the number of pods, or the percentage of the replica count at
	// the start of the period.
	Value int32
	// Period is the window over which past scale events count. Whole seconds.
	Period time.Duration
}

// Rules are the scaling rules for one direction (autoscaling/v2 HPAScalingRules).
type Rules struct {
	// StabilizationWindow is how far back recommendations are considered.
	StabilizationWindow time.Duration
	// Policies limit the rate of change.
	Policies []Policy
	// Select chooses among Policies. Empty means SelectMax.
	Select SelectPolicy
}

// Behavior holds the scale-up and scale-down rules.
type Behavior struct {
	// ScaleUp applies when the recommendation exceeds the current count.
	ScaleUp Rules
	// ScaleDown applies when the recommendation is below the current count.
	ScaleDown Rules
}

// DefaultBehavior returns the defaults of autoscaling/v2: scale up by at most
// max(100%, 4 pods) per 15 s with no stabilization; scale down by up to 100%
// per 15 s after a 300 s stabilization window.
func DefaultBehavior() Behavior {
	return Behavior{
		ScaleUp: Rules{
			StabilizationWindow: 0,
			Policies: []Policy{
				{Type: PodsPolicy, Value: 4, Period: 15 * time.Second},
				{Type: PercentPolicy, Value: 100, Period: 15 * time.Second},
			},
			Select: SelectMax,
		},
		ScaleDown: Rules{
			StabilizationWindow: 300 * time.Second,
			Policies: []Policy{
				{Type: PercentPolicy, Value: 100, Period: 15 * time.Second},
			},
			Select: SelectMax,
		},
	}
}

// Config describes one HPA with one External metric and an AverageValue target.
type Config struct {
	// Target is the AverageValue target: the metric value one replica should carry.
	Target float64
	// MinReplicas is the lower bound (default 1 when zero, unless ScaleToZero).
	MinReplicas int32
	// ScaleToZero keeps a MinReplicas of 0 (the HPAScaleToZero feature gate):
	// the metric then scales the target to and from zero.
	ScaleToZero bool
	// MaxReplicas is the upper bound. Required.
	MaxReplicas int32
	// Tolerance is the relative band around the target inside which nothing
	// changes. Default 0.1 (the controller's --horizontal-pod-autoscaler-tolerance).
	Tolerance float64
	// Behavior is the scaling behavior; the zero value means DefaultBehavior.
	Behavior *Behavior
	// SyncPeriod is the controller's resync period. Default 15s.
	SyncPeriod time.Duration
	// StartupDelay is how long a new pod takes before it serves load.
	StartupDelay time.Duration
}

// DefaultTolerance is the controller's default tolerance.
const DefaultTolerance = 0.1

// DefaultSyncPeriod is the controller's default resync period.
const DefaultSyncPeriod = 15 * time.Second

// SetDefaults sets c's zero fields to their defaults.
func (c *Config) SetDefaults() {
	if c.MinReplicas == 0 && !c.ScaleToZero {
		c.MinReplicas = 1
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.Behavior == nil {
		b := DefaultBehavior()
		c.Behavior = &b
	}
	if c.SyncPeriod == 0 {
		c.SyncPeriod = DefaultSyncPeriod
	}
}

// Validate reports the first invalid field of c (after defaults).
func (c Config) Validate() error {
	switch {
	case !(c.Target > 0) || math.IsInf(c.Target, 0):
		return fmt.Errorf("hpa: target %v must be a positive finite number", c.Target)
	case math.Round(c.Target*1000) < 1:
		return fmt.Errorf("hpa: target %v is below one milli-unit", c.Target)
	case c.MinReplicas < 0:
		return fmt.Errorf("hpa: minReplicas %d is negative", c.MinReplicas)
	case c.MaxReplicas < 1 || c.MaxReplicas < c.MinReplicas:
		return fmt.Errorf("hpa: maxReplicas %d must be at least 1 and at least minReplicas %d", c.MaxReplicas, c.MinReplicas)
	case c.Tolerance < 0 || c.Tolerance >= 1:
		return fmt.Errorf("hpa: tolerance %v must be in [0, 1)", c.Tolerance)
	case c.SyncPeriod < time.Second || c.SyncPeriod%time.Second != 0:
		return fmt.Errorf("hpa: sync period %v must be a positive whole number of seconds", c.SyncPeriod)
	case c.StartupDelay < 0 || c.StartupDelay%time.Second != 0:
		return fmt.Errorf("hpa: start-up delay %v must be a non-negative whole number of seconds", c.StartupDelay)
	case c.Behavior == nil:
		return errors.New("hpa: behavior is unset")
	}
	for dir, r := range map[string]Rules{"scaleUp": c.Behavior.ScaleUp, "scaleDown": c.Behavior.ScaleDown} {
		if r.StabilizationWindow < 0 || r.StabilizationWindow > time.Hour || r.StabilizationWindow%time.Second != 0 {
			return fmt.Errorf("hpa: %s stabilization window %v must be whole seconds in [0, 1h]", dir, r.StabilizationWindow)
		}
		switch r.Select {
		case "", SelectMax, SelectMin, SelectDisabled:
		default:
			return fmt.Errorf("hpa: %s select policy %q is unknown", dir, r.Select)
		}
		if len(r.Policies) == 0 && r.Select != SelectDisabled {
			return fmt.Errorf("hpa: %s has no policies", dir)
		}
		for i, p := range r.Policies {
			if p.Type != PodsPolicy && p.Type != PercentPolicy {
				return fmt.Errorf("hpa: %s policy %d: type %q is unknown", dir, i, p.Type)
			}
			if p.Value <= 0 || p.Period < time.Second || p.Period > 30*time.Minute || p.Period%time.Second != 0 {
				return fmt.Errorf("hpa: %s policy %d: value %d must be positive and period %v whole seconds in [1s, 30m]", dir, i, p.Value, p.Period)
			}
		}
	}
	return nil
}

type recommendation struct {
	replicas int32
	at       int64
}

type scaleEvent struct {
	change int32
	at     int64
}

// Decision is the outcome of one sync of the controller.
type Decision struct {
	// Current is the replica count before the sync.
	Current int32
	// Proposal is the metric's proposal before stabilization and limits
	// (equal to Current when the ratio was inside the tolerance).
	Proposal int32
	// Desired is the replica count after the sync.
	Desired int32
	// Rescaled reports that Desired differs from Current and the scale was updated.
	Rescaled bool
}

// Controller is the state the HPA controller keeps for one HPA: the scale's
// replica count, past recommendations and past scale events.
type Controller struct {
	cfg         Config
	targetMilli int64
	replicas    int32
	recs        []recommendation // recs[head:] are live, in time order
	head        int
	ups, downs  []scaleEvent
	initialised bool
}

// NewController returns a controller for cfg whose target currently has
// replicas replicas. cfg gets its defaults applied and is validated.
func NewController(cfg Config, replicas int32) (*Controller, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if replicas < 0 {
		return nil, fmt.Errorf("hpa: initial replicas %d is negative", replicas)
	}
	return &Controller{cfg: cfg, targetMilli: int64(math.Round(cfg.Target * 1000)), replicas: replicas}, nil
}

// Config returns the controller's configuration with defaults applied.
func (c *Controller) Config() Config { return c.cfg }

// Replicas returns the scale's current replica count.
func (c *Controller) Replicas() int32 { return c.replicas }

// toMilli converts a metric value as the metrics API's Quantity.MilliValue
// does: rounded up to a whole milli-unit.
func toMilli(v float64) int64 {
	m := math.Ceil(v * 1000)
	switch {
	case m >= math.MaxInt64/2:
		return math.MaxInt64 / 2
	case m <= 0:
		return 0
	}
	return int64(m)
}

// Proposal returns the replica proposal of GetExternalPerPodMetricReplicas
// for the summed metric value when the scale's status shows status replicas.
func (c *Controller) Proposal(value float64, status int32) int32 {
	usage := toMilli(value)
	ratio := float64(usage) / (float64(c.targetMilli) * float64(status))
	if status > 0 && ratio >= 1-c.cfg.Tolerance && ratio <= 1+c.cfg.Tolerance {
		return status
	}
	p := math.Ceil(float64(usage) / float64(c.targetMilli))
	if p > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(p)
}

// Sync runs one reconciliation at Unix-second now with the External metric's
// current value (the sum over the returned series). Calls must be in time order.
func (c *Controller) Sync(now int64, value float64) Decision {
	current := c.replicas
	if !c.initialised {
		c.recs = append(c.recs, recommendation{replicas: current, at: now})
		c.initialised = true
	}
	d := Decision{Current: current, Proposal: current, Desired: current}
	switch {
	case current == 0 && c.cfg.MinReplicas != 0:
		// Scaling is disabled while the target is scaled to zero.
		return d
	case current > c.cfg.MaxReplicas:
		d.Desired = c.cfg.MaxReplicas
	case current < c.cfg.MinReplicas:
		d.Desired = c.cfg.MinReplicas
	default:
		d.Proposal = c.Proposal(value, current)
		stabilized := c.stabilize(now, current, d.Proposal)
		d.Desired = c.limitRate(now, current, stabilized)
	}
	if d.Desired != current {
		d.Rescaled = true
		c.storeEvent(now, current, d.Desired)
		c.replicas = d.Desired
	}
	return d
}

// stabilize clamps the proposal between the lowest recommendation of the
// scale-up window and the highest of the scale-down window, then records it.
func (c *Controller) stabilize(now int64, current, proposal int32) int32 {
	upCutoff := now - int64(c.cfg.Behavior.ScaleUp.StabilizationWindow/time.Second)
	downCutoff := now - int64(c.cfg.Behavior.ScaleDown.StabilizationWindow/time.Second)
	// Recommendations are in time order: forget those older than both
	// windows, which can no longer matter.
	oldest := min(upCutoff, downCutoff)
	for c.head < len(c.recs) && c.recs[c.head].at < oldest {
		c.head++
	}
	// Compact once the dropped prefix dominates: amortised O(1) per sync
	// with a bounded backing array.
	if c.head > 64 && c.head > len(c.recs)/2 {
		c.recs = append(c.recs[:0], c.recs[c.head:]...)
		c.head = 0
	}
	live := c.recs[c.head:]
	// The controller clamps the current count between the lowest
	// recommendation of the scale-up window and the highest of the
	// scale-down window, both including the new proposal. Only one bound can
	// bind: the lower one when the proposal is above the current count, the
	// upper one when it is below.
	rec := current
	switch {
	case proposal > current:
		up := proposal
		for _, r := range live {
			if r.at > upCutoff {
				up = min(up, r.replicas)
			}
		}
		rec = max(rec, up)
	case proposal < current:
		down := proposal
		for _, r := range live {
			if r.at > downCutoff {
				down = max(down, r.replicas)
			}
		}
		rec = min(rec, down)
	}
	c.recs = append(c.recs, recommendation{replicas: proposal, at: now})
	return rec
}

// limitRate applies the behavior's scaling policies and the min/max bounds.
func (c *Controller) limitRate(now int64, current, desired int32) int32 {
	switch {
	case desired > current:
		limit := c.policyLimit(now, current, c.cfg.Behavior.ScaleUp, true)
		if limit < current {
			limit = current
		}
		maxAllowed := min(c.cfg.MaxReplicas, limit)
		if desired > maxAllowed {
			return maxAllowed
		}
	case desired < current:
		limit := c.policyLimit(now, current, c.cfg.Behavior.ScaleDown, false)
		if limit > current {
			limit = current
		}
		minAllowed := max(c.cfg.MinReplicas, limit)
		if desired < minAllowed {
			return minAllowed
		}
	}
	return desired
}

// policyLimit returns the highest (scale-up) or lowest (scale-down) replica
// count the policies allow now.
func (c *Controller) policyLimit(now int64, current int32, r Rules, up bool) int32 {
	sel := r.Select
	if sel == "" {
		sel = SelectMax
	}
	if sel == SelectDisabled {
		return current
	}
	// For scale-up "Max" picks the largest count; for scale-down it picks the
	// smallest count (the largest change).
	pickLargest := (sel == SelectMax) == up
	var result int32
	if pickLargest {
		result = math.MinInt32
	} else {
		result = math.MaxInt32
	}
	for _, p := range r.Policies {
		cutoff := now - int64(p.Period/time.Second)
		start := current - changeSince(c.ups, cutoff) + changeSince(c.downs, cutoff)
		var proposed int32
		switch {
		case up && p.Type == PodsPolicy:
			proposed = start + p.Value
		case up && p.Type == PercentPolicy:
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		case !up && p.Type == PodsPolicy:
			proposed = start - p.Value
		default:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		if pickLargest {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

// changeSince sums the replica changes of events strictly after cutoff.
func changeSince(events []scaleEvent, cutoff int64) int32 {
	var sum int32
	for _, e := range events {
		if e.at > cutoff {
			sum += e.change
		}
	}
	return sum
}

// storeEvent records a scale event and forgets those older than the longest
// policy period of its direction.
func (c *Controller) storeEvent(now int64, prev, next int32) {
	if next > prev {
		c.ups = appendEvent(c.ups, now, next-prev, longestPeriod(c.cfg.Behavior.ScaleUp))
	} else {
		c.downs = appendEvent(c.downs, now, prev-next, longestPeriod(c.cfg.Behavior.ScaleDown))
	}
}

func appendEvent(events []scaleEvent, now int64, change int32, keep int64) []scaleEvent {
	kept := events[:0]
	for _, e := range events {
		if e.at >= now-keep {
			kept = append(kept, e)
		}
	}
	return append(kept, scaleEvent{change: change, at: now})
}

func longestPeriod(r Rules) int64 {
	var longest time.Duration
	for _, p := range r.Policies {
		longest = max(longest, p.Period)
	}
	return int64(longest / time.Second)
}

// Pods models the pods of the scaled workload: a new pod serves load only
// StartupDelay after it was created; a scale-down removes the newest pods
// first (not-ready pods before ready ones, as the ReplicaSet controller does).
type Pods struct {
	startup int64
	readyAt []int64 // ascending
}

// NewPods returns n pods that are all ready at now.
func NewPods(n int32, startupDelay time.Duration, now int64) *Pods {
	p := &Pods{startup: int64(startupDelay / time.Second)}
	for range n {
		p.readyAt = append(p.readyAt, now)
	}
	return p
}

// Scale sets the number of pods at now: new pods start, surplus pods go.
func (p *Pods) Scale(now int64, replicas int32) {
	n := int(replicas)
	for len(p.readyAt) < n {
		p.readyAt = append(p.readyAt, now+p.startup)
	}
	if len(p.readyAt) > n {
		p.readyAt = p.readyAt[:n]
	}
}

// Total returns the number of pods, starting ones included.
func (p *Pods) Total() int32 { return int32(len(p.readyAt)) }

// Ready returns the number of pods serving load at now.
func (p *Pods) Ready(now int64) int32 {
	lo, hi := 0, len(p.readyAt)
	for lo < hi {
		mid := (lo + hi) / 2
		if p.readyAt[mid] <= now {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return int32(lo)
}
