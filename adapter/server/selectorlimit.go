package server

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	"github.com/foresight-dev/foresight/adapter/source"
)

// customAPIs are the custom metrics API versions, whose requests carry a
// metricLabelSelector besides the labelSelector.
var customAPIs = []schema.GroupVersion{
	{Group: "custom.metrics.k8s.io", Version: "v1beta1"},
	{Group: "custom.metrics.k8s.io", Version: "v1beta2"},
}

// metricsAPIs are the path prefixes of the APIs whose requests carry label
// selectors the provider translates.
var metricsAPIs = append([]schema.GroupVersion{externalGV}, customAPIs...)

// withSelectorLimit answers 400 Bad Request to a metrics API request whose
// labelSelector or metricLabelSelector is longer than
// source.MaxSelectorBytes, with the message the fast path answers
// (source.CheckSelectorText). It runs first, before both chains, because
// the library parses a selector of any length that fits in the request
// line, twice before its handler runs (request info decodes the list
// options; authorization takes the selector's requirements as attributes),
// and for unauthenticated requests too. Refusing the text by its length
// alone tells a client nothing about the server, as a 431 for oversized
// headers does not.
func withSelectorLimit(h http.Handler, s runtime.NegotiatedSerializer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > source.MaxSelectorBytes {
			for _, gv := range metricsAPIs {
				if !strings.HasPrefix(r.URL.Path, "/apis/"+gv.Group+"/"+gv.Version+"/") {
					continue
				}
				query := r.URL.Query()
				for _, name := range []string{"labelSelector", "metricLabelSelector"} {
					for _, v := range query[name] {
						if err := source.CheckSelectorText(name, v); err != nil {
							responsewriters.ErrorNegotiated(apierrors.NewBadRequest(err.Error()), s, gv, w, r)
							return
						}
					}
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// withMetricLabelSelectorCheck answers 400 Bad Request, naming the
// parameter, to a custom metrics request (v1beta1 or v1beta2) whose metricLabelSelector
// does not parse; custom-metrics-apiserver's storage returns the parser's
// error as it is, which the library answers with 500. It wraps the API
// handler, so it runs after authentication and authorization, and reads the
// first value of the parameter, the one the library reads.
func withMetricLabelSelectorCheck(api http.Handler, s runtime.NegotiatedSerializer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			for _, gv := range customAPIs {
				if !strings.HasPrefix(r.URL.Path, "/apis/"+gv.Group+"/"+gv.Version+"/") {
					continue
				}
				if v := r.URL.Query()["metricLabelSelector"]; len(v) > 0 {
					if _, err := k8slabels.Parse(v[0]); err != nil {
						responsewriters.ErrorNegotiated(apierrors.NewBadRequest("metricLabelSelector: "+err.Error()), s, gv, w, r)
						return
					}
				}
			}
		}
		api.ServeHTTP(w, r)
	})
}
