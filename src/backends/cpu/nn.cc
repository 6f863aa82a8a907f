// Fused CPU kernels of composite ops (ops/nn.cc). A composite keeps its decomposition,
// which autograd runs when gradients are needed (autograd/record.cc); calls without
// gradients (eager inference, compiled inference graphs) run these instead.
//   - layer_norm: one pass for the row's mean, one for its variance (around the mean, in
//     16 lanes), one to normalize and scale, per row, instead of eight ops each reading and writing the whole tensor
//     (the encoder's two layer norms were 16 graph nodes).
#include <cmath>

#include "ops/copy.h"
#include "ops/nn.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;

// Sums over a row in 16 independent lanes of T, combined in double: vectorizes (a
// single running double sum is a chain of dependent adds), and a row of layer_norm is
// short (hundreds to thousands) so per-lane rounding stays far below the tolerance the
// decomposition is held to.
constexpr int kLanes = 16;
template <typename T>
double lane_sum(const T* p, int64_t n, T shift) {
  T lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lane[j] += p[i + j] - shift;
  double s = 0;
  for (; i < n; ++i) s += static_cast<double>(p[i] - shift);
  for (int j = 0; j < kLanes; ++j) s += static_cast<double>(lane[j]);
  return s;
}
template <typename T>
double lane_sum_sq(const T* p, int64_t n, T mean) {
  T lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const T d = p[i + j] - mean;
      lane[j] += d * d;
    }
  double s = 0;
  for (; i < n; ++i) {
    const double d = static_cast<double>(p[i] - mean);
    s += d * d;
  }
  for (int j = 0; j < kLanes; ++j) s += static_cast<double>(lane[j]);
  return s;
}

template <typename T>
void layer_norm(const KernelCall& c) {
  const bool has_w = c.attrs.b("weight"), has_b = c.attrs.b("bias");
  const Tensor x = contiguous(c.inputs[0]);
  size_t next = 1;
  const Tensor w = has_w ? contiguous(c.inputs[next++]) : Tensor();
  const Tensor b = has_b ? contiguous(c.inputs[next++]) : Tensor();
  Tensor& y = c.outputs[0];
  int64_t inner = 1;
  for (int64_t s : c.attrs.ints("normalized_shape")) inner *= s;
  const int64_t rows = inner > 0 ? x.numel() / inner : 0;
  const T eps = static_cast<T>(c.attrs.f("eps"));
  const T* xp = x.data<T>();
  const T* wp = has_w ? w.data<T>() : nullptr;
  const T* bp = has_b ? b.data<T>() : nullptr;
  T* yp = y.data<T>();
  parallel_for(0, rows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, inner)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   const T* xr = xp + r * inner;
                   T* yr = yp + r * inner;
                   const double mean_d = lane_sum(xr, inner, T(0)) / static_cast<double>(inner);
                   const T mean = static_cast<T>(mean_d);
                   const double var = lane_sum_sq(xr, inner, mean) / static_cast<double>(inner);
                   const T rstd = T(1) / std::sqrt(static_cast<T>(var) + eps);
                   for (int64_t i = 0; i < inner; ++i) {
                     T v = (xr[i] - mean) * rstd;
                     if (wp) v *= wp[i];
                     if (bp) v += bp[i];
                     yr[i] = v;
                   }
                 }
               });
}

void layer_norm_kernel(const KernelCall& c) {
  if (c.outputs[0].dtype() == DType::Float64) {
    layer_norm<double>(c);
  } else {
    layer_norm<float>(c);
  }
}

}  // namespace

void register_nn_kernels() {
  register_kernel(ops::kLayerNorm, Device::CPU, layer_norm_kernel, ops::kFloatMask);
}

}  // namespace tessera::cpu
