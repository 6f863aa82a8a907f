// Max pooling's 2x2 / stride 2 window with AVX-512 (the build gives *_avx512.cc its -m
// flags; called only when the CPU has AVX-512, see pool.cc). No standard-library calls,
// for the reason float_loops_impl.h gives: an inline function from std emitted here could
// be shared with callers on CPUs without AVX-512.
//
// Layout: 16 outputs of a row per step. Their two input rows are 32 floats each, loaded as
// two registers and split into even and odd columns by one two-source permute apiece, so
// the four taps of 16 windows sit in four registers. Row tails are masked loads and stores
// (CNN28's pooled rows are 12 wide, shorter than one register), never a scalar loop.
// Measured on the 2-core AMD EPYC (Zen 4) dev machine, 1 thread, the op on its own (min of
// 60 calls, thread CPU time, the machine shared): CNN28's 64x64x24x24 -> 12x12 pool from
// 1.19 to 0.39-0.61 ms with its input in cache and from 1.26 to 0.83 ms from DRAM;
// CNN64's 32x64x32x32 0.91 -> 0.25-0.34 ms (cached), 32x32x64x64 1.88 -> 1.22 ms (DRAM).
// With the input cached it is bound by these instructions (about 20 cycles per 16
// outputs, Zen 4 running 512-bit operations in two halves), from DRAM by the 7 MB of
// values and int64 indices written.
// GCC 12 reports its own intrinsics' _mm512_undefined_* placeholders as "maybe
// uninitialized" (as in float_loops_avx512.cc); the warning is about the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/pool.h"

namespace tessera::cpu::vec::avx512 {
namespace {

#define TP_INLINE __attribute__((always_inline)) inline

// Masks of the first n lanes (n <= 16), and of the first 2n lanes as two 16-lane halves.
TP_INLINE __mmask16 first(int64_t n) {
  return static_cast<__mmask16>((uint32_t{1} << n) - 1u);
}
TP_INLINE __mmask16 low_half_of_2n(int64_t n) { return n >= 8 ? 0xffff : first(2 * n); }
TP_INLINE __mmask16 high_half_of_2n(int64_t n) { return n <= 8 ? 0 : first(2 * n - 16); }

struct Consts {
  __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  // 2j for the 16 outputs of a step, as two registers of int64.
  __m512i twice_lo = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  __m512i twice_hi = _mm512_setr_epi64(16, 18, 20, 22, 24, 26, 28, 30);
};

// Folds tap v (offset off in the plane's window) into best/where: it wins when greater or
// NaN, as pool.cc's `v > best || isnan(v)`.
TP_INLINE void fold(__m512 v, __m512i off, __m512& best, __m512i& where) {
  const __mmask16 t = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  best = _mm512_mask_mov_ps(best, t, v);
  where = _mm512_mask_mov_epi32(where, t, off);
}

void max2x2_f32(const float* x, int64_t H, int64_t W, float* y, int64_t* idx, int64_t OH,
                int64_t OW) {
  (void)H;
  const Consts k;
  const __m512i off1 = _mm512_set1_epi32(1);
  const __m512i offW = _mm512_set1_epi32(static_cast<int32_t>(W));
  const __m512i offW1 = _mm512_set1_epi32(static_cast<int32_t>(W + 1));
  for (int64_t oh = 0; oh < OH; ++oh) {
    const int64_t row = 2 * oh * W;  // plane position of the window row's first element
    const float* r0 = x + row;
    const float* r1 = r0 + W;
    for (int64_t j0 = 0; j0 < OW; j0 += 16) {
      const int64_t n = OW - j0 < 16 ? OW - j0 : 16;
      const __mmask16 lo = low_half_of_2n(n), hi = high_half_of_2n(n), out = first(n);
      const __m512 p0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * j0);
      const __m512 p1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * j0 + 16);
      const __m512 q0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * j0);
      const __m512 q1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * j0 + 16);
      __m512 best = _mm512_permutex2var_ps(p0, k.even, p1);
      __m512i where = _mm512_setzero_si512();
      fold(_mm512_permutex2var_ps(p0, k.odd, p1), off1, best, where);
      fold(_mm512_permutex2var_ps(q0, k.even, q1), offW, best, where);
      fold(_mm512_permutex2var_ps(q0, k.odd, q1), offW1, best, where);
      _mm512_mask_storeu_ps(y + oh * OW + j0, out, best);
      const __m512i base = _mm512_set1_epi64(row + 2 * j0);
      const __m512i i_lo = _mm512_add_epi64(_mm512_add_epi64(base, k.twice_lo),
                                            _mm512_cvtepi32_epi64(_mm512_castsi512_si256(where)));
      const __m512i i_hi = _mm512_add_epi64(_mm512_add_epi64(base, k.twice_hi),
                                            _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(where, 1)));
      _mm512_mask_storeu_epi64(idx + oh * OW + j0, static_cast<__mmask8>(out), i_lo);
      _mm512_mask_storeu_epi64(idx + oh * OW + j0 + 8, static_cast<__mmask8>(out >> 8), i_hi);
    }
  }
}

// Blocked planes: the 16 lanes of a position are one register, so each window is four
// loads and three folds, with no permutes.
void max2x2_blocked_f32(const float* x, int64_t W, float* y, int64_t* idx, int64_t OH, int64_t OW) {
  const __m512i off1 = _mm512_set1_epi32(1);
  const __m512i offW = _mm512_set1_epi32(static_cast<int32_t>(W));
  const __m512i offW1 = _mm512_set1_epi32(static_cast<int32_t>(W + 1));
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t here = 2 * oh * W + 2 * ow;
      const float* a = x + here * 16;
      __m512 best = _mm512_loadu_ps(a);
      __m512i where = _mm512_setzero_si512();
      fold(_mm512_loadu_ps(a + 16), off1, best, where);
      fold(_mm512_loadu_ps(a + W * 16), offW, best, where);
      fold(_mm512_loadu_ps(a + W * 16 + 16), offW1, best, where);
      const int64_t o = (oh * OW + ow) * 16;
      _mm512_storeu_ps(y + o, best);
      const __m512i base = _mm512_set1_epi64(here);
      _mm512_storeu_si512(idx + o, _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(where))));
      _mm512_storeu_si512(idx + o + 8,
                          _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(where, 1))));
    }
}

bool max2x2_blocked_backward_f32(const float* gy, const int64_t* idx, int64_t W, float* gx, int64_t OH,
                                   int64_t OW) {
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
  const __m512i offW = _mm512_set1_epi32(static_cast<int32_t>(W));
  const __m512i offW1 = _mm512_set1_epi32(static_cast<int32_t>(W + 1));
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t here = 2 * oh * W + 2 * ow;
      const int64_t o = (oh * OW + ow) * 16;
      const __m512i base = _mm512_set1_epi64(here);
      // The index relative to the window, saturated to int32 (a far index matches no tap).
      const __m256i lo = _mm512_cvtsepi64_epi32(_mm512_sub_epi64(_mm512_loadu_si512(idx + o), base));
      const __m256i hi = _mm512_cvtsepi64_epi32(_mm512_sub_epi64(_mm512_loadu_si512(idx + o + 8), base));
      const __m512i rel = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      const __mmask16 m0 = _mm512_cmpeq_epi32_mask(rel, zero), m1 = _mm512_cmpeq_epi32_mask(rel, one);
      const __mmask16 m2 = _mm512_cmpeq_epi32_mask(rel, offW), m3 = _mm512_cmpeq_epi32_mask(rel, offW1);
      if (static_cast<__mmask16>(m0 | m1 | m2 | m3) != 0xffff) return false;
      const __m512 g = _mm512_loadu_ps(gy + o);
      float* a = gx + here * 16;
      _mm512_storeu_ps(a, _mm512_maskz_mov_ps(m0, g));
      _mm512_storeu_ps(a + 16, _mm512_maskz_mov_ps(m1, g));
      _mm512_storeu_ps(a + W * 16, _mm512_maskz_mov_ps(m2, g));
      _mm512_storeu_ps(a + W * 16 + 16, _mm512_maskz_mov_ps(m3, g));
    }
  return true;
}

// One output position per step: each tap is one register, folded by MAXPS (which keeps
// `best` where v is not greater, so a NaN tap is skipped) while an unordered compare flags
// NaN lanes; a window with one is redone per lane by the exact rule.
void max_blocked_f32(const float* x, int64_t H, int64_t W, float* y, int64_t OH, int64_t OW,
                       const PoolWindow& w) {
  const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
  // Calls f(the 16 lanes of x) for each tap of window (oh, ow) inside the plane.
  auto for_each_tap = [&](int64_t oh, int64_t ow, auto&& f) {
    for (int64_t i = 0; i < w.kh; ++i) {
      const int64_t ih = oh * w.sh - w.ph + i * w.dh;
      if (ih < 0 || ih >= H) continue;
      for (int64_t j = 0; j < w.kw; ++j) {
        const int64_t iw = ow * w.sw - w.pw + j * w.dw;
        if (iw >= 0 && iw < W) f(x + (ih * W + iw) * 16);
      }
    }
  };
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow) {
      __m512 best = neg_inf;
      __mmask16 nan = 0;
      for_each_tap(oh, ow, [&](const float* at) {
        const __m512 v = _mm512_loadu_ps(at);
        best = _mm512_max_ps(v, best);  // v > best ? v : best
        nan = static_cast<__mmask16>(nan | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
      });
      float* out = y + (oh * OW + ow) * 16;
      _mm512_storeu_ps(out, best);
      if (nan != 0)
        for_each_tap(oh, ow, [&](const float* at) {
          for (int l = 0; l < 16; ++l)
            if (at[l] != at[l]) out[l] = at[l];
        });
    }
}

}  // namespace

PoolKernels make_pool_table(const char* isa) {
  return {isa, max2x2_f32, 16, max2x2_blocked_f32, max2x2_blocked_backward_f32, max_blocked_f32};
}

}  // namespace tessera::cpu::vec::avx512
