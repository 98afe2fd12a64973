package backtest

import (
	"os"
	"path/filepath"
	"testing"
)

// tracesDir returns <project root>/../shared/traces, skipping the test when
// it is absent. The project root is the nearest directory with a go.mod.
func tracesDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("no go.mod above the test directory: cannot locate ../shared/traces")
		}
		dir = parent
	}
	traces := filepath.Join(dir, "..", "shared", "traces")
	if _, err := os.Stat(traces); err != nil {
		tb.Skipf("real traces not available at %s: %v", traces, err)
	}
	return traces
}
