package policy_test

import (
	"slices"
	"testing"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// gatewayDoc is a policy with two virtual hosts serving the same domain and the node
// groups appended.
const gatewayDoc = minimal + `  virtualHosts:
    - name: redirect
      domains: [shop.example.com]
      routes: [{name: to-https, redirect: {scheme: https}}]
    - name: shop
      domains: [Shop.example.com]
      routes: [{name: shop, backends: [{service: web}]}]
  nodeGroups:
`

// TestGatewayListeners checks a gateway group's listeners: the single-listener form
// (port, virtualHosts) becomes one listener, and the same domain may be served on two
// ports.
func TestGatewayListeners(t *testing.T) {
	p, err := policy.Parse([]byte(gatewayDoc+`    - name: edge
      kind: gateway
      selector: {app: edge}
      listeners:
        - {port: 80, virtualHosts: [redirect]}
        - {port: 443, virtualHosts: [shop]}
    - name: old
      kind: gateway
      selector: {app: old}
      port: 9090
      virtualHosts: [shop]
    - name: plain
      kind: gateway
      selector: {app: plain}
      virtualHosts: [redirect]
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edge, old, plain := p.Group("edge"), p.Group("old"), p.Group("plain")
	if len(edge.Listeners) != 2 || edge.Listeners[1].Port != 443 || !slices.Equal(edge.Listeners[1].VirtualHosts, []string{"shop"}) {
		t.Errorf("edge listeners = %+v", edge.Listeners)
	}
	if len(old.Listeners) != 1 || old.Listeners[0].Port != 9090 || !slices.Equal(old.Listeners[0].VirtualHosts, []string{"shop"}) || old.Port != 0 || old.VirtualHosts != nil {
		t.Errorf("single-listener form: %+v", old)
	}
	if len(plain.Listeners) != 1 || plain.Listeners[0].Port != policy.DefaultGatewayPort {
		t.Errorf("default port: %+v", plain.Listeners)
	}
	// SetDefaults is idempotent; a clone's listeners are its own.
	p.SetDefaults()
	if len(old.Listeners) != 1 || old.Listeners[0].Port != 9090 {
		t.Errorf("second SetDefaults: %+v", old.Listeners)
	}
	c := p.Clone()
	c.Group("edge").Listeners[0].VirtualHosts[0] = "changed"
	c.Group("edge").Listeners = append(c.Group("edge").Listeners, policy.GatewayListener{Port: 1})
	c.Group("edge").Listeners[1].TLSCertificates = []policy.TLSCertificate{{Name: "x"}}
	if edge.Listeners[0].VirtualHosts[0] != "redirect" || len(edge.Listeners) != 2 || edge.Listeners[1].TLSCertificates != nil {
		t.Error("clone shares listeners with the original")
	}
}

func TestGatewayListenersErrors(t *testing.T) {
	cases := []struct {
		name  string
		group string
		want  []string
	}{
		{"port, duplicate port, unknown virtual host", `    - name: edge
      kind: gateway
      selector: {app: edge}
      listeners:
        - {port: 70000, virtualHosts: [redirect]}
        - {port: 443, virtualHosts: [shop]}
        - {port: 443, virtualHosts: [nope]}
        - {virtualHosts: [shop]}
`, []string{
			"p.yaml:23: spec.nodeGroups[0].listeners[0].port: must be 1..65535",
			"p.yaml:25: spec.nodeGroups[0].listeners[2].port: port 443 is already the port of spec.nodeGroups[0].listeners[1]",
			`p.yaml:25: spec.nodeGroups[0].listeners[2].virtualHosts[0]: unknown virtual host "nope"`,
			"p.yaml:26: spec.nodeGroups[0].listeners[3].port: required (1..65535)",
		}},
		// Domains are distinct per listener (ignoring case, as Envoy compares them).
		{"one domain twice on one listener", `    - name: edge
      kind: gateway
      selector: {app: edge}
      listeners:
        - {port: 80, virtualHosts: [redirect]}
        - {port: 443}
`, []string{
			`p.yaml:16: spec.virtualHosts[1].domains[0]: domain "Shop.example.com" already served by virtual host "redirect" on port 443 of node group "edge"`,
		}},
		{"single-listener form errors name its fields", `    - name: edge
      kind: gateway
      selector: {app: edge}
      port: 70000
      virtualHosts: [nope]
`, []string{
			"p.yaml:22: spec.nodeGroups[0].port: must be 1..65535",
			`p.yaml:23: spec.nodeGroups[0].virtualHosts[0]: unknown virtual host "nope"`,
		}},
		{"both forms", `    - name: edge
      kind: gateway
      selector: {app: edge}
      port: 80
      virtualHosts: [shop]
      listeners: [{port: 443, virtualHosts: [shop]}]
`, []string{
			"p.yaml:22: spec.nodeGroups[0].port: not with listeners",
			"p.yaml:23: spec.nodeGroups[0].virtualHosts: not with listeners",
		}},
		{"listeners of another kind", `    - name: g
      kind: grpc
      selector: {app: g}
      listeners: [{port: 443}]
`, []string{
			"p.yaml:22: spec.nodeGroups[0].listeners: only for kind gateway",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expectErrors(t, gatewayDoc+c.group, c.want) })
	}
}
