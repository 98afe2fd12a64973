package gatewayapi

import (
	"fmt"
	"slices"

	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// SpecOfGateway is what Gateway namespace/name contributes to spec, a translation of ours:
// its two node groups (GatewayNodeGroup and its ".grpc" group), the virtual hosts their
// listeners and targets serve, the services the routes of those virtual hosts, the
// connection routes of its listeners and the gRPC group's upstreams name, and the canaries whose routes all lie in those virtual hosts
// (with their stable and canary services), without the mesh routes of those services. A
// canary over routes of several Gateways is not the part of any one of them. The part is a deep copy: nothing of it is shared with spec.
// It is empty when the Gateway serves nothing.
func SpecOfGateway(spec policy.Spec, namespace, name string) policy.Spec {
	group := GatewayNodeGroup(namespace, name)
	var out policy.Spec
	vhosts, services := map[string]bool{}, map[string]bool{}
	for _, g := range spec.NodeGroups {
		if g.Name != group && g.Name != group+".grpc" {
			continue
		}
		out.NodeGroups = append(out.NodeGroups, g)
		for _, v := range g.VirtualHosts {
			vhosts[v] = true
		}
		for _, l := range g.Listeners {
			for _, v := range l.VirtualHosts {
				vhosts[v] = true
			}
			for i := range l.Connections {
				for _, s := range l.Connections[i].Services() {
					services[s] = true
				}
			}
		}
		for _, s := range g.Upstreams {
			services[s] = true
		}
	}
	routes := map[string]bool{}
	for _, vh := range spec.VirtualHosts {
		if !vhosts[vh.Name] {
			continue
		}
		out.VirtualHosts = append(out.VirtualHosts, vh)
		for i := range vh.Routes {
			routes[vh.Routes[i].Name] = true
			for _, s := range vh.Routes[i].Services() {
				services[s] = true
			}
		}
	}
	for _, c := range spec.Canaries {
		if !slices.ContainsFunc(c.AllRoutes(), func(r string) bool { return !routes[r] }) {
			out.Canaries = append(out.Canaries, c)
			services[c.Stable], services[c.Canary] = true, true
		}
	}
	for _, s := range spec.Services {
		if services[s.Name] {
			if s.RoutesForClients {
				// The routes of the Service's mesh clients are no Gateway's: its routes reach
				// the service's endpoints without them.
				s.Routes, s.Hosts, s.RoutesForClients = nil, nil, false
			}
			out.Services = append(out.Services, s)
		}
	}
	return (&policy.Policy{Spec: out}).Clone().Spec
}

// ExperimentsOn are the experiments of exps whose every fault target is a route of part (a
// SpecOfGateway). An experiment with a service target is never one of them: a service may
// be shared with other Gateways, whose traffic it would fault too.
func ExperimentsOn(exps []*experiment.Experiment, part policy.Spec) []*experiment.Experiment {
	routes := map[string]bool{}
	for _, vh := range part.VirtualHosts {
		for i := range vh.Routes {
			routes[vh.Routes[i].Name] = true
		}
	}
	var out []*experiment.Experiment
	for _, e := range exps {
		if !slices.ContainsFunc(e.Targets(), func(t policy.FaultTarget) bool { return t.Route == "" || !routes[t.Route] }) {
			out = append(out, e)
		}
	}
	return out
}

// Splice is spec with part (a SpecOfGateway of an earlier translation) added, each kind
// de-duplicated by name with spec's entry kept: spec is what is being served now. For
// services this is what is meant while the name stands for the same Kubernetes Service port
// in both: spec's version reaches the same endpoints, and part's routes are served with its
// current settings (those of a BackendTrafficPolicy, its protocol) rather than their old
// ones. Those can differ: a Service whose appProtocol changed to gRPC since, say, is what the
// current translation serves to everyone, part's old routes included. A name can also have
// passed to another Service port since (the older of two Services whose names join alike was
// deleted, uniqueJoins): then part cannot be served, as its routes would reach another
// Service's endpoints, and Splice says so. For node groups, virtual hosts and canaries a
// clash means part cannot be served as it was (a dropped virtual host leaves a listener
// naming one that is not the one it served): the caller checks the splice, and a reference
// that no longer holds is refused there. Neither argument is changed, and the result shares
// nothing with part (serving a spec sets its defaults in place).
func Splice(spec, part policy.Spec) (policy.Spec, error) {
	now := make(map[string]*policy.Service, len(spec.Services))
	for i := range spec.Services {
		now[spec.Services[i].Name] = &spec.Services[i]
	}
	for _, s := range part.Services {
		if c := now[s.Name]; c != nil && (c.Namespace != s.Namespace || c.KubernetesService != s.KubernetesService || c.Port != s.Port) {
			return spec, fmt.Errorf("service %s stood for Service %s/%s port %d and now stands for %s/%s port %d",
				s.Name, s.Namespace, s.KubernetesService, s.Port, c.Namespace, c.KubernetesService, c.Port)
		}
	}
	part = (&policy.Policy{Spec: part}).Clone().Spec
	out := spec
	out.Services = addNew(spec.Services, part.Services, func(s policy.Service) string { return s.Name })
	out.VirtualHosts = addNew(spec.VirtualHosts, part.VirtualHosts, func(v policy.VirtualHost) string { return v.Name })
	out.NodeGroups = addNew(spec.NodeGroups, part.NodeGroups, func(g policy.NodeGroup) string { return g.Name })
	out.Canaries = addNew(spec.Canaries, part.Canaries, func(c policy.Canary) string { return c.Name })
	return out, nil
}

// SpliceExperiments is exps with the experiments of part whose names exps does not use.
func SpliceExperiments(exps, part []*experiment.Experiment) []*experiment.Experiment {
	return addNew(exps, part, (*experiment.Experiment).Name)
}

// addNew is a copy of have with the elements of more whose names have does not use.
func addNew[T any](have, more []T, name func(T) string) []T {
	if len(more) == 0 {
		return have
	}
	used := make(map[string]bool, len(have))
	for _, h := range have {
		used[name(h)] = true
	}
	out := slices.Clone(have)
	for _, m := range more {
		if !used[name(m)] {
			used[name(m)] = true
			out = append(out, m)
		}
	}
	return out
}
