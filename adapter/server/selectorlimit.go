package server

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"

	"github.com/foresight-dev/foresight/adapter/source"
)

// metricsAPIs are the path prefixes of the APIs whose requests carry label
// selectors the provider translates.
var metricsAPIs = []schema.GroupVersion{
	externalGV,
	{Group: "custom.metrics.k8s.io", Version: "v1beta1"},
	{Group: "custom.metrics.k8s.io", Version: "v1beta2"},
}

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
