//go:build integration

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// TestServeGatewayAPIBackendRefs runs serve with --gateway-controller-name as a service
// account with only the shipped ClusterRole, against a real kube-apiserver, with a real
// grpc-go xDS client:
//   - a rule with a valid and an invalid backendRef of equal weight: the route says
//     ResolvedRefs=False (BackendNotFound), and about half of the calls fail at once with
//     UNAVAILABLE (the invalid share is not given to the valid backend, and never hangs);
//   - a backendRef to a Service in another namespace is RefNotPermitted and never reached
//     until a ReferenceGrant there permits it, and again once the grant is deleted.
func TestServeGatewayAPIBackendRefs(t *testing.T) {
	ctx := context.Background()
	sh := startShop(t, "stock")
	c, gw := sh.c, sh.gw
	// shop/greeter-v1 answers "v1", stock/items answers "stock".
	sh.backendIn(t, "shop", "greeter-v1", "v1")
	sh.backendIn(t, "stock", "items", "stock")
	port := gwv1.PortNumber(50051)
	backendRef := func(ns, name string, weight int32) gwv1.GRPCBackendRef {
		r := gwv1.GRPCBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: &port}, Weight: &weight}}
		if ns != "" {
			n := gwv1.Namespace(ns)
			r.Namespace = &n
		}
		return r
	}
	grpcRoute := func(name, host string, refs ...gwv1.GRPCBackendRef) *gwv1.GRPCRoute {
		return &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: gwv1.GRPCRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}},
			Hostnames:       []gwv1.Hostname{gwv1.Hostname(host)},
			Rules:           []gwv1.GRPCRouteRule{{BackendRefs: refs}}}}
	}
	for _, r := range []*gwv1.GRPCRoute{
		grpcRoute("half", "half.shop", backendRef("", "greeter-v1", 1), backendRef("", "greeter-gone", 1)),
		grpcRoute("cross", "cross.shop", backendRef("stock", "items", 1)),
	} {
		if _, err := gw.GatewayV1().GRPCRoutes("shop").Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	f := gatewayServeFlags(t, c, t.TempDir())
	startServeFlags(t, f)

	routeStatus := func(name string, typ string, status metav1.ConditionStatus, reason string) func() error {
		return func() error {
			got, err := gw.GatewayV1().GRPCRoutes("shop").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(got.Status.Parents) != 1 {
				return fmt.Errorf("parents %+v", got.Status.Parents)
			}
			return wantCondition(got.Status.Parents[0].Conditions, typ, status, reason, got.Generation)
		}
	}

	eventuallyWithin(t, 60*time.Second, "Gateway programmed", func() error {
		got, err := gw.GatewayV1().Gateways("shop").Get(ctx, "edge", metav1.GetOptions{})
		if err != nil {
			return err
		}
		return wantCondition(got.Status.Conditions, "Programmed", metav1.ConditionTrue, "Programmed", got.Generation)
	})

	// Half the weight on a missing Service: half the calls fail, at once, with UNAVAILABLE.
	eventuallyWithin(t, 60*time.Second, "half: BackendNotFound", routeStatus("half", "ResolvedRefs", metav1.ConditionFalse, "BackendNotFound"))
	eventuallyWithin(t, 30*time.Second, "half: accepted", routeStatus("half", "Accepted", metav1.ConditionTrue, "Accepted"))
	half := gatewayClient(t, f.xdsAddress, "half.shop")
	eventuallyWithin(t, 30*time.Second, "half: v1 answers", func() error {
		who, err := whoAnswers(half)
		if err == nil && who != "v1" {
			return fmt.Errorf("answered by %q", who)
		}
		return err
	})
	const calls = 60
	answered, unavailable := 0, 0
	for range calls {
		who, err := whoAnswers(half)
		switch {
		case err == nil && who == "v1":
			answered++
		case status.Code(err) == codes.Unavailable:
			unavailable++
		default:
			t.Fatalf("a call through the half-invalid route: answered by %q, error %v (want v1 or UNAVAILABLE)", who, err)
		}
	}
	// Binomial(60, 0.5): outside 15..45 with probability below 1e-4.
	if unavailable < 15 || answered < 15 {
		t.Errorf("%d of %d calls answered by v1 and %d failed: want about half each (the invalid backendRef's share)", answered, calls, unavailable)
	}

	// A backendRef to another namespace: refused until a ReferenceGrant permits it.
	eventuallyWithin(t, 30*time.Second, "cross: RefNotPermitted", routeStatus("cross", "ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted"))
	cross := gatewayClient(t, f.xdsAddress, "cross.shop")
	notReached := func() error {
		for range 5 {
			if who, err := whoAnswers(cross); err == nil {
				return fmt.Errorf("a call through the cross-namespace route was answered by %q", who)
			}
		}
		return nil
	}
	if err := notReached(); err != nil {
		t.Fatal(err)
	}
	grant := &gwv1beta1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "stock", Name: "shop-routes"}, Spec: gwv1beta1.ReferenceGrantSpec{
		From: []gwv1beta1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: "GRPCRoute", Namespace: "shop"}},
		To:   []gwv1beta1.ReferenceGrantTo{{Group: "", Kind: "Service"}}}}
	if _, err := gw.GatewayV1beta1().ReferenceGrants("stock").Create(ctx, grant, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "cross: resolved by the grant", routeStatus("cross", "ResolvedRefs", metav1.ConditionTrue, "ResolvedRefs"))
	eventuallyWithin(t, 30*time.Second, "cross: served", func() error { return onlyFrom(cross, "stock", 10) })
	if err := gw.GatewayV1beta1().ReferenceGrants("stock").Delete(ctx, "shop-routes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "cross: RefNotPermitted again", routeStatus("cross", "ResolvedRefs", metav1.ConditionFalse, "RefNotPermitted"))
	eventuallyWithin(t, 30*time.Second, "cross: no longer served", notReached)
}
