package gatewaywatch

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// isolation is what isolate found and served: the Gateways whose own translation is
// refused, with why; the translation without them (applied, whose statuses are written);
// the spec and experiments Apply accepted, which are applied's with the last good part of
// each refused Gateway of kept spliced in.
type isolation struct {
	refused     map[types.NamespacedName]error
	kept        map[types.NamespacedName]bool
	applied     *gatewayapi.Result
	spec        policy.Spec
	experiments []*experiment.Experiment
}

// refusal is the error written on Gateway nn's Programmed condition: nil for a Gateway that
// is served, its own error for a refused one, saying whether its last good configuration
// keeps serving.
func (iso *isolation) refusal(nn types.NamespacedName) error {
	err := iso.refused[nn]
	switch {
	case err == nil:
		return nil
	case iso.kept[nn]:
		return fmt.Errorf("%w; its last good configuration keeps serving", err)
	default:
		return fmt.Errorf("%w; no last good configuration of it is kept: it is not served", err)
	}
}

// isolate is reconcile's path when Apply refused full, the translation of in, with fullErr.
// An object whose translation the checks refuse (a node group name the policy file also
// uses, a route the checker refuses) must not hold back every other Gateway's changes, so
// when two or more of our Gateways have something to serve, isolate translates in for each
// of them alone (only the Gateways are filtered: routes, policies, Services and Secrets are
// all kept) and asks Check about it: at most one Check per Gateway, and only on this path.
// When some but not all are refused, it translates in without them, splices into that the
// last good part of each refused Gateway that has one (see lastGoodOf) and applies that;
// when the splice is refused, it applies the translation without them alone. It returns
// nil, and reconcile reports fullErr on every Gateway as before, when there is no Check,
// fewer than two Gateways with something to serve, none or all of them refused on their own
// (they are refused together, or what is refused is not theirs: the policy file, say), or
// the translation without the refused ones is refused too.
//
// The trial translations start from the last good state full started from, and the
// watcher keeps full's, so a refused Gateway's Secrets and policies keep their last good
// versions for when it is served again. A refused Gateway whose part of the last
// configuration served cannot be kept (it had none: it is new, or was refused before; or
// the splice is refused: the policy file now uses one of its names, say) is not served at
// all: its proxies lose its configuration until a translation with it is accepted.
func (w *Watcher) isolate(ctx context.Context, in *gatewayapi.Input, full *gatewayapi.Result, fullErr error) *isolation {
	if w.o.Check == nil {
		return nil
	}
	serving := servingGateways(full)
	if len(serving) < 2 {
		return nil
	}
	refused := map[types.NamespacedName]error{}
	for _, nn := range serving {
		alone := gatewayapi.Translate(withGateways(in, func(g types.NamespacedName) bool { return g == nn }))
		if err := w.o.Check(ctx, alone.Spec, alone.Experiments); err != nil {
			refused[nn] = err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	switch len(refused) {
	case 0:
		w.log.Error("every Gateway's configuration is accepted on its own: they are refused together", "gateways", len(serving))
		return nil
	case len(serving):
		w.log.Error("every Gateway's configuration is refused on its own: what is refused is not one Gateway's", "gateways", len(serving))
		return nil
	}
	// The translation without them, knowing the last good parts of theirs served beside it
	// (their proxyless groups may get mesh routes, which the merge must be able to serve).
	kept := w.lastGoodOf(refused)
	keptOrder := slices.SortedFunc(maps.Keys(kept), gatewayapi.CompareNamespacedNames)
	restIn := withGateways(in, func(g types.NamespacedName) bool { return refused[g] == nil })
	for _, nn := range keptOrder {
		restIn.Beside = append(restIn.Beside, kept[nn].spec)
	}
	rest := gatewayapi.Translate(restIn)
	iso := &isolation{refused: refused, applied: rest, spec: rest.Spec, experiments: rest.Experiments}
	if len(kept) > 0 {
		spec, exps := rest.Spec, rest.Experiments
		spliced := map[types.NamespacedName]bool{}
		for _, nn := range keptOrder {
			next, err := gatewayapi.Splice(spec, kept[nn].spec)
			if err != nil {
				w.log.Error("the last good configuration of a refused Gateway cannot be served beside the others'", "namespace", nn.Namespace, "name", nn.Name, "error", err)
				continue
			}
			spec, spliced[nn] = next, true
			exps = gatewayapi.SpliceExperiments(exps, kept[nn].experiments)
		}
		if len(spliced) > 0 {
			err := w.o.Check(ctx, spec, exps)
			if err == nil {
				err = w.o.Apply(ctx, spec, exps)
			}
			if err == nil {
				iso.spec, iso.experiments, iso.kept = spec, exps, spliced
			} else {
				w.log.Error("the last good configuration of the refused Gateways is refused with the others'; they are not served",
					"refused", names(refused), "error", err)
			}
		}
	}
	if iso.kept == nil {
		if len(restIn.Beside) > 0 { // served without them after all
			restIn.Beside = nil
			rest = gatewayapi.Translate(restIn)
			iso.applied, iso.spec, iso.experiments = rest, rest.Spec, rest.Experiments
		}
		if err := w.o.Apply(ctx, rest.Spec, rest.Experiments); err != nil {
			w.log.Error("the configuration without the Gateways refused on their own is refused too; the last good configuration keeps serving",
				"refused", names(refused), "error", err)
			return nil
		}
	}
	for _, nn := range slices.SortedFunc(maps.Keys(refused), gatewayapi.CompareNamespacedNames) {
		if iso.kept[nn] {
			w.log.Error("Gateway refused: its last good configuration keeps serving, and the other Gateways are served", "namespace", nn.Namespace, "name", nn.Name, "error", refused[nn])
		} else {
			w.log.Error("Gateway refused: the other Gateways are served without it", "namespace", nn.Namespace, "name", nn.Name, "error", refused[nn])
		}
	}
	w.log.Warn("Gateway API configuration refused; served without the new configuration of the Gateways refused on their own", "refused", names(refused),
		"kept", len(iso.kept), "served", len(serving)-len(refused), "error", fullErr)
	return iso
}

// gatewayPart is what one Gateway contributed to a configuration Apply accepted: its part
// of the spec (gatewayapi.SpecOfGateway) and the experiments on it alone
// (gatewayapi.ExperimentsOn).
type gatewayPart struct {
	spec        policy.Spec
	experiments []*experiment.Experiment
}

// lastGoodOf are the parts of the last configuration served of the Gateways of refused that
// had one.
func (w *Watcher) lastGoodOf(refused map[types.NamespacedName]error) map[types.NamespacedName]gatewayPart {
	out := map[types.NamespacedName]gatewayPart{}
	for nn := range refused {
		if part := gatewayapi.SpecOfGateway(w.served.spec, nn.Namespace, nn.Name); len(part.NodeGroups) > 0 {
			out[nn] = gatewayPart{spec: part, experiments: gatewayapi.ExperimentsOn(w.served.experiments, part)}
		}
	}
	return out
}

// servingGateways are the Gateways of res that have something to serve (a node group), in
// namespace/name order.
func servingGateways(res *gatewayapi.Result) []types.NamespacedName {
	groups := map[string]bool{}
	for _, g := range res.Spec.NodeGroups {
		groups[g.Name] = true
	}
	var out []types.NamespacedName
	for nn := range res.Gateways {
		if groups[gatewayapi.GatewayNodeGroup(nn.Namespace, nn.Name)] {
			out = append(out, nn)
		}
	}
	slices.SortFunc(out, gatewayapi.CompareNamespacedNames)
	return out
}

// withGateways is a copy of in with only the Gateways keep keeps.
func withGateways(in *gatewayapi.Input, keep func(types.NamespacedName) bool) *gatewayapi.Input {
	out := *in
	out.Gateways = nil
	for _, g := range in.Gateways {
		if keep(types.NamespacedName{Namespace: g.Namespace, Name: g.Name}) {
			out.Gateways = append(out.Gateways, g)
		}
	}
	return &out
}

// statuses are the statuses to write after isolation: those of the GatewayClasses and
// Gateways from full (a Gateway's own conditions and listeners do not depend on the other
// Gateways; its Programmed condition is reconcile's), those of routes and policies from the
// translation that was applied, except their entries for refused Gateways, which keep
// full's (keepRefused).
func (iso *isolation) statuses(full *gatewayapi.Result) *gatewayapi.Result {
	a := iso.applied
	out := *full
	refused := refusedParents(iso.refused, full.ListenerSetGateways)
	out.HTTPRoutes = mergeEntries(full.HTTPRoutes, a.HTTPRoutes, refused, func(s *gwv1.RouteParentStatus) gwv1.ParentReference { return s.ParentRef })
	out.GRPCRoutes = mergeEntries(full.GRPCRoutes, a.GRPCRoutes, refused, func(s *gwv1.RouteParentStatus) gwv1.ParentReference { return s.ParentRef })
	out.TLSRoutes = mergeEntries(full.TLSRoutes, a.TLSRoutes, refused, func(s *gwv1.RouteParentStatus) gwv1.ParentReference { return s.ParentRef })
	out.TCPRoutes = mergeEntries(full.TCPRoutes, a.TCPRoutes, refused, func(s *gwv1.RouteParentStatus) gwv1.ParentReference { return s.ParentRef })
	ancestor := func(s *gwv1.PolicyAncestorStatus) gwv1.ParentReference { return s.AncestorRef }
	out.CanaryPolicies = mergeEntries(full.CanaryPolicies, a.CanaryPolicies, refused, ancestor)
	out.BackendTrafficPolicies = mergeEntries(full.BackendTrafficPolicies, a.BackendTrafficPolicies, refused, ancestor)
	out.ExperimentPolicies = mergeEntries(full.ExperimentPolicies, a.ExperimentPolicies, refused, ancestor)
	out.BackendTLSPolicies = mergeEntries(full.BackendTLSPolicies, a.BackendTLSPolicies, refused, ancestor)
	return &out
}

// mergeEntries is keepRefused for every object of full and applied.
func mergeEntries[T any](full, applied map[types.NamespacedName][]T, refused map[parent]bool, ref func(*T) gwv1.ParentReference) map[types.NamespacedName][]T {
	out := make(map[types.NamespacedName][]T, len(full))
	for nn := range applied {
		out[nn] = applied[nn]
	}
	for nn := range full {
		out[nn] = keepRefused(nn.Namespace, full[nn], applied[nn], refused, ref)
	}
	return out
}

// keepRefused are the status entries (route parents, policy ancestors) of one object of
// namespace ns after isolation, given its entries in the full translation and in the one
// applied: the applied translation's, as they say what is served, except for the entries of
// refused Gateways, which the applied translation has none of, and which keep the full
// translation's; an object whose Gateway entries in the full translation are all of refused
// Gateways keeps the full translation's entries (the applied one, without its Gateways,
// would call its targets missing), but for those of parents that are no Gateway (a mesh
// route's Services), which are the applied translation's where it has them.
//
// This is what the Gateway API asks for. A route's Accepted condition is about the route and
// its parent: whether the Gateway accepts it (listeners, hostnames, kinds, namespaces),
// which the full translation decides, and which does not change because the configuration
// the Gateway's proxies would be served is refused; that is the Gateway's Programmed=False,
// which the spec keeps apart from route acceptance. And an implementation must keep an
// entry for every parent of ours a route names: dropping the refused Gateway's entry (as
// the applied translation, which does not see that Gateway, would) would say the route is
// not attached to it. The entries of other parents come from the applied translation, as it
// is what their proxies serve. A policy's ancestor entries are kept the same way.
func keepRefused[T any](ns string, full, applied []T, refused map[parent]bool, ref func(*T) gwv1.ParentReference) []T {
	isRefused := func(e *T) (gateway, out bool) {
		p, ok := parentOf(ref(e), ns)
		return ok, ok && refused[p]
	}
	gateways, onlyRefused := 0, true
	for i := range full {
		if gw, out := isRefused(&full[i]); gw {
			gateways++
			onlyRefused = onlyRefused && out
		}
	}
	if gateways > 0 && onlyRefused {
		out := slices.Clone(full)
		for i := range out {
			if gw, _ := isRefused(&out[i]); gw {
				continue
			}
			for j := range applied {
				if sameRef(ref(&applied[j]), ref(&out[i])) {
					out[i] = applied[j]
					break
				}
			}
		}
		return out
	}
	var out []T
	used := make([]bool, len(applied))
	for i := range full {
		if _, r := isRefused(&full[i]); r {
			out = append(out, full[i])
			continue
		}
		for j := range applied {
			if !used[j] && sameRef(ref(&applied[j]), ref(&full[i])) {
				out, used[j] = append(out, applied[j]), true
				break
			}
		}
	}
	for j := range applied {
		if !used[j] {
			out = append(out, applied[j])
		}
	}
	return out
}

// parent is a Gateway or a ListenerSet a route or policy names.
type parent struct {
	kind string
	nn   types.NamespacedName
}

// refusedParents are the refused Gateways and the ListenerSets whose parent one of them is
// (sets maps each ListenerSet to its Gateway).
func refusedParents(gateways map[types.NamespacedName]error, sets map[types.NamespacedName]types.NamespacedName) map[parent]bool {
	out := make(map[parent]bool, len(gateways))
	for nn, err := range gateways {
		if err != nil {
			out[parent{gatewayapi.KindGateway, nn}] = true
		}
	}
	for set, gw := range sets {
		if gateways[gw] != nil {
			out[parent{gatewayapi.KindListenerSet, set}] = true
		}
	}
	return out
}

// parentOf is the Gateway or ListenerSet a parent or ancestor reference of an object of
// namespace ns names, if it names one.
func parentOf(r gwv1.ParentReference, ns string) (parent, bool) {
	kind := gatewayapi.KindGateway
	if r.Kind != nil {
		kind = string(*r.Kind)
	}
	if r.Group != nil && *r.Group != gwv1.GroupName || kind != gatewayapi.KindGateway && kind != gatewayapi.KindListenerSet {
		return parent{}, false
	}
	if r.Namespace != nil && *r.Namespace != "" {
		ns = string(*r.Namespace)
	}
	return parent{kind, types.NamespacedName{Namespace: ns, Name: string(r.Name)}}, true
}

func names(m map[types.NamespacedName]error) []string {
	var out []string
	for _, nn := range slices.SortedFunc(maps.Keys(m), gatewayapi.CompareNamespacedNames) {
		out = append(out, nn.String())
	}
	return out
}
