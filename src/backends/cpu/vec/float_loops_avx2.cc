// The float32 loops compiled for avx2 (the build gives *_avx512.cc / *_avx2.cc their -m flags).
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/float_loops.h"

namespace tessera::cpu::vec::avx2 {
#include "backends/cpu/vec/float_loops_impl.h"  // NOLINT: included inside a namespace by design
}  // namespace tessera::cpu::vec::avx2
