package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/foresight-dev/foresight/internal/testharness/procs"
)

// target is one running adapter serving one external metric over a series set.
type target struct {
	name   string // "foresight" or "peer"
	url    string
	metric string
	set    seriesSet
	proc   *procs.Proc
	prom   *procs.Proc // the Prometheus both adapters read, for its CPU time
	tls    *tls.Config
	// contentType is the clients' preferred encoding (rest.ContentConfig.ContentType).
	contentType string
	// loadClient is how the load phases send their requests (-load-client).
	loadClient string
	// selectors select each service of a namespace, parsed before the clock
	// starts so that the load generator's CPU goes to the requests.
	selectors []k8slabels.Selector
}

// serviceSelectors returns the label selector of each service of set.
func serviceSelectors(set seriesSet) ([]k8slabels.Selector, error) {
	out := make([]k8slabels.Selector, set.perNamespace)
	for i := range out {
		sel, err := k8slabels.Parse("service=" + service(i))
		if err != nil {
			return nil, err
		}
		out[i] = sel
	}
	return out, nil
}

// setupTimeout bounds each request of the setup steps (warm-start polls,
// samples, memory scrapes); load phases bound theirs with a connGuard.
const setupTimeout = 30 * time.Second

// phaseGrace is how long a load phase may overrun its duration before its
// connections are closed, failing the requests that hang.
const phaseGrace = 30 * time.Second

// restConfig returns the configuration of a setup client: a load-phase
// client configuration (loadConfig) whose requests time out after setupTimeout.
func (t *target) restConfig() *rest.Config {
	cfg, _ := t.loadConfig()
	cfg.Timeout = setupTimeout
	return cfg
}

// loadConfig returns a client configuration with a transport of its own
// (loadTransport), set as kube-controller-manager sets its HPA clients' (no
// per-request timeout, no compression), and the guard of the connections it
// dials.
//
// A per-request timeout would cost each request a timer, a goroutine and a
// context (5% of the load generator's CPU, which shares the cores with the
// adapter) that the HPA controller does not spend; a load phase instead
// closes the connections of requests that hang (connGuard.closeAfter).
func (t *target) loadConfig() (*rest.Config, *connGuard) {
	tr, g := t.loadTransport()
	return t.configFor(tr), g
}

// configFor returns a client configuration without a client-side rate limit
// that sends its requests through rt.
func (t *target) configFor(rt http.RoundTripper) *rest.Config {
	return &rest.Config{Host: t.url, Transport: rt, QPS: -1,
		ContentConfig: rest.ContentConfig{ContentType: t.contentType}}
}

// loadTransport returns an HTTP/2 transport without compression and the
// guard of the connections it dials.
//
// The transport keeps one HTTP/2 connection that queues requests past the
// server's stream limit instead of dialing more connections (which, when an
// adapter falls behind, turns into thousands of TLS handshakes and runs out
// of file descriptors).
func (t *target) loadTransport() (*http.Transport, *connGuard) {
	g := &connGuard{}
	return &http.Transport{
		DialContext:         g.dial,
		TLSClientConfig:     t.tls.Clone(),
		ForceAttemptHTTP2:   true,
		HTTP2:               &http.HTTP2Config{StrictMaxConcurrentRequests: true},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}, g
}

// connGuard records the connections a transport dials, so that a load
// phase can close them when it overruns: every request on them then fails.
type connGuard struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (g *connGuard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.conns = append(g.conns, c)
	g.mu.Unlock()
	return c, nil
}

// closeAfter closes, once d has passed, every connection dialed by then;
// calling the returned function before that cancels it.
func (g *connGuard) closeAfter(d time.Duration) (cancel func() bool) {
	return time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, c := range g.conns {
			_ = c.Close()
		}
	}).Stop
}

// client returns an official external-metrics client for setup steps, on its own connection.
func (t *target) client() (external_metrics.ExternalMetricsClient, error) {
	return t.clientFor(t.restConfig())
}

// clientFor returns an official external-metrics client using cfg.
func (t *target) clientFor(cfg *rest.Config) (external_metrics.ExternalMetricsClient, error) {
	c, err := external_metrics.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("external metrics client of %s: %w", t.name, err)
	}
	return c, nil
}

// request asks for one random series of one random namespace, selected by
// its service label, as an HPA with an External metric does.
func (t *target) request(ctx context.Context, l lister, rng *rand.Rand) error {
	ns, sel := rng.IntN(t.set.namespaces), rng.IntN(len(t.selectors))
	n, err := l.list(ns, sel)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%s %s/%s: got %d items, want 1", t.metric, t.set.namespace(ns), t.selectors[sel], n)
	}
	return ctx.Err()
}

// lister lists the target's metric in namespace ns (an index of its series
// set) for the service selector sel (an index of its selectors) and returns
// how many items the answer holds.
type lister interface {
	list(ns, sel int) (items int, err error)
}

// officialLister lists with the official external-metrics client.
type officialLister struct {
	c          external_metrics.ExternalMetricsClient
	metric     string
	namespaces []string
	selectors  []k8slabels.Selector
}

func (o *officialLister) list(ns, sel int) (int, error) {
	l, err := o.c.NamespacedMetrics(o.namespaces[ns]).List(o.metric, o.selectors[sel])
	if err != nil {
		return 0, err
	}
	return len(l.Items), nil
}

// official returns a lister with the official client c.
func (t *target) official(c external_metrics.ExternalMetricsClient) *officialLister {
	ns := make([]string, t.set.namespaces)
	for i := range ns {
		ns[i] = t.set.namespace(i)
	}
	return &officialLister{c: c, metric: t.metric, namespaces: ns, selectors: t.selectors}
}

// loadListers returns n listers of the kind the load phases use (-load-client)
// that send their requests through tr.
func (t *target) loadListers(tr *http.Transport, n int) ([]lister, error) {
	out := make([]lister, n)
	if t.loadClient == directClient {
		d, err := t.direct(tr)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i] = d // stateless between requests
		}
		return out, nil
	}
	for i := range out {
		c, err := t.clientFor(t.configFor(tr))
		if err != nil {
			return nil, err
		}
		out[i] = t.official(c)
	}
	return out, nil
}

// serving returns how many series of namespace ns the adapter answers for,
// listing the metric without a selector.
func (t *target) serving(c external_metrics.ExternalMetricsClient, ns string) (int, error) {
	l, err := c.NamespacedMetrics(ns).List(t.metric, k8slabels.Everything())
	if err != nil {
		return 0, err
	}
	return len(l.Items), nil
}

// memory is an adapter process's memory at one moment.
type memory struct {
	rss, hwm  uint64 // resident and peak resident bytes (/proc)
	heapInUse uint64 // Go heap in use (the adapter's /metrics); 0 if unknown
}

func (m memory) String() string {
	heap := "n/a"
	if m.heapInUse > 0 {
		heap = fmt.Sprintf("%.1f MiB", mib(m.heapInUse))
	}
	return fmt.Sprintf("RSS %.1f MiB (peak %.1f MiB), Go heap in use %s", mib(m.rss), mib(m.hwm), heap)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// memory reads the process's RSS and scrapes go_memstats_heap_inuse_bytes
// from its /metrics as the benchmark user.
func (t *target) memory(ctx context.Context) memory {
	var m memory
	m.rss, m.hwm = t.proc.Memory()
	rt, err := rest.TransportFor(t.restConfig())
	if err != nil {
		return m
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/metrics", nil)
	if err != nil {
		return m
	}
	resp, err := (&http.Client{Transport: rt, Timeout: setupTimeout}).Do(req)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return m
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				m.heapInUse = uint64(f)
				break
			}
		}
	}
	return m
}

// result is the outcome of one load phase.
type result struct {
	requests   int
	failed     int
	firstErr   error
	elapsed    time.Duration
	lat        []time.Duration // sorted
	adapterCPU time.Duration
	promCPU    time.Duration
	clientCPU  time.Duration
}

// rate is the requests answered per second, failed ones included.
func (r *result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// okRate is the requests answered successfully per second.
func (r *result) okRate() float64 { return float64(r.requests-r.failed) / r.elapsed.Seconds() }

func (r *result) q(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
}

func (r *result) String() string {
	perReq := func(d time.Duration) string {
		if r.requests == 0 {
			return "-"
		}
		return (d / time.Duration(r.requests)).Round(time.Microsecond).String()
	}
	s := fmt.Sprintf("%7d requests %8.0f req/s  p50 %-9s p99 %-9s p99.9 %-9s max %-9s  CPU/request: adapter %s, Prometheus %s, client %s",
		r.requests, r.rate(), round(r.q(0.5)), round(r.q(0.99)), round(r.q(0.999)), round(r.q(1)),
		perReq(r.adapterCPU), perReq(r.promCPU), perReq(r.clientCPU))
	if r.failed > 0 {
		s += fmt.Sprintf("\n      %d of %d requests failed (their latency is counted), first: %v", r.failed, r.requests, r.firstErr)
	}
	return s
}

func round(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

// cpuMeter measures the CPU time of the adapter, Prometheus and this process over a phase.
type cpuMeter struct{ adapter, prom, self time.Duration }

func (t *target) cpuNow() cpuMeter {
	return cpuMeter{adapter: t.proc.CPUTime(), prom: t.prom.CPUTime(), self: selfCPU()}
}

func (t *target) finish(r *result, c0 cpuMeter) {
	c1 := t.cpuNow()
	r.adapterCPU, r.promCPU, r.clientCPU = c1.adapter-c0.adapter, c1.prom-c0.prom, c1.self-c0.self
	slices.Sort(r.lat)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// closedLoop runs n clients back to back for d, all on one HTTP/2
// connection, as the aggregator's requests to an adapter are, opened before
// the clock starts.
func (t *target) closedLoop(ctx context.Context, n int, d time.Duration) (*result, error) {
	shared, guard := t.loadTransport()
	defer guard.closeAfter(d + phaseGrace)()
	clients, err := t.loadListers(shared, n)
	if err != nil {
		return nil, err
	}
	// Open the connection before the clock starts, as the aggregator's
	// long-lived connection is: each client sends one request, all at once.
	warm := make([]error, n)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { warm[i] = t.request(ctx, c, rand.New(rand.NewPCG(uint64(i), 0))) })
	}
	wg.Wait()
	if err := errors.Join(warm...); err != nil {
		return nil, fmt.Errorf("%s: warm-up request: %w", t.name, err)
	}
	r := &result{}
	var mu sync.Mutex
	c0 := t.cpuNow()
	start := time.Now()
	deadline := start.Add(d)
	for i, c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var lat []time.Duration
			failed := 0
			var firstErr error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := t.request(ctx, c, rng); err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			r.lat = append(r.lat, lat...)
			r.failed += failed
			if r.firstErr == nil {
				r.firstErr = firstErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.requests = len(r.lat)
	t.finish(r, c0)
	return r, ctx.Err()
}

// openLoop sends rate requests per second for d over conns client
// connections (one each), each on its own goroutine at its scheduled time, and measures
// every latency from the scheduled time (no coordinated omission).
func (t *target) openLoop(ctx context.Context, rate int, d time.Duration, conns int) (*result, error) {
	clients := make([]lister, conns)
	for i := range clients {
		tr, guard := t.loadTransport()
		defer guard.closeAfter(d + phaseGrace)()
		l, err := t.loadListers(tr, 1)
		if err != nil {
			return nil, err
		}
		clients[i] = l[0]
	}
	// Open each connection before the clock starts.
	warm := rand.New(rand.NewPCG(0, 0))
	for _, c := range clients {
		if err := t.request(ctx, c, warm); err != nil {
			return nil, fmt.Errorf("%s: warm-up request: %w", t.name, err)
		}
	}
	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, total)
	errs := make([]error, total)
	var wg sync.WaitGroup
	c0 := t.cpuNow()
	start := time.Now()
	sent := 0
	for i := range total {
		if ctx.Err() != nil {
			break
		}
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		sent++
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			errs[i] = t.request(ctx, clients[i%len(clients)], rng)
			lat[i] = time.Since(due)
		})
	}
	wg.Wait()
	r := &result{elapsed: time.Since(start), lat: lat[:sent], requests: sent}
	for _, err := range errs[:sent] {
		if err != nil {
			r.failed++
			if r.firstErr == nil {
				r.firstErr = err
			}
		}
	}
	t.finish(r, c0)
	return r, ctx.Err()
}
