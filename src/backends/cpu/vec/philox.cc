// Picks the Philox table with the ISA of the float32 loops.
#include "backends/cpu/vec/philox.h"

#include "backends/cpu/vec/float_loops.h"

namespace tessera::cpu::vec {
namespace avx512 { PhiloxKernels make_philox_table(const char* isa); }
namespace avx2 { PhiloxKernels make_philox_table(const char* isa); }
namespace base { PhiloxKernels make_philox_table(const char* isa); }

const PhiloxKernels& philox_kernels() {
  // cpu_isa_name() already honours the CPU flags and TESSERA_ISA.
  static const PhiloxKernels& chosen = *philox_kernels_for(cpu_isa_name());
  return chosen;
}

const PhiloxKernels* philox_kernels_for(std::string_view isa) {
  if (!cpu_runs_isa(isa)) return nullptr;
  if (isa == "avx512") {
    static const PhiloxKernels t = avx512::make_philox_table("avx512");
    return &t;
  }
  if (isa == "avx2") {
    static const PhiloxKernels t = avx2::make_philox_table("avx2");
    return &t;
  }
  static const PhiloxKernels t = base::make_philox_table("baseline");
  return &t;
}

}  // namespace tessera::cpu::vec
