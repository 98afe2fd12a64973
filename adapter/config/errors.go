package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a rule file, located by line and field path.
type FieldError struct {
	// Filename is the file's name ("" when unknown).
	Filename string
	// Line is the 1-based line of the offending field (0 when unknown).
	Line int
	// Field is the field path, e.g. "rules[1].forecast.quantile" ("" for the whole file).
	Field string
	// Msg says what is wrong.
	Msg string
}

// Error formats the error as "file:line: field: msg", leaving out unknown parts.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Filename != "" {
		b.WriteString(e.Filename)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}
