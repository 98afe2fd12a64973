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

// placeholderMatcher is the marker matcher.
var placeholderMatcher = labels.MustNewMatcher(labels.MatchEqual, placeholderLabel, "x")

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
	matchers []string
	// placeholder is -1 in a selector left as written (TemplateOptions.AllowUnscopedSelectors).
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

// TemplateOptions relax or explain ParseTemplateWith's checks for one use.
type TemplateOptions struct {
	// AllowUnscopedSelectors accepts vector selectors without <<.LabelMatchers>>
	// as long as at least one selector carries it; Render leaves them as written.
	// Only for queries rendered with fixed matchers, never with matchers built
	// from a request: an unscoped selector reads every series it names.
	AllowUnscopedSelectors bool
	// Series is the metric name the caller rendered <<.Series>> to before
	// parsing (none when empty): errors name it <<.Series>>.
	Series string
}

// ParseTemplate parses a query template and checks that it renders to valid
// PromQL in which every vector selector carries the label matchers.
func ParseTemplate(text string) (*Template, error) {
	return ParseTemplateWith(text, TemplateOptions{})
}

// ParseTemplateWith is ParseTemplate with options o.
func ParseTemplateWith(text string, o TemplateOptions) (*Template, error) {
	tmpl, err := template.New("query").Delims("<<", ">>").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("query template: %w", err)
	}
	t := &Template{text: text, tmpl: tmpl}
	rendered, err := t.execute([]*labels.Matcher{placeholderMatcher})
	if err != nil {
		return nil, err
	}
	expr, err := ParseQuery(rendered)
	if err != nil {
		return nil, o.invalidPromQL(rendered, err)
	}
	var problems []string
	scoped := 0
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		shape := selectorShape{placeholder: -1}
		for i, m := range vs.LabelMatchers {
			if m.Name == placeholderLabel {
				if shape.placeholder >= 0 {
					problems = append(problems, fmt.Sprintf("vector selector %s carries <<.LabelMatchers>> twice", o.selectorName(vs)))
				}
				shape.placeholder = i
			}
			shape.matchers = append(shape.matchers, m.String())
		}
		if shape.placeholder >= 0 {
			scoped++
		} else if !o.AllowUnscopedSelectors {
			problems = append(problems, fmt.Sprintf("vector selector %s lacks <<.LabelMatchers>> inside its braces", o.selectorName(vs)))
		}
		t.selectors = append(t.selectors, shape)
		return nil
	})
	// One line per query, so that every problem is read with its file, line and field.
	if len(problems) > 0 {
		return nil, fmt.Errorf("query template: %s", strings.Join(problems, "; "))
	}
	switch {
	case len(t.selectors) == 0:
		return nil, errors.New("query template has no vector selector")
	case scoped == 0:
		return nil, errors.New("query template: no vector selector carries <<.LabelMatchers>> inside its braces")
	}
	// Every <<.LabelMatchers>> must be inside a selector's braces: one in a
	// string literal or a comment would carry matcher text elsewhere.
	if c := strings.Count(rendered, placeholderLabel); c != scoped {
		return nil, fmt.Errorf("query template: <<.LabelMatchers>> appears %d times but only %d are inside vector selector braces (not in strings or comments)", c, scoped)
	}
	t.skeleton = expr.String()
	return t, nil
}

// invalidPromQL describes err, the parser's error on rendered (the template
// rendered with placeholderMatcher), in the text the user wrote: the query is
// shown with <<.LabelMatchers>> (and <<.Series>>) back in place, and the
// position is counted in what is shown.
func (o TemplateOptions) invalidPromQL(rendered string, err error) error {
	var perrs parser.ParseErrors
	if !errors.As(err, &perrs) || len(perrs) == 0 {
		return fmt.Errorf("query template renders to invalid PromQL: %w", err)
	}
	first := perrs[0]
	type placeholder struct {
		internal, written string
		name              bool // internal is a name: replaced only where it is not part of a longer one
	}
	back := []placeholder{{placeholderMatcher.String(), "<<.LabelMatchers>>", false}}
	if o.Series != "" {
		back = append(back, placeholder{o.Series, "<<.Series>>", true})
	}
	pos, at, in := int(first.PositionRange.Start), -1, ""
	var b strings.Builder
	for i := 0; i < len(rendered); {
		if at < 0 && i >= pos {
			at = b.Len()
		}
		replaced := false
		for _, r := range back {
			if strings.HasPrefix(rendered[i:], r.internal) && (!r.name || !nameByte(rendered, i-1) && !nameByte(rendered, i+len(r.internal))) {
				if at < 0 && pos < i+len(r.internal) {
					at, in = b.Len(), r.written
				}
				b.WriteString(r.written)
				i += len(r.internal)
				replaced = true
				break
			}
		}
		if !replaced {
			b.WriteByte(rendered[i])
			i++
		}
	}
	shown := b.String()
	if at < 0 {
		at = len(shown)
	}
	line, col := 1+strings.Count(shown[:at], "\n"), at-strings.LastIndex(shown[:at], "\n")
	where := ""
	if in != "" {
		where = " (in what " + in + " renders to)"
	}
	return fmt.Errorf("query template renders to invalid PromQL: %d:%d%s of %q: %w", line, col, where, shown, first.Err)
}

// nameByte reports whether s[i] exists and may be part of a metric or label name.
func nameByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Text returns the template as written.
func (t *Template) Text() string { return t.text }

// Render inserts matchers where <<.LabelMatchers>> is and verifies the result:
// it must parse, have exactly the template's structure, and every vector
// selector that had the placeholder must carry every matcher, in place (the
// others, of TemplateOptions.AllowUnscopedSelectors, are as written).
// Whatever the matchers' values, the rendered query therefore cannot select
// other series than the template restricted by the matchers.
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
		if shape.placeholder < 0 {
			// Left as written: the structure comparison below checks it.
			return nil
		}
		if len(got) != len(shape.matchers)-1+len(given) {
			shapeErr = fmt.Errorf("vector selector %s has %d matchers, want %d", TemplateOptions{}.selectorName(vs), len(got), len(shape.matchers)-1+len(given))
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
				shapeErr = fmt.Errorf("vector selector %s: matcher %d is %s, want %s", TemplateOptions{}.selectorName(vs), j, got[j].String(), want)
				return nil
			}
		}
		// Put the placeholder back so that the whole structure can be compared.
		restored := make([]*labels.Matcher, 0, len(shape.matchers))
		restored = append(restored, got[:p]...)
		restored = append(restored, placeholderMatcher)
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

// selectorName names vs in errors: its metric name, <<.Series>> for o.Series.
func (o TemplateOptions) selectorName(vs *parser.VectorSelector) string {
	if o.Series != "" && vs.Name == o.Series {
		return "<<.Series>>"
	}
	if vs.Name != "" {
		return vs.Name
	}
	return "{...}"
}
