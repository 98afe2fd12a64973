package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// A series selector may match a few series or millions (prometheus-adapter's chart defaults
// match every series of a cluster's applications). ListSeries reads at most MaxListedSeries
// series at once; past them it reads, instead, the series names the selector matches (at
// most MaxListedNames) and the label names of each name's series, maxNameRequests requests
// at a time.
const (
	MaxListedSeries = 10_000
	MaxListedNames  = 100_000
	maxNameRequests = 8
)

// SeriesLister lists the series that a series selector matches in a time range
// (Prometheus' /api/v1/series). Metric discovery of imported prometheus-adapter
// rules uses it, and reads only the series' names and label names.
type SeriesLister interface {
	ListSeries(ctx context.Context, selector string, start, end time.Time) ([]labels.Labels, error)
}

// ListSeries implements SeriesLister with Prometheus' series API. Where more than
// MaxListedSeries series match, it returns one label set per series name instead: the name
// and the label names of its series, with empty values.
func (p *Prometheus) ListSeries(ctx context.Context, selector string, start, end time.Time) ([]labels.Labels, error) {
	sets, err := observed(p, KindSeries, selector, func(ctx context.Context) ([]model.LabelSet, promv1.Warnings, error) {
		sets, warnings, _, err := p.api.Series(ctx, []string{selector}, start, end, promv1.WithLimit(MaxListedSeries+1))
		return sets, warnings, err
	})(ctx)
	if err != nil {
		return nil, fmt.Errorf("series %s: %w", selector, err)
	}
	if len(sets) > MaxListedSeries {
		return p.listSeriesNames(ctx, selector, start, end)
	}
	out := make([]labels.Labels, len(sets))
	for i, s := range sets {
		out[i] = metricLabels(model.Metric(s))
	}
	return out, nil
}

// listSeriesNames is ListSeries past MaxListedSeries: one label set per series name the
// selector matches, with the label names of its series (empty values).
func (p *Prometheus) listSeriesNames(ctx context.Context, selector string, start, end time.Time) ([]labels.Labels, error) {
	matchers, err := ParseSeriesSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("series %s: %w", selector, err)
	}
	names, err := observed(p, KindSeries, selector, func(ctx context.Context) (model.LabelValues, promv1.Warnings, error) {
		names, warnings, _, err := p.api.LabelValues(ctx, model.MetricNameLabel, []string{selector}, start, end, promv1.WithLimit(MaxListedNames+1))
		return names, warnings, err
	})(ctx)
	if err != nil {
		return nil, fmt.Errorf("series names of %s: %w", selector, err)
	}
	if len(names) > MaxListedNames {
		p.metrics.Errors.WithLabelValues(KindSeries).Inc()
		return nil, fmt.Errorf("series %s: more than %d series names match; narrow the selector", selector, MaxListedNames)
	}
	out := make([]labels.Labels, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, maxNameRequests)
	var wg sync.WaitGroup
	for i, name := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			one := append(slices.Clone(matchers), labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, string(name)))
			sel := matchersText(one)
			lnames, err := observed(p, KindSeries, sel, func(ctx context.Context) (model.LabelNames, promv1.Warnings, error) {
				lnames, warnings, _, err := p.api.LabelNames(ctx, []string{sel}, start, end)
				return lnames, warnings, err
			})(ctx)
			if err != nil {
				errs[i] = fmt.Errorf("label names of %s: %w", sel, err)
				return
			}
			b := labels.NewScratchBuilder(len(lnames) + 1)
			b.Add(model.MetricNameLabel, string(name))
			for _, l := range lnames {
				if l != model.MetricNameLabel {
					b.Add(string(l), "")
				}
			}
			b.Sort()
			out[i] = b.Labels()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// matchersText is a series selector of matchers: {a="x",b=~"y"}.
func matchersText(ms []*labels.Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// observed runs one request of kind through call with the source's timeout, timing it and
// counting its failure, and logs the warnings of Prometheus' answer.
func observed[T any](p *Prometheus, kind, selector string, call func(context.Context) (T, promv1.Warnings, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		ctx, cancel := context.WithTimeout(ctx, p.timeout)
		defer cancel()
		began := time.Now()
		v, warnings, err := call(ctx)
		p.metrics.Duration.WithLabelValues(kind).Observe(time.Since(began).Seconds())
		if err != nil {
			p.metrics.Errors.WithLabelValues(kind).Inc()
			return v, err
		}
		if len(warnings) > 0 {
			p.logger.Warn("prometheus warnings", "kind", kind, "selector", selector, "warnings", strings.Join(warnings, "; "))
		}
		return v, nil
	}
}

// ParseSeriesSelector parses a series selector ({job="x"} or name{...}) as
// Prometheus' series API does, with the adapter's parser.
func ParseSeriesSelector(selector string) ([]*labels.Matcher, error) {
	return promqlParser.ParseMetricSelector(selector)
}
