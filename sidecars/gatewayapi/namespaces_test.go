package gatewayapi

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
)

// selectorInput is a shared Gateway infra/shared whose one listener admits routes from the
// namespaces sel selects, and one HTTPRoute (hostname <namespace>.example) in each of
// routeNamespaces, to a Service of its namespace.
func selectorInput(sel *metav1.LabelSelector, namespaces []*corev1.Namespace, routeNamespaces ...string) *Input {
	from := gwv1.NamespacesFromSelector
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0), Namespaces: namespaces,
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}}},
		Gateways: []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "shared", Generation: 1}, Spec: gwv1.GatewaySpec{
			GatewayClassName: "foresight",
			Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType,
				AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &from, Selector: sel}}}}}}}}
	ns := gwv1.Namespace("infra")
	for _, n := range routeNamespaces {
		in.Services = append(in.Services, svc(n, "web", 80))
		in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: "web", Generation: 1}, Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Namespace: &ns, Name: "shared"}}},
			Hostnames:       []gwv1.Hostname{gwv1.Hostname(n + ".example")},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}}}}}})
	}
	return in
}

func namespace(name string, kv ...string) *corev1.Namespace {
	n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

// admitted says whether the route web of namespace ns is Accepted on the shared Gateway and
// served (its virtual host is translated); it fails the test when the two disagree or when
// a refused route is not NotAllowedByListeners.
func admitted(t *testing.T, res *Result, ns string) bool {
	t.Helper()
	ps := res.HTTPRoutes[types.NamespacedName{Namespace: ns, Name: "web"}]
	if len(ps) != 1 {
		t.Fatalf("%s/web parents = %+v", ns, ps)
	}
	c := conditions.Require(t, ps[0].Conditions, "Accepted")
	served := false
	for _, vh := range res.Spec.VirtualHosts {
		if vh.Name == "gw.infra.shared/"+ns+".example" {
			served = true
		}
	}
	accepted := c.Status == metav1.ConditionTrue
	if accepted != served {
		t.Fatalf("%s/web Accepted = %+v but served = %v", ns, c, served)
	}
	if !accepted && c.Reason != string(gwv1.RouteReasonNotAllowedByListeners) {
		t.Errorf("%s/web refused with %+v, want NotAllowedByListeners", ns, c)
	}
	return accepted
}

func listenerAccepted(t *testing.T, res *Result) metav1.Condition {
	t.Helper()
	gs := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "shared"}]
	if gs == nil || len(gs.Listeners) != 1 {
		t.Fatalf("gateway status = %+v", gs)
	}
	return conditions.Require(t, gs.Listeners[0].Conditions, "Accepted")
}

func TestSelectorMatchLabels(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"shared-gateway-access": "true"}}
	in := selectorInput(sel, []*corev1.Namespace{namespace("infra"), namespace("team-a", "shared-gateway-access", "true"),
		namespace("team-b"), namespace("team-c", "shared-gateway-access", "false")}, "team-a", "team-b", "team-c", "infra")
	res := Translate(in)
	if c := listenerAccepted(t, res); c.Status != metav1.ConditionTrue {
		t.Fatalf("listener Accepted = %+v", c)
	}
	for ns, want := range map[string]bool{"team-a": true, "team-b": false, "team-c": false, "infra": false} {
		if got := admitted(t, res, ns); got != want {
			t.Errorf("route in %s admitted = %v, want %v", ns, got, want)
		}
	}
	if n := res.Gateways[types.NamespacedName{Namespace: "infra", Name: "shared"}].Listeners[0].AttachedRoutes; n != 1 {
		t.Errorf("attached routes = %d, want 1", n)
	}
}

func TestSelectorMatchExpressions(t *testing.T) {
	nss := []*corev1.Namespace{namespace("prod", "env", "prod", "tier", "web"), namespace("staging", "env", "staging"),
		namespace("dev", "env", "dev", "tier", "web"), namespace("bare")}
	routes := []string{"prod", "staging", "dev", "bare"}
	for _, tc := range []struct {
		name string
		reqs []metav1.LabelSelectorRequirement
		want map[string]bool
	}{
		{"In", []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "staging"}}},
			map[string]bool{"prod": true, "staging": true}},
		{"NotIn", []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev"}}},
			map[string]bool{"prod": true, "staging": true, "bare": true}},
		{"Exists", []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists}},
			map[string]bool{"prod": true, "dev": true}},
		{"DoesNotExist", []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpDoesNotExist}},
			map[string]bool{"bare": true}},
		{"ANDed", []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpExists},
			{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"dev"}}}, map[string]bool{"prod": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Translate(selectorInput(&metav1.LabelSelector{MatchExpressions: tc.reqs}, nss, routes...))
			for _, ns := range routes {
				if got := admitted(t, res, ns); got != tc.want[ns] {
					t.Errorf("route in %s admitted = %v, want %v", ns, got, tc.want[ns])
				}
			}
		})
	}
}

// TestSelectorFollowsNamespaceLabels: labelling the route's namespace admits the route,
// removing the label refuses it again; the route itself does not change.
func TestSelectorFollowsNamespaceLabels(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"shared-gateway-access": "true"}}
	team := namespace("team-a")
	in := selectorInput(sel, []*corev1.Namespace{namespace("infra"), team}, "team-a")
	if admitted(t, Translate(in), "team-a") {
		t.Fatal("route in an unlabelled namespace admitted")
	}
	team.Labels["shared-gateway-access"] = "true"
	if !admitted(t, Translate(in), "team-a") {
		t.Fatal("route not admitted once its namespace is labelled")
	}
	delete(team.Labels, "shared-gateway-access")
	if admitted(t, Translate(in), "team-a") {
		t.Fatal("route still admitted once the label is removed")
	}
}

// TestSelectorUnknownNamespace: a route whose namespace is not in Input.Namespaces is
// selected by no selector, not even one that matches namespaces without labels.
func TestSelectorUnknownNamespace(t *testing.T) {
	for _, sel := range []*metav1.LabelSelector{{},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpDoesNotExist}}}} {
		res := Translate(selectorInput(sel, []*corev1.Namespace{namespace("infra"), namespace("known")}, "known", "ghost"))
		if !admitted(t, res, "known") {
			t.Errorf("selector %v: route in a listed namespace without labels not admitted", sel)
		}
		if admitted(t, res, "ghost") {
			t.Errorf("selector %v: route in a namespace not in the input admitted", sel)
		}
	}
}

// TestSelectorInvalid: a listener with from: Selector and no selector, or one that does not
// parse, is not Accepted (UnsupportedValue) and admits no route.
func TestSelectorInvalid(t *testing.T) {
	nss := []*corev1.Namespace{namespace("infra"), namespace("team-a", "shared-gateway-access", "true")}
	for _, tc := range []struct {
		name string
		sel  *metav1.LabelSelector
		msg  string
	}{
		{"missing", nil, "must be specified"},
		{"operator", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "shared-gateway-access", Operator: "Equals", Values: []string{"true"}}}}, "not a valid label selector"},
		{"In without values", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "shared-gateway-access", Operator: metav1.LabelSelectorOpIn}}}, "not a valid label selector"},
		{"key", &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "true"}}, "not a valid label selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Translate(selectorInput(tc.sel, nss, "team-a"))
			c := listenerAccepted(t, res)
			if c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.ListenerReasonUnsupportedValue) || !strings.Contains(c.Message, tc.msg) {
				t.Errorf("listener Accepted = %+v, want False, UnsupportedValue, %q", c, tc.msg)
			}
			if admitted(t, res, "team-a") {
				t.Error("route admitted by a listener that is not accepted")
			}
			if why := res.Unserved[types.NamespacedName{Namespace: "infra", Name: "shared"}]["http"]; why == "" {
				t.Error("listener not reported unserved")
			}
		})
	}
}
