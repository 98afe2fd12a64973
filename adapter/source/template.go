package source

import (
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// placeholderLabel is the label of the marker matcher a Template renders in
// place of the real matchers to learn the query's structure.
const placeholderLabel = "__foresight_label_matchers__"

// Template is a parsed PromQL query template. `<<.LabelMatchers>>` marks, inside
// each vector selector's braces, where label matchers are inserted, as in
// prometheus-adapter. A Template is immutable and safe for concurrent use.
type Template struct {
	text string
	tmpl *template.Template
	// skeleton is the query rendered with the placeholder matcher, printed by the parser.
	skeleton string
	// selectors holds, per vector selector in walk order, its matchers as
	// written and the index of the placeholder among them.
	selectors []selectorShape
}

type selectorShape struct {
	matchers    []string
	placeholder int
}

type templateData struct {
	// LabelMatchers is the comma-separated list of label matchers.
	LabelMatchers string
}

var promqlParser = parser.NewParser(parser.Options{})

// ParseQuery parses a PromQL query into an expression with the parser the
// adapter uses everywhere.
func ParseQuery(query string) (parser.Expr, error) {
	return promqlParser.ParseExpr(query)
}

// ParseTemplate parses a query template and checks that it renders to valid
// PromQL in which every vector selector carries the label matchers.
func ParseTemplate(text string) (*Template, error) {
	tmpl, err := template.New("query").Delims("<<", ">>").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("query template: %w", err)
	}
	t := &Template{text: text, tmpl: tmpl}
	placeholder := labels.MustNewMatcher(labels.MatchEqual, placeholderLabel, "x")
	rendered, err := t.execute([]*labels.Matcher{placeholder})
	if err != nil {
		return nil, err
	}
	expr, err := ParseQuery(rendered)
	if err != nil {
		return nil, fmt.Errorf("query template renders to invalid PromQL: %w", err)
	}
	var shapeErr error
	n := 0
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		n++
		shape := selectorShape{placeholder: -1}
		for i, m := range vs.LabelMatchers {
			if m.Name == placeholderLabel {
				if shape.placeholder >= 0 {
					shapeErr = errors.Join(shapeErr, fmt.Errorf("vector selector %s carries <<.LabelMatchers>> twice", selectorName(vs)))
				}
				shape.placeholder = i
			}
			shape.matchers = append(shape.matchers, m.String())
		}
		if shape.placeholder < 0 {
			shapeErr = errors.Join(shapeErr, fmt.Errorf("vector selector %s lacks <<.LabelMatchers>> inside its braces", selectorName(vs)))
		}
		t.selectors = append(t.selectors, shape)
		return nil
	})
	if shapeErr != nil {
		return nil, fmt.Errorf("query template: %w", shapeErr)
	}
	if n == 0 {
		return nil, errors.New("query template has no vector selector")
	}
	// Every <<.LabelMatchers>> must be inside a selector's braces: one in a
	// string literal or a comment would carry matcher text elsewhere.
	if c := strings.Count(rendered, placeholderLabel); c != n {
		return nil, fmt.Errorf("query template: <<.LabelMatchers>> appears %d times but only %d are inside vector selector braces (not in strings or comments)", c, n)
	}
	t.skeleton = expr.String()
	return t, nil
}

// Text returns the template as written.
func (t *Template) Text() string { return t.text }

// Render inserts matchers into every vector selector and verifies the result:
// it must parse, have exactly the template's structure, and every vector
// selector must carry every matcher, in place. Whatever the matchers' values,
// the rendered query therefore cannot select other series than the template
// restricted by the matchers.
func (t *Template) Render(matchers []*labels.Matcher) (string, error) {
	query, err := t.execute(matchers)
	if err != nil {
		return "", err
	}
	expr, err := ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("rendered query does not parse: %w", err)
	}
	given := make([]string, len(matchers))
	for i, m := range matchers {
		given[i] = m.String()
	}
	placeholder := labels.MustNewMatcher(labels.MatchEqual, placeholderLabel, "x")
	i := 0
	var shapeErr error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok || shapeErr != nil {
			return nil
		}
		if i >= len(t.selectors) {
			shapeErr = errors.New("rendered query has more vector selectors than its template")
			return nil
		}
		shape := t.selectors[i]
		i++
		got := vs.LabelMatchers
		if len(got) != len(shape.matchers)-1+len(given) {
			shapeErr = fmt.Errorf("vector selector %s has %d matchers, want %d", selectorName(vs), len(got), len(shape.matchers)-1+len(given))
			return nil
		}
		p := shape.placeholder
		for j := range got {
			var want string
			switch {
			case j < p:
				want = shape.matchers[j]
			case j < p+len(given):
				want = given[j-p]
			default:
				want = shape.matchers[j-len(given)+1]
			}
			if got[j].String() != want {
				shapeErr = fmt.Errorf("vector selector %s: matcher %d is %s, want %s", selectorName(vs), j, got[j].String(), want)
				return nil
			}
		}
		// Put the placeholder back so that the whole structure can be compared.
		restored := make([]*labels.Matcher, 0, len(shape.matchers))
		restored = append(restored, got[:p]...)
		restored = append(restored, placeholder)
		restored = append(restored, got[p+len(given):]...)
		vs.LabelMatchers = restored
		return nil
	})
	if shapeErr != nil {
		return "", fmt.Errorf("rendered query changes the template's structure: %w", shapeErr)
	}
	if i != len(t.selectors) {
		return "", fmt.Errorf("rendered query changes the template's structure: %d vector selectors, template has %d", i, len(t.selectors))
	}
	if s := expr.String(); s != t.skeleton {
		return "", fmt.Errorf("rendered query changes the template's structure: %q, template %q", s, t.skeleton)
	}
	return query, nil
}

// RenderQuery parses template and renders it with matchers (see Template.Render).
func RenderQuery(template string, matchers []*labels.Matcher) (string, error) {
	t, err := ParseTemplate(template)
	if err != nil {
		return "", err
	}
	return t.Render(matchers)
}

func (t *Template) execute(matchers []*labels.Matcher) (string, error) {
	parts := make([]string, len(matchers))
	for i, m := range matchers {
		parts[i] = m.String()
	}
	var b strings.Builder
	if err := t.tmpl.Execute(&b, templateData{LabelMatchers: strings.Join(parts, ",")}); err != nil {
		return "", fmt.Errorf("query template: %w", err)
	}
	return b.String(), nil
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	return "{...}"
}
