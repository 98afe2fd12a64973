package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/spf13/pflag"
)

// DefaultMaxPointsPerQuery keeps every range query under Prometheus' limit of
// 11,000 points per series.
const DefaultMaxPointsPerQuery = 11000

// DefaultMaxResponseBytes bounds the body of one Prometheus response: 128 MiB.
// A range-query point is up to about 40 bytes of JSON, so this holds a full
// chunk of 11,000 points for about 300 series or the serving loop's chunks of
// 1,440 points for about 2,300; a series-API answer of MaxListedSeries series
// of up to 1.3 KB each; an instant query over about 250,000 series of 500
// bytes. The client buffers a whole body in a doubling buffer before decoding
// it, so a response near the limit briefly takes about twice the limit: 128 MiB
// keeps that well inside the chart's 512Mi container limit, 256 MiB would not.
const DefaultMaxResponseBytes = 128 << 20

// PrometheusConfig configures a Prometheus source: any server with the
// Prometheus HTTP API (Prometheus, Thanos Query, Mimir, Cortex, VictoriaMetrics).
type PrometheusConfig struct {
	// Address is the base URL, e.g. https://prometheus.monitoring.svc:9090 or
	// https://mimir.example/prometheus. Required.
	Address string
	// BearerTokenFile is a file holding a bearer token, re-read as it changes
	// (e.g. a projected service account token).
	BearerTokenFile string
	// BearerToken is a literal bearer token (prefer BearerTokenFile).
	BearerToken string
	// CAFile is a PEM file of CAs to verify the server with (default: system roots).
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for mutual TLS.
	CertFile string
	// KeyFile is the client certificate's key.
	KeyFile string
	// ServerName overrides the name the server certificate is verified against.
	ServerName string
	// InsecureSkipVerify turns off server certificate verification (tests only).
	InsecureSkipVerify bool
	// Headers are extra request headers, e.g. X-Scope-OrgID for Mimir or Cortex tenants.
	Headers map[string]string
	// Timeout bounds every single HTTP query. Default 30s.
	Timeout time.Duration
	// MaxPointsPerQuery bounds the points per series of one range query; longer
	// ranges are split into consecutive chunks. Default DefaultMaxPointsPerQuery.
	MaxPointsPerQuery int
	// MaxResponseBytes bounds the body of one response, in bytes as decoded
	// (after any decompression); a larger response fails its query with an
	// error. Default DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// AddFlags registers the configuration's flags (prefixed "prometheus-") on fs.
func (c *PrometheusConfig) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Address, "prometheus-url", c.Address, "URL of the Prometheus HTTP API (Prometheus, Thanos, Mimir).")
	fs.StringVar(&c.BearerTokenFile, "prometheus-bearer-token-file", c.BearerTokenFile, "File with a bearer token for Prometheus, re-read when it changes.")
	fs.StringVar(&c.CAFile, "prometheus-ca-file", c.CAFile, "PEM file of CAs that sign Prometheus' serving certificate.")
	fs.StringVar(&c.CertFile, "prometheus-cert-file", c.CertFile, "PEM client certificate for mutual TLS with Prometheus.")
	fs.StringVar(&c.KeyFile, "prometheus-key-file", c.KeyFile, "PEM client key for mutual TLS with Prometheus.")
	fs.StringVar(&c.ServerName, "prometheus-server-name", c.ServerName, "Name to verify Prometheus' serving certificate against.")
	fs.BoolVar(&c.InsecureSkipVerify, "prometheus-insecure-skip-verify", c.InsecureSkipVerify, "Do not verify Prometheus' serving certificate (testing only).")
	fs.StringToStringVar(&c.Headers, "prometheus-header", c.Headers, "Extra request header for Prometheus, e.g. X-Scope-OrgID=tenant (repeatable).")
	fs.DurationVar(&c.Timeout, "prometheus-timeout", c.Timeout, "Timeout of one Prometheus query.")
	fs.IntVar(&c.MaxPointsPerQuery, "prometheus-max-points-per-query", c.MaxPointsPerQuery, "Points per series in one range query; longer ranges are split.")
	fs.Int64Var(&c.MaxResponseBytes, "prometheus-max-response-bytes", c.MaxResponseBytes, fmt.Sprintf("Largest body of one Prometheus response in bytes (0: %d); a larger one fails its query.", int64(DefaultMaxResponseBytes)))
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
	if cfg.Address == "" {
		return nil, errors.New("prometheus source: address is required")
	}
	if cfg.BearerToken != "" && cfg.BearerTokenFile != "" {
		return nil, errors.New("prometheus source: set at most one of bearer token and bearer token file")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxPointsPerQuery == 0 {
		cfg.MaxPointsPerQuery = DefaultMaxPointsPerQuery
	}
	if cfg.MaxPointsPerQuery < 2 {
		return nil, fmt.Errorf("prometheus source: max points per query must be at least 2, got %d", cfg.MaxPointsPerQuery)
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MaxResponseBytes < 0 {
		return nil, fmt.Errorf("prometheus source: max response bytes (--prometheus-max-response-bytes) must be positive, got %d", cfg.MaxResponseBytes)
	}
	httpCfg := commoncfg.HTTPClientConfig{
		FollowRedirects: true,
		EnableHTTP2:     true,
		TLSConfig: commoncfg.TLSConfig{
			CAFile:             cfg.CAFile,
			CertFile:           cfg.CertFile,
			KeyFile:            cfg.KeyFile,
			ServerName:         cfg.ServerName,
			InsecureSkipVerify: cfg.InsecureSkipVerify,
		},
	}
	switch {
	case cfg.BearerTokenFile != "":
		httpCfg.Authorization = &commoncfg.Authorization{Type: "Bearer", CredentialsFile: cfg.BearerTokenFile}
	case cfg.BearerToken != "":
		httpCfg.Authorization = &commoncfg.Authorization{Type: "Bearer", Credentials: commoncfg.Secret(cfg.BearerToken)}
	}
	if len(cfg.Headers) > 0 {
		h := &commoncfg.Headers{Headers: map[string]commoncfg.Header{}}
		for k, v := range cfg.Headers {
			h.Headers[k] = commoncfg.Header{Values: []string{v}}
		}
		httpCfg.HTTPHeaders = h
	}
	if err := httpCfg.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus source: %w", err)
	}
	rt, err := commoncfg.NewRoundTripperFromConfig(httpCfg, "foresight-adapter")
	if err != nil {
		return nil, fmt.Errorf("prometheus source: %w", err)
	}
	client, err := api.NewClient(api.Config{Address: cfg.Address, RoundTripper: limitResponses(rt, cfg.MaxResponseBytes)})
	if err != nil {
		return nil, fmt.Errorf("prometheus source %s: %w", cfg.Address, err)
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
