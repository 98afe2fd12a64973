// Package promserver runs a real Prometheus server on 127.0.0.1 for the tests,
// the e2e test and the benchmark command: on a data folder that promtool can
// backfill first, with a fixed address that stays the same when the server is
// stopped and started again (to test what a client does while Prometheus is
// down). The process is a procs.Proc: it dies with the harness.
package promserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/foresight-dev/foresight/internal/testharness/procs"
	"github.com/foresight-dev/foresight/internal/testharness/project"
)

// Options configure a Prometheus server.
type Options struct {
	// Bin is the prometheus binary. Default: project.LookPath("prometheus").
	Bin string
	// Dir is the server's folder: prometheus.yml and the log go there. Required.
	Dir string
	// DataDir is the TSDB folder. Default: Dir/data.
	DataDir string
	// Config is the prometheus.yml content. Default: no scrape jobs.
	Config string
	// Retention is --storage.tsdb.retention.time, in whole days. Default
	// 3650 days, so that backfilled history is never deleted.
	Retention time.Duration
	// LookbackDelta is --query.lookback-delta (0: Prometheus' default, 5m).
	LookbackDelta time.Duration
	// Args are extra command-line arguments.
	Args []string
	// ReadyTimeout bounds the wait for /-/ready on each start. Default 2 minutes.
	ReadyTimeout time.Duration
}

// Server is a Prometheus server, running or stopped.
type Server struct {
	// Addr is host:port of the HTTP API; it stays the same across restarts.
	Addr string
	// URL is http://Addr.
	URL string
	// DataDir is the TSDB folder.
	DataDir string

	opts Options
	mu   sync.Mutex
	proc *procs.Proc
}

// New prepares a server on a free loopback port and writes its configuration;
// Start starts it.
func New(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("prometheus: no folder (Options.Dir)")
	}
	if o.Bin == "" {
		bin, err := project.LookPath("prometheus")
		if err != nil {
			return nil, err
		}
		o.Bin = bin
	}
	if o.DataDir == "" {
		o.DataDir = filepath.Join(o.Dir, "data")
	}
	if o.Config == "" {
		o.Config = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n"
	}
	if o.Retention == 0 {
		o.Retention = 3650 * 24 * time.Hour
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	if err := os.WriteFile(o.configFile(), []byte(o.Config), 0o600); err != nil {
		return nil, fmt.Errorf("prometheus config: %w", err)
	}
	port, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return &Server{Addr: addr, URL: "http://" + addr, DataDir: o.DataDir, opts: o}, nil
}

func (o Options) configFile() string { return filepath.Join(o.Dir, "prometheus.yml") }

// Start starts the server (again, on the same data and address) and waits
// until it is ready; on error the process is stopped.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		if exited, _ := s.proc.Exited(); !exited {
			return errors.New("prometheus: already running")
		}
	}
	args := []string{
		"--config.file=" + s.opts.configFile(),
		"--storage.tsdb.path=" + s.DataDir,
		"--storage.tsdb.retention.time=" + strconv.Itoa(max(1, int(s.opts.Retention.Hours()/24))) + "d",
		"--web.listen-address=" + s.Addr,
		"--log.level=warn",
	}
	if s.opts.LookbackDelta > 0 {
		args = append(args, "--query.lookback-delta="+s.opts.LookbackDelta.String())
	}
	args = append(args, s.opts.Args...)
	p, err := procs.Start("prometheus", s.opts.Dir, s.opts.Bin, args...)
	if err != nil {
		return err
	}
	s.proc = p
	wctx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	if err := p.WaitHTTP(wctx, s.URL+"/-/ready", nil); err != nil {
		p.Stop(5 * time.Second)
		return err
	}
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 30 s) and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Stop(30 * time.Second)
	}
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false
	}
	exited, _ := s.proc.Exited()
	return !exited
}

// Proc is the current (or last) server process; nil before the first Start.
func (s *Server) Proc() *procs.Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Log returns the end of what the server processes wrote (up to 64 KiB).
func (s *Server) Log() string {
	p := s.Proc()
	if p == nil {
		return ""
	}
	return p.Tail(64 << 10)
}

// Version returns the running server's version ("3.16.0"), from
// /api/v1/status/buildinfo. Tests need it where Prometheus 2 and 3 differ,
// e.g. Prometheus 3 range selectors exclude the sample at the window's start.
func (s *Server) Version(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/status/buildinfo", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("prometheus version: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Version string `json:"version"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("prometheus version: %s: status %d: %w", req.URL, resp.StatusCode, err)
	}
	if body.Data.Version == "" {
		return "", fmt.Errorf("prometheus version: %s: status %d, no version in the answer", req.URL, resp.StatusCode)
	}
	return body.Data.Version, nil
}

// MajorVersion returns the major version of the running server (2 or 3).
func (s *Server) MajorVersion(ctx context.Context) (int, error) {
	v, err := s.Version(ctx)
	if err != nil {
		return 0, err
	}
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0, fmt.Errorf("prometheus version %q: %w", v, err)
	}
	return n, nil
}

// Backfill turns the OpenMetrics file into TSDB blocks in dataDir with
// `promtool tsdb create-blocks-from openmetrics`.
func Backfill(ctx context.Context, promtool, openMetricsFile, dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", openMetricsFile, dataDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("backfill %s with %s: %w: %s", openMetricsFile, promtool, err, out)
	}
	return nil
}
