package gatewayapi

import (
	"slices"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"
)

// TestSupportedFeatures: the features a class publishes are sorted by name, each once, known
// to the Gateway API's conformance suite, within the API's 64, and list those of
// BackendTLSPolicy, TLSRoute and TCPRoute only where the API serves them; the translation
// publishes them.
func TestSupportedFeatures(t *testing.T) {
	known := map[gwv1.FeatureName]bool{}
	for _, f := range features.AllFeatures.UnsortedList() {
		known[gwv1.FeatureName(f.Name)] = true
	}
	for _, served := range []ServedKinds{{}, {BackendTLSPolicies: true}, {TLSRoutes: true}, {TCPRoutes: true}, {ListenerSets: true}, {true, true, true, true}} {
		fs := SupportedFeatures(served)
		names := make([]string, len(fs))
		for i, f := range fs {
			names[i] = string(f.Name)
			if !known[f.Name] {
				t.Errorf("%s is not a feature the conformance suite knows", f.Name)
			}
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) || len(names) > 64 {
			t.Errorf("features %v: want sorted, each once, at most 64", names)
		}
		for f, want := range map[features.FeatureName]bool{features.SupportBackendTLSPolicy: served.BackendTLSPolicies, features.SupportTLSRoute: served.TLSRoutes,
			features.SupportTLSRouteModeMixed: served.TLSRoutes, features.SupportTCPRoute: served.TCPRoutes} {
			if got := slices.Contains(names, string(f)); got != want {
				t.Errorf("%s listed %v with the API serving them %v", f, got, want)
			}
		}
		for _, refused := range []features.FeatureName{features.SupportGatewayInfrastructure, features.SupportGatewayStaticAddresses, features.SupportUDPRoute} {
			if slices.Contains(names, string(refused)) {
				t.Errorf("%s is listed, but foresight-xds refuses it", refused)
			}
		}
	}
	in := oneGateway("shop", "edge", nil)
	in.Served.BackendTLSPolicies = true
	if got := Translate(in).SupportedFeatures; !slices.EqualFunc(got, SupportedFeatures(in.Served), func(a, b gwv1.SupportedFeature) bool { return a == b }) ||
		!strings.HasPrefix(string(got[0].Name), "BackendTLSPolicy") {
		t.Errorf("translation's features %v", got)
	}
}
