// The per-ISA Philox kernels (backends/cpu/vec/philox_*.cc) against core's scalar philox(),
// the definition of the stream, on every ISA this CPU runs; and bernoulli_scalar's float32
// path, which uses them, against the formula the kernel used before it was vectorized.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/cpu/vec/float_loops.h"
#include "backends/cpu/vec/philox.h"
#include "tessera/tessera.h"

using namespace tessera;
using tessera::cpu::vec::PhiloxKernels;

namespace {

std::vector<const PhiloxKernels*> runnable_tables() {
  std::vector<const PhiloxKernels*> out;
  for (const char* isa : {"avx512", "avx2", "baseline"})
    if (const PhiloxKernels* t = cpu::vec::philox_kernels_for(isa)) out.push_back(t);
  return out;
}

const uint64_t kKeys[] = {0, 1, 0xFFFFFFFFull, 0x100000000ull, 0x299f31d0a4093822ull,
                          ~uint64_t{0}, 1234};
// Runs starting below 2^32 and 2^64 cross the carry into the counter's second word and
// the wrap of the 64-bit counter.
const uint64_t kFirstCounters[] = {0, 5, (uint64_t{1} << 32) - 37, 0x123456789abcull,
                                   ~uint64_t{0} - 50};
// Not multiples of any lane width or step (8, 12, 32 blocks), and multiples of them.
const int64_t kCounts[] = {0, 1, 2, 3, 7, 8, 9, 12, 13, 31, 32, 33, 64, 100, 257};

constexpr uint32_t kSentinel = 0xDEADBEEFu;

}  // namespace

TEST(PhiloxVec, TablesExistForTheChosenIsa) {
  ASSERT_NE(cpu::vec::philox_kernels_for("baseline"), nullptr);
  EXPECT_EQ(cpu::vec::philox_kernels_for("sse9"), nullptr);
  EXPECT_STREQ(cpu::vec::philox_kernels().isa, cpu::vec::cpu_isa_name());
  for (const char* isa : {"avx512", "avx2"})
    EXPECT_EQ(cpu::vec::philox_kernels_for(isa) != nullptr,
              cpu::vec::float_loops_for(isa) != nullptr)
        << isa;
}

TEST(PhiloxVec, WordsEqualScalarPhiloxOnEveryIsa) {
  const auto tables = runnable_tables();
  std::printf("[ philox  ] ISAs compared: ");
  for (const PhiloxKernels* t : tables) std::printf("%s ", t->isa);
  std::printf("\n");
  for (const PhiloxKernels* t : tables) {
    for (uint64_t key : kKeys) {
      for (uint64_t first : kFirstCounters) {
        for (int64_t count : kCounts) {
          std::vector<uint32_t> out(static_cast<size_t>(4 * count + 5), kSentinel);
          t->words(key, first, count, out.data());
          for (int64_t j = 0; j < count; ++j) {
            const PhiloxBlock want = philox(key, 0, first + static_cast<uint64_t>(j));
            for (int k = 0; k < 4; ++k)
              ASSERT_EQ(out[static_cast<size_t>(4 * j + k)], want.v[k])
                  << t->isa << " key " << key << " first " << first << " count " << count
                  << " block " << j << " word " << k;
          }
          for (size_t i = static_cast<size_t>(4 * count); i < out.size(); ++i)
            ASSERT_EQ(out[i], kSentinel) << t->isa << ": wrote past the end, count " << count;
        }
      }
    }
  }
}

TEST(PhiloxVec, WordsEqualCorePhiloxBlocksOnALongRun) {
  // A long run, as the random kernels draw it, against core's philox_blocks.
  const int64_t count = 5000;
  std::vector<PhiloxBlock> want(static_cast<size_t>(count));
  philox_blocks(42, (uint64_t{1} << 32) - 1000, count, want.data());
  for (const PhiloxKernels* t : runnable_tables()) {
    std::vector<uint32_t> out(static_cast<size_t>(4 * count));
    t->words(42, (uint64_t{1} << 32) - 1000, count, out.data());
    for (int64_t j = 0; j < count; ++j)
      for (int k = 0; k < 4; ++k)
        ASSERT_EQ(out[static_cast<size_t>(4 * j + k)], want[static_cast<size_t>(j)].v[k])
            << t->isa << " block " << j;
  }
}

TEST(PhiloxVec, BernoulliF32EqualsTheScalarCompareOnEveryIsa) {
  const int64_t sizes[] = {0, 1, 3, 4, 5, 15, 16, 17, 47, 48, 49, 127, 128, 129, 1000};
  const double probs[] = {0.0, 1e-9, 0.1, 0.3, 0.5, 0.7, 1.0 - 1e-9, 1.0};
  for (const PhiloxKernels* t : runnable_tables()) {
    for (double p : probs) {
      // The kernel's threshold: ceil(p * 2^24), as bernoulli_scalar computes it.
      const auto threshold = static_cast<uint32_t>(std::ceil(std::ldexp(p, 24)));
      for (uint64_t first : {uint64_t{0}, (uint64_t{1} << 32) - 7}) {
        for (int64_t n : sizes) {
          std::vector<float> out(static_cast<size_t>(n + 3), -1.0f);
          t->bernoulli_f32(77, first, n, threshold, out.data());
          for (int64_t i = 0; i < n; ++i) {
            const uint32_t w = philox(77, 0, first + static_cast<uint64_t>(i / 4)).v[i % 4];
            // The 24-bit uniform against p in double, as the kernel did before.
            const float want = static_cast<double>(w >> 8) * 0x1p-24 < p ? 1.0f : 0.0f;
            ASSERT_EQ(out[static_cast<size_t>(i)], want)
                << t->isa << " p " << p << " n " << n << " element " << i;
          }
          for (size_t i = static_cast<size_t>(n); i < out.size(); ++i)
            ASSERT_EQ(out[i], -1.0f) << t->isa << ": wrote past the end, n " << n;
        }
      }
    }
  }
}

TEST(BernoulliScalarF32, SameMaskAsBeforeAndAsOtherDtypesForAnyThreadCount) {
  const int saved = get_num_threads();
  // Several parallel chunks (4096 blocks each), ending in a partial block.
  const int64_t n = 4 * 4096 * 5 + 3;
  const double p = 0.37;
  Generator gen(2024);
  gen.set_offset((uint64_t{1} << 32) - 10000);  // the draw crosses the counter's carry
  const uint64_t offset = gen.offset();
  set_num_threads(1);
  const auto one = bernoulli({n}, p, kFloat32, &gen).to_vector<float>();
  set_num_threads(2);
  gen.set_offset(offset);
  const auto two = bernoulli({n}, p, kFloat32, &gen).to_vector<float>();
  gen.set_offset(offset);
  const auto f64 = bernoulli({n}, p, kFloat64, &gen).to_vector<double>();
  gen.set_offset(offset);
  const auto i32 = bernoulli({n}, p, kInt32, &gen).to_vector<int32_t>();
  set_num_threads(saved);
  ASSERT_EQ(one.size(), static_cast<size_t>(n));
  int64_t ones = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<size_t>(i);
    const uint32_t w = philox(2024, 0, offset + static_cast<uint64_t>(i / 4)).v[i % 4];
    const float want = static_cast<double>(w >> 8) < std::ldexp(p, 24) ? 1.0f : 0.0f;
    ASSERT_EQ(one[u], want) << "element " << i;
    ASSERT_EQ(two[u], want) << "element " << i << " at 2 threads";
    ASSERT_EQ(f64[u], static_cast<double>(want)) << "element " << i << " as float64";
    ASSERT_EQ(i32[u], static_cast<int32_t>(want)) << "element " << i << " as int32";
    ones += want != 0.0f;
  }
  // And it is a Bernoulli(p) draw: the share of ones within 5 sigma of p.
  const double share = static_cast<double>(ones) / static_cast<double>(n);
  EXPECT_NEAR(share, p, 5 * std::sqrt(p * (1 - p) / static_cast<double>(n)));
}

TEST(RandF32Philox, UniformValuesFollowTheScalarFormulaForAnyThreadCount) {
  const int saved = get_num_threads();
  const int64_t n = 4 * 4096 * 3 + 2;
  Generator gen(99);
  gen.set_offset((uint64_t{1} << 32) - 5000);
  const uint64_t offset = gen.offset();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    gen.set_offset(offset);
    Tensor t = empty({n}, kFloat32);
    uniform_(t, -2.0, 3.0, &gen);
    const auto v = t.to_vector<float>();
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t w = philox(99, 0, offset + static_cast<uint64_t>(i / 4)).v[i % 4];
      // The 24-bit uniform, then low + span * u in double, rounded once to float.
      const double u = static_cast<double>(w >> 8) * 0x1p-24;
      ASSERT_EQ(v[static_cast<size_t>(i)], static_cast<float>(-2.0 + 5.0 * u))
          << "element " << i << " at " << threads << " threads";
    }
  }
  set_num_threads(saved);
}
