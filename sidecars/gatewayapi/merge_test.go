package gatewayapi

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// TestMergeKeepsTheFilesGatewayGroupsToTheirVirtualHosts merges a Gateway's routes for every
// hostname into a policy file whose gateway group lists no virtual hosts (all of the file's):
// the file's group keeps serving the file's virtual host alone, so the two "*" domains do not
// clash, and the Gateway's routes reach only the Gateway's own proxies.
func TestMergeKeepsTheFilesGatewayGroupsToTheirVirtualHosts(t *testing.T) {
	file, err := policy.Parse([]byte(`apiVersion: foresight.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: edge}
spec:
  services:
  - {name: web, port: 8080, endpoints: [{address: 10.0.0.1}]}
  virtualHosts:
  - name: public
    domains: ["*"]
    routes: [{name: all, backends: [{service: web}]}]
  nodeGroups:
  - {name: edge, kind: gateway, services: [web], port: 8080}
`), "edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := input()
	in.HTTPRoutes = append(in.HTTPRoutes, &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "any-host"}, Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "edge"}}},
		Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: ref("web", 80, 1)}}}}}})
	res := Translate(in)
	if !slices.ContainsFunc(res.Spec.VirtualHosts, func(vh policy.VirtualHost) bool { return slices.Contains(vh.Domains, "*") }) {
		t.Fatalf("the Gateway serves no route for every hostname: %+v", res.Spec.VirtualHosts)
	}
	merged := Merge(file, res.Spec)
	if err := merged.Validate(); err != nil {
		t.Fatalf("merged policy refused: %v", err)
	}
	if got := file.Spec.NodeGroups[0].Listeners[0].VirtualHosts; len(got) != 0 {
		t.Errorf("Merge changed the file's policy: its listener lists %v", got)
	}
	groups, err := translate.Translate(merged)
	if err != nil {
		t.Fatal(err)
	}
	edge := groups["edge"]
	if edge == nil || len(edge.Routes) != 1 {
		t.Fatalf("the file's gateway group: %+v", edge)
	}
	var names []string
	for _, vh := range edge.Routes[0].VirtualHosts {
		names = append(names, vh.Name)
	}
	if !slices.Equal(names, []string{"public"}) {
		t.Errorf("the file's gateway group serves virtual hosts %v, want only the file's [public]", names)
	}
}
