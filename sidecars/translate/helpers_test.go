package translate_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_endpoint_v3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// translateFile loads a policy, translates it and requires every group to pass Check.
func translateFile(t *testing.T, path string) map[string]*translate.Resources {
	t.Helper()
	p, err := policy.Load(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	out, err := translate.Translate(p)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	if len(out) != len(p.Spec.NodeGroups) {
		t.Fatalf("got %d groups, want %d", len(out), len(p.Spec.NodeGroups))
	}
	for g, r := range out {
		if err := check.Check(r); err != nil {
			t.Fatalf("check group %s:\n%v", g, err)
		}
	}
	return out
}

// feature translates testdata/<name>.yaml.
func feature(t *testing.T, name string) map[string]*translate.Resources {
	t.Helper()
	return translateFile(t, filepath.Join("testdata", name+".yaml"))
}

func group(t *testing.T, out map[string]*translate.Resources, name string) *translate.Resources {
	t.Helper()
	r, ok := out[name]
	if !ok {
		t.Fatalf("no group %q", name)
	}
	return r
}

func listenerNamed(t *testing.T, r *translate.Resources, name string) *envoy_config_listener_v3.Listener {
	t.Helper()
	return named(t, r.Listeners, (*envoy_config_listener_v3.Listener).GetName, name, "no listener")
}

func clusterNamed(t *testing.T, r *translate.Resources, name string) *envoy_config_cluster_v3.Cluster {
	t.Helper()
	return named(t, r.Clusters, (*envoy_config_cluster_v3.Cluster).GetName, name, "no cluster")
}

func hasCluster(r *translate.Resources, name string) bool {
	return slices.ContainsFunc(r.Clusters, func(c *envoy_config_cluster_v3.Cluster) bool { return c.GetName() == name })
}

func claNamed(t *testing.T, r *translate.Resources, name string) *envoy_config_endpoint_v3.ClusterLoadAssignment {
	t.Helper()
	return named(t, r.Endpoints, (*envoy_config_endpoint_v3.ClusterLoadAssignment).GetClusterName, name, "no ClusterLoadAssignment")
}

func routeConfig(t *testing.T, r *translate.Resources, name string) *envoy_config_route_v3.RouteConfiguration {
	t.Helper()
	return named(t, r.Routes, (*envoy_config_route_v3.RouteConfiguration).GetName, name, "no route configuration")
}

func vhostNamed(t *testing.T, rc *envoy_config_route_v3.RouteConfiguration, name string) *envoy_config_route_v3.VirtualHost {
	t.Helper()
	return named(t, rc.GetVirtualHosts(), (*envoy_config_route_v3.VirtualHost).GetName, name, fmt.Sprintf("route configuration %q has no virtual host", rc.GetName()))
}

func routeNamed(t *testing.T, vh *envoy_config_route_v3.VirtualHost, name string) *envoy_config_route_v3.Route {
	t.Helper()
	return named(t, vh.GetRoutes(), (*envoy_config_route_v3.Route).GetName, name, fmt.Sprintf("virtual host %q has no route", vh.GetName()))
}

// named is the item of items whose name (by nameOf) is name; without one the test fails
// with "<notFound> <quoted name>".
func named[T any](t *testing.T, items []T, nameOf func(T) string, name, notFound string) T {
	t.Helper()
	for _, it := range items {
		if nameOf(it) == name {
			return it
		}
	}
	t.Fatalf("%s %q", notFound, name)
	var zero T
	return zero
}

// hcm unpacks the HTTP connection manager of a listener (filter chain or api_listener).
func hcm(t *testing.T, l *envoy_config_listener_v3.Listener) *envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager {
	t.Helper()
	a := l.GetApiListener().GetApiListener()
	if a == nil {
		a = l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig()
	}
	h := &envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager{}
	if err := a.UnmarshalTo(h); err != nil {
		t.Fatalf("listener %q: %v", l.GetName(), err)
	}
	return h
}

func filterNames(h *envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager) []string {
	var out []string
	for _, f := range h.GetHttpFilters() {
		out = append(out, f.GetName())
	}
	return out
}

// unpack unmarshals a into m.
func unpack[M proto.Message](t *testing.T, a *anypb.Any, m M) M {
	t.Helper()
	if a == nil {
		t.Fatalf("missing %T", m)
	}
	if err := a.UnmarshalTo(m); err != nil {
		t.Fatalf("unpack %T: %v", m, err)
	}
	return m
}
