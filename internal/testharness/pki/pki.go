// Package pki generates the certificates and keys of a throwaway loopback
// Kubernetes control plane: a cluster CA with the apiserver's serving and the
// clients' certificates, a front-proxy CA with the aggregator's proxy client
// certificate, the service-account signing key, and a separate CA for the
// metrics adapter's serving certificate (what an APIService's caBundle holds).
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// validity is how long every generated certificate is valid: an e2e run lasts minutes.
const validity = 24 * time.Hour

// CA is a certificate authority that signs leaf certificates.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is its private key.
	Key *ecdsa.PrivateKey
	// CertPEM is Cert in PEM form.
	CertPEM []byte
}

// NewCA returns a self-signed CA named cn.
func NewCA(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca %s: generate key: %w", cn, err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca %s: sign: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca %s: parse: %w", cn, err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}, nil
}

// Leaf is a signed certificate and its key, both PEM-encoded.
type Leaf struct {
	// CertPEM is the certificate.
	CertPEM []byte
	// KeyPEM is the PKCS#8 private key.
	KeyPEM []byte
}

// LeafOptions describe a leaf certificate.
type LeafOptions struct {
	// CommonName is the subject's CN (the user name of a client certificate).
	CommonName string
	// Organizations are the subject's O (the groups of a client certificate).
	Organizations []string
	// DNSNames are the serving names of a server certificate, or a client's DNS names (an
	// identity, as a SPIFFE ID in URIs is).
	DNSNames []string
	// IPs are the serving IP addresses.
	IPs []net.IP
	// URIs are URI SANs (a workload's SPIFFE ID, say), parsed; a URI that does not parse
	// fails Sign.
	URIs []string
	// Server makes a serving certificate; otherwise a client certificate.
	Server bool
}

// Sign issues a leaf certificate.
func (ca *CA) Sign(o LeafOptions) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cert %s: generate key: %w", o.CommonName, err)
	}
	usage := x509.ExtKeyUsageClientAuth
	if o.Server {
		usage = x509.ExtKeyUsageServerAuth
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	uris := make([]*url.URL, len(o.URIs))
	for i, u := range o.URIs {
		if uris[i], err = url.Parse(u); err != nil {
			return nil, fmt.Errorf("cert %s: %w", o.CommonName, err)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: o.CommonName, Organization: o.Organizations},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
		URIs:         uris,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("cert %s: sign: %w", o.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("cert %s: marshal key: %w", o.CommonName, err)
	}
	return &Leaf{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER)}, nil
}

// ServerPair returns the PEM certificate and PKCS#8 key of a serving
// certificate for host, signed by a new CA that nothing else trusts; it fails
// tb on error. It serves tests that need a valid certificate and key (two
// calls also give a key that does not match the other's certificate) and do
// not verify the chain; a test that does keeps the CA from NewCA and Signs.
func ServerPair(tb testing.TB, host string) (certPEM, keyPEM []byte) {
	tb.Helper()
	ca, err := NewCA(host + "-ca")
	if err != nil {
		tb.Fatal(err)
	}
	l, err := ca.Sign(LeafOptions{CommonName: host, DNSNames: []string{host}, Server: true})
	if err != nil {
		tb.Fatal(err)
	}
	return l.CertPEM, l.KeyPEM
}

// Write writes the leaf to dir/name.crt and dir/name.key and returns both paths.
func (l *Leaf) Write(dir, name string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, l.CertPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write %s: %w", certFile, err)
	}
	if err := os.WriteFile(keyFile, l.KeyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write %s: %w", keyFile, err)
	}
	return certFile, keyFile, nil
}

// WriteCert writes the CA certificate to dir/name.crt and returns its path.
func (ca *CA) WriteCert(dir, name string) (string, error) {
	p := filepath.Join(dir, name+".crt")
	if err := os.WriteFile(p, ca.CertPEM, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", p, err)
	}
	return p, nil
}

// WriteKeyPair writes a fresh ECDSA key pair for signing service-account
// tokens to dir/name.key (PKCS#8) and dir/name.pub (PKIX) and returns both paths.
func WriteKeyPair(dir, name string) (keyFile, pubFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("key pair %s: %w", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("key pair %s: %w", name, err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("key pair %s: %w", name, err)
	}
	keyFile, pubFile = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if err := os.WriteFile(keyFile, pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return "", "", fmt.Errorf("write %s: %w", keyFile, err)
	}
	if err := os.WriteFile(pubFile, pemBlock("PUBLIC KEY", pubDER), 0o600); err != nil {
		return "", "", fmt.Errorf("write %s: %w", pubFile, err)
	}
	return keyFile, pubFile, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n, nil
}
