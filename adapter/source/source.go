// Package source reads load history for the forecast loop: the Source
// interface with a Prometheus HTTP API client and an embedded in-process TSDB,
// PromQL query templates with safe label matchers, and a History cache that
// loads a rule's window once and then extends it incrementally.
package source

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Sample is one point of a series.
type Sample struct {
	// T is the timestamp in Unix milliseconds.
	T int64
	// V is the value.
	V float64
}

// Series is one result series of a range query, samples in time order.
type Series struct {
	// Labels identify the series.
	Labels labels.Labels
	// Samples are the series' points, oldest first.
	Samples []Sample
}

// Source runs PromQL range queries.
type Source interface {
	// QueryRange evaluates query at start, start+step, ... up to end (inclusive)
	// and returns one Series per result series. Series without any point in the
	// range are absent. Implementations split long ranges as they need.
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error)
}

// Query kinds, the values of the metrics' kind label.
const (
	KindRange   = "range"
	KindInstant = "instant"
	// KindSeries is a series listing (metric discovery).
	KindSeries = "series"
)
