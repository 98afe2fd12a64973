package gatewayapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// KindBackendTLSPolicy is the Gateway API's policy of TLS from the proxies to a Service.
const KindBackendTLSPolicy = "BackendTLSPolicy"

// BackendTLSPolicyGVR is the resource of BackendTLSPolicies (the Gateway API's standard
// channel since v1.4).
var BackendTLSPolicyGVR = schema.GroupVersionResource{Group: gwv1.GroupName, Version: "v1", Resource: "backendtlspolicies"}

// refusedBackendName is the server name, and the only subject alternative name, of the TLS
// towards a Service whose BackendTLSPolicy is refused: a name under the top-level domain
// .invalid (RFC 2606), for which no CA issues certificates, so that connections to the
// Service fail (the client gets a 5xx, as the Gateway API requires) instead of going out
// without the TLS the policy asks for.
const refusedBackendName = "refused-backend-tls-policy.invalid"

// backendTLSKey is a target of BackendTLSPolicies: a Service, and one of its ports by name
// ("" for all of them).
type backendTLSKey struct {
	namespace, service, port string
}

// backendTLS is the TLS that applies to a target, and the policy it comes from.
type backendTLS struct {
	policy types.NamespacedName
	tls    policy.UpstreamTLS
}

// backendTLSVersion is what one version of a BackendTLSPolicy resolved to: its targets, the
// TLS it asks for, and its ResolvedRefs condition.
type backendTLSVersion struct {
	keys     []backendTLSKey
	tls      policy.UpstreamTLS
	resolved policyVersion
	// staleCAs says every CA certificate it validates with is the last valid one of a
	// ConfigMap whose ca.crt turned invalid: it applies, but is not Accepted.
	staleCAs bool
}

// backendTLSPolicies resolves the BackendTLSPolicies into the TLS of each target (Service,
// or Service port), before the routes make their policy services (service applies it). The
// oldest policy (then namespace/name) owns a target; a later one naming the same target is
// Conflicted and not applied. A policy that is refused otherwise keeps its last accepted
// generation while that still resolves; else its targets get TLS that no server passes, so
// that requests to them fail instead of going out in plaintext. The statuses are written by
// backendTLSStatuses, once the policy services are known.
func (t *translator) backendTLSPolicies() {
	ps := slices.Clone(t.in.BackendTLSPolicies)
	slices.SortFunc(ps, func(a, b *gwv1.BackendTLSPolicy) int { return cmpMeta(&a.ObjectMeta, &b.ObjectMeta) })
	t.backendTLS = map[backendTLSKey]*backendTLS{}
	t.backendTLSStates = map[types.NamespacedName]backendTLSState{}
	for _, p := range ps {
		nn := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		var resolved *policyVersion // the current generation's: choose evaluates it first
		v, _, useKept, c := choose(t.prev.BackendTLSPolicies, t.res.LastGood.BackendTLSPolicies, &p.ObjectMeta, p.Spec,
			func(s gwv1.BackendTLSPolicySpec) (backendTLSVersion, policyVersion) {
				v, c := t.backendTLSPolicy(p.Namespace, &s)
				if resolved == nil {
					resolved = &v.resolved
				}
				return v, c
			})
		// ResolvedRefs describes the references of the current generation, even while the
		// last accepted one keeps applying. A policy left with only the last valid CA
		// certificates of ConfigMaps that turned invalid keeps applying them, but is not
		// Accepted, as none of its references is valid.
		st := backendTLSState{accepted: c, resolved: *resolved, keys: v.keys}
		if c.ok && v.staleCAs {
			st.accepted = policyVersion{reason: string(gwv1.BackendTLSPolicyReasonNoValidCACertificate), msg: v.resolved.msg}
		}
		t.backendTLSStates[nn] = st
		tls := v.tls
		switch {
		case c.ok || useKept:
		case c.reason == string(gwv1.PolicyReasonConflicted):
			continue // the older policy's TLS applies
		default:
			tls = policy.UpstreamTLS{SNI: refusedBackendName, CAFile: policy.DefaultCAFile, SubjectAltNames: []string{refusedBackendName}}
		}
		for _, k := range v.keys {
			if t.backendTLS[k] == nil {
				t.backendTLS[k] = &backendTLS{policy: nn, tls: tls}
			}
		}
	}
}

// backendTLSState is what a BackendTLSPolicy resolved to, for its status: its Accepted and
// ResolvedRefs conditions, and its targets.
type backendTLSState struct {
	accepted, resolved policyVersion
	keys               []backendTLSKey
}

// backendTLSPolicy resolves and checks one version of a BackendTLSPolicy in namespace ns
// against the targets older policies already claimed: its Accepted condition, with what it
// resolved to.
func (t *translator) backendTLSPolicy(ns string, s *gwv1.BackendTLSPolicySpec) (backendTLSVersion, policyVersion) {
	var v backendTLSVersion
	v.resolved = policyVersion{ok: true, reason: string(gwv1.BackendTLSPolicyReasonResolvedRefs), msg: "references resolved"}
	invalid := func(format string, args ...any) (backendTLSVersion, policyVersion) {
		return v, policyVersion{reason: string(gwv1.PolicyReasonInvalid), msg: fmt.Sprintf(format, args...)}
	}
	if len(s.TargetRefs) == 0 {
		return invalid("spec.targetRefs: at least one target required")
	}
	for i, tr := range s.TargetRefs {
		path := fmt.Sprintf("spec.targetRefs[%d]", i)
		if tr.Group != "" || tr.Kind != KindService {
			return invalid("%s: only Services of the core group can be targeted, not %s", path, groupKind(string(tr.Group), string(tr.Kind)))
		}
		svc := t.services[types.NamespacedName{Namespace: ns, Name: string(tr.Name)}]
		if svc == nil {
			return v, policyVersion{reason: string(gwv1.PolicyReasonTargetNotFound), msg: fmt.Sprintf("%s: Service %s/%s not found", path, ns, tr.Name)}
		}
		k := backendTLSKey{namespace: ns, service: svc.Name}
		if tr.SectionName != nil {
			k.port = string(*tr.SectionName)
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == k.port }) {
				return v, policyVersion{reason: string(gwv1.PolicyReasonTargetNotFound), msg: fmt.Sprintf("%s: Service %s/%s has no port named %q", path, ns, tr.Name, k.port)}
			}
		}
		v.keys = append(v.keys, k)
	}
	val := &s.Validation
	v.tls.SNI = strings.ToLower(string(val.Hostname))
	for i, san := range val.SubjectAltNames {
		switch san.Type {
		case gwv1.HostnameSubjectAltNameType:
			v.tls.SubjectAltNames = append(v.tls.SubjectAltNames, string(san.Hostname))
		case gwv1.URISubjectAltNameType:
			v.tls.SubjectAltNames = append(v.tls.SubjectAltNames, string(san.URI))
		default:
			return invalid("spec.validation.subjectAltNames[%d].type: Hostname or URI, not %q", i, san.Type)
		}
	}
	switch {
	case len(val.CACertificateRefs) > 0 && val.WellKnownCACertificates != nil:
		return invalid("spec.validation: caCertificateRefs and wellKnownCACertificates are set: one or the other")
	case val.WellKnownCACertificates != nil:
		if *val.WellKnownCACertificates != gwv1.WellKnownCACertificatesSystem {
			return invalid("spec.validation.wellKnownCACertificates: only %q (the proxies' system CA bundle), not %q", gwv1.WellKnownCACertificatesSystem, *val.WellKnownCACertificates)
		}
		v.tls.CAFile = policy.DefaultCAFile
	case len(val.CACertificateRefs) > 0:
		refs := make([]caRef, len(val.CACertificateRefs))
		for i, r := range val.CACertificateRefs {
			refs[i] = caRef{group: string(r.Group), kind: string(r.Kind), name: string(r.Name)}
		}
		cas, n, reason, msg := t.caCertificates(routeFrom{kind: KindBackendTLSPolicy, namespace: ns}, refs, "spec.validation",
			caReasons{kind: string(gwv1.BackendTLSPolicyReasonInvalidKind), invalid: string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef)}, "validating backends")
		if reason != "" {
			v.resolved = policyVersion{reason: reason, msg: msg}
		}
		if len(cas) == 0 {
			return v, policyVersion{reason: string(gwv1.BackendTLSPolicyReasonNoValidCACertificate), msg: msg}
		}
		v.tls.CACertificates, v.staleCAs = cas, n == 0
	default:
		return invalid("spec.validation: set caCertificateRefs or wellKnownCACertificates")
	}
	if len(s.Options) > 0 {
		return invalid("spec.options: foresight-xds supports no options, not %q", slices.Sorted(maps.Keys(s.Options)))
	}
	// The policy's own rules for TLS towards a service, with the errors named by the
	// BackendTLSPolicy's fields.
	svc := syntheticService()
	tls := v.tls
	svc.TLS = &tls
	if err := checkSynthetic(svc, policy.Route{Name: "target", Backends: []policy.Backend{{Service: "target"}}}); err != nil {
		msg := strings.NewReplacer("spec.tls.sni", "spec.validation.hostname", "spec.tls.subjectAltNames", "spec.validation.subjectAltNames", "spec.tls", "spec.validation").Replace(err.Error())
		return v, policyVersion{reason: string(gwv1.PolicyReasonInvalid), msg: msg}
	}
	for _, k := range v.keys {
		if other := t.backendTLS[k]; other != nil {
			return v, policyVersion{reason: string(gwv1.PolicyReasonConflicted), msg: fmt.Sprintf("%s is already the target of %s %s (the oldest policy on a target wins)", k, KindBackendTLSPolicy, other.policy.Name)}
		}
	}
	return v, policyVersion{ok: true, reason: string(gwv1.PolicyReasonAccepted), msg: "accepted"}
}

// String names a target as status messages do: Service/namespace/name[:port].
func (k backendTLSKey) String() string {
	s := fmt.Sprintf("Service/%s/%s", k.namespace, k.service)
	if k.port != "" {
		s += ":" + k.port
	}
	return s
}

// upstreamTLS is the TLS of a policy service for port of the Service namespace/name: the
// BackendTLSPolicy of that port, else of the whole Service; nil for none. Its CA certificates
// and subject alternative names are the policy's own (one copy per policy, not per service).
func (t *translator) upstreamTLS(namespace, name, port string) *policy.UpstreamTLS {
	b := t.backendTLS[backendTLSKey{namespace: namespace, service: name, port: port}]
	if b == nil {
		b = t.backendTLS[backendTLSKey{namespace: namespace, service: name}]
	}
	if b == nil {
		return nil
	}
	tls := b.tls // its slices are shared by the services of the target, and only read
	return &tls
}

// backendTLSStatuses writes the BackendTLSPolicies' ancestor statuses: one per Gateway with
// a route sending to one of the policy's targets (one per targetRef when there is none),
// with its Accepted and ResolvedRefs conditions.
func (t *translator) backendTLSStatuses() {
	// Anew, not t.svcsOf: the canaries have made their services since.
	byService := t.policyServicesByService()
	for _, p := range t.in.BackendTLSPolicies {
		nn := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		st, ok := t.backendTLSStates[nn]
		if !ok {
			continue
		}
		var svcs []string
		for _, k := range st.keys {
			for _, n := range byService[types.NamespacedName{Namespace: k.namespace, Name: k.service}] {
				if (k.port == "" || k.port == t.svcDefs[n].PortName) && !slices.Contains(svcs, n) {
					svcs = append(svcs, n)
				}
			}
		}
		refs := make([]gwv1.LocalPolicyTargetReference, len(p.Spec.TargetRefs))
		for i, r := range p.Spec.TargetRefs {
			refs[i] = r.LocalPolicyTargetReference
		}
		gws := t.gatewaysSendingTo(svcs)
		if st.accepted.ok && len(gws) > 0 {
			st.accepted.msg += "; " + proxylessNote
		}
		t.res.BackendTLSPolicies[nn] = t.policyStatus(&p.ObjectMeta, refs, gws, st.accepted,
			t.cond(string(gwv1.BackendTLSPolicyConditionResolvedRefs), st.resolved.ok, st.resolved.reason, st.resolved.msg, p.Generation))
	}
}

// proxylessNote ends the Accepted message of a BackendTLSPolicy that Gateways send to.
const proxylessNote = "the proxyless gRPC clients of its Gateways get no hostname that sends to its targets (they take upstream TLS only through certificate providers)"

// withoutTLSUpstreams leaves out of every proxyless gRPC group the services with TLS and the
// virtual hosts whose routes (or whose routes' canaries) send to one: proxyless gRPC clients
// accept upstream TLS only with certificate providers, which foresight-xds does not
// configure. Their clients get no target for those hostnames (and no node group when every
// service of the Gateway has TLS); Envoy proxies get them all.
func (t *translator) withoutTLSUpstreams() {
	tlsSvcs := map[string]bool{}
	for _, s := range t.res.Spec.Services {
		if s.TLS != nil {
			tlsSvcs[s.Name] = true
		}
	}
	if len(tlsSvcs) == 0 {
		return
	}
	canaryTLS := map[string]bool{} // routes of a canary of which a service has TLS
	for _, c := range t.res.Spec.Canaries {
		if tlsSvcs[c.Stable] || tlsSvcs[c.Canary] {
			for _, r := range c.AllRoutes() {
				canaryTLS[r] = true
			}
		}
	}
	toTLS := map[string]bool{}
	for _, vh := range t.res.Spec.VirtualHosts {
		for _, r := range vh.Routes {
			if canaryTLS[r.Name] || slices.ContainsFunc(r.Services(), func(s string) bool { return tlsSvcs[s] }) {
				toTLS[vh.Name] = true
			}
		}
	}
	groups := t.res.Spec.NodeGroups[:0]
	for _, g := range t.res.Spec.NodeGroups {
		if g.Kind == policy.NodeGRPC {
			g.VirtualHosts = slices.DeleteFunc(g.VirtualHosts, func(vh string) bool { return toTLS[vh] })
			g.Upstreams = slices.DeleteFunc(g.Upstreams, func(s string) bool { return tlsSvcs[s] })
			if len(g.Upstreams) == 0 {
				continue // no upstreams would mean every service
			}
		}
		groups = append(groups, g)
	}
	t.res.Spec.NodeGroups = groups
}

// BackendTLSCACertificateRefs are the ConfigMaps the BackendTLSPolicies ps name: only those
// (and those of the Gateways' client certificate validation) are read.
func BackendTLSCACertificateRefs(ps []*gwv1.BackendTLSPolicy) map[types.NamespacedName]bool {
	out := map[types.NamespacedName]bool{}
	for _, p := range ps {
		for _, r := range p.Spec.Validation.CACertificateRefs {
			out[types.NamespacedName{Namespace: p.Namespace, Name: string(r.Name)}] = true
		}
	}
	return out
}
