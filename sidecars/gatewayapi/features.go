package gatewayapi

import (
	"slices"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/features"
)

// supportedFeatures are the Gateway API features (as the conformance suite names them) that
// foresight-xds serves on the Envoy proxies of its Gateways, BackendTLSPolicy's aside.
var supportedFeatures = []features.FeatureName{
	features.SupportGateway,
	features.SupportGatewayPort8080,
	features.SupportGatewayHTTPListenerIsolation,
	features.SupportGatewayFrontendClientCertificateValidation,
	features.SupportGatewayFrontendClientCertificateValidationInsecureFallback,
	features.SupportReferenceGrant,
	features.SupportHTTPRoute,
	features.SupportHTTPRouteDestinationPortMatching,
	features.SupportHTTPRouteParentRefPort,
	features.SupportHTTPRouteQueryParamMatching,
	features.SupportHTTPRouteMethodMatching,
	features.SupportHTTPRouteResponseHeaderModification,
	features.SupportHTTPRoutePortRedirect,
	features.SupportHTTPRouteSchemeRedirect,
	features.SupportHTTPRoutePathRedirect,
	features.SupportHTTPRoute303RedirectStatusCode,
	features.SupportHTTPRoute307RedirectStatusCode,
	features.SupportHTTPRoute308RedirectStatusCode,
	features.SupportHTTPRouteHostRewrite,
	features.SupportHTTPRoutePathRewrite,
	features.SupportHTTPRouteRequestMirror,
	features.SupportHTTPRouteRequestMultipleMirrors,
	features.SupportHTTPRouteRequestPercentageMirror,
	features.SupportHTTPRouteRequestTimeout,
	features.SupportHTTPRouteBackendTimeout,
	features.SupportHTTPRouteBackendProtocolH2C,
	features.SupportHTTPRouteBackendProtocolWebSocket,
	features.SupportHTTPRouteBackendRequestHeaderModification,
	features.SupportHTTPRouteCORS,
	features.SupportHTTPRouteNamedRouteRule,
	features.SupportHTTPRouteRetry,
	features.SupportHTTPRouteRetryBackendTimeout,
	features.SupportHTTPRouteRetryConnectionError,
	features.SupportGRPCRoute,
	features.SupportGRPCRouteNamedRouteRule,
}

// backendTLSFeatures are the features of BackendTLSPolicy, supported where the API serves
// BackendTLSPolicies.
var backendTLSFeatures = []features.FeatureName{
	features.SupportBackendTLSPolicy,
	features.SupportBackendTLSPolicySANValidation,
}

// SupportedFeatures is the status.supportedFeatures of the GatewayClasses foresight-xds
// accepts: its features sorted by name, as the API requires, with those of BackendTLSPolicy,
// TLSRoute, TCPRoute and ListenerSet where the API serves them.
func SupportedFeatures(served ServedKinds) []gwv1.SupportedFeature {
	names := slices.Clone(supportedFeatures)
	if served.BackendTLSPolicies {
		names = append(names, backendTLSFeatures...)
	}
	if served.TLSRoutes {
		names = append(names, features.SupportTLSRoute, features.SupportTLSRouteModeTerminate, features.SupportTLSRouteModeMixed)
	}
	if served.TCPRoutes {
		names = append(names, features.SupportTCPRoute)
	}
	if served.ListenerSets {
		names = append(names, features.SupportListenerSet)
	}
	slices.Sort(names)
	out := make([]gwv1.SupportedFeature, len(names))
	for i, n := range names {
		out[i] = gwv1.SupportedFeature{Name: gwv1.FeatureName(n)}
	}
	return out
}
