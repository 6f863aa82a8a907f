// Philox-4x32-10 with SSE2, which every x86-64 CPU has: the baseline table (TESSERA_ISA=
// baseline, or a CPU without AVX2). The scheme of philox_avx512.cc with two blocks per
// register: _mm_mul_epu32 gives the full 64-bit products of the low words of each 64-bit
// lane, and the upper halves may hold garbage between rounds. SSE2 has no 32-bit blend,
// so the words are merged with a mask and an OR.
#include <emmintrin.h>

#include <cstdint>

#include "backends/cpu/vec/philox.h"

namespace tessera::cpu::vec::base {
namespace {

#define TP_INLINE __attribute__((always_inline)) inline

constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;
// Three registers of two blocks per step: 12 state registers of the 16 xmm.
constexpr int kGroups = 3;
constexpr int64_t kStepBlocks = 2 * kGroups;
constexpr int64_t kStepWords = 4 * kStepBlocks;

// Out registers in stream order: w[2g] is block 2g of the step, w[2g+1] block 2g+1.
struct Step {
  __m128i w[2 * kGroups];
};

TP_INLINE Step philox_step(uint64_t key, uint64_t first_counter) {
  const __m128i lane = _mm_set_epi64x(1, 0);
  __m128i c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    const __m128i ctr = _mm_add_epi64(
        _mm_set1_epi64x(static_cast<long long>(first_counter + 2u * static_cast<uint64_t>(g))),
        lane);
    c0[g] = ctr;
    c1[g] = _mm_srli_epi64(ctr, 32);
    c2[g] = _mm_setzero_si128();
    c3[g] = _mm_setzero_si128();
  }
  const __m128i m0 = _mm_set1_epi64x(kMul0), m1 = _mm_set1_epi64x(kMul1);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m128i vk0 = _mm_set1_epi32(static_cast<int>(k0));
    const __m128i vk1 = _mm_set1_epi32(static_cast<int>(k1));
    for (int g = 0; g < kGroups; ++g) {
      const __m128i p0 = _mm_mul_epu32(c0[g], m0);
      const __m128i p1 = _mm_mul_epu32(c2[g], m1);
      c0[g] = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi64(p1, 32), c1[g]), vk0);
      c2[g] = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi64(p0, 32), c3[g]), vk1);
      c1[g] = p1;
      c3[g] = p0;
    }
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  const __m128i low_words = _mm_set_epi32(0, -1, 0, -1);
  Step s;
  for (int g = 0; g < kGroups; ++g) {
    const __m128i x01 = _mm_or_si128(_mm_and_si128(c0[g], low_words), _mm_slli_epi64(c1[g], 32));
    const __m128i x23 = _mm_or_si128(_mm_and_si128(c2[g], low_words), _mm_slli_epi64(c3[g], 32));
    s.w[2 * g] = _mm_unpacklo_epi64(x01, x23);
    s.w[2 * g + 1] = _mm_unpackhi_epi64(x01, x23);
  }
  return s;
}

void words(uint64_t key, uint64_t first_counter, int64_t count, uint32_t* out) {
  const int64_t total = 4 * count;
  for (int64_t i = 0; i < total; i += kStepWords) {
    const Step s = philox_step(key, first_counter + static_cast<uint64_t>(i / 4));
    // Whole blocks only: total is a multiple of 4, so a step's tail ends on a register.
    for (int r = 0; r < 2 * kGroups && i + 4 * r < total; ++r)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i + 4 * r), s.w[r]);
  }
}

void bernoulli_f32(uint64_t key, uint64_t first_counter, int64_t n, uint32_t threshold,
                   float* out) {
  // (w >> 8) and threshold both lie in [0, 2^24], so the signed compare is exact.
  const __m128i t = _mm_set1_epi32(static_cast<int>(threshold));
  const __m128 one = _mm_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += kStepWords) {
    const Step s = philox_step(key, first_counter + static_cast<uint64_t>(i / 4));
    for (int r = 0; r < 2 * kGroups; ++r) {
      const int64_t at = i + 4 * r;
      if (at >= n) break;
      const __m128i hit = _mm_cmpgt_epi32(t, _mm_srli_epi32(s.w[r], 8));
      const __m128 v = _mm_and_ps(_mm_castsi128_ps(hit), one);
      if (n - at >= 4) {
        _mm_storeu_ps(out + at, v);
      } else {
        alignas(16) float tmp[4];
        _mm_store_ps(tmp, v);
        for (int64_t k = 0; k < n - at; ++k) out[at + k] = tmp[k];
      }
    }
  }
}

}  // namespace

PhiloxKernels make_philox_table(const char* isa) { return PhiloxKernels{isa, words, bernoulli_f32}; }

}  // namespace tessera::cpu::vec::base
