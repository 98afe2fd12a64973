package gatewayapi

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// TLSRouteGVR and TCPRouteGVR are the resources of TLSRoutes and TCPRoutes, which the API
// serves with Gateway API CRDs of v1.5 or later.
var (
	TLSRouteGVR = schema.GroupVersionResource{Group: gwv1.GroupName, Version: "v1", Resource: "tlsroutes"}
	TCPRouteGVR = schema.GroupVersionResource{Group: gwv1.GroupName, Version: "v1", Resource: "tcproutes"}
)

// connectionRoute translates a TLSRoute or TCPRoute (kind): its one rule's backendRefs. The
// share of refs that do not resolve is refused (the connection closed), as the API asks;
// so is every connection of a rule none of whose refs resolves.
func (t *translator) connectionRoute(kind string, meta *metav1.ObjectMeta, parents []gwv1.ParentReference, hostnames []gwv1.Hostname, ruleRefs [][]gwv1.BackendRef) *routeSpec {
	rs := &routeSpec{kind: kind, meta: meta, parents: parents, hostnames: hostnames}
	if kind == KindTLSRoute && len(hostnames) == 0 {
		// The API requires hostnames since v1 (v1alpha2 TLSRoutes may lack them): a TLS
		// listener routes by the server name.
		rs.unsupported = "spec.hostnames is required: a TLSRoute is chosen by the TLS server name"
		return rs
	}
	return rules(rs, len(ruleRefs), func(ri int) (*ruleOut, string) {
		if ri > 0 {
			return nil, "only one rule is supported (the API allows one)"
		}
		out := &ruleOut{}
		out.connection, out.svcs, out.unresolve = t.backends(routeFrom{kind, meta.Namespace}, bareRefs(ruleRefs[ri]), rulePath(ri, nil))
		if len(out.connection) == 0 {
			out.connection = []policy.Backend{{Unresolved: true, Weight: 1}}
		}
		return out, ""
	})
}

// connectionHostnames are the hostnames a route of kind serves on listener li: a TCPRoute
// takes every connection ("*", the listener's hostname does not apply to TCP); a TLSRoute
// the server names it shares with the listener that li serves (ownHostnames).
func connectionHostnames(g *gateway, li *listener, kind string, hostnames []gwv1.Hostname) []string {
	if kind == KindTCPRoute {
		return []string{"*"}
	}
	return ownHostnames(g, li, intersect(li.l.Hostname, hostnames))
}

// connectionConflict returns the hostnames of hs that a TLSRoute or TCPRoute (key) may serve
// on li, where routes of its kind are attached already (the older first), and why it may not
// serve the others ("" when it may serve them all): a TCP listener forwards its connections
// to one TCPRoute, and a server name goes to one TLSRoute, so a TLSRoute keeps the server
// names no older route takes.
func connectionConflict(li *listener, key routeKey, hs []string) (free []string, why string) {
	free = hs
	var taken []string
	for _, a := range li.hosts[key.kind] {
		if a.route == key {
			continue
		}
		if key.kind == KindTCPRoute {
			return nil, fmt.Sprintf("listener %s already forwards its connections to TCPRoute %s (the older one is accepted): a TCP listener takes one TCPRoute", li.name(), a.route.nn)
		}
		kept := free[:0:0]
		for _, h := range free {
			if slices.Contains(a.hosts, h) { // hostnames are lower case
				taken = append(taken, fmt.Sprintf("server name %s through to TLSRoute %s", h, a.route.nn))
				continue
			}
			kept = append(kept, h)
		}
		free = kept
	}
	if len(taken) == 0 {
		return free, ""
	}
	return free, fmt.Sprintf("listener %s already passes %s (the older one is accepted)", li.name(), strings.Join(taken, ", "))
}

// attachConnection adds a TLSRoute's or TCPRoute's connection route to the port gp for the
// hostnames hs: one connection route per Gateway API route, port and TLS mode, taking the
// server names of every listener of the port (of that mode) it is attached to ("*": every
// connection). On a port whose TLS listeners both terminate TLS and pass it through, the
// route of a passthrough listener passes it through, named with "/passthrough".
func (t *translator) attachConnection(gp *gatewayPort, hs []string, rs *routeSpec, key routeKey, passthrough bool) {
	var rule *ruleOut
	for _, r := range rs.rules {
		if r != nil {
			rule = r
			break
		}
	}
	if rule == nil {
		return
	}
	ck := connKey{key, passthrough}
	cr := gp.connOf[ck]
	if cr == nil {
		cr = &policy.ConnectionRoute{Name: fmt.Sprintf("%s/%s/%s", key.kind, key.nn.Namespace, key.nn.Name), Backends: rule.connection}
		if passthrough && len(gp.certs) > 0 {
			cr.Name, cr.Passthrough = cr.Name+"/passthrough", true
		}
		if gp.connOf == nil {
			gp.connOf = map[connKey]*policy.ConnectionRoute{}
		}
		gp.connOf[ck] = cr
		gp.connections = append(gp.connections, cr)
		// Recorded as an HTTP route's matches are, so that the policies attached to its
		// Services name the Gateways it sends from (gatewaysSendingTo).
		if !slices.Contains(t.routesOf[key], cr.Name) {
			t.routesOf[key] = append(t.routesOf[key], cr.Name)
		}
		t.routeSvcs[cr.Name] = rule.svcs
	}
	for _, h := range hs {
		if h != "*" && !slices.Contains(cr.ServerNames, h) {
			cr.ServerNames = append(cr.ServerNames, h)
		}
	}
}

// isolateServerNames adds to the connection routes of a TLS port, for each hostname of a
// served TLS listener of the port that no route takes there but a less specific name of
// another route would (a listener for secure.example.com without routes beside a catch-all
// listener whose route takes *.example.com), a route that refuses those connections: a
// connection goes to the most specific listener whose hostname matches its server name, and
// that listener has no route for it, as isolatedHostnames does for HTTP. On a port that
// serves HTTPS too (https), HTTP takes every server name no route takes, so each such
// hostname gets a refusing route, and a TLS listener without a hostname, which owns every
// server name no other listener has, a refusing route for all of them.
func isolateServerNames(g *gateway, port int32, gp *gatewayPort, https bool) {
	taken := func(h string) (exact, caught bool) {
		for _, cr := range gp.connections {
			if len(cr.ServerNames) == 0 {
				caught = true
			}
			for _, n := range cr.ServerNames {
				exact = exact || n == h
				caught = caught || n != h && covers(gwv1.Hostname(n), h)
			}
		}
		return exact, caught
	}
	for _, li := range g.listeners {
		if !li.ok || li.l.Port != port || li.l.Protocol != gwv1.TLSProtocolType {
			continue
		}
		var names []string // none: every server name no other listener has
		if li.l.Hostname != nil && *li.l.Hostname != "" {
			h := string(*li.l.Hostname)
			if exact, caught := taken(h); exact || !caught && !https {
				continue
			}
			names = []string{h}
		} else if !https {
			continue
		}
		gp.connections = append(gp.connections, &policy.ConnectionRoute{
			Name: "Listener/" + li.name() + "/no-route", ServerNames: names,
			Backends: []policy.Backend{{Unresolved: true, Weight: 1}}, Passthrough: passesTLSThrough(li.l) && len(gp.certs) > 0,
		})
	}
}

// httpsServerNames are the hostnames of the served HTTPS listeners of port, sorted: the
// server names its HTTP filter chain takes before the connection routes of its TLS listeners.
func httpsServerNames(g *gateway, port int32) []string {
	var out []string
	for _, li := range g.listeners {
		if li.ok && li.l.Port == port && li.l.Protocol == gwv1.HTTPSProtocolType && li.l.Hostname != nil && *li.l.Hostname != "" {
			out = append(out, string(*li.l.Hostname))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// connectionListener is the policy listener of a TLS or TCP port: its connection routes,
// each route's server names sorted.
func connectionListener(port int32, gp *gatewayPort) policy.GatewayListener {
	gl := policy.GatewayListener{Port: uint32(port)}
	for _, cr := range gp.connections {
		c := *cr
		c.ServerNames = slices.Sorted(slices.Values(c.ServerNames))
		gl.Connections = append(gl.Connections, c)
	}
	return gl
}
