// Max pooling over channel-blocked planes with AVX2, blocks of 8 (the blocks
// ops::conv_channel_block() picks on a CPU without AVX-512): one 256-bit register per
// position, the rule of pool_avx512.cc's blocked kernels lane for lane. The build gives
// *_avx2.cc its -m flags; pool.cc calls this table only where the CPU has AVX2. No
// standard-library calls, for the reason float_loops_impl.h gives.
//
// Without these, a CPU whose AVX-512 is absent (or hidden by its hypervisor) pooled with
// the baseline build's portable loops: CNN28's training pool with indices ran scalar.
// AVX2 has no mask registers and no saturating int64 -> int32 conversion, so the
// tap-wins masks are blends, and the gradient compares each int64 index with the four
// window positions directly.
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/pool.h"

namespace tessera::cpu::vec::avx2 {
namespace {

#define TP_INLINE __attribute__((always_inline)) inline

// Folds tap v (offset off in its window) into best/where: it wins when greater or NaN, as
// pool.cc's `v > best || isnan(v)`.
TP_INLINE void fold(__m256 v, __m256i off, __m256& best, __m256i& where) {
  const __m256 t = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  best = _mm256_blendv_ps(best, v, t);
  where = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(where), _mm256_castsi256_ps(off), t));
}

void max2x2_blocked_f32(const float* x, int64_t W, float* y, int64_t* idx, int64_t OH, int64_t OW) {
  const __m256i off1 = _mm256_set1_epi32(1);
  const __m256i offW = _mm256_set1_epi32(static_cast<int32_t>(W));
  const __m256i offW1 = _mm256_set1_epi32(static_cast<int32_t>(W + 1));
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t here = 2 * oh * W + 2 * ow;
      const float* a = x + here * 8;
      __m256 best = _mm256_loadu_ps(a);
      __m256i where = _mm256_setzero_si256();
      fold(_mm256_loadu_ps(a + 8), off1, best, where);
      fold(_mm256_loadu_ps(a + W * 8), offW, best, where);
      fold(_mm256_loadu_ps(a + W * 8 + 8), offW1, best, where);
      const int64_t o = (oh * OW + ow) * 8;
      _mm256_storeu_ps(y + o, best);
      const __m256i base = _mm256_set1_epi64x(here);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + o),
                          _mm256_add_epi64(base, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(where))));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + o + 4),
                          _mm256_add_epi64(base, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(where, 1))));
    }
}

// Two registers of four int64 masks (all ones or zeros) as one register of eight float
// masks: the low half of each 64-bit lane, in lane order.
TP_INLINE __m256 narrow(__m256i lo, __m256i hi) {
  const __m256 packed = _mm256_shuffle_ps(_mm256_castsi256_ps(lo), _mm256_castsi256_ps(hi), _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(packed), _MM_SHUFFLE(3, 1, 2, 0)));
}

bool max2x2_blocked_backward_f32(const float* gy, const int64_t* idx, int64_t W, float* gx, int64_t OH,
                                 int64_t OW) {
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t here = 2 * oh * W + 2 * ow;
      const int64_t o = (oh * OW + ow) * 8;
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + o));
      const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + o + 4));
      const __m256i p0 = _mm256_set1_epi64x(here), p1 = _mm256_set1_epi64x(here + 1);
      const __m256i p2 = _mm256_set1_epi64x(here + W), p3 = _mm256_set1_epi64x(here + W + 1);
      const __m256 m0 = narrow(_mm256_cmpeq_epi64(lo, p0), _mm256_cmpeq_epi64(hi, p0));
      const __m256 m1 = narrow(_mm256_cmpeq_epi64(lo, p1), _mm256_cmpeq_epi64(hi, p1));
      const __m256 m2 = narrow(_mm256_cmpeq_epi64(lo, p2), _mm256_cmpeq_epi64(hi, p2));
      const __m256 m3 = narrow(_mm256_cmpeq_epi64(lo, p3), _mm256_cmpeq_epi64(hi, p3));
      if (_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(m0, m1), _mm256_or_ps(m2, m3))) != 0xff) return false;
      const __m256 g = _mm256_loadu_ps(gy + o);
      float* a = gx + here * 8;
      _mm256_storeu_ps(a, _mm256_and_ps(m0, g));
      _mm256_storeu_ps(a + 8, _mm256_and_ps(m1, g));
      _mm256_storeu_ps(a + W * 8, _mm256_and_ps(m2, g));
      _mm256_storeu_ps(a + W * 8 + 8, _mm256_and_ps(m3, g));
    }
  return true;
}

// One output position per step: each tap is one register, folded by MAXPS (which keeps
// `best` where v is not greater, so a NaN tap is skipped) while an unordered compare flags
// NaN lanes; a window with one is redone per lane by the exact rule.
void max_blocked_f32(const float* x, int64_t H, int64_t W, float* y, int64_t OH, int64_t OW, const PoolWindow& w) {
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  // Calls f(the 8 lanes of x) for each tap of window (oh, ow) inside the plane.
  auto for_each_tap = [&](int64_t oh, int64_t ow, auto&& f) {
    for (int64_t i = 0; i < w.kh; ++i) {
      const int64_t ih = oh * w.sh - w.ph + i * w.dh;
      if (ih < 0 || ih >= H) continue;
      for (int64_t j = 0; j < w.kw; ++j) {
        const int64_t iw = ow * w.sw - w.pw + j * w.dw;
        if (iw >= 0 && iw < W) f(x + (ih * W + iw) * 8);
      }
    }
  };
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      __m256 best = neg_inf;
      __m256 nan = _mm256_setzero_ps();
      for_each_tap(oh, ow, [&](const float* at) {
        const __m256 v = _mm256_loadu_ps(at);
        best = _mm256_max_ps(v, best);  // v > best ? v : best
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      });
      float* out = y + (oh * OW + ow) * 8;
      _mm256_storeu_ps(out, best);
      if (_mm256_movemask_ps(nan) != 0)
        for_each_tap(oh, ow, [&](const float* at) {
          for (int l = 0; l < 8; ++l)
            if (at[l] != at[l]) out[l] = at[l];
        });
    }
}

}  // namespace

// The plain-plane 2x2 kernel stays pool.cc's portable loop (baseline build) on AVX2.
PoolKernels make_pool_table(const char* isa, MaxPool2x2Fn plain_2x2) {
  return {isa, plain_2x2, 8, max2x2_blocked_f32, max2x2_blocked_backward_f32, max_blocked_f32};
}

}  // namespace tessera::cpu::vec::avx2
