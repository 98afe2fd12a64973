package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// EmbeddedOptions configure an Embedded source.
type EmbeddedOptions struct {
	// Dir is the TSDB directory. Empty: a temporary directory, removed by Close.
	Dir string
	// Retention is how long data is kept, counted back from the newest sample.
	// Default 30 days.
	Retention time.Duration
	// OutOfOrderWindow is how far behind the newest sample appends are still
	// accepted, so that history can be filled series by series. Default Retention.
	OutOfOrderWindow time.Duration
	// LookbackDelta is the PromQL lookback. Default 5m.
	LookbackDelta time.Duration
	// Registerer receives the source metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Logger receives TSDB logs (nil: discarded).
	Logger *slog.Logger
}

// Embedded is a Source backed by an in-process Prometheus TSDB and PromQL
// engine: the adapter's local default (demo) and a real engine for tests.
// Samples are written with Append or AppendSeries; queries see them at once.
type Embedded struct {
	db      *tsdb.DB
	engine  *promql.Engine
	metrics *Metrics
	tempDir string

	closeOnce sync.Once
	closeErr  error
}

// NewEmbedded opens an embedded TSDB and PromQL engine.
func NewEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	if opts.Retention == 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	if opts.OutOfOrderWindow == 0 {
		opts.OutOfOrderWindow = opts.Retention
	}
	if opts.LookbackDelta == 0 {
		opts.LookbackDelta = 5 * time.Minute
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Embedded{}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "foresight-tsdb-")
		if err != nil {
			return nil, fmt.Errorf("embedded source: %w", err)
		}
		dir, e.tempDir = d, d
	}
	to := tsdb.DefaultOptions()
	to.RetentionDuration = opts.Retention.Milliseconds()
	to.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
	to.WALSegmentSize = -1 // no WAL: the demo regenerates its data
	db, err := tsdb.Open(dir, logger, nil, to, nil)
	if err != nil {
		_ = e.removeTemp()
		return nil, fmt.Errorf("embedded source: open tsdb %s: %w", dir, err)
	}
	e.db = db
	e.engine = promql.NewEngine(promql.EngineOpts{
		Logger:        logger,
		MaxSamples:    50_000_000,
		Timeout:       2 * time.Minute,
		LookbackDelta: opts.LookbackDelta,
		Parser:        promqlParser,
	})
	m, err := NewMetrics(opts.Registerer)
	if err != nil {
		_ = e.Close()
		return nil, fmt.Errorf("embedded source: register metrics: %w", err)
	}
	e.metrics = m
	return e, nil
}

// Append adds one sample (t in Unix milliseconds).
func (e *Embedded) Append(lbls labels.Labels, t int64, v float64) error {
	return e.AppendSeries(lbls, []Sample{{T: t, V: v}})
}

// AppendSeries adds samples of one series in one transaction.
func (e *Embedded) AppendSeries(lbls labels.Labels, samples []Sample) error {
	app := e.db.Appender(context.Background())
	var ref storage.SeriesRef
	for _, s := range samples {
		var err error
		ref, err = app.Append(ref, lbls, s.T, s.V)
		if err != nil {
			_ = app.Rollback()
			return fmt.Errorf("embedded source: append %s at %d: %w", lbls, s.T, err)
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("embedded source: commit %s: %w", lbls, err)
	}
	return nil
}

// QueryRange implements Source with the embedded PromQL engine.
func (e *Embedded) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	if step <= 0 {
		return nil, fmt.Errorf("query range: step must be positive, got %v", step)
	}
	began := time.Now()
	out, err := e.queryRange(ctx, query, start, end, step)
	e.metrics.Duration.WithLabelValues(KindRange).Observe(time.Since(began).Seconds())
	if err != nil {
		e.metrics.Errors.WithLabelValues(KindRange).Inc()
		return nil, err
	}
	return out, nil
}

func (e *Embedded) queryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	q, err := e.engine.NewRangeQuery(ctx, e.db, nil, query, start, end, step)
	if err != nil {
		return nil, fmt.Errorf("query range: %w", err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("query range: %w", res.Err)
	}
	m, err := res.Matrix()
	if err != nil {
		return nil, fmt.Errorf("query range: %w", err)
	}
	out := make([]Series, 0, len(m))
	for _, s := range m {
		ser := Series{Labels: s.Metric, Samples: make([]Sample, 0, len(s.Floats))}
		for _, p := range s.Floats {
			ser.Samples = append(ser.Samples, Sample{T: p.T, V: p.F})
		}
		out = append(out, ser)
	}
	sortSeries(out)
	return out, nil
}

// Close closes the TSDB and removes its directory if it was temporary.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		if e.db != nil {
			e.closeErr = e.db.Close()
		}
		e.closeErr = errors.Join(e.closeErr, e.removeTemp())
	})
	return e.closeErr
}

func (e *Embedded) removeTemp() error {
	if e.tempDir == "" {
		return nil
	}
	return os.RemoveAll(e.tempDir)
}
