package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/internal/strictyaml"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

const minimal = `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata:
  name: p
spec:
  services:
    - name: web
      port: 8080
      endpoints:
        - address: 10.0.0.1
`

func TestParseDefaults(t *testing.T) {
	_, err := policy.Parse([]byte(minimal+`      retries: {}
      outlierDetection:
        consecutive5xx: 2
        successRate: {}
      rateLimit: {maxTokens: 7}
  tracing:
    collector: col
  accessLog: {}
`+"    - {name: col, port: 4317, protocol: grpc, endpoints: [{address: 10.0.0.9}]}\n"), "p.yaml")
	if err == nil {
		t.Fatalf("service after tracing must not parse (it is in the wrong mapping)")
	}
	p, err := policy.Parse([]byte(minimal+`      retries: {}
      outlierDetection:
        consecutive5xx: 2
        successRate: {}
      rateLimit: {maxTokens: 7}
    - {name: col, port: 4317, protocol: grpc, endpoints: [{address: 10.0.0.9}]}
  tracing:
    collector: col
  accessLog: {}
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Namespace != "default" {
		t.Errorf("namespace %q", p.Metadata.Namespace)
	}
	s := p.Service("web")
	if s.Namespace != "default" || s.AppPort != 8080 || s.Protocol != policy.ProtocolHTTP1 || s.Discovery != policy.DiscoveryStatic ||
		s.ConnectTimeout.D() != 5*time.Second || s.Endpoints[0].Port != 8080 || s.Endpoints[0].Weight != 1 {
		t.Errorf("service defaults %+v", s)
	}
	if r := s.Retries; r.Count != 1 || strings.Join(r.On, ",") != "connect-failure,refused-stream,unavailable" {
		t.Errorf("retry defaults %+v", r)
	}
	if o := s.OutlierDetection; o.Interval.D() != 10*time.Second || o.BaseEjectionTime.D() != 30*time.Second || o.MaxEjectionPercent != 10 ||
		o.SuccessRate.MinimumHosts != 5 || o.SuccessRate.RequestVolume != 100 || o.SuccessRate.StdevFactor != 1900 {
		t.Errorf("outlier defaults %+v %+v", o, o.SuccessRate)
	}
	if rl := s.RateLimit; rl.TokensPerFill != 7 || rl.FillInterval.D() != time.Second {
		t.Errorf("rate limit defaults %+v", rl)
	}
	if *p.Spec.Tracing.SamplingPercent != 1 || p.Spec.AccessLog.Output != "stdout" {
		t.Errorf("tracing/access log defaults %+v %+v", p.Spec.Tracing, p.Spec.AccessLog)
	}
	// No node groups: one sidecar group per service, with the default ports.
	if len(p.Spec.NodeGroups) != 2 {
		t.Fatalf("node groups %+v", p.Spec.NodeGroups)
	}
	g := p.Spec.NodeGroups[0]
	if g.Name != "web" || g.Kind != policy.NodeSidecar || g.Services[0] != "web" || g.InboundPort != 15006 || g.OutboundPort != 15001 {
		t.Errorf("default group %+v", g)
	}
	// SetDefaults is idempotent.
	before := p.Clone()
	p.SetDefaults()
	if len(p.Spec.NodeGroups) != len(before.Spec.NodeGroups) || p.Service("web").Retries.Count != 1 {
		t.Error("SetDefaults not idempotent")
	}
}

// TestParseErrors checks that each bad policy gives the exact file:line: path: message.
func TestParseErrors(t *testing.T) {
	svc := func(extra string) string { return minimal + extra }
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"unknown top-level key", "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspecs: {}\n",
			[]string{"p.yaml:4: specs: unknown field"}},
		{"unknown nested key", svc("      prot: grpc\n"),
			[]string{"p.yaml:11: spec.services[0].prot: unknown field (known: "}},
		{"wrong api version", strings.Replace(minimal, "v1alpha1", "v2", 1),
			[]string{`p.yaml:1: apiVersion: must be "foresight.dev/v1alpha1", not "foresight.dev/v2"`}},
		{"not a number", svc("      appPort: eighty\n"),
			[]string{`p.yaml:11: spec.services[0].appPort: must be a whole number, got "eighty"`}},
		{"bad duration", svc("      timeout: 5 seconds\n"),
			[]string{`p.yaml:11: spec.services[0].timeout: invalid duration "5 seconds"`}},
		{"list expected", svc("      hosts: web.example.com\n"),
			[]string{`p.yaml:11: spec.services[0].hosts: must be a list, got string "web.example.com"`}},
		{"duplicate key", svc("      port: 9090\n"),
			[]string{"p.yaml:11: spec.services[0].port: duplicate field"}},
		{"port range", strings.Replace(minimal, "port: 8080", "port: 70000", 1),
			[]string{"p.yaml:8: spec.services[0].port: must be 1..65535"}},
		{"endpoint not an IP", strings.Replace(minimal, "10.0.0.1", "web.local", 1),
			[]string{`p.yaml:10: spec.services[0].endpoints[0].address: must be an IP address (EDS does not resolve names), not "web.local"`}},
		{"weights", svc(`      routes:
        - name: split
          backends:
            - service: web
              weight: 0
            - service: nope
              weight: 0
`), []string{
			"p.yaml:13: spec.services[0].routes[0].backends: weights must sum to 1..4294967295, not 0",
			`p.yaml:16: spec.services[0].routes[0].backends[1].service: unknown service "nope"`,
		}},
		{"weights over a uint32", svc(`      routes:
        - name: split
          backends:
            - service: web
              weight: 4294967295
            - service: web
              weight: 1
`), []string{
			"p.yaml:13: spec.services[0].routes[0].backends: weights must sum to 1..4294967295, not 4294967296",
		}},
		{"upstream subject alternative names", svc(`      tls:
        subjectAltNames: [auth.shop, "*.shop.svc", "a.*.svc", "spiffe:/no-host", "x:y z", auth.shop, "-bad.shop", ""]
`), []string{
			`p.yaml:12: spec.services[0].tls.subjectAltNames[2]: must be a DNS name (the first label may be "*") or a URI: DNS name "a.*.svc": only the first label may be '*'`,
			`p.yaml:12: spec.services[0].tls.subjectAltNames[3]: must be a DNS name (the first label may be "*") or a URI: DNS label "spiffe:/no-host"`,
			`p.yaml:12: spec.services[0].tls.subjectAltNames[4]: must be a DNS name (the first label may be "*") or a URI: DNS label "x:y z"`,
			`p.yaml:12: spec.services[0].tls.subjectAltNames[5]: "auth.shop" is listed twice`,
			`p.yaml:12: spec.services[0].tls.subjectAltNames[6]: must be a DNS name (the first label may be "*") or a URI: DNS label "-bad"`,
			`p.yaml:12: spec.services[0].tls.subjectAltNames[7]: must be a DNS name (the first label may be "*") or a URI: empty`,
		}},
		{"upstream subject alternative URIs", svc(`      tls:
        subjectAltNames: ["spiffe://cluster.local/ns/shop/sa/auth", "spiffe:///no-host", "https://a b/"]
`), []string{
			`p.yaml:12: spec.services[0].tls.subjectAltNames[1]: must be an absolute URI (scheme://host...), not "spiffe:///no-host"`,
			`p.yaml:12: spec.services[0].tls.subjectAltNames[2]: must be an absolute URI (scheme://host...), not "https://a b/"`,
		}},
		{"regex", svc(`      routes:
        - name: r
          match:
            regex: "/a(b"
`), []string{"p.yaml:14: spec.services[0].routes[0].match.regex: invalid RE2 regular expression: error parsing regexp: missing closing ): `/a(b`"}},
		{"segment prefix", svc(`      routes:
        - name: a
          match: {segmentPrefix: /api/}
        - name: b
          match: {segmentPrefix: api}
        - name: c
          match: {segmentPrefix: /api, prefix: /api}
`), []string{
			`p.yaml:13: spec.services[0].routes[0].match.segmentPrefix: must start with '/', not end with '/' and hold no '?' or '#', not "/api/"`,
			`p.yaml:15: spec.services[0].routes[1].match.segmentPrefix: must start with '/', not end with '/' and hold no '?' or '#', not "api"`,
			"p.yaml:17: spec.services[0].routes[2].match: at most one of prefix, exact, regex, segmentPrefix",
		}},
		{"backreference is not RE2", svc(`      routes:
        - name: r
          match:
            headers:
              - name: x
                regex: '(a)\1'
`), []string{"p.yaml:16: spec.services[0].routes[0].match.headers[0].regex: invalid RE2 regular expression"}},
		{"retry condition", svc(`      retries:
        on: [5xx, sometimes]
        count: 11
`), []string{
			`p.yaml:12: spec.services[0].retries.on[1]: unknown retry condition "sometimes"`,
			"p.yaml:13: spec.services[0].retries.count: must be 1..10",
		}},
		{"fault", svc(`      fault:
        abort: {httpStatus: 503, grpcStatus: 14, percent: 101}
`), []string{
			"p.yaml:12: spec.services[0].fault.abort: exactly one of httpStatus, grpcStatus",
			"p.yaml:12: spec.services[0].fault.abort.percent: must be 0..100",
		}},
		{"route name clash and action", svc(`      routes:
        - name: a
        - name: a
          directResponse: {status: 200}
          redirect: {code: 302, path: /x}
`), []string{
			`p.yaml:13: spec.services[0].routes[1].name: duplicate route name "a" (also spec.services[0].routes[0])`,
			"p.yaml:13: spec.services[0].routes[1]: exactly one of backends, redirect, directResponse",
		}},
		{"jwt provider", svc(`      jwt: {providers: [missing]}
`), []string{`p.yaml:11: spec.services[0].jwt.providers[0]: unknown JWT provider "missing"`}},
		{"node group", minimal + `  nodeGroups:
    - name: g
      kind: proxy
      services: [web]
    - name: g
      kind: gateway
      services: [web]
`, []string{
			`p.yaml:13: spec.nodeGroups[0].kind: must be sidecar, gateway or grpc, not "proxy"`,
			`p.yaml:15: spec.nodeGroups[1].name: duplicate node group "g"`,
			"p.yaml:15: spec.nodeGroups[1]: a gateway group needs spec.virtualHosts",
			`p.yaml:17: spec.nodeGroups[1].services[0]: node cluster "web" is already in group "g"`,
		}},
		{"node group name length", minimal + `  nodeGroups:
    - name: gw.gateway-conformance-infra.grpcroute-listener-hostname-matching
      kind: sidecar
      services: [web]
`, []string{
			`p.yaml:12: spec.nodeGroups[0].name: must be at most 63 characters, not 65 ("gw.gateway-conformance-infra.grpcroute-listener-hostname-matching")`,
		}},
		{"redirect loop and port clash", strings.Replace(minimal, "port: 8080", "port: 15001", 1) + `      routes:
        - name: r
          redirect: {code: 302}
`, []string{
			`p.yaml:8: spec.services[0].port: appPort 15001 is a listener port of the sidecar of node group "web" (requests would loop); set appPort`,
			"p.yaml:13: spec.services[0].routes[0].redirect: set at least one of scheme, host, port, path, prefix",
		}},
		// Envoy compares domains ignoring case, and NACKs a route configuration that holds
		// one twice.
		{"domains that differ only in case", minimal + `      hosts: [Web.Example.com]
    - name: api
      port: 9090
      hosts: [web.example.COM]
      endpoints:
        - address: 10.0.0.2
  virtualHosts:
    - name: a
      domains: [Shop.example.com]
      routes: [{name: a, backends: [{service: web}]}]
    - name: b
      domains: [shop.example.com]
      routes: [{name: b, backends: [{service: api}]}]
  nodeGroups:
    - name: edge
      kind: gateway
      port: 8080
      selector: {app: edge}
      virtualHosts: [a, b]
`, []string{
			`p.yaml:14: spec.services[1].hosts[0]: host "web.example.COM" is already a name of service "web"`,
			`p.yaml:22: spec.virtualHosts[1].domains[0]: domain "shop.example.com" already served by virtual host "a" in node group "edge"`,
		}},
		// Envoy refuses these, though they pass its field validation: a direct response body
		// over 4096 bytes, a rate limit refilling more often than every 50ms and an access log
		// format with a '%' that starts no command. (A host listed twice would name two
		// proxyless gRPC listeners alike.)
		{"what Envoy refuses beyond field validation", minimal + `      hosts: [web.example.com, web.example.com]
      rateLimit: {maxTokens: 5, fillInterval: 10ms}
      routes:
        - name: big
          directResponse: {status: 200, body: "` + strings.Repeat("x", 4097) + `"}
  accessLog: {format: "%START_TIME% 100% done"}
`, []string{
			`p.yaml:11: spec.services[0].hosts[1]: host "web.example.com" is listed twice`,
			"p.yaml:12: spec.services[0].rateLimit.fillInterval: must be at least 50ms (Envoy's shortest refill period), not 10ms",
			"p.yaml:15: spec.services[0].routes[0].directResponse.body: must be at most 4096 bytes (Envoy's limit), not 4097",
			`p.yaml:16: spec.accessLog.format: not an Envoy format string: the '%' at offset 16 starts no %COMMAND% (write '%%' for a literal '%')`,
		}},
		{"yaml syntax", "apiVersion: [\n", []string{"p.yaml:"}},
		// yaml.v3 names line 6, where the list of services starts.
		{"yaml syntax at its line", svc(`      retries:
        on: [unavailable]
        count: 2
      outlierDetection:
        consecutive5xx: 2
    - name: api
      port: 9090
      endpoints:
        - address: 10.0.0.2
      timeout: 5s
      routes:
     - name: r
`), []string{"p.yaml:22: invalid YAML: did not find expected '-' indicator"}},
		{"empty", "", []string{"p.yaml: empty policy document"}},
		{"two documents", minimal + "---\nkind: TrafficPolicy\n", []string{"p.yaml:11: more than one YAML document"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expectErrors(t, c.doc, c.want) })
	}
}

// expectErrors parses doc as p.yaml and checks that it fails with errors starting with want,
// in order.
func expectErrors(t *testing.T, doc string, want []string) {
	t.Helper()
	_, err := policy.Parse([]byte(doc), "p.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	var list strictyaml.Errors
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not a strictyaml.Errors: %v", err, err)
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, list[i], w)
		}
	}
}

// Aliases can make a small file expand into a huge tree; Parse stops at a bound.
func TestParseAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n  services:\n")
	b.WriteString("    - &s\n      name: a\n      port: 80\n      endpoints: &e\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("        - {address: 10.0.0.1}\n")
	}
	for i := 0; i < 1000; i++ {
		b.WriteString("    - *s\n")
	}
	start := time.Now()
	_, err := policy.Parse([]byte(b.String()), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("err = %.300v", err)
	}
	t.Logf("rejected %d bytes expanding to over a million nodes in %v", b.Len(), time.Since(start))
}

func TestNodeGroup(t *testing.T) {
	p, err := policy.Parse([]byte(minimal+`    - {name: api, port: 9090, endpoints: [{address: 10.0.0.2}]}
  virtualHosts:
    - {name: vh, domains: ["*"], routes: [{name: r, backends: [{service: web}]}]}
  nodeGroups:
    - {name: web, services: [web]}
    - {name: edge, kind: gateway, services: [gateway], selector: {role: edge}}
    - {name: clients, kind: grpc, selector: {proxyless: "true", team: a}}
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cluster string
		meta    map[string]string
		want    string
		ok      bool
	}{
		{"web", nil, "web", true},
		{"gateway", nil, "edge", true},
		{"other", map[string]string{"role": "edge"}, "edge", true},
		{"x", map[string]string{"proxyless": "true", "team": "a", "extra": "1"}, "clients", true},
		{"x", map[string]string{"proxyless": "true"}, "", false},
		{"api", nil, "", false},
	}
	for _, c := range cases {
		got, ok := p.NodeGroup(c.cluster, c.meta)
		if got != c.want || ok != c.ok {
			t.Errorf("NodeGroup(%q, %v) = %q, %v; want %q, %v", c.cluster, c.meta, got, ok, c.want, c.ok)
		}
	}
}

func TestCloneIsDeep(t *testing.T) {
	p, err := policy.Load("../../deploy/policies/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Clone()
	c.Spec.Services[1].Retries.On[0] = "changed"
	c.Spec.Services[1].Routes[1].Backends[0].Weight = 1
	*c.Spec.Tracing.SamplingPercent = 99
	c.Spec.NodeGroups[0].Services[0] = "changed"
	if p.Spec.Services[1].Retries.On[0] == "changed" || p.Spec.Services[1].Routes[1].Backends[0].Weight == 1 ||
		*p.Spec.Tracing.SamplingPercent == 99 || p.Spec.NodeGroups[0].Services[0] == "changed" {
		t.Error("clone shares memory with the original")
	}
	// Errors in a clone still point into the original file.
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "mesh.yaml:") {
		t.Errorf("clone validation error without file position: %v", err)
	}
}

func TestWithFault(t *testing.T) {
	p, err := policy.Load("../../deploy/policies/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	code := uint32(14)
	f := policy.Fault{Abort: &policy.FaultAbort{GRPCStatus: &code, Percent: 50}, Headers: []policy.HeaderMatch{{Name: "x-chaos", Exact: "1"}}}
	q, err := p.WithFault(policy.FaultTarget{Service: "ratings"}, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Service("ratings").Fault; got == nil || *got.Abort.GRPCStatus != 14 || got.Headers[0].Name != "x-chaos" {
		t.Errorf("service fault %+v", got)
	}
	code = 2 // the overlay holds its own copy
	if *q.Service("ratings").Fault.Abort.GRPCStatus != 14 {
		t.Error("fault shares memory with the caller")
	}
	if p.Service("ratings").Fault != nil {
		t.Error("original changed")
	}
	r, err := p.WithFault(policy.FaultTarget{Route: "reviews-canary"}, policy.Fault{Delay: &policy.FaultDelay{Fixed: policy.Duration(time.Second), Percent: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Route("reviews-canary").Fault.Delay; d.Fixed.D() != time.Second || d.Percent != 5 {
		t.Errorf("route fault %+v", d)
	}
	if _, err := p.WithFault(policy.FaultTarget{Route: "nope"}, f); err == nil || !strings.Contains(err.Error(), "route/nope") {
		t.Errorf("unknown target: %v", err)
	}
	if _, err := p.WithFault(policy.FaultTarget{Route: "a", Service: "b"}, f); err == nil {
		t.Error("two targets accepted")
	}
	_, err = p.WithFault(policy.FaultTarget{Service: "ratings"}, policy.Fault{Delay: &policy.FaultDelay{Percent: 10}})
	if err == nil || !strings.Contains(err.Error(), "spec.services[3].fault.delay.fixed: must be positive") {
		t.Errorf("invalid fault: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := policy.Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

// TestValidateUpstreamCACertificates: CA certificates set by code (the Gateway API's) must be
// PEM certificates and go without a CA file; with them, no CA file is defaulted.
func TestValidateUpstreamCACertificates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tls    policy.UpstreamTLS
		wantCA string
		want   string
	}{
		{"not PEM", policy.UpstreamTLS{CACertificates: []byte("not a certificate")}, "", "spec.services[0].tls: its CA certificates hold no PEM certificate"},
		{"with a CA file", policy.UpstreamTLS{CACertificates: []byte("x"), CAFile: "/etc/ca.pem"}, "/etc/ca.pem", "spec.services[0].tls.caFile: is set with CA certificates: one or the other"},
		{"default CA file", policy.UpstreamTLS{}, policy.DefaultCAFile, ""},
	} {
		tls := tc.tls
		p := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.Kind, Metadata: policy.Metadata{Name: "code"},
			Spec: policy.Spec{Services: []policy.Service{{Name: "auth", Port: 443, Endpoints: []policy.Endpoint{{Address: "10.0.0.1"}}, TLS: &tls}}}}
		p.SetDefaults()
		if tls.CAFile != tc.wantCA {
			t.Errorf("%s: CA file %q, want %q", tc.name, tls.CAFile, tc.wantCA)
		}
		err := p.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	p := &policy.Policy{APIVersion: policy.APIVersion, Kind: policy.Kind, Metadata: policy.Metadata{Name: "code"},
		Spec: policy.Spec{Services: []policy.Service{{Name: "Bad_Name", Port: 80, Endpoints: []policy.Endpoint{{Address: "10.0.0.1"}}}}}}
	p.SetDefaults()
	err := p.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), `spec.services[0].name: must be a DNS label`) {
		t.Errorf("err = %v", err)
	}
}

// TestParseReportsEveryProblemAtOnce: a field that does not decode does not hide the
// problems of the fields that do, nor add the problems that follow from it; a problem of a
// service is not repeated on the node group made for it; a document of another kind is
// reported as such, not by its fields.
func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		want      []string
	}{
		{"typo and a bad port", "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n  services:\n  - name: a\n    port: 70000\n    discovery: kubernetes\n    timout: 2s\n",
			[]string{"p.yaml:9: spec.services[0].timout: unknown field", "p.yaml:7: spec.services[0].port: must be 1..65535"}},
		{"ill-typed weights", "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n  services:\n  - name: a\n    port: 80\n    discovery: kubernetes\n    routes:\n    - name: r\n      backends: [{service: a, weight: 0.9}, {service: a, weight: 0.1}]\n",
			[]string{"spec.services[0].routes[0].backends[0].weight: must be a whole number", "spec.services[0].routes[0].backends[1].weight: must be a whole number"}},
		{"a service twice, no node groups written", "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n  services:\n  - {name: a, port: 8080, discovery: kubernetes}\n  - {name: a, port: 8081, discovery: kubernetes}\n",
			[]string{`p.yaml:7: spec.services[1].name: duplicate service "a"`}},
		{"a Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  template: {}\n",
			[]string{`p.yaml:1: apiVersion: must be "foresight.dev/v1alpha1", not "apps/v1"`, `p.yaml:2: kind: must be "TrafficPolicy", not "Deployment"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(c.doc), "p.yaml")
			var errs strictyaml.Errors
			if !errors.As(err, &errs) || len(errs) != len(c.want) {
				t.Fatalf("got %v, want %d errors: %q", err, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d: %q, want %q", i, errs[i], w)
				}
			}
		})
	}
}

// TestPrefixRewriteOfASegmentPrefixSaysHow: a prefix rewrite or redirect of a segmentPrefix
// match is refused with the two routes to write instead.
func TestPrefixRewriteOfASegmentPrefixSaysHow(t *testing.T) {
	doc := "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n  services:\n  - name: api\n    port: 80\n    discovery: kubernetes\n    routes:\n" +
		"    - name: r\n      match: {segmentPrefix: /api}\n      rewrite: {prefix: /}\n"
	_, err := policy.Parse([]byte(doc), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), `spec.services[0].routes[0].rewrite.prefix: needs match.prefix (a segmentPrefix match is not rewritten by prefix: write two routes, one matching exact "/api" and one matching prefix "/api/")`) {
		t.Fatalf("got %v", err)
	}
}

// TestValidateForRefusesTheRegexesEnvoyGets: ValidateFor refuses a regex its check refuses
// where an Envoy proxy gets it (a sidecar group calls the service), at the regex's field, and
// not where only proxyless gRPC clients do, which take any.
func TestValidateForRefusesTheRegexesEnvoyGets(t *testing.T) {
	doc := func(kind string) string {
		return "apiVersion: foresight.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p}\nspec:\n  services:\n  - name: api\n    port: 80\n    discovery: kubernetes\n    routes:\n" +
			"    - name: r\n      match: {regex: '/v1/[a-z]{1,64}'}\n  nodeGroups:\n  - {name: clients, kind: " + kind + ", selector: {app: c}}\n"
	}
	tooLarge := func(expr string) error {
		if strings.Contains(expr, "{1,64}") {
			return errors.New("too large")
		}
		return nil
	}
	for kind, refused := range map[string]bool{"sidecar": true, "grpc": false} {
		p, err := policy.Parse([]byte(doc(kind)), "p.yaml")
		if kind == "sidecar" {
			// A sidecar group needs its services; give it one that calls api.
			p, err = policy.Parse([]byte(strings.Replace(doc(kind), "selector: {app: c}", "services: [api]", 1)), "p.yaml")
		}
		if err != nil {
			t.Fatal(err)
		}
		err = p.ValidateFor(tooLarge)
		if got := err != nil && strings.Contains(err.Error(), "p.yaml:11: spec.services[0].routes[0].match.regex: too large"); got != refused || (err != nil) != refused {
			t.Errorf("%s group: %v, want refused %v", kind, err, refused)
		}
	}
}
