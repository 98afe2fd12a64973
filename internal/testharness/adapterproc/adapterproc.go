// Package adapterproc runs a Kubernetes metrics adapter, foresight-adapter
// or its peer prometheus-adapter, as a real process on loopback: serving
// certificate of the cluster CA, the same Prometheus and the same delegated
// authentication and authorization through a kube-apiserver for both, and
// the clients' identity (a client certificate of the cluster CA that RBAC
// allows to read the metrics APIs). hack/bench-adapter and the differential
// test share it.
package adapterproc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/internal/testharness/procs"
)

// Kinds of adapter Start runs.
const (
	// Foresight is `foresight-adapter serve`.
	Foresight = "foresight"
	// Peer is prometheus-adapter (v0.12.0, built by hack/peer-adapter).
	Peer = "peer"
)

// PeerProgram is the name of prometheus-adapter's binary in .cache/bin.
const PeerProgram = "prometheus-adapter"

// Options describe one adapter process.
type Options struct {
	// Kind is Foresight or Peer.
	Kind string
	// Name names the process and its log file.
	Name string
	// Bin is the adapter binary.
	Bin string
	// Dir receives the serving certificate and key.
	Dir string
	// LogDir receives the process's log.
	LogDir string
	// Config is the --config file (a prometheus-adapter file fits both kinds).
	Config string
	// PrometheusURL is --prometheus-url.
	PrometheusURL string
	// Kubeconfig is the lister, authentication and authorization kubeconfig.
	Kubeconfig string
	// CA signs the serving certificate (the cluster CA, which clients trust).
	CA *pki.CA
	// Args are extra arguments.
	Args []string
	// DNSNames are further names of the serving certificate (besides localhost), such as
	// the <service>.<namespace>.svc name an APIService makes the aggregator verify.
	DNSNames []string
}

// Adapter is a started adapter process.
type Adapter struct {
	// Proc is the process.
	Proc *procs.Proc
	// URL is https://127.0.0.1:port.
	URL string
}

// Start writes a serving certificate for 127.0.0.1 and localhost into o.Dir
// and starts the adapter on a free loopback port with the flags both
// adapters share.
func Start(o Options) (*Adapter, error) {
	if o.CA == nil {
		return nil, errors.New("adapterproc: no CA")
	}
	leaf, err := o.CA.Sign(pki.LeafOptions{CommonName: o.Name, Server: true,
		DNSNames: append([]string{"localhost"}, o.DNSNames...), IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		return nil, err
	}
	for _, d := range []string{o.Dir, o.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	cert, key, err := leaf.Write(o.Dir, "serving")
	if err != nil {
		return nil, err
	}
	port, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	var args []string
	switch o.Kind {
	case Foresight:
		args = []string{"serve", "--config=" + o.Config, "--log-level=warn"}
	case Peer:
		args = []string{"--config=" + o.Config, "--v=0"}
	default:
		return nil, fmt.Errorf("adapterproc: unknown adapter kind %q", o.Kind)
	}
	args = append(args,
		"--prometheus-url="+o.PrometheusURL,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+cert, "--tls-private-key-file="+key,
		"--lister-kubeconfig="+o.Kubeconfig,
		"--authentication-kubeconfig="+o.Kubeconfig,
		"--authorization-kubeconfig="+o.Kubeconfig,
	)
	args = append(args, o.Args...)
	p, err := procs.Start(o.Name, o.LogDir, o.Bin, args...)
	if err != nil {
		return nil, err
	}
	return &Adapter{Proc: p, URL: "https://127.0.0.1:" + strconv.Itoa(port)}, nil
}

// Client is a client identity of the cluster CA: a user that RBAC allows
// to read the metrics APIs.
type Client struct {
	// User is the certificate's common name.
	User string
	// Leaf is the client certificate.
	Leaf *pki.Leaf
	ca   *pki.CA
}

// NewClient signs a client certificate for user with ca and, through admin,
// binds user to a ClusterRole named name with rules (create both; with no
// rules, neither: a user the adapters must refuse).
func NewClient(ctx context.Context, admin kubernetes.Interface, ca *pki.CA, user, name string, rules []rbacv1.PolicyRule) (*Client, error) {
	leaf, err := ca.Sign(pki.LeafOptions{CommonName: user})
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return &Client{User: user, Leaf: leaf, ca: ca}, nil
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create ClusterRoleBinding %s: %w", binding.Name, err)
	}
	return &Client{User: user, Leaf: leaf, ca: ca}, nil
}

// TLS is the client's TLS configuration: its certificate, and servers
// verified against the cluster CA.
func (c *Client) TLS() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.Leaf.CertPEM, c.Leaf.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.Cert)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// RESTConfig is a client-go configuration of the client for the adapter at url.
func (c *Client) RESTConfig(url string) *rest.Config {
	return &rest.Config{Host: url, QPS: -1, TLSClientConfig: rest.TLSClientConfig{
		CAData: c.ca.CertPEM, CertData: c.Leaf.CertPEM, KeyData: c.Leaf.KeyPEM}}
}

// BuildForesight builds foresight-adapter from the working tree at root
// into out (niced: the machine is shared).
func BuildForesight(root, out string) error {
	return GoBuild(root, "-o", out, "./adapter/cmd/foresight-adapter")
}

// BuildPeer builds prometheus-adapter v0.12.0 from hack/peer-adapter into out.
func BuildPeer(root, out string) error {
	return GoBuild(filepath.Join(root, "hack", "peer-adapter"), "-o", out, "sigs.k8s.io/prometheus-adapter/cmd/adapter")
}

// GoBuild runs `nice go build args...` in dir.
func GoBuild(dir string, args ...string) error {
	cmd := exec.Command("nice", append([]string{"go", "build"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", strings.Join(args, " "), dir, err, out)
	}
	return nil
}
