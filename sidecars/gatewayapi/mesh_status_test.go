package gatewayapi

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/foresight-dev/foresight/internal/testharness/conditions"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// meshServices are the names of the services of spec that carry mesh routes.
func meshServices(spec policy.Spec) []string {
	var out []string
	for _, s := range spec.Services {
		if s.RoutesForClients {
			out = append(out, s.Name)
		}
	}
	return out
}

// TestMeshRouteStatusSaysWhatTheFileKeepsFromServing: with the policy file in Input.File, a
// mesh route the merge would not serve is not accepted on its Service, says why, and is not
// in the translation; without the file, or with a file that lets it through, it is accepted.
func TestMeshRouteStatusSaysWhatTheFileKeepsFromServing(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		reason     gwv1.RouteConditionReason
		msg        string
	}{
		{"the file's service routes the port itself",
			strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, routes: [{name: file-route}]}", 1),
			routeReasonConflicted, `port 8080: the policy file's service "api" routes this Service port itself`},
		{"the file's service has TLS and another protocol",
			strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, protocol: http2, tls: {sni: api.shop}}", 1),
			gwv1.RouteReasonUnsupportedValue, `port 8080: the routes of this Service port would reach the endpoints of the policy file's service "api" without its TLS (they cannot send to it instead: it speaks http2, not http1)`},
		{"the file's service has TLS and a proxyless group gets the routes",
			strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, tls: {sni: api.shop}}", 1) +
				"  - {name: clients, kind: grpc, selector: {app: client}}\n",
			gwv1.RouteReasonUnsupportedValue, `would send to the policy file's service "api", which has TLS, and a proxyless gRPC group gets them`},
		{"a file virtual host of a proxyless group answers every name",
			meshFile + "  - {name: clients, kind: grpc, selector: {app: client}, upstreams: [web], virtualHosts: [api-names]}\n" +
				"  virtualHosts:\n  - {name: api-names, domains: [api.shop, api.shop.svc, api.shop.svc.cluster.local, \"api.shop:8080\", \"api.shop.svc:8080\", \"api.shop.svc.cluster.local:8080\"], routes: [{name: r, backends: [{service: web}]}]}\n",
			"", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := meshPolicy(t, tc.file)
			in := meshInput()
			in.File = file
			res := Translate(in)
			c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted")
			if tc.reason == "" {
				if c.Status != metav1.ConditionTrue {
					t.Fatalf("Accepted = %+v, want True", c)
				}
				if _, _, refused := mergedMesh(file, res.Spec); len(refused) > 0 {
					t.Errorf("accepted, and the merge refuses %v", refused)
				}
				return
			}
			if c.Status != metav1.ConditionFalse || c.Reason != string(tc.reason) || !strings.Contains(c.Message, tc.msg) {
				t.Errorf("Accepted = %+v, want %s with %q", c, tc.reason, tc.msg)
			}
			if ms := meshServices(res.Spec); len(ms) > 0 {
				t.Errorf("the refused routes are translated, on %v", ms)
			}
			// The merge serves the file's own routing of api as before.
			servedWith(t, file, res.Spec)

			// Without the file, the translation cannot know: the route is accepted.
			if c := conditions.Require(t, routeStatus(t, Translate(meshInput()).HTTPRoutes, "shop", "api-split"), "Accepted"); c.Status != metav1.ConditionTrue {
				t.Errorf("without the file: Accepted = %+v", c)
			}
		})
	}
}

// TestMeshRouteStatusOnThePortsTheFileLeaves: a route on every port of a Service, one of
// which the policy file routes itself, is accepted on the others, says which port it is not
// served on, and is translated for the others only.
func TestMeshRouteStatusOnThePortsTheFileLeaves(t *testing.T) {
	in := meshInput()
	in.Services[1].Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 8080}, {Name: "admin", Port: 9090}}
	in.HTTPRoutes[0].Spec.ParentRefs[0].Port = nil
	in.File = meshPolicy(t, strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, routes: [{name: file-route}]}", 1))
	res := Translate(in)
	c := conditions.Require(t, routeStatus(t, res.HTTPRoutes, "shop", "api-split"), "Accepted")
	if c.Status != metav1.ConditionTrue || !strings.HasPrefix(c.Message, "accepted, but not on port 8080: the policy file's service \"api\"") {
		t.Errorf("Accepted = %+v", c)
	}
	if ms := meshServices(res.Spec); !slices.Equal(ms, []string{"shop-api-9090"}) {
		t.Errorf("mesh services = %v, want shop-api-9090 only", ms)
	}
	servedWith(t, in.File, res.Spec)
}

// TestCanaryPolicyOfARefusedMeshRoute: a CanaryPolicy over a mesh route the file keeps from
// being served drives no canary, and its status says its target is accepted nowhere.
func TestCanaryPolicyOfARefusedMeshRoute(t *testing.T) {
	in := meshInput()
	withAPIRollout(in)
	in.File = meshPolicy(t, strings.Replace(meshFile, "{name: api, port: 8080, discovery: kubernetes}", "{name: api, port: 8080, discovery: kubernetes, routes: [{name: file-route}]}", 1))
	res := Translate(in)
	if len(res.Spec.Canaries) != 0 {
		t.Errorf("canaries = %+v, want none", res.Spec.Canaries)
	}
	sts := res.CanaryPolicies[types.NamespacedName{Namespace: "shop", Name: "api-rollout"}]
	if len(sts) != 1 {
		t.Fatalf("CanaryPolicy ancestors = %+v", sts)
	}
	if c := conditions.Require(t, sts[0].Conditions, "Accepted"); c.Status != metav1.ConditionFalse || c.Reason != string(gwv1.PolicyReasonTargetNotFound) || *sts[0].AncestorRef.Kind == KindService {
		t.Errorf("CanaryPolicy Accepted = %+v on %+v", c, sts[0].AncestorRef)
	}
}
