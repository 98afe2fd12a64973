package adapterproc

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os/exec"
	"slices"

	"github.com/foresight-dev/foresight/internal/testharness/cluster"
)

// The Service the APIServices of Register name: an ExternalName localhost,
// which the aggregator (--enable-aggregator-routing=false) resolves to
// https://localhost:<port>, verifying the adapter's certificate for ServiceDNS
// against the caBundle. Start the adapter with DNSNames: []string{ServiceDNS}.
const (
	ServiceNamespace = "metrics-adapter"
	ServiceName      = "metrics-adapter"
	ServiceDNS       = ServiceName + "." + ServiceNamespace + ".svc"
)

// APIService is a group and version an adapter serves.
type APIService struct {
	Group, Version  string
	VersionPriority int
}

// MetricsAPIs are the groups and versions both adapters serve, as their
// deployments register them.
var MetricsAPIs = []APIService{
	{"custom.metrics.k8s.io", "v1beta1", 100},
	{"custom.metrics.k8s.io", "v1beta2", 200},
	{"external.metrics.k8s.io", "v1beta1", 100},
	{"metrics.k8s.io", "v1beta1", 100},
}

// ForesightAPIs are the groups and versions Foresight serves, as its chart registers them:
// MetricsAPIs and metrics.k8s.io/v1, which prometheus-adapter v0.12.0 does not serve.
var ForesightAPIs = append(slices.Clone(MetricsAPIs), APIService{"metrics.k8s.io", "v1", 200})

// Register points cl's aggregator at adapter a for apis: the ExternalName
// Service and the APIServices with the cluster CA (which signed the adapter's
// certificate) as caBundle, server-side applied with the cluster's kubectl.
// Registering another adapter later re-points the same APIServices.
func Register(ctx context.Context, cl *cluster.Cluster, a *Adapter, apis []APIService) error {
	u, err := url.Parse(a.URL)
	if err != nil {
		return err
	}
	port := u.Port()
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: %[3]s, targetPort: %[3]s}]
`, ServiceNamespace, ServiceName, port)
	ca := base64.StdEncoding.EncodeToString(cl.CA.CertPEM)
	for _, s := range apis {
		fmt.Fprintf(&b, `---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: %[2]s.%[1]s}
spec:
  group: %[1]s
  version: %[2]s
  groupPriorityMinimum: 100
  versionPriority: %[3]d
  caBundle: %[4]s
  service: {name: %[5]s, namespace: %[6]s, port: %[7]s}
`, s.Group, s.Version, s.VersionPriority, ca, ServiceName, ServiceNamespace, port)
	}
	cmd := exec.CommandContext(ctx, cl.Bin("kubectl"), "--kubeconfig", cl.AdminKubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("register the APIServices: %w\n%s", err, out)
	}
	return nil
}

// WaitAvailable waits for the APIServices of apis to be Available (the
// aggregator reached the adapter and verified it), up to 3 minutes each.
func WaitAvailable(ctx context.Context, cl *cluster.Cluster, apis []APIService) error {
	for _, s := range apis {
		name := "apiservice/" + s.Version + "." + s.Group
		cmd := exec.CommandContext(ctx, cl.Bin("kubectl"), "--kubeconfig", cl.AdminKubeconfig,
			"wait", "--for=condition=Available", "--timeout=3m", name)
		if out, err := cmd.CombinedOutput(); err != nil {
			desc, _ := exec.CommandContext(ctx, cl.Bin("kubectl"), "--kubeconfig", cl.AdminKubeconfig, "get", name, "-o", "yaml").CombinedOutput()
			return fmt.Errorf("%s not Available: %w\n%s\n%s", name, err, out, desc)
		}
	}
	return nil
}
