package re2prog

import (
	"errors"
	"regexp"
	"testing"
)

// cases are route regexes with the program size Debian's RE2 (libre2 2022-06-01) reports;
// the re2 build tag checks them, and many more, against the library itself.
var cases = []struct {
	expr string
	size int
}{
	{"", 4},
	{"a", 5},
	{"^abc", 4},
	{"^abc$", 4},
	{"abc$", 7},
	{"/users/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", 79},
	{"[a-z0-9-]{1,64}", 259},
	{"^/api/v[0-9]+/.*$", 15},
	{".*", 12},
	{"(?s).*", 11},
	{`\d+`, 6},
	{`\w+`, 8},
	{"/items/[^/]+/details", 28},
	{"(foo|bar|baz)", 13},
	{"(?i)kiss", 15},
	{"[é-ÿ]+", 7},
	{`\pL`, 1197},
	{"a{2,5}", 12},
	{"[a-z]+[a-z]", 7},
	{"(?:a*)*", 5},
	{"/(users|orders|products|invoices|customers)/[0-9]+", 46},
}

func TestProgramSize(t *testing.T) {
	for _, c := range cases {
		got, err := ProgramSize(c.expr)
		if err != nil || got != c.size {
			t.Errorf("ProgramSize(%q) = %d, %v; want %d", c.expr, got, err, c.size)
		}
	}
}

func TestProgramSizeInvalid(t *testing.T) {
	for _, expr := range []string{"(", "a**", `\C`, "a{1001}", "[z-a]"} {
		if n, err := ProgramSize(expr); err == nil {
			t.Errorf("ProgramSize(%q) = %d, want an error", expr, n)
		}
	}
}

// FuzzProgramSize checks that ProgramSize never panics, errs exactly when Go's
// regexp.Compile does, and counts at least the fail and match instructions.
func FuzzProgramSize(f *testing.F) {
	for _, c := range cases {
		f.Add(c.expr)
	}
	f.Add("(")
	f.Add("(?i)[^k]{2,3}|\\b")
	f.Fuzz(func(t *testing.T, expr string) {
		n, err := ProgramSize(expr)
		_, goErr := regexp.Compile(expr)
		if (err != nil) != (goErr != nil) {
			t.Fatalf("ProgramSize(%q) error %v, regexp.Compile error %v", expr, err, goErr)
		}
		if err == nil && n < 1 {
			t.Fatalf("ProgramSize(%q) = %d", expr, n)
		}
	})
}

func BenchmarkProgramSize(b *testing.B) {
	for _, expr := range []string{
		"/users/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
		"[a-z0-9-]{1,64}",
	} {
		b.Run(expr[:8], func(b *testing.B) {
			for b.Loop() {
				if _, err := ProgramSize(expr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProgramSizeWithin asks whether \pL{1000}, a second to compile whole, is over
// Envoy's default limit, within the budget the check gives it (4 × 100 + 64 instructions).
func BenchmarkProgramSizeWithin(b *testing.B) {
	for b.Loop() {
		if _, err := ProgramSizeWithin(`\pL{1000}`, 464); !errors.Is(err, ErrOverBudget) {
			b.Fatal(err)
		}
	}
}

// TestProgramSizeWithin: within a budget the size is exact; over it, ErrOverBudget; a
// budget above RE2's own memory budget is RE2's.
func TestProgramSizeWithin(t *testing.T) {
	const uuid = "/users/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
	if n, err := ProgramSizeWithin(uuid, 1000); n != 79 || err != nil {
		t.Errorf("within the budget: %d, %v; want 79", n, err)
	}
	if _, err := ProgramSizeWithin(uuid, 50); !errors.Is(err, ErrOverBudget) {
		t.Errorf("over the budget: %v, want ErrOverBudget", err)
	}
	if _, err := ProgramSizeWithin(`\pL{1000}`, 1<<40); err == nil || errors.Is(err, ErrOverBudget) {
		t.Errorf("past RE2's memory budget: %v, want RE2's too-large error", err)
	}
}
