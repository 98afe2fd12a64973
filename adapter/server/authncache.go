package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
	"unsafe"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
)

// frontProxyAuthenticator authenticates the requests of kube-apiserver's
// front proxy (the aggregator) as the library's request-header authenticator
// does, with the verification of the proxy's certificate chain cached.
//
// Delegated authentication verifies the client certificate chain on every
// request (an ECDSA or RSA signature check per certificate), although a
// connection's chain never changes: the HPA controller's requests reach the
// adapter through the aggregator on a few long-lived connections, each with
// the front proxy's certificate. That check was the largest single cost of
// an answer from memory.
//
// Only the verification is cached (chainCache): whether a chain verifies
// against the front proxy CA bundle. It depends on the chain and the bundle
// alone, not on the request's headers or any other credential. The allowed
// proxy names are checked and the user is read from the configured headers
// (by the library's headerrequest authenticator) on every request, as the
// library does. A request the front proxy path does not authenticate goes
// to the library's whole authenticator (client certificates, tokens with
// their own cache and TTL, anonymous), which then answers exactly as it
// would alone.
type frontProxyAuthenticator struct {
	verified     *chainCache
	verifyOpts   func() (x509.VerifyOptions, bool)
	allowedNames headerrequest.StringSliceProvider
	headers      authenticator.Request // reads the user from the configured headers
	full         authenticator.Request // the library's authenticator
}

// newFrontProxyAuthenticator returns full with the front proxy path of rh
// (nil: no front proxy) in front of it, verifications cached in cache.
func newFrontProxyAuthenticator(full authenticator.Request, rh *authenticatorfactory.RequestHeaderConfig, cache *chainCache) authenticator.Request {
	if full == nil || rh == nil || rh.CAContentProvider == nil {
		return full
	}
	a := &frontProxyAuthenticator{
		verified:     cache,
		verifyOpts:   rh.CAContentProvider.VerifyOptions,
		allowedNames: rh.AllowedClientNames,
		headers:      headerrequest.NewDynamic(rh.UsernameHeaders, rh.UIDHeaders, rh.GroupHeaders, rh.ExtraHeaderPrefixes),
		full:         full,
	}
	// The library adds the authenticated group to what its union answers.
	proxied := group.NewAuthenticatedGroupAdder(authenticator.RequestFunc(a.authenticateProxied))
	return authenticator.RequestFunc(func(req *http.Request) (*authenticator.Response, bool, error) {
		if resp, ok, err := proxied.AuthenticateRequest(req); ok && err == nil {
			return resp, true, nil
		}
		return a.full.AuthenticateRequest(req)
	})
}

// authenticateProxied is the library's request-header authenticator
// (headerrequest.NewDynamicVerifyOptionsSecure) with the chain's
// verification cached.
func (a *frontProxyAuthenticator) authenticateProxied(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	opts, ok := a.verifyOpts()
	if !ok {
		return nil, false, nil
	}
	if err := a.verified.verify(req.TLS.PeerCertificates, opts); err != nil {
		return nil, false, err
	}
	if names := a.allowedNames.Value(); len(names) > 0 && !slices.Contains(names, req.TLS.PeerCertificates[0].Subject.CommonName) {
		return nil, false, fmt.Errorf("x509: subject with cn=%s is not in the allowed list", req.TLS.PeerCertificates[0].Subject.CommonName)
	}
	return a.headers.AuthenticateRequest(req)
}

// chainCache remembers, for a short time, whether a certificate chain
// verified against a CA bundle.
//
// An entry's key is a SHA-256 digest of the identities of the chain's
// certificates and of the verify options' pools: crypto/tls parses a
// connection's chain once, so the requests of one connection share the same
// *x509.Certificate values, and the dynamic CA providers make a new pool
// when the bundle changes, so a rotated bundle is a new key. An entry keeps
// a copy of the certificates' encodings and compares them on a hit, so
// that a certificate parsed later at a freed one's address is the same
// certificate or a miss; it keeps the pools alive, so that no other pool can
// take their addresses. (Hashing the certificates' bytes on every request
// instead cost 8 µs, a tenth of an answer's CPU; comparing them costs
// a memcmp.)
//
// A verification is remembered for at most ttl and never past the earliest
// NotAfter of the chain it verified (leaf, intermediates and root); a
// failure for ttl. An entry's size is its encodings' plus a fixed overhead,
// and the entries' sizes are bounded by maxBytes: what a client can make the
// cache keep is bounded in bytes whatever it sends.
type chainCache struct {
	ttl      time.Duration
	maxBytes int64
	now      func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*chainEntry
	bytes   int64
}

type chainEntry struct {
	raw                  [][]byte // the certificates' encodings
	roots, intermediates *x509.CertPool
	err                  error // nil: verified
	expires              time.Time
	size                 int64
}

// chainEntryOverhead is an entry's size beyond its certificates' encodings:
// the map slot, the entry, the slices and the error.
const chainEntryOverhead = 512

// newChainCache returns a cache of verifications for ttl, of at most maxBytes.
func newChainCache(ttl time.Duration, maxBytes int64) *chainCache {
	return &chainCache{ttl: ttl, maxBytes: maxBytes, now: time.Now, entries: map[[sha256.Size]byte]*chainEntry{}}
}

// sameChain reports whether chain's encodings are e's.
func (e *chainEntry) sameChain(chain []*x509.Certificate) bool {
	return slices.EqualFunc(e.raw, chain, func(raw []byte, cert *x509.Certificate) bool { return bytes.Equal(raw, cert.Raw) })
}

// verify verifies chain[0] with opts, chain[1:] as intermediates when opts
// has none, as the library's verifier does, and remembers the result.
func (c *chainCache) verify(chain []*x509.Certificate, opts x509.VerifyOptions) error {
	key := chainKey(chain, opts)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) && e.roots == opts.Roots && e.intermediates == opts.Intermediates && e.sameChain(chain) {
		return e.err
	}
	configured := opts.Intermediates
	if opts.Intermediates == nil && len(chain) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, cert := range chain[1:] {
			opts.Intermediates.AddCert(cert)
		}
	}
	expires := now.Add(c.ttl)
	chains, err := chain[0].Verify(opts)
	if err == nil {
		for _, cert := range chains[0] {
			if cert.NotAfter.Before(expires) {
				expires = cert.NotAfter
			}
		}
	}
	e = &chainEntry{raw: make([][]byte, len(chain)), roots: opts.Roots, intermediates: configured, expires: expires,
		size: chainEntryOverhead}
	if err != nil {
		// The message only: x509's errors hold the certificates they are about.
		e.err = errors.New(err.Error())
		e.size += int64(len(err.Error()))
	}
	for i, cert := range chain {
		e.raw[i] = bytes.Clone(cert.Raw)
		e.size += int64(len(cert.Raw))
	}
	c.store(key, e, now)
	return err
}

// store adds e, evicting expired entries, then others, to stay within maxBytes.
func (c *chainCache) store(key [sha256.Size]byte, e *chainEntry, now time.Time) {
	if e.size > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[key]; ok {
		c.bytes -= old.size
		delete(c.entries, key)
	}
	if c.bytes+e.size > c.maxBytes {
		for k, v := range c.entries {
			if !now.Before(v.expires) {
				c.bytes -= v.size
				delete(c.entries, k)
			}
		}
	}
	for k, v := range c.entries { // in Go's random map order
		if c.bytes+e.size <= c.maxBytes {
			break
		}
		c.bytes -= v.size
		delete(c.entries, k)
	}
	c.entries[key] = e
	c.bytes += e.size
}

// size returns the entries' total size in bytes.
func (c *chainCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// chainKey digests the identities of chain's certificates and of opts' pools.
func chainKey(chain []*x509.Certificate, opts x509.VerifyOptions) [sha256.Size]byte {
	var buf [128]byte
	b := buf[:0]
	b = binary.LittleEndian.AppendUint64(b, uint64(uintptr(unsafe.Pointer(opts.Roots))))
	b = binary.LittleEndian.AppendUint64(b, uint64(uintptr(unsafe.Pointer(opts.Intermediates))))
	for _, cert := range chain {
		b = binary.LittleEndian.AppendUint64(b, uint64(uintptr(unsafe.Pointer(cert))))
	}
	return sha256.Sum256(b)
}
