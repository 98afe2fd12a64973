package strictyaml

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a YAML file, located by file, line and field path.
type Error struct {
	// File is the file's name ("" when unknown, e.g. for values built in code).
	File string
	// Line is the 1-based line of the problem (0 when unknown).
	Line int
	// Path is the field path, e.g. "spec.services[0].port" ("" for the whole file).
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error renders "file:line: path: msg" ("line N: path: msg" without a file), leaving out
// the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a file. Err sorts it by line.
type Errors []*Error

// Error joins the problems, one a line.
func (l Errors) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the problems, so that errors.As finds an *Error in Errors.
func (l Errors) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Err returns nil when l is empty, and otherwise l sorted by line (stably, so problems on
// one line keep the order they were found in).
func (l Errors) Err() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool { return l[i].Line < l[j].Line })
	return l
}

// Lines maps field paths ("spec.services[0].port") to the line they are written on; ""
// is the document's first line.
type Lines map[string]int

// Line returns the line of path, or of its nearest ancestor that has one, or of the
// document (0 when none is known).
func (l Lines) Line(path string) int {
	for p := path; p != ""; p = Parent(p) {
		if n, ok := l[p]; ok {
			return n
		}
	}
	return l[""]
}

// Parent returns the path of the field or item that holds path: "a.b[2]" for "a.b[2].c",
// "a.b" for "a.b[2]", "" for "a".
func Parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i <= 0 {
		return ""
	}
	return path[:i]
}

// Field returns the path of the field key of path.
func Field(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Item returns the path of the i-th item of the list at path.
func Item(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
