// Package rules holds Foresight's Prometheus recording and alerting rules (the
// *.rules.yaml files next to this file), the catalogue of metrics that rules and
// dashboards may use (metrics.yaml), and the code that loads and checks both and
// generates the prometheus-operator PrometheusRule from the rule files.
package rules

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// FilePattern matches the rule files of a rules directory.
const FilePattern = "*.rules.yaml"

// File is one parsed rule file.
type File struct {
	// Path is the file's path as it was loaded.
	Path string
	// Groups are the file's rule groups in file order.
	Groups []rulefmt.RuleGroup
}

// NewParser returns the PromQL parser used for rules and dashboards.
func NewParser() parser.Parser {
	return parser.NewParser(parser.Options{})
}

// LoadDir parses every rule file in dir (FilePattern), sorted by name, strictly:
// unknown fields and invalid expressions are errors naming the file and line.
func LoadDir(dir string) ([]File, error) {
	paths, err := filepath.Glob(filepath.Join(dir, FilePattern))
	if err != nil {
		return nil, fmt.Errorf("list rule files in %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no rule files %s in %s", FilePattern, dir)
	}
	sort.Strings(paths)
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		f, err := LoadFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// LoadFile parses one rule file strictly.
func LoadFile(path string) (File, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("read rule file: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	groups, errs := rulefmt.Parse(content, false, model.LegacyValidation, NewParser(), logger)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return File{}, fmt.Errorf("parse rule file %s: %s", path, strings.Join(msgs, "; "))
	}
	return File{Path: path, Groups: groups.Groups}, nil
}

// Rules returns every rule of the files in order.
func Rules(files []File) []rulefmt.Rule {
	var out []rulefmt.Rule
	for _, f := range files {
		for _, g := range f.Groups {
			out = append(out, g.Rules...)
		}
	}
	return out
}

// Recorded returns the set of metric names that the files' recording rules produce.
func Recorded(files []File) map[string]bool {
	out := map[string]bool{}
	for _, r := range Rules(files) {
		if r.Record != "" {
			out[r.Record] = true
		}
	}
	return out
}

// OneLine returns expr with its whitespace runs collapsed to single spaces, for tools
// that take an expression on one line (promqltest scripts, logs).
func OneLine(expr string) string {
	return strings.Join(strings.Fields(expr), " ")
}
