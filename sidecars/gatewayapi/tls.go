package gatewayapi

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Kinds of the references of HTTPS listeners: certificates in Secrets, the CA certificates
// of client certificate validation in ConfigMaps (under CACertificateKey).
const (
	KindSecret    = "Secret"
	KindConfigMap = "ConfigMap"
	// CACertificateKey is the ConfigMap key of client certificate validation's CA
	// certificates.
	CACertificateKey = "ca.crt"
)

// MaxCertificateBytes bounds the PEM read from one ConfigMap's ca.crt, or from one Secret's
// tls.crt and tls.key together: a whole system CA bundle (about 220 kB) fits, and what is
// sent inline to the proxies with every listener or service that names it stays small.
const MaxCertificateBytes = 512 << 10

// OversizedAnnotation marks a cached ConfigMap or Secret whose certificates, over
// MaxCertificateBytes, were left out of the cache (package gatewaywatch); its value is their
// size in bytes.
const OversizedAnnotation = "foresight.dev/oversized-bytes"

// certResult is what the certificateRefs of an HTTPS listener resolved to.
type certResult struct {
	// certs are the certificates to serve.
	certs []policy.TLSCertificate
	// accepted is false for what foresight-xds does not serve; resolved is false when a
	// reference does not resolve to a valid certificate; served says whether the listener
	// is served all the same (each such reference has its Secret's last valid certificate).
	accepted, resolved, served bool
	// reason and msg are the condition (Accepted when !accepted, else ResolvedRefs).
	reason, msg string
	// refReason and refMsg, when set on a listener not accepted, are its ResolvedRefs.
	refReason, refMsg string
	// clientCAs are the PEM CA certificates client certificates must chain to (none: no
	// client certificate validation); clientOptional lets in clients without a valid one.
	clientCAs      []byte
	clientOptional bool
}

// frontendValidation is the client certificate validation a Gateway asks of its HTTPS
// listeners on port (spec.tls.frontend: the port's own entry, else the default), and the
// field that asks it; nil when there is none.
func frontendValidation(gw *gwv1.Gateway, port gwv1.PortNumber) (*gwv1.FrontendTLSValidation, string) {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil {
		return nil, ""
	}
	f := gw.Spec.TLS.Frontend
	for i, pp := range f.PerPort {
		if pp.Port == port {
			return pp.TLS.Validation, fmt.Sprintf("spec.tls.frontend.perPort[%d].tls.validation", i)
		}
	}
	return f.Default.Validation, "spec.tls.frontend.default.validation"
}

// insecureFrontendValidation names the fields of gw's client certificate validation whose
// mode is AllowInsecureFallback: the Gateway says so in its InsecureFrontendValidationMode
// condition while there are any.
func insecureFrontendValidation(gw *gwv1.Gateway) []string {
	if gw.Spec.TLS == nil || gw.Spec.TLS.Frontend == nil {
		return nil
	}
	f := gw.Spec.TLS.Frontend
	var fields []string
	if v := f.Default.Validation; v != nil && v.Mode == gwv1.AllowInsecureFallback {
		fields = append(fields, "spec.tls.frontend.default.validation.mode")
	}
	for i, pp := range f.PerPort {
		if v := pp.TLS.Validation; v != nil && v.Mode == gwv1.AllowInsecureFallback {
			fields = append(fields, fmt.Sprintf("spec.tls.frontend.perPort[%d].tls.validation.mode", i))
		}
	}
	return fields
}

// clientCAs resolves the caCertificateRefs of a Gateway's client certificate validation v
// (at field where): the PEM certificates of the ConfigMaps' ca.crt that resolve, and the
// ResolvedRefs reason and message of the first that does not (see caCertificates).
func (t *translator) clientCAs(gw *gwv1.Gateway, v *gwv1.FrontendTLSValidation, where string) (cas []byte, reason, msg string) {
	refs := make([]caRef, len(v.CACertificateRefs))
	for i, ref := range v.CACertificateRefs {
		refs[i] = caRef{group: string(ref.Group), kind: string(ref.Kind), name: string(ref.Name)}
		if ref.Namespace != nil {
			refs[i].namespace = string(*ref.Namespace)
		}
	}
	cas, _, reason, msg = t.caCertificates(routeFrom{kind: KindGateway, namespace: gw.Namespace}, refs, where,
		caReasons{kind: string(gwv1.ListenerReasonInvalidCACertificateKind), notPermitted: string(gwv1.ListenerReasonRefNotPermitted),
			invalid: string(gwv1.ListenerReasonInvalidCACertificateRef)}, "validating clients")
	return cas, reason, msg
}

// caRef is a reference to CA certificates; an empty namespace is the referrer's.
type caRef struct {
	group, kind, namespace, name string
}

// caReasons are the ResolvedRefs reasons of a reference that does not resolve: to another
// kind than a core ConfigMap, to another namespace without a ReferenceGrant, to a ConfigMap
// missing or without a PEM certificate in ca.crt.
type caReasons struct {
	kind, notPermitted, invalid string
}

// caCertificates resolves references to CA certificates made from (by a Gateway, a
// BackendTLSPolicy) at field where: it returns the PEM certificates of the ConfigMaps' ca.crt
// that resolve, how many references resolved to valid certificates, and the reason (of r) and
// message of the first that does not. A ConfigMap whose ca.crt holds no PEM certificate any
// more resolves to its last valid ones while it exists (the same object), still reported
// invalid and not counted; they keep doing what use says until it is fixed.
func (t *translator) caCertificates(from routeFrom, refs []caRef, where string, r caReasons, use string) (cas []byte, resolved int, reason, msg string) {
	fail := func(r, m string) {
		if reason == "" {
			reason, msg = r, m
		}
	}
	for i, ref := range refs {
		at := fmt.Sprintf("%s.caCertificateRefs[%d]", where, i)
		if ref.group != "" || ref.kind != KindConfigMap {
			fail(r.kind, fmt.Sprintf("%s: only core ConfigMaps are supported, not %s", at, groupKind(ref.group, ref.kind)))
			continue
		}
		ns := from.namespace
		if ref.namespace != "" {
			ns = ref.namespace
		}
		if ns != from.namespace && !t.granted(from, ns, KindConfigMap, ref.name) {
			fail(r.notPermitted, fmt.Sprintf("%s: ConfigMap %s/%s is in another namespace and no ReferenceGrant there permits it", at, ns, ref.name))
			continue
		}
		nn := types.NamespacedName{Namespace: ns, Name: ref.name}
		cm := t.configMaps[nn]
		if cm == nil {
			fail(r.invalid, fmt.Sprintf("%s: ConfigMap %s not found", at, nn))
			continue
		}
		pem := []byte(cm.Data[CACertificateKey])
		if bad := caProblem(cm, pem); bad != "" {
			// The same ConfigMap had valid CA certificates: they keep serving until it is
			// fixed, as a Secret's last valid certificate keeps being served.
			k, ok := t.prev.CACertificates[nn]
			if !ok || k.UID != cm.UID {
				fail(r.invalid, fmt.Sprintf("%s: ConfigMap %s %s", at, nn, bad))
				continue
			}
			fail(r.invalid, fmt.Sprintf("%s: ConfigMap %s %s; its last valid CA certificates keep %s until it is fixed (deleting it takes them away)", at, nn, bad, use))
			pem = k.PEM
		} else {
			resolved++
		}
		t.res.LastGood.CACertificates[nn] = KeptCACertificates{UID: cm.UID, PEM: pem}
		cas = append(cas, pem...)
		if len(pem) > 0 && pem[len(pem)-1] != '\n' {
			cas = append(cas, '\n')
		}
	}
	return cas, resolved, reason, msg
}

// caProblem says what keeps the ca.crt pem of the ConfigMap cm from being used (too large, or
// no PEM certificate), or "".
func caProblem(cm *corev1.ConfigMap, pem []byte) string {
	if size, over := oversized(cm.Annotations, len(pem)); over {
		return fmt.Sprintf("has a %s of %s bytes, more than %d", CACertificateKey, size, MaxCertificateBytes)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return "has no PEM certificate in " + CACertificateKey
	}
	return ""
}

// oversized says whether certificates of n bytes, in an object with annotations, are over
// MaxCertificateBytes, and their size: the cache's OversizedAnnotation when it left them out,
// else n.
func oversized(annotations map[string]string, n int) (size string, over bool) {
	if a := annotations[OversizedAnnotation]; a != "" {
		return a, true
	}
	return strconv.Itoa(n), n > MaxCertificateBytes
}

// groupKind names a reference's kind with its group: "Kind.group", or "Kind" for the core
// group.
func groupKind(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// certRefs resolves the certificateRefs of an HTTPS or TLS listener of gw with tls.mode
// Terminate, as references of from (the Gateway, or the ListenerSet of the listener).
// It returns the certificates, or the listener condition that says why not: accepted false
// for what foresight-xds does not serve (Passthrough, no certificateRefs), or resolved false
// with RefNotPermitted (another namespace without a ReferenceGrant) or InvalidCertificateRef
// (not a core Secret, missing, not kubernetes.io/tls, bad PEM, key not matching). A Secret
// that exists but whose content turned invalid resolves to its last valid certificate
// (InvalidCertificateRef, but served) when the previous translations saw one.
func (t *translator) certRefs(gw *gwv1.Gateway, from routeFrom, l *gwv1.Listener) certResult {
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		return certResult{resolved: true, reason: string(gwv1.ListenerReasonInvalid), msg: "a listener that terminates TLS needs tls.certificateRefs"}
	}
	if l.TLS.Mode != nil && *l.TLS.Mode != gwv1.TLSModeTerminate {
		return certResult{resolved: true, reason: string(gwv1.ListenerReasonUnsupportedValue), msg: fmt.Sprintf("tls.mode %s is not supported: foresight-xds terminates TLS", *l.TLS.Mode)}
	}
	out := certResult{accepted: true, resolved: true, served: true}
	var kept []string
	fail := func(reason, msg string) {
		if out.served { // the first reference that takes the listener out names it
			out.resolved, out.served, out.reason, out.msg = false, false, reason, msg
		}
	}
	for i, ref := range l.TLS.CertificateRefs {
		where := fmt.Sprintf("tls.certificateRefs[%d]", i)
		if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != KindSecret {
			fail(string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: only core Secrets are supported", where))
			continue
		}
		ns := from.namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		if ns != from.namespace && !t.granted(from, ns, KindSecret, string(ref.Name)) {
			fail(string(gwv1.ListenerReasonRefNotPermitted), fmt.Sprintf("%s: Secret %s/%s is in another namespace and no ReferenceGrant there permits it", where, ns, ref.Name))
			continue
		}
		nn := types.NamespacedName{Namespace: ns, Name: string(ref.Name)}
		c, err := t.certificate(nn)
		if err != nil {
			if k, ok := t.keptCertificate(nn); ok {
				out.certs = append(out.certs, k)
				kept = append(kept, fmt.Sprintf("%s: %v; its last valid certificate keeps being served until the Secret is fixed (deleting it takes the listener out of service)", where, err))
				continue
			}
			fail(string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: %v", where, err))
			continue
		}
		out.certs = append(out.certs, c)
	}
	switch {
	case !out.served:
		out.certs = nil
		return out
	case len(kept) > 0:
		out.resolved, out.reason, out.msg = false, string(gwv1.ListenerReasonInvalidCertificateRef), strings.Join(kept, "; ")
	default:
		out.reason, out.msg = string(gwv1.ListenerReasonResolvedRefs), "references resolved"
	}
	if v, where := frontendValidation(gw, l.Port); v != nil {
		cas, reason, msg := t.clientCAs(gw, v, where)
		if len(cas) == 0 {
			// Served without its CAs, the listener would let in the clients it is meant to
			// keep out: it is not served.
			return certResult{refReason: reason, refMsg: msg, reason: string(gwv1.ListenerReasonNoValidCACertificate),
				msg: where + ": no CA certificate reference resolves (" + msg + "); the listener is not served rather than served without client certificate validation"}
		}
		out.clientCAs, out.clientOptional = cas, v.Mode == gwv1.AllowInsecureFallback
		if reason != "" {
			if out.resolved {
				out.resolved, out.reason, out.msg = false, reason, msg
			} else {
				out.msg += "; " + msg
			}
		}
	}
	return out
}

// certificate reads and checks a kubernetes.io/tls Secret: its tls.crt must be a PEM
// certificate chain and its tls.key the PEM private key of the chain's first certificate.
// A valid one is remembered as the Secret's last valid certificate.
func (t *translator) certificate(nn types.NamespacedName) (policy.TLSCertificate, error) {
	s := t.secrets[nn]
	if s == nil {
		return policy.TLSCertificate{}, fmt.Errorf("secret %s not found", nn)
	}
	if s.Type != corev1.SecretTypeTLS {
		return policy.TLSCertificate{}, fmt.Errorf("secret %s has type %q, not %s", nn, s.Type, corev1.SecretTypeTLS)
	}
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if size, over := oversized(s.Annotations, len(crt)+len(key)); over {
		return policy.TLSCertificate{}, fmt.Errorf("secret %s: %s and %s are %s bytes, more than %d", nn, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, size, MaxCertificateBytes)
	}
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		return policy.TLSCertificate{}, fmt.Errorf("secret %s: %s and %s are not a PEM certificate and its key: %w", nn, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	}
	c := policy.TLSCertificate{Name: nn.String(), CertificateChain: crt, PrivateKey: key}
	t.res.LastGood.Certificates[nn] = KeptCertificate{UID: s.UID, Certificate: c}
	return c, nil
}

// keptCertificate is the last valid certificate of the Secret nn, when the Secret still
// exists (the same object) and the previous translations saw it valid; it is remembered
// for the next translation.
func (t *translator) keptCertificate(nn types.NamespacedName) (policy.TLSCertificate, bool) {
	s := t.secrets[nn]
	k, ok := t.prev.Certificates[nn]
	if s == nil || !ok || k.UID != s.UID {
		return policy.TLSCertificate{}, false
	}
	t.res.LastGood.Certificates[nn] = k
	return k.Certificate, true
}

// CACertificateRefs are the ConfigMaps the client certificate validation of gws names: only
// those are read.
func CACertificateRefs(gws []*gwv1.Gateway) map[types.NamespacedName]bool {
	out := map[types.NamespacedName]bool{}
	for _, g := range gws {
		if g.Spec.TLS == nil || g.Spec.TLS.Frontend == nil {
			continue
		}
		vs := []*gwv1.FrontendTLSValidation{g.Spec.TLS.Frontend.Default.Validation}
		for _, pp := range g.Spec.TLS.Frontend.PerPort {
			vs = append(vs, pp.TLS.Validation)
		}
		for _, v := range vs {
			if v == nil {
				continue
			}
			for _, r := range v.CACertificateRefs {
				ns := g.Namespace
				if r.Namespace != nil && *r.Namespace != "" {
					ns = string(*r.Namespace)
				}
				out[types.NamespacedName{Namespace: ns, Name: string(r.Name)}] = true
			}
		}
	}
	return out
}
