// Package promtest runs a real Prometheus server (the `prometheus` binary from
// PATH, e.g. Debian's package) for tests: backfilled with series through
// `promtool tsdb create-blocks-from openmetrics`, listening on 127.0.0.1, and
// able to stop and start again on the same data directory and port, to test
// what a client does while Prometheus is down.
package promtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/trace"
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
	t    testing.TB
	opts Options
	// Addr is host:port of the HTTP API; it stays the same across restarts.
	Addr string
	// URL is http://Addr.
	URL string
	// DataDir is the TSDB directory.
	DataDir string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	logBuf *bytes.Buffer
}

// Binaries returns the paths of prometheus and promtool, or skips the test
// when either is missing from PATH.
func Binaries(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	var err error
	if prometheus, err = exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus binary not on PATH (install Debian's prometheus package): ", err)
	}
	if promtool, err = exec.LookPath("promtool"); err != nil {
		t.Skip("promtool binary not on PATH (install Debian's prometheus package): ", err)
	}
	return prometheus, promtool
}

// StartPrometheus backfills opts.Series, starts Prometheus on a free loopback
// port and waits until it is ready. It is stopped when the test ends.
func StartPrometheus(t testing.TB, opts Options) *Server {
	t.Helper()
	_, promtool := Binaries(t)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Retention == 0 {
		opts.Retention = 3650 * 24 * time.Hour
	}
	if opts.Config == "" {
		opts.Config = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"
	}
	if len(opts.Series) > 0 {
		if err := Backfill(context.Background(), promtool, opts.DataDir, opts.Series); err != nil {
			t.Fatalf("backfill: %v", err)
		}
	}
	s := &Server{t: t, opts: opts, DataDir: opts.DataDir, Addr: freeAddr(t)}
	s.URL = "http://" + s.Addr
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the stopped server again with the same data and address, and
// waits until it is ready.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("promtest: Start on a running server")
	}
	prom, _ := Binaries(s.t)
	cfg := filepath.Join(s.DataDir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(s.opts.Config), 0o600); err != nil {
		s.t.Fatal(err)
	}
	args := []string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + s.DataDir,
		"--storage.tsdb.retention.time=" + fmt.Sprintf("%dd", int(s.opts.Retention.Hours()/24)),
		"--web.listen-address=" + s.Addr,
		"--log.level=warn",
	}
	if s.opts.LookbackDelta > 0 {
		args = append(args, "--query.lookback-delta="+s.opts.LookbackDelta.String())
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command(prom, args...)
	s.logBuf = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = s.logBuf, s.logBuf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("promtest: start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("promtest: prometheus exited during start-up:\n%s", s.logBuf)
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			s.t.Fatalf("promtest: prometheus not ready after 90s:\n%s", s.logBuf)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 30s) and waits for it to
// exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Log returns what the current or last process wrote.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logBuf == nil {
		return ""
	}
	return s.logBuf.String()
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
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
	cmd := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", file, dataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("promtool tsdb create-blocks-from openmetrics: %w\n%s", err, out)
	}
	return nil
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
// The project root is the nearest directory above the working directory
// holding go.mod.
func TracesDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("traces: no go.mod above the working directory")
		}
		dir = parent
	}
	return filepath.Join(dir, "testdata", "traces")
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
