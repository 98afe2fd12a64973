package xds

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// edgePolicy is a gateway policy named name whose one route sends to service (web or api).
func edgePolicy(t *testing.T, name, service string) *policy.Policy {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: %s, namespace: test}
spec:
  services:
    - {name: web, port: 8080, endpoints: [{address: 10.0.0.1}]}
    - {name: api, port: 8080, endpoints: [{address: 10.0.0.2}]}
  virtualHosts:
    - name: public
      domains: ["*"]
      routes: [{name: all, backends: [{service: %s}]}]
  nodeGroups:
    - {name: edge, kind: gateway, selector: {role: edge}}
`, name, service)
	p, err := policy.Parse([]byte(doc), name+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// published is what the server publishes: each group's snapshot versions, the endpoint
// names and the number of configurations served.
type published struct {
	versions  map[string]string
	endpoints string
	generated int
}

func publishedBy(t *testing.T, s *Server) published {
	t.Helper()
	groups, eds := s.Served()
	out := published{versions: map[string]string{}, endpoints: strings.Join(eds, ",")}
	for g := range groups {
		snap, err := s.snapshots.GetSnapshot(g)
		if err != nil {
			t.Fatalf("group %s: %v", g, err)
		}
		for _, typ := range []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType} {
			out.versions[g+" "+typ] = snap.GetVersion(typ)
		}
	}
	s.mu.Lock()
	out.generated = s.generated
	s.mu.Unlock()
	return out
}

func samePublished(a, b published) bool {
	return maps.Equal(a.versions, b.versions) && a.endpoints == b.endpoints && a.generated == b.generated
}

// TestCheckPolicyIsSetPolicyWithoutServing: CheckPolicy refuses what SetPolicy refuses, with
// the same error (invalid policies, and configurations the overlay layers make the translation
// or the checks refuse), accepts what SetPolicy serves, and publishes, counts and keeps
// nothing: the snapshot versions, the served policy and the reload and rejection counters
// stay as they are until SetPolicy.
func TestCheckPolicyIsSetPolicyWithoutServing(t *testing.T) {
	ctx := context.Background()
	rec, srv := reconciled(t, ctx, edgePolicy(t, "first", "web"))
	counters := func() [3]float64 {
		return [3]float64{testutil.ToFloat64(srv.metrics.reloads.WithLabelValues("success")),
			testutil.ToFloat64(srv.metrics.reloads.WithLabelValues("failure")), testutil.ToFloat64(srv.metrics.snapshotsRejected)}
	}
	// A layer that sends the route of a policy named "breaks" to a service it does not have:
	// what it returns is not validated, so only the translation and the checks refuse it.
	if err := rec.SetLayer(ctx, "breaker", func(p *policy.Policy) (*policy.Policy, error) {
		if p.Metadata.Name != "breaks" {
			return p, nil
		}
		c := p.Clone()
		c.Spec.VirtualHosts[0].Routes[0].Backends[0].Service = "nowhere"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	before, beforeCounts := publishedBy(t, srv), counters()
	if len(before.versions) == 0 {
		t.Fatal("nothing published by the first policy")
	}
	unchanged := func(when string) {
		t.Helper()
		if got := publishedBy(t, srv); !samePublished(got, before) {
			t.Fatalf("%s: published %+v, was %+v", when, got, before)
		}
		if got := rec.Policy().Metadata.Name; got != "first" {
			t.Fatalf("%s: the served policy is %q", when, got)
		}
	}

	// A policy file cannot hold two node groups of one name (Parse validates); a merge can.
	duplicate := edgePolicy(t, "duplicate", "api")
	duplicate.Spec.NodeGroups = append(duplicate.Spec.NodeGroups, policy.NodeGroup{Name: "edge", Kind: policy.NodeGRPC, Selector: map[string]string{"role": "other"}})
	broken := edgePolicy(t, "breaks", "api")
	// A canary whose header regex compiles to more than Envoy's 100 instructions: refused
	// at load, before its rollout starts (its header routes are not served yet).
	testers := edgePolicy(t, "testers", "web")
	testers.Spec.Canaries = []policy.Canary{{Name: "testers", Route: "all", Stable: "web", Canary: "api",
		Steps:   []policy.CanaryStep{{Weight: 10, Pause: policy.Duration(time.Hour)}},
		Headers: []policy.HeaderMatch{{Name: "x-user", Regex: "[a-z0-9-]{1,64}"}}}}
	for _, tc := range []struct {
		name     string
		p        *policy.Policy
		want     string
		rejected bool // the translation or the checks refuse it (else Validate does)
	}{
		{"invalid", duplicate, `duplicate node group "edge"`, false},
		{"refused after the overlay layers", broken, "nowhere", true},
		{"a canary's header routes refused", testers, `route "all~canary-headers" header x-user`, true},
	} {
		checkErr := rec.CheckPolicy(ctx, tc.p, nil)
		if checkErr == nil || !strings.Contains(checkErr.Error(), tc.want) || errors.Is(checkErr, ErrRejected) != tc.rejected {
			t.Fatalf("%s: CheckPolicy = %v, want an error with %q (rejected %v)", tc.name, checkErr, tc.want, tc.rejected)
		}
		if got := counters(); got != beforeCounts {
			t.Fatalf("%s: CheckPolicy counted: %v, was %v", tc.name, got, beforeCounts)
		}
		unchanged(tc.name + ": after CheckPolicy")
		setErr := rec.SetPolicy(ctx, tc.p)
		if setErr == nil || setErr.Error() != checkErr.Error() {
			t.Fatalf("%s: SetPolicy = %v, CheckPolicy said %v", tc.name, setErr, checkErr)
		}
		unchanged(tc.name + ": after SetPolicy")
		beforeCounts = counters()
	}
	if want := [3]float64{1, 3, 1}; beforeCounts != want {
		t.Fatalf("counters (reload successes, reload failures, rejected snapshots) = %v, want %v", beforeCounts, want)
	}

	// with replaces a layer for the check alone: without the breaker the policy passes.
	if err := rec.CheckPolicy(ctx, broken, map[string]Overlay{"breaker": nil}); err != nil {
		t.Fatalf("CheckPolicy without the breaker layer: %v", err)
	}
	unchanged("after CheckPolicy without a layer")
	if err := rec.CheckPolicy(ctx, broken, nil); err == nil {
		t.Fatal("the breaker layer was removed by a check")
	}

	next := edgePolicy(t, "second", "api")
	if err := rec.CheckPolicy(ctx, next, nil); err != nil {
		t.Fatalf("CheckPolicy of a good policy: %v", err)
	}
	if got := counters(); got != beforeCounts {
		t.Fatalf("CheckPolicy of a good policy counted: %v, was %v", got, beforeCounts)
	}
	unchanged("after CheckPolicy of a good policy")
	if err := rec.SetPolicy(ctx, next); err != nil {
		t.Fatal(err)
	}
	after := publishedBy(t, srv)
	if samePublished(after, before) || after.generated != before.generated+1 || rec.Policy().Metadata.Name != "second" {
		t.Fatalf("SetPolicy of the checked policy published %+v (was %+v), serves %q", after, before, rec.Policy().Metadata.Name)
	}
}
