package gatewaywatch

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// startMeshBesideGateways starts a watcher of Gateways a and b (objects) with Services api
// and taken (port 80) and route, a policy file whose api (port 80) has TLS and whose
// shop-taken-80 makes a Gateway sending to taken refused on its own.
func startMeshBesideGateways(t *testing.T, route *gwv1.HTTPRoute) *watched {
	t.Helper()
	service := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	}
	objs := append(objects("a", "b"), service("api"), service("taken"), route)
	return startWatchedFile(t, "{name: shop-taken-80, port: 80, endpoints: [{address: 10.0.0.2}]}, {name: api, namespace: shop, port: 80, discovery: kubernetes, tls: {sni: api.shop}}, ",
		nil, []string{"legacy-edge"}, true, objs...)
}

// serviceParentAccepted says whether route's status has, for its Service parent, Accepted
// want of generation gen.
func serviceParentAccepted(w *watched, route string, want metav1.ConditionStatus, gen int64) func() error {
	return func() error {
		r, err := w.gw.GatewayV1().HTTPRoutes("shop").Get(context.Background(), route, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, p := range r.Status.Parents {
			if p.ParentRef.Kind != nil && *p.ParentRef.Kind == "Service" {
				if c := meta.FindStatusCondition(p.Conditions, "Accepted"); c == nil || c.ObservedGeneration != gen || c.Status != want {
					return fmt.Errorf("Service parent Accepted = %+v, want %s of generation %d", c, want, gen)
				}
				return nil
			}
		}
		return fmt.Errorf("no Service parent in %+v", r.Status.Parents)
	}
}

// refuseGatewayA waits until Gateways a and b are programmed, then moves a's route to
// Service taken, which the policy file's shop-taken-80 makes a refused on its own, and waits
// until a is refused with its last good configuration kept.
func refuseGatewayA(t *testing.T, w *watched) {
	t.Helper()
	eventually(t, "a and b programmed", func() error {
		if err := w.programmedIs("a", metav1.ConditionTrue, "Programmed", nil, nil)(); err != nil {
			return err
		}
		return w.programmedIs("b", metav1.ConditionTrue, "Programmed", nil, nil)()
	})

	w.updateRoute(t, "a-route", "a2.shop", "taken")
	eventually(t, "a refused, its last good configuration kept", w.programmedIs("a", metav1.ConditionFalse, "Invalid",
		[]string{"its last good configuration keeps serving"}, nil))
}

// TestMeshRouteBesideALastGoodGatewayPart: Gateway a's route sends to Service api port 80, so
// a's proxyless group (gw.shop.a.grpc) lists shop-api-80 among its upstreams; the file's api
// (port 80) has TLS, so the mesh route of api port 80, whose routes go to the file's api, is
// refused (a proxyless group gets them). Then a's route moves to Service taken (refused on
// its own: the file uses shop-taken-80): the translation without a no longer has a's
// proxyless group, but isolate serves a's last good part, with that group, beside it, so the
// mesh route stays refused, as the merge serves it.
func TestMeshRouteBesideALastGoodGatewayPart(t *testing.T) {
	port := gwv1.PortNumber(80)
	mesh := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-mesh", Generation: 1}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")), Name: "api", Port: &port}}},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
			BackendObjectReference: gwv1.BackendObjectReference{Name: "api", Port: &port}}}}}}}}
	w := startMeshBesideGateways(t, mesh)
	meshAccepted := func(want metav1.ConditionStatus, gen int64) func() error {
		return serviceParentAccepted(w, "api-mesh", want, gen)
	}
	w.updateRoute(t, "a-route", "a.shop", "api")
	eventually(t, "a's proxyless group keeps the mesh route from being served", meshAccepted(metav1.ConditionFalse, 1))
	refuseGatewayA(t, w)
	eventually(t, "a's last good configuration served", w.serves([]string{"gw.shop.a/a.shop", "gw.shop.b/b.shop"}, []string{"gw.shop.a/a2.shop"}))
	// A new generation of the mesh route, translated while a stays refused: its status is
	// the one written beside a's last good part.
	r, err := w.gw.GatewayV1().HTTPRoutes("shop").Get(context.Background(), "api-mesh", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.Generation = 2
	r.Spec.Rules[0].BackendRefs[0].Weight = ptrTo(int32(2))
	if _, err := w.gw.GatewayV1().HTTPRoutes("shop").Update(context.Background(), r, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mesh route stays refused beside a's proxyless group", meshAccepted(metav1.ConditionFalse, 2))
	for _, s := range w.rec.Policy().Spec.Services {
		if s.RoutesForClients && len(s.Routes) > 0 {
			t.Errorf("service %s serves the refused mesh route: %+v", s.Name, s.Routes)
		}
	}
}

// TestMeshParentOfARouteOfARefusedGateway: HTTPRoute both has parents Gateway a and Service
// api:80; the file's api has TLS. Then a is refused on its own (a-route → taken) and both
// sends to api: the full translation (with a) has a's proxyless group list shop-api-80, so
// it refuses the mesh route, while what is applied (the rest beside a's last good part,
// whose group lists shop-web-80 only) serves it: the Service parent's status is the
// applied translation's, Accepted.
func TestMeshParentOfARouteOfARefusedGateway(t *testing.T) {
	port := gwv1.PortNumber(80)
	both := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "both", Generation: 1}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "a"},
			{Group: ptrTo(gwv1.Group("")), Kind: ptrTo(gwv1.Kind("Service")), Name: "api", Port: &port}}},
		Hostnames: []gwv1.Hostname{"both.shop"},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
			BackendObjectReference: gwv1.BackendObjectReference{Name: "web", Port: &port}}}}}}}}
	w := startMeshBesideGateways(t, both)
	serviceAccepted := func(want metav1.ConditionStatus, gen int64) func() error {
		return serviceParentAccepted(w, "both", want, gen)
	}
	servedOnAPI := func() bool {
		for _, s := range w.rec.Policy().Spec.Services {
			if s.Name == "api" && s.RoutesForClients && len(s.Routes) > 0 {
				return true
			}
		}
		return false
	}
	eventually(t, "both accepted on api", serviceAccepted(metav1.ConditionTrue, 1))
	refuseGatewayA(t, w)
	r, err := w.gw.GatewayV1().HTTPRoutes("shop").Get(context.Background(), "both", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.Generation = 2
	r.Spec.Rules[0].BackendRefs[0].Name = "api"
	if _, err := w.gw.GatewayV1().HTTPRoutes("shop").Update(context.Background(), r, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mesh route of generation 2 served on api", func() error {
		if !servedOnAPI() {
			return fmt.Errorf("not served on api")
		}
		r, err := w.gw.GatewayV1().HTTPRoutes("shop").Get(context.Background(), "both", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, p := range r.Status.Parents {
			if c := meta.FindStatusCondition(p.Conditions, "Accepted"); c == nil || c.ObservedGeneration != 2 {
				return fmt.Errorf("parent %s not written for generation 2", p.ParentRef.Name)
			}
		}
		return nil
	})
	if err := serviceAccepted(metav1.ConditionTrue, 2)(); err != nil {
		t.Errorf("served on api, but: %v", err)
	}
}
