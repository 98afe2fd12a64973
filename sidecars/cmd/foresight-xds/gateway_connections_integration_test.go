//go:build integration

package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	envoy_config_listener_v3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	envoy_extensions_filters_network_tcp_proxy_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/translate"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

// TestServeGatewayAPITLSPassthroughAndTCP runs serve with --gateway-controller-name against
// a real kube-apiserver serving TLSRoutes and TCPRoutes (v1), as the ServiceAccount with the
// shipped ClusterRole: a Gateway with a TLS passthrough listener on 8443 (beside an HTTPS
// listener for www.shop, which keeps that name and any other the TLS routes do not take), a TLS listener that
// terminates TLS on 9443 with a Secret's certificate beside one that passes it through for
// db.shop, and a TCP listener on 5432, a TLSRoute for web.shop on the first two TLS
// listeners, one for db.shop on the third, and two TCPRoutes on the TCP listener. The
// statuses written say what the Gateway API asks (both TCPRoutes accepted and attached, the
// older served), the class lists the TLSRoute and TCPRoute features, and the Gateway's Envoy
// proxy is served a listener per port that forwards connections: by server name with the TLS
// inspector on 8443 and 9443 (terminating TLS there for web.shop, not for db.shop), every
// connection on 5432, to clusters of their own.
func TestServeGatewayAPITLSPassthroughAndTCP(t *testing.T) {
	ctx := context.Background()
	sh := startGatewayCluster(t, "shop")
	c, gw := sh.c, sh.gw
	installGatewayCRDs(t, c, nil, "tlsroutes", "tcproutes")
	for _, s := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, AppProtocol: ptrTo("https")}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}},
	} {
		if _, err := c.Admin.CoreV1().Services("shop").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sh.createClass(t)
	crt, key := pki.ServerPair(t, "web.shop")
	sh.createTLSSecret(t, "web-cert", crt, key)
	wild := gwv1.Hostname("*.shop")
	gateway := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{
			{Name: "tls", Port: 8443, Protocol: gwv1.TLSProtocolType, Hostname: &wild, TLS: &gwv1.ListenerTLSConfig{Mode: ptrTo(gwv1.TLSModePassthrough)}},
			{Name: "db", Port: 5432, Protocol: gwv1.TCPProtocolType},
			{Name: "tls-terminate", Port: 9443, Protocol: gwv1.TLSProtocolType, Hostname: &wild,
				TLS: &gwv1.ListenerTLSConfig{Mode: ptrTo(gwv1.TLSModeTerminate), CertificateRefs: []gwv1.SecretObjectReference{{Name: "web-cert"}}}},
			{Name: "tls-passthrough-db", Port: 9443, Protocol: gwv1.TLSProtocolType, Hostname: ptrTo(gwv1.Hostname("db.shop")), TLS: &gwv1.ListenerTLSConfig{Mode: ptrTo(gwv1.TLSModePassthrough)}},
			{Name: "https", Port: 8443, Protocol: gwv1.HTTPSProtocolType, Hostname: ptrTo(gwv1.Hostname("www.shop")),
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "web-cert"}}}},
		}}}
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, gateway, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	section := func(s string) []gwv1.ParentReference {
		return []gwv1.ParentReference{{Name: "edge", SectionName: ptrTo(gwv1.SectionName(s))}}
	}
	backend := func(name string, port gwv1.PortNumber) []gwv1.BackendRef {
		return []gwv1.BackendRef{{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: &port}}}
	}
	if _, err := gw.GatewayV1().TLSRoutes("shop").Create(ctx, &gwv1.TLSRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: gwv1.TLSRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: append(section("tls"), section("tls-terminate")...)}, Hostnames: []gwv1.Hostname{"web.shop"},
		Rules: []gwv1.TLSRouteRule{{BackendRefs: backend("web", 443)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gw.GatewayV1().TLSRoutes("shop").Create(ctx, &gwv1.TLSRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db"}, Spec: gwv1.TLSRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: section("tls-passthrough-db")}, Hostnames: []gwv1.Hostname{"db.shop"},
		Rules: []gwv1.TLSRouteRule{{BackendRefs: backend("db", 5432)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"pg", "pg-copy"} {
		if i > 0 {
			time.Sleep(time.Second) // creation times have whole seconds: the first is older
		}
		if _, err := gw.GatewayV1().TCPRoutes("shop").Create(ctx, &gwv1.TCPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: gwv1.TCPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: section("db")}, Rules: []gwv1.TCPRouteRule{{BackendRefs: backend("db", 5432)}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	f := gatewayServeFlags(t, c, t.TempDir())
	startServeFlags(t, f)

	eventuallyWithin(t, 60*time.Second, "route, listener and class statuses written", func() error {
		tls, err := gw.GatewayV1().TLSRoutes("shop").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(tls.Status.Parents) != 2 {
			return fmt.Errorf("TLSRoute parents %+v", tls.Status.Parents)
		}
		for _, parent := range tls.Status.Parents {
			for _, typ := range []string{"Accepted", "ResolvedRefs"} {
				if err := wantCondition(parent.Conditions, typ, metav1.ConditionTrue, typ, tls.Generation); err != nil {
					return fmt.Errorf("TLSRoute on %s: %w", *parent.ParentRef.SectionName, err)
				}
			}
		}
		tcp, err := gw.GatewayV1().TCPRoutes("shop").Get(ctx, "pg-copy", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(tcp.Status.Parents) != 1 {
			return fmt.Errorf("TCPRoute pg-copy parents %+v", tcp.Status.Parents)
		}
		if a := meta.FindStatusCondition(tcp.Status.Parents[0].Conditions, "Accepted"); a == nil || a.Status != metav1.ConditionTrue || !strings.Contains(a.Message, "TCPRoute shop/pg") {
			return fmt.Errorf("TCPRoute pg-copy Accepted %+v, want True saying pg is served", a)
		}
		g, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(g.Status.Listeners) != 5 || g.Status.Listeners[0].AttachedRoutes != 1 || g.Status.Listeners[1].AttachedRoutes != 2 || g.Status.Listeners[2].AttachedRoutes != 1 || g.Status.Listeners[3].AttachedRoutes != 1 {
			return fmt.Errorf("listeners %+v, want 1, 2, 1 and 1 attached routes", g.Status.Listeners)
		}
		for _, l := range g.Status.Listeners {
			if c := meta.FindStatusCondition(l.Conditions, "Programmed"); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("listener %s Programmed %+v", l.Name, c)
			}
		}
		class, err := gw.GatewayV1().GatewayClasses().Get(ctx, "foresight", metav1.GetOptions{})
		if err != nil {
			return err
		}
		var names []string
		for _, f := range class.Status.SupportedFeatures {
			names = append(names, string(f.Name))
		}
		if !slices.Contains(names, "TLSRoute") || !slices.Contains(names, "TCPRoute") || !slices.Contains(names, "TLSRouteModeMixed") {
			return fmt.Errorf("class features %v", names)
		}
		return nil
	})

	conn, err := xdstest.Dial(f.xdsAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := openEdgeProxy(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clusters := map[string]bool{}
	for _, a := range r.GetResources() {
		cl := &envoy_config_cluster_v3.Cluster{}
		if err := a.UnmarshalTo(cl); err != nil {
			t.Fatal(err)
		}
		if cl.GetTransportSocket() != nil {
			t.Errorf("cluster %s originates TLS; passed-through connections carry the client's", cl.GetName())
		}
		clusters[cl.GetName()] = true
	}
	if err := s.ACK(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(resourcev3.ListenerType); err != nil {
		t.Fatal(err)
	}
	if r, err = s.Recv(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	web, db := gatewayapi.ServiceName("shop", "web", 443)+"-tcp.shop", gatewayapi.ServiceName("shop", "db", 5432)+"-tcp.shop"
	type chain struct {
		serverNames []string
		cluster     string
		terminates  bool
	}
	// On 8443 the HTTPS listener for www.shop shares the port with the TLS passthrough one:
	// HTTP for www.shop and any name no other chain takes, web.shop passed through, and the
	// rest of *.shop closed.
	want := map[string][]chain{"gateway-8443": {{[]string{"www.shop"}, "", true}, {nil, "", true}, {[]string{"web.shop"}, web, false}, {[]string{"*.shop"}, translate.UnresolvedCluster, false}},
		"gateway-5432": {{nil, db, false}},
		"gateway-9443": {{[]string{"web.shop"}, web, true}, {[]string{"db.shop"}, db, false}}}
	for _, a := range r.GetResources() {
		l := &envoy_config_listener_v3.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			t.Fatal(err)
		}
		ws, ok := want[l.GetName()]
		if !ok {
			t.Fatalf("unexpected listener %s", l.GetName())
		}
		delete(want, l.GetName())
		chains := l.GetFilterChains()
		if len(chains) != len(ws) {
			t.Fatalf("listener %s: filter chains %v, want %d", l.GetName(), chains, len(ws))
		}
		if inspects := len(l.GetListenerFilters()) == 1 && l.GetListenerFilters()[0].GetName() == translate.TLSInspectorFilter; inspects != (ws[0].serverNames != nil) {
			t.Errorf("listener %s: listener filters %v", l.GetName(), l.GetListenerFilters())
		}
		for _, w := range ws {
			i := slices.IndexFunc(chains, func(c *envoy_config_listener_v3.FilterChain) bool {
				return slices.Equal(c.GetFilterChainMatch().GetServerNames(), w.serverNames)
			})
			if i < 0 {
				t.Fatalf("listener %s: no chain for server names %v in %v", l.GetName(), w.serverNames, chains)
			}
			if ts := chains[i].GetTransportSocket(); (ts.GetName() == translate.TLSTransportSocket) != w.terminates {
				t.Errorf("listener %s, chain %d: transport socket %v, want TLS terminated %v", l.GetName(), i, ts, w.terminates)
			}
			if w.cluster == "" {
				if f := chains[i].GetFilters()[0].GetName(); f != translate.HCMFilter {
					t.Errorf("listener %s, chain %d: filter %s, want HTTP", l.GetName(), i, f)
				}
				continue
			}
			p := &envoy_extensions_filters_network_tcp_proxy_v3.TcpProxy{}
			if err := chains[i].GetFilters()[0].GetTypedConfig().UnmarshalTo(p); err != nil {
				t.Fatalf("listener %s: %v", l.GetName(), err)
			}
			if p.GetCluster() != w.cluster || !clusters[w.cluster] && w.cluster != translate.UnresolvedCluster {
				t.Errorf("listener %s, chain %d forwards to %q (served clusters %v), want %q", l.GetName(), i, p.GetCluster(), clusters, w.cluster)
			}
		}
	}
	if len(want) != 0 {
		t.Fatalf("listeners not served: %v", want)
	}

	// A Gateway whose only listener is a TCP one without a route: its proxy joins its group
	// and is served no listener, then the TCPRoute's listener on the same stream.
	waiting := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "waiting"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{{Name: "db", Port: 6432, Protocol: gwv1.TCPProtocolType}}}}
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, waiting, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 60*time.Second, "the waiting Gateway programmed", func() error {
		g, err := gw.GatewayV1().Gateways("shop").Get(ctx, "waiting", metav1.GetOptions{})
		if err != nil {
			return err
		}
		return wantCondition(g.Status.Conditions, "Programmed", metav1.ConditionTrue, "Programmed", g.Generation)
	})
	ws, err := xdstest.Open(ctx, conn, xdstest.Node("waiting-1", "waiting", map[string]string{gatewayapi.GatewayMetadataKey: gatewayapi.GatewayMetadata("shop", "waiting")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Subscribe(resourcev3.ListenerType); err != nil {
		t.Fatal(err)
	}
	r, err = ws.Recv(30 * time.Second)
	if err != nil {
		t.Fatalf("a proxy of a Gateway waiting for its first route: %v", err)
	}
	if len(r.GetResources()) != 0 {
		t.Fatalf("listeners %v before a route attaches, want none", r.GetResources())
	}
	if err := ws.ACK(r); err != nil {
		t.Fatal(err)
	}
	if _, err := gw.GatewayV1().TCPRoutes("shop").Create(ctx, &gwv1.TCPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pg-waiting"}, Spec: gwv1.TCPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "waiting"}}}, Rules: []gwv1.TCPRouteRule{{BackendRefs: backend("db", 5432)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r, err = ws.Recv(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if len(r.GetResources()) != 1 {
		t.Fatalf("listeners %v once a route attaches, want one", r.GetResources())
	}
	l := &envoy_config_listener_v3.Listener{}
	if err := r.GetResources()[0].UnmarshalTo(l); err != nil || l.GetName() != "gateway-6432" {
		t.Fatalf("listener %v (%v), want gateway-6432", l.GetName(), err)
	}
}
