package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/foresight-dev/foresight/internal/cli"
	"github.com/foresight-dev/foresight/internal/promclient"
	"github.com/foresight-dev/foresight/internal/tlsfiles"
	"github.com/foresight-dev/foresight/sidecars/canary"
	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/discovery"
	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/gatewaywatch"
	"github.com/foresight-dev/foresight/sidecars/leader"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/promquery"
	"github.com/foresight-dev/foresight/sidecars/statemirror"
	"github.com/foresight-dev/foresight/sidecars/xds"
)

// Defaults of --kube-api-qps and --kube-api-burst: client-go's own (5 and 10) would take
// 200 s to write the statuses of 1,000 routes.
const (
	defaultKubeQPS   = 50
	defaultKubeBurst = 100
)

// serveFlags are the flags of serve.
type serveFlags struct {
	policy, experiments, experimentState string
	kubeconfig, xdsAddress, metricsAddr  string
	prometheus                           promclient.Config
	gatewayController                    string
	// gatewayServiceAccount names the ServiceAccount of each Gateway's Envoy proxies.
	gatewayServiceAccount               gatewayapi.ServiceAccountTemplate
	kubeQPS                             float64
	kubeBurst                           int
	stateDir, adminAddr, adminTokenFile string
	reloadInterval                      time.Duration
	logLevel                            string
	limits                              xds.Limits
	checks                              check.Options
	tls                                 tlsfiles.Files
	// requireNodeIdentity admits a client to a node group only with a certificate naming
	// one of the group's identities.
	requireNodeIdentity bool
	// stateConfigMap, "namespace/name", mirrors the state files to that ConfigMap.
	stateConfigMap string
	// leaderLease, "namespace/name", elects the replica that drives rollouts and
	// experiments with that Lease; empty: this replica always drives them.
	leaderLease  string
	leaderTiming leaderTiming
}

// leaderTiming is the timing of the leader Lease (the leader package's defaults when zero).
type leaderTiming struct {
	leaseDuration, renewDeadline, retryPeriod time.Duration
}

func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	f, level, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	// client-go (informers, leader election) logs through klog: in the same JSON lines.
	klog.SetSlogLogger(log)
	return serve(ctx, f, log)
}

// parseServeFlags reads serve's flags and checks that they go together.
func parseServeFlags(args []string, stderr io.Writer) (serveFlags, slog.Level, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	checkOptionsFlags(fs, &f.checks)
	fs.StringVar(&f.policy, "policy", "", "TrafficPolicy file (required); reloaded on change and on SIGHUP")
	fs.StringVar(&f.experiments, "experiments", "", "FaultExperiment file (optional); reloaded with the policy, on change and on SIGHUP, and checked against it")
	fs.StringVar(&f.stateConfigMap, "state-configmap", "", "NAMESPACE/NAME of a ConfigMap that keeps the canary and experiment state beyond the pod (restored at start when the local files are missing, updated on every change); the ConfigMap must exist")
	fs.StringVar(&f.leaderLease, "leader-elect-lease", "", "NAMESPACE/NAME of a Lease that elects, among several replicas, the one that drives the canary rollouts and experiment guards; the others serve the state it writes to --state-configmap (needed) and take over from it (off when empty: every replica drives its own, or with --state-configmap until another takes the ConfigMap over and it serves that one's state)")
	fs.DurationVar(&f.leaderTiming.leaseDuration, "leader-elect-lease-duration", leader.DefaultLeaseDuration, "how long the other replicas wait before they take the Lease of a leader that stopped renewing it")
	fs.DurationVar(&f.leaderTiming.renewDeadline, "leader-elect-renew-deadline", leader.DefaultRenewDeadline, "how long the leader tries to renew its Lease before it stops leading")
	fs.DurationVar(&f.leaderTiming.retryPeriod, "leader-elect-retry-period", leader.DefaultRetryPeriod, "how often the replicas try to take or renew the Lease")
	fs.StringVar(&f.experimentState, "experiment-state", filepath.Join(os.TempDir(), "foresight-xds-experiments.json"), "file recording experiment aborts across restarts")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for EndpointSlice discovery (in-cluster config when running in a pod)")
	fs.StringVar(&f.xdsAddress, "xds-address", ":18000", "ADS gRPC listen address")
	fs.StringVar(&f.metricsAddr, "metrics-address", ":18001", "listen address of /metrics, /healthz and /readyz (next to the ADS port; 9090 is Prometheus' own)")
	fs.StringVar(&f.gatewayController, "gateway-controller-name", "", "serve the Gateway API objects (Gateways, HTTPRoutes, GRPCRoutes, TLSRoutes, TCPRoutes, BackendTLSPolicies, and the attached CanaryPolicies, BackendTrafficPolicies and ExperimentPolicies) of GatewayClasses with this controllerName, e.g. foresight.dev/xds (off when empty)")
	var gatewayServiceAccount string
	fs.StringVar(&gatewayServiceAccount, "gateway-service-account", "", "with --require-node-identity, the ServiceAccount of the Gateway's namespace that a Gateway's Envoy proxies run as, where "+gatewayapi.GatewayPlaceholder+" stands for the Gateway's name (e.g. "+gatewayapi.GatewayPlaceholder+"-proxy): only a proxy whose certificate names its SPIFFE ID gets the Gateway's listeners and their private keys (empty: any ServiceAccount of the namespace)")
	fs.Float64Var(&f.kubeQPS, "kube-api-qps", defaultKubeQPS, "requests per second to the Kubernetes API (status writes of Gateway API objects are one request each)")
	fs.IntVar(&f.kubeBurst, "kube-api-burst", defaultKubeBurst, "burst of requests to the Kubernetes API above --kube-api-qps")
	// The Prometheus that experiment guards and canary analysis query, reached as the
	// adapter reaches its own (TLS, bearer token, tenant headers, bounded responses).
	cli.AddPFlags(fs, f.prometheus.AddFlags)
	fs.StringVar(&f.stateDir, "state-dir", filepath.Join(os.TempDir(), "foresight-xds"), "directory of the canary state (canaries.json), so a restart resumes every rollout where it was")
	fs.StringVar(&f.adminAddr, "admin-address", "", "listen address of the canary admin API (off when empty); needs --admin-token-file")
	fs.StringVar(&f.adminTokenFile, "admin-token-file", "", "file holding the bearer token the admin API requires")
	fs.StringVar(&f.tls.CertFile, "tls-cert-file", "", "PEM certificate chain to serve ADS over TLS with (reread when it changes); without it ADS is plaintext")
	fs.StringVar(&f.tls.KeyFile, "tls-private-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&f.tls.ClientCAFile, "client-ca-file", "", "PEM CA bundle: only proxies and clients with a certificate of one of these CAs connect (needs --tls-cert-file; reread when it changes)")
	fs.DurationVar(&f.reloadInterval, "reload-interval", 2*time.Second, "how often the policy file is checked for changes")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&f.requireNodeIdentity, "require-node-identity", false, "admit a proxy to a node group only when an identity of its client certificate (a SPIFFE ID, or a DNS name as dns:NAME) matches one of the group's identities (a Gateway's groups: its namespace's, or with --gateway-service-account its proxies'); needs --client-ca-file")
	fs.IntVar(&f.limits.MaxConnections, "max-connections", xds.DefaultLimits.MaxConnections, "ADS connections open at once; more wait to be accepted")
	fs.IntVar(&f.limits.MaxStreams, "max-streams", xds.DefaultLimits.MaxStreams, "ADS streams open at once (a proxy uses one); more are refused")
	fs.IntVar(&f.limits.MaxConnectionsPerAddress, "max-connections-per-address", xds.DefaultLimits.MaxConnectionsPerAddress, "ADS connections open at once from one client IP address; more are closed when accepted")
	fs.IntVar(&f.limits.MaxStreamsPerAddress, "max-streams-per-address", xds.DefaultLimits.MaxStreamsPerAddress, "ADS streams open at once from one client IP address; more are refused")
	fs.IntVar(&f.limits.MaxRecvMsgBytes, "max-message-bytes", xds.DefaultLimits.MaxRecvMsgBytes, "largest message accepted from a client")
	fs.IntVar(&f.limits.MaxSubscribedBytes, "max-subscribed-bytes", xds.DefaultLimits.MaxSubscribedBytes, "bytes of resource names all streams may subscribe to, each name counting 64 bytes more for the maps that hold it, and of what the nodes they name hold in memory past 16 KiB each; more are refused")
	if err := cli.ParseArgs(fs, args); err != nil {
		return f, 0, err
	}
	if f.policy == "" || fs.NArg() != 0 {
		return f, 0, cli.Usagef("serve: --policy FILE is required and takes no arguments")
	}
	if (f.tls.CertFile == "") != (f.tls.KeyFile == "") {
		return f, 0, cli.Usagef("serve: --tls-cert-file and --tls-private-key-file go together")
	}
	if f.tls.ClientCAFile != "" && f.tls.CertFile == "" {
		return f, 0, cli.Usagef("serve: --client-ca-file needs --tls-cert-file and --tls-private-key-file")
	}
	if f.requireNodeIdentity && f.tls.ClientCAFile == "" {
		return f, 0, cli.Usagef("serve: --require-node-identity needs --client-ca-file (identities come from verified client certificates)")
	}
	if gatewayServiceAccount != "" {
		if f.gatewayController == "" || !f.requireNodeIdentity {
			return f, 0, cli.Usagef("serve: --gateway-service-account needs --gateway-controller-name and --require-node-identity (it binds Gateways' proxies to identities)")
		}
		t, err := gatewayapi.ParseServiceAccountTemplate(gatewayServiceAccount)
		if err != nil {
			return f, 0, cli.Usagef("serve: --gateway-service-account: %v", err)
		}
		f.gatewayServiceAccount = t
	}
	for name, v := range map[string]string{"state-configmap": f.stateConfigMap, "leader-elect-lease": f.leaderLease} {
		if _, _, err := namespacedName(v); v != "" && err != nil {
			return f, 0, cli.Usagef("serve: --%s: %v", name, err)
		}
	}
	if f.leaderLease != "" && f.stateConfigMap == "" {
		return f, 0, cli.Usagef("serve: --leader-elect-lease needs --state-configmap (the other replicas serve the state the leader writes there)")
	}
	if t := f.leaderTiming; f.leaderLease != "" {
		if err := leader.CheckTiming(t.leaseDuration, t.renewDeadline, t.retryPeriod); err != nil {
			return f, 0, cli.Usagef("serve: --leader-elect-lease-duration, --leader-elect-renew-deadline, --leader-elect-retry-period: %v", err)
		}
	}
	if (f.adminAddr == "") != (f.adminTokenFile == "") {
		return f, 0, cli.Usagef("serve: --admin-address and --admin-token-file go together")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return f, 0, cli.Usagef("serve: --log-level: %v", err)
	}
	return f, level, nil
}

func serve(ctx context.Context, f serveFlags, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	// The goroutines serve starts end before it returns, on every path: none is left
	// writing a state file (canaries.json, the experiment state) after serve has failed.
	var background sync.WaitGroup
	defer func() { cancel(); background.Wait() }()
	// The content watchPolicy compares with is the content loaded here, hashed before it is
	// read: an edit made while serve starts is reloaded, not taken for the loaded one.
	loaded := filesHash(f)
	p, err := loadPolicy(f.policy, f.checks)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	opts := xds.Options{Logger: log, Registerer: reg, Limits: f.limits, Check: f.checks}
	if f.tls.CertFile != "" {
		files, err := tlsfiles.New(f.tls, log)
		if err != nil {
			return err
		}
		opts.TLS = files.Config()
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "foresight_xds_tls_certificate_expiry_timestamp_seconds",
			Help: "When the certificate the ADS port serves expires (Unix time); it moves when a renewed certificate is loaded.",
		}, func() float64 { return float64(files.NotAfter().Unix()) }))
	} else if f.gatewayController != "" {
		log.Warn("ADS is served without TLS (no --tls-cert-file): the private keys of the Gateways' HTTPS listeners go to proxies in plaintext, to any client that reaches the port")
	}
	rec := xds.NewReconciler(log)
	opts.NodeGroup = rec.NodeGroup
	if f.requireNodeIdentity {
		opts.Authorize = rec.Authorize
	}
	srv, err := xds.New(ctx, opts)
	if err != nil {
		return err
	}
	rec.Bind(srv)
	src := &sources{rec: rec, file: p}
	if err := src.apply(ctx); err != nil {
		return err
	}

	// The state is restored before the canary controller and the experiment runner read it.
	var mirror *statemirror.Mirror
	if f.stateConfigMap != "" {
		if mirror, err = stateMirror(ctx, f, reg, log); err != nil {
			return err
		}
	}
	// With a leader Lease, the controllers drive nothing until this replica leads. Without
	// one, they drive until another pod takes the state ConfigMap over (the new pod of a
	// rolling update), and this one then serves what that pod writes.
	var elector *leader.Elector
	var leading *atomic.Bool
	switch {
	case f.leaderLease != "":
		if elector, err = newElector(f, log); err != nil {
			return err
		}
		leading = new(atomic.Bool)
	case mirror != nil:
		leading = new(atomic.Bool)
		leading.Store(true)
	}
	if leading != nil {
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "foresight_xds_leader",
			Help: "1 while this control plane replica drives the rollouts and experiments: with a leader Lease, once it holds it and has taken the state ConfigMap over; without one, until another pod takes the state ConfigMap over. 0 otherwise.",
		}, func() float64 {
			if leading.Load() {
				return 1
			}
			return 0
		})); err != nil {
			return err
		}
	}
	el := electionOf(elector, leading)

	prom, err := promQuerier(f.prometheus)
	if err != nil {
		return err
	}
	// The Gateway API watch and the canary controller, each once made: the controllers
	// have the watch write its statuses anew when a rollout or an experiment changed (never
	// without a watch), and the watch reads the CanaryPolicies' status.rollout from the
	// canary controller, each made after what calls it.
	var gatewayWatch atomic.Pointer[gatewaywatch.Watcher]
	var canaryCtl atomic.Pointer[canary.Controller]
	writeStatuses := resyncOf(&gatewayWatch)
	// One runner drives the experiments of the file and of ExperimentPolicies.
	var runner *experiment.Runner
	if f.experiments != "" || f.gatewayController != "" {
		if runner, err = newRunner(f, p, rec, prom, el.leads, writeStatuses, reg, log); err != nil {
			return err
		}
		src.setRunner(runner)
	}

	var watcher *discovery.Watcher
	if targets := discovery.Targets(p); len(targets) > 0 || f.gatewayController != "" {
		cfg, client, err := kubeClient(f)
		if err != nil {
			return fmt.Errorf("policy %s uses kubernetes discovery or --gateway-controller-name is set: %w", f.policy, err)
		}
		watcher = discovery.NewWatcher(client, rec.SetEndpoints, log)
		defer watcher.Stop()
		go watcher.SetTargets(ctx, targets)
		src.setWatcher(watcher)
		if f.gatewayController != "" {
			gw, err := newGatewayWatch(ctx, cfg, client, src, gatewaywatch.Options{ControllerName: f.gatewayController, Checks: f.checks,
				ProxyServiceAccount: f.gatewayServiceAccount, Leading: el.leads, CanaryRollout: rolloutOf(&canaryCtl), ExperimentRun: experimentRunOf(runner), Logger: log})
			if err != nil {
				return err
			}
			src.setResync(gw.Resync)
			gatewayWatch.Store(gw)
			background.Go(func() {
				if err := gw.Run(ctx); err != nil {
					log.Error("gateway API watch stopped", "error", err)
				}
			})
			// Clients get no configuration without the Gateway API objects: after a restart
			// they keep their last one until then.
			select {
			case <-gw.Synced():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}

	if runner != nil {
		background.Go(func() { _ = runner.Run(ctx) })
	}
	canaries, err := newCanaries(ctx, f, rec, prom, el, writeStatuses, reg, log)
	if err != nil {
		return err
	}
	canaryCtl.Store(canaries)
	background.Go(func() { _ = canaries.Run(ctx) })
	if mirror != nil {
		st := &stateKeeper{mirror: mirror, leading: leading, canaries: canaries, runner: runner, writeStatuses: writeStatuses, log: log}
		background.Go(func() { st.run(ctx, elector) })
	}
	if f.adminAddr != "" {
		adminSrv, err := serveAdmin(f, canaries, log)
		if err != nil {
			return err
		}
		defer adminSrv.Close()
	}

	lis, err := net.Listen("tcp", f.xdsAddress)
	if err != nil {
		return fmt.Errorf("listen %s: %w", f.xdsAddress, err)
	}
	metricsSrv, err := serveMetrics(f.metricsAddr, reg, log)
	if err != nil {
		return err
	}
	defer metricsSrv.Close()

	background.Go(func() { watchPolicy(ctx, f, loaded, rec, src, log) })
	return srv.Serve(ctx, lis)
}

// promQuerier is a Prometheus client for c, or nil when c has no address.
func promQuerier(c promclient.Config) (promquery.Querier, error) {
	if c.Address == "" {
		return nil, nil
	}
	client, err := promclient.New(c, "foresight-xds")
	if err != nil {
		return nil, fmt.Errorf("--prometheus-url: %w", err)
	}
	return promv1.NewAPI(client), nil
}

// newCanaries returns the canary controller, its persisted rollouts already served;
// onChange is called when a rollout changed.
func newCanaries(ctx context.Context, f serveFlags, rec *xds.Reconciler, prom promquery.Querier, el election, onChange func(), reg prometheus.Registerer, log *slog.Logger) (*canary.Controller, error) {
	if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	c, err := canary.New(canary.Options{
		Prometheus: prom, StatePath: canaryStatePath(f), Policy: rec.Policy,
		Logger: log, Registerer: reg, Leading: el.leads, Leader: el.leader, OnChange: onChange,
		Apply: func(ctx context.Context, o canary.Overlay) error { return rec.SetLayer(ctx, "canary", o) },
	})
	if err != nil {
		return nil, err
	}
	if p := rec.Policy(); prom == nil && p != nil && slices.ContainsFunc(p.Spec.Canaries, func(c policy.Canary) bool { return len(c.Analysis.Metrics) > 0 }) {
		log.Warn("no --prometheus-url: canary analysis metrics cannot be measured, so every rollout with metrics fails its measurements and rolls back")
	}
	if err := c.Restore(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// serveAdmin serves the canary admin API on its own listener; every request needs the
// bearer token of --admin-token-file.
func serveAdmin(f serveFlags, c *canary.Controller, log *slog.Logger) (*http.Server, error) {
	token, err := canary.ReadToken(f.adminTokenFile)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", f.adminAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", f.adminAddr, err)
	}
	s := &http.Server{Handler: http.MaxBytesHandler(c.AdminHandler(token), 4<<10), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := s.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", "error", err)
		}
	}()
	log.Info("canary admin API listening", "address", lis.Addr().String())
	return s, nil
}

// experimentLayer is the overlay layer of the experiment runner: the default one
// (Reconciler.SetOverlay), which applies before the canary layer.
const experimentLayer = ""

// loadExperiments reads the experiments file (none without --experiments) and checks the
// experiments against the policy file p: each must target a route or service of it.
func loadExperiments(f serveFlags, p *policy.Policy) ([]*experiment.Experiment, error) {
	if f.experiments == "" {
		return nil, nil
	}
	exps, err := experiment.Load(f.experiments)
	if err != nil {
		return nil, err
	}
	if err := experiment.ValidateAgainst(exps, p); err != nil {
		return nil, fmt.Errorf("%s: %w", f.experiments, err)
	}
	return exps, nil
}

func newRunner(f serveFlags, p *policy.Policy, rec *xds.Reconciler, prom promquery.Querier, leads func() bool, onChange func(), reg prometheus.Registerer, log *slog.Logger) (*experiment.Runner, error) {
	exps, err := loadExperiments(f, p)
	if err != nil {
		return nil, err
	}
	return experiment.NewRunner(exps, experiment.Options{
		StatePath:  f.experimentState,
		Prometheus: prom,
		Logger:     log,
		Registerer: reg,
		Leading:    leads,
		OnChange:   onChange,
		Apply: func(ctx context.Context, o experiment.Overlay) error {
			return rec.SetLayer(ctx, experimentLayer, o)
		},
	})
}

// stateMirror restores the state files missing locally from --state-configmap and returns
// the mirror that keeps the ConfigMap up to date with them.
func stateMirror(ctx context.Context, f serveFlags, reg prometheus.Registerer, log *slog.Logger) (*statemirror.Mirror, error) {
	ns, name, _ := namespacedName(f.stateConfigMap)
	_, client, err := kubeClient(f)
	if err != nil {
		return nil, fmt.Errorf("--state-configmap: %w", err)
	}
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "foresight_xds_state_copy_failures_total",
		Help: "Attempts to copy the canary or experiment state between this replica and the --state-configmap ConfigMap that failed: a change to it (until one succeeds, the change is lost with the pod), or, on a replica that follows the leader, the leader's state from it (until one succeeds, the replica serves the last state it read).",
	})
	if err := reg.Register(failures); err != nil {
		return nil, err
	}
	m := statemirror.New(client.CoreV1().ConfigMaps(ns), name, map[string]string{
		canariesKey:    canaryStatePath(f),
		experimentsKey: f.experimentState,
	}, failures, log)
	if err := m.Restore(ctx); err != nil {
		return nil, fmt.Errorf("--state-configmap: %w", err)
	}
	return m, nil
}

// election is what the controllers are told of the leader election: whether this replica
// leads and who does. leads is nil when this replica always leads (no leader Lease and no
// state ConfigMap); leader is nil without a leader Lease.
type election struct {
	leads  func() bool
	leader func() string
}

// electionOf is the election of elector (nil: no leader Lease), leading while leading is
// set (nil: always).
func electionOf(elector *leader.Elector, leading *atomic.Bool) election {
	var e election
	if leading != nil {
		e.leads = leading.Load
	}
	if elector != nil {
		e.leader = elector.Leader
	}
	return e
}

// newElector returns the Elector of --leader-elect-lease.
func newElector(f serveFlags, log *slog.Logger) (*leader.Elector, error) {
	ns, name, _ := namespacedName(f.leaderLease)
	_, client, err := kubeClient(f)
	if err != nil {
		return nil, fmt.Errorf("--leader-elect-lease: %w", err)
	}
	return leader.New(leader.Options{Client: client, Namespace: ns, Name: name,
		LeaseDuration: f.leaderTiming.leaseDuration, RenewDeadline: f.leaderTiming.renewDeadline, RetryPeriod: f.leaderTiming.retryPeriod,
		Logger: log})
}

// namespacedName splits "NAMESPACE/NAME".
func namespacedName(v string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(v, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%q: want NAMESPACE/NAME", v)
	}
	return namespace, name, nil
}

// canaryStatePath is the canary controller's state file in --state-dir.
func canaryStatePath(f serveFlags) string { return filepath.Join(f.stateDir, "canaries.json") }

// kubeClient is the Kubernetes client of --kubeconfig (in-cluster without it) with
// --kube-api-qps and --kube-api-burst, and its configuration.
func kubeClient(f serveFlags) (*rest.Config, *kubernetes.Clientset, error) {
	cfg, err := kubeConfig(f.kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	cfg.QPS, cfg.Burst = float32(f.kubeQPS), f.kubeBurst
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, client, nil
}

func kubeConfig(kubeconfig string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config: %w", err)
	}
	return cfg, nil
}

// serveMetrics serves /metrics, /healthz and /readyz, read-only (GET and HEAD; other methods
// get 405) and unauthenticated, and nothing else: no profiling, no control actions. Policy
// reloads come from the file (or SIGHUP), experiments from their file, canary actions from
// the separate, authenticated admin listener (--admin-address).
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", ok)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	s := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := s.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Info("metrics listening", "address", lis.Addr().String())
	return s, nil
}

// watchPolicy reloads the policy and the experiments file when the content of either changes
// from last (polled) or on SIGHUP, and checks them together as serve does when it starts: an
// experiment must target a route or service of the policy. An invalid change of either is
// refused and counted; the last good configuration (and experiments) keeps serving.
func watchPolicy(ctx context.Context, f serveFlags, last []byte, rec *xds.Reconciler, src *sources, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(f.reloadInterval)
	defer tick.Stop()
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-hup:
			forced = true
			log.Info("SIGHUP: reloading policy", "file", f.policy, "experiments", f.experiments)
		case <-tick.C:
		}
		h := filesHash(f)
		if !forced && bytes.Equal(h, last) {
			continue
		}
		last = h
		p, err := loadPolicy(f.policy, f.checks)
		if err != nil {
			rec.ReloadFailed(err)
			continue
		}
		exps, err := loadExperiments(f, p)
		if err != nil {
			rec.ReloadFailed(err)
			continue
		}
		_ = src.setFile(ctx, p, exps) // refused changes are logged and counted by SetPolicy
	}
}

// filesHash is the hash of the content of the policy file and the experiments file (a file
// that cannot be read hashes as empty).
func filesHash(f serveFlags) []byte {
	h := sha256.New()
	for _, path := range []string{f.policy, f.experiments} {
		b, _ := os.ReadFile(path)
		sum := sha256.Sum256(b)
		h.Write(sum[:])
	}
	return h.Sum(nil)
}
