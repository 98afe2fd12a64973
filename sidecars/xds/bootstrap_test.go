package xds

import (
	"strings"
	"testing"

	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	envoy_extensions_upstreams_http_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

func TestBootstrapValidates(t *testing.T) {
	for _, gw := range []bool{false, true} {
		b, err := Bootstrap(BootstrapOptions{NodeID: "reviews-7d9f", Service: "reviews", Gateway: gw, XDSAddress: "foresight-xds.foresight.svc:18000"})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.ValidateAll(); err != nil {
			t.Fatalf("bootstrap fails ValidateAll: %v", err)
		}
		if a := b.GetAdmin().GetAddress().GetSocketAddress(); a.GetAddress() != "127.0.0.1" || a.GetPortValue() != 9901 {
			t.Errorf("admin on %v, want 127.0.0.1:9901", a)
		}
		want := KindSidecar
		if gw {
			want = KindGateway
		}
		if got := b.GetNode().GetMetadata().GetFields()[RoleMetadataKey].GetStringValue(); got != want || ProxyKind(b.GetNode()) != want {
			t.Errorf("role %q, kind %q; want %q", got, ProxyKind(b.GetNode()), want)
		}
		if b.GetNode().GetCluster() != "reviews" {
			t.Errorf("node cluster %q", b.GetNode().GetCluster())
		}
		ads := b.GetDynamicResources().GetAdsConfig()
		if ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != XDSClusterName || b.GetDynamicResources().GetCdsConfig().GetAds() == nil || b.GetDynamicResources().GetLdsConfig().GetAds() == nil {
			t.Errorf("dynamic resources %v", b.GetDynamicResources())
		}
		xdsCluster := b.GetStaticResources().GetClusters()[0]
		var opts envoy_extensions_upstreams_http_v3.HttpProtocolOptions
		if err := xdsCluster.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(&opts); err != nil {
			t.Fatal(err)
		}
		if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
			t.Error("xds cluster does not speak HTTP/2")
		}
		if xdsCluster.GetType().String() != "STRICT_DNS" {
			t.Errorf("xds cluster type %v for a host name", xdsCluster.GetType())
		}
		var hcm envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager
		l := b.GetStaticResources().GetListeners()[0]
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
			t.Fatal(err)
		}
		if p := hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetMatch().GetPath(); p != "/stats/prometheus" || l.GetAddress().GetSocketAddress().GetPortValue() != 15090 {
			t.Errorf("stats listener serves %q on %v", p, l.GetAddress())
		}
	}
	for _, bad := range []BootstrapOptions{
		{NodeID: "a", Service: "b", XDSAddress: "nohost"},
		{NodeID: "a", Service: "b", XDSAddress: "h:0"},
		{Service: "b", XDSAddress: "h:1"},
		{NodeID: "a", Service: "b", XDSAddress: "h:1", RegexProgramSizeLimit: -1},
	} {
		if _, err := Bootstrap(bad); err == nil || !strings.Contains(err.Error(), "bootstrap") {
			t.Errorf("Bootstrap(%+v) = %v, want an error", bad, err)
		}
	}
}

// TestBootstrapRegexProgramSizeLimit: without a limit the bootstrap leaves Envoy's runtime
// alone (its default, 100); with one, a static runtime layer sets
// re2.max_program_size.error_level, and an admin layer after it keeps /runtime_modify.
func TestBootstrapRegexProgramSizeLimit(t *testing.T) {
	b, err := Bootstrap(BootstrapOptions{NodeID: "a", Service: "b", XDSAddress: "h:1"})
	if err != nil {
		t.Fatal(err)
	}
	if b.GetLayeredRuntime() != nil {
		t.Errorf("layered runtime %v without a limit", b.GetLayeredRuntime())
	}
	b, err = Bootstrap(BootstrapOptions{NodeID: "a", Service: "b", XDSAddress: "h:1", RegexProgramSizeLimit: 300})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	layers := b.GetLayeredRuntime().GetLayers()
	if len(layers) != 2 || layers[1].GetAdminLayer() == nil {
		t.Fatalf("runtime layers %v, want a static layer and then the admin layer", layers)
	}
	if v := layers[0].GetStaticLayer().GetFields()["re2.max_program_size.error_level"]; v.GetNumberValue() != 300 {
		t.Errorf("re2.max_program_size.error_level = %v, want 300", v)
	}
}
