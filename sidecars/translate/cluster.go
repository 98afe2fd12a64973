package translate

import (
	"sort"
	"strings"
	"time"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	envoy_extensions_upstreams_http_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	envoy_type_matcher_v3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	envoy_type_v3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Extension names used in clusters.
const (
	HTTPProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	TLSTransportSocket     = "envoy.transport_sockets.tls"
)

// Cluster is the EDS cluster of a service: endpoints over ADS under the service's cluster
// name, round robin, HTTP/2 for http2 and grpc services, with its circuit breaker, outlier
// detection and upstream TLS. It does not depend on the node group.
func Cluster(s *policy.Service) *envoy_config_cluster_v3.Cluster {
	return newShared().cluster(s)
}

func (sh *shared) cluster(s *policy.Service) *envoy_config_cluster_v3.Cluster {
	return sh.namedCluster(s, s.ClusterName())
}

func (sh *shared) namedCluster(s *policy.Service, name string) *envoy_config_cluster_v3.Cluster {
	typ := sh.clusterEDS.new()
	typ.Type = envoy_config_cluster_v3.Cluster_EDS
	eds := sh.edsConfigs.new()
	eds.EdsConfig = sh.ads
	eds.ServiceName = name
	c := sh.clusters.new()
	c.Name = name
	c.ClusterDiscoveryType = typ
	c.EdsClusterConfig = eds
	c.ConnectTimeout = sh.duration(s.ConnectTimeout.D())
	c.LbPolicy = envoy_config_cluster_v3.Cluster_ROUND_ROBIN
	if s.Protocol == policy.ProtocolHTTP2 || s.Protocol == policy.ProtocolGRPC {
		c.TypedExtensionProtocolOptions = sh.http2()
	}
	c.CircuitBreakers = sh.circuitBreakers(s.CircuitBreaker)
	if o := s.OutlierDetection; o != nil {
		c.OutlierDetection = outlierDetection(o)
	}
	if t := s.TLS; t != nil {
		c.TransportSocket = upstreamTLS(t, s.Protocol)
	}
	return c
}

// Retry budget of a cluster whose circuit breaker sets no fixed limit on concurrent retries.
// Envoy's own default, 3 retries in flight per cluster whatever its traffic, silently drops
// most retries of a busy service; a budget grows with the load and still keeps retries from
// multiplying it (the same 20% Envoy's retry budget and Linkerd's retry ratio default to).
const (
	// RetryBudgetPercent is the share of a cluster's active and pending requests (on one
	// proxy) that may be retries.
	RetryBudgetPercent = 20
	// MinRetryConcurrency is the number of retries in flight the budget always allows.
	MinRetryConcurrency = 3
)

// circuitBreakers is a cluster's thresholds: cb's limits (Envoy's defaults where zero), and
// concurrent retries limited by cb.MaxRetries when set, else by the retry budget. The
// budget, and the thresholds of the clusters without limits of their own, are made once
// and shared by the clusters.
func (sh *shared) circuitBreakers(cb *policy.CircuitBreaker) *envoy_config_cluster_v3.CircuitBreakers {
	if sh.retryBudget == nil {
		sh.retryBudget = &envoy_config_cluster_v3.CircuitBreakers_Thresholds_RetryBudget{
			BudgetPercent:       &envoy_type_v3.Percent{Value: RetryBudgetPercent},
			MinRetryConcurrency: wrapperspb.UInt32(MinRetryConcurrency),
		}
		sh.budgetOnly = sh.breakers(&policy.CircuitBreaker{})
	}
	if cb == nil || *cb == (policy.CircuitBreaker{}) {
		return sh.budgetOnly
	}
	return sh.breakers(cb)
}

func (sh *shared) breakers(cb *policy.CircuitBreaker) *envoy_config_cluster_v3.CircuitBreakers {
	t := &envoy_config_cluster_v3.CircuitBreakers_Thresholds{Priority: envoy_config_core_v3.RoutingPriority_DEFAULT}
	t.MaxConnections = u32(cb.MaxConnections)
	t.MaxPendingRequests = u32(cb.MaxPendingRequests)
	t.MaxRequests = u32(cb.MaxRequests)
	t.MaxRetries = u32(cb.MaxRetries)
	if t.MaxRetries == nil {
		t.RetryBudget = sh.retryBudget
	}
	return &envoy_config_cluster_v3.CircuitBreakers{Thresholds: []*envoy_config_cluster_v3.CircuitBreakers_Thresholds{t}}
}

// upstreamTLS verifies the server: its certificate chains to the CA file (or the CA
// certificates sent inline) and names the SNI, or one of the subject alternative names when
// they are set.
func upstreamTLS(t *policy.UpstreamTLS, protocol policy.Protocol) *envoy_config_core_v3.TransportSocket {
	ca := &envoy_config_core_v3.DataSource{Specifier: &envoy_config_core_v3.DataSource_Filename{Filename: t.CAFile}}
	if len(t.CACertificates) > 0 {
		ca = &envoy_config_core_v3.DataSource{Specifier: &envoy_config_core_v3.DataSource_InlineBytes{InlineBytes: t.CACertificates}}
	}
	sans := t.SubjectAltNames
	if len(sans) == 0 {
		sans = []string{t.SNI}
	}
	matchers := make([]*envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher, len(sans))
	for i, san := range sans {
		typ := envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher_DNS
		if policy.IsURISubjectAltName(san) {
			typ = envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher_URI
		} else {
			san = strings.ToLower(san)
		}
		matchers[i] = &envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher{SanType: typ,
			Matcher: &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_Exact{Exact: san}}}
	}
	common := &envoy_extensions_transport_sockets_tls_v3.CommonTlsContext{
		ValidationContextType: &envoy_extensions_transport_sockets_tls_v3.CommonTlsContext_ValidationContext{
			ValidationContext: &envoy_extensions_transport_sockets_tls_v3.CertificateValidationContext{TrustedCa: ca, MatchTypedSubjectAltNames: matchers},
		},
	}
	if protocol == policy.ProtocolHTTP2 || protocol == policy.ProtocolGRPC {
		common.AlpnProtocols = []string{"h2"}
	}
	return &envoy_config_core_v3.TransportSocket{
		Name: TLSTransportSocket,
		ConfigType: &envoy_config_core_v3.TransportSocket_TypedConfig{TypedConfig: mustAny(
			&envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: common})},
	}
}

// outlierDetection enables exactly the configured detectors: Envoy and grpc-go enable
// consecutive-5xx and success-rate ejection by default, so the unconfigured ones are turned off
// explicitly.
func outlierDetection(o *policy.OutlierDetection) *envoy_config_cluster_v3.OutlierDetection {
	od := &envoy_config_cluster_v3.OutlierDetection{
		Interval:                   durationpb.New(o.Interval.D()),
		BaseEjectionTime:           durationpb.New(o.BaseEjectionTime.D()),
		MaxEjectionPercent:         wrapperspb.UInt32(o.MaxEjectionPercent),
		EnforcingConsecutive_5Xx:   wrapperspb.UInt32(0),
		EnforcingSuccessRate:       wrapperspb.UInt32(0),
		EnforcingFailurePercentage: wrapperspb.UInt32(0),
		// Gateway failures are counted apart only when asked; keep them off.
		EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(0),
	}
	if o.Consecutive5xx > 0 {
		od.Consecutive_5Xx = wrapperspb.UInt32(o.Consecutive5xx)
		od.EnforcingConsecutive_5Xx = wrapperspb.UInt32(100)
	}
	if sr := o.SuccessRate; sr != nil {
		od.EnforcingSuccessRate = wrapperspb.UInt32(100)
		od.SuccessRateMinimumHosts = wrapperspb.UInt32(sr.MinimumHosts)
		od.SuccessRateRequestVolume = wrapperspb.UInt32(sr.RequestVolume)
		od.SuccessRateStdevFactor = wrapperspb.UInt32(sr.StdevFactor)
	}
	if fp := o.FailurePercentage; fp != nil {
		od.EnforcingFailurePercentage = wrapperspb.UInt32(100)
		od.FailurePercentageThreshold = wrapperspb.UInt32(fp.Threshold)
		od.FailurePercentageMinimumHosts = wrapperspb.UInt32(fp.MinimumHosts)
		od.FailurePercentageRequestVolume = wrapperspb.UInt32(fp.RequestVolume)
	}
	return od
}

// staticCluster is a STATIC cluster with one local endpoint (a sidecar's application).
func (sh *shared) staticCluster(name string, port uint32, protocol policy.Protocol, timeout time.Duration) *envoy_config_cluster_v3.Cluster {
	c := &envoy_config_cluster_v3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &envoy_config_cluster_v3.Cluster_Type{Type: envoy_config_cluster_v3.Cluster_STATIC},
		ConnectTimeout:       sh.duration(timeout),
		LbPolicy:             envoy_config_cluster_v3.Cluster_ROUND_ROBIN,
		LoadAssignment:       sh.loadAssignment(name, []policy.Endpoint{{Address: "127.0.0.1", Port: port, Weight: 1}}),
	}
	if protocol == policy.ProtocolHTTP2 || protocol == policy.ProtocolGRPC {
		c.TypedExtensionProtocolOptions = sh.http2()
	}
	return c
}

// shared holds read-only sub-messages that the resources of one translation share (config
// source, durations, weights, protocol options), which keeps large translations cheap.
// Resources are never modified after translation, so sharing is safe; callers must treat
// them as read-only too.
type shared struct {
	ads       *envoy_config_core_v3.ConfigSource
	durations map[time.Duration]*durationpb.Duration
	weights   map[uint32]*wrapperspb.UInt32Value
	h2        map[string]*anypb.Any
	zones     map[string]*envoy_config_core_v3.Locality
	// retryBudget limits the retries of clusters without a fixed limit; budgetOnly is the
	// circuit breaker of the clusters that set no limit of their own.
	retryBudget *envoy_config_cluster_v3.CircuitBreakers_Thresholds_RetryBudget
	budgetOnly  *envoy_config_cluster_v3.CircuitBreakers

	// Slabs allocate the most numerous messages in chunks.
	clusters    slab[envoy_config_cluster_v3.Cluster]
	edsConfigs  slab[envoy_config_cluster_v3.Cluster_EdsClusterConfig]
	clusterEDS  slab[envoy_config_cluster_v3.Cluster_Type]
	assignments slab[envoy_config_endpoint_v3.ClusterLoadAssignment]
	localities  slab[envoy_config_endpoint_v3.LocalityLbEndpoints]
	routes      slab[envoy_config_route_v3.Route]
	matches     slab[envoy_config_route_v3.RouteMatch]
	prefixes    slab[envoy_config_route_v3.RouteMatch_Prefix]
	actions     slab[envoy_config_route_v3.RouteAction]
	routeRoutes slab[envoy_config_route_v3.Route_Route]
	toCluster   slab[envoy_config_route_v3.RouteAction_Cluster]
}

// slab hands out pointers into chunks of T: one allocation per 128 messages. The chunks
// live as long as any message in them, which is as long as the translation's resources.
type slab[T any] struct{ free []T }

func (s *slab[T]) new() *T {
	if len(s.free) == 0 {
		s.free = make([]T, 128)
	}
	p := &s.free[0]
	s.free = s.free[1:]
	return p
}

func newShared() *shared {
	return &shared{ads: adsSource(), durations: map[time.Duration]*durationpb.Duration{}, weights: map[uint32]*wrapperspb.UInt32Value{}, zones: map[string]*envoy_config_core_v3.Locality{}}
}

func (sh *shared) duration(d time.Duration) *durationpb.Duration {
	return interned(sh.durations, d, durationpb.New)
}

func (sh *shared) weight(w uint32) *wrapperspb.UInt32Value {
	return interned(sh.weights, w, wrapperspb.UInt32)
}

func (sh *shared) locality(zone string) *envoy_config_core_v3.Locality {
	return interned(sh.zones, zone, func(z string) *envoy_config_core_v3.Locality { return &envoy_config_core_v3.Locality{Zone: z} })
}

// interned is m's value for k, made by mk and kept in m the first time k is asked for.
func interned[K comparable, V any](m map[K]V, k K, mk func(K) V) V {
	v, ok := m[k]
	if !ok {
		v = mk(k)
		m[k] = v
	}
	return v
}

func (sh *shared) http2() map[string]*anypb.Any {
	if sh.h2 == nil {
		sh.h2 = http2Options()
	}
	return sh.h2
}

func http2Options() map[string]*anypb.Any {
	return map[string]*anypb.Any{HTTPProtocolOptionsKey: mustAny(&envoy_extensions_upstreams_http_v3.HttpProtocolOptions{
		UpstreamProtocolOptions: &envoy_extensions_upstreams_http_v3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &envoy_extensions_upstreams_http_v3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &envoy_extensions_upstreams_http_v3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &envoy_config_core_v3.Http2ProtocolOptions{},
				},
			},
		},
	})}
}

// LoadAssignment builds the ClusterLoadAssignment of a cluster from endpoints: one locality
// per zone (sorted, "" first), each with a locality ID (grpc-go NACKs localities without
// one) and load-balancing weight 1 (grpc-go ignores localities without weight), endpoints in the given order with their weights. An empty endpoint list
// gives an assignment without endpoints. The discovery component uses it for EndpointSlices.
func LoadAssignment(clusterName string, endpoints []policy.Endpoint) *envoy_config_endpoint_v3.ClusterLoadAssignment {
	return newShared().loadAssignment(clusterName, endpoints)
}

func (sh *shared) loadAssignment(clusterName string, endpoints []policy.Endpoint) *envoy_config_endpoint_v3.ClusterLoadAssignment {
	cla := sh.assignments.new()
	cla.ClusterName = clusterName
	n := len(endpoints)
	if n == 0 {
		return cla
	}
	// One allocation per message type instead of one per endpoint.
	lbs := make([]envoy_config_endpoint_v3.LbEndpoint, n)
	hosts := make([]envoy_config_endpoint_v3.LbEndpoint_Endpoint, n)
	eps := make([]envoy_config_endpoint_v3.Endpoint, n)
	addrs := make([]envoy_config_core_v3.Address, n)
	oneofs := make([]envoy_config_core_v3.Address_SocketAddress, n)
	sockets := make([]envoy_config_core_v3.SocketAddress, n)
	ports := make([]envoy_config_core_v3.SocketAddress_PortValue, n)
	var localities []*envoy_config_endpoint_v3.LocalityLbEndpoints
	for i, e := range endpoints {
		var l *envoy_config_endpoint_v3.LocalityLbEndpoints
		for _, have := range localities {
			if have.GetLocality().GetZone() == e.Zone {
				l = have
				break
			}
		}
		if l == nil {
			l = sh.localities.new()
			l.LoadBalancingWeight = sh.weight(1)
			l.LbEndpoints = make([]*envoy_config_endpoint_v3.LbEndpoint, 0, n)
			// grpc-go rejects a locality without an ID, even an empty one.
			l.Locality = sh.locality(e.Zone)
			localities = append(localities, l)
		}
		w := e.Weight
		if w == 0 {
			w = 1
		}
		ports[i].PortValue = e.Port
		sockets[i].Address = e.Address
		sockets[i].PortSpecifier = &ports[i]
		oneofs[i].SocketAddress = &sockets[i]
		addrs[i].Address = &oneofs[i]
		eps[i].Address = &addrs[i]
		hosts[i].Endpoint = &eps[i]
		lbs[i].HostIdentifier = &hosts[i]
		lbs[i].LoadBalancingWeight = sh.weight(w)
		l.LbEndpoints = append(l.LbEndpoints, &lbs[i])
	}
	sort.SliceStable(localities, func(i, j int) bool {
		return localities[i].GetLocality().GetZone() < localities[j].GetLocality().GetZone()
	})
	cla.Endpoints = localities
	return cla
}

func socketAddress(addr string, port uint32) *envoy_config_core_v3.Address {
	return &envoy_config_core_v3.Address{Address: &envoy_config_core_v3.Address_SocketAddress{
		SocketAddress: &envoy_config_core_v3.SocketAddress{
			Address:       addr,
			PortSpecifier: &envoy_config_core_v3.SocketAddress_PortValue{PortValue: port},
		},
	}}
}

// adsSource is the config source "use the ADS stream".
func adsSource() *envoy_config_core_v3.ConfigSource {
	return &envoy_config_core_v3.ConfigSource{
		ResourceApiVersion:    envoy_config_core_v3.ApiVersion_V3,
		ConfigSourceSpecifier: &envoy_config_core_v3.ConfigSource_Ads{Ads: &envoy_config_core_v3.AggregatedConfigSource{}},
	}
}

func u32(v uint32) *wrapperspb.UInt32Value {
	if v == 0 {
		return nil
	}
	return wrapperspb.UInt32(v)
}

// mustAny packs a message deterministically (map fields in key order), so equal configs give
// equal bytes. Marshalling a valid generated message cannot fail.
func mustAny(m proto.Message) *anypb.Any {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic("translate: marshal " + string(m.ProtoReflect().Descriptor().FullName()) + ": " + err.Error())
	}
	return &anypb.Any{TypeUrl: "type.googleapis.com/" + string(m.ProtoReflect().Descriptor().FullName()), Value: b}
}
