// Picks the Philox table with the ISA of the float32 loops.
#include "backends/cpu/vec/philox.h"

#include "backends/cpu/vec/float_loops.h"

namespace tessera::cpu::vec {
namespace avx512 { PhiloxKernels make_philox_table(const char* isa); }
namespace avx2 { PhiloxKernels make_philox_table(const char* isa); }
namespace base { PhiloxKernels make_philox_table(const char* isa); }

namespace {

struct Tables {
  PhiloxKernels avx512 = vec::avx512::make_philox_table("avx512");
  PhiloxKernels avx2 = vec::avx2::make_philox_table("avx2");
  PhiloxKernels base = vec::base::make_philox_table("baseline");
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const PhiloxKernels& philox_kernels() {
  // cpu_isa_name() already honours the CPU flags and TESSERA_ISA.
  static const PhiloxKernels& chosen = *philox_kernels_for(cpu_isa_name());
  return chosen;
}

const PhiloxKernels* philox_kernels_for(std::string_view isa) {
  const Tables& t = tables();
  return table_for_isa(isa, t.avx512, t.avx2, t.base);
}

}  // namespace tessera::cpu::vec
