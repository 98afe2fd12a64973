package provider

import (
	"encoding/json"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/serving"
)

// AppendExternalMetricList answers the list request HPAs send for an
// external metric: it appends to dst the external.metrics.k8s.io/v1beta1
// ExternalMetricValueList of metric's series in namespace that match
// selector (a labelSelector parameter's text), encoded as JSON. It serves
// the server's fast path; errors are the API errors GetExternalMetric returns.
//
// The bytes equal what encoding/json writes for the list that
// GetExternalMetric returns, converted to v1beta1 (tested, and fuzzed), but
// they are written straight from the store's entries: an answer allocates
// nothing per item, where building the API objects and marshaling them by
// reflection allocated about 2.5 KB per request.
func (p *Provider) AppendExternalMetricList(dst []byte, namespace, metric, selector string) ([]byte, error) {
	return p.appendExternal(dst, namespace, metric, selector, appendExternalList)
}

// appendExternal appends the list of metric's series in namespace that match
// selector, encoded by encode.
func (p *Provider) appendExternal(dst []byte, namespace, metric, selector string, encode func([]byte, string, []*serving.Entry) []byte) ([]byte, error) {
	entries, err := p.listExternal(namespace, metric, selector)
	if err != nil {
		return dst, err
	}
	return encode(dst, metric, entries), nil
}

// appendExternalList appends the JSON list of entries of metric.
func appendExternalList(dst []byte, metric string, entries []*serving.Entry) []byte {
	dst = append(dst, `{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[`...)
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"metricName":`...)
		dst = appendJSONString(dst, metric)
		dst = append(dst, `,"metricLabels":{`...)
		first := true
		// Labels are sorted by name, as encoding/json sorts map keys.
		e.Labels.Range(func(l labels.Label) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendJSONString(dst, l.Name)
			dst = append(dst, ':')
			dst = appendJSONString(dst, l.Value)
		})
		dst = append(dst, `},"timestamp":"`...)
		// metav1.Time: RFC 3339 in UTC, whole seconds.
		dst = time.Unix(e.Forecast.At, 0).UTC().AppendFormat(dst, time.RFC3339)
		dst = append(dst, `","value":"`...)
		dst = appendQuantity(dst, e.Forecast.Value)
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it. Strings of printable ASCII without the characters encoding/json
// escapes are copied; anything else goes through encoding/json itself.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
