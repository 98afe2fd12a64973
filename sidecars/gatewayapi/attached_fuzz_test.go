package gatewayapi

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// FuzzAttachedPolicies feeds BackendTrafficPolicies and ExperimentPolicies with arbitrary
// targets, retry conditions, counts, percentages, statuses, durations and guard queries: the
// translation never panics, what it accepts merges into a valid policy, and the fault of
// every accepted experiment can be added to it.
func FuzzAttachedPolicies(f *testing.F) {
	f.Add("GRPCRoute", "greeter", "unavailable", uint32(2), int64(3_000_000_000), 25.0, uint32(0), uint32(14), uint32(64), `up == 0`)
	f.Add("Service", "web", "5xx", uint32(11), int64(-1), 150.0, uint32(503), uint32(0), uint32(0), "sum(")
	f.Add("HTTPRoute", "split", "retriable-status-codes", uint32(1), int64(0), 0.0, uint32(99), uint32(17), uint32(1), "")
	f.Fuzz(func(t *testing.T, kind, name, on string, count uint32, timeout int64, percent float64, httpStatus, grpcStatus, maxRequests uint32, guard string) {
		in := input()
		group := gwv1.Group(gwv1.GroupName)
		if kind == KindService {
			group = ""
		}
		refs := []gwv1.LocalPolicyTargetReference{{Group: group, Kind: gwv1.Kind(kind), Name: gwv1.ObjectName(name)}}
		abort := &FaultAbortSpec{HTTPStatus: httpStatus, Percent: percent}
		if grpcStatus != 0 {
			abort.GRPCStatus = &grpcStatus
		}
		spec := BackendTrafficPolicySpec{TargetRefs: refs, Timeout: &metav1.Duration{Duration: time.Duration(timeout)},
			Retries: &RetriesSpec{On: []string{on}, Count: count}, Fault: &FaultSpec{Abort: abort}}
		if maxRequests != 0 {
			spec.CircuitBreaker = &CircuitBreakerSpec{MaxRequests: maxRequests}
		}
		in.BackendTrafficPolicies = []*BackendTrafficPolicy{btp("fuzzed", 1, spec)}
		ep := &ExperimentPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "fuzzed"}, Spec: ExperimentPolicySpec{TargetRefs: refs,
			Fault: FaultSpec{Abort: abort, Delay: &FaultDelaySpec{Fixed: metav1.Duration{Duration: time.Duration(timeout)}, Percent: percent}},
			Start: metav1.NewTime(time.Unix(1_800_000_000, 0)), Duration: metav1.Duration{Duration: time.Duration(timeout)}}}
		if guard != "" {
			ep.Spec.Guard = &GuardSpec{Query: guard}
		}
		in.ExperimentPolicies = []*ExperimentPolicy{ep}
		res := Translate(in)
		merged := Merge(base(t), res.Spec)
		if err := merged.Validate(); err != nil {
			t.Fatalf("accepted policies make an invalid policy: %v", err)
		}
		for _, e := range res.Experiments {
			for _, tg := range e.Targets() {
				if _, err := merged.WithFault(tg, e.Spec.Fault); err != nil {
					t.Fatalf("accepted experiment does not apply: %v", err)
				}
			}
		}
	})
}
