package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/foresight-dev/foresight/adapter/loadgen"
)

// seriesSet is one metric of the benchmark's data: namespaces x services
// series of one-minute load, each a loadgen profile.
type seriesSet struct {
	metric       string
	namespaces   int
	perNamespace int
	history      time.Duration
}

func (s seriesSet) series() int { return s.namespaces * s.perNamespace }

func (s seriesSet) namespace(i int) string { return s.metric + "-ns-" + strconv.Itoa(i) }

func service(i int) string { return "svc-" + strconv.Itoa(i) }

// writeBlocks writes the sets into one Prometheus TSDB block in dir, each
// series sampled every minute from now-history to now+ahead. The samples
// ahead of now keep the newest value within Prometheus's 5-minute lookback
// for the whole run, so the peer's instant queries always find a value; the
// adapters' range queries end at now and never read them.
func writeBlocks(ctx context.Context, dir string, now time.Time, ahead time.Duration, sets ...seriesSet) (int, error) {
	const blockSpan = 64 * 24 * time.Hour // one block for all: the head accepts samples up to half of it apart
	w, err := tsdb.NewBlockWriter(slog.New(slog.DiscardHandler), dir, blockSpan.Milliseconds())
	if err != nil {
		return 0, fmt.Errorf("block writer: %w", err)
	}
	defer w.Close()
	end := now.Truncate(time.Minute).Add(ahead)
	samples := 0
	for _, set := range sets {
		steps := int((set.history+ahead)/time.Minute) + 1
		start := end.Add(-time.Duration(steps-1) * time.Minute)
		for ns := range set.namespaces {
			for svc := range set.perNamespace {
				// One commit per series: an appender buffers its samples until then.
				app := w.Appender(ctx)
				p := loadgen.Default(100+float64(svc%500), uint64(ns*set.perNamespace+svc))
				lbls := labels.FromStrings("__name__", set.metric, "namespace", set.namespace(ns), "service", service(svc))
				var ref storage.SeriesRef
				for i := range steps {
					t := start.Add(time.Duration(i) * time.Minute)
					if ref, err = app.Append(ref, lbls, t.UnixMilli(), p.At(t)); err != nil {
						_ = app.Rollback()
						return 0, fmt.Errorf("append %s at %s: %w", lbls, t, err)
					}
				}
				if err := app.Commit(); err != nil {
					return 0, fmt.Errorf("commit %s: %w", lbls, err)
				}
				samples += steps
			}
		}
	}
	if _, err := w.Flush(ctx); err != nil {
		return 0, fmt.Errorf("write block: %w", err)
	}
	return samples, nil
}
