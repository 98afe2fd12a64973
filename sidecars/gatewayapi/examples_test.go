package gatewayapi

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
)

// upstreamExamples is the examples/standard folder of the Gateway API module this project
// builds with: the upstream project's own manifests, read where `go mod download` put them.
func upstreamExamples(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("locate the gateway-api module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "examples", "standard")
}

// exampleInput reads the manifests of one example (a file, or the files of a folder) into an
// Input served by our controller: every GatewayClass a Gateway names is ours, every Service a
// route names exists with the port it names, and every certificate an HTTPS listener names is
// a valid kubernetes.io/tls Secret, and every CA a ConfigMap holds. Kinds Foresight does not
// serve (TCPRoute, TLSRoute, ...) are left out and returned by name.
func exampleInput(t *testing.T, files []string) (*Input, []string) {
	t.Helper()
	in := &Input{ControllerName: controller, Now: time.Unix(1_800_000_000, 0)}
	var skipped []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, kinds, err := ReadManifests(f, b)
		if err != nil {
			t.Fatal(err)
		}
		in.Add(objs)
		skipped = append(skipped, kinds...)
	}
	// Each GatewayClass is replaced below by a class of ours of the same name.
	in.GatewayClasses = nil
	// A route shown without parentRefs (an example of a filter alone) is attached to a Gateway.
	for _, r := range in.HTTPRoutes {
		if len(r.Spec.ParentRefs) == 0 {
			r.Spec.ParentRefs = []gwv1.ParentReference{{Name: "example"}}
		}
	}
	for _, r := range in.GRPCRoutes {
		if len(r.Spec.ParentRefs) == 0 {
			r.Spec.ParentRefs = []gwv1.ParentReference{{Name: "example"}}
		}
	}
	addMissingParents(in)
	in.CompleteNamespaces()
	classes := map[string]bool{}
	for _, g := range in.Gateways {
		if !classes[string(g.Spec.GatewayClassName)] {
			classes[string(g.Spec.GatewayClassName)] = true
			in.GatewayClasses = append(in.GatewayClasses, &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: string(g.Spec.GatewayClassName)},
				Spec: gwv1.GatewayClassSpec{ControllerName: controller}})
		}
		for _, l := range g.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, c := range l.TLS.CertificateRefs {
				ns := g.Namespace
				if c.Namespace != nil {
					ns = string(*c.Namespace)
				}
				crt, key := pki.ServerPair(t, "example.com")
				in.Secrets = append(in.Secrets, tlsSecret(ns, string(c.Name), crt, key))
			}
		}
	}
	// Every CA certificate a Gateway's client certificate validation or a BackendTLSPolicy
	// names is a ConfigMap with a CA's certificate in ca.crt.
	cas := CACertificateRefs(in.Gateways)
	maps.Copy(cas, BackendTLSCACertificateRefs(in.BackendTLSPolicies))
	for nn := range cas {
		ca, err := pki.NewCA(nn.Name)
		if err != nil {
			t.Fatal(err)
		}
		in.ConfigMaps = append(in.ConfigMaps, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name},
			Data: map[string]string{CACertificateKey: string(ca.CertPEM)}})
	}
	services := map[string]bool{}
	for _, s := range in.Services {
		services[s.Namespace+"/"+s.Name] = true
	}
	addService := func(ns string, b gwv1.BackendObjectReference, appProtocol string) {
		if (b.Group != nil && *b.Group != "") || (b.Kind != nil && *b.Kind != "Service") || b.Port == nil {
			return
		}
		if b.Namespace != nil {
			ns = string(*b.Namespace)
		}
		if key := ns + "/" + string(b.Name); !services[key] {
			services[key] = true
			s := svc(ns, string(b.Name), *b.Port)
			if appProtocol != "" {
				s.Spec.Ports[0].AppProtocol = &appProtocol
			}
			in.Services = append(in.Services, s)
		}
	}
	for _, r := range in.HTTPRoutes {
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				addService(r.Namespace, b.BackendObjectReference, "")
			}
			for _, f := range rule.Filters {
				if f.RequestMirror != nil {
					addService(r.Namespace, f.RequestMirror.BackendRef, "")
				}
			}
		}
	}
	for _, r := range in.GRPCRoutes {
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				addService(r.Namespace, b.BackendObjectReference, "kubernetes.io/h2c")
			}
		}
	}
	for _, r := range in.TLSRoutes {
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				addService(r.Namespace, b.BackendObjectReference, "")
			}
		}
	}
	for _, r := range in.TCPRoutes {
		for _, rule := range r.Spec.Rules {
			for _, b := range rule.BackendRefs {
				addService(r.Namespace, b.BackendObjectReference, "")
			}
		}
	}
	// Every Service a BackendTLSPolicy targets exists, with the port its sectionName names.
	for _, p := range in.BackendTLSPolicies {
		for _, tr := range p.Spec.TargetRefs {
			if key := p.Namespace + "/" + string(tr.Name); tr.Kind == KindService && !services[key] {
				services[key] = true
				s := svc(p.Namespace, string(tr.Name), 443)
				if tr.SectionName != nil {
					s.Spec.Ports[0].Name = string(*tr.SectionName)
				}
				in.Services = append(in.Services, s)
			}
		}
	}
	return in, skipped
}

// addMissingParents adds, for every parentRef that names a Gateway the example does not
// define (the examples of one feature leave it out), a Gateway with an HTTP listener on port 80
// that allows routes from every namespace.
func addMissingParents(in *Input) {
	have := map[types.NamespacedName]bool{}
	for _, g := range in.Gateways {
		have[types.NamespacedName{Namespace: g.Namespace, Name: g.Name}] = true
	}
	add := func(ns string, refs []gwv1.ParentReference) {
		for _, r := range refs {
			if (r.Kind != nil && *r.Kind != "Gateway") || (r.Group != nil && *r.Group != gwv1.GroupName) {
				continue
			}
			nn := types.NamespacedName{Namespace: ns, Name: string(r.Name)}
			if r.Namespace != nil {
				nn.Namespace = string(*r.Namespace)
			}
			if have[nn] {
				continue
			}
			have[nn] = true
			from := gwv1.NamespacesFromAll
			in.Gateways = append(in.Gateways, &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name},
				Spec: gwv1.GatewaySpec{GatewayClassName: "foresight", Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType,
					AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &from}}}}}})
		}
	}
	for _, r := range in.HTTPRoutes {
		add(r.Namespace, r.Spec.ParentRefs)
	}
	for _, r := range in.GRPCRoutes {
		add(r.Namespace, r.Spec.ParentRefs)
	}
}

// routeManifest matches a manifest that holds a route.
var routeManifest = regexp.MustCompile(`(?m)^kind: *\w+Route\s*$`)

// servableListener says whether foresight-xds serves a listener like l: HTTP, HTTPS, TLS
// (passed through or terminated) and TCP.
func servableListener(l gwv1.Listener) bool {
	switch l.Protocol {
	case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType, gwv1.TCPProtocolType, gwv1.TLSProtocolType:
		return true
	}
	return false
}

// TestUpstreamExamplesAreServed translates each example of the Gateway API project's
// examples/standard, and serves the result: the policy is valid and every node group passes
// the proxies' checks. Every Gateway is accepted, and every route attached to one of its
// listeners is accepted unless its status says why not.
func TestUpstreamExamplesAreServed(t *testing.T) {
	dir := upstreamExamples(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	namespaces := filepath.Join(dir, "0-namespaces.yaml")
	// A scenario is a file of the folder, or a file of a subfolder with the subfolder's files
	// that hold no route (its Gateways, grants, namespaces): the route files of one subfolder
	// are often versions of the same route, which a cluster holds one at a time.
	scenarios := map[string][]string{}
	for _, e := range entries {
		if !e.IsDir() {
			if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "0-namespaces.yaml" {
				scenarios[e.Name()] = []string{filepath.Join(dir, e.Name()), namespaces}
			}
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*.yaml"))
		var shared, routes []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if routeManifest.Match(b) {
				routes = append(routes, f)
			} else {
				shared = append(shared, f)
			}
		}
		for _, f := range routes {
			scenarios[e.Name()+"/"+filepath.Base(f)] = append([]string{f, namespaces}, shared...)
		}
		if len(routes) == 0 {
			scenarios[e.Name()] = append(shared, namespaces)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(scenarios)) {
		files := scenarios[name]
		t.Run(name, func(t *testing.T) {
			in, skipped := exampleInput(t, files)
			res := Translate(in)
			served(t, res.Spec)
			for _, g := range in.Gateways {
				st := res.Gateways[types.NamespacedName{Namespace: g.Namespace, Name: g.Name}]
				if st == nil {
					t.Errorf("Gateway %s/%s: no status", g.Namespace, g.Name)
					continue
				}
				// A Gateway is accepted when one of its listeners is one foresight-xds serves,
				// for the reason ListenersNotValid when some are not; otherwise its status
				// says so.
				servable := slices.ContainsFunc(g.Spec.Listeners, servableListener)
				want := metav1.Condition{Status: metav1.ConditionTrue, Reason: string(gwv1.GatewayReasonAccepted)}
				switch {
				case !servable:
					want = metav1.Condition{Status: metav1.ConditionFalse, Reason: string(gwv1.GatewayReasonListenersNotValid)}
				case !slices.ContainsFunc(g.Spec.Listeners, func(l gwv1.Listener) bool { return !servableListener(l) }):
				default:
					want.Reason = string(gwv1.GatewayReasonListenersNotValid)
				}
				if c := meta.FindStatusCondition(st.Conditions, string(gwv1.GatewayConditionAccepted)); c == nil || c.Status != want.Status || c.Reason != want.Reason {
					t.Errorf("Gateway %s/%s: Accepted %v, want %s (%s)", g.Namespace, g.Name, c, want.Status, want.Reason)
				}
				// Requested addresses are never assigned, and the status says which.
				nn := types.NamespacedName{Namespace: g.Namespace, Name: g.Name}
				if got := res.AddressesNotAssigned[nn]; servable && len(g.Spec.Addresses) > 0 && !strings.Contains(got, g.Spec.Addresses[len(g.Spec.Addresses)-1].Value) {
					t.Errorf("Gateway %s: spec.addresses %v, but the status says %q", nn, g.Spec.Addresses, got)
				}
			}
			parents := 0
			for nn, ps := range res.HTTPRoutes {
				for _, p := range ps {
					parents++
					checkRouteParent(t, "HTTPRoute "+nn.String(), p)
				}
			}
			for nn, ps := range res.GRPCRoutes {
				for _, p := range ps {
					parents++
					checkRouteParent(t, "GRPCRoute "+nn.String(), p)
				}
			}
			// A TLSRoute or TCPRoute is accepted but where it names a listener that
			// foresight-xds does not serve.
			unservable := map[gwv1.SectionName]bool{}
			for _, g := range in.Gateways {
				for _, l := range g.Spec.Listeners {
					unservable[l.Name] = !servableListener(l)
				}
			}
			for kind, sts := range map[string]map[types.NamespacedName][]gwv1.RouteParentStatus{KindTLSRoute: res.TLSRoutes, KindTCPRoute: res.TCPRoutes} {
				for nn, ps := range sts {
					for _, p := range ps {
						parents++
						if p.ParentRef.SectionName == nil || !unservable[*p.ParentRef.SectionName] {
							checkRouteParent(t, kind+" "+nn.String(), p)
						} else if meta.IsStatusConditionTrue(p.Conditions, string(gwv1.RouteConditionAccepted)) {
							t.Errorf("%s %s accepted on listener %s, which is not served", kind, nn, *p.ParentRef.SectionName)
						}
					}
				}
			}
			// Every route attached to a Gateway has a status; a route attached to a Service
			// (GAMMA, a mesh's route) is not ours.
			toGateway := func(refs []gwv1.ParentReference) bool {
				return slices.ContainsFunc(refs, func(r gwv1.ParentReference) bool { return r.Kind == nil || *r.Kind == "Gateway" })
			}
			routes := 0
			for _, r := range in.HTTPRoutes {
				if toGateway(r.Spec.ParentRefs) {
					routes++
				}
			}
			for _, r := range in.GRPCRoutes {
				if toGateway(r.Spec.ParentRefs) {
					routes++
				}
			}
			routes += len(in.TLSRoutes) + len(in.TCPRoutes)
			if parents < routes {
				t.Errorf("%d route parent statuses for %d routes attached to Gateways", parents, routes)
			}
			// Every BackendTLSPolicy is accepted with its references resolved.
			for _, p := range in.BackendTLSPolicies {
				sts := res.BackendTLSPolicies[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}]
				for _, typ := range []string{"Accepted", "ResolvedRefs"} {
					if len(sts) == 0 || !meta.IsStatusConditionTrue(sts[0].Conditions, typ) {
						t.Errorf("BackendTLSPolicy %s/%s: %s not true in %+v", p.Namespace, p.Name, typ, sts)
					}
				}
			}
			if len(skipped) > 0 {
				t.Logf("not served here: %v", skipped)
			}
		})
	}
}

// checkRouteParent checks a route's status on one parent: accepted, its references resolved
// but those of kinds other than core Services (InvalidKind).
func checkRouteParent(t *testing.T, route string, p gwv1.RouteParentStatus) {
	t.Helper()
	accepted, resolved := meta.FindStatusCondition(p.Conditions, string(gwv1.RouteConditionAccepted)), meta.FindStatusCondition(p.Conditions, string(gwv1.RouteConditionResolvedRefs))
	switch {
	case accepted == nil || resolved == nil:
		t.Errorf("%s parent %s: conditions %v, want Accepted and ResolvedRefs", route, p.ParentRef.Name, p.Conditions)
	case accepted.Status != metav1.ConditionTrue:
		t.Errorf("%s parent %s: Accepted %s (%s: %s)", route, p.ParentRef.Name, accepted.Status, accepted.Reason, accepted.Message)
	case resolved.Status != metav1.ConditionTrue && resolved.Reason != string(gwv1.RouteReasonInvalidKind):
		t.Errorf("%s parent %s: ResolvedRefs %s (%s: %s)", route, p.ParentRef.Name, resolved.Status, resolved.Reason, resolved.Message)
	}
}
