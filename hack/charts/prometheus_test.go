package charts

import (
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/promclient"
)

// TestPrometheusConnection renders each chart with the connection to Prometheus set and
// parses the container's --prometheus-* arguments with the program's own flags
// (source.PrometheusConfig.AddFlags, as `foresight-adapter serve` registers them;
// promclient.Config.AddFlags, as `foresight-xds serve` does): they must be accepted and
// read as the values say, headers in name order. Each file the program reads must lie in a
// read-only mount of the ConfigMap or Secret the values name, or be the ServiceAccount token
// the pod mounts.
func TestPrometheusConnection(t *testing.T) {
	cases := []struct {
		chart   string
		name    string
		values  func(t *testing.T) map[string]any
		url     string
		want    source.PrometheusConfig
		headers []string // the --prometheus-header arguments, in order
		volumes map[string]map[string]any
	}{{
		// A Thanos Querier checking the ServiceAccount's token, verified with the service
		// CA (another key than ca.crt), tenant headers, mutual TLS with the Secret's
		// tls.crt and tls.key.
		chart:  adapterChart,
		name:   "all",
		values: func(t *testing.T) map[string]any { return valuesFile(t, adapterChart+"-all") },
		url:    "https://thanos-querier.openshift-monitoring.svc:9091",
		want: source.PrometheusConfig{
			Config: promclient.Config{
				BearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
				CAFile:          "/var/run/prometheus-ca/service-ca.crt",
				CertFile:        "/var/run/prometheus-tls/tls.crt",
				KeyFile:         "/var/run/prometheus-tls/tls.key",
				ServerName:      "thanos-querier.openshift-monitoring.svc",
				Headers:         map[string]string{"X-Scope-OrgID": "platform", "THANOS-TENANT": "platform"},
				// 64 MiB: an integer argument, never Helm's float rendering 6.7108864e+07.
				MaxResponseBytes: 64 << 20,
			},
			Timeout: time.Minute,
			// Thanos' own limit lies below the adapter's default.
			MaxPointsPerQuery: 10000,
		},
		headers: []string{"--prometheus-header=THANOS-TENANT=platform", "--prometheus-header=X-Scope-OrgID=platform"},
		volumes: map[string]map[string]any{
			"prometheus-ca":  {"configMap": map[string]any{"name": "openshift-service-ca.crt"}},
			"prometheus-tls": {"secret": map[string]any{"secretName": "foresight-adapter-prometheus-client"}},
		},
	}, {
		// The CA defaults to the ConfigMap's ca.crt; explicit client files in the Secret;
		// a Mimir tenant; verification off.
		chart: adapterChart,
		name:  "defaults of the mounts",
		values: func(t *testing.T) map[string]any {
			return values(t, `prometheus:
  url: https://mimir.example.com/prometheus
  headers: {X-Scope-OrgID: team-a|team-b}
  tls:
    caConfigMap: mimir-ca
    secret: mimir-client
    certFile: /var/run/prometheus-tls/client.pem
    keyFile: /var/run/prometheus-tls/client-key.pem
    insecureSkipVerify: true`)
		},
		url: "https://mimir.example.com/prometheus",
		want: source.PrometheusConfig{Config: promclient.Config{
			CAFile:             "/var/run/prometheus-ca/ca.crt",
			CertFile:           "/var/run/prometheus-tls/client.pem",
			KeyFile:            "/var/run/prometheus-tls/client-key.pem",
			InsecureSkipVerify: true,
			Headers:            map[string]string{"X-Scope-OrgID": "team-a|team-b"},
		}},
		headers: []string{"--prometheus-header=X-Scope-OrgID=team-a|team-b"},
		volumes: map[string]map[string]any{
			"prometheus-ca":  {"configMap": map[string]any{"name": "mimir-ca"}},
			"prometheus-tls": {"secret": map[string]any{"secretName": "mimir-client"}},
		},
	}, {
		// The control plane's guards and analyses against the same Thanos Querier.
		chart:  xdsChart,
		name:   "all",
		values: func(t *testing.T) map[string]any { return valuesFile(t, xdsChart+"-all") },
		url:    "https://thanos-querier.openshift-monitoring.svc:9091",
		want: source.PrometheusConfig{Config: promclient.Config{
			BearerTokenFile:  "/var/run/secrets/kubernetes.io/serviceaccount/token",
			CAFile:           "/var/run/prometheus-ca/service-ca.crt",
			CertFile:         "/var/run/prometheus-tls/tls.crt",
			KeyFile:          "/var/run/prometheus-tls/tls.key",
			ServerName:       "thanos-querier.openshift-monitoring.svc",
			Headers:          map[string]string{"THANOS-TENANT": "platform"},
			MaxResponseBytes: 32 << 20,
		}},
		headers: []string{"--prometheus-header=THANOS-TENANT=platform"},
		volumes: map[string]map[string]any{
			"prometheus-ca":  {"configMap": map[string]any{"name": "openshift-service-ca.crt"}},
			"prometheus-tls": {"secret": map[string]any{"secretName": "foresight-xds-prometheus-client"}},
		},
	}, {
		chart: xdsChart,
		name:  "defaults of the mounts",
		values: func(t *testing.T) map[string]any {
			return values(t, `prometheus:
  url: https://mimir.example.com/prometheus
  headers: {X-Scope-OrgID: team-a}
  tls: {caConfigMap: mimir-ca, secret: mimir-client}`)
		},
		url: "https://mimir.example.com/prometheus",
		want: source.PrometheusConfig{Config: promclient.Config{
			CAFile:   "/var/run/prometheus-ca/ca.crt",
			CertFile: "/var/run/prometheus-tls/tls.crt",
			KeyFile:  "/var/run/prometheus-tls/tls.key",
			Headers:  map[string]string{"X-Scope-OrgID": "team-a"},
		}},
		headers: []string{"--prometheus-header=X-Scope-OrgID=team-a"},
		volumes: map[string]map[string]any{
			"prometheus-ca":  {"configMap": map[string]any{"name": "mimir-ca"}},
			"prometheus-tls": {"secret": map[string]any{"secretName": "mimir-client"}},
		},
	}}
	for _, c := range cases {
		t.Run(c.chart+"/"+c.name, func(t *testing.T) {
			objs := render(t, c.chart, c.values(t))
			if got := configData(t, objs, c.chart+"-settings", "PROMETHEUS_URL"); got != c.url {
				t.Errorf("PROMETHEUS_URL %q, want %q", got, c.url)
			}

			var promArgs, headers []string
			container := chartContainer(t, objs, c.chart)
			args, _, _ := unstructured.NestedStringSlice(container, "args")
			for _, a := range args {
				if strings.HasPrefix(a, "--prometheus-") {
					promArgs = append(promArgs, a)
				}
				if strings.HasPrefix(a, "--prometheus-header=") {
					headers = append(headers, a)
				}
			}
			var got source.PrometheusConfig
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			if c.chart == adapterChart {
				got.AddFlags(fs)
			} else {
				got.Config.AddFlags(fs)
			}
			if err := fs.Parse(promArgs); err != nil {
				t.Fatalf("%s refuses the chart's arguments %q: %v", c.chart, promArgs, err)
			}
			want := c.want
			want.Address = "$(PROMETHEUS_URL)" // the kubelet expands it from the settings ConfigMap
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the arguments %q read as\n%+v, want\n%+v", promArgs, got, want)
			}
			if !slices.Equal(headers, c.headers) {
				t.Errorf("header arguments %q, want %q (in name order)", headers, c.headers)
			}

			pod, _, _ := unstructured.NestedMap(find(objs, "Deployment", c.chart).Object, "spec", "template", "spec")
			volumes := map[string]map[string]any{}
			for _, v := range pod["volumes"].([]any) {
				v := v.(map[string]any)
				volumes[v["name"].(string)] = v
			}
			for name, src := range c.volumes {
				v, ok := volumes[name]
				if !ok {
					t.Errorf("no volume %s", name)
					continue
				}
				for k, want := range src {
					if !reflect.DeepEqual(v[k], want) {
						t.Errorf("volume %s: %s %v, want %v", name, k, v[k], want)
					}
				}
			}
			mounts, _, _ := unstructured.NestedSlice(container, "volumeMounts")
			for _, file := range []string{got.CAFile, got.CertFile, got.KeyFile, got.BearerTokenFile} {
				if file == "" {
					continue
				}
				if path.Dir(file) == "/var/run/secrets/kubernetes.io/serviceaccount" {
					sa := find(objs, "ServiceAccount", c.chart)
					if automount, _, _ := unstructured.NestedBool(sa.Object, "automountServiceAccountToken"); !automount || pod["automountServiceAccountToken"] == false {
						t.Errorf("%s: the pod does not mount its ServiceAccount token", file)
					}
					continue
				}
				var mount map[string]any
				for _, m := range mounts {
					if m := m.(map[string]any); m["mountPath"] == path.Dir(file) {
						mount = m
					}
				}
				switch {
				case mount == nil:
					t.Errorf("%s: no volume is mounted at %s", file, path.Dir(file))
				case mount["readOnly"] != true:
					t.Errorf("%s: volume %s is mounted writable", file, mount["name"])
				case c.volumes[mount["name"].(string)] == nil:
					t.Errorf("%s: in volume %s, not one the values name", file, mount["name"])
				}
			}
		})
	}
}
