package charts

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the charts")

func TestMain(m *testing.M) {
	// Helm's loader logs every symbolic link it follows (files/ links rules/ and
	// dashboards/); the tests check the content instead.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

const (
	adapterChart = "foresight-adapter"
	xdsChart     = "foresight-xds"
)

// rel is the release the charts are rendered as in these tests: the names and namespace
// of the kustomize bases.
func rel(chart string) Release { return Release{Name: chart, Namespace: "foresight"} }

func chartDir(chart string) string { return filepath.Join("..", "..", "deploy", "charts", chart) }

// valuesFile reads testdata/values/<name>.yaml.
func valuesFile(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "values", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("testdata/values/%s.yaml: %v", name, err)
	}
	return v
}

// values parses inline YAML values.
func values(t *testing.T, doc string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("values %q: %v", doc, err)
	}
	return v
}

func render(t *testing.T, chart string, vals map[string]any) []*unstructured.Unstructured {
	t.Helper()
	manifest, err := Render(chartDir(chart), rel(chart), vals)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// renderCases are the value sets every chart is linted, rendered and dry-run with.
type renderCase struct {
	chart, name string
	values      func(t *testing.T) map[string]any
}

func renderCases() []renderCase {
	var out []renderCase
	for _, c := range []string{adapterChart, xdsChart} {
		out = append(out,
			renderCase{c, "default", func(*testing.T) map[string]any { return nil }},
			renderCase{c, "all", func(t *testing.T) map[string]any { return valuesFile(t, c+"-all") }})
	}
	return out
}

func TestLint(t *testing.T) {
	for _, c := range renderCases() {
		t.Run(c.chart+"/"+c.name, func(t *testing.T) {
			if msgs := Lint(chartDir(c.chart), "foresight", c.values(t)); len(msgs) > 0 {
				t.Errorf("helm lint --strict:\n%s", strings.Join(msgs, "\n"))
			}
		})
	}
}

// TestGolden renders each chart with its default values and with every optional part on
// and compares the manifests with testdata/golden (rewritten by -update).
func TestGolden(t *testing.T) {
	for _, c := range renderCases() {
		t.Run(c.chart+"/"+c.name, func(t *testing.T) {
			got, err := Render(chartDir(c.chart), rel(c.chart), c.values(t))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", c.chart+"-"+c.name+".yaml")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("rendered %s differs from %s (rerun with -update if the change is intended), -want +got:\n%s",
					c.name, path, cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n")))
			}
		})
	}
}

// TestSchemaRefusals installs values each chart's values.schema.json (or a template's
// check) refuses, and checks that the error names the value.
func TestSchemaRefusals(t *testing.T) {
	cases := []struct {
		chart, name, values string
		want                []string // substrings of the error
	}{
		{adapterChart, "wrong type", "replicaCount: two", []string{"/replicaCount", "got string, want integer"}},
		{adapterChart, "unknown top-level key", "replicas: 3", []string{"additional properties 'replicas' not allowed"}},
		{adapterChart, "misspelt nested key", "apiService: {external: {enable: false}}", []string{"/apiService/external", "additional properties 'enable' not allowed"}},
		{adapterChart, "latest tag", "image: {tag: latest}", []string{"image.tag: latest is refused"}},
		{adapterChart, "unknown tls mode", "tls: {mode: none}", []string{"/tls/mode", "certManager", "selfSigned"}},
		{adapterChart, "Secrets in RBAC", "rbac: {objectResources: [pods, secrets]}", []string{`rbac.objectResources: "secrets" is refused`}},
		{adapterChart, "every kind in RBAC", "rbac: {objectResources: ['*']}", []string{"/rbac/objectResources/0", "does not match pattern"}},
		{adapterChart, "metrics on the secure port", "metricsPort: 6443", []string{"metricsPort: 6443 is the secure port"}},
		{adapterChart, "Prometheus URL without scheme", "prometheus: {url: 'prometheus:9090'}", []string{"/prometheus/url", "does not match pattern"}},
		{adapterChart, "Prometheus headers as a list", "prometheus: {headers: [X-Scope-OrgID=tenant]}", []string{"/prometheus/headers", "got array, want object"}},
		{adapterChart, "Prometheus response limit as a string", "prometheus: {maxResponseBytes: 128Mi}", []string{"/prometheus/maxResponseBytes", "got string, want integer"}},
		{adapterChart, "one point per Prometheus query", "prometheus: {maxPointsPerQuery: 1}", []string{"/prometheus/maxPointsPerQuery"}},
		{adapterChart, "Prometheus timeout without a unit", "prometheus: {timeout: '30'}", []string{"/prometheus/timeout", "does not match pattern"}},
		{adapterChart, "Prometheus header value with a comma", "prometheus: {headers: {X-Scope-OrgID: 'a,b'}}", []string{"/prometheus/headers/X-Scope-OrgID", "does not match pattern"}},
		{adapterChart, "Prometheus credentials in a header", "prometheus: {headers: {Authorization: Bearer xyz}}", []string{"prometheus.headers: Authorization is refused"}},
		{adapterChart, "relative Prometheus token file", "prometheus: {bearerTokenFile: token}", []string{"/prometheus/bearerTokenFile", "does not match pattern"}},
		{adapterChart, "misspelt Prometheus TLS key", "prometheus: {tls: {caFIle: /ca.crt}}", []string{"/prometheus/tls", "additional properties 'caFIle' not allowed"}},
		{adapterChart, "Prometheus client certificate without its key", "prometheus: {url: 'https://prometheus:9090', tls: {certFile: /tls/tls.crt}}", []string{"certFile and keyFile go together"}},
		{adapterChart, "Prometheus TLS on plain HTTP", "prometheus: {tls: {caConfigMap: prometheus-ca}}", []string{"prometheus.tls is set but prometheus.url", "is not https://"}},
		{adapterChart, "root allowed", "podSecurityContext: {runAsNonRoot: false}", []string{"/podSecurityContext/runAsNonRoot"}},
		{adapterChart, "privilege escalation", "securityContext: {allowPrivilegeEscalation: true}", []string{"/securityContext/allowPrivilegeEscalation"}},
		{adapterChart, "rules of another kind", "rules: {kind: TrafficPolicy}", []string{"/rules/kind"}},
		{adapterChart, "prometheus-adapter rules in rules", "rules: {custom: [], external: []}", []string{"/rules", "additional properties", "custom"}},
		{adapterChart, "rule without a query", "rules: {rules: [{name: x}]}", []string{"/rules/rules/0", "missing property 'query'"}},
		{adapterChart, "ServiceMonitor without metrics port", "serviceMonitor: {enabled: true}", []string{"serviceMonitor.enabled needs metricsPort"}},
		{adapterChart, "resource metrics without resourceRules", "apiService: {resourceMetrics: {enabled: true}}", []string{"apiService.resourceMetrics.enabled", "has none"}},
		{adapterChart, "resource metrics without pods", "{apiService: {resourceMetrics: {enabled: true}}, prometheusAdapterConfig: {resourceRules: {window: 5m}}, rbac: {objectResources: [services]}}",
			[]string{"rbac.objectResources must hold pods"}},
		{adapterChart, "misspelt prometheus-adapter section", "prometheusAdapterConfig: {resourceRule: {}}", []string{"/prometheusAdapterConfig", "additional properties 'resourceRule' not allowed"}},
		{adapterChart, "no memory limit", "resources: {limits: {memory: null}}", []string{"/resources/limits", "missing property 'memory'"}},
		{xdsChart, "root container", "securityContext: {runAsUser: 0}", []string{"/securityContext/runAsUser"}},
		{adapterChart, "root container", "securityContext: {runAsNonRoot: false}", []string{"/securityContext/runAsNonRoot"}},
		{xdsChart, "another ServiceAccount without its name", "serviceAccount: {create: false}", []string{"/serviceAccount/name", "minLength"}},
		{adapterChart, "another ServiceAccount without its name", "serviceAccount: {create: false}", []string{"/serviceAccount/name", "minLength"}},
		{xdsChart, "latest tag", "image: {tag: latest}", []string{"image.tag: latest is refused"}},
		{xdsChart, "wrong type", "service: {xdsPort: '18000'}", []string{"/service/xdsPort", "got string, want integer"}},
		{xdsChart, "unknown top-level key", "policies: {}", []string{"additional properties 'policies' not allowed"}},
		{xdsChart, "policy of another kind", "policy: {kind: MetricRules}", []string{"/policy/kind"}},
		{xdsChart, "experiment without a name", "experiments: [{apiVersion: foresight.dev/v1alpha1, kind: FaultExperiment, metadata: {}, spec: {}}]", []string{"/experiments/0/metadata", "missing property 'name'"}},
		{xdsChart, "invalid namespace", "rbac: {endpointSliceNamespaces: [Shop_1]}", []string{"/rbac/endpointSliceNamespaces/0"}},
		{xdsChart, "Gateway API burst of zero", "gatewayAPI: {kubeAPIBurst: 0}", []string{"/gatewayAPI/kubeAPIBurst"}},
		{xdsChart, "Gateway API controller without a path", "gatewayAPI: {controllerName: foresight}", []string{"/gatewayAPI/controllerName", "does not match pattern"}},
		{xdsChart, "misspelt Gateway API key", "gatewayAPI: {enable: true}", []string{"/gatewayAPI", "additional properties 'enable' not allowed"}},
		{xdsChart, "proxies' ServiceAccount without node identities", "gatewayAPI: {enabled: true, proxyServiceAccount: '{gateway}-proxy'}", []string{"gatewayAPI.proxyServiceAccount needs tls.requireNodeIdentity"}},
		{xdsChart, "proxies' ServiceAccount not a name", "gatewayAPI: {proxyServiceAccount: 'Proxy_{gateway}'}", []string{"/gatewayAPI/proxyServiceAccount", "does not match pattern"}},
		{xdsChart, "Prometheus credentials in a header", "prometheus: {headers: {Authorization: Bearer xyz}}", []string{"prometheus.headers: Authorization is refused"}},
		{xdsChart, "Prometheus TLS on plain HTTP", "prometheus: {tls: {caConfigMap: prometheus-ca}}", []string{"prometheus.tls is set but prometheus.url", "is not https://"}},
		{xdsChart, "Prometheus client certificate without its key", "prometheus: {url: 'https://p:9090', tls: {certFile: /c.pem}}", []string{"certFile and keyFile go together"}},
		{xdsChart, "client certificates without a Secret", "tls: {requireClientCertificate: true}", []string{"tls.requireClientCertificate and tls.requireNodeIdentity need tls.secretName"}},
		{xdsChart, "node identities without client certificates", "tls: {secretName: xds-tls, requireNodeIdentity: true}", []string{"tls.requireNodeIdentity needs tls.requireClientCertificate"}},
		{xdsChart, "misspelt TLS key", "tls: {secret: x}", []string{"/tls", "additional properties 'secret' not allowed"}},
		{xdsChart, "budget on one replica", "replicaCount: 1", []string{"podDisruptionBudget.minAvailable (1) must be below replicaCount (1)"}},
		{adapterChart, "budget on one replica", "replicaCount: 1", []string{"podDisruptionBudget.minAvailable (1) must be below replicaCount (1)"}},
		{adapterChart, "budget of every replica", "{replicaCount: 3, podDisruptionBudget: {minAvailable: 3}}", []string{"podDisruptionBudget.minAvailable (3) must be below replicaCount (3)"}},
	}
	for _, c := range cases {
		t.Run(c.chart+"/"+c.name, func(t *testing.T) {
			_, err := Render(chartDir(c.chart), rel(c.chart), values(t, c.values))
			if err == nil {
				t.Fatalf("values %q were accepted", c.values)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error for %q does not contain %q:\n%v", c.values, w, err)
				}
			}
		})
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func kinds(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestImageTag checks the image reference: the chart's appVersion by default, a tag or a
// digest when set.
func TestImageTag(t *testing.T) {
	for _, chart := range []string{adapterChart, xdsChart} {
		c, err := Load(chartDir(chart))
		if err != nil {
			t.Fatal(err)
		}
		repo := "ghcr.io/foresight-dev/" + chart
		for _, tc := range []struct{ values, want string }{
			{"{}", repo + ":" + c.Metadata.AppVersion},
			{"image: {tag: v9.9.9}", repo + ":v9.9.9"},
			{"image: {tag: v9.9.9, digest: 'sha256:" + strings.Repeat("ab", 32) + "'}", repo + "@sha256:" + strings.Repeat("ab", 32)},
		} {
			d := find(render(t, chart, values(t, tc.values)), "Deployment", chart)
			containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
			if got := containers[0].(map[string]any)["image"]; got != tc.want {
				t.Errorf("%s with %s: image %v, want %s", chart, tc.values, got, tc.want)
			}
		}
	}
}

// TestAPIServicesOptional checks that each registration can be turned off.
func TestAPIServicesOptional(t *testing.T) {
	names := func(vals string) []string {
		var out []string
		for _, o := range kinds(render(t, adapterChart, values(t, vals)), "APIService") {
			out = append(out, o.GetName())
		}
		sort.Strings(out)
		return out
	}
	for _, tc := range []struct {
		values string
		want   []string
	}{
		{"{}", []string{"v1beta1.custom.metrics.k8s.io", "v1beta1.external.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"}},
		{"apiService: {external: {enabled: false}}", []string{"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"}},
		{"apiService: {custom: {enabled: false}}", []string{"v1beta1.external.metrics.k8s.io"}},
		{"apiService: {custom: {enabled: false}, external: {enabled: false}}", nil},
		{"{apiService: {resourceMetrics: {enabled: true}, custom: {enabled: false}}, prometheusAdapterConfig: {resourceRules: {window: 5m}}}",
			[]string{"v1.metrics.k8s.io", "v1beta1.external.metrics.k8s.io", "v1beta1.metrics.k8s.io"}},
	} {
		if got := names(tc.values); !slices.Equal(got, tc.want) {
			t.Errorf("%s: APIServices %v, want %v", tc.values, got, tc.want)
		}
	}
}

// TestSelfSignedCertificate renders tls.mode selfSigned and checks that the serving
// certificate in the Secret is valid for the Service's DNS name and chains to the CA that
// every APIService carries as caBundle, so the aggregator can verify the adapter.
func TestSelfSignedCertificate(t *testing.T) {
	objs := render(t, adapterChart, values(t, "tls: {mode: selfSigned}"))
	secret := find(objs, "Secret", "foresight-adapter-serving-cert")
	if secret == nil {
		t.Fatal("no Secret foresight-adapter-serving-cert")
	}
	if find(objs, "Certificate", "foresight-adapter-serving-cert") != nil {
		t.Error("selfSigned mode renders a cert-manager Certificate")
	}
	data, _, _ := unstructured.NestedStringMap(secret.Object, "data")
	caPEM := decodeB64(t, data["ca.crt"])
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	leaf := parseCert(t, decodeB64(t, data["tls.crt"]))
	if _, err := leaf.Verify(x509.VerifyOptions{
		DNSName: "foresight-adapter.foresight.svc", Roots: pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		t.Errorf("serving certificate does not verify as foresight-adapter.foresight.svc: %v", err)
	}
	if len(decodeB64(t, data["tls.key"])) == 0 {
		t.Error("tls.key is empty")
	}
	apiServices := kinds(objs, "APIService")
	if len(apiServices) != 3 {
		t.Fatalf("%d APIServices, want 3", len(apiServices))
	}
	for _, a := range apiServices {
		ca, _, _ := unstructured.NestedString(a.Object, "spec", "caBundle")
		if ca != data["ca.crt"] {
			t.Errorf("APIService %s: caBundle is not the Secret's ca.crt", a.GetName())
		}
		if skip, _, _ := unstructured.NestedBool(a.Object, "spec", "insecureSkipTLSVerify"); skip {
			t.Errorf("APIService %s skips TLS verification", a.GetName())
		}
		if _, ok := a.GetAnnotations()["cert-manager.io/inject-ca-from"]; ok {
			t.Errorf("APIService %s asks cert-manager for its CA in selfSigned mode", a.GetName())
		}
	}
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseCert(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(p)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMonitoringFromSources checks that the PrometheusRules of both charts together hold
// exactly the groups of the generated deploy/prometheusrule (itself generated from
// rules/*.rules.yaml), and their dashboard ConfigMaps exactly dashboards/*.json, each once,
// labelled for the Grafana sidecar.
func TestMonitoringFromSources(t *testing.T) {
	groups := map[string]any{}
	dashboards := map[string]string{}
	for _, chart := range []string{adapterChart, xdsChart} {
		objs := render(t, chart, valuesFile(t, chart+"-all"))
		rules := kinds(objs, "PrometheusRule")
		if len(rules) != 1 {
			t.Fatalf("%s: %d PrometheusRules, want 1", chart, len(rules))
		}
		gs, _, _ := unstructured.NestedSlice(rules[0].Object, "spec", "groups")
		for _, g := range gs {
			name := g.(map[string]any)["name"].(string)
			if _, dup := groups[name]; dup {
				t.Errorf("rule group %s is in both charts", name)
			}
			groups[name] = g
		}
		for _, cm := range kinds(objs, "ConfigMap") {
			if cm.GetLabels()["grafana_dashboard"] != "1" {
				continue
			}
			if cm.GetNamespace() != "monitoring" {
				t.Errorf("dashboard %s in namespace %q, want the dashboards.namespace value", cm.GetName(), cm.GetNamespace())
			}
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			for file, content := range data {
				if _, dup := dashboards[file]; dup {
					t.Errorf("dashboard %s is in both charts", file)
				}
				dashboards[file] = content
			}
		}
	}

	generated, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheusrule", "foresight-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(generated, &pr); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	for _, g := range pr.Spec.Groups {
		want[g["name"].(string)] = any(g)
	}
	if !reflect.DeepEqual(normalizeJSON(t, groups), normalizeJSON(t, want)) {
		t.Errorf("the charts' rule groups %v differ from deploy/prometheusrule's %v", slices.Sorted(maps.Keys(groups)), slices.Sorted(maps.Keys(want)))
	}

	files, err := filepath.Glob(filepath.Join("..", "..", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards/*.json: %v", err)
	}
	for _, f := range files {
		content, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := dashboards[filepath.Base(f)]
		if !ok {
			t.Errorf("dashboard %s is in no chart", filepath.Base(f))
			continue
		}
		if strings.TrimRight(got, "\n") != strings.TrimRight(string(content), "\n") {
			t.Errorf("dashboard %s in the chart differs from dashboards/", filepath.Base(f))
		}
		delete(dashboards, filepath.Base(f))
	}
	for f := range dashboards {
		t.Errorf("chart dashboard %s is not in dashboards/", f)
	}
}

// normalizeJSON round-trips v through JSON, so values decoded by different decoders
// (int64 and float64 numbers) compare equal.
func normalizeJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestScrapeAnnotationsFollowTheMetricsPort: the xds pods' prometheus.io/port is the
// metrics port the pods listen on.
func TestScrapeAnnotationsFollowTheMetricsPort(t *testing.T) {
	objs := render(t, xdsChart, values(t, "service: {metricsPort: 15014}"))
	d := find(objs, "Deployment", "foresight-xds")
	if d == nil {
		t.Fatal("no Deployment")
	}
	notes, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "annotations")
	if notes["prometheus.io/port"] != "15014" || notes["prometheus.io/scrape"] != "true" {
		t.Errorf("pod annotations %v, want prometheus.io/port 15014", notes)
	}
}

// TestNotesFitTheInstall: the commands NOTES.txt prints fit the values: the bootstrap of a
// TLS control plane uses TLS (and a client certificate when one is required), the
// APIServices listed are those registered, and the metric queried is one of the rules'.
func TestNotesFitTheInstall(t *testing.T) {
	for _, c := range []struct {
		chart, values string
		want, not     []string
	}{
		{xdsChart, "tls: {secretName: xds-tls, requireClientCertificate: true}", []string{"--xds-creds tls --xds-ca-file CA.pem --xds-cert-file CERT.pem --xds-key-file KEY.pem"}, nil},
		{xdsChart, "", []string{"--xds-address foresight-xds.foresight.svc:18000\n"}, []string{"--xds-creds"}},
		{adapterChart, "{apiService: {external: {enabled: false}, custom: {enabled: false}, resourceMetrics: {enabled: true}}, prometheusAdapterConfig: {resourceRules: {window: 5m}}}",
			[]string{"kubectl get apiservices v1beta1.metrics.k8s.io v1.metrics.k8s.io", "kubectl top pods -A"}, []string{"external.metrics.k8s.io"}},
		{adapterChart, "rules: {rules: [{name: queue_depth, query: 'redis_list_length{<<.LabelMatchers>>}'}]}", []string{"namespaces/default/queue_depth"}, []string{"http_requests_per_second_predicted"}},
	} {
		notes, err := Notes(chartDir(c.chart), rel(c.chart), values(t, c.values))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(notes, w) {
				t.Errorf("%s with %s: notes lack %q:\n%s", c.chart, c.values, w, notes)
			}
		}
		for _, n := range c.not {
			if strings.Contains(notes, n) {
				t.Errorf("%s with %s: notes hold %q:\n%s", c.chart, c.values, n, notes)
			}
		}
	}
}

// TestBudgetOfNoReplicas: a Deployment scaled to no replicas (an adapter run outside the
// cluster, as the end-to-end tests do) renders with its budget: there is no pod to block a
// drain.
func TestBudgetOfNoReplicas(t *testing.T) {
	for _, chart := range []string{adapterChart, xdsChart} {
		if find(render(t, chart, values(t, "replicaCount: 0")), "PodDisruptionBudget", chart) == nil {
			t.Errorf("%s with replicaCount 0: no PodDisruptionBudget", chart)
		}
	}
}
