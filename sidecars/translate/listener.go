package translate

import (
	"fmt"
	envoy_extensions_filters_http_cors_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	"slices"
	"sort"
	"strings"

	envoy_config_accesslog_v3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_config_trace_v3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	envoy_extensions_access_loggers_stream_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	envoy_extensions_filters_http_fault_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	envoy_extensions_filters_http_jwt_authn_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	envoy_extensions_filters_http_local_ratelimit_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	envoy_extensions_filters_http_router_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	envoy_extensions_filters_listener_tls_inspector_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_extensions_filters_network_tcp_proxy_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	envoy_type_v3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Extension names used in listeners.
const (
	OpenTelemetryTracer = "envoy.tracers.opentelemetry"
	StdoutAccessLogger  = "envoy.access_loggers.stdout"
	StderrAccessLogger  = "envoy.access_loggers.stderr"
)

// WebSocketUpgrade is the upgrade type of WebSocket connections, which Envoy's HTTP
// connection managers accept.
const WebSocketUpgrade = "websocket"

// sidecar builds a sidecar group: the inbound listener to the local applications (rate
// limits and JWT enforced here) and the outbound listener to the upstreams (routing,
// timeouts, retries, faults).
func (b *builder) sidecar() error {
	g := b.g
	in := &hcmState{}
	inRC := &envoy_config_route_v3.RouteConfiguration{Name: RouteConfigName(g.Name, InboundListener)}
	for i, name := range g.Services {
		svc := b.service(name)
		if svc == nil {
			return fmt.Errorf("node group service %q is not a policy service", name)
		}
		local := InboundClusterName(svc.Name)
		b.out.Clusters = append(b.out.Clusters, b.sh.staticCluster(local, svc.AppPort, svc.Protocol, svc.ConnectTimeout.D()))
		// One member answers any host; with several, each answers its own names and the
		// first also any other host.
		vh := &envoy_config_route_v3.VirtualHost{Name: svc.Name, Domains: []string{"*"}}
		if len(g.Services) > 1 {
			vh.Domains = svc.Domains()
			if i == 0 {
				vh.Domains = append(vh.Domains, "*")
			}
		}
		m := routeMode{local: local, protect: true, grpcService: svc.Protocol == policy.ProtocolGRPC}
		for _, r := range inboundRoutes(svc) {
			if rt, ok := b.route(&r, m, in); ok {
				vh.Routes = append(vh.Routes, rt)
			}
		}
		in.protect(&vh.TypedPerFilterConfig, svc.Name, svc.RateLimit, svc.JWT)
		inRC.VirtualHosts = append(inRC.VirtualHosts, vh)
	}
	inHCM := b.hcm(InboundListener, inRC.Name, b.httpFilters(in, false), true)
	b.out.Listeners = append(b.out.Listeners, listener(InboundListener, "0.0.0.0", g.InboundPort, inHCM))

	out := &hcmState{}
	outRC := &envoy_config_route_v3.RouteConfiguration{Name: RouteConfigName(g.Name, OutboundListener)}
	for _, svc := range b.upstreams() {
		outRC.VirtualHosts = append(outRC.VirtualHosts, b.serviceVirtualHost(svc, svc.Domains(), routeMode{client: true}, out))
	}
	outHCM := b.hcm(OutboundListener, outRC.Name, b.httpFilters(out, true), true)
	b.out.Listeners = append(b.out.Listeners, listener(OutboundListener, "127.0.0.1", g.OutboundPort, outHCM))
	b.out.Routes = append(b.out.Routes, inRC, outRC)
	return nil
}

// serviceVirtualHost is the client-side virtual host of a service.
func (b *builder) serviceVirtualHost(svc *policy.Service, domains []string, m routeMode, st *hcmState) *envoy_config_route_v3.VirtualHost {
	vh := &envoy_config_route_v3.VirtualHost{Name: svc.Name, Domains: domains}
	for _, r := range serviceRoutes(svc) {
		if rt, ok := b.route(&r, m, st); ok {
			vh.Routes = append(vh.Routes, rt)
		}
	}
	b.use(svc.Name)
	return vh
}

// gateway builds a gateway group: per listener an Envoy listener and a route
// configuration with the policy virtual hosts the listener serves.
func (b *builder) gateway() error {
	g := b.g
	if len(g.Listeners) == 0 && !g.NoListeners {
		return fmt.Errorf("gateway group without listeners (set the policy's defaults first)")
	}
	for i := range g.Listeners {
		gl := &g.Listeners[i]
		name := GatewayListenerName(g, i)
		if len(gl.Connections) > 0 && len(gl.VirtualHosts) == 0 {
			b.out.Listeners = append(b.out.Listeners, b.connectionListener(name, gl))
			continue
		}
		st := &hcmState{}
		rc := &envoy_config_route_v3.RouteConfiguration{Name: RouteConfigName(g.Name, name), IgnorePortInHostMatching: gl.IgnorePortInHost}
		want := map[string]bool{}
		for _, n := range gl.VirtualHosts {
			want[n] = true
		}
		m := routeMode{client: true, protect: true}
		for j := range b.p.Spec.VirtualHosts {
			pvh := &b.p.Spec.VirtualHosts[j]
			if len(want) > 0 && !want[pvh.Name] {
				continue
			}
			vh := &envoy_config_route_v3.VirtualHost{Name: pvh.Name, Domains: append([]string(nil), pvh.Domains...)}
			for k := range pvh.Routes {
				if rt, ok := b.route(&pvh.Routes[k], m, st); ok {
					vh.Routes = append(vh.Routes, rt)
				}
			}
			st.protect(&vh.TypedPerFilterConfig, pvh.Name, pvh.RateLimit, pvh.JWT)
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
		h := b.hcm(name, rc.Name, b.httpFilters(st, true), true)
		l := listener(name, "0.0.0.0", gl.Port, h)
		if len(gl.TLSCertificates) > 0 {
			l.FilterChains[0].TransportSocket = downstreamTLS(gl, httpALPN)
		}
		if len(gl.Connections) > 0 {
			b.beside(l, gl)
		}
		b.out.Listeners = append(b.out.Listeners, l)
		b.out.Routes = append(b.out.Routes, rc)
	}
	return nil
}

// connectionListener is the Envoy listener of a gateway listener that forwards connections:
// a filter chain per connection route, matched on the server name of the TLS ClientHello
// (read by the TLS inspector when a route names one), each with a TCP proxy to the route's
// backends, behind TLS termination when the listener has certificates (but for the routes
// that pass TLS through). Envoy picks the chain
// of the most specific server name, and the chain without one for any other connection;
// with no such chain, a connection no name matches is closed.
func (b *builder) connectionListener(name string, gl *policy.GatewayListener) *envoy_config_listener_v3.Listener {
	l := &envoy_config_listener_v3.Listener{Name: name, Address: socketAddress("0.0.0.0", gl.Port)}
	var terminate *envoy_config_core_v3.TransportSocket
	if len(gl.TLSCertificates) > 0 {
		terminate = downstreamTLS(gl, nil) // no ALPN: what follows TLS is not HTTP
	}
	for i := range gl.Connections {
		c := &gl.Connections[i]
		ts := terminate
		if c.Passthrough {
			ts = nil
		}
		fc := &envoy_config_listener_v3.FilterChain{Name: c.Name, TransportSocket: ts, Filters: []*envoy_config_listener_v3.Filter{{
			Name:       TCPProxyFilter,
			ConfigType: &envoy_config_listener_v3.Filter_TypedConfig{TypedConfig: mustAny(b.tcpProxy(name, c))},
		}}}
		if len(c.ServerNames) > 0 {
			fc.FilterChainMatch = &envoy_config_listener_v3.FilterChainMatch{ServerNames: slices.Clone(c.ServerNames)}
			if len(l.ListenerFilters) == 0 {
				l.ListenerFilters = []*envoy_config_listener_v3.ListenerFilter{{
					Name:       TLSInspectorFilter,
					ConfigType: &envoy_config_listener_v3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&envoy_extensions_filters_listener_tls_inspector_v3.TlsInspector{})},
				}}
			}
		}
		l.FilterChains = append(l.FilterChains, fc)
	}
	return l
}

// HTTPSChain and HTTPSAnyChain name the filter chains of an HTTPS listener that forwards the
// connections of some server names (connection routes) beside HTTP: HTTP for the listener's
// own server names, which win over a less specific name of a route, and HTTP for whatever no
// other chain takes.
const (
	HTTPSChain    = "https"
	HTTPSAnyChain = "https-any"
)

// beside adds to the HTTPS listener l of gl the filter chains of gl's connection routes,
// each matched on its server names: HTTP keeps gl's own server names (a chain of its own,
// since Envoy picks the chain of the most specific name) and every connection no route
// takes, unless a route takes every connection.
func (b *builder) beside(l *envoy_config_listener_v3.Listener, gl *policy.GatewayListener) {
	conn := b.connectionListener(l.GetName(), gl)
	rest := l.FilterChains[0]
	rest.Name = HTTPSAnyChain
	var chains []*envoy_config_listener_v3.FilterChain
	if len(gl.ServerNames) > 0 {
		own := proto.Clone(rest).(*envoy_config_listener_v3.FilterChain)
		own.Name = HTTPSChain
		own.FilterChainMatch = &envoy_config_listener_v3.FilterChainMatch{ServerNames: slices.Clone(gl.ServerNames)}
		chains = append(chains, own)
	}
	if !slices.ContainsFunc(gl.Connections, func(c policy.ConnectionRoute) bool { return len(c.ServerNames) == 0 }) {
		chains = append(chains, rest)
	}
	l.FilterChains = append(chains, conn.FilterChains...)
	l.ListenerFilters = conn.ListenerFilters
}

// tcpProxy forwards a connection route's connections to its backends, by weight: the share
// of an unresolved backend goes to UnresolvedCluster, which has no endpoints, so that those
// connections are closed.
func (b *builder) tcpProxy(listener string, c *policy.ConnectionRoute) *envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy {
	p := &envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy{StatPrefix: listener + "/" + c.Name}
	if len(c.Backends) == 1 {
		p.ClusterSpecifier = &envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy_Cluster{Cluster: b.clusterOrEmpty(&c.Backends[0])}
		return p
	}
	wc := &envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy_WeightedCluster{}
	for i := range c.Backends {
		be := &c.Backends[i]
		if be.Weight == 0 {
			continue // Envoy refuses a weight of 0 here; the backend gets no connection
		}
		wc.Clusters = append(wc.Clusters, &envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy_WeightedCluster_ClusterWeight{Name: b.clusterOrEmpty(be), Weight: be.Weight})
	}
	p.ClusterSpecifier = &envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	return p
}

// httpALPN are the application protocols an HTTPS listener offers: HTTP/2 and HTTP/1.1.
var httpALPN = []string{"h2", "http/1.1"}

// downstreamTLS terminates TLS with a listener's inline certificates; Envoy picks the one
// whose names match the client's SNI (the first when none does). alpn are the application
// protocols offered. With client CAs, a client must present a certificate that chains to
// one of them, unless the listener lets in clients without one (or with one that does not
// verify).
func downstreamTLS(gl *policy.GatewayListener, alpn []string) *envoy_config_core_v3.TransportSocket {
	common := &envoy_extensions_transport_sockets_tls_v3.CommonTlsContext{AlpnProtocols: alpn}
	for _, c := range gl.TLSCertificates {
		common.TlsCertificates = append(common.TlsCertificates, &envoy_extensions_transport_sockets_tls_v3.TlsCertificate{
			CertificateChain: &envoy_config_core_v3.DataSource{Specifier: &envoy_config_core_v3.DataSource_InlineBytes{InlineBytes: c.CertificateChain}},
			PrivateKey:       &envoy_config_core_v3.DataSource{Specifier: &envoy_config_core_v3.DataSource_InlineBytes{InlineBytes: c.PrivateKey}},
		})
	}
	ctx := &envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext{CommonTlsContext: common}
	if len(gl.ClientCAs) > 0 {
		vc := &envoy_extensions_transport_sockets_tls_v3.CertificateValidationContext{
			TrustedCa: &envoy_config_core_v3.DataSource{Specifier: &envoy_config_core_v3.DataSource_InlineBytes{InlineBytes: gl.ClientCAs}},
		}
		if gl.ClientCertificateOptional {
			vc.TrustChainVerification = envoy_extensions_transport_sockets_tls_v3.CertificateValidationContext_ACCEPT_UNTRUSTED
		} else {
			ctx.RequireClientCertificate = wrapperspb.Bool(true)
		}
		common.ValidationContextType = &envoy_extensions_transport_sockets_tls_v3.CommonTlsContext_ValidationContext{ValidationContext: vc}
	}
	return &envoy_config_core_v3.TransportSocket{
		Name:       TLSTransportSocket,
		ConfigType: &envoy_config_core_v3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}
}

// grpc builds a proxyless gRPC group: per upstream an api_listener named after the service
// (and one per extra host), whose HTTP connection manager takes routes over RDS and has only
// filters grpc-go supports (fault, router last); then per listed virtual host one
// api_listener per domain, sharing the route configuration "<group>/<virtual host>".
func (b *builder) grpc() error {
	for _, svc := range b.upstreams() {
		st := &hcmState{}
		rc := &envoy_config_route_v3.RouteConfiguration{Name: RouteConfigName(b.g.Name, svc.Name)}
		rc.VirtualHosts = []*envoy_config_route_v3.VirtualHost{b.serviceVirtualHost(svc, []string{"*"}, routeMode{client: true, grpc: true}, st)}
		h := b.hcm(svc.Name, rc.Name, b.httpFilters(st, true), false)
		for _, name := range append([]string{svc.Name}, svc.Hosts...) {
			b.out.Listeners = append(b.out.Listeners, &envoy_config_listener_v3.Listener{
				Name:        name,
				ApiListener: &envoy_config_listener_v3.ApiListener{ApiListener: mustAny(h)},
			})
		}
		b.out.Routes = append(b.out.Routes, rc)
	}
	for _, name := range b.g.VirtualHosts {
		pvh := b.p.VirtualHost(name)
		if pvh == nil {
			return fmt.Errorf("unknown virtual host %q (validate the policy first)", name)
		}
		st := &hcmState{}
		rc := &envoy_config_route_v3.RouteConfiguration{Name: RouteConfigName(b.g.Name, pvh.Name)}
		vh := &envoy_config_route_v3.VirtualHost{Name: pvh.Name, Domains: []string{"*"}}
		for j := range pvh.Routes {
			if rt, ok := b.route(&pvh.Routes[j], routeMode{client: true, grpc: true}, st); ok {
				vh.Routes = append(vh.Routes, rt)
			}
		}
		rc.VirtualHosts = []*envoy_config_route_v3.VirtualHost{vh}
		h := b.hcm(pvh.Name, rc.Name, b.httpFilters(st, true), false)
		for _, d := range pvh.Domains {
			b.out.Listeners = append(b.out.Listeners, &envoy_config_listener_v3.Listener{
				Name:        d,
				ApiListener: &envoy_config_listener_v3.ApiListener{ApiListener: mustAny(h)},
			})
		}
		b.out.Routes = append(b.out.Routes, rc)
	}
	return nil
}

// httpFilters is the filter chain for an HCM whose routes recorded st: local rate limit and
// JWT when used, the fault filter on client-side listeners (always there, so that a fault
// experiment changes only routes), and the router last.
func (b *builder) httpFilters(st *hcmState, client bool) []*envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter {
	var fs []*envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter
	if st.cors {
		// First: it answers a preflight itself, before a JWT requirement could refuse it.
		fs = append(fs, httpFilter(CORSFilter, &envoy_extensions_filters_http_cors_v3.Cors{}))
	}
	if st.rateLimit {
		fs = append(fs, httpFilter(RateLimitFilter, &envoy_extensions_filters_http_local_ratelimit_v3.LocalRateLimit{StatPrefix: "local_ratelimit"}))
	}
	if st.jwt != nil {
		fs = append(fs, httpFilter(JWTFilter, b.jwtAuthn(st)))
	}
	if client || st.fault {
		fs = append(fs, httpFilter(FaultFilter, &envoy_extensions_filters_http_fault_v3.HTTPFault{}))
	}
	return append(fs, httpFilter(RouterFilter, &envoy_extensions_filters_http_router_v3.Router{}))
}

func httpFilter(name string, cfg proto.Message) *envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter {
	return &envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter{
		Name:       name,
		ConfigType: &envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter_TypedConfig{TypedConfig: mustAny(cfg)},
	}
}

// jwtAuthn is the jwt_authn filter configuration: the providers the recorded requirements
// name, and the requirement map routes refer to by name.
func (b *builder) jwtAuthn(st *hcmState) *envoy_extensions_filters_http_jwt_authn_v3.JwtAuthentication {
	cfg := &envoy_extensions_filters_http_jwt_authn_v3.JwtAuthentication{
		Providers:      map[string]*envoy_extensions_filters_http_jwt_authn_v3.JwtProvider{},
		RequirementMap: map[string]*envoy_extensions_filters_http_jwt_authn_v3.JwtRequirement{},
	}
	names := make([]string, 0, len(st.jwt))
	for n := range st.jwt {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		providers := st.jwt[n]
		for _, pn := range providers {
			if _, done := cfg.Providers[pn]; !done {
				cfg.Providers[pn] = b.jwtProvider(pn)
			}
		}
		if len(providers) == 1 {
			cfg.RequirementMap[n] = &envoy_extensions_filters_http_jwt_authn_v3.JwtRequirement{
				RequiresType: &envoy_extensions_filters_http_jwt_authn_v3.JwtRequirement_ProviderName{ProviderName: providers[0]}}
			continue
		}
		any := &envoy_extensions_filters_http_jwt_authn_v3.JwtRequirementOrList{}
		for _, pn := range providers {
			any.Requirements = append(any.Requirements, &envoy_extensions_filters_http_jwt_authn_v3.JwtRequirement{
				RequiresType: &envoy_extensions_filters_http_jwt_authn_v3.JwtRequirement_ProviderName{ProviderName: pn}})
		}
		cfg.RequirementMap[n] = &envoy_extensions_filters_http_jwt_authn_v3.JwtRequirement{
			RequiresType: &envoy_extensions_filters_http_jwt_authn_v3.JwtRequirement_RequiresAny{RequiresAny: any}}
	}
	return cfg
}

func (b *builder) jwtProvider(name string) *envoy_extensions_filters_http_jwt_authn_v3.JwtProvider {
	pr := &policy.JWTProvider{Name: name}
	if a := b.p.Spec.Authentication; a != nil {
		for i := range a.JWTProviders {
			if a.JWTProviders[i].Name == name {
				pr = &a.JWTProviders[i]
			}
		}
	}
	if pr.Issuer == "" && b.err == nil {
		b.err = fmt.Errorf("unknown JWT provider %q (validate the policy first)", name)
	}
	out := &envoy_extensions_filters_http_jwt_authn_v3.JwtProvider{
		Issuer:               pr.Issuer,
		Audiences:            append([]string(nil), pr.Audiences...),
		ForwardPayloadHeader: pr.ForwardPayloadHeader,
	}
	if pr.JWKS.Inline != "" {
		out.JwksSourceSpecifier = &envoy_extensions_filters_http_jwt_authn_v3.JwtProvider_LocalJwks{LocalJwks: &envoy_config_core_v3.DataSource{
			Specifier: &envoy_config_core_v3.DataSource_InlineString{InlineString: pr.JWKS.Inline}}}
		return out
	}
	out.JwksSourceSpecifier = &envoy_extensions_filters_http_jwt_authn_v3.JwtProvider_RemoteJwks{RemoteJwks: &envoy_extensions_filters_http_jwt_authn_v3.RemoteJwks{
		HttpUri: &envoy_config_core_v3.HttpUri{
			Uri:              pr.JWKS.URI,
			HttpUpstreamType: &envoy_config_core_v3.HttpUri_Cluster{Cluster: b.use(pr.JWKS.Service)},
			Timeout:          durationpb.New(pr.JWKS.Timeout.D()),
		},
		CacheDuration: durationpb.New(pr.JWKS.CacheDuration.D()),
	}}
	return out
}

// hcm builds an HTTP connection manager taking its routes over RDS; envoy adds WebSocket
// upgrades (an HTTP/1.1 Upgrade: websocket request is forwarded as one; Envoy refuses it
// otherwise) and the policy's tracing and access logs (grpc-go has no use for any of them, so
// proxyless groups get none).
func (b *builder) hcm(statPrefix, routeConfig string, filters []*envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter, envoy bool) *envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager {
	h := &envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager{
		StatPrefix: statPrefix,
		CodecType:  envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_AUTO,
		RouteSpecifier: &envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_Rds{Rds: &envoy_extensions_filters_network_http_connection_manager_v3.Rds{
			ConfigSource:    b.sh.ads,
			RouteConfigName: routeConfig,
		}},
		HttpFilters: filters,
	}
	if !envoy {
		return h
	}
	h.UpgradeConfigs = []*envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_UpgradeConfig{{UpgradeType: WebSocketUpgrade}}
	if t := b.p.Spec.Tracing; t != nil {
		name := t.ServiceName
		if name == "" {
			name = b.g.Name
		}
		otel := &envoy_config_trace_v3.OpenTelemetryConfig{
			GrpcService: &envoy_config_core_v3.GrpcService{TargetSpecifier: &envoy_config_core_v3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &envoy_config_core_v3.GrpcService_EnvoyGrpc{ClusterName: b.use(t.Collector)}}},
			ServiceName: name,
		}
		h.Tracing = &envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_Tracing{
			RandomSampling: &envoy_type_v3.Percent{Value: sampling(t)},
			Provider: &envoy_config_trace_v3.Tracing_Http{
				Name:       OpenTelemetryTracer,
				ConfigType: &envoy_config_trace_v3.Tracing_Http_TypedConfig{TypedConfig: mustAny(otel)},
			},
		}
	}
	if a := b.p.Spec.AccessLog; a != nil {
		h.AccessLog = []*envoy_config_accesslog_v3.AccessLog{accessLog(a)}
	}
	return h
}

func sampling(t *policy.Tracing) float64 {
	if t.SamplingPercent == nil {
		return policy.DefaultSamplingPercent
	}
	return *t.SamplingPercent
}

func accessLog(a *policy.AccessLog) *envoy_config_accesslog_v3.AccessLog {
	var format *envoy_config_core_v3.SubstitutionFormatString
	if a.Format != "" {
		f := a.Format
		if !strings.HasSuffix(f, "\n") {
			f += "\n"
		}
		format = &envoy_config_core_v3.SubstitutionFormatString{Format: &envoy_config_core_v3.SubstitutionFormatString_TextFormatSource{
			TextFormatSource: &envoy_config_core_v3.DataSource{Specifier: &envoy_config_core_v3.DataSource_InlineString{InlineString: f}}}}
	}
	if a.Output == "stderr" {
		l := &envoy_extensions_access_loggers_stream_v3.StderrAccessLog{}
		if format != nil {
			l.AccessLogFormat = &envoy_extensions_access_loggers_stream_v3.StderrAccessLog_LogFormat{LogFormat: format}
		}
		return &envoy_config_accesslog_v3.AccessLog{Name: StderrAccessLogger, ConfigType: &envoy_config_accesslog_v3.AccessLog_TypedConfig{TypedConfig: mustAny(l)}}
	}
	l := &envoy_extensions_access_loggers_stream_v3.StdoutAccessLog{}
	if format != nil {
		l.AccessLogFormat = &envoy_extensions_access_loggers_stream_v3.StdoutAccessLog_LogFormat{LogFormat: format}
	}
	return &envoy_config_accesslog_v3.AccessLog{Name: StdoutAccessLogger, ConfigType: &envoy_config_accesslog_v3.AccessLog_TypedConfig{TypedConfig: mustAny(l)}}
}

// listener is an Envoy listener on addr:port with one filter chain holding the HCM.
func listener(name, addr string, port uint32, h *envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager) *envoy_config_listener_v3.Listener {
	return &envoy_config_listener_v3.Listener{
		Name:    name,
		Address: socketAddress(addr, port),
		FilterChains: []*envoy_config_listener_v3.FilterChain{{
			Filters: []*envoy_config_listener_v3.Filter{{
				Name:       HCMFilter,
				ConfigType: &envoy_config_listener_v3.Filter_TypedConfig{TypedConfig: mustAny(h)},
			}},
		}},
	}
}
