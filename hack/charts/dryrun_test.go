package charts

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestServerSideDryRun applies every rendered manifest (each chart with its default
// values, with every optional part on and, for the adapter, with a Helm-generated
// certificate; both kustomize bases and the Gateway API overlay of xds) with `kubectl apply --server-side
// --dry-run=server` against a real kube-apiserver, which validates every object against
// its schema and admission as an install would. The ServiceMonitor, PrometheusRule,
// Issuer and Certificate kinds come from minimal CRDs (testdata/crds), installed first as
// prometheus-operator and cert-manager would be; the GatewayClass from the Gateway API's own
// CRDs (the root module's sigs.k8s.io/gateway-api).
func TestServerSideDryRun(t *testing.T) {
	bin := needs.KubeBinDir(t)
	ctx := t.Context()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	kubectl := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, c.Bin("kubectl"), append([]string{"--kubeconfig", c.AdminKubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := kubectl("", "apply", "--server-side", "-f", filepath.Join("testdata", "crds")); err != nil {
		t.Fatalf("install the CRDs: %v\n%s", err, out)
	}
	// The Gateway API CRDs (standard channel) from the module the control plane builds with,
	// as a cluster with the Gateway API has them.
	goList := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	goList.Dir = filepath.Join("..", "..")
	gwDir, err := goList.Output()
	if err != nil || strings.TrimSpace(string(gwDir)) == "" {
		t.Fatalf("locate the gateway-api module of the root module: %v", err)
	}
	if out, err := kubectl("", "apply", "--server-side", "-f", filepath.Join(strings.TrimSpace(string(gwDir)), "config", "crd", "standard")); err != nil {
		t.Fatalf("install the Gateway API CRDs: %v\n%s", err, out)
	}
	if out, err := kubectl("", "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"); err != nil {
		t.Fatalf("wait for the CRDs: %v\n%s", err, out)
	}
	// The release namespace, the namespaces the xds chart's Roles and the dashboards go to.
	for _, ns := range []string{"foresight", "foresight-demo", "shop", "monitoring"} {
		if out, err := kubectl("", "create", "namespace", ns); err != nil {
			t.Fatalf("create namespace %s: %v\n%s", ns, err, out)
		}
	}

	type manifest struct{ name, yaml string }
	var manifests []manifest
	for _, rc := range renderCases() {
		m, err := Render(chartDir(rc.chart), rel(rc.chart), rc.values(t))
		if err != nil {
			t.Fatal(err)
		}
		manifests = append(manifests, manifest{rc.chart + "/" + rc.name, m})
	}
	selfSigned, err := Render(chartDir(adapterChart), rel(adapterChart), values(t, "tls: {mode: selfSigned}"))
	if err != nil {
		t.Fatal(err)
	}
	manifests = append(manifests, manifest{adapterChart + "/selfSigned", selfSigned})
	for _, dir := range []string{"adapter/base", "xds/base", "xds/gateway-api"} {
		m, err := Kustomize(filepath.Join("..", "..", "deploy", filepath.FromSlash(dir)))
		if err != nil {
			t.Fatal(err)
		}
		manifests = append(manifests, manifest{"deploy/" + dir, m})
	}

	for _, m := range manifests {
		t.Run(m.name, func(t *testing.T) {
			objs, err := Objects(m.yaml)
			if err != nil {
				t.Fatal(err)
			}
			out, err := kubectl(m.yaml, "apply", "--server-side", "--dry-run=server", "--field-manager=charts-test", "-f", "-")
			if err != nil {
				t.Fatalf("server-side dry-run: %v\n%s", err, out)
			}
			// kubectl prints one line per object it applied; each must be there.
			for _, o := range objs {
				if !strings.Contains(out, "/"+o.GetName()+" serverside-applied (server dry run)") {
					t.Errorf("%s: not applied:\n%s", Key(o), out)
				}
			}
		})
	}

	// The self-signed certificate across upgrades (lookup reads the release's Secret): kept
	// while fresh, generated anew after two thirds of its validity or when the validity
	// changes.
	t.Run("selfSigned certificate across upgrades", func(t *testing.T) {
		servingCert := func(vals string) (*unstructured.Unstructured, string) {
			t.Helper()
			m, err := RenderIn(c.AdminKubeconfig, chartDir(adapterChart), rel(adapterChart), values(t, vals))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := Objects(m)
			if err != nil {
				t.Fatal(err)
			}
			secret := find(objs, "Secret", "foresight-adapter-serving-cert")
			if secret == nil {
				t.Fatal("no serving Secret")
			}
			crt, _, _ := unstructured.NestedString(secret.Object, "data", "tls.crt")
			return secret, crt
		}
		apply := func(secret *unstructured.Unstructured) {
			t.Helper()
			// As the release that installed it: Helm adopts only its own objects.
			notes := secret.GetAnnotations()
			if notes == nil {
				notes = map[string]string{}
			}
			r := rel(adapterChart)
			notes["meta.helm.sh/release-name"], notes["meta.helm.sh/release-namespace"] = r.Name, r.Namespace
			secret.SetAnnotations(notes)
			b, err := secret.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if out, err := kubectl(string(b), "apply", "-f", "-"); err != nil {
				t.Fatalf("apply the Secret: %v\n%s", err, out)
			}
		}
		first, crt := servingCert("tls: {mode: selfSigned}")
		apply(first)
		if _, again := servingCert("tls: {mode: selfSigned}"); again != crt {
			t.Error("an upgrade replaced a fresh certificate")
		}
		if _, longer := servingCert("tls: {mode: selfSigned, selfSignedValidityDays: 30}"); longer == crt {
			t.Error("a new selfSignedValidityDays kept the certificate")
		}
		first.SetAnnotations(map[string]string{"foresight.dev/validity-days": "3650", "foresight.dev/renew-after": "1"})
		apply(first)
		if _, renewed := servingCert("tls: {mode: selfSigned}"); renewed == crt {
			t.Error("a certificate past two thirds of its validity was kept")
		}
	})
}
