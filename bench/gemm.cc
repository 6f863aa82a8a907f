// gemm_1024: C = A x B with 1024x1024 float32 operands, through the eager op (allocating
// its output like any user call) and through oneDNN's sgemm on the same buffers. The two
// are timed alternately, call by call, so that noise from other processes on the machine
// hits both alike and the ratio stays meaningful. Under --precision bf16 the eager op runs
// under autocast (bf16 operands, float32 accumulation) beside the same float32 sgemm.
#include <oneapi/dnnl/dnnl.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "bench.h"
#include "tessera/ops.h"

namespace tessera::bench {

void run_gemm_1024(const BenchContext& ctx) {
  constexpr int64_t N = 1024;
  constexpr double kFlop = 2.0 * N * N * N;
  const char* wl = "gemm_1024";
  const Tensor a = randn({N, N});
  const Tensor b = randn({N, N});
  Tensor direct_out = empty({N, N});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = direct_out.data<float>();

  auto run_tessera = [&] {
    Tensor c = matmul(a, b);
    (void)c;
  };
  auto run_onednn = [&] {
    const dnnl_status_t st = dnnl_sgemm('N', 'N', N, N, N, 1.0f, pa, N, pb, N, 0.0f, pc, N);
    if (st != dnnl_success) throw std::runtime_error("dnnl_sgemm failed");
  };

  // Same answer first: a fast wrong result is not a result. In float32 every element
  // agrees to 1e-3 relative; bf16 operands keep 8 significant bits, so there the check is
  // the relative RMS error of the whole product, which rounding alone puts near 0.3%.
  const Tensor c = matmul(a, b);
  run_onednn();
  const float* pt = c.data<float>();
  if (ctx.bf16) {
    double err = 0, ref = 0;
    for (int64_t i = 0; i < N * N; ++i) {
      err += (double(pt[i]) - pc[i]) * (double(pt[i]) - pc[i]);
      ref += double(pc[i]) * pc[i];
    }
    const double rel = std::sqrt(err / ref);
    if (!(rel <= 1e-2))
      throw std::runtime_error("gemm_1024: tessera::matmul under bf16 autocast is " + std::to_string(rel) +
                               " from dnnl_sgemm (relative RMS), expected at most 0.01");
  } else {
    for (int64_t i = 0; i < N * N; ++i)
      if (std::fabs(pt[i] - pc[i]) > 1e-3f * (1.0f + std::fabs(pc[i])))
        throw std::runtime_error("gemm_1024: tessera::matmul and dnnl_sgemm disagree");
  }

  warm_up(run_tessera);
  warm_up(run_onednn);
  const int n = ctx.iters_or(50);
  std::vector<double> t_tessera, t_onednn;
  for (int i = 0; i < n; ++i) {
    double t0 = now_s();
    run_tessera();
    double t1 = now_s();
    run_onednn();
    double t2 = now_s();
    t_tessera.push_back(t1 - t0);
    t_onednn.push_back(t2 - t1);
  }
  // The p90 line is the slow tail: the GFLOP/s of the 90th-percentile time.
  const double tess_med = kFlop / quantile(t_tessera, 0.5) * 1e-9;
  const double tess_p90 = kFlop / quantile(t_tessera, 0.9) * 1e-9;
  const double dnnl_med = kFlop / quantile(t_onednn, 0.5) * 1e-9;
  const double dnnl_p90 = kFlop / quantile(t_onednn, 0.9) * 1e-9;
  const std::string tessera = ctx.bf16 ? "tessera-eager-bf16" : "tessera-eager";
  emit(wl, tessera, "gflops", "median", tess_med, "GFLOP/s", ctx.threads, n);
  emit(wl, tessera, "gflops", "p90", tess_p90, "GFLOP/s", ctx.threads, n);
  emit(wl, "onednn-sgemm", "gflops", "median", dnnl_med, "GFLOP/s", ctx.threads, n);
  emit(wl, "onednn-sgemm", "gflops", "p90", dnnl_p90, "GFLOP/s", ctx.threads, n);
  emit(wl, tessera, "ratio_vs_onednn", "median", tess_med / dnnl_med, "x", ctx.threads, n);
}

}  // namespace tessera::bench
