package strictyaml

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkHostile measures how long refusing hostile documents takes.
func BenchmarkHostile(b *testing.B) {
	for _, c := range []struct{ name, doc string }{
		{"billion-laughs", laughs(9)},
		{"deep-5000", deep(5000)},
		{"alias-cycle", "a: &x [*x, *x, *x]\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			data := []byte(c.doc)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Documents(data, "f.yaml"); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// bigMapping is a valid document of n services, about 60 bytes each.
func bigMapping(n int) string {
	var s strings.Builder
	s.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&s, "  - name: service-%d\n    port: %d\n    hosts: [a, b]\n", i, 1000+i)
	}
	return s.String()
}

// BenchmarkSyntaxError measures locating an indentation error at the end of a file of
// 20 KB (a large policy) and 1 MB, next to parsing the valid file.
func BenchmarkSyntaxError(b *testing.B) {
	for _, n := range []int{400, 20000} {
		valid := bigMapping(n)
		broken := valid + "  - name: last\n     port: 1\n"
		b.Run(fmt.Sprintf("valid-%dKB", len(valid)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(valid)))
			for b.Loop() {
				if _, err := Documents([]byte(valid), "f.yaml"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("broken-%dKB", len(broken)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(broken)))
			for b.Loop() {
				if _, err := Documents([]byte(broken), "f.yaml"); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
