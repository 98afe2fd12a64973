package gatewayapi

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

func routeRef(kind, name string) gwv1.LocalPolicyTargetReference {
	return gwv1.LocalPolicyTargetReference{Group: gwv1.GroupName, Kind: gwv1.Kind(kind), Name: gwv1.ObjectName(name)}
}

func serviceRef(name string) gwv1.LocalPolicyTargetReference {
	return gwv1.LocalPolicyTargetReference{Kind: KindService, Name: gwv1.ObjectName(name)}
}

func btp(name string, created int64, spec BackendTrafficPolicySpec) *BackendTrafficPolicy {
	return &BackendTrafficPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 7, CreationTimestamp: metav1.Unix(created, 0)}, Spec: spec}
}

// accepted returns the Accepted condition of the one ancestor status, and its ancestor.
func accepted(t *testing.T, sts []gwv1.PolicyAncestorStatus) (metav1.Condition, gwv1.ParentReference) {
	t.Helper()
	if len(sts) != 1 {
		t.Fatalf("ancestor statuses %+v, want one", sts)
	}
	return conditions.Require(t, sts[0].Conditions, "Accepted"), sts[0].AncestorRef
}

func findRoute(t *testing.T, spec *policy.Spec, prefix string) []*policy.Route {
	t.Helper()
	var out []*policy.Route
	for i := range spec.VirtualHosts {
		for j := range spec.VirtualHosts[i].Routes {
			if strings.Contains(spec.VirtualHosts[i].Routes[j].Name, prefix) {
				out = append(out, &spec.VirtualHosts[i].Routes[j])
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no route named like %q", prefix)
	}
	return out
}

// TestBackendTrafficPolicy: a policy on a GRPCRoute sets the fault, retries and timeout of
// every rule of the route; one on a Service sets the circuit breaker and outlier detection
// of its policy services; both reach a valid policy, and the statuses name the Gateway.
func TestBackendTrafficPolicy(t *testing.T) {
	in := input()
	grpcStatus := uint32(14)
	in.BackendTrafficPolicies = []*BackendTrafficPolicy{
		btp("greeter-faults", 1, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindGRPCRoute, "greeter")},
			Timeout: &metav1.Duration{Duration: 3 * time.Second},
			Retries: &RetriesSpec{On: []string{"unavailable"}, Count: 2},
			Fault:   &FaultSpec{Abort: &FaultAbortSpec{GRPCStatus: &grpcStatus, Percent: 25}}}),
		btp("web-limits", 2, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("web")},
			CircuitBreaker:   &CircuitBreakerSpec{MaxRequests: 64},
			OutlierDetection: &OutlierDetectionSpec{Consecutive5xx: 5, Interval: &metav1.Duration{Duration: 5 * time.Second}}}),
	}
	res := Translate(in)
	for _, name := range []string{"greeter-faults", "web-limits"} {
		c, a := accepted(t, res.BackendTrafficPolicies[types.NamespacedName{Namespace: "shop", Name: name}])
		if c.Status != metav1.ConditionTrue || c.Reason != "Accepted" || c.ObservedGeneration != 7 {
			t.Errorf("%s: Accepted = %+v", name, c)
		}
		if *a.Kind != KindGateway || a.Name != "edge" {
			t.Errorf("%s: ancestor %+v, want the Gateway shop/edge", name, a)
		}
	}
	for _, r := range findRoute(t, &res.Spec, "GRPCRoute/shop/greeter/") {
		if r.Fault == nil || r.Fault.Abort == nil || *r.Fault.Abort.GRPCStatus != 14 || r.Fault.Abort.Percent != 25 {
			t.Errorf("route %s: fault %+v", r.Name, r.Fault)
		}
		if r.Retries == nil || r.Retries.Count != 2 || r.Timeout.D() != 3*time.Second {
			t.Errorf("route %s: retries %+v timeout %v", r.Name, r.Retries, r.Timeout)
		}
	}
	for _, r := range findRoute(t, &res.Spec, "HTTPRoute/shop/split/") {
		if r.Fault != nil || r.Retries != nil {
			t.Errorf("untargeted route %s got %+v %+v", r.Name, r.Fault, r.Retries)
		}
	}
	var web *policy.Service
	for i := range res.Spec.Services {
		if res.Spec.Services[i].Name == ServiceName("shop", "web", 80) {
			web = &res.Spec.Services[i]
		}
	}
	if web == nil || web.CircuitBreaker == nil || web.CircuitBreaker.MaxRequests != 64 || web.OutlierDetection == nil || web.OutlierDetection.Consecutive5xx != 5 {
		t.Fatalf("service web: %+v", web)
	}
	if err := Merge(base(t), res.Spec).Validate(); err != nil {
		t.Fatalf("merged policy invalid: %v", err)
	}
}

// TestBackendTrafficPolicyRefused: bad settings, missing or unsupported targets, and a second
// policy on a target are refused on their status with the reason the policy-attachment
// pattern defines, and change nothing of what is served.
func TestBackendTrafficPolicyRefused(t *testing.T) {
	good := BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindGRPCRoute, "greeter")}, Retries: &RetriesSpec{On: []string{"unavailable"}, Count: 2}}
	cases := []struct {
		name, reason, msg string
		spec              BackendTrafficPolicySpec
	}{
		{"bad-retry", "Invalid", "spec.retries.on[0]: unknown retry condition \"bogus\"",
			BackendTrafficPolicySpec{TargetRefs: good.TargetRefs, Retries: &RetriesSpec{On: []string{"bogus"}, Count: 1}}},
		{"bad-count", "Invalid", "spec.retries.count: must be 1..10",
			BackendTrafficPolicySpec{TargetRefs: good.TargetRefs, Retries: &RetriesSpec{Count: 50}}},
		{"bad-abort", "Invalid", "spec.fault.abort: exactly one of httpStatus, grpcStatus",
			BackendTrafficPolicySpec{TargetRefs: good.TargetRefs, Fault: &FaultSpec{Abort: &FaultAbortSpec{Percent: 10}}}},
		{"cb-on-route", "Invalid", "spec.circuitBreaker: applies to Services only",
			BackendTrafficPolicySpec{TargetRefs: good.TargetRefs, CircuitBreaker: &CircuitBreakerSpec{MaxRequests: 1}}},
		{"empty", "Invalid", "set at least one of", BackendTrafficPolicySpec{TargetRefs: good.TargetRefs}},
		{"no-route", "TargetNotFound", "spec.targetRefs[0]: HTTPRoute shop/nope does not exist",
			BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindHTTPRoute, "nope")}, Retries: good.Retries}},
		{"no-service", "TargetNotFound", "Service shop/nope does not exist",
			BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("nope")}, Retries: good.Retries}},
		{"gateway-target", "Invalid", "only HTTPRoute and GRPCRoute",
			BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindGateway, "edge")}, Retries: good.Retries}},
		{"second", "Conflicted", "GRPCRoute/shop/greeter is already the target of BackendTrafficPolicy first", good},
	}
	in := input()
	in.BackendTrafficPolicies = append(in.BackendTrafficPolicies, btp("first", 1, good))
	for i, c := range cases {
		in.BackendTrafficPolicies = append(in.BackendTrafficPolicies, btp(c.name, int64(10+i), c.spec))
	}
	res := Translate(in)
	for _, c := range cases {
		got, _ := accepted(t, res.BackendTrafficPolicies[types.NamespacedName{Namespace: "shop", Name: c.name}])
		if got.Status != metav1.ConditionFalse || got.Reason != c.reason || !strings.Contains(got.Message, c.msg) {
			t.Errorf("%s: Accepted = %s/%s %q, want False/%s containing %q", c.name, got.Status, got.Reason, got.Message, c.reason, c.msg)
		}
	}
	for _, r := range findRoute(t, &res.Spec, "GRPCRoute/shop/greeter/") {
		if r.Retries == nil || r.Retries.Count != 2 || r.Fault != nil || r.Timeout != 0 {
			t.Errorf("route %s: the accepted policy's retries only, got retries %+v fault %+v timeout %v", r.Name, r.Retries, r.Fault, r.Timeout)
		}
	}
}

// TestExperimentPolicy: an ExperimentPolicy becomes an experiment whose targets are every
// route its GRPCRoute translates to; bad ones and overlapping ones are refused.
func TestExperimentPolicy(t *testing.T) {
	in := input()
	start := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	exp := func(name string, created int64, spec ExperimentPolicySpec) *ExperimentPolicy {
		return &ExperimentPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 2, CreationTimestamp: metav1.Unix(created, 0)}, Spec: spec}
	}
	code := uint32(8)
	ok := ExperimentPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindGRPCRoute, "greeter")},
		Fault: FaultSpec{Abort: &FaultAbortSpec{GRPCStatus: &code, Percent: 100}}, Start: start, Duration: metav1.Duration{Duration: time.Hour},
		Guard: &GuardSpec{Query: `sum(rate(grpc_server_handled_total{grpc_code!="OK"}[1m])) > 1`}}
	badGuard := ok
	badGuard.Guard = &GuardSpec{Query: "sum(rate(x[1m]"}
	noFault := ok
	noFault.Fault = FaultSpec{}
	later := ok
	later.Start = metav1.NewTime(start.Add(2 * time.Hour))
	overlapping := ok
	overlapping.Start = metav1.NewTime(start.Add(30 * time.Minute))
	in.ExperimentPolicies = []*ExperimentPolicy{exp("drill", 1, ok), exp("bad-guard", 2, badGuard), exp("no-fault", 3, noFault),
		exp("later", 4, later), exp("overlapping", 5, overlapping)}
	res := Translate(in)
	want := map[string]string{"drill": "Accepted", "later": "Accepted", "bad-guard": "Invalid", "no-fault": "Invalid", "overlapping": "Conflicted"}
	for name, reason := range want {
		got, _ := accepted(t, res.ExperimentPolicies[types.NamespacedName{Namespace: "shop", Name: name}])
		if got.Reason != reason || (got.Status == metav1.ConditionTrue) != (reason == "Accepted") {
			t.Errorf("%s: Accepted = %s/%s %q, want %s", name, got.Status, got.Reason, got.Message, reason)
		}
	}
	got, _ := accepted(t, res.ExperimentPolicies[types.NamespacedName{Namespace: "shop", Name: "bad-guard"}])
	if !strings.Contains(got.Message, "spec.guard.query: does not parse") {
		t.Errorf("bad guard message %q", got.Message)
	}
	if len(res.Experiments) != 2 {
		t.Fatalf("experiments %d, want 2", len(res.Experiments))
	}
	e := res.Experiments[0]
	if e.Name() != ExperimentName("shop", "drill") || !e.Spec.Start.Equal(start.Time) || e.Spec.Duration.D() != time.Hour || e.Spec.Guard == nil {
		t.Errorf("experiment %+v", e)
	}
	routes := findRoute(t, &res.Spec, "GRPCRoute/shop/greeter/")
	if len(e.Targets()) != len(routes) {
		t.Fatalf("targets %v, want the %d routes of the GRPCRoute", e.Targets(), len(routes))
	}
	if _, err := Merge(base(t), res.Spec).WithFault(e.Targets()[0], e.Spec.Fault); err != nil {
		t.Fatalf("the experiment's fault does not apply to the served policy: %v", err)
	}
}

// TestBackendTrafficPolicyPrecedence: the more specific target wins. A route's policy
// replaces its Service's retries on that route (the Service's stay the default of its other
// routes), and a timeout the route object sets itself wins over a policy's.
func TestBackendTrafficPolicyPrecedence(t *testing.T) {
	in := input()
	split := in.HTTPRoutes[0].DeepCopy()
	one := gwv1.Duration("1s")
	split.Spec.Rules[0].Timeouts = &gwv1.HTTPRouteTimeouts{Request: &one}
	in.HTTPRoutes[0] = split
	in.BackendTrafficPolicies = []*BackendTrafficPolicy{
		btp("on-service", 1, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{serviceRef("web")},
			Retries: &RetriesSpec{On: []string{"5xx"}, Count: 3}, Timeout: &metav1.Duration{Duration: 9 * time.Second}}),
		btp("on-route", 2, BackendTrafficPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindHTTPRoute, "split")},
			Retries: &RetriesSpec{On: []string{"reset"}, Count: 2}, Timeout: &metav1.Duration{Duration: 5 * time.Second}}),
	}
	res := Translate(in)
	for _, name := range []string{"on-service", "on-route"} {
		if c, _ := accepted(t, res.BackendTrafficPolicies[types.NamespacedName{Namespace: "shop", Name: name}]); c.Status != metav1.ConditionTrue {
			t.Fatalf("%s: %+v", name, c)
		}
	}
	merged := Merge(base(t), res.Spec)
	if err := merged.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range findRoute(t, &merged.Spec, "HTTPRoute/shop/split/") {
		if r.Retries == nil || r.Retries.Count != 2 || r.Retries.On[0] != "reset" {
			t.Errorf("route %s: retries %+v, want the route policy's", r.Name, r.Retries)
		}
		if r.Timeout.D() != time.Second {
			t.Errorf("route %s: timeout %v, want the route object's 1s", r.Name, r.Timeout)
		}
	}
	web := merged.Service(ServiceName("shop", "web", 80))
	if web == nil || web.Retries == nil || web.Retries.Count != 3 || web.Timeout.D() != 9*time.Second {
		t.Fatalf("service web: %+v", web)
	}
}
