#pragma once
// tessera-bench: the workloads of ../shared/bench/WORKLOADS.md, printed as the JSON Lines
// the peer runners print, so figures can be compared line by line.
//
// Adding a workload: write `void run_<name>(const BenchContext&)` in its own bench/*.cc
// and add one line to the table in workloads.cc.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tessera::bench {

struct BenchContext {
  int threads = 1;  // intra-op threads (already applied with set_num_threads)
  int iters = 0;    // counted iterations asked for on the command line; 0 = workload default
  double minutes = 0;  // --minutes: how long a run-for-a-while workload (soak) runs; 0 = its default
  // --mode graph: the model workloads run compiled (tessera::compile; docs/graph.md) and
  // report as system "tessera-graph". The Fashion-MNIST epoch and the soak run eager.
  bool graph = false;
  // --mode onnx --onnx-dir DIR: the inference workloads run DIR/<model>.onnx (the peers'
  // export of the same model, e.g. cnn28.onnx) imported and compiled (tessera::onnx), and
  // report as system "tessera-onnx": what an imported model costs beside ONNX Runtime.
  std::string onnx_dir;
  // --precision bf16: the workloads run under autocast (tessera/autocast.h) and report as
  // "<system>-bf16", e.g. "tessera-graph-bf16".
  bool bf16 = false;
  // The iteration count to use: the one asked for, else the workload's own default.
  int iters_or(int fallback) const { return iters > 0 ? iters : fallback; }
};

using WorkloadFn = void (*)(const BenchContext&);
struct Workload {
  const char* name;
  const char* what;
  WorkloadFn run;
  bool by_default = true;  // false: long, runs only when named with --workload
};
// The system a model workload reports as: tessera-eager, tessera-graph or tessera-onnx,
// with "-bf16" under --precision bf16.
std::string system_of(const BenchContext& ctx);

// Every workload this binary knows, in the order `--list` prints them.
const std::vector<Workload>& workloads();

// One JSON line on stdout: {"workload": ..., "system": ..., "metric": ..., "stat": ...,
// "value": ..., "unit": ..., "threads": ..., "n": ...}.
void emit(const std::string& workload, const std::string& system, const std::string& metric,
          const std::string& stat, double value, const std::string& unit, int threads, int64_t n);

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// WORKLOADS.md's protocol: warm up for at least 10 calls and 1 s, then time `n` calls
// (stopping early, after at least min_n, once `budget_s` is spent). Seconds per call.
std::vector<double> time_calls(const std::function<void()>& fn, int n, double budget_s = 60.0,
                               int min_n = 10);

// Warm-up only (the first half of time_calls), for runs that time several things in turn.
void warm_up(const std::function<void()>& fn, int min_iters = 10, double min_s = 1.0);

// q in [0, 1], linear interpolation between order statistics (NumPy's default), so the
// figures match the peers' np.median / np.percentile.
double quantile(std::vector<double> xs, double q);

}  // namespace tessera::bench
