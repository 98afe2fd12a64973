package policy_test

import (
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

const routeFilters = `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: p}
spec:
  services:
    - {name: web, port: 8080, endpoints: [{address: 10.0.0.1}]}
    - {name: shadow, port: 8080, endpoints: [{address: 10.0.0.2}]}
  virtualHosts:
    - name: edge
      domains: ["*"]
      routes:
        - name: r
          match: {prefix: /api/}
          backends: [{service: web, weight: 80}, {unresolved: true, weight: 20}]
          rewrite: {path: /v2}
          noTimeout: true
          requestHeaders: {set: [{name: x-env, value: prod}], add: [{name: x-via, value: gw}], remove: [x-debug]}
          responseHeaders: {remove: [server]}
          mirrors: [{service: shadow, percent: 12.5}]
`

// TestParseRouteFilters: header changes, mirrors, full-path rewrites, the unresolved share and
// noTimeout parse; wrong ones are refused naming the file, line and field.
func TestParseRouteFilters(t *testing.T) {
	p, err := policy.Parse([]byte(routeFilters), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := p.Route("r")
	if b := r.Backends[0]; b.HasHeaderChanges() || r.Backends[1].HasHeaderChanges() {
		t.Errorf("backends change headers: %+v", r.Backends)
	}
	if r.RequestHeaders == nil || len(r.RequestHeaders.Set) != 1 || r.RequestHeaders.Add[0].Value != "gw" || r.ResponseHeaders.Remove[0] != "server" ||
		len(r.Mirrors) != 1 || *r.Mirrors[0].Percent != 12.5 || !r.Backends[1].Unresolved || r.Rewrite.Path != "/v2" || !r.NoTimeout {
		t.Errorf("route = %+v", r)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"{name: x-env, value: prod}", "{name: Host, value: x}", "spec.virtualHosts[0].routes[0].requestHeaders.set[0].name: the Host header cannot be changed"},
		{"remove: [x-debug]", "remove: [x-env]", `requestHeaders.remove[0]: header "x-env" is already changed`},
		{"percent: 12.5", "percent: 101", "mirrors[0].percent: must be 0..100"},
		{"service: shadow", "service: nowhere", `mirrors[0].service: unknown service "nowhere"`},
		{"{unresolved: true, weight: 20}", "{unresolved: true, service: web, weight: 20}", "backends[1].service: must be empty for an unresolved backend"},
		{"{unresolved: true, weight: 20}", "{unresolved: true, weight: 20, requestHeaders: {remove: [x-a]}}", "backends[1]: an unresolved backend changes no headers"},
		{"{service: web, weight: 80}", "{service: web, weight: 80, requestHeaders: {set: [{name: Host, value: x}]}}", "routes[0].backends[0].requestHeaders.set[0].name: the Host header cannot be changed"},
		{"{service: web, weight: 80}", "{service: web, weight: 80, responseHeaders: {add: [{name: x-a, value: \"a\\nb\"}]}}", "backends[0].responseHeaders.add[0].value: must be at most"},
		{"path: /v2", "path: v2", "rewrite.path: must start with '/'"},
		{"noTimeout: true", "noTimeout: true\n          timeout: 1s", "noTimeout: not with a timeout"},
	} {
		_, err := policy.Parse([]byte(strings.Replace(routeFilters, tc.from, tc.to, 1)), "p.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: error %v, want one with p.yaml:<line> and %q", tc.to, err, tc.want)
		}
	}
}

// TestMatchesMustBeUTF8: a policy built by a program (not parsed: YAML is UTF-8) with match
// strings that are not UTF-8 is refused naming the field, since Envoy's and grpc-go's string
// fields must be UTF-8.
func TestMatchesMustBeUTF8(t *testing.T) {
	for _, tc := range []struct {
		set  func(m *policy.Match)
		want string
	}{
		{func(m *policy.Match) { m.Prefix = "/\xd0" }, "match.prefix: must be valid UTF-8"},
		{func(m *policy.Match) { m.Prefix, m.SegmentPrefix = "", "/a\xff" }, "match.segmentPrefix: must be valid UTF-8"},
		{func(m *policy.Match) { m.Headers = []policy.HeaderMatch{{Name: "x-a", Suffix: "\xc3"}} }, "match.headers[0].suffix: must be valid UTF-8"},
		{func(m *policy.Match) { m.Query = []policy.QueryMatch{{Name: "q", Exact: "\xe2\x82"}} }, "match.query[0].exact: must be valid UTF-8"},
	} {
		p, err := policy.Parse([]byte(routeFilters), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		tc.set(&p.Route("r").Match)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "spec.virtualHosts[0].routes[0]."+tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
}
