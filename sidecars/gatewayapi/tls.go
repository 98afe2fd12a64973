package gatewayapi

import (
	"crypto/tls"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// KindSecret is the kind of the certificate references an HTTPS listener may make.
const KindSecret = "Secret"

// certRefs resolves the certificateRefs of an HTTPS listener of gw with tls.mode Terminate.
// It returns the certificates, or the listener condition that says why not: accepted false
// for what foresight-xds does not serve (Passthrough, no certificateRefs), or resolved false
// with RefNotPermitted (another namespace without a ReferenceGrant) or InvalidCertificateRef
// (not a core Secret, missing, not kubernetes.io/tls, bad PEM, key not matching).
func (t *translator) certRefs(gw *gwv1.Gateway, l *gwv1.Listener) (certs []policy.TLSCertificate, accepted, resolved bool, reason, msg string) {
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		return nil, false, true, string(gwv1.ListenerReasonInvalid), "an HTTPS listener needs tls.certificateRefs"
	}
	if l.TLS.Mode != nil && *l.TLS.Mode != gwv1.TLSModeTerminate {
		return nil, false, true, string(gwv1.ListenerReasonUnsupportedValue), fmt.Sprintf("tls.mode %s is not supported: foresight-xds terminates TLS", *l.TLS.Mode)
	}
	for i, ref := range l.TLS.CertificateRefs {
		where := fmt.Sprintf("tls.certificateRefs[%d]", i)
		if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != KindSecret {
			return nil, true, false, string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: only core Secrets are supported", where)
		}
		ns := gw.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		if ns != gw.Namespace && !t.granted(routeFrom{kind: KindGateway, namespace: gw.Namespace}, ns, KindSecret, string(ref.Name)) {
			return nil, true, false, string(gwv1.ListenerReasonRefNotPermitted), fmt.Sprintf("%s: Secret %s/%s is in another namespace and no ReferenceGrant there permits it", where, ns, ref.Name)
		}
		c, err := t.certificate(types.NamespacedName{Namespace: ns, Name: string(ref.Name)})
		if err != nil {
			return nil, true, false, string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: %v", where, err)
		}
		certs = append(certs, c)
	}
	return certs, true, true, string(gwv1.ListenerReasonResolvedRefs), "references resolved"
}

// certificate reads and checks a kubernetes.io/tls Secret: its tls.crt must be a PEM
// certificate chain and its tls.key the PEM private key of the chain's first certificate.
func (t *translator) certificate(nn types.NamespacedName) (policy.TLSCertificate, error) {
	s := t.secrets[nn]
	if s == nil {
		return policy.TLSCertificate{}, fmt.Errorf("secret %s not found", nn)
	}
	if s.Type != corev1.SecretTypeTLS {
		return policy.TLSCertificate{}, fmt.Errorf("secret %s has type %q, not %s", nn, s.Type, corev1.SecretTypeTLS)
	}
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		return policy.TLSCertificate{}, fmt.Errorf("secret %s: %s and %s are not a PEM certificate and its key: %w", nn, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	}
	return policy.TLSCertificate{Name: nn.String(), CertificateChain: crt, PrivateKey: key}, nil
}
