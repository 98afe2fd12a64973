package translate

import (
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
