// Package seeds loads files into a fuzz target's seed corpus, so that fuzz
// targets over the same documents start from the same examples.
package seeds

import (
	"os"
	"path/filepath"
	"testing"
)

// AddFiles adds every file matching patterns (filepath.Glob patterns,
// relative to the test's package folder) to f's seed corpus, in pattern
// order. It fails f when a pattern is malformed, a file cannot be read, or
// no pattern matches any file (a moved folder would otherwise leave the
// target without its seeds).
func AddFiles(f *testing.F, patterns ...string) {
	f.Helper()
	n := 0
	for _, pattern := range patterns {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatalf("seed pattern %q: %v", pattern, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatalf("seed file: %v", err)
			}
			f.Add(data)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seed file matches %q", patterns)
	}
}
