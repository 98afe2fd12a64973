// Package server builds Foresight's aggregated API server: the
// custom-metrics-apiserver library's secure serving, delegated authentication
// and authorization through kube-apiserver, the external and custom metrics
// APIs backed by a provider, optionally the resource metrics API
// (metrics.k8s.io, resourcemetrics.go), health checks, and the adapter's own /metrics.
//
// It builds the server from the library's options itself instead of using
// cmd.AdapterBase, which cannot start without a cluster: with Local set (the
// demo and tests) no cluster is needed or contacted.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/component-base/metrics/legacyregistry"
	openapicommon "k8s.io/kube-openapi/pkg/common"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/cmd/options"
	generatedcore "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/core"
	generatedcustommetrics "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/custommetrics"
	generatedexternalmetrics "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/externalmetrics"
	cmprovider "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
)

// Name is the server's name in logs and OpenAPI.
const Name = "foresight-adapter"

// Options are the server's flags: the library's secure serving,
// authentication, authorization, audit and feature options, plus Foresight's.
type Options struct {
	// Adapter holds the library's option sets.
	Adapter *options.CustomMetricsAdapterServerOptions
	// ListerKubeconfig is the kubeconfig used to list objects for
	// custom-metrics requests by selector (in-cluster config when empty).
	ListerKubeconfig string
	// MetricsBindAddress, when set, also serves /metrics over plain HTTP on this
	// address (for scrapers without a token). /metrics is always on the secure port.
	MetricsBindAddress string
	// Local turns authentication and authorization off and contacts no cluster.
	// Only for the demo and tests on loopback.
	Local bool
	// LibraryHandlersOnly turns the fast path for external-metrics list
	// requests off (fastpath.go), so every request takes the library's full
	// handler chain. For comparisons in tests and benchmarks.
	LibraryHandlersOnly bool
}

// NewOptions returns the default options (secure port 6443).
func NewOptions() *Options {
	o := &Options{Adapter: options.NewCustomMetricsAdapterServerOptions()}
	o.Adapter.SecureServing.BindPort = 6443
	return o
}

// AddFlags adds the options' flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Adapter.AddFlags(fs)
	fs.StringVar(&o.ListerKubeconfig, "lister-kubeconfig", o.ListerKubeconfig,
		"kubeconfig used to list objects for custom-metrics requests by label selector (in-cluster config when empty); "+
			"also the default of --authentication-kubeconfig and --authorization-kubeconfig")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress,
		"also serve the adapter's /metrics over plain HTTP on this address (e.g. :9090); empty: only on the secure port")
}

// Config is what the server serves.
type Config struct {
	// Provider answers the metrics APIs.
	Provider cmprovider.MetricsProvider
	// Registry holds the adapter's own metrics, served on /metrics with the
	// API server's.
	Registry *prometheus.Registry
	// Ready reports an error until the forecasts can be served (rules loaded
	// and a first cycle done); it backs /readyz.
	Ready func() error
	// Logger logs the server's life.
	Logger *slog.Logger
	// ResourceMetrics, when set, serves metrics.k8s.io v1 and v1beta1 (pods and
	// nodes: kubectl top and the HPA's Resource metrics).
	ResourceMetrics *ResourceMetrics
}

// Server is a built, not yet running, adapter server.
type Server struct {
	adapter     *apiserver.CustomMetricsAdapterServer
	metrics     http.Handler
	metricsAddr string
	log         *slog.Logger
	Kube        *rest.Config // nil in local mode
}

// authzCacheSize bounds the authorization decisions the adapter remembers:
// one per (user, namespace, metric) that HPAs read, as the webhook's own cache.
const authzCacheSize = 8192

// New validates o and builds the server.
func New(o *Options, c Config) (*Server, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	a := o.Adapter
	var kube *rest.Config
	if o.Local {
		a.Authentication = nil
		a.Authorization = nil
		c.Logger.Warn("AUTHENTICATION AND AUTHORIZATION ARE OFF: local-only server, never expose it", "port", a.SecureServing.BindPort)
	} else {
		var err error
		kube, err = ClusterConfig(o.ListerKubeconfig)
		if err != nil {
			return nil, err
		}
		// Outside a cluster, delegate authentication and authorization through
		// the same kubeconfig unless told otherwise.
		if o.ListerKubeconfig != "" {
			if a.Authentication != nil && a.Authentication.RemoteKubeConfigFile == "" {
				a.Authentication.RemoteKubeConfigFile = o.ListerKubeconfig
			}
			if a.Authorization != nil && a.Authorization.RemoteKubeConfigFile == "" {
				a.Authorization.RemoteKubeConfigFile = o.ListerKubeconfig
			}
		}
	}
	defs := mergeDefinitions(generatedcore.GetOpenAPIDefinitions, generatedcustommetrics.GetOpenAPIDefinitions, generatedexternalmetrics.GetOpenAPIDefinitions, resourceMetricsDefinitions)
	a.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(defs, openapinamer.NewDefinitionNamer(apiserver.Scheme))
	a.OpenAPIConfig.Info.Title, a.OpenAPIConfig.Info.Version = Name, "1.0.0"
	a.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(defs, openapinamer.NewDefinitionNamer(apiserver.Scheme))
	a.OpenAPIV3Config.Info.Title, a.OpenAPIV3Config.Info.Version = Name, "1.0.0"
	// The adapter serves /metrics itself, with its own registry next to the library's.
	a.EnableMetrics = false
	if errs := a.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("server options: %w", utilerrors.NewAggregate(errs))
	}

	// The adapter caches authorization decisions itself (authzcache.go), for
	// the TTLs the flags set; the webhook authorizer then caches nothing, so
	// that a refresh asks kube-apiserver.
	var allowTTL, denyTTL time.Duration
	if a.Authorization != nil {
		allowTTL, denyTTL = a.Authorization.AllowCacheTTL, a.Authorization.DenyCacheTTL
		a.Authorization.AllowCacheTTL, a.Authorization.DenyCacheTTL = 0, 0
	}
	sc := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	sc.ClientConfig = kube
	if kube == nil {
		// Never contacted: authentication, authorization and priority-and-fairness are off.
		sc.ClientConfig = &rest.Config{Host: "https://127.0.0.1:1"}
	}
	if err := a.ApplyTo(sc); err != nil {
		return nil, fmt.Errorf("server options: %w", err)
	}
	if a.Authorization != nil && sc.Authorization.Authorizer != nil {
		cache := newAuthzCache(sc.Authorization.Authorizer, allowTTL, denyTTL, authzCacheSize)
		if c.Registry != nil {
			if err := cache.instrument(c.Registry); err != nil {
				return nil, fmt.Errorf("register authorization cache metrics: %w", err)
			}
		}
		sc.Authorization.Authorizer = cache
	}
	lister, _ := c.Provider.(ExternalLister)
	if o.LibraryHandlersOnly {
		lister = nil
	}
	var requests *prometheus.HistogramVec
	if lister != nil {
		requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "foresight_adapter_request_duration_seconds",
			Help:    "Time to answer an authorized external-metrics list request on the fast path, by HTTP status code.",
			Buckets: prometheus.ExponentialBuckets(0.0000625, 2, 12), // 62.5 µs .. 128 ms
		}, []string{"code"})
		if c.Registry != nil {
			if err := c.Registry.Register(requests); err != nil {
				return nil, fmt.Errorf("register request metrics: %w", err)
			}
		}
	}
	sc.BuildHandlerChainFunc = buildHandlerChain(lister, requests)
	if c.Ready != nil {
		sc.AddReadyzChecks(healthz.NamedCheck("forecasts", func(*http.Request) error { return c.Ready() }))
	}
	cfg := &apiserver.Config{GenericConfig: &sc.Config}
	srv, err := cfg.Complete(nil).New(Name, c.Provider, c.Provider)
	if err != nil {
		return nil, fmt.Errorf("build API server: %w", err)
	}
	if c.ResourceMetrics != nil {
		if err := installResourceMetrics(srv.GenericAPIServer, c.ResourceMetrics); err != nil {
			return nil, err
		}
	}
	if err := listEveryCustomMetricsVersion(srv.GenericAPIServer); err != nil {
		return nil, err
	}
	if err := serveLegacyDiscoveryOnly(srv.GenericAPIServer); err != nil {
		return nil, err
	}
	gatherers := prometheus.Gatherers{legacyregistry.DefaultGatherer}
	if c.Registry != nil {
		gatherers = append(prometheus.Gatherers{c.Registry}, gatherers...)
	}
	mh := promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	srv.GenericAPIServer.Handler.NonGoRestfulMux.Handle("/metrics", mh)
	return &Server{adapter: srv, metrics: mh, metricsAddr: o.MetricsBindAddress, log: c.Logger, Kube: kube}, nil
}

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	if s.metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.metrics)
		hs := &http.Server{Addr: s.metricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		ln, err := net.Listen("tcp", s.metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener %s: %w", s.metricsAddr, err)
		}
		s.log.Info("serving /metrics over plain HTTP", "address", ln.Addr().String())
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}()
	}
	go func() { errc <- s.adapter.GenericAPIServer.PrepareRun().RunWithContext(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return <-errc
	}
}

// ClusterConfig returns the REST config of the cluster the adapter lists
// objects in: kubeconfig when set, else the in-cluster config.
func ClusterConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("lister kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("no --lister-kubeconfig and not in a cluster: %w", err)
	}
	return cfg, nil
}

func mergeDefinitions(getters ...openapicommon.GetOpenAPIDefinitions) openapicommon.GetOpenAPIDefinitions {
	return func(ref openapicommon.ReferenceCallback) map[string]openapicommon.OpenAPIDefinition {
		out := map[string]openapicommon.OpenAPIDefinition{}
		for _, g := range getters {
			for k, v := range g(ref) {
				out[k] = v
			}
		}
		return out
	}
}
