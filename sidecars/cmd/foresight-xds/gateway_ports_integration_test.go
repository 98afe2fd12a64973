//go:build integration

package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_extensions_filters_network_http_connection_manager_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// TestServeGatewayAPITwoPorts runs serve with --gateway-controller-name against a real
// kube-apiserver with the most common production Gateway: an HTTP listener on 8080 whose
// only route (selected by sectionName) redirects web.shop to https, and an HTTPS listener on
// 8443 terminating TLS whose route forwards web.shop to its Service. Both listeners are
// programmed with one attached route each, and the Gateway's Envoy proxy is served a
// listener and a route configuration per port: the redirect on 8080, the forward on 8443
// (with the header its backendRef's filter sets), TLS only on 8443.
func TestServeGatewayAPITwoPorts(t *testing.T) {
	ctx := context.Background()
	sh := startGatewayCluster(t, "shop")
	c, gw := sh.c, sh.gw
	sh.createWebService(t)
	crt, key := pki.ServerPair(t, "web.shop")
	sh.createTLSSecret(t, "edge-cert", crt, key)
	sh.createClass(t)
	gateway := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{
			{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType},
			{Name: "https", Port: 8443, Protocol: gwv1.HTTPSProtocolType,
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "edge-cert"}}}},
		}}}
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, gateway, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	section := func(s string) []gwv1.ParentReference {
		return []gwv1.ParentReference{{Name: "edge", SectionName: ptrTo(gwv1.SectionName(s))}}
	}
	https, code, port := "https", 301, gwv1.PortNumber(80)
	toHTTPS := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "to-https"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: section("http")}, Hostnames: []gwv1.Hostname{"web.shop"},
		Rules: []gwv1.HTTPRouteRule{{Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect,
			RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Scheme: &https, StatusCode: &code}}}}}}}
	web := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: section("https")}, Hostnames: []gwv1.Hostname{"web.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "web", Port: &port}},
			Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{
				Set: []gwv1.HTTPHeader{{Name: "x-backend", Value: "web"}}}}}}}}}}}
	for _, r := range []*gwv1.HTTPRoute{toHTTPS, web} {
		if _, err := gw.GatewayV1().HTTPRoutes("shop").Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	f := gatewayServeFlags(t, c, t.TempDir())
	startServeFlags(t, f)

	eventuallyWithin(t, 60*time.Second, "both listeners programmed with one route each", func() error {
		got, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.Status.Listeners) != 2 {
			return fmt.Errorf("listeners %+v", got.Status.Listeners)
		}
		for _, l := range got.Status.Listeners {
			if err := wantCondition(l.Conditions, "Accepted", metav1.ConditionTrue, "Accepted", got.Generation); err != nil {
				return fmt.Errorf("listener %s: %w", l.Name, err)
			}
			if c := meta.FindStatusCondition(l.Conditions, "Programmed"); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("listener %s: Programmed = %+v", l.Name, c)
			}
			if l.AttachedRoutes != 1 {
				return fmt.Errorf("listener %s: attachedRoutes %d, want 1", l.Name, l.AttachedRoutes)
			}
		}
		return nil
	})

	s, r := edgeListeners(ctx, t, f.xdsAddress)
	group := gatewayapi.GatewayNodeGroup("shop", "edge")
	want := map[string]struct {
		port uint32
		tls  bool
	}{"gateway-8080": {8080, false}, "gateway-8443": {8443, true}}
	var rds []string
	for _, a := range r.GetResources() {
		l := &envoy_config_listener_v3.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			t.Fatal(err)
		}
		w, ok := want[l.GetName()]
		if !ok {
			t.Fatalf("unexpected listener %s", l.GetName())
		}
		delete(want, l.GetName())
		if p := l.GetAddress().GetSocketAddress().GetPortValue(); p != w.port {
			t.Errorf("listener %s on port %d, want %d", l.GetName(), p, w.port)
		}
		if ts := l.GetFilterChains()[0].GetTransportSocket(); (ts.GetName() == translate.TLSTransportSocket) != w.tls {
			t.Errorf("listener %s: transport socket %v, want TLS %v", l.GetName(), ts, w.tls)
		}
		h := &envoy_extensions_filters_network_http_connection_manager_v3.HttpConnectionManager{}
		if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(h); err != nil {
			t.Fatal(err)
		}
		if got := h.GetRds().GetRouteConfigName(); got != group+"/"+l.GetName() {
			t.Errorf("listener %s takes route configuration %q", l.GetName(), got)
		}
		rds = append(rds, h.GetRds().GetRouteConfigName())
	}
	if len(want) != 0 {
		t.Fatalf("listeners not served: %v", want)
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	slices.Sort(rds)
	if err := s.Subscribe(resourcev3.RouteType, rds...); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rcs := map[string]*envoy_config_route_v3.RouteConfiguration{}
	for _, a := range r.GetResources() {
		rc := &envoy_config_route_v3.RouteConfiguration{}
		if err := a.UnmarshalTo(rc); err != nil {
			t.Fatal(err)
		}
		rcs[rc.GetName()] = rc
	}
	// oneRoute is the one route of the one virtual host of a route configuration, which must
	// be web.shop's on that port.
	oneRoute := func(rc *envoy_config_route_v3.RouteConfiguration, port int) *envoy_config_route_v3.Route {
		t.Helper()
		vhs := rc.GetVirtualHosts()
		if len(vhs) != 1 || vhs[0].GetName() != fmt.Sprintf("%s/web.shop:%d", group, port) || !slices.Equal(vhs[0].GetDomains(), []string{"web.shop"}) || len(vhs[0].GetRoutes()) != 1 {
			t.Fatalf("route configuration %s: virtual hosts %v", rc.GetName(), vhs)
		}
		return vhs[0].GetRoutes()[0]
	}
	if len(rcs) != 2 || rcs[rds[0]] == nil || rcs[rds[1]] == nil {
		t.Fatalf("route configurations %v, want %v", slices.Collect(maps.Keys(rcs)), rds)
	}
	if red := oneRoute(rcs[group+"/gateway-8080"], 8080).GetRedirect(); !red.GetHttpsRedirect() || red.GetPortRedirect() != 0 ||
		red.GetResponseCode() != envoy_config_route_v3.RedirectAction_MOVED_PERMANENTLY {
		t.Errorf("web.shop on 8080: redirect %v, want to https on its well-known port", red)
	}
	// The backendRef's header change is its weighted cluster's (the route has none of its own).
	cs := oneRoute(rcs[group+"/gateway-8443"], 8443).GetRoute().GetWeightedClusters().GetClusters()
	if len(cs) != 1 || cs[0].GetName() != gatewayapi.ServiceName("shop", "web", 80)+".shop" || len(cs[0].GetRequestHeadersToAdd()) != 1 ||
		cs[0].GetRequestHeadersToAdd()[0].GetHeader().GetKey() != "x-backend" || cs[0].GetRequestHeadersToAdd()[0].GetHeader().GetValue() != "web" {
		t.Errorf("web.shop on 8443 goes to weighted clusters %v, want the web Service's with its header change", cs)
	}
	if hs := oneRoute(rcs[group+"/gateway-8443"], 8443).GetRequestHeadersToAdd(); len(hs) != 0 {
		t.Errorf("web.shop on 8443 changes headers at the route level %v: Envoy would apply them after the backend's", hs)
	}
}

func ptrTo[T any](v T) *T { return &v }
