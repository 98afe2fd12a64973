package policy

import (
	"reflect"
	"testing"
)

// TestDeepCopyNilsAndPointers: deepCopy copies nil pointers, slices and maps as nil (also
// behind a pointer, which stays a distinct pointer), and never shares what is not nil.
func TestDeepCopyNilsAndPointers(t *testing.T) {
	type inner struct {
		Names []string
		Set   map[string]int
		Next  *inner
	}
	type outer struct {
		Nil      *inner
		NilSlice *[]string
		Slice    *[]string
		Inner    inner
		hidden   *int
	}
	words := []string{"a"}
	in := outer{NilSlice: new([]string), Slice: &words, Inner: inner{Names: []string{"x"}, Set: map[string]int{"k": 1}, Next: &inner{}}, hidden: new(int)}
	out := deepCopy(reflect.ValueOf(in)).Interface().(outer)
	if out.Nil != nil || out.NilSlice == nil || *out.NilSlice != nil || out.NilSlice == in.NilSlice || out.hidden != nil {
		t.Fatalf("copy %+v", out)
	}
	if !reflect.DeepEqual(*out.Slice, words) || &(*out.Slice)[0] == &words[0] || !reflect.DeepEqual(out.Inner.Names, in.Inner.Names) ||
		out.Inner.Next == in.Inner.Next || out.Inner.Next.Names != nil || out.Inner.Next.Set != nil {
		t.Fatalf("copy %+v", out)
	}
	out.Inner.Set["k"] = 2
	out.Inner.Names[0] = "y"
	if in.Inner.Set["k"] != 1 || in.Inner.Names[0] != "x" {
		t.Fatal("the copy shares a map or a slice with the original")
	}
}
