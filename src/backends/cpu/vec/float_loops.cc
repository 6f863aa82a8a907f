// Picks the float32 loop table once, from the CPU's flags.
#include "backends/cpu/vec/float_loops.h"

#include <cstdlib>
#include <cstring>

namespace tessera::cpu::vec {
namespace avx512 { FloatLoops make_table(const char* isa); }
namespace avx2 { FloatLoops make_table(const char* isa); }
namespace base { FloatLoops make_table(const char* isa); }

namespace {

bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

struct Tables {
  FloatLoops avx512 = vec::avx512::make_table("avx512");
  FloatLoops avx2 = vec::avx2::make_table("avx2");
  FloatLoops base = vec::base::make_table("baseline");
  const FloatLoops* best = nullptr;
  Tables() {
    best = cpu_has_avx512() ? &avx512 : cpu_has_avx2() ? &avx2 : &base;
    // A lower ISA may be forced (to test or compare it); a higher one is never honoured.
    if (const char* env = std::getenv("TESSERA_ISA")) {
      if (std::strcmp(env, "baseline") == 0) best = &base;
      else if (std::strcmp(env, "avx2") == 0 && best == &avx512) best = &avx2;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const FloatLoops& float_loops() {
  static const FloatLoops& chosen = *tables().best;
  return chosen;
}

const char* cpu_isa_name() { return float_loops().isa; }

const FloatLoops* float_loops_for(std::string_view isa) {
  const Tables& t = tables();
  if (isa == "avx512") return cpu_has_avx512() ? &t.avx512 : nullptr;
  if (isa == "avx2") return cpu_has_avx2() ? &t.avx2 : nullptr;
  if (isa == "baseline") return &t.base;
  return nullptr;
}

}  // namespace tessera::cpu::vec
