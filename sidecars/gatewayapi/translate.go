// Package gatewayapi translates Gateway API objects (GatewayClass, Gateway, HTTPRoute,
// GRPCRoute, BackendTLSPolicy, standard channel) and the attached policies into the traffic
// policy model (services, virtual hosts, node groups, canaries) that the YAML policy also
// produces, so both reach proxies through the one translation of package translate; and it
// computes the status conditions the Gateway API asks an implementation to write. It is
// pure: objects in, policy and statuses out, no I/O and no clock (the time of the conditions
// is passed in). What must outlive one translation so that the last good state keeps serving
// (a Secret's last valid certificate, a ConfigMap's last valid CA certificates, a policy's
// last accepted spec: LastGood) is handed out in the Result and back in with the next Input.
//
// Mapping:
//
//   - A Gateway of a GatewayClass whose controllerName is ours becomes two node groups:
//     "gw.<namespace>.<name>" (kind gateway, Envoy with a listener per port of the Gateway's
//     served listeners; listeners on one port must agree on HTTP or HTTPS) selected by the
//     node metadata foresight.dev/gateway=<namespace>.<name>, and "gw.<namespace>.<name>.grpc"
//     (kind grpc, proxyless gRPC clients, one target per hostname, with the routes of one of
//     the ports serving it: see build) selected by the same key and
//     foresight.dev/proxyless=true. Long names are shortened (GatewayNodeGroup).
//   - Each hostname a route serves on a port of a Gateway (the ports of the listeners it is
//     attached to) becomes a virtual host holding the matches of every route attached there
//     for it, in the Gateway API's precedence order, named "<group>/<hostname>", or
//     "<group>/<hostname>:<port>" when the Gateway's HTTP and HTTPS listeners have more than
//     one port; each match of a rule becomes a policy route named
//     "<virtual host>:<kind>/<namespace>/<name>/<rule>/<match>".
//     Of an HTTPRoute and a GRPCRoute whose hostnames overlap on one listener, only the older
//     is attached, as the Gateway API requires; the other is not accepted (Conflicted).
//   - An HTTPRoute or GRPCRoute whose parent is a Service (a mesh route) gives the policy
//     service of each Service port it is attached to client-side routes (mesh.go); Merge
//     hands them to the policy file's service of that port when there is one.
//   - Each backendRef to a Service port becomes a policy service "<namespace>-<service>-<port>"
//     (unique per Service port and protocol: service, uniqueJoins) with kubernetes discovery;
//     weights are kept as the route gives them (relative).
//   - A CanaryPolicy becomes a policy canary over every route its targets translate to.
//   - A BackendTrafficPolicy sets the timeout, retries and fault of every route its route
//     targets translate to, and those and the circuit breaker and outlier detection of the
//     policy services of its Service targets.
//   - An ExperimentPolicy becomes an experiment (package experiment) whose fault targets are
//     those routes and services.
//   - A BackendTLSPolicy gives the policy services of the Services (or Service ports) it
//     targets their TLS (backendTLSPolicies); proxyless gRPC groups leave those services out
//     (withoutTLSUpstreams).
package gatewayapi

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Node metadata keys that select a Gateway's node groups.
const (
	GatewayMetadataKey   = "foresight.dev/gateway"
	ProxylessMetadataKey = "foresight.dev/proxyless"
)

// Kinds of routes and parents.
const (
	KindGateway   = "Gateway"
	KindHTTPRoute = "HTTPRoute"
	KindGRPCRoute = "GRPCRoute"
	KindTLSRoute  = "TLSRoute"
	KindTCPRoute  = "TCPRoute"
	KindService   = "Service"
)

// Input is every object the translation reads.
type Input struct {
	// ControllerName is ours: GatewayClasses naming it are ours.
	ControllerName string
	GatewayClasses []*gwv1.GatewayClass
	Gateways       []*gwv1.Gateway
	HTTPRoutes     []*gwv1.HTTPRoute
	GRPCRoutes     []*gwv1.GRPCRoute
	// TLSRoutes pass TLS connections through TLS listeners by their server name; TCPRoutes
	// forward the connections of TCP listeners.
	TLSRoutes []*gwv1.TLSRoute
	TCPRoutes []*gwv1.TCPRoute
	// Services are the Kubernetes Services backendRefs may name.
	Services       []*corev1.Service
	CanaryPolicies []*CanaryPolicy
	// BackendTrafficPolicies and ExperimentPolicies are the other attached policies.
	BackendTrafficPolicies []*BackendTrafficPolicy
	ExperimentPolicies     []*ExperimentPolicy
	// BackendTLSPolicies make the proxies connect to the Services they target with TLS.
	BackendTLSPolicies []*gwv1.BackendTLSPolicy
	// Served says which of the kinds a cluster may lack the API serves (so they are watched
	// and their features supported).
	Served ServedKinds
	// ProxyServiceAccount names the ServiceAccount, in each Gateway's namespace, that the
	// Gateway's Envoy proxies run as: under serve --require-node-identity its Envoy node
	// group admits only that ServiceAccount's SPIFFE ID. Zero: every ServiceAccount of the
	// namespace. A Gateway for which it names no valid ServiceAccount is not accepted.
	ProxyServiceAccount ServiceAccountTemplate
	// Checks say what the proxies accept: a rule with a regex whose RE2 program is larger
	// than they allow is dropped on its own status rather than refused with the whole
	// configuration.
	Checks check.Options
	// Now is the transition time of new conditions.
	Now time.Time

	// ReferenceGrants permit references to objects in other namespaces.
	ReferenceGrants []*gwv1.ReferenceGrant
	// ListenerSets add listeners to the Gateways that allow them (spec.allowedListeners).
	ListenerSets []*gwv1.ListenerSet
	// Secrets are the kubernetes.io/tls Secrets HTTPS listeners' certificateRefs may name;
	// only the referenced ones are read.
	Secrets []*corev1.Secret
	// ConfigMaps are the ConfigMaps the client certificate validation of HTTPS listeners
	// may name (spec.tls.frontend); only the ca.crt of the referenced ones is read.
	ConfigMaps []*corev1.ConfigMap
	// Namespaces are the cluster's namespaces; only their names and labels are read, by
	// the listeners whose allowedRoutes.namespaces.from is Selector (a route in a namespace
	// not listed is not selected).
	Namespaces []*corev1.Namespace
	// LastGood is the previous translation's Result.LastGood (nil for none): the last
	// valid certificates and the last accepted policies that keep serving while their
	// objects are invalid.
	LastGood *LastGood
	// File is the policy file the translation is merged with (Merge; nil for none): the mesh
	// routes that the merge would not serve, because the file routes their Service port
	// itself or has TLS they would skip, are not accepted there, and say why.
	File *policy.Policy
	// Beside are parts served beside the translation, spliced into it (Splice; one that does
	// not splice is left out): the last good parts of Gateways refused on their own. The
	// merge with File that tells which mesh routes are served sees them too.
	Beside []policy.Spec
}

// ServedKinds says which kinds of the Gateway API's standard channel that older CRDs lack
// the API serves.
type ServedKinds struct {
	// BackendTLSPolicies of gateway.networking.k8s.io/v1.
	BackendTLSPolicies bool
	// TLSRoutes and TCPRoutes of gateway.networking.k8s.io/v1.
	TLSRoutes, TCPRoutes bool
	// ListenerSets of gateway.networking.k8s.io/v1.
	ListenerSets bool
}

// Result is the translation: the policy parts and the statuses to write.
type Result struct {
	// Spec holds the services, virtual hosts, node groups and canaries of our Gateways.
	Spec policy.Spec
	// GatewayClasses are the conditions of our classes, by name.
	GatewayClasses map[string][]metav1.Condition
	// SupportedFeatures are the status.supportedFeatures of the classes we accept.
	SupportedFeatures []gwv1.SupportedFeature
	// Gateways are the statuses of our Gateways, but for the Programmed conditions, which
	// tell whether the translation was applied and are the caller's to add.
	Gateways map[types.NamespacedName]*gwv1.GatewayStatus
	// HTTPRoutes and GRPCRoutes are our parent statuses of routes with a parentRef to one of
	// our Gateways (other controllers' entries are not included).
	HTTPRoutes map[types.NamespacedName][]gwv1.RouteParentStatus
	GRPCRoutes map[types.NamespacedName][]gwv1.RouteParentStatus
	// TLSRoutes and TCPRoutes are those of TLSRoutes and TCPRoutes.
	TLSRoutes map[types.NamespacedName][]gwv1.RouteParentStatus
	TCPRoutes map[types.NamespacedName][]gwv1.RouteParentStatus
	// CanaryPolicies are the ancestor statuses of CanaryPolicies.
	CanaryPolicies map[types.NamespacedName][]gwv1.PolicyAncestorStatus
	// CanaryNames are the names of the policy canaries of the CanaryPolicies (canaryName),
	// under which the canary controller keeps their rollouts.
	CanaryNames map[types.NamespacedName]string
	// BackendTrafficPolicies and ExperimentPolicies are the ancestor statuses of the other
	// attached policies.
	BackendTrafficPolicies map[types.NamespacedName][]gwv1.PolicyAncestorStatus
	ExperimentPolicies     map[types.NamespacedName][]gwv1.PolicyAncestorStatus
	// BackendTLSPolicies are the ancestor statuses of BackendTLSPolicies.
	BackendTLSPolicies map[types.NamespacedName][]gwv1.PolicyAncestorStatus
	// Experiments are the accepted ExperimentPolicies, for the experiment runner.
	Experiments []*experiment.Experiment
	// Unserved are the listeners of each Gateway that serve nothing, with why (for their
	// Programmed condition); a listener not in it is served.
	Unserved map[types.NamespacedName]map[gwv1.SectionName]string
	// ListenerSets are the statuses of the ListenerSets whose parent is one of our Gateways,
	// but for the Programmed conditions (the caller's, as for Gateways); ListenerSetGateways
	// are those parents, and ListenerSetUnserved the listeners of each ListenerSet that
	// serve nothing, with why.
	ListenerSets        map[types.NamespacedName]*gwv1.ListenerSetStatus
	ListenerSetGateways map[types.NamespacedName]types.NamespacedName
	ListenerSetUnserved map[types.NamespacedName]map[gwv1.SectionName]string
	// AddressesNotAssigned says, for each accepted Gateway whose spec.addresses requests
	// addresses, that foresight-xds assigns none (for its Programmed condition).
	AddressesNotAssigned map[types.NamespacedName]string
	// LastGood is what the next translation needs (its Input.LastGood).
	LastGood *LastGood
}

// Translate translates in. Objects it cannot serve are left out of Spec and say why in
// their status; the rest is translated.
//
// Mesh routes the merge with in.File would not serve (mergeMeshRoutes) are not accepted on
// their Service ports either: the translation runs again without them, until every mesh
// route it accepts is served (each run refuses more ports, so it ends). A refusal that other
// ports' routes cause (a canary that also drives them, a name a service of theirs answers)
// waits for the others, whose refusal may take its cause away; such refusals are then made
// one port of each cause (each canary, each answering service) at a time, and at the end
// each is given back where the merge serves the translation without it. Past
// maxMeshRetranslations extra runs of that kind, the rest are made together and kept (and
// none is given back when there are more than the runs left): more is refused than needed,
// never less.
func Translate(in *Input) *Result {
	t, _ := translateMesh(in)
	t.noteHanded()
	return t.res
}

// translateMesh is Translate's translation, with the Service ports whose mesh routes it
// refused.
func translateMesh(in *Input) (*translator, map[servicePort]meshRefusal) {
	var refused map[servicePort]meshRefusal
	spare := maxMeshRetranslations // runs left for refusals made one at a time and given back
	for {
		t := translateOnce(in, refused)
		more := t.meshRefusals()
		if len(more) == 0 {
			caused := slices.DeleteFunc(slices.SortedFunc(maps.Keys(refused), compareServicePorts), func(sp servicePort) bool { return refused[sp].cause == "" })
			if len(caused) > spare {
				return t, refused // too many to try each: refused as they are
			}
			for _, sp := range caused {
				less := maps.Clone(refused)
				delete(less, sp)
				if u := translateOnce(in, less); len(u.meshRefusals()) == 0 {
					t, refused = u, less
				}
			}
			return t, refused
		}
		if refused == nil {
			refused = map[servicePort]meshRefusal{}
		}
		own := maps.Clone(more)
		maps.DeleteFunc(own, func(_ servicePort, r meshRefusal) bool { return r.cause != "" })
		switch {
		case len(own) > 0:
			more = own
		case spare > 0:
			// One port of each cause at a time: refusing it may take the others' cause away.
			spare--
			one, seen := map[servicePort]meshRefusal{}, map[string]bool{}
			for _, sp := range slices.SortedFunc(maps.Keys(more), compareServicePorts) {
				if r := more[sp]; !seen[r.cause] {
					one[sp], seen[r.cause] = r, true
				}
			}
			more = one
		}
		maps.Copy(refused, more)
	}
}

// maxMeshRetranslations bounds the extra translations Translate runs to refuse, and give
// back, the refusals of mesh routes that other ports' routes cause (each costs one).
const maxMeshRetranslations = 8

// translateOnce translates in with the mesh routes of the Service ports refused not
// attached to them.
func translateOnce(in *Input, refused map[servicePort]meshRefusal) *translator {
	t := &translator{in: in, meshRefused: refused, res: &Result{
		GatewayClasses:         map[string][]metav1.Condition{},
		Gateways:               map[types.NamespacedName]*gwv1.GatewayStatus{},
		HTTPRoutes:             map[types.NamespacedName][]gwv1.RouteParentStatus{},
		GRPCRoutes:             map[types.NamespacedName][]gwv1.RouteParentStatus{},
		TLSRoutes:              map[types.NamespacedName][]gwv1.RouteParentStatus{},
		TCPRoutes:              map[types.NamespacedName][]gwv1.RouteParentStatus{},
		CanaryPolicies:         map[types.NamespacedName][]gwv1.PolicyAncestorStatus{},
		BackendTrafficPolicies: map[types.NamespacedName][]gwv1.PolicyAncestorStatus{},
		ExperimentPolicies:     map[types.NamespacedName][]gwv1.PolicyAncestorStatus{},
		BackendTLSPolicies:     map[types.NamespacedName][]gwv1.PolicyAncestorStatus{},
		Unserved:               map[types.NamespacedName]map[gwv1.SectionName]string{},
		ListenerSets:           map[types.NamespacedName]*gwv1.ListenerSetStatus{},
		ListenerSetGateways:    map[types.NamespacedName]types.NamespacedName{},
		ListenerSetUnserved:    map[types.NamespacedName]map[gwv1.SectionName]string{},
		AddressesNotAssigned:   map[types.NamespacedName]string{},
		LastGood:               newLastGood(),
	}, services: map[types.NamespacedName]*corev1.Service{},
		gateways: map[types.NamespacedName]*gateway{}, listenerSets: map[types.NamespacedName]*listenerSet{}, routesOf: map[routeKey][]string{}}
	t.prev = in.LastGood
	if t.prev == nil {
		t.prev = newLastGood()
	}
	for _, s := range in.Services {
		t.services[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
	}
	t.secrets = make(map[types.NamespacedName]*corev1.Secret, len(in.Secrets))
	for _, s := range in.Secrets {
		t.secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
	}
	t.configMaps = make(map[types.NamespacedName]*corev1.ConfigMap, len(in.ConfigMaps))
	for _, c := range in.ConfigMaps {
		t.configMaps[types.NamespacedName{Namespace: c.Namespace, Name: c.Name}] = c
	}
	t.nsLabels = make(map[string]labels.Set, len(in.Namespaces))
	for _, n := range in.Namespaces {
		t.nsLabels[n.Name] = n.Labels
	}
	t.classes()
	t.gatewaysOf()
	t.backendTLSPolicies()
	t.routes()
	t.build()
	t.buildMesh()
	t.trafficPolicies()
	t.experiments()
	t.canaries()
	t.withMeshRoutes()
	t.backendTLSStatuses()
	t.withoutTLSUpstreams()
	return t
}

type translator struct {
	in  *Input
	res *Result
	// prev is the previous translation's last good state (never nil).
	prev     *LastGood
	services map[types.NamespacedName]*corev1.Service
	secrets  map[types.NamespacedName]*corev1.Secret
	// configMaps are Input.ConfigMaps by namespace and name.
	configMaps map[types.NamespacedName]*corev1.ConfigMap
	nsLabels   map[string]labels.Set // the labels of each namespace of Input.Namespaces
	ours       map[string]bool       // class names
	gateways   map[types.NamespacedName]*gateway
	gwOrder    []types.NamespacedName
	// listenerSets are the ListenerSets of our Gateways.
	listenerSets map[types.NamespacedName]*listenerSet
	// routesOf are the policy route names each Gateway API route translated to.
	routesOf map[routeKey][]string
	// routeSvcs and routeByName describe each policy route: the Kubernetes Services of its
	// rule (to their policy services), and the route.
	routeSvcs   map[string]map[string]string
	routeByName map[string]*policy.Route
	// routeGW are the Gateways each Gateway API route is attached to.
	routeGW map[routeKey][]types.NamespacedName
	// svcDefs are the policy services of resolved backendRefs, by name; canarySvcs those
	// the canaries need.
	svcDefs map[string]policy.Service
	// grpcPorts are the Service ports a GRPCRoute's backendRef names (grpcBackend).
	grpcPorts map[servicePort]bool
	// serviceJoins are the Services' "<namespace>-<service>" joins (joinedName).
	serviceJoins map[types.NamespacedName]string
	canarySvcs   []string
	// backendTLS is the TLS of each target of the BackendTLSPolicies, and backendTLSStates
	// what each policy resolved to.
	backendTLS       map[backendTLSKey]*backendTLS
	backendTLSStates map[types.NamespacedName]backendTLSState
	// svcGateways are the Gateways with a route to each policy service (built on first use).
	svcGateways map[string][]types.NamespacedName
	// svcsOf are the policy services of each Kubernetes Service (built on first use).
	svcsOf map[types.NamespacedName][]string
	// meshPorts are the Service ports mesh routes are attached to, and meshRoutes what they
	// give the ports' policy services, by name.
	meshPorts  map[servicePort]*meshPort
	meshRoutes map[string]*meshService
	// meshParents are the Services (in the route's namespace) each mesh route is attached to.
	meshParents map[routeKey][]string
	// meshRefused are the Service ports mesh routes are not attached to, with why: the merge
	// with Input.File would not serve them.
	meshRefused map[servicePort]meshRefusal
	// handed are the policy services the merge with Input.File sends the served mesh routes
	// to the file's services instead of, to the file's service (set by meshRefusals).
	handed map[string]string
	// onServices are the attached policies in force on policy services (a Service target).
	onServices []servicePolicy
}

// servicePolicy is an attached policy in force on the policy services of its Service
// targets.
type servicePolicy struct {
	statuses map[types.NamespacedName][]gwv1.PolicyAncestorStatus // its kind's, in Result
	nn       types.NamespacedName
	services []string
}

type routeKey struct {
	kind string
	nn   types.NamespacedName
}

// gateway is one of our Gateways while it is being translated.
type gateway struct {
	gw        *gwv1.Gateway
	status    *gwv1.GatewayStatus
	listeners []*listener
	// ports are the ports of the served listeners.
	ports map[int32]*gatewayPort
	// multiPort says the Gateway's HTTP and HTTPS listeners have more than one port: its
	// virtual hosts (and so its policy routes) are named with their port. httpPorts are
	// those ports; a ListenerSet's other ports are named with their port too, so that a
	// ListenerSet never renames the Gateway's own virtual hosts.
	multiPort bool
	httpPorts map[gwv1.PortNumber]bool
	// serviceAccount is the ServiceAccount its Envoy proxies run as (Input's
	// ProxyServiceAccount); empty: any of its namespace.
	serviceAccount string
	// sets are the ListenerSets whose parent it is, in the order their listeners yield.
	sets []*listenerSet
	// hostnames are the hostnames of the listeners of each port, its own and those of the
	// ListenerSets it admits, accepted or not ("" for none).
	hostnames map[gwv1.PortNumber][]gwv1.Hostname
	// claims are the protocol of each port of its accepted listeners, served or not: the
	// first accepted listener of a port decides it.
	claims map[gwv1.PortNumber]gwv1.ProtocolType
	// conflicts say why some of the Gateway's own listeners cannot be served beside the
	// others (conflictingListeners), by name.
	conflicts map[gwv1.SectionName]listenerConflict
}

// sniProtocol says whether listeners of protocol p are told apart by the TLS server name:
// HTTPS and TLS listeners (of either mode) may share a port, each for its own hostnames.
func sniProtocol(p gwv1.ProtocolType) bool {
	return p == gwv1.HTTPSProtocolType || p == gwv1.TLSProtocolType
}

// compatibleProtocols says whether listeners of protocols a and b may share a port.
func compatibleProtocols(a, b gwv1.ProtocolType) bool {
	return a == b || sniProtocol(a) && sniProtocol(b)
}

// listenerConflict is why a Gateway's own listener cannot be served beside the others.
type listenerConflict struct{ reason, msg string }

// conflictingListeners says, for each listener of a Gateway that foresight-xds cannot serve
// beside the Gateway's others, why: its port has listeners of protocols that are not
// compatible (compatibleProtocols: HTTPS and TLS listeners, of either TLS mode, are told
// apart by server name), or a TCP listener beside another listener (it takes every
// connection) (ProtocolConflict); or it shares its port and hostname (or the lack of one)
// with a listener of another protocol (HostnameConflict: the server name cannot tell them
// apart). Listeners of a protocol it does not serve do not count. As the Gateway API asks,
// none of the conflicting listeners is accepted: no listener wins over the others.
func conflictingListeners(ls []gwv1.Listener) map[gwv1.SectionName]listenerConflict {
	protocols := map[gwv1.PortNumber][]gwv1.ProtocolType{}
	for _, l := range ls {
		if routeKindsOf(l.Protocol) != nil {
			protocols[l.Port] = append(protocols[l.Port], l.Protocol)
		}
	}
	ports := map[gwv1.PortNumber]string{}
	for port, ps := range protocols {
		distinct := slices.Compact(slices.Sorted(slices.Values(ps)))
		switch {
		case slices.ContainsFunc(distinct[1:], func(p gwv1.ProtocolType) bool { return !compatibleProtocols(distinct[0], p) }):
			names := make([]string, len(distinct))
			for i, p := range distinct {
				names[i] = string(p)
			}
			ports[port] = fmt.Sprintf("port %d has listeners of protocols %s, which foresight-xds does not serve on one port: none of them is accepted", port, strings.Join(names, ", "))
		case distinct[0] == gwv1.TCPProtocolType && len(ps) > 1:
			ports[port] = fmt.Sprintf("port %d has %d TCP listeners, and a TCP listener takes every connection of its port: none of them is accepted", port, len(ps))
		}
	}
	out := map[gwv1.SectionName]listenerConflict{}
	for i, l := range ls {
		if routeKindsOf(l.Protocol) == nil {
			continue
		}
		if msg := ports[l.Port]; msg != "" {
			out[l.Name] = listenerConflict{string(gwv1.ListenerReasonProtocolConflict), msg}
			continue
		}
		for j, o := range ls {
			if i != j && o.Port == l.Port && o.Protocol != l.Protocol && routeKindsOf(o.Protocol) != nil && hostnameOrAny(o.Hostname) == hostnameOrAny(l.Hostname) {
				out[l.Name] = listenerConflict{string(gwv1.ListenerReasonHostnameConflict), fmt.Sprintf("listeners %s (%s) and %s (%s) both serve port %d for %s, and the TLS server name cannot tell them apart: neither is accepted",
					l.Name, l.Protocol, o.Name, o.Protocol, l.Port, hostnameOrAny(l.Hostname))}
			}
		}
	}
	return out
}

// gatewayPort is one port of a Gateway: an Envoy listener of its node group.
type gatewayPort struct {
	// protocol is the protocol of the port's listeners (they agree), HTTPS where HTTPS and
	// TLS listeners share the port.
	protocol gwv1.ProtocolType
	// certs are the certificates of the port's served HTTPS listeners.
	certs []policy.TLSCertificate
	// clientCAs and clientOptional are the port's client certificate validation (the
	// Gateway's is per port, so all its HTTPS listeners share it).
	clientCAs      []byte
	clientOptional bool
	// entries are the translated route matches by hostname.
	entries map[string][]entry
	// connections are the connection routes of a TLS or TCP port, in the order the routes
	// were attached (the older first), each Gateway API route's once.
	connections []*policy.ConnectionRoute
	connOf      map[connKey]*policy.ConnectionRoute
}

// connKey is a route's connection route on a port: one per TLS mode.
type connKey struct {
	route       routeKey
	passthrough bool
}

// waitsForConnections says whether g serves a port whose listeners forward connections but
// have no route yet.
func (g *gateway) waitsForConnections() bool {
	for _, gp := range g.ports {
		if gp.forwardsConnections() && len(gp.connections) == 0 {
			return true
		}
	}
	return false
}

// forwardsConnections says whether the port's listeners forward connections (TLS passthrough
// and TCP listeners) rather than serve HTTP.
func (gp *gatewayPort) forwardsConnections() bool {
	return gp.protocol == gwv1.TLSProtocolType || gp.protocol == gwv1.TCPProtocolType
}

type listener struct {
	l *gwv1.Listener
	// set is the ListenerSet the listener comes from; nil for one of the Gateway's own.
	set *listenerSet
	// accepted says the listener is Accepted: routes attach to it (and count in its
	// AttachedRoutes) even while it is not served; ok says it is served.
	accepted, ok bool
	kinds        []gwv1.RouteGroupKind
	// selector selects the namespaces of the routes allowed when allowedRoutes.namespaces.from
	// is Selector (nil otherwise).
	selector labels.Selector
	status   *gwv1.ListenerStatus
	// routes are the routes attached, each counted once in AttachedRoutes however many
	// parentRefs select the listener.
	routes map[routeKey]bool
	// hosts are the hostnames the attached routes of each kind serve on the listener, in
	// the order the routes were attached (the older first).
	hosts map[string][]attachedHosts
}

// attachedHosts are the hostnames one attached route serves on a listener.
type attachedHosts struct {
	route routeKey
	hosts []string
}

// entry is one match of one rule of one route, before ordering.
type entry struct {
	route policy.Route
	rank  rank
}

type rank struct {
	exact     bool
	prefixLen int
	regex     bool
	method    bool
	headers   int
	query     int
	created   time.Time
	nsName    string
	rule      int
	match     int
}

// maxMessage bounds a condition's message (the API allows 32,768 bytes).
const maxMessage = 4096

func (t *translator) cond(typ string, ok bool, reason, msg string, gen int64) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "") + " ..."
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(t.in.Now)}
}

func (t *translator) classes() {
	t.ours = map[string]bool{}
	t.res.SupportedFeatures = SupportedFeatures(t.in.Served)
	for _, c := range t.in.GatewayClasses {
		if string(c.Spec.ControllerName) != t.in.ControllerName {
			continue
		}
		t.ours[c.Name] = true
		if c.Spec.ParametersRef != nil {
			t.res.GatewayClasses[c.Name] = []metav1.Condition{t.cond(string(gwv1.GatewayClassConditionStatusAccepted), false,
				string(gwv1.GatewayClassReasonInvalidParameters), "foresight-xds takes no parametersRef", c.Generation)}
			delete(t.ours, c.Name)
			continue
		}
		t.res.GatewayClasses[c.Name] = []metav1.Condition{t.cond(string(gwv1.GatewayClassConditionStatusAccepted), true,
			string(gwv1.GatewayClassReasonAccepted), "handled by foresight-xds", c.Generation)}
	}
}

// routeKindsOf are the kinds of routes foresight-xds serves on listeners of protocol p, nil
// when it serves no such listener.
func routeKindsOf(p gwv1.ProtocolType) []gwv1.Kind {
	switch p {
	case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType:
		return []gwv1.Kind{KindHTTPRoute, KindGRPCRoute}
	case gwv1.TLSProtocolType:
		return []gwv1.Kind{KindTLSRoute}
	case gwv1.TCPProtocolType:
		return []gwv1.Kind{KindTCPRoute}
	}
	return nil
}

// kindList writes kinds as "A, B".
func kindList(kinds []gwv1.Kind) string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return strings.Join(out, ", ")
}

// portMode is a port, and whether its listener passes TLS through (passesTLSThrough).
type portMode struct {
	port        int32
	passthrough bool
}

// compare orders port modes by port, the terminating one first.
func (a portMode) compare(b portMode) int {
	switch {
	case a.port != b.port:
		return cmp.Compare(a.port, b.port)
	case a.passthrough == b.passthrough:
		return 0
	case b.passthrough:
		return -1
	}
	return 1
}

// passesTLSThrough says whether l is a TLS listener that passes TLS through to its routes'
// backends rather than terminating it.
func passesTLSThrough(l *gwv1.Listener) bool {
	return l.Protocol == gwv1.TLSProtocolType && tlsMode(l.TLS) == gwv1.TLSModePassthrough
}

// tlsMode is a listener's tls.mode (Terminate, the API's default, when unset).
func tlsMode(c *gwv1.ListenerTLSConfig) gwv1.TLSModeType {
	if c == nil || c.Mode == nil {
		return gwv1.TLSModeTerminate
	}
	return *c.Mode
}

// connectionKind says whether routes of kind forward whole connections (TLSRoute, TCPRoute)
// rather than HTTP requests.
func connectionKind(kind string) bool { return kind == KindTLSRoute || kind == KindTCPRoute }

func (t *translator) gatewaysOf() {
	gws := slices.Clone(t.in.Gateways)
	slices.SortFunc(gws, func(a, b *gwv1.Gateway) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, gw := range gws {
		if !t.ours[string(gw.Spec.GatewayClassName)] {
			continue
		}
		nn := types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}
		g := &gateway{gw: gw, status: &gwv1.GatewayStatus{}, ports: map[int32]*gatewayPort{}, claims: map[gwv1.PortNumber]gwv1.ProtocolType{},
			conflicts: conflictingListeners(gw.Spec.Listeners)}
		sets := t.listenerSetsOf(gw)
		g.sets = sets
		httpPorts := map[gwv1.PortNumber]bool{}
		for _, l := range gw.Spec.Listeners {
			if l.Protocol == gwv1.HTTPProtocolType || l.Protocol == gwv1.HTTPSProtocolType {
				httpPorts[l.Port] = true
			}
		}
		g.httpPorts, g.multiPort = httpPorts, len(httpPorts) > 1
		g.hostnames = map[gwv1.PortNumber][]gwv1.Hostname{}
		for _, l := range gw.Spec.Listeners {
			g.hostnames[l.Port] = append(g.hostnames[l.Port], hostnameOf(l.Hostname))
		}
		for _, set := range sets {
			if !set.allowed {
				continue
			}
			for _, l := range set.entries {
				g.hostnames[l.Port] = append(g.hostnames[l.Port], hostnameOf(l.Hostname))
			}
		}
		gen := gw.Generation
		// valid counts the accepted listeners; invalid are the others.
		valid := 0
		var invalid []string
		for i := range gw.Spec.Listeners {
			li := t.addListener(g, &gw.Spec.Listeners[i], nil, gen)
			if li.accepted {
				valid++
			} else {
				invalid = append(invalid, string(li.l.Name))
			}
		}
		unsupported, requested := addresses(gw)
		sa, saErr := t.in.ProxyServiceAccount.Name(gw.Name)
		g.serviceAccount = sa
		switch {
		case unsupported != "":
			t.refuseGateway(g, string(gwv1.GatewayReasonUnsupportedAddress), unsupported)
		case gw.Spec.Infrastructure != nil && gw.Spec.Infrastructure.ParametersRef != nil:
			// As for a GatewayClass: foresight-xds takes no parameters, so a reference is to a
			// kind it does not support.
			ref := gw.Spec.Infrastructure.ParametersRef
			t.refuseGateway(g, string(gwv1.GatewayReasonInvalidParameters), fmt.Sprintf("foresight-xds takes no infrastructure.parametersRef (%s %s)", groupKind(string(ref.Group), string(ref.Kind)), ref.Name))
		case saErr != nil:
			t.refuseGateway(g, string(gwv1.GatewayReasonInvalid), fmt.Sprintf("the ServiceAccount of its proxies (serve --gateway-service-account %s): %v", t.in.ProxyServiceAccount, saErr))
		case valid == 0:
			g.status.Conditions = []metav1.Condition{t.cond(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonListenersNotValid), "no listener foresight-xds can accept", gen)}
		default:
			accepted := t.cond(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonAccepted), "accepted", gen)
			if len(invalid) > 0 {
				// The API's reason when some listeners are not accepted but the others are.
				accepted = t.cond(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonListenersNotValid),
					"accepted; listeners not accepted: "+strings.Join(invalid, ", ")+" (their conditions say why)", gen)
			}
			g.status.Conditions = []metav1.Condition{accepted}
			if fields := insecureFrontendValidation(gw); len(fields) > 0 {
				g.status.Conditions = append(g.status.Conditions, t.cond(string(gwv1.GatewayConditionInsecureFrontendValidationMode), true, string(gwv1.GatewayReasonConfigurationChanged),
					strings.Join(fields, ", ")+": AllowInsecureFallback: clients without a valid certificate are let through, and the backends decide", gen))
			}
			if tls := gw.Spec.TLS; tls != nil && tls.Backend != nil && tls.Backend.ClientCertificateRef != nil {
				// Not served: the proxies present no client certificate to backends. The
				// Gateway is served without it, and says so.
				ref := tls.Backend.ClientCertificateRef
				g.status.Conditions = append(g.status.Conditions, t.cond(string(gwv1.GatewayConditionResolvedRefs), false, string(gwv1.GatewayReasonInvalidClientCertificateRef),
					fmt.Sprintf("spec.tls.backend.clientCertificateRef (Secret %s) is not supported: the proxies connect to backends without a client certificate", ref.Name), gen))
			}
			if requested != "" {
				t.res.AddressesNotAssigned[nn] = requested
			}
			// The ListenerSets' listeners come after the Gateway's own, which they may not
			// take a port or hostname from.
			for _, set := range sets {
				if set.allowed {
					for i := range set.entries {
						t.addListener(g, &set.entries[i], set, set.ls.Generation)
					}
				}
			}
		}
		t.listenerSetConditions(g, meta.IsStatusConditionTrue(g.status.Conditions, string(gwv1.GatewayConditionAccepted)))
		t.gateways[nn] = g
		t.gwOrder = append(t.gwOrder, nn)
		t.res.Gateways[nn] = g.status
	}
}

// addListener checks listener l of Gateway g (of ListenerSet set, nil for the Gateway's own),
// whose conditions observe generation gen, adds it to g's listeners and, when it is served,
// to its port, and returns it. TLS listeners of one port may pass TLS through and terminate
// it, each for its own hostnames.
func (t *translator) addListener(g *gateway, l *gwv1.Listener, set *listenerSet, gen int64) *listener {
	ls := &gwv1.ListenerStatus{Name: l.Name, SupportedKinds: []gwv1.RouteGroupKind{}}
	li := &listener{l: l, set: set, status: ls, routes: map[routeKey]bool{}, hosts: map[string][]attachedHosts{}}
	accepted, reason, msg := true, string(gwv1.ListenerReasonAccepted), "listener accepted"
	resolved, rreason, rmsg := true, string(gwv1.ListenerReasonResolvedRefs), "references resolved"
	conflicted, creason, cmsg := false, string(gwv1.ListenerReasonNoConflicts), "no conflicts"
	sel, selErr := namespaceSelector(l)
	li.selector = sel
	routeKinds := routeKindsOf(l.Protocol)
	claim, claimed := g.claims[l.Port]
	switch {
	case routeKinds == nil:
		accepted, reason, msg = false, string(gwv1.ListenerReasonUnsupportedProtocol), fmt.Sprintf("protocol %s is not supported: foresight-xds serves HTTP listeners (HTTP/1.1, h2c and gRPC), HTTPS listeners that terminate TLS, TLS listeners that pass it through and TCP listeners", l.Protocol)
	case set == nil && g.conflicts[l.Name].reason != "":
		c := g.conflicts[l.Name]
		accepted, reason, msg = false, c.reason, c.msg
		conflicted, creason, cmsg = true, c.reason, msg
	case l.Hostname != nil && badHostname([]gwv1.Hostname{*l.Hostname}) != "":
		accepted, reason, msg = false, string(gwv1.ListenerReasonUnsupportedValue), fmt.Sprintf("hostname %q is not a hostname", *l.Hostname)
	// An earlier accepted listener keeps its port's protocol whether or not it is served
	// (its certificates may not be there yet): a later one may not take the port over.
	case claimed && !compatibleProtocols(l.Protocol, claim):
		accepted, reason, msg = false, string(gwv1.ListenerReasonProtocolConflict), fmt.Sprintf("port %d serves %s and cannot also serve %s", l.Port, claim, l.Protocol)
		conflicted, creason, cmsg = true, string(gwv1.ListenerReasonProtocolConflict), msg
	case claimed && l.Protocol == gwv1.TCPProtocolType:
		// A TCP listener takes every connection of its port (hostnames do not apply).
		accepted, reason, msg = false, string(gwv1.ListenerReasonProtocolConflict), fmt.Sprintf("port %d already has a TCP listener, which takes every connection of the port", l.Port)
		conflicted, creason, cmsg = true, string(gwv1.ListenerReasonProtocolConflict), msg
	case set != nil && g.sameHostname(l) != nil:
		// A Gateway's own listeners are distinct (its CRD says so); a ListenerSet's may
		// repeat one of the Gateway's or of an older ListenerSet, which keeps it.
		accepted, reason, msg = false, string(gwv1.ListenerReasonHostnameConflict), fmt.Sprintf("%s already serves port %d for %s", g.sameHostname(l).conflictName(), l.Port, hostnameOrAny(l.Hostname))
		conflicted, creason, cmsg = true, string(gwv1.ListenerReasonHostnameConflict), msg
	case selErr != "":
		accepted, reason, msg = false, string(gwv1.ListenerReasonUnsupportedValue), selErr
	}
	kinds := []gwv1.RouteGroupKind{}
	if l.AllowedRoutes != nil && len(l.AllowedRoutes.Kinds) > 0 {
		for _, k := range l.AllowedRoutes.Kinds {
			if (k.Group == nil || *k.Group == gwv1.GroupName) && slices.Contains(routeKinds, k.Kind) {
				kinds = append(kinds, gwv1.RouteGroupKind{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: k.Kind})
			} else {
				resolved, rreason, rmsg = false, string(gwv1.ListenerReasonInvalidRouteKinds), fmt.Sprintf("route kind %s is not supported on a %s listener (%s)", k.Kind, l.Protocol, kindList(routeKinds))
			}
		}
	} else {
		for _, k := range routeKinds {
			kinds = append(kinds, gwv1.RouteGroupKind{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: k})
		}
	}
	// An HTTPS listener is served only with valid certificates (or the last valid
	// ones of Secrets that turned invalid); one that is accepted but whose
	// certificates do not resolve is not programmed.
	served, unserved := accepted, "listener not accepted"
	var certs []policy.TLSCertificate
	var cr certResult
	if accepted && (l.Protocol == gwv1.HTTPSProtocolType || l.Protocol == gwv1.TLSProtocolType && tlsMode(l.TLS) == gwv1.TLSModeTerminate) {
		cr = t.certRefs(g.gw, li.from(g), l)
		certs = cr.certs
		switch {
		case !cr.accepted:
			accepted, reason, msg, served = false, cr.reason, cr.msg, false
			if cr.refReason != "" {
				resolved, rreason, rmsg = false, cr.refReason, cr.refMsg
			}
		case !cr.resolved:
			resolved, rreason, rmsg, served = false, cr.reason, cr.msg, cr.served
			unserved = "certificate references not resolved"
		}
		if why := g.foreignCertificateName(li, certs); served && why != "" {
			resolved, rreason, rmsg, served = false, string(gwv1.ListenerReasonInvalidCertificateRef), why, false
			unserved = "its certificate names a hostname it does not serve"
		}
	}
	if !served {
		t.unserved(g, li, unserved)
	}
	if accepted {
		ls.SupportedKinds = kinds
	}
	if served {
		gp := g.ports[l.Port]
		if gp == nil {
			gp = &gatewayPort{protocol: l.Protocol, entries: map[string][]entry{}}
			g.ports[l.Port] = gp
		}
		if l.Protocol == gwv1.HTTPSProtocolType {
			// A port with HTTPS and TLS listeners serves HTTP, with a filter chain per
			// TLS route beside it.
			gp.protocol = l.Protocol
		}
		gp.certs = append(gp.certs, certs...)
		if cr.clientCAs != nil {
			gp.clientCAs, gp.clientOptional = cr.clientCAs, cr.clientOptional
		}
	}
	li.ok, li.accepted = served, accepted
	li.kinds = kinds
	if accepted && !claimed {
		g.claims[l.Port] = l.Protocol
	}
	ls.Conditions = []metav1.Condition{
		t.cond(string(gwv1.ListenerConditionAccepted), accepted, reason, msg, gen),
		t.cond(string(gwv1.ListenerConditionResolvedRefs), resolved, rreason, rmsg, gen),
		t.cond(string(gwv1.ListenerConditionConflicted), conflicted, creason, cmsg, gen),
	}
	g.listeners = append(g.listeners, li)
	return li
}

// refuseGateway says that the Gateway g is not accepted, for reason and msg: nothing of it is
// served.
func (t *translator) refuseGateway(g *gateway, reason, msg string) {
	g.status.Conditions = []metav1.Condition{t.cond(string(gwv1.GatewayConditionAccepted), false, reason, msg, g.gw.Generation)}
	g.ports = map[int32]*gatewayPort{}
	for _, li := range g.listeners {
		li.ok, li.accepted = false, false
		t.unserved(g, li, "Gateway not accepted")
	}
}

// unserved records that listener li of Gateway g serves nothing, and why: in Unserved for
// the Gateway's own listeners, in ListenerSetUnserved for a ListenerSet's.
func (t *translator) unserved(g *gateway, li *listener, why string) {
	m, nn := t.res.Unserved, types.NamespacedName{Namespace: g.gw.Namespace, Name: g.gw.Name}
	if li.set != nil {
		m, nn = t.res.ListenerSetUnserved, li.set.nn
	}
	if m[nn] == nil {
		m[nn] = map[gwv1.SectionName]string{}
	}
	m[nn][li.l.Name] = why
}

// addresses reads a Gateway's spec.addresses. foresight-xds assigns no address: the Service
// in front of a Gateway's proxies gives it its address. An address of a type other than
// IPAddress and Hostname cannot even be read (unsupported says which); requested, when the
// Gateway asks for IPAddress or Hostname addresses, says that they are not assigned.
func addresses(gw *gwv1.Gateway) (unsupported, requested string) {
	var asked []string
	for i, a := range gw.Spec.Addresses {
		typ := gwv1.IPAddressType
		if a.Type != nil {
			typ = *a.Type
		}
		if typ != gwv1.IPAddressType && typ != gwv1.HostnameAddressType {
			return fmt.Sprintf("spec.addresses[%d]: address type %q is not supported (IPAddress, Hostname)", i, typ), ""
		}
		v := a.Value
		if v == "" {
			v = "any"
		}
		asked = append(asked, fmt.Sprintf("%s %s", typ, v))
	}
	if len(asked) == 0 {
		return "", ""
	}
	return "", fmt.Sprintf("the Gateway's proxies are served, but foresight-xds assigns no addresses: spec.addresses (%s) is not applied; the Service in front of the proxies gives the Gateway its address (remove spec.addresses)", strings.Join(asked, ", "))
}

// GatewayNodeGroup is the node group name of a Gateway's Envoy proxies; its proxyless gRPC
// clients' group has the suffix ".grpc". Names that would not leave room for the suffix
// within 63 characters are truncated and given a hash of the whole name.
func GatewayNodeGroup(namespace, name string) string {
	return fitName("gw."+namespace+"."+name, 63-len(".grpc"))
}

// GatewayMetadata is the node metadata value of GatewayMetadataKey that selects a Gateway.
func GatewayMetadata(namespace, name string) string { return namespace + "." + name }

// ServiceName is the policy service of a Kubernetes Service port.
func ServiceName(namespace, service string, port int32) string {
	return fitName(fmt.Sprintf("%s-%s-%d", namespace, service, port), 63)
}

// fitName returns n when it has at most limit characters, else its first limit-13
// characters, "-" and 12 hex digits of its SHA-256: distinct names stay distinct.
func fitName(n string, limit int) string {
	if len(n) <= limit {
		return n
	}
	h := sha256.Sum256([]byte(n))
	return n[:limit-13] + "-" + hex.EncodeToString(h[:6])
}

// uniqueJoins gives each object "<namespace>-<name>", unique among them: where several join
// alike (api-v1 in namespace shop, v1 in shop-api), the oldest (then by namespace and name)
// keeps the join and the others insert 12 hex digits of a hash of their namespace and name,
// numbered where that is another's join too (a namespace made to look like one). So an
// object created later in another namespace never takes, nor renames, an existing one's.
func uniqueJoins(metas []*metav1.ObjectMeta) map[types.NamespacedName]string {
	sorted := slices.Clone(metas)
	slices.SortFunc(sorted, cmpMeta)
	plain := make(map[string]bool, len(sorted))
	for _, m := range sorted {
		plain[m.Namespace+"-"+m.Name] = true
	}
	taken := make(map[string]bool, len(sorted))
	out := make(map[types.NamespacedName]string, len(sorted))
	for _, m := range sorted {
		j := m.Namespace + "-" + m.Name
		if taken[j] {
			h := sha256.Sum256([]byte(m.Namespace + "/" + m.Name))
			hashed := m.Namespace + "-" + hex.EncodeToString(h[:6]) + "-" + m.Name
			j = hashed
			for i := 1; taken[j] || plain[j]; i++ {
				j = fmt.Sprintf("%s-%d", hashed, i)
			}
		}
		taken[j] = true
		out[types.NamespacedName{Namespace: m.Namespace, Name: m.Name}] = j
	}
	return out
}

// routeSpec is what HTTPRoutes and GRPCRoutes have in common here.
type routeSpec struct {
	kind      string
	meta      *metav1.ObjectMeta
	parents   []gwv1.ParentReference
	hostnames []gwv1.Hostname
	// rules are the translated rules (nil entries for rules left out), with the problems
	// that keep the route from being accepted or its refs from resolving.
	rules       []*ruleOut
	unsupported string
	// ruleNames are the rules' optional names (nil for kinds whose rules have none).
	ruleNames []*gwv1.SectionName
	// dropped say which rules were left out and why, when others are served.
	dropped []string
}

// rulePath names rule ri of a route in messages: "rules[1]", with its name when it has one
// (`rules[1] (name "canary")`).
func rulePath(ri int, name *gwv1.SectionName) string {
	if name == nil || *name == "" {
		return fmt.Sprintf("rules[%d]", ri)
	}
	return fmt.Sprintf("rules[%d] (name %q)", ri, *name)
}

// addRule adds rule ri's translation, or leaves the rule out (a nil entry) for why.
func (rs *routeSpec) addRule(ri int, out *ruleOut, why string) {
	if why != "" {
		var name *gwv1.SectionName
		if ri < len(rs.ruleNames) {
			name = rs.ruleNames[ri]
		}
		rs.dropped = append(rs.dropped, fmt.Sprintf("%s: %s", rulePath(ri, name), why))
		out = nil
	}
	rs.rules = append(rs.rules, out)
}

// finish refuses the whole route when every rule was left out: the spec's
// PartiallyInvalid (rules dropped) is only for a route with some valid rules.
func (rs *routeSpec) finish() {
	if len(rs.dropped) > 0 && len(rs.dropped) == len(rs.rules) {
		rs.unsupported = strings.Join(rs.dropped, "; ")
		rs.dropped = nil
	}
}

type ruleOut struct {
	matches []policy.Route // one per match (two for some prefixes); Name unset
	// connection are the backends of a TLSRoute's or TCPRoute's rule (matches are none).
	connection []policy.Backend
	ranks      []rank
	keys       []string // the last element of each match's route name
	// svcs maps the Kubernetes Services of resolved backendRefs (weight 0 included) to
	// their policy services: by name in the route's namespace, by namespace/name in others.
	svcs      map[string]string
	unresolve *refProblem
}

func (r *ruleOut) add(m policy.Route, rk rank, key string) {
	r.matches = append(r.matches, m)
	r.ranks = append(r.ranks, rk)
	r.keys = append(r.keys, key)
}

type refProblem struct{ reason, msg string }

// routes translates the HTTPRoutes and GRPCRoutes and attaches them, oldest first (then by
// namespace/name), so that of an HTTPRoute and a GRPCRoute that conflict on a listener the
// one the Gateway API accepts is attached first (conflict).
func (t *translator) routes() {
	t.routeSvcs = map[string]map[string]string{}
	t.routeByName = map[string]*policy.Route{}
	t.routeGW = map[routeKey][]types.NamespacedName{}
	all := make([]*routeSpec, 0, len(t.in.HTTPRoutes)+len(t.in.GRPCRoutes)+len(t.in.TLSRoutes)+len(t.in.TCPRoutes))
	for _, r := range t.in.HTTPRoutes {
		all = append(all, t.httpRoute(r))
	}
	for _, r := range t.in.GRPCRoutes {
		all = append(all, t.grpcRoute(r))
	}
	for _, r := range t.in.TLSRoutes {
		all = append(all, t.connectionRoute(KindTLSRoute, &r.ObjectMeta, r.Spec.ParentRefs, r.Spec.Hostnames, refsOf(r.Spec.Rules, func(r gwv1.TLSRouteRule) []gwv1.BackendRef { return r.BackendRefs })))
	}
	for _, r := range t.in.TCPRoutes {
		all = append(all, t.connectionRoute(KindTCPRoute, &r.ObjectMeta, r.Spec.ParentRefs, nil, refsOf(r.Spec.Rules, func(r gwv1.TCPRouteRule) []gwv1.BackendRef { return r.BackendRefs })))
	}
	slices.SortStableFunc(all, func(a, b *routeSpec) int { return cmp.Or(cmpMeta(a.meta, b.meta), cmp.Compare(a.kind, b.kind)) })
	statuses := map[string]map[types.NamespacedName][]gwv1.RouteParentStatus{
		KindHTTPRoute: t.res.HTTPRoutes, KindGRPCRoute: t.res.GRPCRoutes, KindTLSRoute: t.res.TLSRoutes, KindTCPRoute: t.res.TCPRoutes,
	}
	for _, rs := range all {
		if st := t.attach(rs); len(st) > 0 {
			statuses[rs.kind][types.NamespacedName{Namespace: rs.meta.Namespace, Name: rs.meta.Name}] = st
		}
	}
}

func cmpMeta(a, b *metav1.ObjectMeta) int {
	return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// attach attaches a translated route to each of its parents that is one of our Gateways or
// a Service (a mesh route) and returns the route's parent statuses.
func (t *translator) attach(rs *routeSpec) []gwv1.RouteParentStatus {
	var out []gwv1.RouteParentStatus
	gen := rs.meta.Generation
	key := routeKey{rs.kind, types.NamespacedName{Namespace: rs.meta.Namespace, Name: rs.meta.Name}}
	for _, pr := range rs.parents {
		var accepted bool
		var reason, msg string
		if isServiceParent(pr) {
			accepted, reason, msg = t.attachToService(rs, pr, key)
		} else {
			g, set := t.parentOf(pr, rs.meta.Namespace)
			if g == nil {
				continue // not ours (or not there): another controller's business
			}
			accepted, reason, msg = t.attachTo(g, set, rs, pr, key)
		}
		st := gwv1.RouteParentStatus{ParentRef: pr, ControllerName: gwv1.GatewayController(t.in.ControllerName)}
		st.Conditions = append(st.Conditions, t.cond(string(gwv1.RouteConditionAccepted), accepted, reason, msg, gen))
		resolved, rreason, rmsg := true, string(gwv1.RouteReasonResolvedRefs), "all references resolved"
		for _, r := range rs.rules {
			if r != nil && r.unresolve != nil {
				resolved, rreason, rmsg = false, r.unresolve.reason, r.unresolve.msg
				break
			}
		}
		st.Conditions = append(st.Conditions, t.cond(string(gwv1.RouteConditionResolvedRefs), resolved, rreason, rmsg, gen))
		if accepted && len(rs.dropped) > 0 {
			st.Conditions = append(st.Conditions, t.cond(string(gwv1.RouteConditionPartiallyInvalid), true, string(gwv1.RouteReasonUnsupportedValue),
				"Dropped Rule(s): "+strings.Join(rs.dropped, "; "), gen))
		}
		out = append(out, st)
	}
	return out
}

// attachTo adds the route's entries to the Gateway's hostnames for the listeners the parent
// reference selects and allows, and says whether the route was accepted. A reference to the
// Gateway selects among its own listeners, one to its ListenerSet set among the set's.
func (t *translator) attachTo(g *gateway, set *listenerSet, rs *routeSpec, pr gwv1.ParentReference, key routeKey) (bool, string, string) {
	if rs.unsupported != "" {
		return false, string(gwv1.RouteReasonUnsupportedValue), rs.unsupported
	}
	matched, allowed, intersects := false, false, false
	// hostnames are the hostnames the route serves on each port (and, for TLSRoutes, TLS
	// mode: a port's TLS listeners may pass TLS through and terminate it).
	hostnames := map[portMode]map[string]bool{}
	served := map[*listener][]string{}
	// waiting are the accepted listeners the route attaches to that are not served yet (their
	// certificates do not resolve): the route counts in their AttachedRoutes, as the API
	// asks, and is served there once they are.
	var waiting []*listener
	var notes []string // why the route is not served on some listener it is attached to
	for _, li := range g.listeners {
		if li.set != set || pr.SectionName != nil && *pr.SectionName != li.l.Name || pr.Port != nil && *pr.Port != li.l.Port {
			continue
		}
		matched = true
		if !li.accepted || !t.allows(g, li, rs) {
			continue
		}
		allowed = true
		var hs []string
		if connectionKind(rs.kind) {
			if hs = connectionHostnames(g, li, rs.kind, rs.hostnames); len(hs) == 0 {
				continue
			}
			intersects = true
			free, msg := connectionConflict(li, key, hs)
			if msg != "" {
				// As the API asks of TCPRoutes: both routes are accepted and attached, and
				// the older one is served (for TLSRoutes, on the server names they share).
				notes = append(notes, msg)
			}
			if len(free) == 0 {
				waiting = append(waiting, li)
				continue
			}
			hs = free
		} else {
			if hs = intersect(li.l.Hostname, rs.hostnames); len(hs) == 0 {
				continue
			}
			intersects = true
			hs = ownHostnames(g, li, hs)
			if msg := conflict(li, key, hs); msg != "" {
				return false, routeReasonConflicted, msg
			}
		}
		if !li.ok {
			waiting = append(waiting, li)
			continue
		}
		served[li] = hs
		pm := portMode{li.l.Port, passesTLSThrough(li.l)}
		for _, h := range hs {
			if hostnames[pm] == nil {
				hostnames[pm] = map[string]bool{}
			}
			hostnames[pm][h] = true
		}
	}
	switch {
	case !matched:
		return false, string(gwv1.RouteReasonNoMatchingParent), "no listener matches the parentRef's sectionName and port"
	case !allowed:
		return false, string(gwv1.RouteReasonNotAllowedByListeners), "no listener allows this route (kind, namespace or listener not accepted)"
	case !intersects:
		return false, string(gwv1.RouteReasonNoMatchingListenerHostname), "no listener hostname matches the route's hostnames"
	}
	for _, li := range waiting {
		if !li.routes[key] {
			li.routes[key] = true
			li.status.AttachedRoutes++
		}
	}
	for li, hs := range served {
		if !li.routes[key] {
			li.routes[key] = true
			li.status.AttachedRoutes++
		}
		li.hosts[key.kind] = append(li.hosts[key.kind], attachedHosts{route: key, hosts: hs})
	}
	gnn := types.NamespacedName{Namespace: g.gw.Namespace, Name: g.gw.Name}
	if !slices.Contains(t.routeGW[key], gnn) {
		t.routeGW[key] = append(t.routeGW[key], gnn)
	}
	for _, pm := range slices.SortedFunc(maps.Keys(hostnames), portMode.compare) {
		gp := g.ports[pm.port]
		if connectionKind(rs.kind) {
			t.attachConnection(gp, slices.Sorted(maps.Keys(hostnames[pm])), rs, key, pm.passthrough)
			continue
		}
		for _, h := range slices.Sorted(maps.Keys(hostnames[pm])) {
			t.attachHost(g, gp, pm.port, h, rs, key)
		}
	}
	if len(notes) > 0 {
		return true, string(gwv1.RouteReasonAccepted), "accepted; not served where " + strings.Join(notes, "; ")
	}
	return true, string(gwv1.RouteReasonAccepted), "accepted"
}

// attachHost adds the route's matches to the virtual host of hostname h on port.
func (t *translator) attachHost(g *gateway, gp *gatewayPort, port int32, h string, rs *routeSpec, key routeKey) {
	vh := vhostName(g, port, h)
	for ri, r := range rs.rules {
		if r == nil {
			continue
		}
		for mi := range r.matches {
			pr := r.matches[mi]
			pr.Name = fmt.Sprintf("%s:%s/%s/%s/%d/%s", vh, rs.kind, rs.meta.Namespace, rs.meta.Name, ri, r.keys[mi])
			if t.routeByName[pr.Name] != nil {
				continue // another parentRef already put this match on this virtual host
			}
			pr.Redirect = listenerPort(pr.Redirect, port, gp.protocol)
			gp.entries[h] = append(gp.entries[h], entry{route: pr, rank: r.ranks[mi]})
			t.routesOf[key] = append(t.routesOf[key], pr.Name)
			t.routeSvcs[pr.Name] = r.svcs
			t.routeByName[pr.Name] = &pr
		}
	}
}

// isolatedHostnames adds to the port's entries, for each hostname of a served listener of
// port that no route serves there but a less specific listener's routes would (a listener
// for a.example.com without routes beside a catch-all listener with some), one route that
// answers 404: a request goes to the most specific listener whose hostname matches it, and
// that listener has no route for it. It returns those hostnames.
func isolatedHostnames(g *gateway, port int32) map[string]bool {
	gp := g.ports[port]
	out := map[string]bool{}
	for _, li := range g.listeners {
		if !li.ok || li.l.Port != port || li.l.Hostname == nil || *li.l.Hostname == "" {
			continue
		}
		h := string(*li.l.Hostname)
		if len(gp.entries[h]) > 0 || out[h] {
			continue
		}
		caught := false
		for k := range gp.entries {
			caught = caught || k == "*" || k != h && covers(gwv1.Hostname(k), h)
		}
		if !caught {
			continue
		}
		out[h] = true
		gp.entries[h] = []entry{{route: policy.Route{
			Name:           vhostName(g, port, h) + ":" + li.name() + "/no-route",
			Match:          policy.Match{Prefix: "/"},
			DirectResponse: &policy.DirectResponse{Status: 404, Body: "no route of listener " + li.name() + " matches"},
		}}}
	}
	return out
}

// ownHostnames are the hostnames of hs (a route's hostnames on listener li) that li serves:
// a request goes to the most specific listener of its port whose hostname matches it, so a
// hostname that another listener of the port covers with a more specific hostname (a
// listener for a.example.com or *.example.com beside one for every hostname) is that
// listener's, and a route attached to li does not serve it. Otherwise a route on a catch-all
// listener, from any namespace that listener admits, could add its rules to the hostname of
// a listener that admits only its own team's routes.
func ownHostnames(g *gateway, li *listener, hs []string) []string {
	out := hs[:0:0]
	for _, h := range hs {
		taken := slices.ContainsFunc(g.listeners, func(o *listener) bool {
			return o != li && o.ok && o.l.Port == li.l.Port && moreSpecific(o.l.Hostname, li.l.Hostname) && covers(*o.l.Hostname, h)
		})
		if !taken {
			out = append(out, h)
		}
	}
	return out
}

// moreSpecific says whether listener hostname a matches a strict subset of what b matches
// (b nil or empty matches every hostname).
func moreSpecific(a, b *gwv1.Hostname) bool {
	if a == nil || *a == "" || b != nil && *a == *b {
		return false
	}
	return b == nil || *b == "" || covers(*b, string(*a))
}

// covers says whether listener hostname l matches every request hostname h matches (h a
// hostname or a wildcard).
func covers(l gwv1.Hostname, h string) bool {
	return slices.Equal(intersect(&l, []gwv1.Hostname{gwv1.Hostname(h)}), []string{h})
}

// routeReasonConflicted is the Accepted=False reason of a route that lost a conflict with
// an older route of the other kind (the Gateway API names no reason for it).
const routeReasonConflicted = "Conflicted"

// conflict says why a route may not serve the hostnames hs on li: an HTTPRoute and a
// GRPCRoute whose hostnames there overlap may not both be attached to one listener, and
// the one attached first (the older) keeps it. It is "" when there is no such conflict.
func conflict(li *listener, key routeKey, hs []string) string {
	other := KindGRPCRoute
	if key.kind == KindGRPCRoute {
		other = KindHTTPRoute
	}
	for _, a := range li.hosts[other] {
		if h, ok := overlap(hs, a.hosts); ok {
			return fmt.Sprintf("listener %s already serves %s %s on hostname %s, and an HTTPRoute and a GRPCRoute may not share a hostname on one listener (the older one is accepted): give them hostnames that do not overlap or separate listeners",
				li.name(), other, a.route.nn, h)
		}
	}
	return ""
}

// overlap returns a hostname both sets serve a request for ("*" serves every one), and
// whether there is one.
func overlap(a, b []string) (string, bool) {
	for _, x := range a {
		for _, y := range b {
			if x == "*" {
				return y, true
			}
			if y == "*" {
				return x, true
			}
			h := gwv1.Hostname(x)
			if common := intersect(&h, []gwv1.Hostname{gwv1.Hostname(y)}); len(common) > 0 {
				return common[0], true
			}
		}
	}
	return "", false
}

// vhostName is the policy virtual host of hostname host on port of a Gateway:
// "<group>/<host>", or "<group>/<host>:<port>" when the Gateway has several ports or the
// port is only a ListenerSet's.
func vhostName(g *gateway, port int32, host string) string {
	name := GatewayNodeGroup(g.gw.Namespace, g.gw.Name) + "/" + host
	if g.multiPort || !g.httpPorts[port] {
		name += fmt.Sprintf(":%d", port)
	}
	return name
}

func (t *translator) allows(g *gateway, li *listener, rs *routeSpec) bool {
	if !slices.ContainsFunc(li.kinds, func(k gwv1.RouteGroupKind) bool { return string(k.Kind) == rs.kind }) {
		return false
	}
	switch fromNamespaces(li.l) {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSelector:
		ls, known := t.nsLabels[rs.meta.Namespace]
		return known && li.selector != nil && li.selector.Matches(ls)
	default:
		return rs.meta.Namespace == li.from(g).namespace
	}
}

// fromNamespaces is a listener's allowedRoutes.namespaces.from (Same when unset).
func fromNamespaces(l *gwv1.Listener) gwv1.FromNamespaces {
	if a := l.AllowedRoutes; a != nil && a.Namespaces != nil && a.Namespaces.From != nil {
		return *a.Namespaces.From
	}
	return gwv1.NamespacesFromSame
}

// namespaceSelector is the selector of the namespaces a listener whose
// allowedRoutes.namespaces.from is Selector admits routes from (nil for other listeners),
// or why the listener cannot be accepted. The Gateway API says the selector must be
// specified with Selector, and a listener is Accepted only when it is syntactically and
// semantically valid; the CRD's schema does not check the operators, keys and values of
// the selector, so a missing selector or one that does not parse makes the listener not
// Accepted (UnsupportedValue) rather than admit every or no namespace. An empty selector
// ({}) selects every namespace, as label selectors do.
func namespaceSelector(l *gwv1.Listener) (labels.Selector, string) {
	if fromNamespaces(l) != gwv1.NamespacesFromSelector {
		return nil, ""
	}
	ls := l.AllowedRoutes.Namespaces.Selector
	if ls == nil {
		return nil, "allowedRoutes.namespaces.selector must be specified when from is Selector"
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Sprintf("allowedRoutes.namespaces.selector is not a valid label selector: %v", err)
	}
	return sel, ""
}

// intersect is the hostnames a route serves on a listener: the route's that the listener's
// hostname matches (wildcards on either side), the listener's when the route names none, "*"
// when neither does.
func intersect(lh *gwv1.Hostname, rhs []gwv1.Hostname) []string {
	if len(rhs) == 0 {
		if lh == nil || *lh == "" {
			return []string{"*"}
		}
		return []string{string(*lh)}
	}
	var out []string
	for _, rh := range rhs {
		r := string(rh)
		if lh == nil || *lh == "" {
			out = append(out, r)
			continue
		}
		l := string(*lh)
		switch {
		case r == l:
			out = append(out, r)
		case strings.HasPrefix(l, "*.") && !strings.HasPrefix(r, "*.") && strings.HasSuffix(r, l[1:]):
			out = append(out, r)
		case strings.HasPrefix(r, "*.") && !strings.HasPrefix(l, "*.") && strings.HasSuffix(l, r[1:]):
			out = append(out, l)
		case strings.HasPrefix(r, "*.") && strings.HasPrefix(l, "*."):
			if strings.HasSuffix(r, l[1:]) {
				out = append(out, r)
			} else if strings.HasSuffix(l, r[1:]) {
				out = append(out, l)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// build writes the node groups, virtual hosts and services of every Gateway into Spec: the
// Envoy group has a listener per HTTP port (answering 404 while no route is attached) and per
// TLS or TCP port with routes; the proxyless gRPC group (which has no
// ports) a target per hostname, with the routes of one port serving it: an HTTPS port before
// an HTTP one (an HTTP listener often only redirects to HTTPS), then the lowest.
func (t *translator) build() {
	for _, nn := range t.gwOrder {
		g := t.gateways[nn]
		for _, li := range g.listeners {
			if li.set == nil {
				g.status.Listeners = append(g.status.Listeners, *li.status)
			}
		}
		listenerSetListeners(g)
		name := GatewayNodeGroup(nn.Namespace, nn.Name)
		// Under serve --require-node-identity only workloads of the Gateway's namespace, which
		// holds its Secrets, join its groups; the Envoy group, which gets the listeners and
		// their private keys, only the proxies' ServiceAccount when one is named.
		envoy := policy.NodeGroup{Name: name, Kind: policy.NodeGateway, Identities: []string{policy.GatewayIdentity(nn.Namespace, g.serviceAccount)},
			Selector: map[string]string{GatewayMetadataKey: GatewayMetadata(nn.Namespace, nn.Name)}}
		grpc := policy.NodeGroup{Name: name + ".grpc", Kind: policy.NodeGRPC, Identities: []string{policy.GatewayIdentity(nn.Namespace, "")},
			Selector: map[string]string{GatewayMetadataKey: GatewayMetadata(nn.Namespace, nn.Name), ProxylessMetadataKey: "true"}}
		up := map[string]bool{}
		grpcPort := map[string]int32{}
		for _, port := range slices.Sorted(maps.Keys(g.ports)) {
			gp := g.ports[port]
			if gp.forwardsConnections() {
				if len(gp.connections) == 0 {
					// A connection has nowhere to go yet: nothing listens on the port. The
					// listener stays Programmed, as the Gateway API's conformance asks of a
					// listener that waits for its routes.
					continue
				}
				isolateServerNames(g, port, gp, false)
				gl := connectionListener(port, gp)
				gl.TLSCertificates, gl.ClientCAs, gl.ClientCertificateOptional = uniqueCerts(gp.certs), gp.clientCAs, gp.clientOptional
				envoy.Listeners = append(envoy.Listeners, gl)
				continue
			}
			gl := policy.GatewayListener{Port: uint32(port), TLSCertificates: uniqueCerts(gp.certs), IgnorePortInHost: true,
				ClientCAs: gp.clientCAs, ClientCertificateOptional: gp.clientOptional}
			isolated := isolatedHostnames(g, port)
			if len(gp.entries) == 0 {
				// No route attached to the port yet: it is served all the same, and answers
				// every request 404, as it answers one that no route matches.
				gp.entries["*"] = []entry{{route: policy.Route{
					Name:           vhostName(g, port, "*") + "/no-route",
					Match:          policy.Match{Prefix: "/"},
					DirectResponse: &policy.DirectResponse{Status: 404, Body: fmt.Sprintf("no route is attached to port %d", port)},
				}}}
			}
			for _, h := range slices.Sorted(maps.Keys(gp.entries)) {
				es := gp.entries[h]
				slices.SortStableFunc(es, func(a, b entry) int { return a.rank.compare(b.rank) })
				vh := policy.VirtualHost{Name: vhostName(g, port, h), Domains: []string{h}}
				for _, e := range es {
					vh.Routes = append(vh.Routes, e.route)
					for _, svc := range e.route.Services() {
						up[svc] = true
					}
				}
				t.res.Spec.VirtualHosts = append(t.res.Spec.VirtualHosts, vh)
				gl.VirtualHosts = append(gl.VirtualHosts, vh.Name)
				if isolated[h] {
					continue // proxyless gRPC clients have no listener to fall through to
				}
				if strings.Contains(h, "*") {
					continue
				}
				if p, ok := grpcPort[h]; !ok || gp.protocol == gwv1.HTTPSProtocolType && g.ports[p].protocol != gwv1.HTTPSProtocolType {
					grpcPort[h] = port
				}
			}
			if gp.protocol == gwv1.HTTPSProtocolType {
				// TLS listeners beside the HTTPS ones, with routes or not: their
				// connections are told apart by server name, and the HTTPS listeners keep
				// their hostnames.
				isolateServerNames(g, port, gp, true)
			}
			if len(gp.connections) > 0 {
				gl.Connections = connectionListener(port, gp).Connections
				gl.ServerNames = httpsServerNames(g, port)
			}
			envoy.Listeners = append(envoy.Listeners, gl)
		}
		if len(envoy.Listeners) == 0 {
			if g.waitsForConnections() {
				// Its TLS and TCP listeners wait for their first route: its proxies join
				// its group, as the listeners' Programmed conditions say, and are served
				// nothing until one attaches.
				envoy.NoListeners = true
				t.res.Spec.NodeGroups = append(t.res.Spec.NodeGroups, envoy)
			}
			continue
		}
		for _, h := range slices.Sorted(maps.Keys(grpcPort)) {
			grpc.VirtualHosts = append(grpc.VirtualHosts, vhostName(g, grpcPort[h], h))
		}
		grpc.Upstreams = slices.Sorted(maps.Keys(up))
		if len(grpc.Upstreams) == 0 {
			// No route forwards to a service (TLS and TCP listeners, redirects): no
			// upstreams would mean every service.
			t.res.Spec.NodeGroups = append(t.res.Spec.NodeGroups, envoy)
			continue
		}
		// The more specific selector first: a node matches the first group that selects it.
		t.res.Spec.NodeGroups = append(t.res.Spec.NodeGroups, grpc, envoy)
	}
}

// compare orders matches by the Gateway API's precedence: exact path, longest prefix,
// method, most headers, most query parameters, oldest route, route namespace/name, rule and
// match order.
func (a rank) compare(b rank) int {
	if a.exact != b.exact {
		return boolFirst(a.exact)
	}
	if a.prefixLen != b.prefixLen {
		return cmp.Compare(b.prefixLen, a.prefixLen)
	}
	if a.regex != b.regex {
		return boolFirst(a.regex)
	}
	if a.method != b.method {
		return boolFirst(a.method)
	}
	return cmp.Or(cmp.Compare(b.headers, a.headers), cmp.Compare(b.query, a.query), a.created.Compare(b.created),
		cmp.Compare(a.nsName, b.nsName), cmp.Compare(a.rule, b.rule), cmp.Compare(a.match, b.match))
}

func boolFirst(a bool) int {
	if a {
		return -1
	}
	return 1
}

func ptr[T any](v T) *T { return &v }

// Merge returns a copy of base with spec's services, virtual hosts, node groups and canaries
// added (defaults set), the mesh routes of spec's services given to base's services of the
// same Service ports (mergeMeshRoutes); base and spec are not changed. The result is not validated. A listener of one
// of base's gateway groups that lists no virtual hosts (all of them) keeps serving base's
// only: spec's are served by its Gateways' own groups.
func Merge(base *policy.Policy, spec policy.Spec) *policy.Policy {
	p, spec, _ := mergedMesh(base, spec)
	if len(spec.VirtualHosts) > 0 {
		var names []string
		for _, vh := range p.Spec.VirtualHosts {
			names = append(names, vh.Name)
		}
		for i := range p.Spec.NodeGroups {
			g := &p.Spec.NodeGroups[i]
			for j := range g.Listeners {
				if g.Kind == policy.NodeGateway && len(g.Listeners[j].VirtualHosts) == 0 {
					g.Listeners[j].VirtualHosts = slices.Clone(names)
				}
			}
		}
	}
	p.Spec.Services = append(p.Spec.Services, spec.Services...)
	p.Spec.VirtualHosts = append(p.Spec.VirtualHosts, spec.VirtualHosts...)
	p.Spec.NodeGroups = append(p.Spec.NodeGroups, spec.NodeGroups...)
	p.Spec.Canaries = append(p.Spec.Canaries, spec.Canaries...)
	p.SetDefaults()
	return p
}

// uniqueCerts drops repeated certificates (listeners may name the same Secret).
func uniqueCerts(cs []policy.TLSCertificate) []policy.TLSCertificate {
	seen := map[string]bool{}
	var out []policy.TLSCertificate
	for _, c := range cs {
		if !seen[c.Name] {
			seen[c.Name] = true
			out = append(out, c)
		}
	}
	return out
}
