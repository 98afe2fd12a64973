package check_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	envoy_config_accesslog_v3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_extensions_access_loggers_stream_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	envoy_extensions_filters_http_jwt_authn_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	envoy_extensions_filters_http_local_ratelimit_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_type_matcher_v3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// resources translates a feature policy of the translate package and returns one group.
func resources(t *testing.T, file, group string) *translate.Resources {
	t.Helper()
	p, err := policy.Load("../translate/testdata/" + file + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := translate.TranslateGroup(p, group)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Check(r); err != nil {
		t.Fatalf("unbroken resources fail: %v", err)
	}
	return r
}

func hcmOf(t *testing.T, l *envoy_config_listener_v3.Listener) (*envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager, func()) {
	t.Helper()
	a := l.GetApiListener().GetApiListener()
	if a == nil {
		a = l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig()
	}
	h := &envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager{}
	if err := a.UnmarshalTo(h); err != nil {
		t.Fatal(err)
	}
	// store writes the modified HCM back into the listener.
	return h, func() {
		b, err := anypb.New(h)
		if err != nil {
			t.Fatal(err)
		}
		a.Value = b.Value
	}
}

func anyOf(t *testing.T, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCheckFindsBrokenResources(t *testing.T) {
	cases := []struct {
		name  string
		file  string
		group string
		brk   func(t *testing.T, r *translate.Resources)
		want  []string
	}{
		{"missing RDS route configuration", "weighted", "web", func(t *testing.T, r *translate.Resources) {
			r.Routes = r.Routes[:1] // drop web/outbound
		}, []string{`listener "outbound": route configuration "web/outbound" (RDS) does not exist`}},
		{"api_listener RDS (ignored by Snapshot.Consistent)", "grpc", "grpc-client", func(t *testing.T, r *translate.Resources) {
			r.Routes = nil
		}, []string{
			`listener "greeter": route configuration "grpc-client/greeter" (RDS) does not exist`,
			`listener "greeter.test.example": route configuration "grpc-client/greeter" (RDS) does not exist`,
		}},
		{"missing clusters of a weighted route", "weighted", "edge", func(t *testing.T, r *translate.Resources) {
			r.Clusters = r.Clusters[:1]
			r.Endpoints = r.Endpoints[:1]
		}, []string{`route "edge/gateway-8080": virtual host "public" route "public-split": cluster "backend-v2.test" does not exist`}},
		{"unresolved cluster on a route that does not answer 500", "weighted", "edge", func(t *testing.T, r *translate.Resources) {
			r.Routes[0].GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters().GetClusters()[1].Name = translate.UnresolvedCluster
		}, []string{`route "edge/gateway-8080": virtual host "public" route "public-split": cluster "foresight|unresolved-backend" does not exist`}},
		{"zero weights", "weighted", "edge", func(t *testing.T, r *translate.Resources) {
			for _, w := range r.Routes[0].GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters().GetClusters() {
				w.Weight = wrapperspb.UInt32(0)
			}
		}, []string{`route "edge/gateway-8080": virtual host "public" route "public-split": weighted clusters have no weight`}},
		{"a domain twice, in another case", "weighted", "edge", func(t *testing.T, r *translate.Resources) {
			vh := proto.Clone(r.Routes[0].GetVirtualHosts()[0]).(*envoy_config_route_v3.VirtualHost)
			vh.Name = "public-upper"
			r.Routes[0].GetVirtualHosts()[0].Domains = []string{"shop.example.com"}
			vh.Domains = []string{"Shop.Example.com"}
			r.Routes[0].VirtualHosts = append(r.Routes[0].VirtualHosts, vh)
		}, []string{`route "edge/gateway-8080": domain "Shop.Example.com" in virtual hosts "public" and "public-upper"`}},
		{"EDS cluster without assignment", "weighted", "web", func(t *testing.T, r *translate.Resources) {
			r.Endpoints = r.Endpoints[1:]
		}, []string{`cluster "backend.test": EDS cluster has no ClusterLoadAssignment "backend.test"`}},
		{"regexes that are not RE2", "match", "api", func(t *testing.T, r *translate.Resources) {
			vh := r.Routes[1].GetVirtualHosts()[0]
			vh.GetRoutes()[1].GetMatch().PathSpecifier = &envoy_config_route_v3.RouteMatch_SafeRegex{SafeRegex: &envoy_type_matcher_v3.RegexMatcher{Regex: "/a(b"}}
			vh.GetRoutes()[2].GetMatch().GetHeaders()[5].GetStringMatch().GetSafeRegex().Regex = `(x)\1`
		}, []string{
			`route "api/outbound": virtual host "api" route "api-regex" path: regex "/a(b" is not valid RE2`,
			`route "api/outbound": virtual host "api" route "api-headers" header x-version: regex "(x)\\1" is not valid RE2`,
		}},
		{"typed_config that does not unpack", "ratelimit", "api", func(t *testing.T, r *translate.Resources) {
			vh := r.Routes[0].GetVirtualHosts()[0]
			vh.TypedPerFilterConfig[translate.RateLimitFilter].Value = []byte{0xff, 0xff}
			vh.GetRoutes()[0].TypedPerFilterConfig[translate.RateLimitFilter].TypeUrl = "type.googleapis.com/no.such.Type"
		}, []string{
			`route "api/inbound": virtual host "api" typed_per_filter_config envoy.filters.http.local_ratelimit: typed_config type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit:`,
			`route "api/inbound": virtual host "api" route "api-login" typed_per_filter_config envoy.filters.http.local_ratelimit: typed_config type.googleapis.com/no.such.Type:`,
		}},
		{"router not last", "ratelimit", "api", func(t *testing.T, r *translate.Resources) {
			h, store := hcmOf(t, r.Listeners[0])
			f := h.HttpFilters
			f[0], f[1] = f[1], f[0]
			store()
		}, []string{`listener "inbound": the last HTTP filter must be envoy.filters.http.router`}},
		{"a path match grpc-go skips", "grpc", "grpc-client", func(t *testing.T, r *translate.Resources) {
			rt := r.Routes[0].GetVirtualHosts()[0].GetRoutes()[0]
			rt.Match.PathSpecifier = &envoy_config_route_v3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/greeter"}
			rt.Name = "skipped"
		}, []string{`route "grpc-client/greeter": virtual host "greeter" route "skipped": path match path_separated_prefix is not read by grpc-go`}},
		{"filter grpc-go would NACK", "grpc", "grpc-client", func(t *testing.T, r *translate.Resources) {
			h, store := hcmOf(t, r.Listeners[0])
			jwt := &envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter{Name: translate.JWTFilter,
				ConfigType: &envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter_TypedConfig{TypedConfig: anyOf(t, &envoy_extensions_filters_http_jwt_authn_v3.JwtAuthentication{})}}
			h.HttpFilters = append([]*envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter{jwt}, h.HttpFilters...)
			store()
			// The same filter marked optional is accepted on the second listener.
			h2, store2 := hcmOf(t, r.Listeners[1])
			opt := proto.Clone(jwt).(*envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter)
			opt.IsOptional = true
			h2.HttpFilters = append([]*envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter{opt}, h2.HttpFilters...)
			store2()
		}, []string{`listener "greeter": http filter envoy.filters.http.jwt_authn (type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication) is not supported by grpc-go and not optional`}},
		{"JWKS and tracing clusters", "tracing", "edge", func(t *testing.T, r *translate.Resources) {
			var keep []*envoy_config_cluster_v3.Cluster
			for _, c := range r.Clusters {
				if c.GetName() != "collector.test" {
					keep = append(keep, c)
				}
			}
			r.Clusters = keep
		}, []string{`listener "gateway-8080": tracing collector cluster "collector.test" does not exist`}},
		{"remote JWKS cluster", "jwt", "orders", func(t *testing.T, r *translate.Resources) {
			var keep []*envoy_config_cluster_v3.Cluster
			for _, c := range r.Clusters {
				if c.GetName() != "idp.test" {
					keep = append(keep, c)
				}
			}
			r.Clusters = keep
		}, []string{
			`listener "inbound": JWT provider "partner": JWKS cluster "idp.test" does not exist`,
			// the outbound listener routes to idp as an upstream, too
			`route "orders/outbound": virtual host "idp" route "idp-default": cluster "idp.test" does not exist`,
		}},
		{"per-route JWT and rate limit the listener would ignore", "jwt", "orders", func(t *testing.T, r *translate.Resources) {
			h, store := hcmOf(t, r.Listeners[0])
			h.HttpFilters = h.HttpFilters[1:] // drop jwt_authn: requirements would go unenforced
			store()
			// And a requirement name the outbound listener's (absent) filter does not define.
			vh := r.Routes[1].GetVirtualHosts()[0]
			vh.TypedPerFilterConfig = r.Routes[0].GetVirtualHosts()[0].GetTypedPerFilterConfig()
		}, []string{
			`listener "inbound": route configuration "orders/inbound" configures HTTP filter envoy.filters.http.jwt_authn, which the listener does not run`,
			`listener "outbound": route configuration "orders/outbound" configures HTTP filter envoy.filters.http.jwt_authn, which the listener does not run`,
		}},
		{"unknown JWT requirement", "jwt", "orders", func(t *testing.T, r *translate.Resources) {
			rt := r.Routes[0].GetVirtualHosts()[0].GetRoutes()[1]
			rt.TypedPerFilterConfig[translate.JWTFilter] = anyOf(t, &envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig{
				RequirementSpecifier: &envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig_RequirementName{RequirementName: "nobody"}})
		}, []string{`listener "inbound": route configuration "orders/inbound" requires JWT requirement "nobody", which the listener's jwt_authn filter does not define`}},
		{"localities grpc-go rejects", "weighted", "web", func(t *testing.T, r *translate.Resources) {
			r.Endpoints[0].GetEndpoints()[0].Locality = nil
			r.Endpoints[1].GetEndpoints()[0].LoadBalancingWeight = nil
		}, []string{
			`endpoint "backend.test": locality 0 has no locality ID (grpc-go rejects the response)`,
			`endpoint "backend-v2.test": locality 0 has no load-balancing weight (grpc-go ignores it)`,
		}},
		// Envoy refuses these though they pass field validation.
		{"header changes Envoy refuses", "routefilters", "edge", func(t *testing.T, r *translate.Resources) {
			rt := r.Routes[0].GetVirtualHosts()[0].GetRoutes()[0]
			rt.GetRequestHeadersToAdd()[0].GetHeader().Value = "50%"
			rt.ResponseHeadersToAdd = append(rt.ResponseHeadersToAdd, &envoy_config_core_v3.HeaderValueOption{Header: &envoy_config_core_v3.HeaderValue{Key: ":status", Value: "200"}})
			rt.RequestHeadersToRemove = append(rt.RequestHeadersToRemove, "Host")
		}, []string{
			`route "edge/gateway-8080": virtual host "site" route "api" header x-env: format "50%": the '%' at offset 2 starts no %COMMAND%`,
			`route "edge/gateway-8080": virtual host "site" route "api": header ":status" may not be changed`,
			`route "edge/gateway-8080": virtual host "site" route "api": header "Host" may not be removed`,
		}},
		{"direct response body over 4096 bytes", "directresponse", "edge", func(t *testing.T, r *translate.Resources) {
			body := r.Routes[0].GetVirtualHosts()[0].GetRoutes()[0].GetDirectResponse().GetBody()
			body.Specifier = &envoy_config_core_v3.DataSource_InlineString{InlineString: strings.Repeat("x", 4097)}
		}, []string{`route "edge/gateway-8080": virtual host "site" route "healthz": direct response body of 4097 bytes, more than 4096`}},
		{"rate limit refilling more often than every 50ms", "ratelimit", "api", func(t *testing.T, r *translate.Resources) {
			vh := r.Routes[0].GetVirtualHosts()[0]
			lr := &envoy_extensions_filters_http_local_ratelimit_v3.LocalRateLimit{}
			if err := vh.TypedPerFilterConfig[translate.RateLimitFilter].UnmarshalTo(lr); err != nil {
				t.Fatal(err)
			}
			lr.GetTokenBucket().FillInterval = durationpb.New(10 * time.Millisecond)
			vh.TypedPerFilterConfig[translate.RateLimitFilter] = anyOf(t, lr)
		}, []string{`route "api/inbound": virtual host "api" typed_per_filter_config envoy.filters.http.local_ratelimit: token bucket fill_interval 10ms is shorter than 50ms`}},
		{"access log format with a lone '%'", "accesslog", "edge", func(t *testing.T, r *translate.Resources) {
			h, store := hcmOf(t, r.Listeners[0])
			l := &envoy_extensions_access_loggers_stream_v3.StdoutAccessLog{}
			if err := h.GetAccessLog()[0].GetTypedConfig().UnmarshalTo(l); err != nil {
				t.Fatal(err)
			}
			l.GetLogFormat().GetTextFormatSource().Specifier = &envoy_config_core_v3.DataSource_InlineString{InlineString: "%START_TIME% 100%\n"}
			h.GetAccessLog()[0].ConfigType = &envoy_config_accesslog_v3.AccessLog_TypedConfig{TypedConfig: anyOf(t, l)}
			store()
		}, []string{`listener "gateway-8080": access log envoy.access_loggers.stdout: format "%START_TIME% 100%\n": the '%' at offset 16 starts no %COMMAND%`}},
		{"field validation and duplicates", "weighted", "web", func(t *testing.T, r *translate.Resources) {
			r.Clusters[1].ConnectTimeout = durationpb.New(-1)
			r.Listeners = append(r.Listeners, proto.Clone(r.Listeners[0]).(*envoy_config_listener_v3.Listener))
		}, []string{
			`cluster "backend.test": invalid: invalid Cluster.ConnectTimeout: value must be greater than 0s`,
			`listener "inbound": duplicate name`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := resources(t, c.file, c.group)
			c.brk(t, r)
			err := check.Check(r)
			if err == nil {
				t.Fatal("broken resources pass")
			}
			var ps check.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T is not Problems", err)
			}
			// Every expected problem is reported, and nothing else.
			if len(ps) != len(c.want) {
				t.Errorf("got %d problems, want %d:\n%v", len(ps), len(c.want), err)
			}
			for _, w := range c.want {
				found := false
				for _, p := range ps {
					found = found || strings.HasPrefix(p.Error(), w)
				}
				if !found {
					t.Errorf("missing problem %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestCheckEmpty(t *testing.T) {
	if err := check.Check(&translate.Resources{}); err != nil {
		t.Errorf("empty resources: %v", err)
	}
}
