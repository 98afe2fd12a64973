// Command bench-adapter measures foresight-adapter's serving path and prints
// the figures: request latency through the real HTTPS server with the
// official external-metrics client (1 client and 50 concurrent clients on
// 1,000 series), an open-loop load of 1,000 requests/s on 10,000 series, and
// the memory of 1,000 series holding 14 days of one-minute history.
//
//	go run ./hack/bench-adapter [-phases latency,openloop,memory] [-duration 10s]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/loadgen"
	"github.com/foresight-dev/foresight/adapter/provider"
	"github.com/foresight-dev/foresight/adapter/server"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/source"
)

func main() {
	phases := flag.String("phases", "latency,openloop,memory", "comma-separated phases to run: latency, openloop, memory")
	duration := flag.Duration("duration", 10*time.Second, "measurement time of each load phase")
	clients := flag.Int("clients", 50, "concurrent clients of the throughput phase")
	rate := flag.Int("rate", 1000, "requests per second of the open-loop phase")
	memSeries := flag.Int("memory-series", 1000, "series of the memory phase")
	memHistory := flag.Duration("memory-history", 14*24*time.Hour, "history per series of the memory phase")
	memModel := flag.String("memory-model", "reactive", "model of the memory phase (state size is the same for every model; auto takes ~3 s per series to warm on 14 days)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to `FILE`")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-adapter:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench-adapter:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	klog.SetOutput(discard{})
	klog.LogToStderr(false)
	ctx := context.Background()
	for _, p := range strings.Split(*phases, ",") {
		var err error
		switch strings.TrimSpace(p) {
		case "latency":
			err = latencyPhase(ctx, *duration, *clients)
		case "openloop":
			err = openLoopPhase(ctx, *duration, *rate)
		case "memory":
			err = memoryPhase(ctx, *memSeries, *memHistory, forecast.Model(*memModel))
		default:
			err = fmt.Errorf("unknown phase %q", p)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-adapter:", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// adapter is a running adapter on loopback with an embedded source.
type adapter struct {
	url    string
	emb    *source.Embedded
	loop   *serving.Loop
	stop   func()
	series int
}

// startAdapter fills an embedded source with series (namespace, service)
// pairs of history at one-minute steps ending now, and serves them as the
// external metric bench_rps with the given model.
func startAdapter(ctx context.Context, namespaces, perNamespace int, history time.Duration, model forecast.Model) (*adapter, error) {
	reg := prometheus.NewRegistry()
	dir, err := os.MkdirTemp("", "bench-adapter-")
	if err != nil {
		return nil, err
	}
	emb, err := source.NewEmbedded(source.EmbeddedOptions{Dir: dir, Registerer: reg, Retention: history + 24*time.Hour})
	if err != nil {
		return nil, err
	}
	end := time.Now().Truncate(time.Minute)
	steps := int(history / time.Minute)
	vals := make([]source.Sample, steps)
	for ns := range namespaces {
		for svc := range perNamespace {
			p := loadgen.Default(100+float64(svc), uint64(ns*perNamespace+svc))
			for i := range vals {
				t := end.Add(-time.Duration(steps-1-i) * time.Minute)
				vals[i] = source.Sample{T: t.UnixMilli(), V: p.At(t)}
			}
			lbls := labels.FromStrings("__name__", "bench_requests", "namespace", "ns-"+strconv.Itoa(ns), "service", "svc-"+strconv.Itoa(svc))
			if err := emb.AppendSeries(lbls, vals); err != nil {
				return nil, err
			}
		}
	}
	rules := fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: bench_rps
    query: bench_requests{<<.LabelMatchers>>}
    api: external
    forecast: {step: 1m, model: %s, history: %s, staleAfter: 1h}
`, model, strconv.Itoa(int(history.Minutes()))+"m")
	f, err := config.Parse([]byte(rules), "bench-rules.yaml")
	if err != nil {
		return nil, err
	}
	rs, err := serving.RulesFromConfig(f)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	metrics, err := serving.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	store := serving.NewStore(nil)
	loop, err := serving.NewLoop(serving.LoopOptions{Source: emb, Store: store, Metrics: metrics, Logger: log, Interval: 15 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := loop.SetRules(rs); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	opts := server.NewOptions()
	opts.Local = true
	opts.Adapter.SecureServing.Listener = ln
	opts.Adapter.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port
	opts.Adapter.SecureServing.ServerCert.CertDirectory = dir
	srv, err := server.New(opts, server.Config{Provider: provider.New(store, nil), Registry: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { loop.Run(ctx) })
	wg.Go(func() { _ = srv.Run(ctx) })
	a := &adapter{
		url: "https://" + ln.Addr().String(), emb: emb, loop: loop, series: namespaces * perNamespace,
		stop: func() { cancel(); wg.Wait(); _ = emb.Close(); _ = os.RemoveAll(dir) },
	}
	for !loop.Ready() {
		time.Sleep(10 * time.Millisecond)
	}
	return a, nil
}

func (a *adapter) client() (external_metrics.ExternalMetricsClient, error) {
	return external_metrics.NewForConfig(&rest.Config{Host: a.url, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: -1})
}

// request asks for one random series of one random namespace, as an HPA does.
func request(c external_metrics.ExternalMetricsClient, rng *rand.Rand, namespaces, perNamespace int) error {
	ns := "ns-" + strconv.Itoa(rng.IntN(namespaces))
	sel, err := k8slabels.Parse("service=svc-" + strconv.Itoa(rng.IntN(perNamespace)))
	if err != nil {
		return err
	}
	l, err := c.NamespacedMetrics(ns).List("bench_rps", sel)
	if err != nil {
		return err
	}
	if len(l.Items) != 1 {
		return fmt.Errorf("got %d items, want 1", len(l.Items))
	}
	return nil
}

// closedLoop runs n clients back to back for d and returns the latencies.
func closedLoop(a *adapter, n int, d time.Duration, namespaces, perNamespace int) ([]time.Duration, error) {
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for i := range n {
		c, err := a.client()
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var lat []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := request(c, rng, namespaces, perNamespace); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func latencyPhase(ctx context.Context, d time.Duration, clients int) error {
	fmt.Println("== latency: external metric over 1,000 series (1 namespace), official external-metrics client over HTTPS, loopback")
	a, err := startAdapter(ctx, 1, 1000, 7*time.Hour, forecast.ModelReactive)
	if err != nil {
		return err
	}
	defer a.stop()
	// Warm up connections.
	if _, err := closedLoop(a, 1, time.Second, 1, 1000); err != nil {
		return err
	}
	c0 := cpuTime()
	lat, err := closedLoop(a, 1, d, 1, 1000)
	if err != nil {
		return err
	}
	report("1 client", lat, d, cpuTime()-c0)
	c0 = cpuTime()
	lat, err = closedLoop(a, clients, d, 1, 1000)
	if err != nil {
		return err
	}
	report(fmt.Sprintf("%d clients", clients), lat, d, cpuTime()-c0)
	return nil
}

func openLoopPhase(ctx context.Context, d time.Duration, rate int) error {
	const namespaces, perNamespace = 100, 100
	fmt.Printf("== open loop: %d requests/s for %s on %d series (%d namespaces x %d), 8 client connections\n", rate, d, namespaces*perNamespace, namespaces, perNamespace)
	a, err := startAdapter(ctx, namespaces, perNamespace, 7*time.Hour, forecast.ModelReactive)
	if err != nil {
		return err
	}
	defer a.stop()
	var cs []external_metrics.ExternalMetricsClient
	for range 8 {
		c, err := a.client()
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, total)
	errs := make([]error, total)
	// Warm up the connections.
	for _, c := range cs {
		if err := request(c, rand.New(rand.NewPCG(0, 0)), namespaces, perNamespace); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	c0 := cpuTime()
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			errs[i] = request(cs[i%len(cs)], rng, namespaces, perNamespace)
			lat[i] = time.Since(due) // from the scheduled time: no coordinated omission
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	report(fmt.Sprintf("%d req/s", rate), lat, elapsed, cpuTime()-c0)
	if len(failed) > 0 {
		fmt.Printf("  %d of %d requests failed (latency counted until the failure), first: %v\n", len(failed), total, failed[0])
	}
	return nil
}

func memoryPhase(ctx context.Context, series int, history time.Duration, model forecast.Model) error {
	fmt.Printf("== memory: %d series x %s of one-minute history (model %s)\n", series, history, model)
	for _, m := range []forecast.Model{forecast.ModelReactive, forecast.ModelSeasonalNaive, forecast.ModelHoltWinters, forecast.ModelAuto} {
		f, err := forecast.NewForecaster(forecast.Settings{Step: time.Minute, Model: m, History: history})
		if err != nil {
			return err
		}
		p := loadgen.Default(100, 1)
		t0 := time.Now()
		end := time.Now().Truncate(time.Minute)
		for i := range int(history / time.Minute) {
			t := end.Add(-history + time.Duration(i)*time.Minute)
			_ = f.Observe(t.Unix(), p.At(t))
		}
		fmt.Printf("  one series, model %-14s state %6.1f KiB, warm on %s of history in %s\n", m, float64(f.StateBytes())/1024, history, time.Since(t0).Round(time.Millisecond))
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := heapInUse()
	t0 := time.Now()
	a, err := startAdapter(ctx, 10, series/10, history, model)
	if err != nil {
		return err
	}
	fmt.Printf("  filled the embedded TSDB and warmed %d series in %s\n", a.series, time.Since(t0).Round(time.Millisecond))
	// Close the embedded TSDB: it stands in for Prometheus and is not the adapter's memory.
	_ = a.emb.Close()
	runtime.GC()
	debug.FreeOSMemory()
	after := heapInUse()
	fmt.Printf("  adapter heap in use (server, store, %d forecasters with their history): %.1f MiB (before: %.1f MiB, delta %.1f MiB)\n",
		a.series, mib(after), mib(before), mib(after-before))
	fmt.Printf("  process RSS (includes the embedded TSDB's pages and freed memory): %s\n", rss())
	a.stop()
	return nil
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func rss() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
		}
	}
	return "unknown"
}

// cpuTime is the process' user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report prints latency quantiles, throughput and the CPU time per request
// (client and server together, in this one process): on a shared machine the
// CPU per request is the figure least distorted by other load.
func report(name string, lat []time.Duration, elapsed, cpu time.Duration) {
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	perReq := time.Duration(0)
	if len(lat) > 0 {
		perReq = cpu / time.Duration(len(lat))
	}
	fmt.Printf("  %-12s %7d requests  %8.0f req/s  p50 %-9s p99 %-9s p99.9 %-9s max %-9s CPU/request %s (client+server)\n", name, len(lat),
		float64(len(lat))/elapsed.Seconds(), q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond),
		q(0.999).Round(time.Microsecond), q(1).Round(time.Microsecond), perReq.Round(time.Microsecond))
}
