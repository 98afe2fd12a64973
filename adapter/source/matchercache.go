package source

import (
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	k8slabels "k8s.io/apimachinery/pkg/labels"
)

// MatcherCache memoizes SelectorMatchers per (namespace label, namespace,
// selector). HPAs repeat the same request every sync period, and building a
// regex matcher for In/NotIn costs tens of microseconds, so a server answering
// from memory should translate each distinct selector once. The returned
// matchers are shared and must not be modified; labels.Matcher is safe for
// concurrent use. Errors are not cached.
type MatcherCache struct {
	max int

	mu    sync.Mutex
	m     map[matcherKey][]*labels.Matcher
	order []matcherKey // insertion order, for FIFO eviction
	next  int
}

type matcherKey struct{ nsLabel, namespace, selector string }

// NewMatcherCache returns a cache holding at most size selectors (minimum 1).
func NewMatcherCache(size int) *MatcherCache {
	size = max(size, 1)
	return &MatcherCache{max: size, m: make(map[matcherKey][]*labels.Matcher, size), order: make([]matcherKey, 0, size)}
}

// SelectorMatchers is SelectorMatchers with memoization.
func (c *MatcherCache) SelectorMatchers(namespaceLabel, namespace string, sel k8slabels.Selector) ([]*labels.Matcher, error) {
	s := ""
	if sel != nil {
		s = sel.String()
	}
	return c.get(matcherKey{namespaceLabel, namespace, s}, func() ([]*labels.Matcher, error) {
		return SelectorMatchers(namespaceLabel, namespace, sel)
	})
}

// ParseSelectorMatchers is SelectorMatchers of the label selector in its
// text form, as a request's labelSelector parameter carries it: the text is
// parsed (k8s.io/apimachinery/pkg/labels.Parse) and translated once per
// distinct text. A text that does not parse yields a *SelectorSyntaxError;
// errors are not cached.
func (c *MatcherCache) ParseSelectorMatchers(namespaceLabel, namespace, selector string) ([]*labels.Matcher, error) {
	return c.get(matcherKey{namespaceLabel, namespace, "raw:" + selector}, func() ([]*labels.Matcher, error) {
		sel, err := k8slabels.Parse(selector)
		if err != nil {
			return nil, &SelectorSyntaxError{Err: err}
		}
		return SelectorMatchers(namespaceLabel, namespace, sel)
	})
}

// SelectorSyntaxError is a label selector text that does not parse.
type SelectorSyntaxError struct{ Err error }

func (e *SelectorSyntaxError) Error() string { return e.Err.Error() }

// Unwrap returns the parser's error.
func (e *SelectorSyntaxError) Unwrap() error { return e.Err }

// get returns the cached matchers of k, building and caching them on a miss.
func (c *MatcherCache) get(k matcherKey, build func() ([]*labels.Matcher, error)) ([]*labels.Matcher, error) {
	c.mu.Lock()
	ms, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return ms, nil
	}
	ms, err := build()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		if len(c.order) < c.max {
			c.order = append(c.order, k)
		} else {
			delete(c.m, c.order[c.next])
			c.order[c.next] = k
			c.next = (c.next + 1) % c.max
		}
		c.m[k] = ms
	}
	return ms, nil
}

// Len returns the number of cached selectors.
func (c *MatcherCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
