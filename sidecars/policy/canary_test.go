package policy_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// canaryPolicy is a policy with a route web-split over web-v1 and web-v2 and the canaries
// given (YAML under spec.canaries, indented by four spaces).
func canaryPolicy(canaries string) string {
	return `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: p}
spec:
  services:
    - name: web
      port: 8080
      endpoints: [{address: 10.0.0.1}]
      routes:
        - name: web-split
          backends: [{service: web-v1}]
    - {name: web-v1, port: 8080, endpoints: [{address: 10.0.0.2}]}
    - {name: web-v2, port: 8080, endpoints: [{address: 10.0.0.3}]}
    - {name: other, port: 8080, endpoints: [{address: 10.0.0.4}]}
  canaries:
` + canaries
}

const goodCanary = `    - name: web-rollout
      route: web-split
      stable: web-v1
      canary: web-v2
      steps:
        - {weight: 10, pause: 1m}
        - {weight: 50, pause: 2m}
      analysis:
        interval: 30s
        failureLimit: 1
        consecutiveSuccessLimit: 2
        metrics:
          - name: success-rate
            query: sum(rate(requests_total{code!~"5.."}[1m])) / sum(rate(requests_total[1m]))
            min: 0.99
          - name: p99
            query: histogram_quantile(0.99, sum by (le) (rate(latency_seconds_bucket[1m])))
            max: 0.3
            dryRun: true
`

func TestParseCanary(t *testing.T) {
	p, err := policy.Parse([]byte(canaryPolicy(goodCanary)), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Canary("web-rollout")
	if c == nil || c.Route != "web-split" || len(c.Steps) != 2 || c.Steps[1].Weight != 50 || c.Steps[1].Pause.D() != 2*time.Minute {
		t.Fatalf("canary %+v", c)
	}
	a := c.Analysis
	if c.AnalysisInterval() != 30*time.Second || a.FailureLimit != 1 || c.SuccessesPerStep() != 2 ||
		*a.Metrics[0].Min != 0.99 || a.Metrics[0].Max != nil || *a.Metrics[1].Max != 0.3 || !a.Metrics[1].DryRun {
		t.Errorf("analysis %+v", a)
	}
}

// A canary with headers may start with a step of weight 0, where only the requests
// matching them reach it.
func TestParseHeaderOnlyPhase(t *testing.T) {
	doc := strings.Replace(goodCanary, "{weight: 10, pause: 1m}", "{weight: 0, pause: 1m}", 1) + "      headers: [{name: x-canary, exact: always}]\n"
	p, err := policy.Parse([]byte(canaryPolicy(doc)), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Canary("web-rollout")
	q, err := p.WithCanaryWeight(c, c.Steps[0].Weight)
	if err == nil {
		q, err = q.WithCanaryHeaderRoutes(c)
	}
	if err != nil {
		t.Fatal(err)
	}
	if b := q.Route("web-split").Backends; len(b) != 2 || b[0].Weight != 100 || b[1].Service != "web-v2" || b[1].Weight != 0 {
		t.Errorf("the route at the header-only step sends %+v, want all to web-v1", b)
	}
	if hr := q.Route(policy.HeaderRouteName("web-split")); hr == nil || len(hr.Backends) != 1 || hr.Backends[0].Service != "web-v2" {
		t.Errorf("header route %+v, want one to web-v2", hr)
	}
}

func TestCanaryErrors(t *testing.T) {
	cases := []struct {
		name, canary string
		want         []string
	}{
		{"weights do not step up", strings.Replace(goodCanary, "weight: 50", "weight: 10", 1),
			[]string{"p.yaml:22: spec.canaries[0].steps[1].weight: weights must step up: 10 does not exceed the previous step's 10"}},
		{"weight over 100", strings.Replace(goodCanary, "weight: 50", "weight: 150", 1),
			[]string{"p.yaml:22: spec.canaries[0].steps[1].weight: must be 1..100, not 150"}},
		// A first step of weight 0 (header-only) needs headers; a later one is never 0.
		{"header-only phase without headers", strings.Replace(goodCanary, "{weight: 10, pause: 1m}", "{weight: 0, pause: 1m}", 1),
			[]string{"p.yaml:21: spec.canaries[0].steps[0].weight: must be 1..100, not 0 (a first step of weight 0, where only the requests matching the canary's headers reach it, needs headers)"}},
		{"weight 0 after the first step", strings.Replace(goodCanary, "weight: 50", "weight: 0", 1) + "      headers: [{name: x-canary, exact: always}]\n",
			[]string{"p.yaml:22: spec.canaries[0].steps[1].weight: must be 1..100, not 0"}},
		{"query does not parse", goodCanary + "          - {name: bad, query: 'rate(x[1m]', max: 1}\n",
			[]string{"p.yaml:35: spec.canaries[0].analysis.metrics[2].query: does not parse:"}},
		{"range vector query", goodCanary + "          - {name: bad, query: 'x[1m]', max: 1}\n",
			[]string{"p.yaml:35: spec.canaries[0].analysis.metrics[2].query: must return an instant vector or a scalar, not a matrix"}},
		{"unknown backend", strings.Replace(goodCanary, "canary: web-v2", "canary: web-v3", 1),
			[]string{`p.yaml:19: spec.canaries[0].canary: unknown backend service "web-v3"`}},
		{"route sends elsewhere", strings.Replace(goodCanary, "stable: web-v1", "stable: other", 1),
			[]string{`p.yaml:17: spec.canaries[0].route: route "web-split" sends to "web-v1", which is neither stable "other" nor canary "web-v2"`}},
		{"unknown route", strings.Replace(goodCanary, "route: web-split", "route: nope", 1),
			[]string{`p.yaml:17: spec.canaries[0].route: unknown route "nope"`}},
		{"no threshold", strings.Replace(goodCanary, "            min: 0.99\n", "", 1),
			[]string{"p.yaml:28: spec.canaries[0].analysis.metrics[0]: needs min, max or both"}},
		{"unknown field", strings.Replace(goodCanary, "failureLimit: 1", "failureLimt: 1", 1),
			[]string{"p.yaml:25: spec.canaries[0].analysis.failureLimt: unknown field"}},
		{"no pause", strings.Replace(goodCanary, "{weight: 10, pause: 1m}", "{weight: 10}", 1),
			[]string{"p.yaml:21: spec.canaries[0].steps[0].pause: must be positive"}},
		{"header without a value", goodCanary + "      headers: [{name: x-canary}]\n",
			[]string{"p.yaml:35: spec.canaries[0].headers[0]: exactly one of exact, prefix, suffix, regex, present"}},
		{"header name", goodCanary + "      headers: [{name: 'x canary', exact: always}]\n",
			[]string{`p.yaml:35: spec.canaries[0].headers[0].name: must be a header name, not "x canary"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expectErrors(t, canaryPolicy(c.canary), c.want) })
	}
}

// A route named as a canary's header route would be is refused: the header route could not
// be added beside it.
func TestCanaryHeaderRouteNameTaken(t *testing.T) {
	doc := strings.Replace(canaryPolicy(goodCanary+"      headers: [{name: x-canary, exact: always}]\n"),
		"        - name: web-split\n", "        - {name: web-split~canary-headers, match: {prefix: /old}, backends: [{service: web-v1}]}\n        - name: web-split\n", 1)
	expectErrors(t, doc, []string{`p.yaml:36: spec.canaries[0].headers: the route name "web-split~canary-headers" is taken: it names the route of these headers`})
}

// WithCanaryHeaderRoutes puts before each route of the canary a copy that also requires the
// canary's headers and sends to the canary alone; the copy keeps the route's own match and
// settings, and the receiver is not changed. Weights and header routes compose.
func TestWithCanaryHeaderRoutes(t *testing.T) {
	doc := strings.Replace(canaryPolicy(goodCanary+"      headers: [{name: x-canary, exact: always}]\n"),
		"          backends: [{service: web-v1}]\n",
		"          match: {prefix: /api, headers: [{name: x-tenant, exact: a}]}\n          timeout: 3s\n          backends: [{service: web-v1}]\n        - {name: web-rest, backends: [{service: web-v1}]}\n", 1)
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Canary("web-rollout")
	q, err := p.WithCanaryHeaderRoutes(c)
	if err != nil {
		t.Fatal(err)
	}
	q, err = q.WithCanaryWeight(c, 10)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range q.Service("web").Routes {
		names = append(names, r.Name)
	}
	if want := []string{"web-split~canary-headers", "web-split", "web-rest"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("routes %v, want %v", names, want)
	}
	hr := q.Service("web").Routes[0]
	wantMatch := policy.Match{Prefix: "/api", Headers: []policy.HeaderMatch{{Name: "x-tenant", Exact: "a"}, {Name: "x-canary", Exact: "always"}}}
	if !reflect.DeepEqual(hr.Match, wantMatch) || hr.Timeout.D() != 3*time.Second || hr.HeadersOfCanary != "web-rollout" {
		t.Errorf("header route %+v", hr)
	}
	if want := []policy.Backend{{Service: "web-v2", Weight: 100}}; !reflect.DeepEqual(hr.Backends, want) {
		t.Errorf("header route backends %+v, want %+v", hr.Backends, want)
	}
	if want := []policy.Backend{{Service: "web-v1", Weight: 90}, {Service: "web-v2", Weight: 10}}; !reflect.DeepEqual(q.Route("web-split").Backends, want) {
		t.Errorf("route backends %+v, want %+v", q.Route("web-split").Backends, want)
	}
	if len(p.Service("web").Routes) != 2 || len(p.Route("web-split").Match.Headers) != 1 {
		t.Errorf("receiver changed: %+v", p.Service("web").Routes)
	}
	// Applied to a policy that has them already (another overlay layer's clone), the
	// copies are not taken for routes of the user's, and are not added twice.
	if err := q.Validate(); err != nil {
		t.Errorf("the policy with header routes: %v", err)
	}
	if again, err := q.WithCanaryHeaderRoutes(c); err != nil || again != q {
		t.Errorf("header routes added twice: %v, %v", again, err)
	}
	c.Headers = nil
	if same, err := p.WithCanaryHeaderRoutes(c); err != nil || same != p {
		t.Errorf("no headers: %p, %v; want the receiver", same, err)
	}
}

// WithCanaryWeight changes the weights of the canary's route and nothing else.
func TestWithCanaryWeight(t *testing.T) {
	p, err := policy.Parse([]byte(canaryPolicy(goodCanary)), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Canary("web-rollout")
	q, err := p.WithCanaryWeight(c, 30)
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.Backend{{Service: "web-v1", Weight: 70}, {Service: "web-v2", Weight: 30}}
	if got := q.Route("web-split").Backends; !reflect.DeepEqual(got, want) {
		t.Errorf("backends %+v, want %+v", got, want)
	}
	if got := p.Route("web-split").Backends; len(got) != 1 {
		t.Errorf("receiver changed: %+v", got)
	}
	q.Route("web-split").Backends = p.Route("web-split").Backends
	if !reflect.DeepEqual(p.Spec, q.Spec) {
		t.Error("WithCanaryWeight changed more than the route's backends")
	}
}

// TestCanaryKeepsBackendHeaderChanges: the header changes of a canary route's backends
// follow their Service through every weight, and into the header route, which sends to the
// canary alone with the canary's changes.
func TestCanaryKeepsBackendHeaderChanges(t *testing.T) {
	doc := strings.Replace(canaryPolicy(goodCanary+"      headers: [{name: x-canary, exact: \"1\"}]\n"), "backends: [{service: web-v1}]",
		"backends: [{service: web-v1, weight: 100, requestHeaders: {set: [{name: x-version, value: stable}]}}, {service: web-v2, weight: 0, requestHeaders: {set: [{name: x-version, value: canary}]}, responseHeaders: {remove: [server]}}]", 1)
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Canary("web-rollout")
	version := func(b policy.Backend) string { return b.Service + "=" + b.RequestHeaders.Set[0].Value }
	for _, w := range []uint32{0, 30, 100} {
		q, err := p.WithCanaryWeight(c, w)
		if err != nil {
			t.Fatal(err)
		}
		bs := q.Route("web-split").Backends
		if len(bs) != 2 || version(bs[0]) != "web-v1=stable" || version(bs[1]) != "web-v2=canary" || bs[1].Weight != w ||
			bs[1].ResponseHeaders == nil || bs[0].ResponseHeaders != nil {
			t.Errorf("at %d%%: backends %+v", w, bs)
		}
		bs[1].RequestHeaders.Set[0].Value = "changed"
		if version(p.Route("web-split").Backends[1]) != "web-v2=canary" {
			t.Fatal("the clone shares the receiver's header changes")
		}
	}
	q, err := p.WithCanaryHeaderRoutes(c)
	if err != nil {
		t.Fatal(err)
	}
	if bs := q.Route(policy.HeaderRouteName("web-split")).Backends; len(bs) != 1 || version(bs[0]) != "web-v2=canary" || bs[0].Weight != 100 {
		t.Errorf("header route backends %+v", bs)
	}
}

// WithAllCanaryHeaderRoutes adds the header routes of every canary that has headers, in one
// clone, leaves the receiver alone, and returns a policy that has them all as it is.
func TestWithAllCanaryHeaderRoutes(t *testing.T) {
	doc := `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: p}
spec:
  services:
    - {name: web, port: 8080, endpoints: [{address: 10.0.0.1}], routes: [{name: web-split, backends: [{service: web-v1}]}]}
    - {name: api, port: 8080, endpoints: [{address: 10.0.0.5}], routes: [{name: api-split, backends: [{service: api-v1}]}]}
    - {name: shop, port: 8080, endpoints: [{address: 10.0.0.8}], routes: [{name: shop-split, backends: [{service: web-v1}]}]}
    - {name: web-v1, port: 8080, endpoints: [{address: 10.0.0.2}]}
    - {name: web-v2, port: 8080, endpoints: [{address: 10.0.0.3}]}
    - {name: api-v1, port: 8080, endpoints: [{address: 10.0.0.6}]}
    - {name: api-v2, port: 8080, endpoints: [{address: 10.0.0.7}]}
  canaries:
    - {name: web-rollout, route: web-split, stable: web-v1, canary: web-v2, steps: [{weight: 10, pause: 1m}], headers: [{name: x-canary, exact: web}]}
    - {name: api-rollout, route: api-split, stable: api-v1, canary: api-v2, steps: [{weight: 10, pause: 1m}], headers: [{name: x-canary, exact: api}]}
    - {name: plain, route: shop-split, stable: web-v1, canary: web-v2, steps: [{weight: 10, pause: 1m}]}
`
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.WithAllCanaryHeaderRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for route, canary := range map[string]string{"web-split": "web-v2", "api-split": "api-v2"} {
		hr := q.Route(policy.HeaderRouteName(route))
		if hr == nil || len(hr.Backends) != 1 || hr.Backends[0].Service != canary {
			t.Errorf("header route of %s: %+v, want one to %s", route, hr, canary)
		}
		if p.Route(policy.HeaderRouteName(route)) != nil {
			t.Errorf("the receiver got the header route of %s", route)
		}
	}
	if q.Route(policy.HeaderRouteName("shop-split")) != nil {
		t.Error("a header route for the canary without headers")
	}
	if again, err := q.WithAllCanaryHeaderRoutes(); err != nil || again != q {
		t.Errorf("on a policy with every header route: %p, %v; want the policy itself", again, err)
	}
}
