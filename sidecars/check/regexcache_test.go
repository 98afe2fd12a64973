package check

import (
	"fmt"
	"testing"
)

// TestRegexCacheIsBounded: the cache of measured regexes never holds more than its bound in
// regex text, starts again empty when full, and answers as measuring would.
func TestRegexCacheIsBounded(t *testing.T) {
	saved := regexCacheBytes
	t.Cleanup(func() { regexCacheBytes = saved })
	regexCacheBytes = 100
	regexCache.Lock()
	clear(regexCache.m)
	regexCache.bytes = 0
	regexCache.Unlock()

	for i := range 50 {
		expr := fmt.Sprintf("/v%d/items/[0-9]+", i)
		if got := measureRegex(expr); got.err != nil || got.size == 0 {
			t.Fatalf("%s: %+v", expr, got)
		}
		regexCache.Lock()
		n, bytes := len(regexCache.m), regexCache.bytes
		regexCache.Unlock()
		if bytes > regexCacheBytes || n == 0 {
			t.Fatalf("after %d regexes the cache holds %d of %d bytes bound, %d regexes", i+1, bytes, regexCacheBytes, n)
		}
	}
	a, b := measureRegex("/v1/items/[0-9]+"), measureRegex("/v1/items/[0-9]+")
	if a != b {
		t.Errorf("measured %+v, then from the cache %+v", a, b)
	}
	if got := measureRegex("/a(b"); got.err == nil {
		t.Error("an invalid regex measured without its error")
	}
}
