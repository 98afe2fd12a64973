package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// scriptedAuthorizer allows the users in allowed, denies the others, fails
// while fail is set, and counts its reviews.
type scriptedAuthorizer struct {
	mu      sync.Mutex
	allowed map[string]bool
	fail    bool
	reviews int
}

func (s *scriptedAuthorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reviews++
	switch {
	case s.fail:
		return authorizer.DecisionNoOpinion, "", errors.New("review failed")
	case s.allowed[a.GetUser().GetName()]:
		return authorizer.DecisionAllow, "allowed by script", nil
	default:
		return authorizer.DecisionNoOpinion, "not allowed by script", nil
	}
}

func (s *scriptedAuthorizer) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *scriptedAuthorizer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reviews
}

func (s *scriptedAuthorizer) ConditionsAwareAuthorize(ctx context.Context, a authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(s.Authorize(ctx, a))
}

func (s *scriptedAuthorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

func listMetric(name, namespace, metric string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User: &user.DefaultInfo{Name: name, Groups: []string{"system:serviceaccounts"}}, Verb: "list", Namespace: namespace,
		APIGroup: "external.metrics.k8s.io", APIVersion: "v1beta1", Resource: metric, ResourceRequest: true,
		Path: "/apis/external.metrics.k8s.io/v1beta1/namespaces/" + namespace + "/" + metric,
	}
}

func TestAuthzCacheRefreshesAheadAndNeverServesPastTTL(t *testing.T) {
	inner := &scriptedAuthorizer{allowed: map[string]bool{"hpa": true}}
	clock := time.Unix(1_800_000_000, 0)
	c := newAuthzCache(inner, 10*time.Second, 4*time.Second, 100)
	c.now = func() time.Time { return clock }
	ctx := context.Background()
	hpa := listMetric("hpa", "shop", "rps")
	authorize := func(when string, a authorizer.Attributes, want authorizer.Decision, reviews int) {
		t.Helper()
		got, _, err := c.Authorize(ctx, a)
		c.refreshing.Wait()
		if err != nil || got != want || inner.count() != reviews {
			t.Fatalf("%s: decision %v, err %v, %d reviews; want %v after %d reviews", when, got, err, inner.count(), want, reviews)
		}
	}

	authorize("first request", hpa, authorizer.DecisionAllow, 1)
	clock = clock.Add(7 * time.Second)
	authorize("within the TTL", hpa, authorizer.DecisionAllow, 1)
	// Last quarter of the TTL: answered from the cache, reviewed in the background.
	clock = clock.Add(time.Second)
	authorize("refresh window", hpa, authorizer.DecisionAllow, 2)
	// The refresh (at 8 s) restarted the TTL: 17 s after the first review is 9 s after it.
	clock = clock.Add(9 * time.Second)
	inner.set(func() { inner.allowed["hpa"] = false })
	authorize("refreshed entry", hpa, authorizer.DecisionAllow, 3) // served; its refresh sees the revocation
	authorize("after the revoking refresh", hpa, authorizer.DecisionNoOpinion, 3)

	// A failing refresh keeps the entry only until its TTL.
	inner.set(func() { inner.allowed["hpa"] = true })
	clock = clock.Add(5 * time.Second) // the denial (4 s TTL) expired
	authorize("re-allowed", hpa, authorizer.DecisionAllow, 4)
	inner.set(func() { inner.fail = true })
	clock = clock.Add(8 * time.Second)
	authorize("refresh fails", hpa, authorizer.DecisionAllow, 5)
	clock = clock.Add(time.Second)
	authorize("retry still fails", hpa, authorizer.DecisionAllow, 6)
	clock = clock.Add(time.Second) // 10 s after the last successful review
	if d, _, err := c.Authorize(ctx, hpa); err == nil || d == authorizer.DecisionAllow {
		t.Fatalf("past the TTL with the reviewer down: %v, %v; want the inner error", d, err)
	}
	inner.set(func() { inner.fail = false })
	authorize("errors are not cached", hpa, authorizer.DecisionAllow, 8)
}

func TestAuthzCacheKeysOnEveryAttribute(t *testing.T) {
	inner := &scriptedAuthorizer{allowed: map[string]bool{"hpa": true}}
	c := newAuthzCache(inner, time.Minute, time.Minute, 100)
	base := listMetric("hpa", "shop", "rps")
	labelReqs, err := labels.ParseToRequirements("queue=orders")
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]func(a *authorizer.AttributesRecord){
		"user": func(a *authorizer.AttributesRecord) {
			a.User = &user.DefaultInfo{Name: "other", Groups: []string{"system:serviceaccounts"}}
		},
		"uid": func(a *authorizer.AttributesRecord) {
			a.User = &user.DefaultInfo{Name: "hpa", UID: "1", Groups: []string{"system:serviceaccounts"}}
		},
		"groups": func(a *authorizer.AttributesRecord) {
			a.User = &user.DefaultInfo{Name: "hpa", Groups: []string{"system:masters"}}
		},
		"extra": func(a *authorizer.AttributesRecord) {
			a.User = &user.DefaultInfo{Name: "hpa", Groups: []string{"system:serviceaccounts"}, Extra: map[string][]string{"scopes": {"x"}}}
		},
		"verb":        func(a *authorizer.AttributesRecord) { a.Verb = "get" },
		"namespace":   func(a *authorizer.AttributesRecord) { a.Namespace = "bank" },
		"group":       func(a *authorizer.AttributesRecord) { a.APIGroup = "custom.metrics.k8s.io" },
		"version":     func(a *authorizer.AttributesRecord) { a.APIVersion = "v1beta2" },
		"resource":    func(a *authorizer.AttributesRecord) { a.Resource = "queue_depth" },
		"subresource": func(a *authorizer.AttributesRecord) { a.Subresource = "status" },
		"name":        func(a *authorizer.AttributesRecord) { a.Name = "x" },
		"labels":      func(a *authorizer.AttributesRecord) { a.LabelSelectorRequirements = labelReqs },
		"fields": func(a *authorizer.AttributesRecord) {
			a.FieldSelectorRequirements = fields.Requirements{{Operator: "=", Field: "metadata.name", Value: "x"}}
		},
		"non-resource": func(a *authorizer.AttributesRecord) { a.ResourceRequest = false },
		// Field boundaries are encoded: moving a character between fields is another key.
		"boundaries": func(a *authorizer.AttributesRecord) { a.Namespace, a.Resource = "shopr", "ps" },
	}
	keys := map[[32]byte]string{}
	k, ok := authzKey(base)
	if !ok {
		t.Fatal("base attributes not cacheable")
	}
	keys[k] = "base"
	for name, change := range variants {
		a := base
		change(&a)
		k, ok := authzKey(a)
		if !ok {
			t.Fatalf("%s: not cacheable", name)
		}
		if other, dup := keys[k]; dup {
			t.Errorf("%s has the key of %s", name, other)
		}
		keys[k] = name
	}
	// The same extra, built in another order, is the same key.
	a1, a2 := base, base
	a1.User = &user.DefaultInfo{Name: "hpa", Extra: map[string][]string{"a": {"1"}, "b": {"2"}, "c": {"3"}}}
	a2.User = &user.DefaultInfo{Name: "hpa", Extra: map[string][]string{"c": {"3"}, "b": {"2"}, "a": {"1"}}}
	k1, _ := authzKey(a1)
	k2, _ := authzKey(a2)
	if k1 != k2 {
		t.Error("the same extra gives different keys")
	}

	// Uncacheable: selectors that do not parse, and huge attributes.
	bad := base
	bad.LabelSelectorParsingErr = errors.New("bad selector")
	huge := base
	huge.Name = strings.Repeat("x", maxCachedAttrSize)
	for name, a := range map[string]authorizer.AttributesRecord{"bad selector": bad, "huge": huge} {
		before := inner.count()
		for range 2 {
			if _, _, err := c.Authorize(context.Background(), a); err != nil {
				t.Fatal(err)
			}
		}
		if got := inner.count() - before; got != 2 {
			t.Errorf("%s: %d reviews for 2 requests, want 2 (not cached)", name, got)
		}
	}
}

func TestAuthzCacheZeroTTLDoesNotCache(t *testing.T) {
	inner := &scriptedAuthorizer{allowed: map[string]bool{"hpa": true}}
	c := newAuthzCache(inner, 0, time.Minute, 100)
	for range 3 {
		if d, _, _ := c.Authorize(context.Background(), listMetric("hpa", "shop", "rps")); d != authorizer.DecisionAllow {
			t.Fatalf("decision %v", d)
		}
	}
	if n := inner.count(); n != 3 {
		t.Errorf("allowed with a zero allow TTL: %d reviews for 3 requests, want 3", n)
	}
	for range 3 {
		if d, _, err := c.Authorize(context.Background(), listMetric("stranger", "shop", "rps")); err != nil || d == authorizer.DecisionAllow {
			t.Fatalf("stranger: %v, %v", d, err)
		}
	}
	if n := inner.count(); n != 4 {
		t.Errorf("denied with a one-minute deny TTL: %d reviews in all, want 4", n)
	}
}
