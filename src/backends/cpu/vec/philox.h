#pragma once
// Philox-4x32-10 over runs of consecutive counters, written once per ISA with intrinsics
// (philox_avx512.cc, philox_avx2.cc, philox_base.cc for SSE2) and picked at run time with
// the same ISA as float_loops() (CPU flags, TESSERA_ISA). The random kernels call it
// directly: core's philox()/philox_blocks() stay the portable definition of the stream, and
// every table here must reproduce them bit for bit (tests/backends/philox_vec_test.cc).
#include <cstdint>
#include <string_view>

namespace tessera::cpu::vec {

// The words of philox(key, 0, first_counter + j) for j in [0, count): block j's four
// words at out[4j .. 4j+3], the layout of a PhiloxBlock array.
using PhiloxWordsFn = void (*)(uint64_t key, uint64_t first_counter, int64_t count, uint32_t* out);
// Bernoulli draws from the same word stream: out[i] = (w_i >> 8) < threshold ? 1 : 0 for
// i in [0, n), where w_i is word i of that stream (word i % 4 of block first_counter + i/4)
// and threshold is in [0, 2^24]. With threshold = ceil(p * 2^24) this is u_i < p for the
// 24-bit uniform u_i = (w_i >> 8) * 2^-24.
using PhiloxBernoulliF32Fn = void (*)(uint64_t key, uint64_t first_counter, int64_t n,
                                      uint32_t threshold, float* out);

struct PhiloxKernels {
  const char* isa;
  PhiloxWordsFn words;
  PhiloxBernoulliF32Fn bernoulli_f32;
};

// The table of the ISA float_loops() uses. Picked once.
const PhiloxKernels& philox_kernels();
// A specific ISA's table ("avx512", "avx2", "baseline"), or nullptr when this CPU cannot
// run it (for tests).
const PhiloxKernels* philox_kernels_for(std::string_view isa);

}  // namespace tessera::cpu::vec
