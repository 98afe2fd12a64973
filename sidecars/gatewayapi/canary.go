package gatewayapi

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// CanaryName is the policy canary of a CanaryPolicy: "<namespace>-<name>" (a DNS label;
// hashed when longer than 63 characters).
func CanaryName(namespace, name string) string {
	n := namespace + "-" + name
	if len(n) <= 63 {
		return n
	}
	h := sha256.Sum256([]byte(n))
	return n[:50] + "-" + hex.EncodeToString(h[:6])
}

// canaries translates the CanaryPolicies: each becomes a policy canary over the routes of
// its targets whose backends are its stable and canary Services.
func (t *translator) canaries() {
	cps := slices.Clone(t.in.CanaryPolicies)
	slices.SortFunc(cps, func(a, b *CanaryPolicy) int { return cmpMeta(&a.ObjectMeta, &b.ObjectMeta) })
	claimed := map[string]string{} // policy route -> canary policy
	for _, cp := range cps {
		nn := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
		// version builds and checks one version of cp against the routes other policies
		// already drive.
		version := func(cp *CanaryPolicy) (*policy.Canary, []types.NamespacedName, policyVersion) {
			c, gws, reason, msg := t.canary(cp, claimed)
			if c != nil {
				if err := t.validateCanary(c); err != nil {
					c, reason, msg = nil, string(gwv1.PolicyReasonInvalid), err.Error()
				}
			}
			return c, gws, policyVersion{ok: c != nil, reason: reason, msg: msg}
		}
		c, gws, cur := version(cp)
		var keptC *policy.Canary
		var keptGws []types.NamespacedName
		useKept, _, st := choose(t.prev.CanaryPolicies, t.res.LastGood.CanaryPolicies, &cp.ObjectMeta, cp.Spec, cur,
			func(s CanaryPolicySpec) policyVersion {
				k := *cp
				k.Spec = s
				var v policyVersion
				keptC, keptGws, v = version(&k)
				return v
			})
		if useKept {
			c, gws = keptC, keptGws
		}
		if c != nil {
			t.res.Spec.Canaries = append(t.res.Spec.Canaries, *c)
			for _, r := range c.AllRoutes() {
				claimed[r] = cp.Name
			}
		}
		var ancestors []gwv1.ParentReference
		for _, g := range gws {
			ns := gwv1.Namespace(g.Namespace)
			ancestors = append(ancestors, gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind(KindGateway)), Namespace: &ns, Name: gwv1.ObjectName(g.Name)})
		}
		if len(ancestors) == 0 {
			for _, tr := range cp.Spec.TargetRefs {
				ns := gwv1.Namespace(cp.Namespace)
				ancestors = append(ancestors, gwv1.ParentReference{Group: ptr(tr.Group), Kind: ptr(tr.Kind), Namespace: &ns, Name: tr.Name})
			}
		}
		var sts []gwv1.PolicyAncestorStatus
		for _, a := range ancestors {
			sts = append(sts, gwv1.PolicyAncestorStatus{AncestorRef: a, ControllerName: gwv1.GatewayController(t.in.ControllerName),
				Conditions: []metav1.Condition{t.cond(string(gwv1.PolicyConditionAccepted), st.ok, st.reason, st.msg, cp.Generation)}})
		}
		t.res.CanaryPolicies[nn] = sts
	}
	t.addServices()
}

// canary builds the policy canary of cp, or says why not.
func (t *translator) canary(cp *CanaryPolicy, claimed map[string]string) (*policy.Canary, []types.NamespacedName, string, string) {
	s := &cp.Spec
	var routes []string
	var gws []types.NamespacedName
	stable, canary := "", ""
	for i, tr := range s.TargetRefs {
		if tr.Group != gwv1.GroupName || tr.Kind != KindHTTPRoute && tr.Kind != KindGRPCRoute {
			return nil, nil, string(gwv1.PolicyReasonInvalid), fmt.Sprintf("spec.targetRefs[%d]: only HTTPRoute and GRPCRoute of %s can be targeted, not %s.%s", i, gwv1.GroupName, tr.Kind, tr.Group)
		}
		key := routeKey{string(tr.Kind), types.NamespacedName{Namespace: cp.Namespace, Name: string(tr.Name)}}
		names := t.routesOf[key]
		if len(names) == 0 {
			return nil, nil, string(gwv1.PolicyReasonTargetNotFound), fmt.Sprintf("spec.targetRefs[%d]: %s %s/%s does not exist or is not accepted by a Gateway of foresight-xds", i, tr.Kind, cp.Namespace, tr.Name)
		}
		for _, g := range t.routeGW[key] {
			if !slices.Contains(gws, g) {
				gws = append(gws, g)
			}
		}
		for _, n := range names {
			svcs := t.routeSvcs[n]
			if len(svcs) == 0 || slices.ContainsFunc(mapKeys(svcs), func(k string) bool { return k != s.Stable && k != s.Canary }) {
				continue // not a rule between stable and canary
			}
			if other, ok := claimed[n]; ok {
				return nil, gws, string(gwv1.PolicyReasonConflicted), fmt.Sprintf("route %s is already driven by CanaryPolicy %s", n, other)
			}
			if p, ok := svcs[s.Stable]; ok {
				stable = cmp.Or(stable, p)
			}
			if p, ok := svcs[s.Canary]; ok {
				canary = cmp.Or(canary, p)
			}
			routes = append(routes, n)
		}
	}
	if len(s.TargetRefs) == 0 {
		return nil, nil, string(gwv1.PolicyReasonInvalid), "spec.targetRefs: at least one route required"
	}
	switch {
	case len(routes) == 0:
		return nil, gws, string(gwv1.PolicyReasonInvalid), fmt.Sprintf("no rule of the targeted routes sends only to Services %q and %q", s.Stable, s.Canary)
	case stable == "":
		return nil, gws, string(gwv1.PolicyReasonInvalid), fmt.Sprintf("spec.stable: no backendRef of the targeted rules names Service %q", s.Stable)
	case canary == "":
		return nil, gws, string(gwv1.PolicyReasonInvalid), fmt.Sprintf("spec.canary: no backendRef of the targeted rules names Service %q (add it with weight 0)", s.Canary)
	}
	c := &policy.Canary{Name: CanaryName(cp.Namespace, cp.Name), Route: routes[0], Routes: routes[1:], Stable: stable, Canary: canary,
		Analysis: policy.CanaryAnalysis{Interval: policy.Duration(s.Analysis.Interval.Duration), FailureLimit: s.Analysis.FailureLimit,
			ConsecutiveSuccessLimit: s.Analysis.ConsecutiveSuccessLimit}}
	for _, st := range s.Steps {
		c.Steps = append(c.Steps, policy.CanaryStep{Weight: st.Weight, Pause: policy.Duration(st.Pause.Duration)})
	}
	for _, m := range s.Analysis.Metrics {
		c.Analysis.Metrics = append(c.Analysis.Metrics, policy.AnalysisMetric{Name: m.Name, Query: m.Query, Min: m.Min, Max: m.Max, DryRun: m.DryRun})
	}
	t.canarySvcs = append(t.canarySvcs, stable, canary)
	return c, gws, string(gwv1.PolicyReasonAccepted), "accepted"
}

func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// validateCanary checks c with the policy's own rules, against the translated routes.
func (t *translator) validateCanary(c *policy.Canary) error {
	p := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.Kind, Metadata: policy.Metadata{Name: "gateway-api", Namespace: policy.DefaultNamespace}}
	used := map[string]bool{}
	for _, n := range c.AllRoutes() {
		r := t.routeByName[n]
		p.Spec.VirtualHosts = append(p.Spec.VirtualHosts, policy.VirtualHost{Name: n, Domains: []string{"*"}, Routes: []policy.Route{*r}})
		for _, svc := range r.Services() {
			used[svc] = true
		}
	}
	used[c.Stable], used[c.Canary] = true, true
	for _, n := range slices.Sorted(mapsKeys(used)) {
		p.Spec.Services = append(p.Spec.Services, t.svcDefs[n])
	}
	p.Spec.Canaries = []policy.Canary{*c}
	p.SetDefaults()
	p.Spec.NodeGroups = nil
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "spec.canaries[0].", "spec."))
	}
	return nil
}

// addServices adds the policy services the virtual hosts and canaries use, sorted by name.
func (t *translator) addServices() {
	used := map[string]bool{}
	for _, vh := range t.res.Spec.VirtualHosts {
		for _, r := range vh.Routes {
			for _, svc := range r.Services() {
				used[svc] = true
			}
		}
	}
	for _, s := range t.canarySvcs {
		used[s] = true
	}
	for _, n := range slices.Sorted(mapsKeys(used)) {
		t.res.Spec.Services = append(t.res.Spec.Services, t.svcDefs[n])
	}
}
