// Package promtest runs a real Prometheus server for tests (the harness's
// promserver: the `prometheus` binary from PATH, or the pinned build in
// .cache/bin), backfilled with series through `promtool tsdb
// create-blocks-from openmetrics`, listening on 127.0.0.1, and able to stop
// and start again on the same data directory and port, to test what a client
// does while Prometheus is down.
package promtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/trace"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/promserver"
)

// Options configure a test Prometheus.
type Options struct {
	// DataDir is the TSDB directory. Default: a t.TempDir().
	DataDir string
	// Series are backfilled into DataDir before the first start.
	Series []Series
	// Retention is --storage.tsdb.retention.time. Default 3650d, so backfilled
	// history is never deleted.
	Retention time.Duration
	// LookbackDelta is --query.lookback-delta (0: Prometheus' default, 5m).
	// A lookback shorter than the samples' spacing makes a range query at the
	// samples' step return exactly the stored samples.
	LookbackDelta time.Duration
	// Config is the prometheus.yml content. Default: no scrape jobs.
	Config string
	// Args are extra command-line arguments.
	Args []string
}

// Series is one series to backfill.
type Series struct {
	// Name is the metric name.
	Name string
	// Labels are the other labels.
	Labels map[string]string
	// Samples are the points, in time order.
	Samples []source.Sample
}

// Server is a running (or stopped) Prometheus.
type Server struct {
	*promserver.Server
	t testing.TB
}

// Binaries returns the paths of prometheus and promtool (PATH first, then
// .cache/bin); when either is missing the test fails in CI and is skipped
// elsewhere, with a message saying how to get it.
func Binaries(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	return needs.Program(t, "prometheus"), needs.Program(t, "promtool")
}

// StartPrometheus backfills opts.Series, starts Prometheus on a free loopback
// port and waits until it is ready. It is stopped when the test ends.
func StartPrometheus(t testing.TB, opts Options) *Server {
	t.Helper()
	prom, promtool := Binaries(t)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Config == "" {
		opts.Config = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"
	}
	if len(opts.Series) > 0 {
		if err := Backfill(context.Background(), promtool, opts.DataDir, opts.Series); err != nil {
			t.Fatalf("backfill: %v", err)
		}
	}
	srv, err := promserver.New(promserver.Options{
		Bin: prom, Dir: t.TempDir(), DataDir: opts.DataDir, Config: opts.Config,
		Retention: opts.Retention, LookbackDelta: opts.LookbackDelta, Args: opts.Args,
	})
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	s := &Server{Server: srv, t: t}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start starts the stopped server again with the same data and address, and
// waits until it is ready; it fails the test if it cannot.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.Server.Start(context.Background()); err != nil {
		s.t.Fatalf("promtest: %v", err)
	}
}

// Backfill writes series as OpenMetrics and turns them into TSDB blocks in
// dataDir with `promtool tsdb create-blocks-from openmetrics`.
func Backfill(ctx context.Context, promtool, dataDir string, series []Series) error {
	tmp, err := os.MkdirTemp("", "promtest-openmetrics-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, "series.om")
	if err := WriteOpenMetrics(file, series); err != nil {
		return err
	}
	return promserver.Backfill(ctx, promtool, file, dataDir)
}

// WriteOpenMetrics writes series as an OpenMetrics text file (gauges, timestamps in seconds).
func WriteOpenMetrics(path string, series []Series) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	byName := map[string][]Series{}
	var names []string
	for _, s := range series {
		if _, ok := byName[s.Name]; !ok {
			names = append(names, s.Name)
		}
		byName[s.Name] = append(byName[s.Name], s)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "# TYPE %s gauge\n", name)
		for _, s := range byName[name] {
			lbls := formatLabels(s.Labels)
			for _, smp := range s.Samples {
				fmt.Fprintf(w, "%s%s %s %s\n", name, lbls, strconv.FormatFloat(smp.V, 'g', -1, 64),
					strconv.FormatFloat(float64(smp.T)/1000, 'f', -1, 64))
			}
		}
	}
	fmt.Fprint(w, "# EOF\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func formatLabels(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(l[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TracesDir returns <project root>/testdata/traces, the real load traces.
func TracesDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(needs.Root(t), "testdata", "traces")
}

// LoadTrace reads the trace CSV name from TracesDir (package trace), in
// source samples (milliseconds).
func LoadTrace(t testing.TB, name string) []source.Sample {
	t.Helper()
	rows, err := trace.ReadFile(filepath.Join(TracesDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]source.Sample, len(rows))
	for i, r := range rows {
		out[i] = source.Sample{T: r.TS * 1000, V: r.Value}
	}
	return out
}

// ShiftToEnd moves samples in time so that the last one is at end (truncated
// to the second), keeping their spacing.
func ShiftToEnd(samples []source.Sample, end time.Time) []source.Sample {
	if len(samples) == 0 {
		return nil
	}
	d := end.Truncate(time.Second).UnixMilli() - samples[len(samples)-1].T
	out := make([]source.Sample, len(samples))
	for i, s := range samples {
		out[i] = source.Sample{T: s.T + d, V: s.V}
	}
	return out
}
