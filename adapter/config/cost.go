package config

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// Cost is a rule's cost weighting (DESIGN.md section 4): the rule serves
// V = L / (k * u(r) * (1 - q*f)), the replica demand for its forecast L,
// to an HPA with target AverageValue 1.
//
//	cost:
//	  pods: '{pod=~"checkout-.+"}'   # the workload's pods, per namespace
//	  capacity: 50                   # k: load one replica serves at 100%
//	  targetUtilization: 0.7         # u0 at the reference price
//	  elasticity: 0.5                # a in u0 * r^a
//	  minUtilization: 0.5            # umin
//	  maxUtilization: 0.9            # umax
//	  referencePrice: 0.12           # $/replica-hour where u = u0 (default: lowest recent price)
//	  interruptionDiscount: 0.2      # q, for the share f of pods on spot nodes
//	  priceHold: 1h                  # last price held this long, then cost-blind
//	  referenceWindow: 7d            # window of that lowest price
//	  staticPrices:                  # optional: prices per node class instead of OpenCost
//	  - {nodeLabels: {karpenter.sh/capacity-type: spot}, hourly: 0.04, spot: true}
//	  - {nodeLabels: {}, hourly: 0.12}
type Cost struct {
	// Pods is the label-matcher selector of the workload's pods in OpenCost's
	// (or kube-state-metrics') series, for example `{pod=~"checkout-.+"}`.
	// Prices are read per namespace: each series of the rule is weighed with
	// the prices of the selected pods in its own namespace. Required.
	Pods string
	// Params are the weighting parameters; zero fields get cost.Params' defaults.
	Params cost.Params
	// PriceHold is how long the last known price is used when prices go
	// missing; past it the rule serves the cost-blind value L / (k * u0).
	// Default DefaultPriceHold.
	PriceHold time.Duration
	// ReferenceWindow is the window over which the lowest observed price is
	// the reference price, used when Params.ReferencePrice is zero. Default DefaultReferenceWindow.
	ReferenceWindow time.Duration
	// StaticPrices, when set, price replicas per node class from
	// kube-state-metrics' node labels instead of OpenCost/Kubecost metrics.
	StaticPrices []cost.StaticPrice
}

// Defaults of a rule's cost section.
const (
	DefaultPriceHold       = time.Hour
	DefaultReferenceWindow = 7 * 24 * time.Hour
)

// Queries returns the price queries of the cost section.
func (c *Cost) Queries() (cost.Queries, error) {
	if len(c.StaticPrices) > 0 {
		return cost.StaticQueries(c.Pods, c.StaticPrices)
	}
	return cost.WorkloadQueries(c.Pods)
}

func (d *decoder) cost(n *yaml.Node, path string) *Cost {
	c := &Cost{}
	p := &c.Params
	// positive decodes a number that must be > 0: zero would read as "unset".
	positive := func(dst *float64) func(*yaml.Node, string) {
		return func(n *yaml.Node, path string) {
			before := len(d.Errs)
			if *dst = d.Float(n, path); *dst <= 0 && len(d.Errs) == before {
				d.Errorf(n, path, "must be > 0, got %v", *dst)
				*dst = 0
			}
		}
	}
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"pods":              func(n *yaml.Node, path string) { c.Pods = d.String(n, path) },
		"capacity":          positive(&p.Capacity),
		"targetUtilization": positive(&p.TargetUtilization),
		"elasticity": func(n *yaml.Node, path string) {
			before := len(d.Errs)
			if p.Elasticity = d.Float(n, path); p.Elasticity == 0 && len(d.Errs) == before {
				d.Errorf(n, path, "must be > 0 (0 would make the weighting cost-blind: drop the cost section instead)")
			}
		},
		"minUtilization":       positive(&p.MinUtilization),
		"maxUtilization":       positive(&p.MaxUtilization),
		"referencePrice":       func(n *yaml.Node, path string) { p.ReferencePrice = d.Float(n, path) },
		"interruptionDiscount": func(n *yaml.Node, path string) { p.InterruptionDiscount = d.Float(n, path) },
		"priceHold":            func(n *yaml.Node, path string) { c.PriceHold = d.duration(n, path) },
		"referenceWindow":      func(n *yaml.Node, path string) { c.ReferenceWindow = d.duration(n, path) },
		"staticPrices": func(n *yaml.Node, path string) {
			items := d.Sequence(n, path)
			c.StaticPrices = make([]cost.StaticPrice, len(items))
			for i, item := range items {
				sp := &c.StaticPrices[i]
				sp.Hourly = math.NaN() // required
				ip := strictyaml.Item(path, i)
				d.Mapping(item, ip, map[string]func(*yaml.Node, string){
					"nodeLabels": func(n *yaml.Node, path string) { sp.NodeLabels = d.StringMap(n, path) },
					"hourly":     func(n *yaml.Node, path string) { sp.Hourly = d.Float(n, path) },
					"spot":       func(n *yaml.Node, path string) { sp.Spot, _ = d.Bool(n, path) },
				})
			}
		},
	})
	return c
}

// SetDefaults fills the cost section's unset fields.
func (c *Cost) SetDefaults() {
	c.Params.SetDefaults()
	if c.PriceHold == 0 {
		c.PriceHold = DefaultPriceHold
	}
	if c.ReferenceWindow == 0 {
		c.ReferenceWindow = DefaultReferenceWindow
	}
}

// costFields maps cost.Params' field names in its errors to the file's keys.
var costFields = []string{"capacity", "targetUtilization", "elasticity", "minUtilization", "maxUtilization", "referencePrice", "interruptionDiscount"}

func (c *Cost) validate(p string, fc Forecast, add func(field, format string, args ...any)) {
	at := func(field string) string { return p + "." + field }
	if err := c.Params.Validate(); err != nil {
		for _, e := range flatten(err) {
			msg := e.Error()
			field, rest, ok := strings.Cut(msg, ": ")
			if !ok || !slices.Contains(costFields, field) {
				add(p, "%s", msg)
				continue
			}
			if field == "capacity" && c.Params.Capacity == 0 {
				add(at(field), "required: the load one replica serves at 100%% utilisation, in the query's unit")
				continue
			}
			add(at(field), "%s", rest)
		}
	}
	if c.Pods == "" {
		add(at("pods"), `required: the selector of the workload's pods, e.g. '{pod=~"checkout-.+"}'`)
	} else if _, err := c.Queries(); err != nil && !strings.HasPrefix(err.Error(), "static prices[") {
		add(at("pods"), "%v", err)
	}
	for i, sp := range c.StaticPrices {
		ip := fmt.Sprintf("%s[%d]", at("staticPrices"), i)
		switch {
		case math.IsNaN(sp.Hourly):
			add(ip+".hourly", "required: the price of one replica-hour on such nodes, in dollars")
		case sp.Hourly < 0:
			add(ip+".hourly", "must be >= 0, got %v", sp.Hourly)
		}
		for k := range sp.NodeLabels {
			if _, err := cost.NodeLabelName(k); err != nil {
				add(ip+".nodeLabels."+k, "%v", err)
			}
		}
	}
	if c.PriceHold > 0 && c.PriceHold < fc.Step {
		add(at("priceHold"), "must be at least step %s, got %s", fmtDur(fc.Step), fmtDur(c.PriceHold))
	}
	if c.ReferenceWindow > 0 && c.ReferenceWindow < time.Hour {
		add(at("referenceWindow"), "must be at least 1h, got %s", fmtDur(c.ReferenceWindow))
	}
}

// flatten unwraps errors.Join trees into their leaves.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
