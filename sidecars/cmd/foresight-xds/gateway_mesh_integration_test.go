//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/grpcbackend"
)

// TestServeGatewayAPIMeshRoute runs serve with --gateway-controller-name against a real
// kube-apiserver, as a service account with only the shipped ClusterRole, with no Gateway
// at all: a GRPCRoute whose parent is the Service shop/greeter (a mesh route) routes what a
// real grpc-go xDS client of the policy file's mesh sends to greeter. Before the route the
// client reaches greeter's own endpoints; with it, the backends the route names, following
// each change of its weights; while the policy file routes greeter itself, the file's route,
// with the mesh route's status saying it is not accepted; once it is deleted, greeter's own
// again. Its status says Accepted for the Service parent, written by our controller.
func TestServeGatewayAPIMeshRoute(t *testing.T) {
	ctx := context.Background()
	s := startGatewayCluster(t, "shop")
	s.backend(t, "greeter", "v0")
	s.backend(t, "greeter-v1", "v1")
	s.backend(t, "greeter-v2", "v2")

	dir := t.TempDir()
	f := gatewayServeFlags(t, s.c, dir)
	f.reloadInterval = 200 * time.Millisecond // the policy file changes below
	mesh := `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: mesh, namespace: shop}
spec:
  services:
  - {name: greeter, port: 50051, portName: grpc, protocol: grpc, discovery: kubernetes}
  nodeGroups:
  - {name: clients, kind: grpc, selector: {app: clients}}
`
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(mesh), 0o644); err != nil {
		t.Fatal(err)
	}
	startServeFlags(t, f)

	code, bootstrap, errOut := runCmd("bootstrap", "--format", "grpc", "--node", "client-1", "--service", "clients",
		"--xds-address", f.xdsAddress, "--metadata", "app=clients")
	if code != 0 {
		t.Fatalf("bootstrap: exit %d: %s", code, errOut)
	}
	conn, err := grpcbackend.XDSClient(t, []byte(bootstrap), "xds:///greeter")
	if err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 60*time.Second, "no route: greeter's own endpoints", func() error { return onlyFrom(conn, "v0", 10) })

	parent := gwv1.ParentReference{Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")), Name: "greeter", Port: ptrTo(gwv1.PortNumber(50051))}
	route := &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter-split"}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{parent}},
		Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{backendRef("greeter-v1", 0), backendRef("greeter-v2", 1)}}}}}
	if _, err := s.gw.GatewayV1().GRPCRoutes("shop").Create(ctx, route, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "mesh route accepted on the Service", func() error {
		got, err := s.gw.GatewayV1().GRPCRoutes("shop").Get(ctx, "greeter-split", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(got.Status.Parents) != 1 || got.Status.Parents[0].ParentRef.Name != "greeter" || got.Status.Parents[0].ControllerName != gatewayController {
			return fmt.Errorf("parents %+v", got.Status.Parents)
		}
		return wantCondition(got.Status.Parents[0].Conditions, "Accepted", metav1.ConditionTrue, "Accepted", got.Generation)
	})
	eventuallyWithin(t, 30*time.Second, "mesh route: all to v2", func() error { return onlyFrom(conn, "v2", 10) })

	s.setBackends(t, "greeter-split", backendRef("greeter-v1", 1), backendRef("greeter-v2", 0))
	eventuallyWithin(t, 30*time.Second, "weights changed: all to v1", func() error { return onlyFrom(conn, "v1", 10) })

	// The policy file routing greeter itself keeps the route from being served: its status
	// says so, and the clients follow the file's route; once the file routes greeter no
	// more, the mesh route is accepted and served again.
	routeStatus := func(status metav1.ConditionStatus, reason string) func() error {
		return func() error {
			got, err := s.gw.GatewayV1().GRPCRoutes("shop").Get(ctx, "greeter-split", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(got.Status.Parents) != 1 {
				return fmt.Errorf("parents %+v", got.Status.Parents)
			}
			return wantCondition(got.Status.Parents[0].Conditions, "Accepted", status, reason, got.Generation)
		}
	}
	own := strings.Replace(mesh, "discovery: kubernetes}", "discovery: kubernetes, routes: [{name: own}]}", 1)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(own), 0o644); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "the file routes greeter: the mesh route is not accepted", routeStatus(metav1.ConditionFalse, "Conflicted"))
	eventuallyWithin(t, 30*time.Second, "the file routes greeter: its own endpoints", func() error { return onlyFrom(conn, "v0", 10) })
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(mesh), 0o644); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "the file leaves greeter's routes again: accepted", routeStatus(metav1.ConditionTrue, "Accepted"))
	eventuallyWithin(t, 30*time.Second, "the file leaves greeter's routes again: all to v1", func() error { return onlyFrom(conn, "v1", 10) })

	if err := s.gw.GatewayV1().GRPCRoutes("shop").Delete(ctx, "greeter-split", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "route deleted: greeter's own endpoints again", func() error { return onlyFrom(conn, "v0", 10) })
}
