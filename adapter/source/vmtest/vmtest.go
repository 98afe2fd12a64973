// Package vmtest runs a real single-node VictoriaMetrics (the pinned build
// that `make victoriametrics` puts in .cache/bin) for tests of the Prometheus
// source against an engine that is Prometheus-compatible but not Prometheus:
// it listens on 127.0.0.1 only, keeps its data in a temporary folder, scrapes
// nothing and sends nothing out, and takes series with explicit timestamps
// through its /api/v1/import/prometheus endpoint.
package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/procs"
)

// Program is the name of the VictoriaMetrics binary, looked up on PATH, then
// in .cache/bin.
const Program = "victoria-metrics"

// Server is a running VictoriaMetrics.
type Server struct {
	// URL is http://127.0.0.1:port, the base of its Prometheus HTTP API.
	URL string
	// DataDir is its storage folder.
	DataDir string

	proc *procs.Proc
}

// Start starts VictoriaMetrics on a free loopback port with its storage in a
// t.TempDir() and waits until it is healthy; args are extra flags, e.g.
// -search.maxPointsPerTimeseries=100. It is stopped when the test ends. A
// missing binary fails the test in CI and skips it elsewhere, naming
// `make victoriametrics`.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := needs.Program(t, Program)
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), DataDir: dir + "/data"}
	base := []string{
		// The default listens on every interface (:8428).
		"-httpListenAddr=127.0.0.1:" + strconv.Itoa(port),
		// The default is ./victoria-metrics-data.
		"-storageDataPath=" + s.DataDir,
		// Imported history is never deleted while a test runs (default 1 month).
		"-retentionPeriod=100y",
		// Caches bounded on a machine shared by many test runs (default 60% of RAM).
		"-memory.allowedBytes=256MiB",
		"-loggerLevel=WARN",
		// Explicitly off (the defaults): no self-scrape, no scrape config.
		"-selfScrapeInterval=0",
		"-promscrape.config=",
	}
	p, err := procs.Start("victoria-metrics", dir, bin, append(base, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	s.proc = p
	t.Cleanup(func() { p.Stop(30 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.WaitHTTP(ctx, s.URL+"/health", nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// Import writes series with their explicit timestamps (Prometheus text
// format, milliseconds) and makes them searchable at once.
func (s *Server) Import(t testing.TB, series []promtest.Series) {
	t.Helper()
	var body bytes.Buffer
	for _, sr := range series {
		ls := sr.Name
		if len(sr.Labels) > 0 {
			parts := make([]string, 0, len(sr.Labels))
			for _, k := range slices.Sorted(maps.Keys(sr.Labels)) {
				parts = append(parts, k+"="+strconv.Quote(sr.Labels[k]))
			}
			ls += "{" + strings.Join(parts, ",") + "}"
		}
		for _, smp := range sr.Samples {
			fmt.Fprintf(&body, "%s %s %d\n", ls, strconv.FormatFloat(smp.V, 'g', -1, 64), smp.T)
		}
	}
	s.post(t, "/api/v1/import/prometheus", &body)
	// Recently ingested samples become searchable after about a second; the
	// flush makes them so now.
	s.post(t, "/internal/force_flush", nil)
}

func (s *Server) post(t testing.TB, path string, body io.Reader) {
	t.Helper()
	resp, err := http.Post(s.URL+path, "text/plain", body)
	if err != nil {
		t.Fatalf("victoria-metrics %s: %v", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		t.Fatalf("victoria-metrics %s: status %d: %s\nlog:\n%s", path, resp.StatusCode, msg, s.proc.Tail(3000))
	}
}

// Log returns the end of the server's log, for failure messages.
func (s *Server) Log() string { return s.proc.Tail(3000) }
