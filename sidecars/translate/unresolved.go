package translate

import (
	"time"

	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// UnresolvedCluster is the cluster that the share of a route's unresolved backends
// (policy.Backend.Unresolved) is sent to. An HTTP route of Envoy does not need it: its
// cluster_not_found_response_code makes Envoy answer that share with 500. Proxyless gRPC
// clients, which do not read that field, and Envoy's TCP proxies of connection routes are
// sent it as an EDS cluster with no endpoints, so that share fails at once (UNAVAILABLE, or
// the connection closed) rather than waiting for a cluster that never comes. The name
// cannot be a service's: service names are DNS labels.
const UnresolvedCluster = "foresight|unresolved-backend"

// backendCluster is the cluster a route's backend sends to, recording what it needs: the
// service's cluster, or for an unresolved backend the 500 of a (the route's action) or,
// on proxyless gRPC, the empty cluster.
func (b *builder) backendCluster(be *policy.Backend, a *envoy_config_route_v3.RouteAction, m routeMode) string {
	if be.Unresolved && !m.grpc {
		a.ClusterNotFoundResponseCode = envoy_config_route_v3.RouteAction_INTERNAL_SERVER_ERROR
		return UnresolvedCluster
	}
	return b.clusterOrEmpty(be)
}

// clusterOrEmpty is the cluster a backend sends to: the service's, or for an unresolved
// backend the empty cluster, which it records as needed.
func (b *builder) clusterOrEmpty(be *policy.Backend) string {
	if be.Unresolved {
		b.unresolved = true
		return UnresolvedCluster
	}
	return b.use(be.Service)
}

// finishUnresolved adds the empty cluster of unresolved backends when a gRPC route or a
// connection route uses it.
func (b *builder) finishUnresolved() {
	if !b.unresolved {
		return
	}
	svc := &policy.Service{Name: UnresolvedCluster, ConnectTimeout: policy.Duration(time.Second)}
	b.out.Clusters = append(b.out.Clusters, b.sh.namedCluster(svc, UnresolvedCluster))
	b.out.Endpoints = append(b.out.Endpoints, b.sh.loadAssignment(UnresolvedCluster, nil))
}
