package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
)

func TestServingCertVerifiesForItsNamesOnly(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Sign(LeafOptions{CommonName: "svc", Server: true, DNSNames: []string{"foresight-adapter.foresight.svc"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM); err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	block, _ := pem.Decode(leaf.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, name := range []string{"foresight-adapter.foresight.svc", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.svc"}); err == nil {
		t.Error("certificate verified for a name it does not hold")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("serving certificate verified as a client certificate")
	}
}

func TestClientCertCarriesUserAndGroups(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Sign(LeafOptions{CommonName: "e2e-admin", Organizations: []string{"system:masters"}})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(leaf.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "e2e-admin" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:masters" {
		t.Errorf("subject = %v", cert.Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify: %v", err)
	}
}

func TestServerPairServesHostWithItsOwnKey(t *testing.T) {
	crt, key := ServerPair(t, "web.shop")
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "web.shop" || len(cert.DNSNames) != 1 || cert.DNSNames[0] != "web.shop" {
		t.Errorf("subject %v, names %v, want web.shop", cert.Subject, cert.DNSNames)
	}
	if err := cert.VerifyHostname("web.shop"); err != nil {
		t.Error(err)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("extended key usage %v, want server authentication only", cert.ExtKeyUsage)
	}
	otherCrt, otherKey := ServerPair(t, "web.shop")
	if _, err := tls.X509KeyPair(crt, otherKey); err == nil {
		t.Error("a second pair's key matches the first certificate")
	}
	if bytes.Equal(crt, otherCrt) {
		t.Error("two calls returned the same certificate")
	}
}
