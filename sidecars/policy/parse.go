package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem in a policy, located by file, line and field path.
type FieldError struct {
	// File is the policy's file name ("" for policies built in code).
	File string
	// Line is the 1-based source line (0 when unknown).
	Line int
	// Path is the field path, e.g. "spec.services[0].port".
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error renders "file:line: path: msg", leaving out the parts that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(":")
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a policy, in source order. It is what Parse and
// Validate return when something is wrong.
type ErrorList []*FieldError

// Error joins the problems, one a line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// source remembers where each field path was written.
type source struct {
	file  string
	lines map[string]int
}

// line returns the line of path or of its nearest ancestor with a known line.
func (s *source) line(path string) int {
	if s == nil {
		return 0
	}
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := s.lines[p]; ok {
			return l
		}
	}
	return 0
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// MaxPolicyBytes is the largest policy document Parse accepts.
const MaxPolicyBytes = 16 << 20

// maxNodes bounds the work spent on one document (alias expansion).
const maxNodes = 1 << 20

// Load reads and parses a policy file.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return Parse(data, path)
}

// Parse parses one policy document strictly (unknown or duplicate keys and ill-typed values
// are errors), applies Default and runs Validate. The error, if any, is an ErrorList naming
// file:line and field path of every problem.
func Parse(data []byte, filename string) (*Policy, error) {
	if len(data) > MaxPolicyBytes {
		return nil, ErrorList{{File: filename, Msg: fmt.Sprintf("policy is %d bytes, more than the limit of %d", len(data), MaxPolicyBytes)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, ErrorList{yamlError(filename, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, ErrorList{{File: filename, Line: extra.Line, Msg: "more than one YAML document: a policy file holds exactly one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, ErrorList{yamlError(filename, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, ErrorList{{File: filename, Msg: "empty policy document"}}
	}
	root := doc.Content[0]
	if expandedSize(root, map[*yaml.Node]int{}) > maxNodes {
		return nil, ErrorList{{File: filename, Msg: fmt.Sprintf("document too large (more than %d nodes after alias expansion)", maxNodes)}}
	}
	w := &walker{src: &source{file: filename, lines: map[string]int{}}, fields: map[reflect.Type]map[string]yamlField{}, walked: map[*yaml.Node]reflect.Type{}}
	w.walk(root, reflect.TypeFor[Policy](), "")
	if len(w.errs) > 0 {
		sortErrors(w.errs)
		return nil, w.errs
	}
	p := &Policy{}
	if err := root.Decode(p); err != nil {
		return nil, ErrorList{yamlError(filename, err)}
	}
	p.src = w.src
	p.Default()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into a FieldError with the line it names.
func yamlError(file string, err error) *FieldError {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = strings.Join(te.Errors, "; ")
	}
	fe := &FieldError{File: file, Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Msg = m[2]
	}
	return fe
}

func sortErrors(l ErrorList) {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Line < l[j].Line })
}

// walker checks a YAML tree against the Go types before decoding, so that unknown keys and
// ill-typed scalars are reported with their field path, and records each path's line.
type walker struct {
	src  *source
	errs ErrorList
	// fields caches the YAML fields of each struct type seen.
	fields map[reflect.Type]map[string]yamlField
	// walked records anchored nodes already checked (as which type), so aliases to them are
	// not checked again.
	walked map[*yaml.Node]reflect.Type
}

// expandedSize is the number of nodes of n with aliases expanded, computed without
// expanding them, capped just above maxNodes.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return 1
		}
		return expandedSize(n.Alias, memo)
	}
	if v, ok := memo[n]; ok {
		return v
	}
	memo[n] = maxNodes + 1 // a node containing itself counts as too large
	size := 1
	for _, c := range n.Content {
		size += expandedSize(c, memo)
		if size > maxNodes {
			size = maxNodes + 1
			break
		}
	}
	memo[n] = size
	return size
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, &FieldError{File: w.src.file, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[Duration]()

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		if path != "" {
			if _, seen := w.src.lines[path]; !seen {
				w.src.lines[path] = n.Line
			}
		}
		for n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				return
			}
			n = n.Alias
		}
		if w.walked[n] == t {
			return // checked where it was anchored
		}
	}
	if n.Anchor != "" {
		w.walked[n] = t
	}
	if path != "" {
		if _, seen := w.src.lines[path]; !seen {
			w.src.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		if w.scalar(n, path, "a duration like \"5s\"") {
			if _, err := time.ParseDuration(n.Value); err != nil {
				w.fail(n, path, "invalid duration %q (want e.g. \"250ms\", \"5s\")", n.Value)
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "must be a mapping, not %s", nodeKind(n))
			return
		}
		fields, ok := w.fields[t]
		if !ok {
			fields = yamlFields(t)
			w.fields[t] = fields
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			fp := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				w.fail(k, fp, "unknown field (known: %s)", strings.Join(sortedKeys(fields), ", "))
				continue
			}
			if seen[k.Value] {
				w.fail(k, fp, "duplicate field")
				continue
			}
			seen[k.Value] = true
			w.src.lines[fp] = k.Line
			w.walk(v, f.Type, fp)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "must be a list, not %s", nodeKind(n))
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "must be a mapping, not %s", nodeKind(n))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			fp := join(path, k.Value)
			if seen[k.Value] {
				w.fail(k, fp, "duplicate key")
				continue
			}
			seen[k.Value] = true
			w.walk(v, t.Elem(), fp)
		}
	case reflect.String:
		w.scalar(n, path, "a string")
	case reflect.Bool:
		if w.scalar(n, path, "true or false") {
			if _, err := strconv.ParseBool(n.Value); err != nil || n.Tag != "!!bool" {
				w.fail(n, path, "must be true or false, not %q", n.Value)
			}
		}
	case reflect.Uint32:
		if w.scalar(n, path, "a whole number") {
			if _, err := strconv.ParseUint(n.Value, 10, 32); err != nil {
				w.fail(n, path, "must be a whole number 0..4294967295, not %q", n.Value)
			}
		}
	case reflect.Float64:
		if w.scalar(n, path, "a number") {
			if _, err := strconv.ParseFloat(n.Value, 64); err != nil {
				w.fail(n, path, "must be a number, not %q", n.Value)
			}
		}
	}
}

func (w *walker) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "must be %s, not %s", want, nodeKind(n))
		return false
	}
	return true
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

type yamlField struct {
	Index int
	Type  reflect.Type
}

func yamlFields(t reflect.Type) map[string]yamlField {
	out := make(map[string]yamlField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = yamlField{Index: i, Type: f.Type}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
