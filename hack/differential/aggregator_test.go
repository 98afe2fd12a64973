//go:build differential

package differential

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os/exec"
	"testing"

	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/cluster"
)

// The Service the APIServices name: an ExternalName localhost, which the
// aggregator (--enable-aggregator-routing=false) resolves to
// https://localhost:<port>, verifying the adapter's certificate for
// <service>.<namespace>.svc against the caBundle.
const (
	serviceNamespace = "metrics-adapter"
	serviceName      = "metrics-adapter"
	serviceDNS       = serviceName + "." + serviceNamespace + ".svc"
)

// apiServices are the groups and versions both adapters serve, as their
// deployments register them.
var apiServices = []struct {
	group, version  string
	versionPriority int
}{
	{"custom.metrics.k8s.io", "v1beta1", 100},
	{"custom.metrics.k8s.io", "v1beta2", 200},
	{"external.metrics.k8s.io", "v1beta1", 100},
	{"metrics.k8s.io", "v1beta1", 100},
}

// registerAPIServices points cl's aggregator at adapter a: the ExternalName
// Service and the four APIServices with the cluster CA as caBundle (the CA
// that signed the adapter's certificate), applied with the cluster's kubectl.
func registerAPIServices(t *testing.T, cl *cluster.Cluster, a *adapterproc.Adapter) {
	t.Helper()
	u, err := url.Parse(a.URL)
	if err != nil {
		t.Fatal(err)
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
`, serviceNamespace, serviceName, port)
	ca := base64.StdEncoding.EncodeToString(cl.CA.CertPEM)
	for _, s := range apiServices {
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
`, s.group, s.version, s.versionPriority, ca, serviceName, serviceNamespace, port)
	}
	cmd := exec.Command(cl.Bin("kubectl"), "--kubeconfig", cl.AdminKubeconfig, "apply", "--server-side", "-f", "-")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("register the APIServices: %v\n%s", err, out)
	}
}

// waitAvailable waits for every APIService to be Available (the aggregator
// reached the adapter and verified it).
func waitAvailable(ctx context.Context, t *testing.T, cl *cluster.Cluster) {
	t.Helper()
	for _, s := range apiServices {
		name := "apiservice/" + s.version + "." + s.group
		cmd := exec.CommandContext(ctx, cl.Bin("kubectl"), "--kubeconfig", cl.AdminKubeconfig,
			"wait", "--for=condition=Available", "--timeout=3m", name)
		if out, err := cmd.CombinedOutput(); err != nil {
			desc, _ := exec.Command(cl.Bin("kubectl"), "--kubeconfig", cl.AdminKubeconfig, "get", name, "-o", "yaml").CombinedOutput()
			t.Fatalf("%s not Available: %v\n%s\n%s", name, err, out, desc)
		}
	}
}
