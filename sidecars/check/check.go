// Package check decides whether a node group's xDS resources may be served: every resource
// passes its generated field validation (ValidateAll), and the resources are consistent
// among themselves: every route configuration a listener names over RDS exists (also for
// proxyless gRPC api_listeners, which go-control-plane's Snapshot.Consistent ignores), every
// cluster a route, a JWT provider or a tracer names exists (but translate.UnresolvedCluster
// on a route that answers a missing cluster with 500), every EDS cluster has a
// ClusterLoadAssignment, regular expressions compile as RE2 (and, for Envoy, to a program no
// larger than Options.RegexProgramSizeLimit), weighted clusters carry weight,
// the router is the last HTTP filter, every typed_config unpacks into a known type (and passes
// its own ValidateAll), what Envoy refuses beyond field validation is absent (domains twice,
// changes to pseudo-headers or Host, header values and access log formats that are not
// format strings, direct response bodies over its limit, rate limits refilling more often
// than every 50 ms), per-route filter configuration (JWT requirements, rate limits, faults)
// is served only by listeners that run the filter and define the JWT requirement (otherwise
// the proxy silently ignores it), and proxyless gRPC listeners carry only filters grpc-go
// supports unless they are optional.
package check

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	envoy_config_accesslog_v3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_config_trace_v3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	envoy_extensions_access_loggers_stream_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	envoy_extensions_filters_http_jwt_authn_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	envoy_extensions_filters_http_local_ratelimit_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_extensions_filters_network_tcp_proxy_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	envoy_type_matcher_v3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	// The types that typed_config fields may hold must be registered to unpack them.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/re2prog"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// Problem is one inconsistency or invalid field, naming the resource it was found in.
type Problem struct {
	// Type is "listener", "route", "cluster" or "endpoint".
	Type string
	// Name is the resource's name.
	Name string
	// Msg says what is wrong.
	Msg string
}

// Error renders `listener "inbound": msg`.
func (p Problem) Error() string { return fmt.Sprintf("%s %q: %s", p.Type, p.Name, p.Msg) }

// Problems are every problem found in a set of resources; Check returns them as its error.
type Problems []Problem

// Error joins the problems, one a line.
func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// DefaultRegexProgramSizeLimit is Envoy's default re2.max_program_size.error_level: the
// largest RE2 program of a safe_regex it accepts.
const DefaultRegexProgramSizeLimit = 100

// Options say what the proxies are configured to accept. The zero value checks for Envoy's
// defaults.
type Options struct {
	// RegexProgramSizeLimit is the largest RE2 program (re2prog.ProgramSize) of a regex sent
	// to Envoy, the proxies' runtime re2.max_program_size.error_level: 0 is Envoy's default
	// (DefaultRegexProgramSizeLimit), a negative value checks no size. Proxyless gRPC clients
	// match with Go's regexp and have no such limit.
	RegexProgramSizeLimit int
}

// regexLimit is the program size limit o checks, 0 for none.
func (o Options) regexLimit() int {
	switch {
	case o.RegexProgramSizeLimit == 0:
		return DefaultRegexProgramSizeLimit
	case o.RegexProgramSizeLimit < 0:
		return 0
	}
	return o.RegexProgramSizeLimit
}

// Check validates one node group's resources for Envoy's defaults (the zero Options).
func Check(r *translate.Resources) error { return Options{}.Check(r) }

// Check validates one node group's resources and returns Problems listing every problem, or
// nil when they may be served.
func (o Options) Check(r *translate.Resources) error {
	c := &checker{
		opts:       o,
		routes:     make(map[string]bool, len(r.Routes)),
		clusters:   make(map[string]bool, len(r.Clusters)),
		endpoints:  make(map[string]bool, len(r.Endpoints)),
		grpcRoutes: map[string]bool{},
	}
	// The field validation of endpoints and clusters is independent of everything else; for
	// large configurations it runs on a second core.
	fields := &checker{}
	validateFields := func() {
		for _, e := range r.Endpoints {
			fields.validate("endpoint", e.GetClusterName(), e)
		}
		for _, cl := range r.Clusters {
			fields.validate("cluster", cl.GetName(), cl)
		}
	}
	var wg sync.WaitGroup
	if len(r.Endpoints)+len(r.Clusters) >= parallelThreshold {
		wg.Go(validateFields)
	} else {
		validateFields()
	}
	for _, e := range r.Endpoints {
		c.unique("endpoint", e.GetClusterName(), c.endpoints)
	}
	for _, cl := range r.Clusters {
		c.unique("cluster", cl.GetName(), c.clusters)
	}
	c.routeConfigs = make(map[string]*envoy_config_route_v3.RouteConfiguration, len(r.Routes))
	for _, rc := range r.Routes {
		c.validate("route", rc.GetName(), rc)
		c.unique("route", rc.GetName(), c.routes)
		c.routeConfigs[rc.GetName()] = rc
	}
	for _, cl := range r.Clusters {
		c.cluster(cl)
	}
	for _, e := range r.Endpoints {
		c.assignment(e)
	}
	for _, rc := range r.Routes {
		c.routeConfig("route", rc.GetName(), rc)
	}
	seen := make(map[string]bool, len(r.Listeners))
	for _, l := range r.Listeners {
		c.validate("listener", l.GetName(), l)
		c.unique("listener", l.GetName(), seen)
		if api := l.GetApiListener().GetApiListener(); api != nil {
			c.hcm(l.GetName(), api, true)
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if f.GetTypedConfig() == nil {
					continue
				}
				if f.GetTypedConfig().GetTypeUrl() == hcmTypeURL {
					c.hcm(l.GetName(), f.GetTypedConfig(), false)
				} else {
					c.unpack("listener", l.GetName(), "filter "+f.GetName(), f.GetTypedConfig())
				}
			}
		}
	}
	c.regexSizes()
	wg.Wait()
	if len(fields.problems)+len(c.problems) == 0 {
		return nil
	}
	return append(fields.problems, c.problems...)
}

// parallelThreshold is the number of endpoints and clusters from which their field
// validation runs concurrently with the rest of the check.
const parallelThreshold = 512

var hcmTypeURL = "type.googleapis.com/" + string((&envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager{}).ProtoReflect().Descriptor().FullName())

type checker struct {
	opts                        Options
	routes, clusters, endpoints map[string]bool
	// bigRegexes are the regexes over the program size limit, reported by regexSizes once
	// the listeners tell which route configurations only proxyless gRPC clients get.
	bigRegexes []bigRegex
	// envoyRoutes are the route configurations Envoy listeners name over RDS; apiListeners
	// are the listeners of proxyless gRPC clients.
	envoyRoutes, apiListeners map[string]bool
	// grpcRoutes are the route configurations of api_listeners already checked for what
	// grpc-go reads.
	grpcRoutes   map[string]bool
	problems     Problems
	routeConfigs map[string]*envoy_config_route_v3.RouteConfiguration
	// uses memoizes what each route configuration asks of its HTTP filters.
	uses map[*envoy_config_route_v3.RouteConfiguration]*filterUses
}

// filterUses is what a route configuration's per-filter configurations need from the HTTP
// connection managers that serve it.
type filterUses struct {
	// filters are the HTTP filter names with per-filter configuration.
	filters []string
	// jwtRequirements are the requirement names routes refer to.
	jwtRequirements []string
}

func (c *checker) add(typ, name, format string, args ...any) {
	c.problems = append(c.problems, Problem{Type: typ, Name: name, Msg: fmt.Sprintf(format, args...)})
}

type validatable interface{ ValidateAll() error }

// validate runs the generated field validation and reports each violation.
func (c *checker) validate(typ, name string, m validatable) {
	err := m.ValidateAll()
	if err == nil {
		return
	}
	var multi interface{ AllErrors() []error }
	if errors.As(err, &multi) {
		for _, e := range multi.AllErrors() {
			c.add(typ, name, "invalid: %v", e)
		}
		return
	}
	c.add(typ, name, "invalid: %v", err)
}

func (c *checker) unique(typ, name string, seen map[string]bool) {
	if seen[name] {
		c.add(typ, name, "duplicate name")
	}
	seen[name] = true
}

// unpack checks that a typed_config holds a known, well-formed message and returns it.
func (c *checker) unpack(typ, name, where string, a *anypb.Any) proto.Message {
	m, err := a.UnmarshalNew()
	if err != nil {
		c.add(typ, name, "%s: typed_config %s: %v", where, a.GetTypeUrl(), err)
		return nil
	}
	if v, ok := m.(validatable); ok {
		if err := v.ValidateAll(); err != nil {
			c.add(typ, name, "%s: %v", where, err)
		}
	}
	c.typed(typ, name, where, m)
	return m
}

// typed checks what Envoy refuses of a typed configuration beyond its field validation: a
// local rate limit whose token bucket refills more often than every 50 ms, a TCP proxy to a
// cluster the group does not have, and an access log format that is not a format string.
func (c *checker) typed(typ, name, where string, m proto.Message) {
	switch m := m.(type) {
	case *envoy_extensions_filters_http_local_ratelimit_v3.LocalRateLimit:
		if d := m.GetTokenBucket().GetFillInterval().AsDuration(); d > 0 && d < policy.MinFillInterval {
			c.add(typ, name, "%s: token bucket fill_interval %s is shorter than %s", where, d, policy.MinFillInterval)
		}
	case *envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy:
		clusters := []string{m.GetCluster()}
		if wc := m.GetWeightedClusters(); wc != nil {
			clusters = clusters[:0]
			for _, cw := range wc.GetClusters() {
				clusters = append(clusters, cw.GetName())
			}
		}
		for _, cl := range clusters {
			if !c.clusters[cl] {
				c.add(typ, name, "%s: cluster %q does not exist", where, cl)
			}
		}
	case *envoy_extensions_access_loggers_stream_v3.StdoutAccessLog:
		c.format(typ, name, where, m.GetLogFormat().GetTextFormatSource().GetInlineString())
	case *envoy_extensions_access_loggers_stream_v3.StderrAccessLog:
		c.format(typ, name, where, m.GetLogFormat().GetTextFormatSource().GetInlineString())
	}
}

func (c *checker) format(typ, name, where, f string) {
	if msg := policy.FormatProblem(f); msg != "" {
		c.add(typ, name, "%s: format %q: %s", where, f, msg)
	}
}

func (c *checker) cluster(cl *envoy_config_cluster_v3.Cluster) {
	name := cl.GetName()
	switch cl.GetType() {
	case envoy_config_cluster_v3.Cluster_EDS:
		cla := cl.GetEdsClusterConfig().GetServiceName()
		if cla == "" {
			cla = name
		}
		if !c.endpoints[cla] {
			c.add("cluster", name, "EDS cluster has no ClusterLoadAssignment %q", cla)
		}
		if cl.GetEdsClusterConfig().GetEdsConfig() == nil {
			c.add("cluster", name, "EDS cluster without eds_config")
		}
	case envoy_config_cluster_v3.Cluster_STATIC:
		if len(cl.GetLoadAssignment().GetEndpoints()) == 0 {
			c.add("cluster", name, "STATIC cluster without endpoints")
		}
	}
	keys := make([]string, 0, len(cl.GetTypedExtensionProtocolOptions()))
	for k := range cl.GetTypedExtensionProtocolOptions() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.unpack("cluster", name, "typed_extension_protocol_options "+k, cl.GetTypedExtensionProtocolOptions()[k])
	}
	if ts := cl.GetTransportSocket().GetTypedConfig(); ts != nil {
		c.unpack("cluster", name, "transport_socket", ts)
	}
}

// assignment checks what grpc-go requires of endpoints beyond field validation (it NACKs
// the whole response otherwise); Envoy accepts the same.
func (c *checker) assignment(cla *envoy_config_endpoint_v3.ClusterLoadAssignment) {
	name := cla.GetClusterName()
	ls := cla.GetEndpoints()
	for i, l := range ls {
		if l.GetLocality() == nil {
			c.add("endpoint", name, "locality %d has no locality ID (grpc-go rejects the response)", i)
		}
		if l.GetLoadBalancingWeight().GetValue() == 0 {
			c.add("endpoint", name, "locality %d has no load-balancing weight (grpc-go ignores it)", i)
		}
		for _, o := range ls[:i] {
			if o.GetPriority() == l.GetPriority() && o.GetLocality().GetRegion() == l.GetLocality().GetRegion() &&
				o.GetLocality().GetZone() == l.GetLocality().GetZone() && o.GetLocality().GetSubZone() == l.GetLocality().GetSubZone() {
				c.add("endpoint", name, "locality %d repeats the locality ID %v at priority %d (grpc-go rejects the response)", i, l.GetLocality(), l.GetPriority())
				break
			}
		}
	}
}

// hcm checks an HTTP connection manager of a listener.
func (c *checker) hcm(listener string, a *anypb.Any, api bool) {
	m := c.unpack("listener", listener, "http_connection_manager", a)
	h, ok := m.(*envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager)
	if !ok {
		if m != nil {
			c.add("listener", listener, "api_listener holds %s, not an HttpConnectionManager", a.GetTypeUrl())
		}
		return
	}
	switch rs := h.GetRouteSpecifier().(type) {
	case *envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_Rds:
		name := rs.Rds.GetRouteConfigName()
		if !c.routes[name] {
			c.add("listener", listener, "route configuration %q (RDS) does not exist", name)
		}
		if rs.Rds.GetConfigSource() == nil {
			c.add("listener", listener, "RDS without config_source")
		}
	case *envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_RouteConfig:
		c.routeConfig("listener", listener, rs.RouteConfig)
	default:
		c.add("listener", listener, "HTTP connection manager without routes (rds or route_config)")
	}
	var served *envoy_config_route_v3.RouteConfiguration
	switch rs := h.GetRouteSpecifier().(type) {
	case *envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_Rds:
		served = c.routeConfigs[rs.Rds.GetRouteConfigName()]
	case *envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager_RouteConfig:
		served = rs.RouteConfig
	}
	if api {
		c.mark(&c.apiListeners, listener)
	} else if served != nil {
		c.mark(&c.envoyRoutes, served.GetName())
	}
	if api && served != nil && !c.grpcRoutes[served.GetName()] {
		c.grpcRoutes[served.GetName()] = true
		c.grpcPathMatches(served)
	}
	filters := h.GetHttpFilters()
	if len(filters) == 0 || filters[len(filters)-1].GetName() != translate.RouterFilter {
		c.add("listener", listener, "the last HTTP filter must be %s", translate.RouterFilter)
	}
	present := make(map[string]bool, len(filters))
	var jwtConfig *envoy_extensions_filters_http_jwt_authn_v3.JwtAuthentication
	for _, f := range filters {
		present[f.GetName()] = true
		tc := f.GetTypedConfig()
		if tc == nil {
			continue
		}
		fm := c.unpack("listener", listener, "http filter "+f.GetName(), tc)
		if api && !f.GetIsOptional() && !grpcFilters[tc.GetTypeUrl()] {
			c.add("listener", listener, "http filter %s (%s) is not supported by grpc-go and not optional", f.GetName(), tc.GetTypeUrl())
		}
		if ja, ok := fm.(*envoy_extensions_filters_http_jwt_authn_v3.JwtAuthentication); ok {
			c.jwt(listener, ja)
			jwtConfig = ja
		}
	}
	if served != nil {
		// Per-route configuration of a filter that is not in the chain is silently ignored by
		// the proxy: a JWT requirement or rate limit that would never be enforced.
		u := c.filterUses(served)
		for _, f := range u.filters {
			if !present[f] {
				c.add("listener", listener, "route configuration %q configures HTTP filter %s, which the listener does not run", served.GetName(), f)
			}
		}
		for _, req := range u.jwtRequirements {
			if _, ok := jwtConfig.GetRequirementMap()[req]; jwtConfig != nil && !ok {
				c.add("listener", listener, "route configuration %q requires JWT requirement %q, which the listener's jwt_authn filter does not define", served.GetName(), req)
			}
		}
	}
	if t := h.GetTracing().GetProvider(); t != nil && t.GetTypedConfig() != nil {
		if otel, ok := c.unpack("listener", listener, "tracing provider", t.GetTypedConfig()).(*envoy_config_trace_v3.OpenTelemetryConfig); ok {
			if cl := otel.GetGrpcService().GetEnvoyGrpc().GetClusterName(); cl != "" && !c.clusters[cl] {
				c.add("listener", listener, "tracing collector cluster %q does not exist", cl)
			}
		}
	}
	for _, al := range h.GetAccessLog() {
		c.accessLog(listener, al)
	}
}

// grpcPathKinds are the path matches grpc-go reads; it skips a route matched any other
// way (path_separated_prefix, path_match_policy), so its requests go to a later route.
var grpcPathKinds = map[protoreflect.Name]bool{"prefix": true, "path": true, "safe_regex": true}

// grpcPathMatches reports the routes of an api_listener's route configuration whose path
// match grpc-go does not read.
func (c *checker) grpcPathMatches(rc *envoy_config_route_v3.RouteConfiguration) {
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			m := r.GetMatch().ProtoReflect()
			if f := m.WhichOneof(m.Descriptor().Oneofs().ByName("path_specifier")); f != nil && !grpcPathKinds[f.Name()] {
				c.add("route", rc.GetName(), "%s: path match %s is not read by grpc-go, which skips the route",
					at{vh: vh.GetName(), route: r.GetName()}, f.Name())
			}
		}
	}
}

// filterUses collects (once per route configuration) the filters its per-filter
// configurations name and the JWT requirements its routes refer to.
func (c *checker) filterUses(rc *envoy_config_route_v3.RouteConfiguration) *filterUses {
	if u, ok := c.uses[rc]; ok {
		return u
	}
	filters := map[string]bool{}
	reqs := map[string]bool{}
	add := func(m map[string]*anypb.Any) {
		for name, a := range m {
			filters[name] = true
			if name != translate.JWTFilter {
				continue
			}
			var prc envoy_extensions_filters_http_jwt_authn_v3.PerRouteConfig
			if a.UnmarshalTo(&prc) == nil && prc.GetRequirementName() != "" {
				reqs[prc.GetRequirementName()] = true
			}
		}
	}
	for _, vh := range rc.GetVirtualHosts() {
		add(vh.GetTypedPerFilterConfig())
		for _, r := range vh.GetRoutes() {
			add(r.GetTypedPerFilterConfig())
			for _, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
				add(w.GetTypedPerFilterConfig())
			}
		}
	}
	u := &filterUses{filters: sortedSet(filters), jwtRequirements: sortedSet(reqs)}
	if c.uses == nil {
		c.uses = map[*envoy_config_route_v3.RouteConfiguration]*filterUses{}
	}
	c.uses[rc] = u
	return u
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// grpcFilters are the HTTP filter types grpc-go's xDS client supports.
var grpcFilters = map[string]bool{
	"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router":                  true,
	"type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault":                true,
	"type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC":                      true,
	"type.googleapis.com/envoy.extensions.filters.http.gcp_authn.v3.GcpAuthnFilterConfig": true,
}

func (c *checker) accessLog(listener string, al *envoy_config_accesslog_v3.AccessLog) {
	if tc := al.GetTypedConfig(); tc != nil {
		c.unpack("listener", listener, "access log "+al.GetName(), tc)
	}
}

func (c *checker) jwt(listener string, ja *envoy_extensions_filters_http_jwt_authn_v3.JwtAuthentication) {
	names := make([]string, 0, len(ja.GetProviders()))
	for n := range ja.GetProviders() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		uri := ja.GetProviders()[n].GetRemoteJwks().GetHttpUri()
		if uri == nil {
			continue
		}
		if cl := uri.GetCluster(); !c.clusters[cl] {
			c.add("listener", listener, "JWT provider %q: JWKS cluster %q does not exist", n, cl)
		}
	}
}

// at locates a problem inside a route configuration; it is formatted only when a problem is
// reported, so checking large configurations does not build strings.
type at struct {
	vh, route, detail string
}

func (a at) String() string {
	s := fmt.Sprintf("virtual host %q", a.vh)
	if a.route != "" {
		s += fmt.Sprintf(" route %q", a.route)
	}
	if a.detail != "" {
		s += " " + a.detail
	}
	return s
}

// routeConfig checks the domains, references and regexes of a route configuration. Envoy
// compares domains ignoring case and refuses one that is there twice.
func (c *checker) routeConfig(typ, name string, rc *envoy_config_route_v3.RouteConfiguration) {
	domains := make(map[string]string, len(rc.GetVirtualHosts()))
	maxBody := uint32(policy.MaxDirectResponseBody)
	if m := rc.GetMaxDirectResponseBodySizeBytes(); m != nil {
		maxBody = m.GetValue()
	}
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			if other, dup := domains[strings.ToLower(d)]; dup {
				c.add(typ, name, "domain %q in virtual hosts %q and %q", d, other, vh.GetName())
			}
			domains[strings.ToLower(d)] = vh.GetName()
		}
		c.perFilter(typ, name, at{vh: vh.GetName()}, vh.GetTypedPerFilterConfig())
		c.headerChanges(typ, name, at{vh: vh.GetName()}, vh)
		for _, r := range vh.GetRoutes() {
			c.route(typ, name, at{vh: vh.GetName(), route: r.GetName()}, r, maxBody)
		}
	}
}

// headerMutations are what a virtual host or route changes of request and response headers.
type headerMutations interface {
	GetRequestHeadersToAdd() []*envoy_config_core_v3.HeaderValueOption
	GetResponseHeadersToAdd() []*envoy_config_core_v3.HeaderValueOption
	GetRequestHeadersToRemove() []string
	GetResponseHeadersToRemove() []string
}

// headerChanges checks header changes as Envoy does: it refuses to add or remove
// pseudo-headers and Host, and reads the values added as format strings.
func (c *checker) headerChanges(typ, name string, where at, h headerMutations) {
	for _, hv := range append(h.GetRequestHeadersToAdd(), h.GetResponseHeadersToAdd()...) {
		k := hv.GetHeader().GetKey()
		if strings.HasPrefix(k, ":") || strings.EqualFold(k, "host") {
			c.add(typ, name, "%s: header %q may not be changed", where, k)
		}
		c.format(typ, name, fmt.Sprintf("%s header %s", where, k), hv.GetHeader().GetValue())
	}
	for _, k := range append(h.GetRequestHeadersToRemove(), h.GetResponseHeadersToRemove()...) {
		if strings.HasPrefix(k, ":") || strings.EqualFold(k, "host") {
			c.add(typ, name, "%s: header %q may not be removed", where, k)
		}
	}
}

// route checks one route; Envoy refuses a direct response body longer than maxBody.
func (c *checker) route(typ, name string, where at, r *envoy_config_route_v3.Route, maxBody uint32) {
	c.headerChanges(typ, name, where, r)
	if b := r.GetDirectResponse().GetBody(); b != nil {
		if n := len(b.GetInlineString()) + len(b.GetInlineBytes()); n > int(maxBody) {
			c.add(typ, name, "%s: direct response body of %d bytes, more than %d", where, n, maxBody)
		}
	}
	m := r.GetMatch()
	if re := m.GetSafeRegex(); re != nil {
		c.regex(typ, name, at{where.vh, where.route, "path"}, re)
	}
	for _, h := range m.GetHeaders() {
		c.stringMatcher(typ, name, at{where.vh, where.route, "header " + h.GetName()}, h.GetStringMatch())
	}
	for _, q := range m.GetQueryParameters() {
		c.stringMatcher(typ, name, at{where.vh, where.route, "query " + q.GetName()}, q.GetStringMatch())
	}
	c.perFilter(typ, name, where, r.GetTypedPerFilterConfig())
	a := r.GetRoute()
	if a == nil {
		return
	}
	// The share of unresolved backends names a cluster Envoy is not sent, on purpose: the
	// route answers it with 500.
	answers500 := a.GetClusterNotFoundResponseCode() == envoy_config_route_v3.RouteAction_INTERNAL_SERVER_ERROR
	ref := func(cluster string) {
		if !answers500 || cluster != translate.UnresolvedCluster {
			c.clusterRef(typ, name, where, cluster)
		}
	}
	switch cs := a.GetClusterSpecifier().(type) {
	case *envoy_config_route_v3.RouteAction_Cluster:
		ref(cs.Cluster)
	case *envoy_config_route_v3.RouteAction_WeightedClusters:
		var sum uint64
		for _, w := range cs.WeightedClusters.GetClusters() {
			ref(w.GetName())
			sum += uint64(w.GetWeight().GetValue())
			c.perFilter(typ, name, at{where.vh, where.route, "weighted cluster " + w.GetName()}, w.GetTypedPerFilterConfig())
		}
		if sum == 0 {
			c.add(typ, name, "%s: weighted clusters have no weight", where)
		}
		if sum > 1<<32-1 {
			c.add(typ, name, "%s: weights sum to %d, more than 2^32-1", where, sum)
		}
	default:
		c.add(typ, name, "%s: route action names no cluster", where)
	}
}

func (c *checker) clusterRef(typ, name string, where at, cluster string) {
	if !c.clusters[cluster] {
		c.add(typ, name, "%s: cluster %q does not exist", where, cluster)
	}
}

func (c *checker) perFilter(typ, name string, where at, m map[string]*anypb.Any) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.unpack(typ, name, where.String()+" typed_per_filter_config "+k, m[k])
	}
}

func (c *checker) stringMatcher(typ, name string, where at, sm *envoy_type_matcher_v3.StringMatcher) {
	if re := sm.GetSafeRegex(); re != nil {
		c.regex(typ, name, where, re)
	}
}

// regexInfo is what checking one regex found: its parse error, or its RE2 program size;
// with over, only that the program has more than size instructions (measuring stopped at a
// budget far above the limit).
type regexInfo struct {
	err    error
	size   int
	over   bool
	budget int // the budget it was measured with
}

// regexBudget is the budget of instructions, before flattening, to measure a program with
// when asking whether it is over limit (0: no limit, measure it whole). Flattening leaves
// more than half a program (re2prog.ProgramSizeWithin), so one over this budget is over
// limit.
func regexBudget(limit int) int {
	if limit <= 0 {
		return math.MaxInt
	}
	return 4*limit + 64
}

// bigRegex is a regex over the program size limit, where it was found.
type bigRegex struct {
	typ, name string
	where     at
	regex     string
	info      regexInfo
}

// regexCacheBytes bounds the regexes regexCache keeps, by the bytes of their text.
var regexCacheBytes = 4 << 20

// regexCache keeps what checking a regex found across checks: every change of the policy or
// of the endpoints checks the whole configuration again, mostly with the same regexes, and
// measuring one takes a tenth of a millisecond or more. Full, it starts again empty.
var regexCache = struct {
	sync.Mutex
	m     map[string]regexInfo
	bytes int
}{m: map[string]regexInfo{}}

// measureRegex is the parse error or the RE2 program size of expr, measured within
// regexBudget(limit), from regexCache when it is there (and was measured with no smaller
// budget, if that stopped it).
func measureRegex(expr string, limit int) regexInfo {
	budget := regexBudget(limit)
	regexCache.Lock()
	info, ok := regexCache.m[expr]
	regexCache.Unlock()
	if ok && (!info.over || info.budget >= budget) {
		return info
	}
	info = regexInfo{budget: budget}
	info.size, info.err = re2prog.ProgramSizeWithin(expr, budget)
	if errors.Is(info.err, re2prog.ErrOverBudget) {
		info.err, info.over, info.size = nil, true, budget/2
	}
	regexCache.Lock()
	defer regexCache.Unlock()
	if regexCache.bytes+len(expr) > regexCacheBytes {
		clear(regexCache.m)
		regexCache.bytes = 0
	}
	if len(expr) <= regexCacheBytes {
		regexCache.m[expr] = info
		regexCache.bytes += len(expr)
	}
	return info
}

// regex parses a regular expression with Go's regexp/syntax, whose syntax is RE2's, and
// measures the program RE2 compiles it to; one larger than the limit is kept for regexSizes.
func (c *checker) regex(typ, name string, where at, re *envoy_type_matcher_v3.RegexMatcher) {
	limit := c.opts.regexLimit()
	info := measureRegex(re.GetRegex(), limit)
	if info.err != nil {
		c.add(typ, name, "%s: regex %q is not valid RE2: %v", where, re.GetRegex(), info.err)
		return
	}
	if limit > 0 && (info.over || info.size > limit) {
		c.bigRegexes = append(c.bigRegexes, bigRegex{typ, name, where, re.GetRegex(), info})
	}
}

// regexSizes reports the regexes over the program size limit that Envoy may get: all but
// those of route configurations only api_listeners (proxyless gRPC, whose Go regexp has no
// such limit) serve.
func (c *checker) regexSizes() {
	for _, b := range c.bigRegexes {
		grpcOnly := b.typ == "listener" && c.apiListeners[b.name] ||
			b.typ == "route" && c.grpcRoutes[b.name] && !c.envoyRoutes[b.name]
		if grpcOnly {
			continue
		}
		c.add(b.typ, b.name, "%s: %v", b.where, tooLarge(b.regex, b.info, c.opts.regexLimit()))
	}
}

// RegexTooLarge is the problem of a regex sent to Envoy whose RE2 program is larger than o
// allows, as Check reports it, or nil (for a regex that does not parse too: validation
// reports that).
func (o Options) RegexTooLarge(expr string) error {
	limit := o.regexLimit()
	if limit <= 0 || expr == "" {
		return nil
	}
	if info := measureRegex(expr, limit); info.err == nil && (info.over || info.size > limit) {
		return tooLarge(expr, info, limit)
	}
	return nil
}

func tooLarge(expr string, info regexInfo, limit int) error {
	size := fmt.Sprint(info.size)
	if info.over {
		size = "more than " + size
	}
	return fmt.Errorf("regex %q compiles to an RE2 program of %s instructions; Envoy refuses more than %d "+
		"(runtime re2.max_program_size.error_level): simplify it (a [^/]+ in place of a counted repetition) "+
		"or raise the limit on the proxies and with --regex-program-size-limit", expr, size, limit)
}

// mark adds name to a set, making the set on first use.
func (c *checker) mark(set *map[string]bool, name string) {
	if *set == nil {
		*set = map[string]bool{}
	}
	(*set)[name] = true
}
