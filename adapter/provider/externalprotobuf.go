package provider

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/serving"
)

// AppendExternalMetricListProtobuf is AppendExternalMetricList in the
// Kubernetes protobuf encoding (application/vnd.kubernetes.protobuf), which
// kube-controller-manager's HPA clients ask for.
//
// The bytes equal what the API machinery's protobuf serializer writes for
// the list GetExternalMetric returns, converted to v1beta1: the "k8s\x00"
// prefix and a runtime.Unknown envelope around the list (tested, and
// fuzzed). They are written straight from the store's entries, where
// building the API objects (label maps, quantities) and marshaling them cost
// about a tenth of an answer's CPU under load.
func (p *Provider) AppendExternalMetricListProtobuf(dst []byte, namespace, metric, selector string) ([]byte, error) {
	return p.appendExternal(dst, namespace, metric, selector, appendExternalListProtobuf)
}

// Field numbers of the messages in an answer, from the generated.proto files
// of k8s.io/apimachinery (runtime.Unknown, metav1.TypeMeta, ListMeta,
// Timestamp, resource.Quantity) and k8s.io/metrics (ExternalMetricValueList,
// ExternalMetricValue).
const (
	unknownTypeMeta        = 1
	unknownRaw             = 2
	unknownContentEncoding = 3
	unknownContentType     = 4

	typeMetaAPIVersion = 1
	typeMetaKind       = 2

	listMetaSelfLink        = 1
	listMetaResourceVersion = 2
	listMetaContinue        = 3

	listMetadata = 1
	listItems    = 2

	valueMetricName   = 1
	valueMetricLabels = 2
	valueTimestamp    = 3
	valueValue        = 5

	mapEntryKey   = 1
	mapEntryValue = 2

	timestampSeconds = 1
	timestampNanos   = 2

	quantityString = 1
)

// protobufPrefix starts every message of the Kubernetes protobuf encoding.
const protobufPrefix = "k8s\x00"

// protobufTypeMeta is the envelope's TypeMeta message of an
// ExternalMetricValueList; protobufListMeta is the list's empty ListMeta,
// whose strings the generated code writes even when empty.
var (
	protobufTypeMeta = appendProtobufString(appendProtobufString(nil, typeMetaAPIVersion, "external.metrics.k8s.io/v1beta1"), typeMetaKind, "ExternalMetricValueList")
	protobufListMeta = appendProtobufString(appendProtobufString(appendProtobufString(nil, listMetaSelfLink, ""), listMetaResourceVersion, ""), listMetaContinue, "")
)

// appendExternalListProtobuf appends the protobuf list of entries of metric
// in its envelope. Nested messages are length-prefixed, so each size is
// computed before the message is written.
func appendExternalListProtobuf(dst []byte, metric string, entries []*serving.Entry) []byte {
	var scratch [32]byte
	listSize := sizeProtobufBytes(listMetadata, len(protobufListMeta))
	for _, e := range entries {
		listSize += sizeProtobufBytes(listItems, externalValueSize(metric, e, appendQuantity(scratch[:0], e.Forecast.Value)))
	}
	dst = append(dst, protobufPrefix...)
	dst = appendProtobufBytes(dst, unknownTypeMeta, protobufTypeMeta)
	dst = protowire.AppendTag(dst, unknownRaw, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(listSize))
	dst = appendProtobufBytes(dst, listMetadata, protobufListMeta)
	for _, e := range entries {
		quantity := appendQuantity(scratch[:0], e.Forecast.Value)
		dst = protowire.AppendTag(dst, listItems, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(externalValueSize(metric, e, quantity)))
		dst = appendExternalValue(dst, metric, e, quantity)
	}
	dst = appendProtobufString(dst, unknownContentEncoding, "")
	return appendProtobufString(dst, unknownContentType, "")
}

// appendExternalValue appends the ExternalMetricValue message of entry e
// (without its tag and length); quantity is the text of its value.
func appendExternalValue(dst []byte, metric string, e *serving.Entry, quantity []byte) []byte {
	dst = appendProtobufString(dst, valueMetricName, metric)
	// Labels are sorted by name, as the generated code sorts map keys.
	e.Labels.Range(func(l labels.Label) {
		dst = protowire.AppendTag(dst, valueMetricLabels, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(labelEntrySize(l)))
		dst = appendProtobufString(dst, mapEntryKey, l.Name)
		dst = appendProtobufString(dst, mapEntryValue, l.Value)
	})
	dst = protowire.AppendTag(dst, valueTimestamp, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(timestampSize(e.Forecast.At)))
	dst = appendTimestamp(dst, e.Forecast.At)
	dst = protowire.AppendTag(dst, valueValue, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(sizeProtobufBytes(quantityString, len(quantity))))
	return appendProtobufBytes(dst, quantityString, quantity)
}

// externalValueSize is the length of appendExternalValue's message.
func externalValueSize(metric string, e *serving.Entry, quantity []byte) int {
	n := sizeProtobufBytes(valueMetricName, len(metric))
	e.Labels.Range(func(l labels.Label) {
		n += sizeProtobufBytes(valueMetricLabels, labelEntrySize(l))
	})
	n += sizeProtobufBytes(valueTimestamp, timestampSize(e.Forecast.At))
	return n + sizeProtobufBytes(valueValue, sizeProtobufBytes(quantityString, len(quantity)))
}

// labelEntrySize is the length of a metricLabels map entry's message.
func labelEntrySize(l labels.Label) int {
	return sizeProtobufBytes(mapEntryKey, len(l.Name)) + sizeProtobufBytes(mapEntryValue, len(l.Value))
}

// appendTimestamp appends a metav1.Time of whole seconds: the library writes
// both fields, and nanoseconds as 0.
func appendTimestamp(dst []byte, seconds int64) []byte {
	dst = protowire.AppendTag(dst, timestampSeconds, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(seconds))
	dst = protowire.AppendTag(dst, timestampNanos, protowire.VarintType)
	return protowire.AppendVarint(dst, 0)
}

func timestampSize(seconds int64) int {
	return protowire.SizeTag(timestampSeconds) + protowire.SizeVarint(uint64(seconds)) +
		protowire.SizeTag(timestampNanos) + protowire.SizeVarint(0)
}

// appendQuantity appends the canonical text of v's served quantity, the
// string a resource.Quantity marshals as.
func appendQuantity(dst []byte, v float64) []byte {
	q := milliQuantity(v)
	var scratch [32]byte
	number, suffix := q.CanonicalizeBytes(scratch[:0])
	return append(append(dst, number...), suffix...)
}

func appendProtobufString(dst []byte, field protowire.Number, s string) []byte {
	dst = protowire.AppendTag(dst, field, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

func appendProtobufBytes(dst []byte, field protowire.Number, b []byte) []byte {
	dst = protowire.AppendTag(dst, field, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
}

// sizeProtobufBytes is the length of a length-delimited field of n bytes.
func sizeProtobufBytes(field protowire.Number, n int) int {
	return protowire.SizeTag(field) + protowire.SizeBytes(n)
}
