package gatewayapi

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// FuzzAttachedPolicyObjects decodes arbitrary JSON objects as the watcher decodes what the
// Kubernetes API serves (runtime.DefaultUnstructuredConverter) into BackendTrafficPolicies,
// ExperimentPolicies and BackendTLSPolicies, and translates them next to the test's routes:
// decoding either fails or gives policies the translation refuses or applies, never a panic
// and never an invalid merged policy or an experiment that does not apply.
func FuzzAttachedPolicyObjects(f *testing.F) {
	f.Add(`{"metadata":{"namespace":"shop","name":"a"},"spec":{"targetRefs":[{"group":"gateway.networking.k8s.io","kind":"GRPCRoute","name":"greeter"}],"timeout":"2s","retries":{"on":["unavailable"],"count":2},"fault":{"abort":{"grpcStatus":14,"percent":50}}}}`)
	f.Add(`{"metadata":{"namespace":"shop","name":"b"},"spec":{"targetRefs":[{"group":"","kind":"Service","name":"web"}],"circuitBreaker":{"maxRequests":9},"outlierDetection":{"consecutive5xx":3,"interval":"1s","successRate":{"stdevFactor":1900}}}}`)
	f.Add(`{"metadata":{"namespace":"shop","name":"c"},"spec":{"targetRefs":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","name":"split"}],"fault":{"delay":{"fixed":"1s","percent":10}},"start":"2026-12-01T10:00:00Z","duration":"1h","guard":{"query":"up == 0","interval":"5s"}}}`)
	f.Add(`{"spec":{"targetRefs":[{}],"fault":{"abort":{"httpStatus":1e9}},"duration":"-1h"}}`)
	f.Add(`{"metadata":{"namespace":"shop","name":"d"},"spec":{"targetRefs":[{"group":"","kind":"Service","name":"greeter-v1"}],"validation":{"hostname":"greeter.shop.svc","wellKnownCACertificates":"System","subjectAltNames":[{"type":"URI","uri":"spiffe://cluster.local/ns/shop/sa/greeter"},{"type":"Hostname","hostname":"*.shop.svc"}]}}}`)
	f.Add(`{"metadata":{"namespace":"shop","name":"e"},"spec":{"targetRefs":[{"group":"","kind":"Service","name":"web","sectionName":"http"}],"validation":{"hostname":"Web..shop","caCertificateRefs":[{"group":"","kind":"ConfigMap","name":"ca"}]},"options":{"a":"b"}}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var obj map[string]any
		if err := json.Unmarshal([]byte(doc), &obj); err != nil {
			return
		}
		in := input()
		var b BackendTrafficPolicy
		if runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &b) == nil {
			in.BackendTrafficPolicies = append(in.BackendTrafficPolicies, &b)
		}
		var e ExperimentPolicy
		if runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &e) == nil {
			in.ExperimentPolicies = append(in.ExperimentPolicies, &e)
		}
		var tls gwv1.BackendTLSPolicy
		if runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &tls) == nil {
			in.BackendTLSPolicies = append(in.BackendTLSPolicies, &tls)
		}
		res := Translate(in)
		merged := Merge(base(t), res.Spec)
		if err := merged.Validate(); err != nil {
			t.Fatalf("accepted policies make an invalid policy: %v", err)
		}
		for _, x := range res.Experiments {
			for _, tg := range x.Targets() {
				if _, err := merged.WithFault(tg, x.Spec.Fault); err != nil {
					t.Fatalf("accepted experiment does not apply: %v", err)
				}
			}
		}
	})
}
