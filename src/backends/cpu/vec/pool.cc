// Picks the pooling table with the ISA of the float32 loops. The plain-plane 2x2 kernel has
// an AVX-512 version only; the other ISAs get the portable loop of pool_loops.h, compiled
// here for the baseline ISA (SSE2). The channel-blocked kernels exist for AVX-512 (blocks
// of 16) and AVX2 (blocks of 8).
#include "backends/cpu/vec/pool.h"

#include "backends/cpu/pool_loops.h"
#include "backends/cpu/vec/float_loops.h"

namespace tessera::cpu::vec {
namespace avx512 { PoolKernels make_pool_table(const char* isa); }
namespace avx2 { PoolKernels make_pool_table(const char* isa, MaxPool2x2Fn plain_2x2); }

namespace {

void base_max2x2(const float* x, int64_t, int64_t W, float* y, int64_t* idx, int64_t OH,
                 int64_t OW) {
  max_pool2x2_plane(x, W, y, idx, OH, OW);
}

}  // namespace

const PoolKernels& pool_kernels() {
  // cpu_isa_name() already honours the CPU flags and TESSERA_ISA.
  static const PoolKernels& chosen = *pool_kernels_for(cpu_isa_name());
  return chosen;
}

const PoolKernels* pool_kernels_for(std::string_view isa) {
  if (!cpu_runs_isa(isa)) return nullptr;
  if (isa == "avx512") {
    static const PoolKernels t = avx512::make_pool_table("avx512");
    return &t;
  }
  if (isa == "avx2") {
    static const PoolKernels t = avx2::make_pool_table("avx2", base_max2x2);
    return &t;
  }
  static const PoolKernels base{"baseline", base_max2x2};
  return &base;
}

}  // namespace tessera::cpu::vec
