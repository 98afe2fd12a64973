package gatewayapi

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Mesh routes (the Gateway API's GAMMA): an HTTPRoute or GRPCRoute whose parentRef is a
// Service routes the requests the mesh's clients (sidecars' outbound listeners, proxyless
// gRPC clients) send to that Service, on one of its ports (the parentRef's port, or its
// sectionName naming a port) or on all of them. There is no GatewayClass: every such route
// in the Service's own namespace (a producer route) is ours. Its rules become the routes of
// the Service port's policy service (the one a backendRef to that port names), answering
// the Service's cluster names (meshHosts), and only on the client side: the Service's own
// sidecar forwards what it receives to its application as before (Service.RoutesForClients).
// A request that matches no rule gets a 404 from Envoy and UNAVAILABLE on a gRPC client, as
// the Gateway API asks. Merge gives the routes to the policy file's service of that Service
// port instead, when the file has one.

// meshPort is a Service port that mesh routes are attached to, while it is translated.
type meshPort struct {
	svc  *corev1.Service
	port *corev1.ServicePort
	// kind is the kind of the routes attached (the older's, when both kinds try).
	kind string
	// service is the policy service of the port, and entries the matches of its routes.
	service string
	entries []entry
}

// isServiceParent says whether a parentRef names a core Service (group "": an unset group
// is the Gateway API's own).
func isServiceParent(pr gwv1.ParentReference) bool {
	return pr.Kind != nil && *pr.Kind == KindService && pr.Group != nil && *pr.Group == ""
}

// attachToService attaches a translated route to the ports of the Service a parentRef names
// and says whether the route was accepted there.
func (t *translator) attachToService(rs *routeSpec, pr gwv1.ParentReference, key routeKey) (bool, string, string) {
	if rs.unsupported != "" {
		return false, string(gwv1.RouteReasonUnsupportedValue), rs.unsupported
	}
	ns := rs.meta.Namespace
	if pr.Namespace != nil && string(*pr.Namespace) != "" {
		ns = string(*pr.Namespace)
	}
	if connectionKind(rs.kind) {
		return false, string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("a %s cannot have a Service as its parent: mesh routes are HTTPRoutes and GRPCRoutes", rs.kind)
	}
	if ns != rs.meta.Namespace {
		return false, string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("Service %s/%s is in another namespace: a mesh route is served in its Service's namespace only (routes of the Service's clients' namespaces are not supported)", ns, pr.Name)
	}
	svc := t.services[types.NamespacedName{Namespace: ns, Name: string(pr.Name)}]
	if svc == nil {
		return false, string(gwv1.RouteReasonNoMatchingParent), fmt.Sprintf("Service %s/%s not found", ns, pr.Name)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return false, string(gwv1.RouteReasonNoMatchingParent), fmt.Sprintf("Service %s/%s is of type ExternalName: its requests leave the mesh", ns, pr.Name)
	}
	ports := parentPorts(svc, pr)
	if len(ports) == 0 {
		return false, string(gwv1.RouteReasonNoMatchingParent), fmt.Sprintf("Service %s/%s has no TCP port that the parentRef's port and sectionName select", ns, pr.Name)
	}
	portOf := func(p *corev1.ServicePort) servicePort {
		return servicePort{types.NamespacedName{Namespace: ns, Name: svc.Name}, p.Port}
	}
	// A port whose routes of the older kind are refused is still theirs.
	for _, p := range ports {
		if r, ok := t.meshRefused[portOf(p)]; ok && r.kind != rs.kind {
			return false, routeReasonConflicted, fmt.Sprintf("port %d of Service %s/%s already has %ss attached (the older route kind wins), which the policy file keeps from being served: %s", p.Port, ns, svc.Name, r.kind, r.msg)
		}
	}
	// The ports whose routes the policy file would not serve are left out.
	var refusals []string
	var refusal meshRefusal
	ports = slices.DeleteFunc(ports, func(p *corev1.ServicePort) bool {
		r, ok := t.meshRefused[portOf(p)]
		if ok {
			if refusal.reason == "" { // the first port's reason, where they differ
				refusal = r
			}
			refusals = append(refusals, fmt.Sprintf("port %d: %s", p.Port, r.msg))
		}
		return ok
	})
	if len(ports) == 0 {
		return false, refusal.reason, strings.Join(refusals, "; ")
	}
	// Every port first: a route is attached to all the ports it selects or to none.
	from := routeFrom{kind: rs.kind, namespace: rs.meta.Namespace}
	names := make([]string, len(ports))
	for i, p := range ports {
		sp := portOf(p)
		if mp := t.meshPorts[sp]; mp != nil && mp.kind != rs.kind {
			return false, routeReasonConflicted, fmt.Sprintf("port %d of Service %s/%s already has %ss attached (the older route kind wins)", p.Port, ns, svc.Name, mp.kind)
		}
		ref := gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(svc.Name), Port: ptr(p.Port)}}
		name, prob := t.resolve(from, ref, fmt.Sprintf("parentRef port %d", p.Port), map[string]string{})
		if prob != nil {
			return false, string(gwv1.RouteReasonUnsupportedValue), prob.msg
		}
		names[i] = name
	}
	// Proxyless gRPC clients cannot originate TLS, and the mesh's clients include them.
	sent := slices.Clone(names)
	for _, r := range rs.rules {
		if r == nil {
			continue
		}
		for i := range r.matches {
			sent = append(sent, r.matches[i].Services()...)
		}
		for _, n := range r.svcs { // with the refs of weight 0, which a canary may step up
			sent = append(sent, n)
		}
	}
	for _, n := range sent {
		if d := t.svcDefs[n]; d.TLS != nil {
			return false, string(gwv1.RouteReasonUnsupportedValue), fmt.Sprintf("a mesh route does not send to a Service with TLS (Service %s/%s port %d has a BackendTLSPolicy): proxyless gRPC clients of the mesh cannot originate it", d.Namespace, d.KubernetesService, d.Port)
		}
	}
	if t.meshPorts == nil {
		t.meshPorts, t.meshParents = map[servicePort]*meshPort{}, map[routeKey][]string{}
	}
	if !slices.Contains(t.meshParents[key], svc.Name) {
		t.meshParents[key] = append(t.meshParents[key], svc.Name)
	}
	for i, p := range ports {
		sp := portOf(p)
		mp := t.meshPorts[sp]
		if mp == nil {
			mp = &meshPort{svc: svc, port: p, kind: rs.kind, service: names[i]}
			t.meshPorts[sp] = mp
		}
		for ri, r := range rs.rules {
			if r == nil {
				continue
			}
			for mi := range r.matches {
				m := r.matches[mi]
				m.Name = fmt.Sprintf("mesh.%s.%s:%d:%s/%s/%s/%d/%s", ns, svc.Name, p.Port, rs.kind, rs.meta.Namespace, rs.meta.Name, ri, r.keys[mi])
				if t.routeByName[m.Name] != nil {
					continue // another parentRef already attached this match to this port
				}
				m.Redirect = listenerPort(m.Redirect, p.Port, gwv1.HTTPProtocolType)
				mp.entries = append(mp.entries, entry{route: m, rank: r.ranks[mi]})
				t.routesOf[key] = append(t.routesOf[key], m.Name)
				t.routeSvcs[m.Name] = r.svcs
				t.routeByName[m.Name] = &m
			}
		}
	}
	if len(refusals) > 0 {
		return true, string(gwv1.RouteReasonAccepted), "accepted, but not on " + strings.Join(refusals, "; ")
	}
	return true, string(gwv1.RouteReasonAccepted), "accepted"
}

// parentPorts are the TCP ports of svc that a parentRef naming it selects: the one of its port
// or sectionName (a port's name), or all of them.
func parentPorts(svc *corev1.Service, pr gwv1.ParentReference) []*corev1.ServicePort {
	var ports []*corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if pr.Port != nil && p.Port != *pr.Port || pr.SectionName != nil && string(*pr.SectionName) != p.Name ||
			p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		ports = append(ports, p)
	}
	return ports
}

// buildMesh orders the matches attached to each Service port in the Gateway API's
// precedence, as the routes of the port's policy service (meshRoutes, by service name).
func (t *translator) buildMesh() {
	for _, sp := range slices.SortedFunc(maps.Keys(t.meshPorts), compareServicePorts) {
		mp := t.meshPorts[sp]
		slices.SortStableFunc(mp.entries, func(a, b entry) int { return a.rank.compare(b.rank) })
		routes := make([]policy.Route, len(mp.entries))
		for i, e := range mp.entries {
			routes[i] = e.route
		}
		if t.meshRoutes == nil {
			t.meshRoutes = map[string]*meshService{}
		}
		t.meshRoutes[mp.service] = &meshService{routes: routes, hosts: meshHosts(mp.svc, mp.port)}
	}
}

// meshService is what mesh routes give a policy service: its routes and the names its
// clients reach it by.
type meshService struct {
	routes []policy.Route
	hosts  []string
}

// compareServicePorts orders Service ports by namespace, name and port.
func compareServicePorts(a, b servicePort) int {
	return cmp.Or(CompareNamespacedNames(a.service, b.service), cmp.Compare(a.port, b.port))
}

// meshHosts are the names clients reach a Service port by: "name.namespace",
// "name.namespace.svc" and "name.namespace.svc.cluster.local", each with ":port"; without
// it too for the Service's only port and for port 80, which a client's Host header leaves
// out. The bare name is left out: it means another Service in each namespace.
func meshHosts(svc *corev1.Service, p *corev1.ServicePort) []string {
	bare := len(svc.Spec.Ports) == 1 || p.Port == 80
	var out []string
	for _, h := range []string{svc.Name + "." + svc.Namespace, svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local"} {
		if bare {
			out = append(out, h)
		}
		out = append(out, fmt.Sprintf("%s:%d", h, p.Port))
	}
	return out
}

// withMeshRoutes gives the policy services of Service ports with mesh routes their routes and
// hosts, once the services are in Spec.
func (t *translator) withMeshRoutes() {
	for i := range t.res.Spec.Services {
		s := &t.res.Spec.Services[i]
		if m := t.meshRoutes[s.Name]; m != nil {
			s.Routes, s.Hosts, s.RoutesForClients = slices.Clone(m.routes), m.hosts, true
		}
	}
}

// mergeMeshRoutes gives the mesh routes of spec's services to the services of p, the policy
// file, that stand for the same Kubernetes Service ports (kubernetes discovery, same
// namespace, Service and port; fileServicesOf chooses where several do):
//   - A backend or mirror of the routes that names spec's service of a port the file has a
//     service of names the file's service instead, so that the file's settings (TLS,
//     timeouts, retries, circuit breaker) hold for it as for the file's own clients, and so
//     do the canaries all of whose routes are the service's. It keeps spec's service where
//     the two speak different protocols, or a canary also drives other routes with it; and
//     where that would reach the endpoints of a file service with TLS without it, or a
//     proxyless gRPC group would reach a file service with TLS (viaFileServices), the routes
//     are dropped, with the canaries over them, rather than served.
//   - The routes of a port the file has a service of that routes nothing itself go to that
//     service, which keeps its names and answers the Service's names too where no other
//     service does. The groups that call it get the clusters its new routes send to, as for
//     any route (their upstreams are the services they address by name).
//   - Other routes stay on spec's service, which answers only the Service's names that no
//     other service, nor a virtual host of a proxyless gRPC group, answers (a file service
//     with routes of its own keeps its names and routes).
//
// Called on a copy of the file with defaults set, before spec's services are added; spec's
// services and canaries are copies of the caller's.
//
// It returns why the routes of some of spec's services are not served (dropped, or left on a
// service no name of the Service port reaches), and which of spec's services the served
// routes send to a file's service instead.
func mergeMeshRoutes(p *policy.Policy, spec *policy.Spec) meshMerge {
	files := fileServicesOf(p, spec)
	same := map[string]string{} // spec's services to the file's of their port speaking their protocol
	for _, ss := range spec.Services {
		if f := files[ss.Name]; f != nil && f.Protocol == ss.Protocol {
			same[ss.Name] = f.Name
		}
	}
	// taken are the lower-cased names and the services and virtual hosts answering them;
	// answeredBy says what answers h but the services by, or "".
	var taken map[string][]string
	answeredBy := func(h string, by ...string) string {
		if taken == nil {
			taken = answeredNames(p, spec)
		}
		i := slices.IndexFunc(taken[strings.ToLower(h)], func(o string) bool {
			return !slices.ContainsFunc(by, func(b string) bool { return o == "service "+b })
		})
		if i < 0 {
			return ""
		}
		return taken[strings.ToLower(h)][i]
	}
	// fixed are spec's services that refusing mesh routes does not take away (fixedServices).
	var fixed map[string]bool
	fixedService := func(name string) bool {
		if fixed == nil {
			fixed = fixedServices(spec)
		}
		return fixed[name]
	}
	dropped := map[string]bool{}
	out := meshMerge{refused: map[string]meshRefusal{}, handed: map[string]string{}}
	for i := range spec.Services {
		s := &spec.Services[i]
		if !s.RoutesForClients {
			continue
		}
		routes, renamed, refusal := viaFileServices(s, files, same, spec, proxylessGet(p, spec, s.Name, files[s.Name]))
		file := files[s.Name]
		handOver := file != nil && len(file.Routes) == 0
		keep := []string{s.Name}
		if handOver {
			keep = append(keep, file.Name)
		}
		var by string // what answers the first name taken
		hosts := slices.DeleteFunc(slices.Clone(s.Hosts), func(h string) bool {
			o := answeredBy(h, keep...)
			by = cmp.Or(by, o)
			return o != ""
		})
		var noName *meshRefusal
		if !handOver && len(hosts) == 0 && len(s.Hosts) > 0 {
			msg := fmt.Sprintf("no name of the Service port is left for its routes: %s answers %s", by, s.Hosts[0])
			if file != nil {
				msg = fmt.Sprintf("the policy file's service %q routes this Service port itself (mesh routes are handed to it only when it has none), and %s", file.Name, msg)
			}
			name, isService := strings.CutPrefix(by, "service ")
			noName = &meshRefusal{reason: routeReasonConflicted, msg: msg}
			if isService && p.Service(name) == nil && !fixedService(name) {
				noName.cause = by
			}
		}
		if refusal != nil && refusal.cause != "" && noName != nil && noName.cause == "" {
			refusal = noName
		}
		if refusal != nil {
			out.refused[s.Name] = *refusal
			for _, r := range s.Routes {
				dropped[r.Name] = true
			}
			s.Routes, s.Hosts, s.RoutesForClients = nil, nil, false
			continue
		}
		if noName != nil {
			out.refused[s.Name] = *noName
		} else {
			maps.Copy(out.handed, renamed)
		}
		if handOver {
			file.Routes, file.RoutesForClients = routes, true
			for _, h := range hosts {
				if !slices.ContainsFunc(file.Domains(), func(d string) bool { return strings.EqualFold(d, h) }) {
					file.Hosts = append(file.Hosts, h)
				}
			}
			s.Routes, s.Hosts, s.RoutesForClients = nil, nil, false
			continue
		}
		s.Routes, s.Hosts = routes, hosts
	}
	if len(dropped) > 0 {
		spec.Canaries = slices.DeleteFunc(spec.Canaries, func(c policy.Canary) bool {
			return slices.ContainsFunc(c.AllRoutes(), func(r string) bool { return dropped[r] })
		})
	}
	return out
}

// meshMerge is what mergeMeshRoutes says of the mesh routes of spec.
type meshMerge struct {
	// refused are spec's services whose mesh routes are not served, with why.
	refused map[string]meshRefusal
	// handed are spec's services that the served mesh routes (and their canaries) send to
	// the file's service of the same Service port instead, to that service's name: the
	// file's settings hold there, not spec's.
	handed map[string]string
}

// fixedServices are the services spec names outside its mesh routes (a Gateway's routes,
// connections and upstreams): refusing mesh routes does not take them away.
func fixedServices(spec *policy.Spec) map[string]bool {
	out := map[string]bool{}
	for _, vh := range spec.VirtualHosts {
		for i := range vh.Routes {
			for _, n := range vh.Routes[i].Services() {
				out[n] = true
			}
		}
	}
	for _, g := range spec.NodeGroups {
		for _, n := range g.Upstreams {
			out[n] = true
		}
		for _, l := range g.Listeners {
			for i := range l.Connections {
				for _, n := range l.Connections[i].Services() {
					out[n] = true
				}
			}
		}
	}
	return out
}

// meshRefusal says why the policy file keeps the mesh routes of a Service port from being
// served: the reason and message of their Accepted condition.
type meshRefusal struct {
	reason, msg string
	// cause, when set, says that the refusal stems from other mesh routes of spec, which
	// refusing other ports may take away: "canary <name>" (a canary that also drives them) or
	// "service <name>" (a service of spec answering the port's names). Empty: it does not.
	cause string
	// kind is the kind of the routes refused (the port's older kind holds it all the same).
	kind string
}

// mergedMesh is a copy of base with defaults set and spec with copies of its services and
// canaries, after mergeMeshRoutes gave spec's mesh routes to base's services, with what
// mergeMeshRoutes says of them. base may be nil (no policy file).
func mergedMesh(base *policy.Policy, spec policy.Spec) (*policy.Policy, policy.Spec, meshMerge) {
	p := base.Clone()
	if p == nil {
		p = &policy.Policy{}
	}
	p.SetDefaults() // a gateway group's single-listener form is in its listeners
	spec.Services, spec.Canaries = slices.Clone(spec.Services), slices.Clone(spec.Canaries)
	m := mergeMeshRoutes(p, &spec)
	return p, spec, m
}

// meshRefusals are the Service ports whose mesh routes the merge with Input.File would not
// serve, beside Input.Beside, with why. It keeps in t.handed the services the served mesh
// routes send to the file's services instead (mergeMeshRoutes).
func (t *translator) meshRefusals() map[servicePort]meshRefusal {
	t.handed = nil
	if len(t.meshPorts) == 0 {
		return nil
	}
	spec := t.res.Spec
	for _, part := range t.in.Beside {
		if next, err := Splice(spec, part); err == nil {
			spec = next
		}
	}
	_, _, m := mergedMesh(t.in.File, spec)
	t.handed = m.handed
	out := map[servicePort]meshRefusal{}
	for sp, mp := range t.meshPorts {
		if r, ok := m.refused[mp.service]; ok {
			r.kind = mp.kind
			out[sp] = r
		}
	}
	return out
}

// fileServicesOf maps spec's services to the services of p that stand for the same
// Kubernetes Service ports (kubernetes discovery, same namespace, Service and port). Where
// several do, it takes the one named after the Service (whose names are the Service's, which
// the mesh's clients address), then the one speaking the same protocol, then the first.
func fileServicesOf(p *policy.Policy, spec *policy.Spec) map[string]*policy.Service {
	type port struct {
		namespace, service string
		port               uint32
	}
	byPort := map[port][]*policy.Service{}
	for i := range p.Spec.Services {
		f := &p.Spec.Services[i]
		if f.Discovery == policy.DiscoveryKubernetes {
			k := port{f.Namespace, cmp.Or(f.KubernetesService, f.Name), f.Port}
			byPort[k] = append(byPort[k], f)
		}
	}
	out := map[string]*policy.Service{}
	for _, s := range spec.Services {
		cands := byPort[port{s.Namespace, s.KubernetesService, s.Port}]
		if len(cands) == 0 {
			continue
		}
		rank := func(f *policy.Service) int {
			r := 0
			if f.Name == s.KubernetesService {
				r += 2
			}
			if f.Protocol == s.Protocol {
				r++
			}
			return r
		}
		best := cands[0]
		for _, f := range cands[1:] {
			if rank(f) > rank(best) {
				best = f
			}
		}
		out[s.Name] = best
	}
	return out
}

// proxylessGet names a proxyless gRPC group of p or spec that would get the routes of the
// mesh service named s ("" for none): its upstreams name s (or file, the file's service the
// routes go to), or it lists none (every service).
func proxylessGet(p *policy.Policy, spec *policy.Spec, s string, file *policy.Service) string {
	for _, gs := range [][]policy.NodeGroup{p.Spec.NodeGroups, spec.NodeGroups} {
		for _, g := range gs {
			if g.Kind == policy.NodeGRPC && (len(g.Upstreams) == 0 || slices.Contains(g.Upstreams, s) || file != nil && slices.Contains(g.Upstreams, file.Name)) {
				return g.Name
			}
		}
	}
	return ""
}

// viaFileServices is a copy of the routes of s, a mesh service of spec, whose backends and
// mirrors name the file's service of their port where it speaks their protocol (same; files
// are the file's services of their ports whatever the protocol: see mergeMeshRoutes),
// with the canaries all of whose routes are those renamed alike (their stable and canary
// services too, which a backend of weight 0 leaves out of the routes), and the renames made
// (spec's service to the file's). It renames nothing and says why (a refusal) when a route
// or canary would reach a file service's endpoints without its TLS, or would reach a service
// with TLS from a proxyless gRPC client (grpc: the proxyless group that gets the routes, if
// any), which cannot originate it.
func viaFileServices(s *policy.Service, files map[string]*policy.Service, same map[string]string, spec *policy.Spec, grpc string) ([]policy.Route, map[string]string, *meshRefusal) {
	own := map[string]bool{}
	for i := range s.Routes {
		own[s.Routes[i].Name] = true
	}
	var sent []string // the services the routes send to, and those the canaries over them may
	for i := range s.Routes {
		sent = append(sent, s.Routes[i].Services()...)
	}
	var mine []*policy.Canary      // the canaries all of whose routes are the service's
	blocked := map[string]string{} // services to the canary that keeps them from being renamed
	for i := range spec.Canaries {
		c := &spec.Canaries[i]
		in, out := slices.ContainsFunc(c.AllRoutes(), func(r string) bool { return own[r] }), slices.ContainsFunc(c.AllRoutes(), func(r string) bool { return !own[r] })
		switch {
		case in && out:
			blocked[c.Stable], blocked[c.Canary] = c.Name, c.Name // the canary's other routes keep spec's service
			sent = append(sent, c.Stable, c.Canary)
		case in:
			mine = append(mine, c)
			sent = append(sent, c.Stable, c.Canary)
		}
	}
	rename := map[string]string{}
	for _, n := range sent {
		if f := same[n]; f != "" && blocked[n] == "" {
			rename[n] = f
		}
	}
	// The first refusal whose cause refusing other ports cannot take away, else the first.
	var first *meshRefusal
	for _, n := range sent {
		f := files[n]
		var r *meshRefusal
		switch {
		case f != nil && rename[n] == "" && f.TLS != nil:
			why := "it speaks " + string(f.Protocol)
			if i := slices.IndexFunc(spec.Services, func(ss policy.Service) bool { return ss.Name == n }); i >= 0 {
				why += ", not " + string(spec.Services[i].Protocol)
			}
			// Blocked by a canary (else n would be renamed where the file's service speaks its
			// protocol), refusing the canary's other routes may unblock it, unless a proxyless
			// group gets the routes, which could not reach the file's service either.
			cause := ""
			switch {
			case same[n] == "":
			case grpc != "":
				why = fmt.Sprintf("a canary also drives other routes with it, and proxyless gRPC group %s, which gets them, could not originate its TLS", grpc)
			default:
				why, cause = "a canary also drives other routes with it", "canary "+blocked[n]
			}
			r = &meshRefusal{reason: string(gwv1.RouteReasonUnsupportedValue), msg: fmt.Sprintf("the routes of this Service port would reach the endpoints of the policy file's service %q without its TLS (they cannot send to it instead: %s)", f.Name, why), cause: cause}
		case f != nil && rename[n] != "" && f.TLS != nil && grpc != "":
			r = &meshRefusal{reason: string(gwv1.RouteReasonUnsupportedValue), msg: fmt.Sprintf("the routes of this Service port would send to the policy file's service %q, which has TLS, and proxyless gRPC group %s gets them: proxyless gRPC clients cannot originate TLS", f.Name, grpc)}
		}
		if r != nil && r.cause == "" {
			return nil, nil, r
		}
		if first == nil {
			first = r
		}
	}
	if first != nil {
		return nil, nil, first
	}
	routes := make([]policy.Route, len(s.Routes))
	for i, r := range s.Routes {
		r.Backends, r.Mirrors = slices.Clone(r.Backends), slices.Clone(r.Mirrors)
		for j := range r.Backends {
			r.Backends[j].Service = cmp.Or(rename[r.Backends[j].Service], r.Backends[j].Service)
		}
		for j := range r.Mirrors {
			r.Mirrors[j].Service = cmp.Or(rename[r.Mirrors[j].Service], r.Mirrors[j].Service)
		}
		routes[i] = r
	}
	for _, c := range mine {
		c.Stable = cmp.Or(rename[c.Stable], c.Stable)
		c.Canary = cmp.Or(rename[c.Canary], c.Canary)
	}
	return routes, rename, nil
}

// answeredNames are the names (lower-cased, as Envoy compares domains) that the services of
// p and spec answer and the domains of the virtual hosts their proxyless gRPC groups serve
// as targets (where a service's names are targets too), each with what answers it: "service
// <name>" or "virtual host <name>".
func answeredNames(p *policy.Policy, spec *policy.Spec) map[string][]string {
	out := map[string][]string{}
	for _, ss := range [][]policy.Service{p.Spec.Services, spec.Services} {
		for i := range ss {
			for _, d := range ss[i].Domains() {
				d = strings.ToLower(d)
				out[d] = append(out[d], "service "+ss[i].Name)
			}
		}
	}
	for _, sp := range []*policy.Spec{&p.Spec, spec} {
		for _, g := range sp.NodeGroups {
			if g.Kind != policy.NodeGRPC {
				continue
			}
			for _, name := range g.VirtualHosts {
				for _, vs := range []*policy.Spec{&p.Spec, spec} {
					for _, vh := range vs.VirtualHosts {
						if vh.Name == name {
							for _, d := range vh.Domains {
								d = strings.ToLower(d)
								out[d] = append(out[d], "virtual host "+vh.Name)
							}
						}
					}
				}
			}
		}
	}
	return out
}
