package gatewayapi

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
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

func (t *translator) httpRoute(r *gwv1.HTTPRoute) *routeSpec {
	rs := &routeSpec{kind: KindHTTPRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames}
	if rs.unsupported = badHostname(r.Spec.Hostnames); rs.unsupported != "" {
		return rs
	}
	for ri := range r.Spec.Rules {
		rule := &r.Spec.Rules[ri]
		if msg := unsupportedHTTPRule(rule); msg != "" {
			rs.unsupported = fmt.Sprintf("rules[%d]: %s", ri, msg)
			return rs
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
				if p := f.URLRewrite.Path; p != nil && p.ReplacePrefixMatch != nil {
					base.Rewrite.Prefix = *p.ReplacePrefixMatch
				}
			}
		}
		if rule.Timeouts != nil && rule.Timeouts.Request != nil {
			d, err := time.ParseDuration(string(*rule.Timeouts.Request))
			if err != nil {
				rs.unsupported = fmt.Sprintf("rules[%d].timeouts.request: %v", ri, err)
				return rs
			}
			base.Timeout = policy.Duration(d)
		}
		if base.Redirect == nil {
			refs := make([]gwv1.BackendRef, len(rule.BackendRefs))
			for i, b := range rule.BackendRefs {
				refs[i] = b.BackendRef
			}
			base.Backends, out.svcs, out.unresolve = t.backends(r.Namespace, refs, false, fmt.Sprintf("rules[%d]", ri))
			if len(base.Backends) == 0 {
				base.DirectResponse = &policy.DirectResponse{Status: 500, Body: "no valid backend"}
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
				// A prefix matches whole path segments: "/foo" matches /foo and /foo/bar,
				// not /foobar.
				if value == "/" || strings.HasSuffix(value, "/") {
					pr.Match.Prefix = value
				} else {
					pr.Match.Regex = regexp.QuoteMeta(value) + "(/.*)?"
				}
				rk.prefixLen = len(value)
			}
			for _, h := range m.Headers {
				hm := policy.HeaderMatch{Name: string(h.Name)}
				if h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression {
					hm.Regex = h.Value
				} else {
					hm.Exact = h.Value
				}
				pr.Match.Headers = append(pr.Match.Headers, hm)
			}
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
			rk.headers, rk.query = len(m.Headers), len(m.QueryParams)
			out.matches = append(out.matches, pr)
			out.ranks = append(out.ranks, rk)
		}
		if err := t.check(out); err != nil {
			rs.unsupported = fmt.Sprintf("rules[%d]: %v", ri, err)
			return rs
		}
		rs.rules = append(rs.rules, out)
	}
	return rs
}

// check validates a translated rule with the policy's own rules (regular expressions,
// header names, redirects), so that one invalid route is refused on its own status and
// never makes the whole configuration invalid.
func (t *translator) check(r *ruleOut) error {
	p := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.Kind, Metadata: policy.Metadata{Name: "gateway-api", Namespace: policy.DefaultNamespace}}
	vh := policy.VirtualHost{Name: "check", Domains: []string{"*"}}
	used := map[string]bool{}
	for i, m := range r.matches {
		m.Name = fmt.Sprintf("matches[%d]", i)
		vh.Routes = append(vh.Routes, m)
		for _, b := range m.Backends {
			if !used[b.Service] {
				used[b.Service] = true
				p.Spec.Services = append(p.Spec.Services, t.svcDefs[b.Service])
			}
		}
	}
	p.Spec.VirtualHosts = []policy.VirtualHost{vh}
	p.SetDefaults()
	p.Spec.NodeGroups = nil
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "spec.virtualHosts[0].routes", "matches"))
	}
	return nil
}

// unsupportedHTTPRule says what of a rule foresight-xds cannot serve, or "".
func unsupportedHTTPRule(r *gwv1.HTTPRouteRule) string {
	redirect, rewrite := false, false
	for i, f := range r.Filters {
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestRedirect:
			redirect = true
			if p := f.RequestRedirect.Path; p != nil && p.ReplacePrefixMatch != nil && *p.ReplacePrefixMatch != "" && !strings.HasPrefix(*p.ReplacePrefixMatch, "/") {
				return fmt.Sprintf("filters[%d].requestRedirect.path: must start with '/'", i)
			}
		case gwv1.HTTPRouteFilterURLRewrite:
			rewrite = true
			if p := f.URLRewrite.Path; p != nil && p.Type == gwv1.FullPathHTTPPathModifier {
				return fmt.Sprintf("filters[%d].urlRewrite.path: ReplaceFullPath is not supported (ReplacePrefixMatch is)", i)
			}
		default:
			return fmt.Sprintf("filters[%d]: filter type %s is not supported (RequestRedirect and URLRewrite are)", i, f.Type)
		}
	}
	if redirect && rewrite {
		return "RequestRedirect and URLRewrite together"
	}
	if r.Timeouts != nil && r.Timeouts.BackendRequest != nil {
		return "timeouts.backendRequest is not supported (timeouts.request is)"
	}
	if r.Retry != nil {
		return "retry is not supported"
	}
	if r.SessionPersistence != nil {
		return "sessionPersistence is not supported"
	}
	for i, b := range r.BackendRefs {
		if len(b.Filters) > 0 {
			return fmt.Sprintf("backendRefs[%d].filters are not supported", i)
		}
	}
	return ""
}

func redirect(f *gwv1.HTTPRequestRedirectFilter) *policy.Redirect {
	r := &policy.Redirect{Code: 302}
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
	rs := &routeSpec{kind: KindGRPCRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs, hostnames: r.Spec.Hostnames}
	if rs.unsupported = badHostname(r.Spec.Hostnames); rs.unsupported != "" {
		return rs
	}
	for ri := range r.Spec.Rules {
		rule := &r.Spec.Rules[ri]
		switch {
		case len(rule.Filters) > 0:
			rs.unsupported = fmt.Sprintf("rules[%d].filters: GRPCRoute filters are not supported", ri)
		case rule.SessionPersistence != nil:
			rs.unsupported = fmt.Sprintf("rules[%d].sessionPersistence is not supported", ri)
		}
		for i, b := range rule.BackendRefs {
			if len(b.Filters) > 0 {
				rs.unsupported = fmt.Sprintf("rules[%d].backendRefs[%d].filters are not supported", ri, i)
			}
		}
		if rs.unsupported != "" {
			return rs
		}
		out := &ruleOut{}
		var base policy.Route
		refs := make([]gwv1.BackendRef, len(rule.BackendRefs))
		for i, b := range rule.BackendRefs {
			refs[i] = b.BackendRef
		}
		base.Backends, out.svcs, out.unresolve = t.backends(r.Namespace, refs, true, fmt.Sprintf("rules[%d]", ri))
		if len(base.Backends) == 0 {
			base.DirectResponse = &policy.DirectResponse{Status: 500, Body: "no valid backend"}
		}
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
			for _, h := range m.Headers {
				hm := policy.HeaderMatch{Name: string(h.Name)}
				if h.Type != nil && *h.Type == gwv1.GRPCHeaderMatchRegularExpression {
					hm.Regex = h.Value
				} else {
					hm.Exact = h.Value
				}
				pr.Match.Headers = append(pr.Match.Headers, hm)
			}
			rk.headers = len(m.Headers)
			out.matches = append(out.matches, pr)
			out.ranks = append(out.ranks, rk)
		}
		if err := t.check(out); err != nil {
			rs.unsupported = fmt.Sprintf("rules[%d]: %v", ri, err)
			return rs
		}
		rs.rules = append(rs.rules, out)
	}
	return rs
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

// backends resolves a rule's backendRefs to policy backends with percentages summing to
// 100. Refs that do not resolve are left out (their share goes to the others) and the first
// problem is returned; refs of weight 0 get no traffic.
func (t *translator) backends(ns string, refs []gwv1.BackendRef, grpc bool, path string) ([]policy.Backend, map[string]string, *refProblem) {
	var prob *refProblem
	svcs := map[string]string{}
	type wb struct {
		svc    string
		weight int64
	}
	var ok []wb
	for i, b := range refs {
		bp := fmt.Sprintf("%s.backendRefs[%d]", path, i)
		if b.Group != nil && *b.Group != "" || b.Kind != nil && *b.Kind != KindService {
			if prob == nil {
				prob = &refProblem{string(gwv1.RouteReasonInvalidKind), fmt.Sprintf("%s: only core Services are supported, not %s", bp, kindOf(b))}
			}
			continue
		}
		if b.Namespace != nil && string(*b.Namespace) != ns {
			if prob == nil {
				prob = &refProblem{string(gwv1.RouteReasonRefNotPermitted), fmt.Sprintf("%s: Service %s/%s is in another namespace (ReferenceGrants are not supported)", bp, *b.Namespace, b.Name)}
			}
			continue
		}
		svc := t.services[types.NamespacedName{Namespace: ns, Name: string(b.Name)}]
		if svc == nil {
			if prob == nil {
				prob = &refProblem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s: Service %s/%s not found", bp, ns, b.Name)}
			}
			continue
		}
		if b.Port == nil {
			if prob == nil {
				prob = &refProblem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s: port is required for a Service", bp)}
			}
			continue
		}
		var port *corev1.ServicePort
		for j := range svc.Spec.Ports {
			if svc.Spec.Ports[j].Port == *b.Port {
				port = &svc.Spec.Ports[j]
			}
		}
		if port == nil {
			if prob == nil {
				prob = &refProblem{string(gwv1.RouteReasonBackendNotFound), fmt.Sprintf("%s: Service %s/%s has no port %d", bp, ns, b.Name, *b.Port)}
			}
			continue
		}
		proto := policy.ProtocolHTTP1
		switch {
		case grpc:
			proto = policy.ProtocolGRPC
		case port.AppProtocol != nil && (*port.AppProtocol == "kubernetes.io/h2c" || *port.AppProtocol == "grpc"):
			proto = policy.ProtocolHTTP2
		}
		name := t.service(svc, port, proto)
		if _, dup := svcs[svc.Name]; !dup {
			svcs[svc.Name] = name
		}
		w := int64(1)
		if b.Weight != nil {
			w = int64(*b.Weight)
		}
		ok = append(ok, wb{svc: name, weight: w})
	}
	var total int64
	for _, b := range ok {
		total += b.weight
	}
	if total == 0 {
		return nil, svcs, prob
	}
	// Largest remainder: percentages that sum to exactly 100.
	out := make([]policy.Backend, 0, len(ok))
	rem := make([]int64, len(ok))
	var sum int64
	for i, b := range ok {
		pct := b.weight * 100 / total
		rem[i] = b.weight * 100 % total
		sum += pct
		out = append(out, policy.Backend{Service: b.svc, Weight: uint32(pct)})
	}
	for sum < 100 {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best].Weight++
		rem[best] = -1
		sum++
	}
	// Merge backends that name the same service and drop those without traffic.
	merged := out[:0]
	for _, b := range out {
		if b.Weight == 0 {
			continue
		}
		found := false
		for j := range merged {
			if merged[j].Service == b.Service {
				merged[j].Weight += b.Weight
				found = true
			}
		}
		if !found {
			merged = append(merged, b)
		}
	}
	return merged, svcs, prob
}

func kindOf(b gwv1.BackendRef) string {
	g, k := "", KindService
	if b.Group != nil {
		g = string(*b.Group)
	}
	if b.Kind != nil {
		k = string(*b.Kind)
	}
	if g == "" {
		return k
	}
	return k + "." + g
}

// service records the policy service of a Service port and returns its name.
func (t *translator) service(svc *corev1.Service, port *corev1.ServicePort, proto policy.Protocol) string {
	name := ServiceName(svc.Namespace, svc.Name, port.Port)
	if t.svcDefs == nil {
		t.svcDefs = map[string]policy.Service{}
	}
	if _, ok := t.svcDefs[name]; !ok {
		t.svcDefs[name] = policy.Service{Name: name, Namespace: svc.Namespace, Port: uint32(port.Port), PortName: port.Name,
			Protocol: proto, Discovery: policy.DiscoveryKubernetes, KubernetesService: svc.Name}
	}
	return name
}
