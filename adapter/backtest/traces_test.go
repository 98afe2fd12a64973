package backtest

import (
	"path/filepath"
	"testing"

	"github.com/foresight-dev/foresight/adapter/trace"
)

// readTrace reads the real load trace name (without .csv) from the
// repository's testdata/traces.
func readTrace(tb testing.TB, name string) []Sample {
	tb.Helper()
	samples, err := trace.ReadFile(filepath.Join("..", "..", "testdata", "traces", name+".csv"))
	if err != nil {
		tb.Fatal(err)
	}
	return samples
}
