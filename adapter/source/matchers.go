package source

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/foresight-dev/foresight/internal/clip"

	"github.com/prometheus/prometheus/model/labels"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Limits of a label selector a request may carry. Kubernetes bounds each key
// (a name of at most 63 characters, a prefix of at most 253) and each value
// (at most 63 characters) but neither the number of requirements nor of
// values: the library's handler chain parses any selector that fits in the
// request line, which the server bounds at 1 MiB with the headers. Here a
// selector is refused (400 Bad Request, with the same message on every
// path) above MaxSelectorBytes of text, before it is parsed, or above
// MaxSelectorValues values in all, before it is translated: an HPA's
// selector is a few requirements, and a regex alternation of more values
// than Prometheus matches as a set (256) is compiled as a regex.
const (
	MaxSelectorBytes  = 8 << 10
	MaxSelectorValues = 256
)

// SelectorLimitError is a label selector beyond MaxSelectorBytes or
// MaxSelectorValues. Its message is the whole answer to the client.
type SelectorLimitError struct{ msg string }

func (e *SelectorLimitError) Error() string { return e.msg }

// CheckSelectorText returns a *SelectorLimitError if the label selector
// text is longer than MaxSelectorBytes; name is its query parameter's name.
func CheckSelectorText(name, text string) error {
	if len(text) > MaxSelectorBytes {
		return &SelectorLimitError{msg: fmt.Sprintf("%s: %d bytes, more than the %d allowed", name, len(text), MaxSelectorBytes)}
	}
	return nil
}

// Requirement is one label requirement of a selector, in the terms of
// k8s.io/apimachinery/pkg/selection. It exists so that requirements can be
// built without Kubernetes' own validation (tests, fuzzing, other callers);
// RequirementMatchers validates and escapes everything itself.
type Requirement struct {
	// Key is the label name.
	Key string
	// Operator is the requirement's operator.
	Operator selection.Operator
	// Values are the operand values (one for =, ==, !=; any number for in, notin; none for exists, !).
	Values []string
}

// String renders r in label selector syntax: k=v, k!=v, k in (a,b), k, !k.
func (r Requirement) String() string {
	switch r.Operator {
	case selection.Exists:
		return r.Key
	case selection.DoesNotExist:
		return "!" + r.Key
	case selection.In, selection.NotIn:
		return fmt.Sprintf("%s %s (%s)", r.Key, r.Operator, strings.Join(r.Values, ","))
	case selection.GreaterThan:
		return r.Key + ">" + strings.Join(r.Values, ",")
	case selection.LessThan:
		return r.Key + "<" + strings.Join(r.Values, ",")
	}
	return r.Key + string(r.Operator) + strings.Join(r.Values, ",")
}

// SelectorMatchers turns the label selector of an HPA request for namespace
// into Prometheus label matchers. The returned matchers always end with
// namespaceLabel="namespace", so a query carrying them can only read series of
// that namespace. Label names must be valid Prometheus label names and must not
// start with "__"; values are taken literally (In and NotIn become anchored
// regex alternations of regexp.QuoteMeta'd values; Exists becomes =~".+",
// DoesNotExist becomes =""). The matchers select the series whose label
// sets labels.Selector.Matches selects, empty values included (see
// requirementMatcher; a differential fuzz test checks it). A requirement on the namespace label that the
// request's namespace does not satisfy makes the matchers select nothing (a
// list of no items, as Kubernetes answers a selector nothing satisfies); one it
// satisfies is redundant and dropped. Gt and Lt are not supported. A nil
// selector selects everything in the namespace.
func SelectorMatchers(namespaceLabel, namespace string, sel k8slabels.Selector) ([]*labels.Matcher, error) {
	reqs, err := selectorRequirements(sel)
	if err != nil {
		return nil, err
	}
	return RequirementMatchers(namespaceLabel, namespace, reqs)
}

// selectorRequirements lists the requirements of sel (none for a nil selector).
func selectorRequirements(sel k8slabels.Selector) ([]Requirement, error) {
	if sel == nil {
		return nil, nil
	}
	rs, selectable := sel.Requirements()
	if !selectable {
		return nil, errors.New("label selector selects nothing")
	}
	reqs := make([]Requirement, 0, len(rs))
	for _, r := range rs {
		reqs = append(reqs, Requirement{Key: r.Key(), Operator: r.Operator(), Values: r.ValuesUnsorted()})
	}
	return reqs, nil
}

// RequirementMatchers is SelectorMatchers for requirements given directly.
func RequirementMatchers(namespaceLabel, namespace string, reqs []Requirement) ([]*labels.Matcher, error) {
	if err := ValidateLabelName(namespaceLabel); err != nil {
		return nil, fmt.Errorf("namespace label: %w", err)
	}
	if namespace == "" {
		return nil, errors.New("namespace is required")
	}
	conflict := false
	out, err := requirementsMatchers(reqs, func(r Requirement) (bool, error) {
		if r.Key != namespaceLabel {
			return true, nil
		}
		conflict = conflict || !requirementMatches(r, namespace)
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if conflict {
		// No value of the namespace label is outside .*: nothing is selected.
		out = []*labels.Matcher{labels.MustNewMatcher(labels.MatchNotRegexp, namespaceLabel, ".*")}
	}
	return append(out, labels.MustNewMatcher(labels.MatchEqual, namespaceLabel, namespace)), nil
}

// ClusterSelectorMatchers turns the label selector of a request for a
// cluster-wide metric (one whose series are served to every namespace, as
// prometheus-adapter's `namespaced: false`) into label matchers: as
// SelectorMatchers, except that no namespace is enforced and a requirement
// on a namespace label is translated as any other.
func ClusterSelectorMatchers(sel k8slabels.Selector) ([]*labels.Matcher, error) {
	reqs, err := selectorRequirements(sel)
	if err != nil {
		return nil, err
	}
	return requirementsMatchers(reqs, func(Requirement) (bool, error) { return true, nil })
}

// requirementsMatchers translates reqs, within the selector limits, keeping
// those keep accepts.
func requirementsMatchers(reqs []Requirement, keep func(Requirement) (bool, error)) ([]*labels.Matcher, error) {
	values := 0
	for _, r := range reqs {
		values += len(r.Values)
	}
	if values > MaxSelectorValues {
		return nil, &SelectorLimitError{msg: fmt.Sprintf("label selector: %d values, more than the %d allowed", values, MaxSelectorValues)}
	}
	out := make([]*labels.Matcher, 0, len(reqs)+1)
	for _, r := range reqs {
		if ok, err := keep(r); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		m, ok, err := requirementMatcher(r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// AllNamespacesMatchers returns the matchers the forecast loop uses to read a
// rule's series of every namespace: namespaceLabel=~".+", so that series
// without a namespace are never loaded.
func AllNamespacesMatchers(namespaceLabel string) ([]*labels.Matcher, error) {
	if err := ValidateLabelName(namespaceLabel); err != nil {
		return nil, fmt.Errorf("namespace label: %w", err)
	}
	return []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, namespaceLabel, ".+")}, nil
}

// ClusterMatchers returns the matchers the forecast loop uses to read a
// cluster-wide rule's series: namespaceLabel=~".*", which selects the series
// of every namespace and those without one (it stands where a query's
// <<.LabelMatchers>> are, and restricts nothing).
func ClusterMatchers(namespaceLabel string) ([]*labels.Matcher, error) {
	if err := ValidateLabelName(namespaceLabel); err != nil {
		return nil, fmt.Errorf("namespace label: %w", err)
	}
	return []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, namespaceLabel, ".*")}, nil
}

// Match reports whether lbls satisfies every matcher. A missing label has the
// empty value, as in Prometheus.
func Match(lbls labels.Labels, matchers []*labels.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(lbls.Get(m.Name)) {
			return false
		}
	}
	return true
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ValidateLabelName checks that name is a legacy Prometheus label name
// ([a-zA-Z_][a-zA-Z0-9_]*) and not reserved (starting with "__").
func ValidateLabelName(name string) error {
	if !labelNameRE.MatchString(name) {
		return fmt.Errorf("invalid label name %q: must match [a-zA-Z_][a-zA-Z0-9_]*", shortName(name))
	}
	if strings.HasPrefix(name, "__") {
		return fmt.Errorf("invalid label name %q: names starting with __ are reserved", shortName(name))
	}
	return nil
}

func requirementMatches(r Requirement, v string) bool {
	switch r.Operator {
	case selection.Equals, selection.DoubleEquals, selection.In:
		for _, x := range r.Values {
			if x == v {
				return true
			}
		}
		return false
	case selection.NotEquals, selection.NotIn:
		for _, x := range r.Values {
			if x == v {
				return false
			}
		}
		return true
	case selection.Exists:
		return v != ""
	default:
		return false
	}
}

// requirementMatcher translates one requirement on a label other than the
// namespace label. ok is false when the requirement constrains nothing.
//
// The matchers mean what labels.Selector.Matches means for the label set of
// a Prometheus series, in which no label has the empty value (Prometheus
// drops such labels): a missing label is not a label with an empty value.
// So a requirement that a label have the empty value (k=, k==, k in ()
// with only empty values) matches nothing, an empty value among others of
// k in (...) is dropped, and a requirement that a label not have the empty
// value (k!=, k notin with only empty values) holds for every series.
func requirementMatcher(r Requirement) (m *labels.Matcher, ok bool, err error) {
	if err := ValidateLabelName(r.Key); err != nil {
		return nil, false, err
	}
	switch r.Operator {
	case selection.Equals, selection.DoubleEquals, selection.NotEquals:
		if len(r.Values) != 1 {
			return nil, false, fmt.Errorf("%s: %s needs exactly one value, got %d", r, r.Operator, len(r.Values))
		}
	case selection.In, selection.NotIn:
		if len(r.Values) == 0 {
			return nil, false, fmt.Errorf("%s: %s needs at least one value", r, r.Operator)
		}
	}
	switch r.Operator {
	case selection.Equals, selection.DoubleEquals, selection.In:
		values := nonEmpty(r.Values)
		switch {
		case len(values) == 0:
			m, err = labels.NewMatcher(labels.MatchNotRegexp, r.Key, ".*") // no series has the empty value
		case len(values) == 1 && r.Operator != selection.In:
			m, err = labels.NewMatcher(labels.MatchEqual, r.Key, values[0])
		default:
			m, err = labels.NewMatcher(labels.MatchRegexp, r.Key, alternation(values))
		}
	case selection.NotEquals, selection.NotIn:
		values := nonEmpty(r.Values)
		switch {
		case len(values) == 0:
			return nil, false, nil // every series' value, or its absence, differs from the empty value
		case len(values) == 1 && r.Operator == selection.NotEquals:
			m, err = labels.NewMatcher(labels.MatchNotEqual, r.Key, values[0])
		default:
			m, err = labels.NewMatcher(labels.MatchNotRegexp, r.Key, alternation(values))
		}
	case selection.Exists:
		m, err = labels.NewMatcher(labels.MatchRegexp, r.Key, ".+")
	case selection.DoesNotExist:
		m, err = labels.NewMatcher(labels.MatchEqual, r.Key, "")
	default:
		return nil, false, fmt.Errorf("%s: operator %q is not supported", r, r.Operator)
	}
	return m, err == nil, err
}

// nonEmpty returns values without the empty ones (values itself when it has none).
func nonEmpty(values []string) []string {
	if !slices.Contains(values, "") {
		return values
	}
	out := make([]string, 0, len(values)-1)
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// alternation builds a regex that matches exactly one of values (Prometheus
// anchors regex matchers at both ends).
func alternation(values []string) string {
	var b strings.Builder
	b.WriteString("(?:")
	for i, v := range values {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(regexp.QuoteMeta(v))
	}
	b.WriteByte(')')
	return b.String()
}

// shortName shortens a label name or value for an error message.
func shortName(s string) string {
	return clip.Text(s, 64)
}
