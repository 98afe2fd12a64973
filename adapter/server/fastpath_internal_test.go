package server

import (
	"net/http/httptest"
	"reflect"
	"testing"

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

func TestAcceptsPlainJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                    true,
		"application/json":                    true,
		"application/json, */*":               true,
		"application/json;q=0.9, */*;q=0.1":   true,
		"application/*":                       true,
		"application/vnd.kubernetes.protobuf": false,
		"application/json;as=Table;v=v1;g=meta.k8s.io": false,
		"application/yaml":                   false,
		"application/json, application/yaml": false,
		"garbage;;":                          false,
	} {
		var hs []string
		if accept != "" {
			hs = []string{accept}
		}
		if got := acceptsPlainJSON(hs); got != want {
			t.Errorf("Accept %q: %v, want %v", accept, got, want)
		}
	}
}
