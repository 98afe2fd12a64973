package gatewayapi

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// BenchmarkTranslateAttached1000 translates 1,000 HTTPRoutes on one Gateway, each to its own
// Service, with 500 BackendTrafficPolicies on routes, 500 on Services and 100
// ExperimentPolicies: the cost the attached policies add to a translation (compare with
// -attached=0 by the sub-benchmark "routes-only").
func BenchmarkTranslateAttached1000(b *testing.B) {
	const n = 1000
	mk := func(policies bool) *Input {
		in := input()
		in.HTTPRoutes, in.GRPCRoutes, in.CanaryPolicies = nil, nil, nil
		in.Services = nil
		for i := range n {
			name := fmt.Sprintf("app-%04d", i)
			in.Services = append(in.Services, svc("shop", name, 80))
			in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: gwv1.HTTPRouteSpec{
				CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}}, Hostnames: []gwv1.Hostname{gwv1.Hostname(name + ".shop")},
				Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref(name, 80, 1)}}}}}})
			if !policies {
				continue
			}
			if i%2 == 0 {
				in.BackendTrafficPolicies = append(in.BackendTrafficPolicies, btp(name, int64(i), BackendTrafficPolicySpec{
					TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindHTTPRoute, name)},
					Timeout:    &metav1.Duration{Duration: time.Second}, Retries: &RetriesSpec{On: []string{"5xx"}, Count: 2}}))
			} else {
				in.BackendTrafficPolicies = append(in.BackendTrafficPolicies, btp(name, int64(i), BackendTrafficPolicySpec{
					TargetRefs:     []gwv1.LocalPolicyTargetReference{serviceRef(name)},
					CircuitBreaker: &CircuitBreakerSpec{MaxRequests: 100}, OutlierDetection: &OutlierDetectionSpec{Consecutive5xx: 5}}))
			}
			if i%10 == 0 {
				in.ExperimentPolicies = append(in.ExperimentPolicies, &ExperimentPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
					Spec: ExperimentPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReference{routeRef(KindHTTPRoute, name)},
						Fault: FaultSpec{Abort: &FaultAbortSpec{HTTPStatus: 503, Percent: 10}}, Start: metav1.NewTime(time.Unix(1_800_000_000, 0)),
						Duration: metav1.Duration{Duration: time.Hour}}})
			}
		}
		return in
	}
	for _, c := range []struct {
		name     string
		policies bool
	}{{"routes-only", false}, {"with-policies", true}} {
		b.Run(c.name, func(b *testing.B) {
			in := mk(c.policies)
			b.ReportAllocs()
			for b.Loop() {
				res := Translate(in)
				if c.policies && len(res.Experiments) != n/10 {
					b.Fatalf("%d experiments", len(res.Experiments))
				}
			}
		})
	}
}
