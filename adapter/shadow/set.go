package shadow

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// Set holds the evaluators of one rule's series, creates them on first
// sight, and keeps their metrics current. It is what the serving loop feeds:
// Observe for every sample it feeds a forecaster, Publish after each cycle.
// It is safe for concurrent use; samples of one series must come in time order.
type Set struct {
	cfg        Config
	strategies []Strategy
	metrics    *Metrics

	mu    sync.Mutex
	evals map[SeriesID]*seriesEval
	// nsPrices keeps each namespace's recent prices for evaluators created
	// later (a series that appears), and nsSpot its latest spot share.
	nsPrices map[string][]pricePoint
	nsSpot   map[string]float64
}

// priceMemory is how much namespace price history a Set keeps for series
// that appear later: the longest history a rule loads at start.
const priceMemory = 15 * 24 * 3600

type seriesEval struct {
	mu sync.Mutex
	ev *Evaluator
}

// NewSet returns an empty set whose evaluators use cfg and strategies
// (validated now). metrics may be nil.
func NewSet(cfg Config, strategies []Strategy, metrics *Metrics) (*Set, error) {
	if _, err := NewEvaluator(cfg, strategies); err != nil {
		return nil, err
	}
	return &Set{cfg: cfg, strategies: strategies, metrics: metrics, evals: map[SeriesID]*seriesEval{},
		nsPrices: map[string][]pricePoint{}, nsSpot: map[string]float64{}}, nil
}

// Observe feeds one sample of series id to its evaluator.
func (s *Set) Observe(id SeriesID, ts int64, v float64) error {
	se, err := s.eval(id)
	if err != nil {
		return err
	}
	se.mu.Lock()
	defer se.mu.Unlock()
	if err := se.ev.Observe(ts, v); err != nil {
		return fmt.Errorf("shadow %s/%s %s: %w", id.Namespace, id.Metric, id.Series, err)
	}
	return nil
}

// ObservePrice records the replica-hour price of series id from Unix second
// ts on (see Evaluator.ObservePrice) and its spot share. Without prices,
// cost-weighted strategies weigh cost-blind and dollars stay zero.
func (s *Set) ObservePrice(id SeriesID, ts int64, price, spotShare float64) error {
	se, err := s.eval(id)
	if err != nil {
		return err
	}
	se.mu.Lock()
	defer se.mu.Unlock()
	se.ev.SetSpotShare(spotShare)
	if err := se.ev.ObservePrice(ts, price); err != nil {
		return fmt.Errorf("shadow %s/%s %s: %w", id.Namespace, id.Metric, id.Series, err)
	}
	return nil
}

// ObserveNamespacePrice records the replica-hour price of the workload in a
// namespace from Unix second ts on, and its spot share, for every series of
// that namespace, those seen already and those that appear later (which get
// the recent price history before their first sample). Prices of one
// namespace must come in time order; they may run ahead of the samples.
func (s *Set) ObserveNamespacePrice(namespace string, ts int64, price, spotShare float64) error {
	s.mu.Lock()
	pts := s.nsPrices[namespace]
	if n := len(pts); n > 0 && ts < pts[n-1].TS {
		s.mu.Unlock()
		return fmt.Errorf("shadow: namespace %s: price at ts %d is before the last one at %d", namespace, ts, pts[n-1].TS)
	}
	pts = append(pts, pricePoint{TS: ts, Price: price})
	cut := 0
	for cut+1 < len(pts) && pts[cut+1].TS < ts-priceMemory {
		cut++
	}
	s.nsPrices[namespace] = pts[cut:]
	s.nsSpot[namespace] = spotShare
	var targets []*seriesEval
	for id, se := range s.evals {
		if id.Namespace == namespace {
			targets = append(targets, se)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, se := range targets {
		se.mu.Lock()
		se.ev.SetSpotShare(spotShare)
		if err := se.ev.ObservePrice(ts, price); err != nil {
			errs = append(errs, err)
		}
		se.mu.Unlock()
	}
	return errors.Join(errs...)
}

// eval returns the evaluator of series id, creating it on first sight with
// its namespace's recent prices.
func (s *Set) eval(id SeriesID) (*seriesEval, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.evals[id]
	if se == nil {
		ev, err := NewEvaluator(s.cfg, s.strategies)
		if err != nil {
			return nil, err
		}
		for _, p := range s.nsPrices[id.Namespace] {
			if err := ev.ObservePrice(p.TS, p.Price); err != nil {
				return nil, err
			}
		}
		ev.SetSpotShare(s.nsSpot[id.Namespace])
		se = &seriesEval{ev: ev}
		s.evals[id] = se
	}
	return se, nil
}

// Forget drops a series and its metrics.
func (s *Set) Forget(id SeriesID) {
	s.mu.Lock()
	delete(s.evals, id)
	s.mu.Unlock()
	if s.metrics != nil {
		s.metrics.Forget(id)
	}
}

// ForgetAll drops every series and its metrics (the rule was removed or changed).
func (s *Set) ForgetAll() {
	s.mu.Lock()
	ids := make([]SeriesID, 0, len(s.evals))
	for id := range s.evals {
		ids = append(ids, id)
	}
	s.evals = map[SeriesID]*seriesEval{}
	s.mu.Unlock()
	if s.metrics != nil {
		for _, id := range ids {
			s.metrics.Forget(id)
		}
	}
}

// Summaries returns every series' summary, sorted by metric, namespace and series.
func (s *Set) Summaries() []Summary {
	s.mu.Lock()
	ids := make([]SeriesID, 0, len(s.evals))
	for id := range s.evals {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.SortFunc(ids, SeriesID.Compare)
	out := make([]Summary, 0, len(ids))
	for _, id := range ids {
		s.mu.Lock()
		se := s.evals[id]
		s.mu.Unlock()
		if se == nil {
			continue
		}
		se.mu.Lock()
		sum := se.ev.Summary()
		se.mu.Unlock()
		sum.Metric, sum.Namespace, sum.Series = id.Metric, id.Namespace, id.Series
		out = append(out, sum)
	}
	return out
}

// Publish updates the metrics of every series and returns the summaries.
func (s *Set) Publish() []Summary {
	sums := s.Summaries()
	if s.metrics != nil {
		for _, sum := range sums {
			s.metrics.Update(SeriesID{Metric: sum.Metric, Namespace: sum.Namespace, Series: sum.Series}, sum)
		}
	}
	return sums
}

// ServeHTTP answers with the JSON Report of every series (GET only).
func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(NewReport(s.Summaries())); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
