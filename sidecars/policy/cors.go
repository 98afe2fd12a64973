package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// CORS answers browsers' cross-origin checks for a route (Envoy only: grpc-go has no
// browsers to answer): preflight requests are answered by the proxy, and the responses of
// allowed origins carry the Access-Control-Allow-* headers. The fields are those of the
// Gateway API's CORS filter.
type CORS struct {
	// AllowOrigins are the origins allowed, "scheme://host[:port]"; the host may start with
	// "*." (any subdomain, at any depth) or be "*"; "*" alone allows every origin.
	AllowOrigins []string `yaml:"allowOrigins,omitempty"`
	// AllowMethods are the methods allowed beyond GET, HEAD and POST; "*" allows any.
	AllowMethods []string `yaml:"allowMethods,omitempty"`
	// AllowHeaders are the request headers allowed; "*" allows any.
	AllowHeaders []string `yaml:"allowHeaders,omitempty"`
	// ExposeHeaders are the response headers a browser may expose to the page; "*" exposes all.
	ExposeHeaders []string `yaml:"exposeHeaders,omitempty"`
	// AllowCredentials lets the request carry credentials (cookies, authorization).
	AllowCredentials bool `yaml:"allowCredentials,omitempty"`
	// MaxAge is how long a browser may cache a preflight's answer (whole seconds; 0: the
	// browser's default).
	MaxAge Duration `yaml:"maxAge,omitempty"`
}

// corsOrigin is the form of an allowed origin (the Gateway API's CORSOrigin).
var corsOrigin = regexp.MustCompile(`^(\*|https?://((\*\.)?([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(:[0-9]{1,5})?)$`)

// httpMethod is an HTTP method token.
var httpMethod = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_` + "`" + `|~-]+$`)

// maxCORSItems bounds each list of a CORS policy (the Gateway API's limit).
const maxCORSItems = 64

// cors checks a route's CORS policy.
func (v *validator) cors(c *CORS, path string) {
	if c == nil {
		return
	}
	if len(c.AllowOrigins) == 0 {
		v.errorf(path+".allowOrigins", "at least one origin (\"*\" for any)")
	}
	lists := []struct {
		field string
		items []string
	}{{"allowOrigins", c.AllowOrigins}, {"allowMethods", c.AllowMethods}, {"allowHeaders", c.AllowHeaders}, {"exposeHeaders", c.ExposeHeaders}}
	for _, l := range lists {
		if len(l.items) > maxCORSItems {
			v.errorf(path+"."+l.field, "at most %d entries, not %d", maxCORSItems, len(l.items))
		}
		if len(l.items) > 1 && slices.Contains(l.items, "*") {
			v.errorf(path+"."+l.field, "\"*\" stands alone")
		}
	}
	for i, o := range c.AllowOrigins {
		if len(o) > 253 || !corsOrigin.MatchString(o) {
			v.errorf(fmt.Sprintf("%s.allowOrigins[%d]", path, i), "must be \"*\" or scheme://host[:port] with http or https and an optional leading \"*.\" in the host, not %q", o)
		} else if p := originPort(o); p != "" {
			var n int
			if _, err := fmt.Sscan(p, &n); err != nil || n < 1 || n > 65535 {
				v.errorf(fmt.Sprintf("%s.allowOrigins[%d]", path, i), "port must be 1..65535, not %s", p)
			}
		}
	}
	for i, m := range c.AllowMethods {
		if !httpMethod.MatchString(m) {
			v.errorf(fmt.Sprintf("%s.allowMethods[%d]", path, i), "must be an HTTP method or \"*\", not %q", m)
		}
	}
	for _, l := range lists[2:] {
		for i, h := range l.items {
			if h != "*" && (!headerTok.MatchString(h) || strings.HasPrefix(h, ":")) {
				v.errorf(fmt.Sprintf("%s.%s[%d]", path, l.field, i), "must be a header name or \"*\", not %q", h)
			}
		}
	}
	if c.MaxAge < 0 || c.MaxAge.D()%1e9 != 0 {
		v.errorf(path+".maxAge", "must be whole seconds, not %v", c.MaxAge.D())
	}
}

// originPort is the port of an origin, "" when it names none.
func originPort(o string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(o, "http://"), "https://")
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		return rest[i+1:]
	}
	return ""
}
