package gatewayapi

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// FuzzTranslate feeds routes with arbitrary paths, headers, hostnames and weights: the
// translation never panics, and what it accepts always merges into a valid policy (a route
// it cannot serve is refused on its own status, never by making the whole configuration
// invalid).
func FuzzTranslate(f *testing.F) {
	f.Add(uint8(0), "/api", "x-user", "alice", "web.shop", int32(1), "svc", "Get")
	f.Add(uint8(2), "/(a|b", "x", "[", "*.shop", int32(0), "", "")
	f.Add(uint8(1), "/exact", ":method", "GET", "", int32(7), "pkg.Svc", "")
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
		in.Now = metav1.Now().Time
		res := Translate(in)
		if err := Merge(base(t), res.Spec).Validate(); err != nil {
			t.Fatalf("accepted objects make an invalid policy: %v", err)
		}
	})
}
