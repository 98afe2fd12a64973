package config

import (
	"errors"
	"fmt"
	"os"

	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// Load reads, parses, defaults and validates the rule file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load rules %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse decodes a rule file strictly, applies defaults and validates it.
// filename only labels error messages. On failure the error is a
// strictyaml.Errors of every problem found (each a *strictyaml.Error naming
// file, line and field path), sorted by line, not just the first: decoding
// problems (unknown keys, wrong types) and validation problems of the fields
// that did decode.
//
// Parse applies the zero Policy: a cluster-wide external rule is refused.
func Parse(data []byte, filename string) (*File, error) {
	return ParsePolicy(data, filename, Policy{})
}

// ParsePolicy is Parse with what the operator's policy allows.
func ParsePolicy(data []byte, filename string, policy Policy) (*File, error) {
	f, errs := decode(data, filename)
	if f == nil {
		return nil, errs.Err()
	}
	f.SetDefaults()
	var verrs strictyaml.Errors
	if err := f.Validate(); err != nil && !errors.As(err, &verrs) {
		return nil, err
	}
	// A field that failed to decode is zero; do not report it twice.
	bad := map[string]bool{}
	for _, e := range errs {
		bad[e.Path] = true
	}
	for _, e := range verrs {
		if !underBad(e.Path, bad) {
			errs = append(errs, e)
		}
	}
	for i, r := range f.Rules {
		if p := fmt.Sprintf("rules[%d].resources.clusterWide", i); r.Resources.ClusterWide && !policy.ClusterWideExternal && !underBad(p, bad) {
			errs = append(errs, &strictyaml.Error{File: filename, Line: f.lines.Line(p), Path: p, Msg: ClusterWideRefused})
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// underBad reports whether field, or a section that holds it, failed to decode.
func underBad(field string, bad map[string]bool) bool {
	for ; field != ""; field = strictyaml.Parent(field) {
		if bad[field] {
			return true
		}
	}
	return false
}

// Rule returns the rule named name, or nil.
func (f *File) Rule(name string) *Rule {
	for i := range f.Rules {
		if f.Rules[i].Name == name {
			return &f.Rules[i]
		}
	}
	return nil
}
