package gatewayapi

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// tlsShop is an Input with the Gateway shop/edge, whose route sends web.shop to the Service
// web (port 8080, named https, and port 9090, named admin), and the ConfigMap shop/web-ca
// holding caPEM.
func tlsShop(caPEM []byte) *Input {
	in := oneGateway("shop", "edge", nil)
	in.Services = []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 8080}, {Name: "admin", Port: 9090}}}}}
	in.HTTPRoutes = []*gwv1.HTTPRoute{simpleRoute("shop", "web", []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"web.shop"}, nil, "web")}
	in.ConfigMaps = []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-ca", UID: "cm-1"}, Data: map[string]string{CACertificateKey: string(caPEM)}}}
	return in
}

// backendTLSPolicy is the BackendTLSPolicy shop/name of generation 1, created at second
// created, targeting the Service web (its port section when set) and verifying hostname
// against the ConfigMaps named in cas.
func backendTLSPolicy(name string, created int64, section, hostname string, cas ...string) *gwv1.BackendTLSPolicy {
	p := &gwv1.BackendTLSPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name), Generation: 1, CreationTimestamp: metav1.Unix(created, 0)},
		Spec: gwv1.BackendTLSPolicySpec{
			TargetRefs: []gwv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwv1.LocalPolicyTargetReference{Kind: KindService, Name: "web"}}},
			Validation: gwv1.BackendTLSPolicyValidation{Hostname: gwv1.PreciseHostname(hostname)}}}
	if section != "" {
		s := gwv1.SectionName(section)
		p.Spec.TargetRefs[0].SectionName = &s
	}
	for _, ca := range cas {
		p.Spec.Validation.CACertificateRefs = append(p.Spec.Validation.CACertificateRefs, gwv1.LocalObjectReference{Kind: KindConfigMap, Name: gwv1.ObjectName(ca)})
	}
	return p
}

// webTLS is the TLS of the policy service of the Service web's port 8080.
func webTLS(t *testing.T, res *Result) *policy.UpstreamTLS {
	t.Helper()
	for _, s := range res.Spec.Services {
		if s.Name == ServiceName("shop", "web", 8080) {
			return s.TLS
		}
	}
	t.Fatalf("no policy service for web:8080 in %+v", res.Spec.Services)
	return nil
}

// tlsPolicyConditions are the Accepted and ResolvedRefs conditions of the policy shop/name,
// which must have exactly one ancestor, the Gateway shop/edge.
func tlsPolicyConditions(t *testing.T, res *Result, name string) (accepted, resolved metav1.Condition) {
	t.Helper()
	sts := res.BackendTLSPolicies[types.NamespacedName{Namespace: "shop", Name: name}]
	if len(sts) != 1 || sts[0].AncestorRef.Name != "edge" || *sts[0].AncestorRef.Kind != KindGateway {
		t.Fatalf("%s: ancestors %+v, want the Gateway edge", name, sts)
	}
	return conditions.Require(t, sts[0].Conditions, "Accepted"), conditions.Require(t, sts[0].Conditions, "ResolvedRefs")
}

// TestBackendTLSPolicyWithConfigMapCA: the Service a BackendTLSPolicy targets is reached over
// TLS that verifies its certificate against the ConfigMap's CA and the policy's hostname (the
// SNI too); the policy is Accepted with resolved references on the Gateway it is used by. The
// Gateway's Envoy proxies get the cluster's TLS; its proxyless gRPC clients, which cannot be
// given upstream TLS, get neither the hostname nor the service, as the policy's status says.
func TestBackendTLSPolicyWithConfigMapCA(t *testing.T) {
	ca, err := pki.NewCA("web-ca")
	if err != nil {
		t.Fatal(err)
	}
	in := tlsShop(ca.CertPEM)
	in.HTTPRoutes = append(in.HTTPRoutes, simpleRoute("shop", "plain", []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"plain.shop"}, nil, "plain"))
	in.Services = append(in.Services, svc("shop", "plain", 8080))
	in.BackendTLSPolicies = []*gwv1.BackendTLSPolicy{backendTLSPolicy("web-tls", 1, "", "Web.Shop.svc", "web-ca")}
	res, groups := serve(t, in)
	tls := webTLS(t, res)
	if tls == nil || tls.SNI != "web.shop.svc" || !bytes.Equal(tls.CACertificates, ca.CertPEM) || tls.CAFile != "" || len(tls.SubjectAltNames) != 0 {
		t.Fatalf("web's TLS %+v, want SNI web.shop.svc and the ConfigMap's CA", tls)
	}
	accepted, resolved := tlsPolicyConditions(t, res, "web-tls")
	if accepted.Status != metav1.ConditionTrue || resolved.Status != metav1.ConditionTrue || resolved.Reason != "ResolvedRefs" {
		t.Errorf("conditions %+v, %+v; want Accepted and ResolvedRefs", accepted, resolved)
	}
	if !strings.Contains(accepted.Message, "the proxyless gRPC clients of its Gateways get no hostname that sends to its targets") {
		t.Errorf("Accepted message %q does not say what proxyless clients miss", accepted.Message)
	}
	envoy := groups[GatewayNodeGroup("shop", "edge")]
	var found bool
	for _, c := range envoy.Clusters {
		if c.GetName() != ServiceName("shop", "web", 8080)+".shop" {
			continue
		}
		found = true
		ut := &envoy_extensions_transport_sockets_tls_v3.UpstreamTlsContext{}
		if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(ut); err != nil {
			t.Fatalf("cluster %s: %v", c.GetName(), err)
		}
		vc := ut.GetCommonTlsContext().GetValidationContext()
		if ut.GetSni() != "web.shop.svc" || !bytes.Equal(vc.GetTrustedCa().GetInlineBytes(), ca.CertPEM) || vc.GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != "web.shop.svc" {
			t.Errorf("Envoy cluster TLS %v", ut)
		}
	}
	if !found {
		t.Fatalf("the Envoy group has no cluster of web")
	}
	grpc := (&policy.Policy{Spec: res.Spec}).Group(GatewayNodeGroup("shop", "edge") + ".grpc")
	if slices.ContainsFunc(grpc.VirtualHosts, func(v string) bool { return strings.Contains(v, "web.shop") }) ||
		slices.Contains(grpc.Upstreams, ServiceName("shop", "web", 8080)) {
		t.Errorf("proxyless group %+v gets the TLS backend", grpc)
	}
	if !slices.ContainsFunc(grpc.VirtualHosts, func(v string) bool { return strings.Contains(v, "plain.shop") }) {
		t.Errorf("proxyless group %+v lost the plaintext backend's hostname", grpc)
	}
}

// TestBackendTLSPolicyConditions: what each way a BackendTLSPolicy can be written does to
// the TLS of its target and to its conditions. A refused policy (other than one that
// conflicts) leaves its target with TLS no server passes, so that requests fail rather than
// go out in plaintext.
func TestBackendTLSPolicyConditions(t *testing.T) {
	ca, err := pki.NewCA("web-ca")
	if err != nil {
		t.Fatal(err)
	}
	refused := &policy.UpstreamTLS{SNI: refusedBackendName, CAFile: policy.DefaultCAFile, SubjectAltNames: []string{refusedBackendName}}
	system := gwv1.WellKnownCACertificatesSystem
	other := gwv1.WellKnownCACertificatesType("example.com/private")
	for _, tc := range []struct {
		name                 string
		edit                 func(p *gwv1.BackendTLSPolicy)
		wantTLS              *policy.UpstreamTLS
		accepted, resolved   string // reasons
		acceptedMsg, refsMsg string
	}{
		{"system CAs and subject alternative names", func(p *gwv1.BackendTLSPolicy) {
			p.Spec.Validation.CACertificateRefs, p.Spec.Validation.WellKnownCACertificates = nil, &system
			p.Spec.Validation.SubjectAltNames = []gwv1.SubjectAltName{{Type: gwv1.HostnameSubjectAltNameType, Hostname: "web.example.com"},
				{Type: gwv1.URISubjectAltNameType, URI: "spiffe://cluster.local/ns/shop/sa/web"}}
		}, &policy.UpstreamTLS{SNI: "web.shop.svc", CAFile: policy.DefaultCAFile, SubjectAltNames: []string{"web.example.com", "spiffe://cluster.local/ns/shop/sa/web"}},
			"Accepted", "ResolvedRefs", "accepted", "references resolved"},
		{"one ConfigMap missing of two", func(p *gwv1.BackendTLSPolicy) {
			p.Spec.Validation.CACertificateRefs = append(p.Spec.Validation.CACertificateRefs, gwv1.LocalObjectReference{Kind: KindConfigMap, Name: "gone"})
		}, &policy.UpstreamTLS{SNI: "web.shop.svc", CACertificates: ca.CertPEM},
			"Accepted", "InvalidCACertificateRef", "accepted", "spec.validation.caCertificateRefs[1]: ConfigMap shop/gone not found"},
		{"no ConfigMap found", func(p *gwv1.BackendTLSPolicy) { p.Spec.Validation.CACertificateRefs[0].Name = "gone" }, refused,
			"NoValidCACertificate", "InvalidCACertificateRef", "ConfigMap shop/gone not found", "spec.validation.caCertificateRefs[0]: ConfigMap shop/gone not found"},
		{"a Secret", func(p *gwv1.BackendTLSPolicy) { p.Spec.Validation.CACertificateRefs[0].Kind = KindSecret }, refused,
			"NoValidCACertificate", "InvalidKind", "only core ConfigMaps are supported, not Secret", "spec.validation.caCertificateRefs[0]: only core ConfigMaps are supported, not Secret"},
		{"another set of well-known CAs", func(p *gwv1.BackendTLSPolicy) {
			p.Spec.Validation.CACertificateRefs, p.Spec.Validation.WellKnownCACertificates = nil, &other
		}, refused, "Invalid", "ResolvedRefs", `spec.validation.wellKnownCACertificates: only "System"`, "references resolved"},
		{"options", func(p *gwv1.BackendTLSPolicy) {
			p.Spec.Options = map[gwv1.AnnotationKey]gwv1.AnnotationValue{"example.com/min-version": "1.3"}
		}, refused,
			"Invalid", "ResolvedRefs", `spec.options: foresight-xds supports no options, not ["example.com/min-version"]`, "references resolved"},
		{"a bad subject alternative name", func(p *gwv1.BackendTLSPolicy) {
			p.Spec.Validation.SubjectAltNames = []gwv1.SubjectAltName{{Type: gwv1.URISubjectAltNameType, URI: "spiffe:///no-host"}}
		}, refused, "Invalid", "ResolvedRefs", `spec.validation.subjectAltNames[0]: must be an absolute URI`, "references resolved"},
		{"a port it does not have", func(p *gwv1.BackendTLSPolicy) {
			s := gwv1.SectionName("grpc")
			p.Spec.TargetRefs[0].SectionName = &s
		}, nil, "TargetNotFound", "ResolvedRefs", `spec.targetRefs[0]: Service shop/web has no port named "grpc"`, "references resolved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tlsShop(ca.CertPEM)
			p := backendTLSPolicy("web-tls", 1, "", "web.shop.svc", "web-ca")
			tc.edit(p)
			in.BackendTLSPolicies = []*gwv1.BackendTLSPolicy{p}
			res, _ := serve(t, in)
			if got := webTLS(t, res); !sameTLS(got, tc.wantTLS) {
				t.Errorf("web's TLS %+v, want %+v", got, tc.wantTLS)
			}
			sts := res.BackendTLSPolicies[types.NamespacedName{Namespace: "shop", Name: "web-tls"}]
			if len(sts) != 1 {
				t.Fatalf("ancestors %+v", sts)
			}
			accepted, resolved := conditions.Require(t, sts[0].Conditions, "Accepted"), conditions.Require(t, sts[0].Conditions, "ResolvedRefs")
			if accepted.Reason != tc.accepted || (accepted.Status == metav1.ConditionTrue) != (tc.accepted == "Accepted") || !strings.Contains(accepted.Message, tc.acceptedMsg) {
				t.Errorf("Accepted %+v, want %s with %q", accepted, tc.accepted, tc.acceptedMsg)
			}
			if resolved.Reason != tc.resolved || (resolved.Status == metav1.ConditionTrue) != (tc.resolved == "ResolvedRefs") || !strings.Contains(resolved.Message, tc.refsMsg) {
				t.Errorf("ResolvedRefs %+v, want %s with %q", resolved, tc.resolved, tc.refsMsg)
			}
		})
	}
}

// sameTLS compares two upstream TLS settings (nil: none).
func sameTLS(a, b *policy.UpstreamTLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.SNI == b.SNI && a.CAFile == b.CAFile && bytes.Equal(a.CACertificates, b.CACertificates) && slices.Equal(a.SubjectAltNames, b.SubjectAltNames)
}

// TestBackendTLSPolicyPrecedence: of two policies on the same target the older applies and
// the newer is Conflicted; a policy on a named port applies to that port over one on the
// whole Service, which still applies to the other ports.
func TestBackendTLSPolicyPrecedence(t *testing.T) {
	ca, err := pki.NewCA("web-ca")
	if err != nil {
		t.Fatal(err)
	}
	in := tlsShop(ca.CertPEM)
	in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "admin"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}}, Hostnames: []gwv1.Hostname{"admin.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 9090, 1)}}}}}})
	in.BackendTLSPolicies = []*gwv1.BackendTLSPolicy{
		backendTLSPolicy("newer", 2, "", "newer.shop.svc", "web-ca"),
		backendTLSPolicy("older", 1, "", "older.shop.svc", "web-ca"),
		backendTLSPolicy("https-port", 3, "https", "port.shop.svc", "web-ca"),
	}
	res, _ := serve(t, in)
	if got := webTLS(t, res); got == nil || got.SNI != "port.shop.svc" {
		t.Errorf("web:8080 (https) TLS %+v, want the port's policy", got)
	}
	for _, s := range res.Spec.Services {
		if s.Name == ServiceName("shop", "web", 9090) && (s.TLS == nil || s.TLS.SNI != "older.shop.svc") {
			t.Errorf("web:9090 (admin) TLS %+v, want the older whole-Service policy's", s.TLS)
		}
	}
	if accepted, _ := tlsPolicyConditions(t, res, "newer"); accepted.Reason != "Conflicted" || !strings.Contains(accepted.Message, "Service/shop/web is already the target of BackendTLSPolicy older") {
		t.Errorf("newer: Accepted %+v, want Conflicted naming older", accepted)
	}
	for _, name := range []string{"older", "https-port"} {
		if accepted, _ := tlsPolicyConditions(t, res, name); accepted.Status != metav1.ConditionTrue {
			t.Errorf("%s: Accepted %+v", name, accepted)
		}
	}
}

// TestBackendTLSPolicyLastGood: a policy whose new generation is refused keeps its last
// accepted generation's TLS and says so, its ResolvedRefs describing the new generation's
// references; a ConfigMap whose ca.crt turns invalid keeps its
// last valid CA certificates, reported in ResolvedRefs.
func TestBackendTLSPolicyLastGood(t *testing.T) {
	ca, err := pki.NewCA("web-ca")
	if err != nil {
		t.Fatal(err)
	}
	in := tlsShop(ca.CertPEM)
	p := backendTLSPolicy("web-tls", 1, "", "web.shop.svc", "web-ca")
	in.BackendTLSPolicies = []*gwv1.BackendTLSPolicy{p}
	res, _ := serve(t, in)

	bad := p.DeepCopy()
	bad.Generation = 2
	bad.Spec.Options = map[gwv1.AnnotationKey]gwv1.AnnotationValue{"example.com/x": "y"}
	in.BackendTLSPolicies, in.LastGood, in.Now = []*gwv1.BackendTLSPolicy{bad}, res.LastGood, in.Now.Add(time.Minute)
	res, _ = serve(t, in)
	if got := webTLS(t, res); got == nil || !bytes.Equal(got.CACertificates, ca.CertPEM) || got.SNI != "web.shop.svc" {
		t.Errorf("after a refused generation: TLS %+v, want generation 1's", got)
	}
	if accepted, _ := tlsPolicyConditions(t, res, "web-tls"); accepted.Status != metav1.ConditionFalse || !strings.Contains(accepted.Message, "the last accepted generation 1 is still applied") {
		t.Errorf("Accepted %+v", accepted)
	}

	in.BackendTLSPolicies, in.LastGood = []*gwv1.BackendTLSPolicy{p}, res.LastGood
	in.ConfigMaps[0] = in.ConfigMaps[0].DeepCopy()
	in.ConfigMaps[0].Data[CACertificateKey] = "not PEM"
	res, _ = serve(t, in)
	if got := webTLS(t, res); got == nil || !bytes.Equal(got.CACertificates, ca.CertPEM) {
		t.Errorf("after the ConfigMap turned invalid: TLS %+v, want its last valid CA", got)
	}
	// Its last valid CA certificates keep validating, but the policy has no valid one: it is
	// not Accepted, and says what keeps applying.
	accepted, resolved := tlsPolicyConditions(t, res, "web-tls")
	if accepted.Status != metav1.ConditionFalse || accepted.Reason != "NoValidCACertificate" || !strings.Contains(accepted.Message, "its last valid CA certificates keep validating backends") ||
		resolved.Reason != "InvalidCACertificateRef" || !strings.Contains(resolved.Message, "its last valid CA certificates keep validating backends") {
		t.Errorf("Accepted %+v, ResolvedRefs %+v", accepted, resolved)
	}

	in.ConfigMaps[0] = in.ConfigMaps[0].DeepCopy()
	in.ConfigMaps[0].Data[CACertificateKey] = string(ca.CertPEM)
	in.LastGood = res.LastGood
	res, _ = serve(t, in)
	// A generation naming a ConfigMap that does not exist: generation 1 keeps applying, and
	// ResolvedRefs tells what is wrong with the current generation's references.
	missing := p.DeepCopy()
	missing.Generation = 2
	missing.Spec.Validation.CACertificateRefs[0].Name = "web-ca-next"
	in.BackendTLSPolicies, in.LastGood = []*gwv1.BackendTLSPolicy{missing}, res.LastGood
	res, _ = serve(t, in)
	if got := webTLS(t, res); got == nil || !bytes.Equal(got.CACertificates, ca.CertPEM) || got.SNI != "web.shop.svc" {
		t.Errorf("after a generation naming a missing ConfigMap: TLS %+v, want generation 1's", got)
	}
	accepted, resolved = tlsPolicyConditions(t, res, "web-tls")
	if accepted.Reason != "NoValidCACertificate" || !strings.Contains(accepted.Message, "the last accepted generation 1 is still applied") ||
		resolved.Status != metav1.ConditionFalse || resolved.Reason != "InvalidCACertificateRef" || !strings.Contains(resolved.Message, "ConfigMap shop/web-ca-next not found") {
		t.Errorf("generation 2: Accepted %+v, ResolvedRefs %+v; want NoValidCACertificate and InvalidCACertificateRef naming shop/web-ca-next", accepted, resolved)
	}
	in.ConfigMaps = append(in.ConfigMaps, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-ca-next", UID: "cm-2"}, Data: map[string]string{CACertificateKey: string(ca.CertPEM)}})
	in.LastGood = res.LastGood
	res, _ = serve(t, in)
	if accepted, resolved := tlsPolicyConditions(t, res, "web-tls"); accepted.Status != metav1.ConditionTrue || resolved.Status != metav1.ConditionTrue {
		t.Errorf("once the ConfigMap exists: Accepted %+v, ResolvedRefs %+v, want both True", accepted, resolved)
	}
}

// TestOversizedCACertificates: a ConfigMap whose ca.crt is over MaxCertificateBytes, as
// given or as the watcher's cache marks it, resolves to nothing, and says its size.
func TestOversizedCACertificates(t *testing.T) {
	ca, err := pki.NewCA("web-ca")
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat(append(slices.Clone(ca.CertPEM), '\n'), MaxCertificateBytes/len(ca.CertPEM)+1)
	for name, cm := range map[string]*corev1.ConfigMap{
		"given":  {ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-ca"}, Data: map[string]string{CACertificateKey: string(big)}},
		"cached": {ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-ca", Annotations: map[string]string{OversizedAnnotation: "600000"}}, Data: map[string]string{CACertificateKey: ""}},
	} {
		in := tlsShop(ca.CertPEM)
		in.ConfigMaps = []*corev1.ConfigMap{cm}
		in.BackendTLSPolicies = []*gwv1.BackendTLSPolicy{backendTLSPolicy("web-tls", 1, "", "web.shop.svc", "web-ca")}
		res, _ := serve(t, in)
		accepted, resolved := tlsPolicyConditions(t, res, "web-tls")
		size := "600000"
		if name == "given" {
			size = strconv.Itoa(len(big))
		}
		want := "ConfigMap shop/web-ca has a ca.crt of " + size + " bytes, more than 524288"
		if accepted.Reason != "NoValidCACertificate" || resolved.Reason != "InvalidCACertificateRef" || !strings.Contains(resolved.Message, want) {
			t.Errorf("%s: Accepted %+v, ResolvedRefs %+v; want NoValidCACertificate and %q", name, accepted, resolved, want)
		}
		if got := webTLS(t, res); got == nil || got.SNI != refusedBackendName {
			t.Errorf("%s: TLS %+v, want it refused", name, got)
		}
	}
}

// TestBackendsTheProxiesCannotReach refuses, on the route's ResolvedRefs, a Service of type
// ExternalName and a port whose appProtocol takes TLS with no BackendTLSPolicy to verify it;
// with one, the TLS port is served over TLS.
func TestBackendsTheProxiesCannotReach(t *testing.T) {
	ca, err := pki.NewCA("web-ca")
	if err != nil {
		t.Fatal(err)
	}
	resolved := func(res *Result) metav1.Condition {
		return conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "web"), "ResolvedRefs")
	}
	for _, c := range []struct{ name, appProtocol, reason, message string }{
		{"wss", "kubernetes.io/wss", string(gwv1.RouteReasonUnsupportedProtocol), "Service shop/web port 8080 has appProtocol kubernetes.io/wss, which takes TLS: a BackendTLSPolicy"},
		{"HTTPS", "HTTPS", string(gwv1.RouteReasonUnsupportedProtocol), "has appProtocol HTTPS, which takes TLS"},
		{"ExternalName", "", string(gwv1.RouteReasonInvalidKind), "Service shop/web is of type ExternalName, which is not supported"},
	} {
		in := tlsShop(ca.CertPEM)
		if c.appProtocol != "" {
			in.Services[0].Spec.Ports[0].AppProtocol = &c.appProtocol
		} else {
			in.Services[0].Spec.Type, in.Services[0].Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
		}
		res := Translate(in)
		if r := resolved(res); r.Status != metav1.ConditionFalse || r.Reason != c.reason || !strings.Contains(r.Message, c.message) {
			t.Errorf("%s: ResolvedRefs %s (%s): %s", c.name, r.Status, r.Reason, r.Message)
		}
		for _, s := range res.Spec.Services {
			if s.KubernetesService == "web" {
				t.Errorf("%s: served policy service %s", c.name, s.Name)
			}
		}
		if c.appProtocol == "" {
			continue
		}
		in.BackendTLSPolicies, in.Served.BackendTLSPolicies = []*gwv1.BackendTLSPolicy{backendTLSPolicy("web-tls", 1, "", "web.shop", "web-ca")}, true
		res = Translate(in)
		if r := resolved(res); r.Status != metav1.ConditionTrue {
			t.Errorf("%s with a BackendTLSPolicy: ResolvedRefs %s (%s): %s", c.name, r.Status, r.Reason, r.Message)
		}
		if tls := webTLS(t, res); tls == nil || tls.SNI != "web.shop" {
			t.Errorf("%s with a BackendTLSPolicy: TLS %+v", c.name, tls)
		}
	}
}

// TestBackendTLSBesideAFileProxylessGroup: a policy file's proxyless gRPC group that lists no
// upstreams (every service) does not get the Gateway's services with TLS, which its clients
// could not originate: the merge with a BackendTLSPolicy's service stays valid, and the
// group calls the file's services and the others.
func TestBackendTLSBesideAFileProxylessGroup(t *testing.T) {
	in := oneGateway("shop", "edge", nil)
	in.Served = ServedKinds{BackendTLSPolicies: true}
	in.Services = []*corev1.Service{svc("shop", "web", 8080), svc("shop", "plain", 8080)}
	in.HTTPRoutes = []*gwv1.HTTPRoute{
		simpleRoute("shop", "r", []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"a.shop"}, nil, "web"),
		simpleRoute("shop", "p", []gwv1.ParentReference{{Name: "edge"}}, []gwv1.Hostname{"p.shop"}, nil, "plain"),
	}
	in.BackendTLSPolicies = []*gwv1.BackendTLSPolicy{backendTLSPolicy("web-tls", 1, "", "web.shop")}
	in.BackendTLSPolicies[0].Spec.Validation.WellKnownCACertificates = ptr(gwv1.WellKnownCACertificatesSystem)
	file, err := policy.Parse([]byte("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: m, namespace: shop}\nspec:\n  services:\n  - {name: greeter, port: 50051, protocol: grpc, discovery: kubernetes}\n  nodeGroups:\n  - {name: clients, kind: grpc, selector: {app: client}}\n"), "file.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := Merge(file, Translate(in).Spec)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := p.GroupUpstreams(p.Group("clients")); !slices.Equal(got, []string{"greeter", "shop-plain-8080"}) {
		t.Errorf("clients call %v, want greeter and shop-plain-8080", got)
	}
	groups, err := translate.Translate(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range groups["clients"].Clusters {
		if c.GetTransportSocket() != nil {
			t.Errorf("the proxyless group gets cluster %s with TLS", c.GetName())
		}
	}
}
