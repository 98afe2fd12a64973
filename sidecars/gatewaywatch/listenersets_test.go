package gatewaywatch

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
)

// TestListenerSetCertificatesAreRead: the Secrets the watcher hands the translation are those
// the listeners of the Gateways and of the ListenerSets name, a ListenerSet's in its own
// namespace by default.
func TestListenerSetCertificatesAreRead(t *testing.T) {
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge"}, Spec: gwv1.GatewaySpec{
		Listeners: []gwv1.Listener{{Name: "https", TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "edge-cert"}}}}}}}
	set := &gwv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "s"}, Spec: gwv1.ListenerSetSpec{
		Listeners: []gwv1.ListenerEntry{{Name: "https", TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{
			{Name: "team-cert"}, {Name: "shared", Namespace: ptrTo(gwv1.Namespace("certs"))}}}}, {Name: "http"}}}}
	refs := certificateRefs([]*gwv1.Gateway{gw}, []*gwv1.ListenerSet{set})
	for _, want := range []types.NamespacedName{{Namespace: "shop", Name: "edge-cert"}, {Namespace: "team", Name: "team-cert"}, {Namespace: "certs", Name: "shared"}} {
		if !refs[want] {
			t.Errorf("Secret %s not read (%v)", want, refs)
		}
	}
	if len(refs) != 3 {
		t.Errorf("Secrets read %v, want 3", refs)
	}
}

// TestListenerSetProgrammed: a Gateway none of whose own listeners is served but whose
// ListenerSet's is served is Programmed, and so is the ListenerSet and its listener; when the
// Gateway's configuration is refused, the ListenerSet is not (ParentNotProgrammed); a
// ListenerSet that is not accepted is not Programmed, for the same reason.
func TestListenerSetProgrammed(t *testing.T) {
	gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "edge", Generation: 1}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
		AllowedListeners: &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: ptrTo(gwv1.NamespacesFromAll)}},
		Listeners: []gwv1.Listener{{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType,
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "missing"}}}}}}}
	set := func(name string, l gwv1.ListenerEntry) *gwv1.ListenerSet {
		return &gwv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, Generation: 2}, Spec: gwv1.ListenerSetSpec{
			ParentRef: gwv1.ParentGatewayReference{Name: "edge", Namespace: ptrTo(gwv1.Namespace("shop"))}, Listeners: []gwv1.ListenerEntry{l}}}
	}
	in := &gatewayapi.Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0),
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}},
		Gateways:       []*gwv1.Gateway{gw}, Served: gatewayapi.ServedKinds{ListenerSets: true},
		ListenerSets: []*gwv1.ListenerSet{
			set("web", gwv1.ListenerEntry{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}),
			set("udp", gwv1.ListenerEntry{Name: "udp", Port: 53, Protocol: gwv1.UDPProtocolType}),
		}}
	gnn := types.NamespacedName{Namespace: "shop", Name: "edge"}
	web, udp := types.NamespacedName{Namespace: "team", Name: "web"}, types.NamespacedName{Namespace: "team", Name: "udp"}
	for _, applyErr := range []error{nil, errors.New("refused")} {
		res := gatewayapi.Translate(in)
		setsServe := applyErr == nil // as reconcile finds: web's listener is served
		programmed(res.Gateways[gnn], res.Unserved[gnn], setsServe, "", applyErr, in.Now, 1)
		for _, nn := range []types.NamespacedName{web, udp} {
			listenerSetProgrammed(res.ListenerSets[nn], res.ListenerSetUnserved[nn], applyErr, in.Now, 2)
		}
		g := meta.FindStatusCondition(res.Gateways[gnn].Conditions, "Programmed")
		s := meta.FindStatusCondition(res.ListenerSets[web].Conditions, "Programmed")
		l := meta.FindStatusCondition(res.ListenerSets[web].Listeners[0].Conditions, "Programmed")
		u := meta.FindStatusCondition(res.ListenerSets[udp].Conditions, "Programmed")
		if u.Status != metav1.ConditionFalse || u.Reason != "ListenersNotValid" || u.ObservedGeneration != 2 {
			t.Errorf("a ListenerSet with no listener to serve: Programmed %+v, want False/ListenersNotValid", u)
		}
		if applyErr == nil {
			if g.Status != metav1.ConditionTrue || s.Status != metav1.ConditionTrue || l.Status != metav1.ConditionTrue {
				t.Errorf("served through its ListenerSet: Gateway %+v, ListenerSet %+v, listener %+v; want all Programmed", g, s, l)
			}
			continue
		}
		if g.Status != metav1.ConditionFalse || s.Status != metav1.ConditionFalse || s.Reason != "ParentNotProgrammed" || l.Status != metav1.ConditionFalse {
			t.Errorf("refused: Gateway %+v, ListenerSet %+v, listener %+v; want none Programmed, the ListenerSet ParentNotProgrammed", g, s, l)
		}
	}
}
