package preview

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/foresight-dev/foresight/rules"
)

func openBenchDB(b *testing.B, minutes int) (*tsdb.DB, Load) {
	b.Helper()
	opts := tsdb.DefaultOptions()
	opts.OutOfOrderTimeWindow = (time.Duration(minutes) * time.Minute).Milliseconds()
	db, err := tsdb.Open(b.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	db.DisableCompactions()
	b.Cleanup(func() { db.Close() })
	return db, Synthetic(minutes, 300)
}

// BenchmarkPopulate measures generating and storing one day of synthetic series.
func BenchmarkPopulate(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		db, load := openBenchDB(b, 1440)
		b.StartTimer()
		app := db.Appender(context.Background())
		if err := Populate(app, load, DefaultScenario(len(load.Values))); err != nil {
			b.Fatal(err)
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordingRulesInstant measures one evaluation of every recording rule of
// rules/ at the end of two days of synthetic series: the cost a Prometheus pays per
// evaluation interval for this series count (3d windows included).
func BenchmarkRecordingRulesInstant(b *testing.B) {
	db, load := openBenchDB(b, 2*1440)
	app := db.Appender(context.Background())
	if err := Populate(app, load, DefaultScenario(len(load.Values))); err != nil {
		b.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		b.Fatal(err)
	}
	files, err := rules.LoadDir(filepath.Join("..", "..", "rules"))
	if err != nil {
		b.Fatal(err)
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute})
	at := load.Start.Add(time.Duration(len(load.Values)-1) * time.Minute)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range rules.Rules(files) {
			if r.Record == "" {
				continue
			}
			q, err := engine.NewInstantQuery(ctx, db, nil, r.Expr, at)
			if err != nil {
				b.Fatal(err)
			}
			if res := q.Exec(ctx); res.Err != nil {
				b.Fatal(res.Err)
			}
			q.Close()
		}
	}
}
