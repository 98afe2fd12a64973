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
		// DNS names: "*" is one whole label; case does not matter; schemes never mix.
		{"dns:web.shop.svc.cluster.local", "dns:web.shop.svc.cluster.local", true},
		{"dns:web.shop.svc.cluster.local", "dns:WEB.Shop.svc.cluster.local", true},
		{"dns:*.shop.svc", "dns:cart.shop.svc", true},
		{"dns:*.shop.svc", "dns:shop.svc", false},
		{"dns:*.shop.svc", "dns:a.cart.shop.svc", false},
		{"dns:cart.*.svc", "dns:cart.shop.svc", true},
		{"dns:*.shop.svc", "dns:*.shop.svc", false}, // a wildcard certificate names no workload
		{"dns:*.shop.svc", "spiffe://shop.svc/ns/shop/sa/cart", false},
		{"spiffe://*/ns/shop/sa/*", "dns:cart.shop.svc", false},
		{"dns:*.shop.svc", "dns:-cart.shop.svc", false},
		{"dns:*.shop.svc", "dns:cart..shop.svc", false},
		{"dns:*.shop.svc", "dns:\u212aart.shop.svc", false}, // the Kelvin sign lowercases to k
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
      identities: ["spiffe://cluster.local/ns/shop/sa/web", "spiffe://*/ns/ops/sa/*", "dns:web.shop.svc.cluster.local"]
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
		{"web", []string{"dns:cart.shop.svc.cluster.local", "dns:web.shop.svc.cluster.local"}, true},
		{"web", []string{"dns:cart.shop.svc.cluster.local"}, false},
		{"web", nil, false},
		{"others", []string{"spiffe://cluster.local/ns/shop/sa/web"}, false}, // lists none
		{"missing", []string{"spiffe://cluster.local/ns/shop/sa/web"}, false},
	} {
		if got := p.AdmitsIdentity(tc.group, tc.ids); got != tc.want {
			t.Errorf("AdmitsIdentity(%q, %q) = %v, want %v", tc.group, tc.ids, got, tc.want)
		}
	}
	for _, tc := range []struct{ from, to, want string }{
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"cluster.local/ns/shop/sa/web"`, `identities[0]: "cluster.local/ns/shop/sa/web" is not an identity pattern (a SPIFFE ID or dns:NAME): must start with "spiffe://"`},
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"spiffe://cluster.local"`, `identities[0]: "spiffe://cluster.local" is not an identity pattern (a SPIFFE ID or dns:NAME): no path`},
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"spiffe://Cluster.local/ns/shop/sa/web"`, `identities[0]: "spiffe://Cluster.local/ns/shop/sa/web" is not an identity pattern (a SPIFFE ID or dns:NAME): trust domain`},
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"spiffe://cluster.local/ns//sa/web"`, `identities[0]: "spiffe://cluster.local/ns//sa/web" is not an identity pattern (a SPIFFE ID or dns:NAME): path segment ""`},
		{`"spiffe://cluster.local/ns/shop/sa/web"`, `"spiffe://cluster.local/ns/sh*p/sa/web"`, `path segment "sh*p": only letters`},
		{`"spiffe://*/ns/ops/sa/*"`, `"spiffe://cluster.local/ns/shop/sa/web"`, `identities[1]: duplicate identity`},
		{`"spiffe://*/ns/ops/sa/*"`, `"dns:*.*"`, `identities[1]: "dns:*.*" is not an identity pattern (a SPIFFE ID or dns:NAME): DNS name "*.*": at least one label must not be '*'`},
		{`"spiffe://*/ns/ops/sa/*"`, `"dns:web_1.shop"`, `DNS label "web_1": 1 to 63 letters`},
		{`"spiffe://*/ns/ops/sa/*"`, `"dns:"`, `no DNS name after "dns:"`},
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
	f.Add("dns:*.shop.svc", "dns:web.shop.svc")
	f.Add("dns:Web.Shop", "dns:web.shop")
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
			same := pattern == id
			if strings.HasPrefix(pattern, "dns:") {
				same = strings.HasPrefix(id, "dns:") && asciiLower(pattern) == asciiLower(id)
			}
			if match != same {
				t.Fatalf("literal pattern %q matched %q: %v", pattern, id, match)
			}
		}
	})
}

// asciiLower lowercases the ASCII letters of s only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
