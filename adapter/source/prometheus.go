package source

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/spf13/pflag"

	"github.com/foresight-dev/foresight/internal/promclient"
)

// DefaultMaxPointsPerQuery keeps every range query under Prometheus' limit of
// 11,000 points per series.
const DefaultMaxPointsPerQuery = 11000

// PrometheusConfig configures a Prometheus source: any server with the
// Prometheus HTTP API (Prometheus, Thanos Query, Mimir, Cortex, VictoriaMetrics).
type PrometheusConfig struct {
	// Config is how to reach the server; Config.Address is required.
	promclient.Config
	// Timeout bounds every single HTTP query. Default 30s.
	Timeout time.Duration
	// MaxPointsPerQuery bounds the points per series of one range query; longer
	// ranges are split into consecutive chunks. Default DefaultMaxPointsPerQuery.
	MaxPointsPerQuery int
}

// AddFlags registers the configuration's flags (prefixed "prometheus-") on fs.
func (c *PrometheusConfig) AddFlags(fs *pflag.FlagSet) {
	c.Config.AddFlags(fs)
	fs.DurationVar(&c.Timeout, "prometheus-timeout", c.Timeout, "Timeout of one Prometheus query.")
	fs.IntVar(&c.MaxPointsPerQuery, "prometheus-max-points-per-query", c.MaxPointsPerQuery, "Points per series in one range query; longer ranges are split.")
}

// Prometheus is a Source that queries a Prometheus HTTP API.
type Prometheus struct {
	api       promv1.API
	timeout   time.Duration
	maxPoints int
	metrics   *Metrics
	logger    *slog.Logger
}

// NewPrometheus builds a Prometheus source. Its metrics are registered on reg
// (nil: not registered). logger may be nil.
func NewPrometheus(cfg PrometheusConfig, reg prometheus.Registerer, logger *slog.Logger) (*Prometheus, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxPointsPerQuery == 0 {
		cfg.MaxPointsPerQuery = DefaultMaxPointsPerQuery
	}
	if cfg.MaxPointsPerQuery < 2 {
		return nil, fmt.Errorf("prometheus source: max points per query must be at least 2, got %d", cfg.MaxPointsPerQuery)
	}
	client, err := promclient.New(cfg.Config, "foresight-adapter")
	if err != nil {
		return nil, fmt.Errorf("prometheus source: %w", err)
	}
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("prometheus source: register metrics: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Prometheus{api: promv1.NewAPI(client), timeout: cfg.Timeout, maxPoints: cfg.MaxPointsPerQuery, metrics: m, logger: logger}, nil
}

// QueryRange implements Source. The range is split into chunks of at most
// MaxPointsPerQuery evaluation steps, queried one after another; the chunks'
// evaluation timestamps are exactly start, start+step, ... so the result is the
// same as one query over the whole range. A point the server returns at any
// other timestamp is an error, not a value on the wrong step: engines that
// round the range to the step (VictoriaMetrics' response cache) answer
// exactly only for a start that is a multiple of the step.
func (p *Prometheus) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if step <= 0 {
		return nil, fmt.Errorf("query range: step must be positive, got %v", step)
	}
	if end.Before(start) {
		return nil, fmt.Errorf("query range: end %v before start %v", end, start)
	}
	merged := map[string]*Series{}
	chunk := time.Duration(p.maxPoints-1) * step
	for cs := start; !cs.After(end); cs = cs.Add(chunk + step) {
		ce := cs.Add(chunk)
		if ce.After(end) {
			ce = end
		}
		m, err := p.queryRange(ctx, query, cs, ce, step)
		if err != nil {
			return nil, err
		}
		for _, ss := range m {
			lbls := metricLabels(ss.Metric)
			key := lbls.String()
			s, ok := merged[key]
			if !ok {
				s = &Series{Labels: lbls}
				merged[key] = s
			}
			for _, pair := range ss.Values {
				t := int64(pair.Timestamp)
				if !onSteps(t, cs, ce, step) {
					p.metrics.Errors.WithLabelValues(KindRange).Inc()
					return nil, fmt.Errorf("query range [%s, %s] step %s: the server returned a point at %s, not on the requested steps "+
						"(VictoriaMetrics aligns a range query's start to its step: start at a multiple of the step, or run it with -search.disableCache)",
						cs.UTC().Format(time.RFC3339), ce.UTC().Format(time.RFC3339), step, time.UnixMilli(t).UTC().Format(time.RFC3339Nano))
				}
				s.Samples = append(s.Samples, Sample{T: t, V: float64(pair.Value)})
			}
		}
	}
	out := make([]Series, 0, len(merged))
	for _, s := range merged {
		out = append(out, *s)
	}
	sortSeries(out)
	return out, nil
}

// onSteps reports whether t (Unix milliseconds) is one of the evaluation
// timestamps start, start+step, ... of the range [start, end].
func onSteps(t int64, start, end time.Time, step time.Duration) bool {
	if t < start.UnixMilli() || t > end.UnixMilli() {
		return false
	}
	ms := step.Milliseconds()
	return ms <= 0 || (t-start.UnixMilli())%ms == 0
}

func (p *Prometheus) queryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) (model.Matrix, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	began := time.Now()
	v, warnings, _, err := p.api.QueryRange(ctx, query, promv1.Range{Start: start, End: end, Step: step})
	p.metrics.Duration.WithLabelValues(KindRange).Observe(time.Since(began).Seconds())
	if err != nil {
		p.metrics.Errors.WithLabelValues(KindRange).Inc()
		return nil, fmt.Errorf("query range [%s, %s] step %s: %w", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), step, err)
	}
	if len(warnings) > 0 {
		p.logger.Warn("prometheus query warnings", "query", query, "warnings", strings.Join(warnings, "; "))
	}
	m, ok := v.(model.Matrix)
	if !ok {
		p.metrics.Errors.WithLabelValues(KindRange).Inc()
		return nil, fmt.Errorf("query range: result is %s, want matrix", v.Type())
	}
	return m, nil
}

// Query evaluates an instant query at ts.
func (p *Prometheus) Query(ctx context.Context, query string, ts time.Time) ([]Series, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	began := time.Now()
	v, warnings, _, err := p.api.Query(ctx, query, ts)
	p.metrics.Duration.WithLabelValues(KindInstant).Observe(time.Since(began).Seconds())
	if err != nil {
		p.metrics.Errors.WithLabelValues(KindInstant).Inc()
		return nil, fmt.Errorf("query at %s: %w", ts.UTC().Format(time.RFC3339), err)
	}
	if len(warnings) > 0 {
		p.logger.Warn("prometheus query warnings", "query", query, "warnings", strings.Join(warnings, "; "))
	}
	switch v := v.(type) {
	case model.Vector:
		out := make([]Series, 0, len(v))
		for _, s := range v {
			out = append(out, Series{Labels: metricLabels(s.Metric), Samples: []Sample{{T: int64(s.Timestamp), V: float64(s.Value)}}})
		}
		sortSeries(out)
		return out, nil
	case *model.Scalar:
		return []Series{{Labels: labels.EmptyLabels(), Samples: []Sample{{T: int64(v.Timestamp), V: float64(v.Value)}}}}, nil
	default:
		p.metrics.Errors.WithLabelValues(KindInstant).Inc()
		return nil, fmt.Errorf("query: result is %s, want vector or scalar", v.Type())
	}
}

func metricLabels(m model.Metric) labels.Labels {
	b := labels.NewScratchBuilder(len(m))
	for k, v := range m {
		b.Add(string(k), string(v))
	}
	b.Sort()
	return b.Labels()
}

func sortSeries(s []Series) {
	sort.Slice(s, func(i, j int) bool { return labels.Compare(s[i].Labels, s[j].Labels) < 0 })
}
