package strictyaml

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decoder walks YAML nodes (from Documents) into Go values, collecting every problem as an
// *Error with its line and field path and recording the line of every field it visits.
// Use Decode for tagged Go structs, and Mapping, Sequence and the scalar methods for a
// hand-written walk. A Decoder is not safe for concurrent use.
type Decoder struct {
	// File names the file in errors.
	File string
	// Errs are the problems found so far, in the order found.
	Errs Errors
	// Lines are the lines of the field paths visited so far.
	Lines Lines
	// YAML11Bools reads the plain booleans of YAML 1.1 too (yes, no, on, off, y, n, in the
	// cases yaml.v2 takes), as files written for yaml.v2 readers (prometheus-adapter's) use them.
	YAML11Bools bool

	fields map[reflect.Type]map[string]reflect.Type
	// walked records anchored nodes already checked (as which type), so that aliases to
	// them are not checked again.
	walked map[*yaml.Node]reflect.Type
}

// NewDecoder returns a Decoder for the named file.
func NewDecoder(file string) *Decoder {
	return &Decoder{File: file, Lines: Lines{}, fields: map[reflect.Type]map[string]reflect.Type{}, walked: map[*yaml.Node]reflect.Type{}}
}

// Errorf records a problem at path, on n's line (no line for a nil n).
func (d *Decoder) Errorf(n *yaml.Node, path, format string, args ...any) {
	d.Errs = append(d.Errs, &Error{File: d.File, Line: nodeLine(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Resolve follows aliases and unwraps a document node; an empty document is nil.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.DocumentNode {
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		} else {
			n = n.Alias
		}
	}
	return n
}

// IsNull reports whether n is nil, an empty document or null ("~", "null" or nothing).
func IsNull(n *yaml.Node) bool {
	n = Resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// record notes the line of path, keeping the first one seen (an alias's, not its anchor's).
func (d *Decoder) record(path string, line int) {
	if _, seen := d.Lines[path]; !seen {
		d.Lines[path] = line
	}
}

// Mapping walks the mapping n at path, calling fields[key] with each value and the
// value's path. Unknown keys (naming the known ones), duplicate keys, non-string keys and
// merge keys (<<) are errors. Null is an empty mapping.
func (d *Decoder) Mapping(n *yaml.Node, path string, fields map[string]func(n *yaml.Node, path string)) {
	d.entries(n, path, "field", func(k, v *yaml.Node, p string) {
		fn, ok := fields[k.Value]
		if !ok {
			d.Errorf(k, p, "unknown field (known: %s)", strings.Join(sortedKeys(fields), ", "))
			return
		}
		fn(v, p)
	})
}

// entries walks the key/value pairs of the mapping n, checking the keys.
func (d *Decoder) entries(n *yaml.Node, path, what string, each func(k, v *yaml.Node, path string)) {
	d.record(path, nodeLine(n))
	n = Resolve(n)
	if IsNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "must be a mapping, got %s", describe(n))
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := Resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			d.Errorf(n.Content[i], path, "keys must be strings")
			continue
		}
		if k.Tag == "!!merge" {
			d.Errorf(k, path, "merge keys (<<) are not supported")
			continue
		}
		p := Field(path, k.Value)
		if seen[k.Value] {
			d.Errorf(k, p, "duplicate %s", what)
			continue
		}
		seen[k.Value] = true
		d.Lines[p] = k.Line
		each(k, v, p)
	}
}

// Sequence returns the items of the list n at path, recording their lines. Null is an
// empty list.
func (d *Decoder) Sequence(n *yaml.Node, path string) []*yaml.Node {
	d.record(path, nodeLine(n))
	n = Resolve(n)
	if IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, path, "must be a list, got %s", describe(n))
		return nil
	}
	for i, item := range n.Content {
		d.record(Item(path, i), item.Line)
	}
	return n.Content
}

// StringMap decodes the mapping n at path of string keys to string values.
func (d *Decoder) StringMap(n *yaml.Node, path string) map[string]string {
	if IsNull(n) {
		return nil
	}
	out := map[string]string{}
	d.entries(n, path, "key", func(k, v *yaml.Node, p string) { out[k.Value] = d.String(v, p) })
	return out
}

// Scalar returns n with its aliases followed if it is a scalar other than null, and
// records an error "must be <want>" otherwise.
func (d *Decoder) Scalar(n *yaml.Node, path, want string) (*yaml.Node, bool) {
	d.record(path, nodeLine(n))
	r := Resolve(n)
	if r == nil || r.Kind != yaml.ScalarNode || r.Tag == "!!null" {
		if r == nil {
			r = n
		}
		d.Errorf(r, path, "must be %s, got %s", want, describe(r))
		return r, false
	}
	return r, true
}

// String decodes a string. A YAML number or boolean is refused ("quote it"), so that
// "no" or "1.10" never turn into something else than what was written.
func (d *Decoder) String(n *yaml.Node, path string) string {
	n, ok := d.Scalar(n, path, "a string")
	if !ok {
		return ""
	}
	if n.Tag != "!!str" {
		d.Errorf(n, path, "must be a string, got %s (quote it)", describe(n))
		return ""
	}
	return n.Value
}

// Float decodes a finite number.
func (d *Decoder) Float(n *yaml.Node, path string) float64 {
	n, ok := d.Scalar(n, path, "a number")
	if !ok {
		return 0
	}
	if n.Tag != "!!float" && n.Tag != "!!int" {
		d.Errorf(n, path, "must be a number, got %q", n.Value)
		return 0
	}
	var v float64
	if err := n.Decode(&v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.Errorf(n, path, "must be a finite number, got %q", n.Value)
		return 0
	}
	return v
}

// Int decodes a whole number in [lo, hi].
func (d *Decoder) Int(n *yaml.Node, path string, lo, hi int64) int64 {
	n, ok := d.Scalar(n, path, "a whole number")
	if !ok {
		return 0
	}
	var v int64
	if n.Tag != "!!int" || n.Decode(&v) != nil {
		d.Errorf(n, path, "must be a whole number, got %q", n.Value)
		return 0
	}
	if v < lo || v > hi {
		d.Errorf(n, path, "must be a whole number in %d..%d, got %q", lo, hi, n.Value)
		return 0
	}
	return v
}

// Uint decodes a whole number in [0, hi].
func (d *Decoder) Uint(n *yaml.Node, path string, hi uint64) uint64 {
	n, ok := d.Scalar(n, path, "a whole number")
	if !ok {
		return 0
	}
	var v uint64
	if n.Tag != "!!int" || strings.HasPrefix(n.Value, "-") || n.Decode(&v) != nil {
		d.Errorf(n, path, "must be a whole number, got %q", n.Value)
		return 0
	}
	if v > hi {
		d.Errorf(n, path, "must be a whole number in 0..%d, got %q", hi, n.Value)
		return 0
	}
	return v
}

// Bool decodes true or false (and, with YAML11Bools, YAML 1.1's other plain booleans, which
// it then rewrites in n as true or false); ok is false (and an error recorded) for anything
// else.
func (d *Decoder) Bool(n *yaml.Node, path string) (v, ok bool) {
	n, ok = d.Scalar(n, path, "true or false")
	if !ok {
		return false, false
	}
	if b, yaml11 := yaml11Bools[n.Value]; d.YAML11Bools && yaml11 && n.Tag == "!!str" && n.Style == 0 {
		n.Tag, n.Value = "!!bool", strconv.FormatBool(b)
	}
	if n.Tag != "!!bool" || n.Decode(&v) != nil {
		d.Errorf(n, path, "must be true or false, got %q", n.Value)
		return false, false
	}
	return v, true
}

// yaml11Bools are the plain booleans of YAML 1.1 that YAML 1.2 reads as strings.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

// Decode decodes n into the value v points to, strictly: the walk checks every field of n
// against v's type (struct fields by their `yaml` tag, or the lower-cased field name as
// yaml.v3 does; `yaml:",inline"` structs merged) with the scalar rules of String, Float,
// Int, Uint and Bool, records every problem, and decodes only when it found none. Null
// leaves a value zero. A type that implements yaml.Unmarshaler or
// encoding.TextUnmarshaler decodes itself; its error is recorded at its path.
// v must be a non-nil pointer. Decode reports whether v was decoded.
func (d *Decoder) Decode(n *yaml.Node, path string, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("strictyaml: Decode needs a non-nil pointer")
	}
	before := len(d.Errs)
	d.walk(n, rv.Type().Elem(), path)
	if len(d.Errs) > before {
		return false
	}
	r := Resolve(n)
	if r == nil {
		return true
	}
	if err := r.Decode(v); err != nil {
		d.Errorf(r, path, "%s", decodeMessage(err))
		return false
	}
	return true
}

var (
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (d *Decoder) walk(n *yaml.Node, t reflect.Type, path string) {
	d.record(path, nodeLine(n))
	r := Resolve(n)
	if r == nil || IsNull(r) {
		return
	}
	if r.Anchor != "" {
		if d.walked[r] == t {
			return // an alias to a node already checked as t
		}
		d.walked[r] = t
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if p := reflect.PointerTo(t); p.Implements(yamlUnmarshaler) || p.Implements(textUnmarshaler) {
		if err := r.Decode(reflect.New(t).Interface()); err != nil {
			d.Errorf(r, path, "%s", decodeMessage(err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := d.structFields(t)
		d.entries(r, path, "field", func(k, v *yaml.Node, p string) {
			ft, ok := fields[k.Value]
			if !ok {
				d.Errorf(k, p, "unknown field (known: %s)", strings.Join(sortedKeys(fields), ", "))
				return
			}
			d.walk(v, ft, p)
		})
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			d.Errorf(r, path, "unsupported map key type %s", t.Key())
			return
		}
		d.entries(r, path, "key", func(_, v *yaml.Node, p string) { d.walk(v, t.Elem(), p) })
	case reflect.Slice, reflect.Array:
		for i, item := range d.Sequence(r, path) {
			d.walk(item, t.Elem(), Item(path, i))
		}
	case reflect.String:
		d.String(r, path)
	case reflect.Bool:
		d.Bool(r, path)
	case reflect.Float32, reflect.Float64:
		d.Float(r, path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		d.Int(r, path, -1<<(bits-1), 1<<(bits-1)-1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.Uint(r, path, math.MaxUint64>>(64-t.Bits()))
	case reflect.Interface:
		// anything goes
	default:
		d.Errorf(r, path, "unsupported Go type %s", t)
	}
}

// structFields returns the YAML field names of struct type t and their types.
func (d *Decoder) structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := d.fields[t]; ok {
		return f
	}
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			for k, v := range d.structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	d.fields[t] = out
	return out
}

// decodeMessage is the message of a yaml.v3 decoding error without "yaml:" and line prefixes
// (the Decoder adds the line).
func decodeMessage(err error) string {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs = te.Errors
	}
	for i, m := range msgs {
		if s := yamlMessage.FindStringSubmatch(m); s != nil {
			msgs[i] = s[2]
		}
	}
	return strings.Join(msgs, "; ")
}

// describe says what n is, for messages: "a mapping", "a list", "nothing (null)",
// `integer "42"`, `string "web"`.
func describe(n *yaml.Node) string {
	n = Resolve(n)
	if n == nil {
		return "nothing (null)"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%s %q", tagName(n.Tag), n.Value)
	default:
		return "an unsupported node"
	}
}

func tagName(tag string) string {
	switch tag {
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	case "!!str":
		return "string"
	case "!!timestamp":
		return "timestamp"
	default:
		return tag
	}
}

// lineOf is n's line (0 for nil).
func nodeLine(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
