package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "abc", 3, "abc"},
		{"empty", "", 0, ""},
		{"cut", "abcdef", 3, "abc..."},
		{"cut inside a rune", "ab€cd", 3, "ab..."},
		{"cut after a rune", "ab€cd", 5, "ab€..."},
	}
	for _, tc := range cases {
		if got := Text(tc.in, tc.max); got != tc.want {
			t.Errorf("%s: Text(%q, %d) = %q, want %q", tc.name, tc.in, tc.max, got, tc.want)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("ab€cd", 3)
	f.Add(strings.Repeat("x", 100), 64)
	f.Add("\xff\xfe", 1)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got := Text(s, max)
		if len(s) <= max {
			if got != s {
				t.Fatalf("Text(%q, %d) = %q, want it unchanged", s, max, got)
			}
			return
		}
		if len(got) > max+len(Marker) || !strings.HasSuffix(got, Marker) {
			t.Fatalf("Text(%q, %d) = %q: longer than %d bytes or not marked", s, max, got, max+len(Marker))
		}
		if !strings.HasPrefix(s, strings.TrimSuffix(got, Marker)) && utf8.ValidString(s[:max]) {
			t.Fatalf("Text(%q, %d) = %q is not a prefix of the input", s, max, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Text(%q, %d) = %q is not valid UTF-8", s, max, got)
		}
	})
}
