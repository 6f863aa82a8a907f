// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
// A counter-based generator: the output is a pure function of (key, counter), which is
// what lets every element of a random tensor be computed independently on any thread.
#include "tessera/random.h"

#include <algorithm>

namespace tessera {
namespace {

constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1

inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

}  // namespace

PhiloxBlock philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo) {
  // Word order follows Random123: ctr[0] is the least significant word of the 128-bit
  // counter and key[0] the least significant word of the key, so the published
  // known-answer vectors apply directly.
  uint32_t c0 = static_cast<uint32_t>(counter_lo);
  uint32_t c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi);
  uint32_t c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key);
  uint32_t k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, c0, hi0, lo0);
    mulhilo(kMul1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

void philox_blocks(uint64_t key, uint64_t first_counter, int64_t count, PhiloxBlock* out) {
  // philox() on `count` consecutive counters, one call and one loop instead of a call per
  // block. This is the portable version (GCC 12 leaves the widening 32x32->64 products
  // scalar even when built for AVX-512, tried with target_clones); the CPU random kernels
  // draw through the intrinsics versions in backends/cpu/vec/philox_*.cc instead, which
  // tests/backends/philox_vec_test.cc holds to this function and to philox().
  constexpr int64_t kLanes = 16;
  for (int64_t base = 0; base < count; base += kLanes) {
    const int64_t len = std::min<int64_t>(kLanes, count - base);
    uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
    for (int64_t j = 0; j < kLanes; ++j) {
      const uint64_t ctr = first_counter + static_cast<uint64_t>(base + j);
      c0[j] = static_cast<uint32_t>(ctr);
      c1[j] = static_cast<uint32_t>(ctr >> 32);
      c2[j] = 0;
      c3[j] = 0;
    }
    uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        k0 += kWeyl0;
        k1 += kWeyl1;
      }
      for (int64_t j = 0; j < kLanes; ++j) {
        const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0[j];
        const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2[j];
        const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[j] ^ k0;
        const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[j] ^ k1;
        c1[j] = static_cast<uint32_t>(p1);
        c3[j] = static_cast<uint32_t>(p0);
        c0[j] = n0;
        c2[j] = n2;
      }
    }
    for (int64_t j = 0; j < len; ++j) out[base + j] = PhiloxBlock{{c0[j], c1[j], c2[j], c3[j]}};
  }
}

// ---------------------------------------------------------------- Generator
// One mutex per generator: a draw is a few loads and stores, so the lock is uncontended
// in practice, and it keeps (seed, offset) consistent, which two atomics would not.

Generator::Generator(const Generator& other) {
  std::lock_guard<std::mutex> lock(other.mu_);
  seed_ = other.seed_;
  offset_ = other.offset_;
}

Generator& Generator::operator=(const Generator& other) {
  if (this == &other) return *this;
  uint64_t seed, offset;
  {
    std::lock_guard<std::mutex> lock(other.mu_);
    seed = other.seed_;
    offset = other.offset_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  seed_ = seed;
  offset_ = offset;
  return *this;
}

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mu_);
  seed_ = seed;
  offset_ = 0;
}

uint64_t Generator::seed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seed_;
}

uint64_t Generator::offset() const {
  std::lock_guard<std::mutex> lock(mu_);
  return offset_;
}

void Generator::set_offset(uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  offset_ = offset;
}

Generator::Counters Generator::reserve_counters(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  const Counters c{seed_, offset_};
  offset_ += n;
  return c;
}

Generator& default_generator() {
  // Leaked on purpose: tensors freed from other static destructors may still draw.
  static Generator* gen = new Generator();
  return *gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {
// Per thread, so a thread that trains its own model with its own generator draws exactly
// what it would alone, whatever other threads do meanwhile.
thread_local Generator* t_current = nullptr;
}  // namespace

Generator& current_generator() { return t_current != nullptr ? *t_current : default_generator(); }

GeneratorGuard::GeneratorGuard(Generator& gen) : previous_(t_current) { t_current = &gen; }
GeneratorGuard::~GeneratorGuard() { t_current = previous_; }

}  // namespace tessera
