package gatewayapi

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestReadManifests reads documents and kubectl lists as the API server would hand them to
// the translation, and refuses what it would not store, naming the file, the document and
// the kind.
func TestReadManifests(t *testing.T) {
	objs, skipped, err := ReadManifests("m.yaml", []byte(`# a comment-only document
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: store}
spec: {parentRefs: [{name: web}]}
---
apiVersion: v1
kind: List
items:
- apiVersion: gateway.networking.k8s.io/v1
  kind: Gateway
  metadata: {name: web, namespace: shop}
  spec: {gatewayClassName: foresight, listeners: [{name: http, port: 80, protocol: HTTP}]}
  status: {conditions: []}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
- apiVersion: v1
  kind: Secret
  metadata: {name: cert, namespace: shop}
  type: kubernetes.io/tls
  stringData: {tls.crt: CRT}
  data: {tls.key: S0VZ}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: shop}
spec: {from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}], to: [{group: "", kind: Service}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio}
spec: {selector: {istio: ingressgateway}, servers: []}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: knative}
spec: {template: {spec: {containers: []}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.HTTPRoutes) != 1 || objs.HTTPRoutes[0].Namespace != "default" {
		t.Errorf("a route without a namespace is in default: %+v", objs.HTTPRoutes)
	}
	if len(objs.Gateways) != 1 || objs.Gateways[0].Namespace != "shop" || objs.Gateways[0].Spec.Listeners[0].Port != 80 {
		t.Errorf("the List's Gateway: %+v", objs.Gateways)
	}
	if len(objs.Secrets) != 1 || string(objs.Secrets[0].Data["tls.crt"]) != "CRT" || string(objs.Secrets[0].Data["tls.key"]) != "KEY" || objs.Secrets[0].StringData != nil {
		t.Errorf("a Secret's stringData is merged into its data: %+v", objs.Secrets)
	}
	if len(objs.Namespaces) != 1 || objs.Namespaces[0].Namespace != "" || len(objs.ReferenceGrants) != 1 {
		t.Errorf("namespaces %+v, grants %+v", objs.Namespaces, objs.ReferenceGrants)
	}
	if !slices.Equal(skipped, []string{"Deployment", "Gateway (networking.istio.io/v1)", "Service (serving.knative.dev/v1)"}) {
		t.Errorf("skipped %v, want Deployment once and the other groups' Gateway and Service", skipped)
	}
	if len(objs.Gateways) != 1 || len(objs.Services) != 0 {
		t.Errorf("other groups' objects read: %d Gateways, %d Services", len(objs.Gateways), len(objs.Services))
	}

	in := &Input{}
	in.Add(objs)
	in.CompleteNamespaces()
	labels := map[string]map[string]string{}
	for _, n := range in.Namespaces {
		labels[n.Name] = n.Labels
	}
	if labels["shop"]["team"] != "a" || labels["shop"][corev1.LabelMetadataName] != "shop" || labels["default"][corev1.LabelMetadataName] != "default" {
		t.Errorf("namespaces with the API server's label, the routes' added: %v", labels)
	}

	for _, c := range []struct{ name, doc, want string }{
		{"a misspelt field", "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: a}\nspec: {gatewayClass: x}\n", `m.yaml: document 1: Gateway: error unmarshaling JSON: while decoding JSON: json: unknown field "gatewayClass"`},
		{"no name", "kind: Service\nmetadata: {namespace: a}\n", "m.yaml: document 1: Service: metadata.name is required"},
		{"a wrong type in a List's item", "kind: List\nitems:\n- kind: HTTPRoute\n  metadata: {name: a}\n  spec: {hostnames: 3}\n", "m.yaml: document 1: items[0]: HTTPRoute: "},
		{"not YAML", "kind: [\n", "m.yaml: document 1: "},
		{"items not a list", "---\nkind: List\nitems: {a: 1}\n", "m.yaml: document 1: List: "},
	} {
		objs, _, err := ReadManifests("m.yaml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) || objs != nil {
			t.Errorf("%s: got %v, %v; want an error with %q", c.name, objs, err, c.want)
		}
	}
}

// FuzzReadManifests reads any file without panicking; what it reads has a namespace for
// every namespaced object and translates without panicking.
func FuzzReadManifests(f *testing.F) {
	f.Add("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web}\nspec: {gatewayClassName: foresight, listeners: [{name: http, port: 80, protocol: HTTP}]}\n---\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {parentRefs: [{name: web}], rules: [{backendRefs: [{name: s, port: 80}]}]}\n")
	f.Add("kind: List\nitems:\n- {kind: Service, metadata: {name: s}, spec: {ports: [{port: 80}]}}\n- {kind: Secret, metadata: {name: c}, stringData: {a: b}}\n")
	f.Add("kind: GatewayClass\nmetadata: {name: foresight}\nspec: {controllerName: foresight.dev/xds}\n---\n---\nkind: Namespace\nmetadata: {name: shop}\n")
	f.Fuzz(func(t *testing.T, doc string) {
		objs, _, err := ReadManifests("f.yaml", []byte(doc))
		if err != nil {
			return
		}
		for _, r := range objs.HTTPRoutes {
			if r.Namespace == "" || r.Name == "" {
				t.Fatalf("HTTPRoute without a namespace or name: %+v", r.ObjectMeta)
			}
		}
		for _, s := range objs.Services {
			if s.Namespace == "" {
				t.Fatalf("Service without a namespace: %+v", s.ObjectMeta)
			}
		}
		in := &Input{ControllerName: controller}
		in.Add(objs)
		in.CompleteNamespaces()
		Translate(in)
	})
}
