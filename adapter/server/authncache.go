package server

import (
	"crypto/sha256"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

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
// The cache key is a hash of everything the authenticators read: the peer
// certificate chain, the Authorization header, and every header the front
// proxy configuration names (user, UID, groups, extra prefixes, and the
// standard X-Remote- ones). Only successful authentications of requests
// with a client certificate are cached, for at most ttl (the same order as
// the token review cache's 10 s, so a rotated CA bundle or a revoked front
// proxy name takes effect as fast as a revoked token does) and never past
// the leaf certificate's NotAfter. Requests without a client certificate go
// to the inner authenticator every time (tokens have their own cache).
type certAuthCache struct {
	inner   authenticator.Request
	headers *authenticatorfactory.RequestHeaderConfig
	ttl     time.Duration
	max     int
	now     func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]certAuthEntry
}

type certAuthEntry struct {
	resp    *authenticator.Response
	expires time.Time
}

// newCertAuthCache wraps inner; headers is the front proxy configuration
// (nil when there is none).
func newCertAuthCache(inner authenticator.Request, headers *authenticatorfactory.RequestHeaderConfig, ttl time.Duration, size int) *certAuthCache {
	return &certAuthCache{inner: inner, headers: headers, ttl: ttl, max: max(size, 1), now: time.Now,
		entries: map[[sha256.Size]byte]certAuthEntry{}}
}

// AuthenticateRequest implements authenticator.Request.
func (c *certAuthCache) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return c.inner.AuthenticateRequest(req)
	}
	key := c.key(req)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
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
	c.entries[key] = certAuthEntry{resp: resp, expires: expires}
	c.mu.Unlock()
	return resp, true, nil
}

// key hashes the peer certificate chain and the headers authentication reads.
func (c *certAuthCache) key(req *http.Request) [sha256.Size]byte {
	h := sha256.New()
	for _, cert := range req.TLS.PeerCertificates {
		writeField(h, cert.Raw)
	}
	names := c.relevantHeaders(req.Header)
	for _, name := range names {
		writeField(h, []byte(name))
		for _, v := range req.Header[name] {
			writeField(h, []byte(v))
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// relevantHeaders returns, sorted, the canonical names of the request's
// headers that an authenticator reads.
func (c *certAuthCache) relevantHeaders(header http.Header) []string {
	var exact, prefixes []string
	exact = append(exact, "Authorization")
	prefixes = append(prefixes, "X-Remote-")
	if c.headers != nil {
		for _, p := range []interface{ Value() []string }{c.headers.UsernameHeaders, c.headers.UIDHeaders, c.headers.GroupHeaders} {
			if p != nil {
				exact = append(exact, p.Value()...)
			}
		}
		if c.headers.ExtraHeaderPrefixes != nil {
			prefixes = append(prefixes, c.headers.ExtraHeaderPrefixes.Value()...)
		}
	}
	var out []string
	for name := range header {
		if matchesHeader(name, exact, prefixes) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func matchesHeader(name string, exact, prefixes []string) bool {
	for _, e := range exact {
		if strings.EqualFold(name, e) {
			return true
		}
	}
	for _, p := range prefixes {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return true
		}
	}
	return false
}

// writeField writes b with its length, so that fields cannot run together.
func writeField(h interface{ Write([]byte) (int, error) }, b []byte) {
	n := len(b)
	_, _ = h.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	_, _ = h.Write(b)
}
