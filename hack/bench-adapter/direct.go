package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
)

// The load phases' clients (-load-client).
const (
	// directClient sends the official client's requests, the same method,
	// URL and headers on the same HTTP/2 transport, prepared before the
	// clock starts, and decodes every answer.
	directClient = "direct"
	// officialClient is the official k8s.io/metrics external-metrics client.
	officialClient = "official"
)

// directLister sends, for each (namespace, selector), the request the
// official client sends, built once: the load generator then spends its CPU,
// which it shares with the adapter it measures, on the HTTP/2 exchange and
// on decoding the answer, not on client-go building the same URL again
// (about a third of the official client's CPU per request, in the load
// generator's profile). The adapter receives the same bytes either way
// (TestDirectListerSendsWhatTheOfficialClientSends).
type directLister struct {
	rt      http.RoundTripper
	header  http.Header
	urls    [][]*url.URL // [namespace][selector]; read only, shared by concurrent requests
	decoder runtime.Decoder
	bodies  sync.Pool // *bytes.Buffer
}

// directScheme decodes external metric lists, in JSON or protobuf.
var directScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := v1beta1.AddToScheme(s); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(s, metav1.SchemeGroupVersion)
	return s
}()

// direct returns a directLister of t's series set through rt.
func (t *target) direct(rt http.RoundTripper) (*directLister, error) {
	base, err := url.Parse(t.url)
	if err != nil {
		return nil, fmt.Errorf("%s: adapter URL: %w", t.name, err)
	}
	d := &directLister{
		rt: rt,
		// What client-go sets on a GET of a client configured by configFor.
		header: http.Header{
			"Accept":     {t.contentType + ", */*"},
			"User-Agent": {rest.DefaultKubernetesUserAgent()},
		},
		urls:    make([][]*url.URL, t.set.namespaces),
		decoder: serializer.NewCodecFactory(directScheme).UniversalDeserializer(),
	}
	queries := make([]string, len(t.selectors))
	for sel, s := range t.selectors {
		queries[sel] = url.Values{"labelSelector": {s.String()}}.Encode()
	}
	for ns := range d.urls {
		nsPath := path.Join("/apis", v1beta1.SchemeGroupVersion.Group, v1beta1.SchemeGroupVersion.Version, "namespaces", t.set.namespace(ns), t.metric)
		d.urls[ns] = make([]*url.URL, len(queries))
		for sel, q := range queries {
			u := *base
			u.Path, u.RawQuery = nsPath, q
			d.urls[ns][sel] = &u
		}
	}
	return d, nil
}

func (d *directLister) list(ns, sel int) (int, error) {
	u := d.urls[ns][sel]
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: d.header,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	resp, err := d.rt.RoundTrip(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", u, err)
	}
	body, _ := d.bodies.Get().(*bytes.Buffer)
	if body == nil {
		body = new(bytes.Buffer)
	}
	defer d.bodies.Put(body)
	body.Reset()
	_, err = body.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("GET %s: reading the answer: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s: %s", u, resp.Status, statusMessage(d.decoder, body.Bytes()))
	}
	var l v1beta1.ExternalMetricValueList
	if _, _, err := d.decoder.Decode(body.Bytes(), nil, &l); err != nil {
		return 0, fmt.Errorf("GET %s: decoding the answer (%s): %w", u, resp.Header.Get("Content-Type"), err)
	}
	return len(l.Items), nil
}

// statusMessage returns the message of the Status object in an error
// answer, or the answer's start.
func statusMessage(dec runtime.Decoder, body []byte) string {
	var s metav1.Status
	if _, _, err := dec.Decode(body, nil, &s); err == nil && s.Message != "" {
		return s.Message
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return fmt.Sprintf("%q", body)
}
