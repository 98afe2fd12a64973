package policy

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// source remembers the file a policy was parsed from and where each field path was written.
type source struct {
	file  string
	lines strictyaml.Lines
}

// lineOf returns the line the field path was written on, and whether it was written (false
// for a policy not parsed from a file).
func (s *source) lineOf(path string) (int, bool) {
	if s == nil {
		return 0, false
	}
	line, ok := s.lines[path]
	return line, ok
}

// Load reads and parses a policy file.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return Parse(data, path)
}

// Parse parses one policy document strictly (see strictyaml.Decoder.Decode: unknown or
// duplicate keys and ill-typed values are errors), applies SetDefaults and runs Validate.
// The error, if any, is a strictyaml.Errors naming file:line and field path of every
// problem: those of the fields that decoded are reported with those of the fields that did
// not (but none at, below or above a field that did not decode, which would only follow from
// it), and a document of another kind (a Deployment given for a policy) is reported as that
// alone.
func Parse(data []byte, filename string) (*Policy, error) {
	docs, err := strictyaml.Documents(data, filename)
	if err != nil {
		return nil, err
	}
	if len(docs) > 1 {
		return nil, strictyaml.Errors{{File: filename, Line: docs[1].Line, Msg: "more than one YAML document: a policy file holds exactly one"}}
	}
	if len(docs) == 0 || strictyaml.IsNull(docs[0]) {
		return nil, strictyaml.Errors{{File: filename, Msg: "empty policy document"}}
	}
	d := strictyaml.NewDecoder(filename)
	p := &Policy{}
	decoded := d.Decode(docs[0], "", p)
	if !decoded && !decodeWithout(docs[0], d.Errs, p) {
		return nil, d.Errs
	}
	p.src = &source{file: filename, lines: d.Lines}
	if !decoded && (p.Kind != "" && p.Kind != Kind || p.APIVersion != "" && p.APIVersion != APIVersion) {
		v := &validator{p: p}
		v.header()
		return nil, v.errs
	}
	p.SetDefaults()
	err = p.Validate()
	if decoded {
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	errs := d.Errs
	var verrs strictyaml.Errors
	if errors.As(err, &verrs) {
		for _, e := range verrs {
			if !slices.ContainsFunc(d.Errs, func(de *strictyaml.Error) bool { return within(e.Path, de.Path) || within(de.Path, e.Path) }) {
				errs = append(errs, e)
			}
		}
	}
	return nil, errs
}

// decodeWithout decodes doc into p without the fields that did not decode (errs): so that
// the others are checked too. It reports false, when they cannot be left out (a whole item
// of a list, or the document) or the rest does not decode either.
func decodeWithout(doc *yaml.Node, errs strictyaml.Errors, p *Policy) bool {
	bad := map[string]bool{}
	for _, e := range errs {
		if e.Path == "" || strings.HasSuffix(e.Path, "]") {
			return false
		}
		bad[e.Path] = true
	}
	root := strictyaml.Resolve(doc)
	if root == nil {
		return false
	}
	pruned := 0
	prune(root, "", bad, &pruned)
	if pruned < len(bad) {
		return false
	}
	*p = Policy{}
	return root.Decode(p) == nil
}

// prune removes from the mappings under n (at path) the fields at the paths of bad and counts
// the paths it removed (each once).
func prune(n *yaml.Node, path string, bad map[string]bool, pruned *int) {
	switch n.Kind {
	case yaml.MappingNode:
		kept := n.Content[:0]
		removed := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			child := strictyaml.Field(path, n.Content[i].Value)
			if bad[child] {
				if !removed[child] {
					removed[child] = true
					*pruned++
				}
				continue
			}
			prune(n.Content[i+1], child, bad, pruned)
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
		n.Content = kept
	case yaml.SequenceNode:
		for i, item := range n.Content {
			prune(item, strictyaml.Item(path, i), bad, pruned)
		}
	}
}

// within says whether the field path is path or below it.
func within(field, path string) bool {
	if path == "" || field == path {
		return true
	}
	return strings.HasPrefix(field, path) && (field[len(path)] == '.' || field[len(path)] == '[')
}
