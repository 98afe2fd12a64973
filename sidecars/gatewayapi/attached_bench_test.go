package gatewayapi

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
)

// BenchmarkTranslateAttached1000 translates 1,000 HTTPRoutes on one Gateway, each to its own
// Service, with 500 BackendTrafficPolicies on routes, 500 on Services and 100
// ExperimentPolicies ("with-policies"), or with a BackendTLSPolicy on each Service, half of
// them trusting a ConfigMap's CA and half the system bundle ("with-tls-policies"): the cost
// the attached policies add to a translation (compare with the sub-benchmark "routes-only").
func BenchmarkTranslateAttached1000(b *testing.B) {
	const n = 1000
	ca, err := pki.NewCA("bench-ca")
	if err != nil {
		b.Fatal(err)
	}
	withTLS := func(in *Input) *Input {
		in.ConfigMaps = []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ca"}, Data: map[string]string{CACertificateKey: string(ca.CertPEM)}}}
		system := gwv1.WellKnownCACertificatesSystem
		for i, s := range in.Services {
			p := &gwv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: s.Name, CreationTimestamp: metav1.Unix(int64(i), 0)},
				Spec: gwv1.BackendTLSPolicySpec{TargetRefs: []gwv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: serviceRef(s.Name)}},
					Validation: gwv1.BackendTLSPolicyValidation{Hostname: gwv1.PreciseHostname(s.Name + ".shop.svc")}}}
			if i%2 == 0 {
				p.Spec.Validation.CACertificateRefs = []gwv1.LocalObjectReference{{Kind: KindConfigMap, Name: "ca"}}
			} else {
				p.Spec.Validation.WellKnownCACertificates = &system
			}
			in.BackendTLSPolicies = append(in.BackendTLSPolicies, p)
		}
		return in
	}
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
		name          string
		policies, tls bool
	}{{"routes-only", false, false}, {"with-policies", true, false}, {"with-tls-policies", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			in := mk(c.policies)
			if c.tls {
				in = withTLS(in)
			}
			b.ReportAllocs()
			for b.Loop() {
				res := Translate(in)
				if c.policies && len(res.Experiments) != n/10 {
					b.Fatalf("%d experiments", len(res.Experiments))
				}
				if c.tls && len(res.BackendTLSPolicies) != n {
					b.Fatalf("%d BackendTLSPolicy statuses", len(res.BackendTLSPolicies))
				}
			}
		})
	}
}
