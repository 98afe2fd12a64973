//go:build integration

package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/metrics/pkg/client/external_metrics"

	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/promserver"
)

// sharePolicy rolls greeter-split in namespace shop from greeter-v1 to greeter-v2 in three
// steps, without analysis (each step advances on its pause alone).
const sharePolicy = `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: share, namespace: shop}
spec:
  services:
    - name: greeter
      port: 50051
      protocol: grpc
      endpoints: [{address: 127.0.0.1, port: 50051}]
      routes:
        - name: greeter-split
          backends: [{service: greeter-v1}]
    - {name: greeter-v1, port: 50051, protocol: grpc, endpoints: [{address: 127.0.0.1, port: 50052}]}
    - {name: greeter-v2, port: 50051, protocol: grpc, endpoints: [{address: 127.0.0.1, port: 50053}]}
  canaries:
    - name: greeter-rollout
      route: greeter-split
      stable: greeter-v1
      canary: greeter-v2
      steps: [{weight: 10, pause: 5s}, {weight: 30, pause: 5s}, {weight: 60, pause: 5s}]
`

// shareRules are the share rules of deploy/rules/README.md ("Share rules") for both
// backends of the rollout, on the route's load, reactive, evaluated every 5 seconds.
const shareRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: greeter_v2_load
    query: max by (namespace) (route_load{<<.LabelMatchers>>})
    forecast: {model: reactive, step: 5s, horizon: 5s, history: 7h}
    share:
      query: max by (namespace) (foresight_canary_backend_weight{<<.LabelMatchers>>,service="greeter-v2"}) / 100
  - name: greeter_v1_load
    query: max by (namespace) (route_load{<<.LabelMatchers>>})
    forecast: {model: reactive, step: 5s, horizon: 5s, history: 7h}
    share:
      query: max by (namespace) (foresight_canary_backend_weight{<<.LabelMatchers>>,service="greeter-v1"}) / 100
`

// TestShareRuleFollowsTheCanary runs serve with a canary rollout (its /metrics exporting
// foresight_canary_backend_weight), a real Prometheus scraping it and the route's load
// series, and the real foresight-adapter binary with share rules for both backends behind a
// real kube-apiserver's aggregator, and reads the served values with the official
// external metrics client as the rollout steps. At each step (paused through the admin API
// while it is checked) the canary's value is the load times the next step's weight, before
// that step is taken, and the stable's the load times its current weight (the larger one);
// a change of the load shows at once; after the promotion the canary gets the whole load.
func TestShareRuleFollowsTheCanary(t *testing.T) {
	kubeBin := needs.KubeBinDir(t)
	root := needs.Root(t)
	promBin := needs.Program(t, "prometheus")
	dir := t.TempDir()
	adapterBin := filepath.Join(dir, "foresight-adapter")
	if err := adapterproc.BuildForesight(root, adapterBin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The route's load, as a recording rule or a gateway metric would give it.
	reg := prometheus.NewRegistry()
	load := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "route_load", Help: "Requests per second of the route."}, []string{"namespace"})
	reg.MustRegister(load)
	load.WithLabelValues("shop").Set(200)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })

	// foresight-xds, the rollout held at its first step until the adapter is up.
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(sharePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken-for-tests\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := serveFlags{policy: policyFile, xdsAddress: freeAddr(t), metricsAddr: freeAddr(t), reloadInterval: time.Hour,
		experimentState: filepath.Join(dir, "exp.json"), stateDir: filepath.Join(dir, "state"), adminAddr: freeAddr(t), adminTokenFile: tokenFile}
	startServeFlags(t, f)
	admin := func(action string) {
		t.Helper()
		if code, out, errOut := runCmd("canary", action, "greeter-rollout", "--admin-url=http://"+f.adminAddr, "--token-file", tokenFile); code != 0 {
			t.Fatalf("canary %s: exit %d: %s%s", action, code, out, errOut)
		}
	}
	admin("pause")
	if !metric(t, f.metricsAddr, `foresight_canary_step{canary="greeter-rollout"} 0`) {
		t.Fatal("the rollout left its first step before it was paused (a 5 s pause)")
	}

	prom, err := promserver.StartScraping(ctx, promBin, filepath.Join(dir, "prometheus"), 200*time.Millisecond,
		promserver.Target{Addr: f.metricsAddr}, promserver.Target{Addr: lis.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)

	// foresight-adapter behind the aggregator, read by an identity RBAC lets read external
	// metrics.
	cl, err := cluster.Start(ctx, cluster.Options{BinDir: kubeBin, Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Stop)
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(shareRules), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := adapterproc.NewClient(ctx, cl.Admin, cl.CA, "share-hpa", "share-metrics-reader", []rbacv1.PolicyRule{
		{APIGroups: []string{"external.metrics.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := adapterproc.Start(adapterproc.Options{Kind: adapterproc.Foresight, Name: "foresight-adapter", Bin: adapterBin,
		Dir: filepath.Join(dir, "adapter"), LogDir: filepath.Join(dir, "logs"), Config: rulesFile, PrometheusURL: prom.URL,
		Kubeconfig: cl.AdminKubeconfig, CA: cl.CA, DNSNames: []string{adapterproc.ServiceDNS}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Proc.Stop(10 * time.Second) })
	if err := adapterproc.Register(ctx, cl, a, adapterproc.MetricsAPIs); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 4*time.Minute)
	defer wcancel()
	if err := adapterproc.WaitAvailable(wctx, cl, adapterproc.MetricsAPIs); err != nil {
		t.Fatalf("%v\nadapter log:\n%s", err, a.Proc.Tail(16<<10))
	}
	cfg := client.RESTConfig(cl.Server)
	cfg.Timeout = 30 * time.Second
	ext, err := external_metrics.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := func(metric string) (float64, error) {
		l, err := ext.NamespacedMetrics("shop").List(metric, labels.Everything())
		if err != nil {
			return 0, err
		}
		if len(l.Items) != 1 {
			return 0, fmt.Errorf("%d values", len(l.Items))
		}
		return l.Items[0].Value.AsApproximateFloat64(), nil
	}
	// waitServed polls until the canary's and the stable's values are the load times their
	// shares (within 0.5%).
	waitServed := func(what string, v2, v1 float64) {
		t.Helper()
		var read []float64
		eventuallyWithin(t, 2*time.Minute, what, func() error {
			read = read[:0]
			for _, m := range []struct {
				name string
				want float64
			}{{"greeter_v2_load", v2}, {"greeter_v1_load", v1}} {
				got, err := served(m.name)
				if err != nil {
					return fmt.Errorf("%s: %w", m.name, err)
				}
				if math.Abs(got-m.want) > 0.005*m.want {
					return fmt.Errorf("%s = %v, want %v\n%s", m.name, got, m.want, a.Proc.Tail(4<<10))
				}
				read = append(read, got)
			}
			return nil
		})
		t.Logf("%s: canary served %v, stable %v", what, read[0], read[1])
	}

	// Each step: current and next weight of the canary; the load may change within a step.
	steps := []struct {
		current, next float64
		load          float64
	}{{10, 30, 200}, {30, 60, 300}, {60, 100, 300}}
	for i, s := range steps {
		waitFor(t, fmt.Sprintf("step %d", i), func() bool {
			return metric(t, f.metricsAddr, fmt.Sprintf(`foresight_canary_step{canary="greeter-rollout"} %d`, i))
		})
		if i > 0 {
			admin("pause")
			if !metric(t, f.metricsAddr, fmt.Sprintf(`foresight_canary_step{canary="greeter-rollout"} %d`, i)) {
				t.Fatalf("the rollout left step %d before it was paused (a 5 s pause)", i)
			}
		}
		load.WithLabelValues("shop").Set(s.load)
		// The canary is sized for its next step, the stable for its current share.
		waitServed(fmt.Sprintf("step %d (%v%% now, %v%% next) at load %v", i, s.current, s.next, s.load),
			s.load*s.next/100, s.load*(100-s.current)/100)
		if !metric(t, f.metricsAddr, fmt.Sprintf(`foresight_canary_step{canary="greeter-rollout"} %d`, i)) {
			t.Fatalf("step %d was taken before its values were checked", i+1)
		}
		admin("resume")
	}
	waitFor(t, "promoted", func() bool {
		return metric(t, f.metricsAddr, `foresight_canary_phase{canary="greeter-rollout",phase="promoted"} 1`)
	})
	load.WithLabelValues("shop").Set(250)
	waitServed("promoted", 250, 0)
}
