package gatewayapi

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// FuzzTranslate feeds routes with arbitrary paths, headers, hostnames and weights, and a
// listener for the fuzzed hostname: the translation never panics, and what it accepts always
// merges into a valid policy whose resources every node group may be served (a route it
// cannot serve is refused on its own status, never by making the whole configuration
// invalid).
func FuzzTranslate(f *testing.F) {
	f.Add(uint8(0), "/api", "x-user", "alice", "web.shop", int32(1), "svc", "Get")
	f.Add(uint8(2), "/(a|b", "x", "[", "*.shop", int32(0), "", "")
	f.Add(uint8(1), "/exact", ":method", "GET", "", int32(7), "pkg.Svc", "")
	f.Add(uint8(48), "/api", "x-user", "alice", "web.shop", int32(1), "svc", "Get")
	f.Add(uint8(64), "/v2", "x-canary", "on", "", int32(3), "pkg.Svc", "Get")
	f.Add(uint8(192), "/v2", "x-canary", "on", "", int32(3), "pkg.Svc", "Get")
	f.Fuzz(func(t *testing.T, kind uint8, path, header, value, host string, weight int32, grpcSvc, grpcMethod string) {
		in := input()
		types := []gwv1.PathMatchType{gwv1.PathMatchPathPrefix, gwv1.PathMatchExact, gwv1.PathMatchRegularExpression}
		pt := types[int(kind)%len(types)]
		hm := gwv1.HeaderMatchExact
		if kind&4 != 0 {
			hm = gwv1.HeaderMatchRegularExpression
		}
		r := in.HTTPRoutes[0].DeepCopy()
		r.Name = "fuzzed"
		if host != "" {
			r.Spec.Hostnames = []gwv1.Hostname{gwv1.Hostname(host)}
		}
		r.Spec.Rules[0].Matches = []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &pt, Value: &path},
			Headers: []gwv1.HTTPHeaderMatch{{Type: &hm, Name: gwv1.HTTPHeaderName(header), Value: value}}}}
		r.Spec.Rules[0].BackendRefs[0].Weight = &weight
		in.HTTPRoutes = append(in.HTTPRoutes, r)
		g := in.GRPCRoutes[0].DeepCopy()
		g.Name = "fuzzed"
		mt := gwv1.GRPCMethodMatchExact
		if kind&8 != 0 {
			mt = gwv1.GRPCMethodMatchRegularExpression
		}
		g.Spec.Rules[0].Matches = []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &mt, Service: &grpcSvc, Method: &grpcMethod}}}
		in.GRPCRoutes = append(in.GRPCRoutes, g)
		if host != "" && kind&16 != 0 {
			// A listener for the fuzzed hostname beside the catch-all one on its port: the
			// most specific listener owns the hostname.
			h := gwv1.Hostname(host)
			in.Gateways[0].Spec.Listeners = append(in.Gateways[0].Spec.Listeners, gwv1.Listener{Name: "fuzzed", Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: &h})
		}
		if kind&32 != 0 {
			// A ListenerSet adding the fuzzed hostname on the Gateway's port (where it may
			// conflict) and on a port of its own, with the fuzzed route attached to it too.
			var h *gwv1.Hostname
			if host != "" {
				h = ptr(gwv1.Hostname(host))
			}
			in.Gateways[0].Spec.AllowedListeners = &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: ptr(gwv1.NamespacesFromSame)}}
			in.Served.ListenerSets = true
			in.ListenerSets = []*gwv1.ListenerSet{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "fuzzed"}, Spec: gwv1.ListenerSetSpec{
				ParentRef: gwv1.ParentGatewayReference{Name: "edge"},
				Listeners: []gwv1.ListenerEntry{{Name: "same-port", Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: h}, {Name: "own-port", Port: 9090, Protocol: gwv1.HTTPProtocolType, Hostname: h}}}}}
			r.Spec.ParentRefs = append(r.Spec.ParentRefs, gwv1.ParentReference{Kind: ptr(gwv1.Kind(KindListenerSet)), Name: "fuzzed"})
		}
		if kind&64 != 0 {
			// Mesh routes too: the fuzzed routes attached to Services, one the policy file of a
			// mesh holds (web) and one it does not (greeter-v1); with kind&128, the file's web
			// routes its requests itself.
			r.Spec.ParentRefs = append(r.Spec.ParentRefs, serviceParent("web", 80))
			g.Spec.ParentRefs = append(g.Spec.ParentRefs, serviceParent("greeter-v1", 50051))
			file := meshFile
			if kind&128 != 0 {
				file = strings.Replace(file, "{name: web, port: 80, discovery: kubernetes}", "{name: web, port: 80, discovery: kubernetes, routes: [{name: own}]}", 1)
			}
			in.File = meshPolicy(t, file)
		}
		in.Now = metav1.Now().Time
		res := Translate(in)
		// What it accepts is valid and passes the checks of what Envoy accepts (a regex over
		// Envoy's program size limit drops its rule instead).
		if kind&64 != 0 {
			// And every mesh route it accepts is served by the merge with the file.
			if _, _, m := mergedMesh(in.File, res.Spec); len(m.refused) > 0 {
				t.Errorf("the merge refuses accepted mesh routes: %v", m.refused)
			}
			servedWith(t, in.File, res.Spec)
			return
		}
		served(t, res.Spec)
	})
}

// FuzzTranslateFilters feeds rules with arbitrary header changes (of the rule and of a
// backendRef), rewrites, redirects, mirrors, timeouts and cross-namespace references (with and without a ReferenceGrant): the
// translation never panics, what it accepts always merges into a valid policy, and that
// policy translates into resources every node group may be served.
func FuzzTranslateFilters(f *testing.F) {
	f.Add(uint8(0), "x-env", "prod", "/foo", "/xyz", "10s", "2s", int32(50), "stock")
	f.Add(uint8(1), "Host", "a\r\nb", "/", "/", "0s", "1h", int32(0), "shop")
	f.Add(uint8(2), ":path", "", "/foo/", "", "1s", "2s", int32(100), "")
	f.Add(uint8(7), "x-a", "v", "/a\\b", "/\\1", "-1s", "bogus", int32(-3), "stock")
	f.Add(uint8(56), "x-version", "50%", "/api", "/", "10s", "2s", int32(10), "stock")
	f.Fuzz(func(t *testing.T, kind uint8, header, value, prefix, repl, request, backend string, percent int32, ns string) {
		in := input()
		in.Services = append(in.Services, svc("stock", "items", 80))
		if kind&8 != 0 {
			in.ReferenceGrants = []*gwv1.ReferenceGrant{{ObjectMeta: metav1.ObjectMeta{Namespace: "stock", Name: "g"}, Spec: gwv1.ReferenceGrantSpec{
				From: []gwv1.ReferenceGrantFrom{{Group: gwv1.GroupName, Kind: KindHTTPRoute, Namespace: "shop"}},
				To:   []gwv1.ReferenceGrantTo{{Kind: KindService}}}}}
		}
		r := in.HTTPRoutes[0].DeepCopy()
		r.Name = "fuzzed"
		rule := &r.Spec.Rules[0]
		pt := gwv1.PathMatchPathPrefix
		rule.Matches = []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: &pt, Value: &prefix}}}
		hf := &gwv1.HTTPHeaderFilter{Set: []gwv1.HTTPHeader{{Name: gwv1.HTTPHeaderName(header), Value: value}}, Remove: []string{header}}
		port := gwv1.PortNumber(80)
		target := gwv1.BackendObjectReference{Name: "items", Port: &port}
		if ns != "" {
			n := gwv1.Namespace(ns)
			target.Namespace = &n
		}
		mod := &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: &repl}
		if kind&4 != 0 {
			mod = &gwv1.HTTPPathModifier{Type: gwv1.FullPathHTTPPathModifier, ReplaceFullPath: &repl}
		}
		rule.Filters = []gwv1.HTTPRouteFilter{
			{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: hf},
			{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: hf},
			{Type: gwv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwv1.HTTPRequestMirrorFilter{BackendRef: target, Percent: &percent}},
		}
		switch kind % 3 {
		case 1:
			rule.Filters = append(rule.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwv1.HTTPURLRewriteFilter{Path: mod}})
		case 2:
			rule.Filters = append(rule.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Path: mod}})
		}
		rule.Timeouts = &gwv1.HTTPRouteTimeouts{Request: ptrDuration(request), BackendRequest: ptrDuration(backend)}
		rule.BackendRefs = append(rule.BackendRefs, gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: target, Weight: &percent}})
		if kind&16 != 0 {
			// The same header changes on the cross-namespace backendRef alone.
			last := &rule.BackendRefs[len(rule.BackendRefs)-1]
			last.Filters = []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: hf}}
			if kind&32 != 0 {
				last.Filters = append(last.Filters, gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: hf})
			}
		}
		in.HTTPRoutes = append(in.HTTPRoutes, r)
		served(t, Translate(in).Spec)
	})
}
