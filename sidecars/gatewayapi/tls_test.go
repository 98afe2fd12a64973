package gatewayapi

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	envoy_extensions_transport_sockets_tls_v3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

func tlsSecret(ns, name string, crt, key []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
}

// httpsInput is a Gateway with one HTTPS listener whose certificate is certRef, and a route.
func httpsInput(certRef gwv1.SecretObjectReference, secrets ...*corev1.Secret) *Input {
	class := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge", Generation: 1}, Spec: gwv1.GatewaySpec{
		GatewayClassName: "foresight",
		Listeners: []gwv1.Listener{{Name: "https", Port: 8443, Protocol: gwv1.HTTPSProtocolType,
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{certRef}}}}}}
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}}, Hostnames: []gwv1.Hostname{"web.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}}}}}}
	return &Input{ControllerName: controller, Now: time.Unix(0, 0), GatewayClasses: []*gwv1.GatewayClass{class},
		Gateways: []*gwv1.Gateway{gw}, HTTPRoutes: []*gwv1.HTTPRoute{route}, Services: []*corev1.Service{svc("shop", "web", 80)}, Secrets: secrets}
}

func listenerCond(t *testing.T, res *Result, typ string) metav1.Condition {
	t.Helper()
	gs := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if gs == nil || len(gs.Listeners) != 1 {
		t.Fatalf("gateway status = %+v", gs)
	}
	return conditions.Require(t, gs.Listeners[0].Conditions, typ)
}

// TestHTTPSListenerTerminatesTLS checks a valid Secret makes the Gateway's Envoy listener
// terminate TLS with that certificate and key.
func TestHTTPSListenerTerminatesTLS(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	res := Translate(httpsInput(gwv1.SecretObjectReference{Name: "web-cert"}, tlsSecret("shop", "web-cert", crt, key)))
	if c := listenerCond(t, res, "ResolvedRefs"); c.Status != metav1.ConditionTrue {
		t.Fatalf("ResolvedRefs = %+v", c)
	}
	if c := listenerCond(t, res, "Accepted"); c.Status != metav1.ConditionTrue {
		t.Fatalf("Accepted = %+v", c)
	}
	p := Merge(base(t), res.Spec)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	groups, err := translate.Translate(p)
	if err != nil {
		t.Fatal(err)
	}
	g := groups["gw.shop.edge"]
	if g == nil || len(g.Listeners) != 1 {
		t.Fatalf("gateway group = %+v", g)
	}
	if err := check.Check(g); err != nil {
		t.Fatal(err)
	}
	l := g.Listeners[0]
	if l.GetAddress().GetSocketAddress().GetPortValue() != 8443 {
		t.Errorf("listener address = %v", l.GetAddress())
	}
	ts := l.GetFilterChains()[0].GetTransportSocket()
	if ts.GetName() != translate.TLSTransportSocket {
		t.Fatalf("transport socket = %v", ts)
	}
	dt := &envoy_extensions_transport_sockets_tls_v3.DownstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(dt); err != nil {
		t.Fatal(err)
	}
	certs := dt.GetCommonTlsContext().GetTlsCertificates()
	if len(certs) != 1 || string(certs[0].GetCertificateChain().GetInlineBytes()) != string(crt) || string(certs[0].GetPrivateKey().GetInlineBytes()) != string(key) {
		t.Errorf("certificates = %v", certs)
	}
}

// TestHTTPSListenerBadCertificate checks each way a certificate reference can fail gives the
// listener ResolvedRefs=False with the spec's reason, and nothing is served for it.
func TestHTTPSListenerBadCertificate(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	_, otherKey := pki.ServerPair(t, "web.shop")
	grant := &gwv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "certs", Name: "gw"}, Spec: gwv1beta1.ReferenceGrantSpec{
		From: []gwv1beta1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: KindGateway, Namespace: "shop"}},
		To:   []gwv1beta1.ReferenceGrantTo{{Group: "", Kind: KindSecret}}}}
	certs := gwv1.Namespace("certs")
	opaque := tlsSecret("shop", "web-cert", crt, key)
	opaque.Type = corev1.SecretTypeOpaque
	// A valid pair padded over the bound (PEM decoding skips the text around the blocks), and
	// the same as the watcher's cache keeps it: its size alone.
	padded := tlsSecret("shop", "web-cert", append(bytes.Repeat([]byte("#"), MaxCertificateBytes), crt...), key)
	cached := tlsSecret("shop", "web-cert", nil, nil)
	cached.Annotations = map[string]string{OversizedAnnotation: "600000"}
	for _, c := range []struct {
		name    string
		ref     gwv1.SecretObjectReference
		secrets []*corev1.Secret
		grant   bool
		reason  gwv1.ListenerConditionReason
	}{
		{"missing", gwv1.SecretObjectReference{Name: "web-cert"}, nil, false, gwv1.ListenerReasonInvalidCertificateRef},
		{"not PEM", gwv1.SecretObjectReference{Name: "web-cert"}, []*corev1.Secret{tlsSecret("shop", "web-cert", []byte("junk"), key)}, false, gwv1.ListenerReasonInvalidCertificateRef},
		{"key of another certificate", gwv1.SecretObjectReference{Name: "web-cert"}, []*corev1.Secret{tlsSecret("shop", "web-cert", crt, otherKey)}, false, gwv1.ListenerReasonInvalidCertificateRef},
		{"not a TLS Secret", gwv1.SecretObjectReference{Name: "web-cert"}, []*corev1.Secret{opaque}, false, gwv1.ListenerReasonInvalidCertificateRef},
		{"over the size bound", gwv1.SecretObjectReference{Name: "web-cert"}, []*corev1.Secret{padded}, false, gwv1.ListenerReasonInvalidCertificateRef},
		{"over the size bound, cached", gwv1.SecretObjectReference{Name: "web-cert"}, []*corev1.Secret{cached}, false, gwv1.ListenerReasonInvalidCertificateRef},
		{"another namespace without a grant", gwv1.SecretObjectReference{Name: "web-cert", Namespace: &certs}, []*corev1.Secret{tlsSecret("certs", "web-cert", crt, key)}, false, gwv1.ListenerReasonRefNotPermitted},
		{"granted but missing", gwv1.SecretObjectReference{Name: "other", Namespace: &certs}, []*corev1.Secret{tlsSecret("certs", "web-cert", crt, key)}, true, gwv1.ListenerReasonInvalidCertificateRef},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := httpsInput(c.ref, c.secrets...)
			if c.grant {
				in.ReferenceGrants = []*gwv1.ReferenceGrant{grant}
			}
			res := Translate(in)
			if rc := listenerCond(t, res, "ResolvedRefs"); rc.Status != metav1.ConditionFalse || rc.Reason != string(c.reason) {
				t.Errorf("ResolvedRefs = %+v, want False %s", rc, c.reason)
			} else if strings.HasPrefix(c.name, "over the size bound") && !strings.Contains(rc.Message, "bytes, more than 524288") {
				t.Errorf("ResolvedRefs message %q does not give the size", rc.Message)
			}
			if len(res.Spec.NodeGroups) != 0 {
				t.Errorf("node groups = %+v, want none", res.Spec.NodeGroups)
			}
		})
	}
	// With the grant, the Secret in the other namespace serves.
	in := httpsInput(gwv1.SecretObjectReference{Name: "web-cert", Namespace: &certs}, tlsSecret("certs", "web-cert", crt, key))
	in.ReferenceGrants = []*gwv1.ReferenceGrant{grant}
	res := Translate(in)
	if rc := listenerCond(t, res, "ResolvedRefs"); rc.Status != metav1.ConditionTrue {
		t.Errorf("granted ResolvedRefs = %+v", rc)
	}
	if len(res.Spec.NodeGroups) != 2 || len(res.Spec.NodeGroups[1].Listeners[0].TLSCertificates) != 1 {
		t.Errorf("granted node groups = %+v", res.Spec.NodeGroups)
	}
}

// TestHTTPSListenerPassthroughRefused checks tls.mode Passthrough is refused with
// UnsupportedValue.
func TestHTTPSListenerPassthroughRefused(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	in := httpsInput(gwv1.SecretObjectReference{Name: "web-cert"}, tlsSecret("shop", "web-cert", crt, key))
	pass := gwv1.TLSModePassthrough
	in.Gateways[0].Spec.Listeners[0].TLS.Mode = &pass
	res := Translate(in)
	if c := listenerCond(t, res, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonUnsupportedValue) {
		t.Errorf("Accepted = %+v", c)
	}
	if len(res.Spec.NodeGroups) != 0 {
		t.Errorf("node groups = %+v", res.Spec.NodeGroups)
	}
}

// TestHTTPSListenerValidatesClientCertificates checks a Gateway's client certificate
// validation (spec.tls.frontend) on its HTTPS listeners: the CA certificates of the
// ConfigMaps it names are served as the listener's client CAs, required by default and
// optional with AllowInsecureFallback; a reference that does not resolve is named on
// ResolvedRefs, and a listener none of whose references resolves is not served
// (NoValidCACertificate) rather than served to every client.
func TestHTTPSListenerValidatesClientCertificates(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	clientsCA, err := pki.NewCA("clients")
	if err != nil {
		t.Fatal(err)
	}
	configMap := func(ns, name, caCrt string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"ca.crt": caCrt}}
	}
	ref := func(name string, ns ...string) gwv1.ObjectReference {
		r := gwv1.ObjectReference{Kind: "ConfigMap", Name: gwv1.ObjectName(name)}
		if len(ns) > 0 {
			r.Namespace = ptr(gwv1.Namespace(ns[0]))
		}
		return r
	}
	setup := func(refs ...gwv1.ObjectReference) *Input {
		in := httpsInput(gwv1.SecretObjectReference{Name: "web-cert"}, tlsSecret("shop", "web-cert", crt, key))
		in.ConfigMaps = []*corev1.ConfigMap{configMap("shop", "clients-ca", string(clientsCA.CertPEM)), configMap("shop", "empty", "not a certificate"),
			configMap("trust", "shared-ca", string(clientsCA.CertPEM))}
		in.Gateways[0].Spec.TLS = &gwv1.GatewayTLSConfig{Frontend: &gwv1.FrontendTLSConfig{Default: gwv1.TLSConfig{
			Validation: &gwv1.FrontendTLSValidation{CACertificateRefs: refs}}}}
		return in
	}
	listener := func(t *testing.T, res *Result) *policy.GatewayListener {
		t.Helper()
		p, _ := served(t, res.Spec)
		g := p.Group(GatewayNodeGroup("shop", "edge"))
		if g == nil || len(g.Listeners) != 1 {
			t.Fatalf("node group: %+v", g)
		}
		return &g.Listeners[0]
	}

	res := Translate(setup(ref("clients-ca")))
	if c := listenerCond(t, res, "ResolvedRefs"); c.Status != metav1.ConditionTrue {
		t.Errorf("ResolvedRefs = %+v", c)
	}
	if l := listener(t, res); string(l.ClientCAs) != string(clientsCA.CertPEM) || l.ClientCertificateOptional {
		t.Errorf("client CAs %q, optional %v; want the ConfigMap's CA, required", l.ClientCAs, l.ClientCertificateOptional)
	}
	insecure := func(res *Result) *metav1.Condition {
		return meta.FindStatusCondition(res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}].Conditions, string(gwv1.GatewayConditionInsecureFrontendValidationMode))
	}
	if c := insecure(res); c != nil {
		t.Errorf("AllowValidOnly: Gateway condition %+v, want none", c)
	}

	in := setup(ref("clients-ca"))
	in.Gateways[0].Spec.TLS.Frontend.Default.Validation.Mode = gwv1.AllowInsecureFallback
	res = Translate(in)
	if l := listener(t, res); !l.ClientCertificateOptional {
		t.Error("AllowInsecureFallback: client certificate required")
	}
	if c := insecure(res); c == nil || c.Status != metav1.ConditionTrue || c.Reason != string(gwv1.GatewayReasonConfigurationChanged) ||
		!strings.HasPrefix(c.Message, "spec.tls.frontend.default.validation.mode: AllowInsecureFallback") {
		t.Errorf("AllowInsecureFallback: Gateway condition %+v, want InsecureFrontendValidationMode True naming the default", c)
	}
	// Only a port's override is insecure: the condition names it.
	in = setup(ref("clients-ca"))
	in.Gateways[0].Spec.TLS.Frontend.PerPort = []gwv1.TLSPortConfig{{Port: 8443, TLS: gwv1.TLSConfig{
		Validation: &gwv1.FrontendTLSValidation{CACertificateRefs: []gwv1.ObjectReference{ref("clients-ca")}, Mode: gwv1.AllowInsecureFallback}}}}
	if c := insecure(Translate(in)); c == nil || c.Status != metav1.ConditionTrue || !strings.HasPrefix(c.Message, "spec.tls.frontend.perPort[0].tls.validation.mode: AllowInsecureFallback") {
		t.Errorf("a port's AllowInsecureFallback: Gateway condition %+v, want it named", c)
	}

	// One of two references resolves: served with it, the other named.
	res = Translate(setup(ref("missing"), ref("clients-ca")))
	if c := listenerCond(t, res, "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonInvalidCACertificateRef) ||
		!strings.Contains(c.Message, "spec.tls.frontend.default.validation.caCertificateRefs[0]: ConfigMap shop/missing not found") {
		t.Errorf("ResolvedRefs = %+v", c)
	}
	if l := listener(t, res); string(l.ClientCAs) != string(clientsCA.CertPEM) {
		t.Errorf("client CAs %q", l.ClientCAs)
	}

	for _, tc := range []struct {
		name   string
		refs   []gwv1.ObjectReference
		reason gwv1.ListenerConditionReason
		msg    string
	}{
		{"no PEM certificate", []gwv1.ObjectReference{ref("empty")}, gwv1.ListenerReasonInvalidCACertificateRef, "ConfigMap shop/empty has no PEM certificate in ca.crt"},
		{"a Secret", []gwv1.ObjectReference{{Kind: "Secret", Name: "clients-ca"}}, gwv1.ListenerReasonInvalidCACertificateKind, "only core ConfigMaps are supported, not Secret"},
		{"another namespace without a grant", []gwv1.ObjectReference{ref("shared-ca", "trust")}, gwv1.ListenerReasonRefNotPermitted, "ConfigMap trust/shared-ca is in another namespace"},
	} {
		res := Translate(setup(tc.refs...))
		if c := listenerCond(t, res, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonNoValidCACertificate) {
			t.Errorf("%s: Accepted = %+v", tc.name, c)
		}
		if c := listenerCond(t, res, "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(tc.reason) || !strings.Contains(c.Message, tc.msg) {
			t.Errorf("%s: ResolvedRefs = %+v", tc.name, c)
		}
		if len(res.Spec.NodeGroups) != 0 {
			t.Errorf("%s: a listener that should check client certificates is served without: %+v", tc.name, res.Spec.NodeGroups)
		}
	}

	// A ReferenceGrant in the ConfigMap's namespace lets the Gateway use it.
	in = setup(ref("shared-ca", "trust"))
	in.ReferenceGrants = []*gwv1.ReferenceGrant{{ObjectMeta: metav1.ObjectMeta{Namespace: "trust", Name: "gateways"}, Spec: gwv1.ReferenceGrantSpec{
		From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: KindGateway, Namespace: "shop"}},
		To:   []gwv1.ReferenceGrantTo{{Kind: "ConfigMap"}}}}}
	if l := listener(t, Translate(in)); string(l.ClientCAs) != string(clientsCA.CertPEM) {
		t.Errorf("granted ConfigMap: client CAs %q", l.ClientCAs)
	}

	// The ConfigMap turns invalid: its last valid CA certificates keep validating clients,
	// and ResolvedRefs says so; the same name as a new object has none to keep.
	in = setup(ref("clients-ca"))
	in.ConfigMaps[0].UID = "cm-1"
	res = Translate(in)
	in.LastGood = res.LastGood
	in.ConfigMaps[0].Data["ca.crt"] = "broken"
	res = Translate(in)
	if c := listenerCond(t, res, "ResolvedRefs"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonInvalidCACertificateRef) ||
		!strings.Contains(c.Message, "its last valid CA certificates keep validating clients") {
		t.Errorf("broken ConfigMap: ResolvedRefs = %+v", c)
	}
	if l := listener(t, res); string(l.ClientCAs) != string(clientsCA.CertPEM) || l.ClientCertificateOptional {
		t.Errorf("broken ConfigMap: client CAs %q, want the last valid ones", l.ClientCAs)
	}
	in.LastGood = res.LastGood
	res = Translate(in)
	if l := listener(t, res); string(l.ClientCAs) != string(clientsCA.CertPEM) {
		t.Errorf("broken ConfigMap, a translation later: client CAs %q", l.ClientCAs)
	}
	in.LastGood = res.LastGood
	in.ConfigMaps[0].UID = "cm-2"
	if res := Translate(in); len(res.Spec.NodeGroups) != 0 {
		t.Errorf("a new ConfigMap without a valid ca.crt: served %+v", res.Spec.NodeGroups)
	}

	// A port whose own entry asks for no validation is served without it.
	in = setup(ref("clients-ca"))
	in.Gateways[0].Spec.TLS.Frontend.PerPort = []gwv1.TLSPortConfig{{Port: 8443}}
	if l := listener(t, Translate(in)); l.ClientCAs != nil {
		t.Errorf("port without validation: client CAs %q", l.ClientCAs)
	}
}

// FuzzHTTPSCertificate feeds Secrets with arbitrary tls.crt and tls.key: the translation
// never panics, serves the listener only when the pair is a certificate and its key, and
// what it serves translates into resources a proxy may be served.
func FuzzHTTPSCertificate(f *testing.F) {
	crt, key := pki.ServerPair(f, "web.shop")
	f.Add(crt, key)
	f.Add(crt, crt)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), key)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, crt, key []byte) {
		res := Translate(httpsInput(gwv1.SecretObjectReference{Name: "web-cert"}, tlsSecret("shop", "web-cert", crt, key)))
		rc := listenerCond(t, res, "ResolvedRefs")
		_, pairErr := tls.X509KeyPair(crt, key)
		if (rc.Status == metav1.ConditionTrue) != (pairErr == nil) {
			t.Fatalf("ResolvedRefs = %+v, key pair error %v", rc, pairErr)
		}
		if pairErr != nil {
			if len(res.Spec.NodeGroups) != 0 {
				t.Fatalf("an invalid certificate is served: %+v", res.Spec.NodeGroups)
			}
			return
		}
		served(t, res.Spec)
	})
}

// TestListenersOfIncompatibleProtocolsOnAPort: listeners of the Gateway sharing a port that
// foresight-xds cannot serve together (HTTP and HTTPS; TLS and TCP; two TCP listeners) are
// all refused with ProtocolConflict, whichever comes first, as the Gateway API asks (no
// listener wins); the listeners of the other ports serve, and a UDP listener, which is not
// served, conflicts with none.
func TestListenersOfIncompatibleProtocolsOnAPort(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	in := httpsInput(gwv1.SecretObjectReference{Name: "web-cert"}, tlsSecret("shop", "web-cert", crt, key))
	passthrough := gwv1.TLSModePassthrough
	in.Gateways[0].Spec.Listeners = append(in.Gateways[0].Spec.Listeners,
		gwv1.Listener{Name: "http", Port: 8443, Protocol: gwv1.HTTPProtocolType},
		gwv1.Listener{Name: "tls", Port: 9000, Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &passthrough}},
		gwv1.Listener{Name: "tcp", Port: 9000, Protocol: gwv1.TCPProtocolType},
		gwv1.Listener{Name: "tcp-a", Port: 9001, Protocol: gwv1.TCPProtocolType},
		gwv1.Listener{Name: "tcp-b", Port: 9001, Protocol: gwv1.TCPProtocolType},
		gwv1.Listener{Name: "plain", Port: 8080, Protocol: gwv1.HTTPProtocolType},
		gwv1.Listener{Name: "udp", Port: 8080, Protocol: gwv1.UDPProtocolType},
	)
	in.Served.TLSRoutes, in.Served.TCPRoutes = true, true
	res := Translate(in)
	gs := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if len(gs.Listeners) != 8 {
		t.Fatalf("listeners = %+v", gs.Listeners)
	}
	want := map[string]string{"https": "HTTP, HTTPS", "http": "HTTP, HTTPS", "tls": "TCP, TLS", "tcp": "TCP, TLS", "tcp-a": "2 TCP listeners", "tcp-b": "2 TCP listeners"}
	for _, l := range gs.Listeners {
		a, c := conditions.Require(t, l.Conditions, "Accepted"), conditions.Require(t, l.Conditions, "Conflicted")
		if w, ok := want[string(l.Name)]; ok {
			if a.Status != metav1.ConditionFalse || a.Reason != string(gwv1.ListenerReasonProtocolConflict) || !strings.Contains(a.Message, w) ||
				c.Status != metav1.ConditionTrue || c.Reason != string(gwv1.ListenerReasonProtocolConflict) {
				t.Errorf("listener %s: Accepted %+v, Conflicted %+v, want both ProtocolConflict naming %q", l.Name, a, c, w)
			}
			continue
		}
		if c.Status != metav1.ConditionFalse || (l.Name == "plain") != (a.Status == metav1.ConditionTrue) {
			t.Errorf("listener %s: Accepted %+v, Conflicted %+v", l.Name, a, c)
		}
	}
	if c := conditions.Require(t, gs.Conditions, "Accepted"); c.Status != metav1.ConditionTrue || c.Reason != string(gwv1.GatewayReasonListenersNotValid) {
		t.Errorf("Gateway Accepted = %+v, want True, ListenersNotValid", c)
	}
	_, groups := served(t, res.Spec)
	g := groups[GatewayNodeGroup("shop", "edge")]
	if g == nil || len(g.Listeners) != 1 || g.Listeners[0].GetName() != "gateway-8080" {
		t.Errorf("Envoy listeners %v, want only the plain HTTP one", g)
	}
}
