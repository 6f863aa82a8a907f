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

// The ISA float_loops() uses: the best this CPU runs, or a lower one TESSERA_ISA asks for
// (to test or compare it); a higher one is never honoured.
std::string_view chosen_isa() {
  std::string_view best = cpu_has_avx512() ? "avx512" : cpu_has_avx2() ? "avx2" : "baseline";
  if (const char* env = std::getenv("TESSERA_ISA")) {
    if (std::strcmp(env, "baseline") == 0) best = "baseline";
    else if (std::strcmp(env, "avx2") == 0 && best == "avx512") best = "avx2";
  }
  return best;
}

}  // namespace

bool cpu_runs_isa(std::string_view isa) {
  if (isa == "avx512") return cpu_has_avx512();
  if (isa == "avx2") return cpu_has_avx2();
  return isa == "baseline";
}

const FloatLoops& float_loops() {
  static const FloatLoops& chosen = *float_loops_for(chosen_isa());
  return chosen;
}

const char* cpu_isa_name() { return float_loops().isa; }

const FloatLoops* float_loops_for(std::string_view isa) {
  // Each table is made on first use, and only where cpu_runs_isa says the CPU can run it.
  if (!cpu_runs_isa(isa)) return nullptr;
  if (isa == "avx512") {
    static const FloatLoops t = avx512::make_table("avx512");
    return &t;
  }
  if (isa == "avx2") {
    static const FloatLoops t = avx2::make_table("avx2");
    return &t;
  }
  static const FloatLoops t = base::make_table("baseline");
  return &t;
}

}  // namespace tessera::cpu::vec
