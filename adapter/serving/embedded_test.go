package serving

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/source"
)

// newEmbedded returns an embedded TSDB in a temporary directory with its
// metrics on reg, closed when the test ends.
func newEmbedded(t testing.TB, reg prometheus.Registerer) *source.Embedded {
	t.Helper()
	emb, err := source.NewEmbedded(source.EmbeddedOptions{Dir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close() })
	return emb
}

// appendMinutely appends to emb the series with labels kv (name, value, ...):
// one sample a minute from from to to, both included, valued v at its time.
func appendMinutely(t testing.TB, emb *source.Embedded, from, to time.Time, v func(time.Time) float64, kv ...string) {
	t.Helper()
	var ss []source.Sample
	for ts := from; !ts.After(to); ts = ts.Add(time.Minute) {
		ss = append(ss, source.Sample{T: ts.UnixMilli(), V: v(ts)})
	}
	if err := emb.AppendSeries(labels.FromStrings(kv...), ss); err != nil {
		t.Fatal(err)
	}
}

// constant is the value function that is always c.
func constant(c float64) func(time.Time) float64 {
	return func(time.Time) float64 { return c }
}
