package gatewayapi

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Kinds of the attached policies, as their status and messages name them.
const (
	KindCanaryPolicy         = "CanaryPolicy"
	KindBackendTrafficPolicy = "BackendTrafficPolicy"
	KindExperimentPolicy     = "ExperimentPolicy"
)

// ExperimentName is the experiment of an ExperimentPolicy: "<namespace>/<name>", which no
// FaultExperiment file can declare as its metadata.name clashes with nothing else.
func ExperimentName(namespace, name string) string { return namespace + "/" + name }

// target is what one targetRef of an attached policy resolved to.
type target struct {
	key      string   // "<Kind>/<namespace>/<name>", for conflicts
	service  bool     // a Service (else a route)
	names    []string // policy routes, or policy services
	gateways []types.NamespacedName
}

// resolveTargets resolves the targetRefs of an attached policy in namespace ns, or says
// why not (reason and message for the Accepted condition).
func (t *translator) resolveTargets(ns string, refs []gwv1.LocalPolicyTargetReference) ([]target, string, string) {
	if len(refs) == 0 {
		return nil, string(gwv1.PolicyReasonInvalid), "spec.targetRefs: at least one target required"
	}
	var out []target
	for i, tr := range refs {
		path := fmt.Sprintf("spec.targetRefs[%d]", i)
		switch {
		case tr.Group == gwv1.GroupName && (tr.Kind == KindHTTPRoute || tr.Kind == KindGRPCRoute):
			key := routeKey{string(tr.Kind), types.NamespacedName{Namespace: ns, Name: string(tr.Name)}}
			names := t.routesOf[key]
			if len(names) == 0 {
				return nil, string(gwv1.PolicyReasonTargetNotFound), fmt.Sprintf("%s: %s %s/%s does not exist or is accepted by no Gateway of foresight-xds and no Service", path, tr.Kind, ns, tr.Name)
			}
			out = append(out, target{key: fmt.Sprintf("%s/%s/%s", tr.Kind, ns, tr.Name), names: slices.Clone(names), gateways: slices.Clone(t.routeGW[key])})
		case tr.Group == "" && tr.Kind == KindService:
			if t.svcsOf == nil {
				t.svcsOf = t.policyServicesByService()
			}
			tg := target{key: fmt.Sprintf("Service/%s/%s", ns, tr.Name), service: true,
				names: slices.Clone(t.svcsOf[types.NamespacedName{Namespace: ns, Name: string(tr.Name)}])}
			if len(tg.names) == 0 {
				return nil, string(gwv1.PolicyReasonTargetNotFound), fmt.Sprintf("%s: Service %s/%s does not exist or no route of a Gateway of foresight-xds or of a Service sends to it", path, ns, tr.Name)
			}
			tg.gateways = t.gatewaysSendingTo(tg.names)
			out = append(out, tg)
		default:
			return nil, string(gwv1.PolicyReasonInvalid), fmt.Sprintf("%s: only HTTPRoute and GRPCRoute of %s and Service of the core group can be targeted, not %s %q", path, gwv1.GroupName, tr.Kind, tr.Group)
		}
	}
	return out, string(gwv1.PolicyReasonAccepted), "accepted"
}

// policyServicesByService indexes the policy services made so far by their Kubernetes
// Service, each list in name order.
func (t *translator) policyServicesByService() map[types.NamespacedName][]string {
	out := map[types.NamespacedName][]string{}
	for _, n := range slices.Sorted(maps.Keys(t.svcDefs)) {
		k := types.NamespacedName{Namespace: t.svcDefs[n].Namespace, Name: t.svcDefs[n].KubernetesService}
		out[k] = append(out[k], n)
	}
	return out
}

// gatewaysSendingTo are the Gateways with a route sending to one of the policy services.
func (t *translator) gatewaysSendingTo(svcs []string) []types.NamespacedName {
	if t.svcGateways == nil {
		t.svcGateways = map[string][]types.NamespacedName{}
		for key, names := range t.routesOf {
			for _, n := range names {
				for _, ps := range t.routeSvcs[n] {
					for _, g := range t.routeGW[key] {
						if !slices.Contains(t.svcGateways[ps], g) {
							t.svcGateways[ps] = append(t.svcGateways[ps], g)
						}
					}
				}
			}
		}
	}
	var out []types.NamespacedName
	for _, s := range svcs {
		for _, g := range t.svcGateways[s] {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.SortFunc(out, CompareNamespacedNames)
	return out
}

// CompareNamespacedNames orders namespaced names by namespace, then name.
func CompareNamespacedNames(a, b types.NamespacedName) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// targetGateways are the Gateways the targets are attached to, each once.
func targetGateways(tgs []target) []types.NamespacedName {
	var gws []types.NamespacedName
	for _, tg := range tgs {
		for _, g := range tg.gateways {
			if !slices.Contains(gws, g) {
				gws = append(gws, g)
			}
		}
	}
	return gws
}

// policyStatus is the ancestor statuses of an attached policy: one per Gateway gws its
// targets are attached to and per Service a targeted route is attached to (a mesh route), or,
// when none is known, one per targetRef; each with the Accepted condition c, then the
// conditions extra.
func (t *translator) policyStatus(meta *metav1.ObjectMeta, refs []gwv1.LocalPolicyTargetReference, gws []types.NamespacedName, c policyVersion, extra ...metav1.Condition) []gwv1.PolicyAncestorStatus {
	var ancestors []gwv1.ParentReference
	for _, g := range gws {
		ns := gwv1.Namespace(g.Namespace)
		ancestors = append(ancestors, gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind(KindGateway)), Namespace: &ns, Name: gwv1.ObjectName(g.Name)})
	}
	ns := gwv1.Namespace(meta.Namespace)
	for _, tr := range refs {
		if tr.Group != gwv1.GroupName {
			continue
		}
		for _, svc := range t.meshParents[routeKey{string(tr.Kind), types.NamespacedName{Namespace: meta.Namespace, Name: string(tr.Name)}}] {
			a := gwv1.ParentReference{Group: ptr(gwv1.Group("")), Kind: ptr(gwv1.Kind(KindService)), Namespace: &ns, Name: gwv1.ObjectName(svc)}
			if !slices.ContainsFunc(ancestors, func(b gwv1.ParentReference) bool { return *b.Kind == KindService && b.Name == a.Name }) {
				ancestors = append(ancestors, a)
			}
		}
	}
	if len(ancestors) == 0 {
		for _, tr := range refs {
			ancestors = append(ancestors, gwv1.ParentReference{Group: ptr(tr.Group), Kind: ptr(tr.Kind), Namespace: &ns, Name: tr.Name})
		}
	}
	var sts []gwv1.PolicyAncestorStatus
	for _, a := range ancestors {
		sts = append(sts, gwv1.PolicyAncestorStatus{AncestorRef: a, ControllerName: gwv1.GatewayController(t.in.ControllerName),
			Conditions: append([]metav1.Condition{t.cond(string(gwv1.PolicyConditionAccepted), c.ok, c.reason, c.msg, meta.Generation)}, extra...)})
	}
	return sts
}

// inForceOnServices notes that the attached policy nn, whose statuses are in statuses, is in
// force on the policy services of its Service targets (for noteHanded).
func (t *translator) inForceOnServices(statuses map[types.NamespacedName][]gwv1.PolicyAncestorStatus, nn types.NamespacedName, tgs []target) {
	var svcs []string
	for _, tg := range tgs {
		if tg.service {
			svcs = append(svcs, tg.names...)
		}
	}
	if len(svcs) > 0 {
		t.onServices = append(t.onServices, servicePolicy{statuses: statuses, nn: nn, services: svcs})
	}
}

// noteHanded says, in the Accepted condition of each attached policy in force on a Service,
// where the merge with Input.File sends the mesh routes that send to the Service's port to
// the file's service of that port instead (t.handed): the file's service's own settings hold
// for them, and the policy does not.
func (t *translator) noteHanded() {
	for _, sp := range t.onServices {
		var notes []string
		for _, n := range sp.services {
			if f := t.handed[n]; f != "" {
				d := t.svcDefs[n]
				notes = append(notes, fmt.Sprintf("the mesh routes that send to Service %s/%s port %d send to the policy file's service %q instead, whose own settings hold for them", d.Namespace, d.KubernetesService, d.Port, f))
			}
		}
		if len(notes) == 0 {
			continue
		}
		sts := sp.statuses[sp.nn]
		for i := range sts {
			for j := range sts[i].Conditions {
				if c := &sts[i].Conditions[j]; c.Type == string(gwv1.PolicyConditionAccepted) && c.Status == metav1.ConditionTrue {
					c.Message = "accepted, but it does not hold for every route: " + strings.Join(notes, "; ")
				}
			}
		}
	}
}

// trafficPolicies applies the BackendTrafficPolicies to the translated routes and to the
// policy services. The oldest policy (then namespace/name) owns a target; a later one naming
// the same target is Conflicted and not applied. On a route, the route's own timeout (from
// the Gateway API rule) wins over the policy's; a route's retries, timeout and fault win
// over its Service's, as in a policy file.
func (t *translator) trafficPolicies() {
	ps := slices.Clone(t.in.BackendTrafficPolicies)
	slices.SortFunc(ps, func(a, b *BackendTrafficPolicy) int { return cmpMeta(&a.ObjectMeta, &b.ObjectMeta) })
	routes := map[string]*policy.Route{}
	for i := range t.res.Spec.VirtualHosts {
		vh := &t.res.Spec.VirtualHosts[i]
		for j := range vh.Routes {
			routes[vh.Routes[j].Name] = &vh.Routes[j]
		}
	}
	for _, m := range t.meshRoutes {
		for j := range m.routes {
			routes[m.routes[j].Name] = &m.routes[j]
		}
	}
	claimed := map[string]string{}
	for _, p := range ps {
		nn := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		tgs, spec, useKept, c := choose(t.prev.BackendTrafficPolicies, t.res.LastGood.BackendTrafficPolicies, &p.ObjectMeta, p.Spec,
			func(s BackendTrafficPolicySpec) ([]target, policyVersion) {
				return t.trafficPolicy(p.Namespace, &s, claimed)
			})
		if c.ok {
			t.inForceOnServices(t.res.BackendTrafficPolicies, nn, tgs)
		}
		if c.ok || useKept {
			for _, tg := range tgs {
				claimed[tg.key] = p.Name
				for _, n := range tg.names {
					if tg.service {
						s := t.svcDefs[n]
						spec.applyService(&s)
						t.svcDefs[n] = s
					} else if r := routes[n]; r != nil {
						spec.applyRoute(r)
					}
				}
			}
		}
		t.res.BackendTrafficPolicies[nn] = t.policyStatus(&p.ObjectMeta, p.Spec.TargetRefs, targetGateways(tgs), c)
	}
}

// trafficPolicy resolves and checks one version of a BackendTrafficPolicy in namespace ns
// against the targets other policies already claimed.
func (t *translator) trafficPolicy(ns string, s *BackendTrafficPolicySpec, claimed map[string]string) ([]target, policyVersion) {
	tgs, reason, msg := t.resolveTargets(ns, s.TargetRefs)
	if tgs == nil {
		return nil, policyVersion{reason: reason, msg: msg}
	}
	if err := s.check(tgs); err != nil {
		return tgs, policyVersion{reason: string(gwv1.PolicyReasonInvalid), msg: err.Error()}
	}
	for _, tg := range tgs {
		if other, taken := claimed[tg.key]; taken {
			return tgs, policyVersion{reason: string(gwv1.PolicyReasonConflicted), msg: fmt.Sprintf("%s is already the target of %s %s (the oldest policy on a target wins)", tg.key, KindBackendTrafficPolicy, other)}
		}
	}
	return tgs, policyVersion{ok: true, reason: reason, msg: msg}
}

func dur(d *metav1.Duration) policy.Duration {
	if d == nil {
		return 0
	}
	return policy.Duration(d.Duration)
}

func (f *FaultSpec) policy() *policy.Fault {
	if f == nil {
		return nil
	}
	out := &policy.Fault{}
	if d := f.Delay; d != nil {
		out.Delay = &policy.FaultDelay{Fixed: policy.Duration(d.Fixed.Duration), Percent: d.Percent}
	}
	if a := f.Abort; a != nil {
		out.Abort = &policy.FaultAbort{HTTPStatus: a.HTTPStatus, Percent: a.Percent}
		if a.GRPCStatus != nil {
			out.Abort.GRPCStatus = ptr(*a.GRPCStatus)
		}
	}
	return out
}

func (s *BackendTrafficPolicySpec) retries() *policy.Retries {
	r := s.Retries
	if r == nil {
		return nil
	}
	out := &policy.Retries{On: slices.Clone(r.On), Count: r.Count, PerTryTimeout: dur(r.PerTryTimeout), StatusCodes: slices.Clone(r.StatusCodes)}
	if b := r.Backoff; b != nil {
		out.Backoff = &policy.Backoff{Base: dur(b.Base), Max: dur(b.Max)}
	}
	return out
}

func (s *BackendTrafficPolicySpec) circuitBreaker() *policy.CircuitBreaker {
	c := s.CircuitBreaker
	if c == nil {
		return nil
	}
	return &policy.CircuitBreaker{MaxConnections: c.MaxConnections, MaxPendingRequests: c.MaxPendingRequests, MaxRequests: c.MaxRequests, MaxRetries: c.MaxRetries}
}

func (s *BackendTrafficPolicySpec) outlierDetection() *policy.OutlierDetection {
	o := s.OutlierDetection
	if o == nil {
		return nil
	}
	out := &policy.OutlierDetection{Consecutive5xx: o.Consecutive5xx, Interval: dur(o.Interval), BaseEjectionTime: dur(o.BaseEjectionTime), MaxEjectionPercent: o.MaxEjectionPercent}
	if sr := o.SuccessRate; sr != nil {
		out.SuccessRate = &policy.SuccessRateEjection{MinimumHosts: sr.MinimumHosts, RequestVolume: sr.RequestVolume, StdevFactor: sr.StdevFactor}
	}
	if fp := o.FailurePercentage; fp != nil {
		out.FailurePercentage = &policy.FailurePercentageEjection{Threshold: fp.Threshold, MinimumHosts: fp.MinimumHosts, RequestVolume: fp.RequestVolume}
	}
	return out
}

// applyRoute sets the policy's route settings on r.
func (s *BackendTrafficPolicySpec) applyRoute(r *policy.Route) {
	if s.Timeout != nil && r.Timeout == 0 && !r.NoTimeout {
		r.Timeout = dur(s.Timeout)
	}
	if s.Retries != nil && r.Retries == nil {
		r.Retries = s.retries()
	}
	if s.Fault != nil {
		r.Fault = s.Fault.policy()
	}
}

// applyService sets the policy's settings on a policy service.
func (s *BackendTrafficPolicySpec) applyService(svc *policy.Service) {
	if s.Timeout != nil {
		svc.Timeout = dur(s.Timeout)
	}
	if s.Retries != nil {
		svc.Retries = s.retries()
	}
	if s.Fault != nil {
		svc.Fault = s.Fault.policy()
	}
	if s.CircuitBreaker != nil {
		svc.CircuitBreaker = s.circuitBreaker()
	}
	if s.OutlierDetection != nil {
		svc.OutlierDetection = s.outlierDetection()
	}
}

// check validates the settings with the policy's own rules (as the same fields of a
// service and a route of a policy file) and against the kinds of the targets; errors name
// the policy's fields ("spec.retries.count: must be 1..10").
func (s *BackendTrafficPolicySpec) check(tgs []target) error {
	if s.Timeout == nil && s.Retries == nil && s.Fault == nil && s.CircuitBreaker == nil && s.OutlierDetection == nil {
		return fmt.Errorf("spec: set at least one of timeout, retries, fault, circuitBreaker, outlierDetection")
	}
	for i, tg := range tgs {
		if tg.service {
			continue
		}
		if s.CircuitBreaker != nil {
			return fmt.Errorf("spec.circuitBreaker: applies to Services only (spec.targetRefs[%d] is %s)", i, tg.key)
		}
		if s.OutlierDetection != nil {
			return fmt.Errorf("spec.outlierDetection: applies to Services only (spec.targetRefs[%d] is %s)", i, tg.key)
		}
	}
	svc := syntheticService()
	svc.CircuitBreaker, svc.OutlierDetection = s.circuitBreaker(), s.outlierDetection()
	r := policy.Route{Name: "target", Backends: []policy.Backend{{Service: "target"}}, Timeout: dur(s.Timeout), Retries: s.retries(), Fault: s.Fault.policy()}
	return checkSynthetic(svc, r)
}

// syntheticService is the service "target" the settings of an attached policy are checked on.
func syntheticService() policy.Service {
	return policy.Service{Name: "target", Port: 80, Endpoints: []policy.Endpoint{{Address: "127.0.0.1"}}}
}

// checkSynthetic validates svc and r in a policy of their own and names the errors by the
// attached policy's fields.
func checkSynthetic(svc policy.Service, r policy.Route) error {
	p := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.Kind, Metadata: policy.Metadata{Name: "attached", Namespace: policy.DefaultNamespace},
		Spec: policy.Spec{Services: []policy.Service{svc}, VirtualHosts: []policy.VirtualHost{{Name: "target", Domains: []string{"*"}, Routes: []policy.Route{r}}}}}
	p.SetDefaults()
	p.Spec.NodeGroups = nil
	if err := p.Validate(); err != nil {
		msg := strings.NewReplacer("spec.services[0].", "spec.", "spec.virtualHosts[0].routes[0].", "spec.").Replace(err.Error())
		return fmt.Errorf("%s", msg)
	}
	return nil
}

// experiments translates the ExperimentPolicies into experiments over the translated routes
// and services. Two policies whose windows overlap on one target conflict: the oldest runs.
func (t *translator) experiments() {
	ps := slices.Clone(t.in.ExperimentPolicies)
	slices.SortFunc(ps, func(a, b *ExperimentPolicy) int { return cmpMeta(&a.ObjectMeta, &b.ObjectMeta) })
	type window struct {
		name       string
		start, end time.Time
	}
	claimed := map[string][]window{}
	// built is one version of a policy: its resolved targets, and its experiment when it applies.
	type built struct {
		tgs []target
		e   *experiment.Experiment
	}
	// version resolves, builds and checks one version of p against the windows other
	// policies already claimed.
	version := func(p *ExperimentPolicy) (built, policyVersion) {
		tgs, reason, msg := t.resolveTargets(p.Namespace, p.Spec.TargetRefs)
		if tgs == nil {
			return built{}, policyVersion{reason: reason, msg: msg}
		}
		e := p.experiment(tgs)
		err := e.Validate()
		if err == nil {
			// The fault by the policy's own rules, as on a route of a policy file.
			err = checkSynthetic(syntheticService(), policy.Route{Name: "target", Backends: []policy.Backend{{Service: "target"}}, Fault: &e.Spec.Fault})
		}
		if err != nil {
			return built{tgs: tgs}, policyVersion{reason: string(gwv1.PolicyReasonInvalid), msg: err.Error()}
		}
		w := window{p.Name, e.Spec.Start, e.End()}
		for _, tg := range tgs {
			for _, o := range claimed[tg.key] {
				if w.start.Before(o.end) && o.start.Before(w.end) {
					return built{tgs: tgs}, policyVersion{reason: string(gwv1.PolicyReasonConflicted), msg: fmt.Sprintf("%s is the target of %s %s at the same time (the oldest policy on a target wins)", tg.key, KindExperimentPolicy, o.name)}
				}
			}
		}
		return built{tgs: tgs, e: e}, policyVersion{ok: true, reason: reason, msg: msg}
	}
	for _, p := range ps {
		nn := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
		b, _, useKept, c := choose(t.prev.ExperimentPolicies, t.res.LastGood.ExperimentPolicies, &p.ObjectMeta, p.Spec,
			func(s ExperimentPolicySpec) (built, policyVersion) {
				k := *p
				k.Spec = s
				return version(&k)
			})
		if c.ok {
			t.inForceOnServices(t.res.ExperimentPolicies, nn, b.tgs)
		}
		if c.ok || useKept {
			for _, tg := range b.tgs {
				claimed[tg.key] = append(claimed[tg.key], window{p.Name, b.e.Spec.Start, b.e.End()})
			}
			t.res.Experiments = append(t.res.Experiments, b.e)
		}
		t.res.ExperimentPolicies[nn] = t.policyStatus(&p.ObjectMeta, p.Spec.TargetRefs, targetGateways(b.tgs), c)
	}
}

// experiment is the experiment of p over the resolved targets.
func (p *ExperimentPolicy) experiment(tgs []target) *experiment.Experiment {
	e := &experiment.Experiment{APIVersion: policy.APIVersion, Kind: experiment.Kind,
		Metadata: policy.Metadata{Name: ExperimentName(p.Namespace, p.Name), Namespace: p.Namespace},
		Spec:     experiment.Spec{Start: p.Spec.Start.Time, Duration: policy.Duration(p.Spec.Duration.Duration)}}
	if f := p.Spec.Fault.policy(); f != nil {
		e.Spec.Fault = *f
	}
	if g := p.Spec.Guard; g != nil {
		e.Spec.Guard = &experiment.Guard{Query: g.Query, Interval: dur(g.Interval)}
	}
	var all []policy.FaultTarget
	for _, tg := range tgs {
		for _, n := range tg.names {
			if tg.service {
				all = append(all, policy.FaultTarget{Service: n})
			} else {
				all = append(all, policy.FaultTarget{Route: n})
			}
		}
	}
	e.Spec.Target, e.MoreTargets = all[0], all[1:]
	return e
}
