package server

import (
	"crypto/x509"
	"encoding/binary"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
)

// certAuthCache remembers, for a short time, who a request presenting a
// client certificate was authenticated as.
//
// Delegated authentication verifies the client certificate chain on every
// request (an ECDSA or RSA signature check per certificate), although a
// connection's chain never changes: the HPA controller's requests reach the
// adapter through kube-apiserver's aggregator on a few long-lived
// connections, each with the front proxy's certificate. That check was
// the largest single cost of an answer from memory.
//
// The cache key is everything the authenticators read: the peer certificate
// chain, the Authorization header, and every header the front proxy
// configuration names (user, UID, groups, extra prefixes, and the standard
// X-Remote- ones). The chain is identified by its certificates' addresses:
// crypto/tls parses a connection's chain once, so the requests of one
// connection share the same *x509.Certificate values, and an entry keeps its
// chain alive, so no other certificate can take those addresses while the
// entry exists. (Hashing the certificates' bytes instead cost 8 µs per
// request, a tenth of an answer's CPU.) The headers are compared byte for
// byte. Only successful authentications of requests with a client
// certificate are cached, for at most ttl (the same order as the token review
// cache's 10 s, so a rotated CA bundle or a revoked front proxy name takes
// effect as fast as a revoked token does) and never past the leaf
// certificate's NotAfter. Requests without a client certificate go to the
// inner authenticator every time (tokens have their own cache).
type certAuthCache struct {
	inner   authenticator.Request
	headers *authenticatorfactory.RequestHeaderConfig
	ttl     time.Duration
	max     int
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]certAuthEntry
}

type certAuthEntry struct {
	chain   []*x509.Certificate // keeps the certificates the key names alive
	resp    *authenticator.Response
	expires time.Time
}

// newCertAuthCache wraps inner; headers is the front proxy configuration
// (nil when there is none).
func newCertAuthCache(inner authenticator.Request, headers *authenticatorfactory.RequestHeaderConfig, ttl time.Duration, size int) *certAuthCache {
	return &certAuthCache{inner: inner, headers: headers, ttl: ttl, max: max(size, 1), now: time.Now,
		entries: map[string]certAuthEntry{}}
}

// certAuthKeys holds the buffers keys are built in.
var certAuthKeys = sync.Pool{New: func() any { return new([]byte) }}

// AuthenticateRequest implements authenticator.Request.
func (c *certAuthCache) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return c.inner.AuthenticateRequest(req)
	}
	bp := certAuthKeys.Get().(*[]byte)
	defer certAuthKeys.Put(bp)
	key := c.key((*bp)[:0], req)
	*bp = key
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[string(key)]
	c.mu.Unlock()
	if ok && now.Before(e.expires) && slices.Equal(e.chain, req.TLS.PeerCertificates) {
		return e.resp, true, nil
	}
	resp, ok, err := c.inner.AuthenticateRequest(req)
	if err != nil || !ok || resp == nil {
		return resp, ok, err
	}
	expires := now.Add(c.ttl)
	if na := req.TLS.PeerCertificates[0].NotAfter; na.Before(expires) {
		expires = na
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		// Drop expired entries; if none expired, start over. A cold cache
		// costs one verification per distinct client, as without it.
		for k, v := range c.entries {
			if !now.Before(v.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[string(key)] = certAuthEntry{chain: slices.Clone(req.TLS.PeerCertificates), resp: resp, expires: expires}
	c.mu.Unlock()
	return resp, true, nil
}

// key appends to b the peer certificates' addresses and the headers
// authentication reads, each length-prefixed.
func (c *certAuthCache) key(b []byte, req *http.Request) []byte {
	b = binary.AppendUvarint(b, uint64(len(req.TLS.PeerCertificates)))
	for _, cert := range req.TLS.PeerCertificates {
		b = binary.LittleEndian.AppendUint64(b, uint64(uintptr(unsafe.Pointer(cert))))
	}
	var names [8]string
	for _, name := range c.relevantHeaders(names[:0], req.Header) {
		b = appendField(b, name)
		values := req.Header[name]
		b = binary.AppendUvarint(b, uint64(len(values)))
		for _, v := range values {
			b = appendField(b, v)
		}
	}
	return b
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// relevantHeaders appends to out, sorted, the names of the request's headers
// that an authenticator reads.
func (c *certAuthCache) relevantHeaders(out []string, header http.Header) []string {
	for name := range header {
		if c.reads(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// reads reports whether an authenticator reads the header name: the
// Authorization header, the standard X-Remote- headers, and those the front
// proxy configuration names.
func (c *certAuthCache) reads(name string) bool {
	if strings.EqualFold(name, "Authorization") || hasPrefixFold(name, "X-Remote-") {
		return true
	}
	if c.headers == nil {
		return false
	}
	for _, p := range []interface{ Value() []string }{c.headers.UsernameHeaders, c.headers.UIDHeaders, c.headers.GroupHeaders} {
		if p != nil && slices.ContainsFunc(p.Value(), func(h string) bool { return strings.EqualFold(name, h) }) {
			return true
		}
	}
	return c.headers.ExtraHeaderPrefixes != nil &&
		slices.ContainsFunc(c.headers.ExtraHeaderPrefixes.Value(), func(p string) bool { return hasPrefixFold(name, p) })
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
