package gatewayapi

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

func headerFilter(set, add map[string]string, remove ...string) *gwv1.HTTPHeaderFilter {
	f := &gwv1.HTTPHeaderFilter{Remove: remove}
	for n, v := range set {
		f.Set = append(f.Set, gwv1.HTTPHeader{Name: gwv1.HTTPHeaderName(n), Value: v})
	}
	for n, v := range add {
		f.Add = append(f.Add, gwv1.HTTPHeader{Name: gwv1.HTTPHeaderName(n), Value: v})
	}
	return f
}

func ptrDuration(s string) *gwv1.Duration { d := gwv1.Duration(s); return &d }

// TestTranslateFilters: header modifiers, a full-path rewrite and both timeouts reach the
// Envoy route; proxyless gRPC clients are not sent the header changes (grpc-go ignores
// them); the node groups pass the consistency check.
func TestTranslateFilters(t *testing.T) {
	in := input()
	in.CanaryPolicies = nil
	rule := &in.HTTPRoutes[0].Spec.Rules[0]
	full := "/v2/items"
	rule.Filters = []gwv1.HTTPRouteFilter{
		{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"x-env": "prod"}, map[string]string{"x-via": "foresight"}, "x-debug")},
		{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: headerFilter(nil, map[string]string{"x-served-by": "gw"}, "server")},
		{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{Path: &gwv1.HTTPPathModifier{Type: gwv1.FullPathHTTPPathModifier, ReplaceFullPath: &full}}},
	}
	rule.Timeouts = &gwv1.HTTPRouteTimeouts{Request: ptrDuration("10s"), BackendRequest: ptrDuration("2s")}
	in.GRPCRoutes[0].Spec.Rules[0].Filters = []gwv1.GRPCRouteFilter{{Type: gwv1.GRPCRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"x-tenant": "a"}, nil)}}
	res := Translate(in)
	for _, name := range []string{"split"} {
		if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", name), "Accepted"); c.Status != metav1.ConditionTrue {
			t.Fatalf("%s Accepted = %+v", name, c)
		}
	}
	_, groups := served(t, res.Spec)
	r := envoyRoute(t, groups["gw.shop.edge"], "gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0")
	hs := map[string]string{}
	for _, h := range r.GetRequestHeadersToAdd() {
		hs[h.GetHeader().GetKey()] = h.GetHeader().GetValue() + "/" + h.GetAppendAction().String()
	}
	if hs["x-env"] != "prod/"+envoy_config_core_v3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD.String() ||
		hs["x-via"] != "foresight/"+envoy_config_core_v3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD.String() || len(hs) != 2 {
		t.Errorf("request headers to add = %v", hs)
	}
	if got := r.GetRequestHeadersToRemove(); len(got) != 1 || got[0] != "x-debug" {
		t.Errorf("request headers to remove = %v", got)
	}
	if got := r.GetResponseHeadersToAdd(); len(got) != 1 || got[0].GetHeader().GetKey() != "x-served-by" {
		t.Errorf("response headers to add = %v", got)
	}
	if got := r.GetResponseHeadersToRemove(); len(got) != 1 || got[0] != "server" {
		t.Errorf("response headers to remove = %v", got)
	}
	a := r.GetRoute()
	if a.GetRegexRewrite().GetSubstitution() != full || a.GetRegexRewrite().GetPattern().GetRegex() != "^/.*$" {
		t.Errorf("regex rewrite = %v", a.GetRegexRewrite())
	}
	if a.GetTimeout().AsDuration() != 2*time.Second {
		t.Errorf("timeout = %v, want the backend request's 2s", a.GetTimeout().AsDuration())
	}
	const grpcName = "gw.shop.edge/greeter.shop:GRPCRoute/shop/greeter/0/0"
	if got := envoyRoute(t, groups["gw.shop.edge"], grpcName).GetRequestHeadersToAdd(); len(got) != 1 || got[0].GetHeader().GetKey() != "x-tenant" {
		t.Errorf("GRPCRoute on Envoy: request headers to add = %v", got)
	}
	if got := envoyRoute(t, groups["gw.shop.edge.grpc"], grpcName).GetRequestHeadersToAdd(); len(got) != 0 {
		t.Errorf("proxyless gRPC clients are sent header changes: %v", got)
	}
}

// TestTranslatePartiallyInvalid: a rule that cannot be served is dropped, the route's other
// rules are served, and the route says PartiallyInvalid ("Dropped Rule"); a route none of
// whose rules can be served is not accepted.
func TestTranslatePartiallyInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  gwv1.HTTPRouteRule
		want string
	}{
		{"unsupported filter", gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterExtensionRef, ExtensionRef: &gwv1.LocalObjectReference{Group: "example.com", Kind: "Plugin", Name: "p"}}}}, "filter type ExtensionRef is not supported"},
		{"filter without its configuration", gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect}}}, "type RequestRedirect without its requestRedirect field"},
		{"backendRequest above request", gwv1.HTTPRouteRule{Timeouts: &gwv1.HTTPRouteTimeouts{Request: ptrDuration("1s"), BackendRequest: ptrDuration("2s")}}, "must be no more than timeouts.request"},
		{"Host header changed", gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"Host": "x"}, nil)}}}, "Host header cannot be changed"},
		{"header value with a newline", gwv1.HTTPRouteRule{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: headerFilter(nil, map[string]string{"x-a": "a\r\nb"})}}}, "without NUL, CR or LF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input()
			bad := tc.bad
			bad.BackendRefs = []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}}
			exact := gwv1.PathMatchExact
			path := "/bad"
			bad.Matches = []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &exact, Value: &path}}}
			route := in.HTTPRoutes[0]
			route.Spec.Rules = append(route.Spec.Rules, bad)
			res := Translate(in)
			cs := routeStatus(t, res.HTTPRoutes, "shop", "split")
			if c := conditions.Require(t, cs, "Accepted"); c.Status != metav1.ConditionTrue {
				t.Errorf("Accepted = %+v", c)
			}
			if c := conditions.Require(t, cs, "PartiallyInvalid"); c.Status != metav1.ConditionTrue || c.Reason != string(gwv1.RouteReasonUnsupportedValue) ||
				!strings.HasPrefix(c.Message, "Dropped Rule") || !strings.Contains(c.Message, "rules[1]") || !strings.Contains(c.Message, tc.want) {
				t.Errorf("PartiallyInvalid = %+v", c)
			}
			p, _ := served(t, res.Spec)
			if p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0") == nil {
				t.Error("the valid rule is not served")
			}
			if p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/1/0") != nil {
				t.Error("the dropped rule is served")
			}
			// Only the bad rule: the route is not accepted, and says no PartiallyInvalid.
			route.Spec.Rules = route.Spec.Rules[1:]
			res = Translate(in)
			cs = routeStatus(t, res.HTTPRoutes, "shop", "split")
			if c := conditions.Require(t, cs, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.RouteReasonUnsupportedValue) || !strings.Contains(c.Message, tc.want) {
				t.Errorf("Accepted = %+v", c)
			}
			for _, c := range cs {
				if c.Type == "PartiallyInvalid" {
					t.Errorf("PartiallyInvalid on a route with no valid rule: %+v", c)
				}
			}
		})
	}
}

// TestTranslatePrefixReplacement: ReplacePrefixMatch on a path prefix keeps the segment
// boundary, as the spec's examples require (/foo -> /xyz, /foo/bar -> /xyz/bar, and with
// "/" as the replacement /foo/bar -> /bar), for rewrites and redirects.
func TestTranslatePrefixReplacement(t *testing.T) {
	for _, tc := range []struct {
		prefix, repl          string
		exactPath, prefixRepl string
		matchPrefix           string
	}{
		{"/foo", "/xyz", "/xyz", "/xyz/", "/foo/"},
		{"/foo/", "/xyz/", "/xyz", "/xyz/", "/foo/"},
		{"/foo", "/", "/", "/", "/foo/"},
		{"/", "/xyz", "/xyz", "/xyz/", "/"},
	} {
		for _, redirect := range []bool{false, true} {
			in := input()
			in.CanaryPolicies = nil
			rule := &in.HTTPRoutes[0].Spec.Rules[0]
			pt := gwv1.PathMatchPathPrefix
			prefix, repl := tc.prefix, tc.repl
			rule.Matches = []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &pt, Value: &prefix}}}
			mod := &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: &repl}
			if redirect {
				rule.Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Path: mod}}}
			} else {
				rule.Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{Path: mod}}}
			}
			p, _ := served(t, Translate(in).Spec)
			exact, pre := p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0-exact"), p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0")
			if exact == nil || pre == nil {
				t.Fatalf("%+v redirect=%v: routes %v, %v", tc, redirect, exact, pre)
			}
			var gotExact, gotPrefix string
			if redirect {
				gotExact, gotPrefix = exact.Redirect.Path, pre.Redirect.Prefix
			} else {
				gotExact, gotPrefix = exact.Rewrite.Path, pre.Rewrite.Prefix
			}
			if exact.Match.Exact != or(strings.TrimSuffix(tc.prefix, "/"), "/") || gotExact != tc.exactPath || pre.Match.Prefix != tc.matchPrefix || gotPrefix != tc.prefixRepl {
				t.Errorf("%+v redirect=%v: exact %q -> %q, prefix %q -> %q", tc, redirect, exact.Match.Exact, gotExact, pre.Match.Prefix, gotPrefix)
			}
		}
	}
}

// TestTranslateRequestMirror: a RequestMirror filter mirrors its share to its Service on
// Envoy (not on proxyless gRPC clients, which do not mirror); one whose backendRef does not
// resolve is left out and the route says ResolvedRefs=False.
func TestTranslateRequestMirror(t *testing.T) {
	in := input()
	in.CanaryPolicies = nil
	pct := int32(25)
	port := gwv1.PortNumber(80)
	mirror := func(name string) gwv1.HTTPRouteFilter {
		return gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{
			BackendRef: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: &port}, Percent: &pct}}
	}
	in.HTTPRoutes[0].Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{mirror("web-next")}
	res := Translate(in)
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "ResolvedRefs"); c.Status != metav1.ConditionTrue {
		t.Errorf("ResolvedRefs = %+v", c)
	}
	p, groups := served(t, res.Spec)
	const name = "gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0"
	ms := envoyRoute(t, groups["gw.shop.edge"], name).GetRoute().GetRequestMirrorPolicies()
	if len(ms) != 1 || ms[0].GetCluster() != p.Service("shop-web-next-80").ClusterName() || ms[0].GetRuntimeFraction().GetDefaultValue().GetNumerator() != 250000 {
		t.Errorf("mirror policies = %v", ms)
	}

	in.HTTPRoutes[0].Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{mirror("nowhere")}
	res = Translate(in)
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.RouteReasonBackendNotFound) || !strings.Contains(c.Message, "requestMirror") {
		t.Errorf("ResolvedRefs = %+v", c)
	}
	p, _ = served(t, res.Spec)
	if r := p.Route(name); len(r.Mirrors) != 0 || len(r.Backends) != 2 {
		t.Errorf("route with an unresolved mirror = %+v, want its backends and no mirror", r)
	}
}

// TestTranslateTimeouts: without retries the route timeout is the smaller of request and
// backendRequest; zero disables either, and disabling both lifts Envoy's default timeout
// too. With retries, whether the rule's, a BackendTrafficPolicy's on the route or on the
// Service, request bounds them all and backendRequest each attempt (over the retries' own
// perTryTimeout: the route's wins); without request, the attempts bound the exchange rather
// than Envoy's default 15 s. Proxyless gRPC clients, which have no per-try timeout, get the
// smaller of the two as the stream's longest duration.
func TestTranslateTimeouts(t *testing.T) {
	for _, tc := range []struct {
		request, backend string // "" for unset
		retries          string // "", "rule", "route policy", "service policy", "policy per try"
		want, perTry     time.Duration
	}{
		{"10s", "", "", 10 * time.Second, 0},
		{"", "3s", "", 3 * time.Second, 0},
		{"10s", "3s", "", 3 * time.Second, 0},
		{"0s", "3s", "", 3 * time.Second, 0},
		{"10s", "0s", "", 10 * time.Second, 0},
		{"0s", "", "", 0, 0},
		{"0s", "0s", "", 0, 0},
		{"", "0s", "", 0, 0},
		{"10s", "3s", "rule", 10 * time.Second, 3 * time.Second},
		{"10s", "3s", "route policy", 10 * time.Second, 3 * time.Second},
		{"10s", "3s", "service policy", 10 * time.Second, 3 * time.Second},
		{"0s", "3s", "route policy", 0, 3 * time.Second},
		{"10s", "3s", "policy per try", 10 * time.Second, 3 * time.Second},
		{"", "3s", "route policy", 9 * time.Second, 3 * time.Second},
	} {
		in := input()
		in.CanaryPolicies = nil
		to := &gwv1.HTTPRouteTimeouts{}
		if tc.request != "" {
			to.Request = ptrDuration(tc.request)
		}
		if tc.backend != "" {
			to.BackendRequest = ptrDuration(tc.backend)
		}
		rule := &in.HTTPRoutes[0].Spec.Rules[0]
		rule.Timeouts = to
		retries := &RetriesSpec{On: []string{"5xx"}, Count: 2}
		switch tc.retries {
		case "rule":
			rule.Retry = &gwv1.HTTPRouteRetry{Attempts: ptr(2)}
		case "route policy", "policy per try":
			if tc.retries == "policy per try" {
				retries.PerTryTimeout = &metav1.Duration{Duration: time.Second}
			}
			in.BackendTrafficPolicies = []*BackendTrafficPolicy{btp("r", 1, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindHTTPRoute, "split")}, Retries: retries})}
		case "service policy":
			rule.BackendRefs = rule.BackendRefs[:1]
			in.BackendTrafficPolicies = []*BackendTrafficPolicy{btp("s", 1, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("web")}, Retries: retries})}
		}
		_, groups := served(t, Translate(in).Spec)
		const name = "gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0"
		if proxyless := envoyRoute(t, groups["gw.shop.edge.grpc"], name).GetRoute(); tc.backend == "3s" && proxyless.GetMaxStreamDuration().GetMaxStreamDuration().AsDuration() != 3*time.Second {
			t.Errorf("%+v: proxyless max stream duration %v, want 3s", tc, proxyless.GetMaxStreamDuration())
		}
		a := envoyRoute(t, groups["gw.shop.edge"], name).GetRoute()
		if a.GetTimeout() == nil || a.GetTimeout().AsDuration() != tc.want {
			t.Errorf("%+v: Envoy timeout %v, want %v set", tc, a.GetTimeout(), tc.want)
		}
		if rp := a.GetRetryPolicy(); (rp != nil) != (tc.retries != "") || rp.GetPerTryTimeout().AsDuration() != tc.perTry {
			t.Errorf("%+v: retry policy %v, want per try %v", tc, rp, tc.perTry)
		}
	}
}

// TestTranslateRedirectPort: a redirect without a port keeps the listener's port unless it
// changes the scheme (then the scheme's well-known port: no port in the Location).
func TestTranslateRedirectPort(t *testing.T) {
	host := gwv1.PreciseHostname("new.example")
	https := "https"
	for _, tc := range []struct {
		f    gwv1.HTTPRequestRedirectFilter
		want uint32
	}{
		{gwv1.HTTPRequestRedirectFilter{Hostname: &host}, 8080},
		{gwv1.HTTPRequestRedirectFilter{Hostname: &host, Scheme: &https}, 0},
		{gwv1.HTTPRequestRedirectFilter{Hostname: &host, Port: ptr(gwv1.PortNumber(9000))}, 9000},
	} {
		in := input()
		in.HTTPRoutes[0].Spec.Rules[0].Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &tc.f}}
		p, _ := served(t, Translate(in).Spec)
		if r := p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0"); r.Redirect == nil || r.Redirect.Port != tc.want {
			t.Errorf("%+v: redirect %+v, want port %d", tc.f, r.Redirect, tc.want)
		}
	}
}

// TestTranslateDropsRuleWithLongRegex: a rule with a regex whose RE2 program is larger than
// the proxies accept (Envoy's default limit here) is dropped with why, so that the rest of
// the Gateway is served; with the limit lifted (Input.Checks) it is served.
func TestTranslateDropsRuleWithLongRegex(t *testing.T) {
	const long = "/v1/items/[a-z0-9-]{1,64}"
	pathRegex, headerRegex := gwv1.PathMatchRegularExpression, gwv1.HeaderMatchRegularExpression
	for _, tc := range []struct {
		name  string
		match gwv1.HTTPRouteMatch
		field string
	}{
		{"path", gwv1.HTTPRouteMatch{Path: &gwv1.HTTPPathMatch{Type: &pathRegex, Value: ptr(long)}}, "matches[0].match.regex"},
		{"header", gwv1.HTTPRouteMatch{Headers: []gwv1.HTTPHeaderMatch{{Type: &headerRegex, Name: "x-item", Value: long}}}, "matches[0].match.headers[0].regex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input()
			route := in.HTTPRoutes[0]
			route.Spec.Rules = append(route.Spec.Rules, gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{tc.match},
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}}})
			res := Translate(in)
			c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "PartiallyInvalid")
			want := "rules[1]: " + tc.field + `: regex "` + strings.ReplaceAll(long, `\`, `\\`) + `" compiles to an RE2 program of`
			if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, want) || !strings.Contains(c.Message, "Envoy refuses more than 100") {
				t.Errorf("PartiallyInvalid = %+v, want a message with %q", c, want)
			}
			p, _ := served(t, res.Spec) // the rest passes the checks Envoy's proxies are served with
			if p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/1/0") != nil {
				t.Error("the rule with the long regex is served")
			}

			in.Checks = check.Options{RegexProgramSizeLimit: -1}
			res = Translate(in)
			if c := meta.FindStatusCondition(routeStatus(t, res.HTTPRoutes, "shop", "split"), "PartiallyInvalid"); c != nil {
				t.Errorf("without a limit: PartiallyInvalid = %+v", c)
			}
			if p := Merge(base(t), res.Spec); p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/1/0") == nil {
				t.Error("without a limit the rule is not served")
			}
		})
	}
}

// TestRewriteWithoutBackendsAnswers500 checks a rule whose only filter is a URLRewrite and
// which has no backendRefs is accepted and answers 500, as every rule that forwards nowhere.
func TestRewriteWithoutBackendsAnswers500(t *testing.T) {
	in := input()
	in.CanaryPolicies = nil
	full := "/foo"
	rule := &in.HTTPRoutes[0].Spec.Rules[0]
	rule.BackendRefs = nil
	rule.Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{
		Path: &gwv1.HTTPPathModifier{Type: gwv1.FullPathHTTPPathModifier, ReplaceFullPath: &full}}}}
	res := Translate(in)
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "Accepted"); c.Status != metav1.ConditionTrue {
		t.Fatalf("Accepted = %+v", c)
	}
	p, _ := served(t, res.Spec)
	if r := p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0"); r == nil || r.DirectResponse == nil || r.DirectResponse.Status != 500 || r.Rewrite != nil {
		t.Errorf("route = %+v, want a 500 and no rewrite", r)
	}
}

// TestTranslateCORS checks a CORS filter becomes its route's CORS policy, and that one the
// proxies could not take (an origin that is not one, which the CRD's own validation lets
// through in older versions) drops its rule with the field named.
func TestTranslateCORS(t *testing.T) {
	in := input()
	in.CanaryPolicies = nil
	creds := true
	rule := &in.HTTPRoutes[0].Spec.Rules[0]
	rule.Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterCORS, CORS: &gwv1.HTTPCORSFilter{
		AllowOrigins: []gwv1.CORSOrigin{"https://www.shop.example", "https://*.shop.example"}, AllowCredentials: &creds,
		AllowMethods: []gwv1.HTTPMethodWithWildcard{"GET", "PUT"}, AllowHeaders: []gwv1.HTTPHeaderName{"x-token"},
		ExposeHeaders: []gwv1.HTTPHeaderName{"x-request-id"}, MaxAge: 3600}}}
	res := Translate(in)
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "Accepted"); c.Status != metav1.ConditionTrue {
		t.Fatalf("Accepted = %+v", c)
	}
	p, _ := served(t, res.Spec)
	want := &policy.CORS{AllowOrigins: []string{"https://www.shop.example", "https://*.shop.example"}, AllowMethods: []string{"GET", "PUT"},
		AllowHeaders: []string{"x-token"}, ExposeHeaders: []string{"x-request-id"}, AllowCredentials: true, MaxAge: policy.Duration(time.Hour)}
	if r := p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0"); r == nil || !reflect.DeepEqual(r.CORS, want) {
		t.Errorf("route = %+v, want CORS %+v", r, want)
	}

	rule.Filters[0].CORS.AllowOrigins = []gwv1.CORSOrigin{"*", "https://www.shop.example"}
	res = Translate(in)
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "split"), "Accepted"); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, `cors.allowOrigins: "*" stands alone`) {
		t.Errorf("Accepted = %+v, want the rule refused for its origins", c)
	}
	served(t, res.Spec)
}

// sentHeaders are the request headers (names lower case) that Envoy sends a backend of a
// weighted cluster: the cluster's changes applied first, then the route's (Envoy's order,
// whatever most_specific_header_mutations_wins says), each level removing before it sets
// and adds in order.
func sentHeaders(r *envoy_config_route_v3.Route, c *envoy_config_route_v3.WeightedCluster_ClusterWeight, hs map[string][]string) map[string][]string {
	out := maps.Clone(hs)
	level := func(add []*envoy_config_core_v3.HeaderValueOption, remove []string) {
		for _, n := range remove {
			delete(out, strings.ToLower(n))
		}
		for _, o := range add {
			k := strings.ToLower(o.GetHeader().GetKey())
			if o.GetAppendAction() == envoy_config_core_v3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				out[k] = nil
			}
			out[k] = append(slices.Clone(out[k]), o.GetHeader().GetValue())
		}
	}
	level(c.GetRequestHeadersToAdd(), c.GetRequestHeadersToRemove())
	level(r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove())
	return out
}

// TestTranslateBackendRefFilters: the header modifiers of a backendRef change the requests
// and responses of that backend alone, after the rule's own: a header both set takes the
// backend's value and one the rule sets and the backend removes is not sent (the rule's
// changes are folded into each weighted cluster, as Envoy applies a cluster's changes before
// its route's); a single backend with changes is a weighted cluster of one; two refs to one
// Service with different changes stay two backends, with the same changes they merge;
// proxyless gRPC clients get none; another filter type on a backendRef drops its rule,
// naming it.
func TestTranslateBackendRefFilters(t *testing.T) {
	in := input()
	in.CanaryPolicies = nil
	tag := func(v string, remove ...string) []gwv1.HTTPRouteFilter {
		return []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"x-backend": v}, nil, remove...)}}
	}
	rule := &in.HTTPRoutes[0].Spec.Rules[0]
	rule.Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"x-backend": "rule", "x-trace": "rule"}, nil)}}
	nextFilters := append(tag("next"), gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterResponseHeaderModifier,
		ResponseHeaderModifier: headerFilter(nil, map[string]string{"x-served-by": "next"}, "server")})
	rule.BackendRefs = []gwv1.HTTPBackendRef{
		{BackendRef: ref("web", 80, 1), Filters: tag("web", "X-Trace")},
		{BackendRef: ref("web-next", 80, 1), Filters: nextFilters},
		{BackendRef: ref("web", 80, 2), Filters: tag("web-b")},
		{BackendRef: ref("web-next", 80, 1), Filters: slices.Clone(nextFilters)},
	}
	single := in.HTTPRoutes[0].DeepCopy()
	single.Name, single.Spec.Hostnames = "single", []gwv1.Hostname{"single.shop"}
	single.Spec.Rules = []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1), Filters: tag("only")}}}}
	in.HTTPRoutes = append(in.HTTPRoutes, single)
	in.GRPCRoutes[0].Spec.Rules[0].BackendRefs[0].Filters = []gwv1.GRPCRouteFilter{{Type: gwv1.GRPCRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"x-backend": "v1"}, nil)}}
	res := Translate(in)
	for _, name := range []string{"split", "single"} {
		if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", name), "Accepted"); c.Status != metav1.ConditionTrue {
			t.Fatalf("%s Accepted = %+v", name, c)
		}
	}
	_, groups := served(t, res.Spec)
	edge := groups["gw.shop.edge"]
	client := map[string][]string{"x-backend": {"client"}, "x-trace": {"client"}, "x-user": {"alice"}}
	sent := func(r *envoy_config_route_v3.Route, c *envoy_config_route_v3.WeightedCluster_ClusterWeight) string {
		hs := sentHeaders(r, c, client)
		return fmt.Sprintf("x-backend=%s x-trace=%s x-user=%s", strings.Join(hs["x-backend"], ","), strings.Join(hs["x-trace"], ","), strings.Join(hs["x-user"], ","))
	}
	r := envoyRoute(t, edge, "gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0")
	var got []string
	for _, c := range r.GetRoute().GetWeightedClusters().GetClusters() {
		got = append(got, fmt.Sprintf("%s %d %s", c.GetName(), c.GetWeight().GetValue(), sent(r, c)))
		if strings.Contains(c.GetName(), "web-next") {
			if rs := c.GetResponseHeadersToAdd(); len(rs) != 1 || rs[0].GetHeader().GetKey() != "x-served-by" || !slices.Equal(c.GetResponseHeadersToRemove(), []string{"server"}) {
				t.Errorf("web-next's response changes: add %v, remove %v", rs, c.GetResponseHeadersToRemove())
			}
		} else if len(c.GetResponseHeadersToAdd())+len(c.GetResponseHeadersToRemove()) != 0 {
			t.Errorf("%s changes response headers", c.GetName())
		}
	}
	web, next := ServiceName("shop", "web", 80)+".shop", ServiceName("shop", "web-next", 80)+".shop"
	if want := []string{web + " 1 x-backend=web x-trace= x-user=alice", next + " 2 x-backend=next x-trace=rule x-user=alice", web + " 2 x-backend=web-b x-trace=rule x-user=alice"}; !slices.Equal(got, want) {
		t.Errorf("headers sent to the weighted clusters:\n got %q\nwant %q", got, want)
	}
	one := envoyRoute(t, edge, "gw.shop.edge/single.shop:HTTPRoute/shop/single/0/0")
	if cs := one.GetRoute().GetWeightedClusters().GetClusters(); len(cs) != 1 || cs[0].GetName() != web || sent(one, cs[0]) != "x-backend=only x-trace=client x-user=alice" {
		t.Errorf("a single backend with header changes: %v", one.GetRoute().GetClusterSpecifier())
	}
	const grpcName = "gw.shop.edge/greeter.shop:GRPCRoute/shop/greeter/0/0"
	g := envoyRoute(t, edge, grpcName)
	if cs := g.GetRoute().GetWeightedClusters().GetClusters(); len(cs) == 0 || sent(g, cs[0]) != "x-backend=v1 x-trace=client x-user=alice" {
		t.Errorf("GRPCRoute on Envoy: %v", cs)
	}
	proxyless := envoyRoute(t, groups["gw.shop.edge.grpc"], grpcName).GetRoute()
	for _, c := range proxyless.GetWeightedClusters().GetClusters() {
		if len(c.GetRequestHeadersToAdd()) != 0 {
			t.Errorf("proxyless gRPC clients are sent header changes: %v", c)
		}
	}
}

// TestBackendRefFiltersRefused: a backendRef filter foresight-xds does not serve (any but
// the header modifiers, or one without its configuration, or a repeated one) drops its rule
// with a message naming the backendRef and the filter.
func TestBackendRefFiltersRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		filters []gwv1.HTTPRouteFilter
		want    string
	}{
		{"mirror", []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{BackendRef: ref("web", 80, 1).BackendObjectReference}}},
			"backendRefs[1].filters[0]: filter type RequestMirror is not supported on a backendRef"},
		{"without configuration", []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterResponseHeaderModifier}},
			"backendRefs[1].filters[0]: type ResponseHeaderModifier without its responseHeaderModifier field"},
		{"repeated", []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(nil, nil, "a")}, {Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(nil, nil, "b")}},
			"backendRefs[1].filters[1]: a second RequestHeaderModifier filter"},
		{"Host header", []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"Host": "x"}, nil)}},
			"matches[0].backends[1].requestHeaders.set[0].name: the Host header cannot be changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input()
			in.CanaryPolicies = nil
			route := in.HTTPRoutes[0]
			route.Spec.Rules = append(route.Spec.Rules, gwv1.HTTPRouteRule{
				Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr("/bad")}}},
				BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}, {BackendRef: ref("web-next", 80, 1), Filters: tc.filters}},
			})
			res := Translate(in)
			cs := routeStatus(t, res.HTTPRoutes, "shop", "split")
			if c := conditions.Require(t, cs, "PartiallyInvalid"); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "rules[1]: "+tc.want) {
				t.Errorf("PartiallyInvalid = %+v, want %q", c, tc.want)
			}
			p, _ := served(t, res.Spec)
			if p.Route("gw.shop.edge/web.shop:HTTPRoute/shop/split/1/0") != nil {
				t.Error("the rule with the refused filter is served")
			}
		})
	}
}

// TestNamedRulesInMessages: a rule's name (HTTPRoute and GRPCRoute) is given beside its
// index where a message names the rule: a dropped rule, a backendRef that does not resolve;
// an unnamed rule is named by its index alone.
func TestNamedRulesInMessages(t *testing.T) {
	in := input()
	in.CanaryPolicies = nil
	route := in.HTTPRoutes[0]
	route.Spec.Rules[0].Name = ptr(gwv1.SectionName("main"))
	route.Spec.Rules = append(route.Spec.Rules, gwv1.HTTPRouteRule{
		Name:        ptr(gwv1.SectionName("legacy")),
		Matches:     []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr("/legacy")}}},
		BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("gone", 80, 1)}},
	}, gwv1.HTTPRouteRule{
		Name:    ptr(gwv1.SectionName("sticky")),
		Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr("/sticky")}}}, SessionPersistence: &gwv1.SessionPersistence{},
		BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}},
	}, gwv1.HTTPRouteRule{
		Matches:            []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr("/plain")}}},
		SessionPersistence: &gwv1.SessionPersistence{},
		BackendRefs:        []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}},
	})
	in.GRPCRoutes[0].Spec.Rules[0].Name = ptr(gwv1.SectionName("hello"))
	in.GRPCRoutes[0].Spec.Rules[0].BackendRefs[0].Filters = []gwv1.GRPCRouteFilter{{Type: gwv1.GRPCRouteFilterRequestMirror}}
	res := Translate(in)
	cs := routeStatus(t, res.HTTPRoutes, "shop", "split")
	if c := conditions.Require(t, cs, "PartiallyInvalid"); !strings.Contains(c.Message, `rules[2] (name "sticky"): sessionPersistence`) || !strings.Contains(c.Message, "rules[3]: sessionPersistence") {
		t.Errorf("PartiallyInvalid = %+v", c)
	}
	if c := conditions.Require(t, cs, "ResolvedRefs"); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, `rules[1] (name "legacy").backendRefs[0]: Service shop/gone not found`) {
		t.Errorf("ResolvedRefs = %+v", c)
	}
	if c := conditions.Require(t, routeStatus(t, res.GRPCRoutes, "shop", "greeter"), "Accepted"); c.Status != metav1.ConditionFalse ||
		!strings.Contains(c.Message, `rules[0] (name "hello"): backendRefs[0].filters[0]: filter type RequestMirror is not supported on a backendRef`) {
		t.Errorf("GRPCRoute Accepted = %+v", c)
	}
}

// TestTranslateRetry: a rule's retry becomes the Envoy route's retry policy: its codes
// (with connection failures, refused streams and resets, which cover timeouts.backendRequest
// as each attempt's timeout, while timeouts.request bounds them all), its attempts as the
// number of retries (1 when unset) and its backoff as the base interval. A BackendTrafficPolicy
// on the route does not replace a rule's own retry or timeouts (an explicit "0s" included),
// but sets those of the other rules. A retry that cannot be served drops its rule, naming
// the field.
func TestTranslateRetry(t *testing.T) {
	in := input()
	in.CanaryPolicies = nil
	route := in.HTTPRoutes[0]
	attempts, backoff := 3, gwv1.Duration("100ms")
	route.Spec.Rules[0].Retry = &gwv1.HTTPRouteRetry{Codes: []gwv1.HTTPRouteRetryStatusCode{500, 503}, Attempts: &attempts, Backoff: &backoff}
	route.Spec.Rules[0].Timeouts = &gwv1.HTTPRouteTimeouts{Request: ptrDuration("10s"), BackendRequest: ptrDuration("2s")}
	plain := func(path string) gwv1.HTTPRouteRule {
		return gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Value: ptr(path)}}}, BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}}}
	}
	bare, policed, unbounded := plain("/bare"), plain("/policed"), plain("/unbounded")
	bare.Retry = &gwv1.HTTPRouteRetry{Backoff: ptrDuration("0s")}
	unbounded.Timeouts = &gwv1.HTTPRouteTimeouts{Request: ptrDuration("0s")}
	route.Spec.Rules = append(route.Spec.Rules, bare, policed, unbounded)
	in.BackendTrafficPolicies = []*BackendTrafficPolicy{btp("on-route", 1, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindHTTPRoute, "split")},
		Retries: &RetriesSpec{On: []string{"gateway-error"}, Count: 5}, Timeout: &metav1.Duration{Duration: 7 * time.Second}})}
	res := Translate(in)
	cs := routeStatus(t, res.HTTPRoutes, "shop", "split")
	if c := conditions.Require(t, cs, "Accepted"); c.Status != metav1.ConditionTrue {
		t.Fatalf("Accepted = %+v", c)
	}
	for _, c := range cs {
		if c.Type == "PartiallyInvalid" {
			t.Fatalf("rules dropped: %+v", c)
		}
	}
	_, groups := served(t, res.Spec)
	edge := groups["gw.shop.edge"]
	a := envoyRoute(t, edge, "gw.shop.edge/web.shop:HTTPRoute/shop/split/0/0").GetRoute()
	rp := a.GetRetryPolicy()
	if rp.GetRetryOn() != "retriable-status-codes,connect-failure,refused-stream,reset" || rp.GetNumRetries().GetValue() != 3 ||
		!slices.Equal(rp.GetRetriableStatusCodes(), []uint32{500, 503}) || rp.GetPerTryTimeout().AsDuration() != 2*time.Second ||
		rp.GetRetryBackOff().GetBaseInterval().AsDuration() != 100*time.Millisecond || rp.GetRetryBackOff().GetMaxInterval().AsDuration() != time.Second {
		t.Errorf("retry policy %v", rp)
	}
	if a.GetTimeout().AsDuration() != 10*time.Second {
		t.Errorf("route timeout %v, want the request timeout 10s (each attempt has the backend request's 2s)", a.GetTimeout().AsDuration())
	}
	b := envoyRoute(t, edge, "gw.shop.edge/web.shop:HTTPRoute/shop/split/1/0").GetRoute()
	if rp := b.GetRetryPolicy(); rp.GetRetryOn() != "connect-failure,refused-stream,reset" || rp.GetNumRetries().GetValue() != 1 || rp.GetPerTryTimeout() != nil ||
		len(rp.GetRetriableStatusCodes()) != 0 || rp.GetRetryBackOff() != nil {
		t.Errorf("a bare retry: %v", rp)
	}
	if b.GetTimeout().AsDuration() != 7*time.Second {
		t.Errorf("a rule without timeouts: timeout %v, want the policy's 7s", b.GetTimeout().AsDuration())
	}
	p := envoyRoute(t, edge, "gw.shop.edge/web.shop:HTTPRoute/shop/split/2/0").GetRoute()
	if rp := p.GetRetryPolicy(); rp.GetRetryOn() != "gateway-error" || rp.GetNumRetries().GetValue() != 5 {
		t.Errorf("a rule without retry: %v, want the BackendTrafficPolicy's", rp)
	}
	if u := envoyRoute(t, edge, "gw.shop.edge/web.shop:HTTPRoute/shop/split/3/0").GetRoute(); u.GetTimeout() == nil || u.GetTimeout().AsDuration() != 0 {
		t.Errorf("a rule with timeouts.request 0s: timeout %v, want none (0) over the policy's", u.GetTimeout())
	}

	for _, tc := range []struct {
		retry gwv1.HTTPRouteRetry
		want  string
	}{
		{gwv1.HTTPRouteRetry{Attempts: ptr(11)}, "retry.attempts: 11 is not 1..10"},
		{gwv1.HTTPRouteRetry{Codes: []gwv1.HTTPRouteRetryStatusCode{500, 200}}, "retry.codes[1]: 200 is not 400..599"},
		{gwv1.HTTPRouteRetry{Backoff: ptrDuration("-1s")}, `retry.backoff: "-1s" is not a duration`},
		{gwv1.HTTPRouteRetry{Backoff: ptrDuration("soon")}, `retry.backoff: "soon" is not a duration`},
	} {
		in := input()
		in.CanaryPolicies = nil
		bad := plain("/bad")
		bad.Retry = &tc.retry
		in.HTTPRoutes[0].Spec.Rules = append(in.HTTPRoutes[0].Spec.Rules, bad)
		c := conditions.Require(t, routeStatus(t, Translate(in).HTTPRoutes, "shop", "split"), "PartiallyInvalid")
		if !strings.Contains(c.Message, "rules[1]: "+tc.want) {
			t.Errorf("PartiallyInvalid = %+v, want %q", c, tc.want)
		}
	}
}

// TestCanaryKeepsBackendRefFilters: a CanaryPolicy over a route whose backendRefs tag their
// requests keeps each version's tag through its steps and on its header route, the canary's
// included while its backendRef has weight 0 (it is kept as a backend of weight 0).
func TestCanaryKeepsBackendRefFilters(t *testing.T) {
	in := input()
	refs := in.GRPCRoutes[0].Spec.Rules[0].BackendRefs
	for i, v := range []string{"stable", "canary"} {
		refs[i].Filters = []gwv1.GRPCRouteFilter{{Type: gwv1.GRPCRouteFilterRequestHeaderModifier, RequestHeaderModifier: headerFilter(map[string]string{"x-version": v}, nil)}}
	}
	in.CanaryPolicies[0].Spec.Headers = []gwv1.HTTPHeaderMatch{{Name: "x-canary", Value: "always"}}
	p, c := servedCanary(t, in)
	version := func(b policy.Backend) string {
		if b.RequestHeaders == nil || len(b.RequestHeaders.Set) != 1 {
			return b.Service + " untagged"
		}
		return b.Service + " " + b.RequestHeaders.Set[0].Value
	}
	for _, w := range []uint32{10, 50, 100} {
		at, err := p.WithCanaryWeight(c, w)
		if err != nil {
			t.Fatal(err)
		}
		bs := at.Route(c.Route).Backends
		if len(bs) != 2 || version(bs[0]) != "shop-greeter-v1-50051 stable" || version(bs[1]) != "shop-greeter-v2-50051 canary" || bs[1].Weight != w {
			t.Errorf("at %d%%: backends %+v", w, bs)
		}
		if _, err := translate.Translate(at); err != nil {
			t.Fatal(err)
		}
	}
	withHeaders, err := p.WithCanaryHeaderRoutes(c)
	if err != nil {
		t.Fatal(err)
	}
	if hr := withHeaders.Route(policy.HeaderRouteName(c.Route)); hr == nil || len(hr.Backends) != 1 || version(hr.Backends[0]) != "shop-greeter-v2-50051 canary" {
		t.Errorf("header route %+v", hr)
	}
}
