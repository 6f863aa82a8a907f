// The workload table: one line per workload (its run function lives in its own file).
#include "bench.h"

namespace tessera::bench {

void run_gemm_1024(const BenchContext& ctx);    // gemm.cc
void run_op_overhead(const BenchContext& ctx);  // op_overhead.cc
// models_bench.cc
void run_mlp_train_b128(const BenchContext& ctx);
void run_cnn28_train_b64(const BenchContext& ctx);
void run_cnn64_train_b32(const BenchContext& ctx);
void run_cnn28_infer_b1(const BenchContext& ctx);
void run_cnn28_infer_b256(const BenchContext& ctx);
void run_cnn64_infer_b1(const BenchContext& ctx);
void run_encoder_infer_b1(const BenchContext& ctx);
void run_resnet18_infer_b1(const BenchContext& ctx);
void run_cnn28_fmnist_epoch(const BenchContext& ctx);
void run_soak(const BenchContext& ctx);  // soak.cc

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> table = {
      {"gemm_1024", "C = A x B, 1024^3 float32, tessera::matmul vs oneDNN's sgemm", run_gemm_1024},
      {"op_overhead", "eager add of two 1-element float32 tensors (dispatch cost)", run_op_overhead},
      {"mlp_train_b128", "MLP training step, batch 128, SGD momentum 0.9 lr 0.01", run_mlp_train_b128},
      {"cnn28_train_b64", "CNN28 training step, batch 64, Adam lr 1e-3", run_cnn28_train_b64},
      {"cnn64_train_b32", "CNN64 training step, batch 32, SGD momentum 0.9 lr 0.01", run_cnn64_train_b32},
      {"cnn28_infer_b1", "CNN28 inference latency, batch 1", run_cnn28_infer_b1},
      {"cnn28_infer_b256", "CNN28 inference throughput, batch 256", run_cnn28_infer_b256},
      {"cnn64_infer_b1", "CNN64 inference latency, batch 1", run_cnn64_infer_b1},
      {"resnet18_infer_b1", "ResNet-18 inference latency, batch 1, 224x224", run_resnet18_infer_b1},
      {"encoder_infer_b1", "Transformer encoder layer inference, batch 1, seq 128", run_encoder_infer_b1},
      // A full epoch takes about a minute: run only when named.
      {"cnn28_fmnist_epoch", "one CNN28 epoch on Fashion-MNIST + test accuracy", run_cnn28_fmnist_epoch,
       /*by_default=*/false},
      {"soak", "training + inference loops for --minutes N (default 1): RSS and allocator bytes over time",
       run_soak, /*by_default=*/false},
  };
  return table;
}

}  // namespace tessera::bench
