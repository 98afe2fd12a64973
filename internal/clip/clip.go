// Package clip shortens strings that a client or a file chose, so that
// errors, logs and metric labels quoting them stay bounded.
package clip

import "strings"

// Marker ends a string that Text cut.
const Marker = "..."

// Text returns s when it is at most max bytes long, and otherwise its first
// max bytes, less any UTF-8 sequence the cut split, followed by Marker.
func Text(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + Marker
}
