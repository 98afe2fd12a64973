package gatewayapi

import (
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// granted says whether a ReferenceGrant in namespace to permits routes of from's kind in
// from's namespace to refer to the core object of kind toKind named name: one of its from
// entries names the route's group, kind and namespace, and one of its to entries names the
// object's group and kind, and either no name or this one.
func (t *translator) granted(from routeFrom, to, toKind, name string) bool {
	for _, g := range t.in.ReferenceGrants {
		if g.Namespace != to {
			continue
		}
		fromOK, toOK := false, false
		for _, f := range g.Spec.From {
			if f.Group == gwv1.GroupName && string(f.Kind) == from.kind && string(f.Namespace) == from.namespace {
				fromOK = true
			}
		}
		for _, r := range g.Spec.To {
			if r.Group == "" && string(r.Kind) == toKind && (r.Name == nil || *r.Name == "" || string(*r.Name) == name) {
				toOK = true
			}
		}
		if fromOK && toOK {
			return true
		}
	}
	return false
}
