package xds

import (
	"slices"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
)

// nameSet is a set of resource names.
type nameSet map[string]struct{}

// with is the union of s and o (s itself when o adds nothing).
func (s nameSet) with(o nameSet) nameSet {
	if !gains(s, o) {
		return s
	}
	out := make(nameSet, len(s)+len(o))
	for n := range s {
		out[n] = struct{}{}
	}
	for n := range o {
		out[n] = struct{}{}
	}
	return out
}

// endpointScope says which endpoint assignments (EDS resources, by name) each node group may
// read. Endpoints are served from one cache shared by all groups, which would hand any name to
// any node that asks for it: a node that knows a cluster name of another group would read its
// endpoint addresses. The scope is consulted on every request for endpoints, where the names a
// node's group does not hold are left out of its subscription, as if they did not exist, and
// on every response, where the assignments of a subscription its group lost since are left
// out. While an update that adds clusters is served, each group may read the names of its old
// and new clusters (a proxy asks for a new cluster's endpoints once it has the cluster, and
// the update waits for it: Server.warmNewClusters); once it is served, those of its new ones.
type endpointScope struct {
	groups atomic.Pointer[scopes]
}

// scopes are the names each group may read, now and before the latest update.
type scopes struct {
	now, before map[string]nameSet
}

// set makes the scope each group's names in groups, once an update is served.
func (s *endpointScope) set(groups map[string]*groupState) {
	m := make(map[string]nameSet, len(groups))
	for g, st := range groups {
		m[g] = st.endpoints
	}
	next := &scopes{now: m}
	if old := s.groups.Load(); old != nil {
		next.before = old.now
	}
	s.groups.Store(next)
}

// lost says whether group held name before the latest update (and does no longer): a proxy
// still asks for it until it has the update.
func (s *endpointScope) lost(group, name string) bool {
	if m := s.groups.Load(); m != nil {
		_, before := m.before[group][name]
		_, now := m.now[group][name]
		return before && !now
	}
	return false
}

// of is the set of names nodes of group may read (empty for a node in no group).
func (s *endpointScope) of(group string) nameSet {
	if m := s.groups.Load(); m != nil {
		return m.now[group]
	}
	return nil
}

// inScope splits names into those nodes of group may read and the others (out); a node in no
// group reads none. kept is names itself when every name is in scope.
func (s *endpointScope) inScope(group string, names []string) (kept, out []string) {
	allowed := s.of(group)
	for i, n := range names {
		if _, ok := allowed[n]; ok {
			if out != nil {
				kept = append(kept, n)
			}
			continue
		}
		if out == nil {
			kept = slices.Clone(names[:i])
		}
		out = append(out, n)
	}
	if out == nil {
		return names, nil
	}
	return kept, out
}

// assignmentName is the cluster_name of the ClusterLoadAssignment a is; "" when a holds none.
func assignmentName(a *anypb.Any) string { return string(assignmentNameBytes(a)) }

// holdsAssignment says whether s holds the name of the ClusterLoadAssignment a is.
func holdsAssignment(s nameSet, a *anypb.Any) bool {
	_, ok := s[string(assignmentNameBytes(a))]
	return ok
}

// assignmentNameBytes is the cluster_name (field 1) of the ClusterLoadAssignment a is, read off
// its encoding without decoding the rest (nor copying it); nil when a holds none.
func assignmentNameBytes(a *anypb.Any) []byte {
	b := a.GetValue()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil
			}
			return v
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil
		}
		b = b[m:]
	}
	return nil
}
