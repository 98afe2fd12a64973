//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
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

	"github.com/foresight-dev/foresight/hack/e2e/internal/replay"
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
	cmd := exec.Command("go", "build", "-o", bin, "./adapter/cmd/foresight-adapter")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the adapter: %v\n%s", err, out)
	}
	return bin
}

// hasFlag reports whether `bin serve --help` mentions flag.
func hasFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	return bytes.Contains(out, []byte(flag))
}

// adapterCerts writes the adapter's serving certificate, signed by a CA of
// its own, into dir as tls.crt, tls.key and ca.crt (the e2e overlay's certs/).
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

// copyTree copies the folder src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
}

// renderDeploy copies deploy/adapter into workDir, writes the serving
// certificate into the e2e overlay's certs/, adds a layer that points the
// APIServices at the adapter's port, and renders it with kubectl kustomize.
func renderDeploy(t *testing.T, root, workDir, kubectl string, adapterPort int) ([]byte, *pki.CA) {
	t.Helper()
	deploy := filepath.Join(workDir, "deploy")
	if err := copyTree(filepath.Join(root, "deploy", "adapter"), filepath.Join(deploy, "adapter")); err != nil {
		t.Fatalf("copy deploy/adapter: %v", err)
	}
	ca := adapterCerts(t, filepath.Join(deploy, "adapter", "overlays", "e2e", "certs"))
	run := filepath.Join(deploy, "run")
	if err := os.MkdirAll(run, 0o700); err != nil {
		t.Fatal(err)
	}
	layer := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../adapter/overlays/e2e
patches:
- target:
    kind: APIService
  patch: |-
    - op: replace
      path: /spec/service/port
      value: %d
`, adapterPort)
	if err := os.WriteFile(filepath.Join(run, "kustomization.yaml"), []byte(layer), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kubectl, "kustomize", run).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", run, err, stderrOf(err))
	}
	return out, ca
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// objects splits a multi-document YAML stream into objects.
func objects(t *testing.T, stream []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(stream), "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("rendered manifest: %v\n%s", err, doc)
		}
		out = append(out, u)
	}
	return out
}

// rulesFile writes the rule file of the rendered ConfigMap foresight-adapter-rules-* to dir.
func rulesFile(t *testing.T, objs []*unstructured.Unstructured, dir string) string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" || !strings.HasPrefix(o.GetName(), "foresight-adapter-rules") {
			continue
		}
		data, _, _ := unstructured.NestedString(o.Object, "data", "rules.yaml")
		if data == "" {
			t.Fatalf("ConfigMap %s has no rules.yaml", o.GetName())
		}
		p := filepath.Join(dir, "rules.yaml")
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Fatal("the rendered e2e overlay has no foresight-adapter-rules ConfigMap")
	return ""
}

// serverSideApply applies the manifests with `kubectl apply --server-side`.
func serverSideApply(t *testing.T, c *cluster.Cluster, manifests []byte) string {
	t.Helper()
	cmd := exec.Command(c.Bin("kubectl"), "--kubeconfig", c.AdminKubeconfig, "apply", "--server-side",
		"--field-manager=foresight-e2e", "-f", "-")
	cmd.Stdin = bytes.NewReader(manifests)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply --server-side of deploy/adapter/overlays/e2e: %v\n%s", err, out)
	}
	return string(out)
}

// startAdapter starts `foresight-adapter serve` on 127.0.0.1:port as the
// foresight-adapter service account, logging to name.log, and waits for /readyz.
func startAdapter(ctx context.Context, t *testing.T, c *cluster.Cluster, name, bin, workDir string, port int, rules, promURL string, ca *pki.CA, extra ...string) *procs.Proc {
	t.Helper()
	kubeconfig, err := c.ServiceAccountKubeconfig(ctx, "foresight", "foresight-adapter", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(workDir, "deploy", "adapter", "overlays", "e2e", "certs")
	args := append([]string{"serve",
		"--config=" + rules,
		"--prometheus-url=" + promURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + filepath.Join(certs, "tls.crt"),
		"--tls-private-key-file=" + filepath.Join(certs, "tls.key"),
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--lister-kubeconfig=" + kubeconfig,
	}, extra...)
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
	names := []string{"v1beta1.external.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"}
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
// series, starts it and returns it with the number of trace steps rate()
// over rateWindow sees. phase logs progress.
func startTracePrometheus(ctx context.Context, t *testing.T, workDir string, tr *replay.Trace, shift time.Duration, from, to time.Time, series []replay.Series, phase func(string)) (*promserver.Server, int) {
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
	if err := promserver.Backfill(ctx, promtool, om, prom.DataDir); err != nil {
		t.Fatal(err)
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
// in workDir/cluster and server-side applies deploy/adapter through its e2e
// overlay, its APIServices pointing at a free port it returns (where the
// caller serves the adapter), with the rendered objects and the CA of the
// adapter's serving certificate.
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
	phase("deploy/adapter/overlays/e2e applied")
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
