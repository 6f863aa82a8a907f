// CPU kernels of the convolution ops.
//   - float32: oneDNN's convolution primitives (forward, backward data, backward weights).
//     The primitive picks its own memory layouts (blocked, e.g. nChw16c, where that is
//     faster); tensors stay NCHW and are reordered in and out. Creating a primitive costs
//     far more than running a small one, and a training loop repeats the same shapes every
//     step, so primitives (and the reorders they need) are cached by geometry and thread
//     count, process-wide. A cached primitive runs on many threads at once: it holds no
//     per-execution state, since each run brings its own scratchpad (backends/cpu/onednn.h).
//   - float32 with precision "bf16" (autocast, tessera/autocast.h): the same primitives with
//     bfloat16 operands and float32 results; the reorders into the primitive's layouts
//     round the operands, so tensors stay float32.
//   - float64: a direct reference loop (gradient checks run in float64; tests also check
//     oneDNN against it).
// conv_transpose2d runs the backward-data computation with x as the output gradient.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "backends/cpu/conv_first_layer.h"
#include "backends/cpu/onednn.h"
#include "backends/cpu/winograd_bf16.h"
#include "backends/cpu/winograd_f32.h"
#include "core/parallel_internal.h"
#include "ops/conv.h"
#include "ops/copy.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

using ops::ConvGeometry;
using ops::KernelCall;

enum class Pass : int64_t { Forward, BackwardData, BackwardWeights };

// ---------------------------------------------------------------- float64 reference

// Items per parallel task so that each does at least ~32K multiply-adds: gradient checks
// run many tiny convolutions, for which waking threads costs more than the work.
int64_t grain_for(int64_t macs_per_item) {
  return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, macs_per_item));
}

// The output rows (or columns) o for which kernel tap k reads a real input element:
// o * stride - pad + k * dilation inside [0, in).
struct Range {
  int64_t begin, end;
};
Range valid_outputs(int64_t k, int64_t in, int64_t out, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t off = k * dilation - pad;  // input index of output 0
  // smallest o with o * stride + off >= 0, and the end of o with o * stride + off < in
  int64_t b = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t e = in - off <= 0 ? 0 : (in - off + stride - 1) / stride;
  b = std::min(b, out);
  e = std::min(e, out);
  return {b, std::max(b, e)};
}

// Visits every (output position, input position) pair one kernel tap (ki, kj) connects.
template <typename F>
void for_each_tap(const ConvGeometry& g, int64_t ki, int64_t kj, F&& f) {
  const Range rh = valid_outputs(ki, g.h, g.oh, g.stride[0], g.pad_begin[0], g.dilation[0]);
  const Range rw = valid_outputs(kj, g.w, g.ow, g.stride[1], g.pad_begin[1], g.dilation[1]);
  for (int64_t oh = rh.begin; oh < rh.end; ++oh) {
    const int64_t ih = oh * g.stride[0] - g.pad_begin[0] + ki * g.dilation[0];
    for (int64_t ow = rw.begin; ow < rw.end; ++ow) {
      const int64_t iw = ow * g.stride[1] - g.pad_begin[1] + kj * g.dilation[1];
      f(oh * g.ow + ow, ih * g.w + iw);
    }
  }
}

template <typename T>
void ref_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t cg = g.c / g.groups, og = g.o / g.groups;
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow, taps = g.kh * g.kw;
  parallel_for(0, g.n * g.o, grain_for(cg * taps * out_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.o, oc = p % g.o, grp = oc / og;
      T* out = y + p * out_plane;
      std::fill(out, out + out_plane, b ? b[oc] : T(0));
      for (int64_t ic = 0; ic < cg; ++ic) {
        const T* xin = x + (n * g.c + grp * cg + ic) * in_plane;
        const T* wk = w + (oc * cg + ic) * taps;
        for (int64_t ki = 0; ki < g.kh; ++ki)
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const T wv = wk[ki * g.kw + kj];
            for_each_tap(g, ki, kj, [&](int64_t o, int64_t i) { out[o] += wv * xin[i]; });
          }
      }
    }
  });
}

template <typename T>
void ref_backward_data(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  const int64_t cg = g.c / g.groups, og = g.o / g.groups;
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow, taps = g.kh * g.kw;
  parallel_for(0, g.n * g.c, grain_for(og * taps * out_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / g.c, icg = p % g.c, grp = icg / cg, ic = icg % cg;
      T* gin = gx + p * in_plane;
      std::fill(gin, gin + in_plane, T(0));
      for (int64_t oc = grp * og; oc < (grp + 1) * og; ++oc) {
        const T* gout = gy + (n * g.o + oc) * out_plane;
        const T* wk = w + (oc * cg + ic) * taps;
        for (int64_t ki = 0; ki < g.kh; ++ki)
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            const T wv = wk[ki * g.kw + kj];
            for_each_tap(g, ki, kj, [&](int64_t o, int64_t i) { gin[i] += wv * gout[o]; });
          }
      }
    }
  });
}

template <typename T>
void ref_backward_weights(const ConvGeometry& g, const T* x, const T* gy, T* gw) {
  const int64_t cg = g.c / g.groups, og = g.o / g.groups;
  const int64_t in_plane = g.h * g.w, out_plane = g.oh * g.ow, taps = g.kh * g.kw;
  parallel_for(0, g.o * cg, grain_for(g.n * taps * out_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t oc = p / cg, ic = p % cg, grp = oc / og;
      T* gk = gw + p * taps;
      for (int64_t ki = 0; ki < g.kh; ++ki)
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          T acc = 0;
          for (int64_t n = 0; n < g.n; ++n) {
            const T* xin = x + (n * g.c + grp * cg + ic) * in_plane;
            const T* gout = gy + (n * g.o + oc) * out_plane;
            for_each_tap(g, ki, kj, [&](int64_t o, int64_t i) { acc += gout[o] * xin[i]; });
          }
          gk[ki * g.kw + kj] = acc;
        }
    }
  });
}

// ---------------------------------------------------------------- float32 (oneDNN)

using dnnl_dims = dnnl::memory::dims;
using Tag = dnnl::memory::format_tag;
constexpr auto kF32 = dnnl::memory::data_type::f32;
constexpr auto kBF16 = dnnl::memory::data_type::bf16;

std::atomic<int64_t> g_primitives_created{0};

using onednn::engine;

// The three tensors of a convolution as Tessera holds them (NCHW, OIHW / GOIHW) or, with
// Tag::any, as the primitive may choose to lay them out.
dnnl::memory::desc src_md(const ConvGeometry& g, Tag t) { return {{g.n, g.c, g.h, g.w}, kF32, t}; }
dnnl::memory::desc dst_md(const ConvGeometry& g, Tag t) { return {{g.n, g.o, g.oh, g.ow}, kF32, t}; }
// How Tessera holds an activation: plain NCHW (block 0), or channel-blocked [N, C/b, H, W, b]
// (ops/conv_blocked.cc; a compiled training step's convolutions pass these to each other).
Tag activation_tag(int64_t block) { return block == 16 ? Tag::nChw16c : block == 8 ? Tag::nChw8c : Tag::nchw; }
struct Layouts {
  int64_t src = 0, dst = 0;  // x (or gx) and y (or gy): 0 plain, else the block
};
dnnl::memory::desc wei_md(const ConvGeometry& g, bool any) {
  if (g.groups == 1) return {{g.o, g.c, g.kh, g.kw}, kF32, any ? Tag::any : Tag::oihw};
  return {{g.groups, g.o / g.groups, g.c / g.groups, g.kh, g.kw}, kF32, any ? Tag::any : Tag::goihw};
}

// One tensor argument of a cached primitive: Tessera's layout, the primitive's, and the
// reorder between them when they differ (towards the primitive for inputs, back for outputs).
struct Arg {
  int id = 0;  // DNNL_ARG_*
  dnnl::memory::desc user, prim;
  bool output = false;
  std::optional<onednn::Reorder> reorder;
};

// Immutable once built: everything a run writes lives in buffers the run allocates.
struct CachedConv {
  dnnl::primitive prim;
  dnnl::memory::desc scratchpad;
  std::vector<Arg> args;  // in the order the kernel passes pointers
  bool bias = false;
  int64_t channels = 0;  // output channels: the bias length
};

Arg make_arg(int id, const dnnl::memory::desc& user, const dnnl::memory::desc& prim, bool output) {
  Arg a{id, user, prim, output, std::nullopt};
  if (user != prim) {
    if (output) {
      a.reorder.emplace(prim, user);
    } else {
      a.reorder.emplace(user, prim);
    }
  }
  return a;
}

// The primitive's own view of a tensor: `md` with another data type (bf16 operands), the
// layout left to the primitive.
dnnl::memory::desc any_as(const dnnl::memory::desc& md, dnnl::memory::data_type dt) {
  return {md.dims(), dt, Tag::any};
}

std::shared_ptr<CachedConv> build(Pass pass, const ConvGeometry& g, bool bias, bool winograd, bool bf16,
                                  Layouts layouts) {
  const Tag src_tag = activation_tag(layouts.src), dst_tag = activation_tag(layouts.dst);
  const dnnl_dims strides{g.stride[0], g.stride[1]};
  const dnnl_dims dilates{g.dilation[0] - 1, g.dilation[1] - 1};  // oneDNN counts from 0
  const dnnl_dims pad_l{g.pad_begin[0], g.pad_begin[1]};
  const dnnl_dims pad_r{g.pad_end[0], g.pad_end[1]};
  // Tag::any lets oneDNN pick blocked layouts: measured on CNN28's 32->64 conv (AVX-512),
  // its direct kernels plus the reorders take about a third of the time of the
  // gemm-based kernels that plain NCHW gets.
  const auto src_any = src_md(g, Tag::any), dst_any = dst_md(g, Tag::any);
  const auto wei_any = wei_md(g, true);
  // bf16: the two operands of each pass in bfloat16, its result in float32. The forward
  // pass reads src and weights; backward data reads diff_dst and weights; backward
  // weights reads src and diff_dst. The forward descriptor that hints the backward ones
  // is built with the same types.
  const auto op_dt = bf16 ? kBF16 : kF32;
  const auto src_op = any_as(src_any, op_dt), wei_op = any_as(wei_any, op_dt), dst_op = any_as(dst_any, op_dt);
  const dnnl::memory::desc bias_md({g.o}, kF32, Tag::x);
  // Winograd (asked for by the graph pass that picks algorithms) where oneDNN has it for
  // this ISA and shape: about half the time of the direct kernels on 3x3 layers, forward
  // and both backward passes. Elsewhere, direct.
  const dnnl::primitive_attr attr = onednn::attr();
  auto fwd_pd = [&](dnnl::algorithm algo) {
    const auto fwd_desc =
        bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src_op, wei_op, bias_md,
                                               dst_any, strides, dilates, pad_l, pad_r)
             : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src_op, wei_op, dst_any,
                                               strides, dilates, pad_l, pad_r);
    return dnnl::convolution_forward::primitive_desc(fwd_desc, attr, engine());
  };
  auto algo = dnnl::algorithm::convolution_direct;
  std::optional<dnnl::convolution_forward::primitive_desc> fwd_maybe;
  if (winograd) {
    try {
      fwd_maybe = fwd_pd(dnnl::algorithm::convolution_winograd);
      algo = dnnl::algorithm::convolution_winograd;
      // The backward passes must exist for it too, or the three disagree on the algorithm.
      if (pass == Pass::BackwardData)
        (void)dnnl::convolution_backward_data::primitive_desc(
            dnnl::convolution_backward_data::desc(algo, src_any, wei_op, dst_op, strides, dilates, pad_l, pad_r),
            attr, engine(), *fwd_maybe);
      if (pass == Pass::BackwardWeights)
        (void)dnnl::convolution_backward_weights::primitive_desc(
            dnnl::convolution_backward_weights::desc(algo, src_op, wei_any, dst_op, strides, dilates, pad_l, pad_r),
            attr, engine(), *fwd_maybe);
    } catch (const dnnl::error& e) {
      if (e.status != dnnl_unimplemented) throw;
      fwd_maybe.reset();
      algo = dnnl::algorithm::convolution_direct;
    }
  }
  if (!fwd_maybe) fwd_maybe = fwd_pd(algo);
  const dnnl::convolution_forward::primitive_desc& fwd = *fwd_maybe;
  auto c = std::make_shared<CachedConv>();
  c->bias = bias;
  c->channels = g.o;
  switch (pass) {
    case Pass::Forward:
      c->prim = dnnl::convolution_forward(fwd);
      c->scratchpad = fwd.scratchpad_desc();
      c->args = {make_arg(DNNL_ARG_SRC, src_md(g, src_tag), fwd.src_desc(), false),
                 make_arg(DNNL_ARG_WEIGHTS, wei_md(g, false), fwd.weights_desc(), false),
                 make_arg(DNNL_ARG_DST, dst_md(g, dst_tag), fwd.dst_desc(), true)};
      break;
    case Pass::BackwardData: {
      const dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(algo, src_any, wei_op, dst_op, strides, dilates,
                                                pad_l, pad_r),
          attr, engine(), fwd);
      c->prim = dnnl::convolution_backward_data(pd);
      c->scratchpad = pd.scratchpad_desc();
      c->args = {make_arg(DNNL_ARG_DIFF_DST, dst_md(g, dst_tag), pd.diff_dst_desc(), false),
                 make_arg(DNNL_ARG_WEIGHTS, wei_md(g, false), pd.weights_desc(), false),
                 make_arg(DNNL_ARG_DIFF_SRC, src_md(g, src_tag), pd.diff_src_desc(), true)};
      break;
    }
    case Pass::BackwardWeights: {
      const dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(algo, src_op, wei_any, dst_op, strides,
                                                   dilates, pad_l, pad_r),
          attr, engine(), fwd);
      c->prim = dnnl::convolution_backward_weights(pd);
      c->scratchpad = pd.scratchpad_desc();
      c->args = {make_arg(DNNL_ARG_SRC, src_md(g, src_tag), pd.src_desc(), false),
                 make_arg(DNNL_ARG_DIFF_DST, dst_md(g, dst_tag), pd.diff_dst_desc(), false),
                 make_arg(DNNL_ARG_DIFF_WEIGHTS, wei_md(g, false), pd.diff_weights_desc(), true)};
      break;
    }
  }
  g_primitives_created.fetch_add(1, std::memory_order_relaxed);
  return c;
}

std::shared_ptr<const CachedConv> cached(Pass pass, const ConvGeometry& g, bool bias, bool winograd, bool bf16,
                                         Layouts layouts) {
  return onednn::cached_primitive<CachedConv>(
      {static_cast<int64_t>(pass), g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.groups, g.stride[0], g.stride[1],
       g.dilation[0], g.dilation[1], g.pad_begin[0], g.pad_begin[1], g.pad_end[0], g.pad_end[1], bias ? 1 : 0,
       winograd ? 1 : 0, bf16 ? 1 : 0, layouts.src, layouts.dst},
      [&] { return build(pass, g, bias, winograd, bf16, layouts); });
}

// Runs a cached primitive on Tessera tensors (one per arg, in order). Any number of threads
// may run the same CachedConv at once: every buffer written here is this call's own.
void run_primitive(const CachedConv& c, Pass pass, const std::vector<const Tensor*>& tensors, const float* bias) {
  detail::sync_openmp_threads();
  dnnl::stream& stream = onednn::stream();
  std::unordered_map<int, dnnl::memory> exec_args;
  std::vector<Tensor> keep;  // reordered copies and scratchpads, from Tessera's caching allocator
  std::vector<std::pair<const Arg*, const Tensor*>> to_write_back;
  for (size_t i = 0; i < c.args.size(); ++i) {
    const Arg& a = c.args[i];
    const Tensor& t = *tensors[i];
    if (!a.reorder) {
      exec_args.emplace(a.id, dnnl::memory(a.user, engine(), t.data_ptr()));
      continue;
    }
    if (a.output) {
      keep.push_back(make_tensor({static_cast<int64_t>(a.prim.get_size())}, DType::UInt8));
      to_write_back.emplace_back(&a, &t);
    } else {
      // A training step's forward pass keeps what it reorders; the backward passes reuse it.
      keep.push_back(onednn::reordered(*a.reorder, t,
                                       pass == Pass::Forward ? onednn::Reuse::kRemember : onednn::Reuse::kReuse));
    }
    exec_args.emplace(a.id, dnnl::memory(a.prim, engine(), keep.back().data_ptr()));
  }
  if (c.bias)
    exec_args.emplace(DNNL_ARG_BIAS, dnnl::memory({{c.channels}, kF32, Tag::x}, engine(),
                                                  const_cast<float*>(bias)));
  keep.push_back(onednn::add_scratchpad(c.scratchpad, exec_args));
  c.prim.execute(stream, exec_args);
  stream.wait();  // the CPU stream is in-order and synchronous; `keep` must outlive the work
  for (auto& [a, t] : to_write_back)
    onednn::run_reorder(*a->reorder, exec_args.at(a->id).get_data_handle(), t->data_ptr());
}

// Builds (or finds) and runs the primitive of `pass`. oneDNN reports failures as
// dnnl::error, which is no tessera::Error: it is translated here so callers see a kind.
// The shape rule has already checked the geometry, so a failure other than memory or a
// configuration oneDNN has no implementation for is a bug in how Tessera calls it.
void run(Pass pass, const ConvGeometry& g, const std::vector<const Tensor*>& tensors, const float* bias,
         bool winograd, bool bf16, Layouts layouts = {}) {
  try {
    run_primitive(*cached(pass, g, bias != nullptr, winograd, bf16, layouts), pass, tensors, bias);
  } catch (const dnnl::error& e) {
    const std::string what = detail::concat(
        "conv2d: oneDNN failed (", e.what(), ") for input [", g.n, ", ", g.c, ", ", g.h, ", ", g.w,
        "], ", g.o, " output channels, kernel ", g.kh, "x", g.kw, ", groups ", g.groups);
    TESSERA_CHECK_ALLOC(e.status != dnnl_out_of_memory, what);
    TESSERA_CHECK_IMPLEMENTED(e.status != dnnl_unimplemented, what);
    TESSERA_INTERNAL_ASSERT(false, what);
  }
}

// ---------------------------------------------------------------- kernels

bool use_onednn(const Tensor& t, const ConvGeometry& g) {
  // oneDNN rejects zero-sized dims; the reference loop handles them (an empty sum is 0).
  return t.dtype() == DType::Float32 && g.n > 0 && g.c > 0 && g.o > 0 && g.oh > 0 && g.ow > 0;
}

ConvGeometry geometry_from(IntArrayRef in, IntArrayRef wt, const ops::Attrs& attrs) {
  return ops::conv_geometry(in, wt, attrs);
}
IntArrayRef size_attr(const ops::Attrs& attrs, const char* name) { return attrs.ints(name); }
bool wants_winograd(const ops::Attrs& attrs) {
  if (!attrs.has("algorithm")) return false;
  const std::string& algorithm = attrs.get<std::string>("algorithm");
  return algorithm == "winograd" || algorithm == "winograd_4x4";  // (F(4x4) is conv2d_blocked's only)
}
// Winograd asked for in bf16, which oneDNN has no kernel for: Tessera's own
// (winograd_bf16.h) runs all three passes, eager (converting to blocks and back) and
// compiled alike.
bool uses_winograd_bf16(const ops::Attrs& attrs) { return wants_winograd(attrs) && ops::wants_bf16(attrs); }
// Winograd asked for in float32 on a CPU whose oneDNN has none (AVX2): Tessera's own
// (winograd_f32.h), eager and compiled alike, as the bf16 one.
bool uses_winograd_f32(const ops::Attrs& attrs) {
  return wants_winograd(attrs) && !ops::wants_bf16(attrs) && winograd_f32_native();
}

void conv2d_kernel(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  const Tensor w = contiguous(call.inputs[1]);
  const Tensor b = call.inputs.size() == 3 ? contiguous(call.inputs[2]) : Tensor();
  Tensor& y = call.outputs[0];
  const ConvGeometry g = geometry_from(x.sizes(), w.sizes(), call.attrs);
  if (use_onednn(x, g) && uses_winograd_bf16(call.attrs) && winograd_bf16_applies(g, 16)) {
    winograd_bf16_conv_plain(g, x, w, b, y);
  } else if (use_onednn(x, g) && uses_winograd_f32(call.attrs) && winograd_f32_applies(g, 8)) {
    winograd_f32_conv_plain(g, x, w, b, y);
  } else if (use_onednn(x, g)) {
    run(Pass::Forward, g, {&x, &w, &y},
        b.defined() ? b.data<float>() : nullptr, wants_winograd(call.attrs), ops::wants_bf16(call.attrs));
  } else if (x.dtype() == DType::Float64) {
    ref_forward<double>(g, x.data<double>(), w.data<double>(), b.defined() ? b.data<double>() : nullptr,
                        y.data<double>());
  } else {
    ref_forward<float>(g, x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr,
                       y.data<float>());
  }
}

// gx = backward data of the convolution `g`, from gy and w.
void backward_data(const ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx, bool winograd,
                   bool bf16) {
  if (use_onednn(gy, g)) {
    run(Pass::BackwardData, g, {&gy, &w, &gx}, nullptr, winograd, bf16);
  } else if (gy.dtype() == DType::Float64) {
    ref_backward_data<double>(g, gy.data<double>(), w.data<double>(), gx.data<double>());
  } else {
    ref_backward_data<float>(g, gy.data<float>(), w.data<float>(), gx.data<float>());
  }
}

void backward_input_kernel(const KernelCall& call) {
  const Tensor gy = contiguous(call.inputs[0]);
  const Tensor w = contiguous(call.inputs[1]);
  const ConvGeometry g = geometry_from(size_attr(call.attrs, "input_size"), w.sizes(), call.attrs);
  if (use_onednn(gy, g) && uses_winograd_bf16(call.attrs) && winograd_bf16_backward_data_applies(g, 16)) {
    winograd_bf16_backward_data_plain(g, gy, w, call.outputs[0]);
    return;
  }
  if (use_onednn(gy, g) && uses_winograd_f32(call.attrs) && winograd_f32_backward_data_applies(g, 8)) {
    winograd_f32_backward_data_plain(g, gy, w, call.outputs[0]);
    return;
  }
  backward_data(g, gy, w, call.outputs[0], wants_winograd(call.attrs), ops::wants_bf16(call.attrs));
}

void backward_weight_kernel(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  const Tensor gy = contiguous(call.inputs[1]);
  Tensor& gw = call.outputs[0];
  const ConvGeometry g = geometry_from(x.sizes(), size_attr(call.attrs, "weight_size"), call.attrs);
  if (use_onednn(x, g) && uses_winograd_bf16(call.attrs) && winograd_bf16_applies(g, 16)) {
    winograd_bf16_backward_weight_plain(g, x, gy, gw);
  } else if (use_onednn(x, g) && uses_winograd_f32(call.attrs) && winograd_f32_applies(g, 8)) {
    winograd_f32_backward_weight_plain(g, x, gy, gw);
  } else if (use_onednn(x, g)) {
    run(Pass::BackwardWeights, g, {&x, &gy, &gw}, nullptr, wants_winograd(call.attrs), ops::wants_bf16(call.attrs));
  } else if (x.dtype() == DType::Float64) {
    ref_backward_weights<double>(g, x.data<double>(), gy.data<double>(), gw.data<double>());
  } else {
    ref_backward_weights<float>(g, x.data<float>(), gy.data<float>(), gw.data<float>());
  }
}

// The training-step forms with blocked activations (ops/conv_blocked.cc), float32.
void backward_input_blocked_kernel(const KernelCall& call) {
  const Tensor gy = contiguous(call.inputs[0]);
  const Tensor w = contiguous(call.inputs[1]);
  Tensor& gx = call.outputs[0];
  const ConvGeometry g = geometry_from(size_attr(call.attrs, "input_size"), w.sizes(), call.attrs);
  if (!use_onednn(gy, g)) {  // a zero-sized dim: an empty sum
    std::fill(gx.data<float>(), gx.data<float>() + gx.numel(), 0.f);
    return;
  }
  if (uses_winograd_bf16(call.attrs) && w.dim() == 4 && gy.size(4) == 16 && gx.size(4) == 16 &&
      winograd_bf16_backward_data_applies(g, 16)) {
    winograd_bf16_backward_data(g, gy, w, gx);
    return;
  }
  if (uses_winograd_f32(call.attrs) && w.dim() == 4 && gy.size(4) == 8 && gx.size(4) == 8 &&
      winograd_f32_backward_data_applies(g, 8)) {
    winograd_f32_backward_data(g, gy, w, gx);
    return;
  }
  run(Pass::BackwardData, g, {&gy, &w, &gx}, nullptr, wants_winograd(call.attrs), ops::wants_bf16(call.attrs),
      Layouts{gx.size(4), gy.size(4)});
}

// A blocked weight gradient's geometry, from its input (blocked or plain) and weight_size.
ConvGeometry weight_grad_geometry(const Tensor& x, const ops::Attrs& attrs) {
  const IntArrayRef wsize = size_attr(attrs, "weight_size");
  const Shape x_plain = x.dim() == 5 ? Shape{x.size(0), wsize[1], x.size(2), x.size(3)} : Shape(x.sizes());
  return geometry_from(x_plain, wsize, attrs);
}

void backward_weight_blocked_kernel(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  const Tensor gy = contiguous(call.inputs[1]);
  Tensor& gw = call.outputs[0];
  const bool blocked_x = x.dim() == 5;
  const ConvGeometry g = weight_grad_geometry(x, call.attrs);
  if (!use_onednn(x, g)) {  // a zero-sized dim: an empty sum
    std::fill(gw.data<float>(), gw.data<float>() + gw.numel(), 0.f);
    return;
  }
  if (uses_winograd_bf16(call.attrs) && gy.size(4) == 16 && (!blocked_x || x.size(4) == 16) &&
      winograd_bf16_applies(g, 16)) {
    winograd_bf16_backward_weight(g, x, gy, gw);
    return;
  }
  if (uses_winograd_f32(call.attrs) && gy.size(4) == 8 && (!blocked_x || x.size(4) == 8) &&
      winograd_f32_applies(g, 8)) {
    winograd_f32_backward_weight(g, x, gy, gw);
    return;
  }
  if (!ops::wants_bf16(call.attrs) && few_channels_weight_grad_applies(g, x, gy)) {
    few_channels_weight_grad(g, x, gy, gw);
    return;
  }
  run(Pass::BackwardWeights, g, {&x, &gy, &gw}, nullptr, wants_winograd(call.attrs), ops::wants_bf16(call.attrs),
      Layouts{blocked_x ? x.size(4) : 0, gy.size(4)});
}

// What max_pool2d_backward_blocked(gp, idx) makes for the OH x OW planes of g's output:
// that op's own kernel (range-checked: a graph is data). The unpool kernels' general path,
// where the Winograd (bf16, or float32 on blocks of 8) does not apply or the indices are
// not a 2x2 pooling's.
Tensor unpooled(const Tensor& gp, const Tensor& idx, const ConvGeometry& g) {
  std::vector<Tensor> gy{make_tensor({gp.size(0), gp.size(1), g.oh, g.ow, gp.size(4)}, DType::Float32)};
  const ops::Attrs attrs{{"input_size", std::vector<int64_t>{g.n, g.o, g.oh, g.ow}}};
  ops::find_kernel(ops::kMaxPool2dBackwardBlocked, Device::CPU)
      ->fn(KernelCall{ops::kMaxPool2dBackwardBlocked, {gp, idx}, gy, attrs});
  return gy[0];
}

void backward_input_unpool_blocked_kernel(const KernelCall& call) {
  const Tensor gp = contiguous(call.inputs[0]);
  const Tensor idx = contiguous(call.inputs[1]);
  const Tensor w = contiguous(call.inputs[2]);
  Tensor& gx = call.outputs[0];
  const ConvGeometry g = geometry_from(size_attr(call.attrs, "input_size"), w.sizes(), call.attrs);
  if (uses_winograd_bf16(call.attrs) && w.dim() == 4 && gp.size(4) == 16 && gx.size(4) == 16 && gx.numel() > 0 &&
      winograd_bf16_unpool_applies(g, 16) && winograd_bf16_backward_data_unpool(g, gp, idx, w, gx))
    return;
  if (uses_winograd_f32(call.attrs) && w.dim() == 4 && gp.size(4) == 8 && gx.size(4) == 8 && gx.numel() > 0 &&
      winograd_f32_unpool_applies(g, 8) && winograd_f32_backward_data_unpool(g, gp, idx, w, gx))
    return;
  const std::vector<Tensor> in{unpooled(gp, idx, g), w};
  backward_input_blocked_kernel(KernelCall{ops::kConv2dBackwardInputBlocked, in, call.outputs, call.attrs});
}

void backward_weight_unpool_blocked_kernel(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  const Tensor gp = contiguous(call.inputs[1]);
  const Tensor idx = contiguous(call.inputs[2]);
  Tensor& gw = call.outputs[0];
  const bool blocked_x = x.dim() == 5;
  const ConvGeometry g = weight_grad_geometry(x, call.attrs);
  if (uses_winograd_bf16(call.attrs) && gp.size(4) == 16 && (!blocked_x || x.size(4) == 16) && gw.numel() > 0 &&
      use_onednn(x, g) && winograd_bf16_applies(g, 16) && winograd_bf16_backward_weight_unpool(g, x, gp, idx, gw))
    return;
  if (uses_winograd_f32(call.attrs) && gp.size(4) == 8 && (!blocked_x || x.size(4) == 8) && gw.numel() > 0 &&
      use_onednn(x, g) && winograd_f32_applies(g, 8) && winograd_f32_backward_weight_unpool(g, x, gp, idx, gw))
    return;
  const std::vector<Tensor> in{x, unpooled(gp, idx, g)};
  backward_weight_blocked_kernel(KernelCall{ops::kConv2dBackwardWeightBlocked, in, call.outputs, call.attrs});
}

template <typename T>
void add_channel_bias(Tensor& y, const Tensor& b) {
  const int64_t n = y.size(0), c = y.size(1), plane = y.size(2) * y.size(3);
  T* yp = y.data<T>();
  const T* bp = b.data<T>();
  parallel_for(0, n * c, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(plane, 1)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t p = p0; p < p1; ++p) {
                   T* row = yp + p * plane;
                   const T v = bp[p % c];
                   for (int64_t i = 0; i < plane; ++i) row[i] += v;
                 }
               });
}

void conv_transpose2d_kernel(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  const Tensor w = contiguous(call.inputs[1]);
  Tensor& y = call.outputs[0];
  // The convolution this transposes maps y's size to x's.
  const ConvGeometry g = geometry_from(y.sizes(), w.sizes(), call.attrs);
  backward_data(g, x, w, y, false, ops::wants_bf16(call.attrs));
  if (call.inputs.size() == 3) {
    const Tensor b = contiguous(call.inputs[2]);
    if (y.dtype() == DType::Float64) {
      add_channel_bias<double>(y, b);
    } else {
      add_channel_bias<float>(y, b);
    }
  }
}

}  // namespace

int64_t conv_primitives_created() { return g_primitives_created.load(std::memory_order_relaxed); }
int64_t conv_reorders_reused() { return onednn::reorders_reused(); }

void register_conv_kernels() {
  using namespace ops;
  register_kernel(kConv2d, Device::CPU, conv2d_kernel, kFloatMask);
  register_kernel(kConv2dBackwardInput, Device::CPU, backward_input_kernel, kFloatMask);
  register_kernel(kConv2dBackwardWeight, Device::CPU, backward_weight_kernel, kFloatMask);
  register_kernel(kConvTranspose2d, Device::CPU, conv_transpose2d_kernel, kFloatMask);
  register_kernel(kConv2dBackwardInputBlocked, Device::CPU, backward_input_blocked_kernel, dtype_bit(DType::Float32));
  register_kernel(kConv2dBackwardWeightBlocked, Device::CPU, backward_weight_blocked_kernel, dtype_bit(DType::Float32));
  register_kernel(kConv2dBackwardInputUnpoolBlocked, Device::CPU, backward_input_unpool_blocked_kernel,
                  dtype_bit(DType::Float32));
  register_kernel(kConv2dBackwardWeightUnpoolBlocked, Device::CPU, backward_weight_unpool_blocked_kernel,
                  dtype_bit(DType::Float32));
  register_pool_kernels();
  register_conv_blocked_kernels();
}

}  // namespace tessera::cpu
