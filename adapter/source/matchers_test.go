package source

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

const testTemplate = `sum by (namespace, service) (rate(envoy_cluster_upstream_rq_total{job="envoy",<<.LabelMatchers>>}[1m])) / on (namespace, service) group_left sum by (namespace, service) (up{<<.LabelMatchers>>})`

// seriesSet is what a hostile selector must never reach beyond.
var testSeries = []labels.Labels{
	labels.FromStrings("namespace", "team-a", "service", "web", "app", "web"),
	labels.FromStrings("namespace", "team-a", "service", "api", "app", "api"),
	labels.FromStrings("namespace", "team-b", "service", "web", "app", "web"),
	labels.FromStrings("namespace", "team-b", "service", "secret", "app", `x"} or vector(1)`),
}

func TestSelectorMatchers(t *testing.T) {
	tests := []struct {
		name     string
		selector string
		want     []string // matchers' String(), namespace last
		matches  []int    // indexes of testSeries matched in namespace team-a
	}{
		{"nil selector", "", []string{`namespace="team-a"`}, []int{0, 1}},
		{"equals", "app=web", []string{`app="web"`, `namespace="team-a"`}, []int{0}},
		{"double equals", "app==web", []string{`app="web"`, `namespace="team-a"`}, []int{0}},
		{"not equals", "app!=web", []string{`app!="web"`, `namespace="team-a"`}, []int{1}},
		{"in", "app in (web, api)", []string{`app=~"(?:api|web)"`, `namespace="team-a"`}, []int{0, 1}},
		{"notin", "app notin (web)", []string{`app!~"(?:web)"`, `namespace="team-a"`}, []int{1}},
		{"exists", "app", []string{`app=~".+"`, `namespace="team-a"`}, []int{0, 1}},
		{"does not exist", "!app", []string{`app=""`, `namespace="team-a"`}, nil},
		{"same namespace is redundant", "namespace=team-a", []string{`namespace="team-a"`}, []int{0, 1}},
		{"dotted value", "app in (a.b, c-d)", []string{`app=~"(?:a\\.b|c-d)"`, `namespace="team-a"`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sel k8slabels.Selector
			if tc.selector != "" {
				var err error
				if sel, err = k8slabels.Parse(tc.selector); err != nil {
					t.Fatal(err)
				}
			}
			ms, err := SelectorMatchers("namespace", "team-a", sel)
			if err != nil {
				t.Fatalf("SelectorMatchers: %v", err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.String())
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("matchers = %v, want %v", got, tc.want)
			}
			var matched []int
			for i, s := range testSeries {
				if Match(s, ms) {
					matched = append(matched, i)
				}
			}
			if !slices.Equal(matched, tc.matches) {
				t.Errorf("matched %v, want %v", matched, tc.matches)
			}
			q, err := RenderQuery(testTemplate, ms)
			if err != nil {
				t.Fatalf("RenderQuery: %v", err)
			}
			assertNamespaceEnforced(t, q, "namespace", "team-a")
		})
	}
}

// assertNamespaceEnforced parses q and checks that every vector selector has
// namespaceLabel="ns", and no other matcher on that label but one that selects
// nothing (a selector the namespace cannot satisfy).
func assertNamespaceEnforced(t testing.TB, q, nsLabel, ns string) {
	t.Helper()
	expr, err := ParseQuery(q)
	if err != nil {
		t.Fatalf("rendered query %q does not parse: %v", q, err)
	}
	n := 0
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		n++
		found := false
		for _, m := range vs.LabelMatchers {
			switch {
			case m.Name != nsLabel:
			case m.Type == labels.MatchEqual && m.Value == ns:
				found = true
			case m.Type == labels.MatchNotRegexp && m.Value == ".*":
			default:
				t.Errorf("selector %s has namespace matcher %s", vs, m)
			}
		}
		if !found {
			t.Errorf("selector %s lacks %s=%q", vs, nsLabel, ns)
		}
		return nil
	})
	if n == 0 {
		t.Errorf("query %q has no vector selector", q)
	}
}

func TestHostileRequirements(t *testing.T) {
	long := strings.Repeat(`a"}\`, 16*1024) // 64 KiB
	hostile := []string{
		`x"} or vector(1) or up{namespace="team-b`,
		`\"} or {__name__=~".+`,
		`\`,
		`\\`,
		`"`,
		"}",
		` or `,
		`.*`,
		`.+|team-b`,
		`(?i)WEB`,
		`^web$`,
		"web\nnamespace=\"team-b\"",
		"\x00",
		"日本語🙂",
		"\u202e",
		long,
		"",
	}
	ops := []selection.Operator{selection.Equals, selection.NotEquals, selection.In, selection.NotIn}
	for _, v := range hostile {
		for _, op := range ops {
			reqs := []Requirement{{Key: "app", Operator: op, Values: []string{v}}}
			ms, err := RequirementMatchers("namespace", "team-a", reqs)
			if err != nil {
				t.Fatalf("%s %q: %v", op, shortName(v), err)
			}
			q, err := RenderQuery(testTemplate, ms)
			if err != nil {
				t.Fatalf("%s %q: RenderQuery: %v", op, shortName(v), err)
			}
			assertNamespaceEnforced(t, q, "namespace", "team-a")
			// The value round-trips literally: the parsed matcher equals the built one.
			for _, s := range testSeries {
				if Match(s, ms) && s.Get("namespace") != "team-a" {
					t.Errorf("%s %q matched %s", op, shortName(v), s)
				}
			}
			// Regex operators in values are literal.
			if op == selection.Equals || op == selection.In {
				lit := labels.FromStrings("namespace", "team-a", "app", v)
				if !Match(lit, ms) && v != "" {
					t.Errorf("%s %q does not match its own literal value", op, shortName(v))
				}
				if v == ".*" && Match(testSeries[0], ms) {
					t.Errorf("regex value .* matched app=web")
				}
			}
		}
		// The namespace label can never be pointed elsewhere: another namespace selects nothing.
		for _, op := range []selection.Operator{selection.Equals, selection.In} {
			ms, err := RequirementMatchers("namespace", "team-a", []Requirement{{Key: "namespace", Operator: op, Values: []string{v}}})
			if err != nil {
				t.Fatalf("namespace %s %q: %v", op, shortName(v), err)
			}
			for _, ns := range []string{"team-a", v} {
				if Match(labels.FromStrings("namespace", ns, "app", "web"), ms) {
					t.Errorf("namespace %s %q: the matchers select a series of namespace %q", op, shortName(v), shortName(ns))
				}
			}
		}
	}
}

func TestRequirementErrors(t *testing.T) {
	tests := []struct {
		name string
		reqs []Requirement
		want string
	}{
		{"invalid label name", []Requirement{{Key: `app"}`, Operator: selection.Equals, Values: []string{"x"}}}, "invalid label name"},
		{"dotted label name", []Requirement{{Key: "app.kubernetes.io/name", Operator: selection.Equals, Values: []string{"x"}}}, "invalid label name"},
		{"reserved __name__", []Requirement{{Key: "__name__", Operator: selection.Equals, Values: []string{"up"}}}, "reserved"},
		{"empty key", []Requirement{{Key: "", Operator: selection.Exists}}, "invalid label name"},
		// Messages show the requirement as the selector wrote it.
		{"greater than", []Requirement{{Key: "a", Operator: selection.GreaterThan, Values: []string{"1"}}}, `a>1: operator "gt" is not supported`},
		{"equals two values", []Requirement{{Key: "a", Operator: selection.Equals, Values: []string{"1", "2"}}}, "a=1,2: = needs exactly one value, got 2"},
		{"in no values", []Requirement{{Key: "a", Operator: selection.In}}, "a in (): in needs at least one value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RequirementMatchers("namespace", "team-a", tc.reqs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := RequirementMatchers("namespace", "", nil); err == nil {
		t.Error("empty namespace accepted")
	}
	if _, err := RequirementMatchers("bad-label", "x", nil); err == nil {
		t.Error("invalid namespace label accepted")
	}
}

func TestRenderRejectsInjectedStructure(t *testing.T) {
	tmpl, err := ParseTemplate(testTemplate)
	if err != nil {
		t.Fatal(err)
	}
	// Matchers are always rendered with quoting, so build a hostile "matcher"
	// whose name the parser would read as structure: Render must refuse it.
	bad := []*labels.Matcher{{Type: labels.MatchEqual, Name: `x="1"} or up{y`, Value: "2"}}
	if q, err := tmpl.Render(bad); err == nil {
		// Quoted names are valid UTF-8 label names; the structure must still be intact.
		assertSameStructure(t, tmpl, q)
	}
	if _, err := ParseTemplate(`foo{<<.LabelMatchers>>} or bar`); err == nil {
		t.Error("template with a bare selector accepted")
	}
	if _, err := ParseTemplate(`foo{<<.LabelMatchers>>,<<.LabelMatchers>>}`); err == nil {
		t.Error("template with two placeholders in one selector accepted")
	}
	for _, tmpl := range []string{
		"label_replace(foo{<<.LabelMatchers>>}, \"a\", `<<.LabelMatchers>>`, \"b\", \"(.*)\")",
		"foo{<<.LabelMatchers>>} # <<.LabelMatchers>>",
	} {
		if _, err := ParseTemplate(tmpl); err == nil || !strings.Contains(err.Error(), "appears 2 times") {
			t.Errorf("template %s with a placeholder outside braces: %v", tmpl, err)
		}
	}
	if _, err := ParseTemplate(`vector(1)`); err == nil {
		t.Error("template without selectors accepted")
	}
}

func assertSameStructure(t *testing.T, tmpl *Template, q string) {
	t.Helper()
	expr, err := ParseQuery(q)
	if err != nil {
		t.Fatalf("rendered %q does not parse: %v", q, err)
	}
	n := 0
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if _, ok := node.(*parser.VectorSelector); ok {
			n++
		}
		return nil
	})
	if n != len(tmpl.selectors) {
		t.Errorf("rendered %q has %d selectors, template %d", q, n, len(tmpl.selectors))
	}
}

func FuzzSelectorMatchers(f *testing.F) {
	f.Add("app", "web", uint8(0), "team-a", "app=web,tier in (a,b)")
	f.Add("app", `x"} or vector(1) or up{namespace="team-b`, uint8(2), "team-a", "")
	f.Add("namespace", "team-b", uint8(0), "team-a", "namespace=team-b")
	f.Add("app", `\`, uint8(3), "ns", "!app")
	f.Add("a_b", ".*|(", uint8(1), "ns\n}", "a notin (x)")
	f.Add("__name__", "up", uint8(0), "ns", "x,!y")
	ops := []selection.Operator{selection.Equals, selection.NotEquals, selection.In, selection.NotIn,
		selection.Exists, selection.DoesNotExist, selection.GreaterThan, selection.DoubleEquals}
	tmpl, err := ParseTemplate(testTemplate)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, value string, op uint8, namespace, selector string) {
		check := func(ms []*labels.Matcher) {
			q, err := tmpl.Render(ms)
			if err != nil {
				// Refusing is safe, but matchers with valid UTF-8 values must always render.
				for _, m := range ms {
					if !utf8.ValidString(m.Value) {
						return
					}
				}
				t.Fatalf("valid matchers %v do not render: %v", ms, err)
			}
			assertNamespaceEnforced(t, q, "namespace", namespace)
			assertSameStructure(t, tmpl, q)
			other := labels.FromStrings("namespace", namespace+"x", key, value)
			if Match(other, ms) {
				t.Fatalf("matchers %v match another namespace", ms)
			}
		}
		reqs := []Requirement{{Key: key, Operator: ops[int(op)%len(ops)], Values: strings.Split(value, ",")}}
		if ms, err := RequirementMatchers("namespace", namespace, reqs); err == nil {
			if last := ms[len(ms)-1]; last.Name != "namespace" || last.Type != labels.MatchEqual || last.Value != namespace {
				t.Fatalf("last matcher %v does not enforce namespace %q", last, namespace)
			}
			check(ms)
		}
		if sel, err := k8slabels.Parse(selector); err == nil {
			if ms, err := SelectorMatchers("namespace", namespace, sel); err == nil {
				check(ms)
			}
		}
	})
}

func BenchmarkSelectorMatchersAndMatch(b *testing.B) {
	sel, err := k8slabels.Parse("app in (web, api, worker),tier!=canary,team")
	if err != nil {
		b.Fatal(err)
	}
	series := make([]labels.Labels, 1000)
	for i := range series {
		series[i] = labels.FromStrings("app", []string{"web", "api", "worker", "batch"}[i%4], "namespace", "team-a",
			"service", "svc", "team", "t", "tier", []string{"prod", "canary"}[i%2])
	}
	b.Run("SelectorMatchers", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := SelectorMatchers("namespace", "team-a", sel); err != nil {
				b.Fatal(err)
			}
		}
	})
	eq, err := k8slabels.Parse("app=web,tier!=canary")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("SelectorMatchersEqualityOnly", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := SelectorMatchers("namespace", "team-a", eq); err != nil {
				b.Fatal(err)
			}
		}
	})
	cache := NewMatcherCache(1 << 20)
	b.Run("MatcherCacheHit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cache.SelectorMatchers("namespace", "team-a", sel); err != nil {
				b.Fatal(err)
			}
		}
	})
	ms, err := SelectorMatchers("namespace", "team-a", sel)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Match1000Series", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			for _, s := range series {
				if Match(s, ms) {
					n++
				}
			}
		}
		if n == 0 {
			b.Fatal("nothing matched")
		}
	})
}

func TestMatcherCache(t *testing.T) {
	sel := func(s string) k8slabels.Selector {
		x, err := k8slabels.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	one, err := SelectorMatchers("namespace", "other", sel("app in (a,b)"))
	if err != nil {
		t.Fatal(err)
	}
	c := NewMatcherCache(matcherSize(one) * 5 / 2) // room for two entries
	a1, err := c.SelectorMatchers("namespace", "ns", sel("app in (a,b)"))
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := c.SelectorMatchers("namespace", "ns", sel("app in (b,a)")) // same selector, other order
	if &a1[0] != &a2[0] {
		t.Error("equal selectors not served from the cache")
	}
	other, _ := c.SelectorMatchers("namespace", "other", sel("app in (a,b)"))
	if other[len(other)-1].Value != "other" {
		t.Fatalf("cache mixed namespaces: %v", other)
	}
	if ms, err := c.SelectorMatchers("namespace", "ns", sel("namespace=x")); err != nil || Match(labels.FromStrings("namespace", "ns"), ms) {
		t.Errorf("a conflicting namespace through the cache: %v %v, want matchers that select nothing", ms, err)
	}
	_, _ = c.SelectorMatchers("namespace", "ns", sel("app in (c,d)"))
	if c.Len() != 2 || c.Bytes() > c.maxBytes {
		t.Errorf("cache holds %d entries of %d bytes, bound is 2 of %d", c.Len(), c.Bytes(), c.maxBytes)
	}
	if ms, _ := c.SelectorMatchers("namespace", "ns", nil); len(ms) != 1 || ms[0].Value != "ns" {
		t.Errorf("nil selector: %v", ms)
	}

	// Text selectors: parsed once, same matchers as the parsed form, errors not cached.
	raw := NewMatcherCache(1 << 20)
	r1, err := raw.ParseSelectorMatchers("namespace", "ns", "app in (a,b),tier!=x")
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := raw.ParseSelectorMatchers("namespace", "ns", "app in (a,b),tier!=x")
	if &r1[0] != &r2[0] {
		t.Error("equal selector texts not served from the cache")
	}
	want, _ := SelectorMatchers("namespace", "ns", sel("app in (a,b),tier!=x"))
	if fmt.Sprint(r1) != fmt.Sprint(want) {
		t.Errorf("text selector gives %v, parsed selector %v", r1, want)
	}
	if _, err := raw.ParseSelectorMatchers("namespace", "ns", `app="x"} or vector(1)`); err == nil {
		t.Error("unparsable selector text accepted")
	}
	if ms, err := raw.ParseSelectorMatchers("namespace", "ns", "namespace=other"); err != nil || Match(labels.FromStrings("namespace", "ns"), ms) {
		t.Errorf("a namespace conflict through a text selector: %v %v, want matchers that select nothing", ms, err)
	}
	if raw.Len() != 2 {
		t.Errorf("text cache holds %d entries, want 2 (errors are not cached)", raw.Len())
	}
}
