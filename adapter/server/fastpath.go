package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericfeatures "k8s.io/apiserver/pkg/features"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	flowcontrolrequest "k8s.io/apiserver/pkg/util/flowcontrol/request"
	"k8s.io/metrics/pkg/apis/external_metrics"
)

// ExternalLister answers the external metrics API's list request from
// memory, for a label selector in its text form, or returns the API error
// the library's handler would answer. AppendExternalMetricList appends the
// external.metrics.k8s.io/v1beta1 ExternalMetricValueList to dst as JSON,
// AppendExternalMetricListProtobuf in the Kubernetes protobuf encoding; both
// write the bytes the library's serializers would.
// *provider.Provider implements it; a provider that does not is served by
// the library's handlers alone.
type ExternalLister interface {
	AppendExternalMetricList(dst []byte, namespace, metric, selector string) ([]byte, error)
	AppendExternalMetricListProtobuf(dst []byte, namespace, metric, selector string) ([]byte, error)
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
// front proxy certificate verifications, authncache.go), the request
// deadline, audit, impersonation, the in-flight limit or priority and
// fairness (shared with the full chain) and delegated authorization, all
// configured from the same
// Config as the full chain. The answer is the library's list object,
// encoded as JSON or protobuf, compressed and audited as the library's
// handlers do; errors are the library's Status objects.
type fastPath struct {
	full, lean http.Handler
	serializer runtime.NegotiatedSerializer
}

// buildHandlerChain returns a genericapiserver.Config.BuildHandlerChainFunc:
// the default chain and, unless lister is nil, the fast path for lister,
// both behind the selector length limit (selectorlimit.go), the library's API
// handler behind the check of metricLabelSelector (selectorlimit.go) and the
// removal of metadata views (metadataviews.go).
//
// Both chains share one bound on the requests in flight. With API Priority
// and Fairness on, the lean chain asks the same controller as the full one.
// Without it, there is one pool of the library's in-flight limit
// (--max-requests-inflight): in the lean chain at the library's place,
// between impersonation and authorization; in the full chain, whose filters
// the library builds, around the API handler, after authorization.
func buildHandlerChain(lister ExternalLister, requests *prometheus.HistogramVec) func(http.Handler, *genericapiserver.Config) http.Handler {
	return func(api http.Handler, c *genericapiserver.Config) http.Handler {
		return withSelectorLimit(chains(lister, requests, withMetricLabelSelectorCheck(withoutMetadataViews(api, c.Serializer), c.Serializer), c), c.Serializer)
	}
}

// chains is buildHandlerChain without the selector length limit.
func chains(lister ExternalLister, requests *prometheus.HistogramVec, api http.Handler, c *genericapiserver.Config) http.Handler {
	if lister == nil {
		return genericapiserver.DefaultBuildHandlerChain(api, c)
	}
	answer := &externalAnswer{lister: lister, serializer: c.Serializer, requests: requests}
	if requests != nil {
		answer.answered = requests.WithLabelValues(httpCode(http.StatusOK))
	}
	f := &fastPath{serializer: c.Serializer}
	authorized := genericapifilters.WithAuthorization(answer, c.Authorization.Authorizer, c.Serializer)
	if c.FlowControl != nil {
		estimator := flowcontrolrequest.NewWorkEstimator(c.StorageObjectCountTracker.Get,
			c.FlowControl.GetInterestedWatchCount, flowcontrolrequest.DefaultWorkEstimatorConfig(), c.FlowControl.GetMaxSeats)
		f.full = genericapiserver.DefaultBuildHandlerChain(api, c)
		f.lean = leanChain(genericfilters.WithPriorityAndFairness(authorized, c.LongRunningFunc, c.FlowControl, estimator, c.RequestTimeout/4), c)
		return f
	}
	limited := genericfilters.WithMaxInFlightLimit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.routesLean(r) {
			authorized.ServeHTTP(w, r)
		} else {
			api.ServeHTTP(w, r)
		}
	}), c.MaxRequestsInFlight, c.MaxMutatingRequestsInFlight, c.LongRunningFunc)
	f.lean = leanChain(limited, c)
	inFlight, mutating := c.MaxRequestsInFlight, c.MaxMutatingRequestsInFlight
	c.MaxRequestsInFlight, c.MaxMutatingRequestsInFlight = 0, 0 // the library's chain then adds no pool of its own
	f.full = genericapiserver.DefaultBuildHandlerChain(limited, c)
	c.MaxRequestsInFlight, c.MaxMutatingRequestsInFlight = inFlight, mutating
	return f
}

// Bounds of the fast path's cache of front proxy certificate verifications
// (authncache.go): 4 MiB holds thousands of chains, where the aggregator
// opens a few connections.
const (
	chainCacheTTL   = 10 * time.Second
	chainCacheBytes = 4 << 20
)

// leanChain wraps limited (the in-flight limit, then authorization and the
// answer) in the filters of genericapiserver.DefaultBuildHandlerChain that
// come before the limit, in the same order.
func leanChain(limited http.Handler, c *genericapiserver.Config) http.Handler {
	h := limited
	if c.FeatureGate.Enabled(genericfeatures.ConstrainedImpersonation) {
		h = impersonation.WithConstrainedImpersonation(h, c.Authorization.Authorizer, c.Serializer)
	} else {
		h = impersonation.WithImpersonation(h, c.Authorization.Authorizer, c.Serializer)
	}
	h = genericapifilters.WithAudit(h, c.AuditBackend, c.AuditPolicyRuleEvaluator, c.LongRunningFunc)
	failed := genericapifilters.Unauthorized(c.Serializer)
	failed = genericapifilters.WithFailedAuthenticationAudit(failed, c.AuditBackend, c.AuditPolicyRuleEvaluator)
	authn := newFrontProxyAuthenticator(c.Authentication.Authenticator, c.Authentication.RequestHeaderConfig,
		newChainCache(chainCacheTTL, chainCacheBytes))
	h = genericapifilters.WithAuthentication(h, authn, failed, c.Authentication.APIAudiences, c.Authentication.RequestHeaderConfig)
	// The request's deadline (--request-timeout), as the library sets it;
	// the answer comes from memory, so the library's timeout filter, a
	// goroutine per request, is left out.
	h = genericapifilters.WithRequestDeadline(h, c.AuditBackend, c.AuditPolicyRuleEvaluator, c.LongRunningFunc, c.Serializer, c.RequestTimeout)
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

// routesLean reports whether r takes the lean chain.
func (f *fastPath) routesLean(r *http.Request) bool {
	_, _, ok := externalListRequest(r)
	return ok && negotiateMedia(r, f.serializer) != mediaNone
}

func (f *fastPath) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.routesLean(r) {
		growStack(0)
		f.lean.ServeHTTP(w, r)
		return
	}
	f.full.ServeHTTP(w, r)
}

// leanChainStack is the frame growStack takes: the runtime then gives the
// goroutine a 16 KB stack, in which the lean chain runs without growing it
// again (CPU profiles under load show no stack copy below growStack). 16 KB
// is the largest stack the runtime's per-P caches hand out: growing to 32 KB,
// allocated from the heap, took 1.8 times the CPU, and an 8 KB stack was
// outgrown in authentication, where the copy is deep.
const leanChainStack = 6 << 10

// stackSink keeps growStack's frame from being optimized away.
var stackSink atomic.Uint32

// growStack makes the calling goroutine's stack big enough for the lean
// chain while it is still shallow.
//
// HTTP/2 runs every request on a new goroutine, whose stack starts small; the
// lean chain's filters then outgrew it deep in authentication, and the
// runtime copied the stack there, adjusting every frame of the chain: 7% of
// the adapter's CPU per answer. One large frame at the top makes the runtime
// grow the stack where the copy is a few frames.
//
//go:noinline
func growStack(i int) {
	var pad [leanChainStack]byte
	pad[i] = byte(i)
	stackSink.Store(uint32(pad[(i+1)%len(pad)]))
}

// externalListRequest reports whether r is a list request of one external
// metric in one namespace with a query the fast path answers exactly as the
// library would, and returns its namespace and metric. (The media type is
// negotiateMedia's.)
func externalListRequest(r *http.Request) (namespace, metric string, ok bool) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, externalPrefix) {
		return "", "", false
	}
	namespace, metric, found := strings.Cut(r.URL.Path[len(externalPrefix):], "/")
	if !found || namespace == "" || metric == "" || strings.Contains(metric, "/") {
		return "", "", false
	}
	if _, ok := scanFastQuery(r.URL.RawQuery); !ok {
		return "", "", false
	}
	return namespace, metric, true
}

// fastQuery reads the query of a fast-path request: only labelSelector and
// timeout, each at most once, and a valid timeout. It returns the label
// selector's text as url.ParseQuery would decode it. Queries it does not
// take (other parameters, repeats, a semicolon, which url.ParseQuery refuses,
// or a bad escape) are left to the library's chain.
func fastQuery(raw string) (selector string, ok bool) {
	escaped, ok := scanFastQuery(raw)
	if !ok {
		return "", false
	}
	selector, err := url.QueryUnescape(escaped)
	return selector, err == nil // scanFastQuery checked the escapes
}

// scanFastQuery is fastQuery without decoding the selector, which it
// returns as it is escaped in the query: routing a request allocates
// nothing.
func scanFastQuery(raw string) (escapedSelector string, ok bool) {
	if strings.IndexByte(raw, ';') >= 0 {
		return "", false
	}
	var seenSelector, seenTimeout bool
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(key, "%+") {
			var err error
			if key, err = url.QueryUnescape(key); err != nil {
				return "", false
			}
		}
		if !validEscapes(value) {
			return "", false
		}
		switch {
		case key == "labelSelector" && !seenSelector:
			seenSelector, escapedSelector = true, value
		case key == "timeout" && !seenTimeout:
			// client-go adds ?timeout= when its config has one. The answer
			// comes from memory well within any valid timeout; an invalid one
			// is left to the library's chain, which rejects it.
			if strings.ContainsAny(value, "%+") {
				value, _ = url.QueryUnescape(value) // escapes checked above
			}
			if d, err := time.ParseDuration(value); err != nil || d <= 0 {
				return "", false
			}
			seenTimeout = true
		default:
			return "", false
		}
	}
	return escapedSelector, true
}

// validEscapes reports whether every % in s starts a two-digit hexadecimal
// escape, the only condition on which url.QueryUnescape fails.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; i = strings.IndexByte(s, '%') {
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		s = s[i+3:]
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// answerMedia is how the fast path encodes an answer.
type answerMedia int

const (
	mediaNone     answerMedia = iota // the library's chain answers
	mediaJSON                        // application/json
	mediaProtobuf                    // application/vnd.kubernetes.protobuf, as kube-controller-manager asks
)

// negotiateMedia picks the encoding the library's content negotiation would
// pick for r, if it is plain JSON or protobuf. Requests that ask for anything
// else, or a parameter on a media type (as=Table, pretty, ...), or that the
// library pretty-prints for their user agent, get mediaNone.
func negotiateMedia(r *http.Request, ns runtime.NegotiatedSerializer) answerMedia {
	if ua := r.UserAgent(); strings.HasPrefix(ua, "curl") || strings.HasPrefix(ua, "Wget") || strings.HasPrefix(ua, "Mozilla/5.0") {
		return mediaNone
	}
	accept := r.Header.Values("Accept")
	if len(accept) <= 1 {
		// What clients send, decided without parsing: client-go's JSON
		// default, and its protobuf default (kube-controller-manager's).
		switch strings.Join(accept, "") {
		case "", "*/*", "application/json", "application/json, */*":
			return mediaJSON
		case "application/vnd.kubernetes.protobuf, */*", "application/vnd.kubernetes.protobuf,application/json":
			return mediaProtobuf
		}
	}
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			mediaType, params, err := mime.ParseMediaType(part)
			// A type/* range other than */* is left to the library: its
			// route matching (go-restful) refuses it where the media
			// negotiation below would take it.
			if err != nil || (strings.HasSuffix(mediaType, "/*") && mediaType != "*/*") {
				return mediaNone
			}
			delete(params, "q")
			if len(params) > 0 {
				return mediaNone
			}
		}
	}
	// Only plain media types with weights remain: the library's negotiation
	// decides, with the default restrictions, which allow no transformation.
	opts, info, err := negotiation.NegotiateOutputMediaType(r, ns, negotiation.DefaultEndpointRestrictions)
	if err != nil || opts.Pretty {
		return mediaNone
	}
	switch info.MediaType {
	case runtime.ContentTypeJSON:
		return mediaJSON
	case runtime.ContentTypeProtobuf:
		return mediaProtobuf
	}
	return mediaNone
}

// externalAnswer writes the list of one external metric, after the lean
// chain has authenticated and authorized the request.
type externalAnswer struct {
	lister     ExternalLister
	buffers    sync.Pool // *[]byte
	serializer runtime.NegotiatedSerializer
	requests   *prometheus.HistogramVec
	answered   prometheus.Observer // requests' child for 200, resolved once
	date       dateHeader
}

// The answers' Content-Type values. The server copies header values when the
// header is written, so every answer can share them.
var (
	contentTypeJSON     = []string{runtime.ContentTypeJSON}
	contentTypeProtobuf = []string{runtime.ContentTypeProtobuf}
)

// dateHeader is the Date header of the answers of the current second. The
// HTTP/2 server formats a Date for every answer that has none (1% of the
// adapter's CPU under load); this formats it once a second.
type dateHeader struct {
	current atomic.Pointer[datedValue]
	clock   func() time.Time // time.Now if nil
}

type datedValue struct {
	second int64
	value  []string
}

// now returns the Date header value for the current second.
func (d *dateHeader) now() []string {
	clock := d.clock
	if clock == nil {
		clock = time.Now
	}
	t := clock()
	if v := d.current.Load(); v != nil && v.second == t.Unix() {
		return v.value
	}
	v := &datedValue{second: t.Unix(), value: []string{t.UTC().Format(http.TimeFormat)}}
	d.current.Store(v)
	return v.value
}

func (a *externalAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := a.serve(w, r)
	switch {
	case a.requests == nil:
	case code == http.StatusOK:
		a.answered.Observe(time.Since(start).Seconds())
	default:
		a.requests.WithLabelValues(httpCode(code)).Observe(time.Since(start).Seconds())
	}
}

func (a *externalAnswer) serve(w http.ResponseWriter, r *http.Request) int {
	// Answer what the chain resolved and authorized, without classifying the request again.
	info, ok := apirequest.RequestInfoFrom(r.Context())
	if !ok {
		return responsewriters.ErrorNegotiated(errors.New("no request info: the handler chain is wrong"), a.serializer, externalGV, w, r)
	}
	selector, _ := fastQuery(r.URL.RawQuery) // the route checked it
	media := negotiateMedia(r, a.serializer)
	buf, _ := a.buffers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer a.buffers.Put(buf)
	body, err := a.encode((*buf)[:0], media, info, selector)
	if cap(body) <= maxPooledAnswer {
		*buf = body[:0] // an outsized answer is not kept for the next request
	}
	if err != nil {
		return responsewriters.ErrorNegotiated(err, a.serializer, externalGV, w, r)
	}
	a.audit(r, media, info, selector, body)
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	if media == mediaProtobuf {
		h["Content-Type"] = contentTypeProtobuf
	}
	h["Date"] = a.date.now()
	if len(body) > gzipThreshold && responsewriters.ContentEncodingSupported(r, genericfeatures.APIResponseCompression) == "gzip" {
		// As the library compresses an answer (responsewriters.SerializeObject).
		h["Content-Encoding"] = contentEncodingGzip
		h.Add("Vary", "Accept-Encoding")
		w.WriteHeader(http.StatusOK)
		gz := gzipWriters.Get().(*gzip.Writer)
		gz.Reset(w)
		_, _ = gz.Write(body)
		_ = gz.Close()
		gz.Reset(nil)
		gzipWriters.Put(gz)
		return http.StatusOK
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK
}

// gzipThreshold is the size above which the library compresses an answer for a client that
// accepts gzip (the unexported defaultGzipThresholdBytes of package responsewriters).
const gzipThreshold = 128 << 10

var (
	contentEncodingGzip = []string{"gzip"}
	// gzipWriters are the library's pool of gzip writers at its compression level.
	gzipWriters = responsewriters.NewGzipWriterPoolOrDie()
)

// audit records the answer in the request's audit event where its policy level asks for
// response bodies (RequestResponse), as the library's handlers do: the JSON form of the
// answer (answered as JSON, the body itself; as protobuf, the list encoded as JSON too).
// Below that level the audit filter records all the event holds.
func (a *externalAnswer) audit(r *http.Request, media answerMedia, info *apirequest.RequestInfo, selector string, body []byte) {
	ac := audit.AuditContextFrom(r.Context())
	if ac == nil || ac.GetEventLevel().Less(auditinternal.LevelRequestResponse) {
		return
	}
	raw := bytes.Clone(body) // body is a pooled buffer
	if media != mediaJSON {
		var err error
		if raw, err = a.encode(nil, mediaJSON, info, selector); err != nil {
			return
		}
	}
	ac.LogResponseObject(nil, &runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON})
}

// encode appends the answer in media's encoding to dst, written by the
// lister from the store.
func (a *externalAnswer) encode(dst []byte, media answerMedia, info *apirequest.RequestInfo, selector string) ([]byte, error) {
	if media == mediaProtobuf {
		return a.lister.AppendExternalMetricListProtobuf(dst, info.Namespace, info.Resource, selector)
	}
	return a.lister.AppendExternalMetricList(dst, info.Namespace, info.Resource, selector)
}

// maxPooledAnswer bounds the answer buffers kept for reuse.
const maxPooledAnswer = 64 << 10

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
