// Philox-4x32-10 with AVX-512 (the build gives *_avx512.cc its -m flags; called only when
// the CPU has AVX-512, see philox.cc). No standard-library calls, for the reason
// float_loops_impl.h gives: an inline function from std emitted here could be shared with
// callers on CPUs without AVX-512.
//
// Layout: one block per 64-bit lane, eight blocks per register. _mm512_mul_epu32 multiplies
// the low 32 bits of each 64-bit lane into the full 64-bit product, so a round is two
// multiplies, two shifts (the high halves) and two three-way XORs (vpternlogq), with no
// shuffles: the upper 32 bits of a lane may hold garbage between rounds because the
// multiplies ignore them and only the low 32 bits are ever stored. Four independent
// registers (32 blocks) per step keep the multiplier busy across its latency.
// GCC 12 reports its own intrinsics' _mm512_undefined_* placeholders as "maybe
// uninitialized" (as in float_loops_avx512.cc); the warning is about the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/philox.h"

namespace tessera::cpu::vec::avx512 {
namespace {

#define TP_INLINE __attribute__((always_inline)) inline

constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;
constexpr int kGroups = 4;                 // registers of 8 blocks per step
constexpr int64_t kStepBlocks = 8 * kGroups;
constexpr int64_t kStepWords = 4 * kStepBlocks;

// The 16-word output registers of one step, in stream order: out[2g] holds blocks
// 8g..8g+3 of the step, out[2g+1] blocks 8g+4..8g+7.
struct Step {
  __m512i w[2 * kGroups];
};

TP_INLINE Step philox_step(uint64_t key, uint64_t first_counter) {
  const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  __m512i c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    // 64-bit adds, so a run that crosses 2^32 carries into the counter's second word.
    const __m512i ctr = _mm512_add_epi64(
        _mm512_set1_epi64(static_cast<long long>(first_counter + 8u * static_cast<uint64_t>(g))),
        lane);
    c0[g] = ctr;  // the multiply reads only the low word
    c1[g] = _mm512_srli_epi64(ctr, 32);
    c2[g] = _mm512_setzero_si512();
    c3[g] = _mm512_setzero_si512();
  }
  const __m512i m0 = _mm512_set1_epi64(kMul0), m1 = _mm512_set1_epi64(kMul1);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m512i vk0 = _mm512_set1_epi32(static_cast<int>(k0));
    const __m512i vk1 = _mm512_set1_epi32(static_cast<int>(k1));
    for (int g = 0; g < kGroups; ++g) {
      const __m512i p0 = _mm512_mul_epu32(c0[g], m0);
      const __m512i p1 = _mm512_mul_epu32(c2[g], m1);
      // 0x96: a ^ b ^ c.
      c0[g] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1[g], vk0, 0x96);
      c2[g] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3[g], vk1, 0x96);
      c1[g] = p1;  // low word = lo(p1)
      c3[g] = p0;  // low word = lo(p0)
    }
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  // Back to stream order: lane j of x01 = words 0,1 of block j, of x23 = words 2,3; then
  // interleave the 64-bit lanes of x01 and x23.
  const __m512i lo_idx = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
  const __m512i hi_idx = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
  Step s;
  for (int g = 0; g < kGroups; ++g) {
    const __m512i x01 = _mm512_mask_blend_epi32(0xAAAA, c0[g], _mm512_slli_epi64(c1[g], 32));
    const __m512i x23 = _mm512_mask_blend_epi32(0xAAAA, c2[g], _mm512_slli_epi64(c3[g], 32));
    s.w[2 * g] = _mm512_permutex2var_epi64(x01, lo_idx, x23);
    s.w[2 * g + 1] = _mm512_permutex2var_epi64(x01, hi_idx, x23);
  }
  return s;
}

// A mask of the first `n` of 16 lanes (n may exceed 16).
TP_INLINE __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

void words(uint64_t key, uint64_t first_counter, int64_t count, uint32_t* out) {
  const int64_t total = 4 * count;
  for (int64_t i = 0; i < total; i += kStepWords) {
    const Step s = philox_step(key, first_counter + static_cast<uint64_t>(i / 4));
    const int64_t left = total - i;
    for (int r = 0; r < 2 * kGroups; ++r) {
      const int64_t left_r = left - 16 * r;
      if (left_r <= 0) break;
      _mm512_mask_storeu_epi32(out + i + 16 * r, first_lanes(left_r), s.w[r]);
    }
  }
}

void bernoulli_f32(uint64_t key, uint64_t first_counter, int64_t n, uint32_t threshold,
                   float* out) {
  const __m512i t = _mm512_set1_epi32(static_cast<int>(threshold));
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += kStepWords) {
    const Step s = philox_step(key, first_counter + static_cast<uint64_t>(i / 4));
    const int64_t left = n - i;
    if (left >= kStepWords) {
      for (int r = 0; r < 2 * kGroups; ++r) {
        const __mmask16 hit = _mm512_cmplt_epu32_mask(_mm512_srli_epi32(s.w[r], 8), t);
        _mm512_storeu_ps(out + i + 16 * r, _mm512_maskz_mov_ps(hit, one));
      }
    } else {
      for (int r = 0; r < 2 * kGroups; ++r) {
        const int64_t left_r = left - 16 * r;
        if (left_r <= 0) break;
        const __mmask16 hit = _mm512_cmplt_epu32_mask(_mm512_srli_epi32(s.w[r], 8), t);
        _mm512_mask_storeu_ps(out + i + 16 * r, first_lanes(left_r), _mm512_maskz_mov_ps(hit, one));
      }
    }
  }
}

}  // namespace

PhiloxKernels make_philox_table(const char* isa) { return PhiloxKernels{isa, words, bernoulli_f32}; }

}  // namespace tessera::cpu::vec::avx512
