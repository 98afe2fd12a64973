package serving

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/queue"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/slo"
	"github.com/foresight-dev/foresight/adapter/source"
)

// Defaults of the loop.
const (
	// DefaultHistory is the history loaded at start when a rule's settings give none.
	DefaultHistory = 14 * 24 * time.Hour
	// DefaultStaleAfter is the staleness limit when a rule gives none.
	DefaultStaleAfter = 5 * time.Minute
	// DefaultMaxPointsPerQuery bounds the points per series of one range query
	// (Prometheus refuses more than 11,000); history is loaded in chunks of this size.
	DefaultMaxPointsPerQuery = 1440

	// bulkLoadSamples is the number of samples one cycle must load for the
	// loop to hand the transient memory of decoding them back at its end.
	bulkLoadSamples = 1_000_000
)

// Loop runs every rule's forecast cycle and publishes the results into a Store.
type Loop struct {
	source   source.Source
	store    *Store
	metrics  *Metrics
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
	maxPts   int
	onCycle  func(metric string, snap *Snapshot)
	shadowM  *shadow.Metrics
	costM    *CostMetrics // nil: cost metrics not exported
	sloM     *SLOMetrics  // nil: SLO metrics not exported

	mu       sync.Mutex
	ctx      context.Context
	workers  map[string]*worker
	rulesSet bool
}

// LoopOptions configure a Loop. Source, Store and Metrics are required.
type LoopOptions struct {
	// Source answers the rules' range queries.
	Source source.Source
	// Store receives the snapshots.
	Store *Store
	// Metrics receives the loop's metrics.
	Metrics *Metrics
	// Logger logs cycles and errors (slog.Default when nil).
	Logger *slog.Logger
	// Now is the clock of the data (time.Now when nil). The demo runs it accelerated.
	Now func() time.Time
	// Interval is the real time between cycles; zero uses each rule's step.
	Interval time.Duration
	// MaxPointsPerQuery bounds points per series per query (DefaultMaxPointsPerQuery when zero).
	MaxPointsPerQuery int
	// OnCycle, when set, is called after each successful cycle of a rule.
	OnCycle func(metric string, snap *Snapshot)
	// ShadowMetrics receives the shadow evaluation's metrics (none when nil).
	ShadowMetrics *shadow.Metrics
	// CostMetrics receives the cost-weighted rules' metrics (none when nil).
	CostMetrics *CostMetrics
	// SLOMetrics receives the SLO rules' metrics (none when nil).
	SLOMetrics *SLOMetrics
}

// NewLoop returns a Loop with no rules. Call Run, then SetRules.
func NewLoop(o LoopOptions) (*Loop, error) {
	if o.Source == nil || o.Store == nil || o.Metrics == nil {
		return nil, fmt.Errorf("serving: loop needs a source, a store and metrics")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPointsPerQuery <= 0 {
		o.MaxPointsPerQuery = DefaultMaxPointsPerQuery
	}
	o.Metrics.perSeries.attach(o.Store)
	return &Loop{
		source: o.Source, store: o.Store, metrics: o.Metrics, log: o.Logger, now: o.Now,
		interval: o.Interval, maxPts: o.MaxPointsPerQuery, onCycle: o.OnCycle, shadowM: o.ShadowMetrics,
		costM: o.CostMetrics, sloM: o.SLOMetrics, workers: map[string]*worker{},
	}, nil
}

// Run starts the loop's lifetime: workers run until ctx is done. Run blocks
// until ctx is done and all workers stopped.
func (l *Loop) Run(ctx context.Context) {
	l.mu.Lock()
	l.ctx = ctx
	for _, w := range l.workers {
		w.start(ctx, l)
	}
	l.mu.Unlock()
	<-ctx.Done()
	l.mu.Lock()
	ws := make([]*worker, 0, len(l.workers))
	for _, w := range l.workers {
		ws = append(ws, w)
	}
	l.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// SetRules replaces the running rules. A rule equal to a running one keeps its
// worker and its series' state; changed and new rules start fresh; removed
// rules stop and leave the store.
func (l *Loop) SetRules(rules []Rule) error {
	seen := map[string]bool{}
	for i, r := range rules {
		if r.Info.Metric == "" {
			return fmt.Errorf("serving: rule %d has no metric name", i)
		}
		if seen[r.Info.StoreKey()] {
			return fmt.Errorf("serving: metric %q is served by two rules", r.Info.StoreKey())
		}
		if r.Settings.Step <= 0 {
			return fmt.Errorf("serving: rule %q: step must be positive", r.Info.StoreKey())
		}
		if _, err := forecast.NewForecaster(r.Settings); err != nil {
			return fmt.Errorf("serving: rule %q: %w", r.Info.StoreKey(), err)
		}
		if r.Shadow != nil {
			if _, err := shadow.NewSet(r.Shadow.Config, r.Shadow.Strategies, nil); err != nil {
				return fmt.Errorf("serving: rule %q: %w", r.Info.StoreKey(), err)
			}
		}
		seen[r.Info.StoreKey()] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var fresh []*worker
	for name, w := range l.workers {
		if !seen[name] {
			w.stop()
			w.forgetShadow()
			delete(l.workers, name)
			l.metrics.forgetMetric(name)
			l.forgetCost(prometheus.Labels{"metric": name})
		}
	}
	for _, r := range rules {
		r := normalize(r)
		if w, ok := l.workers[r.Info.StoreKey()]; ok {
			if reflect.DeepEqual(w.rule, r) {
				continue
			}
			w.stop()
			w.forgetShadow()
			l.metrics.forgetMetric(r.Info.StoreKey())
			l.forgetCost(prometheus.Labels{"metric": r.Info.StoreKey()})
		}
		w := &worker{rule: r, series: map[string]*seriesState{}}
		if r.Cost != nil {
			w.cost = newCostState(*r.Cost)
		}
		if r.Shadow != nil {
			w.shadow, _ = shadow.NewSet(r.Shadow.Config, r.Shadow.Strategies, l.shadowM) // validated above
			l.log.Info("shadow evaluation", "metric", r.Info.StoreKey(), "strategies", len(r.Shadow.Strategies), "served", r.Shadow.Served)
		}
		l.workers[r.Info.StoreKey()] = w
		fresh = append(fresh, w)
		// A new metric is listed at once; reads say "no forecast yet" instead of "unknown".
		// A changed rule keeps serving its last snapshot until its first cycle completes.
		if l.store.Snapshot(r.Info.StoreKey()) == nil {
			l.store.Publish(&Snapshot{Info: r.Info, ByNamespace: map[string][]*Entry{}})
		}
	}
	l.store.Retain(seen)
	l.metrics.rules.Set(float64(len(rules)))
	l.rulesSet = true
	if l.ctx != nil {
		for _, w := range fresh {
			w.start(l.ctx, l)
		}
	}
	return nil
}

// Ready reports whether rules were set and every rule completed a cycle.
func (l *Loop) Ready() bool {
	l.mu.Lock()
	set := l.rulesSet
	l.mu.Unlock()
	return set && l.store.Ready()
}

func normalize(r Rule) Rule {
	if r.Settings.History <= 0 {
		r.Settings.History = DefaultHistory
	}
	if r.Info.StaleAfter <= 0 {
		r.Info.StaleAfter = DefaultStaleAfter
	}
	return r
}

// worker runs the cycles of one rule.
type worker struct {
	rule   Rule
	series map[string]*seriesState
	next   int64 // next step-aligned Unix second to fetch; 0 before the first load
	ready  bool
	// skipping says the latest query returned series that are not served (observeAll
	// warns when it starts).
	skipping bool
	shadow   *shadow.Set // nil without shadow evaluation
	cost     *costState  // nil for cost-blind rules

	backlogs map[string]backlogSample // queue rules: latest backlog by series key
	shares   map[string]shareSample   // share rules: latest share by key of the On labels

	// resumedAt is the data time of the first fetch that returned samples
	// after the latest failed fetch: 0 when no fetch failed, -1 while none
	// did yet.
	// A series is dropped only if absent for the staleness limit while data
	// flowed: after an outage of the source (which leaves a hole in every
	// series) the series are kept, with the history their forecasts need.
	// A hole in every series longer than the staleness limit is an outage
	// too, whether or not a fetch failed (a source that restarted, or was
	// not scraping yet, answers without the data of its downtime): the data
	// time at which samples resumed after it moves resumedAt forward.
	resumedAt int64
	// newest is the data time of the rule's newest sample (any series); 0
	// before the first. A series is dropped only while newest is within the
	// staleness limit: a source that answers with no recent data for any
	// series (restarting, or every series gone) drops none of them.
	newest int64

	cancel context.CancelFunc
	done   chan struct{}
}

type seriesState struct {
	entry    Entry // template; Forecast updated per cycle
	f        *forecast.Forecaster
	lastAt   int64
	fallback bool
	hadModel bool // served a model's forecast at least once
	// warnedNoFit: the rule names a model that the series' latest fit could
	// not serve, and that was logged.
	warnedNoFit bool
	lastModel   string // the last model whose forecast was served

	costSeen, costFallback bool // cost-weighted rules: weighed once; serving cost-blind

	queue queue.Tracker // queue rules: when the queue was last busy

	slo *slo.Controller // SLO rules: the series' utilisation
}

func (w *worker) start(parent context.Context, l *Loop) {
	ctx, cancel := context.WithCancel(parent)
	w.cancel = cancel
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			if err := w.cycle(ctx, l); err != nil && ctx.Err() == nil {
				l.log.Warn("forecast cycle failed", "metric", w.rule.Info.StoreKey(), "err", err)
			}
			t.Reset(l.untilNextCycle(w.rule.Settings.Step))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// untilNextCycle is the real time until a rule of the given step cycles
// again. With a fixed Interval (accelerated clocks, tests) it is that
// interval. On the wall clock every replica cycles at the same instants:
// each step boundary of the data clock (a multiple of step since the Unix
// epoch, the grid the cycle's queries end on) plus settle(step), so
// that replicas evaluate the same instants once Prometheus has ingested the
// scrapes before them, and answer alike between their cycles too.
func (l *Loop) untilNextCycle(step time.Duration) time.Duration {
	if l.interval > 0 {
		return l.interval
	}
	return untilGridPoint(l.now(), step, l.settle(step))
}

// settle is how long after a step boundary a wall-clock cycle runs, and how
// old a grid point must be before any cycle reads it: a quarter of the step,
// at most 15 s. Zero with a fixed Interval.
func (l *Loop) settle(step time.Duration) time.Duration {
	if l.interval > 0 {
		return 0
	}
	return min(step/4, 15*time.Second)
}

// untilGridPoint is the time from now to the next instant that lies settle
// after a multiple of step since the Unix epoch (never zero: a cycle that
// ends exactly on one waits for the next).
func untilGridPoint(now time.Time, step, settle time.Duration) time.Duration {
	if step <= 0 {
		step = time.Second
	}
	n := now.UnixNano() - int64(settle)
	next := (n/int64(step) + 1) * int64(step)
	if n < 0 && n%int64(step) != 0 {
		next -= int64(step)
	}
	return time.Duration(next - n)
}

// forgetShadow drops the worker's shadow evaluation and its metrics.
func (w *worker) forgetShadow() {
	if w.shadow != nil {
		w.shadow.ForgetAll()
	}
}

// ShadowReport returns the shadow evaluation of every rule's series.
func (l *Loop) ShadowReport() shadow.Report {
	l.mu.Lock()
	var sets []*shadow.Set
	for _, w := range l.workers {
		if w.shadow != nil {
			sets = append(sets, w.shadow)
		}
	}
	l.mu.Unlock()
	var sums []shadow.Summary
	for _, s := range sets {
		sums = append(sums, s.Summaries()...)
	}
	slices.SortFunc(sums, func(a, b shadow.Summary) int { return a.ID().Compare(b.ID()) })
	return shadow.NewReport(sums)
}

func (w *worker) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	<-w.done
}

// cycle fetches the samples since the last cycle, feeds them to the series'
// forecasters and publishes a new snapshot.
func (w *worker) cycle(ctx context.Context, l *Loop) error {
	r := w.rule
	step := int64(r.Settings.Step / time.Second)
	if step <= 0 {
		step = 1
	}
	now := l.now()
	// The newest grid point a replica cycling on the wall clock has settled
	// (see untilNextCycle): every replica serves the same points.
	end := now.Add(-l.settle(r.Settings.Step)).Unix() / step * step
	start := w.next
	if start == 0 {
		// Lookback: the history window of the latest refit on the grid,
		// which a replica running all along fitted too; for an SLO rule at
		// least the history its controllers need to reach the utilisation
		// a replica running all along serves.
		lookback := r.Settings.Lookback()
		if r.SLO != nil {
			lookback = max(lookback, r.SLO.Lookback())
		}
		start = (now.Add(-lookback).Unix() + step - 1) / step * step
	}
	var fetchErr error
	fetched := start <= end
	updated := map[string]bool{}
	if fetched {
		w.refreshPrices(ctx, l, start, end)
		w.refreshBacklogs(ctx, l, end)
		w.refreshShares(ctx, l, end)
	}
	loaded := 0
	for chunkStart := start; chunkStart <= end; {
		chunkEnd := min(end, chunkStart+int64(l.maxPts-1)*step)
		res, err := l.source.QueryRange(ctx, r.Query, time.Unix(chunkStart, 0), time.Unix(chunkEnd, 0), r.Settings.Step)
		if err != nil {
			fetchErr = fmt.Errorf("query %s [%d, %d]: %w", r.Info.StoreKey(), chunkStart, chunkEnd, err)
			break
		}
		for _, s := range res {
			loaded += len(s.Samples)
			if w.resumedAt < 0 && len(s.Samples) > 0 {
				w.resumedAt = chunkEnd
			}
		}
		w.noteHoles(res, chunkStart, chunkEnd, step, int64(r.Info.StaleAfter/time.Second))
		w.observeAll(l, res, updated)
		w.next = chunkEnd + step
		chunkStart = chunkEnd + step
	}
	if fetchErr != nil {
		w.resumedAt = -1
	}
	w.fitAll(l.metrics, updated)
	if loaded >= bulkLoadSamples {
		// A warm start (or a long catch-up) decoded far more than the
		// forecasters keep: return that memory now rather than letting the
		// heap stay at its peak until the garbage collector's next goal.
		debug.FreeOSMemory()
		l.log.Info("history loaded", "metric", r.Info.StoreKey(), "samples", loaded, "series", len(w.series))
	}
	if fetchErr == nil && fetched {
		w.ready = true
		// Drop series that vanished from a healthy source for longer than the
		// staleness limit, counted from when data flowed again after an outage,
		// while other series of the rule are fresh.
		limit := now.Add(-r.Info.StaleAfter).Unix()
		for k, s := range w.series {
			if !updated[k] && s.lastAt < limit && w.resumedAt >= 0 && w.resumedAt <= limit && w.newest >= limit {
				delete(w.series, k)
				l.forgetCost(prometheus.Labels{"metric": r.Info.StoreKey(), "namespace": s.entry.Namespace, "series": s.entry.SeriesName})
				if w.shadow != nil {
					w.shadow.Forget(shadow.SeriesID{Metric: r.Info.StoreKey(), Namespace: s.entry.Namespace, Series: s.entry.SeriesName})
				}
			}
		}
	}
	snap := w.snapshot(l, now)
	if w.ready {
		l.store.Publish(snap)
		if w.shadow != nil {
			w.shadow.Publish()
		}
		if l.onCycle != nil && fetchErr == nil && fetched {
			l.onCycle(r.Info.StoreKey(), snap)
		}
	}
	return fetchErr
}

// noteHoles advances the rule's newest data time over one fetched chunk
// (samples on its step grid from chunkStart to chunkEnd) and records, as the
// end of an outage, the data time at which samples resumed after the latest
// hole in every series longer than staleSec (as a source's downtime leaves).
func (w *worker) noteHoles(res []source.Series, chunkStart, chunkEnd, step, staleSec int64) {
	has := make([]bool, (chunkEnd-chunkStart)/step+1) // some series has a sample at this step
	for _, s := range res {
		for _, p := range s.Samples {
			if ts := p.T / 1000; ts > w.newest && ts >= chunkStart && ts <= chunkEnd {
				has[(ts-chunkStart)/step] = true
			}
		}
	}
	for i, ok := range has {
		if !ok {
			continue
		}
		ts := chunkStart + int64(i)*step
		if w.newest > 0 && ts-w.newest > staleSec {
			w.resumedAt = max(w.resumedAt, ts)
		}
		w.newest = ts
	}
}

// state returns the state of a result series, creating it on first sight.
func (w *worker) state(s source.Series) (*seriesState, error) {
	r := w.rule
	key := s.Labels.String()
	if st := w.series[key]; st != nil {
		return st, nil
	}
	f, err := forecast.NewForecaster(r.Settings)
	if err != nil {
		return nil, err
	}
	ns := s.Labels.Get(r.Info.NamespaceLabel)
	if ns == "" && !r.Info.ClusterWide {
		return nil, fmt.Errorf("series has no namespace label %q", r.Info.NamespaceLabel)
	}
	obj := ""
	if r.Info.API != APIExternal {
		obj = s.Labels.Get(r.ObjectLabel)
		if obj == "" {
			return nil, fmt.Errorf("series has no object label %q", r.ObjectLabel)
		}
	}
	st := &seriesState{
		entry: Entry{Labels: s.Labels, Key: key, Namespace: ns, Object: obj},
		f:     f,
	}
	if r.SLO != nil {
		if st.slo, err = slo.New(*r.SLO); err != nil {
			return nil, err
		}
	}
	st.entry.SeriesName = obj
	if obj == "" {
		st.entry.SeriesName = seriesLabel(s.Labels)
	}
	w.series[key] = st
	return st, nil
}

// observeAll feeds the result series to their forecasters, in parallel
// across series (each series stays in one goroutine, in time order), and
// marks the series that got new samples in updated.
func (w *worker) observeAll(l *Loop, res []source.Series, updated map[string]bool) {
	states := make([]*seriesState, len(res))
	skipped := 0
	for i, s := range res {
		st, err := w.state(s)
		if err != nil {
			l.log.Debug("series skipped", "metric", w.rule.Info.StoreKey(), "series", s.Labels.String(), "err", err)
			if s.Labels.IsEmpty() {
				continue // a default such as `or vector(0)`: no series of any object
			}
			if skipped == 0 && !w.skipping {
				l.log.Warn("result series not served (counted in foresight_adapter_series_skipped; each is logged at debug level): the query must keep the labels the rule serves by",
					"metric", w.rule.Info.StoreKey(), "series", s.Labels.String(), "err", err)
			}
			skipped++
			continue
		}
		states[i] = st
	}
	w.skipping = skipped > 0
	l.metrics.skipped.WithLabelValues(w.rule.Info.StoreKey()).Set(float64(skipped))
	fed := make([]bool, len(res))
	parallel(w.workers(), len(res), func(i int) {
		if states[i] != nil {
			fed[i] = w.observe(l.metrics, l.log, states[i], res[i].Samples) > 0
		}
	})
	for i, st := range states {
		if st != nil && fed[i] {
			updated[st.entry.Key] = true
		}
	}
}

// observe feeds the samples newer than the series' last one to its
// forecaster and returns how many it took.
// Refits wait for fitAll at the end of the cycle, so a batch (a warm start's
// whole history, or the samples of a source outage) is fitted once, on the
// window ending at its latest refit grid point, and replayed from there
// (Forecaster.ResumeRefits).
//
// An SLO rule's controller must see what a forecaster refitting as the
// samples came served after each of them (that is what the controller of a
// replica running all along saw): it is fed the batch's last Lookback only
// (a controller fed that much serves what one fed everything serves), and
// from there on refits run as they come due.
func (w *worker) observe(m *Metrics, log *slog.Logger, st *seriesState, samples []source.Sample) int {
	n := 0
	st.f.DeferRefits()
	sloFrom := int64(math.MaxInt64)
	if st.slo != nil && len(samples) > 0 {
		sloFrom = samples[len(samples)-1].T/1000 - int64(st.slo.Config().Lookback()/time.Second)
	}
	deferred := true
	for _, p := range samples {
		ts := p.T / 1000
		if ts <= st.lastAt {
			continue
		}
		fits, _, _ := st.f.FitStats()
		if err := st.f.Observe(ts, p.V); err != nil {
			continue // non-finite samples are gaps
		}
		if after, d, model := st.f.FitStats(); after != fits {
			m.fitDuration.WithLabelValues(string(model)).Observe(d.Seconds()) // a refit not deferred (SLO rules)
		}
		st.lastAt = ts
		n++
		if w.rule.Queue != nil && p.V > 0 {
			// Arrivals: the queue was busy then (history included, after a restart).
			st.queue.LastBusy = max(st.queue.LastBusy, ts)
		}
		if w.shadow != nil {
			// Samples reach the shadow evaluation exactly as the forecaster sees them;
			// the only error (a sample out of order) cannot happen after the check above.
			_ = w.shadow.Observe(shadow.SeriesID{Metric: w.rule.Info.StoreKey(), Namespace: st.entry.Namespace, Series: st.entry.SeriesName}, ts, p.V)
		}
		if ts >= sloFrom && deferred {
			w.resumeRefits(m, st)
			deferred = false
		}
		fc := st.f.Serve()
		if ts >= sloFrom {
			// The controller sees each sample and the value served after it,
			// as the backtest's SLO mode does; both are finite here.
			_ = st.slo.Observe(ts, p.V, fc.Value, fc.Fallback)
		}
		w.score(m, log, st, fc)
	}
	return n
}

// fitAll runs the refits that came due during the cycle, in parallel across
// series, and times them.
func (w *worker) fitAll(m *Metrics, updated map[string]bool) {
	states := make([]*seriesState, 0, len(updated))
	for k := range updated {
		if st := w.series[k]; st != nil {
			states = append(states, st)
		}
	}
	parallel(w.workers(), len(states), func(i int) { w.resumeRefits(m, states[i]) })
}

// resumeRefits runs the refit that came due while refits were deferred, and
// times it.
func (w *worker) resumeRefits(m *Metrics, st *seriesState) {
	before, _, _ := st.f.FitStats()
	st.f.ResumeRefits()
	if n, d, model := st.f.FitStats(); n != before {
		m.fitDuration.WithLabelValues(string(model)).Observe(d.Seconds())
	}
}

// workers is how many goroutines a cycle's per-series work may use: every
// core while the rule warms up (its series serve nothing yet), all but one
// once it serves, so that a cycle never takes the cores API requests are
// answered on.
func (w *worker) workers() int {
	if !w.ready {
		return runtime.GOMAXPROCS(0)
	}
	return max(1, runtime.GOMAXPROCS(0)-1)
}

// parallel calls fn(0..n-1) on up to workers goroutines and waits.
func parallel(workers, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// score counts the forecast evaluation and drift fallback of the latest
// sample, and logs the series' moves between a model's forecast and the
// reactive value: a fallback and the recovery from it (Info), and a model
// named in the rule that its first fit could not serve (Warn, once until it
// serves).
func (w *worker) score(m *Metrics, log *slog.Logger, st *seriesState, fc forecast.Forecast) {
	metric := w.rule.Info.StoreKey()
	// A gauge may go below zero (a consumer lag of -1, a deriv()): the actuals are counted by
	// their size, as the error is, and a value that is not finite is not scored.
	if ev, diff := fc.Evaluation, fc.Evaluation.Forecast-fc.Evaluation.Actual; ev.Valid && !math.IsNaN(diff) && !math.IsInf(diff, 0) {
		model := string(ev.Model)
		m.evals.WithLabelValues(metric, model).Inc()
		m.absErr.WithLabelValues(metric, model).Add(math.Abs(diff))
		m.actual.WithLabelValues(metric, model).Add(math.Abs(ev.Actual))
		if ev.Forecast < ev.Actual {
			m.under.WithLabelValues(metric, model).Inc()
		}
	}
	// logMove logs a move of the series (built only when one is logged:
	// this runs for every sample).
	logMove := func(level slog.Level, msg string, attrs ...any) {
		log.Log(context.Background(), level, msg, append([]any{"metric", metric, "namespace", st.entry.Namespace, "series", st.entry.SeriesName}, attrs...)...)
	}
	named := w.rule.Settings.Model != forecast.ModelAuto && w.rule.Settings.Model != forecast.ModelReactive
	switch {
	case fc.Fallback && !st.fallback && st.hadModel:
		// The series served a model's forecast and now serves the reactive value: drift.
		m.driftFalls.WithLabelValues(metric, st.lastModel).Inc()
		logMove(slog.LevelInfo, "series serves the reactive value", "model", st.lastModel, "reason", fc.Reason, "at", fc.At)
	case fc.Fallback && named && !st.hadModel && !st.warnedNoFit && fc.Reason != forecast.ReasonWarmUp:
		st.warnedNoFit = true
		logMove(slog.LevelWarn, "the rule's model cannot serve this series yet; it serves the reactive value", "reason", fc.Reason, "at", fc.At)
	case !fc.Fallback && st.fallback && st.hadModel:
		logMove(slog.LevelInfo, "series serves a model again", "model", fc.Model, "at", fc.At)
	}
	if !fc.Fallback {
		st.hadModel, st.warnedNoFit = true, false
		st.lastModel = string(fc.Model)
	}
	st.fallback = fc.Fallback
}

// snapshot builds the rule's immutable snapshot and updates its metrics.
func (w *worker) snapshot(l *Loop, now time.Time) *Snapshot {
	r := w.rule
	byNS := map[string][]*Entry{}
	oldest := int64(0)
	count := 0
	bounds := w.bounds(l, now)
	for _, st := range w.series {
		if st.lastAt == 0 {
			continue
		}
		fc, qv := w.demand(st, w.sloDemand(l, st, w.weigh(l, st, w.share(st, st.f.Serve()))))
		fc.Value = bounds.Apply(fc.Value)
		e := st.entry
		e.Forecast = fc
		e.Queue = qv
		bucket := e.Namespace
		if r.Info.ClusterWide {
			bucket = ClusterWideKey
		}
		byNS[bucket] = append(byNS[bucket], &e)
		count++
		if oldest == 0 || fc.At < oldest {
			oldest = fc.At
		}
	}
	for _, es := range byNS {
		sort.Slice(es, func(i, j int) bool { return es[i].Key < es[j].Key })
	}
	l.metrics.series.WithLabelValues(r.Info.StoreKey()).Set(float64(count))
	if oldest > 0 {
		l.metrics.staleness.WithLabelValues(r.Info.StoreKey()).Set(now.Sub(time.Unix(oldest, 0)).Seconds())
	}
	snap := &Snapshot{Info: r.Info, ByNamespace: byNS, Series: count, Ready: w.ready}
	snap.Index()
	return snap
}

// seriesLabel renders labels as k="v",... sorted by name, without braces.
func seriesLabel(ls labels.Labels) string {
	var b strings.Builder
	ls.Range(func(lb labels.Label) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", lb.Name, lb.Value)
	})
	return b.String()
}
