// op_overhead: the fixed cost of one eager op, tessera::add on two 1-element float32
// tensors, where the arithmetic is nothing and dispatch is everything.
//
// A single call (< 1 us) is too short to time alone against the clock's own cost, so each
// sample times a burst of calls and divides; median and p90 are over samples.
//
// On stderr it also prints a breakdown of where one call's time goes, by timing the
// pieces the dispatcher is made of, one at a time (no profiler needed).
#include <cstdio>
#include <functional>
#include <vector>

#include "bench.h"
#include "ops/elementwise.h"
#include "ops/op.h"
#include "tessera/ops.h"

namespace tessera::bench {
namespace {

constexpr int kCallsPerSample = 100;

// Microseconds per call, one value per sample of kCallsPerSample calls.
std::vector<double> per_call_us(const std::function<void()>& fn, int samples) {
  warm_up([&] {
    for (int i = 0; i < kCallsPerSample; ++i) fn();
  });
  std::vector<double> us;
  us.reserve(static_cast<size_t>(samples));
  for (int s = 0; s < samples; ++s) {
    const double t0 = now_s();
    for (int i = 0; i < kCallsPerSample; ++i) fn();
    us.push_back((now_s() - t0) * 1e6 / kCallsPerSample);
  }
  return us;
}

// Keeps the optimizer from deleting work whose result is otherwise unused.
template <typename T>
void keep(const T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

void breakdown(const Tensor& a, const Tensor& b, double total_us) {
  const int samples = 200;
  auto med = [&](const std::function<void()>& fn) { return quantile(per_call_us(fn, samples), 0.5); };
  const ops::Kernel* kernel = ops::find_kernel(ops::kAdd, Device::CPU);
  Tensor out = make_tensor({1}, kFloat32);
  const ops::Attrs no_attrs;

  struct Part {
    const char* what;
    double us;
  };
  std::vector<Part> parts = {
      {"std::vector<Tensor>{a, b} (2 refcount incs + heap)", med([&] {
         std::vector<Tensor> v{a, b};
         keep(v);
       })},
      {"infer: result_type + broadcast_shapes + metas", med([&] {
         std::vector<ops::InputMeta> v{a, b};
         ops::InferResult r = ops::kAdd.infer(v, no_attrs);
         keep(r);
       })},
      {"make_tensor({1}, f32): allocator + TensorImpl + Storage", med([&] {
         Tensor t = make_tensor({1}, kFloat32);
         keep(t);
       })},
      {"kernel: ElementwiseLoop + 1-element loop", med([&] {
         std::vector<Tensor> in{a, b};
         std::vector<Tensor> outs{out};
         kernel->fn(ops::KernelCall{ops::kAdd, in, outs, no_attrs});
       })},
  };
  std::fprintf(stderr, "# op_overhead breakdown (median us per call; parts overlap where noted):\n");
  std::fprintf(stderr, "#   %-58s %7.3f\n", "tessera::add total", total_us);
  for (const Part& p : parts) std::fprintf(stderr, "#   %-58s %7.3f\n", p.what, p.us);
}

}  // namespace

void run_op_overhead(const BenchContext& ctx) {
  const Tensor a = ones({1});
  const Tensor b = ones({1});
  const int n = ctx.iters_or(2000);
  const std::vector<double> us = per_call_us(
      [&] {
        Tensor c = add(a, b);
        keep(c);
      },
      n);
  const double med = quantile(us, 0.5);
  emit("op_overhead", "tessera-eager", "latency_us", "median", med, "us", ctx.threads, n);
  emit("op_overhead", "tessera-eager", "latency_us", "p90", quantile(us, 0.9), "us", ctx.threads, n);
  breakdown(a, b, med);
}

}  // namespace tessera::bench
