#pragma once
// Two kinds of failure, kept apart as PyTorch does:
//  - TESSERA_CHECK: a user error (wrong shape, bad argument, corrupt file). Throws
//    tessera::Error whose message names the op, the inputs and what was expected.
//  - TESSERA_INTERNAL_ASSERT: a broken invariant, i.e. a bug in Tessera. Also throws (never
//    aborts: a server must survive), but says so and where.
#include <sstream>
#include <stdexcept>
#include <string>

#include "tessera/export.h"

namespace tessera {

class TESSERA_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] TESSERA_API void throw_error(const char* file, int line, const std::string& msg);
[[noreturn]] TESSERA_API void throw_internal(const char* file, int line, const char* cond,
                                             const std::string& msg);
}  // namespace detail

}  // namespace tessera

#define TESSERA_CHECK(cond, ...)                                                      \
  do {                                                                                \
    if (__builtin_expect(!(cond), 0))                                                 \
      ::tessera::detail::throw_error(__FILE__, __LINE__,                              \
                                     ::tessera::detail::concat(__VA_ARGS__));         \
  } while (0)

#define TESSERA_INTERNAL_ASSERT(cond, ...)                                             \
  do {                                                                                 \
    if (__builtin_expect(!(cond), 0))                                                  \
      ::tessera::detail::throw_internal(__FILE__, __LINE__, #cond,                     \
                                        ::tessera::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)
