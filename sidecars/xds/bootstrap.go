package xds

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	envoy_config_bootstrap_v3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_extensions_filters_http_router_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	envoy_extensions_upstreams_http_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	envoy_type_matcher_v3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/foresight-dev/foresight/sidecars/translate"
)

// Names used in the bootstraps.
const (
	XDSClusterName   = "foresight_xds"
	AdminClusterName = "foresight_admin"
	StatsListener    = "foresight_prometheus_stats"
)

// BootstrapOptions describe the Envoy a bootstrap is for.
type BootstrapOptions struct {
	// NodeID is the Envoy node id (unique per proxy, e.g. the pod name); required.
	NodeID string
	// Service is the node cluster: the policy service a sidecar fronts, or the gateway's name;
	// node groups select proxies by it. Required.
	Service string
	// Gateway marks the proxy as a gateway (node metadata foresight.dev/role: gateway).
	Gateway bool
	// Metadata are further node metadata fields; node groups select proxies by them
	// (selector). foresight.dev/role is set by the bootstrap itself.
	Metadata map[string]string
	// XDSAddress is the control plane's host:port; required.
	XDSAddress string
	// Channel is how the proxy connects to the control plane. With TLS, Channel.CAFile is
	// required (Envoy verifies nothing without a CA bundle), and the control plane's
	// certificate must name XDSAddress's host. Envoy reads the files when it starts, unless
	// TLSSecretsFile is set.
	Channel Channel
	// TLSSecretsFile, with TLS, makes the channel's files reach Envoy through file-based SDS:
	// the bootstrap names this file (.json or .yaml), whose content TLSSecrets builds for the
	// caller to write. Envoy then reads the CA bundle, certificate and key again whenever
	// their directory changes (a renewed Secret or CSI volume), where it would otherwise keep
	// what it read at start.
	TLSSecretsFile string
	// AdminPort is the admin interface's port on 127.0.0.1. Default 9901.
	AdminPort uint32
	// StatsPort serves /stats/prometheus on all interfaces for Prometheus. Default 15090.
	StatsPort uint32
	// RegexProgramSizeLimit, when positive, is the proxy's runtime
	// re2.max_program_size.error_level: the largest RE2 program of a regex it accepts. The
	// control plane must check with the same limit (foresight-xds serve
	// --regex-program-size-limit). 0 keeps Envoy's default, 100.
	RegexProgramSizeLimit int
}

// Bootstrap builds the Envoy bootstrap of a sidecar or gateway: ADS over gRPC (HTTP/2) to the
// control plane for listeners and clusters, admin on loopback only, and a listener that
// exposes /stats/prometheus (and nothing else of the admin interface) to Prometheus.
func Bootstrap(o BootstrapOptions) (*envoy_config_bootstrap_v3.Bootstrap, error) {
	if o.NodeID == "" || o.Service == "" {
		return nil, errors.New("bootstrap: node id and service are required")
	}
	host, portStr, err := net.SplitHostPort(o.XDSAddress)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: xds address %q: %w", o.XDSAddress, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("bootstrap: xds address %q: invalid port", o.XDSAddress)
	}
	if o.AdminPort == 0 {
		o.AdminPort = 9901
	}
	if o.StatsPort == 0 {
		o.StatsPort = 15090
	}
	role := KindSidecar
	if o.Gateway {
		role = KindGateway
	}
	if _, ok := o.Metadata[RoleMetadataKey]; ok {
		return nil, fmt.Errorf("bootstrap: metadata field %s is set by the bootstrap itself", RoleMetadataKey)
	}
	md := &structpb.Struct{Fields: map[string]*structpb.Value{RoleMetadataKey: structpb.NewStringValue(role)}}
	for k, v := range o.Metadata {
		md.Fields[k] = structpb.NewStringValue(v)
	}
	ads := &envoy_config_core_v3.ConfigSource{
		ResourceApiVersion:    envoy_config_core_v3.ApiVersion_V3,
		ConfigSourceSpecifier: &envoy_config_core_v3.ConfigSource_Ads{Ads: &envoy_config_core_v3.AggregatedConfigSource{}},
	}
	h2, err := anypb.New(&envoy_extensions_upstreams_http_v3.HttpProtocolOptions{
		UpstreamProtocolOptions: &envoy_extensions_upstreams_http_v3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &envoy_extensions_upstreams_http_v3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &envoy_extensions_upstreams_http_v3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &envoy_config_core_v3.Http2ProtocolOptions{
				ConnectionKeepalive: &envoy_config_core_v3.KeepaliveSettings{Interval: durationpb.New(30 * time.Second), Timeout: durationpb.New(10 * time.Second)},
			}},
		}},
	})
	if err != nil {
		return nil, err
	}
	discoveryType := envoy_config_cluster_v3.Cluster_STRICT_DNS
	if net.ParseIP(host) != nil {
		discoveryType = envoy_config_cluster_v3.Cluster_STATIC
	}
	xdsCluster := &envoy_config_cluster_v3.Cluster{
		Name:                          XDSClusterName,
		ClusterDiscoveryType:          &envoy_config_cluster_v3.Cluster_Type{Type: discoveryType},
		ConnectTimeout:                durationpb.New(5 * time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2},
		LoadAssignment:                staticAssignment(XDSClusterName, host, uint32(port)),
	}
	secure, err := o.Channel.tls()
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if secure {
		if xdsCluster.TransportSocket, err = controlPlaneTLS(o.Channel, host, o.TLSSecretsFile); err != nil {
			return nil, err
		}
	} else if o.TLSSecretsFile != "" {
		return nil, errors.New("bootstrap: a TLS secrets file needs tls channel credentials")
	}
	adminCluster := &envoy_config_cluster_v3.Cluster{
		Name:                 AdminClusterName,
		ClusterDiscoveryType: &envoy_config_cluster_v3.Cluster_Type{Type: envoy_config_cluster_v3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment:       staticAssignment(AdminClusterName, "127.0.0.1", o.AdminPort),
	}
	stats, err := statsListener(o.StatsPort)
	if err != nil {
		return nil, err
	}
	b := &envoy_config_bootstrap_v3.Bootstrap{
		Node: &envoy_config_core_v3.Node{
			Id: o.NodeID, Cluster: o.Service, Metadata: md,
		},
		Admin: &envoy_config_bootstrap_v3.Admin{Address: socket("127.0.0.1", o.AdminPort)},
		DynamicResources: &envoy_config_bootstrap_v3.Bootstrap_DynamicResources{
			AdsConfig: &envoy_config_core_v3.ApiConfigSource{
				ApiType:                   envoy_config_core_v3.ApiConfigSource_GRPC,
				TransportApiVersion:       envoy_config_core_v3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*envoy_config_core_v3.GrpcService{{TargetSpecifier: &envoy_config_core_v3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &envoy_config_core_v3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName},
				}}},
			},
			CdsConfig: ads,
			LdsConfig: proto.Clone(ads).(*envoy_config_core_v3.ConfigSource),
		},
		StaticResources: &envoy_config_bootstrap_v3.Bootstrap_StaticResources{
			Clusters:  []*envoy_config_cluster_v3.Cluster{xdsCluster, adminCluster},
			Listeners: []*envoy_config_listener_v3.Listener{stats},
		},
	}
	if o.RegexProgramSizeLimit < 0 {
		return nil, fmt.Errorf("bootstrap: regex program size limit %d: must not be negative", o.RegexProgramSizeLimit)
	}
	if o.RegexProgramSizeLimit > 0 {
		b.LayeredRuntime = regexRuntime(o.RegexProgramSizeLimit)
	}
	return b, nil
}

// Names of the secrets a TLS secrets file holds (BootstrapOptions.TLSSecretsFile).
const (
	XDSClientCertificateSecret = "foresight_xds_client_certificate"
	XDSTrustedCASecret         = "foresight_xds_trusted_ca"
)

// controlPlaneTLS is the transport socket of the control plane's cluster: TLS offering h2,
// the server's certificate verified against c.CAFile and required to name host (Envoy checks
// no name unless told to), and the client certificate of c when it has one. With
// secretsFile, the CA bundle and the client certificate are SDS secrets read from that file
// (TLSSecrets), so that Envoy follows changes of their files.
func controlPlaneTLS(c Channel, host, secretsFile string) (*envoy_config_core_v3.TransportSocket, error) {
	if c.CAFile == "" {
		return nil, errors.New("bootstrap: tls to the control plane needs its CA bundle (--xds-ca-file): Envoy verifies nothing without one")
	}
	san := &envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher{SanType: envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher_DNS,
		Matcher: &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_Exact{Exact: host}}}
	sni := host
	if net.ParseIP(host) != nil {
		san.SanType, sni = envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher_IP_ADDRESS, ""
	}
	common := &envoy_extensions_transport_sockets_tls_v3.CommonTlsContext{AlpnProtocols: []string{"h2"}}
	if secretsFile == "" {
		common.ValidationContextType = &envoy_extensions_transport_sockets_tls_v3.CommonTlsContext_ValidationContext{ValidationContext: &envoy_extensions_transport_sockets_tls_v3.CertificateValidationContext{
			TrustedCa:                 fileSource(c.CAFile),
			MatchTypedSubjectAltNames: []*envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher{san},
		}}
		if c.CertFile != "" {
			common.TlsCertificates = []*envoy_extensions_transport_sockets_tls_v3.TlsCertificate{{CertificateChain: fileSource(c.CertFile), PrivateKey: fileSource(c.KeyFile)}}
		}
	} else {
		if ext := filepath.Ext(secretsFile); ext != ".json" && ext != ".yaml" && ext != ".yml" {
			return nil, fmt.Errorf("bootstrap: TLS secrets file %q: its name must end in .json or .yaml (Envoy reads it by its extension)", secretsFile)
		}
		sds := func(name string) *envoy_extensions_transport_sockets_tls_v3.SdsSecretConfig {
			return &envoy_extensions_transport_sockets_tls_v3.SdsSecretConfig{Name: name, SdsConfig: &envoy_config_core_v3.ConfigSource{
				ResourceApiVersion:    envoy_config_core_v3.ApiVersion_V3,
				ConfigSourceSpecifier: &envoy_config_core_v3.ConfigSource_PathConfigSource{PathConfigSource: &envoy_config_core_v3.PathConfigSource{Path: secretsFile}},
			}}
		}
		// The SAN check stays here; the CA bundle comes from the secret.
		common.ValidationContextType = &envoy_extensions_transport_sockets_tls_v3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &envoy_extensions_transport_sockets_tls_v3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &envoy_extensions_transport_sockets_tls_v3.CertificateValidationContext{
				MatchTypedSubjectAltNames: []*envoy_extensions_transport_sockets_tls_v3.SubjectAltNameMatcher{san}},
			ValidationContextSdsSecretConfig: sds(XDSTrustedCASecret),
		}}
		if c.CertFile != "" {
			common.TlsCertificateSdsSecretConfigs = []*envoy_extensions_transport_sockets_tls_v3.SdsSecretConfig{sds(XDSClientCertificateSecret)}
		}
	}
	ctx, err := anypb.New(&envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext{CommonTlsContext: common, Sni: sni})
	if err != nil {
		return nil, err
	}
	return &envoy_config_core_v3.TransportSocket{Name: translate.TLSTransportSocket,
		ConfigType: &envoy_config_core_v3.TransportSocket_TypedConfig{TypedConfig: ctx}}, nil
}

// fileSource is a data source that reads the file name.
func fileSource(name string) *envoy_config_core_v3.DataSource {
	return &envoy_config_core_v3.DataSource{Specifier: &envoy_config_core_v3.DataSource_Filename{Filename: name}}
}

// TLSSecrets is the content of BootstrapOptions.TLSSecretsFile for o's channel: the secret
// XDSTrustedCASecret with the CA bundle and, with a client certificate,
// XDSClientCertificateSecret with it and its key, all by file name. Envoy reads the files
// again when their directories change (it watches each file's directory).
func TLSSecrets(o BootstrapOptions) (*discovery.DiscoveryResponse, error) {
	if secure, err := o.Channel.tls(); err != nil || !secure || o.Channel.CAFile == "" {
		return nil, errors.New("bootstrap: TLS secrets need tls channel credentials and a CA bundle")
	}
	secrets := []*envoy_extensions_transport_sockets_tls_v3.Secret{{Name: XDSTrustedCASecret,
		Type: &envoy_extensions_transport_sockets_tls_v3.Secret_ValidationContext{ValidationContext: &envoy_extensions_transport_sockets_tls_v3.CertificateValidationContext{
			TrustedCa: fileSource(o.Channel.CAFile)}}}}
	if o.Channel.CertFile != "" {
		secrets = append(secrets, &envoy_extensions_transport_sockets_tls_v3.Secret{Name: XDSClientCertificateSecret,
			Type: &envoy_extensions_transport_sockets_tls_v3.Secret_TlsCertificate{TlsCertificate: &envoy_extensions_transport_sockets_tls_v3.TlsCertificate{
				CertificateChain: fileSource(o.Channel.CertFile), PrivateKey: fileSource(o.Channel.KeyFile)}}})
	}
	resp := &discovery.DiscoveryResponse{TypeUrl: resourcev3.SecretType}
	for _, sec := range secrets {
		a, err := anypb.New(sec)
		if err != nil {
			return nil, err
		}
		resp.Resources = append(resp.Resources, a)
	}
	return resp, nil
}

// regexRuntime is a layered runtime that sets re2.max_program_size.error_level to limit,
// with an admin layer after it so that /runtime_modify keeps working as without one.
func regexRuntime(limit int) *envoy_config_bootstrap_v3.LayeredRuntime {
	return &envoy_config_bootstrap_v3.LayeredRuntime{Layers: []*envoy_config_bootstrap_v3.RuntimeLayer{
		{Name: "foresight", LayerSpecifier: &envoy_config_bootstrap_v3.RuntimeLayer_StaticLayer{StaticLayer: &structpb.Struct{Fields: map[string]*structpb.Value{
			"re2.max_program_size.error_level": structpb.NewNumberValue(float64(limit)),
		}}}},
		{Name: "admin", LayerSpecifier: &envoy_config_bootstrap_v3.RuntimeLayer_AdminLayer_{AdminLayer: &envoy_config_bootstrap_v3.RuntimeLayer_AdminLayer{}}},
	}}
}

func socket(addr string, port uint32) *envoy_config_core_v3.Address {
	return &envoy_config_core_v3.Address{Address: &envoy_config_core_v3.Address_SocketAddress{SocketAddress: &envoy_config_core_v3.SocketAddress{
		Address: addr, PortSpecifier: &envoy_config_core_v3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func staticAssignment(name, host string, port uint32) *envoy_config_endpoint_v3.ClusterLoadAssignment {
	return &envoy_config_endpoint_v3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*envoy_config_endpoint_v3.LocalityLbEndpoints{{
		LbEndpoints: []*envoy_config_endpoint_v3.LbEndpoint{{HostIdentifier: &envoy_config_endpoint_v3.LbEndpoint_Endpoint{
			Endpoint: &envoy_config_endpoint_v3.Endpoint{Address: socket(host, port)},
		}}},
	}}}
}

// statsListener exposes exactly GET /stats/prometheus of the loopback admin interface.
func statsListener(port uint32) (*envoy_config_listener_v3.Listener, error) {
	router, err := anypb.New(&envoy_extensions_filters_http_router_v3.Router{})
	if err != nil {
		return nil, err
	}
	hcm, err := anypb.New(&envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager{
		StatPrefix: "prometheus_stats",
		RouteSpecifier: &envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_RouteConfig{RouteConfig: &envoy_config_route_v3.RouteConfiguration{
			Name: "prometheus_stats",
			VirtualHosts: []*envoy_config_route_v3.VirtualHost{{
				Name: "prometheus_stats", Domains: []string{"*"},
				Routes: []*envoy_config_route_v3.Route{{
					Match: &envoy_config_route_v3.RouteMatch{
						PathSpecifier: &envoy_config_route_v3.RouteMatch_Path{Path: "/stats/prometheus"},
						Headers:       []*envoy_config_route_v3.HeaderMatcher{{Name: ":method", HeaderMatchSpecifier: &envoy_config_route_v3.HeaderMatcher_StringMatch{StringMatch: &envoy_type_matcher_v3.StringMatcher{MatchPattern: &envoy_type_matcher_v3.StringMatcher_Exact{Exact: "GET"}}}}},
					},
					Action: &envoy_config_route_v3.Route_Route{Route: &envoy_config_route_v3.RouteAction{
						ClusterSpecifier: &envoy_config_route_v3.RouteAction_Cluster{Cluster: AdminClusterName},
					}},
				}},
			}},
		}},
		HttpFilters: []*envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter{{
			Name: "envoy.filters.http.router", ConfigType: &envoy_extensions_filters_network_http_connection_manager_v3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	})
	if err != nil {
		return nil, err
	}
	return &envoy_config_listener_v3.Listener{
		Name:    StatsListener,
		Address: socket("0.0.0.0", port),
		FilterChains: []*envoy_config_listener_v3.FilterChain{{Filters: []*envoy_config_listener_v3.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &envoy_config_listener_v3.Filter_TypedConfig{TypedConfig: hcm},
		}}}},
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(32 * 1024),
	}, nil
}
