// Package cluster runs a Kubernetes control plane on loopback without
// containers: etcd, kube-apiserver with the aggregator's front-proxy
// (requestheader) certificates, and optionally kube-controller-manager with
// the HPA controller on a short sync period. There is no kubelet and no
// scheduler: pods stay Pending, which External AverageValue HPAs do not need.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/internal/testharness/procs"
)

// Options configure a control plane.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and kubectl.
	BinDir string
	// Dir is the working directory: certificates, kubeconfigs, etcd data, logs.
	Dir string
	// ControllerManager starts kube-controller-manager with the HPA,
	// Deployment, ReplicaSet and ServiceAccount controllers; without it the
	// cluster is etcd and kube-apiserver only (authentication and authorization).
	ControllerManager bool
	// HPASyncPeriod is the HPA controller's sync period.
	HPASyncPeriod time.Duration
}

// Cluster is a running control plane.
type Cluster struct {
	// Dir is the working directory; logs are in Dir/logs.
	Dir string
	// LogDir holds one log file per process.
	LogDir string
	// BinDir holds the Kubernetes binaries.
	BinDir string
	// Server is the apiserver's URL.
	Server string
	// AdminKubeconfig is a kubeconfig of a system:masters user.
	AdminKubeconfig string
	// Admin is a client of a system:masters user.
	Admin kubernetes.Interface
	// AdminConfig is Admin's REST config.
	AdminConfig *rest.Config
	// CAFile is the cluster CA, which signs the apiserver's serving certificate.
	CAFile string
	// CA is the cluster CA: the apiserver trusts the client certificates it signs.
	CA *pki.CA

	procs []*procs.Proc
}

// Start starts etcd, kube-apiserver and, with o.ControllerManager,
// kube-controller-manager, and waits until the apiserver is ready and the HPA
// controller runs. On error the processes already started are stopped.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	c := &Cluster{Dir: o.Dir, LogDir: filepath.Join(o.Dir, "logs"), BinDir: o.BinDir}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	for _, d := range []string{c.LogDir, filepath.Join(o.Dir, "pki"), filepath.Join(o.Dir, "etcd")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cluster dir: %w", err)
		}
	}
	p, err := writePKI(filepath.Join(o.Dir, "pki"))
	if err != nil {
		return nil, err
	}
	c.CAFile, c.CA = p.caFile, p.ca

	etcdURL, err := c.startEtcd(ctx, filepath.Join(o.Dir, "etcd"))
	if err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx, p, etcdURL); err != nil {
		return nil, err
	}
	if o.ControllerManager {
		if err := c.startControllerManager(ctx, p, o.HPASyncPeriod); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Stop stops every process, last started first.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].Stop(10 * time.Second)
	}
	c.procs = nil
}

// Bin returns the path of the Kubernetes binary name.
func (c *Cluster) Bin(name string) string { return filepath.Join(c.BinDir, name) }

// files are the PKI files of the control plane.
type files struct {
	caFile                      string
	apiserverCert, apiserverKey string
	frontProxyCA                string
	proxyClientCert, proxyKey   string
	saKey, saPub                string
	adminCert, adminKey         string
	kcmCert, kcmKey             string
	ca                          *pki.CA
}

func writePKI(dir string) (*files, error) {
	f := &files{}
	ca, err := pki.NewCA("e2e-cluster-ca")
	if err != nil {
		return nil, err
	}
	f.ca = ca
	if f.caFile, err = ca.WriteCert(dir, "ca"); err != nil {
		return nil, err
	}
	fp, err := pki.NewCA("e2e-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	if f.frontProxyCA, err = fp.WriteCert(dir, "front-proxy-ca"); err != nil {
		return nil, err
	}
	leaves := []struct {
		ca        *pki.CA
		name      string
		opts      pki.LeafOptions
		cert, key *string
	}{
		{ca, "apiserver", pki.LeafOptions{CommonName: "kube-apiserver", Server: true,
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
			IPs:      []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)}}, &f.apiserverCert, &f.apiserverKey},
		{fp, "front-proxy-client", pki.LeafOptions{CommonName: "front-proxy-client"}, &f.proxyClientCert, &f.proxyKey},
		{ca, "admin", pki.LeafOptions{CommonName: "e2e-admin", Organizations: []string{"system:masters"}}, &f.adminCert, &f.adminKey},
		{ca, "kube-controller-manager", pki.LeafOptions{CommonName: "system:kube-controller-manager"}, &f.kcmCert, &f.kcmKey},
	}
	for _, l := range leaves {
		leaf, err := l.ca.Sign(l.opts)
		if err != nil {
			return nil, err
		}
		if *l.cert, *l.key, err = leaf.Write(dir, l.name); err != nil {
			return nil, err
		}
	}
	if f.saKey, f.saPub, err = pki.WriteKeyPair(dir, "service-account"); err != nil {
		return nil, err
	}
	return f, nil
}

func (c *Cluster) start(name string, args ...string) (*procs.Proc, error) {
	p, err := procs.Start(name, c.LogDir, c.Bin(name), args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// portAttempts is how often a process is started on new free ports when the
// one it was given was taken before it bound it (procs.PortTaken).
const portAttempts = 3

// startEtcd starts etcd on free ports, with an empty store in dataDir.
func (c *Cluster) startEtcd(ctx context.Context, dataDir string) (url string, err error) {
	err = procs.RetryPortTaken(portAttempts, func() error {
		if err := os.RemoveAll(dataDir); err != nil {
			return err
		}
		var err error
		url, err = c.startEtcdOnce(ctx, dataDir)
		return err
	})
	return url, err
}

func (c *Cluster) startEtcdOnce(ctx context.Context, dataDir string) (string, error) {
	clientPort, err := procs.FreePort()
	if err != nil {
		return "", err
	}
	peerPort, err := procs.FreePort()
	if err != nil {
		return "", err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := c.start("etcd",
		"--name=e2e", "--data-dir="+dataDir,
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=e2e="+peerURL, "--log-level=warn",
		// A throwaway store: durability buys nothing and fsyncs are slow on a busy machine.
		"--unsafe-no-fsync",
	)
	if err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return clientURL, p.WaitHTTP(wctx, clientURL+"/health", nil)
}

// startAPIServer starts kube-apiserver on a free port, on etcdURL.
func (c *Cluster) startAPIServer(ctx context.Context, f *files, etcdURL string) error {
	return procs.RetryPortTaken(portAttempts, func() error { return c.startAPIServerOnce(ctx, f, etcdURL) })
}

func (c *Cluster) startAPIServerOnce(ctx context.Context, f *files, etcdURL string) error {
	port, err := procs.FreePort()
	if err != nil {
		return err
	}
	c.Server = "https://127.0.0.1:" + strconv.Itoa(port)
	p, err := c.start("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		// Endpoints cannot hold a loopback address: do not publish the kubernetes Service's.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+f.apiserverCert, "--tls-private-key-file="+f.apiserverKey,
		"--client-ca-file="+f.caFile,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+f.saPub,
		"--service-account-signing-key-file="+f.saKey,
		// Aggregation: the front-proxy client certificate the aggregator presents to
		// extension apiservers, and the CA and headers they trust it by.
		"--requestheader-client-ca-file="+f.frontProxyCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-uid-headers=X-Remote-Uid",
		"--proxy-client-cert-file="+f.proxyClientCert,
		"--proxy-client-key-file="+f.proxyKey,
		"--enable-aggregator-routing=false",
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(f.caFile)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := p.WaitHTTP(wctx, c.Server+"/readyz", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err != nil {
		return err
	}
	c.AdminKubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := writeKubeconfig(c.AdminKubeconfig, c.Server, caPEM, "e2e-admin", &clientcmdapi.AuthInfo{ClientCertificate: f.adminCert, ClientKey: f.adminKey}); err != nil {
		return err
	}
	if c.AdminConfig, err = clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig); err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	c.AdminConfig.QPS, c.AdminConfig.Burst = 50, 100
	if c.Admin, err = kubernetes.NewForConfig(c.AdminConfig); err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	return nil
}

func (c *Cluster) startControllerManager(ctx context.Context, f *files, hpaSync time.Duration) error {
	caPEM, err := os.ReadFile(f.caFile)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	kubeconfig := filepath.Join(c.Dir, "kube-controller-manager.kubeconfig")
	if err := writeKubeconfig(kubeconfig, c.Server, caPEM, "kube-controller-manager", &clientcmdapi.AuthInfo{ClientCertificate: f.kcmCert, ClientKey: f.kcmKey}); err != nil {
		return err
	}
	p, err := c.start("kube-controller-manager",
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--leader-elect=false",
		// Each controller runs as its own service account (the HPA controller as
		// kube-system/horizontal-pod-autoscaler), so RBAC is exercised as in a real cluster.
		"--use-service-account-credentials=true",
		// The HPA controller, and what makes Deployment.status.replicas real
		// (pods are created and stay Pending: there is no scheduler or kubelet).
		"--controllers=horizontal-pod-autoscaler-controller,deployment-controller,replicaset-controller,serviceaccount-controller",
		"--horizontal-pod-autoscaler-sync-period="+hpaSync.String(),
		"--v=2",
	)
	if err != nil {
		return err
	}
	// The HPA controller is running once its service account exists: the
	// controller manager creates it when it starts the controller.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		_, err := c.Admin.CoreV1().ServiceAccounts("kube-system").Get(wctx, "horizontal-pod-autoscaler", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if exited, perr := p.Exited(); exited {
			return fmt.Errorf("kube-controller-manager exited (%w); log %s:\n%s", perr, p.LogFile, p.Tail(3000))
		}
		if !apierrors.IsNotFound(err) && wctx.Err() == nil {
			return fmt.Errorf("wait for the HPA controller: %w", err)
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("HPA controller did not start (no kube-system/horizontal-pod-autoscaler service account); log %s:\n%s", p.LogFile, p.Tail(3000))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ServiceAccountKubeconfig writes a kubeconfig that authenticates as the
// service account namespace/name with a token from the TokenRequest API, and
// returns its path.
func (c *Cluster) ServiceAccountKubeconfig(ctx context.Context, namespace, name string, ttl time.Duration) (string, error) {
	secs := int64(ttl / time.Second)
	tr, err := c.Admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", namespace, name, err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return "", fmt.Errorf("read CA: %w", err)
	}
	path := filepath.Join(c.Dir, strings.ReplaceAll(namespace+"-"+name, "/", "-")+".kubeconfig")
	return path, writeKubeconfig(path, c.Server, caPEM, namespace+"-"+name, &clientcmdapi.AuthInfo{Token: tr.Status.Token})
}

func writeKubeconfig(path, server string, caPEM []byte, user string, auth *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = auth
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
