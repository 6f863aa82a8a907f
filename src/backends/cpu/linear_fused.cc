// The CPU kernel of linear_fused (ops/linear_fused.cc): a oneDNN matmul primitive with the
// weight in the layout it picks (packed panels, laid out once per weight tensor by
// onednn::prepared_weights), the bias as its bias argument, a residual as a sum post-op
// and ReLU as an eltwise post-op. Measured against dnnl_sgemm with the bias added after
// (encoder and CNN shapes, AVX-512): 128x1024 @ 1024x256 0.76 -> 0.58 ms at 1 thread and
// 0.61 -> 0.29 ms at 2; the 1x9216 @ 9216x128 of CNN28 0.068 -> 0.044 ms.
// A single row (batch-1 inference) takes vec::float_loops().gemv_packed instead, over the
// weight packed once into column panels: oneDNN's row-major weight for M = 1 streamed
// CNN64's 8 MB fc weight from memory at 0.63 ms where the panels take 0.31 (AVX2 VM, the
// weight evicted between calls as it is between inferences; 0.205 -> 0.16 ms when cached).
// Where oneDNN's best ISA is AVX2 the primitive is slower than dnnl_sgemm followed by an
// epilogue pass over the output (still in cache): the encoder's 128x256 @ 256x1024 with
// ReLU took 1.8-2.9 ms against 1.0-1.3 (AVX2 VM, 1 thread, oneDNN 2.6), and its other
// layers were no faster; there the kernel runs sgemm, then bias, residual and ReLU.
// With precision "bf16" (autocast, tessera/autocast.h) the same primitive reads bfloat16
// operands: the weight rounded once, by the reorder into its packed layout (cached with it),
// the input on every call; bias, residual and output stay float32.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "backends/cpu/onednn.h"
#include "backends/cpu/sgemm.h"
#include "backends/cpu/vec/float_loops.h"
#include "core/parallel_internal.h"
#include "ops/copy.h"
#include "ops/linalg.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;
using Tag = dnnl::memory::format_tag;
constexpr auto kF32 = dnnl::memory::data_type::f32;
constexpr auto kBF16 = dnnl::memory::data_type::bf16;

struct FusedLinear {
  dnnl::primitive prim;
  dnnl::memory::desc src, wei, bias, dst, scratchpad;
  std::optional<onednn::Reorder> wei_reorder;  // from the tensor's strides to `wei`
  std::optional<onednn::Reorder> src_reorder;  // bf16: the float32 input rounded into `src`
};

std::shared_ptr<const FusedLinear> build(int64_t m, int64_t k, int64_t n, int64_t ws0, int64_t ws1, bool residual,
                                         bool relu, bool bf16) {
  auto c = std::make_shared<FusedLinear>();
  const auto op_dt = bf16 ? kBF16 : kF32;
  c->src = dnnl::memory::desc({m, k}, op_dt, Tag::ab);
  if (bf16) c->src_reorder.emplace(dnnl::memory::desc({m, k}, kF32, Tag::ab), c->src);
  c->bias = dnnl::memory::desc({1, n}, kF32, Tag::ab);
  c->dst = dnnl::memory::desc({m, n}, kF32, Tag::ab);
  const dnnl::memory::desc user_wei({k, n}, kF32, dnnl::memory::dims{ws0, ws1});
  dnnl::post_ops post;
  if (residual) post.append_sum(1.f);
  if (relu) post.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr = onednn::attr();
  attr.set_post_ops(post);
  const dnnl::matmul::primitive_desc pd(
      dnnl::matmul::desc(c->src, dnnl::memory::desc({k, n}, op_dt, Tag::any), c->bias, c->dst), attr, onednn::engine());
  c->prim = dnnl::matmul(pd);
  c->scratchpad = pd.scratchpad_desc();
  c->wei = pd.weights_desc();
  if (c->wei != user_wei) c->wei_reorder.emplace(user_wei, c->wei);
  return c;
}

std::shared_ptr<const FusedLinear> cached(int64_t m, int64_t k, int64_t n, int64_t ws0, int64_t ws1, bool residual,
                                          bool relu, bool bf16) {
  return onednn::cached_primitive<FusedLinear>({m, k, n, ws0, ws1, residual, relu, bf16},
                                               [&] { return build(m, k, n, ws0, ws1, residual, relu, bf16); });
}

// The cache key of a weight's panel packing (one per shape and strides, so that two views
// of one storage get their own packings).
struct GemvPacking {};

Tensor packed_for_gemv(const Tensor& w) {
  const int64_t k = w.size(0), n = w.size(1), s0 = w.stride(0), s1 = w.stride(1);
  const auto key = onednn::cached_primitive<GemvPacking>({k, n, s0, s1}, [] { return std::make_shared<GemvPacking>(); });
  constexpr int64_t P = vec::kGemvPanel;
  const int64_t panels = (n + P - 1) / P;
  return onednn::prepared_weights(key.get(), w, static_cast<size_t>(panels * k * P) * sizeof(float), [&](void* out) {
    const float* wp = w.data<float>();
    float* o = static_cast<float*>(out);
    for (int64_t p = 0; p < panels; ++p)
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < P; ++j) {
          const int64_t col = p * P + j;
          o[(p * k + i) * P + j] = col < n ? wp[i * s0 + col * s1] : 0.f;
        }
  });
}

// y[j] += bias[j], then + residual[j] (nullptr for none), then ReLU, for j in [0, n): the
// order oneDNN's bias and post-ops apply.
void epilogue_row(const float* bias, const float* residual, bool relu, int64_t n, float* y) {
  for (int64_t j = 0; j < n; ++j) {
    float v = y[j] + bias[j];
    if (residual != nullptr) v += residual[j];
    y[j] = relu ? std::max(v, 0.f) : v;
  }
}

// epilogue_row over the rows of y [m, n], split across threads.
void epilogue(const float* bias, const float* residual, bool relu, int64_t m, int64_t n, float* y) {
  parallel_for(0, m, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, n)), [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i)
      epilogue_row(bias, residual != nullptr ? residual + i * n : nullptr, relu, n, y + i * n);
  });
}

// Whether rows > 1 run dnnl_sgemm and epilogue() rather than the primitive.
bool prefers_sgemm() {
  static const bool avx2 = dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx2 ||
                           dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx2_vnni;
  return avx2;
}

// y [m, n] = x [m, k] @ w [k, n] by dnnl_sgemm.
void linear_sgemm(const float* x, const Tensor& w, int64_t m, float* y) {
  const int64_t k = w.size(0), n = w.size(1);
  detail::sync_openmp_threads();
  cpu::sgemm(x, k, 1, w.data<float>(), w.stride(0), w.stride(1), y, m, n, k, 1.f, 0.f);
}

// y [n] = relu?(x [k] @ w + bias (+ residual)), residual = nullptr for none.
void gemv(const float* x, const Tensor& w, const float* bias, const float* residual, bool relu, float* y) {
  const int64_t k = w.size(0), n = w.size(1);
  constexpr int64_t P = vec::kGemvPanel;
  const Tensor packed = packed_for_gemv(w);
  const float* pp = static_cast<const float*>(packed.data_ptr());
  const vec::GemvPackedFn kernel = vec::float_loops().gemv_packed;
  // Chunks of at least ~64K multiply-adds: below that a woken thread costs more than it does.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / (k * P));
  parallel_for(0, (n + P - 1) / P, grain, [&](int64_t p0, int64_t p1) {
    kernel(x, pp, k, n, p0, p1, y);
    const int64_t j0 = p0 * P, j1 = std::min(n, p1 * P);
    epilogue_row(bias + j0, residual != nullptr ? residual + j0 : nullptr, relu, j1 - j0, y + j0);
  });
}

void linear_fused_kernel(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  const Tensor& w = call.inputs[1];
  const Tensor bias = contiguous(call.inputs[2]);
  Tensor& y = call.outputs[0];
  const int64_t k = w.size(0), n = w.size(1);
  const int64_t m = n > 0 ? y.numel() / n : 0;
  const bool residual = call.inputs.size() == 4;
  const bool relu = call.attrs.get<std::string>("activation") == "relu";
  const bool bf16 = ops::wants_bf16(call.attrs);
  if (m == 0 || n == 0) return;
  float* yp = y.data<float>();
  const Tensor r = residual ? contiguous(call.inputs[3]) : Tensor();
  const float* rp = residual ? r.data<float>() : nullptr;
  if (k == 0) {  // an empty sum: the epilogue alone (oneDNN rejects zero dims)
    std::fill(yp, yp + m * n, 0.f);
    epilogue(bias.data<float>(), rp, relu, m, n, yp);
    return;
  }
  if (m == 1 && !bf16) {
    gemv(x.data<float>(), w, bias.data<float>(), rp, relu, yp);
    return;
  }
  if (!bf16 && prefers_sgemm()) {
    linear_sgemm(x.data<float>(), w, m, yp);
    epilogue(bias.data<float>(), rp, relu, m, n, yp);
    return;
  }
  if (residual) std::memcpy(yp, rp, static_cast<size_t>(m * n) * sizeof(float));
  // Strides of 0 (a broadcast weight) or negative ones are not a layout oneDNN takes.
  const Tensor wl = (w.stride(0) >= 1 && w.stride(1) >= 1) ? w : contiguous(w);
  try {
    const auto lin = cached(m, k, n, wl.stride(0), wl.stride(1), residual, relu, bf16);
    const dnnl::engine& eng = onednn::engine();
    const Tensor weights = lin->wei_reorder ? onednn::prepared_weights(*lin->wei_reorder, wl) : wl;
    const Tensor src = lin->src_reorder ? onednn::reordered(*lin->src_reorder, x) : x;
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(lin->src, eng, src.data_ptr())},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(lin->wei, eng, weights.data_ptr())},
                                               {DNNL_ARG_BIAS, dnnl::memory(lin->bias, eng, bias.data_ptr())},
                                               {DNNL_ARG_DST, dnnl::memory(lin->dst, eng, yp)}};
    const Tensor scratch = onednn::add_scratchpad(lin->scratchpad, args);
    lin->prim.execute(onednn::stream(), args);
    onednn::stream().wait();
  } catch (const dnnl::error& e) {
    const std::string what = detail::concat("linear_fused: oneDNN failed (", e.what(), ") for [", m, ", ", k,
                                            "] @ [", k, ", ", n, "]");
    TESSERA_CHECK_ALLOC(e.status != dnnl_out_of_memory, what);
    TESSERA_CHECK_IMPLEMENTED(e.status != dnnl_unimplemented, what);
    TESSERA_INTERNAL_ASSERT(false, what);
  }
}

}  // namespace

void register_linear_fused_kernel() {
  register_kernel(ops::kLinearFused, Device::CPU, linear_fused_kernel, ops::dtype_bit(DType::Float32));
}

}  // namespace tessera::cpu
