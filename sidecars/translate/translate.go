// Package translate turns a traffic policy into Envoy xDS resources: listeners, route
// configurations, clusters and cluster load assignments, per node group. It is a set of pure
// functions: no I/O, no clocks, no package-level state; the same policy always gives the same
// resources, in the same order.
//
// Naming conventions (stable; the xDS server and the tests rely on them):
//
//   - sidecar group G: listener "inbound" (0.0.0.0:inboundPort) with RDS route configuration
//     "G/inbound", forwarding to the STATIC cluster "inbound|<service>" (127.0.0.1:appPort);
//     listener "outbound" (127.0.0.1:outboundPort) with RDS "G/outbound", one virtual host per
//     upstream service (named after the service, answering Service.Domains()).
//   - gateway group G: per listener of the group an Envoy listener (0.0.0.0:port) with RDS
//     "G/<listener>", one virtual host per policy virtual host the listener serves, and TLS
//     when the listener has certificates. Each is named "gateway-<port>" (GatewayListenerName),
//     so adding or removing another port leaves a listener's name, and its connections, alone.
//   - grpc group G (proxyless gRPC): one api_listener per upstream service named after the
//     service (the target "xds:///<service>") and one per Service.Hosts entry, each with RDS
//     "G/<service>"; and one api_listener per domain of each virtual host the group lists,
//     with RDS "G/<virtual host>".
//   - every service's cluster and ClusterLoadAssignment are named "<service>.<namespace>"
//     (policy.Service.ClusterName), EDS over ADS. Their content does not depend on the group,
//     so one endpoint cache can serve every proxy. Services with discovery kubernetes get an
//     empty ClusterLoadAssignment that the discovery component replaces (see LoadAssignment).
package translate

import (
	"fmt"
	"slices"
	"sort"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Resources are the xDS resources of one node group, each list in a deterministic order:
// listeners and route configurations in the order described in the package doc, clusters
// with the group's own (inbound) clusters first and then the service clusters sorted by
// service name, load assignments in the same order as their clusters. Resources of one
// translation share read-only sub-messages (config sources, durations, weights): treat
// them as immutable and replace, rather than modify, what must change.
type Resources struct {
	// Listeners are the LDS resources.
	Listeners []*envoy_config_listener_v3.Listener
	// Routes are the RDS resources.
	Routes []*envoy_config_route_v3.RouteConfiguration
	// Clusters are the CDS resources.
	Clusters []*envoy_config_cluster_v3.Cluster
	// Endpoints are the EDS resources.
	Endpoints []*envoy_config_endpoint_v3.ClusterLoadAssignment
}

// Listener names.
const (
	InboundListener  = "inbound"
	OutboundListener = "outbound"
	GatewayListener  = "gateway"
)

// HTTP filter names, which are also the keys of per-route filter configuration.
const (
	CORSFilter      = "envoy.filters.http.cors"
	FaultFilter     = "envoy.filters.http.fault"
	JWTFilter       = "envoy.filters.http.jwt_authn"
	RateLimitFilter = "envoy.filters.http.local_ratelimit"
	RouterFilter    = "envoy.filters.http.router"
	HCMFilter       = "envoy.filters.network.http_connection_manager"
)

// Network and listener filter names of listeners that forward connections.
const (
	TCPProxyFilter     = "envoy.filters.network.tcp_proxy"
	TLSInspectorFilter = "envoy.filters.listener.tls_inspector"
)

// GatewayListenerName is the name of listener i of a gateway group: "gateway-<port>" (ports
// are distinct in a group). The name depends on the port alone: Envoy drains a listener's
// connections when its name changes, so a name must not change when another listener is
// added or removed. The group's route configuration for it is
// RouteConfigName(group, GatewayListenerName(g, i)).
func GatewayListenerName(g *policy.NodeGroup, i int) string {
	return fmt.Sprintf("%s-%d", GatewayListener, g.Listeners[i].Port)
}

// RouteConfigName is the name of a group's route configuration for a listener:
// "<group>/<listener>".
func RouteConfigName(group, listener string) string { return group + "/" + listener }

// InboundClusterName is the name of the STATIC cluster of a sidecar's local application.
func InboundClusterName(service string) string { return "inbound|" + service }

// Translate translates every node group of a validated policy. The result is keyed by node
// group name.
func Translate(p *policy.Policy) (map[string]*Resources, error) {
	out := make(map[string]*Resources, len(p.Spec.NodeGroups))
	for _, g := range p.Spec.NodeGroups {
		r, err := TranslateGroup(p, g.Name)
		if err != nil {
			return nil, err
		}
		out[g.Name] = r
	}
	return out, nil
}

// TranslateGroup translates one node group of a validated policy (Parse and WithFault
// return validated policies; call Default and Validate on one built in code). References to
// undefined services are reported as errors.
func TranslateGroup(p *policy.Policy, group string) (*Resources, error) {
	g := p.Group(group)
	if g == nil {
		return nil, fmt.Errorf("translate: policy %q has no node group %q", p.Metadata.Name, group)
	}
	b := &builder{p: p, g: g, sh: newShared(), clusters: map[string]bool{}, services: make(map[string]*policy.Service, len(p.Spec.Services))}
	for i := range p.Spec.Services {
		b.services[p.Spec.Services[i].Name] = &p.Spec.Services[i]
	}
	b.clusterNames = make(map[string]string, len(p.Spec.Services))
	var err error
	switch g.Kind {
	case policy.NodeSidecar:
		err = b.sidecar()
	case policy.NodeGateway:
		err = b.gateway()
	case policy.NodeGRPC:
		err = b.grpc()
	default:
		err = fmt.Errorf("unknown node group kind %q", g.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("translate node group %q: %w", group, err)
	}
	if b.err != nil {
		return nil, fmt.Errorf("translate node group %q: %w", group, b.err)
	}
	b.finishClusters()
	return &b.out, nil
}

// builder accumulates the resources of one node group.
type builder struct {
	p   *policy.Policy
	g   *policy.NodeGroup
	out Resources
	// clusters are the service clusters referenced so far (by service name).
	clusters map[string]bool
	// services indexes the policy's services by name.
	services map[string]*policy.Service
	// sh holds the sub-messages the group's resources share.
	sh *shared
	// clusterNames caches the cluster names of referenced services.
	clusterNames map[string]string
	// unresolved says a gRPC route or a connection route sends a share to UnresolvedCluster.
	unresolved bool
	// err is the first reference to something the policy does not define (only possible
	// for a policy that was not validated).
	err error
}

// service returns the named service (the policy is validated: it exists).
func (b *builder) service(name string) *policy.Service { return b.services[name] }

// use records that the group references the service's cluster.
func (b *builder) use(service string) string {
	name, ok := b.clusterNames[service]
	if !ok {
		svc := b.service(service)
		if svc == nil {
			if b.err == nil {
				b.err = fmt.Errorf("unknown service %q (validate the policy first)", service)
			}
			return service
		}
		name = svc.ClusterName()
		b.clusterNames[service] = name
		b.clusters[service] = true
	}
	return name
}

// upstreams are the services the group calls, in policy order.
func (b *builder) upstreams() []*policy.Service {
	var out []*policy.Service
	for _, name := range b.p.GroupUpstreams(b.g) {
		if svc := b.service(name); svc != nil {
			out = append(out, svc)
		} else if b.err == nil {
			b.err = fmt.Errorf("unknown upstream service %q (validate the policy first)", name)
		}
	}
	return out
}

// finishClusters adds the EDS clusters and load assignments of every referenced service,
// sorted by name, after the group's own (inbound) clusters.
func (b *builder) finishClusters() {
	names := make([]string, 0, len(b.clusters))
	for s := range b.clusters {
		names = append(names, s)
	}
	sort.Strings(names)
	b.out.Clusters = slices.Grow(b.out.Clusters, len(names))
	b.out.Endpoints = slices.Grow(b.out.Endpoints, len(names))
	for _, name := range names {
		svc := b.service(name)
		cn := b.clusterNames[name]
		b.out.Clusters = append(b.out.Clusters, b.sh.namedCluster(svc, cn))
		b.out.Endpoints = append(b.out.Endpoints, b.sh.loadAssignment(cn, svc.Endpoints))
	}
	b.finishUnresolved()
}
