package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/foresight-dev/foresight/adapter/source"
)

// clientRules serve an external, an object (services) and a pods metric.
// Reactive models make the served value the last sample, known exactly.
const clientRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: queue_depth
    query: redis_list_length{<<.LabelMatchers>>}
    api: external
    forecast: {step: 1m, model: reactive, staleAfter: 3m}
  - name: service_rps
    query: sum by (namespace, service) (rate_rps{<<.LabelMatchers>>})
    api: object
    resources: {resource: services, label: service}
    forecast: {step: 1m, model: reactive, staleAfter: 3m}
  - name: pod_rps
    query: pod_rps{<<.LabelMatchers>>}
    api: pods
    forecast: {step: 1m, model: reactive, staleAfter: 3m}
`

func fillClientData(emb *source.Embedded) {
	add := func(v float64, kv ...string) {
		lbls := labels.FromStrings(kv...)
		samples := make([]source.Sample, 0, 120)
		for i := 119; i >= 0; i-- {
			samples = append(samples, source.Sample{T: t0.Add(-time.Duration(i) * time.Minute).UnixMilli(), V: v - float64(i)})
		}
		if err := emb.AppendSeries(lbls, samples); err != nil {
			panic(err)
		}
	}
	add(1012.5, "__name__", "redis_list_length", "namespace", "a", "queue", "orders")
	add(1007.25, "__name__", "redis_list_length", "namespace", "a", "queue", "emails")
	add(2000, "__name__", "redis_list_length", "namespace", "b", "queue", "orders")
	add(350, "__name__", "rate_rps", "namespace", "a", "service", "web", "instance", "i1")
	add(150, "__name__", "rate_rps", "namespace", "a", "service", "web", "instance", "i2")
	add(900, "__name__", "rate_rps", "namespace", "b", "service", "web", "instance", "i1")
	add(140, "__name__", "pod_rps", "namespace", "a", "pod", "web-1", "app", "web")
	add(160, "__name__", "pod_rps", "namespace", "a", "pod", "web-2", "app", "web")
	add(170, "__name__", "pod_rps", "namespace", "a", "pod", "batch-1", "app", "batch")
	add(999, "__name__", "pod_rps", "namespace", "b", "pod", "web-1", "app", "web")
}

func externalClient(t *testing.T, h *harness) external_metrics.ExternalMetricsClient {
	c, err := external_metrics.NewForConfig(h.restConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// customClient is the HPA controller's custom metrics client, with discovery.
func customClient(t *testing.T, h *harness) (custom_metrics.CustomMetricsClient, *discovery.DiscoveryClient) {
	dc, err := discovery.NewDiscoveryClientForConfig(h.restConfig())
	if err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	return custom_metrics.NewForConfig(h.restConfig(), mapper, custom_metrics.NewAvailableAPIsGetter(dc)), dc
}

func mustSelector(t *testing.T, s string) k8slabels.Selector {
	sel, err := k8slabels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func TestOfficialClients(t *testing.T) {
	h := startHarness(t, clientRules, fillClientData)
	ext := externalClient(t, h)
	cm, dc := customClient(t, h)

	t.Run("discovery lists every metric", func(t *testing.T) {
		rl, err := dc.ServerResourcesForGroupVersion("external.metrics.k8s.io/v1beta1")
		if err != nil {
			t.Fatal(err)
		}
		if len(rl.APIResources) != 1 || rl.APIResources[0].Name != "queue_depth" {
			t.Errorf("external resources = %+v, want queue_depth only", rl.APIResources)
		}
		for _, gv := range []string{"custom.metrics.k8s.io/v1beta1", "custom.metrics.k8s.io/v1beta2"} {
			rl, err := dc.ServerResourcesForGroupVersion(gv)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range rl.APIResources {
				names = append(names, r.Name)
			}
			got := strings.Join(names, ",")
			if got != "pods/pod_rps,services/service_rps" && got != "services/service_rps,pods/pod_rps" {
				t.Errorf("%s resources = %s", gv, got)
			}
		}
	})

	t.Run("external by name, with timestamp and milli-quantity", func(t *testing.T) {
		l, err := ext.NamespacedMetrics("a").List("queue_depth", k8slabels.Everything())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"orders": 1012500, "emails": 1007250}
		if len(l.Items) != 2 {
			t.Fatalf("items = %d, want 2: %+v", len(l.Items), l.Items)
		}
		for _, it := range l.Items {
			if it.MetricLabels["namespace"] != "a" {
				t.Errorf("item of namespace %q in a request for a", it.MetricLabels["namespace"])
			}
			if got := it.Value.MilliValue(); got != want[it.MetricLabels["queue"]] {
				t.Errorf("queue %s value = %dm, want %dm", it.MetricLabels["queue"], got, want[it.MetricLabels["queue"]])
			}
			if !it.Timestamp.Time.Equal(t0) {
				t.Errorf("timestamp = %v, want the sample time %v", it.Timestamp.Time, t0)
			}
		}
	})

	t.Run("external label selectors", func(t *testing.T) {
		for _, tc := range []struct {
			sel    string
			queues []string
		}{
			{"queue=orders", []string{"orders"}},
			{"queue!=orders", []string{"emails"}},
			{"queue in (emails,nope)", []string{"emails"}},
			{"queue notin (emails)", []string{"orders"}},
			{"queue", []string{"emails", "orders"}},
			{"!queue", nil},
			{`queue=orders"}) or vector(1) #`, nil}, // rejected by the selector parser or matches nothing
		} {
			sel, err := k8slabels.Parse(tc.sel)
			if err != nil {
				continue // not a valid Kubernetes selector: the client could not send it either
			}
			l, err := ext.NamespacedMetrics("a").List("queue_depth", sel)
			if err != nil {
				t.Fatalf("selector %q: %v", tc.sel, err)
			}
			var got []string
			for _, it := range l.Items {
				got = append(got, it.MetricLabels["queue"])
			}
			if strings.Join(slices.Sorted(slices.Values(got)), ",") != strings.Join(tc.queues, ",") {
				t.Errorf("selector %q: queues %v, want %v", tc.sel, got, tc.queues)
			}
		}
	})

	t.Run("namespaces are isolated", func(t *testing.T) {
		l, err := ext.NamespacedMetrics("b").List("queue_depth", k8slabels.Everything())
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 || l.Items[0].Value.MilliValue() != 2000000 || l.Items[0].MetricLabels["namespace"] != "b" {
			t.Errorf("namespace b: %+v", l.Items)
		}
		// A selector naming another namespace never reaches its series.
		for _, sel := range []string{"namespace=b", "namespace in (a,b)", "namespace!=a", "namespace notin (a)"} {
			l, err := ext.NamespacedMetrics("a").List("queue_depth", mustSelector(t, sel))
			if err != nil {
				if !apierrors.IsBadRequest(err) {
					t.Errorf("selector %q in a: error %v, want bad request or a's series only", sel, err)
				}
				continue
			}
			for _, it := range l.Items {
				if it.MetricLabels["namespace"] != "a" {
					t.Errorf("selector %q in namespace a returned a series of %q", sel, it.MetricLabels["namespace"])
				}
			}
		}
		l, err = ext.NamespacedMetrics("c").List("queue_depth", k8slabels.Everything())
		if err != nil || len(l.Items) != 0 {
			t.Errorf("namespace without series: %v, %+v; want an empty list", err, l)
		}
	})

	t.Run("unknown metric is NotFound", func(t *testing.T) {
		_, err := ext.NamespacedMetrics("a").List("no_such_metric", k8slabels.Everything())
		if !apierrors.IsNotFound(err) {
			t.Errorf("external: err = %v, want NotFound", err)
		}
		// A custom metric asked for on the external API is unknown there too.
		_, err = ext.NamespacedMetrics("a").List("service_rps", k8slabels.Everything())
		if !apierrors.IsNotFound(err) {
			t.Errorf("custom metric on the external API: err = %v, want NotFound", err)
		}
		_, err = cm.NamespacedMetrics("a").GetForObject(schema.GroupKind{Kind: "Service"}, "web", "no_such_metric", k8slabels.Everything())
		if !apierrors.IsNotFound(err) {
			t.Errorf("custom: err = %v, want NotFound", err)
		}
		_, err = cm.NamespacedMetrics("a").GetForObject(schema.GroupKind{Kind: "Service"}, "nope", "service_rps", k8slabels.Everything())
		if !apierrors.IsNotFound(err) {
			t.Errorf("custom, unknown object: err = %v, want NotFound", err)
		}
	})

	t.Run("a metricLabelSelector that does not parse is a bad request", func(t *testing.T) {
		for _, version := range []string{"v1beta1", "v1beta2"} {
			get := func(metricSelector string) error {
				return dc.RESTClient().Get().AbsPath("/apis/custom.metrics.k8s.io/"+version+"/namespaces/a/pods/*/pod_rps").
					Param("labelSelector", "app=web").Param("metricLabelSelector", metricSelector).Do(context.Background()).Error()
			}
			if err := get("app==="); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "metricLabelSelector: ") {
				t.Errorf("%s: metricLabelSelector app===: %v, want a bad request naming the parameter", version, err)
			}
			if err := get(`a="b"`); !apierrors.IsBadRequest(err) {
				t.Errorf("%s: metricLabelSelector a=\"b\": %v, want a bad request", version, err)
			}
			if err := get("app=web"); err != nil {
				t.Errorf("%s: metricLabelSelector app=web: %v", version, err)
			}
		}
	})

	t.Run("object metric by name", func(t *testing.T) {
		for ns, want := range map[string]int64{"a": 500000, "b": 900000} {
			v, err := cm.NamespacedMetrics(ns).GetForObject(schema.GroupKind{Kind: "Service"}, "web", "service_rps", k8slabels.Everything())
			if err != nil {
				t.Fatal(err)
			}
			if v.Value.MilliValue() != want || v.DescribedObject.Name != "web" || v.DescribedObject.Namespace != ns || v.DescribedObject.Kind != "Service" {
				t.Errorf("%s/web: %+v, want %dm", ns, v, want)
			}
			if !v.Timestamp.Time.Equal(t0) {
				t.Errorf("timestamp %v, want %v", v.Timestamp.Time, t0)
			}
		}
	})

	t.Run("pods metric by selector", func(t *testing.T) {
		l, err := cm.NamespacedMetrics("a").GetForObjects(schema.GroupKind{Kind: "Pod"}, mustSelector(t, "app=web"), "pod_rps", k8slabels.Everything())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, it := range l.Items {
			got[it.DescribedObject.Name] = it.Value.MilliValue()
		}
		if len(got) != 2 || got["web-1"] != 140000 || got["web-2"] != 160000 {
			t.Errorf("pods app=web in a: %v", got)
		}
		v, err := cm.NamespacedMetrics("a").GetForObject(schema.GroupKind{Kind: "Pod"}, "batch-1", "pod_rps", k8slabels.Everything())
		if err != nil || v.Value.MilliValue() != 170000 {
			t.Errorf("pod batch-1: %v, %v", v, err)
		}
	})

	t.Run("stale source is an error, not a zero, and recovers", func(t *testing.T) {
		h.src.down.Store(true)
		h.clock.Advance(2 * time.Minute) // within staleAfter (3m): still served
		if _, err := ext.NamespacedMetrics("a").List("queue_depth", k8slabels.Everything()); err != nil {
			t.Fatalf("within the staleness limit: %v", err)
		}
		h.clock.Advance(2 * time.Minute) // 4m since the last sample
		_, err := ext.NamespacedMetrics("a").List("queue_depth", k8slabels.Everything())
		if err == nil || apierrors.IsNotFound(err) || !apierrors.IsServiceUnavailable(err) {
			t.Errorf("stale external: err = %v, want ServiceUnavailable", err)
		}
		_, err = cm.NamespacedMetrics("a").GetForObject(schema.GroupKind{Kind: "Service"}, "web", "service_rps", k8slabels.Everything())
		if err == nil || apierrors.IsNotFound(err) {
			t.Errorf("stale custom: err = %v, want an error other than NotFound", err)
		}
		// The source returns with fresh data: serving resumes without a restart.
		now := h.clock.Now().Truncate(time.Minute)
		appendSteps(t, h.emb, labels.FromStrings("__name__", "redis_list_length", "namespace", "a", "queue", "orders"), now, 42)
		h.src.down.Store(false)
		waitFor(t, 10*time.Second, "recovery", func() bool {
			l, err := ext.NamespacedMetrics("a").List("queue_depth", mustSelector(t, "queue=orders"))
			return err == nil && len(l.Items) == 1 && l.Items[0].Value.MilliValue() == 42000 && l.Items[0].Timestamp.Time.Equal(now)
		})
	})
}
