package source

import (
	"context"
	"fmt"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// MaxListedSeries bounds how many series one ListSeries call accepts, so that a
// series selector matching too much is an error rather than unbounded memory.
const MaxListedSeries = 100_000

// SeriesLister lists the series that a series selector matches in a time range
// (Prometheus' /api/v1/series). Metric discovery of imported prometheus-adapter
// rules uses it.
type SeriesLister interface {
	ListSeries(ctx context.Context, selector string, start, end time.Time) ([]labels.Labels, error)
}

// ListSeries implements SeriesLister with Prometheus' series API. More than
// MaxListedSeries series is an error.
func (p *Prometheus) ListSeries(ctx context.Context, selector string, start, end time.Time) ([]labels.Labels, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	began := time.Now()
	sets, warnings, _, err := p.api.Series(ctx, []string{selector}, start, end, promv1.WithLimit(MaxListedSeries+1))
	p.metrics.Duration.WithLabelValues(KindSeries).Observe(time.Since(began).Seconds())
	if err != nil {
		p.metrics.Errors.WithLabelValues(KindSeries).Inc()
		return nil, fmt.Errorf("series %s: %w", selector, err)
	}
	if len(warnings) > 0 {
		p.logger.Warn("prometheus series warnings", "selector", selector, "warnings", strings.Join(warnings, "; "))
	}
	if len(sets) > MaxListedSeries {
		p.metrics.Errors.WithLabelValues(KindSeries).Inc()
		return nil, fmt.Errorf("series %s: more than %d series match; narrow the selector", selector, MaxListedSeries)
	}
	out := make([]labels.Labels, len(sets))
	for i, s := range sets {
		out[i] = metricLabels(model.Metric(s))
	}
	return out, nil
}

// ParseSeriesSelector parses a series selector ({job="x"} or name{...}) as
// Prometheus' series API does, with the adapter's parser.
func ParseSeriesSelector(selector string) ([]*labels.Matcher, error) {
	return promqlParser.ParseMetricSelector(selector)
}
