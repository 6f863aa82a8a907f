// The few-input-channel 3x3 weight gradient for AVX2 (vec/conv_first_layer.h). Written
// with GCC/Clang vector types, which this file's -m flags make single AVX2 registers, and
// no standard-library calls (float_loops_impl.h says why).
#include <cstdint>

#include "backends/cpu/vec/conv_first_layer.h"

namespace tessera::cpu::vec {
namespace {

using F8 [[gnu::vector_size(32)]] = float;

inline F8 load(const float* p) {
  F8 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, F8 v) { __builtin_memcpy(p, &v, sizeof v); }

inline F8 broadcast(const float* p) {
  const float s = *p;
  return F8{s, s, s, s, s, s, s, s};
}

}  // namespace

void conv3x3_weight_grad_few_channels_f32_avx2(const float* xp, int64_t channels, const float* gy, int64_t out_blocks,
                                               int64_t OH, int64_t OW, int64_t n0, int64_t n1, float* acc) {
  const int64_t PW = OW + 2, plane = (OH + 2) * PW;
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t kb = 0; kb < out_blocks; ++kb)
      for (int64_t c = 0; c < channels; ++c) {
        const float* x = xp + (n * channels + c) * plane;
        const float* g = gy + (n * out_blocks + kb) * OH * OW * 8;
        float* out = acc + (kb * channels + c) * 72;
        // Nine accumulators, one per tap; the unroll pragmas keep them in registers.
        F8 s[9];
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) s[t] = load(out + 8 * t);
        for (int64_t i = 0; i < OH; ++i) {
          const float* r0 = x + i * PW;
          const float* gi = g + i * OW * 8;
          for (int64_t j = 0; j < OW; ++j) {
            const F8 d = load(gi + 8 * j);
#pragma GCC unroll 3
            for (int a = 0; a < 3; ++a)
#pragma GCC unroll 3
              for (int b = 0; b < 3; ++b) s[3 * a + b] += broadcast(r0 + a * PW + j + b) * d;
          }
        }
#pragma GCC unroll 9
        for (int t = 0; t < 9; ++t) store(out + 8 * t, s[t]);
      }
}

}  // namespace tessera::cpu::vec
