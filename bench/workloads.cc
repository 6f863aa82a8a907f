// The workload table: one line per workload (its run function lives in its own file).
#include "bench.h"

namespace tessera::bench {

void run_gemm_1024(const BenchContext& ctx);    // gemm.cc
void run_op_overhead(const BenchContext& ctx);  // op_overhead.cc

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> table = {
      {"gemm_1024", "C = A x B, 1024^3 float32, tessera::matmul vs oneDNN's sgemm", run_gemm_1024},
      {"op_overhead", "eager add of two 1-element float32 tensors (dispatch cost)", run_op_overhead},
  };
  return table;
}

}  // namespace tessera::bench
