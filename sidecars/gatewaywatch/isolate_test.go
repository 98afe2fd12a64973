package gatewaywatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/xds"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

const controller = "foresight.dev/xds"

// watched is a Watcher on fake API clients that serves through a real xds.Reconciler the
// policy file merged with the translation, as foresight-xds serve does.
type watched struct {
	gw   *gwfake.Clientset
	rec  *xds.Reconciler
	srv  *xds.Server
	logs *xdstest.LogBuffer
}

// startWatched starts a Watcher of the objects with a policy file whose node groups are
// groups (gateway-kind groups with their own virtual host); with check, Options.Check asks
// the reconciler.
func startWatched(t *testing.T, groups []string, check bool, objects ...runtime.Object) *watched {
	t.Helper()
	return startWatchedFile(t, "", nil, groups, check, objects...)
}

// startWatchedFile is startWatched with more services in the policy file (YAML flow
// mappings, each followed by ", ") and, when refuse is not nil, Apply and Check refusing
// what it refuses of the translation besides what the reconciler refuses.
func startWatchedFile(t *testing.T, services string, refuse func(policy.Spec) error, groups []string, check bool, objects ...runtime.Object) *watched {
	t.Helper()
	doc := "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: file}\nspec:\n" +
		"  services: [" + services + "{name: legacy, port: 8080, endpoints: [{address: 10.0.0.1}]}]\n" +
		"  virtualHosts: [{name: legacy, domains: [legacy.example], routes: [{name: legacy, backends: [{service: legacy}]}]}]\n  nodeGroups:\n"
	for _, g := range groups {
		doc += fmt.Sprintf("    - {name: %s, kind: gateway, selector: {team: legacy}, virtualHosts: [legacy]}\n", g)
	}
	file, err := policy.Parse([]byte(doc), "file.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watched{logs: &xdstest.LogBuffer{}}
	log := slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.rec = xds.NewReconciler(log)
	srv, err := xds.New(ctx, xds.Options{NodeGroup: w.rec.NodeGroup, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w.rec.Bind(srv)
	w.srv = srv
	if err := w.rec.SetPolicy(ctx, file); err != nil {
		t.Fatal(err)
	}
	// The objects are created through the typed clients: the fake's tracker files an object
	// handed to the constructor under the first version its scheme knows the type by, and
	// v1beta1 shares v1's types. (The Gateway API's field-managed NewClientset knows no CRD.)
	kube := kubefake.NewClientset()
	w.gw = gwfake.NewSimpleClientset()
	for _, o := range objects {
		switch o := o.(type) {
		case *corev1.Service:
			_, err = kube.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *gwv1.GatewayClass:
			_, err = w.gw.GatewayV1().GatewayClasses().Create(ctx, o, metav1.CreateOptions{})
		case *gwv1.Gateway:
			_, err = w.gw.GatewayV1().Gateways(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *gwv1.HTTPRoute:
			_, err = w.gw.GatewayV1().HTTPRoutes(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			err = fmt.Errorf("no client for %T", o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	o := Options{ControllerName: controller, Kube: kube, Gateway: w.gw,
		Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
			gatewayapi.CanaryPolicyGVR: "CanaryPolicyList", gatewayapi.BackendTrafficPolicyGVR: "BackendTrafficPolicyList",
			gatewayapi.ExperimentPolicyGVR: "ExperimentPolicyList"}),
		Apply: func(ctx context.Context, spec policy.Spec, _ []*experiment.Experiment) error {
			if refuse != nil {
				if err := refuse(spec); err != nil {
					return err
				}
			}
			return w.rec.SetPolicy(ctx, gatewayapi.Merge(file, spec))
		},
		Logger: log, Debounce: time.Millisecond, File: func() *policy.Policy { return file }} // as serve sets it
	if check {
		o.Check = func(ctx context.Context, spec policy.Spec, _ []*experiment.Experiment) error {
			if refuse != nil {
				if err := refuse(spec); err != nil {
					return err
				}
			}
			return w.rec.CheckPolicy(ctx, gatewayapi.Merge(file, spec), nil)
		}
	}
	watcher, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := watcher.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// eventually polls cond until it holds, for up to a minute.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	var err error
	// A generous deadline: on a loaded machine (tests of other packages in parallel) a
	// reconcile with isolation takes several translations.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = cond(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func objects(gateways ...string) []runtime.Object {
	out := []runtime.Object{
		&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: controller}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
	}
	for _, g := range gateways {
		out = append(out, &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: g, Generation: 1}, Spec: gwv1.GatewaySpec{GatewayClassName: "foresight",
			Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}}},
			httpRoute(g+"-route", g+".shop", g))
	}
	return out
}

// httpRoute is an HTTPRoute to Service web for host, attached to the Gateways parents.
func httpRoute(name, host string, parents ...string) *gwv1.HTTPRoute {
	port := gwv1.PortNumber(80)
	r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 1}, Spec: gwv1.HTTPRouteSpec{
		Hostnames: []gwv1.Hostname{gwv1.Hostname(host)},
		Rules: []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
			BackendObjectReference: gwv1.BackendObjectReference{Name: "web", Port: &port}}}}}}}}
	for _, p := range parents {
		r.Spec.ParentRefs = append(r.Spec.ParentRefs, gwv1.ParentReference{Name: gwv1.ObjectName(p)})
	}
	return r
}

// programmedIs checks Gateway shop/name's Programmed condition: status, reason, and a
// message with every string of has and none of hasNot.
func (w *watched) programmedIs(name string, status metav1.ConditionStatus, reason string, has, hasNot []string) func() error {
	return func() error {
		g, err := w.gw.GatewayV1().Gateways("shop").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(g.Status.Conditions, "Programmed")
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("Gateway %s: Programmed = %+v, want %s/%s", name, c, status, reason)
		}
		for _, s := range has {
			if !strings.Contains(c.Message, s) {
				return fmt.Errorf("Gateway %s: Programmed message %q does not name %q", name, c.Message, s)
			}
		}
		for _, s := range hasNot {
			if strings.Contains(c.Message, s) {
				return fmt.Errorf("Gateway %s: Programmed message %q names %q", name, c.Message, s)
			}
		}
		return nil
	}
}

// routeAccepted checks that HTTPRoute shop/name has one entry of ours per parent in
// parents, in that order, each Accepted=True.
func (w *watched) routeAccepted(name string, parents ...string) func() error {
	return func() error {
		r, err := w.gw.GatewayV1().HTTPRoutes("shop").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var got []string
		for _, p := range r.Status.Parents {
			if c := meta.FindStatusCondition(p.Conditions, "Accepted"); string(p.ControllerName) == controller && c != nil && c.Status == metav1.ConditionTrue {
				got = append(got, string(p.ParentRef.Name))
			}
		}
		if !slices.Equal(got, parents) {
			return fmt.Errorf("HTTPRoute %s: accepted by %v, want %v (%+v)", name, got, parents, r.Status.Parents)
		}
		return nil
	}
}

// serves checks that the served policy has the virtual hosts of want and none of dont.
func (w *watched) serves(want, dont []string) func() error {
	return func() error {
		p := w.rec.Policy()
		var have []string
		for _, vh := range p.Spec.VirtualHosts {
			have = append(have, vh.Name)
		}
		for _, v := range want {
			if !slices.Contains(have, v) {
				return fmt.Errorf("virtual host %s not served (%v)", v, have)
			}
		}
		for _, v := range dont {
			if slices.Contains(have, v) {
				return fmt.Errorf("virtual host %s served (%v)", v, have)
			}
		}
		return nil
	}
}

// updateRoute sets the hostname and backend of HTTPRoute shop/name until the change is
// read back: the fake clientset's status update writes the whole object, so a status write
// from an older copy undoes it.
func (w *watched) updateRoute(t *testing.T, name, host, backend string) {
	t.Helper()
	ctx := context.Background()
	eventually(t, "update "+name, func() error {
		r, err := w.gw.GatewayV1().HTTPRoutes("shop").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if slices.Equal(r.Spec.Hostnames, []gwv1.Hostname{gwv1.Hostname(host)}) && r.Spec.Rules[0].BackendRefs[0].Name == gwv1.ObjectName(backend) {
			return nil
		}
		r.Spec.Hostnames = []gwv1.Hostname{gwv1.Hostname(host)}
		r.Spec.Rules[0].BackendRefs[0].Name = gwv1.ObjectName(backend)
		if _, err := w.gw.GatewayV1().HTTPRoutes("shop").Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			return err
		}
		return errors.New("updated, not read back yet")
	})
}

// TestRefusedGatewayIsIsolated: the policy file uses the node group names of two of three
// Gateways, so the reconciler refuses every translation that holds either of them. With
// Check, the third Gateway is served and Programmed=True, and a change of its route is
// served; each refused Gateway is Programmed=False with its own error, not the other's, and
// says that none of its configuration is served (it never had one that was); a
// route attached to a refused Gateway only, and the refused parent of a route attached to
// both kinds, keep their Accepted entries. Without Check nothing of the Gateway API is
// served and every Gateway is Programmed=False.
func TestRefusedGatewayIsIsolated(t *testing.T) {
	objs := append(objects("good", "bad", "worse"), httpRoute("shared", "shared.shop", "good", "bad"))
	w := startWatched(t, []string{"gw.shop.bad", "gw.shop.worse"}, true, objs...)
	dup := func(g string) string { return fmt.Sprintf("duplicate node group %q", g) }
	eventually(t, "good Gateway programmed", w.programmedIs("good", metav1.ConditionTrue, "Programmed", nil, nil))
	eventually(t, "bad Gateway refused with its own error", w.programmedIs("bad", metav1.ConditionFalse, "Invalid",
		[]string{"configuration refused", dup("gw.shop.bad"), "no last good configuration of it is kept"}, []string{"gw.shop.worse"}))
	eventually(t, "worse Gateway refused with its own error", w.programmedIs("worse", metav1.ConditionFalse, "Invalid",
		[]string{"configuration refused", dup("gw.shop.worse")}, []string{"gw.shop.bad"}))
	eventually(t, "the good Gateway's routes served, the refused ones' not",
		w.serves([]string{"gw.shop.good/good.shop", "gw.shop.good/shared.shop", "legacy"}, []string{"gw.shop.bad/bad.shop", "gw.shop.bad/shared.shop", "gw.shop.worse/worse.shop"}))
	for route, parents := range map[string][]string{"good-route": {"good"}, "bad-route": {"bad"}, "worse-route": {"worse"}, "shared": {"good", "bad"}} {
		eventually(t, "route "+route+" accepted", w.routeAccepted(route, parents...))
	}

	// A change of the good Gateway's route is served.
	w.updateRoute(t, "good-route", "good2.shop", "web")
	eventually(t, "the changed route served", w.serves([]string{"gw.shop.good/good2.shop"}, []string{"gw.shop.good/good.shop", "gw.shop.bad/bad.shop"}))
	eventually(t, "good Gateway still programmed", w.programmedIs("good", metav1.ConditionTrue, "Programmed", nil, nil))
	eventually(t, "bad Gateway still refused", w.programmedIs("bad", metav1.ConditionFalse, "Invalid", []string{dup("gw.shop.bad")}, nil))
	if !strings.Contains(w.logs.String(), "Gateway refused: the other Gateways are served without it") {
		t.Errorf("the isolation was not logged:\n%s", w.logs.String())
	}

	t.Run("without Check", func(t *testing.T) {
		w := startWatched(t, []string{"gw.shop.bad", "gw.shop.worse"}, false, objs...)
		for _, g := range []string{"good", "bad", "worse"} {
			eventually(t, g+" Gateway refused", w.programmedIs(g, metav1.ConditionFalse, "Invalid", []string{dup("gw.shop.bad"), dup("gw.shop.worse")}, nil))
		}
		eventually(t, "nothing of the Gateway API served", w.serves([]string{"legacy"}, []string{"gw.shop.good/good.shop"}))
	})
}

// TestRefusedGatewayKeepsItsLastGoodConfiguration: Gateways a and b are served; then a's
// route moves to a new hostname and to Service taken, whose policy service name
// ("shop-taken-80") the policy file already uses, so a's new configuration is refused on its
// own, and b's route changes too. b's change is served, and a's proxies keep a's previous
// routes (the served policy and xDS resources of a's node group); a is Programmed=False with
// its own error and says its last good configuration keeps serving. Once a's route goes
// back to Service web, a's new version is served and a is Programmed=True.
func TestRefusedGatewayKeepsItsLastGoodConfiguration(t *testing.T) {
	taken := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "taken"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	w := startWatchedFile(t, "{name: shop-taken-80, port: 80, endpoints: [{address: 10.0.0.2}]}, ", nil, []string{"legacy-edge"}, true,
		append(objects("a", "b"), taken)...)
	for _, g := range []string{"a", "b"} {
		eventually(t, g+" programmed", w.programmedIs(g, metav1.ConditionTrue, "Programmed", nil, nil))
	}
	eventually(t, "both served", w.serves([]string{"gw.shop.a/a.shop", "gw.shop.b/b.shop"}, nil))

	for _, r := range []string{"a-route", "b-route"} {
		eventually(t, r+" accepted", w.routeAccepted(r, r[:1]))
	}
	update := func(name, host, backend string) { t.Helper(); w.updateRoute(t, name, host, backend) }
	update("a-route", "a2.shop", "taken")
	eventually(t, "a refused, its last good configuration kept", w.programmedIs("a", metav1.ConditionFalse, "Invalid",
		[]string{"configuration refused", `duplicate service "shop-taken-80"`, "its last good configuration keeps serving"}, []string{"not served"}))
	update("b-route", "b2.shop", "web")
	eventually(t, "b's change served, a's previous routes kept", w.serves([]string{"gw.shop.a/a.shop", "gw.shop.b/b2.shop"},
		[]string{"gw.shop.a/a2.shop", "gw.shop.b/b.shop"}))
	eventually(t, "b programmed", w.programmedIs("b", metav1.ConditionTrue, "Programmed", nil, nil))
	if err := w.programmedIs("a", metav1.ConditionFalse, "Invalid", []string{"its last good configuration keeps serving"}, nil)(); err != nil {
		t.Fatal(err)
	}

	// a's proxies: their node group is served, with a's previous virtual host and its
	// routes to Service web.
	node := xdstest.Node("a-1", "", map[string]string{gatewayapi.GatewayMetadataKey: "shop.a"})
	if g, ok := w.rec.NodeGroup(node); !ok || g != "gw.shop.a" {
		t.Fatalf("a's proxies: node group %q, %v", g, ok)
	}
	p := w.rec.Policy()
	var listened []string
	for _, g := range p.Spec.NodeGroups {
		if g.Name == "gw.shop.a" {
			for _, l := range g.Listeners {
				listened = append(listened, l.VirtualHosts...)
			}
		}
	}
	if !slices.Equal(listened, []string{"gw.shop.a/a.shop"}) {
		t.Errorf("a's listeners serve %v, want its previous virtual host", listened)
	}
	for _, vh := range p.Spec.VirtualHosts {
		if vh.Name == "gw.shop.a/a.shop" && (len(vh.Routes) != 1 || !slices.Equal(vh.Routes[0].Services(), []string{"shop-web-80"})) {
			t.Errorf("a's previous virtual host: %+v", vh)
		}
	}
	served, _ := w.srv.Served()
	if a := served["gw.shop.a"]; len(a["listener"]) == 0 || !slices.ContainsFunc(a["cluster"], func(c string) bool { return strings.HasPrefix(c, "shop-web-80.") }) ||
		slices.ContainsFunc(a["cluster"], func(c string) bool { return strings.HasPrefix(c, "shop-taken-80.") }) {
		t.Errorf("a's node group is served %v", a)
	}
	if !strings.Contains(w.logs.String(), "Gateway refused: its last good configuration keeps serving") {
		t.Errorf("not logged:\n%s", w.logs.String())
	}

	// a's route goes back to Service web: a's new version is served.
	update("a-route", "a2.shop", "web")
	eventually(t, "a's new version served", w.serves([]string{"gw.shop.a/a2.shop", "gw.shop.b/b2.shop"}, []string{"gw.shop.a/a.shop"}))
	eventually(t, "a programmed", w.programmedIs("a", metav1.ConditionTrue, "Programmed", nil, nil))
}

// TestRefusedSpliceServesWithout: when a refused Gateway's last good configuration cannot
// be served with the others' (here a simulated refusal of the spec that holds both a's
// previous virtual host and b's new one), the others are served without it, as when it has
// none: a says none of its configuration is kept, and the refusal of the splice is logged.
func TestRefusedSpliceServesWithout(t *testing.T) {
	taken := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "taken"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	refuse := func(spec policy.Spec) error {
		vhs := map[string]bool{}
		for _, vh := range spec.VirtualHosts {
			vhs[vh.Name] = true
		}
		if vhs["gw.shop.a/a.shop"] && vhs["gw.shop.b/b2.shop"] {
			return errors.New("a.shop clashes with b2.shop")
		}
		return nil
	}
	w := startWatchedFile(t, "{name: shop-taken-80, port: 80, endpoints: [{address: 10.0.0.2}]}, ", refuse, []string{"legacy-edge"}, true,
		append(objects("a", "b"), taken)...)
	for _, r := range []string{"a-route", "b-route"} {
		eventually(t, r+" accepted", w.routeAccepted(r, r[:1]))
	}
	w.updateRoute(t, "a-route", "a2.shop", "taken")
	eventually(t, "a refused, its last good configuration kept", w.programmedIs("a", metav1.ConditionFalse, "Invalid",
		[]string{"its last good configuration keeps serving"}, nil))
	w.updateRoute(t, "b-route", "b2.shop", "web")
	eventually(t, "b's change served without a", w.serves([]string{"gw.shop.b/b2.shop"}, []string{"gw.shop.a/a.shop", "gw.shop.a/a2.shop"}))
	eventually(t, "a refused, nothing kept", w.programmedIs("a", metav1.ConditionFalse, "Invalid",
		[]string{`duplicate service "shop-taken-80"`, "no last good configuration of it is kept"}, []string{"clashes"}))
	eventually(t, "b programmed", w.programmedIs("b", metav1.ConditionTrue, "Programmed", nil, nil))
	if !strings.Contains(w.logs.String(), "a.shop clashes with b2.shop") {
		t.Errorf("the refused splice was not logged:\n%s", w.logs.String())
	}
}

// TestEveryGatewayRefusedAloneRefusesAll: when each Gateway's own translation is refused,
// no Gateway is singled out: every Gateway is Programmed=False with the whole
// configuration's error, and the last good configuration keeps serving.
func TestEveryGatewayRefusedAloneRefusesAll(t *testing.T) {
	w := startWatched(t, []string{"gw.shop.good", "gw.shop.bad"}, true, objects("good", "bad")...)
	for _, g := range []string{"good", "bad"} {
		eventually(t, g+" Gateway refused with the whole error", w.programmedIs(g, metav1.ConditionFalse, "Invalid",
			[]string{`duplicate node group "gw.shop.good"`, `duplicate node group "gw.shop.bad"`}, nil))
	}
	eventually(t, "the policy file alone served", w.serves([]string{"legacy"}, []string{"gw.shop.good/good.shop", "gw.shop.bad/bad.shop"}))
	if !strings.Contains(w.logs.String(), "every Gateway's configuration is refused on its own") {
		t.Errorf("not logged:\n%s", w.logs.String())
	}
}

// TestKeepRefusedEntries: after isolation an object's entries for refused Gateways come from
// the full translation and the others from the applied one, in the full translation's order;
// an object attached to refused Gateways only keeps the full translation's entries (the
// applied translation would call its target missing).
func TestKeepRefusedEntries(t *testing.T) {
	gateway := func(name string) gwv1.ParentReference {
		ns := gwv1.Namespace("shop")
		return gwv1.ParentReference{Group: ptrTo(gwv1.Group(gwv1.GroupName)), Kind: ptrTo(gwv1.Kind("Gateway")), Namespace: &ns, Name: gwv1.ObjectName(name)}
	}
	route := gwv1.ParentReference{Group: ptrTo(gwv1.Group(gwv1.GroupName)), Kind: ptrTo(gwv1.Kind("HTTPRoute")), Name: "r"}
	entry := func(ref gwv1.ParentReference, reason string) gwv1.PolicyAncestorStatus {
		return gwv1.PolicyAncestorStatus{AncestorRef: ref, ControllerName: controller, Conditions: []metav1.Condition{{Type: "Accepted", Reason: reason}}}
	}
	refused := map[types.NamespacedName]error{{Namespace: "shop", Name: "bad"}: errors.New("refused")}
	for _, tc := range []struct {
		name                string
		full, applied, want []gwv1.PolicyAncestorStatus
	}{
		{"no refused Gateway", []gwv1.PolicyAncestorStatus{entry(gateway("good"), "full")}, []gwv1.PolicyAncestorStatus{entry(gateway("good"), "applied")},
			[]gwv1.PolicyAncestorStatus{entry(gateway("good"), "applied")}},
		{"a refused and a served Gateway", []gwv1.PolicyAncestorStatus{entry(gateway("bad"), "full"), entry(gateway("good"), "full")},
			[]gwv1.PolicyAncestorStatus{entry(gateway("good"), "applied")},
			[]gwv1.PolicyAncestorStatus{entry(gateway("bad"), "full"), entry(gateway("good"), "applied")}},
		{"refused Gateways only", []gwv1.PolicyAncestorStatus{entry(gateway("bad"), "full")}, []gwv1.PolicyAncestorStatus{entry(route, "TargetNotFound")},
			[]gwv1.PolicyAncestorStatus{entry(gateway("bad"), "full")}},
		{"not attached in full", []gwv1.PolicyAncestorStatus{entry(route, "full")}, []gwv1.PolicyAncestorStatus{entry(route, "applied")},
			[]gwv1.PolicyAncestorStatus{entry(route, "applied")}},
	} {
		for kind, statuses := range map[string]func(*gatewayapi.Result) *map[types.NamespacedName][]gwv1.PolicyAncestorStatus{
			"CanaryPolicy": func(r *gatewayapi.Result) *map[types.NamespacedName][]gwv1.PolicyAncestorStatus {
				return &r.CanaryPolicies
			},
			"BackendTrafficPolicy": func(r *gatewayapi.Result) *map[types.NamespacedName][]gwv1.PolicyAncestorStatus {
				return &r.BackendTrafficPolicies
			},
			"ExperimentPolicy": func(r *gatewayapi.Result) *map[types.NamespacedName][]gwv1.PolicyAncestorStatus {
				return &r.ExperimentPolicies
			},
			"BackendTLSPolicy": func(r *gatewayapi.Result) *map[types.NamespacedName][]gwv1.PolicyAncestorStatus {
				return &r.BackendTLSPolicies
			},
		} {
			applied, full := &gatewayapi.Result{}, &gatewayapi.Result{}
			*statuses(applied) = map[types.NamespacedName][]gwv1.PolicyAncestorStatus{{Namespace: "shop", Name: "p"}: tc.applied}
			*statuses(full) = map[types.NamespacedName][]gwv1.PolicyAncestorStatus{{Namespace: "shop", Name: "p"}: tc.full}
			iso := &isolation{refused: refused, applied: applied}
			got := (*statuses(iso.statuses(full)))[types.NamespacedName{Namespace: "shop", Name: "p"}]
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s, %s: got %+v, want %+v", kind, tc.name, got, tc.want)
			}
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
