//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestServeGatewayAPIIsolatesRefusedGateway runs serve with --gateway-controller-name
// against a real kube-apiserver, with a real grpc-go xDS client of the Gateway shop/edge,
// and a policy file whose node group is named as the node group of a second Gateway,
// shop/tenant: the reconciler refuses every configuration that holds both (duplicate node
// group). The tenant Gateway is singled out and not served: it says Programmed=False with
// its own error, its route stays Accepted; edge is Programmed=True and a change of its route
// reaches the client. Once the policy file no longer uses the name, the tenant is served
// again, although none of its objects changed. Then a change of the tenant's route that the reconciler
// refuses (its backend's policy service name is the file's) leaves the tenant's grpc-go
// client its previous route while edge's change is served, until the route is fixed.
func TestServeGatewayAPIIsolatesRefusedGateway(t *testing.T) {
	s := startShop(t)
	ctx, gw := context.Background(), s.gw
	tenant := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "tenant"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}}}
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, tenant, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.backend(t, "greeter-v1", "v1")
	s.backend(t, "greeter-v2", "v2")
	s.route(t, "greeter", "greeter.shop", backendRef("greeter-v1", 100), backendRef("greeter-v2", 0))
	tenantRoute := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "tenant-greeter"}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "tenant"}}},
		Hostnames:       []gwv1.Hostname{"tenant.shop"},
		Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{backendRef("greeter-v1", 1)}}}}}
	if _, err := gw.GatewayV1().GRPCRoutes("shop").Create(ctx, tenantRoute, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	f := gatewayServeFlags(t, s.c, t.TempDir())
	f.reloadInterval = 100 * time.Millisecond
	file := func(group string) string {
		return `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: platform}
spec:
  services:
    - {name: legacy, port: 8080, endpoints: [{address: 127.0.0.1, port: 9}]}
    - {name: shop-taken-50051, port: 50051, endpoints: [{address: 127.0.0.1, port: 9}]}
  virtualHosts: [{name: legacy, domains: [legacy.example], routes: [{name: legacy, backends: [{service: legacy}]}]}]
  nodeGroups:
    - {name: ` + group + `, kind: gateway, selector: {team: legacy}, virtualHosts: [legacy]}
`
	}
	if err := os.WriteFile(f.policy, []byte(file("gw.shop.tenant")), 0o644); err != nil {
		t.Fatal(err)
	}
	startServeFlags(t, f)

	programmed := func(name string, status metav1.ConditionStatus, reason, msg string) func() error {
		return func() error {
			got, err := gw.GatewayV1().Gateways("shop").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if err := wantCondition(got.Status.Conditions, "Programmed", status, reason, got.Generation); err != nil {
				return fmt.Errorf("Gateway %s: %w", name, err)
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, "Programmed"); !strings.Contains(c.Message, msg) {
				return fmt.Errorf("Gateway %s: Programmed message %q, want one with %q", name, c.Message, msg)
			}
			return nil
		}
	}
	eventuallyWithin(t, 60*time.Second, "edge programmed", programmed("edge", metav1.ConditionTrue, "Programmed", ""))
	eventuallyWithin(t, 30*time.Second, "tenant refused with its own error", programmed("tenant", metav1.ConditionFalse, "Invalid",
		`configuration refused: policy "platform" refused: `))
	eventuallyWithin(t, 30*time.Second, "tenant's error names its node group", programmed("tenant", metav1.ConditionFalse, "Invalid",
		`duplicate node group "gw.shop.tenant"`))
	eventuallyWithin(t, 30*time.Second, "the tenant's route stays accepted", func() error {
		got, err := gw.GatewayV1().GRPCRoutes("shop").Get(ctx, "tenant-greeter", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.Status.Parents) != 1 {
			return fmt.Errorf("parents %+v", got.Status.Parents)
		}
		return wantCondition(got.Status.Parents[0].Conditions, "Accepted", metav1.ConditionTrue, "Accepted", got.Generation)
	})

	// The edge Gateway is served, and so is a change of its route.
	conn := gatewayClient(t, f.xdsAddress, "greeter.shop")
	eventuallyWithin(t, 30*time.Second, "edge's route served", func() error { return onlyFrom(conn, "v1", 20) })
	s.setBackends(t, "greeter", backendRef("greeter-v1", 0), backendRef("greeter-v2", 1))
	eventuallyWithin(t, 30*time.Second, "edge's changed route served", func() error { return onlyFrom(conn, "v2", 20) })
	if err := programmed("tenant", metav1.ConditionFalse, "Invalid", `duplicate node group "gw.shop.tenant"`)(); err != nil {
		t.Fatal(err)
	}

	// The policy file gives up the name: the tenant is served with no change of its objects.
	if err := os.WriteFile(f.policy, []byte(file("platform-legacy")), 0o644); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 60*time.Second, "tenant programmed once the file no longer uses its name",
		programmed("tenant", metav1.ConditionTrue, "Programmed", ""))
	eventuallyWithin(t, 30*time.Second, "edge still programmed", programmed("edge", metav1.ConditionTrue, "Programmed", ""))
	if err := onlyFrom(conn, "v2", 10); err != nil {
		t.Fatal(err)
	}

	// The tenant's client is served its route. Then the route moves to Service taken, whose
	// policy service name the file also uses: the tenant's new configuration is refused on its
	// own while edge changes too. The edge change is served, the tenant's client keeps its
	// previous route, and the tenant says its last good configuration keeps serving.
	tenantConn := gatewayClientOf(t, f.xdsAddress, "tenant", "tenant.shop")
	eventuallyWithin(t, 30*time.Second, "tenant's route served", func() error { return onlyFrom(tenantConn, "v1", 10) })
	s.backend(t, "taken", "taken")
	s.setBackends(t, "tenant-greeter", backendRef("taken", 1))
	eventuallyWithin(t, 30*time.Second, "tenant refused, its last good configuration kept", programmed("tenant", metav1.ConditionFalse, "Invalid",
		"its last good configuration keeps serving"))
	if err := programmed("tenant", metav1.ConditionFalse, "Invalid", `duplicate service "shop-taken-50051"`)(); err != nil {
		t.Fatal(err)
	}
	s.setBackends(t, "greeter", backendRef("greeter-v1", 1), backendRef("greeter-v2", 0))
	eventuallyWithin(t, 30*time.Second, "edge's change served", func() error { return onlyFrom(conn, "v1", 20) })
	if err := onlyFrom(tenantConn, "v1", 20); err != nil {
		t.Fatalf("the tenant's last good route: %v", err)
	}
	if err := programmed("tenant", metav1.ConditionFalse, "Invalid", "its last good configuration keeps serving")(); err != nil {
		t.Fatal(err)
	}

	// The tenant's route is fixed: its new version is served.
	s.setBackends(t, "tenant-greeter", backendRef("greeter-v2", 1))
	eventuallyWithin(t, 30*time.Second, "tenant's new route served", func() error { return onlyFrom(tenantConn, "v2", 10) })
	eventuallyWithin(t, 30*time.Second, "tenant programmed", programmed("tenant", metav1.ConditionTrue, "Programmed", ""))
}
