package source

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/lru"
)

// MatcherCache memoizes SelectorMatchers per (namespace label, namespace,
// selector). HPAs repeat the same request every sync period, and building a
// regex matcher for In/NotIn costs tens of microseconds, so a server answering
// from memory should translate each distinct selector once. The returned
// matchers are shared and must not be modified; labels.Matcher is safe for
// concurrent use. Errors are not cached.
//
// The cache is bounded in bytes: an entry is keyed by a SHA-256 digest of
// its key and charged an estimate of what its matchers keep (matcherSize),
// and the least recently used entries are dropped to stay within the bound.
type MatcherCache struct {
	maxBytes int64

	mu      sync.Mutex
	entries *lru.Cache // [sha256.Size]byte -> *matcherEntry
	bytes   int64
}

type matcherEntry struct {
	matchers []*labels.Matcher
	size     int64
}

// NewMatcherCache returns a cache holding matchers of at most maxBytes
// (estimated; see matcherSize).
func NewMatcherCache(maxBytes int64) *MatcherCache {
	c := &MatcherCache{maxBytes: maxBytes}
	c.entries = lru.NewWithEvictionFunc(0, func(_ lru.Key, v any) { c.bytes -= v.(*matcherEntry).size })
	return c
}

// SelectorMatchers is SelectorMatchers with memoization.
func (c *MatcherCache) SelectorMatchers(namespaceLabel, namespace string, sel k8slabels.Selector) ([]*labels.Matcher, error) {
	s := ""
	if sel != nil {
		s = sel.String()
	}
	return c.get(matcherKey('p', namespaceLabel, namespace, s), func() ([]*labels.Matcher, error) {
		return SelectorMatchers(namespaceLabel, namespace, sel)
	})
}

// ParseSelectorMatchers is SelectorMatchers of the label selector in its
// text form, as a request's labelSelector parameter carries it: the text is
// parsed (k8s.io/apimachinery/pkg/labels.Parse) and translated once per
// distinct text. A text longer than MaxSelectorBytes yields a
// *SelectorLimitError without being parsed; one that does not parse a
// *SelectorSyntaxError. Errors are not cached.
func (c *MatcherCache) ParseSelectorMatchers(namespaceLabel, namespace, selector string) ([]*labels.Matcher, error) {
	if err := CheckSelectorText("labelSelector", selector); err != nil {
		return nil, err
	}
	return c.get(matcherKey('t', namespaceLabel, namespace, selector), func() ([]*labels.Matcher, error) {
		sel, err := k8slabels.Parse(selector)
		if err != nil {
			return nil, &SelectorSyntaxError{Err: err}
		}
		return SelectorMatchers(namespaceLabel, namespace, sel)
	})
}

// ClusterSelectorMatchers is ClusterSelectorMatchers with memoization.
func (c *MatcherCache) ClusterSelectorMatchers(sel k8slabels.Selector) ([]*labels.Matcher, error) {
	s := ""
	if sel != nil {
		s = sel.String()
	}
	return c.get(matcherKey('P', "", "", s), func() ([]*labels.Matcher, error) {
		return ClusterSelectorMatchers(sel)
	})
}

// ParseClusterSelectorMatchers is ParseSelectorMatchers for a cluster-wide
// metric (ClusterSelectorMatchers).
func (c *MatcherCache) ParseClusterSelectorMatchers(selector string) ([]*labels.Matcher, error) {
	if err := CheckSelectorText("labelSelector", selector); err != nil {
		return nil, err
	}
	return c.get(matcherKey('T', "", "", selector), func() ([]*labels.Matcher, error) {
		sel, err := k8slabels.Parse(selector)
		if err != nil {
			return nil, &SelectorSyntaxError{Err: err}
		}
		return ClusterSelectorMatchers(sel)
	})
}

// SelectorSyntaxError is a label selector text that does not parse.
type SelectorSyntaxError struct{ Err error }

func (e *SelectorSyntaxError) Error() string { return e.Err.Error() }

// Unwrap returns the parser's error.
func (e *SelectorSyntaxError) Unwrap() error { return e.Err }

// matcherKey digests a cache key: the selector's form ('p' parsed, 't'
// text; 'P' and 'T' for a cluster-wide metric) and the length-prefixed strings.
func matcherKey(form byte, namespaceLabel, namespace, selector string) [sha256.Size]byte {
	var buf [256]byte
	b := append(buf[:0], form)
	for _, s := range []string{namespaceLabel, namespace, selector} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return sha256.Sum256(b)
}

// get returns the cached matchers of k, building and caching them on a miss.
func (c *MatcherCache) get(k [sha256.Size]byte, build func() ([]*labels.Matcher, error)) ([]*labels.Matcher, error) {
	if v, ok := c.entries.Get(k); ok {
		return v.(*matcherEntry).matchers, nil
	}
	ms, err := build()
	if err != nil {
		return nil, err
	}
	e := &matcherEntry{matchers: ms, size: matcherSize(ms)}
	if e.size > c.maxBytes {
		return ms, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries.Get(k); ok {
		return ms, nil
	}
	c.entries.Add(k, e)
	c.bytes += e.size
	for c.bytes > c.maxBytes {
		c.entries.RemoveOldest() // the eviction function subtracts its size
	}
	return ms, nil
}

// Matcher sizes, above what was measured (TestMatcherCacheBytes checks that
// the heap growth of many cached selectors stays below the estimate): an
// entry's list element, entry and key; a matcher; a regex matcher's
// FastRegexMatcher and, per byte of its regex, the compiled program, the set
// of literal values and their copies (measured: 2 KB for "k in (a,b,c)", 42
// to 121 bytes per byte of the regex, 430 KB for 128 values of 60 bytes).
const (
	matcherEntryOverhead = 256
	matcherOverhead      = 128
	regexOverhead        = 2048
	regexBytesFactor     = 128
)

// matcherSize estimates the bytes an entry of ms keeps.
func matcherSize(ms []*labels.Matcher) int64 {
	n := int64(matcherEntryOverhead)
	for _, m := range ms {
		n += matcherOverhead + int64(len(m.Name)+len(m.Value))
		if m.Type == labels.MatchRegexp || m.Type == labels.MatchNotRegexp {
			n += regexOverhead + regexBytesFactor*int64(len(m.Value))
		}
	}
	return n
}

// Len returns the number of cached selectors.
func (c *MatcherCache) Len() int {
	return c.entries.Len()
}

// Bytes returns the cached entries' estimated size.
func (c *MatcherCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
