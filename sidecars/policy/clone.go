package policy

import (
	"fmt"
	"reflect"
)

// Clone returns a deep copy of the policy. The copy shares only the (immutable) source
// positions, so errors found in it still name the original file and lines.
func (p *Policy) Clone() *Policy {
	if p == nil {
		return nil
	}
	out := deepCopy(reflect.ValueOf(p).Elem()).Interface().(Policy)
	out.src = p.src
	return &out
}

// deepCopy copies pointers, slices, maps and structs recursively. A nil pointer, slice or
// map is copied as the zero value, without allocating.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
	}
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		e := deepCopy(v.Elem())
		if !e.CanAddr() { // a nil pointer, slice or map pointed to
			a := reflect.New(e.Type())
			a.Elem().Set(e)
			e = a.Elem()
		}
		out.Set(e.Addr())
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			s.Index(i).Set(deepCopy(v.Index(i)))
		}
		out.Set(s)
	case reflect.Map:
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			m.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		out.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
	default:
		out.Set(v)
	}
	return out
}

// WithFault returns a clone of the policy with f added to target: the named route's fault,
// or the named service's fault (which translate applies to all traffic sent to the service). A
// fault already there is replaced. The clone is validated; the receiver is not changed.
func (p *Policy) WithFault(target FaultTarget, f Fault) (*Policy, error) {
	if (target.Route == "") == (target.Service == "") {
		return nil, fmt.Errorf("fault target: exactly one of route and service")
	}
	c := p.Clone()
	fc := deepCopy(reflect.ValueOf(f)).Interface().(Fault)
	found := false
	if target.Service != "" {
		if s := c.Service(target.Service); s != nil {
			s.Fault = &fc
			found = true
		}
	} else if r := c.Route(target.Route); r != nil {
		r.Fault = &fc
		found = true
	}
	if !found {
		return nil, fmt.Errorf("fault target %s: not in policy %q", target, p.Metadata.Name)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("policy with fault on %s: %w", target, err)
	}
	return c, nil
}

// Route returns the named route (of a service or a virtual host), or nil.
func (p *Policy) Route(name string) *Route {
	if routes, i := p.routeIn(name); routes != nil {
		return &(*routes)[i]
	}
	return nil
}

// routeIn returns the routes of the service or virtual host that holds the named route, and
// its index in them; nil when no route has that name.
func (p *Policy) routeIn(name string) (*[]Route, int) {
	for i := range p.Spec.Services {
		for j := range p.Spec.Services[i].Routes {
			if p.Spec.Services[i].Routes[j].Name == name {
				return &p.Spec.Services[i].Routes, j
			}
		}
	}
	for i := range p.Spec.VirtualHosts {
		for j := range p.Spec.VirtualHosts[i].Routes {
			if p.Spec.VirtualHosts[i].Routes[j].Name == name {
				return &p.Spec.VirtualHosts[i].Routes, j
			}
		}
	}
	return nil, 0
}
