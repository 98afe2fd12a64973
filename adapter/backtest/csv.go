package backtest

import (
	"fmt"
	"io"

	"github.com/foresight-dev/foresight/adapter/trace"
)

// Sample is one row of a load trace (read with package trace).
type Sample = trace.Sample

// WriteServedCSV writes `ts,value` rows: for every sample, the value served at
// its timestamp. The format is stable, so equal inputs give equal bytes.
func WriteServedCSV(w io.Writer, samples []Sample, served []float64) error {
	if len(samples) != len(served) {
		return fmt.Errorf("served-out: %d samples but %d served values", len(samples), len(served))
	}
	out := make([]trace.Sample, len(samples))
	for i, s := range samples {
		out[i] = trace.Sample{TS: s.TS, Value: served[i]}
	}
	if err := trace.Write(w, out); err != nil {
		return fmt.Errorf("served-out: %w", err)
	}
	return nil
}
