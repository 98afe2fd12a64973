// Package cost turns predicted load into a cost-weighted replica demand that a
// plain HPA can target (DESIGN.md section 4), and tracks the replica prices it
// needs from OpenCost/Kubecost metrics.
//
// The HPA is a proportional controller, so a dollar figure cannot be its
// target. Cost enters as a weight on load instead:
//
//	u(r) = clamp(u0 * r^a, umin, umax)
//	V    = L / (k * u(r) * (1 - q*f))
//
// with L the predicted load, k the load one replica serves at full
// utilisation, r the marginal replica price over a reference price, f the
// share of the workload's pods on spot nodes and q the interruption discount.
// Served as an External metric with target AverageValue 1, desired replicas
// are ceil(V): cheap capacity buys headroom, expensive capacity runs hotter,
// never above umax.
package cost

import (
	"errors"
	"fmt"
	"math"
)

// Params are the cost-weighting parameters of one metric rule.
type Params struct {
	// Capacity is the load one replica serves at 100% utilisation (k). Required.
	Capacity float64 `json:"capacity"`
	// TargetUtilization is u0, the utilisation targeted when the replica price
	// equals the reference price. Default 0.7.
	TargetUtilization float64 `json:"targetUtilization,omitempty"`
	// Elasticity is a, how strongly utilisation follows price. Default 0.5.
	Elasticity float64 `json:"elasticity,omitempty"`
	// MinUtilization is umin, the lowest utilisation targeted however cheap capacity is. Default 0.5.
	MinUtilization float64 `json:"minUtilization,omitempty"`
	// MaxUtilization is umax, the highest utilisation targeted however dear capacity is. Default 0.9.
	MaxUtilization float64 `json:"maxUtilization,omitempty"`
	// ReferencePrice is the hourly replica price at which u = u0. Zero means
	// the lowest price the tracker observed over its window, so that dearer
	// capacity runs hotter than u0 and the cheapest runs at u0.
	ReferencePrice float64 `json:"referencePrice,omitempty"`
	// InterruptionDiscount is q: the share of a spot replica's capacity that is
	// discounted for the risk of interruption. Default 0.
	InterruptionDiscount float64 `json:"interruptionDiscount,omitempty"`
}

// Defaults of Params.
const (
	// DefaultTargetUtilization is u0, the HPA's customary 70%.
	DefaultTargetUtilization = 0.7
	// DefaultElasticity is a = 1/2: minimising sum(price * load / u) at a
	// fixed sum of load * u (risk growing linearly with utilisation) gives
	// u proportional to the square root of the price.
	DefaultElasticity = 0.5
	// DefaultMinUtilization is umin.
	DefaultMinUtilization = 0.5
	// DefaultMaxUtilization is umax.
	DefaultMaxUtilization = 0.9
)

// SetDefaults sets p's unset fields to their defaults.
func (p *Params) SetDefaults() {
	if p.TargetUtilization == 0 {
		p.TargetUtilization = DefaultTargetUtilization
	}
	if p.Elasticity == 0 {
		p.Elasticity = DefaultElasticity
	}
	if p.MinUtilization == 0 {
		p.MinUtilization = DefaultMinUtilization
	}
	if p.MaxUtilization == 0 {
		p.MaxUtilization = DefaultMaxUtilization
	}
}

// maxUtilization bounds the utilisation parameters. L is usually an upper
// quantile of the coming peak rather than the load itself, so a target above
// one pod's capacity can still be safe; twice the capacity is far past any
// sensible setting and catches unit mistakes (70 for 0.7).
const maxUtilization = 2

// Validate reports every parameter that is out of range, naming the field.
func (p Params) Validate() error {
	var errs []error
	check := func(ok bool, field string, v float64, want string) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: must be %s, got %v", field, want, v))
		}
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	check(finite(p.Capacity) && p.Capacity > 0, "capacity", p.Capacity, "> 0")
	check(finite(p.TargetUtilization) && p.TargetUtilization > 0 && p.TargetUtilization <= maxUtilization, "targetUtilization", p.TargetUtilization, "in (0,2]")
	check(finite(p.Elasticity) && p.Elasticity >= 0 && p.Elasticity <= 4, "elasticity", p.Elasticity, "in [0,4]")
	check(finite(p.MinUtilization) && p.MinUtilization > 0 && p.MinUtilization <= maxUtilization, "minUtilization", p.MinUtilization, "in (0,2]")
	check(finite(p.MaxUtilization) && p.MaxUtilization > 0 && p.MaxUtilization <= maxUtilization, "maxUtilization", p.MaxUtilization, "in (0,2]")
	if p.MinUtilization > p.MaxUtilization {
		errs = append(errs, fmt.Errorf("minUtilization: must not exceed maxUtilization (%v > %v)", p.MinUtilization, p.MaxUtilization))
	}
	check(finite(p.ReferencePrice) && p.ReferencePrice >= 0, "referencePrice", p.ReferencePrice, ">= 0")
	check(finite(p.InterruptionDiscount) && p.InterruptionDiscount >= 0 && p.InterruptionDiscount < 1, "interruptionDiscount", p.InterruptionDiscount, "in [0,1)")
	return errors.Join(errs...)
}

// Utilization returns u(r) = clamp(u0 * r^a, umin, umax) for the price ratio r.
// A non-positive or non-finite ratio yields u0 clamped (price unknown: cost-blind).
func (p Params) Utilization(ratio float64) float64 {
	u := p.TargetUtilization
	if ratio > 0 && !math.IsInf(ratio, 0) {
		u *= math.Pow(ratio, p.Elasticity)
	}
	return math.Min(math.Max(u, p.MinUtilization), p.MaxUtilization)
}

// Weighting is one cost-weighted demand and the parts it was made from.
type Weighting struct {
	// Load is L, the (predicted) load.
	Load float64
	// PriceRatio is r, the replica price over the reference price (0 when unknown).
	PriceRatio float64
	// Utilization is u(r).
	Utilization float64
	// SpotShare is f, the share of pods on spot nodes.
	SpotShare float64
	// Value is V, the replica demand to serve with target AverageValue 1.
	Value float64
}

// Weigh computes V for load L, price ratio r and spot share f. A price ratio of
// zero means the price is unknown: u falls back to u0 (clamped), which is what
// a cost-blind metric at the same target would serve.
func (p Params) Weigh(load, ratio, spotShare float64) Weighting {
	f := math.Min(math.Max(spotShare, 0), 1)
	if math.IsNaN(spotShare) {
		f = 0
	}
	u := p.Utilization(ratio)
	v := load / (p.Capacity * u * (1 - p.InterruptionDiscount*f))
	return Weighting{Load: load, PriceRatio: ratio, Utilization: u, SpotShare: f, Value: v}
}
