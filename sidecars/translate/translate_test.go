package translate_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_config_trace_v3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	envoy_extensions_access_loggers_stream_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	envoy_extensions_filters_http_fault_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	envoy_extensions_filters_http_jwt_authn_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	envoy_extensions_filters_http_local_ratelimit_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	envoy_type_v3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

func TestExamplePolicies(t *testing.T) {
	files, err := filepath.Glob("../../deploy/policies/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("want the example policies in deploy/policies, got %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out := translateFile(t, f)
			for g, r := range out {
				if len(r.Listeners) == 0 || len(r.Routes) == 0 || len(r.Clusters) == 0 {
					t.Errorf("group %s: empty resources %d/%d/%d", g, len(r.Listeners), len(r.Routes), len(r.Clusters))
				}
			}
		})
	}
}

func TestFeaturePoliciesPassCheck(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) < 14 {
		t.Fatalf("want at least 14 feature policies, got %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { translateFile(t, f) })
	}
}

func TestSidecarListenersAndLocalCluster(t *testing.T) {
	out := translateFile(t, "../../deploy/policies/mesh.yaml")
	r := group(t, out, "reviews")
	in := listenerNamed(t, r, translate.InboundListener)
	if a := in.GetAddress().GetSocketAddress(); a.GetAddress() != "0.0.0.0" || a.GetPortValue() != policy.DefaultInboundPort {
		t.Errorf("inbound address %v", a)
	}
	outL := listenerNamed(t, r, translate.OutboundListener)
	if a := outL.GetAddress().GetSocketAddress(); a.GetAddress() != "127.0.0.1" || a.GetPortValue() != policy.DefaultOutboundPort {
		t.Errorf("outbound address %v", a)
	}
	if got := hcm(t, in).GetRds().GetRouteConfigName(); got != "reviews/inbound" {
		t.Errorf("inbound RDS %q", got)
	}
	if got := hcm(t, outL).GetRds().GetRouteConfigName(); got != "reviews/outbound" {
		t.Errorf("outbound RDS %q", got)
	}
	local := clusterNamed(t, r, "inbound|reviews")
	if local.GetType() != envoy_config_cluster_v3.Cluster_STATIC {
		t.Errorf("local cluster type %v", local.GetType())
	}
	ep := local.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if ep.GetAddress() != "127.0.0.1" || ep.GetPortValue() != 9081 {
		t.Errorf("local endpoint %v, want 127.0.0.1:9081 (appPort)", ep)
	}
	// reviews calls only ratings: one outbound virtual host, gRPC without a route timeout limit.
	orc := routeConfig(t, r, "reviews/outbound")
	if len(orc.GetVirtualHosts()) != 1 {
		t.Fatalf("outbound virtual hosts %d, want 1 (upstreams: [ratings])", len(orc.GetVirtualHosts()))
	}
	rt := routeNamed(t, vhostNamed(t, orc, "ratings"), "ratings-default")
	if got := rt.GetRoute().GetTimeout().AsDuration(); got != time.Second {
		t.Errorf("ratings timeout %v, want 1s", got)
	}
	// Services with kubernetes discovery get an empty assignment for discovery to fill.
	if cla := claNamed(t, r, "ratings.shop"); len(cla.GetEndpoints()) != 0 {
		t.Errorf("kubernetes service assignment has endpoints: %v", cla)
	}
	// JWT on the inbound route of reviews-admin, and the JWKS cluster is present.
	irc := routeConfig(t, r, "reviews/inbound")
	admin := routeNamed(t, vhostNamed(t, irc, "reviews"), "reviews-admin")
	if admin.GetRoute().GetCluster() != "inbound|reviews" {
		t.Errorf("inbound route goes to %q", admin.GetRoute().GetCluster())
	}
	prc := unpack(t, admin.GetTypedPerFilterConfig()[translate.JWTFilter], &envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig{})
	if prc.GetRequirementName() != "shop-auth" {
		t.Errorf("requirement %q", prc.GetRequirementName())
	}
	if !hasCluster(r, "auth.shop") || !hasCluster(r, "otel-collector.shop") {
		t.Errorf("JWKS or collector cluster missing: %v", r.Clusters)
	}
}

func TestWeighted(t *testing.T) {
	out := feature(t, "weighted")
	web := group(t, out, "web")
	vh := vhostNamed(t, routeConfig(t, web, "web/outbound"), "backend")
	for _, d := range []string{"backend", "backend:8080", "backend.test", "backend.test.svc.cluster.local:8080"} {
		found := false
		for _, got := range vh.GetDomains() {
			found = found || got == d
		}
		if !found {
			t.Errorf("domain %q missing from %v", d, vh.GetDomains())
		}
	}
	checkSplit := func(rt *envoy_config_route_v3.Route) {
		t.Helper()
		wc := rt.GetRoute().GetWeightedClusters().GetClusters()
		if len(wc) != 2 || wc[0].GetName() != "backend.test" || wc[0].GetWeight().GetValue() != 90 ||
			wc[1].GetName() != "backend-v2.test" || wc[1].GetWeight().GetValue() != 10 {
			t.Errorf("weighted clusters %v", wc)
		}
	}
	split := routeNamed(t, vh, "backend-split")
	checkSplit(split)
	// The route's header change and the canary's own are each weighted cluster's, the
	// route's first (Envoy applies a cluster's changes before its route's), so the canary's
	// requests say v2 and the stable backend's say any.
	wc := split.GetRoute().GetWeightedClusters().GetClusters()
	values := func(hs []*envoy_config_core_v3.HeaderValueOption) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.GetHeader().GetKey()+"="+h.GetHeader().GetValue())
		}
		return out
	}
	if len(split.GetRequestHeadersToAdd()) != 0 || !slices.Equal(values(wc[0].GetRequestHeadersToAdd()), []string{"x-version=any"}) ||
		!slices.Equal(values(wc[1].GetRequestHeadersToAdd()), []string{"x-version=any", "x-version=v2"}) {
		t.Errorf("header changes: route %v, clusters %v / %v", split.GetRequestHeadersToAdd(), wc[0].GetRequestHeadersToAdd(), wc[1].GetRequestHeadersToAdd())
	}
	var names []string
	for _, c := range web.Clusters {
		names = append(names, c.GetName())
	}
	if want := []string{"inbound|web", "backend.test", "backend-v2.test"}; !slices.Equal(names, want) {
		t.Errorf("clusters %v, want %v", names, want)
	}
	be := clusterNamed(t, web, "backend.test")
	if be.GetType() != envoy_config_cluster_v3.Cluster_EDS || be.GetEdsClusterConfig().GetServiceName() != "backend.test" ||
		be.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
		t.Errorf("backend cluster not EDS over ADS: %v", be)
	}
	cla := claNamed(t, web, "backend.test")
	lb := cla.GetEndpoints()[0].GetLbEndpoints()
	if len(cla.GetEndpoints()) != 1 || cla.GetEndpoints()[0].GetLoadBalancingWeight().GetValue() != 1 || len(lb) != 2 ||
		cla.GetEndpoints()[0].GetLocality() == nil ||
		lb[1].GetLoadBalancingWeight().GetValue() != 3 || lb[1].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue() != 8080 {
		t.Errorf("assignment %v", cla)
	}
	if z := claNamed(t, web, "backend-v2.test").GetEndpoints()[0].GetLocality().GetZone(); z != "zone-b" {
		t.Errorf("zone %q", z)
	}
	edge := group(t, out, "edge")
	gl := listenerNamed(t, edge, "gateway-8080")
	if gl.GetAddress().GetSocketAddress().GetPortValue() != policy.DefaultGatewayPort {
		t.Errorf("gateway port %v", gl.GetAddress())
	}
	if got := hcm(t, gl).GetRds().GetRouteConfigName(); got != "edge/gateway-8080" {
		t.Errorf("gateway RDS %q", got)
	}
	checkSplit(routeNamed(t, vhostNamed(t, routeConfig(t, edge, "edge/gateway-8080"), "public"), "public-split"))
	if routeConfig(t, edge, "edge/gateway-8080").GetIgnorePortInHostMatching() {
		t.Error("a policy file's gateway ignores the Host header's port; its domains may name one")
	}
}

func TestRetries(t *testing.T) {
	out := feature(t, "retries")
	vh := vhostNamed(t, routeConfig(t, group(t, out, "client"), "client/outbound"), "backend")
	st := routeNamed(t, vh, "backend-status").GetRoute().GetRetryPolicy()
	if st.GetRetryOn() != "retriable-status-codes" || st.GetNumRetries().GetValue() != 2 ||
		len(st.GetRetriableStatusCodes()) != 2 || st.GetRetriableStatusCodes()[0] != 503 || st.GetRetriableStatusCodes()[1] != 429 {
		t.Errorf("route override %v", st)
	}
	all := routeNamed(t, vh, "backend-all").GetRoute().GetRetryPolicy()
	if all.GetRetryOn() != "5xx,reset,connect-failure" || all.GetNumRetries().GetValue() != 3 ||
		all.GetPerTryTimeout().AsDuration() != 250*time.Millisecond ||
		all.GetRetryBackOff().GetBaseInterval().AsDuration() != 20*time.Millisecond ||
		all.GetRetryBackOff().GetMaxInterval().AsDuration() != 200*time.Millisecond {
		t.Errorf("service policy %v", all)
	}
	envoyGRPC := routeNamed(t, vhostNamed(t, routeConfig(t, group(t, out, "client"), "client/outbound"), "grpc-backend"), "grpc-backend-default")
	if got := envoyGRPC.GetRoute().GetRetryPolicy().GetRetryOn(); got != "unavailable,cancelled,5xx" {
		t.Errorf("Envoy keeps every condition, got %q", got)
	}
	g := routeNamed(t, vhostNamed(t, routeConfig(t, group(t, out, "grpc-client"), "grpc-client/grpc-backend"), "grpc-backend"), "grpc-backend-default")
	rp := g.GetRoute().GetRetryPolicy()
	if rp.GetRetryOn() != "unavailable,cancelled" || rp.GetNumRetries().GetValue() != 2 || rp.GetPerTryTimeout() != nil {
		t.Errorf("grpc-go retry policy %v", rp)
	}
}

func TestTimeouts(t *testing.T) {
	out := feature(t, "timeouts")
	orc := routeConfig(t, group(t, out, "client"), "client/outbound")
	slow := routeNamed(t, vhostNamed(t, orc, "backend"), "backend-slow").GetRoute()
	if slow.GetTimeout().AsDuration() != 30*time.Second || slow.GetIdleTimeout().AsDuration() != 10*time.Second {
		t.Errorf("route override %v %v", slow.GetTimeout(), slow.GetIdleTimeout())
	}
	if d := routeNamed(t, vhostNamed(t, orc, "backend"), "backend-default").GetRoute().GetTimeout().AsDuration(); d != 3*time.Second {
		t.Errorf("service timeout %v", d)
	}
	stream := routeNamed(t, vhostNamed(t, orc, "stream"), "stream-default").GetRoute()
	if stream.GetTimeout() == nil || stream.GetTimeout().AsDuration() != 0 {
		t.Errorf("gRPC stream through Envoy must disable the default 15s timeout, got %v", stream.GetTimeout())
	}
	g := group(t, out, "grpc-client")
	unary := routeNamed(t, vhostNamed(t, routeConfig(t, g, "grpc-client/unary"), "unary"), "unary-default").GetRoute()
	if unary.GetTimeout() != nil || unary.GetMaxStreamDuration().GetMaxStreamDuration().AsDuration() != 750*time.Millisecond {
		t.Errorf("grpc-go timeout must be max_stream_duration: %v", unary)
	}
	if s := routeNamed(t, vhostNamed(t, routeConfig(t, g, "grpc-client/stream"), "stream"), "stream-default").GetRoute(); s.GetMaxStreamDuration() != nil {
		t.Errorf("no timeout configured, got %v", s.GetMaxStreamDuration())
	}
}

func TestCircuitBreaker(t *testing.T) {
	out := feature(t, "circuitbreaker")
	th := clusterNamed(t, group(t, out, "client"), "backend.test").GetCircuitBreakers().GetThresholds()
	if len(th) != 1 || th[0].GetMaxConnections().GetValue() != 100 || th[0].GetMaxPendingRequests().GetValue() != 10 ||
		th[0].GetMaxRequests().GetValue() != 50 || th[0].GetMaxRetries().GetValue() != 3 || th[0].GetRetryBudget() != nil {
		t.Errorf("thresholds %v: a fixed maxRetries must replace the retry budget", th)
	}
	gth := clusterNamed(t, group(t, out, "grpc-client"), "grpc-backend.test").GetCircuitBreakers().GetThresholds()
	if len(gth) != 1 || gth[0].GetMaxRequests().GetValue() != 2 || gth[0].GetMaxConnections() != nil || !budgeted(gth[0]) {
		t.Errorf("grpc thresholds %v: maxRequests, and the retry budget for the retries", gth)
	}
}

// budgeted says th limits concurrent retries by the default retry budget alone.
func budgeted(th *envoy_config_cluster_v3.CircuitBreakers_Thresholds) bool {
	b := th.GetRetryBudget()
	return th.GetMaxRetries() == nil && b.GetBudgetPercent().GetValue() == translate.RetryBudgetPercent &&
		b.GetMinRetryConcurrency().GetValue() == translate.MinRetryConcurrency
}

// A cluster without a circuit breaker of its own still gets the retry budget, so that a busy
// service's retries are not cut to Envoy's 3 in flight.
func TestClustersWithoutCircuitBreakerGetTheRetryBudget(t *testing.T) {
	for _, cb := range []*policy.CircuitBreaker{nil, {}, {MaxConnections: 7}} {
		c := translate.Cluster(&policy.Service{Name: "api", Namespace: "shop", CircuitBreaker: cb})
		th := c.GetCircuitBreakers().GetThresholds()
		if len(th) != 1 || th[0].GetPriority() != envoy_config_core_v3.RoutingPriority_DEFAULT || !budgeted(th[0]) {
			t.Fatalf("circuit breaker %+v: thresholds %v, want the retry budget", cb, th)
		}
		if cb != nil && th[0].GetMaxConnections().GetValue() != cb.MaxConnections {
			t.Errorf("circuit breaker %+v: thresholds %v lost its limits", cb, th)
		}
	}
}

func TestOutlierDetection(t *testing.T) {
	out := feature(t, "outlier")
	od := clusterNamed(t, group(t, out, "client"), "backend.test").GetOutlierDetection()
	if od.GetConsecutive_5Xx().GetValue() != 3 || od.GetEnforcingConsecutive_5Xx().GetValue() != 100 ||
		od.GetEnforcingSuccessRate().GetValue() != 0 || od.GetEnforcingFailurePercentage().GetValue() != 0 ||
		od.GetInterval().AsDuration() != 5*time.Second || od.GetBaseEjectionTime().AsDuration() != 20*time.Second ||
		od.GetMaxEjectionPercent().GetValue() != 50 {
		t.Errorf("consecutive 5xx detection %v", od)
	}
	g := clusterNamed(t, group(t, out, "grpc-client"), "grpc-backend.test").GetOutlierDetection()
	if g.GetEnforcingConsecutive_5Xx().GetValue() != 0 || g.GetEnforcingSuccessRate().GetValue() != 100 ||
		g.GetSuccessRateMinimumHosts().GetValue() != 2 || g.GetSuccessRateRequestVolume().GetValue() != 10 ||
		g.GetSuccessRateStdevFactor().GetValue() != 1000 || g.GetEnforcingFailurePercentage().GetValue() != 100 ||
		g.GetFailurePercentageThreshold().GetValue() != 50 || g.GetMaxEjectionPercent().GetValue() != 100 {
		t.Errorf("success rate / failure percentage detection %v", g)
	}
}

func TestRateLimit(t *testing.T) {
	out := feature(t, "ratelimit")
	api := group(t, out, "api")
	if got := filterNames(hcm(t, listenerNamed(t, api, translate.InboundListener))); !slices.Equal(got, []string{translate.RateLimitFilter, translate.RouterFilter}) {
		t.Errorf("inbound filters %v", got)
	}
	if got := filterNames(hcm(t, listenerNamed(t, api, translate.OutboundListener))); !slices.Equal(got, []string{translate.FaultFilter, translate.RouterFilter}) {
		t.Errorf("outbound filters %v (rate limits are enforced inbound)", got)
	}
	vh := vhostNamed(t, routeConfig(t, api, "api/inbound"), "api")
	lr := unpack(t, vh.GetTypedPerFilterConfig()[translate.RateLimitFilter], &envoy_extensions_filters_http_local_ratelimit_v3.LocalRateLimit{})
	if tb := lr.GetTokenBucket(); tb.GetMaxTokens() != 100 || tb.GetTokensPerFill().GetValue() != 50 || tb.GetFillInterval().AsDuration() != time.Second {
		t.Errorf("service bucket %v", tb)
	}
	if lr.GetFilterEnforced().GetDefaultValue().GetNumerator() != 100 || lr.GetFilterEnabled().GetDefaultValue().GetNumerator() != 100 {
		t.Errorf("rate limit must be enabled and enforced: %v", lr)
	}
	login := unpack(t, routeNamed(t, vh, "api-login").GetTypedPerFilterConfig()[translate.RateLimitFilter], &envoy_extensions_filters_http_local_ratelimit_v3.LocalRateLimit{})
	if tb := login.GetTokenBucket(); tb.GetMaxTokens() != 5 || tb.GetTokensPerFill().GetValue() != 5 || tb.GetFillInterval().AsDuration() != time.Minute {
		t.Errorf("route bucket %v", tb)
	}
	edge := group(t, out, "edge")
	if got := filterNames(hcm(t, listenerNamed(t, edge, "gateway-8080"))); !slices.Equal(got, []string{translate.RateLimitFilter, translate.FaultFilter, translate.RouterFilter}) {
		t.Errorf("gateway filters %v", got)
	}
	gvh := vhostNamed(t, routeConfig(t, edge, "edge/gateway-8080"), "public")
	if lr := unpack(t, gvh.GetTypedPerFilterConfig()[translate.RateLimitFilter], &envoy_extensions_filters_http_local_ratelimit_v3.LocalRateLimit{}); lr.GetTokenBucket().GetMaxTokens() != 1000 {
		t.Errorf("gateway virtual host bucket %v", lr)
	}
	s := unpack(t, routeNamed(t, gvh, "public-search").GetTypedPerFilterConfig()[translate.RateLimitFilter], &envoy_extensions_filters_http_local_ratelimit_v3.LocalRateLimit{})
	if s.GetTokenBucket().GetFillInterval().AsDuration() != 100*time.Millisecond {
		t.Errorf("gateway route bucket %v", s)
	}
	if routeNamed(t, gvh, "public-rest").GetTypedPerFilterConfig() != nil {
		t.Errorf("route without its own limit must inherit the virtual host's")
	}
}

func TestJWT(t *testing.T) {
	out := feature(t, "jwt")
	r := group(t, out, "orders")
	h := hcm(t, listenerNamed(t, r, translate.InboundListener))
	if got := filterNames(h); !slices.Equal(got, []string{translate.JWTFilter, translate.RouterFilter}) {
		t.Fatalf("inbound filters %v", got)
	}
	ja := unpack(t, h.GetHttpFilters()[0].GetTypedConfig(), &envoy_extensions_filters_http_jwt_authn_v3.JwtAuthentication{})
	internal := ja.GetProviders()["internal"]
	if internal.GetIssuer() != "https://internal.example.com" || !slices.Equal(internal.GetAudiences(), []string{"orders"}) ||
		internal.GetLocalJwks().GetInlineString() == "" || internal.GetForwardPayloadHeader() != "x-jwt-payload" {
		t.Errorf("inline provider %v", internal)
	}
	partner := ja.GetProviders()["partner"].GetRemoteJwks()
	if partner.GetHttpUri().GetUri() != "https://idp.example.com/.well-known/jwks.json" || partner.GetHttpUri().GetCluster() != "idp.test" ||
		partner.GetHttpUri().GetTimeout().AsDuration() != 2*time.Second || partner.GetCacheDuration().AsDuration() != 10*time.Minute {
		t.Errorf("remote provider %v", partner)
	}
	if ja.GetRequirementMap()["internal"].GetProviderName() != "internal" {
		t.Errorf("requirement internal %v", ja.GetRequirementMap()["internal"])
	}
	anyOf := ja.GetRequirementMap()["internal|partner"].GetRequiresAny().GetRequirements()
	if len(anyOf) != 2 || anyOf[0].GetProviderName() != "internal" || anyOf[1].GetProviderName() != "partner" {
		t.Errorf("requirement internal|partner %v", anyOf)
	}
	vh := vhostNamed(t, routeConfig(t, r, "orders/inbound"), "orders")
	if got := unpack(t, vh.GetTypedPerFilterConfig()[translate.JWTFilter], &envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig{}); got.GetRequirementName() != "internal" {
		t.Errorf("service requirement %v", got)
	}
	if got := unpack(t, routeNamed(t, vh, "orders-health").GetTypedPerFilterConfig()[translate.JWTFilter], &envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig{}); !got.GetDisabled() {
		t.Errorf("waiver %v", got)
	}
	if got := unpack(t, routeNamed(t, vh, "orders-admin").GetTypedPerFilterConfig()[translate.JWTFilter], &envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig{}); got.GetRequirementName() != "internal|partner" {
		t.Errorf("admin requirement %v", got)
	}
	// The same providers required on a gateway virtual host.
	p, err := policy.Load("testdata/jwt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.VirtualHosts = []policy.VirtualHost{{Name: "public", Domains: []string{"*"}, JWT: &policy.JWTRequirement{Providers: []string{"partner"}},
		Routes: []policy.Route{{Name: "public-orders", Backends: []policy.Backend{{Service: "orders", Weight: 100}}}}}}
	p.Spec.NodeGroups = append(p.Spec.NodeGroups, policy.NodeGroup{Name: "edge", Kind: policy.NodeGateway, Services: []string{"gateway"}})
	p.SetDefaults()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	edge, err := translate.TranslateGroup(p, "edge")
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Check(edge); err != nil {
		t.Fatal(err)
	}
	gh := hcm(t, listenerNamed(t, edge, "gateway-8080"))
	if got := filterNames(gh); !slices.Equal(got, []string{translate.JWTFilter, translate.FaultFilter, translate.RouterFilter}) {
		t.Errorf("gateway filters %v", got)
	}
	gja := unpack(t, gh.GetHttpFilters()[0].GetTypedConfig(), &envoy_extensions_filters_http_jwt_authn_v3.JwtAuthentication{})
	if len(gja.GetProviders()) != 1 || gja.GetProviders()["partner"] == nil || gja.GetRequirementMap()["partner"].GetProviderName() != "partner" {
		t.Errorf("gateway JWT config holds only what its routes need: %v", gja)
	}
	if !hasCluster(edge, "idp.test") {
		t.Errorf("gateway lacks the JWKS cluster")
	}
	idp := clusterNamed(t, r, "idp.test")
	tls := unpack(t, idp.GetTransportSocket().GetTypedConfig(), &envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext{})
	vc := tls.GetCommonTlsContext().GetValidationContext()
	if tls.GetSni() != "idp.example.com" || vc.GetTrustedCa().GetFilename() != policy.DefaultCAFile ||
		len(vc.GetMatchTypedSubjectAltNames()) != 1 || vc.GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != "idp.example.com" {
		t.Errorf("JWKS cluster TLS must verify the server: %v", tls)
	}
}

// TestWebSocketUpgrades: the HTTP connection managers of Envoy's listeners (sidecar inbound
// and outbound, gateway) accept WebSocket upgrades; those of proxyless gRPC clients, which
// have no use for them, carry none.
func TestWebSocketUpgrades(t *testing.T) {
	out := feature(t, "tracing")
	for _, c := range []struct{ group, listener string }{{"web", translate.InboundListener}, {"web", translate.OutboundListener}, {"edge", "gateway-8080"}} {
		ups := hcm(t, listenerNamed(t, group(t, out, c.group), c.listener)).GetUpgradeConfigs()
		if len(ups) != 1 || ups[0].GetUpgradeType() != translate.WebSocketUpgrade || ups[0].GetEnabled() != nil && !ups[0].GetEnabled().GetValue() {
			t.Errorf("%s/%s upgrades %v, want websocket", c.group, c.listener, ups)
		}
	}
	for _, l := range group(t, out, "grpc-client").Listeners {
		if ups := hcm(t, l).GetUpgradeConfigs(); len(ups) != 0 {
			t.Errorf("proxyless listener %s upgrades %v, want none", l.GetName(), ups)
		}
	}
}

func TestTracing(t *testing.T) {
	out := feature(t, "tracing")
	for _, c := range []struct{ group, listener string }{{"web", translate.InboundListener}, {"web", translate.OutboundListener}, {"edge", "gateway-8080"}} {
		r := group(t, out, c.group)
		tr := hcm(t, listenerNamed(t, r, c.listener)).GetTracing()
		if tr.GetRandomSampling().GetValue() != 25 || tr.GetProvider().GetName() != translate.OpenTelemetryTracer {
			t.Errorf("%s/%s tracing %v", c.group, c.listener, tr)
			continue
		}
		otel := unpack(t, tr.GetProvider().GetTypedConfig(), &envoy_config_trace_v3.OpenTelemetryConfig{})
		if otel.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "collector.test" || otel.GetServiceName() != "shop" {
			t.Errorf("%s/%s collector %v", c.group, c.listener, otel)
		}
		if c := clusterNamed(t, r, "collector.test"); c.GetTypedExtensionProtocolOptions()[translate.HTTPProtocolOptionsKey] == nil {
			t.Errorf("collector cluster must speak HTTP/2")
		}
	}
	if tr := hcm(t, listenerNamed(t, group(t, out, "grpc-client"), "collector")).GetTracing(); tr != nil {
		t.Errorf("proxyless gRPC listeners carry no tracing, got %v", tr)
	}
}

func TestAccessLog(t *testing.T) {
	out := feature(t, "accesslog")
	for g, l := range map[string]string{"web": translate.InboundListener, "edge": "gateway-8080"} {
		logs := hcm(t, listenerNamed(t, group(t, out, g), l)).GetAccessLog()
		if len(logs) != 1 || logs[0].GetName() != translate.StdoutAccessLogger {
			t.Fatalf("%s access logs %v", g, logs)
		}
		sl := unpack(t, logs[0].GetTypedConfig(), &envoy_extensions_access_loggers_stream_v3.StdoutAccessLog{})
		want := "%START_TIME% %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% %DURATION%\n"
		if got := sl.GetLogFormat().GetTextFormatSource().GetInlineString(); got != want {
			t.Errorf("%s format %q", g, got)
		}
	}
}

func TestFault(t *testing.T) {
	out := feature(t, "fault")
	vh := vhostNamed(t, routeConfig(t, group(t, out, "client"), "client/outbound"), "backend")
	co := unpack(t, routeNamed(t, vh, "backend-checkout").GetTypedPerFilterConfig()[translate.FaultFilter], &envoy_extensions_filters_http_fault_v3.HTTPFault{})
	if co.GetAbort().GetHttpStatus() != 503 || co.GetAbort().GetPercentage().GetNumerator() != 500000 ||
		co.GetAbort().GetPercentage().GetDenominator() != envoy_type_v3.FractionalPercent_MILLION || co.GetDelay() != nil {
		t.Errorf("route abort %v", co)
	}
	if h := co.GetHeaders(); len(h) != 1 || h[0].GetName() != "x-chaos" || h[0].GetStringMatch().GetExact() != "on" {
		t.Errorf("fault header match %v", h)
	}
	rest := unpack(t, routeNamed(t, vh, "backend-rest").GetTypedPerFilterConfig()[translate.FaultFilter], &envoy_extensions_filters_http_fault_v3.HTTPFault{})
	if rest.GetDelay().GetFixedDelay().AsDuration() != 100*time.Millisecond || rest.GetDelay().GetPercentage().GetNumerator() != 100000 {
		t.Errorf("service delay %v", rest)
	}
	g := group(t, out, "grpc-client")
	if got := filterNames(hcm(t, listenerNamed(t, g, "grpc-backend"))); !slices.Equal(got, []string{translate.FaultFilter, translate.RouterFilter}) {
		t.Errorf("grpc filters %v", got)
	}
	gr := routeNamed(t, vhostNamed(t, routeConfig(t, g, "grpc-client/grpc-backend"), "grpc-backend"), "grpc-backend-default")
	gf := unpack(t, gr.GetTypedPerFilterConfig()[translate.FaultFilter], &envoy_extensions_filters_http_fault_v3.HTTPFault{})
	if gf.GetAbort().GetGrpcStatus() != 14 || gf.GetAbort().GetPercentage().GetNumerator() != 125000 ||
		gf.GetDelay().GetFixedDelay().AsDuration() != time.Second || gf.GetDelay().GetPercentage().GetNumerator() != 100 {
		t.Errorf("grpc fault %v", gf)
	}
}

func TestRedirect(t *testing.T) {
	out := feature(t, "redirect")
	edge := group(t, out, "edge")
	if p := listenerNamed(t, edge, "gateway-8443").GetAddress().GetSocketAddress().GetPortValue(); p != 8443 {
		t.Errorf("gateway port %d", p)
	}
	rc := routeConfig(t, edge, "edge/gateway-8443")
	up := routeNamed(t, vhostNamed(t, rc, "insecure"), "to-https").GetRedirect()
	if !up.GetHttpsRedirect() || up.GetHostRedirect() != "www.example.com" || up.GetPortRedirect() != 443 ||
		up.GetResponseCode() != envoy_config_route_v3.RedirectAction_MOVED_PERMANENTLY {
		t.Errorf("https redirect %v", up)
	}
	site := vhostNamed(t, rc, "site")
	old := routeNamed(t, site, "old-page")
	if old.GetMatch().GetPath() != "/old" || old.GetRedirect().GetPathRedirect() != "/new" || !old.GetRedirect().GetStripQuery() ||
		old.GetRedirect().GetResponseCode() != envoy_config_route_v3.RedirectAction_FOUND {
		t.Errorf("path redirect %v", old)
	}
	docs := routeNamed(t, site, "old-docs").GetRedirect()
	if docs.GetPrefixRewrite() != "/docs/v2/" || docs.GetResponseCode() != envoy_config_route_v3.RedirectAction_TEMPORARY_REDIRECT {
		t.Errorf("prefix redirect %v", docs)
	}
}

func TestDirectResponse(t *testing.T) {
	out := feature(t, "directresponse")
	vh := vhostNamed(t, routeConfig(t, group(t, out, "edge"), "edge/gateway-8080"), "site")
	h := routeNamed(t, vh, "healthz").GetDirectResponse()
	if h.GetStatus() != 200 || h.GetBody().GetInlineString() != "ok\n" {
		t.Errorf("healthz %v", h)
	}
	b := routeNamed(t, vh, "blocked")
	if b.GetDirectResponse().GetStatus() != 403 || b.GetDirectResponse().GetBody() != nil || b.GetMatch().GetSafeRegex().GetRegex() != "/internal/.*" {
		t.Errorf("blocked %v", b)
	}
}

func TestRewrite(t *testing.T) {
	out := feature(t, "rewrite")
	vh := vhostNamed(t, routeConfig(t, group(t, out, "edge"), "edge/gateway-8080"), "site")
	v1 := routeNamed(t, vh, "api-v1").GetRoute()
	if v1.GetPrefixRewrite() != "/" || v1.GetHostRewriteLiteral() != "api.internal" || v1.GetCluster() != "api.test" {
		t.Errorf("prefix+host rewrite %v", v1)
	}
	if h := routeNamed(t, vh, "api-host").GetRoute(); h.GetPrefixRewrite() != "" || h.GetHostRewriteLiteral() != "legacy.internal" {
		t.Errorf("host rewrite %v", h)
	}
}

func TestMatch(t *testing.T) {
	out := feature(t, "match")
	vh := vhostNamed(t, routeConfig(t, group(t, out, "api"), "api/outbound"), "api")
	if p := routeNamed(t, vh, "api-exact").GetMatch().GetPath(); p != "/v1/status" {
		t.Errorf("exact %q", p)
	}
	if re := routeNamed(t, vh, "api-regex").GetMatch().GetSafeRegex().GetRegex(); re != "/v1/items/[0-9]+" {
		t.Errorf("regex %q", re)
	}
	if p := routeNamed(t, vh, "api-segment").GetMatch().GetPathSeparatedPrefix(); p != "/v2" {
		t.Errorf("segment prefix %q", p)
	}
	hs := routeNamed(t, vh, "api-headers").GetMatch().GetHeaders()
	if len(hs) != 7 {
		t.Fatalf("headers %v", hs)
	}
	if hs[0].GetStringMatch().GetExact() != "acme" || !hs[1].GetPresentMatch() || hs[2].GetPresentMatch() ||
		hs[3].GetStringMatch().GetPrefix() != "curl/" || hs[4].GetStringMatch().GetSuffix() != "-eu" ||
		hs[5].GetStringMatch().GetSafeRegex().GetRegex() != "v[0-9]+" || !hs[6].GetInvertMatch() {
		t.Errorf("header matchers %v", hs)
	}
	q := routeNamed(t, vh, "api-query").GetMatch().GetQueryParameters()
	if len(q) != 3 || !q[0].GetPresentMatch() || q[1].GetStringMatch().GetExact() != "en" || q[2].GetStringMatch().GetSafeRegex().GetRegex() != "[0-9]+" {
		t.Errorf("query matchers %v", q)
	}
	// grpc-go cannot match query parameters: the route is left out rather than widened.
	gvh := vhostNamed(t, routeConfig(t, group(t, out, "grpc-client"), "grpc-client/api"), "api")
	for _, r := range gvh.GetRoutes() {
		if r.GetName() == "api-query" {
			t.Errorf("query route served to grpc-go")
		}
	}
	if len(gvh.GetRoutes()) != 5 {
		t.Errorf("grpc routes %d, want 5", len(gvh.GetRoutes()))
	}
	// grpc-go does not read path_separated_prefix: the segment prefix is its regex there.
	if re := routeNamed(t, gvh, "api-segment").GetMatch().GetSafeRegex().GetRegex(); re != `/v2(/.*)?` {
		t.Errorf("grpc segment prefix regex %q", re)
	}
}

func TestProxylessGRPC(t *testing.T) {
	out := feature(t, "grpc")
	g := group(t, out, "grpc-client")
	if len(g.Listeners) != 2 {
		t.Fatalf("listeners %d, want greeter and its host alias", len(g.Listeners))
	}
	for _, name := range []string{"greeter", "greeter.test.example"} {
		l := listenerNamed(t, g, name)
		if l.GetAddress() != nil || len(l.GetFilterChains()) != 0 {
			t.Errorf("%s: api_listener must have no address or filter chains", name)
		}
		h := hcm(t, l)
		if h.GetRds().GetRouteConfigName() != "grpc-client/greeter" || h.GetRds().GetConfigSource().GetAds() == nil {
			t.Errorf("%s RDS %v", name, h.GetRds())
		}
		if got := filterNames(h); !slices.Equal(got, []string{translate.FaultFilter, translate.RouterFilter}) {
			t.Errorf("%s filters %v (rate limit must be left out)", name, got)
		}
		if h.GetTracing() != nil || h.GetAccessLog() != nil {
			t.Errorf("%s: Envoy-only settings sent to grpc-go", name)
		}
	}
	vh := vhostNamed(t, routeConfig(t, g, "grpc-client/greeter"), "greeter")
	if !slices.Equal(vh.GetDomains(), []string{"*"}) {
		t.Errorf("domains %v", vh.GetDomains())
	}
	hello := routeNamed(t, vh, "greeter-hello")
	if hello.GetRoute().GetCluster() != "greeter-canary.test" || hello.GetMatch().GetPrefix() != "/helloworld.Greeter/SayHello" {
		t.Errorf("hello route %v", hello)
	}
	split := routeNamed(t, vh, "greeter-split").GetRoute()
	if wc := split.GetWeightedClusters().GetClusters(); len(wc) != 2 || wc[0].GetWeight().GetValue() != 75 || wc[1].GetWeight().GetValue() != 25 {
		t.Errorf("split %v", wc)
	}
	if split.GetMaxStreamDuration().GetMaxStreamDuration().AsDuration() != 2*time.Second || split.GetTimeout() != nil {
		t.Errorf("timeout %v", split)
	}
	if rp := split.GetRetryPolicy(); rp.GetRetryOn() != "unavailable" || rp.GetRetryBackOff().GetBaseInterval().AsDuration() != 10*time.Millisecond {
		t.Errorf("retry %v", rp)
	}
	c := clusterNamed(t, g, "greeter.test")
	if c.GetCircuitBreakers().GetThresholds()[0].GetMaxRequests().GetValue() != 10 || c.GetOutlierDetection().GetFailurePercentageThreshold().GetValue() != 60 ||
		c.GetLbPolicy() != envoy_config_cluster_v3.Cluster_ROUND_ROBIN {
		t.Errorf("cluster %v", c)
	}
	cla := claNamed(t, g, "greeter.test")
	if n := len(cla.GetEndpoints()[0].GetLbEndpoints()); n != 2 {
		t.Errorf("greeter endpoints %d", n)
	}
}

func TestDeterministic(t *testing.T) {
	p, err := policy.Load("../../deploy/policies/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := translate.Translate(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := translate.Translate(p.Clone())
	if err != nil {
		t.Fatal(err)
	}
	for g := range a {
		for i := range a[g].Listeners {
			ab, _ := proto.MarshalOptions{Deterministic: true}.Marshal(a[g].Listeners[i])
			bb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(b[g].Listeners[i])
			if string(ab) != string(bb) {
				t.Errorf("group %s listener %d differs between runs", g, i)
			}
		}
		for i := range a[g].Routes {
			if !proto.Equal(a[g].Routes[i], b[g].Routes[i]) {
				t.Errorf("group %s route %d differs between runs", g, i)
			}
		}
	}
}

// A fault experiment must change only route configurations: listeners (whose change makes
// Envoy drain connections) and clusters stay byte-for-byte the same.
func TestWithFaultChangesOnlyRoutes(t *testing.T) {
	p, err := policy.Load("testdata/weighted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	withFault, err := p.WithFault(policy.FaultTarget{Service: "backend-v2"}, policy.Fault{Abort: &policy.FaultAbort{HTTPStatus: 503, Percent: 100}})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := translate.Translate(p)
	after, err := translate.Translate(withFault)
	if err != nil {
		t.Fatal(err)
	}
	for g := range before {
		if err := check.Check(after[g]); err != nil {
			t.Fatalf("group %s: %v", g, err)
		}
		for i := range before[g].Listeners {
			if !proto.Equal(before[g].Listeners[i], after[g].Listeners[i]) {
				t.Errorf("group %s: listener %s changed", g, before[g].Listeners[i].GetName())
			}
		}
		for i := range before[g].Clusters {
			if !proto.Equal(before[g].Clusters[i], after[g].Clusters[i]) {
				t.Errorf("group %s: cluster %s changed", g, before[g].Clusters[i].GetName())
			}
		}
	}
	// Only the 10% share of the split route that goes to backend-v2 aborts: the fault sits on
	// that weighted cluster, not on the route.
	rt := routeNamed(t, vhostNamed(t, routeConfig(t, after["edge"], "edge/gateway-8080"), "public"), "public-split")
	if rt.GetTypedPerFilterConfig() != nil {
		t.Errorf("service fault set on the whole route: %v", rt.GetTypedPerFilterConfig())
	}
	wc := rt.GetRoute().GetWeightedClusters().GetClusters()
	if wc[0].GetTypedPerFilterConfig() != nil {
		t.Errorf("fault on backend's share too")
	}
	f := unpack(t, wc[1].GetTypedPerFilterConfig()[translate.FaultFilter], &envoy_extensions_filters_http_fault_v3.HTTPFault{})
	if wc[1].GetName() != "backend-v2.test" || f.GetAbort().GetHttpStatus() != 503 || f.GetAbort().GetPercentage().GetNumerator() != 1000000 {
		t.Errorf("fault %v on %s", f, wc[1].GetName())
	}
	if r0 := routeNamed(t, vhostNamed(t, routeConfig(t, before["edge"], "edge/gateway-8080"), "public"), "public-split"); r0.GetTypedPerFilterConfig() != nil {
		t.Errorf("original policy changed by WithFault")
	}
}

func TestTranslateGroupUnknown(t *testing.T) {
	p, err := policy.Load("testdata/weighted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := translate.TranslateGroup(p, "nope"); err == nil {
		t.Error("unknown group translated")
	}
}

// A policy built in code and not validated gives errors, not panics.
func TestTranslateUnvalidatedPolicy(t *testing.T) {
	p, err := policy.Load("testdata/jwt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	broken := p.Clone()
	broken.Spec.NodeGroups[0].Upstreams = []string{"orders"}
	broken.Spec.Services[0].Routes[2].Backends[0].Service = "ghost"
	if _, err := translate.Translate(broken); err == nil || !strings.Contains(err.Error(), `unknown service "ghost"`) {
		t.Errorf("err = %v", err)
	}
	broken = p.Clone()
	broken.Spec.Authentication = nil
	if _, err := translate.Translate(broken); err == nil || !strings.Contains(err.Error(), `unknown JWT provider "internal"`) {
		t.Errorf("err = %v", err)
	}
	broken = p.Clone()
	broken.Spec.NodeGroups[0].Upstreams = []string{"ghost"}
	if _, err := translate.Translate(broken); err == nil || !strings.Contains(err.Error(), `unknown upstream service "ghost"`) {
		t.Errorf("err = %v", err)
	}
}

// A host that repeats one of the service's own names (here "ratings.shop", which a grpc group
// needs as the target xds:///ratings.shop) is a domain of its virtual host once: Envoy
// compares domains ignoring case and refuses a route configuration holding one twice.
func TestHostRepeatingAServiceName(t *testing.T) {
	doc := `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: p, namespace: shop}
spec:
  services:
    - name: ratings
      port: 50051
      protocol: grpc
      hosts: [ratings.shop, Ratings, ratings.example]
      endpoints: [{address: 10.0.0.1}]
    - name: web
      port: 8080
      endpoints: [{address: 10.0.0.2}]
  nodeGroups:
    - {name: web, services: [web], upstreams: [ratings]}
    - {name: clients, kind: grpc, selector: {app: clients}, upstreams: [ratings]}
`
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := translate.Translate(p)
	if err != nil {
		t.Fatal(err)
	}
	for g, r := range out {
		if err := check.Check(r); err != nil {
			t.Errorf("group %s: %v", g, err)
		}
	}
	domains := vhostNamed(t, routeConfig(t, group(t, out, "web"), "web/outbound"), "ratings").GetDomains()
	if n := len(domains); n != 9 || domains[8] != "ratings.example" {
		t.Errorf("domains %v, want the 8 names of the service and ratings.example", domains)
	}
	listenerNamed(t, group(t, out, "clients"), "ratings.shop")
}

// TestUpstreamTLSInlineCAAndSubjectAltNames: a service whose TLS carries CA certificates
// sends them inline instead of a CA file, and verifies the server against its subject
// alternative names (DNS names lowercased, URIs as URIs) instead of the SNI, which is still
// sent; the checker accepts the cluster.
func TestUpstreamTLSInlineCAAndSubjectAltNames(t *testing.T) {
	ca, err := pki.NewCA("backend-ca")
	if err != nil {
		t.Fatal(err)
	}
	doc := `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: p, namespace: shop}
spec:
  services:
    - name: auth
      port: 8443
      endpoints: [{address: 10.0.0.1}]
      tls: {sni: auth.shop.svc, subjectAltNames: [Auth.Shop.svc, "spiffe://cluster.local/ns/shop/sa/auth"]}
    - name: web
      port: 8080
      endpoints: [{address: 10.0.0.2}]
  nodeGroups:
    - {name: web, services: [web], upstreams: [auth]}
`
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Spec.Services[0].TLS.CAFile; got != policy.DefaultCAFile {
		t.Fatalf("caFile %q, want the default", got)
	}
	p.Spec.Services[0].TLS.CAFile, p.Spec.Services[0].TLS.CACertificates = "", ca.CertPEM
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := translate.Translate(p)
	if err != nil {
		t.Fatal(err)
	}
	r := group(t, out, "web")
	if err := check.Check(r); err != nil {
		t.Fatal(err)
	}
	tls := unpack(t, clusterNamed(t, r, "auth.shop").GetTransportSocket().GetTypedConfig(), &envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext{})
	vc := tls.GetCommonTlsContext().GetValidationContext()
	if tls.GetSni() != "auth.shop.svc" || !bytes.Equal(vc.GetTrustedCa().GetInlineBytes(), ca.CertPEM) || vc.GetTrustedCa().GetFilename() != "" {
		t.Errorf("SNI %q, trusted CA %v; want auth.shop.svc and the CA inline", tls.GetSni(), vc.GetTrustedCa())
	}
	sans := vc.GetMatchTypedSubjectAltNames()
	if len(sans) != 2 || sans[0].GetSanType() != envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher_DNS || sans[0].GetMatcher().GetExact() != "auth.shop.svc" ||
		sans[1].GetSanType() != envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher_URI || sans[1].GetMatcher().GetExact() != "spiffe://cluster.local/ns/shop/sa/auth" {
		t.Errorf("subject alternative names %v", sans)
	}
}
