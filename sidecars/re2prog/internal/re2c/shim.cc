//go:build re2

#include <re2/re2.h>

// re2_program_size compiles a pattern with RE2's default options (UTF-8), as Envoy compiles
// safe_regex, and returns RE2::ProgramSize(), or -1 when the pattern does not compile.
extern "C" int re2_program_size(const char* p, int len) {
  RE2::Options opts;
  opts.set_log_errors(false);
  RE2 re(re2::StringPiece(p, len), opts);
  if (!re.ok()) return -1;
  return re.ProgramSize();
}
