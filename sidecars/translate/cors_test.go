package translate_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	envoy_extensions_filters_http_cors_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// TestCORS checks a route's CORS policy reaches Envoy: the CORS filter first in the
// gateway's chain (before the JWT filter, so that a preflight is answered rather than
// refused for lack of a token), the route's policy with its methods, headers, credentials and
// maximum age, preflights of origins not allowed answered by the proxy (not forwarded), and
// origin matchers that accept the origins allowed and no other. Proxyless
// gRPC clients get no CORS.
func TestCORS(t *testing.T) {
	out := feature(t, "cors")
	edge := group(t, out, "edge")
	if got := filterNames(hcm(t, listenerNamed(t, edge, "gateway-8443"))); !slices.Equal(got, []string{translate.CORSFilter, translate.JWTFilter, translate.FaultFilter, translate.RouterFilter}) {
		t.Errorf("gateway filters %v, want CORS first", got)
	}
	vh := vhostNamed(t, routeConfig(t, edge, "edge/gateway-8443"), "site")
	var p envoy_extensions_filters_http_cors_v3.CorsPolicy
	if err := routeNamed(t, vh, "site-api").GetTypedPerFilterConfig()[translate.CORSFilter].UnmarshalTo(&p); err != nil {
		t.Fatalf("site-api's CORS policy: %v", err)
	}
	if p.GetAllowMethods() != "GET,PUT,DELETE" || p.GetAllowHeaders() != "authorization,content-type" || p.GetExposeHeaders() != "x-request-id" ||
		!p.GetAllowCredentials().GetValue() || p.GetMaxAge() != "600" || p.GetForwardNotMatchingPreflights().GetValue() || p.GetForwardNotMatchingPreflights() == nil {
		t.Errorf("CORS policy %v", &p)
	}
	if _, has := routeNamed(t, vh, "site-rest").GetTypedPerFilterConfig()[translate.CORSFilter]; has {
		t.Error("a route without CORS got a CORS policy")
	}
	allowed := func(origin string) bool {
		for _, m := range p.GetAllowOriginStringMatch() {
			if e := m.GetExact(); e != "" && (e == origin || m.GetIgnoreCase() && strings.EqualFold(e, origin)) {
				return true
			}
			if re := m.GetSafeRegex().GetRegex(); re != "" && regexp.MustCompile("^(?:"+re+")$").MatchString(origin) {
				return true
			}
		}
		return false
	}
	for origin, want := range map[string]bool{
		"https://www.example.com": true, "HTTPS://WWW.EXAMPLE.COM": true, "https://a.partner.example": true, "https://a.b.partner.example": true,
		"https://partner.example": false, "http://a.partner.example": false, "https://evil-partner.example": false, "https://a.partner.example.evil": false,
		"https://www.example.com.evil": false, "https://a.partner.example:8443": false,
	} {
		if allowed(origin) != want {
			t.Errorf("origin %s allowed %v, want %v", origin, !want, want)
		}
	}

	clients := group(t, out, "clients")
	for _, rc := range clients.Routes {
		for _, v := range rc.GetVirtualHosts() {
			for _, r := range v.GetRoutes() {
				if _, has := r.GetTypedPerFilterConfig()[translate.CORSFilter]; has {
					t.Errorf("proxyless gRPC route %s got a CORS policy", r.GetName())
				}
			}
		}
	}
}

// TestCORSMethodsWildcardWithCredentials checks "*" in allowMethods is spelt out as every
// method when credentials are allowed, where a browser would read it as a method named "*",
// and stays "*" without them.
func TestCORSMethodsWildcardWithCredentials(t *testing.T) {
	for creds, want := range map[bool]string{true: "GET,HEAD,POST,PUT,DELETE,CONNECT,OPTIONS,TRACE,PATCH", false: "*"} {
		p, err := policy.Load("testdata/cors.yaml")
		if err != nil {
			t.Fatal(err)
		}
		c := p.Route("site-api").CORS
		c.AllowMethods, c.AllowCredentials = []string{"*"}, creds
		edge, err := translate.TranslateGroup(p, "edge")
		if err != nil {
			t.Fatal(err)
		}
		var cp envoy_extensions_filters_http_cors_v3.CorsPolicy
		if err := routeNamed(t, vhostNamed(t, routeConfig(t, edge, "edge/gateway-8443"), "site"), "site-api").GetTypedPerFilterConfig()[translate.CORSFilter].UnmarshalTo(&cp); err != nil {
			t.Fatal(err)
		}
		if cp.GetAllowMethods() != want {
			t.Errorf("credentials %v: allow methods %q, want %q", creds, cp.GetAllowMethods(), want)
		}
	}
}
