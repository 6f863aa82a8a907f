// libFuzzer target for the ONNX importer (docs/onnx.md, "Fuzzing"): any bytes either
// import (and then run on small zero inputs) or throw a tessera::Error that is not an
// internal one; anything else (a crash, a sanitizer report, an InternalError, a hang or a
// runaway allocation) is a bug. Built with -DTESSERA_FUZZ=ON (clang only):
//   cmake --preset fuzz && cmake --build --preset fuzz --target onnx_import_fuzz
//   build/fuzz/tests/onnx_import_fuzz -max_total_time=60 -rss_limit_mb=2048 NEW_DIR tests/fuzz/onnx_corpus
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tessera/onnx.h"
#include "tessera/ops.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera;
  onnx::ImportOptions opts;
  opts.max_tensor_bytes = 1 << 24;  // 16 MiB: a hostile declared size must be refused, not allocated
  opts.max_file_bytes = 1 << 24;
  opts.max_loop_iterations = 1 << 10;  // a Loop whose condition never turns false must end
  try {
    onnx::Model m = onnx::import_model_from_bytes(
        std::string_view(reinterpret_cast<const char*>(data), size), "", opts);
    std::vector<Tensor> inputs;
    for (const onnx::ValueInfo& v : m.inputs()) {
      std::vector<int64_t> dims;
      for (int64_t d : v.dims) dims.push_back(d < 0 ? 2 : std::min<int64_t>(d, 16));
      inputs.push_back(zeros(dims, v.dtype));
    }
    (void)m.run(inputs);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Internal) {
      std::fprintf(stderr, "internal error on fuzz input: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
