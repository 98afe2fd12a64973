package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// decoder walks a YAML node tree into a File, collecting every error with its
// line and field path, and recording the line of every field it sees.
type decoder struct {
	filename string
	errs     []error
	pos      map[string]int
}

func (d *decoder) errorf(line int, field, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Filename: d.filename, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// decode returns the File and the problems found decoding it. A nil File
// comes with one error (the input is not a YAML mapping); a non-nil File
// may come with errors about some of its fields, which are then left zero.
func decode(data []byte, filename string) (*File, []error) {
	d := &decoder{filename: filename, pos: map[string]int{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, []error{&FieldError{Filename: filename, Msg: "file is empty"}}
		}
		return nil, []error{&FieldError{Filename: filename, Line: yamlErrorLine(err), Msg: fmt.Sprintf("invalid YAML: %v", err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, []error{&FieldError{Filename: filename, Line: extra.Line, Msg: "more than one YAML document; a rule file holds exactly one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, []error{&FieldError{Filename: filename, Line: yamlErrorLine(err), Msg: fmt.Sprintf("invalid YAML: %v", err)}}
	}
	f := &File{Filename: filename, pos: d.pos}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.pos[""] = root.Line
	d.mapping(root, "", map[string]func(*yaml.Node, string){
		"apiVersion": func(n *yaml.Node, p string) { f.APIVersion = d.str(n, p) },
		"kind":       func(n *yaml.Node, p string) { f.Kind = d.str(n, p) },
		"rules": func(n *yaml.Node, p string) {
			items := d.sequence(n, p)
			f.Rules = make([]Rule, len(items))
			for i, item := range items {
				d.rule(item, fmt.Sprintf("%s[%d]", p, i), &f.Rules[i])
			}
		},
	})
	if root.Kind != yaml.MappingNode && !isNull(root) {
		return nil, d.errs // "must be a mapping"
	}
	return f, d.errs
}

func (d *decoder) rule(n *yaml.Node, path string, r *Rule) {
	r.Line = n.Line
	d.mapping(n, path, map[string]func(*yaml.Node, string){
		"name":  func(n *yaml.Node, p string) { r.Name = d.str(n, p) },
		"query": func(n *yaml.Node, p string) { r.Query = d.str(n, p) },
		"api":   func(n *yaml.Node, p string) { r.API = API(d.str(n, p)) },
		"resources": func(n *yaml.Node, p string) {
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"namespaceLabel": func(n *yaml.Node, p string) { r.Resources.NamespaceLabel = d.str(n, p) },
				"group":          func(n *yaml.Node, p string) { r.Resources.Group = d.str(n, p) },
				"resource":       func(n *yaml.Node, p string) { r.Resources.Resource = d.str(n, p) },
				"label":          func(n *yaml.Node, p string) { r.Resources.Label = d.str(n, p) },
			})
		},
		"forecast": func(n *yaml.Node, p string) {
			f := &r.Forecast
			d.mapping(n, p, map[string]func(*yaml.Node, string){
				"horizon": func(n *yaml.Node, p string) { f.Horizon = d.duration(n, p) },
				"quantile": func(n *yaml.Node, p string) {
					// 0 would read as "unset" and get the default: refuse it here.
					before := len(d.errs)
					if f.Quantile = d.float(n, p); f.Quantile == 0 && len(d.errs) == before {
						d.errorf(n.Line, p, "must be in (0,1), got 0")
					}
				},
				"model":         func(n *yaml.Node, p string) { f.Model = forecast.Model(d.str(n, p)) },
				"history":       func(n *yaml.Node, p string) { f.History = d.duration(n, p) },
				"refitInterval": func(n *yaml.Node, p string) { f.RefitInterval = d.duration(n, p) },
				"step":          func(n *yaml.Node, p string) { f.Step = d.duration(n, p) },
				"reactiveFloor": func(n *yaml.Node, p string) { f.NoReactiveFloor = !d.boolean(n, p) },
				"staleAfter":    func(n *yaml.Node, p string) { f.StaleAfter = d.duration(n, p) },
			})
		},
		"cost":   func(n *yaml.Node, p string) { r.Cost = d.cost(n, p) },
		"shadow": func(n *yaml.Node, p string) { r.Shadow = d.shadow(n, p) },
	})
}

func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mapping decodes a mapping node with the given fields; unknown and duplicate
// keys are errors. A null node is an empty mapping.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]func(*yaml.Node, string)) {
	n = d.resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "must be a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		key := k.Value
		child := key
		if path != "" {
			child = path + "." + key
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "keys must be strings")
			continue
		}
		if key == "<<" {
			d.errorf(k.Line, path, "merge keys (<<) are not supported")
			continue
		}
		if seen[key] {
			d.errorf(k.Line, child, "duplicate field")
			continue
		}
		seen[key] = true
		fn, ok := fields[key]
		if !ok {
			d.errorf(k.Line, child, "unknown field")
			continue
		}
		d.pos[child] = k.Line
		fn(v, child)
	}
}

func (d *decoder) sequence(n *yaml.Node, path string) []*yaml.Node {
	n = d.resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, path, "must be a list, got %s", kindName(n))
		return nil
	}
	for i, item := range n.Content {
		d.pos[fmt.Sprintf("%s[%d]", path, i)] = item.Line
	}
	return n.Content
}

func (d *decoder) scalar(n *yaml.Node, path, want string) (*yaml.Node, bool) {
	n = d.resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n.Line, path, "must be %s, got %s", want, kindName(n))
		return n, false
	}
	return n, true
}

func (d *decoder) str(n *yaml.Node, path string) string {
	n, ok := d.scalar(n, path, "a string")
	if !ok {
		return ""
	}
	if n.Tag != "!!str" {
		d.errorf(n.Line, path, "must be a string, got %s %q (quote it)", tagName(n.Tag), n.Value)
		return ""
	}
	return n.Value
}

func (d *decoder) duration(n *yaml.Node, path string) time.Duration {
	n, ok := d.scalar(n, path, `a duration like "5m" or "14d"`)
	if !ok {
		return 0
	}
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n.Line, path, `must be a duration like "5m" or "14d", got %q`, n.Value)
		return 0
	}
	if v <= 0 {
		d.errorf(n.Line, path, "must be positive, got %q", n.Value)
		return 0
	}
	return time.Duration(v)
}

func (d *decoder) float(n *yaml.Node, path string) float64 {
	n, ok := d.scalar(n, path, "a number")
	if !ok {
		return 0
	}
	if n.Tag != "!!float" && n.Tag != "!!int" {
		d.errorf(n.Line, path, "must be a number, got %q", n.Value)
		return 0
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.errorf(n.Line, path, "must be a finite number, got %q", n.Value)
		return 0
	}
	return v
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	n, ok := d.scalar(n, path, "true or false")
	if !ok {
		return true
	}
	if n.Tag != "!!bool" {
		d.errorf(n.Line, path, "must be true or false, got %q", n.Value)
		return true
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.errorf(n.Line, path, "must be true or false, got %q", n.Value)
		return true
	}
	return b
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
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
	case "!!null":
		return "null"
	default:
		return tag
	}
}

// yamlErrorLine extracts the line from a yaml.v3 syntax error ("yaml: line 3: ...").
func yamlErrorLine(err error) int {
	var line int
	if _, scanErr := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); scanErr == nil {
		return line
	}
	return 0
}

func modelDuration(d time.Duration) string { return model.Duration(d).String() }
