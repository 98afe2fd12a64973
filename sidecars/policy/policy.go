// Package policy is Foresight's traffic policy model: a Kubernetes-style YAML document
// (apiVersion foresight.dev/v1alpha1, kind TrafficPolicy) describing services and their
// endpoints, gateway virtual hosts and routes, resilience settings (timeouts, retries,
// circuit breakers, outlier detection, local rate limits), JWT authentication, tracing,
// access logs, fault injection and the node groups that decide which proxy gets which
// configuration.
//
// Parsing is strict (unknown keys are errors) and every error names the file, the line and
// the field path, for example
//
//	policy.yaml:23: spec.virtualHosts[0].routes[2].backends[0].service: unknown service "web"
//
// The model has no I/O beyond Load and no package-level state; translate turns it into Envoy
// resources.
package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// APIVersion is the only apiVersion a TrafficPolicy document may carry.
const APIVersion = "foresight.dev/v1alpha1"

// Kind is the only kind a policy document may carry.
const Kind = "TrafficPolicy"

// Policy is one TrafficPolicy document.
type Policy struct {
	// APIVersion must be APIVersion.
	APIVersion string `yaml:"apiVersion"`
	// Kind must be Kind.
	Kind string `yaml:"kind"`
	// Metadata names the policy.
	Metadata Metadata `yaml:"metadata"`
	// Spec is the traffic configuration.
	Spec Spec `yaml:"spec"`

	// src maps field paths to source lines; nil for policies built in code.
	src *source
}

// Metadata is the Kubernetes-style object metadata of a policy.
type Metadata struct {
	// Name of the policy; required.
	Name string `yaml:"name"`
	// Namespace is the default namespace of services that name none. Default "default".
	Namespace string `yaml:"namespace,omitempty"`
	// Labels are free-form labels.
	Labels map[string]string `yaml:"labels,omitempty"`
}

// Spec is the body of a policy.
type Spec struct {
	// Services are the upstream services proxies route to.
	Services []Service `yaml:"services,omitempty"`
	// VirtualHosts are the gateway's virtual hosts with their routes.
	VirtualHosts []VirtualHost `yaml:"virtualHosts,omitempty"`
	// NodeGroups decide which proxy gets which listeners. When empty, Default creates one
	// sidecar group per service, named after the service.
	NodeGroups []NodeGroup `yaml:"nodeGroups,omitempty"`
	// Authentication holds the JWT providers routes and services may require.
	Authentication *Authentication `yaml:"authentication,omitempty"`
	// Tracing configures request tracing for every Envoy listener.
	Tracing *Tracing `yaml:"tracing,omitempty"`
	// AccessLog configures access logs for every Envoy listener.
	AccessLog *AccessLog `yaml:"accessLog,omitempty"`
	// Canaries are progressive rollouts on routes, guarded by Prometheus analysis.
	Canaries []Canary `yaml:"canaries,omitempty"`
}

// Protocol is the application protocol a service speaks.
type Protocol string

// Protocols a service may speak.
const (
	ProtocolHTTP1 Protocol = "http1"
	ProtocolHTTP2 Protocol = "http2"
	ProtocolGRPC  Protocol = "grpc"
)

// DiscoveryKind says where a service's endpoints come from.
type DiscoveryKind string

// Discovery kinds.
const (
	// DiscoveryStatic takes the endpoints from Service.Endpoints.
	DiscoveryStatic DiscoveryKind = "static"
	// DiscoveryKubernetes takes the endpoints from the EndpointSlices of the Kubernetes
	// Service Namespace/Name, port Service.PortName (or Service.Port when empty).
	DiscoveryKubernetes DiscoveryKind = "kubernetes"
)

// Service is an upstream service. Its Envoy cluster and ClusterLoadAssignment are both named
// ClusterName() ("name.namespace").
type Service struct {
	// Name is a DNS label (lowercase letters, digits, '-'); required and unique.
	Name string `yaml:"name"`
	// Namespace defaults to metadata.namespace.
	Namespace string `yaml:"namespace,omitempty"`
	// Port is the port clients address the service on; required. The service's virtual host
	// answers "name", "name:port", "name.namespace", "name.namespace.svc.cluster.local"
	// (with and without the port) and Hosts.
	Port uint32 `yaml:"port"`
	// PortName is the EndpointSlice port name for kubernetes discovery (optional).
	PortName string `yaml:"portName,omitempty"`
	// KubernetesService is the Kubernetes Service (in Namespace) whose EndpointSlices give
	// the endpoints with kubernetes discovery. Default: Name.
	KubernetesService string `yaml:"kubernetesService,omitempty"`
	// AppPort is the port of the local application behind the service's sidecar; the sidecar's
	// inbound listener forwards to 127.0.0.1:AppPort. Default: Port.
	AppPort uint32 `yaml:"appPort,omitempty"`
	// Protocol is http1 (default), http2 or grpc.
	Protocol Protocol `yaml:"protocol,omitempty"`
	// Discovery is static (default when Endpoints are given) or kubernetes.
	Discovery DiscoveryKind `yaml:"discovery,omitempty"`
	// Endpoints are the static endpoints.
	Endpoints []Endpoint `yaml:"endpoints,omitempty"`
	// Hosts are extra domain names of the service's virtual host (and, for proxyless gRPC
	// groups, extra api_listener names).
	Hosts []string `yaml:"hosts,omitempty"`
	// TLS makes connections to the service use TLS.
	TLS *UpstreamTLS `yaml:"tls,omitempty"`
	// Routes are the routes of the service's virtual host on sidecars and gRPC clients. When
	// empty, one route with prefix "/" sends everything to the service.
	Routes []Route `yaml:"routes,omitempty"`
	// RoutesForClients says that Routes route the requests of the service's clients only:
	// the service's own sidecar forwards every request it receives to its application, as
	// it does for a service without routes. Only the Gateway API translation sets it, for
	// the routes whose parent is the service's Kubernetes Service (mesh routes).
	RoutesForClients bool `yaml:"-"`
	// ConnectTimeout bounds TCP connection setup. Default 5s.
	ConnectTimeout Duration `yaml:"connectTimeout,omitempty"`
	// Timeout is the default request timeout of the service's routes (0: Envoy's default).
	Timeout Duration `yaml:"timeout,omitempty"`
	// Retries is the default retry policy of the service's routes.
	Retries *Retries `yaml:"retries,omitempty"`
	// CircuitBreaker limits the traffic to the service.
	CircuitBreaker *CircuitBreaker `yaml:"circuitBreaker,omitempty"`
	// OutlierDetection ejects failing endpoints.
	OutlierDetection *OutlierDetection `yaml:"outlierDetection,omitempty"`
	// RateLimit is a local rate limit applied by the service's own sidecar (inbound).
	RateLimit *RateLimit `yaml:"rateLimit,omitempty"`
	// JWT requires JWT authentication on the service's inbound routes.
	JWT *JWTRequirement `yaml:"jwt,omitempty"`
	// Fault injects faults into every request clients send to the service.
	Fault *Fault `yaml:"fault,omitempty"`
}

// Endpoint is one static endpoint of a service.
type Endpoint struct {
	// Address is an IP address or a host name; required.
	Address string `yaml:"address"`
	// Port defaults to the service's Port.
	Port uint32 `yaml:"port,omitempty"`
	// Weight is the load-balancing weight, default 1.
	Weight uint32 `yaml:"weight,omitempty"`
	// Zone is the locality zone (optional).
	Zone string `yaml:"zone,omitempty"`
}

// UpstreamTLS configures TLS towards a service. The server's certificate is verified: it
// must chain to CAFile (or CACertificates) and carry SNI as a DNS subject alternative name,
// or one of SubjectAltNames when they are set.
type UpstreamTLS struct {
	// SNI is the server name sent and verified; default the first of Hosts, else the
	// service name.
	SNI string `yaml:"sni,omitempty"`
	// CAFile is the trusted CA bundle on the proxy. Default DefaultCAFile (the system bundle
	// of the Envoy image) unless CACertificates are set.
	CAFile string `yaml:"caFile,omitempty"`
	// CACertificates, when set, are the PEM certificates of the trusted CAs, sent to the
	// proxy instead of CAFile. Only the Gateway API translation sets them, from the
	// ConfigMaps of a BackendTLSPolicy it has validated.
	CACertificates []byte `yaml:"-"`
	// SubjectAltNames, when set, are the names the server's certificate must carry one of,
	// instead of SNI: DNS names (a certificate's wildcard name matches as usual) or URIs with
	// a scheme (spiffe://cluster.local/ns/shop/sa/auth).
	SubjectAltNames []string `yaml:"subjectAltNames,omitempty"`
}

// MaxSubjectAltNames bounds an upstream's SubjectAltNames.
const MaxSubjectAltNames = 16

// IsURISubjectAltName reports whether a subject alternative name of UpstreamTLS is a URI
// (it has a scheme) rather than a DNS name.
func IsURISubjectAltName(san string) bool { return strings.Contains(san, "://") }

// DefaultCAFile is the CA bundle upstream TLS trusts by default.
const DefaultCAFile = "/etc/ssl/certs/ca-certificates.crt"

// VirtualHost is a gateway virtual host.
type VirtualHost struct {
	// Name is unique among virtual hosts; required.
	Name string `yaml:"name"`
	// Domains are the Host header values served ("*" for any); required.
	Domains []string `yaml:"domains"`
	// Routes are matched in order; required.
	Routes []Route `yaml:"routes"`
	// RateLimit is a local rate limit for the whole virtual host.
	RateLimit *RateLimit `yaml:"rateLimit,omitempty"`
	// JWT requires JWT authentication on every route of the virtual host.
	JWT *JWTRequirement `yaml:"jwt,omitempty"`
}

// Route matches requests and says what to do with them: send them to weighted backends,
// redirect them, or answer directly.
type Route struct {
	// Name is unique across the policy (fault targets refer to it); required.
	Name string `yaml:"name"`
	// Match selects requests. Default: prefix "/".
	Match Match `yaml:"match,omitempty"`
	// Backends are the weighted services (canary). In a service's routes the default is the
	// service itself. Exactly one of Backends, Redirect, DirectResponse.
	Backends []Backend `yaml:"backends,omitempty"`
	// Rewrite changes the request before it is forwarded.
	Rewrite *Rewrite `yaml:"rewrite,omitempty"`
	// Redirect answers with an HTTP redirect.
	Redirect *Redirect `yaml:"redirect,omitempty"`
	// DirectResponse answers with a fixed response.
	DirectResponse *DirectResponse `yaml:"directResponse,omitempty"`
	// Timeout is the request timeout (for proxyless gRPC: max_stream_duration). Default: the
	// backend service's timeout.
	Timeout Duration `yaml:"timeout,omitempty"`
	// NoTimeout lifts every request timeout of the route (the service's, and Envoy's default
	// of 15 s); Timeout must then be 0.
	NoTimeout bool `yaml:"noTimeout,omitempty"`
	// BackendTimeout bounds each request to a backend (the Gateway API's
	// timeouts.backendRequest). With retries (the route's or its backend service's), it is
	// each attempt's timeout, over their perTryTimeout, and Timeout bounds them all (the
	// attempts do, without Timeout); without retries, and for proxyless gRPC clients, one
	// request to a backend is the whole exchange, so the route's timeout is the smaller of
	// the two. Only the Gateway API translation sets it (a policy file sets
	// retries.perTryTimeout).
	BackendTimeout Duration `yaml:"-"`
	// IdleTimeout is the stream idle timeout of the route (Envoy only).
	IdleTimeout Duration `yaml:"idleTimeout,omitempty"`
	// Retries overrides the backend service's retry policy.
	Retries *Retries `yaml:"retries,omitempty"`
	// RateLimit is a local rate limit for the route.
	RateLimit *RateLimit `yaml:"rateLimit,omitempty"`
	// JWT requires (or, with disabled, waives) JWT authentication on the route.
	JWT *JWTRequirement `yaml:"jwt,omitempty"`
	// Fault injects faults into requests on the route.
	Fault *Fault `yaml:"fault,omitempty"`
	// RequestHeaders change the headers of the requests the route forwards, and
	// ResponseHeaders those of its responses (Envoy only: grpc-go ignores both).
	RequestHeaders  *HeaderChanges `yaml:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderChanges `yaml:"responseHeaders,omitempty"`
	// Mirrors send copies of a share of the forwarded requests to other services, whose
	// responses are ignored (Envoy only: grpc-go does not mirror).
	Mirrors []Mirror `yaml:"mirrors,omitempty"`
	// CORS answers browsers' cross-origin checks (Envoy only).
	CORS *CORS `yaml:"cors,omitempty"`
	// HeadersOfCanary names the canary whose Headers this route serves, on the routes
	// WithCanaryHeaderRoutes adds; never set in a policy file.
	HeadersOfCanary string `yaml:"-" json:"-"`
}

// Match selects requests. At most one of Prefix, Exact and Regex.
type Match struct {
	// Prefix matches the path prefix.
	Prefix string `yaml:"prefix,omitempty"`
	// Exact matches the whole path.
	Exact string `yaml:"exact,omitempty"`
	// Regex matches the whole path with an RE2 regular expression.
	Regex string `yaml:"regex,omitempty"`
	// SegmentPrefix matches the path that is this value or continues below it after a
	// "/": whole path segments, so "/api" matches /api and /api/v1, not /apis. It starts
	// with "/" and does not end with one.
	SegmentPrefix string `yaml:"segmentPrefix,omitempty"`
	// Headers must all match.
	Headers []HeaderMatch `yaml:"headers,omitempty"`
	// Query parameters must all match.
	Query []QueryMatch `yaml:"query,omitempty"`
}

// SegmentPrefixRegex is the RE2 regular expression of the paths a segment prefix matches:
// the prefix itself, or the prefix followed by "/" and anything.
func SegmentPrefixRegex(prefix string) string { return regexp.QuoteMeta(prefix) + "(/.*)?" }

// HeaderMatch matches one request header. Exactly one of Exact, Prefix, Suffix, Regex,
// Present.
type HeaderMatch struct {
	// Name of the header; required.
	Name string `yaml:"name"`
	// Exact value.
	Exact string `yaml:"exact,omitempty"`
	// Prefix of the value.
	Prefix string `yaml:"prefix,omitempty"`
	// Suffix of the value.
	Suffix string `yaml:"suffix,omitempty"`
	// Regex (RE2) matching the whole value.
	Regex string `yaml:"regex,omitempty"`
	// Present matches on presence (true) or absence (false).
	Present *bool `yaml:"present,omitempty"`
	// Invert inverts the match.
	Invert bool `yaml:"invert,omitempty"`
}

// QueryMatch matches one query parameter. Exactly one of Exact, Regex, Present.
type QueryMatch struct {
	// Name of the parameter; required.
	Name string `yaml:"name"`
	// Exact value.
	Exact string `yaml:"exact,omitempty"`
	// Regex (RE2) matching the whole value.
	Regex string `yaml:"regex,omitempty"`
	// Present matches when the parameter is present.
	Present bool `yaml:"present,omitempty"`
}

// MaxWeightSum is the largest sum of a route's backend weights: Envoy and grpc-go refuse
// weighted clusters whose weights sum to more than a uint32 holds.
const MaxWeightSum = 1<<32 - 1

// Backend is one weighted destination of a route.
type Backend struct {
	// Service names a service of the policy; required unless Unresolved is set.
	Service string `yaml:"service,omitempty"`
	// Weight is relative, as in Envoy and the Gateway API: the backend gets Weight over the
	// sum of its route's weights of the requests. The sum must be 1..MaxWeightSum; percents
	// that sum to 100 are the usual way to write them. A single backend may omit it (it
	// then gets 100).
	Weight uint32 `yaml:"weight,omitempty"`
	// Unresolved marks the share of a reference that names no usable service (a Gateway
	// API backendRef that does not resolve): requests that would have gone there are
	// answered with HTTP 500 by Envoy and fail with UNAVAILABLE on proxyless gRPC clients,
	// instead of being sent to the other backends. Service must then be empty.
	Unresolved bool `yaml:"unresolved,omitempty"`
	// RequestHeaders change the headers of the requests sent to this backend, and
	// ResponseHeaders those of its responses, after the route's own changes, so a header
	// both change takes the backend's (Envoy only: grpc-go ignores both). A canary's
	// stable and canary backends keep theirs through every step.
	RequestHeaders  *HeaderChanges `yaml:"requestHeaders,omitempty"`
	ResponseHeaders *HeaderChanges `yaml:"responseHeaders,omitempty"`
}

// HasHeaderChanges says whether the backend changes headers.
func (b Backend) HasHeaderChanges() bool { return b.RequestHeaders != nil || b.ResponseHeaders != nil }

// Rewrite changes a forwarded request.
type Rewrite struct {
	// Prefix replaces the matched path prefix (route match must be a prefix match).
	Prefix string `yaml:"prefix,omitempty"`
	// Path replaces the whole path (the query is kept); at most one of Prefix and Path.
	Path string `yaml:"path,omitempty"`
	// Host replaces the Host/:authority header.
	Host string `yaml:"host,omitempty"`
}

// Redirect answers with an HTTP redirect.
type Redirect struct {
	// Scheme is "http" or "https" (optional).
	Scheme string `yaml:"scheme,omitempty"`
	// Host replaces the host (optional).
	Host string `yaml:"host,omitempty"`
	// Port replaces the port (optional).
	Port uint32 `yaml:"port,omitempty"`
	// Path replaces the whole path (optional; not with Prefix).
	Path string `yaml:"path,omitempty"`
	// Prefix replaces the matched prefix (optional; not with Path).
	Prefix string `yaml:"prefix,omitempty"`
	// Code is 301 (default), 302, 303, 307 or 308.
	Code uint32 `yaml:"code,omitempty"`
	// StripQuery drops the query string.
	StripQuery bool `yaml:"stripQuery,omitempty"`
	// AllowSameURL accepts a redirect that changes only the status code, as the Gateway API
	// does. Only the Gateway API translation sets it; in a policy file such a redirect is
	// refused, as it loops.
	AllowSameURL bool `yaml:"-"`
}

// DirectResponse answers with a fixed response.
type DirectResponse struct {
	// Status is the HTTP status, 200..599; required.
	Status uint32 `yaml:"status"`
	// Body is the response body (optional), at most MaxDirectResponseBody bytes.
	Body string `yaml:"body,omitempty"`
}

// MaxDirectResponseBody is the largest direct response body: Envoy refuses a route
// configuration with a longer one (its default max_direct_response_body_size_bytes).
const MaxDirectResponseBody = 4096

// Retries is a retry policy.
type Retries struct {
	// On lists retry conditions: HTTP ones (5xx, gateway-error, reset, connect-failure,
	// retriable-4xx, refused-stream, retriable-status-codes) and gRPC ones (cancelled,
	// deadline-exceeded, internal, resource-exhausted, unavailable). Default
	// ["connect-failure", "refused-stream", "unavailable"]. Proxyless gRPC clients use only the
	// gRPC ones.
	On []string `yaml:"on,omitempty"`
	// Count is the number of retries (not attempts), 1..10. Default 1.
	Count uint32 `yaml:"count,omitempty"`
	// PerTryTimeout bounds each attempt (Envoy only; optional).
	PerTryTimeout Duration `yaml:"perTryTimeout,omitempty"`
	// StatusCodes are the HTTP status codes for retriable-status-codes.
	StatusCodes []uint32 `yaml:"statusCodes,omitempty"`
	// Backoff sets the exponential backoff between attempts (optional).
	Backoff *Backoff `yaml:"backoff,omitempty"`
}

// Backoff is an exponential retry backoff.
type Backoff struct {
	// Base is the base interval (> 0). Default 25ms.
	Base Duration `yaml:"base,omitempty"`
	// Max is the maximum interval (>= Base). Default 10 x Base.
	Max Duration `yaml:"max,omitempty"`
}

// CircuitBreaker limits the traffic to a service (Envoy's default thresholds). Zero fields
// are left at Envoy's defaults (1024 each), except MaxRetries: without it, the concurrent
// retries are limited by a retry budget (a share of the active requests) instead of Envoy's 3.
type CircuitBreaker struct {
	// MaxConnections limits the connections to the service.
	MaxConnections uint32 `yaml:"maxConnections,omitempty"`
	// MaxPendingRequests limits the requests waiting for a connection.
	MaxPendingRequests uint32 `yaml:"maxPendingRequests,omitempty"`
	// MaxRequests limits the concurrent requests (honoured by proxyless gRPC clients).
	MaxRequests uint32 `yaml:"maxRequests,omitempty"`
	// MaxRetries limits the concurrent retries to a fixed number instead of the retry budget
	// (0: the budget).
	MaxRetries uint32 `yaml:"maxRetries,omitempty"`
}

// OutlierDetection ejects failing endpoints of a service. Each detector is enabled only when
// configured.
type OutlierDetection struct {
	// Consecutive5xx ejects an endpoint after this many consecutive 5xx (Envoy only; 0: off).
	Consecutive5xx uint32 `yaml:"consecutive5xx,omitempty"`
	// Interval between ejection sweeps. Default 10s.
	Interval Duration `yaml:"interval,omitempty"`
	// BaseEjectionTime is the base ejection duration. Default 30s.
	BaseEjectionTime Duration `yaml:"baseEjectionTime,omitempty"`
	// MaxEjectionPercent caps the share of ejected endpoints, 0..100. Default 10.
	MaxEjectionPercent uint32 `yaml:"maxEjectionPercent,omitempty"`
	// SuccessRate enables success-rate ejection.
	SuccessRate *SuccessRateEjection `yaml:"successRate,omitempty"`
	// FailurePercentage enables failure-percentage ejection.
	FailurePercentage *FailurePercentageEjection `yaml:"failurePercentage,omitempty"`
}

// SuccessRateEjection ejects endpoints whose success rate is below mean - factor x stdev.
type SuccessRateEjection struct {
	// MinimumHosts needed for the statistics. Default 5.
	MinimumHosts uint32 `yaml:"minimumHosts,omitempty"`
	// RequestVolume per endpoint per interval needed. Default 100.
	RequestVolume uint32 `yaml:"requestVolume,omitempty"`
	// StdevFactor in thousandths (1900 = 1.9). Default 1900.
	StdevFactor uint32 `yaml:"stdevFactor,omitempty"`
}

// FailurePercentageEjection ejects endpoints whose failure percentage exceeds Threshold.
type FailurePercentageEjection struct {
	// Threshold in percent, 0..100. Default 85.
	Threshold uint32 `yaml:"threshold,omitempty"`
	// MinimumHosts needed. Default 5.
	MinimumHosts uint32 `yaml:"minimumHosts,omitempty"`
	// RequestVolume per endpoint per interval needed. Default 50.
	RequestVolume uint32 `yaml:"requestVolume,omitempty"`
}

// RateLimit is a local token-bucket rate limit (Envoy only).
type RateLimit struct {
	// MaxTokens is the bucket size; required, > 0.
	MaxTokens uint32 `yaml:"maxTokens"`
	// TokensPerFill are added every FillInterval. Default MaxTokens.
	TokensPerFill uint32 `yaml:"tokensPerFill,omitempty"`
	// FillInterval is the refill period, at least MinFillInterval. Default 1s.
	FillInterval Duration `yaml:"fillInterval,omitempty"`
}

// MinFillInterval is the shortest refill period of a rate limit: Envoy refuses a local rate
// limit whose token bucket refills more often.
const MinFillInterval = 50 * time.Millisecond

// Authentication holds the JWT providers.
type Authentication struct {
	// JWTProviders are referred to by name from JWT requirements.
	JWTProviders []JWTProvider `yaml:"jwtProviders,omitempty"`
}

// JWTProvider verifies JWTs of one issuer (Envoy only).
type JWTProvider struct {
	// Name is unique; required.
	Name string `yaml:"name"`
	// Issuer is the required "iss" claim; required.
	Issuer string `yaml:"issuer"`
	// Audiences, when set, are the allowed "aud" values.
	Audiences []string `yaml:"audiences,omitempty"`
	// JWKS is where the keys come from; required.
	JWKS JWKS `yaml:"jwks"`
	// ForwardPayloadHeader, when set, forwards the verified payload in this header.
	ForwardPayloadHeader string `yaml:"forwardPayloadHeader,omitempty"`
}

// JWKS is an inline key set or a remote one. Exactly one of Inline and URI.
type JWKS struct {
	// Inline is the JWKS JSON document.
	Inline string `yaml:"inline,omitempty"`
	// URI is the remote JWKS address (http or https).
	URI string `yaml:"uri,omitempty"`
	// Service names the policy service that serves URI; required with URI.
	Service string `yaml:"service,omitempty"`
	// Timeout of the fetch. Default 5s.
	Timeout Duration `yaml:"timeout,omitempty"`
	// CacheDuration of the fetched keys. Default 5m.
	CacheDuration Duration `yaml:"cacheDuration,omitempty"`
}

// JWTRequirement requires a JWT from one of Providers, or waives the requirement.
type JWTRequirement struct {
	// Providers: a token from any one of them is accepted.
	Providers []string `yaml:"providers,omitempty"`
	// Disabled waives an inherited requirement (route level).
	Disabled bool `yaml:"disabled,omitempty"`
}

// Tracing configures OpenTelemetry tracing (Envoy only).
type Tracing struct {
	// Collector names the policy service (protocol grpc) of the OpenTelemetry collector;
	// required.
	Collector string `yaml:"collector"`
	// SamplingPercent is the share of requests traced, 0..100. Default 1.
	SamplingPercent *float64 `yaml:"samplingPercent,omitempty"`
	// ServiceName reported in spans. Default: the node group's name.
	ServiceName string `yaml:"serviceName,omitempty"`
}

// AccessLog configures access logs (Envoy only).
type AccessLog struct {
	// Output is "stdout" (default) or "stderr".
	Output string `yaml:"output,omitempty"`
	// Format is an Envoy format string ("%%" for a literal '%'; see FormatProblem); default
	// Envoy's default format.
	Format string `yaml:"format,omitempty"`
}

// NodeKind is the kind of proxy in a node group.
type NodeKind string

// Node kinds.
const (
	// NodeSidecar is an Envoy next to a service's application.
	NodeSidecar NodeKind = "sidecar"
	// NodeGateway is an Envoy at the edge.
	NodeGateway NodeKind = "gateway"
	// NodeGRPC is a proxyless gRPC client (grpc-go's xDS client).
	NodeGRPC NodeKind = "grpc"
)

// Default ports of node groups.
const (
	DefaultInboundPort  uint32 = 15006
	DefaultOutboundPort uint32 = 15001
	DefaultGatewayPort  uint32 = 8080
)

// NodeGroup is a set of proxies that get the same configuration. A proxy belongs to the first
// group whose Services contain its node cluster (the Envoy node's "cluster" field, set by
// foresight-xds bootstrap --service), or else whose Selector matches its node metadata.
type NodeGroup struct {
	// Name is unique; the translation result is keyed by it; required.
	Name string `yaml:"name"`
	// Kind is sidecar (default), gateway or grpc.
	Kind NodeKind `yaml:"kind,omitempty"`
	// Services are the node clusters that belong to the group. For sidecars they are policy
	// services: the group's inbound listener serves them.
	Services []string `yaml:"services,omitempty"`
	// Selector matches node metadata (all keys must be equal; booleans and numbers are
	// compared as text, "true", "2").
	Selector map[string]string `yaml:"selector,omitempty"`
	// Identities are the SPIFFE IDs (patterns: "*" for the trust domain or a whole path
	// segment) or DNS names (dns:NAME; "*" for a whole label) of the workloads that may join
	// the group when the control plane requires node identities (serve
	// --require-node-identity): a proxy's verified client certificate must name one of them. A group that lists none then admits no one. The Gateway API
	// translation gives each Gateway's groups the identities of the Gateway's namespace (its
	// Envoy group, with serve --gateway-service-account, only its proxies' ServiceAccount).
	Identities []string `yaml:"identities,omitempty"`
	// Upstreams are the services the group's proxies may call (sidecar outbound virtual
	// hosts, gRPC api_listeners). Default: every service (for a grpc group, every service
	// without tls).
	Upstreams []string `yaml:"upstreams,omitempty"`
	// VirtualHosts are the virtual hosts the group serves. In a policy file a gateway group
	// may name them here with Port as its one listener (SetDefaults moves both into
	// Listeners); a grpc group serves each domain of each listed virtual host as a target
	// (xds:///DOMAIN) besides its upstreams (default: none).
	VirtualHosts []string `yaml:"virtualHosts,omitempty"`
	// Port is the port of a gateway group's one listener when it lists no Listeners
	// (SetDefaults moves it into Listeners). Default 8080.
	Port uint32 `yaml:"port,omitempty"`
	// Listeners are a gateway group's listeners, each on its own port (gateway only). A
	// group that lists none has one, on Port serving VirtualHosts: after SetDefaults a
	// gateway group always has its listeners here, and Port and VirtualHosts are empty.
	Listeners []GatewayListener `yaml:"listeners,omitempty"`
	// NoListeners makes a gateway group that lists no Listeners have none (rather than one on
	// Port): its proxies join it and are served nothing until listeners are added. Only the
	// Gateway API translation sets it, for a Gateway whose TLS and TCP listeners wait for
	// their first route.
	NoListeners bool `yaml:"-"`
	// InboundPort is the sidecar's inbound listener port. Default 15006.
	InboundPort uint32 `yaml:"inboundPort,omitempty"`
	// OutboundPort is the sidecar's outbound (egress) listener port on 127.0.0.1.
	// Default 15001.
	OutboundPort uint32 `yaml:"outboundPort,omitempty"`
}

// GatewayListener is one listener of a gateway group.
type GatewayListener struct {
	// Port is the listener's port; required, distinct among the group's listeners.
	Port uint32 `yaml:"port"`
	// VirtualHosts are the virtual hosts the listener serves (default: all). Their domains
	// must be distinct on one listener; several listeners may serve the same domain.
	VirtualHosts []string `yaml:"virtualHosts,omitempty"`
	// TLSCertificates, when set, make the listener terminate TLS with these certificates
	// (the client's SNI selects one). Only the Gateway API translation sets them, from
	// Secrets it has validated; policy files cannot (keys do not belong there).
	TLSCertificates []TLSCertificate `yaml:"-"`
	// ClientCAs, when set, are the PEM certificates of the CAs a client's certificate must
	// chain to (the Gateway API's client certificate validation): a client without a valid
	// one is refused, unless ClientCertificateOptional. Only the Gateway API translation sets
	// them, on a listener with TLSCertificates.
	ClientCAs []byte `yaml:"-"`
	// ClientCertificateOptional lets in clients without a certificate or with one that does
	// not verify (the Gateway API's AllowInsecureFallback); the backends then decide.
	ClientCertificateOptional bool `yaml:"-"`
	// IgnorePortInHost makes the listener match the Host header without its port, as the
	// Gateway API requires. Only the Gateway API translation sets it; a policy file's
	// domains may name ports.
	IgnorePortInHost bool `yaml:"-"`
	// Connections, when set, make the listener forward whole connections instead of serving
	// HTTP (the Gateway API's TLS and TCP listeners): a connection goes to the backends of
	// the route whose server names match the TLS server name (SNI) of its ClientHello, the
	// most specific name first, or else to the route with no server names, which takes any
	// connection, TLS or not. With TLSCertificates the listener terminates TLS first and
	// forwards what it decrypts; without, the bytes pass through as they come. The listener
	// then serves no virtual hosts, unless it serves HTTPS beside them (ServerNames). Only the
	// Gateway API translation sets them.
	Connections []ConnectionRoute `yaml:"-"`
	// ServerNames, on a listener that serves virtual hosts with TLSCertificates and has
	// Connections too (the Gateway API's HTTPS and TLS listeners on one port), are the TLS
	// server names served HTTP before any connection route takes them (the HTTPS listeners'
	// hostnames); a connection whose server name no route takes is served HTTP as well,
	// unless a route takes every connection. Only the Gateway API translation sets them.
	ServerNames []string `yaml:"-"`
}

// ConnectionRoute forwards connections to weighted backends, without reading them but for
// the server name of a TLS ClientHello.
type ConnectionRoute struct {
	// Name is the route's name, unique on its listener (its statistics are named after it).
	Name string
	// ServerNames are the TLS server names the route takes: DNS names, or wildcards
	// ("*.example.com", one label or more in place of the "*"). None: every connection.
	ServerNames []string
	// Backends are the weighted services the connections go to, as a Route's: the share of
	// an unresolved backend is refused (the connection is closed).
	Backends []Backend
	// Passthrough makes the route pass TLS through on a listener that terminates it (with
	// TLSCertificates) for its other routes: the Gateway API's TLS listeners of both modes on
	// one port. It has no effect on a listener without certificates.
	Passthrough bool
}

// TLSCertificate is a PEM certificate chain and its private key.
type TLSCertificate struct {
	// Name says where the pair comes from (for example "namespace/secret").
	Name string
	// CertificateChain and PrivateKey are PEM.
	CertificateChain, PrivateKey []byte
}

// Fault is a fault to inject: a delay and/or an abort, optionally only for requests with
// matching headers.
type Fault struct {
	// Delay delays requests.
	Delay *FaultDelay `yaml:"delay,omitempty"`
	// Abort fails requests.
	Abort *FaultAbort `yaml:"abort,omitempty"`
	// Headers, when set, limit the fault to requests whose headers all match.
	Headers []HeaderMatch `yaml:"headers,omitempty"`
}

// FaultDelay delays a share of requests.
type FaultDelay struct {
	// Fixed is the delay; required, > 0.
	Fixed Duration `yaml:"fixed"`
	// Percent of requests delayed, 0..100; required.
	Percent float64 `yaml:"percent"`
}

// FaultAbort fails a share of requests. Exactly one of HTTPStatus and GRPCStatus.
type FaultAbort struct {
	// HTTPStatus is 200..599.
	HTTPStatus uint32 `yaml:"httpStatus,omitempty"`
	// GRPCStatus is a gRPC status code 1..16.
	GRPCStatus *uint32 `yaml:"grpcStatus,omitempty"`
	// Percent of requests aborted, 0..100; required.
	Percent float64 `yaml:"percent"`
}

// FaultTarget names what a fault overlays: exactly one of Route (a route name anywhere in
// the policy) and Service (all traffic to the service).
type FaultTarget struct {
	// Route is a route name.
	Route string `yaml:"route,omitempty"`
	// Service is a service name: the fault applies to all traffic sent to the service (on a
	// weighted route, to the service's share).
	Service string `yaml:"service,omitempty"`
}

// String renders the target as "route/NAME" or "service/NAME".
func (t FaultTarget) String() string {
	if t.Route != "" {
		return "route/" + t.Route
	}
	return "service/" + t.Service
}

// Duration is a time.Duration written in YAML as a Go duration string ("250ms", "5s").
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("duration must be a string like \"5s\"")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"250ms\", \"5s\")", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ClusterName is the name of the service's Envoy cluster and ClusterLoadAssignment:
// "name.namespace".
func (s *Service) ClusterName() string { return s.Name + "." + s.Namespace }

// Domains are the Host values the service's virtual host answers, each once: Envoy compares
// domains ignoring case and refuses a route configuration that holds one twice, so Hosts that
// repeat a name (as a grpc group's extra listener name "name.namespace" does) are left out.
func (s *Service) Domains() []string {
	p := fmt.Sprint(s.Port)
	names := []string{s.Name, s.Name + "." + s.Namespace, s.Name + "." + s.Namespace + ".svc",
		s.Name + "." + s.Namespace + ".svc.cluster.local"}
	out := make([]string, 0, 2*len(names)+len(s.Hosts))
	for _, n := range names {
		out = append(out, n, n+":"+p)
	}
	for _, h := range s.Hosts {
		if !slices.ContainsFunc(out, func(d string) bool { return strings.EqualFold(d, h) }) {
			out = append(out, h)
		}
	}
	return out
}

// Service returns the named service, or nil.
func (p *Policy) Service(name string) *Service {
	for i := range p.Spec.Services {
		if p.Spec.Services[i].Name == name {
			return &p.Spec.Services[i]
		}
	}
	return nil
}

// Group returns the named node group, or nil.
func (p *Policy) Group(name string) *NodeGroup {
	for i := range p.Spec.NodeGroups {
		if p.Spec.NodeGroups[i].Name == name {
			return &p.Spec.NodeGroups[i]
		}
	}
	return nil
}

// NodeGroup returns the group a proxy belongs to: the first group whose Services contain
// nodeCluster, else the first group with a non-empty Selector that nodeMetadata matches.
func (p *Policy) NodeGroup(nodeCluster string, nodeMetadata map[string]string) (group string, ok bool) {
	for _, g := range p.Spec.NodeGroups {
		for _, s := range g.Services {
			if s == nodeCluster {
				return g.Name, true
			}
		}
	}
	for _, g := range p.Spec.NodeGroups {
		if len(g.Selector) == 0 {
			continue
		}
		match := true
		for k, v := range g.Selector {
			if got, has := nodeMetadata[k]; !has || got != v {
				match = false
				break
			}
		}
		if match {
			return g.Name, true
		}
	}
	return "", false
}
