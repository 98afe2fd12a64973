package config

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/queue"
)

// Queue makes a rule serve the worker demand of a work queue (package
// queue) to an HPA with target AverageValue 1 and minReplicas 0. The rule's
// query is the queue's arrival rate in items per second (for example
// `sum by (namespace, queue) (rate(jobs_enqueued_total{<<.LabelMatchers>>}[2m]))`,
// or, without an enqueue counter, `deriv(backlog[2m]) + rate(processed[2m])`);
// it is what the rule forecasts. The backlog query returns the items waiting,
// with the same labels as the arrival series it belongs to.
//
//	queue:
//	  backlog: max by (namespace, queue) (rabbitmq_queue_messages_ready{<<.LabelMatchers>>})
//	  throughput: 5     # items one worker processes per second
//	  drainTime: 2m     # drain the current backlog within this
//	  wakeLead: 90s     # pod start-up + one HPA sync: wake this long before forecast arrivals
//	  coolDown: 5m      # idle this long before the demand drops to 0
type Queue struct {
	// Backlog is the PromQL template of the backlog gauge. Required.
	Backlog string
	// Params are the demand's parameters.
	Params queue.Params

	zeroCoolDown bool // the file says coolDown: 0s
}

// Defaults of a rule's queue section.
const (
	DefaultDrainTime = 5 * time.Minute
	DefaultWakeLead  = 90 * time.Second
	DefaultCoolDown  = 5 * time.Minute
)

func (d *decoder) queue(n *yaml.Node, path string) *Queue {
	q := &Queue{}
	p := &q.Params
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"backlog": func(n *yaml.Node, path string) { q.Backlog = d.String(n, path) },
		"throughput": func(n *yaml.Node, path string) {
			before := len(d.Errs)
			if p.Throughput = d.Float(n, path); p.Throughput <= 0 && len(d.Errs) == before {
				d.Errorf(n, path, "must be > 0, got %v", p.Throughput)
			}
		},
		"drainTime": func(n *yaml.Node, path string) { p.DrainTime = d.duration(n, path) },
		"wakeLead":  func(n *yaml.Node, path string) { p.WakeLead = d.duration(n, path) },
		"coolDown": func(n *yaml.Node, path string) {
			// 0s is allowed: scale to zero as soon as the queue is idle.
			if n, ok := d.Scalar(n, path, `a duration like "5m"`); ok && n.Value == "0s" {
				q.Params.CoolDown, q.zeroCoolDown = 0, true
				return
			}
			p.CoolDown = d.duration(n, path)
		},
	})
	return q
}

// SetDefaults fills the queue section's unset fields.
func (q *Queue) SetDefaults() {
	if q.Params.DrainTime == 0 {
		q.Params.DrainTime = DefaultDrainTime
	}
	if q.Params.WakeLead == 0 {
		q.Params.WakeLead = DefaultWakeLead
	}
	if q.Params.CoolDown == 0 && !q.zeroCoolDown {
		q.Params.CoolDown = DefaultCoolDown
	}
}

func (q *Queue) validate(p string, r *Rule, add func(field, format string, args ...any)) {
	at := func(field string) string { return p + "." + field }
	if q.Backlog == "" {
		add(at("backlog"), "required: the PromQL of the queue's backlog gauge, e.g. max by (namespace, queue) (redis_key_size{<<.LabelMatchers>>})")
	} else if err := r.validateQuery(q.Backlog); err != nil {
		add(at("backlog"), "%v", err)
	}
	if !(q.Params.Throughput > 0) {
		add(at("throughput"), "required: the items one worker processes per second, > 0")
	}
	if r.API == APIPods {
		add(p, "a queue rule serves one worker demand per queue for an HPA with minReplicas 0, which needs an Object or External metric: use api external or object")
	}
	if r.Shadow != nil {
		add(p, "the shadow evaluation simulates load-based scaling, not queue workers: drop shadow or queue")
	}
	if r.Cost != nil {
		add(p, "a queue rule serves worker demand and cannot also be cost-weighted: drop cost or queue")
	}
	if fc := r.Forecast; fc.Horizon > 0 && fc.Horizon < q.Params.WakeLead {
		add(at("wakeLead"), "must not exceed forecast.horizon %s (arrivals are forecast that far ahead), got %s",
			fmtDur(fc.Horizon), fmtDur(q.Params.WakeLead))
	}
}
