package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// SeriesKey identifies a series in a History: its labels in Prometheus text form.
type SeriesKey string

// KeyOf returns the SeriesKey of lbls.
func KeyOf(lbls labels.Labels) SeriesKey { return SeriesKey(lbls.String()) }

// HistoryOptions configure a History.
type HistoryOptions struct {
	// Query is the rendered PromQL query (see Template.Render) whose series are kept.
	Query string
	// Window is how much history is kept, e.g. 14 days. Required.
	Window time.Duration
	// Step is the evaluation step and the spacing of samples. Required; Window
	// must be a multiple of it.
	Step time.Duration
	// Delay lags evaluation behind now, for sources that ingest late (remote
	// write, Thanos sidecars): Update(now) evaluates up to now-Delay. Default 0.
	Delay time.Duration
	// ChunkSteps is how many steps one range query of the initial load spans,
	// which bounds its transient memory. Default 1440 (one day at 1m).
	ChunkSteps int
}

// SeriesUpdate is what one History.Update learned about one series.
type SeriesUpdate struct {
	// Key identifies the series.
	Key SeriesKey
	// Labels are the series' labels.
	Labels labels.Labels
	// New reports a series seen for the first time (every series on the first
	// Update). Its Samples are then nil: read its whole window with
	// History.Samples or AppendSamples, one series at a time, so that loading
	// 14 days of 1,000 series never holds them all as float64 at once.
	New bool
	// Samples are, for a known series, the samples new since the previous
	// Update, oldest first, each after the series' previous newest sample,
	// with the source's float64 values. Non-finite values (NaN, ±Inf) are
	// dropped: they are gaps.
	Samples []Sample
	// Removed reports that the series has no sample left in the window and was
	// dropped; Samples is then empty.
	Removed bool
}

// History keeps, for one query, the samples of every result series over a
// sliding window. The first Update loads the window with range queries split
// into chunks; every later Update queries only the steps after the last one
// fetched, appends them and drops what left the window. Series that appear are
// added; series whose samples have all left the window are removed.
//
// Update reports new series (read their window with Samples), the new
// samples of known series and removed series; see SeriesUpdate.
//
// Samples are stored compactly: one float32 per step of the window (NaN for a
// gap) in a ring per series, so 14 days at 1m cost 80,640 bytes per series plus
// its labels. Values keep float32 precision (about 7 significant digits, and
// magnitudes clamped to 3.4e38) in Samples; SeriesUpdate.Samples carry the source's float64 values. Timestamps are
// multiples of Step (range queries are aligned to it).
//
// A History is safe for concurrent use; Update calls are serialized.
type History struct {
	src    Source
	opts   HistoryOptions
	stepMs int64
	n      int64 // slots per series: Window / Step

	update sync.Mutex // serializes Update

	mu     sync.RWMutex
	loaded bool
	endIdx int64 // step index of the newest evaluated step
	series map[SeriesKey]*ring
}

// ring holds one series' values, slot i%n for step index i.
type ring struct {
	labels labels.Labels
	vals   []float32
	newest int64 // step index of the newest stored sample
}

// NewHistory returns an empty History of query results from src.
func NewHistory(src Source, opts HistoryOptions) (*History, error) {
	if src == nil {
		return nil, errors.New("history: source is nil")
	}
	if opts.Query == "" {
		return nil, errors.New("history: query is empty")
	}
	if opts.Step < time.Millisecond || opts.Step%time.Millisecond != 0 {
		return nil, fmt.Errorf("history: step must be a positive whole number of milliseconds, got %v", opts.Step)
	}
	if opts.Window < opts.Step || opts.Window%opts.Step != 0 {
		return nil, fmt.Errorf("history: window %v must be a positive multiple of step %v", opts.Window, opts.Step)
	}
	if opts.Delay < 0 {
		return nil, fmt.Errorf("history: delay must not be negative, got %v", opts.Delay)
	}
	if opts.ChunkSteps == 0 {
		opts.ChunkSteps = 1440
	}
	if opts.ChunkSteps < 1 {
		return nil, fmt.Errorf("history: chunk steps must be positive, got %d", opts.ChunkSteps)
	}
	return &History{
		src:    src,
		opts:   opts,
		stepMs: opts.Step.Milliseconds(),
		n:      int64(opts.Window / opts.Step),
		series: map[SeriesKey]*ring{},
	}, nil
}

// Update fetches the steps after the last fetched one up to now-Delay
// (aligned down to Step), or the whole window on the first call or after an
// outage longer than the window, and returns what changed, sorted by key.
// Range queries span at most ChunkSteps steps and each chunk is stored as it
// arrives, so the transient memory of a load is one chunk. If a query fails,
// the chunks before it are kept, the error is returned, and the next Update
// continues from the first missing step: a failed cycle leaves no gap.
func (h *History) Update(ctx context.Context, now time.Time) ([]SeriesUpdate, error) {
	h.update.Lock()
	defer h.update.Unlock()

	end := floorDiv(now.Add(-h.opts.Delay).UnixMilli(), h.stepMs)
	h.mu.RLock()
	loaded, prevEnd := h.loaded, h.endIdx
	h.mu.RUnlock()
	first := end - h.n + 1
	start := first
	if loaded {
		if end <= prevEnd {
			return nil, nil
		}
		start = max(prevEnd+1, first)
	}

	updates := map[SeriesKey]*SeriesUpdate{}
	var fetchErr error
	for cs := start; cs <= end; cs += int64(h.opts.ChunkSteps) {
		ce := min(cs+int64(h.opts.ChunkSteps)-1, end)
		res, err := h.src.QueryRange(ctx, h.opts.Query, time.UnixMilli(cs*h.stepMs), time.UnixMilli(ce*h.stepMs), h.opts.Step)
		if err != nil {
			fetchErr = fmt.Errorf("history: %w", err)
			break
		}
		h.mu.Lock()
		h.store(res, first, ce, updates)
		h.loaded, h.endIdx = true, ce
		h.mu.Unlock()
	}

	h.mu.Lock()
	if h.loaded {
		oldest := h.endIdx - h.n + 1
		for key, r := range h.series {
			if r.newest < oldest {
				delete(h.series, key)
				updates[key] = &SeriesUpdate{Key: key, Labels: r.labels, Removed: true}
			}
		}
	}
	h.mu.Unlock()
	out := make([]SeriesUpdate, 0, len(updates))
	for _, u := range updates {
		if u.Removed || u.New || len(u.Samples) > 0 {
			out = append(out, *u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, fetchErr
}

// store appends one chunk's series (steps in [first, end]) to the rings and
// records what is new in updates. h.mu is held.
func (h *History) store(res []Series, first, end int64, updates map[SeriesKey]*SeriesUpdate) {
	for _, s := range res {
		key := KeyOf(s.Labels)
		u := updates[key]
		r, ok := h.series[key]
		if !ok {
			r = &ring{labels: s.Labels, vals: make([]float32, h.n), newest: math.MinInt64}
			h.series[key] = r
			if u == nil {
				u = &SeriesUpdate{Key: key, Labels: r.labels, New: true}
				updates[key] = u
			}
		}
		if u == nil {
			u = &SeriesUpdate{Key: key, Labels: r.labels}
			updates[key] = u
		}
		for _, smp := range s.Samples {
			if math.IsNaN(smp.V) || math.IsInf(smp.V, 0) {
				continue
			}
			idx := floorDiv(smp.T, h.stepMs)
			if idx < first || idx > end || !r.append(idx, smp.V) {
				continue
			}
			if !u.New {
				u.Samples = append(u.Samples, Sample{T: idx * h.stepMs, V: smp.V})
			}
		}
		if u.New && r.newest == math.MinInt64 {
			// Only non-finite values: not a series yet.
			delete(h.series, key)
			delete(updates, key)
		}
	}
}

// append stores v at step index idx if it is newer than the newest sample.
func (r *ring) append(idx int64, v float64) bool {
	if idx <= r.newest {
		return false
	}
	n := int64(len(r.vals))
	if r.newest == math.MinInt64 || idx-r.newest >= n {
		// First sample, or a gap longer than the window: start afresh.
		for i := range r.vals {
			r.vals[i] = float32(math.NaN())
		}
	} else {
		for i := r.newest + 1; i < idx; i++ {
			r.vals[mod(i, n)] = float32(math.NaN())
		}
	}
	// Clamp to float32's range so that a huge value never reads back as ±Inf.
	r.vals[mod(idx, n)] = float32(min(max(v, -math.MaxFloat32), math.MaxFloat32))
	r.newest = idx
	return true
}

// AppendSamples appends the window's samples of key, oldest first, to dst.
func (h *History) AppendSamples(dst []Sample, key SeriesKey) []Sample {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r, ok := h.series[key]
	if !ok {
		return dst
	}
	first := h.endIdx - h.n + 1
	for i := max(first, r.newest-h.n+1); i <= r.newest; i++ {
		v := r.vals[mod(i, h.n)]
		if v != v { // NaN: gap
			continue
		}
		dst = append(dst, Sample{T: i * h.stepMs, V: float64(v)})
	}
	return dst
}

// Samples returns the window's samples of key, oldest first (nil if unknown).
func (h *History) Samples(key SeriesKey) []Sample { return h.AppendSamples(nil, key) }

// Labels returns the labels of key.
func (h *History) Labels(key SeriesKey) (labels.Labels, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r, ok := h.series[key]
	if !ok {
		return labels.EmptyLabels(), false
	}
	return r.labels, true
}

// Keys returns the keys of all series held, sorted.
func (h *History) Keys() []SeriesKey {
	h.mu.RLock()
	defer h.mu.RUnlock()
	keys := make([]SeriesKey, 0, len(h.series))
	for k := range h.series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// Len returns the number of series held.
func (h *History) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.series)
}

// End returns the newest evaluated step (zero time before the first Update).
func (h *History) End() time.Time {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !h.loaded {
		return time.Time{}
	}
	return time.UnixMilli(h.endIdx * h.stepMs)
}

// BytesPerSeries is the memory one series' samples take: 4 bytes per step of the window.
func (h *History) BytesPerSeries() int { return int(h.n) * 4 }

// Bytes estimates the memory held: the sample rings, the labels and keys.
func (h *History) Bytes() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	total := 0
	for k, r := range h.series {
		total += len(r.vals)*4 + len(k) + int(r.labels.ByteSize()) + 64
	}
	return total
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
