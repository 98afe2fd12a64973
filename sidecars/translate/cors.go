package translate

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	envoy_extensions_filters_http_cors_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	envoy_type_matcher_v3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// allMethods are the methods of RFC 9110 and PATCH, which "*" stands for on a route that
// allows credentials.
var allMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// corsPolicy is the per-route configuration of Envoy's CORS filter for a route's policy.
func corsPolicy(c *policy.CORS) *envoy_extensions_filters_http_cors_v3.CorsPolicy {
	methods := c.AllowMethods
	if c.AllowCredentials && slices.Equal(methods, []string{"*"}) {
		// With credentials a browser reads "*" as a method named "*": name them all.
		methods = allMethods
	}
	p := &envoy_extensions_filters_http_cors_v3.CorsPolicy{
		AllowMethods:  strings.Join(methods, ","),
		AllowHeaders:  strings.Join(c.AllowHeaders, ","),
		ExposeHeaders: strings.Join(c.ExposeHeaders, ","),
		// The proxy answers the preflight of an origin that is not allowed itself, without
		// CORS headers: forwarded, the backend could answer it with headers of its own.
		ForwardNotMatchingPreflights: wrapperspb.Bool(false),
	}
	if c.AllowCredentials {
		p.AllowCredentials = wrapperspb.Bool(true)
	}
	if c.MaxAge > 0 {
		p.MaxAge = strconv.FormatInt(int64(c.MaxAge.D()/time.Second), 10)
	}
	for _, o := range c.AllowOrigins {
		p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, originMatcher(o))
	}
	return p
}

// originMatcher matches the Origin header against an allowed origin: case-insensitively,
// "*" alone matching any origin and a host "*" or "*.domain" any host or any subdomain of
// domain, at any depth.
func originMatcher(o string) *envoy_type_matcher_v3.StringMatcher {
	if !strings.Contains(o, "*") {
		return &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_Exact{Exact: o}, IgnoreCase: true}
	}
	re := ".+"
	if o != "*" {
		scheme, hostPort, _ := strings.Cut(o, "://")
		host, port := hostPort, ""
		if i := strings.LastIndexByte(hostPort, ':'); i >= 0 {
			host, port = hostPort[:i], hostPort[i:]
		}
		switch {
		case host == "*":
			host = `[^/:]+`
		case strings.HasPrefix(host, "*."):
			host = `[^/:]+\.` + regexp.QuoteMeta(host[2:])
		default:
			host = regexp.QuoteMeta(host)
		}
		re = "(?i)" + regexp.QuoteMeta(scheme) + "://" + host + regexp.QuoteMeta(port)
	}
	return &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_SafeRegex{SafeRegex: &envoy_type_matcher_v3.RegexMatcher{Regex: re}}}
}
