package server

import (
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/sets"
	genericapiserver "k8s.io/apiserver/pkg/server"
)

// The fast path's request info equals the library resolver's but for the
// label selector, which it leaves out so that authorization is asked for the
// whole metric in the namespace; requests the fast path does not take are
// resolved by the library.
func TestExternalRequestInfoEqualsLibrary(t *testing.T) {
	library := genericapiserver.NewRequestInfoResolver(&genericapiserver.Config{LegacyAPIGroupPrefixes: sets.NewString("/api")})
	fast := externalRequestInfo{next: library}
	for _, target := range []string{
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/queue_depth",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/queue_depth?labelSelector=queue%3Dorders",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/Queue.Depth-2?labelSelector=a+in+(x,y),b!%3Dz",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/queue_depth?labelSelector=%7Bbad",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/queue_depth?labelSelector=a%3Db&labelSelector=c%3Dd",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/queue_depth?labelSelector=a%3Db&timeout=30s",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/queue_depth?watch=true",
		"/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/queue_depth/extra",
		"/apis/external.metrics.k8s.io/v1beta1/queue_depth",
		"/apis/custom.metrics.k8s.io/v1beta2/namespaces/team-a/services/web/rps",
	} {
		r := httptest.NewRequest("GET", target, nil)
		got, err := fast.NewRequestInfo(r)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		want, err := library.NewRequestInfo(r)
		if err != nil {
			t.Fatalf("%s: library: %v", target, err)
		}
		if _, _, ok := externalListRequest(r); ok {
			if got.LabelSelector != "" {
				t.Errorf("%s: fast path passes the label selector %q to authorization", target, got.LabelSelector)
			}
			want.LabelSelector = ""
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nfast path %+v\nlibrary   %+v", target, *got, *want)
		}
	}
}

// negotiateMedia picks JSON or protobuf as the library's negotiation does,
// and leaves every other request to the library's chain.
func TestNegotiateMedia(t *testing.T) {
	ns := serializer.NewCodecFactory(runtime.NewScheme())
	for _, c := range []struct {
		accept, userAgent string
		want              answerMedia
	}{
		{"", "", mediaJSON},
		{"application/json", "", mediaJSON},
		{"application/json, */*", "", mediaJSON},
		{"application/json;q=0.9, */*;q=0.1", "", mediaJSON},
		{"application/*", "", mediaNone}, // go-restful's route matching refuses it (406)
		{"application/*;q=0.5, application/json", "", mediaNone},
		{"*/*", "", mediaJSON},
		{"application/vnd.kubernetes.protobuf, */*", "", mediaProtobuf}, // kube-controller-manager
		{"application/vnd.kubernetes.protobuf,application/json", "", mediaProtobuf},
		{"application/vnd.kubernetes.protobuf", "", mediaProtobuf},
		{"application/json;q=0.5, application/vnd.kubernetes.protobuf", "", mediaProtobuf},
		{"application/vnd.kubernetes.protobuf;q=0.5, application/json", "", mediaJSON},
		{"application/json;as=Table;v=v1;g=meta.k8s.io", "", mediaNone},
		{"application/json;as=Table;v=v1;g=meta.k8s.io, application/json", "", mediaNone},
		{"application/yaml", "", mediaNone},
		{"application/yaml, application/json", "", mediaNone},
		{"text/html", "", mediaNone},
		{"garbage;;", "", mediaNone},
		{"application/json", "curl/8.5.0", mediaNone}, // the library pretty-prints for curl
		{"", "Mozilla/5.0 (X11)", mediaNone},
	} {
		r := httptest.NewRequest("GET", "/apis/external.metrics.k8s.io/v1beta1/namespaces/a/m", nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		r.Header.Set("User-Agent", c.userAgent)
		if got := negotiateMedia(r, ns); got != c.want {
			t.Errorf("Accept %q, User-Agent %q: %v, want %v", c.accept, c.userAgent, got, c.want)
		}
	}
}

// fastQuery takes exactly the queries that url.ParseQuery decodes into a
// labelSelector and a valid timeout, each at most once, and returns the
// selector as url.ParseQuery decodes it.
func TestFastQuery(t *testing.T) {
	for raw, want := range map[string]struct {
		selector string
		ok       bool
	}{
		"":                                     {"", true},
		"labelSelector=queue%3Dorders":         {"queue=orders", true},
		"labelSelector=a+in+(x,y),b!%3Dz":      {"a in (x,y),b!=z", true},
		"labelSelector=a%3Db&timeout=30s":      {"a=b", true},
		"timeout=30s":                          {"", true},
		"&&labelSelector=a%3Db&":               {"a=b", true},
		"label%53elector=x":                    {"x", true},
		"labelSelector":                        {"", true},
		"labelSelector=a%3Db&labelSelector=c":  {"", false},
		"timeout=0s":                           {"", false},
		"timeout=soon":                         {"", false},
		"timeout=1s&timeout=2s":                {"", false},
		"watch=true":                           {"", false},
		"labelSelector=a%3Db&pretty=true":      {"", false},
		"labelSelector=a%3Db;pretty=true":      {"", false},
		"labelSelector=%zz":                    {"", false},
		"labelSelector=%7B%7D%22%5C%20or%20up": {`{}"\ or up`, true},
	} {
		got, ok := fastQuery(raw)
		if ok != want.ok || got != want.selector {
			t.Errorf("fastQuery(%q) = %q, %v; want %q, %v", raw, got, ok, want.selector, want.ok)
		}
	}
}

func FuzzFastQuery(f *testing.F) {
	for _, seed := range []string{"labelSelector=a%3Db&timeout=30s", "a=1&&b", "labelSelector=%zz", "timeout=1s;x", "labelSelector=x&labelSelector=y"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		selector, ok := fastQuery(raw)
		if !ok {
			return
		}
		values, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatalf("fastQuery took %q, which url.ParseQuery refuses: %v", raw, err)
		}
		for k, vs := range values {
			if (k != "labelSelector" && k != "timeout") || len(vs) != 1 {
				t.Fatalf("fastQuery took %q with %s=%q", raw, k, vs)
			}
		}
		if got := values.Get("labelSelector"); got != selector {
			t.Fatalf("fastQuery(%q) selector %q, url.ParseQuery %q", raw, selector, got)
		}
	})
}

// The Date header is formatted once a second and is the second's HTTP date.
func TestDateHeader(t *testing.T) {
	now := time.Date(2026, 11, 26, 2, 30, 15, 100, time.FixedZone("CET", 3600))
	d := dateHeader{clock: func() time.Time { return now }}
	first := d.now()
	if want := "Thu, 26 Nov 2026 01:30:15 GMT"; len(first) != 1 || first[0] != want {
		t.Fatalf("Date %q, want [%q]", first, want)
	}
	now = now.Add(800 * time.Millisecond)
	if same := d.now(); &same[0] != &first[0] {
		t.Errorf("Date formatted again within its second: %q", same)
	}
	now = now.Add(200 * time.Millisecond)
	if next := d.now(); next[0] != "Thu, 26 Nov 2026 01:30:16 GMT" {
		t.Errorf("Date in the next second %q", next)
	}
}
