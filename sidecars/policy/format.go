package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// formatCommand is one command of an Envoy format string, as Envoy recognises it: %NAME%,
// %NAME(ARGUMENT)%, %NAME:LENGTH% or %NAME(ARGUMENT):LENGTH%.
var formatCommand = regexp.MustCompile(`^%[A-Z0-9_]+(?:\((?:.*?)\))?(?::[0-9]+)?%`)

// FormatProblem says why Envoy would refuse s as a format string, or "". Envoy reads access
// log formats and the values of the headers a route adds as format strings: "%%" is a literal
// '%', and any other '%' must start a command such as %REQ(:PATH)%; Envoy refuses the whole
// listener or route configuration holding a '%' that starts none. Command names are not
// checked here.
func FormatProblem(s string) string {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '%')
		if j < 0 {
			return ""
		}
		i += j
		if strings.HasPrefix(s[i:], "%%") {
			i += 2
			continue
		}
		cmd := formatCommand.FindString(s[i:])
		if cmd == "" {
			return fmt.Sprintf("the '%%' at offset %d starts no %%COMMAND%% (write '%%%%' for a literal '%%')", i)
		}
		i += len(cmd)
	}
	return ""
}

// LiteralFormat is the format string that Envoy renders as s itself: every '%' doubled.
func LiteralFormat(s string) string { return strings.ReplaceAll(s, "%", "%%") }
