package check

import (
	"fmt"
	"strings"
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
		if got := measureRegex(expr, 100); got.err != nil || got.size == 0 {
			t.Fatalf("%s: %+v", expr, got)
		}
		regexCache.Lock()
		n, bytes := len(regexCache.m), regexCache.bytes
		regexCache.Unlock()
		if bytes > regexCacheBytes || n == 0 {
			t.Fatalf("after %d regexes the cache holds %d of %d bytes bound, %d regexes", i+1, bytes, regexCacheBytes, n)
		}
	}
	a, b := measureRegex("/v1/items/[0-9]+", 100), measureRegex("/v1/items/[0-9]+", 100)
	if a != b {
		t.Errorf("measured %+v, then from the cache %+v", a, b)
	}
	if got := measureRegex("/a(b", 100); got.err == nil {
		t.Error("an invalid regex measured without its error")
	}
}

// TestRegexMeasuredWithinBudget: a regex whose program is far over the limit is known to be
// over it without compiling it whole (\pL{1000} takes a second to compile), its size given
// as a lower bound; asked again without a limit, it is measured whole.
func TestRegexMeasuredWithinBudget(t *testing.T) {
	const huge = `/\pL{1000}`
	info := measureRegex(huge, 100)
	if info.err != nil || !info.over || info.size != regexBudget(100)/2 {
		t.Fatalf("measured within the budget: %+v", info)
	}
	err := Options{}.RegexTooLarge(huge)
	if err == nil || !strings.Contains(err.Error(), "compiles to an RE2 program of more than 232 instructions; Envoy refuses more than 100") {
		t.Errorf("RegexTooLarge = %v", err)
	}
	if info := measureRegex(huge, 0); info.over || info.err == nil || !strings.Contains(info.err.Error(), "too large") {
		t.Errorf("measured whole: %+v, want RE2's memory budget exceeded", info)
	}
	if info := measureRegex("/v1/[a-z0-9-]{1,64}", 100); info.over || info.size != 263 {
		t.Errorf("a regex within the budget: %+v, want its exact size", info)
	}
}
