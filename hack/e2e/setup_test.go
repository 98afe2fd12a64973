//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/hack/charts"
	"github.com/foresight-dev/foresight/hack/e2e/internal/replay"
	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/internal/testharness/procs"
	"github.com/foresight-dev/foresight/internal/testharness/promserver"
)

// adapterBinary returns $FORESIGHT_ADAPTER_BIN or builds the adapter from the root module.
func adapterBinary(t *testing.T, root, workDir string) string {
	t.Helper()
	if bin := os.Getenv("FORESIGHT_ADAPTER_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(workDir, "foresight-adapter")
	if err := adapterproc.BuildForesight(root, bin); err != nil {
		t.Fatalf("build the adapter: %v", err)
	}
	return bin
}

// hasFlag reports whether `bin serve --help` mentions flag.
func hasFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	return bytes.Contains(out, []byte(flag))
}

// adapterCerts writes the adapter's serving certificate, signed by a CA of
// its own, into dir as tls.crt, tls.key and ca.crt.
func adapterCerts(t *testing.T, dir string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("foresight-adapter-ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Sign(pki.LeafOptions{
		CommonName: "foresight-adapter.foresight.svc", Server: true,
		DNSNames: []string{"foresight-adapter.foresight.svc", "localhost"},
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := leaf.Write(dir, "tls"); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteCert(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	return ca
}

// renderDeploy renders the adapter's Helm chart (deploy/charts/foresight-adapter) as
// release foresight-adapter in namespace foresight, for the loopback cluster: no adapter
// pod (it runs on the host), the APIServices at the adapter's port (metrics.k8s.io too), the
// rules of testdata/rules.yaml (the chart's metrics with settings for an accelerated replay)
// and the prometheus-adapter config of testdata/prometheus-adapter.yaml. The
// e2e cluster has no cert-manager, so the test does what it would: it writes the serving
// certificate's Secret and, as its CA injector, each APIService's caBundle (certs in
// workDir/certs). The Service becomes an ExternalName localhost: with the default
// --enable-aggregator-routing=false the aggregator resolves it to
// https://localhost:<APIService port>, and Endpoints cannot hold loopback addresses.
// The objects come with the Namespace (helm install --create-namespace) and the
// example HPAs of deploy/adapter/examples.
func renderDeploy(t *testing.T, root, workDir, kubectl string, adapterPort int) ([]byte, *pki.CA) {
	t.Helper()
	certs := filepath.Join(workDir, "certs")
	ca := adapterCerts(t, certs)
	rulesYAML, err := os.ReadFile(filepath.Join(root, "hack", "e2e", "testdata", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules map[string]any
	if err := yaml.Unmarshal(rulesYAML, &rules); err != nil {
		t.Fatalf("testdata/rules.yaml: %v", err)
	}
	paYAML, err := os.ReadFile(filepath.Join(root, "hack", "e2e", "testdata", "prometheus-adapter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var paConfig map[string]any
	if err := yaml.Unmarshal(paYAML, &paConfig); err != nil {
		t.Fatalf("testdata/prometheus-adapter.yaml: %v", err)
	}
	manifest, err := charts.Render(filepath.Join(root, "deploy", "charts", "foresight-adapter"),
		charts.Release{Name: "foresight-adapter", Namespace: "foresight"},
		map[string]any{
			"replicaCount": 0, "service": map[string]any{"port": adapterPort}, "rules": rules,
			"prometheusAdapterConfig": paConfig,
			"apiService":              map[string]any{"resourceMetrics": map[string]any{"enabled": true}},
		})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := charts.Objects(manifest)
	if err != nil {
		t.Fatal(err)
	}
	objs = standInForCertManager(t, objs, certs)
	for _, o := range objs {
		if o.GetKind() == "Service" && o.GetName() == "foresight-adapter" {
			unstructured.RemoveNestedField(o.Object, "spec", "selector")
			_ = unstructured.SetNestedField(o.Object, "ExternalName", "spec", "type")
			_ = unstructured.SetNestedField(o.Object, "localhost", "spec", "externalName")
		}
	}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "foresight"}}}
	objs = append([]*unstructured.Unstructured{ns}, objs...)

	examples, err := exec.Command(kubectl, "kustomize", filepath.Join(root, "deploy", "adapter", "examples")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/adapter/examples: %v\n%s", err, stderrOf(err))
	}
	var b bytes.Buffer
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	b.WriteString("---\n")
	b.Write(examples)
	return b.Bytes(), ca
}

// standInForCertManager replaces the chart's cert-manager Issuers and Certificates by what
// cert-manager would make of them: the serving Certificate's Secret (tls.crt, tls.key and
// ca.crt from certs) and, for each APIService whose cert-manager.io/inject-ca-from names
// that Certificate, the CA in spec.caBundle.
func standInForCertManager(t *testing.T, objs []*unstructured.Unstructured, certs string) []*unstructured.Unstructured {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(certs, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var out []*unstructured.Unstructured
	var secret string
	for _, o := range objs {
		if o.GroupVersionKind().Group != "cert-manager.io" {
			out = append(out, o)
			continue
		}
		if o.GetKind() == "Certificate" && o.GetName() == "foresight-adapter-serving-cert" {
			secret, _, _ = unstructured.NestedString(o.Object, "spec", "secretName")
		}
	}
	if secret == "" {
		t.Fatal("the chart has no cert-manager Certificate foresight-adapter-serving-cert with a secretName")
	}
	caPEM := read("ca.crt")
	out = append(out, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
		"metadata": map[string]any{"name": secret, "namespace": "foresight"},
		"data": map[string]any{
			"tls.crt": base64.StdEncoding.EncodeToString(read("tls.crt")),
			"tls.key": base64.StdEncoding.EncodeToString(read("tls.key")),
			"ca.crt":  base64.StdEncoding.EncodeToString(caPEM),
		},
	}})
	for _, o := range out {
		if o.GetKind() != "APIService" {
			continue
		}
		if from := o.GetAnnotations()["cert-manager.io/inject-ca-from"]; from != "foresight/foresight-adapter-serving-cert" {
			t.Fatalf("APIService %s: cert-manager.io/inject-ca-from is %q, want foresight/foresight-adapter-serving-cert", o.GetName(), from)
		}
		_ = unstructured.SetNestedField(o.Object, base64.StdEncoding.EncodeToString(caPEM), "spec", "caBundle")
	}
	return out
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// objects decodes the rendered manifests into objects.
func objects(t *testing.T, stream []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := charts.Objects(string(stream))
	if err != nil {
		t.Fatalf("rendered manifests: %v", err)
	}
	return objs
}

// configFiles writes the files of the rendered ConfigMap foresight-adapter-rules to dir
// (the rule file, rules.yaml, and the prometheus-adapter config when the chart has one) and
// returns their paths, rules.yaml first: the adapter's --config files.
func configFiles(t *testing.T, objs []*unstructured.Unstructured, dir string) []string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" || !strings.HasPrefix(o.GetName(), "foresight-adapter-rules") {
			continue
		}
		var paths []string
		for _, key := range []string{"rules.yaml", "prometheus-adapter.yaml"} {
			data, _, _ := unstructured.NestedString(o.Object, "data", key)
			if data == "" {
				if key == "rules.yaml" {
					t.Fatalf("ConfigMap %s has no rules.yaml", o.GetName())
				}
				continue
			}
			p := filepath.Join(dir, key)
			if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		return paths
	}
	t.Fatal("the rendered adapter chart has no foresight-adapter-rules ConfigMap")
	return nil
}

// serverSideApply applies the manifests with `kubectl apply --server-side`.
func serverSideApply(t *testing.T, c *cluster.Cluster, manifests []byte) string {
	t.Helper()
	cmd := exec.Command(c.Bin("kubectl"), "--kubeconfig", c.AdminKubeconfig, "apply", "--server-side",
		"--field-manager=foresight-e2e", "-f", "-")
	cmd.Stdin = bytes.NewReader(manifests)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply --server-side of the adapter chart: %v\n%s", err, out)
	}
	return string(out)
}

// startAdapter starts `foresight-adapter serve` on 127.0.0.1:port as the
// foresight-adapter service account with the --config files configs, logging to name.log,
// and waits for /readyz.
func startAdapter(ctx context.Context, t *testing.T, c *cluster.Cluster, name, bin, workDir string, port int, configs []string, promURL string, ca *pki.CA, extra ...string) *procs.Proc {
	t.Helper()
	kubeconfig, err := c.ServiceAccountKubeconfig(ctx, "foresight", "foresight-adapter", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(workDir, "certs")
	args := []string{"serve"}
	for _, f := range configs {
		args = append(args, "--config="+f)
	}
	args = append(append(args,
		"--prometheus-url="+promURL,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+filepath.Join(certs, "tls.crt"),
		"--tls-private-key-file="+filepath.Join(certs, "tls.key"),
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--lister-kubeconfig="+kubeconfig,
	), extra...)
	p, err := procs.Start(name, c.LogDir, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := p.WaitHTTP(wctx, fmt.Sprintf("https://127.0.0.1:%d/readyz", port), &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitAPIServicesAvailable waits until every Foresight APIService is Available.
func waitAPIServicesAvailable(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	ac, err := aggregator.NewForConfig(c.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"v1beta1.external.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io", "v1beta1.metrics.k8s.io"}
	deadline := time.Now().Add(2 * time.Minute)
	for _, name := range names {
		for {
			as, err := ac.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{})
			var cond *apiregistrationv1.APIServiceCondition
			if err == nil {
				for i := range as.Status.Conditions {
					if as.Status.Conditions[i].Type == apiregistrationv1.Available {
						cond = &as.Status.Conditions[i]
					}
				}
				if cond != nil && cond.Status == apiregistrationv1.ConditionTrue {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("APIService %s not Available: err=%v condition=%+v", name, err, cond)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// kubectl runs the built kubectl as the admin and returns its output.
func kubectl(c *cluster.Cluster, args ...string) (string, error) {
	out, err := exec.Command(c.Bin("kubectl"), append([]string{"--kubeconfig", c.AdminKubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// namespace returns a Namespace object named name.
func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// startTracePrometheus backfills a Prometheus with the trace tr between from
// and to (shifted by shift) as the counter http_requests_total of each of
// series, and with the OpenMetrics files extra, starts it and returns it with
// the number of trace steps rate() over rateWindow sees. phase logs progress.
func startTracePrometheus(ctx context.Context, t *testing.T, workDir string, tr *replay.Trace, shift time.Duration, from, to time.Time, series []replay.Series, extra []string, phase func(string)) (*promserver.Server, int) {
	t.Helper()
	promBin, promtool := needs.Program(t, "prometheus"), needs.Program(t, "promtool")
	samples := tr.Window(from, to)
	shifted := make([]replay.Sample, len(samples))
	for i, s := range samples {
		shifted[i] = replay.Sample{T: s.T.Add(shift), V: s.V}
	}
	promDir := filepath.Join(workDir, "prometheus")
	if err := os.MkdirAll(promDir, 0o700); err != nil {
		t.Fatal(err)
	}
	om := filepath.Join(promDir, "trace.om")
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	if err := replay.WriteOpenMetrics(f, "http_requests", "Requests served, replayed from "+traceFile+".", shifted, tr.Step, series); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	prom, err := promserver.New(promserver.Options{Bin: promBin, Dir: promDir, Args: replay.PrometheusArgs})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append([]string{om}, extra...) {
		if err := promserver.Backfill(ctx, promtool, f, prom.DataDir); err != nil {
			t.Fatal(err)
		}
	}
	phase(fmt.Sprintf("backfilled %d samples x %d series (%s of %s)", len(samples), len(series), to.Sub(from), traceFile))
	if err := prom.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	promMajor, err := prom.MajorVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rateSteps := replay.RateSteps(rateWindow, tr.Step, promMajor)
	phase(fmt.Sprintf("prometheus %d.x ready at %s (rate()[%s] sees %d trace steps)", promMajor, prom.URL, rateWindow, rateSteps))
	return prom, rateSteps
}

// startControlPlane starts etcd, kube-apiserver and kube-controller-manager
// in workDir/cluster and server-side applies the adapter's Helm chart,
// rendered for the loopback cluster, its APIServices pointing at a free port
// it returns (where the caller serves the adapter), with the rendered objects
// and the CA of the adapter's serving certificate.
func startControlPlane(ctx context.Context, t *testing.T, root, workDir, binDir string, phase func(string)) (*cluster.Cluster, int, []*unstructured.Unstructured, *pki.CA) {
	t.Helper()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: binDir, Dir: filepath.Join(workDir, "cluster"), ControllerManager: true, HPASyncPeriod: hpaSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	phase("etcd, kube-apiserver and kube-controller-manager ready at " + c.Server)
	port, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	manifests, ca := renderDeploy(t, root, workDir, c.Bin("kubectl"), port)
	objs := objects(t, manifests)
	out := serverSideApply(t, c, manifests)
	t.Logf("kubectl apply --server-side (%d objects):\n%s", len(objs), out)
	if n := strings.Count(out, "serverside-applied"); n != len(objs) {
		t.Errorf("server-side applied %d objects, rendered %d", n, len(objs))
	}
	phase("the adapter chart applied")
	return c, port, objs, ca
}

// newWorkDir makes a work folder named after prefix, removed when the test
// ends unless it failed or FORESIGHT_E2E_KEEP is set, and returns it with a
// function that logs a phase of the test with the seconds since.
func newWorkDir(t *testing.T, prefix string) (string, func(string)) {
	t.Helper()
	workDir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("FORESIGHT_E2E_KEEP") != "" {
			t.Logf("work dir kept (logs in %s)", filepath.Join(workDir, "cluster", "logs"))
			return
		}
		_ = os.RemoveAll(workDir)
	})
	began := time.Now()
	return workDir, func(what string) {
		t.Helper()
		t.Logf("[%6.1fs] %s", time.Since(began).Seconds(), what)
	}
}

// adapterAdminClient is a JSON REST client of the adapter on 127.0.0.1:port,
// past the aggregator, as the cluster admin (a client certificate the
// adapter's delegated authentication accepts); ca signed its serving certificate.
func adapterAdminClient(t *testing.T, c *cluster.Cluster, port int, ca *pki.CA) *rest.RESTClient {
	t.Helper()
	cfg := rest.CopyConfig(c.AdminConfig)
	cfg.Host = fmt.Sprintf("https://127.0.0.1:%d", port)
	cfg.CAData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	cfg.CAFile, cfg.ServerName = "", "localhost"
	rc, err := rest.UnversionedRESTClientFor(withJSON(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return rc
}
