package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// TestParseCORS: a route's CORS policy parses; wrong ones are refused naming the file, line
// and field.
func TestParseCORS(t *testing.T) {
	const corsLine = `cors: {allowOrigins: ["https://www.example.com", "https://*.partner.example:8443"], allowMethods: [GET, PUT], allowHeaders: [authorization], exposeHeaders: ["*"], allowCredentials: true, maxAge: 1h}`
	doc := strings.Replace(routeFilters, "mirrors: [{service: shadow, percent: 12.5}]", corsLine, 1)
	p, err := policy.Parse([]byte(doc), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Route("r").CORS
	if c == nil || len(c.AllowOrigins) != 2 || c.AllowMethods[1] != "PUT" || c.ExposeHeaders[0] != "*" || !c.AllowCredentials || c.MaxAge.D() != time.Hour {
		t.Fatalf("cors = %+v", c)
	}
	for _, tc := range []struct{ from, to, want string }{
		{`"https://www.example.com", `, `"ftp://www.example.com", `, `cors.allowOrigins[0]: must be "*" or scheme://host[:port]`},
		{`"https://www.example.com", `, `"https://www.example.com/path", `, `cors.allowOrigins[0]: must be`},
		{`"https://www.example.com", `, `"https://w*w.example.com", `, `cors.allowOrigins[0]: must be`},
		{`:8443"]`, `:99999"]`, `cors.allowOrigins[1]: port must be 1..65535`},
		{`"https://www.example.com", `, `"*", `, `cors.allowOrigins: "*" stands alone`},
		{`allowMethods: [GET, PUT]`, `allowMethods: ["GET PUT"]`, `cors.allowMethods[0]: must be an HTTP method`},
		{`allowHeaders: [authorization]`, `allowHeaders: [":authority"]`, `cors.allowHeaders[0]: must be a header name`},
		{`maxAge: 1h`, `maxAge: 1500ms`, `cors.maxAge: must be whole seconds`},
		{`allowOrigins: ["https://www.example.com", "https://*.partner.example:8443"], `, ``, `cors.allowOrigins: at least one origin`},
	} {
		_, err := policy.Parse([]byte(strings.Replace(doc, tc.from, tc.to, 1)), "p.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: error %v, want one with p.yaml:<line> and %q", tc.to, err, tc.want)
		}
	}
}
