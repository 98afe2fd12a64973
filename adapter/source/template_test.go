package source

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// TestUnscopedSelectors: with AllowUnscopedSelectors a selector may go without
// <<.LabelMatchers>> (kube-prometheus' node CPU query) and is rendered as
// written, but one selector at least must carry the matchers.
func TestUnscopedSelectors(t *testing.T) {
	const text = `sum by (node) (1 - irate(node_cpu_seconds_total{mode="idle"}[60s]) * on(namespace, pod) group_left(node) kube_pod_info{<<.LabelMatchers>>})`
	if _, err := ParseTemplate(text); err == nil || !strings.Contains(err.Error(), "vector selector node_cpu_seconds_total lacks <<.LabelMatchers>>") {
		t.Fatalf("strict parse: %v", err)
	}
	opts := TemplateOptions{AllowUnscopedSelectors: true}
	tmpl, err := ParseTemplateWith(text, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render([]*labels.Matcher{labels.MustNewMatcher(labels.MatchNotEqual, "node", "")})
	if err != nil {
		t.Fatal(err)
	}
	want := `sum by (node) (1 - irate(node_cpu_seconds_total{mode="idle"}[60s]) * on(namespace, pod) group_left(node) kube_pod_info{node!=""})`
	if got != want {
		t.Errorf("rendered\n got %s\nwant %s", got, want)
	}
	for _, bad := range []string{`sum(a{mode="idle"}) / sum(b)`, `up`} {
		if _, err := ParseTemplateWith(bad, opts); err == nil || !strings.Contains(err.Error(), "no vector selector carries <<.LabelMatchers>>") {
			t.Errorf("%s: %v, want no selector carries <<.LabelMatchers>>", bad, err)
		}
	}
	// The placeholder outside braces is still counted against the scoped selectors.
	if _, err := ParseTemplateWith("a{<<.LabelMatchers>>} + b # <<.LabelMatchers>>", opts); err == nil || !strings.Contains(err.Error(), "appears 2 times but only 1") {
		t.Errorf("placeholder in a comment: %v", err)
	}
}

// TestTemplateErrors: every problem of a template is on one line, and
// placeholders are named as the user wrote them, with the parse position
// counted in the query shown.
func TestTemplateErrors(t *testing.T) {
	for _, x := range []struct {
		name, text string
		opts       TemplateOptions
		want       string
	}{
		{"two unscoped selectors", `1 - a / foresight_sample_series`, TemplateOptions{Series: "foresight_sample_series"},
			"query template: vector selector a lacks <<.LabelMatchers>> inside its braces; vector selector <<.Series>> lacks <<.LabelMatchers>> inside its braces"},
		{"error inside the placeholder", `custom_metric::x::<<.LabelMatchers>>::y`, TemplateOptions{},
			`query template renders to invalid PromQL: 1:19 (in what <<.LabelMatchers>> renders to) of "custom_metric::x::<<.LabelMatchers>>::y": unexpected "="`},
		{"error after the placeholders", "sum(s{<<.LabelMatchers>>}) by (a) by (b)", TemplateOptions{Series: "s"},
			`query template renders to invalid PromQL: 1:45 of "sum(<<.Series>>{<<.LabelMatchers>>}) by (a) by (b)": unexpected <by>`},
		{"second line", "sum(s{<<.LabelMatchers>>})\n  by (a) by (b)", TemplateOptions{},
			`query template renders to invalid PromQL: 2:10 of "sum(s{<<.LabelMatchers>>})\n  by (a) by (b)": unexpected <by>`},
	} {
		_, err := ParseTemplateWith(x.text, x.opts)
		if err == nil || err.Error() != x.want {
			t.Errorf("%s:\n got %v\nwant %s", x.name, err, x.want)
		}
	}
}
