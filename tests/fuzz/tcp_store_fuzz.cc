// libFuzzer target for the TCP store's request reader (src/distributed/tcp_store.h): the
// bytes any process that connects to rank 0's MASTER_PORT can send. Requests are read one
// after another, as the server reads a connection; each either parses within the
// protocol's limits or is refused with a reason. Anything else (a crash, a sanitizer
// report, an allocation past -malloc_limit_mb for a length the input only declares, a
// parsed request outside the limits) is a bug. Built with -DTESSERA_FUZZ=ON (clang only):
//   cmake --preset fuzz && cmake --build --preset fuzz --target tcp_store_fuzz
//   build/fuzz/tests/tcp_store_fuzz -max_total_time=30 -malloc_limit_mb=16 NEW_DIR tests/fuzz/tcp_store_corpus
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "distributed/tcp_store.h"

namespace {

void fail(const char* what) {
  std::fprintf(stderr, "tcp_store_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tessera::distributed::StoreRequest;
  size_t at = 0;
  const tessera::distributed::ReadExactly read = [&](void* p, size_t n, std::string* why) {
    if (n > size - at) {
      at = size;
      *why = "connection closed by the peer";
      return false;
    }
    std::memcpy(p, data + at, n);
    at += n;
    return true;
  };
  while (at < size) {
    StoreRequest req;
    std::string why;
    if (!tessera::distributed::read_store_request(read, &req, &why)) {
      if (why.empty()) fail("a refused request without a reason");
      break;
    }
    const size_t keys = req.keys.size();
    if (req.op == StoreRequest::Op::Wait ? keys > StoreRequest::kMaxKeys : keys != 1) fail("key count out of range");
    size_t bytes = req.value.size();
    for (const std::string& k : req.keys) bytes += k.size();
    if (bytes > at) fail("a request holds more bytes than were read");
    if (req.value.size() > StoreRequest::kMaxBytes) fail("value over the limit");
    if (req.timeout.count() < 0 || req.timeout > StoreRequest::kMaxTimeout) fail("timeout outside [0, kMaxTimeout]");
  }
  return 0;
}
