package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"k8s.io/client-go/rest"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/provider"
	"github.com/foresight-dev/foresight/adapter/server"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/source"
)

// t0 is the data time the harness' clock starts at: the newest generated sample.
var t0 = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

// fakeClock is the data clock of the loop and the store.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// switchSource is a real source that can be taken down, as a Prometheus
// outage, or held, as a slow one.
type switchSource struct {
	source.Source
	down atomic.Bool
	gate chan struct{} // when set, queries wait until it is closed
}

var errSourceDown = errors.New("source down (test)")

func (s *switchSource) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]source.Series, error) {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.down.Load() {
		return nil, errSourceDown
	}
	return s.Source.QueryRange(ctx, q, start, end, step)
}

// harness is the real adapter server on loopback with an embedded source.
type harness struct {
	url   string
	emb   *source.Embedded
	src   *switchSource
	clock *fakeClock
	store *serving.Store
	loop  *serving.Loop
	reg   *prometheus.Registry

	running   bool                 // the loop runs (with the first server)
	providers []*provider.Provider // of the servers, in the order they started
	// options, when set, changes the options of each server serve starts.
	options func(*server.Options)
}

// startHarness fills the embedded source with fill, loads rules and starts
// the server; it returns once the first cycle of every rule is done.
func startHarness(tb testing.TB, rules string, fill func(emb *source.Embedded)) *harness {
	tb.Helper()
	h := newHarness(tb, rules, fill, nil)
	h.url = h.serve(tb, false)
	waitFor(tb, 60*time.Second, "adapter ready", func() bool { return h.loop.Ready() && h.get(h.url, "/readyz") == nil })
	return h
}

// newHarness is startHarness without starting the server; gate, when set,
// holds the source's queries until it is closed.
func newHarness(tb testing.TB, rules string, fill func(emb *source.Embedded), gate chan struct{}) *harness {
	tb.Helper()
	reg := prometheus.NewRegistry()
	emb, err := source.NewEmbedded(source.EmbeddedOptions{Dir: tb.TempDir(), Registerer: reg})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = emb.Close() })
	fill(emb)
	h := &harness{emb: emb, src: &switchSource{Source: emb, gate: gate}, clock: &fakeClock{}, reg: reg}
	h.clock.Set(t0)
	metrics, err := serving.NewMetrics(reg)
	if err != nil {
		tb.Fatal(err)
	}
	h.store = serving.NewStore(h.clock.Now)
	h.loop, err = serving.NewLoop(serving.LoopOptions{
		Source: h.src, Store: h.store, Metrics: metrics, Logger: slog.New(slog.DiscardHandler),
		Now: h.clock.Now, Interval: 20 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := config.Parse([]byte(rules), "test-rules.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := serving.RulesFromConfig(f)
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.loop.SetRules(rs); err != nil {
		tb.Fatal(err)
	}
	return h
}

// serve starts a server on the harness' store and loop and returns its URL.
// libraryOnly turns the fast path off, for comparisons.
func (h *harness) serve(tb testing.TB, libraryOnly bool) string {
	tb.Helper()
	opts := localOptions(tb)
	opts.LibraryHandlersOnly = libraryOnly
	if h.options != nil {
		h.options(opts)
	}
	reg := h.reg
	if libraryOnly {
		reg = prometheus.NewRegistry()
	}
	prov := provider.New(h.store, nil)
	h.providers = append(h.providers, prov)
	srv, err := server.New(opts, server.Config{
		Provider: prov,
		Registry: reg,
		Ready: func() error {
			if !h.loop.Ready() {
				return errors.New("not ready")
			}
			return nil
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	var loop []func(context.Context)
	if !h.running {
		h.running = true
		loop = append(loop, h.loop.Run)
	}
	runServer(tb, srv, loop...)
	url := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Adapter.SecureServing.BindPort))
	waitFor(tb, 60*time.Second, "server up", func() bool { return h.get(url, "/healthz") == nil })
	return url
}

// restConfig is the client configuration for the harness' server.
func (h *harness) restConfig() *rest.Config {
	return &rest.Config{Host: h.url, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1}
}

// get fetches path from the server at url and returns an error unless the status is 200.
func (h *harness) get(url, path string) error {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get(url + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return nil
}

// appendSteps appends values (one per minute, ending at end) to the series.
func appendSteps(tb testing.TB, emb *source.Embedded, lbls labels.Labels, end time.Time, values ...float64) {
	tb.Helper()
	samples := make([]source.Sample, len(values))
	for i, v := range values {
		samples[i] = source.Sample{T: end.Add(-time.Duration(len(values)-1-i) * time.Minute).UnixMilli(), V: v}
	}
	if err := emb.AppendSeries(lbls, samples); err != nil {
		tb.Fatal(err)
	}
}

func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveLocal starts a local-mode server (no authentication or authorization)
// with cfg on loopback until the test ends, and returns a client
// configuration for it.
func serveLocal(tb testing.TB, cfg server.Config) *rest.Config {
	tb.Helper()
	opts := localOptions(tb)
	srv, err := server.New(opts, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	runServer(tb, srv)
	return &rest.Config{
		Host:            "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Adapter.SecureServing.BindPort)),
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1,
	}
}

// runServer runs srv, and with the same context each of also (a rule loop), until the test
// ends; an error of the server fails the test.
func runServer(tb testing.TB, srv *server.Server, also ...func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range also {
		wg.Go(func() { run(ctx) })
	}
	wg.Go(func() {
		if err := srv.Run(ctx); err != nil {
			tb.Errorf("server: %v", err)
		}
	})
	tb.Cleanup(func() { cancel(); wg.Wait() })
}

// localOptions are the options of a local-mode server on a free loopback port.
func localOptions(tb testing.TB) *server.Options {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	opts := server.NewOptions()
	opts.Local = true
	opts.Adapter.SecureServing.Listener = ln
	opts.Adapter.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port
	opts.Adapter.SecureServing.ServerCert.CertDirectory = tb.TempDir()
	return opts
}
