package xds

import (
	"sync/atomic"
)

// nameSet is a set of resource names.
type nameSet map[string]struct{}

// endpointScope says which endpoint assignments (EDS resources, by name) each node group may
// read. Endpoints are served from one cache shared by all groups, which would hand any name to
// any node that asks for it: a node that knows a cluster name of another group would read its
// endpoint addresses. The scope is consulted on every request for endpoints, and the names a
// node's group does not hold are left out of its subscription, as if they did not exist.
type endpointScope struct {
	groups atomic.Pointer[map[string]nameSet]
}

// set makes groups the scope (it is not copied: the caller hands it over).
func (s *endpointScope) set(groups map[string]nameSet) { s.groups.Store(&groups) }

// widen makes the scope each group's names in both old and next, for the time an update is
// being served: clusters new to a group are served before its proxies ask for their
// endpoints, and clusters it loses are withdrawn after its proxies stop asking, so a name a
// proxy rightly asks for is never left out mid-change.
func (s *endpointScope) widen(old, next map[string]*groupState) {
	both := make(map[string]nameSet, len(next))
	for g, st := range next {
		names := make(nameSet, len(st.endpoints))
		for n := range st.endpoints {
			names[n] = struct{}{}
		}
		if o, ok := old[g]; ok {
			for n := range o.endpoints {
				names[n] = struct{}{}
			}
		}
		both[g] = names
	}
	s.set(both)
}

// narrow makes the scope each group's names in groups, once an update is served.
func (s *endpointScope) narrow(groups map[string]*groupState) {
	m := make(map[string]nameSet, len(groups))
	for g, st := range groups {
		m[g] = st.endpoints
	}
	s.set(m)
}

// inScope returns the names of endpoints nodes of group may read, and how many of names they
// may not (left out); a node in no group reads none. names is returned as it is when every
// name is in scope.
func (s *endpointScope) inScope(group string, names []string) (kept []string, withheld int) {
	var allowed nameSet
	if m := s.groups.Load(); m != nil {
		allowed = (*m)[group]
	}
	for i, n := range names {
		if _, ok := allowed[n]; ok {
			if kept != nil {
				kept = append(kept, n)
			}
			continue
		}
		if kept == nil {
			kept = append(make([]string, 0, len(names)-1), names[:i]...)
		}
		withheld++
	}
	if kept == nil {
		return names, 0
	}
	return kept, withheld
}
