//go:build integration

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/config/promadapter"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
)

// TestMigrateOutputPassesCheckConfig migrates prometheus-adapter's Helm default rules
// and walkthrough against a real Prometheus, checks that check-config accepts both the
// originals and the migrated files, and that the migrated rules are the discovered ones.
func TestMigrateOutputPassesCheckConfig(t *testing.T) {
	end := time.Now().Add(-5 * time.Minute).Truncate(time.Minute)
	samples := func(v float64) []source.Sample {
		var out []source.Sample
		for ts := end.Add(-20 * time.Minute); !ts.After(end); ts = ts.Add(15 * time.Second) {
			out = append(out, source.Sample{T: ts.UnixMilli(), V: v})
		}
		return out
	}
	srv := promtest.StartPrometheus(t, promtest.Options{Series: []promtest.Series{
		{Name: "container_cpu_usage_seconds_total", Labels: map[string]string{"namespace": "shop", "pod": "web-1", "container": "app"}, Samples: samples(1)},
		{Name: "http_requests_total", Labels: map[string]string{"namespace": "shop", "pod": "web-1", "service": "web"}, Samples: samples(1)},
		{Name: "http_requests_total", Labels: map[string]string{"kubernetes_namespace": "shop", "kubernetes_pod_name": "web-1"}, Samples: samples(1)},
		{Name: "queue_consumer_lag", Labels: map[string]string{"namespace": "shop", "name": "q"}, Samples: samples(3)},
	}})
	dir := t.TempDir()
	for _, c := range []struct {
		file    string
		metrics []string
	}{
		// A pods metric is served for namespaces too (the second rule of its name), and
		// for the services its series name (http_requests: pods, services, namespaces).
		{"helm-default.yaml", []string{"cpu_usage", "cpu_usage", "queue_consumer_lag", "http_requests", "http_requests", "http_requests"}}, // the catch-all rule: namespaces only
		{"walkthrough.yaml", []string{"http_requests_per_second", "http_requests_per_second", "queue_consumer_lag"}},
		// resourceRules only: the migrated file has the native resourceMetrics section.
		{"manifests-config.yaml", nil},
	} {
		t.Run(c.file, func(t *testing.T) {
			in := filepath.Join("../../config/promadapter/testdata", c.file)
			var out, errOut bytes.Buffer
			if err := runCheckConfig(context.Background(), []string{in}, &out, &errOut); err != nil || !strings.Contains(out.String(), "prometheus-adapter config OK") {
				t.Fatalf("check-config %s: %v\n%s%s", in, err, out.String(), errOut.String())
			}
			out.Reset()
			if err := runCheckConfig(context.Background(), []string{"--prometheus-url", srv.URL, "--metrics-relist-interval", "1h", in}, &out, &errOut); err != nil ||
				!strings.Contains(out.String(), "serve "+strconv.Itoa(len(c.metrics))+" metrics") {
				t.Fatalf("check-config with discovery: %v\n%s%s", err, out.String(), errOut.String())
			}
			out.Reset()
			if err := runMigrate(context.Background(), []string{"--prometheus-url", srv.URL, "--metrics-relist-interval", "1h", in}, &out, &errOut); err != nil {
				t.Fatalf("migrate: %v\n%s", err, errOut.String())
			}
			migrated := filepath.Join(dir, c.file)
			writeTestFile(t, migrated, out.Bytes(), 0o600)
			t.Logf("migrated:\n%s", out.String())
			var check bytes.Buffer
			if err := runCheckConfig(context.Background(), []string{migrated}, &check, &check); err != nil {
				t.Fatalf("check-config of the migrated file: %v\n%s\n%s", err, check.String(), out.String())
			}
			f, err := config.Load(migrated)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range f.Rules {
				names = append(names, r.Name)
				if r.Forecast.Model != forecast.ModelReactive {
					t.Errorf("%s: model %s, want reactive", r.Name, r.Forecast.Model)
				}
			}
			if strings.Join(names, ",") != strings.Join(c.metrics, ",") {
				t.Errorf("migrated metrics %v, want %v\n%s", names, c.metrics, out.String())
			}
			checkMigratedResourceMetrics(t, in, f, check.String())
		})
	}

	// A cluster-wide rule without the operator's flag: check-config names file,
	// line and field; migrate refuses it. With the flag, migrate writes a
	// clusterWide rule, which check-config accepts with the flag only.
	bad := filepath.Join(dir, "bad.yaml")
	writeTestFile(t, bad, []byte("externalRules:\n- seriesQuery: '{name!=\"\"}'\n  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (name)\n  resources: {namespaced: false}\n"), 0o600)
	var out bytes.Buffer
	err := runCheckConfig(context.Background(), []string{bad}, &out, &out)
	if !errors.Is(err, errInvalidConfig) || !strings.Contains(out.String(), "bad.yaml:4: externalRules[0].resources.namespaced: namespaced: false: cluster-wide external metrics") {
		t.Errorf("check-config of a bad file: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := runMigrate(context.Background(), []string{"--prometheus-url", srv.URL, bad}, &out, &out); !errors.Is(err, errInvalidConfig) {
		t.Errorf("migrate of a bad file: %v", err)
	}
	out.Reset()
	if err := runMigrate(context.Background(), []string{"--allow-cluster-wide-external-metrics", "--prometheus-url", srv.URL, "--metrics-relist-interval", "1h", bad}, &out, &out); err != nil {
		t.Fatalf("migrate with --allow-cluster-wide-external-metrics: %v\n%s", err, out.String())
	}
	migrated := filepath.Join(dir, "cluster-wide.yaml")
	writeTestFile(t, migrated, out.Bytes(), 0o600)
	if !strings.Contains(out.String(), "clusterWide: true") || !strings.Contains(out.String(), "name: queue_consumer_lag") {
		t.Errorf("migrated cluster-wide rule:\n%s", out.String())
	}
	var check bytes.Buffer
	if err := runCheckConfig(context.Background(), []string{migrated}, &check, &check); !errors.Is(err, errInvalidConfig) || !strings.Contains(check.String(), "resources.clusterWide: cluster-wide external metrics") {
		t.Errorf("check-config of the migrated cluster-wide rule without the flag: %v\n%s", err, check.String())
	}
	check.Reset()
	if err := runCheckConfig(context.Background(), []string{"--allow-cluster-wide-external-metrics", migrated}, &check, &check); err != nil {
		t.Errorf("check-config of the migrated cluster-wide rule with the flag: %v\n%s", err, check.String())
	}
}

// checkMigratedResourceMetrics: a migrated file has a resourceMetrics section
// exactly when the prometheus-adapter config in has resourceRules, and its
// queries are the ones the config serves with (rendered alike).
func checkMigratedResourceMetrics(t *testing.T, in string, migrated *config.File, checkOut string) {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := promadapter.Parse(data, in)
	if err != nil {
		t.Fatal(err)
	}
	want := c.ResourceMetricsRules()
	if (want == nil) != (migrated.ResourceMetrics == nil) {
		t.Fatalf("resourceRules %v, migrated resourceMetrics %+v", want != nil, migrated.ResourceMetrics)
	}
	if want == nil {
		return
	}
	if !strings.Contains(checkOut, "resourceMetrics: metrics.k8s.io") {
		t.Errorf("check-config of the migrated file does not report its resourceMetrics:\n%s", checkOut)
	}
	got, err := migrated.ResourceMetrics.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if got.Window != want.Window {
		t.Errorf("window %s, want %s", got.Window, want.Window)
	}
	for _, q := range []struct {
		name      string
		got, want resourcemetrics.Query
	}{
		{"container cpu", got.ContainerCPU, want.ContainerCPU}, {"node cpu", got.NodeCPU, want.NodeCPU},
		{"container memory", got.ContainerMemory, want.ContainerMemory}, {"node memory", got.NodeMemory, want.NodeMemory},
	} {
		g, err := q.got.Render()
		if err != nil {
			t.Fatal(err)
		}
		w, err := q.want.Render()
		if err != nil {
			t.Fatal(err)
		}
		if g != w || q.got.NamespaceLabel != q.want.NamespaceLabel || q.got.PodLabel != q.want.PodLabel ||
			q.got.ContainerLabel != q.want.ContainerLabel || q.got.NodeLabel != q.want.NodeLabel {
			t.Errorf("%s: migrated %q %+v, imported %q %+v", q.name, g, q.got, w, q.want)
		}
	}
}
