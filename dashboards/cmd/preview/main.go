// Command preview renders each Foresight dashboard to a PNG from a replayed load trace,
// without Grafana or Prometheus (see package dashboards/preview). Run it from the
// project root:
//
//	go run ./dashboards/cmd/preview --out .cache/dashboards-preview
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/foresight-dev/foresight/dashboards/preview"
	"github.com/foresight-dev/foresight/internal/testharness/project"
)

func main() {
	// Defaults relative to the project root; outside the project, to the working directory.
	root, err := project.Root()
	if err != nil {
		root = "."
	}
	out := flag.String("out", filepath.Join(root, ".cache", "dashboards-preview"), "directory for the PNGs")
	trace := flag.String("trace", filepath.Join(root, "testdata", "traces", "crane-input1.csv"), "load trace CSV (ts,value)")
	days := flag.Int("days", 3, "days of load to play (the last day is drawn; earlier days feed forecasts and long windows)")
	window := flag.Duration("window", 24*time.Hour, "time range drawn")
	step := flag.Duration("step", 5*time.Minute, "resolution of the drawn queries")
	peak := flag.Float64("peak", 300, "requests per second at the gateway at the trace's 95th percentile")
	rulesDir := flag.String("rules", filepath.Join(root, "rules"), "directory of the *.rules.yaml files")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger, *out, *trace, *days, *window, *step, *peak, *rulesDir); err != nil {
		fmt.Fprintln(os.Stderr, "preview:", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger, out, trace string, days int, window, step time.Duration, peak float64, rulesDir string) error {
	minutes := days * 1440
	load, err := preview.ReadTrace(trace, minutes, peak)
	if err != nil {
		return err
	}
	begin := time.Now()
	rep, err := preview.Run(context.Background(), preview.Options{
		Load: load, Window: window, Step: step, RulesDir: rulesDir, OutDir: out, Logger: logger,
	})
	if err != nil {
		return err
	}
	for _, f := range rep.Files {
		fmt.Println(f)
	}
	for _, e := range rep.Empty {
		logger.Warn("panel without data", "panel", e)
	}
	logger.Info("done", "recorded_samples", rep.Samples, "elapsed", time.Since(begin).Round(time.Millisecond))
	return nil
}
