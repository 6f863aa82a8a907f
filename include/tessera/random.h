#pragma once
// Counter-based random numbers (Philox-4x32-10). Element i of a random tensor is a pure
// function of (seed, offset, i), so results are identical for any thread count, and a
// generator's state is two integers that a checkpoint can store.
//
// Threads (docs/threading.md): a Generator may be shared by threads (every draw reserves
// its own counters under the generator's lock), but draws from a shared generator then
// depend on the order the threads reach it. For results that do not depend on timing,
// give each thread its own generator: pass it explicitly, or make it the thread's current
// one with GeneratorGuard.
#include <cstdint>
#include <mutex>

#include "tessera/export.h"

namespace tessera {

class TESSERA_API Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  // Copies the state: the copy then draws exactly what the original would have.
  Generator(const Generator& other);
  Generator& operator=(const Generator& other);

  void manual_seed(uint64_t seed);
  uint64_t seed() const;
  uint64_t offset() const;
  void set_offset(uint64_t offset);

  // The seed and the first of `n` newly reserved counters (each counter yields four 32-bit
  // values), read and advanced together: concurrent draws get disjoint counters, and a
  // concurrent manual_seed never pairs one seed with the other's offset.
  struct Counters {
    uint64_t seed;
    uint64_t offset;
  };
  Counters reserve_counters(uint64_t n);
  // Reserves `n` counters and returns the first.
  uint64_t reserve(uint64_t n) { return reserve_counters(n).offset; }

 private:
  mutable std::mutex mu_;  // guards seed_ and offset_
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator; manual_seed() reseeds it (and only it).
TESSERA_API Generator& default_generator();
TESSERA_API void manual_seed(uint64_t seed);

// The calling thread's current generator: the innermost live GeneratorGuard's on this
// thread, else default_generator(). Every random function called without an explicit
// generator draws from it: rand, randn, bernoulli, dropout, nn::init, the initialization
// in layer constructors.
TESSERA_API Generator& current_generator();

// Makes `gen` the calling thread's current generator until the guard is destroyed (guards
// nest; other threads are unaffected). `gen` must outlive the guard.
//
//   Generator gen(seed);
//   GeneratorGuard guard(gen);
//   auto model = models::cnn28();  // initialized from gen
//   ...                            // dropout draws from gen too
class TESSERA_API GeneratorGuard {
 public:
  explicit GeneratorGuard(Generator& gen);
  ~GeneratorGuard();
  GeneratorGuard(const GeneratorGuard&) = delete;
  GeneratorGuard& operator=(const GeneratorGuard&) = delete;

 private:
  Generator* previous_;
};

// Philox-4x32-10 block: four 32-bit outputs for a (key, counter) pair.
struct PhiloxBlock {
  uint32_t v[4];
};
TESSERA_API PhiloxBlock philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo);
// philox(key, 0, first_counter + j) for j in [0, count), into out[j]; vectorized.
TESSERA_API void philox_blocks(uint64_t key, uint64_t first_counter, int64_t count, PhiloxBlock* out);

}  // namespace tessera
