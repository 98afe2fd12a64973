// Package promquery evaluates the PromQL expressions that watch the control plane's
// time-boxed changes (experiment guards, canary analysis) against a real Prometheus, and
// holds the clock those changes are timed with, so tests can step time.
package promquery

import (
	"context"
	"math"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Timeout bounds one evaluation.
const Timeout = 10 * time.Second

// Querier evaluates an instant PromQL query; prometheus/client_golang's v1.API satisfies it.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// Clock tells the time and waits; tests inject a fake one.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// After delivers the time after d.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Instant evaluates expr at ts, bounded by Timeout.
func Instant(ctx context.Context, q Querier, expr string, ts time.Time) (model.Value, v1.Warnings, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	v, warnings, _, err := q.Query(ctx, expr, ts)
	return v, warnings, err
}

// Samples flattens a query result into its sample values: every sample of a vector or a
// matrix, the value of a scalar. ok is false for any other kind of result (a string).
func Samples(v model.Value) (values []float64, ok bool) {
	switch x := v.(type) {
	case model.Vector:
		for _, s := range x {
			values = append(values, float64(s.Value))
		}
	case model.Matrix:
		for _, s := range x {
			for _, p := range s.Values {
				values = append(values, float64(p.Value))
			}
		}
	case *model.Scalar:
		values = append(values, float64(x.Value))
	default:
		return nil, false
	}
	return values, true
}

// Max is the largest of values, -Inf for none.
func Max(values []float64) float64 {
	m := math.Inf(-1)
	for _, v := range values {
		m = math.Max(m, v)
	}
	return m
}

// ManualClock is a Clock that moves only when told to; tests step time with it. Its After
// never fires: a test calls the stepping function itself.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a ManualClock at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now implements Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After implements Clock; the channel never delivers.
func (c *ManualClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Add moves the clock by d.
func (c *ManualClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
