// Package tlsfiles serves TLS from PEM files that are replaced while the server runs (a
// Kubernetes Secret mounted as a volume, which cert-manager renews): a certificate chain and
// its key, and optionally the CA bundle that clients' certificates must chain to. The files
// are read again when one of them changes; a set that does not load is logged, and the last
// good one keeps serving.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// recheck is how often, at most, the files are looked at again: at most once a second per
// server, however many handshakes a client starts.
const recheck = time.Second

// Files name the PEM files of a TLS server.
type Files struct {
	// CertFile is the certificate chain, leaf first.
	CertFile string
	// KeyFile is the private key of the leaf.
	KeyFile string
	// ClientCAFile, when set, is the bundle of CAs a client's certificate must chain to;
	// clients without one are refused. Empty: clients are not asked for a certificate.
	ClientCAFile string
}

// Server holds the loaded files and reloads them when they change.
type Server struct {
	files Files
	log   *slog.Logger

	mu      sync.Mutex
	checked time.Time
	stamps  [3]stamp
	cert    *tls.Certificate
	clients *x509.CertPool
}

// stamp tells whether a file changed: a Secret volume replaces its files through a symlink,
// which changes the modification time and usually the size of what the path resolves to.
type stamp struct {
	mod  time.Time
	size int64
}

// New loads the files; an error names the file that does not load and why.
func New(f Files, log *slog.Logger) (*Server, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("tls: a certificate file and a key file are both needed")
	}
	s := &Server{files: f, log: log}
	stamps, err := s.stat()
	if err != nil {
		return nil, err
	}
	cert, clients, err := s.load()
	if err != nil {
		return nil, err
	}
	s.stamps, s.cert, s.clients, s.checked = stamps, cert, clients, time.Now()
	return s, nil
}

// nextProtos are the application protocols a Config negotiates (ALPN), preferred first:
// HTTP/2, which gRPC requires, then HTTP/1.1.
var nextProtos = []string{"h2", "http/1.1"}

// Config is a server configuration that serves the current certificate and, with a client CA
// file, requires a client certificate and verifies it against the current bundle, as
// crypto/tls verifies (the connection state's VerifiedChains hold the verified chain). It
// negotiates h2, then http/1.1: give it to credentials.NewTLS or an http.Server.
func (s *Server) Config() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certificate, NextProtos: nextProtos}
	if s.files.ClientCAFile != "" {
		// Each handshake gets the bundle loaded last, which a static ClientCAs pool would
		// not follow.
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			_, pool := s.current()
			return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certificate, NextProtos: nextProtos,
				ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}, nil
		}
	}
	return c
}

// NotAfter is when the certificate served now expires (after the files were looked at again
// if due): a renewal that keeps failing shows here before clients refuse the certificate.
func (s *Server) NotAfter() time.Time {
	cert, _ := s.current()
	return cert.Leaf.NotAfter
}

// certificate is the current certificate, after the files were looked at again if due.
func (s *Server) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cert, _ := s.current()
	return cert, nil
}

// current returns the certificate and client CAs to use, reloading the files first when
// one of them changed since they were last looked at (at most once per recheck).
func (s *Server) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checked) < recheck {
		return s.cert, s.clients
	}
	s.checked = time.Now()
	stamps, err := s.stat()
	if err != nil {
		s.log.Error("TLS files unreadable; the last good certificate keeps serving", "error", err)
		return s.cert, s.clients
	}
	if stamps == s.stamps {
		return s.cert, s.clients
	}
	cert, clients, err := s.load()
	if err != nil {
		// The files may be half replaced: the next look, a second later, tries again.
		s.log.Error("TLS files changed but do not load; the last good certificate keeps serving", "error", err)
		return s.cert, s.clients
	}
	s.stamps, s.cert, s.clients = stamps, cert, clients
	s.log.Info("TLS files reloaded", "cert", s.files.CertFile, "notAfter", cert.Leaf.NotAfter)
	return s.cert, s.clients
}

// paths are the files in stamp order; the client CA file may be empty.
func (s *Server) paths() [3]string {
	return [3]string{s.files.CertFile, s.files.KeyFile, s.files.ClientCAFile}
}

func (s *Server) stat() ([3]stamp, error) {
	var out [3]stamp
	for i, p := range s.paths() {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("tls: %w", err)
		}
		out[i] = stamp{fi.ModTime(), fi.Size()}
	}
	return out, nil
}

// load reads the key pair and the client CAs.
func (s *Server) load() (*tls.Certificate, *x509.CertPool, error) {
	f := s.files
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: certificate %s with key %s: %w", f.CertFile, f.KeyFile, err)
	}
	if f.ClientCAFile == "" {
		return &cert, nil, nil
	}
	pem, err := os.ReadFile(f.ClientCAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("tls: client CA file %s: no PEM certificate in it", f.ClientCAFile)
	}
	return &cert, pool, nil
}
