package gatewayapi

import (
	"fmt"
	"maps"
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
	return fitName(namespace+"-"+name, 63)
}

// canaryNames names the policy canary of each CanaryPolicy: its join, unique among them
// (uniqueJoins) and fitted as CanaryName is, so that a CanaryPolicy created later in another
// namespace neither clashes with an existing one (a clash refuses the whole translation) nor
// renames it (its rollout is kept under its name).
func canaryNames(cps []*CanaryPolicy) map[types.NamespacedName]string {
	metas := make([]*metav1.ObjectMeta, len(cps))
	for i, cp := range cps {
		metas[i] = &cp.ObjectMeta
	}
	out := uniqueJoins(metas)
	for nn, j := range out {
		out[nn] = fitName(j, 63)
	}
	return out
}

// canaries translates the CanaryPolicies: each becomes a policy canary over the routes of
// its targets whose backends are its stable and canary Services.
func (t *translator) canaries() {
	cps := slices.Clone(t.in.CanaryPolicies)
	slices.SortFunc(cps, func(a, b *CanaryPolicy) int { return cmpMeta(&a.ObjectMeta, &b.ObjectMeta) })
	t.res.CanaryNames = canaryNames(cps)
	claimed := map[string]string{} // policy route -> canary policy
	for _, cp := range cps {
		nn := types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}
		// built is one version of cp: its canary when it applies, and the Gateways of its routes.
		type built struct {
			c   *policy.Canary
			gws []types.NamespacedName
		}
		// version builds and checks one version of cp against the routes other policies
		// already drive.
		version := func(s CanaryPolicySpec) (built, policyVersion) {
			k := *cp
			k.Spec = s
			c, gws, reason, msg := t.canary(&k, claimed)
			if c != nil {
				if err := t.validateCanary(c); err != nil {
					c, reason, msg = nil, string(gwv1.PolicyReasonInvalid), err.Error()
				}
			}
			return built{c, gws}, policyVersion{ok: c != nil, reason: reason, msg: msg}
		}
		b, _, _, st := choose(t.prev.CanaryPolicies, t.res.LastGood.CanaryPolicies, &cp.ObjectMeta, cp.Spec, version)
		if c := b.c; c != nil {
			t.res.Spec.Canaries = append(t.res.Spec.Canaries, *c)
			for _, r := range c.AllRoutes() {
				claimed[r] = cp.Name
			}
		}
		t.res.CanaryPolicies[nn] = t.policyStatus(&cp.ObjectMeta, cp.Spec.TargetRefs, b.gws, st)
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
			return nil, nil, string(gwv1.PolicyReasonTargetNotFound), fmt.Sprintf("spec.targetRefs[%d]: %s %s/%s does not exist or is accepted by no Gateway of foresight-xds and no Service", i, tr.Kind, cp.Namespace, tr.Name)
		}
		for _, g := range t.routeGW[key] {
			if !slices.Contains(gws, g) {
				gws = append(gws, g)
			}
		}
		for _, n := range names {
			svcs := t.routeSvcs[n]
			if len(svcs) == 0 || slices.ContainsFunc(slices.Collect(maps.Keys(svcs)), func(k string) bool { return k != s.Stable && k != s.Canary }) {
				continue // not a rule between stable and canary
			}
			if other, ok := claimed[n]; ok {
				return nil, gws, string(gwv1.PolicyReasonConflicted), fmt.Sprintf("route %s is already driven by CanaryPolicy %s", n, other)
			}
			for _, pair := range []struct {
				service string
				to      *string
			}{{s.Stable, &stable}, {s.Canary, &canary}} {
				p, ok := svcs[pair.service]
				if !ok {
					continue
				}
				if *pair.to != "" && *pair.to != p {
					// A Service port both GRPCRoutes and HTTPRoutes send to has a policy
					// service per protocol, and a rollout steps one pair.
					return nil, gws, string(gwv1.PolicyReasonInvalid), fmt.Sprintf("the targeted rules send to Service %q over different protocols (%s and %s): a CanaryPolicy targets routes of one kind there (one for the GRPCRoutes, one for the HTTPRoutes)", pair.service, *pair.to, p)
				}
				*pair.to = p
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
	sd, cd := t.svcDefs[stable], t.svcDefs[canary]
	c := &policy.Canary{Name: t.res.CanaryNames[types.NamespacedName{Namespace: cp.Namespace, Name: cp.Name}], Route: routes[0], Routes: routes[1:], Stable: stable, Canary: canary,
		Identity: fmt.Sprintf("%s/%s:%d->%s/%s:%d", sd.Namespace, sd.KubernetesService, sd.Port, cd.Namespace, cd.KubernetesService, cd.Port),
		Headers:  httpHeaderMatches(s.Headers),
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
	for _, n := range slices.Sorted(maps.Keys(used)) {
		p.Spec.Services = append(p.Spec.Services, t.svcDefs[n])
	}
	p.Spec.Canaries = []policy.Canary{*c}
	p.SetDefaults()
	p.Spec.NodeGroups = nil
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "spec.canaries[0].", "spec."))
	}
	// Envoy's limit on a regex's program, here rather than on the Gateway's whole
	// configuration once the rollout runs.
	for i, h := range c.Headers {
		if err := t.in.Checks.RegexTooLarge(h.Regex); err != nil {
			return fmt.Errorf("spec.headers[%d].value: %w", i, err)
		}
	}
	return nil
}

// addServices adds the policy services the virtual hosts, connection routes and canaries
// use, sorted by name.
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
	for name, m := range t.meshRoutes {
		used[name] = true
		for i := range m.routes {
			for _, svc := range m.routes[i].Services() {
				used[svc] = true
			}
		}
	}
	for _, g := range t.res.Spec.NodeGroups {
		for _, l := range g.Listeners {
			for i := range l.Connections {
				for _, svc := range l.Connections[i].Services() {
					used[svc] = true
				}
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(used)) {
		t.res.Spec.Services = append(t.res.Spec.Services, t.svcDefs[n])
	}
}
