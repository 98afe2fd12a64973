// Package re2c calls the C++ RE2 library (Debian's libre2-dev) to report the program size
// RE2 compiles a pattern to; it is built only with the re2 build tag, for the differential
// tests of package re2prog.
package re2c
