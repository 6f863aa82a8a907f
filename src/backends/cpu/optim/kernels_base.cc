// The optimizer loops compiled for base (flags from the file name; see CMakeLists.txt).
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/optim/kernels.h"

namespace tessera::cpu::optim::base {
#include "backends/cpu/optim/kernels_impl.h"
Table<float> make_float_table() { return make_table_t<float>(); }
Table<double> make_double_table() { return make_table_t<double>(); }
}  // namespace tessera::cpu::optim::base
