package policy

import (
	"fmt"
	"os"

	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// source remembers the file a policy was parsed from and where each field path was written.
type source struct {
	file  string
	lines strictyaml.Lines
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
// problem.
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
	if !d.Decode(docs[0], "", p) {
		return nil, d.Errs.Err()
	}
	p.src = &source{file: filename, lines: d.Lines}
	p.SetDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}
