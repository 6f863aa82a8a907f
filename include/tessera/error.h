#pragma once
// Errors with a kind, so a caller can react to what went wrong without parsing messages:
// retry with a smaller batch on out-of-memory, ask for another path on an I/O error, and
// report only internal errors as bugs.
//
//   InvalidArgumentError  TESSERA_CHECK              the caller's mistake: a wrong shape, a bad
//                                                    attribute or option, corrupt file content
//   IOError               TESSERA_CHECK_IO           a file or folder is missing, unreadable or
//                                                    unwritable (the message has the errno text)
//   OutOfMemoryError      TESSERA_CHECK_ALLOC        an allocation failed
//   NotImplementedError   TESSERA_CHECK_IMPLEMENTED  a valid request Tessera does not support (yet):
//                         TESSERA_NOT_IMPLEMENTED    a dtype for an op, a file format's feature
//   InternalError         TESSERA_INTERNAL_ASSERT    a broken invariant: a bug in Tessera, never
//                                                    the caller's mistake
//
// Every class derives from tessera::Error (a std::runtime_error), so `catch (const Error&)`
// still catches them all, and `e.kind()` tells them apart without a cascade of catches.
// Messages name the op or the path, what was expected and what came. Nothing aborts on user
// input: even an internal error throws, so a server survives it.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include "tessera/export.h"

namespace tessera {

enum class ErrorKind : uint8_t { InvalidArgument, IO, OutOfMemory, NotImplemented, Internal };

// "invalid argument", "I/O error", "out of memory", "not implemented", "internal error".
TESSERA_API const char* error_kind_name(ErrorKind kind);

class TESSERA_API Error : public std::runtime_error {
 public:
  ErrorKind kind() const noexcept { return kind_; }
  ~Error() override;

 protected:
  // Protected: every Error is one of the subclasses below, so catching a subclass and
  // testing kind() always agree.
  Error(ErrorKind kind, const std::string& msg) : std::runtime_error(msg), kind_(kind) {}

 private:
  ErrorKind kind_;
};

// The destructors are defined in error.cc: it holds the vtables and type infos, so a
// catch in a program matches a throw in the shared library.
class TESSERA_API InvalidArgumentError : public Error {
 public:
  explicit InvalidArgumentError(const std::string& msg) : Error(ErrorKind::InvalidArgument, msg) {}
  ~InvalidArgumentError() override;
};
class TESSERA_API IOError : public Error {
 public:
  explicit IOError(const std::string& msg) : Error(ErrorKind::IO, msg) {}
  ~IOError() override;
};
class TESSERA_API OutOfMemoryError : public Error {
 public:
  explicit OutOfMemoryError(const std::string& msg) : Error(ErrorKind::OutOfMemory, msg) {}
  ~OutOfMemoryError() override;
};
class TESSERA_API NotImplementedError : public Error {
 public:
  explicit NotImplementedError(const std::string& msg) : Error(ErrorKind::NotImplemented, msg) {}
  ~NotImplementedError() override;
};
class TESSERA_API InternalError : public Error {
 public:
  explicit InternalError(const std::string& msg) : Error(ErrorKind::Internal, msg) {}
  ~InternalError() override;
};

// Throws the class of `kind` with `msg`. For code that adds context to an error it caught
// (the op dispatcher, the DataLoader) and must keep its kind:
//   catch (const Error& e) { throw_error(e.kind(), "batch 3: " + std::string(e.what())); }
[[noreturn]] TESSERA_API void throw_error(ErrorKind kind, const std::string& msg);

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] TESSERA_API void throw_internal(const char* file, int line, const char* cond,
                                             const std::string& msg);
}  // namespace detail

}  // namespace tessera

// Throws an error of `kind` when `cond` is false; the message is the arguments streamed.
#define TESSERA_CHECK_KIND(kind, cond, ...)                                          \
  do {                                                                               \
    if (__builtin_expect(!(cond), 0))                                                \
      ::tessera::throw_error(kind, ::tessera::detail::concat(__VA_ARGS__));          \
  } while (0)

// The caller's mistake (the default kind): wrong shape, bad argument, corrupt file content.
#define TESSERA_CHECK(cond, ...) \
  TESSERA_CHECK_KIND(::tessera::ErrorKind::InvalidArgument, cond, __VA_ARGS__)
// A file system operation failed; name the path and the reason (strerror(errno)).
#define TESSERA_CHECK_IO(cond, ...) TESSERA_CHECK_KIND(::tessera::ErrorKind::IO, cond, __VA_ARGS__)
// An allocation failed; name what and how many bytes.
#define TESSERA_CHECK_ALLOC(cond, ...) \
  TESSERA_CHECK_KIND(::tessera::ErrorKind::OutOfMemory, cond, __VA_ARGS__)
// A valid request Tessera does not support; name what is supported.
#define TESSERA_CHECK_IMPLEMENTED(cond, ...) \
  TESSERA_CHECK_KIND(::tessera::ErrorKind::NotImplemented, cond, __VA_ARGS__)
#define TESSERA_NOT_IMPLEMENTED(...)                                             \
  ::tessera::throw_error(::tessera::ErrorKind::NotImplemented,                   \
                         ::tessera::detail::concat(__VA_ARGS__))

// A broken invariant: a bug in Tessera. Says so, with the condition and where.
#define TESSERA_INTERNAL_ASSERT(cond, ...)                                             \
  do {                                                                                 \
    if (__builtin_expect(!(cond), 0))                                                  \
      ::tessera::detail::throw_internal(__FILE__, __LINE__, #cond,                     \
                                        ::tessera::detail::concat("" __VA_OPT__(, ) __VA_ARGS__)); \
  } while (0)
