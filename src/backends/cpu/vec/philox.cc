// Picks the Philox table with the ISA of the float32 loops, and the baseline table, which
// draws through core's scalar philox_blocks (the definition of the stream).
#include "backends/cpu/vec/philox.h"

#include <algorithm>
#include <cstring>

#include "backends/cpu/vec/float_loops.h"
#include "tessera/random.h"

namespace tessera::cpu::vec {
namespace avx512 { PhiloxKernels make_philox_table(const char* isa); }
namespace avx2 { PhiloxKernels make_philox_table(const char* isa); }

namespace {

constexpr int64_t kChunk = 64;  // blocks per call into core, on the stack

void base_words(uint64_t key, uint64_t first_counter, int64_t count, uint32_t* out) {
  PhiloxBlock blocks[kChunk];
  for (int64_t b = 0; b < count; b += kChunk) {
    const int64_t len = std::min(kChunk, count - b);
    philox_blocks(key, first_counter + static_cast<uint64_t>(b), len, blocks);
    std::memcpy(out + 4 * b, blocks, static_cast<size_t>(len) * sizeof(PhiloxBlock));
  }
}

void base_bernoulli_f32(uint64_t key, uint64_t first_counter, int64_t n, uint32_t threshold,
                        float* out) {
  uint32_t w[4 * kChunk];
  for (int64_t i = 0; i < n; i += 4 * kChunk) {
    const int64_t len = std::min(4 * kChunk, n - i);
    base_words(key, first_counter + static_cast<uint64_t>(i / 4), (len + 3) / 4, w);
    for (int64_t k = 0; k < len; ++k) out[i + k] = (w[k] >> 8) < threshold ? 1.0f : 0.0f;
  }
}

struct Tables {
  PhiloxKernels avx512 = vec::avx512::make_philox_table("avx512");
  PhiloxKernels avx2 = vec::avx2::make_philox_table("avx2");
  PhiloxKernels base{"baseline", base_words, base_bernoulli_f32};
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const PhiloxKernels& philox_kernels() {
  // cpu_isa_name() already honours the CPU flags and TESSERA_ISA.
  static const PhiloxKernels& chosen = *philox_kernels_for(cpu_isa_name());
  return chosen;
}

const PhiloxKernels* philox_kernels_for(std::string_view isa) {
  // float_loops_for answers whether this CPU runs `isa`; the flags checked are the same.
  if (float_loops_for(isa) == nullptr) return nullptr;
  const Tables& t = tables();
  if (isa == "avx512") return &t.avx512;
  if (isa == "avx2") return &t.avx2;
  if (isa == "baseline") return &t.base;
  return nullptr;
}

}  // namespace tessera::cpu::vec
