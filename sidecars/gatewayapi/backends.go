package gatewayapi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// routeFrom is the route whose backendRefs are resolved: the "from" side of a
// ReferenceGrant.
type routeFrom struct {
	kind, namespace string
}

// refsOf maps a rule's HTTP or gRPC backend references (or filters) to what they refer to.
func refsOf[T, R any](bs []T, ref func(T) R) []R {
	out := make([]R, len(bs))
	for i, b := range bs {
		out[i] = ref(b)
	}
	return out
}

// backendRef is a backendRef of a rule with the header changes of its filters (HTTP and
// gRPC routes only).
type backendRef struct {
	gwv1.BackendRef
	request, response *policy.HeaderChanges
}

// bareRefs are backendRefs without filters, as connection routes have.
func bareRefs(bs []gwv1.BackendRef) []backendRef {
	return refsOf(bs, func(b gwv1.BackendRef) backendRef { return backendRef{BackendRef: b} })
}

// forward sets the backends of a rule's base route from its backendRefs, and the 500 of a
// rule none of whose references gets traffic; path names the rule (rulePath).
func (t *translator) forward(base *policy.Route, out *ruleOut, from routeFrom, refs []backendRef, path string) {
	base.Backends, out.svcs, out.unresolve = t.backends(from, refs, path)
	if len(base.Backends) == 0 {
		base.DirectResponse = &policy.DirectResponse{Status: 500, Body: "no valid backend"}
	}
}

// share is one backendRef's weight, to a policy service or, when svc is "", to the
// unresolved share, with the header changes of the backendRef's filters.
type share struct {
	svc               string
	weight            int64
	request, response *policy.HeaderChanges
}

// backends resolves a rule's backendRefs to policy backends with their relative weights,
// and returns the first problem. The weight of refs that do not resolve becomes one
// unresolved backend (policy.Backend.Unresolved), so that the requests that would have gone
// to them get a 500, as the spec requires, rather than reaching the other backends. Refs of
// weight 0 get no traffic; a rule whose weight all goes to refs that do not resolve (or
// whose weights are all 0) gets nil.
func (t *translator) backends(from routeFrom, refs []backendRef, path string) ([]policy.Backend, map[string]string, *refProblem) {
	var prob *refProblem
	svcs := map[string]string{}
	shares := make([]share, 0, len(refs))
	resolved := int64(0)
	for i, b := range refs {
		w := int64(1)
		if b.Weight != nil {
			// The API allows 0..1,000,000; anything else is clamped into it.
			w = max(0, min(int64(*b.Weight), 1_000_000))
		}
		name, p := t.resolve(from, b.BackendRef, fmt.Sprintf("%s.backendRefs[%d]", path, i), svcs)
		if p != nil && prob == nil {
			prob = p
		}
		if p == nil {
			resolved += w
		}
		shares = append(shares, share{svc: name, weight: w, request: b.request, response: b.response})
	}
	if resolved == 0 {
		return nil, svcs, prob
	}
	return weighted(shares), svcs, prob
}

// resolve is the policy service of one backendRef of a route of from.kind (recorded in svcs
// under the Kubernetes Service's name, the first port of a Service winning), or the problem
// that keeps it from resolving.
func (t *translator) resolve(from routeFrom, b gwv1.BackendRef, bp string, svcs map[string]string) (string, *refProblem) {
	if b.Group != nil && *b.Group != "" || b.Kind != nil && *b.Kind != KindService {
		return "", &refProblem{string(gwv1.RouteReasonInvalidKind), fmt.Sprintf("%s: only core Services are supported, not %s", bp, kindOf(b))}
	}
	ns := from.namespace
	if b.Namespace != nil && string(*b.Namespace) != ns {
		ns = string(*b.Namespace)
		if !t.granted(from, ns, KindService, string(b.Name)) {
			return "", &refProblem{string(gwv1.RouteReasonRefNotPermitted), fmt.Sprintf("%s: Service %s/%s is in another namespace and no ReferenceGrant there permits %ss from namespace %s", bp, ns, b.Name, from.kind, from.namespace)}
		}
	}
	svc := t.services[types.NamespacedName{Namespace: ns, Name: string(b.Name)}]
	if svc == nil {
		return "", &refProblem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s: Service %s/%s not found", bp, ns, b.Name)}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// As the Gateway API advises: an ExternalName Service has no endpoints to discover,
		// and would send the proxies to any name its owner writes.
		return "", &refProblem{string(gwv1.RouteReasonInvalidKind), fmt.Sprintf("%s: Service %s/%s is of type ExternalName, which is not supported: name the backends with a Service that selects them (or with EndpointSlices)", bp, ns, b.Name)}
	}
	if b.Port == nil {
		return "", &refProblem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s: port is required for a Service", bp)}
	}
	var port *corev1.ServicePort
	for j := range svc.Spec.Ports {
		if svc.Spec.Ports[j].Port == *b.Port {
			port = &svc.Spec.Ports[j]
		}
	}
	if port == nil {
		return "", &refProblem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s: Service %s/%s has no port %d", bp, ns, b.Name, *b.Port)}
	}
	proto := policy.ProtocolHTTP1
	connection := connectionKind(from.kind)
	switch {
	case connection:
		// The bytes pass through as they come, TLS included: the port's appProtocol does not
		// matter.
	case port.AppProtocol != nil && tlsAppProtocol(*port.AppProtocol) && t.upstreamTLS(ns, svc.Name, port.Name) == nil:
		return "", &refProblem{string(gwv1.RouteReasonUnsupportedProtocol), fmt.Sprintf("%s: Service %s/%s port %d has appProtocol %s, which takes TLS: a BackendTLSPolicy targeting the Service (or the port) says how to verify it", bp, ns, b.Name, *b.Port, *port.AppProtocol)}
	case from.kind == KindGRPCRoute:
		proto = policy.ProtocolGRPC
	case port.AppProtocol != nil && (*port.AppProtocol == "kubernetes.io/h2c" || *port.AppProtocol == "grpc"):
		proto = policy.ProtocolHTTP2
	}
	name := t.service(svc, port, proto, connection)
	key := svc.Name
	if ns != from.namespace {
		key = ns + "/" + svc.Name
	}
	if _, dup := svcs[key]; !dup {
		svcs[key] = name
	}
	return name, nil
}

// tlsAppProtocol says whether a Service port's appProtocol means the backend speaks TLS:
// kubernetes.io/wss (Kubernetes' standard application protocols) or https and tls (the
// IANA service names, in any case).
func tlsAppProtocol(p string) bool {
	return p == "kubernetes.io/wss" || strings.EqualFold(p, "https") || strings.EqualFold(p, "tls")
}

// weighted turns shares into policy backends with the same relative weights: shares of the
// same service with the same header changes (and the unresolved ones, whose changes are
// dropped: they get no request) merged into one, and those without weight dropped unless
// they change headers (a canary's backend at weight 0, whose changes its steps keep).
// The API bounds each weight to 1,000,000 and a rule to 16 refs, so their sum is far within
// policy.MaxWeightSum (a merged weight beyond it is cut to it, and the policy's validation
// refuses the sum). The total weight must not be 0.
func weighted(shares []share) []policy.Backend {
	out := make([]policy.Backend, 0, len(shares))
	sums := make([]int64, 0, len(shares))
	for _, s := range shares {
		if s.weight == 0 && (s.svc == "" || s.request == nil && s.response == nil) {
			continue
		}
		b := policy.Backend{Service: s.svc, Unresolved: s.svc == ""}
		if !b.Unresolved {
			b.RequestHeaders, b.ResponseHeaders = s.request, s.response
		}
		i := slices.IndexFunc(out, func(o policy.Backend) bool {
			return o.Service == b.Service && reflect.DeepEqual(o.RequestHeaders, b.RequestHeaders) && reflect.DeepEqual(o.ResponseHeaders, b.ResponseHeaders)
		})
		if i < 0 {
			out = append(out, b)
			sums = append(sums, 0)
			i = len(out) - 1
		}
		sums[i] += s.weight
		out[i].Weight = uint32(min(sums[i], policy.MaxWeightSum))
	}
	return out
}

// mirrors adds the RequestMirror filters of a rule (nil for other filters) to a base route
// that forwards: a mirror whose backendRef does not resolve is left out, and its problem is
// the rule's if it has none yet.
func (t *translator) mirrors(base *policy.Route, out *ruleOut, from routeFrom, filters []*gwv1.HTTPRequestMirrorFilter, path string) {
	if len(base.Backends) == 0 {
		return
	}
	for i, f := range filters {
		if f == nil {
			continue
		}
		name, p := t.resolve(from, gwv1.BackendRef{BackendObjectReference: f.BackendRef}, fmt.Sprintf("%s.filters[%d].requestMirror.backendRef", path, i), map[string]string{})
		if p != nil {
			if out.unresolve == nil {
				out.unresolve = p
			}
			continue
		}
		m := policy.Mirror{Service: name}
		switch {
		case f.Percent != nil:
			pct := float64(*f.Percent)
			m.Percent = &pct
		case f.Fraction != nil:
			den := int32(100)
			if f.Fraction.Denominator != nil {
				den = *f.Fraction.Denominator
			}
			pct := min(100, float64(f.Fraction.Numerator)*100/float64(max(den, 1)))
			m.Percent = &pct
		}
		base.Mirrors = append(base.Mirrors, m)
	}
}
