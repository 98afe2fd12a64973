package backtest

import (
	"context"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
)

// BenchmarkBacktest16DaysGenerated backtests a generated 16-day one-minute
// trace with the default settings (all four strategies, the full target grid).
func BenchmarkBacktest16DaysGenerated(b *testing.B) {
	samples := diurnal(16, 60, 11)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), samples, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(samples)), "rows")
}

// BenchmarkBacktest16DaysReal backtests crane-input1 (16 days, one minute)
// from testdata/traces.
func BenchmarkBacktest16DaysReal(b *testing.B) {
	samples := readTrace(b, "crane-input1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(context.Background(), samples, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(samples)), "rows")
}

// BenchmarkReplay measures one HPA replay of 16 days at 15 s ticks.
func BenchmarkReplay(b *testing.B) {
	samples := diurnal(16, 60, 12)
	tl, err := NewTimeline(samples, TimelineConfig{Step: time.Minute, Capacity: 10,
		HPA: hpa.Config{MaxReplicas: 10000, StartupDelay: 2 * time.Minute}})
	if err != nil {
		b.Fatal(err)
	}
	served := values(samples)
	for b.Loop() {
		if _, err := tl.Replay(served, 0.7, nil); err != nil {
			b.Fatal(err)
		}
	}
}
