package gatewaywatch

import (
	"bytes"
	"errors"
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
			Listeners: []gwv1.Listener{listener("kept", 8443, "kept-cert"), listener("never", 8443, "never-cert"), {Name: "conflict", Port: 8443, Protocol: gwv1.HTTPProtocolType}}}}},
		Secrets: []*corev1.Secret{secret("kept-cert", crt, key), secret("never-cert", crt, otherKey)}}
	first := gatewayapi.Translate(in)
	in.Secrets[0] = secret("kept-cert", crt, otherKey)
	in.LastGood = first.LastGood
	res := gatewayapi.Translate(in)
	if g := res.Spec.NodeGroups; len(g) != 0 {
		// No route is attached, so no group; the certificate served is checked by the
		// translation's own tests. Here only the kept certificate must be remembered.
		t.Fatalf("node groups %+v", g)
	}
	if k := res.LastGood.Certificates[types.NamespacedName{Namespace: "shop", Name: "kept-cert"}]; !bytes.Equal(k.Certificate.PrivateKey, key) {
		t.Fatalf("last valid certificate not kept: %+v", k)
	}

	st := res.Gateways[nn].DeepCopy()
	programmed(st, res.Unserved[nn], nil, in.Now, 3)
	if c := conditions.Require(t, st.Conditions, "Programmed"); c.Status != metav1.ConditionTrue || c.ObservedGeneration != 3 {
		t.Errorf("Gateway Programmed = %+v", c)
	}
	want := map[string]struct {
		resolved, programmed metav1.ConditionStatus
		reason, message      string
	}{
		"kept":     {metav1.ConditionFalse, metav1.ConditionTrue, "Programmed", "served to the Gateway's proxies"},
		"never":    {metav1.ConditionFalse, metav1.ConditionFalse, "Invalid", "certificate references not resolved"},
		"conflict": {metav1.ConditionTrue, metav1.ConditionFalse, "Invalid", "listener not accepted"},
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
	programmed(st, res.Unserved[nn], errors.New("refused"), in.Now, 3)
	for _, l := range st.Listeners {
		if c := conditions.Require(t, l.Conditions, "Programmed"); c.Status != metav1.ConditionFalse {
			t.Errorf("configuration refused: listener %s Programmed = %+v", l.Name, c)
		}
	}
}
