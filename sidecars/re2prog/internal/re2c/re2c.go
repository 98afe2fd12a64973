//go:build re2

package re2c

// #cgo CXXFLAGS: -std=c++17
// #cgo LDFLAGS: -lre2
// #include <stdlib.h>
// int re2_program_size(const char* p, int len);
import "C"

import "unsafe"

// ProgramSize returns RE2::ProgramSize() of pattern compiled with RE2's default options, or
// -1 when RE2 refuses the pattern.
func ProgramSize(pattern string) int {
	p := C.CString(pattern)
	defer C.free(unsafe.Pointer(p))
	return int(C.re2_program_size(p, C.int(len(pattern))))
}
