package gatewayapi

import (
	"slices"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/internal/testharness/pki"
)

// newListenerSet is the ListenerSet ns/name, created at second created, adding listeners to the
// Gateway shop/edge.
func newListenerSet(ns, name string, created int64, listeners ...gwv1.ListenerEntry) *gwv1.ListenerSet {
	return &gwv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1, CreationTimestamp: metav1.Unix(created, 0)},
		Spec: gwv1.ListenerSetSpec{ParentRef: gwv1.ParentGatewayReference{Name: "edge", Namespace: ptr(gwv1.Namespace("shop"))}, Listeners: listeners}}
}

// httpEntry is a ListenerSet's HTTP listener for hostname on port, admitting routes of every
// namespace.
func httpEntry(name string, port gwv1.PortNumber, hostname gwv1.Hostname) gwv1.ListenerEntry {
	return gwv1.ListenerEntry{Name: gwv1.SectionName(name), Port: port, Protocol: gwv1.HTTPProtocolType, Hostname: &hostname,
		AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromAll)}}}
}

// setParent is a route's parentRef to the ListenerSet ns/name (its listener section, when
// given).
func setParent(ns, name string, section ...string) gwv1.ParentReference {
	p := gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind(KindListenerSet)), Namespace: ptr(gwv1.Namespace(ns)), Name: gwv1.ObjectName(name)}
	if len(section) > 0 {
		p.SectionName = ptr(gwv1.SectionName(section[0]))
	}
	return p
}

// listenerSetInput is the Gateway shop/edge with an HTTP listener on port 80 for
// edge.example and spec.allowedListeners from (None when empty).
func listenerSetInput(from gwv1.FromNamespaces, sets ...*gwv1.ListenerSet) *Input {
	in := oneGateway("shop", "edge", []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: ptr(gwv1.Hostname("edge.example")),
		AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromAll)}}}}, "web", "api")
	if from != "" {
		in.Gateways[0].Spec.AllowedListeners = &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: &from}}
	}
	in.Served.ListenerSets = true
	in.ListenerSets = sets
	in.Namespaces = []*corev1.Namespace{namespace("shop"), namespace("team", "gateway-access", "yes"), namespace("other")}
	return in
}

// setCondition is condition typ of the ListenerSet ns/name.
func setCondition(t *testing.T, res *Result, ns, name, typ string) metav1.Condition {
	t.Helper()
	st := res.ListenerSets[types.NamespacedName{Namespace: ns, Name: name}]
	if st == nil {
		t.Fatalf("ListenerSet %s/%s has no status", ns, name)
	}
	return conditions.Require(t, st.Conditions, typ)
}

// setListener is the status of listener section of the ListenerSet ns/name.
func setListener(t *testing.T, res *Result, ns, name, section string) gwv1.ListenerEntryStatus {
	t.Helper()
	st := res.ListenerSets[types.NamespacedName{Namespace: ns, Name: name}]
	for _, l := range st.Listeners {
		if string(l.Name) == section {
			return l
		}
	}
	t.Fatalf("ListenerSet %s/%s has no listener %s: %+v", ns, name, section, st.Listeners)
	return gwv1.ListenerEntryStatus{}
}

// hostRoutes are the names of the routes of the virtual host for host.
func hostRoutes(res *Result, host string) []string {
	var out []string
	for _, vh := range res.Spec.VirtualHosts {
		if slices.Contains(vh.Domains, host) {
			for _, r := range vh.Routes {
				out = append(out, r.Name)
			}
		}
	}
	return out
}

func attachedSets(t *testing.T, res *Result) int32 {
	t.Helper()
	n := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}].AttachedListenerSets
	if n == nil {
		t.Fatal("Gateway status has no attachedListenerSets")
	}
	return *n
}

// TestListenerSetsNeedTheGatewaysConsent: a Gateway admits no ListenerSet unless its
// allowedListeners says so, and then those of its namespace (Same), of namespaces a selector
// picks (Selector) or of all (All); the others are NotAllowed and serve nothing.
func TestListenerSetsNeedTheGatewaysConsent(t *testing.T) {
	sets := func() []*gwv1.ListenerSet {
		return []*gwv1.ListenerSet{
			newListenerSet("shop", "same", 1, httpEntry("a", 80, "same.example")),
			newListenerSet("team", "selected", 2, httpEntry("a", 80, "selected.example")),
			newListenerSet("other", "elsewhere", 3, httpEntry("a", 80, "elsewhere.example")),
		}
	}
	for _, tc := range []struct {
		from    gwv1.FromNamespaces
		allowed []string
	}{
		{"", nil},
		{gwv1.NamespacesFromNone, nil},
		{gwv1.NamespacesFromSame, []string{"same"}},
		{gwv1.NamespacesFromSelector, []string{"selected"}},
		{gwv1.NamespacesFromAll, []string{"same", "selected", "elsewhere"}},
	} {
		in := listenerSetInput(tc.from, sets()...)
		if tc.from == gwv1.NamespacesFromSelector {
			in.Gateways[0].Spec.AllowedListeners.Namespaces.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"gateway-access": "yes"}}
		}
		for _, s := range in.ListenerSets {
			in.HTTPRoutes = append(in.HTTPRoutes, simpleRoute(s.Namespace, "r", []gwv1.ParentReference{setParent(s.Namespace, s.Name)}, nil, nil, ""))
		}
		res, _ := serve(t, in)
		if got := attachedSets(t, res); got != int32(len(tc.allowed)) {
			t.Errorf("from %q: attachedListenerSets %d, want %d", tc.from, got, len(tc.allowed))
		}
		for _, s := range in.ListenerSets {
			want := slices.Contains(tc.allowed, s.Name)
			c := setCondition(t, res, s.Namespace, s.Name, "Accepted")
			host := s.Name + ".example"
			switch {
			case want && (c.Status != metav1.ConditionTrue || len(hostRoutes(res, host)) != 1):
				t.Errorf("from %q: %s Accepted %+v, routes of %s %v; want accepted and served", tc.from, s.Name, c, host, hostRoutes(res, host))
			case !want && (c.Status != metav1.ConditionFalse || c.Reason != "NotAllowed" || len(hostRoutes(res, host)) != 0 || len(res.ListenerSets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}].Listeners) != 0):
				t.Errorf("from %q: %s Accepted %+v, routes of %s %v; want NotAllowed and nothing served", tc.from, s.Name, c, host, hostRoutes(res, host))
			}
		}
	}
}

// TestListenerSetRoutesStayOnTheirParent: a route attached to a ListenerSet serves only its
// listeners' hostnames, a route attached to the Gateway only the Gateway's own (a request for
// a ListenerSet's hostname does not reach it); a Gateway parentRef cannot name a
// ListenerSet's listener; each listener counts its routes; a ListenerSet's new port is served.
func TestListenerSetRoutesStayOnTheirParent(t *testing.T) {
	in := listenerSetInput(gwv1.NamespacesFromAll,
		newListenerSet("team", "shop-api", 5, httpEntry("api", 80, "api.example"), httpEntry("admin", 8080, "admin.example")))
	in.HTTPRoutes = []*gwv1.HTTPRoute{
		simpleRoute("shop", "gateway-route", []gwv1.ParentReference{{Name: "edge"}}, nil, nil, "web"),
		simpleRoute("team", "set-route", []gwv1.ParentReference{setParent("team", "shop-api")}, nil, nil, "api"),
		simpleRoute("team", "set-section-route", []gwv1.ParentReference{setParent("team", "shop-api", "admin")}, nil, nil, "api"),
		simpleRoute("shop", "wrong-parent", []gwv1.ParentReference{{Name: "edge", SectionName: ptr(gwv1.SectionName("api"))}}, nil, nil, "web"),
	}
	in.Services = append(in.Services, svc("team", "api", 8080))
	res, groups := serve(t, in)

	if c := setCondition(t, res, "team", "shop-api", "Accepted"); c.Status != metav1.ConditionTrue || c.Reason != "Accepted" {
		t.Errorf("ListenerSet Accepted %+v", c)
	}
	for host, want := range map[string]string{"edge.example": "gateway-route", "api.example": "set-route", "admin.example": "set-section-route"} {
		rs := hostRoutes(res, host)
		if len(rs) == 0 || !slices.ContainsFunc(rs, func(n string) bool { return strings.Contains(n, "/"+want+"/") }) {
			t.Errorf("routes of %s: %v, want %s's", host, rs, want)
		}
		for _, n := range rs {
			if strings.Contains(n, "gateway-route") && host != "edge.example" {
				t.Errorf("the Gateway's route serves the ListenerSet's hostname %s: %v", host, rs)
			}
		}
	}
	if slices.ContainsFunc(hostRoutes(res, "api.example"), func(n string) bool { return strings.Contains(n, "set-section-route") }) {
		t.Errorf("the route for listener admin serves api.example: %v", hostRoutes(res, "api.example"))
	}
	if l := setListener(t, res, "team", "shop-api", "api"); l.AttachedRoutes != 1 {
		t.Errorf("listener api attachedRoutes %d, want 1", l.AttachedRoutes)
	}
	if l := setListener(t, res, "team", "shop-api", "admin"); l.AttachedRoutes != 2 || conditions.Require(t, l.Conditions, "Accepted").Status != metav1.ConditionTrue {
		t.Errorf("listener admin %+v, want accepted with 2 routes", l)
	}
	gws := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if len(gws.Listeners) != 1 || gws.Listeners[0].Name != "http" || gws.Listeners[0].AttachedRoutes != 1 {
		t.Errorf("Gateway listeners %+v, want its own only, with its one route", gws.Listeners)
	}
	if c := routeStatus(t, res.HTTPRoutes, "shop", "wrong-parent"); conditions.Require(t, c, "Accepted").Reason != "NoMatchingParent" {
		t.Errorf("a Gateway parentRef naming a ListenerSet's listener: %+v, want NoMatchingParent", c)
	}
	sts := res.HTTPRoutes[types.NamespacedName{Namespace: "team", Name: "set-route"}]
	if len(sts) != 1 || sts[0].ParentRef.Kind == nil || *sts[0].ParentRef.Kind != KindListenerSet {
		t.Errorf("set-route parents %+v, want the ListenerSet", sts)
	}
	if g := groups[GatewayNodeGroup("shop", "edge")]; g == nil || !slices.ContainsFunc(g.Listeners, func(l *listenerv3.Listener) bool { return l.GetName() == "gateway-8080" }) {
		t.Errorf("the ListenerSet's port 8080 is not served: %v", g)
	}
}

// TestListenerSetConflicts: a ListenerSet's listener that takes the port and hostname of the
// Gateway's or an older ListenerSet's, or serves another protocol on a port, is not accepted
// (Conflicted); a ListenerSet none of whose listeners can be served is not accepted either.
func TestListenerSetConflicts(t *testing.T) {
	in := listenerSetInput(gwv1.NamespacesFromSame,
		newListenerSet("shop", "older", 1, httpEntry("mine", 80, "older.example"), httpEntry("gateways", 80, "edge.example")),
		newListenerSet("shop", "newer", 2, httpEntry("olders", 80, "older.example")),
		newListenerSet("shop", "protocol", 3, gwv1.ListenerEntry{Name: "tcp", Port: 80, Protocol: gwv1.TCPProtocolType}))
	res, _ := serve(t, in)
	for _, tc := range []struct{ set, listener, reason string }{
		{"older", "gateways", "HostnameConflict"},
		{"newer", "olders", "HostnameConflict"},
		{"protocol", "tcp", "ProtocolConflict"},
	} {
		l := setListener(t, res, "shop", tc.set, tc.listener)
		if a, c := conditions.Require(t, l.Conditions, "Accepted"), conditions.Require(t, l.Conditions, "Conflicted"); a.Status != metav1.ConditionFalse || a.Reason != tc.reason ||
			c.Status != metav1.ConditionTrue || c.Reason != tc.reason {
			t.Errorf("%s/%s: Accepted %+v, Conflicted %+v; want %s", tc.set, tc.listener, a, c, tc.reason)
		}
		if _, out := res.ListenerSetUnserved[types.NamespacedName{Namespace: "shop", Name: tc.set}][gwv1.SectionName(tc.listener)]; !out {
			t.Errorf("%s/%s is served", tc.set, tc.listener)
		}
	}
	if c := setCondition(t, res, "shop", "older", "Accepted"); c.Status != metav1.ConditionTrue || c.Reason != "ListenersNotValid" || !strings.Contains(c.Message, "gateways") {
		t.Errorf("older: %+v, want accepted, naming its conflicted listener", c)
	}
	for _, name := range []string{"newer", "protocol"} {
		if c := setCondition(t, res, "shop", name, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != "ListenersNotValid" {
			t.Errorf("%s: %+v, want ListenersNotValid", name, c)
		}
	}
	if got := attachedSets(t, res); got != 1 {
		t.Errorf("attachedListenerSets %d, want 1", got)
	}
	gw := res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}]
	if a := conditions.Require(t, gw.Listeners[0].Conditions, "Accepted"); a.Status != metav1.ConditionTrue {
		t.Errorf("the Gateway's own listener: %+v", a)
	}
}

// TestListenerSetFollowsItsOwnReferences: a ListenerSet's listener admits the routes of the
// ListenerSet's namespace by default (not the Gateway's), and reads its certificates from
// there; a Secret of another namespace needs a ReferenceGrant to ListenerSets, not to
// Gateways. A ListenerSet of a Gateway that is not accepted is ParentNotAccepted.
func TestListenerSetFollowsItsOwnReferences(t *testing.T) {
	https := func(name string, certNS string) gwv1.ListenerEntry {
		ref := gwv1.SecretObjectReference{Name: "cert"}
		if certNS != "" {
			ref.Namespace = ptr(gwv1.Namespace(certNS))
		}
		return gwv1.ListenerEntry{Name: gwv1.SectionName(name), Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: ptr(gwv1.Hostname(name + ".example")),
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{ref}}}
	}
	in := listenerSetInput(gwv1.NamespacesFromAll,
		newListenerSet("team", "secure", 1, https("own", ""), https("shared", "certs"), https("granted", "vault")))
	for ns, host := range map[string]string{"team": "own.example", "certs": "shared.example", "vault": "granted.example"} {
		crt, key := pki.ServerPair(t, host)
		in.Secrets = append(in.Secrets, tlsSecret(ns, "cert", crt, key))
	}
	grant := func(ns, kind string) *gwv1.ReferenceGrant {
		return &gwv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g"}, Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: gwv1.Kind(kind), Namespace: "team"}},
			To:   []gwv1.ReferenceGrantTo{{Kind: "Secret"}}}}
	}
	// A grant to the Gateways of team does not cover its ListenerSets.
	in.ReferenceGrants = []*gwv1.ReferenceGrant{grant("certs", KindGateway), grant("vault", KindListenerSet)}
	in.HTTPRoutes = []*gwv1.HTTPRoute{
		simpleRoute("team", "team-route", []gwv1.ParentReference{setParent("team", "secure")}, nil, nil, ""),
		simpleRoute("shop", "shop-route", []gwv1.ParentReference{setParent("team", "secure")}, nil, nil, ""),
	}
	res, _ := serve(t, in)
	for name, want := range map[string]string{"own": "ResolvedRefs", "shared": "RefNotPermitted", "granted": "ResolvedRefs"} {
		if c := conditions.Require(t, setListener(t, res, "team", "secure", name).Conditions, "ResolvedRefs"); c.Reason != want {
			t.Errorf("listener %s: ResolvedRefs %+v, want %s", name, c, want)
		}
	}
	if rs := hostRoutes(res, "own.example"); len(rs) != 1 || !strings.Contains(rs[0], "team-route") {
		t.Errorf("routes of own.example %v, want the route of the ListenerSet's namespace only", rs)
	}
	if c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "shop-route"), "Accepted"); c.Reason != "NotAllowedByListeners" {
		t.Errorf("a route of the Gateway's namespace on the ListenerSet: %+v, want NotAllowedByListeners", c)
	}

	in.Gateways[0].Spec.Addresses = []gwv1.GatewaySpecAddress{{Type: ptr(gwv1.AddressType("example.com/custom")), Value: "x"}}
	res = Translate(in)
	if c := setCondition(t, res, "team", "secure", "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != "ParentNotAccepted" {
		t.Errorf("under a refused Gateway: %+v, want ParentNotAccepted", c)
	}
	if len(hostRoutes(res, "own.example")) != 0 {
		t.Error("a ListenerSet of a refused Gateway is served")
	}
}

// TestListenerSetCannotTakeAPortWaitingForItsCertificate: a Gateway's HTTPS listener whose
// Secret is not there yet is not served, but keeps its port: a ListenerSet's TCP or HTTP
// listener there is a ProtocolConflict, and nothing of it is served on the port.
func TestListenerSetCannotTakeAPortWaitingForItsCertificate(t *testing.T) {
	in := listenerSetInput(gwv1.NamespacesFromAll,
		newListenerSet("other", "grab", 1, gwv1.ListenerEntry{Name: "tcp", Port: 443, Protocol: gwv1.TCPProtocolType},
			httpEntry("plain", 443, "bank.example")))
	in.Gateways[0].Spec.Listeners = append(in.Gateways[0].Spec.Listeners, gwv1.Listener{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType,
		Hostname: ptr(gwv1.Hostname("bank.example")), TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "not-yet"}}}})
	in.Served.TCPRoutes = true
	in.Services = append(in.Services, svc("other", "sink", 9000))
	in.TCPRoutes = []*gwv1.TCPRoute{tcpRoute("sink", 1, []gwv1.ParentReference{setParent("other", "grab", "tcp")}, ref("sink", 9000, 1))}
	in.TCPRoutes[0].Namespace = "other"
	res, _ := serve(t, in)
	for _, name := range []string{"tcp", "plain"} {
		if a := conditions.Require(t, setListener(t, res, "other", "grab", name).Conditions, "Accepted"); a.Status != metav1.ConditionFalse || a.Reason != "ProtocolConflict" {
			t.Errorf("listener %s on the Gateway's HTTPS port: Accepted %+v, want ProtocolConflict", name, a)
		}
	}
	for _, g := range res.Spec.NodeGroups {
		for _, l := range g.Listeners {
			if l.Port == 443 {
				t.Errorf("port 443 is served (%+v) while the Gateway's HTTPS listener waits for its certificate", l)
			}
		}
	}
}

// TestListenerSetKeepsTheGatewaysNames: a ListenerSet's new port, accepted or not, does not
// rename the Gateway's own virtual hosts and routes; its own are named with their port.
func TestListenerSetKeepsTheGatewaysNames(t *testing.T) {
	route := simpleRoute("shop", "web", []gwv1.ParentReference{{Name: "edge"}}, nil, nil, "web")
	before := listenerSetInput(gwv1.NamespacesFromAll)
	before.HTTPRoutes = []*gwv1.HTTPRoute{route}
	want := hostRoutes(Translate(before), "edge.example")
	if len(want) != 1 {
		t.Fatalf("routes of edge.example %v", want)
	}
	for name, entry := range map[string]gwv1.ListenerEntry{
		"accepted": httpEntry("admin", 8080, "admin.example"),
		"rejected": httpEntry("bad", 9090, "not a hostname"),
	} {
		in := listenerSetInput(gwv1.NamespacesFromAll, newListenerSet("team", "s", 1, entry))
		in.HTTPRoutes = []*gwv1.HTTPRoute{route, simpleRoute("team", "admin", []gwv1.ParentReference{setParent("team", "s")}, nil, nil, "")}
		res, _ := serve(t, in)
		if got := hostRoutes(res, "edge.example"); !slices.Equal(got, want) {
			t.Errorf("%s ListenerSet port: the Gateway's routes %v, want %v", name, got, want)
		}
		if name == "accepted" {
			if rs := hostRoutes(res, "admin.example"); len(rs) != 1 || !strings.Contains(rs[0], "/admin.example:8080:") {
				t.Errorf("the ListenerSet's routes %v, want them named with port 8080", rs)
			}
		}
	}
}

// TestListenerSetPrecedence: of two ListenerSets created at the same time, the first by
// "namespace/name" keeps a hostname both ask for: team-b/x before team/x, as "-" sorts before
// "/" (ordering by namespace, then name, would put team first); the other's message does not
// name it.
func TestListenerSetPrecedence(t *testing.T) {
	in := listenerSetInput(gwv1.NamespacesFromAll, newListenerSet("team", "x", 1, httpEntry("a", 80, "a.example")), newListenerSet("team-b", "x", 1, httpEntry("a", 80, "a.example")))
	res, _ := serve(t, in)
	if a := conditions.Require(t, setListener(t, res, "team-b", "x", "a").Conditions, "Accepted"); a.Status != metav1.ConditionTrue {
		t.Errorf("team-b/x: %+v, want it to keep a.example", a)
	}
	a := conditions.Require(t, setListener(t, res, "team", "x", "a").Conditions, "Accepted")
	if a.Reason != "HostnameConflict" || strings.Contains(a.Message, "team-b") {
		t.Errorf("team/x: %+v, want HostnameConflict not naming the other ListenerSet", a)
	}
}

// TestListenerSetCertificateNamesItsOwnHostnames: a ListenerSet's certificate that names
// exactly a hostname another listener of the port serves (the Gateway's here), from a
// listener for another hostname, a wildcard or none, is not served (InvalidCertificateRef):
// Envoy would present it to that listener's clients. One that names its own hostname, or a
// wildcard shared with the Gateway's (as a *.example certificate often is), is served.
func TestListenerSetCertificateNamesItsOwnHostnames(t *testing.T) {
	https := func(name string, host *gwv1.Hostname) gwv1.ListenerEntry {
		return gwv1.ListenerEntry{Name: gwv1.SectionName(name), Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: host,
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: gwv1.ObjectName(name)}}}}
	}
	in := listenerSetInput(gwv1.NamespacesFromAll, newListenerSet("team", "s", 1,
		https("mine", ptr(gwv1.Hostname("team.example"))),
		https("shared", ptr(gwv1.Hostname("shared.example"))),
		https("other", ptr(gwv1.Hostname("team2.example"))),
		https("wild", ptr(gwv1.Hostname("*.example"))),
		https("any", nil)))
	bankCrt, bankKey := pki.ServerPair(t, "bank.example")
	in.Gateways[0].Spec.Listeners = append(in.Gateways[0].Spec.Listeners, gwv1.Listener{Name: "bank", Port: 443, Protocol: gwv1.HTTPSProtocolType,
		Hostname: ptr(gwv1.Hostname("bank.example")), TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "bank"}}}})
	in.Secrets = []*corev1.Secret{tlsSecret("shop", "bank", bankCrt, bankKey)}
	for name, host := range map[string]string{"mine": "team.example", "shared": "*.example", "other": "bank.example", "wild": "bank.example", "any": "bank.example"} {
		crt, key := pki.ServerPair(t, host)
		in.Secrets = append(in.Secrets, tlsSecret("team", name, crt, key))
	}
	res, _ := serve(t, in)
	for name, want := range map[string]string{"mine": "ResolvedRefs", "shared": "ResolvedRefs", "other": "InvalidCertificateRef", "wild": "InvalidCertificateRef", "any": "InvalidCertificateRef"} {
		c := conditions.Require(t, setListener(t, res, "team", "s", name).Conditions, "ResolvedRefs")
		if c.Reason != want || want != "ResolvedRefs" && !strings.Contains(c.Message, "bank.example") {
			t.Errorf("listener %s: ResolvedRefs %+v, want %s", name, c, want)
		}
	}
	var certs int
	for _, g := range res.Spec.NodeGroups {
		for _, l := range g.Listeners {
			if l.Port == 443 {
				certs = len(l.TLSCertificates)
			}
		}
	}
	if certs != 3 {
		t.Errorf("port 443 serves %d certificates, want the Gateway's, team.example's and the shared wildcard", certs)
	}
}
