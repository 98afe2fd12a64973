package translate_test

import (
	"testing"

	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/foresight-dev/foresight/sidecars/translate"
)

// TestRouteFilters: on Envoy, header changes, the mirror, the full-path rewrite, no timeout
// and the unresolved share answered with 500 (its cluster never sent); on proxyless gRPC, the
// unresolved share goes to a cluster without endpoints and header changes are left out.
func TestRouteFilters(t *testing.T) {
	out := feature(t, "routefilters")
	edge := group(t, out, "edge")
	r := routeNamed(t, vhostNamed(t, routeConfig(t, edge, "edge/gateway-8080"), "site"), "api")
	if len(r.GetRequestHeadersToAdd()) != 3 || len(r.GetRequestHeadersToRemove()) != 1 || len(r.GetResponseHeadersToRemove()) != 1 {
		t.Fatalf("header changes: add %v, remove %v, response remove %v", r.GetRequestHeadersToAdd(), r.GetRequestHeadersToRemove(), r.GetResponseHeadersToRemove())
	}
	// Envoy reads added values as format strings, where a lone '%' makes it refuse the
	// route configuration: a value's '%' are doubled, which Envoy renders as one.
	if v := r.GetRequestHeadersToAdd()[2].GetHeader().GetValue(); v != "90%% of 1%%" {
		t.Errorf("header value %q, want %q", v, "90%% of 1%%")
	}
	a := r.GetRoute()
	if ms := a.GetRequestMirrorPolicies(); len(ms) != 1 || ms[0].GetCluster() != "shadow.test" || ms[0].GetRuntimeFraction().GetDefaultValue().GetNumerator() != 100000 {
		t.Errorf("mirrors %v", ms)
	}
	if a.GetRegexRewrite().GetSubstitution() != "/v2/api" {
		t.Errorf("regex rewrite %v", a.GetRegexRewrite())
	}
	if a.GetTimeout() == nil || a.GetTimeout().AsDuration() != 0 {
		t.Errorf("timeout %v, want 0 (none)", a.GetTimeout())
	}
	ws := a.GetWeightedClusters().GetClusters()
	if len(ws) != 2 || ws[1].GetName() != translate.UnresolvedCluster || ws[1].GetWeight().GetValue() != 10 ||
		a.GetClusterNotFoundResponseCode() != envoy_config_route_v3.RouteAction_INTERNAL_SERVER_ERROR {
		t.Errorf("weighted clusters %v, cluster_not_found_response_code %v", ws, a.GetClusterNotFoundResponseCode())
	}
	if hasCluster(edge, translate.UnresolvedCluster) {
		t.Error("Envoy is sent the unresolved cluster (it would answer 503, not 500)")
	}
	if !hasCluster(edge, "shadow.test") {
		t.Error("no cluster for the mirror")
	}

	clients := group(t, out, "clients")
	if !hasCluster(clients, translate.UnresolvedCluster) || len(claNamed(t, clients, translate.UnresolvedCluster).GetEndpoints()) != 0 {
		t.Error("proxyless gRPC: no unresolved cluster without endpoints")
	}
	for _, rc := range clients.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, gr := range vh.GetRoutes() {
				if len(gr.GetRequestHeadersToAdd()) != 0 {
					t.Errorf("proxyless gRPC route %s carries header changes", gr.GetName())
				}
			}
		}
	}
}
