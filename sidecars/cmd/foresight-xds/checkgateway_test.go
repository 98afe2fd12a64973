package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gatewayManifests are a GatewayClass of ours, a Gateway with an HTTP listener, a Service and
// an HTTPRoute to it: what a cluster would serve without a problem.
const gatewayManifests = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: foresight}
spec: {controllerName: foresight.dev/xds}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: shop}
spec:
  gatewayClassName: foresight
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
apiVersion: v1
kind: Service
metadata: {name: store, namespace: shop}
spec: {ports: [{port: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: store, namespace: shop}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: store, namespace: shop}
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: store, port: 8080}]
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCheckGatewayAPIManifests checks Kubernetes manifests offline as serve
// --gateway-controller-name would translate them: good ones pass with an OK line per file,
// and each object a cluster would not accept (or serve) is named with its file, its
// condition and why.
func TestCheckGatewayAPIManifests(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", gatewayManifests)
	code, out, errOut := runCmd("check", good)
	if code != 0 {
		t.Fatalf("good manifests: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		good + ": OK (4 Kubernetes objects)",
		good + ": note: not read by foresight-xds: Deployment",
		good + ": note: 1 Gateways of foresight-xds's served to 2 node groups",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The same, split over files, with a policy file: serve merges the Gateways' part into it.
	parts := strings.SplitN(gatewayManifests, "---\n", 3)
	gw := writeFile(t, dir, "gateway.yaml", parts[0]+"---\n"+parts[1])
	rest := writeFile(t, dir, "rest.yaml", parts[2])
	policyFile := "../../../deploy/xds/base/policy.yaml"
	if code, out, errOut := runCmd("check", policyFile, gw, rest); code != 0 || !strings.Contains(out, gw+": OK (2 Kubernetes objects)") || !strings.Contains(out, rest+": OK (2 Kubernetes objects)") {
		t.Errorf("manifests in two files with a policy: exit %d\n%s%s", code, out, errOut)
	}

	bad := writeFile(t, dir, "bad.yaml", `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  gatewayClassName: foresight
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
  - {name: udp, port: 9000, protocol: UDP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cart, namespace: shop}
spec:
  parentRefs: [{name: edge}]
  rules:
  - matches: [{path: {type: RegularExpression, value: "/(a"}}]
    backendRefs: [{name: store, port: 8080}]
  - backendRefs: [{name: missing, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: store, namespace: shop}
spec:
  parentRefs: [{name: edge}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: lost}
spec:
  parentRefs: [{name: elsewhere}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: extra, namespace: shop}
spec:
  parentRef: {name: edge}
  listeners:
  - {name: admin, port: 9090, protocol: HTTP}
`)
	code, out, errOut = runCmd("check", good, bad)
	if code != 1 {
		t.Fatalf("bad manifests: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		bad + ": Gateway shop/edge: listener udp: Accepted=False (UnsupportedProtocol): protocol UDP is not supported",
		bad + ": HTTPRoute shop/cart: parent Gateway shop/edge: PartiallyInvalid=True (UnsupportedValue): Dropped Rule(s): rules[0]: matches[0].match.regex: invalid RE2 regular expression",
		bad + ": HTTPRoute shop/cart: parent Gateway shop/edge: ResolvedRefs=False (BackendNotFound): rules[1].backendRefs[0]: Service shop/missing not found",
		bad + ": HTTPRoute shop/store: also defined in " + good,
		bad + ": ListenerSet shop/extra: Accepted=False (NotAllowed): Gateway shop/edge admits no ListenerSet",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("errors lack %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, good+":") || !strings.Contains(out, good+": OK") {
		t.Errorf("the good file has no problem:\n%s%s", out, errOut)
	}
	for _, want := range []string{
		bad + ": note: HTTPRoute default/lost: no parentRef names a Gateway of foresight-xds's in the files: not checked",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A backendRef to a Service the files do not hold is not resolved.
	unresolved := writeFile(t, dir, "unresolved.yaml", strings.Replace(gatewayManifests, "backendRefs: [{name: store,", "backendRefs: [{name: gone,", 1))
	if code, _, errOut := runCmd("check", unresolved); code != 1 || !strings.Contains(errOut, "HTTPRoute shop/store: parent Gateway shop/web: ResolvedRefs=False (BackendNotFound)") {
		t.Errorf("unresolved backendRef: exit %d\n%s", code, errOut)
	}

	// A class without its GatewayClass in the files is taken as ours, and says so; with
	// another controller name, the Gateway is not checked.
	noClass := writeFile(t, dir, "noclass.yaml", strings.SplitN(gatewayManifests, "---\n", 2)[1])
	if code, out, errOut := runCmd("check", noClass); code != 0 || !strings.Contains(out, "note: GatewayClass foresight is not in the files: taken as foresight-xds's (controllerName foresight.dev/xds)") {
		t.Errorf("a Gateway of a class not in the files: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCmd("check", "--gateway-controller-name", "example.com/other", good); code != 0 || !strings.Contains(out, `Gateway shop/web: GatewayClass "foresight" is not foresight-xds's (controllerName example.com/other): not checked`) {
		t.Errorf("a Gateway of another controller: exit %d\n%s%s", code, out, errOut)
	}

	// What the Gateways serve is checked with the policy file, as serve merges them: a
	// policy service of the name the translation gives the Gateway's is refused as a whole.
	clash := writeFile(t, dir, "clash.yaml", `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: mesh}
spec:
  services:
  - {name: shop-store-8080, port: 8080, endpoints: [{address: 10.0.0.1}]}
`)
	if code, _, errOut := runCmd("check", clash, good); code != 1 || !strings.Contains(errOut, good+": the Gateway API configuration is refused as a whole, with the policy") || !strings.Contains(errOut, "shop-store-8080") {
		t.Errorf("a policy clashing with the Gateways' part: exit %d\n%s", code, errOut)
	}

	// Routes of a Service (mesh routes) are served without a Gateway: their merge is checked
	// too, and a clash refused the same way.
	mesh := writeFile(t, dir, "mesh.yaml", `apiVersion: v1
kind: Service
metadata: {name: store, namespace: shop}
spec: {ports: [{port: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: store, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: store, port: 8080}]
  rules:
  - backendRefs: [{name: store, port: 8080}]
`)
	if code, out, errOut := runCmd("check", mesh); code != 0 || !strings.Contains(out, "routes of Services (mesh routes) served to") {
		t.Errorf("mesh routes alone: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd("check", clash, mesh); code != 1 || !strings.Contains(errOut, "refused as a whole") || !strings.Contains(errOut, "shop-store-8080") {
		t.Errorf("a policy clashing with mesh routes: exit %d\n%s", code, errOut)
	}
	// A policy file that routes the Service port itself keeps the mesh route from being
	// served: its status says so, as serve would write it.
	own := writeFile(t, dir, "own.yaml", `apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: mesh, namespace: shop}
spec:
  services:
  - {name: store, port: 8080, discovery: kubernetes, routes: [{name: own}]}
`)
	if code, _, errOut := runCmd("check", own, mesh); code != 1 || !strings.Contains(errOut, mesh+`: HTTPRoute shop/store: parent`) || !strings.Contains(errOut, `the policy file's service "store" routes this Service port itself`) {
		t.Errorf("a policy routing the mesh route's Service port itself: exit %d\n%s", code, errOut)
	}

	// A misspelt field names the file, the document and the kind; nothing of it is read.
	typo := writeFile(t, dir, "typo.yaml", gatewayManifests+"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: x, namespace: shop}\nspec:\n  parentRef: []\n")
	if code, _, errOut := runCmd("check", typo); code != 1 || !strings.Contains(errOut, typo+`: document 6: HTTPRoute: `) || !strings.Contains(errOut, `unknown field "parentRef"`) {
		t.Errorf("a misspelt field: exit %d\n%s", code, errOut)
	}
}
