package server

import (
	"mime"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
)

// metadataViews are the values of the Accept parameter "as" that ask for the object
// metadata of the answer's items (what metadata-only clients and informers send).
var metadataViews = map[string]bool{"PartialObjectMetadata": true, "PartialObjectMetadataList": true}

// withoutMetadataViews serves the custom and external metrics APIs, whose metric values carry
// no object metadata, to clients that ask for a metadata view (Accept
// ...;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1). The library would try to build the
// view and answer 500 ("object does not implement the Object interfaces"). The media types
// asking for one are taken out of the Accept header, so the library picks among the others
// as it would; a request that asks for nothing else gets 406 Not Acceptable, naming the
// media types served, as an unsupported view (as=Table) does. It wraps the API handler, so
// it runs after authentication and authorization.
func withoutMetadataViews(api http.Handler, s runtime.NegotiatedSerializer) http.Handler {
	var served []string
	for _, info := range s.SupportedMediaTypes() {
		served = append(served, info.MediaType)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept := r.Header.Values("Accept")
		if len(accept) == 0 || !strings.Contains(strings.Join(accept, ","), "PartialObjectMetadata") {
			api.ServeHTTP(w, r)
			return
		}
		for _, gv := range metricsAPIs {
			if !strings.HasPrefix(r.URL.Path, "/apis/"+gv.Group+"/"+gv.Version+"/") {
				continue
			}
			kept := withoutViews(accept)
			if len(kept) == 0 {
				responsewriters.ErrorNegotiated(negotiation.NewNotAcceptableError(served), s, gv, w, r)
				return
			}
			r = r.Clone(r.Context())
			r.Header.Set("Accept", strings.Join(kept, ", "))
			break
		}
		api.ServeHTTP(w, r)
	})
}

// withoutViews returns the media ranges of Accept header values that do not ask for a
// metadata view. A range that does not parse is kept, for the library to judge.
func withoutViews(accept []string) []string {
	var kept []string
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			if _, params, err := mime.ParseMediaType(part); err == nil && metadataViews[params["as"]] {
				continue
			}
			kept = append(kept, part)
		}
	}
	return kept
}
