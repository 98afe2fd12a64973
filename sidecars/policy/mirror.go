package policy

import (
	"fmt"
	"slices"
)

// Mirror sends copies of requests to a service.
type Mirror struct {
	// Service names a service of the policy; required.
	Service string `yaml:"service"`
	// Percent of the requests copied, 0..100; default 100.
	Percent *float64 `yaml:"percent,omitempty"`
}

// Services are the services a route sends requests to: its backends' (the unresolved share
// has none) and its mirrors', each once.
func (r *Route) Services() []string {
	var out []string
	add := func(s string) {
		for _, have := range out {
			if have == s {
				return
			}
		}
		out = append(out, s)
	}
	for _, b := range r.Backends {
		if !b.Unresolved {
			add(b.Service)
		}
	}
	for _, m := range r.Mirrors {
		add(m.Service)
	}
	return out
}

// Services are the services a connection route's resolved backends name, each once.
func (c *ConnectionRoute) Services() []string {
	var out []string
	for _, b := range c.Backends {
		if !b.Unresolved && !slices.Contains(out, b.Service) {
			out = append(out, b.Service)
		}
	}
	return out
}

func (v *validator) mirrors(r *Route, path string) {
	if len(r.Mirrors) > 0 && len(r.Backends) == 0 {
		v.errorf(path, "only for routes with backends")
	}
	for i, m := range r.Mirrors {
		mp := fmt.Sprintf("%s[%d]", path, i)
		if m.Service == "" {
			v.errorf(mp+".service", "required")
		} else if v.service(m.Service) == nil {
			v.errorf(mp+".service", "unknown service %q", m.Service)
		}
		if m.Percent != nil {
			v.percent(*m.Percent, mp+".percent")
		}
	}
}
