//go:build integration

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
)

// callCode is the gRPC status code of one health check through conn.
func callCode(conn *grpc.ClientConn) codes.Code {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return status.Code(err)
}

// codesSeen calls until every code of want was seen at least n times (other codes fail).
func codesSeen(conn *grpc.ClientConn, n int, want ...codes.Code) error {
	seen := map[codes.Code]int{}
	for range 400 {
		c := callCode(conn)
		if !contains(want, c) {
			return fmt.Errorf("call ended with %v, want one of %v (seen %v)", c, want, seen)
		}
		seen[c]++
		done := true
		for _, w := range want {
			done = done && seen[w] >= n
		}
		if done {
			return nil
		}
	}
	return fmt.Errorf("seen %v, want each of %v %d times", seen, want, n)
}

func contains(cs []codes.Code, c codes.Code) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// policyAccepted polls the Accepted condition of an attached policy's one ancestor.
func policyAccepted(ctx context.Context, r dynamic.ResourceInterface, name string, st metav1.ConditionStatus, reason, msg string) func() error {
	return func() error {
		u, err := r.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ancestors, _, _ := unstructured.NestedSlice(u.Object, "status", "ancestors")
		if len(ancestors) != 1 {
			return fmt.Errorf("ancestors %v", ancestors)
		}
		a := ancestors[0].(map[string]any)
		if a["controllerName"] != gatewayController {
			return fmt.Errorf("controllerName %v", a["controllerName"])
		}
		conds, _, _ := unstructured.NestedSlice(a, "conditions")
		for _, c := range conds {
			m := c.(map[string]any)
			if m["type"] != "Accepted" {
				continue
			}
			if m["status"] != string(st) || m["reason"] != reason || !strings.Contains(fmt.Sprint(m["message"]), msg) ||
				fmt.Sprint(m["observedGeneration"]) != fmt.Sprint(u.GetGeneration()) {
				return fmt.Errorf("Accepted = %v (generation %d)", m, u.GetGeneration())
			}
			return nil
		}
		return fmt.Errorf("no Accepted condition in %v", conds)
	}
}

// update changes the spec of the attached policy name with change, retrying on conflicts
// (the control plane writes its status meanwhile).
func update(t testing.TB, r dynamic.ResourceInterface, name string, change func(spec map[string]any)) {
	t.Helper()
	eventuallyWithin(t, 30*time.Second, "update "+name, func() error {
		u, err := r.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		spec, _, err := unstructured.NestedMap(u.Object, "spec")
		if err != nil {
			return err
		}
		change(spec)
		if err := unstructured.SetNestedMap(u.Object, spec, "spec"); err != nil {
			return err
		}
		_, err = r.Update(context.Background(), u, metav1.UpdateOptions{})
		return err
	})
}

// experimentRun checks the status.experiment of ExperimentPolicy name: its state, and the
// reason (containing reason) and time of an abort.
func experimentRun(ctx context.Context, r dynamic.ResourceInterface, name, state, reason string) func() error {
	return func() error {
		ep, err := getPolicy[gatewayapi.ExperimentPolicy](ctx, r, name)
		if err != nil {
			return err
		}
		run := ep.Status.Experiment
		if run == nil || run.State != state || !strings.Contains(run.Reason, reason) || (reason != "") != (run.AbortedAt != nil) {
			return fmt.Errorf("status.experiment %+v, want %s (%q)", run, state, reason)
		}
		if len(ep.Status.Ancestors) == 0 {
			return fmt.Errorf("the ancestors' statuses are gone beside status.experiment %+v", run)
		}
		return nil
	}
}

func attached(kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "foresight.dev/v1alpha1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "shop"}, "spec": spec}}
}

func targetRoute(kind, name string) []any {
	return []any{map[string]any{"group": gwv1.GroupName, "kind": kind, "name": name}}
}

// TestServeGatewayAPIAttachedPolicies runs serve with --gateway-controller-name against a
// real kube-apiserver (CRDs from deploy/xds/crds, the shipped ClusterRole only) and a real
// grpc-go xDS client of a GRPCRoute: a BackendTrafficPolicy's fault (abort half the calls
// with UNAVAILABLE) reaches the client and goes away when the policy is deleted; an
// ExperimentPolicy's fault reaches it while the experiment runs and goes away when its
// time box ends; a BackendTrafficPolicy on a missing route (TargetNotFound), a second one on
// the same route (Conflicted), an invalid one and an ExperimentPolicy whose guard does not
// parse (Invalid) are refused on their status while the last good configuration keeps
// serving; the accepted BackendTrafficPolicy and the running ExperimentPolicy updated to
// invalid versions are refused on their status while their last accepted generation keeps
// applying to the client's calls, and fixed versions apply.
func TestServeGatewayAPIAttachedPolicies(t *testing.T) {
	ctx := context.Background()
	sh := startShop(t)
	c, gw, dyn := sh.c, sh.gw, sh.dyn
	sh.backend(t, "greeter", "v1")
	port := gwv1.PortNumber(50051)
	if _, err := gw.GatewayV1().GRPCRoutes("shop").Create(ctx, &gwv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "greeter"}, Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}},
		Hostnames:       []gwv1.Hostname{"greeter.shop"},
		Rules:           []gwv1.GRPCRouteRule{{BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "greeter", Port: &port}}}}}}}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	f := gatewayServeFlags(t, c, t.TempDir())
	startServeFlags(t, f)

	conn := gatewayClient(t, f.xdsAddress, "greeter.shop")
	eventuallyWithin(t, 60*time.Second, "route served", func() error { return onlyFrom(conn, "v1", 20) })

	// A BackendTrafficPolicy aborts half the calls of the route with UNAVAILABLE.
	btps := dyn.Resource(gatewayapi.BackendTrafficPolicyGVR).Namespace("shop")
	faults := attached(gatewayapi.KindBackendTrafficPolicy, "faults", map[string]any{"targetRefs": targetRoute("GRPCRoute", "greeter"),
		"fault": map[string]any{"abort": map[string]any{"grpcStatus": int64(codes.Unavailable), "percent": int64(50)}}})
	if _, err := btps.Create(ctx, faults, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "fault policy accepted", policyAccepted(ctx, btps, "faults", metav1.ConditionTrue, "Accepted", ""))
	eventuallyWithin(t, 30*time.Second, "half the calls aborted", func() error { return codesSeen(conn, 5, codes.OK, codes.Unavailable) })

	// Refused ones, each on its status; the fault keeps being served as it was.
	refused := []struct {
		name, reason, msg string
		spec              map[string]any
	}{
		{"missing-route", "TargetNotFound", "HTTPRoute shop/nope does not exist", map[string]any{"targetRefs": targetRoute("HTTPRoute", "nope"),
			"timeout": "1s"}},
		{"second", "Conflicted", "GRPCRoute/shop/greeter is already the target of BackendTrafficPolicy faults", map[string]any{"targetRefs": targetRoute("GRPCRoute", "greeter"),
			"timeout": "1s"}},
		{"bad-retries", "Invalid", `spec.retries.on[0]: unknown retry condition "sometimes"`, map[string]any{
			"targetRefs": []any{map[string]any{"group": "", "kind": "Service", "name": "greeter"}},
			"retries":    map[string]any{"on": []any{"sometimes"}, "count": int64(2)}}},
	}
	for _, r := range refused {
		if _, err := btps.Create(ctx, attached(gatewayapi.KindBackendTrafficPolicy, r.name, r.spec), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range refused {
		eventuallyWithin(t, 30*time.Second, r.name+" refused", policyAccepted(ctx, btps, r.name, metav1.ConditionFalse, r.reason, r.msg))
	}
	if err := codesSeen(conn, 5, codes.OK, codes.Unavailable); err != nil {
		t.Fatalf("after the refused policies: %v", err)
	}

	// The accepted policy is updated to an invalid version (an abort with both statuses):
	// refused on its status, which says its generation 1 is still applied, and the client
	// keeps getting generation 1's fault. A fixed version (abort with RESOURCE_EXHAUSTED)
	// applies.
	update(t, btps, "faults", func(spec map[string]any) {
		spec["fault"] = map[string]any{"abort": map[string]any{"grpcStatus": int64(codes.Unavailable), "httpStatus": int64(503), "percent": int64(50)}}
	})
	eventuallyWithin(t, 30*time.Second, "invalid update refused", policyAccepted(ctx, btps, "faults", metav1.ConditionFalse, "Invalid",
		"spec.fault.abort: exactly one of httpStatus, grpcStatus"))
	if err := policyAccepted(ctx, btps, "faults", metav1.ConditionFalse, "Invalid", "the last accepted generation 1 is still applied")(); err != nil {
		t.Fatal(err)
	}
	if err := codesSeen(conn, 5, codes.OK, codes.Unavailable); err != nil {
		t.Fatalf("after the invalid update: %v", err)
	}
	update(t, btps, "faults", func(spec map[string]any) {
		spec["fault"] = map[string]any{"abort": map[string]any{"grpcStatus": int64(codes.ResourceExhausted), "percent": int64(50)}}
	})
	eventuallyWithin(t, 30*time.Second, "fixed update accepted", policyAccepted(ctx, btps, "faults", metav1.ConditionTrue, "Accepted", ""))
	eventuallyWithin(t, 30*time.Second, "fixed update served", func() error { return codesSeen(conn, 5, codes.OK, codes.ResourceExhausted) })

	if err := btps.Delete(ctx, "faults", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The conflict is gone with the policy it conflicted with: "second" (a timeout) applies.
	eventuallyWithin(t, 30*time.Second, "second policy accepted", policyAccepted(ctx, btps, "second", metav1.ConditionTrue, "Accepted", ""))
	eventuallyWithin(t, 30*time.Second, "fault gone", func() error { return onlyFrom(conn, "v1", 30) })

	// An ExperimentPolicy: every call fails with RESOURCE_EXHAUSTED while it runs.
	exps := dyn.Resource(gatewayapi.ExperimentPolicyGVR).Namespace("shop")
	drill := attached(gatewayapi.KindExperimentPolicy, "drill", map[string]any{"targetRefs": targetRoute("GRPCRoute", "greeter"),
		"fault": map[string]any{"abort": map[string]any{"grpcStatus": int64(codes.ResourceExhausted), "percent": int64(100)}},
		"start": time.Now().Add(-time.Second).UTC().Format(time.RFC3339), "duration": "1h"})
	if _, err := exps.Create(ctx, drill, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "experiment accepted", policyAccepted(ctx, exps, "drill", metav1.ConditionTrue, "Accepted", ""))
	eventuallyWithin(t, 30*time.Second, "experiment fault served", func() error { return codesSeen(conn, 10, codes.ResourceExhausted) })
	name := gatewayapi.ExperimentName("shop", "drill")
	waitFor(t, "experiment running", func() bool {
		return metric(t, f.metricsAddr, fmt.Sprintf(`foresight_experiment_state{experiment=%q,state="running"} 1`, name))
	})
	eventuallyWithin(t, 30*time.Second, "status.experiment running", experimentRun(ctx, exps, "drill", "running", ""))
	badGuard := attached(gatewayapi.KindExperimentPolicy, "bad-guard", map[string]any{"targetRefs": targetRoute("GRPCRoute", "greeter"),
		"fault": map[string]any{"delay": map[string]any{"fixed": "1s", "percent": int64(100)}},
		"start": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339), "duration": "1h",
		"guard": map[string]any{"query": "sum(rate(errors_total[1m]) > 1"}})
	if _, err := exps.Create(ctx, badGuard, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "bad guard refused", policyAccepted(ctx, exps, "bad-guard", metav1.ConditionFalse, "Invalid", "spec.guard.query: does not parse"))
	if err := codesSeen(conn, 10, codes.ResourceExhausted); err != nil {
		t.Fatalf("after the refused experiment: %v", err)
	}

	// The running experiment is updated with a guard that does not parse: refused, and its
	// generation 1 keeps running.
	update(t, exps, "drill", func(spec map[string]any) { spec["guard"] = map[string]any{"query": "sum(rate(errors_total[1m]) > 1"} })
	eventuallyWithin(t, 30*time.Second, "experiment update refused", policyAccepted(ctx, exps, "drill", metav1.ConditionFalse, "Invalid",
		"spec.guard.query: does not parse"))
	if err := policyAccepted(ctx, exps, "drill", metav1.ConditionFalse, "Invalid", "the last accepted generation 1 is still applied")(); err != nil {
		t.Fatal(err)
	}
	if err := codesSeen(conn, 10, codes.ResourceExhausted); err != nil {
		t.Fatalf("after the refused experiment update: %v", err)
	}

	// The time box ends (the guard removed and the duration shortened to one that is over):
	// the fixed version applies and the fault goes away.
	update(t, exps, "drill", func(spec map[string]any) {
		delete(spec, "guard")
		spec["duration"] = "1s"
	})
	eventuallyWithin(t, 30*time.Second, "fixed experiment accepted", policyAccepted(ctx, exps, "drill", metav1.ConditionTrue, "Accepted", ""))
	eventuallyWithin(t, 30*time.Second, "experiment over", func() error { return onlyFrom(conn, "v1", 30) })
	waitFor(t, "experiment completed", func() bool {
		return metric(t, f.metricsAddr, fmt.Sprintf(`foresight_experiment_state{experiment=%q,state="completed"} 1`, name))
	})
	eventuallyWithin(t, 30*time.Second, "status.experiment completed", experimentRun(ctx, exps, "drill", "completed", ""))

	// A guarded experiment this control plane cannot watch (it has no Prometheus) is aborted
	// at its first evaluation, and its status says why. (The route is drill's target: drill
	// goes first.)
	if err := exps.Delete(ctx, "drill", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	guarded := attached(gatewayapi.KindExperimentPolicy, "guarded", map[string]any{"targetRefs": targetRoute("GRPCRoute", "greeter"),
		"fault": map[string]any{"delay": map[string]any{"fixed": "1ms", "percent": int64(100)}},
		"start": time.Now().Add(-time.Second).UTC().Format(time.RFC3339), "duration": "1h",
		"guard": map[string]any{"query": "sum(rate(errors_total[1m])) > 1"}})
	if _, err := exps.Create(ctx, guarded, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, 30*time.Second, "status.experiment aborted", experimentRun(ctx, exps, "guarded", "aborted", "no Prometheus configured to evaluate the guard"))
	eventuallyWithin(t, 30*time.Second, "the experiments' Events", func() error {
		if err := policyEvents(sh.c, gatewayapi.KindExperimentPolicy, "guarded", "Aborted")(); err != nil {
			return err
		}
		return policyEvents(sh.c, gatewayapi.KindExperimentPolicy, "drill", "Started", "Completed")()
	})
}
