#include "tessera/version.h"

#include <string>

#include "backends/cpu/vec/float_loops.h"

namespace tessera {

const char* version() { return TESSERA_VERSION_STRING; }

const char* build_info() {
  static const std::string info = std::string("cpu isa: ") + cpu::vec::cpu_isa_name() +
                                  ", gemm: oneDNN, threads: OpenMP";
  return info.c_str();
}

}  // namespace tessera
