package main

import (
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
)

// seenRequest is what a test adapter saw of one request.
type seenRequest struct {
	method, uri, proto string
	header             http.Header
}

// recordingAdapter answers external-metrics lists with items items (or with
// a 403 Status when forbidden) in the media type the request asks for first,
// and records every request.
type recordingAdapter struct {
	mu        sync.Mutex
	seen      []seenRequest
	items     int
	forbidden bool
}

func (a *recordingAdapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, seenRequest{method: r.Method, uri: r.URL.RequestURI(), proto: r.Proto, header: r.Header.Clone()})
	items, forbidden := a.items, a.forbidden
	a.mu.Unlock()
	codecs := serializer.NewCodecFactory(directScheme)
	media, _, _ := mime.ParseMediaType(strings.Split(r.Header.Get("Accept"), ",")[0])
	info, ok := runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), media)
	if !ok {
		info, _ = runtime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), runtime.ContentTypeJSON)
	}
	var obj runtime.Object
	code := http.StatusOK
	if forbidden {
		code = http.StatusForbidden
		obj = &metav1.Status{Status: metav1.StatusFailure, Code: int32(code), Reason: metav1.StatusReasonForbidden, Message: "bench-hpa cannot list bench_load"}
	} else {
		l := &v1beta1.ExternalMetricValueList{}
		for i := range items {
			l.Items = append(l.Items, v1beta1.ExternalMetricValue{MetricName: "bench_load", MetricLabels: map[string]string{"service": service(i)},
				Timestamp: metav1.NewTime(time.Unix(1e9, 0)), Value: resource.MustParse("1500m")})
		}
		obj = l
	}
	gv := v1beta1.SchemeGroupVersion
	if forbidden {
		gv = metav1.SchemeGroupVersion
	}
	w.Header().Set("Content-Type", info.MediaType)
	w.WriteHeader(code)
	if err := codecs.EncoderForVersion(info.Serializer, gv).Encode(obj, w); err != nil {
		panic(err)
	}
}

// The direct lister is there to spare the load generator's CPU, not to
// change the load: the adapter must receive the same request from it as from
// the official client, in both encodings, and it must read answers and
// errors as the official client does.
func TestDirectListerSendsWhatTheOfficialClientSends(t *testing.T) {
	for _, contentType := range []string{runtime.ContentTypeProtobuf, runtime.ContentTypeJSON} {
		t.Run(contentType, func(t *testing.T) {
			adapter := &recordingAdapter{items: 1}
			srv := httptest.NewUnstartedServer(adapter)
			srv.EnableHTTP2 = true
			srv.StartTLS()
			defer srv.Close()
			set := seriesSet{metric: "bench_load", namespaces: 3, perNamespace: 5}
			selectors, err := serviceSelectors(set)
			if err != nil {
				t.Fatal(err)
			}
			tgt := &target{name: "test", url: srv.URL, metric: set.metric, set: set, contentType: contentType,
				tls: srv.Client().Transport.(*http.Transport).TLSClientConfig, selectors: selectors}

			tr, _ := tgt.loadTransport()
			c, err := tgt.clientFor(tgt.configFor(tr))
			if err != nil {
				t.Fatal(err)
			}
			official := tgt.official(c)
			direct, err := tgt.direct(tr)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range []lister{official, direct} {
				if n, err := l.list(2, 4); err != nil || n != 1 {
					t.Fatalf("%T: %d items, error %v; want 1 item", l, n, err)
				}
			}
			if len(adapter.seen) != 2 {
				t.Fatalf("adapter saw %d requests, want 2", len(adapter.seen))
			}
			o, d := adapter.seen[0], adapter.seen[1]
			if o.proto != "HTTP/2.0" || d.proto != "HTTP/2.0" {
				t.Errorf("protocols %s and %s, want HTTP/2.0", o.proto, d.proto)
			}
			want := "/apis/external.metrics.k8s.io/v1beta1/namespaces/bench_load-ns-2/bench_load?labelSelector=service%3Dsvc-4"
			if o.uri != want {
				t.Errorf("official client asked for %s, want %s", o.uri, want)
			}
			if d.method != o.method || d.uri != o.uri {
				t.Errorf("direct lister sent %s %s, official client %s %s", d.method, d.uri, o.method, o.uri)
			}
			for _, h := range []http.Header{o.header, d.header} {
				h.Del("Accept-Encoding") // added by the transport to both, if at all: compared below
			}
			if !equalHeaders(o.header, d.header) {
				t.Errorf("headers differ:\nofficial %v\ndirect   %v", o.header, d.header)
			}
			if got := d.header.Get("Accept"); got != contentType+", */*" {
				t.Errorf("Accept = %q, want %q", got, contentType+", */*")
			}

			adapter.mu.Lock()
			adapter.items = 3
			adapter.mu.Unlock()
			for _, l := range []lister{official, direct} {
				if n, err := l.list(0, 0); err != nil || n != 3 {
					t.Errorf("%T on a 3-item answer: %d items, error %v", l, n, err)
				}
			}
			adapter.mu.Lock()
			adapter.forbidden = true
			adapter.mu.Unlock()
			for _, l := range []lister{official, direct} {
				if _, err := l.list(0, 0); err == nil || !strings.Contains(err.Error(), "bench-hpa cannot list bench_load") {
					t.Errorf("%T on a Forbidden answer: error %v, want the Status message", l, err)
				}
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
