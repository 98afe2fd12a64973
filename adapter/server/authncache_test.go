package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/user"
)

// countingAuthenticator authenticates as the X-Remote-User header, else the
// certificate's common name, else the bearer token; it counts its calls and
// refuses when fail is set.
type countingAuthenticator struct {
	calls int
	fail  bool
}

func (a *countingAuthenticator) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	a.calls++
	if a.fail {
		return nil, false, nil
	}
	name := r.Header.Get("X-Remote-User")
	if name == "" && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		name = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	if name == "" {
		name = r.Header.Get("Authorization")
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: name}}, true, nil
}

func testCert(t *testing.T, cn string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCertAuthCache(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	proxy := testCert(t, "front-proxy", now.Add(24*time.Hour))
	other := testCert(t, "other-client", now.Add(24*time.Hour))
	expiring := testCert(t, "expiring", now.Add(14*time.Second)) // 3 s after the TTL step below
	inner := &countingAuthenticator{}
	headers := &authenticatorfactory.RequestHeaderConfig{
		UsernameHeaders:     headerrequest.StaticStringSlice{"X-Custom-User"},
		GroupHeaders:        headerrequest.StaticStringSlice{"X-Custom-Group"},
		ExtraHeaderPrefixes: headerrequest.StaticStringSlice{"X-Custom-Extra-"},
	}
	c := newCertAuthCache(inner, headers, 10*time.Second, 3)
	c.now = func() time.Time { return now }

	request := func(cert *x509.Certificate, header ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/apis/external.metrics.k8s.io/v1beta1/namespaces/a/m", nil)
		if cert != nil {
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		}
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Add(header[i], header[i+1])
		}
		return r
	}
	auth := func(r *http.Request, wantUser string, wantCalls int) {
		t.Helper()
		resp, ok, err := c.AuthenticateRequest(r)
		if err != nil || !ok || resp.User.GetName() != wantUser {
			t.Fatalf("authenticated as %v (ok %v, err %v), want %q", resp, ok, err, wantUser)
		}
		if inner.calls != wantCalls {
			t.Fatalf("inner authenticator called %d times, want %d", inner.calls, wantCalls)
		}
	}

	// The same chain and headers: verified once.
	auth(request(proxy, "X-Remote-User", "system:kube-controller-manager"), "system:kube-controller-manager", 1)
	auth(request(proxy, "X-Remote-User", "system:kube-controller-manager", "User-Agent", "x"), "system:kube-controller-manager", 1)
	// Any header authentication reads makes another entry: another user through
	// the same proxy, a configured group or extra header, a bearer token.
	auth(request(proxy, "X-Remote-User", "alice"), "alice", 2)
	auth(request(proxy, "X-Remote-User", "alice", "X-Custom-Group", "admins"), "alice", 3)
	auth(request(proxy, "X-Remote-User", "alice", "x-custom-extra-scopes", "a"), "alice", 4)
	auth(request(other, "Authorization", "Bearer t"), "other-client", 5)
	// Another certificate is another entry.
	auth(request(other), "other-client", 6)

	// Past the TTL the chain is verified again.
	now = now.Add(11 * time.Second)
	auth(request(proxy, "X-Remote-User", "system:kube-controller-manager"), "system:kube-controller-manager", 7)

	// Never past the leaf certificate's expiry.
	auth(request(expiring), "expiring", 8)
	auth(request(expiring), "expiring", 8)
	now = now.Add(4 * time.Second)
	auth(request(expiring), "expiring", 9)

	// Requests without a client certificate are never cached.
	auth(request(nil, "Authorization", "Bearer token"), "Bearer token", 10)
	auth(request(nil, "Authorization", "Bearer token"), "Bearer token", 11)

	// Failures are not cached, and a failure does not hide behind an earlier success of another key.
	inner.fail = true
	for i := range 2 {
		if _, ok, _ := c.AuthenticateRequest(request(testCert(t, "intruder", now.Add(time.Hour)))); ok {
			t.Fatalf("attempt %d: a refused certificate authenticated", i)
		}
	}
	if inner.calls != 13 {
		t.Fatalf("refusals: inner called %d times, want 13", inner.calls)
	}
	if len(c.entries) > c.max {
		t.Fatalf("cache holds %d entries, bound %d", len(c.entries), c.max)
	}
}
