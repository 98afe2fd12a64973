package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	unionauth "k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
)

// testCA is a certificate authority for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serials struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serials.Lock()
	defer serials.Unlock()
	serials.n++
	return big.NewInt(serials.n)
}

// newTestCA returns a self-signed CA valid until notAfter; with parent, an
// intermediate signed by parent.
func newTestCA(t testing.TB, cn string, parent *testCA, notAfter time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	return &testCA{cert: parent.sign(t, tmpl, key), key: key}
}

// issue returns a client certificate for cn signed by ca (self-signed when ca is nil).
func (ca *testCA) issue(t testing.TB, cn string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"clients"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	return ca.sign(t, tmpl, key)
}

// sign returns the certificate of tmpl for key, signed by ca (self-signed when ca is nil).
func (ca *testCA) sign(t testing.TB, tmpl *x509.Certificate, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	signer, signerKey := tmpl, key
	if ca != nil {
		signer, signerKey = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func (ca *testCA) provider(t testing.TB, name string) dynamiccertificates.CAContentProvider {
	t.Helper()
	p, err := dynamiccertificates.NewStaticCAContent(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// authnSetup is delegated authentication as the library builds it
// (authenticatorfactory.DelegatingAuthenticatorConfig.New): the front proxy's
// request headers, client certificates, bearer and websocket tokens, the
// authenticated group, anonymous requests, with tokens from a table the
// test changes instead of a TokenReview.
type authnSetup struct {
	frontProxyCA, clientCA *testCA
	headers                *authenticatorfactory.RequestHeaderConfig
	full                   authenticator.Request

	mu     sync.Mutex
	tokens map[string]string // token -> user
}

func newAuthnSetup(t testing.TB, frontProxyCA *testCA) *authnSetup {
	t.Helper()
	s := &authnSetup{frontProxyCA: frontProxyCA, clientCA: newTestCA(t, "client-ca", nil, time.Now().Add(24*time.Hour)),
		tokens: map[string]string{}}
	s.headers = &authenticatorfactory.RequestHeaderConfig{
		UsernameHeaders:     headerrequest.StaticStringSlice{"X-Remote-User"},
		UIDHeaders:          headerrequest.StaticStringSlice{"X-Remote-Uid"},
		GroupHeaders:        headerrequest.StaticStringSlice{"X-Remote-Group"},
		ExtraHeaderPrefixes: headerrequest.StaticStringSlice{"X-Remote-Extra-"},
		CAContentProvider:   frontProxyCA.provider(t, "front-proxy-ca"),
		AllowedClientNames:  headerrequest.StaticStringSlice{"front-proxy"},
	}
	tokens := authenticator.TokenFunc(func(_ context.Context, token string) (*authenticator.Response, bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		name, ok := s.tokens[token]
		if !ok {
			return nil, false, errors.New("token not found")
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: name}}, true, nil
	})
	clientCA := s.clientCA.provider(t, "client-ca")
	s.full = unionauth.NewFailOnError(
		group.NewAuthenticatedGroupAdder(unionauth.New(
			headerrequest.NewDynamicVerifyOptionsSecure(s.headers.CAContentProvider.VerifyOptions, s.headers.AllowedClientNames,
				s.headers.UsernameHeaders, s.headers.UIDHeaders, s.headers.GroupHeaders, s.headers.ExtraHeaderPrefixes),
			x509request.NewDynamic(clientCA.VerifyOptions, x509request.CommonNameUserConversion),
			bearertoken.New(tokens), websocket.NewProtocolAuthenticator(tokens))),
		anonymous.NewAuthenticator(nil))
	return s
}

func (s *authnSetup) setToken(token, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		delete(s.tokens, token)
	} else {
		s.tokens[token] = name
	}
}

// leanTestChain is the fast path's lean chain with the setup's
// authentication, allowing every authenticated request; its handler answers
// with the user's name.
func leanTestChain(t testing.TB, s *authnSetup) http.Handler {
	t.Helper()
	c := genericapiserver.NewConfig(apiserver.Codecs)
	c.Authentication.Authenticator = s.full
	c.Authentication.RequestHeaderConfig = s.headers
	c.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	c.RequestInfoResolver = genericapiserver.NewRequestInfoResolver(c)
	c.FeatureGate = utilfeature.DefaultFeatureGate
	return leanChain(genericapifilters.WithAuthorization(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := apirequest.UserFrom(r.Context())
		_, _ = w.Write([]byte(u.GetName()))
	}), c.Authorization.Authorizer, c.Serializer), c)
}

// certRequest is a fast-path request on a connection with chain.
func certRequest(chain []*x509.Certificate, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, externalPrefix+"default/m", nil)
	r.TLS = nil
	if len(chain) > 0 {
		r.TLS = &tls.ConnectionState{PeerCertificates: chain}
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// libraryAnswer is what the library's authentication answers for r: the
// user's name, or "" when the request is refused (401).
func (s *authnSetup) libraryAnswer(r *http.Request) string {
	resp, ok, err := s.full.AuthenticateRequest(r.Clone(r.Context()))
	if err != nil || !ok {
		return ""
	}
	return resp.User.GetName()
}

func serveLean(h http.Handler, r *http.Request) string {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		return ""
	}
	return w.Body.String()
}

// The lean chain authenticates every request as the library does, whatever
// was authenticated before on the same connection: the cache holds
// certificate verifications, not the union's answers.
func TestLeanAuthenticationAnswersAsLibrary(t *testing.T) {
	s := newAuthnSetup(t, newTestCA(t, "front-proxy-ca", nil, time.Now().Add(24*time.Hour)))
	lean := leanTestChain(t, s)
	expiry := time.Now().Add(time.Hour)
	proxy := []*x509.Certificate{s.frontProxyCA.issue(t, "front-proxy", expiry)}
	otherProxy := []*x509.Certificate{s.frontProxyCA.issue(t, "not-the-front-proxy", expiry)}
	alice := []*x509.Certificate{s.clientCA.issue(t, "alice", expiry)}
	stranger := []*x509.Certificate{(*testCA)(nil).issue(t, "stranger", expiry)}
	s.setToken("valid", "token-user")
	s.setToken("revoked-later", "token-user-2")
	wsToken := func(token string) []string {
		return []string{"Sec-Websocket-Protocol", "base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(token)) + ", channel.k8s.io",
			"Upgrade", "websocket", "Connection", "Upgrade"}
	}

	steps := []struct {
		name   string
		req    func() *http.Request
		want   string
		change func()
	}{
		{"stranger certificate, websocket token", func() *http.Request { return certRequest(stranger, wsToken("valid")...) }, "token-user", nil},
		{"stranger certificate, no credentials", func() *http.Request { return certRequest(stranger) }, "", nil},
		{"stranger certificate, invalid websocket token", func() *http.Request { return certRequest(stranger, wsToken("invalid")...) }, "", nil},
		{"stranger certificate, invalid bearer token", func() *http.Request { return certRequest(stranger, "Authorization", "Bearer invalid") }, "", nil},
		{"stranger certificate, bearer token", func() *http.Request { return certRequest(stranger, "Authorization", "Bearer revoked-later") }, "token-user-2",
			func() { s.setToken("revoked-later", "") }},
		{"stranger certificate, revoked bearer token", func() *http.Request { return certRequest(stranger, "Authorization", "Bearer revoked-later") }, "", nil},
		{"front proxy as bob", func() *http.Request { return certRequest(proxy, "X-Remote-User", "bob") }, "bob", nil},
		{"front proxy as carol", func() *http.Request { return certRequest(proxy, "X-Remote-User", "carol", "X-Remote-Group", "g") }, "carol", nil},
		{"front proxy without a user", func() *http.Request { return certRequest(proxy) }, "", nil},
		{"front proxy without a user, bearer token", func() *http.Request { return certRequest(proxy, "Authorization", "Bearer valid") }, "token-user", nil},
		{"front proxy CA, name not allowed", func() *http.Request { return certRequest(otherProxy, "X-Remote-User", "bob") }, "", nil},
		{"client certificate", func() *http.Request { return certRequest(alice) }, "alice", nil},
		{"client certificate, request headers ignored", func() *http.Request { return certRequest(alice, "X-Remote-User", "bob") }, "alice", nil},
		{"no certificate, bearer token", func() *http.Request { return certRequest(nil, "Authorization", "Bearer valid") }, "token-user", nil},
		{"no certificate, request headers", func() *http.Request { return certRequest(nil, "X-Remote-User", "bob") }, "system:anonymous", nil},
	}
	for round := range 2 { // the second round runs with whatever the first cached
		for _, st := range steps {
			if round == 1 && st.change != nil {
				continue // the credential was revoked in the first round
			}
			lib := s.libraryAnswer(st.req())
			got := serveLean(lean, st.req())
			if got != lib || got != st.want {
				t.Errorf("round %d, %s: lean chain answered %q, library %q, want %q", round, st.name, got, lib, st.want)
			}
			if st.change != nil {
				st.change()
			}
		}
	}
}

// A cached verification lasts no longer than the earliest expiry in the
// verified chain: here an intermediate expires long before the leaf.
func TestFrontProxyCacheEndsAtChainExpiry(t *testing.T) {
	root := newTestCA(t, "front-proxy-root", nil, time.Now().Add(24*time.Hour))
	intermediate := newTestCA(t, "front-proxy-intermediate", root, time.Now().Add(2*time.Second))
	s := newAuthnSetup(t, root)
	lean := leanTestChain(t, s)
	chain := []*x509.Certificate{intermediate.issue(t, "front-proxy", time.Now().Add(time.Hour)), intermediate.cert}
	req := func() *http.Request { return certRequest(chain, "X-Remote-User", "bob") }
	if got := serveLean(lean, req()); got != "bob" {
		t.Fatalf("before the intermediate expires: answered %q, want bob", got)
	}
	// Certificate times have a resolution of a second: wait until the
	// intermediate has certainly expired.
	for !time.Now().After(intermediate.cert.NotAfter.Add(time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	if lib := s.libraryAnswer(req()); lib != "" {
		t.Fatalf("library authenticated %q with an expired intermediate", lib)
	}
	if got := serveLean(lean, req()); got != "" {
		t.Fatalf("after the intermediate expired: lean chain authenticated %q, the library refuses", got)
	}
}

// Distinct request headers of any size through the front proxy keep no
// memory: only the verification of the connection's chain is cached.
func TestFrontProxyCacheKeepsNoHeaders(t *testing.T) {
	s := newAuthnSetup(t, newTestCA(t, "front-proxy-ca", nil, time.Now().Add(24*time.Hour)))
	lean := leanTestChain(t, s)
	proxy := []*x509.Certificate{s.frontProxyCA.issue(t, "front-proxy", time.Now().Add(time.Hour))}
	s.setToken("valid", "token-user")
	const requests, padSize = 96, 256 << 10
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range requests {
		pad := strings.Repeat(string(rune('a'+i%26)), padSize-8) + strconv.Itoa(100000+i)
		r := certRequest(proxy, "X-Remote-User", "bob", "X-Remote-Pad", pad, "Authorization", "Bearer valid")
		if got := serveLean(lean, r); got != "bob" {
			t.Fatalf("request %d answered %q, want bob", i, got)
		}
	}
	grown := int64(heap()) - int64(before)
	runtime.KeepAlive(lean)
	if limit := int64(4 << 20); grown > limit {
		t.Fatalf("%d requests with distinct %d KiB headers kept %d KiB; bound %d KiB", requests, padSize>>10, grown>>10, limit>>10)
	}
}

// However many distinct chains clients present, the verification cache
// stays within its bytes; a new CA bundle is a new key.
func TestChainCacheBoundedInBytes(t *testing.T) {
	const maxBytes = 16 << 10
	c := newChainCache(time.Minute, maxBytes)
	ca := newTestCA(t, "ca", nil, time.Now().Add(time.Hour))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	opts := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for i := range 200 {
		chain := []*x509.Certificate{ca.issue(t, "client-"+strconv.Itoa(i), time.Now().Add(time.Hour))}
		if err := c.verify(chain, opts); err != nil {
			t.Fatalf("chain %d: %v", i, err)
		}
		if got := c.size(); got > maxBytes || got <= 0 {
			t.Fatalf("after %d chains the cache holds %d bytes, bound %d", i+1, got, maxBytes)
		}
	}
	stranger := []*x509.Certificate{(*testCA)(nil).issue(t, "stranger", time.Now().Add(time.Hour))}
	if err := c.verify(stranger, opts); err == nil {
		t.Fatal("a self-signed certificate verified against another CA")
	}
	// The stranger's own CA bundle: another pool, another key.
	own := x509.NewCertPool()
	own.AddCert(stranger[0])
	rotated := opts
	rotated.Roots = own
	if err := c.verify(stranger, rotated); err != nil {
		t.Fatalf("after the bundle changed, the cached failure was used: %v", err)
	}
}

// Many clients with distinct, large front proxy certificates over real TLS
// connections: every request is answered, and the verifications the cache
// keeps stay within its bytes, although each chain is 40 KB.
func TestManyDistinctLargeCertificates(t *testing.T) {
	s := newAuthnSetup(t, newTestCA(t, "front-proxy-ca", nil, time.Now().Add(24*time.Hour)))
	srv := httptest.NewUnstartedServer(leanTestChain(t, s))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("name-%04d.padding-to-make-the-certificate-large.example", i)
	}
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	const clients = 160 // 160 chains of 40 KB: 6.4 MB of certificates
	before := heap()
	for i := range clients {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "front-proxy"}, DNSNames: names,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, s.frontProxyCA.cert, &key.PublicKey, s.frontProxyCA.key)
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
			Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+externalPrefix+"default/m", nil)
		req.Header.Set("X-Remote-User", "bob")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		client.CloseIdleConnections()
		if resp.StatusCode != http.StatusOK || string(body) != "bob" {
			t.Fatalf("client %d: %d %q", i, resp.StatusCode, body)
		}
	}
	srv.CloseClientConnections()
	if grown := heap() - before; grown > chainCacheBytes+2<<20 {
		t.Fatalf("%d distinct 40 KB certificates keep %d KiB; the cache's bound is %d KiB", clients, grown>>10, chainCacheBytes>>10)
	}
}
