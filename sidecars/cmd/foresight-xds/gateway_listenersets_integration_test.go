//go:build integration

package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
)

// TestServeGatewayAPIListenerSets runs serve with --gateway-controller-name against a real
// kube-apiserver serving ListenerSets (v1), as the ServiceAccount with the shipped
// ClusterRole: the Gateway shop/edge (an HTTP listener on 80 for edge.shop) admits the
// ListenerSets of every namespace; team/apis adds api.shop on 80 and a new port 8080 for
// admin.shop, and team/clash, created later, asks for edge.shop on 80, which the Gateway keeps.
// The statuses written say so (apis accepted and programmed with its route counted, clash not
// accepted with a conflicted listener, the Gateway with one ListenerSet attached, the class
// with the ListenerSet feature), and the Gateway's Envoy proxy is served both ports, api.shop
// routing to the team's Service.
func TestServeGatewayAPIListenerSets(t *testing.T) {
	ctx := context.Background()
	sh := startGatewayCluster(t, "shop", "team")
	c, gw := sh.c, sh.gw
	installGatewayCRDs(t, c, nil, "listenersets")
	sh.createWebService(t)
	api := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "api"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := c.Admin.CoreV1().Services("team").Create(ctx, api, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sh.createClass(t)
	crt, key := pki.ServerPair(t, "secure.shop")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "secure-cert"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
	if _, err := c.Admin.CoreV1().Secrets("team").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	all := gwv1.NamespacesFromAll
	edge := gwv1.Hostname("edge.shop")
	gateway := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		AllowedListeners: &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: &all}},
		Listeners:        []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: &edge}}}}
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, gateway, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	entry := func(name string, port gwv1.PortNumber, host gwv1.Hostname) gwv1.ListenerEntry {
		return gwv1.ListenerEntry{Name: gwv1.SectionName(name), Port: port, Protocol: gwv1.HTTPProtocolType, Hostname: &host}
	}
	set := func(name string, entries ...gwv1.ListenerEntry) *gwv1.ListenerSet {
		return &gwv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name}, Spec: gwv1.ListenerSetSpec{
			ParentRef: gwv1.ParentGatewayReference{Name: "edge", Namespace: ptrTo(gwv1.Namespace("shop"))}, Listeners: entries}}
	}
	secure := gwv1.ListenerEntry{Name: "secure", Port: 8443, Protocol: gwv1.HTTPSProtocolType, Hostname: ptrTo(gwv1.Hostname("secure.shop")),
		TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "secure-cert"}}}}
	if _, err := gw.GatewayV1().ListenerSets("team").Create(ctx, set("apis", entry("api", 80, "api.shop"), entry("admin", 8080, "admin.shop"), secure), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // creation times have whole seconds: apis is older
	if _, err := gw.GatewayV1().ListenerSets("team").Create(ctx, set("clash", entry("edge", 80, "edge.shop")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	port := gwv1.PortNumber(80)
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "api"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Group: ptrTo(gwv1.Group(gwv1.GroupName)), Kind: ptrTo(gwv1.Kind("ListenerSet")), Name: "apis"}}},
		Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "api", Port: &port}}}}}}}}
	if _, err := gw.GatewayV1().HTTPRoutes("team").Create(ctx, route, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	f := gatewayServeFlags(t, c, t.TempDir())
	startServeFlags(t, f)

	eventuallyWithin(t, 60*time.Second, "ListenerSet, Gateway, route and class statuses written", func() error {
		apis, err := gw.GatewayV1().ListenerSets("team").Get(ctx, "apis", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, typ := range []string{"Accepted", "Programmed"} {
			if err := wantCondition(apis.Status.Conditions, typ, metav1.ConditionTrue, typ, apis.Generation); err != nil {
				return fmt.Errorf("ListenerSet apis: %w", err)
			}
		}
		if len(apis.Status.Listeners) != 3 || apis.Status.Listeners[0].AttachedRoutes != 1 || apis.Status.Listeners[1].AttachedRoutes != 1 || apis.Status.Listeners[2].AttachedRoutes != 1 {
			return fmt.Errorf("ListenerSet apis listeners %+v, want three with the route attached", apis.Status.Listeners)
		}
		for _, l := range apis.Status.Listeners {
			if err := wantCondition(l.Conditions, "Programmed", metav1.ConditionTrue, "Programmed", apis.Generation); err != nil {
				return fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}
		clash, err := gw.GatewayV1().ListenerSets("team").Get(ctx, "clash", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, typ := range []string{"Accepted", "Programmed"} {
			if err := wantCondition(clash.Status.Conditions, typ, metav1.ConditionFalse, "ListenersNotValid", clash.Generation); err != nil {
				return fmt.Errorf("ListenerSet clash: %w", err)
			}
		}
		if len(clash.Status.Listeners) != 1 {
			return fmt.Errorf("ListenerSet clash listeners %+v", clash.Status.Listeners)
		}
		for _, typ := range []string{"Accepted", "Programmed"} {
			if err := wantCondition(clash.Status.Listeners[0].Conditions, typ, metav1.ConditionFalse, "HostnameConflict", clash.Generation); err != nil {
				return fmt.Errorf("ListenerSet clash, listener edge: %w", err)
			}
		}
		g, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n := g.Status.AttachedListenerSets; n == nil || *n != 1 || len(g.Status.Listeners) != 1 {
			return fmt.Errorf("Gateway attachedListenerSets %v, listeners %+v; want 1 and its own listener only", n, g.Status.Listeners)
		}
		r, err := gw.GatewayV1().HTTPRoutes("team").Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(r.Status.Parents) != 1 || meta.FindStatusCondition(r.Status.Parents[0].Conditions, "Accepted") == nil ||
			meta.FindStatusCondition(r.Status.Parents[0].Conditions, "Accepted").Status != metav1.ConditionTrue {
			return fmt.Errorf("route parents %+v, want the ListenerSet, accepted", r.Status.Parents)
		}
		class, err := gw.GatewayV1().GatewayClasses().Get(ctx, "foresight", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(class.Status.SupportedFeatures, func(f gwv1.SupportedFeature) bool { return f.Name == "ListenerSet" }) {
			return fmt.Errorf("class features %v", class.Status.SupportedFeatures)
		}
		return nil
	})

	s, r := edgeListeners(ctx, t, f.xdsAddress)
	var names []string
	for _, a := range r.GetResources() {
		l := &envoy_config_listener_v3.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			t.Fatal(err)
		}
		names = append(names, l.GetName())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"gateway-80", "gateway-8080", "gateway-8443"}) {
		t.Fatalf("listeners %v, want the Gateway's port and the ListenerSet's, its HTTPS one with the Secret of its namespace", names)
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	group := gatewayapi.GatewayNodeGroup("shop", "edge")
	if err := s.Subscribe(resourcev3.RouteType, group+"/gateway-80"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rc := &envoy_config_route_v3.RouteConfiguration{}
	if len(r.GetResources()) != 1 || r.GetResources()[0].UnmarshalTo(rc) != nil {
		t.Fatalf("route configurations %v", r.GetResources())
	}
	var apiCluster string
	for _, vh := range rc.GetVirtualHosts() {
		if slices.Contains(vh.GetDomains(), "api.shop") && len(vh.GetRoutes()) == 1 {
			apiCluster = vh.GetRoutes()[0].GetRoute().GetCluster()
		}
	}
	if want := gatewayapi.ServiceName("team", "api", 80) + ".team"; apiCluster != want {
		t.Errorf("api.shop on port 80 goes to %q, want %q (virtual hosts %v)", apiCluster, want, rc.GetVirtualHosts())
	}

	// clash now names a Gateway that does not exist: what was written on it is cleared (the
	// API server then shows its default, Pending conditions).
	clash, err := gw.GatewayV1().ListenerSets("team").Get(ctx, "clash", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clash.Spec.ParentRef.Name = "gone"
	if _, err := gw.GatewayV1().ListenerSets("team").Update(ctx, clash, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 60*time.Second, "the status of a ListenerSet no longer ours cleared", func() error {
		clash, err := gw.GatewayV1().ListenerSets("team").Get(ctx, "clash", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range clash.Status.Conditions {
			if c.Status != metav1.ConditionUnknown || c.Reason != "Pending" {
				return fmt.Errorf("status %+v", clash.Status)
			}
		}
		if len(clash.Status.Listeners) != 0 {
			return fmt.Errorf("status %+v", clash.Status)
		}
		return nil
	})
}
