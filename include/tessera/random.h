#pragma once
// Counter-based random numbers (Philox-4x32-10). Element i of a random tensor is a pure
// function of (seed, offset, i), so results are identical for any thread count, and a
// generator's state is two integers that a checkpoint can store.
#include <cstdint>
#include <optional>

#include "tessera/export.h"

namespace tessera {

class TESSERA_API Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }
  // Reserves `n` counters (each yields four 32-bit values) and returns the first.
  uint64_t reserve(uint64_t n) {
    uint64_t first = offset_;
    offset_ += n;
    return first;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator used when none is passed.
TESSERA_API Generator& default_generator();
TESSERA_API void manual_seed(uint64_t seed);

// Philox-4x32-10 block: four 32-bit outputs for a (key, counter) pair.
struct PhiloxBlock {
  uint32_t v[4];
};
TESSERA_API PhiloxBlock philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo);

}  // namespace tessera
