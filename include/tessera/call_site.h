#pragma once
// Where the user's code called Tessera: every public op function and Module::operator()
// takes a trailing `CallSite at = CallSite::current()`, which the compiler fills with the
// caller's file and line (a pointer to a constant, so no measurable cost). The innermost
// call from outside Tessera's own sources is what errors and graph nodes name:
//   conv2d at model.cc:42: input [1, 3, 28, 28] float32, weight [8, 1, 3, 3] float32: ...
// A call from inside Tessera (Sequential calling its layers, F::cross_entropy calling
// log_softmax) keeps the user's site of the call around it, so a model built from library
// layers names the line that called the model, and a user's own forward() names its lines.
// Operators (a + b) and Tensor methods carry no site of their own: they take the one of the
// call around them.
#include <cstdint>
#include <string>

#include "tessera/export.h"

namespace tessera {

// std::source_location's shape. Not std::source_location itself: libstdc++ 12 defines it
// only for compilers with __builtin_source_location, which clang 14 (Debian 12's) lacks;
// __builtin_FILE/__builtin_LINE as default arguments give the caller's place in both.
class CallSite {
 public:
  constexpr CallSite() noexcept = default;
  static constexpr CallSite current(const char* file = __builtin_FILE(),
                                    std::uint_least32_t line = __builtin_LINE()) noexcept {
    CallSite site;
    site.file_ = file;
    site.line_ = line;
    return site;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }

 private:
  const char* file_ = "";
  std::uint_least32_t line_ = 0;
};

// The innermost user call site on this thread; line() == 0 when there is none.
TESSERA_API CallSite current_call_site() noexcept;

// "model.cc:42" (the file's base name), or "" for a site with no line.
TESSERA_API std::string describe_call_site(const CallSite& site);

namespace detail {

// While alive, makes `at` this thread's current call site, unless `at` lies in Tessera's own
// sources (then the enclosing user site stays). Public op functions open one first thing.
class TESSERA_API UserCallScope {
 public:
  explicit UserCallScope(const CallSite& at) noexcept;
  ~UserCallScope();
  UserCallScope(const UserCallScope&) = delete;
  UserCallScope& operator=(const UserCallScope&) = delete;

 private:
  CallSite saved_;
  bool set_;
};

// Sources under `root` + "src/" (or "python/src/") count as Tessera's own, for builds whose
// file names start elsewhere than the library's (the Python extension registers its root).
TESSERA_API void register_library_sources(const char* root);

}  // namespace detail
}  // namespace tessera
