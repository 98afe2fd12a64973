package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/utils/lru"
)

// authzCache remembers authorization decisions for the delegated
// authorizer's TTLs, and refreshes a decision that is still in use before it
// expires, so that a steady stream of requests never waits on a
// SubjectAccessReview.
//
// The library's webhook authorizer caches too, but a request that finds its
// decision expired waits for the review: with the default TTL of 10 s, every
// (user, namespace, metric) that HPAs read is reviewed on the request path
// every 10 s, a round trip to kube-apiserver in the tail of the latency of
// an answer that is otherwise served from memory. Here the first request
// in the last quarter of a decision's TTL starts one review in the
// background and is answered from the cache; the review's result replaces the
// decision. A decision is never used past its TTL, counted from the review
// that made it, exactly the guarantee of the webhook's own cache, which is
// switched off (TTLs of 0) so that a refresh always asks kube-apiserver.
//
// Only Authorize is cached: ConditionsAwareAuthorize and EvaluateConditions
// go to the inner authorizer. Errors are never cached, nor are requests whose
// attributes are too large for the webhook to cache or whose selectors do not
// parse. The key is a hash of every attribute an authorizer reads: the user
// (name, UID, groups, extra), the verb, the resource attributes or the path,
// and the label and field selector requirements.
type authzCache struct {
	inner             authorizer.Authorizer
	allowTTL, denyTTL time.Duration
	now               func() time.Time
	entries           *lru.Cache
	counters          map[string]prometheus.Counter // by result; nil in tests that do not count

	// refreshing counts background refreshes in flight (tests wait on it).
	refreshing sync.WaitGroup
}

var _ authorizer.Authorizer = (*authzCache)(nil)

// authzRefreshTimeout bounds a background refresh's review.
const authzRefreshTimeout = 10 * time.Second

// maxCachedAttrSize is the size of controlled attributes (namespace, verb,
// group, version, resource, subresource, name, path) from which the webhook
// authorizer stops caching; the cache follows it.
const maxCachedAttrSize = 10000

type authzEntry struct {
	decision   authorizer.Decision
	reason     string
	refreshAt  time.Time
	expires    time.Time
	refreshing atomic.Bool
}

// newAuthzCache wraps inner. A TTL of 0 leaves decisions of that kind
// (allowed; denied or without opinion) uncached.
func newAuthzCache(inner authorizer.Authorizer, allowTTL, denyTTL time.Duration, size int) *authzCache {
	return &authzCache{inner: inner, allowTTL: allowTTL, denyTTL: denyTTL, now: time.Now, entries: lru.New(max(size, 1))}
}

// instrument counts the cache's lookups and refreshes in
// foresight_adapter_authorization_cache_lookups_total and
// foresight_adapter_authorization_cache_refreshes_total.
func (c *authzCache) instrument(reg prometheus.Registerer) error {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foresight_adapter_authorization_cache_lookups_total",
		Help: "Authorization decisions looked up in the adapter's cache, by result: hit, miss (reviewed on the request path) or uncacheable.",
	}, []string{"result"})
	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foresight_adapter_authorization_cache_refreshes_total",
		Help: "Background reviews of cached authorization decisions still in use, by result: success or error.",
	}, []string{"result"})
	for _, col := range []*prometheus.CounterVec{lookups, refreshes} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	// Resolved once: a lookup per request is too frequent for a label lookup.
	c.counters = map[string]prometheus.Counter{}
	for _, r := range []string{"hit", "miss", "uncacheable"} {
		c.counters[r] = lookups.WithLabelValues(r)
	}
	for _, r := range []string{"success", "error"} {
		c.counters["refresh "+r] = refreshes.WithLabelValues(r)
	}
	return nil
}

// count counts one lookup or refresh result.
func (c *authzCache) count(result string) {
	if ctr := c.counters[result]; ctr != nil {
		ctr.Inc()
	}
}

// Authorize implements authorizer.Authorizer.
func (c *authzCache) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	key, ok := authzKey(a)
	if !ok {
		c.count("uncacheable")
		return c.inner.Authorize(ctx, a)
	}
	now := c.now()
	if v, found := c.entries.Get(key); found {
		e := v.(*authzEntry)
		if now.Before(e.expires) {
			c.count("hit")
			if !now.Before(e.refreshAt) && e.refreshing.CompareAndSwap(false, true) {
				c.refreshing.Add(1)
				go c.refresh(context.WithoutCancel(ctx), key, a, e)
			}
			return e.decision, e.reason, nil
		}
	}
	c.count("miss")
	decision, reason, err := c.inner.Authorize(ctx, a)
	if err == nil {
		c.store(key, decision, reason, now)
	}
	return decision, reason, err
}

// refresh reviews a's decision again in the background and replaces the
// entry; on an error the entry stays until it expires.
func (c *authzCache) refresh(ctx context.Context, key [sha256.Size]byte, a authorizer.Attributes, old *authzEntry) {
	defer c.refreshing.Done()
	ctx, cancel := context.WithTimeout(ctx, authzRefreshTimeout)
	defer cancel()
	start := c.now()
	decision, reason, err := c.inner.Authorize(ctx, a)
	if err != nil {
		c.count("refresh error")
		old.refreshing.Store(false)
		return
	}
	c.count("refresh success")
	c.store(key, decision, reason, start)
}

// store caches a decision reviewed at the time at.
func (c *authzCache) store(key [sha256.Size]byte, decision authorizer.Decision, reason string, at time.Time) {
	ttl := c.denyTTL
	if decision == authorizer.DecisionAllow {
		ttl = c.allowTTL
	}
	if ttl <= 0 {
		c.entries.Remove(key)
		return
	}
	c.entries.Add(key, &authzEntry{decision: decision, reason: reason, refreshAt: at.Add(ttl - ttl/4), expires: at.Add(ttl)})
}

// ConditionsAwareAuthorize implements authorizer.Authorizer; it is not cached.
func (c *authzCache) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return c.inner.ConditionsAwareAuthorize(ctx, a)
}

// EvaluateConditions implements authorizer.Authorizer; it is not cached.
func (c *authzCache) EvaluateConditions(ctx context.Context, d authorizer.ConditionsAwareDecision, data authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return c.inner.EvaluateConditions(ctx, d, data)
}

// authzKeyBuffers holds the buffers authzKey encodes attributes into.
var authzKeyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// authzKey hashes every attribute an authorizer reads; ok is false for
// attributes that are not cached.
func authzKey(a authorizer.Attributes) (key [sha256.Size]byte, ok bool) {
	controlled := len(a.GetNamespace()) + len(a.GetVerb()) + len(a.GetAPIGroup()) + len(a.GetAPIVersion()) +
		len(a.GetResource()) + len(a.GetSubresource()) + len(a.GetName()) + len(a.GetPath())
	if controlled >= maxCachedAttrSize {
		return key, false
	}
	labelReqs, err := a.GetLabelSelector()
	if err != nil {
		return key, false
	}
	fieldReqs, err := a.GetFieldSelector()
	if err != nil {
		return key, false
	}
	bp := authzKeyBuffers.Get().(*[]byte)
	defer authzKeyBuffers.Put(bp)
	b := (*bp)[:0]
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if u := a.GetUser(); u != nil {
		b = append(b, 'u')
		field(u.GetName())
		field(u.GetUID())
		groups := u.GetGroups()
		b = binary.AppendUvarint(b, uint64(len(groups)))
		for _, g := range groups {
			field(g)
		}
		extra := u.GetExtra()
		b = binary.AppendUvarint(b, uint64(len(extra)))
		keys := make([]string, 0, 4) // on the stack for the few keys users have
		for k := range extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			field(k)
			b = binary.AppendUvarint(b, uint64(len(extra[k])))
			for _, v := range extra[k] {
				field(v)
			}
		}
	} else {
		b = append(b, 'n')
	}
	if a.IsResourceRequest() {
		b = append(b, 'r')
		for _, s := range []string{a.GetVerb(), a.GetNamespace(), a.GetAPIGroup(), a.GetAPIVersion(), a.GetResource(), a.GetSubresource(), a.GetName()} {
			field(s)
		}
		b = binary.AppendUvarint(b, uint64(len(labelReqs)))
		for _, r := range labelReqs {
			field(r.String())
		}
		b = binary.AppendUvarint(b, uint64(len(fieldReqs)))
		for _, r := range fieldReqs {
			field(string(r.Operator))
			field(r.Field)
			field(r.Value)
		}
	} else {
		b = append(b, 'p')
		field(a.GetVerb())
		field(a.GetPath())
	}
	*bp = b
	return sha256.Sum256(b), true
}
