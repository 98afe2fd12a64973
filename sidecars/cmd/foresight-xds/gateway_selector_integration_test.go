//go:build integration

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestServeGatewayAPINamespaceSelector runs serve with --gateway-controller-name as a
// service account with only the shipped ClusterRole, against a real kube-apiserver, with a
// real grpc-go xDS client: the Gateway shop/edge admits routes from the namespaces labelled
// shared-gateway-access=true (allowedRoutes.namespaces.from: Selector). A GRPCRoute in the
// unlabelled namespace team-a is NotAllowedByListeners and not served; labelling team-a
// (the route untouched) makes it Accepted and served; removing the label takes it out again.
func TestServeGatewayAPINamespaceSelector(t *testing.T) {
	ctx := context.Background()
	s := startGatewayCluster(t, "shop", "team-a")
	s.createClass(t)
	from := gwv1.NamespacesFromSelector
	gateway := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType, AllowedRoutes: &gwv1.AllowedRoutes{
			Namespaces: &gwv1.RouteNamespaces{From: &from, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"shared-gateway-access": "true"}}}}}}}}
	gw := s.gw
	if _, err := gw.GatewayV1().Gateways("shop").Create(ctx, gateway, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.backendIn(t, "team-a", "items", "team-a")
	shop := gwv1.Namespace("shop")
	route := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "items"}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Namespace: &shop, Name: "edge"}}},
		Hostnames:       []gwv1.Hostname{"items.team-a"},
		Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{backendRef("items", 1)}}}}}
	created, err := gw.GatewayV1().GRPCRoutes("team-a").Create(ctx, route, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	f := gatewayServeFlags(t, s.c, t.TempDir())
	startServeFlags(t, f)

	accepted := func(status metav1.ConditionStatus, reason string) func() error {
		return func() error {
			got, err := gw.GatewayV1().GRPCRoutes("team-a").Get(ctx, "items", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got.Generation != created.Generation {
				return fmt.Errorf("route generation %d, created %d: the route changed", got.Generation, created.Generation)
			}
			if len(got.Status.Parents) != 1 {
				return fmt.Errorf("parents %+v", got.Status.Parents)
			}
			return wantCondition(got.Status.Parents[0].Conditions, "Accepted", status, reason, got.Generation)
		}
	}
	attached := func(want int32) func() error {
		return func() error {
			gen, l, err := edgeListener(ctx, gw)
			if err != nil {
				return err
			}
			if err := wantCondition(l.Conditions, "Accepted", metav1.ConditionTrue, "Accepted", gen); err != nil {
				return err
			}
			if l.AttachedRoutes != want {
				return fmt.Errorf("attached routes %d, want %d", l.AttachedRoutes, want)
			}
			return nil
		}
	}
	conn := gatewayClient(t, f.xdsAddress, "items.team-a")
	notServed := func() error {
		if who, err := whoAnswers(conn); err == nil {
			return fmt.Errorf("answered by %q", who)
		}
		return nil
	}
	label := func(patch string) {
		t.Helper()
		if _, err := s.c.Admin.CoreV1().Namespaces().Patch(ctx, "team-a", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Unlabelled: not allowed, not served.
	eventuallyWithin(t, 60*time.Second, "route in an unlabelled namespace: NotAllowedByListeners", accepted(metav1.ConditionFalse, "NotAllowedByListeners"))
	eventuallyWithin(t, 30*time.Second, "listener accepted, no route attached", attached(0))
	if err := notServed(); err != nil {
		t.Fatalf("route in an unlabelled namespace served: %v", err)
	}

	// Labelled: accepted and served, the route untouched.
	label(`{"metadata":{"labels":{"shared-gateway-access":"true"}}}`)
	eventuallyWithin(t, 30*time.Second, "route in the labelled namespace: accepted", accepted(metav1.ConditionTrue, "Accepted"))
	eventuallyWithin(t, 30*time.Second, "listener attaches the route", attached(1))
	eventuallyWithin(t, 30*time.Second, "route in the labelled namespace: served", func() error { return onlyFrom(conn, "team-a", 10) })

	// The label removed: taken out.
	label(`{"metadata":{"labels":{"shared-gateway-access":null}}}`)
	eventuallyWithin(t, 30*time.Second, "label removed: NotAllowedByListeners", accepted(metav1.ConditionFalse, "NotAllowedByListeners"))
	eventuallyWithin(t, 30*time.Second, "label removed: no route attached", attached(0))
	eventuallyWithin(t, 30*time.Second, "label removed: no longer served", notServed)
}
