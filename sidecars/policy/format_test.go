package policy_test

import (
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

func TestFormatProblem(t *testing.T) {
	for _, ok := range []string{"", "plain", "100%% done", "%START_TIME%", "%REQ(:PATH)%",
		"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH):64% [%START_TIME(%s.%3f)%]", "%%%RESPONSE_CODE%%%"} {
		if msg := policy.FormatProblem(ok); msg != "" {
			t.Errorf("FormatProblem(%q) = %q, want none", ok, msg)
		}
	}
	for _, bad := range []string{"50%", "%", "a%20b", "%req(:path)%", "%REQ(:PATH)", "%START_TIME% %"} {
		if msg := policy.FormatProblem(bad); !strings.Contains(msg, "starts no %COMMAND%") {
			t.Errorf("FormatProblem(%q) = %q, want a '%%' that starts no command", bad, msg)
		}
	}
	for _, s := range []string{"50%", "a%20b%", "%REQ(:PATH)%"} {
		if msg := policy.FormatProblem(policy.LiteralFormat(s)); msg != "" {
			t.Errorf("FormatProblem(LiteralFormat(%q)) = %q, want none", s, msg)
		}
	}
}
