package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
)

// handshake runs a TLS handshake between the server configuration and a client trusting
// roots and presenting cert (nil: none), and returns the serial of the server's leaf or the
// server's error.
func handshake(t *testing.T, server *tls.Config, roots *x509.CertPool, cert *tls.Certificate) (string, error) {
	t.Helper()
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	client := &tls.Config{RootCAs: roots, ServerName: "xds.test"}
	if cert != nil {
		client.Certificates = []tls.Certificate{*cert}
	}
	done := make(chan error, 1)
	srv := tls.Server(sc, server)
	go func() {
		err := srv.Handshake()
		if err == nil {
			// TLS 1.3 clients learn of a refused certificate on their first read.
			_, err = srv.Write([]byte{1})
		}
		done <- err
	}()
	cl := tls.Client(cc, client)
	cerr := cl.Handshake()
	if cerr == nil {
		_, cerr = io.ReadFull(cl, make([]byte, 1))
	}
	serr := <-done
	if serr != nil {
		return "", serr
	}
	if cerr != nil {
		return "", cerr
	}
	return cl.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// serving writes a serving pair for xds.test signed by ca into dir and returns the Files and
// the serial of the leaf.
func serving(t *testing.T, ca *pki.CA, dir string) (Files, string) {
	t.Helper()
	l, err := ca.Sign(pki.LeafOptions{CommonName: "xds.test", DNSNames: []string{"xds.test"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := l.Write(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return Files{CertFile: certFile, KeyFile: keyFile}, c.Leaf.SerialNumber.String()
}

func newCA(t *testing.T, cn string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(cn)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func pool(ca *pki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func clientCert(t *testing.T, ca *pki.CA) *tls.Certificate {
	t.Helper()
	l, err := ca.Sign(pki.LeafOptions{CommonName: "gateway"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// due makes the next handshake look at the files again, as it would a second later.
func (s *Server) due() {
	s.mu.Lock()
	s.checked = time.Time{}
	s.mu.Unlock()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestServesTheRenewedCertificate checks a renewed pair is served once the files change,
// and a pair that does not load leaves the last good one serving.
func TestServesTheRenewedCertificate(t *testing.T) {
	ca := newCA(t, "ca")
	dir := t.TempDir()
	f, first := serving(t, ca, dir)
	s, err := New(f, quiet())
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	if got, err := handshake(t, cfg, pool(ca), nil); err != nil || got != first {
		t.Fatalf("serial %s, %v; want %s", got, err, first)
	}

	// A renewal writes a new pair to the same paths.
	renewedDir := t.TempDir()
	rf, renewed := serving(t, ca, renewedDir)
	for src, dst := range map[string]string{rf.CertFile: f.CertFile, rf.KeyFile: f.KeyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		future := time.Now().Add(time.Minute)
		if err := os.Chtimes(dst, future, future); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := handshake(t, cfg, pool(ca), nil); err != nil || got != first {
		t.Fatalf("within a second of the last look: serial %s, %v; want the first %s still", got, err, first)
	}
	s.due()
	if got, err := handshake(t, cfg, pool(ca), nil); err != nil || got != renewed {
		t.Fatalf("after the renewal: serial %s, %v; want %s", got, err, renewed)
	}

	// A half-written key: the renewed pair keeps serving.
	if err := os.WriteFile(f.KeyFile, []byte("-----BEGIN PRIVATE KEY-----\ntruncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.due()
	if got, err := handshake(t, cfg, pool(ca), nil); err != nil || got != renewed {
		t.Fatalf("after a broken key: serial %s, %v; want %s still", got, err, renewed)
	}
}

// TestClientCertificatesAreVerifiedAgainstTheCurrentBundle checks that with a client CA file
// a client needs a certificate of one of its CAs, and that a replaced bundle decides from then on.
func TestClientCertificatesAreVerifiedAgainstTheCurrentBundle(t *testing.T) {
	serverCA, clientCA, otherCA := newCA(t, "server-ca"), newCA(t, "client-ca"), newCA(t, "other-ca")
	dir := t.TempDir()
	f, _ := serving(t, serverCA, dir)
	caFile, err := clientCA.WriteCert(dir, "clients")
	if err != nil {
		t.Fatal(err)
	}
	f.ClientCAFile = caFile
	s, err := New(f, quiet())
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	roots := pool(serverCA)
	if _, err := handshake(t, cfg, roots, clientCert(t, clientCA)); err != nil {
		t.Fatalf("client of the bundle's CA refused: %v", err)
	}
	if _, err := handshake(t, cfg, roots, nil); err == nil {
		t.Fatal("client without a certificate accepted")
	}
	if _, err := handshake(t, cfg, roots, clientCert(t, otherCA)); err == nil {
		t.Fatal("client of another CA accepted")
	}

	if err := os.WriteFile(caFile, otherCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(caFile, future, future); err != nil {
		t.Fatal(err)
	}
	s.due()
	if _, err := handshake(t, cfg, roots, clientCert(t, otherCA)); err != nil {
		t.Fatalf("client of the new bundle's CA refused: %v", err)
	}
	if _, err := handshake(t, cfg, roots, clientCert(t, clientCA)); err == nil {
		t.Fatal("client of the replaced bundle's CA still accepted")
	}
}

// TestNewNamesWhatDoesNotLoad checks each kind of bad file is refused at start with its path.
func TestNewNamesWhatDoesNotLoad(t *testing.T) {
	dir := t.TempDir()
	f, _ := serving(t, newCA(t, "ca"), dir)
	other, _ := serving(t, newCA(t, "ca2"), t.TempDir())
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    Files
		want string
	}{
		{"no key", Files{CertFile: f.CertFile}, "a certificate file and a key file are both needed"},
		{"missing file", Files{CertFile: filepath.Join(dir, "nope.crt"), KeyFile: f.KeyFile}, "nope.crt"},
		{"key of another certificate", Files{CertFile: f.CertFile, KeyFile: other.KeyFile}, "private key does not match public key"},
		{"client CA file without PEM", Files{CertFile: f.CertFile, KeyFile: f.KeyFile, ClientCAFile: notPEM}, notPEM + ": no PEM certificate"},
		{"missing client CA file", Files{CertFile: f.CertFile, KeyFile: f.KeyFile, ClientCAFile: filepath.Join(dir, "none.pem")}, "none.pem"},
	} {
		if _, err := New(tc.f, quiet()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
