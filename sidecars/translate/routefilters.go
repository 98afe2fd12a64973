package translate

import (
	"slices"
	"strings"

	envoy_config_core_v3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	envoy_config_route_v3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	envoy_type_matcher_v3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// headerChanges sets a route's request and response header changes (Envoy only: grpc-go
// does not apply them).
func headerChanges(out *envoy_config_route_v3.Route, r *policy.Route) {
	out.RequestHeadersToAdd, out.RequestHeadersToRemove = headerOptions(r.RequestHeaders)
	out.ResponseHeadersToAdd, out.ResponseHeadersToRemove = headerOptions(r.ResponseHeaders)
}

// backendHeaders says whether route r, in mode m, changes headers per backend (Envoy only):
// its changes and its backends' are then each weighted cluster's (foldedHeaderOptions).
func backendHeaders(r *policy.Route, m routeMode) bool {
	return m.client && !m.grpc && slices.ContainsFunc(r.Backends, policy.Backend.HasHeaderChanges)
}

// foldedHeaderOptions are a route's header changes then one of its backend's, as the one
// level of a weighted cluster. Envoy applies a weighted cluster's changes before its
// route's, whatever most_specific_header_mutations_wins says, so the route's are folded in
// rather than left on the route; and at one level it removes headers before it sets and
// adds them, so the route's sets and adds of a header the backend removes are left out.
func foldedHeaderOptions(route, backend *policy.HeaderChanges) ([]*envoy_config_core_v3.HeaderValueOption, []string) {
	add, remove := headerOptions(route)
	backendAdd, backendRemove := headerOptions(backend)
	add = slices.DeleteFunc(add, func(o *envoy_config_core_v3.HeaderValueOption) bool {
		return slices.ContainsFunc(backendRemove, func(n string) bool { return strings.EqualFold(n, o.GetHeader().GetKey()) })
	})
	return slices.Concat(add, backendAdd), slices.Concat(remove, backendRemove)
}

// headerOptions translates header changes. Envoy reads the value of a header to add as a
// format string, in which '%' starts a command, and refuses the route configuration when a
// '%' starts none ("50%"); values are literal, so their '%' are doubled.
func headerOptions(h *policy.HeaderChanges) ([]*envoy_config_core_v3.HeaderValueOption, []string) {
	if h == nil {
		return nil, nil
	}
	var add []*envoy_config_core_v3.HeaderValueOption
	for _, hv := range h.Set {
		add = append(add, &envoy_config_core_v3.HeaderValueOption{Header: &envoy_config_core_v3.HeaderValue{Key: hv.Name, Value: policy.LiteralFormat(hv.Value)},
			AppendAction: envoy_config_core_v3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, hv := range h.Add {
		add = append(add, &envoy_config_core_v3.HeaderValueOption{Header: &envoy_config_core_v3.HeaderValue{Key: hv.Name, Value: policy.LiteralFormat(hv.Value)},
			AppendAction: envoy_config_core_v3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return add, h.Remove
}

// fullPathRewrite replaces the whole path (Envoy keeps the query).
func fullPathRewrite(path string) *envoy_type_matcher_v3.RegexMatchAndSubstitute {
	return &envoy_type_matcher_v3.RegexMatchAndSubstitute{
		Pattern:      &envoy_type_matcher_v3.RegexMatcher{Regex: "^/.*$"},
		Substitution: strings.ReplaceAll(path, `\`, `\\`),
	}
}

// mirrors are the request mirror policies of a route (Envoy only: grpc-go does not mirror).
func (b *builder) mirrors(ms []policy.Mirror) []*envoy_config_route_v3.RouteAction_RequestMirrorPolicy {
	var out []*envoy_config_route_v3.RouteAction_RequestMirrorPolicy
	for _, m := range ms {
		mp := &envoy_config_route_v3.RouteAction_RequestMirrorPolicy{Cluster: b.use(m.Service)}
		if m.Percent != nil {
			mp.RuntimeFraction = &envoy_config_core_v3.RuntimeFractionalPercent{DefaultValue: percent(*m.Percent)}
		}
		out = append(out, mp)
	}
	return out
}
