package server

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericfeatures "k8s.io/apiserver/pkg/features"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	"k8s.io/metrics/pkg/apis/external_metrics"
	externalv1beta1 "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
)

// ExternalLister answers the external metrics API's list request from
// memory, for a label selector in its text form. *provider.Provider
// implements it; a provider that does not is served by the library's
// handlers alone.
type ExternalLister interface {
	ListExternalMetric(namespace, metric, selector string) ([]external_metrics.ExternalMetricValue, error)
}

// externalPrefix is the path of the namespaced external metrics HPAs read:
// /apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}.
const externalPrefix = "/apis/external.metrics.k8s.io/v1beta1/namespaces/"

var externalGV = schema.GroupVersion{Group: external_metrics.GroupName, Version: "v1beta1"}

// fastPath routes the external-metrics list requests that HPAs send (GET,
// JSON, no parameters but labelSelector and a valid timeout) to a lean handler chain and
// everything else to the full one.
//
// The full chain of k8s.io/apiserver spends most of a request's CPU on what
// an in-memory answer does not need: tracing, latency trackers, a goroutine
// per request for timeouts, go-restful routing, parameter decoding through
// the scheme and conversion of the response. The lean chain keeps every
// filter that decides who may read what and what is recorded: audit
// initialisation, panic recovery, request info, graceful-shutdown
// accounting, delegated authentication (with a short-lived cache of
// client-certificate verifications, authncache.go), audit, impersonation, the
// in-flight limit and delegated authorization, all configured from the same
// Config as the full chain. The answer is the library's list object,
// encoded as JSON; errors are the library's Status objects.
type fastPath struct {
	full, lean http.Handler
}

// buildHandlerChain returns a genericapiserver.Config.BuildHandlerChainFunc
// that adds the fast path for lister to the default chain.
func buildHandlerChain(lister ExternalLister, requests *prometheus.HistogramVec) func(http.Handler, *genericapiserver.Config) http.Handler {
	return func(api http.Handler, c *genericapiserver.Config) http.Handler {
		full := genericapiserver.DefaultBuildHandlerChain(api, c)
		answer := &externalAnswer{lister: lister, serializer: c.Serializer, requests: requests}
		return &fastPath{full: full, lean: leanChain(answer, c)}
	}
}

// Bounds of the fast path's client-certificate authentication cache (authncache.go).
const (
	certAuthTTL       = 10 * time.Second
	certAuthCacheSize = 4096
)

// leanChain wraps h in the access-control and accounting filters of
// genericapiserver.DefaultBuildHandlerChain, in the same order.
func leanChain(h http.Handler, c *genericapiserver.Config) http.Handler {
	h = genericapifilters.WithAuthorization(h, c.Authorization.Authorizer, c.Serializer)
	h = genericfilters.WithMaxInFlightLimit(h, c.MaxRequestsInFlight, c.MaxMutatingRequestsInFlight, c.LongRunningFunc)
	if c.FeatureGate.Enabled(genericfeatures.ConstrainedImpersonation) {
		h = impersonation.WithConstrainedImpersonation(h, c.Authorization.Authorizer, c.Serializer)
	} else {
		h = impersonation.WithImpersonation(h, c.Authorization.Authorizer, c.Serializer)
	}
	h = genericapifilters.WithAudit(h, c.AuditBackend, c.AuditPolicyRuleEvaluator, c.LongRunningFunc)
	failed := genericapifilters.Unauthorized(c.Serializer)
	failed = genericapifilters.WithFailedAuthenticationAudit(failed, c.AuditBackend, c.AuditPolicyRuleEvaluator)
	authn := c.Authentication.Authenticator
	if authn != nil {
		authn = newCertAuthCache(authn, c.Authentication.RequestHeaderConfig, certAuthTTL, certAuthCacheSize)
	}
	h = genericapifilters.WithAuthentication(h, authn, failed, c.Authentication.APIAudiences, c.Authentication.RequestHeaderConfig)
	h = genericfilters.WithWaitGroup(h, c.LongRunningFunc, c.NonLongRunningRequestWaitGroup)
	h = genericapifilters.WithCacheControl(h)
	h = genericfilters.WithHSTS(h, c.HSTSDirectives)
	h = genericapifilters.WithRequestInfo(h, externalRequestInfo{next: c.RequestInfoResolver})
	h = genericapifilters.WithRequestReceivedTimestamp(h)
	h = genericfilters.WithPanicRecovery(h, c.RequestInfoResolver)
	h = genericapifilters.WithAuditInit(h)
	return h
}

// externalRequestInfo resolves the request info of fast-path requests
// directly from the path: the library's resolver would decode the query into
// ListOptions through the scheme (parsing the label selector) only to keep
// the selector's text. Other requests go to next.
//
// The info equals next's except that it carries no label selector (tested),
// so authorization asks whether the user may list the metric in the
// namespace, whatever the selector. RBAC ignores selectors, so its answer is
// the same; an authorizer that would allow only some selectors is asked for
// the broader permission, which can only deny more. And the delegated
// authorizer's decision cache then holds one entry per (user, namespace,
// metric) rather than one per HPA selector: with selectors, every HPA's
// first request after each cache TTL is a SubjectAccessReview, and
// thousands of HPAs exceed the review client's rate limit and stall.
type externalRequestInfo struct {
	next apirequest.RequestInfoResolver
}

func (x externalRequestInfo) NewRequestInfo(r *http.Request) (*apirequest.RequestInfo, error) {
	namespace, metric, ok := externalListRequest(r)
	if !ok {
		return x.next.NewRequestInfo(r)
	}
	return &apirequest.RequestInfo{
		IsResourceRequest: true, Path: r.URL.Path, Verb: "list",
		APIPrefix: "apis", APIGroup: externalGV.Group, APIVersion: externalGV.Version,
		Namespace: namespace, Resource: metric, Parts: []string{metric},
	}, nil
}

func (f *fastPath) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := externalListRequest(r); ok {
		f.lean.ServeHTTP(w, r)
		return
	}
	f.full.ServeHTTP(w, r)
}

// externalListRequest reports whether r is a list request of one external
// metric in one namespace that the fast path answers exactly as the library
// would, and returns its namespace and metric.
func externalListRequest(r *http.Request) (namespace, metric string, ok bool) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, externalPrefix) {
		return "", "", false
	}
	namespace, metric, found := strings.Cut(r.URL.Path[len(externalPrefix):], "/")
	if !found || namespace == "" || metric == "" || strings.Contains(metric, "/") {
		return "", "", false
	}
	for k, vs := range r.URL.Query() {
		switch k {
		case "labelSelector":
		case "timeout":
			// client-go adds ?timeout= when its config has one. The answer
			// comes from memory well within any valid timeout; an invalid one
			// is left to the library's chain, which rejects it.
			if d, err := time.ParseDuration(vs[0]); err != nil || d <= 0 {
				return "", "", false
			}
		default:
			return "", "", false
		}
	}
	return namespace, metric, acceptsPlainJSON(r.Header.Values("Accept"))
}

// acceptsPlainJSON reports whether a response in plain JSON satisfies the
// Accept headers: none, or only application/json, application/* and */*
// without parameters (a parameter such as as=Table asks for another form).
func acceptsPlainJSON(accept []string) bool {
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				return false
			}
			delete(params, "q")
			if len(params) > 0 {
				return false
			}
			switch mt {
			case "application/json", "application/*", "*/*":
			default:
				return false
			}
		}
	}
	return true
}

// externalAnswer writes the list of one external metric, after the lean
// chain has authenticated and authorized the request.
type externalAnswer struct {
	lister     ExternalLister
	serializer runtime.NegotiatedSerializer
	requests   *prometheus.HistogramVec
}

func (a *externalAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := a.serve(w, r)
	if a.requests != nil {
		a.requests.WithLabelValues(httpCode(code)).Observe(time.Since(start).Seconds())
	}
}

func (a *externalAnswer) serve(w http.ResponseWriter, r *http.Request) int {
	// Answer what the chain resolved and authorized, without classifying the request again.
	info, ok := apirequest.RequestInfoFrom(r.Context())
	if !ok {
		return responsewriters.ErrorNegotiated(errors.New("no request info: the handler chain is wrong"), a.serializer, externalGV, w, r)
	}
	items, err := a.lister.ListExternalMetric(info.Namespace, info.Resource, r.URL.Query().Get("labelSelector"))
	if err != nil {
		return responsewriters.ErrorNegotiated(err, a.serializer, externalGV, w, r)
	}
	list := externalv1beta1.ExternalMetricValueList{
		TypeMeta: metav1.TypeMeta{Kind: "ExternalMetricValueList", APIVersion: externalGV.String()},
		Items:    make([]externalv1beta1.ExternalMetricValue, len(items)),
	}
	for i, it := range items {
		list.Items[i] = externalv1beta1.ExternalMetricValue{
			MetricName: it.MetricName, MetricLabels: it.MetricLabels, Timestamp: it.Timestamp,
			WindowSeconds: it.WindowSeconds, Value: it.Value,
		}
	}
	body, err := json.Marshal(&list)
	if err != nil {
		return responsewriters.ErrorNegotiated(err, a.serializer, externalGV, w, r)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK
}

func httpCode(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusBadRequest:
		return "400"
	case http.StatusNotFound:
		return "404"
	case http.StatusServiceUnavailable:
		return "503"
	default:
		return strconv.Itoa(code)
	}
}
