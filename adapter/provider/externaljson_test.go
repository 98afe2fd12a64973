package provider

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	externalv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"

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

// externalListV1beta1 is the v1beta1 list of entries of metric, as the
// library converts GetExternalMetric's answer.
func externalListV1beta1(metric string, entries []*serving.Entry) *externalv1beta1.ExternalMetricValueList {
	list := &externalv1beta1.ExternalMetricValueList{
		TypeMeta: metav1.TypeMeta{Kind: "ExternalMetricValueList", APIVersion: externalv1beta1.SchemeGroupVersion.String()},
		Items:    make([]externalv1beta1.ExternalMetricValue, len(entries)),
	}
	for i, v := range externalValues(metric, entries) {
		list.Items[i] = externalv1beta1.ExternalMetricValue{
			MetricName: v.MetricName, MetricLabels: v.MetricLabels, Timestamp: v.Timestamp, Value: v.Value,
		}
	}
	return list
}

func entryOf(at int64, v float64, ls ...string) *serving.Entry {
	return &serving.Entry{Labels: labels.FromStrings(ls...), Forecast: forecast.Forecast{At: at, Value: v}}
}

// listEncodings are the fast path's encoders, each with its reference: what
// the library writes for the same answer.
var listEncodings = map[string]struct {
	append    func(dst []byte, metric string, entries []*serving.Entry) []byte
	reference func(t testing.TB, metric string, entries []*serving.Entry) []byte
}{
	"json":     {appendExternalList, marshalExternalList},
	"protobuf": {appendExternalListProtobuf, protobufExternalList},
}

// protobufSerializer is the API machinery's protobuf serializer, as the
// library's handlers negotiate it.
var protobufSerializer = func() runtime.Serializer {
	scheme := runtime.NewScheme()
	if err := externalv1beta1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	info, ok := runtime.SerializerInfoForMediaType(serializer.NewCodecFactory(scheme).SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		panic("no protobuf serializer")
	}
	return info.Serializer
}()

// protobufExternalList is the protobuf reference: the v1beta1 list encoded
// by the API machinery's protobuf serializer.
func protobufExternalList(t testing.TB, metric string, entries []*serving.Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := protobufSerializer.Encode(externalListV1beta1(metric, entries), &buf); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return buf.Bytes()
}

func TestAppendExternalListEqualsLibraryEncoding(t *testing.T) {
	at := int64(1_795_000_000)
	long := strings.Repeat("v", 200) // lengths past one varint byte
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
		"long values":     {long, []*serving.Entry{entryOf(at, 5, "namespace", "n", "service", long, long, strings.Repeat("w", 20_000))}},
	} {
		for encoding, enc := range listEncodings {
			got := enc.append([]byte("prefix"), tc.metric, tc.entries)
			want := append([]byte("prefix"), enc.reference(t, tc.metric, tc.entries)...)
			if !bytes.Equal(got, want) {
				t.Errorf("%s, %s:\ngot  %q\nwant %q", name, encoding, got, want)
			}
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
		for encoding, enc := range listEncodings {
			if got, want := enc.append(nil, metric, entries), enc.reference(t, metric, entries); !bytes.Equal(got, want) {
				t.Errorf("%s:\ngot  %q\nwant %q", encoding, got, want)
			}
		}
	})
}

// BenchmarkAppendExternalList encodes the one-item answer of an HPA's
// request, as the fast path does, against the library's encoding.
func BenchmarkAppendExternalList(b *testing.B) {
	entries := []*serving.Entry{entryOf(1_795_000_000, 1234.5, "__name__", "envoy_rps", "namespace", "shop", "service", "checkout")}
	for encoding, enc := range listEncodings {
		b.Run(encoding+"/append", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 1024)
			for b.Loop() {
				buf = enc.append(buf[:0], "rps", entries)
			}
		})
		b.Run(encoding+"/library", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				enc.reference(b, "rps", entries)
			}
		})
	}
}
