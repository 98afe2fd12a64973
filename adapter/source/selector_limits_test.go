package source

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	k8slabels "k8s.io/apimachinery/pkg/labels"
)

// inSelector is "k in (v0,v1,...)" with n values of about width bytes, distinct per seed.
func inSelector(seed, n, width int) string {
	vs := make([]string, n)
	for i := range vs {
		v := fmt.Sprintf("s%dv%d", seed, i)
		vs[i] = v + strings.Repeat("x", max(width-len(v), 0))
	}
	return "k in (" + strings.Join(vs, ",") + ")"
}

// A selector beyond the limits is refused, as text before it is parsed and
// as requirements before they are translated, and nothing is cached.
func TestSelectorLimits(t *testing.T) {
	c := NewMatcherCache(1 << 20)
	var limit *SelectorLimitError
	huge := inSelector(0, 15000, 60) // 900 KiB
	if _, err := c.ParseSelectorMatchers("namespace", "ns", huge); !errors.As(err, &limit) ||
		err.Error() != fmt.Sprintf("labelSelector: %d bytes, more than the %d allowed", len(huge), MaxSelectorBytes) {
		t.Fatalf("%d-byte selector: err = %.200v, want the length limit", len(huge), err)
	}
	many := inSelector(1, MaxSelectorValues+1, 1)
	if len(many) > MaxSelectorBytes {
		t.Fatalf("test selector of %d bytes is beyond the length limit", len(many))
	}
	if _, err := c.ParseSelectorMatchers("namespace", "ns", many); !errors.As(err, &limit) ||
		err.Error() != fmt.Sprintf("label selector: %d values, more than the %d allowed", MaxSelectorValues+1, MaxSelectorValues) {
		t.Fatalf("%d values: err = %.200v, want the value limit", MaxSelectorValues+1, err)
	}
	sel, err := k8slabels.Parse(many)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SelectorMatchers("namespace", "ns", sel); !errors.As(err, &limit) {
		t.Fatalf("parsed selector of %d values: err = %.200v, want the value limit", MaxSelectorValues+1, err)
	}
	if c.Len() != 0 {
		t.Fatalf("refused selectors cached: %d entries", c.Len())
	}
	at := inSelector(2, MaxSelectorValues, 1)
	if _, err := c.ParseSelectorMatchers("namespace", "ns", at); err != nil {
		t.Fatalf("selector of %d values at the limit: %v", MaxSelectorValues, err)
	}
}

// Distinct selectors fill the cache up to its bytes and no further, and the
// estimate of an entry's size is above what it keeps.
func TestMatcherCacheBytes(t *testing.T) {
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	const maxBytes = 4 << 20
	c := NewMatcherCache(maxBytes)
	before := heap()
	for i := range 100 {
		if _, err := c.ParseSelectorMatchers("namespace", "ns", inSelector(i, 128, 60)); err != nil {
			t.Fatal(err)
		}
		if c.Bytes() > maxBytes {
			t.Fatalf("after %d selectors the cache holds %d bytes, bound %d", i+1, c.Bytes(), maxBytes)
		}
	}
	grown := heap() - before
	runtime.KeepAlive(c)
	if grown > maxBytes {
		t.Fatalf("the cache keeps %d KiB, estimated at most %d KiB", grown>>10, maxBytes>>10)
	}
	if c.Len() < 4 {
		t.Fatalf("cache of %d KiB holds %d selectors of 128 values", maxBytes>>10, c.Len())
	}
}
