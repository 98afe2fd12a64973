package strictyaml

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestSyntaxErrorLine checks that invalid YAML is reported at the line of the problem,
// not at the line where yaml.v3 says the enclosing block starts.
func TestSyntaxErrorLine(t *testing.T) {
	cases := []struct {
		name, doc string
		want      string
	}{
		{"indentation deep in a mapping", "a:\n  b: 1\n  c:\n    d: 2\n    e: 3\n  f: 4\n   g: 5\n", "f.yaml:7: invalid YAML: mapping values are not allowed in this context"},
		{"key outdented in a nested mapping", "spec:\n  services:\n    - name: a\n      port: 1\n     extra: 2\n", "f.yaml:5: invalid YAML: did not find expected '-' indicator"},
		{"item after a key in a list", "a:\n  - x\n  - y\n  z: 1\n", "f.yaml:4: invalid YAML: did not find expected '-' indicator"},
		{"unclosed flow list", "apiVersion: [\n", "f.yaml:1: invalid YAML: did not find expected node content"},
		{"bad character", "a: 1\nb: @x\n", "f.yaml:2: invalid YAML: found character that cannot start any token"},
		{"unknown anchor", "a: 1\n\nb: *nope\n", "f.yaml:3: invalid YAML: unknown anchor 'nope' referenced"},
		{"second document", "k: v\n---\nx: 1\ny: [\n", "f.yaml:4: invalid YAML: did not find expected node content"},
		{"CR line breaks", "a:\r  b: 1\r  c: 2\r   d: 3\r", "f.yaml:4: invalid YAML: mapping values are not allowed in this context"},
		{"CRLF line breaks", "a:\r\n  b: 1\r\n  c: 2\r\n   d: 3\r\n", "f.yaml:4: invalid YAML: mapping values are not allowed in this context"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Documents([]byte(c.doc), "f.yaml")
			if err == nil || err.Error() != c.want {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yaml" {
				t.Fatalf("%T is not Errors of *Error", err)
			}
		})
	}
}

// TestDocuments: empty documents are left out, the others kept with their lines.
func TestDocuments(t *testing.T) {
	docs, err := Documents([]byte("a: 1\n---\n---\nb: 2\n--- ~\n---\n# only a comment\n---\n"), "f.yaml")
	if err != nil || len(docs) != 2 {
		t.Fatalf("docs %d, err %v", len(docs), err)
	}
	if IsNull(docs[0]) || IsNull(docs[1]) || docs[1].Line != 3 {
		t.Errorf("documents %+v", docs)
	}
	for _, data := range []string{"a: 1\n---\n", "---\na: 1\n---\n", "---\n---\na: 1\n"} {
		if docs, err := Documents([]byte(data), "f.yaml"); err != nil || len(docs) != 1 {
			t.Errorf("%q: %d docs, %v; want 1", data, len(docs), err)
		}
	}
	if docs, err := Documents(nil, "f.yaml"); err != nil || len(docs) != 0 {
		t.Errorf("empty file: %d docs, %v", len(docs), err)
	}
	big := make([]byte, MaxBytes+1)
	if _, err := Documents(big, "f.yaml"); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Errorf("oversized file: %v", err)
	}
}

// laughs is a "billion laughs" document: n levels of aliases, each ten times the one before.
func laughs(n int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= n; i++ {
		p := "*l" + string(rune('0'+i-1))
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.Repeat(p+", ", 9) + p + "]\n")
	}
	return b.String()
}

// deep is a document nested n flow lists deep.
func deep(n int) string { return "a: " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n" }

func TestHostileDocuments(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"billion laughs", laughs(9), "f.yaml:1: document too large (more than 1048576 nodes after alias expansion)"},
		{"alias to itself", "a: &x [*x]\n", "f.yaml:1: document too large"},
		{"deep nesting", deep(5000), "f.yaml:1: document nested too deeply (more than 100 levels after alias expansion)"},
		{"deep through aliases", "a: &a " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "\nb: " + strings.Repeat("[", 40) + "*a" + strings.Repeat("]", 40) + "\n", "f.yaml:1: document nested too deeply"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Documents([]byte(c.doc), "f.yaml")
			if err == nil || !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %.300v\nwant %s", err, c.want)
			}
		})
	}
	if _, err := Documents([]byte(laughs(4)), "f.yaml"); err != nil {
		t.Errorf("over 100,000 expanded nodes refused: %v", err)
	}
	if _, err := Documents([]byte(deep(MaxDepth-3)), "f.yaml"); err != nil {
		t.Errorf("%d levels refused: %v", MaxDepth-3, err)
	}
}

type testSpec struct {
	Name       string            `yaml:"name"`
	Port       uint16            `yaml:"port"`
	Weight     int8              `yaml:"weight"`
	Ratio      float64           `yaml:"ratio"`
	On         bool              `yaml:"on"`
	Hosts      []string          `yaml:"hosts"`
	Labels     map[string]string `yaml:"labels"`
	Start      time.Time         `yaml:"start"`
	Nested     *testSpec         `yaml:"nested"`
	Skipped    string            `yaml:"-"`
	Plain      string
	testInline `yaml:",inline"`
}

type testInline struct {
	Extra string `yaml:"extra"`
}

func decodeSpec(t *testing.T, doc string) (*testSpec, *Decoder) {
	t.Helper()
	docs, err := Documents([]byte(doc), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder("s.yaml")
	var s testSpec
	if !d.Decode(docs[0], "", &s) {
		return nil, d
	}
	return &s, d
}

func TestDecode(t *testing.T) {
	s, d := decodeSpec(t, `name: web
port: 8080
weight: -3
ratio: 0.5
on: true
hosts: [a, b]
labels: {team: x}
start: 2026-11-25T20:00:00Z
nested:
  name: inner
  hosts: &h
    - c
plain: p
extra: e
`)
	if s == nil {
		t.Fatal(d.Errs)
	}
	if s.Name != "web" || s.Port != 8080 || s.Weight != -3 || s.Ratio != 0.5 || !s.On || len(s.Hosts) != 2 ||
		s.Labels["team"] != "x" || s.Start.Hour() != 20 || s.Nested.Name != "inner" || s.Plain != "p" || s.Extra != "e" {
		t.Errorf("decoded %+v", s)
	}
	for path, line := range map[string]int{"": 1, "name": 1, "hosts[1]": 6, "labels.team": 7, "nested.hosts": 11, "nested.hosts[0]": 12, "extra": 14} {
		if got := d.Lines.Line(path); got != line {
			t.Errorf("line of %q = %d, want %d", path, got, line)
		}
	}
	if got := d.Lines.Line("nested.hosts[0].unknown"); got != 12 {
		t.Errorf("line of an unrecorded path = %d, want its parent's 12", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"unknown field", "name: a\nnme: b\n", "s.yaml:2: nme: unknown field (known: extra, hosts, labels, name, nested, on, plain, port, ratio, start, weight)"},
		{"unknown nested field", "nested:\n  nested:\n    prt: 1\n", "s.yaml:3: nested.nested.prt: unknown field"},
		{"duplicate field", "name: a\nname: b\n", "s.yaml:2: name: duplicate field"},
		{"duplicate key", "labels:\n  a: x\n  a: y\n", "s.yaml:3: labels.a: duplicate key"},
		{"merge key", "nested:\n  <<: {name: a}\n", "s.yaml:2: nested: merge keys (<<) are not supported"},
		{"number as string", "name: 42\n", `s.yaml:1: name: must be a string, got integer "42" (quote it)`},
		{"boolean as string", "hosts: [a, true]\n", `s.yaml:1: hosts[1]: must be a string, got boolean "true" (quote it)`},
		{"string as number", "port: eighty\n", `s.yaml:1: port: must be a whole number, got "eighty"`},
		{"negative", "port: -1\n", `s.yaml:1: port: must be a whole number, got "-1"`},
		{"too large", "port: 65536\n", `s.yaml:1: port: must be a whole number in 0..65535, got "65536"`},
		{"out of range", "weight: 200\n", `s.yaml:1: weight: must be a whole number in -128..127, got "200"`},
		{"not a number", "ratio: high\n", `s.yaml:1: ratio: must be a number, got "high"`},
		{"infinite", "ratio: .inf\n", `s.yaml:1: ratio: must be a finite number, got ".inf"`},
		{"not a bool", "on: yes\n", `s.yaml:1: on: must be true or false, got "yes"`},
		{"list expected", "hosts: web\n", `s.yaml:1: hosts: must be a list, got string "web"`},
		{"mapping expected", "nested: [a]\n", "s.yaml:1: nested: must be a mapping, got a list"},
		{"scalar expected", "name: {a: b}\n", "s.yaml:1: name: must be a string, got a mapping"},
		{"not a mapping", "- a\n", "s.yaml:1: must be a mapping, got a list"},
		{"bad timestamp", "start: tomorrow\n", `s.yaml:1: start: parsing time "tomorrow"`},
		{"alias keeps its line", "nested: &n {name: a}\nx: 1\n", "s.yaml:2: x: unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, d := decodeSpec(t, c.doc)
			if s != nil {
				t.Fatalf("decoded %+v", s)
			}
			if err := d.Errs.Err(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
		})
	}
}

func TestErrorsCollectedAndSorted(t *testing.T) {
	_, d := decodeSpec(t, "name: a\nport: x\nhosts: y\nport: 1\nnme: z\n")
	want := strings.Join([]string{
		`s.yaml:2: port: must be a whole number, got "x"`,
		`s.yaml:3: hosts: must be a list, got string "y"`,
		"s.yaml:4: port: duplicate field",
		"s.yaml:5: nme: unknown field (known: extra, hosts, labels, name, nested, on, plain, port, ratio, start, weight)",
	}, "\n")
	if got := d.Errs.Err(); got == nil || got.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", got, want)
	}
	if (Errors{}).Err() != nil {
		t.Error("no errors is not nil")
	}
}

// Aliases are checked once where anchored, and their path gets the alias's line.
func TestDecodeAliases(t *testing.T) {
	s, d := decodeSpec(t, "nested: &n\n  name: a\n  hosts: [x]\nlabels: &l {a: b}\nplain: x\n")
	if s == nil {
		t.Fatal(d.Errs)
	}
	type two struct {
		A testSpec `yaml:"a"`
		B testSpec `yaml:"b"`
	}
	docs, err := Documents([]byte("a: &s {name: x, port: 1}\nb: *s\n"), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d = NewDecoder("s.yaml")
	var v two
	if !d.Decode(docs[0], "", &v) || v.B.Name != "x" || v.B.Port != 1 || d.Lines.Line("b") != 2 || d.Lines.Line("b.name") != 2 {
		t.Errorf("alias decoded %+v, lines %v, errs %v", v, d.Lines, d.Errs)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f", Line: 3, Path: "a.b", Msg: "bad"}, "f:3: a.b: bad"},
		{Error{File: "f", Msg: "bad"}, "f: bad"},
		{Error{Line: 3, Path: "a", Msg: "bad"}, "line 3: a: bad"},
		{Error{Path: "a", Msg: "bad"}, "a: bad"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
	if p := Parent("a.b[2].c"); p != "a.b[2]" || Parent(p) != "a.b" || Parent("a") != "" {
		t.Errorf("Parent")
	}
}

// FuzzDocuments decodes arbitrary input into a struct: no panics, every error is located in
// the file, and a syntax error's line is within the file.
func FuzzDocuments(f *testing.F) {
	f.Add([]byte("name: web\nport: 80\nhosts: [a]\nnested: {name: b}\n"))
	f.Add([]byte("a:\n  b: 1\n   c: 2\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte(laughs(3)))
	f.Add([]byte(deep(120)))
	f.Add([]byte("k: v\n---\nx: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// At most this many lines, whichever line breaks the parser counts.
		lines := strings.Count(string(data), "\n") + strings.Count(string(data), "\r") +
			strings.Count(string(data), "\u0085") + strings.Count(string(data), "\u2028") + strings.Count(string(data), "\u2029") + 1
		docs, err := Documents(data, "fuzz.yaml")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz.yaml" || e.Line < 0 || e.Line > lines || e.Msg == "" {
				t.Fatalf("unlocated error %#v", err)
			}
			return
		}
		for _, doc := range docs {
			if doc.Kind != yaml.DocumentNode {
				t.Fatalf("document of kind %v", doc.Kind)
			}
			d := NewDecoder("fuzz.yaml")
			var s testSpec
			ok := d.Decode(doc, "", &s)
			if ok != (len(d.Errs) == 0) {
				t.Fatalf("Decode reported %v with %d errors", ok, len(d.Errs))
			}
			for _, e := range d.Errs {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Line > lines || e.Msg == "" {
					t.Fatalf("unlocated error %#v", e)
				}
			}
		}
	})
}

// TestYAML11Bools: YAML 1.1's plain booleans (no, On, y) decode as booleans only with
// YAML11Bools, and never quoted; a string field keeps its text either way.
func TestYAML11Bools(t *testing.T) {
	for _, c := range []struct {
		doc         string
		yaml11, ok  bool
		want        bool
		plainString string
	}{
		{doc: "on: no", yaml11: true, ok: true, want: false},
		{doc: "on: On", yaml11: true, ok: true, want: true},
		{doc: "on: y\nplain: yes", yaml11: true, ok: true, want: true, plainString: "yes"},
		{doc: "on: no", yaml11: false},
		{doc: `on: "no"`, yaml11: true},
		{doc: "on: nope", yaml11: true},
	} {
		docs, err := Documents([]byte(c.doc), "s.yaml")
		if err != nil {
			t.Fatal(err)
		}
		d := NewDecoder("s.yaml")
		d.YAML11Bools = c.yaml11
		var s testSpec
		ok := d.Decode(docs[0], "", &s)
		if ok != c.ok || ok && (s.On != c.want || s.Plain != c.plainString) {
			t.Errorf("%q (YAML 1.1 booleans %v): decoded %v (%+v, %v), want %v (on %v, plain %q)", c.doc, c.yaml11, ok, s, d.Errs, c.ok, c.want, c.plainString)
		}
	}
}
