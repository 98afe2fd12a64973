package gatewayapi

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// LastGood is what one translation hands to the next so that the last good state keeps
// serving when an object that was served is updated to a version that cannot be:
//
//   - A kubernetes.io/tls Secret an HTTPS listener references: while the Secret exists (the
//     same object, by UID) and holds a certificate and key that are not a valid pair, the
//     listener keeps serving the Secret's last valid certificate and says so in its
//     ResolvedRefs condition (InvalidCertificateRef). A Secret that is deleted (or whose
//     reference is no longer permitted) takes its listener out of service, as one that never
//     held a valid certificate does.
//   - An attached policy (CanaryPolicy, BackendTrafficPolicy, ExperimentPolicy,
//     BackendTLSPolicy): while the object exists (by UID) and its current generation is
//     refused, its last accepted spec keeps applying (when it still can) and its
//     Accepted=False condition says so.
//
// Memory is bounded by the objects that exist: one certificate per Secret a listener of our
// Gateways references (a Secret no listener references any more is dropped) and one spec per
// policy object (dropped with the object). Nothing is kept across restarts.
type LastGood struct {
	// Certificates are the last valid certificate of each referenced Secret.
	Certificates map[types.NamespacedName]KeptCertificate
	// CACertificates are the last valid ca.crt of each ConfigMap that client certificate
	// validation or a BackendTLSPolicy names.
	CACertificates map[types.NamespacedName]KeptCACertificates
	// CanaryPolicies, BackendTrafficPolicies and ExperimentPolicies are the last accepted
	// spec of each policy.
	CanaryPolicies         map[types.NamespacedName]Accepted[CanaryPolicySpec]
	BackendTrafficPolicies map[types.NamespacedName]Accepted[BackendTrafficPolicySpec]
	ExperimentPolicies     map[types.NamespacedName]Accepted[ExperimentPolicySpec]
	// BackendTLSPolicies are the last accepted spec of each BackendTLSPolicy.
	BackendTLSPolicies map[types.NamespacedName]Accepted[gwv1.BackendTLSPolicySpec]
}

// KeptCertificate is the last valid certificate of one Secret object.
type KeptCertificate struct {
	// UID is the Secret's: a Secret deleted and created again is another object.
	UID         types.UID
	Certificate policy.TLSCertificate
}

// KeptCACertificates are the last valid CA certificates (PEM) of one ConfigMap object.
type KeptCACertificates struct {
	// UID is the ConfigMap's: a ConfigMap deleted and created again is another object.
	UID types.UID
	PEM []byte
}

// Accepted is the last accepted version of one policy object.
type Accepted[S any] struct {
	// UID is the object's: a policy deleted and created again is another object.
	UID types.UID
	// Generation is the metadata.generation that was accepted.
	Generation int64
	Spec       S
}

func newLastGood() *LastGood {
	return &LastGood{
		Certificates:           map[types.NamespacedName]KeptCertificate{},
		CACertificates:         map[types.NamespacedName]KeptCACertificates{},
		CanaryPolicies:         map[types.NamespacedName]Accepted[CanaryPolicySpec]{},
		BackendTrafficPolicies: map[types.NamespacedName]Accepted[BackendTrafficPolicySpec]{},
		ExperimentPolicies:     map[types.NamespacedName]Accepted[ExperimentPolicySpec]{},
		BackendTLSPolicies:     map[types.NamespacedName]Accepted[gwv1.BackendTLSPolicySpec]{},
	}
}

// lastAccepted is the last accepted version of the policy meta describes when it is another
// generation of the same object; ok is false when there is none (a new policy, or one whose
// current generation is the last accepted one).
func lastAccepted[S any](kept map[types.NamespacedName]Accepted[S], meta *metav1.ObjectMeta) (Accepted[S], bool) {
	a, ok := kept[types.NamespacedName{Namespace: meta.Namespace, Name: meta.Name}]
	if !ok || a.UID != meta.UID || a.Generation == meta.Generation {
		return Accepted[S]{}, false
	}
	return a, true
}

// policyVersion is the outcome of one version of an attached policy: whether it applies,
// and otherwise the reason and message of its Accepted condition.
type policyVersion struct {
	ok          bool
	reason, msg string
}

// choose decides which version of a policy applies: the current spec when eval accepts it
// (eval is called on the current spec first, then on the last accepted one when needed);
// else the last accepted spec when there is one and eval still accepts it (eval must not
// apply anything: it builds and checks). It returns what eval built for the version that
// applies (for the current version when neither does), the spec that applies, whether it
// is the last accepted one, and the current version's Accepted condition (status, reason,
// message), the message telling what became of the last accepted version. The version the
// next translation keeps is recorded in next.
func choose[S, B any](kept map[types.NamespacedName]Accepted[S], next map[types.NamespacedName]Accepted[S], meta *metav1.ObjectMeta, spec S,
	eval func(S) (B, policyVersion)) (built B, applied S, useKept bool, cond policyVersion) {
	nn := types.NamespacedName{Namespace: meta.Namespace, Name: meta.Name}
	built, cur := eval(spec)
	if cur.ok {
		next[nn] = Accepted[S]{UID: meta.UID, Generation: meta.Generation, Spec: spec}
		return built, spec, false, cur
	}
	a, ok := lastAccepted(kept, meta)
	if !ok {
		return built, spec, false, cur
	}
	next[nn] = a
	keptBuilt, k := eval(a.Spec)
	if !k.ok {
		why := ""
		if k.msg != cur.msg {
			why = ": " + k.msg
		}
		cur.msg = fmt.Sprintf("%s; the last accepted generation %d does not apply either%s", cur.msg, a.Generation, why)
		return built, spec, false, cur
	}
	cur.msg = fmt.Sprintf("%s; the last accepted generation %d is still applied", cur.msg, a.Generation)
	return keptBuilt, a.Spec, true, cur
}
