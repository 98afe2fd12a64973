package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/internal/testharness/procs"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeTestFile(t, good, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: requests_per_second
    query: sum by (namespace) (rate(http_requests_total{<<.LabelMatchers>>}[2m]))
    api: external
`), 0o600)
	writeTestFile(t, bad, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: requests_per_second
    query: sum by (namespace) (rate(http_requests_total{<<.LabelMatchers>>}[2m]))
    api: external
    forecast:
      horizon: 5m
      quantile: 1.5
`), 0o600)

	var out bytes.Buffer
	if err := runCheckConfig(context.Background(), []string{good}, &out, &out); err != nil {
		t.Fatalf("valid file: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "1 rules OK") {
		t.Errorf("valid file output: %s", out.String())
	}

	out.Reset()
	err := runCheckConfig(context.Background(), []string{bad}, &out, &out)
	if !errors.Is(err, errInvalidConfig) {
		t.Fatalf("invalid file: err = %v", err)
	}
	if !strings.Contains(out.String(), "bad.yaml:9") || !strings.Contains(out.String(), "quantile") {
		t.Errorf("error output lacks file:line and field: %q", out.String())
	}
	if code := dispatch(context.Background(), []string{"check-config", bad}, &out, &out); code != 1 {
		t.Errorf("exit code %d for an invalid file, want 1", code)
	}
	if code := dispatch(context.Background(), []string{"check-config"}, &out, &out); code != 2 {
		t.Errorf("exit code %d without FILE, want 2", code)
	}
}

func TestCheckConfigCostAndShadow(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "cost.yaml")
	writeTestFile(t, good, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: checkout_replicas
    query: sum by (namespace, service) (rate(http_requests_total{<<.LabelMatchers>>}[2m]))
    cost:
      pods: '{pod=~"checkout-.+"}'
      capacity: 40
      referencePrice: 0.1
    shadow:
      strategies: [reactive, holt-winters, cost-weighted]
`), 0o600)
	var out bytes.Buffer
	if err := runCheckConfig(context.Background(), []string{good}, &out, &out); err != nil {
		t.Fatalf("valid file: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`cost-weighted (HPA target AverageValue 1): pods {pod=~"checkout-.+"}, capacity 40, u = clamp(0.7 * r^0.5, 0.5, 0.9), reference $0.1/h, q 0; prices from OpenCost/Kubecost metrics, held 1h then cost-blind`,
		"shadow: reactive, holt-winters, cost-weighted (served: cost-weighted), capacity 40, target 0.7, replicas 1-1000",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeTestFile(t, bad, []byte(strings.Replace(strings.Replace(readTestFile(t, good), "capacity: 40", "capacity: -40", 1),
		"cost-weighted]", "cost-weighted, kalman]", 1)), 0o600)
	out.Reset()
	if err := runCheckConfig(context.Background(), []string{bad}, &out, &out); !errors.Is(err, errInvalidConfig) {
		t.Fatalf("invalid file: err = %v", err)
	}
	for _, want := range []string{
		"bad.yaml:8: rules[0].cost.capacity: must be > 0, got -40",
		`bad.yaml:11: rules[0].shadow.strategies[3]: must be cost-weighted or a model`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeTestFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

// TestCheckConfigDeployRules runs check-config on every example of deploy/rules.
func TestCheckConfigDeployRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "deploy", "rules", "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("deploy/rules: %d files, %v", len(files), err)
	}
	for _, f := range files {
		var out bytes.Buffer
		if err := runCheckConfig(context.Background(), []string{f}, &out, &out); err != nil {
			t.Errorf("%s: %v\n%s", f, err, out.String())
		}
	}
}

func TestCheckConfigQueue(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "queue.yaml")
	writeTestFile(t, good, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: worker_demand
    query: sum by (namespace, queue) (rate(jobs_enqueued_total{<<.LabelMatchers>>}[2m]))
    queue:
      backlog: sum by (namespace, queue) (jobs_waiting{<<.LabelMatchers>>})
      throughput: 4
    schedule:
      - {days: [sat-sun], start: "22:00", end: "02:00", timeZone: Asia/Tokyo, max: 3}
`), 0o600)
	var out bytes.Buffer
	if err := runCheckConfig(context.Background(), []string{good}, &out, &out); err != nil {
		t.Fatalf("valid file: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"queue (HPA target AverageValue 1, minReplicas 0): 4 items/s per worker, drain 5m, wake 1m30s ahead, 0 after 5m idle",
		"schedule: 1 windows, 0 events",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	bad := filepath.Join(dir, "bad.yaml")
	src := strings.Replace(readTestFile(t, good), "      backlog: sum by (namespace, queue) (jobs_waiting{<<.LabelMatchers>>})\n", "", 1)
	src = strings.Replace(src, "Asia/Tokyo", "Asia/Tokio", 1)
	writeTestFile(t, bad, []byte(src), 0o600)
	out.Reset()
	if err := runCheckConfig(context.Background(), []string{bad}, &out, &out); !errors.Is(err, errInvalidConfig) {
		t.Fatalf("invalid file: err = %v", err)
	}
	for _, want := range []string{
		"bad.yaml:6: rules[0].queue.backlog: required",
		`bad.yaml:9: rules[0].schedule[0].timeZone: unknown IANA time zone "Asia/Tokio"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCheckConfigClusterWide: a prometheus-adapter `namespaced: false` rule
// and a native `clusterWide: true` rule are refused with file, line and
// field, and pass with the operator's --allow-cluster-wide-external-metrics.
func TestCheckConfigClusterWide(t *testing.T) {
	imported, err := filepath.Abs("../../config/promadapter/testdata/namespaced-false.yaml")
	if err != nil {
		t.Fatal(err)
	}
	native := filepath.Join(t.TempDir(), "native.yaml")
	writeTestFile(t, native, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: queue_depth
    query: sum by (name) (queue_depth{<<.LabelMatchers>>})
    resources: {clusterWide: true}
`), 0o600)
	for _, c := range []struct{ file, refusal string }{
		{imported, imported + ":8: externalRules[0].resources.namespaced: namespaced: false: cluster-wide external metrics"},
		{native, native + ":6: rules[0].resources.clusterWide: cluster-wide external metrics"},
	} {
		var out bytes.Buffer
		err := runCheckConfig(context.Background(), []string{c.file}, &out, &out)
		if !errors.Is(err, errInvalidConfig) || !strings.Contains(out.String(), c.refusal) {
			t.Errorf("%s without the flag: %v\n%s\nwant %q", c.file, err, out.String(), c.refusal)
		}
		out.Reset()
		if err := runCheckConfig(context.Background(), []string{"--allow-cluster-wide-external-metrics", c.file}, &out, &out); err != nil {
			t.Errorf("%s with the flag: %v\n%s", c.file, err, out.String())
		}
	}
}

// queueScheduleRules is a valid queue rule with a schedule and an event; the
// bad-input tests break one field of it at a time.
const queueScheduleRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: jobs_workers
    query: sum by (namespace) (rate(jobs_enqueued_total{<<.LabelMatchers>>}[2m]))
    api: external
    schedule:
      - days: [mon-fri]
        start: "08:00"
        end: "18:00"
        timeZone: Europe/Berlin
        min: 2
    events:
      - name: launch
        start: "2026-11-27T06:00:00+01:00"
        end: "2026-11-28T00:00:00+01:00"
        min: 5
    queue:
      backlog: max by (namespace) (redis_key_size{<<.LabelMatchers>>})
      throughput: 2
`

// TestCheckConfigRefusesBadQueueScheduleEvents: a queue rule without its
// backlog query, a schedule with an unknown day or time zone and an event
// that ends before it starts are refused, naming the file, line and field.
func TestCheckConfigRefusesBadQueueScheduleEvents(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "queue.yaml")
	writeTestFile(t, good, []byte(queueScheduleRules), 0o600)
	var out bytes.Buffer
	if err := runCheckConfig(context.Background(), []string{good}, &out, &out); err != nil {
		t.Fatalf("valid file: %v\n%s", err, out.String())
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"queue without backlog", "      backlog: max by (namespace) (redis_key_size{<<.LabelMatchers>>})\n", "",
			"bad.yaml:18: rules[0].queue.backlog: required"},
		{"unknown day", "[mon-fri]", "[mon-fry]", `bad.yaml:8: rules[0].schedule[0].days: unknown day "fry"`},
		{"unknown time zone", "Europe/Berlin", "Europe/Berlim", `bad.yaml:11: rules[0].schedule[0].timeZone: unknown IANA time zone "Europe/Berlim"`},
		{"event ends before it starts", `end: "2026-11-28T00:00:00+01:00"`, `end: "2026-11-26T00:00:00+01:00"`,
			"bad.yaml:16: rules[0].events[0].end: must be after start 2026-11-27T06:00:00+01:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(queueScheduleRules, tc.old) {
				t.Fatalf("the rules lack %q", tc.old)
			}
			bad := filepath.Join(t.TempDir(), "bad.yaml")
			writeTestFile(t, bad, []byte(strings.Replace(queueScheduleRules, tc.old, tc.new, 1)), 0o600)
			var out bytes.Buffer
			if code := dispatch(context.Background(), []string{"check-config", bad}, &out, &out); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}

// TestCheckConfigResourceRules: the summary of a prometheus-adapter config
// says whether it has resourceRules (kube-prometheus' has nothing else).
func TestCheckConfigResourceRules(t *testing.T) {
	for file, want := range map[string]string{
		"kube-prometheus.yaml": "kube-prometheus.yaml: prometheus-adapter config OK: 0 rules, 0 externalRules, resourceRules (metrics.k8s.io, window 5m);",
		"helm-default.yaml":    "helm-default.yaml: prometheus-adapter config OK: 6 rules, 0 externalRules, no resourceRules;",
	} {
		var out bytes.Buffer
		path := filepath.Join("..", "..", "config", "promadapter", "testdata", file)
		if err := runCheckConfig(context.Background(), []string{path}, &out, &out); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, out.String())
		}
		if !strings.HasPrefix(out.String(), filepath.Dir(path)+"/"+want) {
			t.Errorf("%s: output %q, want prefix %q", file, out.String(), want)
		}
	}
}

// TestUnreachablePrometheusIsNotAnInvalidFile: when Prometheus cannot list a
// prometheus-adapter file's series, migrate and check-config say so, naming
// the rule and the address, and do not call the file invalid.
func TestUnreachablePrometheusIsNotAnInvalidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "adapter.yaml")
	writeTestFile(t, path, []byte(`rules:
- seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
  resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)
`), 0o600)
	url := "http://" + freeLoopbackAddr(t)
	for name, run := range map[string]func(context.Context, []string, io.Writer, io.Writer) error{"migrate": runMigrate, "check-config": runCheckConfig} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"--prometheus-url", url, path}, &out, &out)
		if err == nil || errors.Is(err, errInvalidConfig) || !strings.Contains(err.Error(), "rules[0].seriesQuery: listing its series from Prometheus failed") || !strings.Contains(err.Error(), url) {
			t.Errorf("%s: %v (output %q), want the failed listing named, not an invalid file", name, err, out.String())
		}
	}
}

// freeLoopbackAddr is a loopback host:port nothing listens on until a process binds it,
// drawn by procs.FreePort from outside the kernel's ephemeral range.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
