// Command bench-adapter measures foresight-adapter side by side with its
// peer, prometheus-adapter v0.12.0, in one run: both run as real processes
// against the same real Prometheus (from PATH, or the pinned build in .cache/bin) holding the
// same data, with the same delegated authentication and authorization through
// a real kube-apiserver, and both are queried over HTTP/2 and TLS with the
// requests of the official external-metrics client, one series per request
// selected by a label selector, as an HPA does (the load phases build those
// requests before the clock starts, -load-client). It prints, for both:
//
//   - 1 client and 50 concurrent clients on an External metric over 1,000
//     series (p50, p99, p99.9, requests/s, CPU per request);
//   - an open-loop load of 1,000 requests/s on 10,000 series (p99, achieved
//     rate), and of 250 requests/s, which a loaded 2-core machine can carry;
//   - the memory of each adapter process with 1,000 series x 14 days of
//     one-minute history in Prometheus;
//   - foresight's warm start: from process start until every series of the
//     1,000-series rule answers, history loaded from Prometheus;
//   - with -phases top: `kubectl top pods -A` over 1,000 pods on 50 nodes
//     (metrics.k8s.io through kube-apiserver's aggregator, the official
//     metrics clientset, prometheus-adapter's deploy/manifests resourceRules
//     over kubelet-shaped series), each adapter in turn, and its memory;
//
// and the ratios against the goals. The data is written as one TSDB block with
// github.com/prometheus/prometheus/tsdb before Prometheus starts (samples run
// to now+3h so that the peer's instant queries find a value all run long).
// Both adapters of the closed-loop phases run at once and the phases
// alternate between them in rounds, so that both see the same load of the
// shared machine; the open-loop phase runs one adapter process at a time, so
// that a backlog of one cannot weigh on the other. CPU per request is given for
// the adapter, for Prometheus (the peer's work per request) and for the
// client, all measured from /proc.
//
//	make bench-adapter
//	go run ./hack/bench-adapter [-duration 10s] [-model auto] [-rates 250,1000] [-adapters foresight,peer] [-phases latency,openloop,top]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/project"
)

// options are the command's flags.
type options struct {
	duration     time.Duration
	rounds       int
	clients      int
	clientProcs  int
	rates        []int
	conns        int
	series       int
	history      time.Duration
	wideNS       int
	widePerNS    int
	wideHistory  time.Duration
	model        string
	contentType  string
	loadClient   string
	wideModel    string
	warmTimeout  time.Duration
	foresightBin string
	peerBin      string
	kubeBin      string
	prometheus   string
	adapters     []string
	phases       []string
	keep         bool
}

func main() {
	var o options
	var adapters, phases string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measurement time of each load phase")
	flag.IntVar(&o.rounds, "rounds", 2, "closed-loop phases alternate between the adapters in this many rounds (duration/rounds each)")
	flag.IntVar(&o.clients, "clients", 50, "concurrent clients of the throughput phase")
	flag.IntVar(&o.clientProcs, "client-procs", 1, "Go processors (GOMAXPROCS) of this load generator during the closed-loop phases, 0 for one per core: it shares the cores with the adapter it measures, and with a second processor it spent about a fifth more CPU per request (measured in alternating 6 s segments)")
	var rates string
	flag.StringVar(&rates, "rates", "250,1000", "requests per second of the open-loop phase, one run each in this order (the goal is judged at 1000)")
	flag.IntVar(&o.conns, "open-loop-clients", 8, "client objects the open-loop requests are spread over")
	flag.IntVar(&o.series, "series", 1000, "series of the latency, memory and warm-start phases (one namespace)")
	flag.DurationVar(&o.history, "history", 14*24*time.Hour, "one-minute history of those series, and the rule's history")
	flag.IntVar(&o.wideNS, "open-loop-namespaces", 100, "namespaces of the open-loop phase's series")
	flag.IntVar(&o.widePerNS, "open-loop-per-namespace", 100, "series per namespace of the open-loop phase")
	flag.DurationVar(&o.wideHistory, "open-loop-history", 7*time.Hour, "one-minute history of the open-loop series, and that rule's history")
	flag.StringVar(&o.model, "model", "auto", "forecast model of foresight's 1,000-series rule")
	flag.StringVar(&o.contentType, "content-type", "application/vnd.kubernetes.protobuf", "encoding the clients ask for first (kube-controller-manager's HPA clients ask for protobuf; application/json for JSON)")
	flag.StringVar(&o.loadClient, "load-client", directClient, "how the load phases send their requests: direct (the official client's requests, same URL, headers and HTTP/2 transport, built before the clock starts) or official (the official external-metrics client, which builds each request again)")
	flag.StringVar(&o.wideModel, "open-loop-model", "reactive", "forecast model of foresight's open-loop rule (the request path does not depend on it)")
	flag.DurationVar(&o.warmTimeout, "warm-timeout", 5*time.Minute, "how long to wait for every series to serve after foresight starts")
	flag.StringVar(&o.foresightBin, "foresight-bin", "", "foresight-adapter binary to run (default: build ./adapter/cmd/foresight-adapter into .cache/bin)")
	flag.StringVar(&o.peerBin, "peer-bin", "", "prometheus-adapter binary (default: .cache/bin/prometheus-adapter, built from hack/peer-adapter when missing)")
	flag.StringVar(&o.kubeBin, "kube-bin", "", "folder with etcd and kube-apiserver (default: .cache/e2e-bin/current, built by hack/e2e/build.sh when missing)")
	flag.StringVar(&o.prometheus, "prometheus", "prometheus", "Prometheus server binary")
	flag.StringVar(&adapters, "adapters", "foresight,peer", "adapters to measure: foresight, peer")
	flag.StringVar(&phases, "phases", "latency,openloop", "phases: latency (1,000 series: warm start, memory, 1 and N clients), openloop, top (kubectl top pods -A over 1,000 pods and 50 nodes through the aggregator, metrics.k8s.io)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (data, logs, configs)")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile of the whole run to this file")
	flag.Parse()
	for _, r := range splitList(rates) {
		n, err := strconv.Atoi(r)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench-adapter: -rates: %q is not a positive number of requests per second\n", r)
			os.Exit(2)
		}
		o.rates = append(o.rates, n)
	}
	if o.loadClient != directClient && o.loadClient != officialClient {
		fmt.Fprintf(os.Stderr, "bench-adapter: -load-client: %q is neither %s nor %s\n", o.loadClient, directClient, officialClient)
		os.Exit(2)
	}
	o.adapters = splitList(adapters)
	o.phases = splitList(phases)
	// client-go logs failed requests through klog; the phases count them instead.
	klog.SetLogger(logr.Discard())
	// The clients share the 2 cores with the adapters: collect their garbage less often.
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *cpuProfile != "" {
		if err := startCPUProfile(*cpuProfile); err != nil {
			fmt.Fprintln(os.Stderr, "bench-adapter: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-adapter:", err)
		stop()
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// startCPUProfile starts profiling this process into a new file at path.
func startCPUProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return pprof.StartCPUProfile(f)
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// binaries finds or builds the four programs of the run.
func binaries(root string, o *options) error {
	bin := filepath.Join(root, ".cache", "bin")
	if o.foresightBin == "" && slices.Contains(o.adapters, "foresight") {
		o.foresightBin = filepath.Join(bin, "foresight-adapter")
		t0 := time.Now()
		if err := adapterproc.BuildForesight(root, o.foresightBin); err != nil {
			return err
		}
		fmt.Printf("built %s from the working tree in %s\n", o.foresightBin, time.Since(t0).Round(time.Second))
	}
	if o.peerBin == "" && slices.Contains(o.adapters, "peer") {
		o.peerBin = filepath.Join(bin, adapterproc.PeerProgram)
		if _, err := os.Stat(o.peerBin); err != nil {
			fmt.Println("building prometheus-adapter v0.12.0 from hack/peer-adapter (a few minutes, once)")
			if err := adapterproc.BuildPeer(root, o.peerBin); err != nil {
				return err
			}
		}
	}
	if o.kubeBin == "" {
		o.kubeBin = filepath.Join(root, ".cache", "e2e-bin", "current")
		if _, err := os.Stat(filepath.Join(o.kubeBin, "kube-apiserver")); err != nil {
			fmt.Println("building etcd and kube-apiserver with hack/e2e/build.sh (several minutes, once)")
			cmd := exec.Command("nice", filepath.Join(root, "hack", "e2e", "build.sh"))
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("hack/e2e/build.sh: %w", err)
			}
		}
	}
	for _, b := range []string{filepath.Join(o.kubeBin, "etcd"), filepath.Join(o.kubeBin, "kube-apiserver")} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("missing %s: %w", b, err)
		}
	}
	p, err := project.LookPath(o.prometheus)
	if err != nil {
		return fmt.Errorf("the Prometheus server: %w", err)
	}
	o.prometheus = p
	return nil
}

func run(ctx context.Context, o options) (err error) {
	wall := time.Now()
	fmt.Printf("load average at the start: %s\n", loadAverage())
	root, err := project.Root()
	if err != nil {
		return err
	}
	if err := binaries(root, &o); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-adapter-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep || err != nil {
			fmt.Println("work folder (data, configs, logs) kept:", work)
			return
		}
		_ = os.RemoveAll(work)
	}()
	logDir := filepath.Join(work, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return err
	}

	narrow := seriesSet{metric: "bench_load", namespaces: 1, perNamespace: o.series, history: o.history}
	wide := seriesSet{metric: "bench_load_wide", namespaces: o.wideNS, perNamespace: o.widePerNS, history: o.wideHistory}
	var sets []seriesSet
	if slices.Contains(o.phases, "latency") {
		sets = append(sets, narrow)
	}
	if slices.Contains(o.phases, "openloop") {
		sets = append(sets, wide)
	}
	top := slices.Contains(o.phases, "top")
	if len(sets) == 0 && !top {
		return errors.New("no phase selected (-phases latency,openloop,top)")
	}
	// Samples run this far past now, so that the newest one stays within
	// Prometheus's 5-minute lookback for the peer's instant queries all run long.
	const ahead = 3 * time.Hour
	dataDir := filepath.Join(work, "prometheus-data")
	t0 := time.Now()
	if len(sets) > 0 {
		samples, err := writeBlocks(ctx, dataDir, t0, ahead, sets...)
		if err != nil {
			return err
		}
		fmt.Printf("data: one TSDB block, %d samples written in %s:", samples, time.Since(t0).Round(time.Second))
		for _, s := range sets {
			fmt.Printf(" %s %d series x %s,", s.metric, s.series(), s.history)
		}
		fmt.Printf(" one-minute steps, up to now+%s\n", ahead)
	}
	if top {
		t0 := time.Now()
		samples, err := writeKubeletBlock(ctx, dataDir, t0, ahead)
		if err != nil {
			return err
		}
		fmt.Printf("data (top): %d samples of kubelet-shaped series (cAdvisor containers and pod cgroups, kubelet nodes) for %d pods and %d nodes written in %s, one-minute steps from now-1h to now+%s\n",
			samples, topNamespaces*topPodsPerNS, topNodes, time.Since(t0).Round(time.Second), ahead)
	}

	prom, err := startPrometheus(ctx, o.prometheus, dataDir, sets)
	if err != nil {
		return err
	}
	defer prom.Stop()
	promURL := prom.URL
	fmt.Printf("prometheus: %s on %s, data checked\n", prometheusVersion(o.prometheus), promURL)

	t0 = time.Now()
	cl, err := startCluster(ctx, o.kubeBin, filepath.Join(work, "cluster"))
	if err != nil {
		return err
	}
	defer cl.Stop()
	fmt.Printf("kube-apiserver: %s (etcd + kube-apiserver v1.37 from %s, RBAC, ready in %s)\n", cl.Server, o.kubeBin, time.Since(t0).Round(time.Second))
	fmt.Printf("auth: both adapters delegate authentication and authorization to it (admin kubeconfig); clients present user %q's certificate, allowed by a ClusterRole to read external metrics\n", benchUser)

	fmt.Printf("clients: content type %s (Accept: %s, */*), configured as kube-controller-manager's HPA clients (no request timeout, no compression); ", o.contentType, o.contentType)
	if o.loadClient == directClient {
		fmt.Println("load phases send the official k8s.io/metrics external-metrics client's requests, built before the clock starts (-load-client direct); setup steps use the official client")
	} else {
		fmt.Println("the official k8s.io/metrics external-metrics client (-load-client official)")
	}
	if o.clientProcs > 0 {
		fmt.Printf("load generator: GOMAXPROCS %d during the closed-loop phases\n", o.clientProcs)
	}
	b := &bench{o: o, root: root, work: work, logDir: logDir, promURL: promURL, prom: prom.Proc(), cl: cl}
	rep := &report{}
	if slices.Contains(o.phases, "latency") {
		if err := b.latency(ctx, narrow, rep); err != nil {
			return err
		}
	}
	if slices.Contains(o.phases, "openloop") {
		if err := b.openLoop(ctx, wide, rep); err != nil {
			return err
		}
	}
	if top {
		if err := b.top(ctx, rep); err != nil {
			return err
		}
	}
	rep.print(o)
	fmt.Printf("\nwall time %s; load average at the end: %s\n", time.Since(wall).Round(time.Second), loadAverage())
	return nil
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
