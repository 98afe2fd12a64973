//go:build integration

package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	cmprovider "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/provider"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/server"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
)

// TestDiscoveryThroughKubeAPIServer registers the adapter's APIServices with a
// real kube-apiserver and checks that client-go's discovery, which asks for
// aggregated discovery first, lists the adapter's groups and metrics, talking
// to the adapter directly and through the aggregator, the same as the legacy
// documents, also after the served metrics change; and that the provider
// reads the kinds of resources from the cluster's discovery.
func TestDiscoveryThroughKubeAPIServer(t *testing.T) {
	binDir := needs.KubeBinDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: binDir, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)

	// The served metrics are the store's rules, as the loop publishes them.
	store := serving.NewStore(time.Now)
	publish := func(metric string, api serving.API, resource string) {
		store.Publish(&serving.Snapshot{Info: serving.RuleInfo{Metric: metric, API: api, Resource: schema.GroupResource{Resource: resource}}, Ready: true})
	}
	publish("queue_depth", serving.APIExternal, "")
	publish("pod_rps", serving.APIPods, "pods")
	publish("service_rps", serving.APIObject, "services")
	var skew atomic.Int64
	refresher, _ := kubeletRefresher(t, &skew)
	url := startClusterAdapter(t, c, store, refresher)
	if err := adapterproc.Register(ctx, c, &adapterproc.Adapter{URL: url}, adapterproc.ForesightAPIs); err != nil {
		t.Fatal(err)
	}
	if err := adapterproc.WaitAvailable(ctx, c, adapterproc.ForesightAPIs); err != nil {
		t.Fatal(err)
	}
	// Discovery is open to every authenticated user: no RBAC on the metrics.
	user, err := adapterproc.NewClient(ctx, c.Admin, c.CA, "discovery-reader", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	direct, aggregator := user.RESTConfig(url), user.RESTConfig(c.Server)

	t.Run("the adapter answers the aggregator's Accept with 406", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(direct)
		if err != nil {
			t.Fatal(err)
		}
		err = dc.RESTClient().Get().AbsPath("/apis").SetHeader("Accept", discovery.AcceptV2).Do(ctx).Error()
		if !apierrors.IsNotAcceptable(err) {
			t.Errorf("GET /apis with Accept %s: %v, want 406 Not Acceptable (falls back to the legacy documents)", discovery.AcceptV2, err)
		}
	})

	// The adapter's own documents and the aggregator's (from the registered
	// APIServices) list the same group versions: custom.metrics.k8s.io in
	// v1beta2 and v1beta1.
	custom := []string{"pods/pod_rps", "services/service_rps"}
	want := map[string][]string{
		"custom.metrics.k8s.io/v1beta2":   custom,
		"custom.metrics.k8s.io/v1beta1":   custom,
		"external.metrics.k8s.io/v1beta1": {"queue_depth"},
		"metrics.k8s.io/v1beta1":          {"nodes", "pods"},
		"metrics.k8s.io/v1":               {"nodes", "pods"},
	}
	check := func(t *testing.T, cfg *rest.Config, want map[string][]string, wait time.Duration) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for {
			got, err := metricsDiscovery(cfg, false)
			var legacy map[string][]string
			if err == nil {
				legacy, err = metricsDiscovery(cfg, true)
			}
			same := err == nil && fmt.Sprint(got) == fmt.Sprint(want) && fmt.Sprint(legacy) == fmt.Sprint(want)
			if same {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("discovery of %s (aggregated first) = %v, legacy = %v, error %v; want %v", cfg.Host, got, legacy, err, want)
			}
			time.Sleep(time.Second)
		}
	}
	t.Run("client-go discovery of the adapter directly", func(t *testing.T) {
		check(t, direct, want, 0)
	})
	t.Run("custom.metrics.k8s.io prefers v1beta2, directly and through the aggregator", func(t *testing.T) {
		for _, cfg := range []*rest.Config{direct, aggregator} {
			dc, err := discovery.NewDiscoveryClientForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			dc.UseLegacyDiscovery = true
			groups, err := dc.ServerGroups()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range groups.Groups {
				if g.Name == "custom.metrics.k8s.io" {
					got = append(got, g.PreferredVersion.Version)
					for _, v := range g.Versions {
						got = append(got, v.Version)
					}
				}
			}
			if !slices.Equal(got, []string{"v1beta2", "v1beta2", "v1beta1"}) {
				t.Errorf("%s: custom.metrics.k8s.io preferred and versions %v, want v1beta2 and [v1beta2 v1beta1]", cfg.Host, got)
			}
		}
	})
	t.Run("client-go discovery through the aggregator", func(t *testing.T) {
		// The aggregator fetches its APIServices' discovery asynchronously.
		check(t, aggregator, want, time.Minute)
	})

	// A new rule and a removed one: the documents follow the served metrics,
	// at once on the adapter, and on the aggregator at its next refresh (a
	// minute in kube-aggregator).
	publish("jobs_waiting", serving.APIExternal, "")
	store.Retain(map[string]bool{"queue_depth": true, "pod_rps": true, "jobs_waiting": true})
	want["external.metrics.k8s.io/v1beta1"] = []string{"jobs_waiting", "queue_depth"}
	want["custom.metrics.k8s.io/v1beta1"] = []string{"pods/pod_rps"}
	want["custom.metrics.k8s.io/v1beta2"] = []string{"pods/pod_rps"}
	t.Run("after the metrics change, directly", func(t *testing.T) {
		check(t, direct, want, 0)
	})
	t.Run("after the metrics change, through the aggregator", func(t *testing.T) {
		check(t, aggregator, want, 3*time.Minute)
	})
	t.Run("a kind the built-in table lacks, from the cluster's discovery", func(t *testing.T) {
		// CSIStorageCapacity (storage.k8s.io/v1) is namespaced and not in the table.
		objects, err := server.NewClusterObjects(c.AdminConfig)
		if err != nil {
			t.Fatal(err)
		}
		gr := schema.GroupResource{Group: "storage.k8s.io", Resource: "csistoragecapacities"}
		st := serving.NewStore(time.Now)
		ls := labels.FromStrings("namespace", "shop", "capacity", "c1")
		snap := &serving.Snapshot{Info: serving.RuleInfo{Metric: "free_bytes", API: serving.APIObject, Resource: gr, NamespaceLabel: "namespace"}, Ready: true,
			ByNamespace: map[string][]*serving.Entry{"shop": {{Labels: ls, Key: ls.String(), Namespace: "shop", Object: "c1", Forecast: forecast.Forecast{At: time.Now().Unix(), Value: 5}}}}}
		snap.Index()
		st.Publish(snap)
		p := provider.New(st, objects)
		for _, name := range []string{"csistoragecapacities", "CSIStorageCapacity"} {
			info := cmprovider.CustomMetricInfo{GroupResource: schema.GroupResource{Group: gr.Group, Resource: name}, Metric: "free_bytes", Namespaced: true}
			v, err := p.GetMetricByName(ctx, types.NamespacedName{Namespace: "shop", Name: "c1"}, info, k8slabels.Everything())
			if err != nil || v.DescribedObject.Kind != "CSIStorageCapacity" || v.DescribedObject.APIVersion != "storage.k8s.io/v1" {
				t.Errorf("%s c1: %+v, %v; want a CSIStorageCapacity of storage.k8s.io/v1", name, v, err)
			}
		}
	})
}

// metricsDiscovery returns the sorted resource names of each metrics group
// version that client-go's discovery of cfg's server lists; legacy asks for
// the legacy documents only, else aggregated discovery is asked for first.
func metricsDiscovery(cfg *rest.Config, legacy bool) (map[string][]string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc.UseLegacyDiscovery = legacy
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return nil, err
		}
		switch gv.Group {
		case "custom.metrics.k8s.io", "external.metrics.k8s.io", "metrics.k8s.io":
		default:
			continue
		}
		names := []string{}
		for _, r := range l.APIResources {
			names = append(names, r.Name)
		}
		slices.Sort(names)
		out[l.GroupVersion] = names
	}
	return out, nil
}

// startClusterAdapter serves store's metrics and refresher's resource metrics
// on loopback until the test ends, as in a cluster: a serving certificate of
// the cluster CA for adapterproc.ServiceDNS, and authentication,
// authorization and object listing delegated to c. It returns the URL.
func startClusterAdapter(t *testing.T, c *cluster.Cluster, store *serving.Store, refresher *resourcemetrics.Refresher) string {
	t.Helper()
	leaf, err := c.CA.Sign(pki.LeafOptions{CommonName: "localhost", Server: true,
		DNSNames: []string{adapterproc.ServiceDNS, "localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := leaf.Write(t.TempDir(), "tls")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	opts := server.NewOptions()
	opts.Adapter.SecureServing.Listener = ln
	opts.Adapter.SecureServing.BindPort = port
	opts.Adapter.SecureServing.ServerCert.CertKey.CertFile, opts.Adapter.SecureServing.ServerCert.CertKey.KeyFile = certFile, keyFile
	opts.ListerKubeconfig = c.AdminKubeconfig
	kube, err := server.ClusterConfig(c.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	objects, err := server.NewClusterObjects(kube)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(opts, server.Config{
		Provider: provider.New(store, objects), Logger: slog.New(slog.DiscardHandler),
		ResourceMetrics: &server.ResourceMetrics{Source: refresher, Objects: objects},
	})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, srv)
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
