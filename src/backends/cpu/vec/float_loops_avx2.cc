// The float32 loops compiled for avx2 (the build gives *_avx512.cc / *_avx2.cc their -m flags).
// GCC 12 reports its own intrinsics' _mm512_undefined_* placeholders as "maybe
// uninitialized" once it vectorizes these loops; the warning is about the header.
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/float_loops.h"

namespace tessera::cpu::vec::avx2 {
#include "backends/cpu/vec/float_loops_impl.h"  // NOLINT: included inside a namespace by design
}  // namespace tessera::cpu::vec::avx2
