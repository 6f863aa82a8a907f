// The optimizer loops compiled for avx512 (flags from the file name; see CMakeLists.txt).
// GCC 12 flags the masked sqrt intrinsics in <immintrin.h> as "maybe uninitialized"; the
// warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/optim/kernels.h"

namespace tessera::cpu::optim::avx512 {
#include "backends/cpu/optim/kernels_impl.h"
Table<float> make_float_table() { return make_table_t<float>(); }

}  // namespace tessera::cpu::optim::avx512
