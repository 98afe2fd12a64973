package gatewayapi

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// KindListenerSet is the Gateway API's set of listeners added to a Gateway from outside it.
const KindListenerSet = "ListenerSet"

// ListenerSetGVR is the resource of ListenerSets (the Gateway API's standard channel since
// v1.5).
var ListenerSetGVR = schema.GroupVersionResource{Group: gwv1.GroupName, Version: "v1", Resource: "listenersets"}

// listenerSet is a ListenerSet whose parent is one of our Gateways, while it is translated.
// Its listeners are the Gateway's listeners with set pointing to it, after the Gateway's own
// and those of older ListenerSets: on a conflict, the earlier listener keeps its port and
// hostname.
type listenerSet struct {
	ls *gwv1.ListenerSet
	nn types.NamespacedName
	g  *gateway
	// entries are its listeners, as a Gateway's.
	entries []gwv1.Listener
	// allowed says the Gateway's allowedListeners admits it; why says why not.
	allowed bool
	why     string
	status  *gwv1.ListenerSetStatus
}

// listenerSetsOf returns the ListenerSets whose parent is gw, in the order their listeners
// yield to one another: the older first, then by "namespace/name", as the Gateway API asks.
func (t *translator) listenerSetsOf(gw *gwv1.Gateway) []*listenerSet {
	var out []*listenerSet
	for _, ls := range t.in.ListenerSets {
		if !parentIs(ls, gw) {
			continue
		}
		set := &listenerSet{ls: ls, nn: types.NamespacedName{Namespace: ls.Namespace, Name: ls.Name}, status: &gwv1.ListenerSetStatus{}}
		set.allowed, set.why = t.allowsListenerSet(gw, ls.Namespace)
		for _, e := range ls.Spec.Listeners {
			set.entries = append(set.entries, gwv1.Listener(e))
		}
		out = append(out, set)
	}
	slices.SortFunc(out, func(a, b *listenerSet) int {
		return cmp.Or(a.ls.CreationTimestamp.Compare(b.ls.CreationTimestamp.Time), cmp.Compare(a.nn.String(), b.nn.String()))
	})
	return out
}

// parentIs says whether the parent of ls is the Gateway gw.
func parentIs(ls *gwv1.ListenerSet, gw *gwv1.Gateway) bool {
	p := ls.Spec.ParentRef
	if p.Group != nil && *p.Group != gwv1.GroupName || p.Kind != nil && *p.Kind != KindGateway {
		return false
	}
	ns := ls.Namespace
	if p.Namespace != nil && *p.Namespace != "" {
		ns = string(*p.Namespace)
	}
	return ns == gw.Namespace && string(p.Name) == gw.Name
}

// allowsListenerSet says whether gw's spec.allowedListeners admits the ListenerSets of
// namespace ns, and why not. None, the default, admits none.
func (t *translator) allowsListenerSet(gw *gwv1.Gateway, ns string) (bool, string) {
	from := gwv1.NamespacesFromNone
	if a := gw.Spec.AllowedListeners; a != nil && a.Namespaces != nil && a.Namespaces.From != nil {
		from = *a.Namespaces.From
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true, ""
	case gwv1.NamespacesFromSame:
		if ns == gw.Namespace {
			return true, ""
		}
		return false, fmt.Sprintf("Gateway %s/%s admits ListenerSets of its own namespace only (spec.allowedListeners.namespaces.from: Same)", gw.Namespace, gw.Name)
	case gwv1.NamespacesFromSelector:
		sel := gw.Spec.AllowedListeners.Namespaces.Selector
		if sel == nil {
			return false, fmt.Sprintf("Gateway %s/%s: spec.allowedListeners.namespaces.selector must be specified when from is Selector", gw.Namespace, gw.Name)
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false, fmt.Sprintf("Gateway %s/%s: spec.allowedListeners.namespaces.selector is not a valid label selector: %v", gw.Namespace, gw.Name, err)
		}
		if ls, known := t.nsLabels[ns]; known && s.Matches(ls) {
			return true, ""
		}
		return false, fmt.Sprintf("Gateway %s/%s does not admit ListenerSets of namespace %s (spec.allowedListeners.namespaces.selector)", gw.Namespace, gw.Name, ns)
	default:
		return false, fmt.Sprintf("Gateway %s/%s admits no ListenerSet (spec.allowedListeners.namespaces.from: %s)", gw.Namespace, gw.Name, from)
	}
}

// listenerSetConditions writes the Accepted condition of each ListenerSet of g, and g's
// count of the ones attached (accepted), once their listeners are added: only those of
// admitted ListenerSets of an accepted Gateway are.
func (t *translator) listenerSetConditions(g *gateway, gatewayAccepted bool) {
	gnn := types.NamespacedName{Namespace: g.gw.Namespace, Name: g.gw.Name}
	attached := int32(0)
	for _, set := range g.sets {
		set.g = g
		t.listenerSets[set.nn] = set
		t.res.ListenerSetGateways[set.nn] = gnn
		t.res.ListenerSets[set.nn] = set.status
		var served, invalid []string
		for _, li := range g.listeners {
			if li.set != set {
				continue
			}
			if li.ok {
				served = append(served, string(li.l.Name))
			} else {
				invalid = append(invalid, string(li.l.Name))
			}
		}
		gen := set.ls.Generation
		ok, reason, msg := true, string(gwv1.ListenerSetReasonAccepted), "accepted"
		switch {
		case !set.allowed:
			ok, reason, msg = false, string(gwv1.ListenerSetReasonNotAllowed), set.why
		case !gatewayAccepted:
			ok, reason, msg = false, string(gwv1.ListenerSetReasonParentNotAccepted), fmt.Sprintf("Gateway %s is not accepted", gnn)
		case len(served) == 0:
			ok, reason, msg = false, string(gwv1.ListenerSetReasonListenersNotValid), "no listener can be served (their conditions say why)"
		case len(invalid) > 0:
			reason, msg = string(gwv1.ListenerSetReasonListenersNotValid), fmt.Sprintf("accepted; listeners not served: %s (their conditions say why)", strings.Join(invalid, ", "))
		}
		if ok {
			attached++
		}
		set.status.Conditions = []metav1.Condition{t.cond(string(gwv1.ListenerSetConditionAccepted), ok, reason, msg, gen)}
	}
	if t.in.Served.ListenerSets {
		g.status.AttachedListenerSets = &attached
	}
}

// listenerSetListeners writes the listener statuses of g's ListenerSets, once the routes are
// attached.
func listenerSetListeners(g *gateway) {
	for _, li := range g.listeners {
		if li.set == nil || !li.set.allowed {
			continue
		}
		li.set.status.Listeners = append(li.set.status.Listeners, gwv1.ListenerEntryStatus(*li.status))
	}
}

// parentOf is the Gateway of ours a route's parent reference (from namespace ns) names, and
// the ListenerSet when it names one of those (nil for a Gateway); nil when it names neither.
func (t *translator) parentOf(pr gwv1.ParentReference, ns string) (*gateway, *listenerSet) {
	if pr.Group != nil && *pr.Group != gwv1.GroupName {
		return nil, nil
	}
	if pr.Namespace != nil {
		ns = string(*pr.Namespace)
	}
	nn := types.NamespacedName{Namespace: ns, Name: string(pr.Name)}
	switch {
	case pr.Kind == nil || *pr.Kind == KindGateway:
		return t.gateways[nn], nil
	case *pr.Kind == KindListenerSet:
		if set := t.listenerSets[nn]; set != nil {
			return set.g, set
		}
	}
	return nil, nil
}

// from is the object whose references listener li follows (its certificateRefs): its
// ListenerSet, or else its Gateway g.
func (li *listener) from(g *gateway) routeFrom {
	if li.set != nil {
		return routeFrom{kind: KindListenerSet, namespace: li.set.nn.Namespace}
	}
	return routeFrom{kind: KindGateway, namespace: g.gw.Namespace}
}

// name names li in messages and policy names: a Gateway's listener by its name, a
// ListenerSet's after the ListenerSet's namespace and name.
func (li *listener) name() string {
	if li.set == nil {
		return string(li.l.Name)
	}
	return li.set.nn.Namespace + "/" + li.set.nn.Name + "/" + string(li.l.Name)
}

// conflictName names the earlier listener o that a ListenerSet's listener conflicts with,
// without naming another tenant's ListenerSet.
func (o *listener) conflictName() string {
	if o.set == nil {
		return "the Gateway's listener " + string(o.l.Name)
	}
	return "an earlier ListenerSet's listener"
}

// sameHostname is an accepted listener of g on l's port for l's hostname, if there is one.
func (g *gateway) sameHostname(l *gwv1.Listener) *listener {
	for _, o := range g.listeners {
		if o.accepted && o.l.Port == l.Port && hostnameOrAny(o.l.Hostname) == hostnameOrAny(l.Hostname) {
			return o
		}
	}
	return nil
}

// hostnameOrAny is a listener's hostname, or "any hostname" when it has none.
func hostnameOrAny(h *gwv1.Hostname) string {
	if h == nil || *h == "" {
		return "any hostname"
	}
	return string(*h)
}

// hostnameOf is a listener's hostname, "" for none.
func hostnameOf(h *gwv1.Hostname) gwv1.Hostname {
	if h == nil {
		return ""
	}
	return *h
}

// foreignCertificateName says why a ListenerSet's listener li may not serve certificates:
// one of them names a hostname that another listener of the port serves, "" when none does.
// Envoy picks the certificate of a port by the name the client asks for, the most specific
// match first, whichever listener it comes from: a ListenerSet's certificate that named
// exactly another listener's hostname (the Gateway owner's bank.example, say) would be
// presented to that listener's clients. A name is the most specific listener's whose
// hostname covers it; wildcard names (a shared *.example.com certificate) lose to the exact
// and to the Gateway's own, which come first, and are not held to this. The Gateway's own
// listeners are its owner's to arrange.
func (g *gateway) foreignCertificateName(li *listener, certs []policy.TLSCertificate) string {
	if li.set == nil {
		return ""
	}
	own := hostnameOf(li.l.Hostname)
	for _, c := range certs {
		for _, n := range certificateNames(c.CertificateChain) {
			if strings.Contains(n, "*") {
				continue
			}
			var owner gwv1.Hostname
			found := false
			for _, o := range g.hostnames[li.l.Port] {
				if (o == "" || covers(o, n)) && (!found || moreSpecific(&o, &owner)) {
					owner, found = o, true
				}
			}
			if found && owner != own {
				return fmt.Sprintf("the certificate names %s, which the listener for %s on port %d serves", n, hostnameOrAny(&owner), li.l.Port)
			}
		}
	}
	return ""
}

// certificateNames are the DNS names of the first certificate of a PEM chain (its common
// name when it has none), as TLS clients match them; none when it does not parse.
func certificateNames(chain []byte) []string {
	b, _ := pem.Decode(chain)
	if b == nil {
		return nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames
	}
	if c.Subject.CommonName != "" {
		return []string{c.Subject.CommonName}
	}
	return nil
}
