package policy

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/foresight-dev/foresight/internal/strictyaml"
)

var (
	dnsLabel  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	groupName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$`)
	headerTok = regexp.MustCompile("^:?[!#$%&'*+\\-.^_`|~0-9a-zA-Z]+$")
)

// retryConditions are the accepted values of Retries.On, with whether they are gRPC
// conditions (the only ones proxyless gRPC clients honour). Read-only.
var retryConditions = map[string]bool{
	"5xx": false, "gateway-error": false, "reset": false, "connect-failure": false,
	"retriable-4xx": false, "refused-stream": false, "retriable-status-codes": false,
	"cancelled": true, "deadline-exceeded": true, "internal": true, "resource-exhausted": true,
	"unavailable": true,
}

// RetryCondition reports whether c is an accepted retry condition and whether it is a gRPC
// status condition (the only kind proxyless gRPC clients honour).
func RetryCondition(c string) (known, grpc bool) {
	grpc, known = retryConditions[c]
	return known, grpc
}

// validator collects errors with their source positions.
type validator struct {
	p    *Policy
	errs strictyaml.Errors
	// tooLarge, when set, says why Envoy refuses a valid regex (ValidateFor); envoy says
	// whether the regexes being checked reach Envoy proxies (not only proxyless gRPC
	// clients, which take any).
	tooLarge func(expr string) error
	envoy    bool
	// hosts maps every service's domain names, in lower case, to the service.
	hosts map[string]string
	// services indexes the services by name (the first of duplicates).
	services map[string]*Service
}

// serviceIndex is the position of the named service in spec.services.
func (v *validator) serviceIndex(name string) int {
	for i := range v.p.Spec.Services {
		if v.p.Spec.Services[i].Name == name {
			return i
		}
	}
	return -1
}

// service returns the named service or nil.
func (v *validator) service(name string) *Service { return v.services[name] }

func (v *validator) errorf(path, format string, args ...any) {
	fe := &strictyaml.Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if v.p.src != nil {
		fe.File = v.p.src.file
		fe.Line = v.p.src.lines.Line(path)
	}
	v.errs = append(v.errs, fe)
}

// Validate checks the (defaulted) policy and returns a strictyaml.Errors of every problem
// (located in the policy's file when it was parsed from one), or nil.
func (p *Policy) Validate() error { return p.ValidateFor(nil) }

// ValidateFor is Validate that also refuses each regex for which tooLarge returns an error:
// what the proxies refuse of a valid regex (check.Options.RegexTooLarge), located in the
// file like every other problem and reported once, where the check of the translated
// configuration would name each route configuration that holds it.
func (p *Policy) ValidateFor(tooLarge func(expr string) error) error {
	v := &validator{p: p, hosts: map[string]string{}, services: make(map[string]*Service, len(p.Spec.Services)), tooLarge: tooLarge}
	for i := range p.Spec.Services {
		if _, dup := v.services[p.Spec.Services[i].Name]; !dup {
			v.services[p.Spec.Services[i].Name] = &p.Spec.Services[i]
		}
	}
	for _, s := range p.Spec.Services {
		if s.Namespace != "" && s.Port != 0 {
			for _, d := range s.Domains()[:8] {
				v.hosts[strings.ToLower(d)] = s.Name
			}
		}
	}
	v.policy()
	return v.errs.Err()
}

// header checks the document's apiVersion and kind.
func (v *validator) header() {
	if v.p.APIVersion != APIVersion {
		v.errorf("apiVersion", "must be %q, not %q", APIVersion, v.p.APIVersion)
	}
	if v.p.Kind != Kind {
		v.errorf("kind", "must be %q, not %q", Kind, v.p.Kind)
	}
}

func (v *validator) policy() {
	p := v.p
	v.header()
	if p.Metadata.Name == "" {
		v.errorf("metadata.name", "required")
	}
	if !dnsLabel.MatchString(p.Metadata.Namespace) {
		v.errorf("metadata.namespace", "must be a DNS label, not %q", p.Metadata.Namespace)
	}
	v.authentication()
	services := map[string]bool{}
	routes := map[string]string{}
	for i := range p.Spec.Services {
		path := fmt.Sprintf("spec.services[%d]", i)
		name := p.Spec.Services[i].Name
		if services[name] {
			v.errorf(path+".name", "duplicate service %q", name)
		}
		services[name] = true
		v.envoy = p.envoyGetsService(name)
		v.checkService(&p.Spec.Services[i], path, routes)
	}
	vhosts := map[string]bool{}
	for i := range p.Spec.VirtualHosts {
		vh := &p.Spec.VirtualHosts[i]
		path := fmt.Sprintf("spec.virtualHosts[%d]", i)
		if vh.Name == "" {
			v.errorf(path+".name", "required")
		} else if vhosts[vh.Name] {
			v.errorf(path+".name", "duplicate virtual host %q", vh.Name)
		}
		vhosts[vh.Name] = true
		if len(vh.Domains) == 0 {
			v.errorf(path+".domains", "at least one domain required")
		}
		for j, d := range vh.Domains {
			if d == "" || strings.ContainsAny(d, " /") {
				v.errorf(fmt.Sprintf("%s.domains[%d]", path, j), "invalid domain %q", d)
			}
		}
		if len(vh.Routes) == 0 {
			v.errorf(path+".routes", "at least one route required")
		}
		v.envoy = p.envoyGetsVirtualHost(vh.Name)
		for j := range vh.Routes {
			v.route(&vh.Routes[j], fmt.Sprintf("%s.routes[%d]", path, j), routes)
		}
		v.rateLimit(vh.RateLimit, path+".rateLimit")
		v.jwtRequirement(vh.JWT, path+".jwt")
	}
	v.envoy = false
	v.nodeGroups(vhosts)
	v.canaries()
	if t := p.Spec.Tracing; t != nil {
		if t.Collector == "" {
			v.errorf("spec.tracing.collector", "required")
		} else if s := v.service(t.Collector); s == nil {
			v.errorf("spec.tracing.collector", "unknown service %q", t.Collector)
		} else if s.Protocol != ProtocolGRPC {
			v.errorf("spec.tracing.collector", "service %q must have protocol grpc (OTLP/gRPC)", t.Collector)
		}
		if t.SamplingPercent != nil {
			v.percent(*t.SamplingPercent, "spec.tracing.samplingPercent")
		}
	}
	if a := p.Spec.AccessLog; a != nil {
		if a.Output != "stdout" && a.Output != "stderr" {
			v.errorf("spec.accessLog.output", "must be stdout or stderr, not %q", a.Output)
		}
		if msg := FormatProblem(a.Format); msg != "" {
			v.errorf("spec.accessLog.format", "not an Envoy format string: %s", msg)
		}
	}
}

func (v *validator) checkService(s *Service, path string, routes map[string]string) {
	if !dnsLabel.MatchString(s.Name) {
		v.errorf(path+".name", "must be a DNS label (lowercase letters, digits, '-'), not %q", s.Name)
	}
	if !dnsLabel.MatchString(s.Namespace) {
		v.errorf(path+".namespace", "must be a DNS label, not %q", s.Namespace)
	}
	v.port(s.Port, path+".port", true)
	if s.AppPort != s.Port { // a defaulted copy would repeat the port's error
		v.port(s.AppPort, path+".appPort", false)
	}
	switch s.Protocol {
	case ProtocolHTTP1, ProtocolHTTP2, ProtocolGRPC:
	default:
		v.errorf(path+".protocol", "must be http1, http2 or grpc, not %q", s.Protocol)
	}
	switch s.Discovery {
	case DiscoveryStatic:
		if len(s.Endpoints) == 0 {
			v.errorf(path+".endpoints", "static discovery needs at least one endpoint")
		}
		if s.PortName != "" {
			v.errorf(path+".portName", "only for discovery kubernetes")
		}
		if s.KubernetesService != "" {
			v.errorf(path+".kubernetesService", "only for discovery kubernetes")
		}
	case DiscoveryKubernetes:
		if s.KubernetesService != "" && !dnsLabel.MatchString(s.KubernetesService) {
			v.errorf(path+".kubernetesService", "must be a DNS label, not %q", s.KubernetesService)
		}
		if len(s.Endpoints) > 0 {
			v.errorf(path+".endpoints", "must be empty with discovery kubernetes")
		}
	default:
		v.errorf(path+".discovery", "must be static or kubernetes, not %q", s.Discovery)
	}
	for i, e := range s.Endpoints {
		ep := fmt.Sprintf("%s.endpoints[%d]", path, i)
		if _, err := netip.ParseAddr(e.Address); err != nil {
			v.errorf(ep+".address", "must be an IP address (EDS does not resolve names), not %q", e.Address)
		}
		if e.Port != s.Port {
			v.port(e.Port, ep+".port", true)
		}
		if e.Weight > 128 {
			v.errorf(ep+".weight", "must be 1..128")
		}
	}
	for i, h := range s.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", path, i)
		if h == "" || strings.ContainsAny(h, " /*") {
			v.errorf(hp, "invalid host %q", h)
		} else if other, dup := v.hosts[strings.ToLower(h)]; dup && other != s.Name {
			v.errorf(hp, "host %q is already a name of service %q", h, other)
		} else if slices.Contains(s.Hosts[:i], h) {
			// It would name two proxyless gRPC listeners alike.
			v.errorf(hp, "host %q is listed twice", h)
		}
		v.hosts[strings.ToLower(h)] = s.Name
	}
	if t := s.TLS; t != nil {
		if t.SNI == "" || strings.ContainsAny(t.SNI, " /*:") {
			v.errorf(path+".tls.sni", "must be a DNS name, not %q", t.SNI)
		}
		switch {
		case len(t.CACertificates) > 0 && t.CAFile != "":
			v.errorf(path+".tls.caFile", "is set with CA certificates: one or the other")
		case len(t.CACertificates) > 0:
			if !x509.NewCertPool().AppendCertsFromPEM(t.CACertificates) {
				v.errorf(path+".tls", "its CA certificates hold no PEM certificate")
			}
		case !strings.HasPrefix(t.CAFile, "/"):
			v.errorf(path+".tls.caFile", "must be an absolute path on the proxy, not %q", t.CAFile)
		}
		v.subjectAltNames(t.SubjectAltNames, path+".tls.subjectAltNames")
	}
	if s.ConnectTimeout < 0 {
		v.errorf(path+".connectTimeout", "must not be negative")
	}
	v.duration(s.Timeout, path+".timeout")
	v.retries(s.Retries, path+".retries")
	if o := s.OutlierDetection; o != nil {
		op := path + ".outlierDetection"
		v.positive(o.Interval, op+".interval")
		v.positive(o.BaseEjectionTime, op+".baseEjectionTime")
		if o.MaxEjectionPercent > 100 {
			v.errorf(op+".maxEjectionPercent", "must be 0..100")
		}
		if o.Consecutive5xx == 0 && o.SuccessRate == nil && o.FailurePercentage == nil {
			v.errorf(op, "enable at least one of consecutive5xx, successRate, failurePercentage")
		}
		if f := o.FailurePercentage; f != nil && f.Threshold > 100 {
			v.errorf(op+".failurePercentage.threshold", "must be 0..100")
		}
	}
	v.rateLimit(s.RateLimit, path+".rateLimit")
	v.jwtRequirement(s.JWT, path+".jwt")
	v.fault(s.Fault, path+".fault")
	for i := range s.Routes {
		v.route(&s.Routes[i], fmt.Sprintf("%s.routes[%d]", path, i), routes)
	}
}

func (v *validator) route(r *Route, path string, names map[string]string) {
	if r.Name == "" {
		v.errorf(path+".name", "required")
	} else if other, dup := names[r.Name]; dup {
		v.errorf(path+".name", "duplicate route name %q (also %s)", r.Name, other)
	} else {
		names[r.Name] = path
	}
	m := r.Match
	n := 0
	for _, s := range []string{m.Prefix, m.Exact, m.Regex, m.SegmentPrefix} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		v.errorf(path+".match", "at most one of prefix, exact, regex, segmentPrefix")
	}
	v.utf8(m.Prefix, path+".match.prefix")
	v.utf8(m.Exact, path+".match.exact")
	v.utf8(m.SegmentPrefix, path+".match.segmentPrefix")
	if sp := m.SegmentPrefix; sp != "" && (!strings.HasPrefix(sp, "/") || strings.HasSuffix(sp, "/") || strings.ContainsAny(sp, "?#")) {
		v.errorf(path+".match.segmentPrefix", "must start with '/', not end with '/' and hold no '?' or '#', not %q", sp)
	}
	if m.Prefix != "" && !strings.HasPrefix(m.Prefix, "/") {
		v.errorf(path+".match.prefix", "must start with '/'")
	}
	if m.Exact != "" && !strings.HasPrefix(m.Exact, "/") {
		v.errorf(path+".match.exact", "must start with '/'")
	}
	v.regex(m.Regex, path+".match.regex")
	v.headers(m.Headers, path+".match.headers")
	for i, q := range m.Query {
		qp := fmt.Sprintf("%s.match.query[%d]", path, i)
		if q.Name == "" {
			v.errorf(qp+".name", "required")
		}
		k := 0
		if q.Exact != "" {
			k++
		}
		if q.Regex != "" {
			k++
		}
		if q.Present {
			k++
		}
		if k != 1 {
			v.errorf(qp, "exactly one of exact, regex, present")
		}
		v.utf8(q.Name, qp+".name")
		v.utf8(q.Exact, qp+".exact")
		v.regex(q.Regex, qp+".regex")
	}
	actions := 0
	if len(r.Backends) > 0 {
		actions++
	}
	if r.Redirect != nil {
		actions++
	}
	if r.DirectResponse != nil {
		actions++
	}
	if actions != 1 {
		v.errorf(path, "exactly one of backends, redirect, directResponse")
	}
	v.backends(r.Backends, path+".backends")
	if rw := r.Rewrite; rw != nil {
		if len(r.Backends) == 0 {
			v.errorf(path+".rewrite", "only for routes with backends")
		}
		if rw.Prefix != "" && m.Prefix == "" {
			v.errorf(path+".rewrite.prefix", "needs match.prefix%s", segmentPrefixHint(m))
		}
		if rw.Prefix != "" && rw.Path != "" {
			v.errorf(path+".rewrite", "at most one of prefix, path")
		}
		if rw.Path != "" && !strings.HasPrefix(rw.Path, "/") {
			v.errorf(path+".rewrite.path", "must start with '/'")
		}
		if rw.Prefix == "" && rw.Path == "" && rw.Host == "" {
			v.errorf(path+".rewrite", "set prefix, path and/or host")
		}
	}
	if rd := r.Redirect; rd != nil {
		rp := path + ".redirect"
		if rd.Scheme != "" && rd.Scheme != "http" && rd.Scheme != "https" {
			v.errorf(rp+".scheme", "must be http or https")
		}
		if rd.Scheme == "" && rd.Host == "" && rd.Port == 0 && rd.Path == "" && rd.Prefix == "" && !rd.AllowSameURL {
			v.errorf(rp, "set at least one of scheme, host, port, path, prefix (a redirect to the same URL loops)")
		}
		if rd.Path != "" && rd.Prefix != "" {
			v.errorf(rp, "at most one of path, prefix")
		}
		if rd.Path != "" && !strings.HasPrefix(rd.Path, "/") {
			v.errorf(rp+".path", "must start with '/'")
		}
		if rd.Prefix != "" && m.Prefix == "" {
			v.errorf(rp+".prefix", "needs match.prefix%s", segmentPrefixHint(m))
		}
		v.port(rd.Port, rp+".port", false)
		switch rd.Code {
		case 301, 302, 303, 307, 308:
		default:
			v.errorf(rp+".code", "must be 301, 302, 303, 307 or 308")
		}
	}
	if d := r.DirectResponse; d != nil {
		if d.Status < 200 || d.Status > 599 {
			v.errorf(path+".directResponse.status", "must be 200..599")
		}
		if len(d.Body) > MaxDirectResponseBody {
			v.errorf(path+".directResponse.body", "must be at most %d bytes (Envoy's limit), not %d", MaxDirectResponseBody, len(d.Body))
		}
	}
	v.duration(r.Timeout, path+".timeout")
	v.duration(r.BackendTimeout, path+".backendTimeout")
	if r.NoTimeout && r.Timeout != 0 {
		v.errorf(path+".noTimeout", "not with a timeout")
	}
	v.duration(r.IdleTimeout, path+".idleTimeout")
	v.retries(r.Retries, path+".retries")
	v.rateLimit(r.RateLimit, path+".rateLimit")
	v.jwtRequirement(r.JWT, path+".jwt")
	v.fault(r.Fault, path+".fault")
	v.headerChanges(r.RequestHeaders, path+".requestHeaders")
	v.mirrors(r, path+".mirrors")
	v.headerChanges(r.ResponseHeaders, path+".responseHeaders")
	v.cors(r.CORS, path+".cors")
}

// segmentPrefixHint says, for a route matched by segmentPrefix, how to replace its prefix.
func segmentPrefixHint(m Match) string {
	if m.SegmentPrefix == "" {
		return ""
	}
	return fmt.Sprintf(" (a segmentPrefix match is not rewritten by prefix: write two routes, one matching exact %q and one matching prefix %q)", m.SegmentPrefix, m.SegmentPrefix+"/")
}

// backends checks the weighted backends of a route (at path): each names a known service
// or is unresolved, and the weights sum to 1..MaxWeightSum.
func (v *validator) backends(bs []Backend, path string) {
	var sum uint64
	for i, b := range bs {
		bp := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case b.Unresolved:
			if b.Service != "" {
				v.errorf(bp+".service", "must be empty for an unresolved backend")
			}
			if b.HasHeaderChanges() {
				v.errorf(bp, "an unresolved backend changes no headers (its requests are answered with 500)")
			}
		case b.Service == "":
			v.errorf(bp+".service", "required")
		case v.service(b.Service) == nil:
			v.errorf(bp+".service", "unknown service %q", b.Service)
		}
		if b.HasHeaderChanges() { // most backends have none: their paths are not built
			v.headerChanges(b.RequestHeaders, bp+".requestHeaders")
			v.headerChanges(b.ResponseHeaders, bp+".responseHeaders")
		}
		sum += uint64(b.Weight)
	}
	if len(bs) > 0 && (sum == 0 || sum > MaxWeightSum) {
		v.errorf(path, "weights must sum to 1..%d, not %d", uint64(MaxWeightSum), sum)
	}
}

func (v *validator) headers(hs []HeaderMatch, path string) {
	for i, h := range hs {
		hp := fmt.Sprintf("%s[%d]", path, i)
		if !headerTok.MatchString(h.Name) {
			v.errorf(hp+".name", "must be a header name, not %q", h.Name)
		}
		k := 0
		for _, s := range []string{h.Exact, h.Prefix, h.Suffix, h.Regex} {
			if s != "" {
				k++
			}
		}
		if h.Present != nil {
			k++
		}
		if k != 1 {
			v.errorf(hp, "exactly one of exact, prefix, suffix, regex, present")
		}
		v.utf8(h.Exact, hp+".exact")
		v.utf8(h.Prefix, hp+".prefix")
		v.utf8(h.Suffix, hp+".suffix")
		v.regex(h.Regex, hp+".regex")
	}
}

// utf8 refuses a string that is not UTF-8: Envoy's and grpc-go's string fields must be, and
// the policy file's YAML and the Kubernetes API always are, so only a program's input can
// bring one.
func (v *validator) utf8(s, path string) {
	if !utf8.ValidString(s) {
		v.errorf(path, "must be valid UTF-8, not %q", s)
	}
}

func (v *validator) regex(re, path string) {
	if re == "" {
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		v.errorf(path, "invalid RE2 regular expression: %v", err)
	} else if v.tooLarge != nil && v.envoy {
		if err := v.tooLarge(re); err != nil {
			v.errorf(path, "%v", err)
		}
	}
}

func (v *validator) port(p uint32, path string, required bool) {
	if p == 0 && required {
		v.errorf(path, "required (1..65535)")
	} else if p > 65535 {
		v.errorf(path, "must be 1..65535")
	}
}

func (v *validator) duration(d Duration, path string) {
	if d < 0 {
		v.errorf(path, "must not be negative")
	}
}

func (v *validator) positive(d Duration, path string) {
	if d <= 0 {
		v.errorf(path, "must be positive")
	}
}

func (v *validator) percent(f float64, path string) {
	if math.IsNaN(f) || f < 0 || f > 100 {
		v.errorf(path, "must be 0..100")
	}
}

func (v *validator) retries(r *Retries, path string) {
	if r == nil {
		return
	}
	codes := false
	for i, c := range r.On {
		if _, ok := retryConditions[c]; !ok {
			v.errorf(fmt.Sprintf("%s.on[%d]", path, i), "unknown retry condition %q (known: %s)", c, strings.Join(slices.Sorted(maps.Keys(retryConditions)), ", "))
		}
		if c == "retriable-status-codes" {
			codes = true
		}
	}
	if r.Count < 1 || r.Count > 10 {
		v.errorf(path+".count", "must be 1..10")
	}
	v.duration(r.PerTryTimeout, path+".perTryTimeout")
	if codes != (len(r.StatusCodes) > 0) {
		v.errorf(path+".statusCodes", "needed exactly when on lists retriable-status-codes")
	}
	for i, c := range r.StatusCodes {
		if c < 100 || c > 599 {
			v.errorf(fmt.Sprintf("%s.statusCodes[%d]", path, i), "must be 100..599")
		}
	}
	if b := r.Backoff; b != nil {
		v.positive(b.Base, path+".backoff.base")
		if b.Max < b.Base {
			v.errorf(path+".backoff.max", "must be at least base")
		}
	}
}

func (v *validator) rateLimit(r *RateLimit, path string) {
	if r == nil {
		return
	}
	if r.MaxTokens == 0 {
		v.errorf(path+".maxTokens", "required, > 0")
	}
	if r.TokensPerFill > r.MaxTokens && r.MaxTokens > 0 {
		v.errorf(path+".tokensPerFill", "must not exceed maxTokens")
	}
	if r.FillInterval < Duration(MinFillInterval) {
		v.errorf(path+".fillInterval", "must be at least %s (Envoy's shortest refill period), not %s", MinFillInterval, r.FillInterval.D())
	}
}

func (v *validator) jwtRequirement(j *JWTRequirement, path string) {
	if j == nil {
		return
	}
	if j.Disabled == (len(j.Providers) > 0) {
		v.errorf(path, "exactly one of providers, disabled")
	}
	for i, name := range j.Providers {
		if v.p.jwtProvider(name) == nil {
			v.errorf(fmt.Sprintf("%s.providers[%d]", path, i), "unknown JWT provider %q", name)
		}
	}
}

// listenerDomains checks that no domain is served by two of the virtual hosts listener l
// of a gateway group serves (all of them when it lists none). Domains are compared ignoring
// case, as Envoy does: it refuses a route configuration that holds one twice. Listeners on
// other ports may serve the same domains.
func (v *validator) listenerDomains(g *NodeGroup, l *GatewayListener) {
	where := fmt.Sprintf("in node group %q", g.Name)
	if len(g.Listeners) > 1 {
		where = fmt.Sprintf("on port %d of node group %q", l.Port, g.Name)
	}
	domains := map[string]string{}
	for i := range v.p.Spec.VirtualHosts {
		vh := &v.p.Spec.VirtualHosts[i]
		if len(l.VirtualHosts) > 0 && !slices.Contains(l.VirtualHosts, vh.Name) {
			continue
		}
		for j, d := range vh.Domains {
			if other, dup := domains[strings.ToLower(d)]; dup {
				v.errorf(fmt.Sprintf("spec.virtualHosts[%d].domains[%d]", i, j), "domain %q already served by virtual host %q %s", d, other, where)
			}
			domains[strings.ToLower(d)] = vh.Name
		}
	}
}

// listenerPath is the path of listener j of the gateway group at path: the group itself
// when its policy file wrote the one listener in the single-listener form (port and
// virtualHosts on the group), which SetDefaults moved into listeners.
func (v *validator) listenerPath(path string, j int) string {
	if j == 0 {
		_, written := v.p.src.lineOf(path)
		if _, listeners := v.p.src.lineOf(path + ".listeners"); written && !listeners {
			return path
		}
	}
	return fmt.Sprintf("%s.listeners[%d]", path, j)
}

// gatewayListeners checks a gateway group's listeners: ports distinct, virtual hosts known,
// domains distinct per listener.
func (v *validator) gatewayListeners(g *NodeGroup, path string, vhosts map[string]bool) {
	if g.Port != 0 {
		v.errorf(path+".port", "not with listeners (each listener has its port)")
	}
	if len(g.VirtualHosts) > 0 {
		v.errorf(path+".virtualHosts", "not with listeners (each listener lists its virtual hosts)")
	}
	ports := map[uint32]int{}
	for j := range g.Listeners {
		l := &g.Listeners[j]
		lp := v.listenerPath(path, j)
		v.port(l.Port, lp+".port", true)
		if k, dup := ports[l.Port]; dup && l.Port != 0 {
			v.errorf(lp+".port", "port %d is already the port of %s", l.Port, v.listenerPath(path, k))
		} else {
			ports[l.Port] = j
		}
		for k, name := range l.VirtualHosts {
			if !vhosts[name] {
				v.errorf(fmt.Sprintf("%s.virtualHosts[%d]", lp, k), "unknown virtual host %q", name)
			}
		}
		if len(l.ServerNames) > 0 && (len(l.Connections) == 0 || len(l.VirtualHosts) == 0) {
			v.errorf(lp+".serverNames", "only on a listener that serves virtual hosts and forwards connections")
		}
		if len(l.Connections) > 0 {
			v.connections(l, lp)
			if len(l.VirtualHosts) == 0 {
				continue
			}
		}
		v.listenerDomains(g, l)
		if len(l.ClientCAs) > 0 && len(l.TLSCertificates) == 0 {
			v.errorf(lp, "client certificate validation needs TLS certificates")
		}
	}
}

// connections checks the connection routes of a listener (at lp) that forwards connections:
// its routes have distinct names and server names, at most one route takes every
// connection, and each has backends. A listener that also serves virtual hosts terminates
// TLS and serves HTTP to its ServerNames, none of which a route takes, and to every other
// server name unless a route takes every connection.
func (v *validator) connections(l *GatewayListener, lp string) {
	https := len(l.VirtualHosts) > 0
	if https && len(l.TLSCertificates) == 0 {
		v.errorf(lp, "a listener that forwards connections serves virtual hosts only with TLS certificates (told apart by server name)")
	}
	serverNames := map[string]string{}
	for i, sn := range l.ServerNames {
		serverNames[strings.ToLower(sn)] = fmt.Sprintf("%s.serverNames[%d] (HTTP)", lp, i)
	}
	if len(l.ClientCAs) > 0 && len(l.TLSCertificates) == 0 {
		v.errorf(lp, "client certificate validation needs TLS certificates")
	}
	names := map[string]bool{}
	catchAll := ""
	for i := range l.Connections {
		c := &l.Connections[i]
		cp := fmt.Sprintf("%s.connections[%d]", lp, i)
		if c.Name == "" {
			v.errorf(cp+".name", "required")
		} else if names[c.Name] {
			v.errorf(cp+".name", "duplicate connection route name %q", c.Name)
		}
		names[c.Name] = true
		if len(c.ServerNames) == 0 && https && len(l.ServerNames) == 0 {
			v.errorf(cp+".serverNames", "required beside virtual hosts without serverNames (HTTP would get no connection)")
		}
		if len(c.ServerNames) == 0 {
			if catchAll != "" {
				v.errorf(cp, "takes every connection, as %s does already", catchAll)
			}
			catchAll = c.Name
		}
		for j, sn := range c.ServerNames {
			if other, dup := serverNames[strings.ToLower(sn)]; dup {
				v.errorf(fmt.Sprintf("%s.serverNames[%d]", cp, j), "server name %q is already taken by %s", sn, other)
			}
			serverNames[strings.ToLower(sn)] = c.Name
		}
		if len(c.Backends) == 0 {
			v.errorf(cp+".backends", "required")
		}
		v.backends(c.Backends, cp+".backends")
		for j, b := range c.Backends {
			if b.HasHeaderChanges() {
				v.errorf(fmt.Sprintf("%s.backends[%d]", cp, j), "a connection has no headers to change (requestHeaders and responseHeaders are for HTTP routes)")
			}
		}
	}
}

// VirtualHost returns the named virtual host, or nil.
func (p *Policy) VirtualHost(name string) *VirtualHost {
	for i := range p.Spec.VirtualHosts {
		if p.Spec.VirtualHosts[i].Name == name {
			return &p.Spec.VirtualHosts[i]
		}
	}
	return nil
}

// envoyGetsService says whether an Envoy proxy gets the routes of the named service: a
// sidecar group serves it (inbound) or calls it (outbound).
func (p *Policy) envoyGetsService(name string) bool {
	for i := range p.Spec.NodeGroups {
		g := &p.Spec.NodeGroups[i]
		if g.Kind == NodeSidecar && (slices.Contains(g.Services, name) || slices.Contains(p.GroupUpstreams(g), name)) {
			return true
		}
	}
	return false
}

// envoyGetsVirtualHost says whether an Envoy proxy gets the named virtual host: a listener
// of a gateway group serves it.
func (p *Policy) envoyGetsVirtualHost(name string) bool {
	for i := range p.Spec.NodeGroups {
		g := &p.Spec.NodeGroups[i]
		if g.Kind != NodeGateway {
			continue
		}
		for _, l := range g.Listeners {
			if (len(l.Connections) == 0 || len(l.VirtualHosts) > 0) && (len(l.VirtualHosts) == 0 || slices.Contains(l.VirtualHosts, name)) {
				return true
			}
		}
	}
	return false
}

// envoyGetsRoute says whether an Envoy proxy gets the named route (of a service or a virtual
// host).
func (p *Policy) envoyGetsRoute(name string) bool {
	for i := range p.Spec.Services {
		if slices.ContainsFunc(p.Spec.Services[i].Routes, func(r Route) bool { return r.Name == name }) && p.envoyGetsService(p.Spec.Services[i].Name) {
			return true
		}
	}
	for i := range p.Spec.VirtualHosts {
		if slices.ContainsFunc(p.Spec.VirtualHosts[i].Routes, func(r Route) bool { return r.Name == name }) && p.envoyGetsVirtualHost(p.Spec.VirtualHosts[i].Name) {
			return true
		}
	}
	return false
}

// GroupUpstreams are the names of the services the proxies of group g call: its Upstreams,
// or, when it lists none, every service but, for a proxyless gRPC group, those with TLS,
// which its clients cannot originate.
func (p *Policy) GroupUpstreams(g *NodeGroup) []string {
	if len(g.Upstreams) > 0 {
		return g.Upstreams
	}
	out := make([]string, 0, len(p.Spec.Services))
	for _, s := range p.Spec.Services {
		if g.Kind != NodeGRPC || s.TLS == nil {
			out = append(out, s.Name)
		}
	}
	return out
}

func (p *Policy) jwtProvider(name string) *JWTProvider {
	if p.Spec.Authentication == nil {
		return nil
	}
	for i := range p.Spec.Authentication.JWTProviders {
		if p.Spec.Authentication.JWTProviders[i].Name == name {
			return &p.Spec.Authentication.JWTProviders[i]
		}
	}
	return nil
}

func (v *validator) authentication() {
	a := v.p.Spec.Authentication
	if a == nil {
		return
	}
	seen := map[string]bool{}
	for i, pr := range a.JWTProviders {
		path := fmt.Sprintf("spec.authentication.jwtProviders[%d]", i)
		if !dnsLabel.MatchString(pr.Name) {
			v.errorf(path+".name", "must be a DNS label, not %q", pr.Name)
		} else if seen[pr.Name] {
			v.errorf(path+".name", "duplicate provider %q", pr.Name)
		}
		seen[pr.Name] = true
		if pr.Issuer == "" {
			v.errorf(path+".issuer", "required")
		}
		if pr.ForwardPayloadHeader != "" && !headerTok.MatchString(pr.ForwardPayloadHeader) {
			v.errorf(path+".forwardPayloadHeader", "must be a header name")
		}
		j := pr.JWKS
		jp := path + ".jwks"
		switch {
		case (j.Inline == "") == (j.URI == ""):
			v.errorf(jp, "exactly one of inline, uri")
		case j.Inline != "":
			var doc struct {
				Keys []json.RawMessage `json:"keys"`
			}
			if err := json.Unmarshal([]byte(j.Inline), &doc); err != nil || len(doc.Keys) == 0 {
				v.errorf(jp+".inline", "must be a JWKS JSON document with at least one key")
			}
			if j.Service != "" {
				v.errorf(jp+".service", "only with uri")
			}
		default:
			u, err := url.Parse(j.URI)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.errorf(jp+".uri", "must be an http or https URL, not %q", j.URI)
			}
			if j.Service == "" {
				v.errorf(jp+".service", "required with uri (the service that serves the keys)")
			} else if v.service(j.Service) == nil {
				v.errorf(jp+".service", "unknown service %q", j.Service)
			}
			v.positive(j.Timeout, jp+".timeout")
			v.positive(j.CacheDuration, jp+".cacheDuration")
		}
	}
}

func (v *validator) fault(f *Fault, path string) {
	if f == nil {
		return
	}
	if f.Delay == nil && f.Abort == nil {
		v.errorf(path, "set delay and/or abort")
	}
	if d := f.Delay; d != nil {
		v.positive(d.Fixed, path+".delay.fixed")
		v.percent(d.Percent, path+".delay.percent")
	}
	if a := f.Abort; a != nil {
		ap := path + ".abort"
		if (a.HTTPStatus == 0) == (a.GRPCStatus == nil) {
			v.errorf(ap, "exactly one of httpStatus, grpcStatus")
		}
		if a.HTTPStatus != 0 && (a.HTTPStatus < 200 || a.HTTPStatus > 599) {
			v.errorf(ap+".httpStatus", "must be 200..599")
		}
		if a.GRPCStatus != nil && (*a.GRPCStatus < 1 || *a.GRPCStatus > 16) {
			v.errorf(ap+".grpcStatus", "must be a gRPC status code 1..16")
		}
		v.percent(a.Percent, ap+".percent")
	}
	v.headers(f.Headers, path+".headers")
}

func (v *validator) nodeGroups(vhosts map[string]bool) {
	names := map[string]bool{}
	members := map[string]string{}
	// The groups SetDefaults made of a file that lists none (one per service) are named after
	// their services: the services' own checks report a bad or repeated name, once.
	_, listed := v.p.src.lineOf("spec.nodeGroups")
	implicit := v.p.src != nil && !listed
	for i := range v.p.Spec.NodeGroups {
		g := &v.p.Spec.NodeGroups[i]
		path := fmt.Sprintf("spec.nodeGroups[%d]", i)
		switch {
		case implicit:
		case len(g.Name) > 63:
			v.errorf(path+".name", "must be at most 63 characters, not %d (%q)", len(g.Name), g.Name)
		case !groupName.MatchString(g.Name):
			v.errorf(path+".name", "must be lowercase letters, digits, '-' and '.', not %q", g.Name)
		case names[g.Name]:
			v.errorf(path+".name", "duplicate node group %q", g.Name)
		}
		names[g.Name] = true
		if len(g.Services) == 0 && len(g.Selector) == 0 {
			v.errorf(path, "set services and/or selector (which proxies belong to the group)")
		}
		v.identities(g, path)
		for j, s := range g.Services {
			sp := fmt.Sprintf("%s.services[%d]", path, j)
			if other, dup := members[s]; dup && !implicit {
				v.errorf(sp, "node cluster %q is already in group %q", s, other)
			}
			members[s] = g.Name
			if g.Kind == NodeSidecar && v.service(s) == nil {
				v.errorf(sp, "unknown service %q", s)
			}
		}
		for j, s := range g.Upstreams {
			if v.service(s) == nil {
				v.errorf(fmt.Sprintf("%s.upstreams[%d]", path, j), "unknown service %q", s)
			}
		}
		switch g.Kind {
		case NodeSidecar:
			if len(g.Services) == 0 {
				v.errorf(path+".services", "a sidecar group needs its services")
			}
			v.port(g.InboundPort, path+".inboundPort", true)
			v.port(g.OutboundPort, path+".outboundPort", true)
			if g.InboundPort == g.OutboundPort {
				v.errorf(path+".outboundPort", "must differ from inboundPort")
			}
			for _, name := range g.Services {
				if svc := v.service(name); svc != nil && (svc.AppPort == g.InboundPort || svc.AppPort == g.OutboundPort) {
					field := "appPort"
					if svc.AppPort == svc.Port {
						field = "port" // appPort defaulted to it
					}
					v.errorf(fmt.Sprintf("spec.services[%d].%s", v.serviceIndex(name), field), "appPort %d is a listener port of the sidecar of node group %q (requests would loop); set appPort", svc.AppPort, g.Name)
				}
			}
		case NodeGateway:
			if g.NoListeners && len(g.Listeners) > 0 {
				v.errorf(path+".listeners", "a gateway group with no listeners lists none")
			}
			if !g.NoListeners && len(v.p.Spec.VirtualHosts) == 0 && !slices.ContainsFunc(g.Listeners, func(l GatewayListener) bool { return len(l.Connections) > 0 }) {
				v.errorf(path, "a gateway group needs spec.virtualHosts")
			}
			v.gatewayListeners(g, path, vhosts)
		case NodeGRPC:
			listeners := map[string]string{}
			for j, s := range v.p.GroupUpstreams(g) {
				if svc := v.service(s); svc != nil {
					if svc.TLS != nil {
						v.errorf(fmt.Sprintf("%s.upstreams[%d]", path, j), "service %q uses tls, which proxyless gRPC clients accept only with certificate providers (not supported)", s)
					}
					for _, n := range append([]string{svc.Name}, svc.Hosts...) {
						listeners[n] = "service " + svc.Name
					}
				}
			}
			for j, name := range g.VirtualHosts {
				vp := fmt.Sprintf("%s.virtualHosts[%d]", path, j)
				vh := v.p.VirtualHost(name)
				if vh == nil {
					v.errorf(vp, "unknown virtual host %q", name)
					continue
				}
				if slices.Contains(v.p.GroupUpstreams(g), name) {
					v.errorf(vp, "virtual host %q has the name of an upstream service of the group (their route configurations would clash)", name)
				}
				for _, d := range vh.Domains {
					if strings.Contains(d, "*") {
						v.errorf(vp, "virtual host %q has the wildcard domain %q: proxyless gRPC clients name one target (xds:///HOST)", name, d)
					} else if other, dup := listeners[d]; dup {
						v.errorf(vp, "domain %q of virtual host %q is already a target of %s", d, name, other)
					} else {
						listeners[d] = "virtual host " + name
					}
				}
			}
		default:
			v.errorf(path+".kind", "must be sidecar, gateway or grpc, not %q", g.Kind)
		}
		if g.Kind == NodeSidecar && len(g.VirtualHosts) > 0 {
			v.errorf(path+".virtualHosts", "only for kinds gateway and grpc")
		}
		if g.Kind != NodeGateway && g.Port != 0 {
			v.errorf(path+".port", "only for kind gateway")
		}
		if g.Kind != NodeGateway && len(g.Listeners) > 0 {
			v.errorf(path+".listeners", "only for kind gateway")
		}
		if g.Kind != NodeSidecar && (g.InboundPort != 0 || g.OutboundPort != 0) {
			v.errorf(path, "inboundPort and outboundPort are only for kind sidecar")
		}
	}
}

// maxSubjectAltNameBytes bounds a subject alternative name (a URI; a DNS name has at most
// 253 bytes).
const maxSubjectAltNameBytes = 2048

// subjectAltNames checks the subject alternative names an upstream's certificate is verified
// against: at most MaxSubjectAltNames, each a DNS name of ASCII labels in any case (the first
// may be "*") or an absolute URI, none twice.
func (v *validator) subjectAltNames(sans []string, path string) {
	if len(sans) > MaxSubjectAltNames {
		v.errorf(path, "at most %d names, not %d", MaxSubjectAltNames, len(sans))
		return
	}
	for i, san := range sans {
		sp := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case len(san) > maxSubjectAltNameBytes:
			v.errorf(sp, "at most %d bytes, not %d", maxSubjectAltNameBytes, len(san))
		case slices.Contains(sans[:i], san):
			v.errorf(sp, "%q is listed twice", san)
		case IsURISubjectAltName(san):
			if u, err := url.Parse(san); err != nil || u.Scheme == "" || u.Host == "" && u.Opaque == "" || strings.ContainsAny(san, " \t\n") {
				v.errorf(sp, "must be an absolute URI (scheme://host...), not %q", san)
			}
		default:
			if err := subjectAltDNSName(san); err != nil {
				v.errorf(sp, "must be a DNS name (the first label may be \"*\") or a URI: %v", err)
			}
		}
	}
}

// subjectAltDNSName checks a DNS subject alternative name: a DNS name whose first label, and
// only that one, may be the wildcard "*".
func subjectAltDNSName(name string) error {
	if name == "" {
		return fmt.Errorf("empty")
	}
	labels, err := parseDNSName(name, true)
	if err != nil {
		return err
	}
	if slices.Contains(labels[1:], "*") {
		return fmt.Errorf("DNS name %q: only the first label may be '*'", name)
	}
	return nil
}
