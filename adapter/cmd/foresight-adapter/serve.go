package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/memlimit"
	"github.com/foresight-dev/foresight/adapter/provider"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/server"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/shadow"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/cli"
)

// runServe implements `foresight-adapter serve`: the aggregated metrics API
// server reading forecasts from an in-memory store that a background loop
// keeps current from Prometheus.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	configPaths := fs.StringArray("config", nil, "metric rule `FILE`, Foresight's or prometheus-adapter's (repeatable; reloaded when it changes and on SIGHUP)")
	configFormat := fs.String("config-format", serving.FormatAuto, "format of the --config files: auto (by shape), foresight or prometheus-adapter")
	relist := fs.Duration("metrics-relist-interval", 10*time.Minute, "prometheus-adapter configs: how often metrics are discovered again, and how far back series are looked for")
	reloadEvery := fs.Duration("config-check-interval", serving.DefaultReloadInterval, "how often the rule file is checked for changes")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	clockStart := fs.String("clock-start", "", "replays only: RFC 3339 `TIME` the data clock starts at (default: now)")
	resourceEvery := fs.Duration("resource-metrics-interval", 30*time.Second, "how often the resource metrics queries (resourceMetrics of a rule file, resourceRules of a prometheus-adapter config; metrics.k8s.io: kubectl top, CPU/memory HPAs) run; reads fail after 3 intervals without a refresh")
	clockSpeed := fs.Float64("clock-speed", 1, "replays only: data seconds per real second; cycles run every step/speed")
	var policy config.Policy
	policy.AddFlags(fs)
	var prom source.PrometheusConfig
	prom.AddFlags(fs)
	fs.BoolVar(&prom.InsecureSkipVerify, "prometheus-insecure-skip-tls-verify", false, "alias of --prometheus-insecure-skip-verify")
	opts := server.NewOptions()
	opts.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: foresight-adapter serve --config FILE --prometheus-url URL [flags]")
		fmt.Fprintln(stderr, "\nServes predicted metrics on external.metrics.k8s.io and custom.metrics.k8s.io.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := cli.ParsePFlags(fs, args); err != nil {
		return err
	}
	if len(*configPaths) == 0 || prom.Address == "" {
		return fmt.Errorf("%w: --config and --prometheus-url are required", errUsage)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	reg := newRegistry()
	src, err := source.NewPrometheus(prom, reg, log)
	if err != nil {
		return err
	}
	kube, err := server.ClusterConfig(opts.ListerKubeconfig)
	if err != nil {
		return err
	}
	objects, err := server.NewClusterObjects(kube)
	if err != nil {
		return err
	}
	now, interval, err := dataClock(*clockStart, *clockSpeed)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *resourceEvery <= 0 {
		return fmt.Errorf("%w: --resource-metrics-interval must be positive", errUsage)
	}
	// Snapshots age on the data clock, which runs --clock-speed times faster
	// than the refresh interval: three intervals of it.
	staleAfter := time.Duration(3 * float64(*resourceEvery) * *clockSpeed)
	resources, err := resourcemetrics.NewRefresher(resourcemetrics.Options{Querier: src, Interval: *resourceEvery, StaleAfter: staleAfter, Now: now, Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	a, err := newAdapter(adapterParts{
		source: src, registry: reg, log: log, opts: opts, objects: objects, now: now, interval: interval,
		resources: &server.ResourceMetrics{Source: resources, Objects: objects},
	})
	if err != nil {
		return err
	}
	if *relist <= 0 {
		return fmt.Errorf("%w: --metrics-relist-interval must be positive", errUsage)
	}
	clock := now
	if clock == nil {
		clock = time.Now
	}
	files := resourcemetrics.NewFiles(resources)
	load, err := serving.FormatLoader(*configFormat, serving.NativeLoader(policy, files.Set), serving.ImportLoader(policy, src, clock, *relist, log, files.Set))
	if err != nil {
		return fmt.Errorf("%w: --config-format: %w", errUsage, err)
	}
	reloader := serving.NewReloader(*configPaths, load, a.loop, a.metrics, log, *reloadEvery)
	if err := reloader.Reload(true); err != nil {
		return fmt.Errorf("initial rules: %w", err)
	}
	// Imported prometheus-adapter rules discover their metrics again every relist interval.
	reloader.RefreshEvery(*relist)
	return a.run(ctx, reloader.Run, resources.Run)
}

// adapterParts are what serve and demo differ in.
type adapterParts struct {
	source   source.Source
	registry *prometheus.Registry
	log      *slog.Logger
	opts     *server.Options
	objects  provider.ObjectLister // nil without a cluster
	now      func() time.Time      // data clock; nil: wall clock
	interval time.Duration         // cycle interval; 0: each rule's step
	onCycle  func(metric string, snap *serving.Snapshot)
	// resources serves metrics.k8s.io (nil: not served).
	resources *server.ResourceMetrics
}

// adapter is a wired adapter: store, loop, provider and API server.
type adapter struct {
	store   *serving.Store
	metrics *serving.Metrics
	loop    *serving.Loop
	server  *server.Server
	memory  *memlimit.Keeper // nil without a configured memory limit
	log     *slog.Logger
}

func newAdapter(p adapterParts) (*adapter, error) {
	metrics, err := serving.NewMetrics(p.registry)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	shadowMetrics, err := shadow.NewMetrics(p.registry)
	if err != nil {
		return nil, fmt.Errorf("register shadow metrics: %w", err)
	}
	costMetrics, err := serving.NewCostMetrics(p.registry)
	if err != nil {
		return nil, fmt.Errorf("register cost metrics: %w", err)
	}
	sloMetrics, err := serving.NewSLOMetrics(p.registry)
	if err != nil {
		return nil, fmt.Errorf("register SLO metrics: %w", err)
	}
	store := serving.NewStore(p.now)
	loop, err := serving.NewLoop(serving.LoopOptions{
		Source: p.source, Store: store, Metrics: metrics, Logger: p.log,
		Now: p.now, Interval: p.interval, OnCycle: p.onCycle, ShadowMetrics: shadowMetrics,
		CostMetrics: costMetrics, SLOMetrics: sloMetrics,
	})
	if err != nil {
		return nil, err
	}
	srv, err := server.New(p.opts, server.Config{
		Provider: provider.New(store, p.objects),
		Registry: p.registry,
		Ready: func() error {
			if !loop.Ready() {
				return errors.New("rules not loaded or first forecast cycle not done")
			}
			return nil
		},
		Logger:          p.log,
		ResourceMetrics: p.resources,
	})
	if err != nil {
		return nil, err
	}
	// The history mapped off the Go heap shares the configured memory limit
	// with the heap (GOMEMLIMIT, set from the container's limit).
	memory := memlimit.New(forecast.OffHeapHistoryBytes)
	if memory != nil {
		for _, c := range memory.Collectors() {
			if err := p.registry.Register(c); err != nil {
				return nil, fmt.Errorf("register memory limit metrics: %w", err)
			}
		}
		p.log.Info("memory limit: the Go heap's soft limit is kept at the limit minus the series history held off the heap", "limit_bytes", memory.Total())
	}
	return &adapter{store: store, metrics: metrics, loop: loop, server: srv, memory: memory, log: p.log}, nil
}

// run runs the loop, the extra background tasks and the server until ctx is
// done or the server fails.
func (a *adapter) run(ctx context.Context, tasks ...func(context.Context)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.loop.Run(ctx) })
	if a.memory != nil {
		wg.Go(func() { a.memory.Run(ctx, memlimit.DefaultInterval) })
	}
	for _, t := range tasks {
		wg.Go(func() { t(ctx) })
	}
	err := a.server.Run(ctx)
	cancel()
	wg.Wait()
	if ctx.Err() != nil && err == nil {
		return nil
	}
	return err
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// dataClock returns the loop's clock and cycle interval for --clock-start and
// --clock-speed: nil and 0 (wall clock, each rule's step) by default.
func dataClock(start string, speed float64) (func() time.Time, time.Duration, error) {
	if speed <= 0 {
		return nil, 0, fmt.Errorf("--clock-speed must be positive, got %g", speed)
	}
	if start == "" && speed == 1 {
		return nil, 0, nil
	}
	t0 := time.Now()
	if start != "" {
		var err error
		if t0, err = time.Parse(time.RFC3339, start); err != nil {
			return nil, 0, fmt.Errorf("--clock-start: %w", err)
		}
	}
	realStart := time.Now()
	now := func() time.Time { return t0.Add(time.Duration(float64(time.Since(realStart)) * speed)) }
	return now, max(time.Duration(float64(time.Minute)/speed), 100*time.Millisecond), nil
}
