package serving

import (
	"context"
	"math"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/queue"
	"github.com/foresight-dev/foresight/adapter/schedule"
)

// QueueSpec makes a rule serve the worker demand of a work queue (package
// queue): the rule's query is the arrival rate it forecasts, BacklogQuery
// the items waiting, matched to the arrival series by identical labels.
type QueueSpec struct {
	// BacklogQuery is the rendered backlog query (every namespace).
	BacklogQuery string
	// Params are the demand's parameters (validated).
	Params queue.Params
}

// QueueValue is what a queue rule's entry was served from.
type QueueValue struct {
	// Backlog is the latest backlog of the series' queue.
	Backlog float64
	// Reason says why the demand is what it is (queue.Reason).
	Reason queue.Reason
}

// backlogSample is the latest backlog of one queue.
type backlogSample struct {
	v      float64
	at     int64 // Unix seconds
	busyAt int64 // latest Unix second of a non-zero backlog in the window read (0: none)
}

// refreshBacklogs reads the latest backlog of every queue at data time at,
// looking back the rule's staleness limit or cool-down, whichever is longer,
// so that a restarted adapter still sees a backlog of the cool-down and
// does not scale to zero before it ends. A failed query keeps the last
// backlogs: they age, and a backlog older than the staleness limit makes its
// series' served value stale (an error the HPA holds on), never a zero.
func (w *worker) refreshBacklogs(ctx context.Context, l *Loop, at int64) {
	q := w.rule.Queue
	if q == nil {
		return
	}
	from := at - int64(max(w.rule.Info.StaleAfter, q.Params.CoolDown)/time.Second)
	res, err := l.source.QueryRange(ctx, q.BacklogQuery, time.Unix(from, 0), time.Unix(at, 0), w.rule.Settings.Step)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("queue: backlog query failed; the last backlogs age", "metric", w.rule.Info.StoreKey(), "err", err)
		}
		return
	}
	if w.backlogs == nil {
		w.backlogs = map[string]backlogSample{}
	}
	staleFrom := at - int64(w.rule.Info.StaleAfter/time.Second)
	for k, b := range w.backlogs {
		if b.at < staleFrom {
			delete(w.backlogs, k) // a queue gone for the staleness limit
		}
	}
	for _, s := range res {
		key := s.Labels.String()
		b := w.backlogs[key]
		for _, p := range s.Samples {
			ts := p.T / 1000
			if ts > at || ts <= b.at || math.IsNaN(p.V) || math.IsInf(p.V, 0) {
				continue
			}
			b.v, b.at = p.V, ts
			if p.V > 0 {
				b.busyAt = ts
			}
		}
		if b.at >= staleFrom {
			w.backlogs[key] = b
		}
	}
}

// demand returns the forecast with its value replaced by the worker demand
// of the series' queue. Without a backlog sample its time becomes that of the
// oldest of the two inputs, so that a missing or stale backlog is served as
// stale: the HPA holds its replicas.
func (w *worker) demand(st *seriesState, fc forecast.Forecast) (forecast.Forecast, *QueueValue) {
	q := w.rule.Queue
	if q == nil {
		return fc, nil
	}
	b, ok := w.backlogs[st.entry.Key]
	if !ok {
		fc.At = 0
		return fc, nil
	}
	at := max(fc.At, b.at)
	st.queue.LastBusy = max(st.queue.LastBusy, b.busyAt)
	v, reason := st.queue.Demand(q.Params, queue.Input{At: at, Backlog: b.v, Arrivals: fc.Observed, Predicted: fc.Value})
	fc.Value = v
	fc.At = min(fc.At, b.at)
	return fc, &QueueValue{Backlog: b.v, Reason: reason}
}

// bounds returns the rule's schedule bounds at data time at and exports them.
func (w *worker) bounds(l *Loop, at time.Time) schedule.Bounds {
	b := w.rule.Schedule.At(at)
	if w.rule.Schedule.Empty() {
		return b
	}
	m, metric := l.metrics, w.rule.Info.StoreKey()
	if math.IsNaN(b.Floor) {
		m.scheduleFloor.DeleteLabelValues(metric)
	} else {
		m.scheduleFloor.WithLabelValues(metric).Set(b.Floor)
	}
	if math.IsNaN(b.Ceiling) {
		m.scheduleCeiling.DeleteLabelValues(metric)
	} else {
		m.scheduleCeiling.WithLabelValues(metric).Set(b.Ceiling)
	}
	m.scheduleMultiplier.WithLabelValues(metric).Set(b.Multiplier)
	return b
}
