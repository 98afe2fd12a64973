package translate_test

import (
	"path/filepath"
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
	for _, l := range r.Listeners {
		if l.GetName() == name {
			return l
		}
	}
	t.Fatalf("no listener %q", name)
	return nil
}

func clusterNamed(t *testing.T, r *translate.Resources, name string) *envoy_config_cluster_v3.Cluster {
	t.Helper()
	for _, c := range r.Clusters {
		if c.GetName() == name {
			return c
		}
	}
	t.Fatalf("no cluster %q", name)
	return nil
}

func hasCluster(r *translate.Resources, name string) bool {
	for _, c := range r.Clusters {
		if c.GetName() == name {
			return true
		}
	}
	return false
}

func claNamed(t *testing.T, r *translate.Resources, name string) *envoy_config_endpoint_v3.ClusterLoadAssignment {
	t.Helper()
	for _, c := range r.Endpoints {
		if c.GetClusterName() == name {
			return c
		}
	}
	t.Fatalf("no ClusterLoadAssignment %q", name)
	return nil
}

func routeConfig(t *testing.T, r *translate.Resources, name string) *envoy_config_route_v3.RouteConfiguration {
	t.Helper()
	for _, rc := range r.Routes {
		if rc.GetName() == name {
			return rc
		}
	}
	t.Fatalf("no route configuration %q", name)
	return nil
}

func vhostNamed(t *testing.T, rc *envoy_config_route_v3.RouteConfiguration, name string) *envoy_config_route_v3.VirtualHost {
	t.Helper()
	for _, vh := range rc.GetVirtualHosts() {
		if vh.GetName() == name {
			return vh
		}
	}
	t.Fatalf("route configuration %q has no virtual host %q", rc.GetName(), name)
	return nil
}

func routeNamed(t *testing.T, vh *envoy_config_route_v3.VirtualHost, name string) *envoy_config_route_v3.Route {
	t.Helper()
	for _, r := range vh.GetRoutes() {
		if r.GetName() == name {
			return r
		}
	}
	t.Fatalf("virtual host %q has no route %q", vh.GetName(), name)
	return nil
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

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
