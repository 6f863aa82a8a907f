// The optimizer loops compiled for avx512 (flags from the file name; see CMakeLists.txt).
// GCC 12 flags the masked sqrt intrinsics in <immintrin.h> as "maybe uninitialized"; the
// warning is about the header, not this code.
#if defined(__GNUC__) && !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "optim/kernels.h"

namespace tessera::optim::kernels::avx512 {
#include "optim/kernels_impl.h"
Table<float> make_float_table() { return make_table_t<float>(); }

}  // namespace tessera::optim::kernels::avx512
