package gatewayapi

import (
	"fmt"
	"strings"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// unsupportedHTTPRule says what of an HTTPRoute rule foresight-xds cannot serve, or "".
func unsupportedHTTPRule(r *gwv1.HTTPRouteRule) string {
	redirect, rewrite := false, false
	for i, f := range r.Filters {
		if missing := missingFilter(string(f.Type), map[gwv1.HTTPRouteFilterType]bool{
			gwv1.HTTPRouteFilterRequestRedirect: f.RequestRedirect == nil, gwv1.HTTPRouteFilterURLRewrite: f.URLRewrite == nil,
			gwv1.HTTPRouteFilterRequestMirror: f.RequestMirror == nil, gwv1.HTTPRouteFilterRequestHeaderModifier: f.RequestHeaderModifier == nil,
			gwv1.HTTPRouteFilterResponseHeaderModifier: f.ResponseHeaderModifier == nil, gwv1.HTTPRouteFilterCORS: f.CORS == nil,
		}[f.Type]); missing != "" {
			return fmt.Sprintf("filters[%d]: %s", i, missing)
		}
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestRedirect:
			redirect = true
			if p := f.RequestRedirect.Path; p != nil && p.Type == gwv1.PrefixMatchHTTPPathModifier && p.ReplacePrefixMatch != nil && *p.ReplacePrefixMatch != "" && !strings.HasPrefix(*p.ReplacePrefixMatch, "/") {
				return fmt.Sprintf("filters[%d].requestRedirect.path.replacePrefixMatch: must start with '/'", i)
			}
		case gwv1.HTTPRouteFilterURLRewrite:
			rewrite = true
			if p := f.URLRewrite.Path; p != nil && p.Type == gwv1.PrefixMatchHTTPPathModifier && p.ReplacePrefixMatch != nil && *p.ReplacePrefixMatch != "" && !strings.HasPrefix(*p.ReplacePrefixMatch, "/") {
				return fmt.Sprintf("filters[%d].urlRewrite.path.replacePrefixMatch: must start with '/'", i)
			}
		case gwv1.HTTPRouteFilterRequestHeaderModifier, gwv1.HTTPRouteFilterResponseHeaderModifier, gwv1.HTTPRouteFilterRequestMirror, gwv1.HTTPRouteFilterCORS:
		default:
			return fmt.Sprintf("filters[%d]: filter type %s is not supported (RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite and CORS are)", i, f.Type)
		}
	}
	if redirect && rewrite {
		return "RequestRedirect and URLRewrite together"
	}
	return unsupportedSessionPersistence(r.SessionPersistence)
}

// unsupportedGRPCRule says what of a GRPCRoute rule foresight-xds cannot serve, or "".
func unsupportedGRPCRule(r *gwv1.GRPCRouteRule) string {
	for i, f := range r.Filters {
		if missing := missingFilter(string(f.Type), map[gwv1.GRPCRouteFilterType]bool{
			gwv1.GRPCRouteFilterRequestMirror: f.RequestMirror == nil, gwv1.GRPCRouteFilterRequestHeaderModifier: f.RequestHeaderModifier == nil,
			gwv1.GRPCRouteFilterResponseHeaderModifier: f.ResponseHeaderModifier == nil,
		}[f.Type]); missing != "" {
			return fmt.Sprintf("filters[%d]: %s", i, missing)
		}
		switch f.Type {
		case gwv1.GRPCRouteFilterRequestHeaderModifier, gwv1.GRPCRouteFilterResponseHeaderModifier, gwv1.GRPCRouteFilterRequestMirror:
		default:
			return fmt.Sprintf("filters[%d]: filter type %s is not supported (RequestHeaderModifier, ResponseHeaderModifier and RequestMirror are)", i, f.Type)
		}
	}
	return unsupportedSessionPersistence(r.SessionPersistence)
}

// unsupportedSessionPersistence says that a rule's session persistence cannot be served,
// or "".
func unsupportedSessionPersistence(sp *gwv1.SessionPersistence) string {
	if sp != nil {
		return "sessionPersistence is not supported"
	}
	return ""
}

// refFilter is what foresight-xds reads of a backendRef's filter, of an HTTPRoute or a
// GRPCRoute: its type and header modifiers.
type refFilter struct {
	typ                               string
	requestModifier, responseModifier *gwv1.HTTPHeaderFilter
}

// httpRefFilter reads a filter of an HTTPRoute's backendRef.
func httpRefFilter(f gwv1.HTTPRouteFilter) refFilter {
	return refFilter{string(f.Type), f.RequestHeaderModifier, f.ResponseHeaderModifier}
}

// grpcRefFilter reads a filter of a GRPCRoute's backendRef.
func grpcRefFilter(f gwv1.GRPCRouteFilter) refFilter {
	return refFilter{string(f.Type), f.RequestHeaderModifier, f.ResponseHeaderModifier}
}

// backendRefs pairs the backendRefs of a rule (ref and filters read one) with the header
// changes of their filters, or says which filter foresight-xds cannot serve on a backendRef:
// RequestHeaderModifier and ResponseHeaderModifier, once each, are served.
func backendRefs[T any](bs []T, ref func(T) gwv1.BackendRef, filters func(T) []refFilter) ([]backendRef, string) {
	out := make([]backendRef, len(bs))
	for i, b := range bs {
		out[i].BackendRef = ref(b)
		for j, f := range filters(b) {
			fp := fmt.Sprintf("backendRefs[%d].filters[%d]", i, j)
			var dst **policy.HeaderChanges
			var src *gwv1.HTTPHeaderFilter
			switch f.typ {
			case string(gwv1.HTTPRouteFilterRequestHeaderModifier):
				dst, src = &out[i].request, f.requestModifier
			case string(gwv1.HTTPRouteFilterResponseHeaderModifier):
				dst, src = &out[i].response, f.responseModifier
			default:
				return nil, fmt.Sprintf("%s: filter type %s is not supported on a backendRef (RequestHeaderModifier and ResponseHeaderModifier are)", fp, f.typ)
			}
			if missing := missingFilter(f.typ, src == nil); missing != "" {
				return nil, fmt.Sprintf("%s: %s", fp, missing)
			}
			if *dst != nil {
				return nil, fmt.Sprintf("%s: a second %s filter (one of each type is allowed)", fp, f.typ)
			}
			*dst = headerChanges(src)
		}
	}
	return out, ""
}

// missingFilter says that a filter of type typ lacks its configuration, or "".
func missingFilter(typ string, missing bool) string {
	if !missing {
		return ""
	}
	return fmt.Sprintf("type %s without its %s field", typ, strings.ToLower(typ[:1])+typ[1:])
}

// headerChanges translates a header modifier filter.
func headerChanges(f *gwv1.HTTPHeaderFilter) *policy.HeaderChanges {
	if f == nil {
		return nil
	}
	h := &policy.HeaderChanges{Remove: f.Remove}
	for _, s := range f.Set {
		h.Set = append(h.Set, policy.HeaderValue{Name: string(s.Name), Value: s.Value})
	}
	for _, a := range f.Add {
		h.Add = append(h.Add, policy.HeaderValue{Name: string(a.Name), Value: a.Value})
	}
	return h
}

// pathModifier is the prefix or the full path of a URLRewrite's path.
func pathModifier(p *gwv1.HTTPPathModifier) (prefix, full string) {
	switch {
	case p.Type == gwv1.FullPathHTTPPathModifier && p.ReplaceFullPath != nil:
		return "", *p.ReplaceFullPath
	case p.ReplacePrefixMatch != nil:
		return *p.ReplacePrefixMatch, ""
	}
	return "", ""
}

// timeouts sets the timeouts of a rule: request bounds the whole exchange (the route
// timeout) and backendRequest each request to a backend (policy.Route.BackendTimeout: with
// retries, the rule's or a policy's, each attempt's timeout; without, one request to a
// backend is the whole exchange, so the smaller of the two applies). Zero disables either,
// and both (or one while the other is unset) lift every timeout. It says why they are not
// valid, or "".
func timeouts(r *policy.Route, t *gwv1.HTTPRouteTimeouts) string {
	if t == nil {
		return ""
	}
	parse := func(d *gwv1.Duration, field string) (time.Duration, string) {
		if d == nil {
			return 0, ""
		}
		v, err := time.ParseDuration(string(*d))
		if err != nil || v < 0 {
			return 0, fmt.Sprintf("timeouts.%s: %q is not a duration", field, *d)
		}
		return v, ""
	}
	req, msg := parse(t.Request, "request")
	if msg != "" {
		return msg
	}
	back, msg := parse(t.BackendRequest, "backendRequest")
	if msg != "" {
		return msg
	}
	if req > 0 && back > req {
		return fmt.Sprintf("timeouts.backendRequest (%s) must be no more than timeouts.request (%s)", *t.BackendRequest, *t.Request)
	}
	r.Timeout, r.BackendTimeout = policy.Duration(req), policy.Duration(back)
	r.NoTimeout = t.Request != nil && req == 0 || req == 0 && back == 0 && t.BackendRequest != nil
	return ""
}

// maxRetryAttempts is the most retries a rule may ask for (the policy's own bound).
const maxRetryAttempts = 10

// retry sets the retries of a rule: up to attempts retries (1 when unset) of a request
// whose backend answers one of the codes, or cannot be connected to, resets the stream or
// does not answer within timeouts.backendRequest; backoff is the base of Envoy's jittered
// exponential backoff (0: Envoy's default). It says why the retry is not valid, or "".
func retry(r *policy.Route, rt *gwv1.HTTPRouteRetry) string {
	if rt == nil {
		return ""
	}
	out := &policy.Retries{On: []string{"connect-failure", "refused-stream", "reset"}, Count: 1}
	if rt.Attempts != nil {
		if *rt.Attempts < 1 || *rt.Attempts > maxRetryAttempts {
			return fmt.Sprintf("retry.attempts: %d is not 1..%d", *rt.Attempts, maxRetryAttempts)
		}
		out.Count = uint32(*rt.Attempts)
	}
	for i, c := range rt.Codes {
		if c < 400 || c > 599 {
			return fmt.Sprintf("retry.codes[%d]: %d is not 400..599", i, c)
		}
		out.StatusCodes = append(out.StatusCodes, uint32(c))
	}
	if len(out.StatusCodes) > 0 {
		out.On = append([]string{"retriable-status-codes"}, out.On...)
	}
	if rt.Backoff != nil {
		d, err := time.ParseDuration(string(*rt.Backoff))
		switch {
		case err != nil || d < 0:
			return fmt.Sprintf("retry.backoff: %q is not a duration", *rt.Backoff)
		case d > 0: // 0: no least wait, Envoy's default backoff
			out.Backoff = &policy.Backoff{Base: policy.Duration(d), Max: policy.Duration(10 * d)}
		}
	}
	r.Retries = out
	return ""
}

// splitPrefix serves the ReplacePrefixMatch of a rewrite or redirect on the path prefix
// value (which matches whole segments: value itself and what is below it) as two routes,
// so that the replaced prefix keeps its segment boundary: r becomes the prefix value+"/"
// with its prefix replaced by the replacement+"/", and the returned route is the exact
// path value, replaced by the replacement (or "/"). It returns nil and leaves r as it is
// when neither replaces a prefix.
func splitPrefix(r *policy.Route, value string) *policy.Route {
	var repl *string
	switch {
	case r.Rewrite != nil && r.Rewrite.Prefix != "":
		repl = &r.Rewrite.Prefix
	case r.Redirect != nil && r.Redirect.Prefix != "":
		repl = &r.Redirect.Prefix
	default:
		return nil
	}
	v, to := strings.TrimSuffix(value, "/"), strings.TrimSuffix(*repl, "/")
	exact := *r
	exact.Match.Prefix, exact.Match.Regex, exact.Match.SegmentPrefix, exact.Match.Exact = "", "", "", or(v, "/")
	if r.Rewrite != nil {
		rw := *r.Rewrite
		rw.Prefix, rw.Path = "", or(to, "/")
		exact.Rewrite = &rw
		rw2 := *r.Rewrite
		rw2.Prefix = to + "/"
		r.Rewrite = &rw2
	} else {
		rd := *r.Redirect
		rd.Prefix, rd.Path = "", or(to, "/")
		exact.Redirect = &rd
		rd2 := *r.Redirect
		rd2.Prefix = to + "/"
		r.Redirect = &rd2
	}
	r.Match.Prefix, r.Match.Regex, r.Match.SegmentPrefix = v+"/", "", ""
	return &exact
}

// listenerPort is a redirect that keeps the scheme with the port of the listener it is
// served on (port, protocol) when it names no port, as the spec requires (Envoy would drop
// the port of a redirect to another host), leaving out the scheme's well-known port (80 for
// HTTP, 443 for HTTPS); a redirect to another scheme without a port goes to that scheme's
// well-known port, which Envoy does by leaving the port out. Other redirects are returned
// as they are.
func listenerPort(r *policy.Redirect, port int32, protocol gwv1.ProtocolType) *policy.Redirect {
	if r == nil || r.Scheme != "" || r.Port != 0 {
		return r
	}
	if protocol == gwv1.HTTPSProtocolType && port == 443 || protocol != gwv1.HTTPSProtocolType && port == 80 {
		return r
	}
	c := *r
	c.Port = uint32(port)
	return &c
}

// cors is the policy of a CORS filter.
func cors(f *gwv1.HTTPCORSFilter) *policy.CORS {
	c := &policy.CORS{AllowCredentials: f.AllowCredentials != nil && *f.AllowCredentials, MaxAge: policy.Duration(time.Duration(f.MaxAge) * time.Second)}
	for _, o := range f.AllowOrigins {
		c.AllowOrigins = append(c.AllowOrigins, string(o))
	}
	for _, m := range f.AllowMethods {
		c.AllowMethods = append(c.AllowMethods, string(m))
	}
	for _, h := range f.AllowHeaders {
		c.AllowHeaders = append(c.AllowHeaders, string(h))
	}
	for _, h := range f.ExposeHeaders {
		c.ExposeHeaders = append(c.ExposeHeaders, string(h))
	}
	return c
}
