package policy

import (
	"fmt"
	"strings"
)

// HeaderChanges change the headers of a request or a response.
type HeaderChanges struct {
	// Set replaces each header's value, or adds the header.
	Set []HeaderValue `yaml:"set,omitempty"`
	// Add adds each header, keeping values already there.
	Add []HeaderValue `yaml:"add,omitempty"`
	// Remove removes the headers named.
	Remove []string `yaml:"remove,omitempty"`
}

// HeaderValue is one header.
type HeaderValue struct {
	Name string `yaml:"name"`
	// Value is literal: a '%' is sent as it is (it does not start an Envoy command).
	Value string `yaml:"value"`
}

// maxHeaderBytes bounds a changed header's name and value (Envoy's limit).
const maxHeaderBytes = 16384

// headerChanges checks header changes: header names (neither pseudo-headers nor Host,
// which the proxy does not let a route change), each named once, and values without
// control characters a header cannot carry.
func (v *validator) headerChanges(h *HeaderChanges, path string) {
	if h == nil {
		return
	}
	seen := map[string]string{}
	name := func(n, p string) {
		switch {
		case !headerTok.MatchString(n) || strings.HasPrefix(n, ":") || len(n) > maxHeaderBytes:
			v.errorf(p, "must be a header name, not %q", n)
		case strings.EqualFold(n, "host"):
			v.errorf(p, "the Host header cannot be changed here (use rewrite.host)")
		}
		k := strings.ToLower(n)
		if prev, dup := seen[k]; dup {
			v.errorf(p, "header %q is already changed at %s", n, prev)
		}
		seen[k] = p
	}
	for _, list := range []struct {
		field string
		hs    []HeaderValue
	}{{"set", h.Set}, {"add", h.Add}} {
		for i, hv := range list.hs {
			hp := fmt.Sprintf("%s.%s[%d]", path, list.field, i)
			name(hv.Name, hp+".name")
			// The proxy gets the value with each '%' doubled (see LiteralFormat).
			if strings.ContainsAny(hv.Value, "\x00\r\n") || len(LiteralFormat(hv.Value)) > maxHeaderBytes {
				v.errorf(hp+".value", "must be at most %d bytes ('%%' counting twice) without NUL, CR or LF", maxHeaderBytes)
			}
		}
	}
	for i, n := range h.Remove {
		name(n, fmt.Sprintf("%s.remove[%d]", path, i))
	}
}
