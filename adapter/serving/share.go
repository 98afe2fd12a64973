package serving

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

// ShareSpec makes a rule serve its forecast times a share in [0, 1] (a
// backend's part of a route's traffic), read from a second query and matched
// to the rule's series by the On labels.
type ShareSpec struct {
	// Query is the rendered share query (every namespace).
	Query string
	// On are the matching labels.
	On []string
}

// shareSample is the latest share of one key; dup marks a key two share
// series claimed.
type shareSample struct {
	v   float64
	at  int64 // Unix seconds
	dup bool
}

// shareKey renders the values of the On labels.
func shareKey(ls labels.Labels, on []string) string {
	var b strings.Builder
	for _, l := range on {
		b.WriteString(ls.Get(l))
		b.WriteByte(0)
	}
	return b.String()
}

// refreshShares reads the latest share of every key at data time at, looking
// back the rule's staleness limit. A failed query keeps the last shares: they
// age, and one older than the limit makes its series stale, never a zero.
func (w *worker) refreshShares(ctx context.Context, l *Loop, at int64) {
	s := w.rule.Share
	if s == nil {
		return
	}
	from := at - int64(w.rule.Info.StaleAfter/time.Second)
	res, err := l.source.QueryRange(ctx, s.Query, time.Unix(from, 0), time.Unix(at, 0), w.rule.Settings.Step)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("share query failed; the last shares age", "metric", w.rule.Info.StoreKey(), "err", err)
		}
		return
	}
	next := map[string]shareSample{}
	for _, ser := range res {
		var last shareSample
		for _, p := range ser.Samples {
			if ts := p.T / 1000; ts <= at && ts >= last.at && !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
				last = shareSample{v: p.V, at: ts}
			}
		}
		if last.at == 0 {
			continue
		}
		k := shareKey(ser.Labels, s.On)
		if _, seen := next[k]; seen {
			last.dup = true
		}
		next[k] = last
	}
	w.shares = next
}

// share multiplies the forecast by its series' share, clamped to [0, 1].
// Without a share (or with two) its time becomes 0, so the series is served
// stale: the HPA holds its replicas.
func (w *worker) share(st *seriesState, fc forecast.Forecast) forecast.Forecast {
	s := w.rule.Share
	if s == nil {
		return fc
	}
	sh, ok := w.shares[shareKey(st.entry.Labels, s.On)]
	if !ok || sh.dup {
		fc.At = 0
		return fc
	}
	fc.Value *= min(max(sh.v, 0), 1)
	fc.At = min(fc.At, sh.at)
	return fc
}
