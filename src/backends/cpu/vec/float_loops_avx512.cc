// The float32 loops compiled for avx512 (the build gives *_avx512.cc / *_avx2.cc their -m flags).
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/float_loops.h"

namespace tessera::cpu::vec::avx512 {
#include "backends/cpu/vec/float_loops_impl.h"  // NOLINT: included inside a namespace by design
}  // namespace tessera::cpu::vec::avx512
