package gatewaywatch

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
)

// TestProgrammedFollowsWhatIsServed: a listener is Programmed when the translation serves
// it, including one that serves the last valid certificate of a Secret that turned invalid
// (ResolvedRefs=False); one the translation does not serve, and every listener when the
// configuration is refused, is not.
func TestProgrammedFollowsWhatIsServed(t *testing.T) {
	crt, key := pki.ServerPair(t, "web.shop")
	_, otherKey := pki.ServerPair(t, "web.shop")
	secret := func(name string, crt, key []byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name)}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
	}
	listener := func(name string, port int32, secret string) gwv1.Listener {
		return gwv1.Listener{Name: gwv1.SectionName(name), Port: port, Protocol: gwv1.HTTPSProtocolType,
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: gwv1.ObjectName(secret)}}}}
	}
	nn := types.NamespacedName{Namespace: "shop", Name: "edge"}
	in := &gatewayapi.Input{ControllerName: "foresight.dev/xds", Now: time.Unix(0, 0),
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: "foresight.dev/xds"}}},
		Gateways: []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge", Generation: 3}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
			Listeners: []gwv1.Listener{listener("kept", 8443, "kept-cert"), listener("never", 8443, "never-cert"), {Name: "unsupported", Port: 8443, Protocol: gwv1.UDPProtocolType}}}}},
		Secrets: []*corev1.Secret{secret("kept-cert", crt, key), secret("never-cert", crt, otherKey)}}
	first := gatewayapi.Translate(in)
	in.Secrets[0] = secret("kept-cert", crt, otherKey)
	in.LastGood = first.LastGood
	res := gatewayapi.Translate(in)
	// No route is attached: the listener is served all the same (answering 404), with the
	// last valid certificate.
	if g := res.Spec.NodeGroups; len(g) != 1 || len(g[0].Listeners) != 1 || len(g[0].Listeners[0].TLSCertificates) != 1 ||
		!bytes.Equal(g[0].Listeners[0].TLSCertificates[0].PrivateKey, key) {
		t.Fatalf("node groups %+v, want one listener serving the kept certificate", g)
	}
	if k := res.LastGood.Certificates[types.NamespacedName{Namespace: "shop", Name: "kept-cert"}]; !bytes.Equal(k.Certificate.PrivateKey, key) {
		t.Fatalf("last valid certificate not kept: %+v", k)
	}

	st := res.Gateways[nn].DeepCopy()
	programmed(st, res.Unserved[nn], false, res.AddressesNotAssigned[nn], nil, in.Now, 3)
	if c := conditions.Require(t, st.Conditions, "Programmed"); c.Status != metav1.ConditionTrue || c.ObservedGeneration != 3 {
		t.Errorf("Gateway Programmed = %+v", c)
	}
	want := map[string]struct {
		resolved, programmed metav1.ConditionStatus
		reason, message      string
	}{
		"kept":        {metav1.ConditionFalse, metav1.ConditionTrue, "Programmed", "served to the Gateway's proxies"},
		"never":       {metav1.ConditionFalse, metav1.ConditionFalse, "Invalid", "certificate references not resolved"},
		"unsupported": {metav1.ConditionTrue, metav1.ConditionFalse, "Invalid", "listener not accepted"},
	}
	for _, l := range st.Listeners {
		w := want[string(l.Name)]
		if c := conditions.Require(t, l.Conditions, "ResolvedRefs"); c.Status != w.resolved {
			t.Errorf("listener %s: ResolvedRefs = %+v, want %s", l.Name, c, w.resolved)
		}
		if c := conditions.Require(t, l.Conditions, "Programmed"); c.Status != w.programmed || c.Reason != w.reason || c.Message != w.message {
			t.Errorf("listener %s: Programmed = %+v, want %s/%s %q", l.Name, c, w.programmed, w.reason, w.message)
		}
	}

	st = res.Gateways[nn].DeepCopy()
	programmed(st, res.Unserved[nn], false, res.AddressesNotAssigned[nn], errors.New("refused"), in.Now, 3)
	for _, l := range st.Listeners {
		if c := conditions.Require(t, l.Conditions, "Programmed"); c.Status != metav1.ConditionFalse {
			t.Errorf("configuration refused: listener %s Programmed = %+v", l.Name, c)
		}
	}

	// With only the listener that never had a valid certificate, the Gateway is accepted
	// (the listener is) and not programmed: nothing of it is served.
	in.Gateways[0].Spec.Listeners = in.Gateways[0].Spec.Listeners[1:2]
	res = gatewayapi.Translate(in)
	st = res.Gateways[nn].DeepCopy()
	programmed(st, res.Unserved[nn], false, res.AddressesNotAssigned[nn], nil, in.Now, 3)
	if a, p := conditions.Require(t, st.Conditions, "Accepted"), conditions.Require(t, st.Conditions, "Programmed"); a.Status != metav1.ConditionTrue || p.Status != metav1.ConditionFalse || p.Message != "no listener is served (their conditions say why)" {
		t.Errorf("Gateway with no listener served: Accepted %+v, Programmed %+v", a, p)
	}
}

// TestGatewayAddressesAreNotAssigned: foresight-xds assigns no address. A Gateway that asks
// for IPAddress or Hostname addresses is accepted and served, and says in its Programmed
// condition (AddressNotAssigned) that the addresses are not applied, while its listeners
// are Programmed; a Gateway asking for an address type it cannot read is not accepted
// (UnsupportedAddress) and nothing of it is served.
func TestGatewayAddressesAreNotAssigned(t *testing.T) {
	nn := types.NamespacedName{Namespace: "shop", Name: "edge"}
	hostname, named := gwv1.HostnameAddressType, gwv1.AddressType("example.com/named")
	for _, tc := range []struct {
		name               string
		addresses          []gwv1.GatewaySpecAddress
		accepted           metav1.ConditionStatus
		acceptedReason     string
		programmed         metav1.ConditionStatus
		programmedReason   string
		message            string
		listenerProgrammed metav1.ConditionStatus
		groups             int
	}{
		{"none", nil, metav1.ConditionTrue, "Accepted", metav1.ConditionTrue, "Programmed", "served to the Gateway's proxies", metav1.ConditionTrue, 2},
		{"ip and hostname", []gwv1.GatewaySpecAddress{{Value: "10.0.0.5"}, {Type: &hostname, Value: "edge.example.com"}},
			metav1.ConditionTrue, "Accepted", metav1.ConditionFalse, "AddressNotAssigned", "IPAddress 10.0.0.5, Hostname edge.example.com", metav1.ConditionTrue, 2},
		{"unsupported type", []gwv1.GatewaySpecAddress{{Value: "10.0.0.5"}, {Type: &named, Value: "edge"}},
			metav1.ConditionFalse, "UnsupportedAddress", metav1.ConditionFalse, "Invalid", "not accepted", metav1.ConditionFalse, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &gatewayapi.Input{ControllerName: "foresight.dev/xds", Now: time.Unix(0, 0),
				GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: "foresight.dev/xds"}}},
				Gateways: []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge", Generation: 2}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
					Addresses: tc.addresses, Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}}},
				Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
				HTTPRoutes: []*gwv1.HTTPRoute{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: gwv1.HTTPRouteSpec{
					CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}},
					Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: "web", Port: ptrTo(gwv1.PortNumber(80))}}}}}}}}},
			}
			res := gatewayapi.Translate(in)
			if got := len(res.Spec.NodeGroups); got != tc.groups {
				t.Errorf("node groups: %d, want %d", got, tc.groups)
			}
			st := res.Gateways[nn].DeepCopy()
			programmed(st, res.Unserved[nn], false, res.AddressesNotAssigned[nn], nil, in.Now, 2)
			if c := conditions.Require(t, st.Conditions, "Accepted"); c.Status != tc.accepted || c.Reason != tc.acceptedReason {
				t.Errorf("Accepted = %+v, want %s/%s", c, tc.accepted, tc.acceptedReason)
			}
			if c := conditions.Require(t, st.Conditions, "Programmed"); c.Status != tc.programmed || c.Reason != tc.programmedReason || !strings.Contains(c.Message, tc.message) {
				t.Errorf("Programmed = %+v, want %s/%s with %q", c, tc.programmed, tc.programmedReason, tc.message)
			}
			if c := conditions.Require(t, st.Listeners[0].Conditions, "Programmed"); c.Status != tc.listenerProgrammed {
				t.Errorf("listener Programmed = %+v, want %s", c, tc.listenerProgrammed)
			}
		})
	}
}
