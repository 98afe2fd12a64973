package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// benchUser is the identity of the benchmark's clients: a client certificate
// of the cluster CA, allowed by RBAC to read external metrics, as an HPA
// controller is.
const benchUser = "bench-hpa"

// cluster is etcd and kube-apiserver on loopback: the delegated
// authentication and authorization that both adapters use.
type cluster struct {
	dir    string
	logDir string
	server string
	// adminKubeconfig authenticates as system:masters; both adapters run with it.
	adminKubeconfig string
	// caPEM is the cluster CA, which signs every certificate of the run.
	caPEM []byte
	ca    *certAuthority
	// client is the benchmark clients' certificate (user benchUser).
	client *keyPair
	procs  []*proc
}

// startCluster starts etcd and kube-apiserver from binDir and grants
// benchUser read access to the external metrics API.
func startCluster(ctx context.Context, binDir, dir string) (_ *cluster, err error) {
	c := &cluster{dir: dir, logDir: filepath.Join(dir, "logs")}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	for _, d := range []string{c.logDir, filepath.Join(dir, "pki"), filepath.Join(dir, "etcd")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cluster dir: %w", err)
		}
	}
	if c.ca, err = newCA("bench-adapter-ca"); err != nil {
		return nil, err
	}
	c.caPEM = c.ca.certPEM
	pkiDir := filepath.Join(dir, "pki")
	caFile := filepath.Join(pkiDir, "ca.crt")
	if err := os.WriteFile(caFile, c.caPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write CA: %w", err)
	}
	serving, err := c.ca.sign(leafOptions{cn: "kube-apiserver", server: true})
	if err != nil {
		return nil, err
	}
	servingCert, servingKey, err := serving.write(pkiDir, "apiserver")
	if err != nil {
		return nil, err
	}
	admin, err := c.ca.sign(leafOptions{cn: "bench-admin", orgs: []string{"system:masters"}})
	if err != nil {
		return nil, err
	}
	adminCert, adminKey, err := admin.write(pkiDir, "admin")
	if err != nil {
		return nil, err
	}
	if c.client, err = c.ca.sign(leafOptions{cn: benchUser}); err != nil {
		return nil, err
	}
	// The aggregator's front proxy: not on the benchmark's request path (clients
	// talk to the adapters directly), but it completes the
	// extension-apiserver-authentication ConfigMap the adapters read.
	frontProxy, err := newCA("bench-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	frontProxyCA := filepath.Join(pkiDir, "front-proxy-ca.crt")
	if err := os.WriteFile(frontProxyCA, frontProxy.certPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write front-proxy CA: %w", err)
	}
	proxyClient, err := frontProxy.sign(leafOptions{cn: "front-proxy-client"})
	if err != nil {
		return nil, err
	}
	proxyCert, proxyKey, err := proxyClient.write(pkiDir, "front-proxy-client")
	if err != nil {
		return nil, err
	}
	saKey, err := c.ca.sign(leafOptions{cn: "service-accounts"})
	if err != nil {
		return nil, err
	}
	saCert, saKeyFile, err := saKey.write(pkiDir, "service-account")
	if err != nil {
		return nil, err
	}

	etcdPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := c.start(filepath.Join(binDir, "etcd"), "etcd",
		"--name=bench", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=bench="+peerURL, "--log-level=warn", "--unsafe-no-fsync")
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := etcd.waitHTTP(wctx, etcdURL+"/health", nil); err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.server = "https://127.0.0.1:" + strconv.Itoa(port)
	api, err := c.start(filepath.Join(binDir, "kube-apiserver"), "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+servingCert, "--tls-private-key-file="+servingKey,
		"--client-ca-file="+caFile,
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saCert, "--service-account-signing-key-file="+saKeyFile,
		"--requestheader-client-ca-file="+frontProxyCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+proxyCert, "--proxy-client-key-file="+proxyKey,
		"--profiling=false", "--v=1")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	actx, cancel2 := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel2()
	if err := api.waitHTTP(actx, c.server+"/readyz", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err != nil {
		return nil, err
	}
	c.adminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: c.server, CertificateAuthorityData: c.caPEM}
	kc.AuthInfos["bench-admin"] = &clientcmdapi.AuthInfo{ClientCertificate: adminCert, ClientKey: adminKey}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench-admin"}
	kc.CurrentContext = "bench"
	if err := clientcmd.WriteToFile(*kc, c.adminKubeconfig); err != nil {
		return nil, fmt.Errorf("write admin kubeconfig: %w", err)
	}
	if err := c.grantBenchUser(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *cluster) start(bin, name string, args ...string) (*proc, error) {
	p, err := startProc(name, c.logDir, bin, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// stop stops kube-apiserver and etcd.
func (c *cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	c.procs = nil
}

// grantBenchUser binds benchUser to a ClusterRole that reads external
// metrics and the adapters' /metrics: what an HPA controller (and a scraper) may do.
func (c *cluster) grantBenchUser(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.adminKubeconfig)
	if err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-external-metrics-reader"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"external.metrics.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
			{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
		},
	}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-external-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: benchUser}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ClusterRoleBinding %s: %w", binding.Name, err)
	}
	return nil
}

// clientTLS is the TLS configuration of the benchmark's clients: benchUser's
// client certificate, the adapters' serving certificates verified against the
// cluster CA.
func (c *cluster) clientTLS() (*tls.Config, error) {
	cert, err := tls.X509KeyPair(c.client.certPEM, c.client.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// certAuthority signs the certificates of one run.
type certAuthority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// keyPair is a PEM-encoded certificate and its PKCS#8 key.
type keyPair struct {
	certPEM, keyPEM []byte
}

// leafOptions describe a leaf certificate: a client certificate (user cn,
// groups orgs) or, with server set, a serving certificate for 127.0.0.1 and localhost.
type leafOptions struct {
	cn     string
	orgs   []string
	server bool
}

func newCA(cn string) (*certAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	return &certAuthority{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func (ca *certAuthority) sign(o leafOptions) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", o.cn, err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("serial of %s: %w", o.cn, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: o.cn, Organization: o.orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if o.server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", o.cn, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", o.cn, err)
	}
	return &keyPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// write writes the pair to dir/name.crt and dir/name.key and returns both paths.
func (k *keyPair) write(dir, name string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, k.certPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write %s: %w", certFile, err)
	}
	if err := os.WriteFile(keyFile, k.keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write %s: %w", keyFile, err)
	}
	return certFile, keyFile, nil
}
