package gatewayapi

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// TestParseServiceAccountTemplate: the names a template gives Gateways, and the templates
// refused with what is wrong.
func TestParseServiceAccountTemplate(t *testing.T) {
	for _, tc := range []struct{ template, gateway, want string }{
		{"", "edge", ""},
		{"{gateway}-proxy", "edge", "edge-proxy"},
		{"gw-{gateway}", "edge.v2", "gw-edge.v2"},
		{"{gateway}", "edge", "edge"},
		{"gateway-proxy", "edge", "gateway-proxy"},
	} {
		tpl, err := ParseServiceAccountTemplate(tc.template)
		if err != nil {
			t.Fatalf("%q: %v", tc.template, err)
		}
		if got := tpl.String(); got != tc.template {
			t.Errorf("%q reads back as %q", tc.template, got)
		}
		if got, err := tpl.Name(tc.gateway); err != nil || got != tc.want {
			t.Errorf("%q for Gateway %q: %q, %v; want %q", tc.template, tc.gateway, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ template, want string }{
		{"{gateway}-{gateway}", "appears more than once"},
		{"Proxy-{gateway}", `"Proxy-a" is not a valid ServiceAccount name`},
		{"{gateway}_proxy", `"a_proxy" is not a valid ServiceAccount name`},
		{"{gateway}-", `"a-" is not a valid ServiceAccount name`},
		{"{name}", `"{name}" is not a valid ServiceAccount name`},
		{"sa/*", `"sa/*" is not a valid ServiceAccount name`},
		{strings.Repeat("p", 253) + "{gateway}", "must be no more than 253 characters"},
	} {
		if _, err := ParseServiceAccountTemplate(tc.template); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.template, err, tc.want)
		}
	}
	tpl, err := ParseServiceAccountTemplate("{gateway}-proxy")
	if err != nil {
		t.Fatal(err)
	}
	if name, err := tpl.Name(strings.Repeat("g", 250)); err == nil {
		t.Errorf("a Gateway name of 250 characters gives %q, want an error (longer than 253)", name)
	}
}

// TestGatewayEnvoyGroupAdmitsTheProxiesServiceAccount: with ProxyServiceAccount, a
// Gateway's Envoy group (its listeners and their private keys) admits only the proxies'
// ServiceAccount of the Gateway's namespace, in any trust domain; its proxyless gRPC group
// still admits the whole namespace. A Gateway for which the template gives no valid name is
// not accepted (Invalid) and none of its listeners is served.
func TestGatewayEnvoyGroupAdmitsTheProxiesServiceAccount(t *testing.T) {
	tpl, err := ParseServiceAccountTemplate("{gateway}-proxy")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("e", 248)
	in := oneGateway("shop", "edge", nil, "v1")
	in.ProxyServiceAccount = tpl
	in.Gateways = append(in.Gateways, &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: long}, Spec: in.Gateways[0].Spec})
	in.HTTPRoutes = append(in.HTTPRoutes, simpleRoute("shop", "r", []gwv1.ParentReference{{Name: "edge"}, {Name: gwv1.ObjectName(long)}}, nil, nil, "v1"))
	res, _ := serve(t, in)
	p := &policy.Policy{Spec: res.Spec}
	envoy := GatewayNodeGroup("shop", "edge")
	for group, admits := range map[string]map[string]bool{
		envoy: {
			"spiffe://cluster.local/ns/shop/sa/edge-proxy":  true,
			"spiffe://prod.example/ns/shop/sa/edge-proxy":   true,
			"spiffe://cluster.local/ns/shop/sa/default":     false,
			"spiffe://cluster.local/ns/shop/sa/edge":        false,
			"spiffe://cluster.local/ns/other/sa/edge-proxy": false,
		},
		envoy + ".grpc": {
			"spiffe://cluster.local/ns/shop/sa/default":     true,
			"spiffe://cluster.local/ns/shop/sa/edge-proxy":  true,
			"spiffe://cluster.local/ns/other/sa/edge-proxy": false,
		},
	} {
		for id, want := range admits {
			if got := p.AdmitsIdentity(group, []string{id}); got != want {
				t.Errorf("group %s admits %s: %v, want %v", group, id, got, want)
			}
		}
	}
	if c := meta.FindStatusCondition(res.Gateways[types.NamespacedName{Namespace: "shop", Name: "edge"}].Conditions, "Accepted"); c == nil || c.Status != "True" {
		t.Errorf("edge: Accepted %+v, want True", c)
	}
	nn := types.NamespacedName{Namespace: "shop", Name: long}
	c := meta.FindStatusCondition(res.Gateways[nn].Conditions, "Accepted")
	if c == nil || c.Status != "False" || c.Reason != string(gwv1.GatewayReasonInvalid) ||
		!strings.Contains(c.Message, "--gateway-service-account {gateway}-proxy") || !strings.Contains(c.Message, "not a valid ServiceAccount name") {
		t.Errorf("Gateway with a name too long for the template: Accepted %+v, want False, Invalid, naming the flag and the error", c)
	}
	if why := res.Unserved[nn]["http"]; why != "Gateway not accepted" {
		t.Errorf("its listener: unserved %q, want Gateway not accepted", why)
	}
	if g := p.Group(GatewayNodeGroup("shop", long)); g != nil && len(g.Listeners) > 0 {
		t.Errorf("its node group is served listeners: %+v", g.Listeners)
	}
}

// FuzzServiceAccountTemplate: a template either is refused or names, for every valid
// Gateway name, a valid ServiceAccount or an error; it reads back as written.
func FuzzServiceAccountTemplate(f *testing.F) {
	for _, s := range []string{"", "{gateway}-proxy", "gw-{gateway}", "gateway-proxy", "{gateway}{gateway}", "{gateway", "a.{gateway}.b"} {
		f.Add(s, "edge")
	}
	f.Fuzz(func(t *testing.T, template, gateway string) {
		tpl, err := ParseServiceAccountTemplate(template)
		if err != nil {
			return
		}
		if got := tpl.String(); got != template {
			t.Fatalf("%q reads back as %q", template, got)
		}
		if len(validation.IsDNS1123Subdomain(gateway)) > 0 {
			return
		}
		name, err := tpl.Name(gateway)
		switch {
		case err != nil:
			if tpl.IsZero() {
				t.Fatalf("the zero template: %v", err)
			}
		case tpl.IsZero() && name != "":
			t.Fatalf("the zero template names %q", name)
		case !tpl.IsZero() && len(validation.IsDNS1123Subdomain(name)) > 0:
			t.Fatalf("%q for %q: %q is not a valid name", template, gateway, name)
		case strings.Contains(template, GatewayPlaceholder) && !strings.Contains(name, gateway):
			t.Fatalf("%q for %q: %q does not hold the Gateway's name", template, gateway, name)
		}
	})
}
