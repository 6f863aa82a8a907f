// Philox-4x32-10 with AVX2 (the build gives *_avx2.cc its -m flags; called only when the
// CPU has AVX2, see philox.cc). The scheme of philox_avx512.cc at half the width: one
// block per 64-bit lane, four blocks per register, _mm256_mul_epu32 for the widening
// products, garbage allowed in the upper half of each lane between rounds. No
// standard-library calls (see float_loops_impl.h for why).
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/philox.h"

namespace tessera::cpu::vec::avx2 {
namespace {

#define TP_INLINE __attribute__((always_inline)) inline

constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;
// Three registers of four blocks per step: 12 state registers plus the constants fit the
// 16 ymm registers without spilling.
constexpr int kGroups = 3;
constexpr int64_t kStepBlocks = 4 * kGroups;
constexpr int64_t kStepWords = 4 * kStepBlocks;

// Out registers in stream order: w[2g] holds blocks 4g, 4g+1 of the step, w[2g+1]
// blocks 4g+2, 4g+3.
struct Step {
  __m256i w[2 * kGroups];
};

TP_INLINE Step philox_step(uint64_t key, uint64_t first_counter) {
  const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0);
  __m256i c0[kGroups], c1[kGroups], c2[kGroups], c3[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    const __m256i ctr = _mm256_add_epi64(
        _mm256_set1_epi64x(static_cast<long long>(first_counter + 4u * static_cast<uint64_t>(g))),
        lane);
    c0[g] = ctr;
    c1[g] = _mm256_srli_epi64(ctr, 32);
    c2[g] = _mm256_setzero_si256();
    c3[g] = _mm256_setzero_si256();
  }
  const __m256i m0 = _mm256_set1_epi64x(kMul0), m1 = _mm256_set1_epi64x(kMul1);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m256i vk0 = _mm256_set1_epi32(static_cast<int>(k0));
    const __m256i vk1 = _mm256_set1_epi32(static_cast<int>(k1));
    for (int g = 0; g < kGroups; ++g) {
      const __m256i p0 = _mm256_mul_epu32(c0[g], m0);
      const __m256i p1 = _mm256_mul_epu32(c2[g], m1);
      c0[g] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[g]), vk0);
      c2[g] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[g]), vk1);
      c1[g] = p1;
      c3[g] = p0;
    }
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  Step s;
  for (int g = 0; g < kGroups; ++g) {
    const __m256i x01 = _mm256_blend_epi32(c0[g], _mm256_slli_epi64(c1[g], 32), 0xAA);
    const __m256i x23 = _mm256_blend_epi32(c2[g], _mm256_slli_epi64(c3[g], 32), 0xAA);
    // Per 128-bit half: unpacklo gives blocks 0 and 2, unpackhi blocks 1 and 3.
    const __m256i even = _mm256_unpacklo_epi64(x01, x23);
    const __m256i odd = _mm256_unpackhi_epi64(x01, x23);
    s.w[2 * g] = _mm256_permute2x128_si256(even, odd, 0x20);
    s.w[2 * g + 1] = _mm256_permute2x128_si256(even, odd, 0x31);
  }
  return s;
}

void words(uint64_t key, uint64_t first_counter, int64_t count, uint32_t* out) {
  const int64_t total = 4 * count;
  for (int64_t i = 0; i < total; i += kStepWords) {
    const Step s = philox_step(key, first_counter + static_cast<uint64_t>(i / 4));
    const int64_t left = total - i;
    if (left >= kStepWords) {
      for (int r = 0; r < 2 * kGroups; ++r)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i + 8 * r), s.w[r]);
    } else {
      alignas(32) uint32_t tmp[kStepWords];
      for (int r = 0; r < 2 * kGroups; ++r)
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8 * r), s.w[r]);
      for (int64_t j = 0; j < left; ++j) out[i + j] = tmp[j];
    }
  }
}

void bernoulli_f32(uint64_t key, uint64_t first_counter, int64_t n, uint32_t threshold,
                   float* out) {
  // (w >> 8) and threshold both lie in [0, 2^24], so the signed compare is exact.
  const __m256i t = _mm256_set1_epi32(static_cast<int>(threshold));
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += kStepWords) {
    const Step s = philox_step(key, first_counter + static_cast<uint64_t>(i / 4));
    __m256 v[2 * kGroups];
    for (int r = 0; r < 2 * kGroups; ++r) {
      const __m256i hit = _mm256_cmpgt_epi32(t, _mm256_srli_epi32(s.w[r], 8));
      v[r] = _mm256_and_ps(_mm256_castsi256_ps(hit), one);
    }
    const int64_t left = n - i;
    if (left >= kStepWords) {
      for (int r = 0; r < 2 * kGroups; ++r) _mm256_storeu_ps(out + i + 8 * r, v[r]);
    } else {
      alignas(32) float tmp[kStepWords];
      for (int r = 0; r < 2 * kGroups; ++r) _mm256_store_ps(tmp + 8 * r, v[r]);
      for (int64_t j = 0; j < left; ++j) out[i + j] = tmp[j];
    }
  }
}

}  // namespace

PhiloxKernels make_philox_table(const char* isa) { return PhiloxKernels{isa, words, bernoulli_f32}; }

}  // namespace tessera::cpu::vec::avx2
