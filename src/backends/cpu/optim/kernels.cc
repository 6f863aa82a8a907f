// Picks the optimizer loop table once, with the ISA the elementwise loops use.
#include "backends/cpu/optim/kernels.h"

#include <cstring>

#include "backends/cpu/vec/float_loops.h"

namespace tessera::cpu::optim {
namespace avx512 { Table<float> make_float_table(); }
namespace avx2 { Table<float> make_float_table(); }
namespace base {
Table<float> make_float_table();
Table<double> make_double_table();
}  // namespace base

const Table<float>& float_table() {
  // Follows cpu_isa_name(), which already honours the CPU flags and TESSERA_ISA.
  static const Table<float> t = [] {
    const char* isa = cpu::vec::cpu_isa_name();
    if (std::strcmp(isa, "avx512") == 0) return avx512::make_float_table();
    if (std::strcmp(isa, "avx2") == 0) return avx2::make_float_table();
    return base::make_float_table();
  }();
  return t;
}

const Table<double>& double_table() {
  static const Table<double> t = base::make_double_table();
  return t;
}

}  // namespace tessera::cpu::optim
