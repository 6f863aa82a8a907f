#include "tessera/version.h"

#include <string>


namespace tessera {
namespace cpu {
const char* cpu_isa_name();  // backends/cpu/vec: the ISA the float32 loops run on
}

const char* version() { return TESSERA_VERSION_STRING; }

const char* build_info() {
  static const std::string info = std::string("cpu isa: ") + cpu::cpu_isa_name() +
                                  ", gemm: oneDNN, threads: OpenMP";
  return info.c_str();
}

}  // namespace tessera
