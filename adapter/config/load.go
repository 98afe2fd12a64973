package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
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
// filename only labels error messages. On failure the error joins every
// problem found (each a *FieldError, see errors.Join), sorted by line, not
// just the first: decoding problems (unknown keys, wrong types) and validation
// problems of the fields that did decode.
func Parse(data []byte, filename string) (*File, error) {
	f, errs := decode(data, filename)
	if f == nil {
		return nil, errors.Join(errs...)
	}
	f.Defaults()
	if verr := f.Validate(); verr != nil {
		// A field that failed to decode is zero; do not report it twice.
		bad := map[string]bool{}
		for _, e := range errs {
			var fe *FieldError
			if errors.As(e, &fe) {
				bad[fe.Field] = true
			}
		}
		verrs := []error{verr}
		if j, ok := verr.(interface{ Unwrap() []error }); ok {
			verrs = j.Unwrap()
		}
		for _, e := range verrs {
			var fe *FieldError
			if errors.As(e, &fe) && underBad(fe.Field, bad) {
				continue
			}
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errLine(errs[i]) < errLine(errs[j]) })
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// underBad reports whether field, or a section that holds it, failed to decode.
func underBad(field string, bad map[string]bool) bool {
	for field != "" {
		if bad[field] {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return false
		}
		field = field[:i]
	}
	return false
}

func errLine(err error) int {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Line
	}
	return 0
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
