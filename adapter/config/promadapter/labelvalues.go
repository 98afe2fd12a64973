package promadapter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/foresight-dev/foresight/adapter/source"
)

// prometheus-adapter's .LabelValuesByName maps each label of a request's matchers to the
// requested values, joined by "|" for a =~ matcher, and pastes them into PromQL unescaped.
// Foresight reads the series of every object at once and never pastes request values, so
// an imported query takes the one form of it that has a safe equivalent: a whole matcher
// value, `pod=~"<<index .LabelValuesByName "pod">>"` (or `<<.LabelValuesByName.pod>>`), on
// the label the key names. Where the query is grouped by that label, such a matcher
// becomes `pod!=""` (every object that has the label, as the request named objects that
// have it); where it is not (a pods metric served for namespaces), `pod=~""`, as
// prometheus-adapter renders a label the request's matchers lack. The selector is then
// scoped by <<.LabelMatchers>>. Any other use is refused.

// labelValuesField is the field of a metricsQuery's data that prometheus-adapter fills with
// the request's label values.
const labelValuesField = "LabelValuesByName"

// labelValuesMark starts the stand-in of a label's values while an imported query is parsed.
const labelValuesMark = "FORESIGHTLABELVALUES"

// labelValuesKeys returns the keys of .LabelValuesByName the template reads, in order of
// first use, and whether it uses the field otherwise too (ranging over it, say).
func labelValuesKeys(root parse.Node) (keys []string, other bool) {
	add := func(k string) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			if len(n.Args) == 3 && isIdentifier(n.Args[0], "index") && isLabelValues(n.Args[1]) {
				if s, ok := n.Args[2].(*parse.StringNode); ok {
					add(s.Text)
					return
				}
			}
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			switch {
			case len(n.Ident) == 2 && n.Ident[0] == labelValuesField:
				add(n.Ident[1])
			case len(n.Ident) > 0 && n.Ident[0] == labelValuesField:
				other = true
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	walk(root)
	return keys, other
}

func isIdentifier(n parse.Node, name string) bool {
	id, ok := n.(*parse.IdentifierNode)
	return ok && id.Ident == name
}

func isLabelValues(n parse.Node) bool {
	f, ok := n.(*parse.FieldNode)
	return ok && len(f.Ident) == 1 && f.Ident[0] == labelValuesField
}

// labelValuesStandIns maps each key to the text that stands in for its values while the
// query is parsed.
func labelValuesStandIns(keys []string) map[string]string {
	m := make(map[string]string, len(keys))
	for i, k := range keys {
		m[k] = labelValuesMark + strconv.Itoa(i) + "X"
	}
	return m
}

// rewriteLabelValues turns the stand-ins of .LabelValuesByName in text, a rendered query,
// into Foresight's form (see above), for a query grouped by groupBy. It returns text as it
// is when the query uses no label values.
func rewriteLabelValues(text string, standIns map[string]string, groupBy []string) (string, error) {
	if !strings.Contains(text, labelValuesMark) {
		return text, nil
	}
	keyOf := make(map[string]string, len(standIns))
	for k, v := range standIns {
		keyOf[v] = k
	}
	expr, err := source.ParseQuery(text)
	if err != nil {
		return "", fmt.Errorf("query renders to invalid PromQL with .%s: %w", labelValuesField, err)
	}
	var problems []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		var kept []*labels.Matcher
		scoped, rewritten := false, false
		for _, m := range vs.LabelMatchers {
			if m.Name == importMatcherLabel {
				scoped = true
			}
			if !strings.Contains(m.Value, labelValuesMark) {
				kept = append(kept, m)
				continue
			}
			key, whole := keyOf[m.Value]
			switch {
			case !whole || (m.Type != labels.MatchEqual && m.Type != labels.MatchRegexp):
				problems = append(problems, fmt.Sprintf("%s: .%s is supported only as the whole value of an = or =~ matcher (label=~\"<<index .%s \\\"label\\\">>\"): Foresight reads every object's series at once and never pastes request values into PromQL", m.Name, labelValuesField, labelValuesField))
			case key != m.Name:
				problems = append(problems, fmt.Sprintf("%s: matched against the values of label %q: Foresight reads every object's series at once and cannot relate two labels' values; match the label against its own values", m.Name, key))
			case !slices.Contains(groupBy, key):
				// A request names no objects by this label (a pods metric asked for a
				// namespace): prometheus-adapter renders the values of a label its
				// matchers lack as "", and so does this.
				kept = append(kept, labels.MustNewMatcher(m.Type, m.Name, ""))
				rewritten = true
			default:
				kept = append(kept, labels.MustNewMatcher(labels.MatchNotEqual, m.Name, ""))
				rewritten = true
			}
		}
		if rewritten && !scoped {
			kept = append([]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, importMatcherLabel, importMatcherValue)}, kept...)
		}
		vs.LabelMatchers = kept
		return nil
	})
	if len(problems) > 0 {
		return "", fmt.Errorf(".%s: %s", labelValuesField, strings.Join(problems, "; "))
	}
	out := expr.String()
	if strings.Contains(out, labelValuesMark) {
		return "", fmt.Errorf(".%s is supported only as the whole value of a label matcher (label=~\"<<index .%s \\\"label\\\">>\"), not elsewhere in the query", labelValuesField, labelValuesField)
	}
	return out, nil
}
