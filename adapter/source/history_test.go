package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// recordingSource wraps a real Source and records the ranges queried; fail
// makes the next queries fail.
type recordingSource struct {
	Source
	mu     sync.Mutex
	ranges [][2]time.Time
	fail   bool
}

func (r *recordingSource) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]Series, error) {
	r.mu.Lock()
	fail := r.fail
	r.ranges = append(r.ranges, [2]time.Time{start, end})
	r.mu.Unlock()
	if fail {
		return nil, errors.New("source down")
	}
	return r.Source.QueryRange(ctx, q, start, end, step)
}

func (r *recordingSource) take() [][2]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.ranges
	r.ranges = nil
	return out
}

func newTestEmbedded(t testing.TB) *Embedded {
	t.Helper()
	e, err := NewEmbedded(EmbeddedOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// value is the test load: distinct per series and minute.
func value(series int, t int64) float64 { return float64(series*1000) + float64(t/60000%1000) + 0.25 }

// fill appends one sample per minute (at second 0) for series in [from, to).
func fill(t testing.TB, e *Embedded, series int, from, to time.Time) {
	t.Helper()
	lbls := labels.FromStrings("__name__", "load", "namespace", "ns", "pod", fmt.Sprintf("p%d", series))
	var ss []Sample
	for ts := from; ts.Before(to); ts = ts.Add(time.Minute) {
		ss = append(ss, Sample{T: ts.UnixMilli(), V: value(series, ts.UnixMilli())})
	}
	if err := e.AppendSeries(lbls, ss); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryIncremental(t *testing.T) {
	ctx := context.Background()
	e := newTestEmbedded(t)
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	fill(t, e, 0, base.Add(-3*time.Hour), base.Add(time.Hour))
	fill(t, e, 1, base.Add(-3*time.Hour), base.Add(time.Hour))
	q, err := RenderQuery(`load{<<.LabelMatchers>>}`, []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "namespace", ".+")})
	if err != nil {
		t.Fatal(err)
	}
	src := &recordingSource{Source: e}
	h, err := NewHistory(src, HistoryOptions{Query: q, Window: time.Hour, Step: time.Minute, ChunkSteps: 25})
	if err != nil {
		t.Fatal(err)
	}

	// First update: the whole window (60 steps) in chunks of 25 steps.
	now := base.Add(30 * time.Second) // aligned down to base
	ups, err := h.Update(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := src.take(); len(got) != 3 || !got[0][0].Equal(base.Add(-59*time.Minute)) || !got[2][1].Equal(base) {
		t.Errorf("initial load ranges = %v, want 3 chunks from %v to %v", got, base.Add(-59*time.Minute), base)
	}
	if len(ups) != 2 {
		t.Fatalf("got %d updates, want 2", len(ups))
	}
	for i, u := range ups {
		if !u.New || u.Samples != nil {
			t.Fatalf("series %d: first update New=%v with %d samples, want New and none", i, u.New, len(u.Samples))
		}
		got := h.Samples(u.Key)
		if len(got) != 60 || got[59].T != base.UnixMilli() {
			t.Fatalf("series %d history: %d samples, want 60 up to %v", i, len(got), base)
		}
		for _, s := range got {
			if float32(s.V) != float32(value(i, s.T)) {
				t.Fatalf("series %d at %d: %v, want %v", i, s.T, s.V, value(i, s.T))
			}
		}
	}

	// Same step again: no query at all.
	if ups, err := h.Update(ctx, now.Add(20*time.Second)); err != nil || len(ups) != 0 || len(src.take()) != 0 {
		t.Errorf("update within the same step: %v %v", ups, err)
	}

	// Three minutes later: exactly the three new steps are fetched, nothing else.
	now = base.Add(3 * time.Minute)
	ups, err = h.Update(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := src.take(); len(got) != 1 || !got[0][0].Equal(base.Add(time.Minute)) || !got[0][1].Equal(now) {
		t.Errorf("incremental ranges = %v, want [%v %v]", got, base.Add(time.Minute), now)
	}
	if len(ups) != 2 {
		t.Fatalf("incremental updates: %+v", ups)
	}
	for i, u := range ups {
		if u.New || len(u.Samples) != 3 || u.Samples[0].T != base.Add(time.Minute).UnixMilli() || u.Samples[2].V != value(i, now.UnixMilli()) {
			t.Errorf("%s: new samples %v, want the 3 after %v", u.Key, u.Samples, base)
		}
		if got := h.Samples(u.Key); len(got) != 60 || got[0].T != base.Add(-56*time.Minute).UnixMilli() {
			t.Errorf("%s: window has %d samples from %d, want 60 from %d", u.Key, len(got), got[0].T, base.Add(-56*time.Minute).UnixMilli())
		}
	}

	// A failed update changes nothing and the next one retries the same steps.
	src.fail = true
	if _, err := h.Update(ctx, base.Add(5*time.Minute)); err == nil {
		t.Fatal("update with the source down succeeded")
	}
	src.take()
	src.fail = false
	ups, err = h.Update(ctx, base.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := src.take(); len(got) != 1 || !got[0][0].Equal(base.Add(4*time.Minute)) {
		t.Errorf("retry ranges = %v, want from %v", got, base.Add(4*time.Minute))
	}
	if len(ups) != 2 || len(ups[0].Samples) != 2 {
		t.Errorf("retry updates = %+v", ups)
	}

	// A series that appears is added with its samples.
	fill(t, e, 2, base.Add(4*time.Minute), base.Add(30*time.Minute))
	ups, err = h.Update(ctx, base.Add(6*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 3 {
		t.Fatalf("after a series appeared: %d series", h.Len())
	}
	var found bool
	for _, u := range ups {
		if u.Labels.Get("pod") == "p2" {
			found = true
			// Evaluations at 4m, 5m, 6m all see the new series (lookback 5m).
			if got := h.Samples(u.Key); !u.New || len(got) != 1 || got[0].T != base.Add(6*time.Minute).UnixMilli() {
				t.Errorf("new series: New=%v samples %v", u.New, got)
			}
		}
	}
	if !found {
		t.Error("new series not reported")
	}

	// Series 0 and 1 stop at base+1h; after the window (and the 5m lookback)
	// they are removed; series 2 stops at base+30m.
	ups, err = h.Update(ctx, base.Add(2*time.Hour+10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, u := range ups {
		if u.Removed {
			removed++
		}
	}
	if removed != 3 || h.Len() != 0 {
		t.Errorf("removed %d, left %d; want 3 removed, 0 left (updates %+v)", removed, h.Len(), ups)
	}
}

// failAfter fails every query after the first n.
type failAfter struct {
	Source
	n int
}

func (f *failAfter) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]Series, error) {
	if f.n == 0 {
		return nil, errors.New("source down")
	}
	f.n--
	return f.Source.QueryRange(ctx, q, start, end, step)
}

func TestHistoryKeepsChunksBeforeAFailure(t *testing.T) {
	ctx := context.Background()
	e := newTestEmbedded(t)
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	fill(t, e, 0, base.Add(-2*time.Hour), base.Add(time.Hour))
	src := &failAfter{Source: e, n: 1}
	h, err := NewHistory(src, HistoryOptions{Query: `load`, Window: time.Hour, Step: time.Minute, ChunkSteps: 20})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := h.Update(ctx, base)
	if err == nil {
		t.Fatal("update with a failing second chunk succeeded")
	}
	if len(ups) != 1 || !ups[0].New || len(h.Samples(ups[0].Key)) != 20 {
		t.Fatalf("after a failed second chunk: updates %+v, %d samples", ups, len(h.Samples(ups[0].Key)))
	}
	if want := base.Add(-40 * time.Minute); !h.End().Equal(want) {
		t.Errorf("End = %v, want %v", h.End(), want)
	}
	src.n = 100
	ups, err = h.Update(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 1 || ups[0].New || len(ups[0].Samples) != 40 || len(h.Samples(ups[0].Key)) != 60 {
		t.Errorf("resumed update: %+v, window %d", ups, len(h.Samples(ups[0].Key)))
	}
}

func TestHistoryOutageLongerThanWindow(t *testing.T) {
	ctx := context.Background()
	e := newTestEmbedded(t)
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	fill(t, e, 0, base.Add(-2*time.Hour), base.Add(5*time.Hour))
	src := &recordingSource{Source: e}
	h, err := NewHistory(src, HistoryOptions{Query: `load`, Window: time.Hour, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Update(ctx, base); err != nil {
		t.Fatal(err)
	}
	src.take()
	ups, err := h.Update(ctx, base.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := src.take(); len(got) != 1 || !got[0][0].Equal(base.Add(3*time.Hour+time.Minute)) {
		t.Errorf("after a long outage queried %v, want only the last window", got)
	}
	if len(ups) != 1 || ups[0].New || len(ups[0].Samples) != 60 {
		t.Fatalf("updates %+v", ups)
	}
	if got := h.Samples(ups[0].Key); len(got) != 60 || got[0].T != base.Add(3*time.Hour+time.Minute).UnixMilli() {
		t.Errorf("window after outage: %d samples from %v", len(got), got[0].T)
	}
}

func TestHistoryGapsAndNonFinite(t *testing.T) {
	ctx := context.Background()
	e := newTestEmbedded(t)
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	lbls := labels.FromStrings("__name__", "g", "namespace", "ns")
	ss := []Sample{
		{T: base.Add(-50 * time.Minute).UnixMilli(), V: 1},
		{T: base.Add(-30 * time.Minute).UnixMilli(), V: math.Inf(1)},
		{T: base.Add(-20 * time.Minute).UnixMilli(), V: 3},
	}
	if err := e.AppendSeries(lbls, ss); err != nil {
		t.Fatal(err)
	}
	h, err := NewHistory(e, HistoryOptions{Query: `g`, Window: time.Hour, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := h.Update(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	// Lookback 5m: 1 is seen at -50..-46 (5 steps), +Inf dropped, 3 at -20..-16.
	got := h.Samples(ups[0].Key)
	if len(got) != 10 || !ups[0].New {
		t.Fatalf("got %d samples (update %+v), want 10: %v", len(got), ups[0], got)
	}
	if got[4].V != 1 || got[5].V != 3 || got[5].T != base.Add(-20*time.Minute).UnixMilli() {
		t.Errorf("samples around the gap: %v %v", got[4], got[5])
	}
}

func TestHistoryDelay(t *testing.T) {
	e := newTestEmbedded(t)
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	fill(t, e, 0, base.Add(-2*time.Hour), base.Add(time.Hour))
	h, err := NewHistory(e, HistoryOptions{Query: `load`, Window: time.Hour, Step: time.Minute, Delay: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Update(context.Background(), base); err != nil {
		t.Fatal(err)
	}
	// now - 90s = -1m30s, aligned down to -2m.
	if want := base.Add(-2 * time.Minute); !h.End().Equal(want) {
		t.Errorf("End = %v, want %v", h.End(), want)
	}
	if got := h.Samples(h.Keys()[0]); got[len(got)-1].T != base.Add(-2*time.Minute).UnixMilli() {
		t.Errorf("newest sample at %d", got[len(got)-1].T)
	}
}

func TestNewHistoryErrors(t *testing.T) {
	e := newTestEmbedded(t)
	for _, o := range []HistoryOptions{
		{Query: "", Window: time.Hour, Step: time.Minute},
		{Query: "x", Window: time.Hour, Step: 0},
		{Query: "x", Window: 90 * time.Second, Step: time.Minute},
		{Query: "x", Window: time.Hour, Step: time.Minute, Delay: -1},
	} {
		if _, err := NewHistory(e, o); err == nil {
			t.Errorf("NewHistory(%+v) succeeded", o)
		}
	}
}

// generatedSource is a Source computing series from a formula, for benchmarks
// that need many series without a TSDB.
type generatedSource struct{ series int }

func (g generatedSource) QueryRange(_ context.Context, _ string, start, end time.Time, step time.Duration) ([]Series, error) {
	out := make([]Series, g.series)
	for i := range out {
		out[i].Labels = labels.FromStrings("__name__", "load", "namespace", fmt.Sprintf("ns-%d", i%10), "service", fmt.Sprintf("svc-%d", i))
		for ts := start; !ts.After(end); ts = ts.Add(step) {
			out[i].Samples = append(out[i].Samples, Sample{T: ts.UnixMilli(), V: value(i, ts.UnixMilli())})
		}
	}
	return out, nil
}

// BenchmarkHistoryMemory loads 1,000 series of 14 days at 1m and reports the
// heap held per series, then measures one incremental update.
func BenchmarkHistoryMemory(b *testing.B) {
	const n = 1000
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		h, err := NewHistory(generatedSource{series: n}, HistoryOptions{Query: "load", Window: 14 * 24 * time.Hour, Step: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Update(context.Background(), now); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/series")
		b.ReportMetric(float64(h.Bytes())/n, "est-bytes/series")
		runtime.KeepAlive(h)
	}
}

func BenchmarkHistoryIncrementalUpdate(b *testing.B) {
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	h, err := NewHistory(generatedSource{series: 1000}, HistoryOptions{Query: "load", Window: 14 * 24 * time.Hour, Step: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := h.Update(context.Background(), now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Minute)
		if _, err := h.Update(context.Background(), now); err != nil {
			b.Fatal(err)
		}
	}
}
