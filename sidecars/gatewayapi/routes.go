package gatewayapi

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// hostname is what the Gateway API allows in hostnames: DNS names, optionally with a
// leading "*." wildcard label.
var hostname = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// badHostname says which of hs is not a hostname, or "".
func badHostname(hs []gwv1.Hostname) string {
	for i, h := range hs {
		if len(h) > 253 || !hostname.MatchString(string(h)) {
			return fmt.Sprintf("hostnames[%d]: %q is not a hostname", i, h)
		}
	}
	return ""
}

// rules translates the n rules of a route with rule, unless its hostnames are invalid.
func rules(rs *routeSpec, n int, rule func(ri int) (*ruleOut, string)) *routeSpec {
	if rs.unsupported = badHostname(rs.hostnames); rs.unsupported != "" {
		return rs
	}
	for ri := range n {
		out, msg := rule(ri)
		rs.addRule(ri, out, msg)
	}
	rs.finish()
	return rs
}

func (t *translator) httpRoute(r *gwv1.HTTPRoute) *routeSpec {
	rs := &routeSpec{kind: KindHTTPRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames,
		ruleNames: refsOf(r.Spec.Rules, func(rule gwv1.HTTPRouteRule) *gwv1.SectionName { return rule.Name })}
	return rules(rs, len(r.Spec.Rules), func(ri int) (*ruleOut, string) { return t.httpRule(r, ri) })
}

// httpRule translates one rule of an HTTPRoute, or says why it cannot be served.
func (t *translator) httpRule(r *gwv1.HTTPRoute, ri int) (*ruleOut, string) {
	rule := &r.Spec.Rules[ri]
	if msg := unsupportedHTTPRule(rule); msg != "" {
		return nil, msg
	}
	refs, msg := backendRefs(rule.BackendRefs, func(b gwv1.HTTPBackendRef) gwv1.BackendRef { return b.BackendRef },
		func(b gwv1.HTTPBackendRef) []refFilter { return refsOf(b.Filters, httpRefFilter) })
	if msg != "" {
		return nil, msg
	}
	out := &ruleOut{}
	var base policy.Route
	for _, f := range rule.Filters {
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestRedirect:
			base.Redirect = redirect(f.RequestRedirect)
		case gwv1.HTTPRouteFilterURLRewrite:
			base.Rewrite = &policy.Rewrite{}
			if f.URLRewrite.Hostname != nil {
				base.Rewrite.Host = string(*f.URLRewrite.Hostname)
			}
			if p := f.URLRewrite.Path; p != nil {
				base.Rewrite.Prefix, base.Rewrite.Path = pathModifier(p)
			}
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			base.RequestHeaders = headerChanges(f.RequestHeaderModifier)
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			base.ResponseHeaders = headerChanges(f.ResponseHeaderModifier)
		case gwv1.HTTPRouteFilterCORS:
			base.CORS = cors(f.CORS)
		}
	}
	if msg := retry(&base, rule.Retry); msg != "" {
		return nil, msg
	}
	if msg := timeouts(&base, rule.Timeouts); msg != "" {
		return nil, msg
	}
	if base.Redirect == nil {
		from := routeFrom{KindHTTPRoute, r.Namespace}
		path := rulePath(ri, rule.Name)
		t.forward(&base, out, from, refs, path)
		t.mirrors(&base, out, from, refsOf(rule.Filters, func(f gwv1.HTTPRouteFilter) *gwv1.HTTPRequestMirrorFilter { return f.RequestMirror }), path)
		if base.DirectResponse != nil {
			// The rule forwards nowhere and answers 500 itself: a URLRewrite has no request
			// to rewrite, and the rule stays served.
			base.Rewrite = nil
		}
	}
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwv1.HTTPRouteMatch{{}}
	}
	for mi, m := range matches {
		pr := base
		rk := rank{created: r.CreationTimestamp.Time, nsName: r.Namespace + "/" + r.Name, rule: ri, match: mi}
		path := gwv1.PathMatchPathPrefix
		value := "/"
		if m.Path != nil {
			if m.Path.Type != nil {
				path = *m.Path.Type
			}
			if m.Path.Value != nil {
				value = *m.Path.Value
			}
		}
		switch path {
		case gwv1.PathMatchExact:
			pr.Match.Exact, rk.exact = value, true
		case gwv1.PathMatchRegularExpression:
			pr.Match.Regex, rk.regex = value, true
		default:
			// A prefix matches whole path segments, ignoring a trailing "/": "/foo" and
			// "/foo/" match /foo, /foo/ and /foo/bar, not /foobar.
			switch v := strings.TrimSuffix(value, "/"); {
			case v == "":
				pr.Match.Prefix, rk.prefixLen = "/", 1
			case strings.ContainsAny(v, "?#"): // not a path: matched as written
				pr.Match.Regex, rk.prefixLen = policy.SegmentPrefixRegex(v), len(v)
			default:
				pr.Match.SegmentPrefix, rk.prefixLen = v, len(v)
			}
		}
		headers := httpHeaderMatches(m.Headers)
		pr.Match.Headers = append(pr.Match.Headers, headers...)
		if m.Method != nil {
			pr.Match.Headers = append(pr.Match.Headers, policy.HeaderMatch{Name: ":method", Exact: string(*m.Method)})
			rk.method = true
		}
		for _, q := range m.QueryParams {
			qm := policy.QueryMatch{Name: string(q.Name)}
			if q.Type != nil && *q.Type == gwv1.QueryParamMatchRegularExpression {
				qm.Regex = q.Value
			} else {
				qm.Exact = q.Value
			}
			pr.Match.Query = append(pr.Match.Query, qm)
		}
		rk.headers, rk.query = len(headers), len(m.QueryParams)
		if path == gwv1.PathMatchPathPrefix {
			if exact := splitPrefix(&pr, value); exact != nil {
				out.add(*exact, rk, strconv.Itoa(mi)+"-exact")
			}
		}
		out.add(pr, rk, strconv.Itoa(mi))
	}
	if err := t.check(out); err != nil {
		return nil, err.Error()
	}
	return out, ""
}

// check validates a translated rule with the policy's own rules (regular expressions,
// header names, redirects) and the proxies' limit on regexes (Input.Checks), so that one
// invalid route is refused on its own status and never makes the whole configuration
// invalid.
func (t *translator) check(r *ruleOut) error {
	p := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.Kind, Metadata: policy.Metadata{Name: "gateway-api", Namespace: policy.DefaultNamespace}}
	vh := policy.VirtualHost{Name: "check", Domains: []string{"*"}}
	used := map[string]bool{}
	for i, m := range r.matches {
		m.Name = fmt.Sprintf("matches[%d]", i)
		vh.Routes = append(vh.Routes, m)
		for _, svc := range m.Services() {
			if !used[svc] {
				used[svc] = true
				p.Spec.Services = append(p.Spec.Services, t.svcDefs[svc])
			}
		}
	}
	p.Spec.VirtualHosts = []policy.VirtualHost{vh}
	p.SetDefaults()
	p.Spec.NodeGroups = nil
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "spec.virtualHosts[0].routes", "matches"))
	}
	// Envoy's limit on a regex's program is checked per rule too, so that a long regex
	// drops its rule instead of refusing the Gateway's whole configuration.
	for i, m := range r.matches {
		if err := t.in.Checks.RegexTooLarge(m.Match.Regex); err != nil {
			return fmt.Errorf("matches[%d].match.regex: %w", i, err)
		}
		for j, h := range m.Match.Headers {
			if err := t.in.Checks.RegexTooLarge(h.Regex); err != nil {
				return fmt.Errorf("matches[%d].match.headers[%d].regex: %w", i, j, err)
			}
		}
		for j, q := range m.Match.Query {
			if err := t.in.Checks.RegexTooLarge(q.Regex); err != nil {
				return fmt.Errorf("matches[%d].match.query[%d].regex: %w", i, j, err)
			}
		}
	}
	return nil
}

// httpHeaderMatches are the policy's form of an HTTPRoute match's (or a CanaryPolicy's)
// header matches, the first of each name (as the Gateway API says).
func httpHeaderMatches(hs []gwv1.HTTPHeaderMatch) []policy.HeaderMatch {
	var out []policy.HeaderMatch
	for _, h := range firstByName(hs, func(h gwv1.HTTPHeaderMatch) string { return string(h.Name) }) {
		hm := policy.HeaderMatch{Name: string(h.Name)}
		if h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression {
			hm.Regex = h.Value
		} else {
			hm.Exact = h.Value
		}
		out = append(out, hm)
	}
	return out
}

// grpcHeaderMatches are the policy's form of a GRPCRoute match's header matches: those of an
// HTTPRoute match of the same names, types and values.
func grpcHeaderMatches(hs []gwv1.GRPCHeaderMatch) []policy.HeaderMatch {
	as := make([]gwv1.HTTPHeaderMatch, len(hs))
	for i, h := range hs {
		typ := gwv1.HeaderMatchExact
		if h.Type != nil && *h.Type == gwv1.GRPCHeaderMatchRegularExpression {
			typ = gwv1.HeaderMatchRegularExpression
		}
		as[i] = gwv1.HTTPHeaderMatch{Type: &typ, Name: gwv1.HTTPHeaderName(h.Name), Value: h.Value}
	}
	return httpHeaderMatches(as)
}

// firstByName keeps the first of the header matches whose names are equal ignoring case:
// the Gateway API considers only that one.
func firstByName[T any](matches []T, name func(T) string) []T {
	var out []T
	seen := map[string]bool{}
	for _, m := range matches {
		if n := strings.ToLower(name(m)); !seen[n] {
			seen[n] = true
			out = append(out, m)
		}
	}
	return out
}

func redirect(f *gwv1.HTTPRequestRedirectFilter) *policy.Redirect {
	r := &policy.Redirect{Code: 302, AllowSameURL: true}
	if f.StatusCode != nil {
		r.Code = uint32(*f.StatusCode)
	}
	if f.Scheme != nil {
		r.Scheme = *f.Scheme
	}
	if f.Hostname != nil {
		r.Host = string(*f.Hostname)
	}
	if f.Port != nil {
		r.Port = uint32(*f.Port)
	}
	if p := f.Path; p != nil {
		if p.ReplaceFullPath != nil {
			r.Path = *p.ReplaceFullPath
		}
		if p.ReplacePrefixMatch != nil {
			r.Prefix = *p.ReplacePrefixMatch
		}
	}
	return r
}

func (t *translator) grpcRoute(r *gwv1.GRPCRoute) *routeSpec {
	rs := &routeSpec{kind: KindGRPCRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames,
		ruleNames: refsOf(r.Spec.Rules, func(rule gwv1.GRPCRouteRule) *gwv1.SectionName { return rule.Name })}
	return rules(rs, len(r.Spec.Rules), func(ri int) (*ruleOut, string) { return t.grpcRule(r, ri) })
}

// grpcRule translates one rule of a GRPCRoute, or says why it cannot be served.
func (t *translator) grpcRule(r *gwv1.GRPCRoute, ri int) (*ruleOut, string) {
	rule := &r.Spec.Rules[ri]
	if msg := unsupportedGRPCRule(rule); msg != "" {
		return nil, msg
	}
	refs, msg := backendRefs(rule.BackendRefs, func(b gwv1.GRPCBackendRef) gwv1.BackendRef { return b.BackendRef },
		func(b gwv1.GRPCBackendRef) []refFilter { return refsOf(b.Filters, grpcRefFilter) })
	if msg != "" {
		return nil, msg
	}
	out := &ruleOut{}
	var base policy.Route
	for _, f := range rule.Filters {
		switch f.Type {
		case gwv1.GRPCRouteFilterRequestHeaderModifier:
			base.RequestHeaders = headerChanges(f.RequestHeaderModifier)
		case gwv1.GRPCRouteFilterResponseHeaderModifier:
			base.ResponseHeaders = headerChanges(f.ResponseHeaderModifier)
		}
	}
	from := routeFrom{KindGRPCRoute, r.Namespace}
	path := rulePath(ri, rule.Name)
	t.forward(&base, out, from, refs, path)
	t.mirrors(&base, out, from, refsOf(rule.Filters, func(f gwv1.GRPCRouteFilter) *gwv1.HTTPRequestMirrorFilter { return f.RequestMirror }), path)
	matches := rule.Matches
	if len(matches) == 0 {
		matches = []gwv1.GRPCRouteMatch{{}}
	}
	for mi, m := range matches {
		pr := base
		rk := rank{created: r.CreationTimestamp.Time, nsName: r.Namespace + "/" + r.Name, rule: ri, match: mi}
		if mm := m.Method; mm != nil {
			svc, method := deref(mm.Service), deref(mm.Method)
			regex := mm.Type != nil && *mm.Type == gwv1.GRPCMethodMatchRegularExpression
			switch {
			case regex:
				s, me := or(svc, "[^/]+"), or(method, "[^/]+")
				pr.Match.Regex, rk.regex = "/"+s+"/"+me, true
			case svc != "" && method != "":
				pr.Match.Exact, rk.exact = "/"+svc+"/"+method, true
			case svc != "":
				pr.Match.Prefix, rk.prefixLen = "/"+svc+"/", len(svc)+2
			case method != "":
				pr.Match.Regex, rk.regex = "/[^/]+/"+regexp.QuoteMeta(method), true
			default:
				pr.Match.Prefix = "/"
			}
		} else {
			pr.Match.Prefix = "/"
		}
		headers := grpcHeaderMatches(m.Headers)
		pr.Match.Headers = append(pr.Match.Headers, headers...)
		rk.headers = len(headers)
		out.add(pr, rk, strconv.Itoa(mi))
	}
	if err := t.check(out); err != nil {
		return nil, err.Error()
	}
	return out, ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// servicePort is a port of a Kubernetes Service.
type servicePort struct {
	service types.NamespacedName
	port    int32
}

// grpcBackend says whether a backendRef or Service parent of a GRPCRoute names the Service
// port (whether or not the route is accepted, so that the names of policy services do not
// depend on the order routes are translated in).
func (t *translator) grpcBackend(sp servicePort) bool {
	if t.grpcPorts == nil {
		t.grpcPorts = map[servicePort]bool{}
		for _, r := range t.in.GRPCRoutes {
			// A Service parent too: its port's policy service is what the route's clients
			// speak gRPC to.
			for _, pr := range r.Spec.ParentRefs {
				if !isServiceParent(pr) || pr.Namespace != nil && string(*pr.Namespace) != r.Namespace {
					continue
				}
				if svc := t.services[types.NamespacedName{Namespace: r.Namespace, Name: string(pr.Name)}]; svc != nil {
					for _, p := range parentPorts(svc, pr) {
						t.grpcPorts[servicePort{types.NamespacedName{Namespace: r.Namespace, Name: svc.Name}, p.Port}] = true
					}
				}
			}
			for _, rule := range r.Spec.Rules {
				for _, b := range rule.BackendRefs {
					if b.Port == nil || b.Group != nil && *b.Group != "" || b.Kind != nil && *b.Kind != KindService {
						continue
					}
					ns := r.Namespace
					if b.Namespace != nil {
						ns = string(*b.Namespace)
					}
					t.grpcPorts[servicePort{types.NamespacedName{Namespace: ns, Name: string(b.Name)}, *b.Port}] = true
				}
			}
		}
	}
	return t.grpcPorts[sp]
}

// kindOf names the kind of a backendRef (Service when unset) with its group.
func kindOf(b gwv1.BackendRef) string {
	g, k := "", KindService
	if b.Group != nil {
		g = string(*b.Group)
	}
	if b.Kind != nil {
		k = string(*b.Kind)
	}
	return groupKind(g, k)
}

// service records the policy service of a Service port spoken to with proto (or whose
// connections are forwarded, when connection) and returns its name. A port both GRPCRoutes
// and HTTPRoutes send to has two: the GRPCRoutes' speaks gRPC under ServiceName, the
// HTTPRoutes' its own protocol under a name ending in it. The connections of TLSRoutes and
// TCPRoutes go to one of their own, whose name ends in "-tcp": it never originates TLS (a
// BackendTLSPolicy is for the requests of HTTP routes; a passed-through connection carries
// the client's TLS already).
//
// Names are unique per Service port and protocol, even where two Services join to the same
// "<namespace>-<service>" (joinedName), so that no route is ever served with another
// Service's endpoints.
func (t *translator) service(svc *corev1.Service, port *corev1.ServicePort, proto policy.Protocol, connection bool) string {
	joined := t.joinedName(svc)
	base := fmt.Sprintf("%s-%d", joined, port.Port)
	tls := t.upstreamTLS(svc.Namespace, svc.Name, port.Name)
	switch {
	case connection:
		base, tls = base+"-tcp", nil
	case proto != policy.ProtocolGRPC && t.grpcBackend(servicePort{types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, port.Port}):
		base += "-" + string(proto)
	}
	if t.svcDefs == nil {
		t.svcDefs = map[string]policy.Service{}
	}
	want := policy.Service{Namespace: svc.Namespace, Port: uint32(port.Port), PortName: port.Name,
		Protocol: proto, Discovery: policy.DiscoveryKubernetes, KubernetesService: svc.Name, TLS: tls}
	name := fitName(base, 63)
	for i := 1; ; i++ {
		def, ok := t.svcDefs[name]
		if !ok {
			want.Name = name
			t.svcDefs[name] = want
			return name
		}
		if def.Namespace == want.Namespace && def.KubernetesService == want.KubernetesService && def.Port == want.Port && def.Protocol == want.Protocol {
			return name
		}
		// Taken by another Service port (one the translation's Services do not hold):
		// numbered, never shared.
		name = fitName(fmt.Sprintf("%s-%d", base, i), 63)
	}
}

// joinedName is "<namespace>-<service>", the start of the names of a Service's policy
// services, unique among the Services (uniqueJoins).
func (t *translator) joinedName(svc *corev1.Service) string {
	if t.serviceJoins == nil {
		metas := make([]*metav1.ObjectMeta, len(t.in.Services))
		for i, s := range t.in.Services {
			metas[i] = &s.ObjectMeta
		}
		t.serviceJoins = uniqueJoins(metas)
	}
	if j, ok := t.serviceJoins[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}]; ok {
		return j
	}
	return svc.Namespace + "-" + svc.Name
}
