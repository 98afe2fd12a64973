package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/spf13/pflag"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/loadgen"
	"github.com/foresight-dev/foresight/adapter/server"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/cli"
)

// Demo names.
const (
	demoNamespace = "demo"
	demoPredicted = "predicted_requests_per_second"
	demoReactive  = "requests_per_second"
	demoSeries    = "demo_http_requests_per_second"
)

// demoRules is the demo's rule file: the same load served predicted and reactive.
const demoRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: ` + demoPredicted + `
    query: ` + demoSeries + `{<<.LabelMatchers>>}
    api: external
    forecast:
      step: 1m
      horizon: 5m
  - name: ` + demoReactive + `
    query: ` + demoSeries + `{<<.LabelMatchers>>}
    api: external
    forecast:
      step: 1m
      model: reactive
`

// runDemo implements `foresight-adapter demo`: the real server on loopback,
// with an embedded TSDB holding a generated load history that keeps running
// in accelerated time. Authentication and authorization are off.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	address := fs.String("address", "127.0.0.1", "address to serve on (loopback only: the demo has no authentication)")
	port := fs.Int("port", 6443, "port to serve on (0: any free port)")
	speed := fs.Float64("speed", 60, "data seconds per real second (60: one real second is one minute of load)")
	history := fs.Duration("history", 14*24*time.Hour, "generated load history before the start")
	base := fs.Float64("base", 200, "mean requests per second of the generated load")
	duration := fs.Duration("duration", 0, "stop after this real time (0: run until interrupted)")
	certDir := fs.String("cert-dir", "", "directory for the self-signed serving certificate (default: a temporary directory)")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: foresight-adapter demo [flags]")
		fmt.Fprintln(stderr, "\nRuns the adapter locally with generated load in accelerated time. No cluster, no Prometheus,")
		fmt.Fprintln(stderr, "NO AUTHENTICATION: loopback only.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := cli.ParsePFlags(fs, args); err != nil {
		return err
	}
	if ip := net.ParseIP(*address); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: --address %q is not a loopback address; the demo has no authentication", errUsage, *address)
	}
	if *speed <= 0 || *history <= 0 {
		return fmt.Errorf("%w: --speed and --history must be positive", errUsage)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	reg := newRegistry()
	emb, err := source.NewEmbedded(source.EmbeddedOptions{Retention: *history + 30*24*time.Hour, Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	defer emb.Close()

	step := time.Minute
	start := time.Now().Truncate(step)
	realStart := time.Now()
	clock := func() time.Time {
		return start.Add(time.Duration(float64(time.Since(realStart)) * *speed))
	}
	load := loadgen.Default(*base, 1)
	series := labels.FromStrings("__name__", demoSeries, "namespace", demoNamespace, "service", "web")
	gen := &demoGenerator{emb: emb, load: load, series: series, step: step, next: start.Add(-*history)}
	if err := gen.fill(start); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(*address, strconv.Itoa(*port)))
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen: %w (another program serves there: choose another port with --port, or --port 0 for any free one)", err)
	}
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	opts := server.NewOptions()
	opts.Local = true
	opts.Adapter.SecureServing.Listener = ln
	opts.Adapter.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port
	dir := *certDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "foresight-demo-certs-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	opts.Adapter.SecureServing.ServerCert.CertDirectory = dir

	interval := max(time.Duration(float64(step) / *speed), 100*time.Millisecond)
	var store *serving.Store
	var outMu sync.Mutex
	a, err := newAdapter(adapterParts{
		source: emb, registry: reg, log: log, opts: opts, now: clock, interval: interval,
		onCycle: func(metric string, snap *serving.Snapshot) {
			if metric != demoPredicted {
				return
			}
			outMu.Lock()
			defer outMu.Unlock()
			printDemoLine(stdout, store, snap)
		},
	})
	if err != nil {
		ln.Close()
		return err
	}
	store = a.store
	f, err := config.Parse([]byte(demoRules), "demo-rules.yaml")
	if err != nil {
		return fmt.Errorf("demo rules: %w", err)
	}
	rules, err := serving.RulesFromConfig(f)
	if err != nil {
		return fmt.Errorf("demo rules: %w", err)
	}
	if err := a.loop.SetRules(rules); err != nil {
		return err
	}

	url := fmt.Sprintf("https://%s/apis/external.metrics.k8s.io/v1beta1/namespaces/%s/", ln.Addr().String(), demoNamespace)
	outMu.Lock()
	fmt.Fprintf(stdout, "foresight-adapter demo: LOCAL ONLY, authentication and authorization are OFF\n")
	fmt.Fprintf(stdout, "serving on https://%s (self-signed certificate in %s)\n", ln.Addr().String(), dir)
	fmt.Fprintf(stdout, "load: %s of generated history, time runs %gx (1 real second = %s of load)\n", *history, *speed, time.Duration(*speed*float64(time.Second)))
	fmt.Fprintf(stdout, "query it:\n")
	fmt.Fprintf(stdout, "  curl -k %s%s\n", url, demoPredicted)
	fmt.Fprintf(stdout, "  curl -k %s%s\n", url, demoReactive)
	fmt.Fprintf(stdout, "  curl -k https://%s/apis/external.metrics.k8s.io/v1beta1\n", ln.Addr().String())
	fmt.Fprintf(stdout, "  curl -k https://%s/metrics\n", ln.Addr().String())
	fmt.Fprintf(stdout, "loading the history into the forecasters...\n")
	outMu.Unlock()

	err = a.run(ctx, func(ctx context.Context) { gen.run(ctx, clock, interval/2, log) })
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && *duration > 0 {
		return nil
	}
	return err
}

// printDemoLine prints what is served next to the observed load.
func printDemoLine(w io.Writer, store *serving.Store, snap *serving.Snapshot) {
	entries := snap.ByNamespace[demoNamespace]
	if len(entries) == 0 {
		return
	}
	p := entries[0].Forecast
	reactive := "-"
	if rs := store.Snapshot(demoReactive); rs != nil && len(rs.ByNamespace[demoNamespace]) > 0 {
		reactive = fmt.Sprintf("%8.1f", rs.ByNamespace[demoNamespace][0].Forecast.Value)
	}
	fmt.Fprintf(w, "%s  observed %8.1f  %s %8.1f (%s, point forecast %.1f)  %s %s  [%s]\n",
		time.Unix(p.At, 0).UTC().Format("Mon 2006-01-02 15:04"), p.Observed,
		demoPredicted, p.Value, p.Model, p.Predicted, demoReactive, reactive, p.Reason)
}

// demoGenerator appends the generated load to the embedded TSDB as data time advances.
type demoGenerator struct {
	emb    *source.Embedded
	load   loadgen.Profile
	series labels.Labels
	step   time.Duration
	next   time.Time // next sample time to append
}

// fill appends samples up to and including until.
func (g *demoGenerator) fill(until time.Time) error {
	var samples []source.Sample
	for ; !g.next.After(until); g.next = g.next.Add(g.step) {
		samples = append(samples, source.Sample{T: g.next.UnixMilli(), V: g.load.At(g.next)})
	}
	if len(samples) == 0 {
		return nil
	}
	return g.emb.AppendSeries(g.series, samples)
}

// run keeps one step of samples ahead of the data clock, so that the loop
// never evaluates a step whose sample is not written yet.
func (g *demoGenerator) run(ctx context.Context, clock func() time.Time, every time.Duration, log interface{ Warn(string, ...any) }) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.fill(clock().Add(g.step)); err != nil {
				log.Warn("demo load generator", "err", err)
			}
		}
	}
}
