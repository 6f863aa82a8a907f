#include "tessera/error.h"

namespace tessera::detail {

void throw_error(const char* /*file*/, int /*line*/, const std::string& msg) {
  // The message is for the user: it names the op and the inputs; Tessera's own source
  // location would only distract, so it is left out.
  throw Error(msg);
}

void throw_internal(const char* file, int line, const char* cond, const std::string& msg) {
  throw Error(concat("internal error (a bug in Tessera, please report it): ", cond, " failed at ",
                     file, ":", line, msg.empty() ? "" : ": ", msg));
}

}  // namespace tessera::detail
