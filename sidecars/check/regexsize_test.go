package check_test

import (
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// longRegex compiles to 269 RE2 instructions, over Envoy's default limit of 100.
const longRegex = "/v1/items/[a-z0-9-]{1,64}"

// matchGroup translates the match feature policy with its regex route's path regex set to
// re, and returns one node group.
func matchGroup(t *testing.T, re, group string) *translate.Resources {
	t.Helper()
	p, err := policy.Load("../translate/testdata/match.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Services[0].Routes[1].Match.Regex = re
	r, err := translate.TranslateGroup(p, group)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegexProgramSize(t *testing.T) {
	err := check.Check(matchGroup(t, longRegex, "api"))
	want := `route "api/inbound": virtual host "api" route "api-regex" path: regex "/v1/items/[a-z0-9-]{1,64}" compiles to an RE2 program of 269 instructions; ` +
		`Envoy refuses more than 100 (runtime re2.max_program_size.error_level): simplify it (a [^/]+ in place of a counted repetition) ` +
		`or raise the limit on the proxies and with --regex-program-size-limit`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("long regex at the default limit: got %v, want %s", err, want)
	}
	if err := (check.Options{RegexProgramSizeLimit: 300}).Check(matchGroup(t, longRegex, "api")); err != nil {
		t.Errorf("long regex under a raised limit: %v", err)
	}
	if err := (check.Options{}).Check(matchGroup(t, longRegex, "api")); err == nil || !strings.Contains(err.Error(), "Envoy refuses more than 100") {
		t.Errorf("long regex with the zero Options (Envoy's default limit): %v", err)
	}
	if err := (check.Options{RegexProgramSizeLimit: -1}).Check(matchGroup(t, longRegex, "api")); err != nil {
		t.Errorf("long regex without a limit: %v", err)
	}
	if err := check.Check(matchGroup(t, "/v1/items/[^/]+", "api")); err != nil {
		t.Errorf("short regex: %v", err)
	}
	// Proxyless gRPC clients match with Go's regexp, which has no program size limit.
	if err := check.Check(matchGroup(t, longRegex, "grpc-client")); err != nil {
		t.Errorf("long regex for proxyless gRPC: %v", err)
	}
}
