#pragma once
// How the command lines (`tessera`, `tessera-bench`) report a failure: one message prefix
// and one exit status per error kind, so a script can tell a typo in a path (retry with
// another) from a bug (report it) without parsing messages. Header-only: both binaries
// include it, and they link Tessera differently (shared, static).
#include <tessera/error.h>

#include <exception>
#include <filesystem>
#include <iostream>
#include <new>
#include <string_view>

namespace tessera_cli {

// Exit statuses. 2 is the usual "bad usage" of command lines; the others follow
// ErrorKind. 70 is sysexits' EX_SOFTWARE: only a bug in Tessera ends with it.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInvalidArgument = 3;
inline constexpr int kExitIO = 4;
inline constexpr int kExitOutOfMemory = 5;
inline constexpr int kExitNotImplemented = 6;
inline constexpr int kExitInternal = 70;

inline constexpr std::string_view kExitStatusHelp =
    "exit status:\n"
    "  0   success\n"
    "  2   bad usage: unknown command or option, missing or malformed value\n"
    "  3   invalid argument: bad input data (wrong shapes, corrupt or truncated files)\n"
    "  4   I/O error: a file or folder is missing, unreadable or unwritable\n"
    "  5   out of memory\n"
    "  6   not implemented: a valid request Tessera does not support yet\n"
    "  70  internal error: a bug in Tessera (please report it)\n";

inline int exit_status(tessera::ErrorKind kind) {
  switch (kind) {
    case tessera::ErrorKind::InvalidArgument:
      return kExitInvalidArgument;
    case tessera::ErrorKind::IO:
      return kExitIO;
    case tessera::ErrorKind::OutOfMemory:
      return kExitOutOfMemory;
    case tessera::ErrorKind::NotImplemented:
      return kExitNotImplemented;
    case tessera::ErrorKind::Internal:
      break;
  }
  return kExitInternal;
}

// Call inside `catch (...)`: prints "<prog>: <kind>: <message>" to stderr and returns the
// exit status. Exceptions from outside Tessera are mapped by what they mean, not where
// they came from: a filesystem_error is an I/O error, a bad_alloc out of memory; only
// anything else is taken for a bug.
inline int report_current_exception(std::string_view prog) noexcept {
  try {
    throw;
  } catch (const tessera::Error& e) {
    if (e.kind() == tessera::ErrorKind::Internal) {
      // The message already says "internal error (a bug in Tessera, please report it)".
      std::cerr << prog << ": " << e.what() << "\n";
    } else {
      std::cerr << prog << ": " << tessera::error_kind_name(e.kind()) << ": " << e.what() << "\n";
    }
    return exit_status(e.kind());
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << prog << ": I/O error: " << e.what() << "\n";
    return kExitIO;
  } catch (const std::bad_alloc& e) {
    std::cerr << prog << ": out of memory: " << e.what() << "\n";
    return kExitOutOfMemory;
  } catch (const std::exception& e) {
    std::cerr << prog << ": internal error (a bug in Tessera, please report it): " << e.what()
              << "\n";
    return kExitInternal;
  } catch (...) {
    std::cerr << prog << ": internal error (a bug in Tessera, please report it): a non-standard "
              << "exception\n";
    return kExitInternal;
  }
}

}  // namespace tessera_cli
