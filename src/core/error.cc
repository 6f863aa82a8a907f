#include "tessera/error.h"

namespace tessera {

// Out of line: these are the classes' key functions, so their vtables and type infos live
// here, once, and a program's catch matches what the library throws.
Error::~Error() = default;
InvalidArgumentError::~InvalidArgumentError() = default;
IOError::~IOError() = default;
OutOfMemoryError::~OutOfMemoryError() = default;
NotImplementedError::~NotImplementedError() = default;
InternalError::~InternalError() = default;

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument:
      return "invalid argument";
    case ErrorKind::IO:
      return "I/O error";
    case ErrorKind::OutOfMemory:
      return "out of memory";
    case ErrorKind::NotImplemented:
      return "not implemented";
    case ErrorKind::Internal:
      return "internal error";
  }
  return "unknown error kind";
}

void throw_error(ErrorKind kind, const std::string& msg) {
  // The message is for the user: it names the op or the path; Tessera's own source
  // location would only distract, so it is left out (internal errors keep it).
  switch (kind) {
    case ErrorKind::InvalidArgument:
      throw InvalidArgumentError(msg);
    case ErrorKind::IO:
      throw IOError(msg);
    case ErrorKind::OutOfMemory:
      throw OutOfMemoryError(msg);
    case ErrorKind::NotImplemented:
      throw NotImplementedError(msg);
    case ErrorKind::Internal:
      throw InternalError(msg);
  }
  throw InternalError("throw_error: unknown ErrorKind " + std::to_string(static_cast<int>(kind)) +
                      ": " + msg);
}

namespace detail {

void throw_internal(const char* file, int line, const char* cond, const std::string& msg) {
  throw InternalError(concat("internal error (a bug in Tessera, please report it): ", cond,
                             " failed at ", file, ":", line, msg.empty() ? "" : ": ", msg));
}

}  // namespace detail

}  // namespace tessera
