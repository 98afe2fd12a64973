package provider

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/serving"
)

// marshalExternalList is the reference: the v1beta1 list of the values
// GetExternalMetric returns, marshaled by encoding/json.
func marshalExternalList(t testing.TB, metric string, entries []*serving.Entry) []byte {
	t.Helper()
	list := externalListV1beta1(metric, entries)
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func entryOf(at int64, v float64, ls ...string) *serving.Entry {
	return &serving.Entry{Labels: labels.FromStrings(ls...), Forecast: forecast.Forecast{At: at, Value: v}}
}

func TestAppendExternalListEqualsEncodingJSON(t *testing.T) {
	at := int64(1_795_000_000)
	for name, tc := range map[string]struct {
		metric  string
		entries []*serving.Entry
	}{
		"empty":           {"rps", nil},
		"one":             {"rps", []*serving.Entry{entryOf(at, 12.3456, "namespace", "shop", "service", "web")}},
		"several":         {"queue_depth", []*serving.Entry{entryOf(at, 0, "namespace", "a", "queue", "q1"), entryOf(at+60, 1e-4, "namespace", "a", "queue", "q2"), entryOf(at, 7, "namespace", "a", "queue", "q3")}},
		"no labels":       {"rps", []*serving.Entry{entryOf(at, 1)}},
		"escapes":         {`m"<&>`, []*serving.Entry{entryOf(at, 2, "namespace", "n", "path", `/a?b="c"&d<e>\f`+"\n\t\x01\u2028")}},
		"unicode":         {"rps", []*serving.Entry{entryOf(at, 3, "namespace", "n", "name", "café ☕", "bad", "\xff\xfe")}},
		"huge and tiny":   {"rps", []*serving.Entry{entryOf(at, 1e300, "namespace", "n"), entryOf(at, -1e300, "namespace", "n"), entryOf(at, math.NaN(), "namespace", "n"), entryOf(at, -0.0004, "namespace", "n")}},
		"thousands":       {"rps", []*serving.Entry{entryOf(at, 123456.789, "namespace", "n"), entryOf(at, 1000, "namespace", "n"), entryOf(at, 1e9, "namespace", "n")}},
		"epoch and later": {"rps", []*serving.Entry{entryOf(0, 1, "namespace", "n"), entryOf(253_402_300_799, 1, "namespace", "n")}},
	} {
		got := appendExternalList([]byte("prefix"), tc.metric, tc.entries)
		want := append([]byte("prefix"), marshalExternalList(t, tc.metric, tc.entries)...)
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\ngot  %s\nwant %s", name, got, want)
		}
	}
}

func FuzzAppendExternalList(f *testing.F) {
	f.Add("rps", "service", "web", "zone", "eu", int64(1_795_000_000), 12.5)
	f.Add(`m"`, "a<b", "\x00\xff", "&", "\u2028", int64(0), -1e-9)
	f.Fuzz(func(t *testing.T, metric, n1, v1, n2, v2 string, at int64, v float64) {
		if n1 == n2 || at < 0 || at > 253_402_300_799 { // label names are unique; RFC 3339 years have four digits
			t.Skip()
		}
		entries := []*serving.Entry{entryOf(at, v, n1, v1, n2, v2), entryOf(at, -v, n2, v1)}
		got := appendExternalList(nil, metric, entries)
		if want := marshalExternalList(t, metric, entries); !bytes.Equal(got, want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
}

// BenchmarkAppendExternalList encodes the one-item answer of an HPA's
// request, as the fast path does, against encoding/json.
func BenchmarkAppendExternalList(b *testing.B) {
	entries := []*serving.Entry{entryOf(1_795_000_000, 1234.5, "__name__", "envoy_rps", "namespace", "shop", "service", "checkout")}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = appendExternalList(buf[:0], "rps", entries)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			marshalExternalList(b, "rps", entries)
		}
	})
}
