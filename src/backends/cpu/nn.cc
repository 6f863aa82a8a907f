// Fused CPU kernels of composite ops (ops/nn.cc). A composite keeps its decomposition,
// which autograd runs when gradients are needed (autograd/record.cc); calls without
// gradients (eager inference, compiled inference graphs) run these instead.
//   - layer_norm: one pass for the row's mean, one for its variance (around the mean, in
//     16 lanes), one to normalize and scale, per row, instead of eight ops each reading and writing the whole tensor
//     (the encoder's two layer norms were 16 graph nodes).
//   - scaled_dot_product_attention (float32, no dropout): see sdpa_kernel.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/sgemm.h"
#include "core/parallel_internal.h"
#include "ops/copy.h"
#include "ops/nn.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
void softmax_row_f32(const float* x, float* y, int64_t n, bool log);  // reduce_scan.cc

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


// ---------------------------------------------------------------- attention

// Element offsets of batch item b (row-major over `batch`) in a tensor whose leading
// batch.size() dims have `strides` (0 where it broadcasts).
int64_t batch_offset(int64_t b, const Shape& batch, const std::vector<int64_t>& strides) {
  int64_t off = 0;
  for (size_t d = batch.size(); d-- > 0;) {
    off += (b % batch[d]) * strides[d];
    b /= batch[d];
  }
  return off;
}

// The strides that read `t` broadcast to `shape` (its dims aligned to the right).
std::vector<int64_t> broadcast_strides(const Tensor& t, const Shape& shape) {
  std::vector<int64_t> st(shape.size(), 0);
  const int64_t lead = static_cast<int64_t>(shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d)
    st[static_cast<size_t>(lead + d)] = t.size(d) == 1 ? 0 : t.stride(d);
  return st;
}

// Where the fused kernel takes a call: float32 q, k, v with the same batch dims (no
// broadcasting between them), no dropout, a bool or float32 mask of no more dims than q,
// and no empty dim.
bool sdpa_fused_applies(const KernelCall& c) {
  const Tensor& q = c.inputs[0];
  const Tensor& k = c.inputs[1];
  const Tensor& v = c.inputs[2];
  if (q.dtype() != DType::Float32 || k.dtype() != DType::Float32 || v.dtype() != DType::Float32) return false;
  if (c.attrs.f("dropout_p") != 0.0 || q.dim() != k.dim() || q.dim() != v.dim()) return false;
  for (int64_t d = 0; d + 2 < q.dim(); ++d)
    if (k.size(d) != q.size(d) || v.size(d) != q.size(d)) return false;
  if (c.attrs.b("mask") && ((c.inputs[3].dtype() != DType::Bool && c.inputs[3].dtype() != DType::Float32) ||
                            c.inputs[3].dim() > q.dim()))
    return false;
  return c.outputs[0].numel() > 0 && k.size(-2) > 0 && q.size(-1) > 0;
}

// scaled_dot_product_attention for float32 inference. The decomposition writes the
// [..., L, S] scores four times over (matmul, the 1/sqrt(E) mul, softmax, matmul); here
// each task (one batch item's block of query rows) makes its block of scores with one
// sgemm whose alpha is the scale, masks and softmaxes it in place, and multiplies it by V
// while it is still in cache. q, k and v are read through their strides (the heads of a
// packed QKV projection are strided views), so the head split costs no copy.
// The encoder's attention (4 heads of 64, 128 x 128 scores), AVX2 VM, eager, medians of
// 400 alternating calls, ms: 0.33 / 0.42 vs 0.35 / 0.45 for the four ops at 1 thread (two
// runs), 0.20 / 0.21 vs 0.21 / 0.24 at 2. The rest is the two products, which sgemm runs
// at its small-matrix rate, and the softmax's exp.
// Other calls (float64, dropout, batch dims that broadcast) run the decomposition.
void sdpa_kernel(const KernelCall& c) {
  if (!sdpa_fused_applies(c)) {
    copy_into(c.outputs[0], ops::call_decomposition(ops::kScaledDotProductAttention, c.inputs, c.attrs)[0]);
    return;
  }
  const Tensor& q = c.inputs[0];
  const Tensor& k = c.inputs[1];
  const Tensor& v = c.inputs[2];
  Tensor& out = c.outputs[0];
  const int64_t rank = q.dim(), L = q.size(-2), S = k.size(-2), E = q.size(-1), Ev = v.size(-1);
  const Shape batch(IntArrayRef(q.sizes().data(), static_cast<size_t>(rank - 2)));
  int64_t nbatch = 1;
  for (int64_t s : batch) nbatch *= s;
  auto strides_of = [&](const Tensor& t) { return std::vector<int64_t>(t.strides().begin(), t.strides().end() - 2); };
  const std::vector<int64_t> qb = strides_of(q), kb = strides_of(k), vb = strides_of(v);
  // The mask's strides over [batch..., L, S] (0 where it broadcasts).
  const bool has_mask = c.attrs.b("mask");
  const bool causal = c.attrs.b("is_causal");
  Shape scores_shape = batch;
  scores_shape.push_back(L);
  scores_shape.push_back(S);
  const std::vector<int64_t> ms = has_mask ? broadcast_strides(c.inputs[3], scores_shape) : std::vector<int64_t>();
  const std::vector<int64_t> mb(ms.begin(), has_mask ? ms.end() - 2 : ms.begin());
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(E)));

  // Blocks of up to kRows query rows whose scores (rows x S floats) stay within 64 KB.
  // The blocks do not depend on the thread count, so neither do the results.
  constexpr int64_t kRows = 128;
  const int64_t rows = std::clamp<int64_t>((int64_t{1} << 14) / S, 1, std::min<int64_t>(L, kRows));
  const int64_t blocks = (L + rows - 1) / rows;
  const float* qp = q.data<float>();
  const float* kp = k.data<float>();
  const float* vp = v.data<float>();
  float* op = out.data<float>();
  const float neg_inf = -std::numeric_limits<float>::infinity();
  detail::sync_openmp_threads();
  parallel_for(0, nbatch * blocks, 1, [&](int64_t t0, int64_t t1) {
    // Per thread and kept between calls, so that a warm inference allocates only its outputs.
    thread_local std::vector<float> scores;
    if (scores.size() < static_cast<size_t>(rows * S)) scores.resize(static_cast<size_t>(rows * S));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / blocks, i0 = (t % blocks) * rows, n = std::min(rows, L - i0);
      const float* qi = qp + batch_offset(b, batch, qb) + i0 * q.stride(-2);
      const float* kbp = kp + batch_offset(b, batch, kb);
      // scores [n, S] = scale * q[i0:i0+n] @ k^T
      sgemm(qi, q.stride(-2), q.stride(-1), kbp, k.stride(-1), k.stride(-2), scores.data(), n, S, E, scale, 0.f);
      for (int64_t i = 0; i < n; ++i) {
        float* row = scores.data() + i * S;
        if (has_mask) {
          const Tensor& m = c.inputs[3];
          const int64_t off = batch_offset(b, batch, mb) + (i0 + i) * ms[static_cast<size_t>(rank - 2)];
          const int64_t js = ms[static_cast<size_t>(rank - 1)];
          if (m.dtype() == DType::Bool) {
            const bool* mp = m.data<bool>() + off;
            for (int64_t j = 0; j < S; ++j)
              if (!mp[j * js]) row[j] = neg_inf;
          } else {
            const float* mp = m.data<float>() + off;
            for (int64_t j = 0; j < S; ++j) row[j] += mp[j * js];
          }
        }
        if (causal)  // keep j <= i, as tril(ones(L, S)) does
          for (int64_t j = i0 + i + 1; j < S; ++j) row[j] = neg_inf;
        softmax_row_f32(row, row, S, false);
      }
      // out[i0:i0+n] = scores @ v
      sgemm(scores.data(), S, 1, vp + batch_offset(b, batch, vb), v.stride(-2), v.stride(-1),
            op + (b * L + i0) * Ev, n, Ev, S, 1.f, 0.f);
    }
  });
}

}  // namespace

void register_nn_kernels() {
  register_kernel(ops::kLayerNorm, Device::CPU, layer_norm_kernel, ops::kFloatMask);
  register_kernel(ops::kScaledDotProductAttention, Device::CPU, sdpa_kernel, ops::kFloatMask);
}

}  // namespace tessera::cpu
