package translate

import (
	"math"
	"sort"
	"strings"

	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_extensions_filters_common_fault_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	envoy_extensions_filters_http_fault_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	envoy_extensions_filters_http_jwt_authn_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	envoy_extensions_filters_http_local_ratelimit_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	envoy_type_matcher_v3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	envoy_type_v3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// routeMode says where a route is served.
type routeMode struct {
	// local, when set, is the inbound cluster every request goes to (server side).
	local string
	// client applies the client-side features: backends, rewrites, redirects, direct
	// responses, timeouts, retries, faults.
	client bool
	// protect applies rate limits and JWT requirements (Envoy only).
	protect bool
	// grpc shapes the route for grpc-go: max_stream_duration instead of timeout, gRPC retry
	// conditions only, no query matchers.
	grpc bool
	// grpcService disables the route timeout for a gRPC service served by Envoy (streams).
	grpcService bool
}

// hcmState records what the routes of one HTTP connection manager need from its filters.
type hcmState struct {
	// jwt maps requirement names to their providers; non-nil when a route or virtual host
	// has JWT configuration (a requirement, or a waiver).
	jwt map[string][]string
	// rateLimit is set when a route or virtual host has a local rate limit.
	rateLimit bool
	// fault is set when a route has a fault.
	fault bool
	// cors is set when a route has a CORS policy.
	cors bool
}

// defaultRoute is the route of a service that declares none.
func defaultRoute(s *policy.Service) policy.Route {
	return policy.Route{Name: s.Name + "-default", Match: policy.Match{Prefix: "/"}, Backends: []policy.Backend{{Service: s.Name, Weight: 100}}}
}

// serviceRoutes are the routes of a service's virtual host.
func serviceRoutes(s *policy.Service) []policy.Route {
	if len(s.Routes) == 0 {
		return []policy.Route{defaultRoute(s)}
	}
	return s.Routes
}

// inboundRoutes are the routes of a service on its own sidecar's inbound listener: its
// routes, but for those of its clients only (the default route then).
func inboundRoutes(s *policy.Service) []policy.Route {
	if s.RoutesForClients {
		return []policy.Route{defaultRoute(s)}
	}
	return serviceRoutes(s)
}

// route translates one policy route; ok is false when the route cannot be expressed in this
// mode (query matchers for grpc-go) and is left out.
func (b *builder) route(r *policy.Route, m routeMode, st *hcmState) (*envoy_config_route_v3.Route, bool) {
	if m.grpc && len(r.Match.Query) > 0 {
		return nil, false
	}
	out := b.sh.routes.new()
	out.Name = r.Name
	out.Match = b.routeMatch(&r.Match, m.grpc)
	switch {
	case m.local != "":
		a := &envoy_config_route_v3.RouteAction{ClusterSpecifier: &envoy_config_route_v3.RouteAction_Cluster{Cluster: m.local}}
		if m.grpcService {
			a.Timeout = b.sh.duration(0)
		}
		out.Action = &envoy_config_route_v3.Route_Route{Route: a}
	case r.Redirect != nil:
		out.Action = &envoy_config_route_v3.Route_Redirect{Redirect: redirect(r.Redirect)}
	case r.DirectResponse != nil:
		d := &envoy_config_route_v3.DirectResponseAction{Status: r.DirectResponse.Status}
		if r.DirectResponse.Body != "" {
			d.Body = &envoy_config_core_v3.DataSource{Specifier: &envoy_config_core_v3.DataSource_InlineString{InlineString: r.DirectResponse.Body}}
		}
		out.Action = &envoy_config_route_v3.Route_DirectResponse{DirectResponse: d}
	default:
		rr := b.sh.routeRoutes.new()
		rr.Route = b.routeAction(r, m, st)
		out.Action = rr
	}
	if m.client && !m.grpc {
		if !backendHeaders(r, m) {
			headerChanges(out, r)
		}
		if r.CORS != nil {
			st.cors = true
			setPerFilter(&out.TypedPerFilterConfig, CORSFilter, mustAny(corsPolicy(r.CORS)))
		}
	}
	if m.client {
		if f := b.effectiveFault(r); f != nil {
			st.fault = true
			setPerFilter(&out.TypedPerFilterConfig, FaultFilter, mustAny(httpFault(f)))
		}
	}
	if m.protect {
		st.protect(&out.TypedPerFilterConfig, r.Name, r.RateLimit, r.JWT)
	}
	return out, true
}

// routeAction forwards to the route's backends with its (or its first backend's) timeout and
// retries.
func (b *builder) routeAction(r *policy.Route, m routeMode, st *hcmState) *envoy_config_route_v3.RouteAction {
	a := b.sh.actions.new()
	// Header changes per backend are those of a weighted cluster, even a single one.
	headers := backendHeaders(r, m)
	if len(r.Backends) == 1 && !headers {
		c := b.sh.toCluster.new()
		c.Cluster = b.backendCluster(&r.Backends[0], a, m)
		a.ClusterSpecifier = c
	} else {
		wc := &envoy_config_route_v3.WeightedCluster{}
		for i := range r.Backends {
			be := &r.Backends[i]
			cw := &envoy_config_route_v3.WeightedCluster_ClusterWeight{Name: b.backendCluster(be, a, m), Weight: b.sh.weight(be.Weight)}
			if headers {
				cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = foldedHeaderOptions(r.RequestHeaders, be.RequestHeaders)
				cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = foldedHeaderOptions(r.ResponseHeaders, be.ResponseHeaders)
			}
			// A backend service's fault applies to the share of traffic sent to it.
			if svc := b.service(be.Service); svc != nil && svc.Fault != nil && m.client {
				f := svc.Fault
				st.fault = true
				setPerFilter(&cw.TypedPerFilterConfig, FaultFilter, mustAny(httpFault(f)))
			}
			wc.Clusters = append(wc.Clusters, cw)
		}
		a.ClusterSpecifier = &envoy_config_route_v3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	// The settings of the first backend service that gets traffic (a canary at weight 0
	// does not) are the route's defaults.
	var first *policy.Service
	for _, be := range r.Backends {
		if !be.Unresolved && (first == nil || be.Weight > 0) {
			first = b.service(be.Service)
			if be.Weight > 0 {
				break
			}
		}
	}
	if first == nil {
		return a // only unresolved backends, or b.use recorded the error
	}
	timeout := r.Timeout
	if timeout == 0 && !r.NoTimeout {
		timeout = first.Timeout
	}
	retries := r.Retries
	if retries == nil {
		retries = first.Retries
	}
	if bt := r.BackendTimeout; bt > 0 {
		switch {
		case retries == nil || m.grpc:
			// One request to a backend is the whole exchange (grpc-go has no per-try
			// timeout).
			if timeout == 0 || bt < timeout {
				timeout = bt
			}
		default:
			// Each attempt's, the route's own winning over its retries' (a policy's); with
			// no timeout of the exchange, its attempts bound it rather than Envoy's 15 s.
			perTry := *retries
			perTry.PerTryTimeout = bt
			retries = &perTry
			if timeout == 0 && !r.NoTimeout {
				timeout = bt * policy.Duration(retries.Count+1)
			}
		}
	}
	if m.grpc {
		if timeout > 0 {
			a.MaxStreamDuration = &envoy_config_route_v3.RouteAction_MaxStreamDuration{MaxStreamDuration: b.sh.duration(timeout.D())}
		}
	} else {
		switch {
		case timeout > 0:
			a.Timeout = b.sh.duration(timeout.D())
		case first.Protocol == policy.ProtocolGRPC || r.NoTimeout:
			a.Timeout = b.sh.duration(0) // no default 15 s limit (gRPC streams, or asked for)
		}
		if r.IdleTimeout > 0 {
			a.IdleTimeout = durationpb.New(r.IdleTimeout.D())
		}
		if rw := r.Rewrite; rw != nil {
			a.PrefixRewrite = rw.Prefix
			if rw.Path != "" {
				a.RegexRewrite = fullPathRewrite(rw.Path)
			}
			if rw.Host != "" {
				a.HostRewriteSpecifier = &envoy_config_route_v3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Host}
			}
		}
	}
	if retries != nil {
		a.RetryPolicy = retryPolicy(retries, m.grpc)
	}
	if !m.grpc {
		a.RequestMirrorPolicies = b.mirrors(r.Mirrors)
	}
	return a
}

// effectiveFault is the route's fault, else the fault of its only backend service. (On a
// weighted route a service's fault is set on that service's weighted cluster instead, so it
// applies only to the traffic sent to the service; being more specific, it takes precedence
// over the route's own fault for that share.)
func (b *builder) effectiveFault(r *policy.Route) *policy.Fault {
	if r.Fault != nil {
		return r.Fault
	}
	if len(r.Backends) == 1 {
		if svc := b.service(r.Backends[0].Service); svc != nil {
			return svc.Fault
		}
	}
	return nil
}

func setPerFilter(m *map[string]*anypb.Any, name string, cfg *anypb.Any) {
	if *m == nil {
		*m = map[string]*anypb.Any{}
	}
	(*m)[name] = cfg
}

// routeMatch translates a policy match; grpc says it is for grpc-go, which reads neither
// query parameter matchers nor path_separated_prefix, so a segment prefix becomes the
// equivalent regex there. For Envoy it stays path_separated_prefix: Envoy refuses a regex
// whose compiled program is larger than its runtime limit (100 by default), which a long
// prefix reaches.
func (b *builder) routeMatch(m *policy.Match, grpc bool) *envoy_config_route_v3.RouteMatch {
	rm := b.sh.matches.new()
	switch {
	case m.Exact != "":
		rm.PathSpecifier = &envoy_config_route_v3.RouteMatch_Path{Path: m.Exact}
	case m.Regex != "":
		rm.PathSpecifier = &envoy_config_route_v3.RouteMatch_SafeRegex{SafeRegex: &envoy_type_matcher_v3.RegexMatcher{Regex: m.Regex}}
	case m.SegmentPrefix != "" && grpc:
		rm.PathSpecifier = &envoy_config_route_v3.RouteMatch_SafeRegex{SafeRegex: &envoy_type_matcher_v3.RegexMatcher{Regex: policy.SegmentPrefixRegex(m.SegmentPrefix)}}
	case m.SegmentPrefix != "":
		rm.PathSpecifier = &envoy_config_route_v3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: m.SegmentPrefix}
	default:
		p := b.sh.prefixes.new()
		p.Prefix = m.Prefix
		rm.PathSpecifier = p
	}
	rm.Headers = headerMatchers(m.Headers)
	if !grpc {
		for _, q := range m.Query {
			qm := &envoy_config_route_v3.QueryParameterMatcher{Name: q.Name}
			switch {
			case q.Exact != "":
				qm.QueryParameterMatchSpecifier = &envoy_config_route_v3.QueryParameterMatcher_StringMatch{StringMatch: &envoy_type_matcher_v3.StringMatcher{
					MatchPattern: &envoy_type_matcher_v3.StringMatcher_Exact{Exact: q.Exact}}}
			case q.Regex != "":
				qm.QueryParameterMatchSpecifier = &envoy_config_route_v3.QueryParameterMatcher_StringMatch{StringMatch: &envoy_type_matcher_v3.StringMatcher{
					MatchPattern: &envoy_type_matcher_v3.StringMatcher_SafeRegex{SafeRegex: &envoy_type_matcher_v3.RegexMatcher{Regex: q.Regex}}}}
			default:
				qm.QueryParameterMatchSpecifier = &envoy_config_route_v3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
			}
			rm.QueryParameters = append(rm.QueryParameters, qm)
		}
	}
	return rm
}

func headerMatchers(hs []policy.HeaderMatch) []*envoy_config_route_v3.HeaderMatcher {
	var out []*envoy_config_route_v3.HeaderMatcher
	for _, h := range hs {
		hm := &envoy_config_route_v3.HeaderMatcher{Name: h.Name, InvertMatch: h.Invert}
		var sm *envoy_type_matcher_v3.StringMatcher
		switch {
		case h.Exact != "":
			sm = &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_Exact{Exact: h.Exact}}
		case h.Prefix != "":
			sm = &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_Prefix{Prefix: h.Prefix}}
		case h.Suffix != "":
			sm = &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_Suffix{Suffix: h.Suffix}}
		case h.Regex != "":
			sm = &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_SafeRegex{SafeRegex: &envoy_type_matcher_v3.RegexMatcher{Regex: h.Regex}}}
		}
		if sm != nil {
			hm.HeaderMatchSpecifier = &envoy_config_route_v3.HeaderMatcher_StringMatch{StringMatch: sm}
		} else {
			present := h.Present == nil || *h.Present
			hm.HeaderMatchSpecifier = &envoy_config_route_v3.HeaderMatcher_PresentMatch{PresentMatch: present}
		}
		out = append(out, hm)
	}
	return out
}

func redirect(r *policy.Redirect) *envoy_config_route_v3.RedirectAction {
	ra := &envoy_config_route_v3.RedirectAction{HostRedirect: r.Host, PortRedirect: r.Port, StripQuery: r.StripQuery}
	switch r.Scheme {
	case "https":
		ra.SchemeRewriteSpecifier = &envoy_config_route_v3.RedirectAction_HttpsRedirect{HttpsRedirect: true}
	case "http":
		ra.SchemeRewriteSpecifier = &envoy_config_route_v3.RedirectAction_SchemeRedirect{SchemeRedirect: "http"}
	}
	switch {
	case r.Path != "":
		ra.PathRewriteSpecifier = &envoy_config_route_v3.RedirectAction_PathRedirect{PathRedirect: r.Path}
	case r.Prefix != "":
		ra.PathRewriteSpecifier = &envoy_config_route_v3.RedirectAction_PrefixRewrite{PrefixRewrite: r.Prefix}
	}
	switch r.Code {
	case 302:
		ra.ResponseCode = envoy_config_route_v3.RedirectAction_FOUND
	case 303:
		ra.ResponseCode = envoy_config_route_v3.RedirectAction_SEE_OTHER
	case 307:
		ra.ResponseCode = envoy_config_route_v3.RedirectAction_TEMPORARY_REDIRECT
	case 308:
		ra.ResponseCode = envoy_config_route_v3.RedirectAction_PERMANENT_REDIRECT
	default:
		ra.ResponseCode = envoy_config_route_v3.RedirectAction_MOVED_PERMANENTLY
	}
	return ra
}

// retryPolicy translates a retry policy; for grpc-go only gRPC conditions are kept (it
// ignores the others) and per-try timeouts are left out. It returns nil when nothing is left.
func retryPolicy(r *policy.Retries, grpc bool) *envoy_config_route_v3.RetryPolicy {
	on := make([]string, 0, len(r.On))
	for _, c := range r.On {
		if _, isGRPC := policy.RetryCondition(c); !grpc || isGRPC {
			on = append(on, c)
		}
	}
	if len(on) == 0 {
		return nil
	}
	rp := &envoy_config_route_v3.RetryPolicy{RetryOn: strings.Join(on, ","), NumRetries: wrapperspb.UInt32(r.Count)}
	if !grpc {
		if r.PerTryTimeout > 0 {
			rp.PerTryTimeout = durationpb.New(r.PerTryTimeout.D())
		}
		rp.RetriableStatusCodes = append([]uint32(nil), r.StatusCodes...)
	}
	if bo := r.Backoff; bo != nil {
		rp.RetryBackOff = &envoy_config_route_v3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(bo.Base.D()), MaxInterval: durationpb.New(bo.Max.D())}
	}
	return rp
}

// percent converts a percentage to a FractionalPercent per million (grpc-go and Envoy both
// accept MILLION).
func percent(p float64) *envoy_type_v3.FractionalPercent {
	return &envoy_type_v3.FractionalPercent{Numerator: uint32(math.Round(p * 10000)), Denominator: envoy_type_v3.FractionalPercent_MILLION}
}

func httpFault(f *policy.Fault) *envoy_extensions_filters_http_fault_v3.HTTPFault {
	hf := &envoy_extensions_filters_http_fault_v3.HTTPFault{Headers: headerMatchers(f.Headers)}
	if d := f.Delay; d != nil {
		hf.Delay = &envoy_extensions_filters_common_fault_v3.FaultDelay{
			FaultDelaySecifier: &envoy_extensions_filters_common_fault_v3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d.Fixed.D())},
			Percentage:         percent(d.Percent),
		}
	}
	if a := f.Abort; a != nil {
		fa := &envoy_extensions_filters_http_fault_v3.FaultAbort{Percentage: percent(a.Percent)}
		if a.GRPCStatus != nil {
			fa.ErrorType = &envoy_extensions_filters_http_fault_v3.FaultAbort_GrpcStatus{GrpcStatus: *a.GRPCStatus}
		} else {
			fa.ErrorType = &envoy_extensions_filters_http_fault_v3.FaultAbort_HttpStatus{HttpStatus: a.HTTPStatus}
		}
		hf.Abort = fa
	}
	return hf
}

// protect adds the local rate limit rl and the JWT requirement jwt (each when set) of the
// route or virtual host name to its per-filter configuration cfg, and records in st the
// filters they need.
func (st *hcmState) protect(cfg *map[string]*anypb.Any, name string, rl *policy.RateLimit, jwt *policy.JWTRequirement) {
	if rl != nil {
		st.rateLimit = true
		setPerFilter(cfg, RateLimitFilter, rateLimitConfig(rl, name))
	}
	if jwt != nil {
		setPerFilter(cfg, JWTFilter, st.jwtPerRoute(jwt))
	}
}

// rateLimitConfig is the per-route (or per-virtual-host) local rate limit, always enforced.
func rateLimitConfig(r *policy.RateLimit, name string) *anypb.Any {
	all := &envoy_config_core_v3.RuntimeFractionalPercent{DefaultValue: &envoy_type_v3.FractionalPercent{Numerator: 100, Denominator: envoy_type_v3.FractionalPercent_HUNDRED}}
	return mustAny(&envoy_extensions_filters_http_local_ratelimit_v3.LocalRateLimit{
		StatPrefix: "ratelimit_" + name,
		TokenBucket: &envoy_type_v3.TokenBucket{
			MaxTokens:     r.MaxTokens,
			TokensPerFill: wrapperspb.UInt32(r.TokensPerFill),
			FillInterval:  durationpb.New(r.FillInterval.D()),
		},
		FilterEnabled:  all,
		FilterEnforced: all,
	})
}

// jwtPerRoute records the requirement in the listener's state and returns its per-route
// configuration.
func (st *hcmState) jwtPerRoute(j *policy.JWTRequirement) *anypb.Any {
	if st.jwt == nil {
		st.jwt = map[string][]string{}
	}
	if j.Disabled {
		return mustAny(&envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig{
			RequirementSpecifier: &envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig_Disabled{Disabled: true}})
	}
	providers := append([]string(nil), j.Providers...)
	sort.Strings(providers)
	name := strings.Join(providers, "|")
	st.jwt[name] = providers
	return mustAny(&envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig{
		RequirementSpecifier: &envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig_RequirementName{RequirementName: name}})
}
