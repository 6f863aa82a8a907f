// The float32 loops compiled for baseline x86-64 (SSE2): the fallback for any CPU.
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/float_loops.h"

namespace tessera::cpu::vec::base {
#include "backends/cpu/vec/float_loops_impl.h"  // NOLINT: included inside a namespace by design
}  // namespace tessera::cpu::vec::base
