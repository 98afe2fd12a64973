package config

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/prometheus/prometheus/model/labels"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	sigsyaml "sigs.k8s.io/yaml"
)

// TestDeployRuleExamples parses every shipped example in deploy/rules/.
func TestDeployRuleExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "rules", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example rule files in deploy/rules, want at least 3", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := Load(path)
			if err != nil {
				t.Fatalf("%v", err)
			}
			for _, r := range f.Rules {
				if r.Line == 0 {
					t.Errorf("rule %s has no line", r.Name)
				}
			}
		})
	}
	// The base deployment's rule file is an example too.
	if _, err := os.Stat(filepath.Join("..", "..", "deploy", "adapter", "base", "rules.yaml")); err == nil {
		if _, err := Load(filepath.Join("..", "..", "deploy", "adapter", "base", "rules.yaml")); err != nil {
			t.Errorf("deploy/adapter/base/rules.yaml: %v", err)
		}
	}
}

// TestDeployRuleExamplesEvaluate runs every example rule's query, as the
// forecast loop renders it, on a real PromQL engine over series shaped like
// the named exporters' (Envoy, redis_exporter, cAdvisor, kube-state-metrics),
// and checks the result series and values.
func TestDeployRuleExamplesEvaluate(t *testing.T) {
	emb, err := source.NewEmbedded(source.EmbeddedOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	// counter appends a counter rising by perSecond, scraped every 15s for 20 minutes.
	counter := func(perSecond float64, kv ...string) {
		var ss []source.Sample
		for ts := end.Add(-20 * time.Minute); !ts.After(end); ts = ts.Add(15 * time.Second) {
			ss = append(ss, source.Sample{T: ts.UnixMilli(), V: perSecond * float64(ts.Unix()-end.Add(-time.Hour).Unix())})
		}
		if err := emb.AppendSeries(labels.FromStrings(kv...), ss); err != nil {
			t.Fatal(err)
		}
	}
	gauge := func(v float64, kv ...string) {
		var ss []source.Sample
		for ts := end.Add(-20 * time.Minute); !ts.After(end); ts = ts.Add(15 * time.Second) {
			ss = append(ss, source.Sample{T: ts.UnixMilli(), V: v})
		}
		if err := emb.AppendSeries(labels.FromStrings(kv...), ss); err != nil {
			t.Fatal(err)
		}
	}
	counter(10, "__name__", "envoy_cluster_upstream_rq_total", "namespace", "shop", "pod", "web-1", "envoy_cluster_name", "inbound|web")
	counter(5, "__name__", "envoy_cluster_upstream_rq_total", "namespace", "shop", "pod", "web-2", "envoy_cluster_name", "inbound|web")
	counter(7, "__name__", "envoy_cluster_upstream_rq_total", "namespace", "shop", "pod", "web-1", "envoy_cluster_name", "api.shop")
	gauge(42, "__name__", "redis_key_size", "namespace", "jobs", "db", "db0", "key", "queue:emails")
	gauge(9, "__name__", "redis_key_size", "namespace", "jobs", "db", "db0", "key", "sessions")
	gauge(1, "__name__", "redis_up", "namespace", "jobs", "instance", "10.0.0.9:9121")
	// A Redis whose emails list is empty (deleted): its backlog must read 0, not no data.
	gauge(1, "__name__", "redis_up", "namespace", "quiet", "instance", "10.0.0.8:9121")
	counter(3, "__name__", "worker_jobs_processed_total", "namespace", "jobs", "queue", "emails", "pod", "emails-1")
	counter(4, "__name__", "rabbitmq_queue_messages_published_total", "namespace", "jobs", "vhost", "/", "queue", "orders")
	gauge(17, "__name__", "rabbitmq_queue_messages_ready", "namespace", "jobs", "vhost", "/", "queue", "orders")
	counter(6, "__name__", "kafka_topic_partition_current_offset", "namespace", "pay", "topic", "payments", "partition", "0")
	counter(4, "__name__", "kafka_topic_partition_current_offset", "namespace", "pay", "topic", "payments", "partition", "1")
	gauge(100, "__name__", "kafka_consumergroup_lag", "namespace", "pay", "consumergroup", "payments-workers", "topic", "payments", "partition", "0")
	gauge(20, "__name__", "kafka_consumergroup_lag", "namespace", "pay", "consumergroup", "payments-workers", "topic", "payments", "partition", "1")
	gauge(999, "__name__", "kafka_consumergroup_lag", "namespace", "pay", "consumergroup", "audit", "topic", "payments", "partition", "0")
	counter(0.5, "__name__", "container_cpu_usage_seconds_total", "namespace", "shop", "pod", "web-abc-1", "container", "app")
	counter(0.25, "__name__", "container_cpu_usage_seconds_total", "namespace", "shop", "pod", "web-abc-2", "container", "app")
	counter(0.75, "__name__", "container_cpu_usage_seconds_total", "namespace", "shop", "pod", "web-abc-1", "container", "")
	counter(0.01, "__name__", "container_cpu_usage_seconds_total", "namespace", "shop", "pod", "web-abc-1", "container", "POD")
	gauge(1, "__name__", "kube_pod_owner", "namespace", "shop", "pod", "web-abc-1", "owner_kind", "ReplicaSet", "owner_name", "web-abc")
	gauge(1, "__name__", "kube_pod_owner", "namespace", "shop", "pod", "web-abc-2", "owner_kind", "ReplicaSet", "owner_name", "web-abc")
	gauge(1, "__name__", "kube_replicaset_owner", "namespace", "shop", "replicaset", "web-abc", "owner_kind", "Deployment", "owner_name", "web")

	want := map[string]struct {
		labels map[string]string
		value  float64
	}{
		"predicted_requests_per_second":         {map[string]string{"namespace": "shop", "service": "web"}, 15},
		"service_predicted_requests_per_second": {map[string]string{"namespace": "shop", "service": "web"}, 15},
		"predicted_queue_length":                {map[string]string{"namespace": "jobs", "queue": "emails"}, 42},
		"deployment_predicted_cpu_cores":        {map[string]string{"namespace": "shop", "deployment": "web"}, 0.75},
		"pod_predicted_cpu_cores":               {map[string]string{"namespace": "shop", "pod": "web-abc-1"}, 0.5},
		"web_replicas_cost_weighted":            {map[string]string{"namespace": "shop", "service": "web"}, 15},
		"web_requests_per_second_predicted":     {map[string]string{"namespace": "shop", "service": "web"}, 15},
		// Queue rules: the arrival rate (the query) here, the backlog in wantBacklog.
		"emails_worker_demand":     {map[string]string{"namespace": "jobs", "queue": "emails"}, 3},
		"orders_worker_demand":     {map[string]string{"namespace": "jobs", "queue": "orders"}, 4},
		"payments_consumer_demand": {map[string]string{"namespace": "pay", "topic": "payments"}, 10},
	}
	wantBacklog := map[string]float64{"emails_worker_demand": 42, "orders_worker_demand": 17, "payments_consumer_demand": 120}
	// OpenCost: web-abc-1 on spot node n1, 0.5 cores * 0.04 + 2 GiB * 0.005 = 0.03 $/h.
	gauge(0.5, "__name__", "container_cpu_allocation", "namespace", "shop", "pod", "web-abc-1", "container", "app", "node", "n1")
	gauge(2<<30, "__name__", "container_memory_allocation_bytes", "namespace", "shop", "pod", "web-abc-1", "container", "app", "node", "n1")
	gauge(0.04, "__name__", "node_cpu_hourly_cost", "node", "n1", "instance_type", "m6i.large")
	gauge(0.005, "__name__", "node_ram_hourly_cost", "node", "n1", "instance_type", "m6i.large")
	gauge(1, "__name__", "kubecost_node_is_spot", "node", "n1")
	wantPrices := map[string][3]float64{"web_replicas_cost_weighted": {0.03, 0.03, 1}}
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "rules", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, path := range files {
		f, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Rules {
			w, ok := want[r.Name]
			if !ok {
				t.Errorf("%s: rule %s has no expectation in this test", path, r.Name)
				continue
			}
			seen++
			ms, err := source.AllNamespacesMatchers(r.Resources.NamespaceLabel)
			if err != nil {
				t.Fatal(err)
			}
			q, err := source.RenderQuery(r.Query, ms)
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			res, err := emb.QueryRange(context.Background(), q, end, end, time.Minute)
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			var match *source.Series
			for i := range res {
				s := &res[i]
				if s.Labels.Get(r.Resources.NamespaceLabel) == "" {
					t.Errorf("%s: series %s has no namespace", r.Name, s.Labels)
				}
				if r.API != APIExternal && s.Labels.Get(r.Resources.Label) == "" {
					t.Errorf("%s: series %s has no %s label", r.Name, s.Labels, r.Resources.Label)
				}
				all := true
				for k, v := range w.labels {
					all = all && s.Labels.Get(k) == v
				}
				if all {
					match = s
				}
			}
			if match == nil || len(match.Samples) != 1 || math.Abs(match.Samples[0].V-w.value) > 1e-9 {
				t.Errorf("%s: result %v, want a series %v = %v", r.Name, res, w.labels, w.value)
			}
			if r.Queue != nil && match != nil {
				res0 := res
				// The backlog series must carry the arrival series' labels exactly.
				bq, err := source.RenderQuery(r.Queue.Backlog, ms)
				if err != nil {
					t.Fatalf("%s: %v", r.Name, err)
				}
				res, err := emb.QueryRange(context.Background(), bq, end, end, time.Minute)
				got := map[string]float64{}
				for _, s := range res {
					got[s.Labels.String()] = s.Samples[len(s.Samples)-1].V
				}
				wb, ok := wantBacklog[r.Name]
				if v, found := got[match.Labels.String()]; err != nil || !ok || !found || v != wb {
					t.Errorf("%s: backlog = %v, %v; want %v = %v", r.Name, res, err, match.Labels, wb)
				}
				if r.Name == "emails_worker_demand" {
					// An empty (deleted) list with no worker running: backlog and
					// arrivals read 0, not no data (which would hold the HPA).
					if v, found := got[`{namespace="quiet", queue="emails"}`]; !found || v != 0 {
						t.Errorf("%s: backlog of an empty (deleted) list = %v, %v; want 0", r.Name, v, found)
					}
					quiet := false
					for _, s := range res0 {
						if s.Labels.String() == `{namespace="quiet", queue="emails"}` {
							quiet = s.Samples[len(s.Samples)-1].V == 0
						}
					}
					if !quiet {
						t.Errorf("%s: arrivals without workers = %v, want a 0 for namespace quiet", r.Name, res0)
					}
				}
			}
			if r.Cost == nil {
				continue
			}
			// The cost section's price queries over OpenCost-shaped series.
			wp, ok := wantPrices[r.Name]
			if !ok {
				t.Errorf("%s: cost rule without price expectations in this test", r.Name)
				continue
			}
			pq, err := r.Cost.Queries()
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			for i, expr := range []string{pq.ReplicaPrice, pq.WorkloadCost, pq.SpotShare} {
				res, err := emb.QueryRange(context.Background(), expr, end, end, time.Minute)
				if err != nil || len(res) != 1 || res[0].Labels.Get("namespace") != "shop" || math.Abs(res[0].Samples[0].V-wp[i]) > 1e-9 {
					t.Errorf("%s: price query %d = %v, %v; want {namespace=\"shop\"} %v", r.Name, i, res, err, wp[i])
				}
			}
		}
	}
	if seen != len(want) {
		t.Errorf("evaluated %d example rules, want %d", seen, len(want))
	}
}

// TestQueueHPAExamples decodes deploy/adapter/examples/hpa-queue.yaml strictly
// as autoscaling/v2 HPAs and checks that each scales to zero on a metric a
// queue rule of deploy/rules serves, with target AverageValue 1.
func TestQueueHPAExamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "adapter", "examples", "hpa-queue.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	queueRules := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "rules", "*.yaml"))
	for _, path := range files {
		f, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Rules {
			if r.Queue != nil {
				queueRules[r.Name] = true
			}
		}
	}
	seen := 0
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := sigsyaml.UnmarshalStrict([]byte(doc), &h); err != nil {
			t.Fatalf("HPA %d: %v", seen, err)
		}
		seen++
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 0 || len(h.Spec.Metrics) != 1 {
			t.Errorf("%s: want minReplicas 0 and one metric", h.Name)
			continue
		}
		m := h.Spec.Metrics[0]
		if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil || !queueRules[m.External.Metric.Name] ||
			m.External.Target.Type != autoscalingv2.AverageValueMetricType || m.External.Target.AverageValue.String() != "1" {
			t.Errorf("%s: metric %+v, want an External queue rule's metric with target AverageValue 1", h.Name, m)
		}
	}
	if seen != len(queueRules) {
		t.Errorf("%d HPAs for %d queue rules", seen, len(queueRules))
	}
}
