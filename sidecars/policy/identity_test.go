package policy_test

import (
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// TestIdentityMatches: "*" stands for one whole trust domain or path segment, nothing else
// is a wildcard, and the number of segments must agree.
func TestIdentityMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, id string
		want        bool
	}{
		{"spiffe://cluster.local/ns/shop/sa/checkout", "spiffe://cluster.local/ns/shop/sa/checkout", true},
		{"spiffe://cluster.local/ns/shop/sa/checkout", "spiffe://cluster.local/ns/shop/sa/cart", false},
		{"spiffe://cluster.local/ns/shop/sa/*", "spiffe://cluster.local/ns/shop/sa/cart", true},
		{"spiffe://cluster.local/ns/shop/sa/*", "spiffe://cluster.local/ns/shopping/sa/cart", false},
		{"spiffe://cluster.local/ns/shop/sa/*", "spiffe://cluster.local/ns/shop/sa/cart/extra", false},
		{"spiffe://cluster.local/ns/shop/sa/*", "spiffe://cluster.local/ns/shop/sa", false},
		{"spiffe://cluster.local/ns/*/sa/gateway", "spiffe://cluster.local/ns/edge/sa/gateway", true},
		{"spiffe://*/ns/shop/sa/*", "spiffe://prod.example/ns/shop/sa/cart", true},
		{"spiffe://*/ns/shop/sa/*", "spiffe://prod.example/ns/other/sa/cart", false},
		{"spiffe://cluster.local/ns/shop/sa/*", "spiffe://other.local/ns/shop/sa/cart", false},
		// A "*" inside a segment is not a wildcard, and an ID never holds one.
		{"spiffe://cluster.local/ns/sh*/sa/cart", "spiffe://cluster.local/ns/shop/sa/cart", false},
		{"spiffe://cluster.local/ns/*/sa/cart", "spiffe://cluster.local/ns/*/sa/cart", false},
		// IDs that are not SPIFFE IDs match nothing.
		{"spiffe://cluster.local/ns/shop/sa/*", "https://cluster.local/ns/shop/sa/cart", false},
		{"spiffe://cluster.local/ns/shop/sa/*", "spiffe://CLUSTER.local/ns/shop/sa/cart", false},
		{"spiffe://cluster.local/ns/shop/sa/*", "spiffe://cluster.local/ns/shop/sa/cart?x=1", false},
		{"spiffe://cluster.local/ns/shop/sa/*", "spiffe://cluster.local/ns/shop/sa/../cart", false},
	} {
		if got := policy.IdentityMatches(tc.pattern, tc.id); got != tc.want {
			t.Errorf("IdentityMatches(%q, %q) = %v, want %v", tc.pattern, tc.id, got, tc.want)
		}
	}
}

// TestParseIdentities: a node group's identities parse and admit the clients they name; a
// wrong one is refused naming the file, line and entry.
func TestParseIdentities(t *testing.T) {
	doc := minimal + `  nodeGroups:
    - name: web
      services: [web]
      identities: ["spiffe://cluster.local/ns/shop/sa/web", "spiffe://*/ns/ops/sa/*"]
    - {name: others, kind: grpc, selector: {app: other}}
`
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		group string
		ids   []string
		want  bool
	}{
		{"web", []string{"spiffe://cluster.local/ns/shop/sa/web"}, true},
		{"web", []string{"spiffe://cluster.local/ns/shop/sa/cart", "spiffe://staging/ns/ops/sa/debug"}, true},
		{"web", []string{"spiffe://cluster.local/ns/shop/sa/cart"}, false},
		{"web", nil, false},
		{"others", []string{"spiffe://cluster.local/ns/shop/sa/web"}, false}, // lists none
		{"missing", []string{"spiffe://cluster.local/ns/shop/sa/web"}, false},
	} {
		if got := p.AdmitsIdentity(tc.group, tc.ids); got != tc.want {
			t.Errorf("AdmitsIdentity(%q, %q) = %v, want %v", tc.group, tc.ids, got, tc.want)
		}
	}
	for _, tc := range []struct{ from, to, want string }{
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"cluster.local/ns/shop/sa/web"`, `identities[0]: "cluster.local/ns/shop/sa/web" is not a SPIFFE ID pattern: must start with "spiffe://"`},
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"spiffe://cluster.local"`, `identities[0]: "spiffe://cluster.local" is not a SPIFFE ID pattern: no path`},
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"spiffe://Cluster.local/ns/shop/sa/web"`, `identities[0]: "spiffe://Cluster.local/ns/shop/sa/web" is not a SPIFFE ID pattern: trust domain`},
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"spiffe://cluster.local/ns//sa/web"`, `identities[0]: "spiffe://cluster.local/ns//sa/web" is not a SPIFFE ID pattern: path segment ""`},
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"spiffe://cluster.local/ns/sh*p/sa/web"`, `path segment "sh*p": only letters`},
		{`"spiffe://*/ns/ops/sa/*"`, `"spiffe://cluster.local/ns/shop/sa/web"`, `identities[1]: duplicate identity`},
	} {
		_, err := policy.Parse([]byte(strings.Replace(doc, tc.from, tc.to, 1)), "p.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: error %v, want one with p.yaml:<line> and %q", tc.to, err, tc.want)
		}
	}
	long := "spiffe://cluster.local/" + strings.Repeat("a", 3000)
	_, err = policy.Parse([]byte(strings.Replace(doc, `"spiffe://cluster.local/ns/shop/sa/web"`, `"`+long+`"`, 1)), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), "at most 2048 bytes") || strings.Contains(err.Error(), long) {
		t.Errorf("a 3 kB identity: error %v, want a bounded one saying at most 2048 bytes", err)
	}
}

// FuzzIdentityMatches: no input panics; a pattern that validates and holds no "*" matches
// exactly itself; a pattern that does not validate matches nothing.
func FuzzIdentityMatches(f *testing.F) {
	f.Add("spiffe://cluster.local/ns/shop/sa/*", "spiffe://cluster.local/ns/shop/sa/web")
	f.Add("spiffe://*/ns/a/sa/b", "spiffe://x/ns/a/sa/b")
	f.Add("spiffe://", "spiffe:///")
	f.Fuzz(func(t *testing.T, pattern, id string) {
		match := policy.IdentityMatches(pattern, id)
		err := policy.ValidateIdentityPattern(pattern)
		if err != nil {
			if match {
				t.Fatalf("invalid pattern %q (%v) matched %q", pattern, err, id)
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !strings.Contains(pattern, "*") {
			if !policy.IdentityMatches(pattern, pattern) {
				t.Fatalf("literal pattern %q does not match itself", pattern)
			}
			if match != (pattern == id) {
				t.Fatalf("literal pattern %q matched %q: %v", pattern, id, match)
			}
		}
	})
}
