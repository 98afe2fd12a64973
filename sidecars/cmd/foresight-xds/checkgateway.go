package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// defaultGatewayController is the controllerName check takes as foresight-xds's when told
// no other: the one of deploy/xds/gateway-api.
const defaultGatewayController = "foresight.dev/xds"

// manifestsKind is what documentKind calls a file of Kubernetes objects.
const manifestsKind = "manifests"

// objectRef names one object read from the manifests.
type objectRef struct {
	kind string
	nn   types.NamespacedName
}

func (o objectRef) String() string {
	if o.nn.Namespace == "" {
		return o.kind + " " + o.nn.Name
	}
	return o.kind + " " + o.nn.Namespace + "/" + o.nn.Name
}

// gatewayCheck is the Gateway API part of check: the manifests of the files, translated as
// serve --gateway-controller-name would, and their statuses.
type gatewayCheck struct {
	in       *gatewayapi.Input
	fileOf   map[objectRef]string
	files    []string
	problems map[string][]string
	notes    map[string][]string
}

// readGatewayManifests reads the files' objects into one Input for controller; problems
// are the files that do not read and the objects defined twice.
func readGatewayManifests(files []string, controller string, checks check.Options) (*gatewayCheck, []error) {
	gc := &gatewayCheck{
		in:       &gatewayapi.Input{ControllerName: controller, Checks: checks, Now: time.Now()},
		fileOf:   map[objectRef]string{},
		problems: map[string][]string{},
		notes:    map[string][]string{},
	}
	var errs []error
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("check: %w", err))
			continue
		}
		objs, skipped, err := gatewayapi.ReadManifests(file, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		gc.in.Add(objs)
		gc.files = append(gc.files, file)
		for _, o := range objectsOf(objs) {
			if prev, dup := gc.fileOf[o]; dup {
				gc.problem(file, "%s: also defined in %s (a cluster holds one of them)", o, prev)
				continue
			}
			gc.fileOf[o] = file
		}
		if len(skipped) > 0 {
			gc.note(file, "not read by foresight-xds: %s", strings.Join(skipped, ", "))
		}
	}
	return gc, errs
}

// objectsOf lists the objects of in, kind by kind.
func objectsOf(in *gatewayapi.Input) []objectRef {
	var out []objectRef
	add := func(kind string, m metav1.ObjectMeta) {
		out = append(out, objectRef{kind, types.NamespacedName{Namespace: m.Namespace, Name: m.Name}})
	}
	for _, o := range in.GatewayClasses {
		add(gatewayapi.KindGatewayClass, o.ObjectMeta)
	}
	for _, o := range in.Gateways {
		add(gatewayapi.KindGateway, o.ObjectMeta)
	}
	for _, o := range in.HTTPRoutes {
		add(gatewayapi.KindHTTPRoute, o.ObjectMeta)
	}
	for _, o := range in.GRPCRoutes {
		add(gatewayapi.KindGRPCRoute, o.ObjectMeta)
	}
	for _, o := range in.TLSRoutes {
		add(gatewayapi.KindTLSRoute, o.ObjectMeta)
	}
	for _, o := range in.TCPRoutes {
		add(gatewayapi.KindTCPRoute, o.ObjectMeta)
	}
	for _, o := range in.ListenerSets {
		add(gatewayapi.KindListenerSet, o.ObjectMeta)
	}
	for _, o := range in.ReferenceGrants {
		add(gatewayapi.KindReferenceGrant, o.ObjectMeta)
	}
	for _, o := range in.BackendTLSPolicies {
		add(gatewayapi.KindBackendTLSPolicy, o.ObjectMeta)
	}
	for _, o := range in.CanaryPolicies {
		add(gatewayapi.KindCanaryPolicy, o.ObjectMeta)
	}
	for _, o := range in.BackendTrafficPolicies {
		add(gatewayapi.KindBackendTrafficPolicy, o.ObjectMeta)
	}
	for _, o := range in.ExperimentPolicies {
		add(gatewayapi.KindExperimentPolicy, o.ObjectMeta)
	}
	for _, o := range in.Services {
		add(gatewayapi.KindService, o.ObjectMeta)
	}
	for _, o := range in.Secrets {
		add(gatewayapi.KindSecret, o.ObjectMeta)
	}
	for _, o := range in.ConfigMaps {
		add(gatewayapi.KindConfigMap, o.ObjectMeta)
	}
	for _, o := range in.Namespaces {
		add(gatewayapi.KindNamespace, o.ObjectMeta)
	}
	return out
}

func (gc *gatewayCheck) problem(file, format string, args ...any) {
	gc.problems[file] = append(gc.problems[file], fmt.Sprintf(format, args...))
}

func (gc *gatewayCheck) note(file, format string, args ...any) {
	gc.notes[file] = append(gc.notes[file], fmt.Sprintf(format, args...))
}

// run translates the manifests and checks what serve would serve of them, merged into base
// (the policy file given with them, or none): it is valid, translates, and passes the
// proxies' checks. Every condition that is not as it should be is a problem of the file of
// its object.
func (gc *gatewayCheck) run(base *policy.Policy, checks check.Options) {
	if base == nil {
		base = &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.Kind, Metadata: policy.Metadata{Name: "gateway-api", Namespace: policy.DefaultNamespace}}
	}
	in := gc.in
	in.File = base
	gc.classesOfOurs()
	in.CompleteNamespaces()
	res := gatewayapi.Translate(in)

	for _, name := range slices.Sorted(maps.Keys(res.GatewayClasses)) {
		gc.conditions(objectRef{gatewayapi.KindGatewayClass, types.NamespacedName{Name: name}}, "", res.GatewayClasses[name])
	}
	ours := 0
	for _, g := range in.Gateways {
		nn := types.NamespacedName{Namespace: g.Namespace, Name: g.Name}
		st := res.Gateways[nn]
		ref := objectRef{gatewayapi.KindGateway, nn}
		if st == nil {
			gc.note(gc.fileOf[ref], "%s: GatewayClass %q is not foresight-xds's (controllerName %s): not checked", ref, g.Spec.GatewayClassName, in.ControllerName)
			continue
		}
		ours++
		gc.conditions(ref, "", st.Conditions)
		for _, l := range st.Listeners {
			gc.conditions(ref, fmt.Sprintf("listener %s: ", l.Name), l.Conditions)
		}
		for _, name := range slices.Sorted(maps.Keys(res.Unserved[nn])) {
			gc.note(gc.fileOf[ref], "%s: listener %s serves nothing: %s", ref, name, res.Unserved[nn][name])
		}
	}
	for _, s := range in.ListenerSets {
		nn := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
		st := res.ListenerSets[nn]
		ref := objectRef{gatewayapi.KindListenerSet, nn}
		if st == nil {
			gc.note(gc.fileOf[ref], "%s: its parent is not a Gateway of foresight-xds's in the files: not checked", ref)
			continue
		}
		gc.conditions(ref, "", st.Conditions)
		for _, l := range st.Listeners {
			gc.conditions(ref, fmt.Sprintf("listener %s: ", l.Name), l.Conditions)
		}
	}
	routes := func(kind string, statuses map[types.NamespacedName][]gwv1.RouteParentStatus, names []types.NamespacedName) {
		for _, nn := range names {
			ref := objectRef{kind, nn}
			parents, attached := statuses[nn]
			if !attached {
				gc.note(gc.fileOf[ref], "%s: no parentRef names a Gateway of foresight-xds's in the files: not checked", ref)
			}
			for _, p := range parents {
				gc.conditions(ref, fmt.Sprintf("parent %s: ", parentName(nn.Namespace, p.ParentRef)), p.Conditions)
			}
		}
	}
	routes(gatewayapi.KindHTTPRoute, res.HTTPRoutes, namesOf(in.HTTPRoutes, func(r *gwv1.HTTPRoute) metav1.ObjectMeta { return r.ObjectMeta }))
	routes(gatewayapi.KindGRPCRoute, res.GRPCRoutes, namesOf(in.GRPCRoutes, func(r *gwv1.GRPCRoute) metav1.ObjectMeta { return r.ObjectMeta }))
	routes(gatewayapi.KindTLSRoute, res.TLSRoutes, namesOf(in.TLSRoutes, func(r *gwv1.TLSRoute) metav1.ObjectMeta { return r.ObjectMeta }))
	routes(gatewayapi.KindTCPRoute, res.TCPRoutes, namesOf(in.TCPRoutes, func(r *gwv1.TCPRoute) metav1.ObjectMeta { return r.ObjectMeta }))
	policies := func(kind string, statuses map[types.NamespacedName][]gwv1.PolicyAncestorStatus) {
		for _, nn := range slices.SortedFunc(maps.Keys(statuses), gatewayapi.CompareNamespacedNames) {
			ref := objectRef{kind, nn}
			for _, a := range statuses[nn] {
				gc.conditions(ref, fmt.Sprintf("ancestor %s: ", parentName(nn.Namespace, a.AncestorRef)), a.Conditions)
			}
		}
	}
	policies(gatewayapi.KindCanaryPolicy, res.CanaryPolicies)
	policies(gatewayapi.KindBackendTrafficPolicy, res.BackendTrafficPolicies)
	policies(gatewayapi.KindExperimentPolicy, res.ExperimentPolicies)
	policies(gatewayapi.KindBackendTLSPolicy, res.BackendTLSPolicies)

	// What serve would serve: the translation merged into the policy file.
	// The routes whose parent is a Service (mesh routes) are served without a Gateway.
	if ours > 0 || len(res.Spec.Services) > 0 {
		merged := gatewayapi.Merge(base, res.Spec)
		groups, err := 0, merged.Validate()
		if err == nil {
			groups, err = checkServed(merged, checks)
		}
		switch {
		case err != nil:
			gc.problem(gc.files[0], "the Gateway API configuration is refused as a whole, with the policy: %v", err)
		case ours > 0:
			gc.note(gc.files[0], "%d Gateways of foresight-xds's served to %d node groups", ours, groups)
		default:
			gc.note(gc.files[0], "routes of Services (mesh routes) served to %d node groups", groups)
		}
	}
}

// classesOfOurs takes each GatewayClass a Gateway names and the files do not define as
// foresight-xds's, and says so.
func (gc *gatewayCheck) classesOfOurs() {
	in := gc.in
	defined := map[string]bool{}
	for _, c := range in.GatewayClasses {
		defined[c.Name] = true
	}
	for _, g := range in.Gateways {
		name := string(g.Spec.GatewayClassName)
		if defined[name] {
			continue
		}
		defined[name] = true
		in.GatewayClasses = append(in.GatewayClasses, &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: gwv1.GatewayClassSpec{ControllerName: gwv1.GatewayController(in.ControllerName)}})
		ref := objectRef{gatewayapi.KindGateway, types.NamespacedName{Namespace: g.Namespace, Name: g.Name}}
		gc.note(gc.fileOf[ref], "GatewayClass %s is not in the files: taken as foresight-xds's (controllerName %s)", name, in.ControllerName)
	}
}

// negativeConditions are the condition types whose True is the problem.
var negativeConditions = []string{
	string(gwv1.ListenerConditionConflicted),
	string(gwv1.ListenerConditionOverlappingTLSConfig),
	string(gwv1.RouteConditionPartiallyInvalid),
}

// conditions records each condition of ref that says a problem (False, or True for the
// negativeConditions) as a problem of ref's file.
func (gc *gatewayCheck) conditions(ref objectRef, prefix string, conds []metav1.Condition) {
	file := gc.fileOf[ref]
	if file == "" && len(gc.files) > 0 {
		file = gc.files[0]
	}
	for _, c := range conds {
		bad := metav1.ConditionFalse
		if slices.Contains(negativeConditions, c.Type) {
			bad = metav1.ConditionTrue
		}
		if c.Status == bad {
			gc.problem(file, "%s: %s%s=%s (%s): %s", ref, prefix, c.Type, c.Status, c.Reason, c.Message)
		}
	}
}

// report prints each file's notes and, when it has no problem, an OK line; it returns the
// problems, each naming its file.
func (gc *gatewayCheck) report(w io.Writer) []error {
	var problems []error
	for _, file := range gc.files {
		for _, p := range gc.problems[file] {
			problems = append(problems, fmt.Errorf("%s: %s", file, p))
		}
		for _, n := range gc.notes[file] {
			fmt.Fprintf(w, "%s: note: %s\n", file, n)
		}
		if len(gc.problems[file]) == 0 {
			n := 0
			for _, f := range gc.fileOf {
				if f == file {
					n++
				}
			}
			fmt.Fprintf(w, "%s: OK (%d Kubernetes objects)\n", file, n)
		}
	}
	return problems
}

// parentName names a parentRef (or ancestorRef) of an object in namespace ns.
func parentName(ns string, p gwv1.ParentReference) string {
	kind := gatewayapi.KindGateway
	if p.Kind != nil {
		kind = string(*p.Kind)
	}
	if p.Namespace != nil {
		ns = string(*p.Namespace)
	}
	s := kind + " " + ns + "/" + string(p.Name)
	if p.SectionName != nil {
		s += " (" + string(*p.SectionName) + ")"
	}
	return s
}

// namesOf are the namespaced names of objs.
func namesOf[T any](objs []*T, meta func(*T) metav1.ObjectMeta) []types.NamespacedName {
	out := make([]types.NamespacedName, len(objs))
	for i, o := range objs {
		m := meta(o)
		out[i] = types.NamespacedName{Namespace: m.Namespace, Name: m.Name}
	}
	return out
}
