// CPU kernels of the random family. Work is split over Philox blocks, never over a
// sequential stream, so each output element is the same for any thread count.
#include "ops/copy.h"
#include "ops/random.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <utility>
#include <vector>

#include "backends/cpu/convert.h"
#include "backends/cpu/vec/philox.h"
#include "ops/registration.h"
#include "tessera/parallel.h"
#include "tessera/random.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;

// Each block costs ~10-20 ns; this keeps a thread's share well above the wake-up cost.
constexpr int64_t kBlockGrain = 4096;
// Blocks drawn per call into the Philox kernels: a multiple of their steps (32 blocks with
// AVX-512, 12 with AVX2, 6 with SSE2), so no call computes blocks it then throws away, and
// 1.5 KB of words on the stack.
constexpr int64_t kDrawBlocks = 96;

struct Stream {
  uint64_t key;
  uint64_t offset;
  explicit Stream(const ops::Attrs& a)
      : key(static_cast<uint64_t>(a.i("seed"))), offset(static_cast<uint64_t>(a.i("offset"))) {}
  PhiloxBlock block(int64_t b) const { return philox(key, 0, offset + static_cast<uint64_t>(b)); }
};

// Draws blocks [0, blocks) in parallel chunks of up to kDrawBlocks and calls
// use(first_block, count, words) with each chunk's 4 * count Philox words.
template <typename Use>
void for_each_draw(const Stream& s, int64_t blocks, Use use) {
  const vec::PhiloxWordsFn draw = vec::philox_kernels().words;
  parallel_for(0, blocks, kBlockGrain, [&](int64_t b0, int64_t b1) {
    alignas(64) uint32_t w[4 * kDrawBlocks];
    for (int64_t b = b0; b < b1; b += kDrawBlocks) {
      const int64_t len = std::min<int64_t>(kDrawBlocks, b1 - b);
      draw(s.key, s.offset + static_cast<uint64_t>(b), len, w);
      use(b, len, static_cast<const uint32_t*>(w));
    }
  });
}

// Calls fill(first_element, count, words) for every block covering [0, numel), where
// words are the block's four Philox outputs.
template <typename Fill>
void for_each_block(const Stream& s, int64_t numel, int per_block, Fill fill) {
  for_each_draw(s, (numel + per_block - 1) / per_block, [&](int64_t b, int64_t len, const uint32_t* w) {
    for (int64_t j = 0; j < len; ++j) {
      const int64_t first = (b + j) * per_block;
      fill(first, std::min<int64_t>(per_block, numel - first), w + 4 * j);
    }
  });
}

// For kernels that take one word per element (word e % 4 of block e / 4): calls
// fill(first_element, count, words) over [0, numel) in runs, words[k] being element
// first + k's word, so the fill is one flat loop the compiler can vectorize.
template <typename Fill>
void for_each_word_run(const Stream& s, int64_t numel, Fill fill) {
  for_each_draw(s, (numel + 3) / 4, [&](int64_t b, int64_t len, const uint32_t* w) {
    fill(4 * b, std::min<int64_t>(4 * len, numel - 4 * b), w);
  });
}

// Uniforms in [0, 1) on a grid of 2^-bits.
inline float uniform_f(uint32_t w, int bits, float scale) {
  return static_cast<float>(w >> (32 - bits)) * scale;
}
inline double uniform_d(uint32_t lo, uint32_t hi) {
  const uint64_t x = ((static_cast<uint64_t>(hi) << 32) | lo) >> 11;
  return static_cast<double>(x) * 0x1p-53;
}

// High 64 bits of a 64x64 product: maps a 64-bit draw onto [0, range) (Lemire).
inline uint64_t mulhi64(uint64_t a, uint64_t b) {
  const uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
  const uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
  const uint64_t lo_lo = a_lo * b_lo;
  const uint64_t hi_lo = a_hi * b_lo;
  const uint64_t lo_hi = a_lo * b_hi;
  const uint64_t hi_hi = a_hi * b_hi;
  const uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
  return hi_hi + (hi_lo >> 32) + (cross >> 32);
}

inline uint64_t word64(const uint32_t* r, int pair) {
  return (static_cast<uint64_t>(r[2 * pair + 1]) << 32) | r[2 * pair];
}

void rand_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  const Stream s(c.attrs);
  const double low = c.attrs.f("low"), span = c.attrs.f("high") - low;
  const DType requested = c.attrs.get<DType>("dtype");
  const int64_t n = out.numel();
  if (out.dtype() == DType::Float64) {
    double* p = out.data<double>();
    for_each_block(s, n, 2, [&](int64_t first, int64_t count, const uint32_t* r) {
      for (int64_t k = 0; k < count; ++k)
        p[first + k] = low + span * uniform_d(r[2 * k], r[2 * k + 1]);
    });
    return;
  }
  // f32, or f16/bf16 computed in f32: the grid is the requested dtype's.
  const int bits = ops::uniform_bits(requested);
  const float scale = std::ldexp(1.0f, -bits);
  float* p = out.data<float>();
  for_each_word_run(s, n, [&](int64_t first, int64_t count, const uint32_t* w) {
    for (int64_t k = 0; k < count; ++k)
      p[first + k] = static_cast<float>(low + span * uniform_f(w[k], bits, scale));
  });
}

void randn_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  const Stream s(c.attrs);
  const double mean = c.attrs.f("mean"), stdev = c.attrs.f("std");
  const int64_t n = out.numel();
  // Box-Muller: a pair of uniforms gives a pair of independent normals. 1 - u lies in
  // (0, 1], so the logarithm is finite.
  if (out.dtype() == DType::Float64) {
    double* p = out.data<double>();
    for_each_block(s, n, 2, [&](int64_t first, int64_t count, const uint32_t* r) {
      const double u1 = uniform_d(r[0], r[1]), u2 = uniform_d(r[2], r[3]);
      const double rad = std::sqrt(-2.0 * std::log(1.0 - u1));
      const double theta = 2.0 * std::numbers::pi * u2;
      p[first] = mean + stdev * rad * std::cos(theta);
      if (count > 1) p[first + 1] = mean + stdev * rad * std::sin(theta);
    });
    return;
  }
  float* p = out.data<float>();
  const float scale = 0x1p-24f;
  const auto m = static_cast<float>(mean), sd = static_cast<float>(stdev);
  for_each_block(s, n, 4, [&](int64_t first, int64_t count, const uint32_t* r) {
    float z[4];
    for (int pair = 0; pair < 2; ++pair) {
      const float u1 = uniform_f(r[2 * pair], 24, scale);
      const float u2 = uniform_f(r[2 * pair + 1], 24, scale);
      const float rad = std::sqrt(-2.0f * std::log(1.0f - u1));
      const float theta = 2.0f * std::numbers::pi_v<float> * u2;
      z[2 * pair] = rad * std::cos(theta);
      z[2 * pair + 1] = rad * std::sin(theta);
    }
    for (int64_t k = 0; k < count; ++k) p[first + k] = m + sd * z[k];
  });
}

void randint_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  const Stream s(c.attrs);
  const int64_t low = c.attrs.i("low"), high = c.attrs.i("high");
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  const int per_block = ops::randint_per_block(low, high);
  const int64_t n = out.numel();
  TESSERA_DISPATCH_NUMERIC(out.dtype(), "randint", [&] {
    scalar_t* p = out.data<scalar_t>();
    for_each_block(s, n, per_block, [&](int64_t first, int64_t count, const uint32_t* r) {
      for (int64_t k = 0; k < count; ++k) {
        // Unsigned arithmetic: low + draw may pass through values outside int64.
        const uint64_t draw = per_block == 4 ? (static_cast<uint64_t>(r[k]) * range) >> 32
                                             : mulhi64(word64(r, static_cast<int>(k)), range);
        const auto v = static_cast<int64_t>(static_cast<uint64_t>(low) + draw);
        p[first + k] = convert<scalar_t>(v);
      }
    });
  });
}

void bernoulli_kernel(const KernelCall& c) {
  const Tensor probs = contiguous(c.inputs[0]);
  Tensor& out = c.outputs[0];
  const Stream s(c.attrs);
  const int64_t n = out.numel();
  TESSERA_DISPATCH_FLOATING(out.dtype(), "bernoulli", [&] {
    const scalar_t* q = probs.data<scalar_t>();
    for (int64_t i = 0; i < n; ++i) {
      // Written so NaN fails too.
      TESSERA_CHECK(q[i] >= 0 && q[i] <= 1, "bernoulli: expected probabilities in [0, 1], got ",
                    q[i], " at element ", i);
    }
    scalar_t* p = out.data<scalar_t>();
    if constexpr (std::is_same_v<scalar_t, double>) {
      for_each_block(s, n, 2, [&](int64_t first, int64_t count, const uint32_t* r) {
        for (int64_t k = 0; k < count; ++k)
          p[first + k] = uniform_d(r[2 * k], r[2 * k + 1]) < q[first + k] ? 1.0 : 0.0;
      });
    } else {
      for_each_block(s, n, 4, [&](int64_t first, int64_t count, const uint32_t* r) {
        for (int64_t k = 0; k < count; ++k)
          p[first + k] = uniform_f(r[k], 24, 0x1p-24f) < q[first + k] ? 1.0f : 0.0f;
      });
    }
  });
}

void bernoulli_scalar_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  const Stream s(c.attrs);
  const double prob = c.attrs.f("p");
  const int64_t n = out.numel();
  // u < p with u = (w >> 8) * 2^-24 is (w >> 8) < p * 2^24 (powers of two scale exactly),
  // and for an integer x, x < t exactly when x < ceil(t): one integer compare per element.
  // p is checked to lie in [0, 1] when the op is built, so the threshold is in [0, 2^24].
  const double t = std::ceil(std::ldexp(prob, 24));
  const uint32_t threshold = t > 0 ? static_cast<uint32_t>(std::min(t, 0x1p24)) : 0u;
  if (out.dtype() == DType::Float32) {
    // Dropout's mask: Philox and the compare in one vector loop (vec/philox_*.cc), with no
    // per-element branch and no intermediate word buffer. CNN28's compiled training step at
    // batch 64, bernoulli_scalar [64x64x12x12] (590K elements), TESSERA_PROFILE=1, best of
    // 3: 1 thread 2.44 ms before (scalar Philox, a double compare per element), 0.255 ms
    // with AVX-512, 0.41 ms with TESSERA_ISA=avx2, ~2.0 ms with baseline SSE2 (noisy);
    // 2 threads 0.148 ms (AVX-512).
    const vec::PhiloxBernoulliF32Fn draw = vec::philox_kernels().bernoulli_f32;
    float* p = out.data<float>();
    const int64_t blocks = (n + 3) / 4;
    parallel_for(0, blocks, kBlockGrain, [&](int64_t b0, int64_t b1) {
      const int64_t first = 4 * b0, count = std::min(4 * b1, n) - first;
      draw(s.key, s.offset + static_cast<uint64_t>(b0), count, threshold, p + first);
    });
    return;
  }
  static_assert(ops::kBernoulliScalarPerBlock == 4, "the f32 path draws one word per element");
  TESSERA_DISPATCH_ALL(out.dtype(), "bernoulli", [&] {
    scalar_t* p = out.data<scalar_t>();
    const scalar_t one = convert<scalar_t>(1.0f), zero = convert<scalar_t>(0.0f);
    for_each_word_run(s, n, [p, one, zero, threshold](int64_t first, int64_t count,
                                                      const uint32_t* w) {
      for (int64_t k = 0; k < count; ++k) p[first + k] = (w[k] >> 8) < threshold ? one : zero;
    });
  });
}

void randperm_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  const Stream s(c.attrs);
  const int64_t n = out.numel();
  // Fisher-Yates is sequential; draw d (swap of position n-1-d) reads lane pair d % 2 of
  // block d / 2.
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  PhiloxBlock r{};
  for (int64_t d = 0; d + 1 < n; ++d) {
    if (d % ops::kRandpermPerBlock == 0) r = s.block(d / ops::kRandpermPerBlock);
    const int64_t i = n - 1 - d;
    const auto j = static_cast<int64_t>(mulhi64(
        word64(r.v, static_cast<int>(d % ops::kRandpermPerBlock)), static_cast<uint64_t>(i + 1)));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  TESSERA_DISPATCH_NUMERIC(out.dtype(), "randperm", [&] {
    scalar_t* p = out.data<scalar_t>();
    for (int64_t i = 0; i < n; ++i) p[i] = convert<scalar_t>(perm[static_cast<size_t>(i)]);
  });
}

}  // namespace

void register_random_kernels() {
  using ops::dtype_bit;
  register_kernel(ops::kRand, Device::CPU, rand_kernel, ops::kFloatMask);
  register_kernel(ops::kRandn, Device::CPU, randn_kernel, ops::kFloatMask);
  register_kernel(ops::kRandint, Device::CPU, randint_kernel, ops::kNumericMask | dtype_bit(kBool));
  register_kernel(ops::kBernoulli, Device::CPU, bernoulli_kernel, ops::kFloatMask);
  register_kernel(ops::kBernoulliScalar, Device::CPU, bernoulli_scalar_kernel, ops::kAllMask);
  register_kernel(ops::kRandperm, Device::CPU, randperm_kernel, ops::kNumericMask);
}

}  // namespace tessera::cpu
