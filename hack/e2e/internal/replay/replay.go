// Package replay turns a recorded load trace into Prometheus data: it reads a
// trace (CSV ts,value), writes it as a request counter per target series in
// OpenMetrics, backfills a TSDB with promtool, and runs a real Prometheus on
// that TSDB. Time acceleration is the adapter's business (its data clock runs
// faster than the wall clock); Prometheus only holds the samples, at their
// recorded times plus a fixed shift.
package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/adapter/trace"
	"github.com/foresight-dev/foresight/hack/e2e/internal/procs"
)

// Sample is one trace point.
type Sample struct {
	// T is the time.
	T time.Time
	// V is the load (requests per second) during the step that ends at T.
	V float64
}

// Trace is a load trace with a fixed step, oldest first. Missing rows are gaps.
type Trace struct {
	// Step is the spacing of rows.
	Step time.Duration
	// Samples are the rows.
	Samples []Sample
}

// LoadTrace reads a load trace CSV (package trace of the root module: rows
// ts,value, Unix seconds and load). Its step is the smallest spacing of rows.
func LoadTrace(path string) (*Trace, error) {
	rows, err := trace.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("trace %s: fewer than two rows", path)
	}
	tr := &Trace{Samples: make([]Sample, len(rows))}
	for i, r := range rows {
		tr.Samples[i] = Sample{T: time.Unix(r.TS, 0).UTC(), V: r.Value}
	}
	tr.Step = tr.Samples[1].T.Sub(tr.Samples[0].T)
	for i := 2; i < len(tr.Samples); i++ {
		tr.Step = min(tr.Step, tr.Samples[i].T.Sub(tr.Samples[i-1].T))
	}
	return tr, nil
}

// Window returns the samples with from <= T <= to.
func (tr *Trace) Window(from, to time.Time) []Sample {
	i := sort.Search(len(tr.Samples), func(i int) bool { return !tr.Samples[i].T.Before(from) })
	j := sort.Search(len(tr.Samples), func(i int) bool { return tr.Samples[i].T.After(to) })
	return tr.Samples[i:j]
}

// At returns the load of the step that contains t (the first sample at or
// after t), and false in a gap or outside the trace.
func (tr *Trace) At(t time.Time) (float64, bool) {
	i := sort.Search(len(tr.Samples), func(i int) bool { return !tr.Samples[i].T.Before(t) })
	if i == len(tr.Samples) || tr.Samples[i].T.Sub(t) >= tr.Step {
		return 0, false
	}
	return tr.Samples[i].V, true
}

// Mean returns the mean load of the n steps ending with the one that contains
// t: what rate() over a window of n steps gives on the replayed counter
// (Prometheus 2.x range selectors include both ends, so [2m] at a 1m step
// spans the increase of the last two steps). False if any step is a gap.
func (tr *Trace) Mean(t time.Time, n int) (float64, bool) {
	var sum float64
	for k := range n {
		v, ok := tr.At(t.Add(-time.Duration(k) * tr.Step))
		if !ok {
			return 0, false
		}
		sum += v
	}
	return sum / float64(n), true
}

// Series are the labels of one counter series that replays the trace.
type Series map[string]string

// WriteOpenMetrics writes samples as the counter family name ("<name>_total"
// samples) for every series: the counter grows by V*step at each sample, so
// rate() over it gives back the trace's load.
func WriteOpenMetrics(w io.Writer, name, help string, samples []Sample, step time.Duration, series []Series) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	labels := make([]string, len(series))
	for i, s := range series {
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for j, k := range keys {
			parts[j] = fmt.Sprintf("%s=%q", k, s[k])
		}
		labels[i] = strings.Join(parts, ",")
	}
	// One series after the other: each series' samples in time order.
	for i := range series {
		var total float64
		for _, s := range samples {
			total += s.V * step.Seconds()
			fmt.Fprintf(bw, "%s_total{%s} %s %d\n", name, labels[i], strconv.FormatFloat(total, 'f', -1, 64), s.T.Unix())
		}
	}
	fmt.Fprintln(bw, "# EOF")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write openmetrics: %w", err)
	}
	return nil
}

// Backfill creates TSDB blocks in tsdbDir from the OpenMetrics file with promtool.
func Backfill(ctx context.Context, promtool, openMetricsFile, tsdbDir string) error {
	if err := os.MkdirAll(tsdbDir, 0o700); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", openMetricsFile, tsdbDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("backfill with %s: %w: %s", promtool, err, out)
	}
	return nil
}

// Prometheus is a Prometheus server on 127.0.0.1 that serves a TSDB and
// scrapes nothing.
type Prometheus struct {
	// URL is the server's base URL.
	URL string

	bin, dir, logDir string
	port             int
	proc             *procs.Proc
}

// NewPrometheus prepares (does not start) a Prometheus on a free port that
// serves the TSDB in dir/data.
func NewPrometheus(bin, dir, logDir string) (*Prometheus, error) {
	port, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\n"), 0o600); err != nil {
		return nil, fmt.Errorf("prometheus config: %w", err)
	}
	return &Prometheus{URL: fmt.Sprintf("http://127.0.0.1:%d", port), bin: bin, dir: dir, logDir: logDir, port: port}, nil
}

// DataDir is the TSDB folder to backfill before Start.
func (p *Prometheus) DataDir() string { return filepath.Join(p.dir, "data") }

// Start starts Prometheus and waits until it is ready.
func (p *Prometheus) Start(ctx context.Context) error {
	if p.proc != nil {
		if exited, _ := p.proc.Exited(); !exited {
			return errors.New("prometheus: already running")
		}
	}
	proc, err := procs.Start("prometheus", p.logDir, p.bin,
		"--config.file="+filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path="+p.DataDir(),
		// The replayed data is years old: keep it, and never compact the
		// backfilled 2h blocks (compaction only costs CPU here).
		"--storage.tsdb.retention.time=3650d",
		"--storage.tsdb.min-block-duration=2h",
		"--storage.tsdb.max-block-duration=2h",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", p.port),
		"--log.level=warn",
	)
	if err != nil {
		return err
	}
	p.proc = proc
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return proc.WaitHTTP(wctx, p.URL+"/-/ready", nil)
}

// Stop stops Prometheus (SIGTERM, then SIGKILL).
func (p *Prometheus) Stop() {
	if p.proc != nil {
		p.proc.Stop(15 * time.Second)
	}
}
