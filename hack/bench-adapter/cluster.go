package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
)

// benchUser is the identity of the benchmark's clients: a client certificate
// of the cluster CA, allowed by RBAC to read external metrics, as an HPA
// controller is.
const benchUser = "bench-hpa"

// benchCluster is etcd and kube-apiserver on loopback (the harness's
// cluster, without a controller manager): the delegated authentication and
// authorization that both adapters use, with benchUser's credentials.
type benchCluster struct {
	*cluster.Cluster
	// client is the benchmark clients' certificate (user benchUser).
	client *pki.Leaf
}

// startCluster starts etcd and kube-apiserver from binDir and grants
// benchUser read access to the external metrics API.
func startCluster(ctx context.Context, binDir, dir string) (_ *benchCluster, err error) {
	cl, err := cluster.Start(ctx, cluster.Options{BinDir: binDir, Dir: dir})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cl.Stop()
		}
	}()
	c := &benchCluster{Cluster: cl}
	if c.client, err = cl.CA.Sign(pki.LeafOptions{CommonName: benchUser}); err != nil {
		return nil, err
	}
	if err := c.grantBenchUser(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// grantBenchUser binds benchUser to a ClusterRole that reads external
// metrics and the adapters' /metrics: what an HPA controller (and a scraper) may do.
func (c *benchCluster) grantBenchUser(ctx context.Context) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-external-metrics-reader"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"external.metrics.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
			{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
		},
	}
	if _, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-external-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: benchUser}},
	}
	if _, err := c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRoleBinding %s: %w", binding.Name, err)
	}
	return nil
}

// clientTLS is the TLS configuration of the benchmark's clients: benchUser's
// client certificate, the adapters' serving certificates verified against the
// cluster CA.
func (c *benchCluster) clientTLS() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.client.CertPEM, c.client.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.CA.Cert)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// servingCert writes a serving certificate of the cluster CA for 127.0.0.1
// and localhost, named for the adapter name, to dir and returns its files.
func (c *benchCluster) servingCert(dir, name string) (certFile, keyFile string, err error) {
	leaf, err := c.CA.Sign(pki.LeafOptions{CommonName: name, Server: true,
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		return "", "", err
	}
	return leaf.Write(dir, "serving")
}
