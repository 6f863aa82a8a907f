// CPU kernels of the channel-blocked ops (ops/conv_blocked.cc says the layouts).
//   - conv2d_blocked: a oneDNN forward-inference convolution (direct, or Winograd where
//     the graph asks for it and oneDNN has it) with the layouts fixed
//     (nChw{b}c activations, OIhw{b}i{b}o or Ohwi{b}o weights) instead of chosen per call,
//     so no reorder runs, and bias, residual (a sum post-op) and ReLU (an eltwise post-op)
//     applied while the output is still in registers. Primitives are cached by geometry
//     and thread count, as in conv.cc, and run with a scratchpad of their own per call.
//   - the layout conversions and the weight packing: plain loops (they run once per
//     graph edge, or once per weight at compile time).
//   - max_pool2d_blocked (and with indices, and its gradient): a loop over the b channels
//     of a block, which the compiler vectorizes (one 16-float register per window tap
//     with AVX-512). Ties and NaN pick the element max_pool2d picks, so the gradient goes
//     where eager's goes.
//   - channel_sum_blocked: per block, b lane sums over the batch and the plane; each lane
//     adds in the same order whatever the thread count.
//   - conv2d_backward_{input,weight}_blocked: in conv.cc, with conv2d's other passes.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>

#include "backends/cpu/onednn.h"
#include "backends/cpu/vec/pool.h"
#include "backends/cpu/winograd_bf16.h"
#include "backends/cpu/winograd_f32.h"
#include "core/parallel_internal.h"
#include "ops/conv.h"
#include "ops/copy.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::ops {

int64_t conv_channel_block() {
  static const int64_t block = [] {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    if (isa == dnnl::cpu_isa::avx512_core || isa == dnnl::cpu_isa::avx512_core_vnni ||
        isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx)
      return int64_t{16};
    if (isa == dnnl::cpu_isa::avx2 || isa == dnnl::cpu_isa::avx2_vnni) return int64_t{8};
    return int64_t{0};
  }();
  return block;
}

}  // namespace tessera::ops

namespace tessera::cpu {
namespace {

using ops::KernelCall;
using Tag = dnnl::memory::format_tag;
constexpr auto kF32 = dnnl::memory::data_type::f32;
constexpr auto kBF16 = dnnl::memory::data_type::bf16;

int64_t blocks_of(int64_t c, int64_t b) { return (c + b - 1) / b; }

// ---------------------------------------------------------------- layout conversions

template <typename T>
void to_blocked(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  Tensor& y = call.outputs[0];
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3), b = y.size(4), cb = y.size(1);
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  parallel_for(0, n * cb, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, hw * b)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t p = p0; p < p1; ++p) {
                   const int64_t in = p / cb, blk = p % cb;
                   T* out = yp + p * hw * b;
                   for (int64_t l = 0; l < b; ++l) {
                     const int64_t ch = blk * b + l;
                     if (ch >= c) {
                       for (int64_t i = 0; i < hw; ++i) out[i * b + l] = T(0);
                       continue;
                     }
                     const T* src = xp + (in * c + ch) * hw;
                     for (int64_t i = 0; i < hw; ++i) out[i * b + l] = src[i];
                   }
                 }
               });
}

template <typename T>
void from_blocked(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  Tensor& y = call.outputs[0];
  const int64_t n = y.size(0), c = y.size(1), hw = y.size(2) * y.size(3), b = x.size(4), cb = x.size(1);
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  parallel_for(0, n * c, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, hw)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t p = p0; p < p1; ++p) {
                   const int64_t in = p / c, ch = p % c;
                   const T* src = xp + ((in * cb + ch / b) * hw) * b + ch % b;
                   T* out = yp + p * hw;
                   for (int64_t i = 0; i < hw; ++i) out[i] = src[i * b];
                 }
               });
}

template <typename T>
void pack_conv_weight(const KernelCall& call) {
  const Tensor w = contiguous(call.inputs[0]);
  Tensor& y = call.outputs[0];
  const int64_t o = w.size(0), c = w.size(1), kh = w.size(2), kw = w.size(3), b = call.attrs.i("block");
  const bool blocked = call.attrs.b("blocked_input");
  const T* wp = w.data<T>();
  T* yp = y.data<T>();
  std::fill(yp, yp + y.numel(), T(0));  // the padding of partial blocks
  const int64_t cb = blocks_of(c, b);
  for (int64_t oc = 0; oc < o; ++oc)
    for (int64_t ic = 0; ic < c; ++ic)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          const T v = wp[((oc * c + ic) * kh + i) * kw + j];
          const int64_t at =
              blocked ? (((((oc / b) * cb + ic / b) * kh + i) * kw + j) * b + ic % b) * b + oc % b  // OIhw{b}i{b}o
                      : ((((oc / b) * kh + i) * kw + j) * c + ic) * b + oc % b;                     // Ohwi{b}o
          yp[at] = v;
        }
}

// ---------------------------------------------------------------- max pooling

// The block's lanes are held in 16-byte vectors (GCC/Clang vector extensions: SSE2 at the
// baseline ISA). Plain lane loops compiled to a branch per lane at -O3, which mispredicts
// on half the elements of random data: ResNet-18's 3x3 stride-2 stem pool (64 x 112 x 112
// at batch 1) took 0.85 ms at 1 thread. `v > best ? v : best` is one MAXPS; a NaN in the
// window, which that drops, is flagged on the side and its position redone by the exact
// rule of max_pool2d (a NaN wins, the last one in the window's scan order). float32 in
// blocks of 16 takes the AVX-512 kernel of vec/pool.h where the CPU has it (the stem pool
// 0.42 -> 0.15-0.17 ms), in blocks of 8 the AVX2 one: the same rule in wider registers.
template <typename T, int B>
void max_pool_blocked(const KernelCall& call) {
  using V [[gnu::vector_size(16)]] = T;
  using M = decltype(V{} != V{});  // the lane masks of a comparison
  constexpr int kPerV = 16 / sizeof(T), kVs = B / kPerV;
  const Tensor x = contiguous(call.inputs[0]);
  Tensor& y = call.outputs[0];
  const std::vector<int64_t>& k = call.attrs.ints("kernel");
  const std::vector<int64_t>& s = call.attrs.ints("stride");
  const std::vector<int64_t>& p = call.attrs.ints("padding");
  const std::vector<int64_t>& d = call.attrs.ints("dilation");
  const int64_t KH = k[0], KW = k[1], SH = s[0], SW = s[1], PH = p[0], PW = p[1], DH = d[0], DW = d[1];
  const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  const int64_t planes = x.size(0) * x.size(1);
  if constexpr (std::is_same_v<T, float>) {
    // The ISA's kernel for blocks of B where it has one (vec/pool.h): the same rule, bit
    // for bit.
    const vec::PoolKernels& kernels = vec::pool_kernels();
    if (const vec::MaxPoolBlockedFn fast = kernels.block == B ? kernels.max_blocked_f32 : nullptr) {
      const vec::PoolWindow win{KH, KW, SH, SW, PH, PW, DH, DW};
      parallel_for(0, planes, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, H * W * B)),
                   [&](int64_t p0, int64_t p1) {
                     for (int64_t plane = p0; plane < p1; ++plane)
                       fast(xp + plane * H * W * B, H, W, yp + plane * OH * OW * B, OH, OW, win);
                   });
      return;
    }
  }
  // Calls f(pointer to the B lanes of x) for each tap of window (oh, ow) inside the plane.
  auto for_each_tap = [&](const T* xin, int64_t oh, int64_t ow, auto&& f) {
    for (int64_t i = 0; i < KH; ++i) {
      const int64_t ih = oh * SH - PH + i * DH;
      if (ih < 0 || ih >= H) continue;
      for (int64_t j = 0; j < KW; ++j) {
        const int64_t iw = ow * SW - PW + j * DW;
        if (iw >= 0 && iw < W) f(xin + (ih * W + iw) * B);
      }
    }
  };
  parallel_for(0, planes, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, H * W * B)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t plane = p0; plane < p1; ++plane) {
                   const T* xin = xp + plane * H * W * B;
                   for (int64_t oh = 0; oh < OH; ++oh)
                     for (int64_t ow = 0; ow < OW; ++ow) {
                       V best[kVs];
                       for (int q = 0; q < kVs; ++q) best[q] = V{} - std::numeric_limits<T>::infinity();
                       M nan{};  // all ones in a lane that saw a NaN
                       for_each_tap(xin, oh, ow, [&](const T* at) {
                         for (int q = 0; q < kVs; ++q) {
                           V v;
                           std::memcpy(&v, at + q * kPerV, sizeof v);
                           best[q] = v > best[q] ? v : best[q];
                           nan |= v != v;
                         }
                       });
                       T* out = yp + ((plane * OH + oh) * OW + ow) * B;
                       std::memcpy(out, best, sizeof best);
                       uint64_t words[2];
                       std::memcpy(words, &nan, sizeof words);
                       if ((words[0] | words[1]) != 0)
                         for_each_tap(xin, oh, ow, [&](const T* at) {
                           for (int l = 0; l < B; ++l)
                             if (at[l] != at[l]) out[l] = at[l];
                         });
                     }
                 }
               });
}

// With indices: the first maximum of each window in max_pool2d's scan order (rows, then
// columns), a NaN replacing it; the index is the element's position in its plane. The
// lanes of a block are B consecutive values, so each window tap is one vector step where
// the ISA has int64 selects; the baseline build (SSE2) runs it scalar (8.4 ms for CNN28's
// pool at 1 thread), so 2x2 windows take the ISA's kernel for its own block where it has
// one: blocks of 16 with AVX-512 (vec/pool_avx512.cc: 1.2-1.4 ms), of 8 with AVX2
// (vec/pool_avx2.cc).
struct PoolGeometry {
  int64_t H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;
  // 2x2, stride 2, no padding or dilation, no partial window (and positions that fit the
  // kernels' int32 offsets): what the vector kernels take.
  bool two_by_two() const {
    return kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1 && 2 * OH <= H &&
           2 * OW <= W && W < (int64_t{1} << 30);
  }
};

template <typename T, int B>
void max_pool_indices_plane(const PoolGeometry& g, const T* __restrict x, T* __restrict y, int64_t* __restrict idx) {
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
      int64_t ki0 = 0, kj0 = 0;
      while (h0 + ki0 * g.dh < 0) ++ki0;
      while (w0 + kj0 * g.dw < 0) ++kj0;
      T best[B];
      int64_t best_i[B];
      const int64_t first = (h0 + ki0 * g.dh) * g.W + (w0 + kj0 * g.dw);
      for (int l = 0; l < B; ++l) {
        best[l] = -std::numeric_limits<T>::infinity();
        best_i[l] = first;
      }
      for (int64_t ki = ki0; ki < g.kh; ++ki) {
        const int64_t ih = h0 + ki * g.dh;
        if (ih >= g.H) break;
        for (int64_t kj = kj0; kj < g.kw; ++kj) {
          const int64_t iw = w0 + kj * g.dw;
          if (iw >= g.W) break;
          const int64_t here = ih * g.W + iw;
          const T* v = x + here * B;
          for (int l = 0; l < B; ++l) {
            // NaN wins, as in max_pool2d (and PyTorch).
            const bool take = v[l] > best[l] || v[l] != v[l];
            best[l] = take ? v[l] : best[l];
            best_i[l] = take ? here : best_i[l];
          }
        }
      }
      T* yo = y + (oh * g.OW + ow) * B;
      int64_t* io = idx + (oh * g.OW + ow) * B;
      for (int l = 0; l < B; ++l) {
        yo[l] = best[l];
        io[l] = best_i[l];
      }
    }
}

template <typename T, int B>
void max_pool_indices_blocked(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  Tensor& y = call.outputs[0];
  Tensor& idx = call.outputs[1];
  const std::vector<int64_t>& k = call.attrs.ints("kernel");
  const std::vector<int64_t>& s = call.attrs.ints("stride");
  const std::vector<int64_t>& p = call.attrs.ints("padding");
  const std::vector<int64_t>& d = call.attrs.ints("dilation");
  const PoolGeometry g{x.size(2), x.size(3), y.size(2), y.size(3), k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]};
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  int64_t* ip = idx.data<int64_t>();
  const int64_t in_plane = g.H * g.W * B, out_plane = g.OH * g.OW * B;
  vec::MaxPool2x2BlockedFn fast = nullptr;
  if constexpr (std::is_same_v<T, float>)
    if (g.two_by_two() && vec::pool_kernels().block == B) fast = vec::pool_kernels().max2x2_blocked_f32;
  parallel_for(0, x.size(0) * x.size(1), std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, in_plane)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t plane = p0; plane < p1; ++plane) {
                   const T* xin = xp + plane * in_plane;
                   T* yo = yp + plane * out_plane;
                   int64_t* io = ip + plane * out_plane;
                   if constexpr (std::is_same_v<T, float>) {
                     if (fast) {
                       fast(xin, g.W, yo, io, g.OH, g.OW);
                       continue;
                     }
                   }
                   max_pool_indices_plane<T, B>(g, xin, yo, io);
                 }
               });
}

// The gradient: each output's gradient added at its index (summed where windows overlap,
// in window order), every index range-checked: a graph is data. 2x2 windows in blocks of
// 16 take AVX-512's kernel, which writes each element once; a plane with an index outside
// its own window falls back to the scatter.
template <typename T, int B>
void max_pool_backward_blocked(const KernelCall& call) {
  const Tensor gy = contiguous(call.inputs[0]);
  const Tensor idx = contiguous(call.inputs[1]);
  Tensor& gx = call.outputs[0];
  const int64_t H = gx.size(2), W = gx.size(3), OH = gy.size(2), OW = gy.size(3), HW = H * W, OHW = OH * OW;
  const T* gp = gy.data<T>();
  const int64_t* ip = idx.data<int64_t>();
  T* op = gx.data<T>();
  vec::MaxPool2x2BlockedBackwardFn fast = nullptr;
  if constexpr (std::is_same_v<T, float>)
    if (2 * OH <= H && 2 * OW <= W && W < (int64_t{1} << 30) && vec::pool_kernels().block == B)
      fast = vec::pool_kernels().max2x2_blocked_backward_f32;
  parallel_for(0, gx.size(0) * gx.size(1), std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, HW * B)),
               [&](int64_t p0, int64_t p1) {
                 for (int64_t plane = p0; plane < p1; ++plane) {
                   T* g = op + plane * HW * B;
                   const T* src = gp + plane * OHW * B;
                   const int64_t* ix = ip + plane * OHW * B;
                   if constexpr (std::is_same_v<T, float>) {
                     if (fast) {
                       // Rows and columns past the last whole window get no gradient.
                       std::fill(g + 2 * OH * W * B, g + HW * B, T(0));
                       if (2 * OW < W)
                         for (int64_t row = 0; row < 2 * OH; ++row)
                           std::fill(g + (row * W + 2 * OW) * B, g + (row + 1) * W * B, T(0));
                       if (fast(src, ix, W, g, OH, OW)) continue;
                     }
                   }
                   std::fill(g, g + HW * B, T(0));
                   for (int64_t i = 0; i < OHW * B; ++i) {
                     TESSERA_CHECK(ix[i] >= 0 && ix[i] < HW, "index ", ix[i], " is out of range for a plane of ",
                                   HW, " elements");
                     g[ix[i] * B + i % B] += src[i];
                   }
                 }
               });
}

// ---------------------------------------------------------------- a conv bias's gradient

template <typename T, int B>
void channel_sum_blocked(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  Tensor& y = call.outputs[0];
  const int64_t n = x.size(0), cb = x.size(1), hw = x.size(2) * x.size(3), c = y.size(0);
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  // One block per task: its B lanes are summed image by image, position by position, in
  // that order at any thread count (so a run is reproducible whatever the team size).
  parallel_for(0, cb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      T acc[B] = {};
      for (int64_t in = 0; in < n; ++in) {
        const T* __restrict plane = xp + (in * cb + blk) * hw * B;
        for (int64_t i = 0; i < hw; ++i)
          for (int l = 0; l < B; ++l) acc[l] += plane[i * B + l];
      }
      for (int64_t l = 0; l < B && blk * B + l < c; ++l) yp[blk * B + l] = acc[l];
    }
  });
}

// ---------------------------------------------------------------- convolution (oneDNN)

struct BlockedConv {
  dnnl::primitive prim;
  dnnl::memory::desc src, wei, bias, dst, scratchpad;
  // The weights as the primitive reads them, when that differs from the tensor's layout
  // (`wei`): a plain weight, or Winograd's transformed tiles. Reordered once per weight
  // tensor (onednn::prepared_weights).
  dnnl::memory::desc wei_prim;
  std::optional<onednn::Reorder> wei_reorder;
  // precision "bf16" (autocast): the activations stay float32 between layers and are
  // rounded to bfloat16 (same layout) on the way in; the weights once, with the reorder above.
  dnnl::memory::desc src_prim;
  std::optional<onednn::Reorder> src_reorder;
};

dnnl::convolution_forward::primitive_desc make_pd(const ops::ConvGeometry& g, const BlockedConv& c,
                                                  const dnnl::memory::desc& wei, bool winograd, bool residual,
                                                  bool relu) {
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference,
      winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct, c.src_prim, wei, c.bias,
      c.dst, {g.stride[0], g.stride[1]}, {g.dilation[0] - 1, g.dilation[1] - 1}, {g.pad_begin[0], g.pad_begin[1]},
      {g.pad_end[0], g.pad_end[1]});
  dnnl::post_ops post;
  if (residual) post.append_sum(1.f);
  if (relu) post.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr = onednn::attr();
  attr.set_post_ops(post);
  return dnnl::convolution_forward::primitive_desc(desc, attr, onednn::engine());
}

// `weight_rank`: 4 plain [O, C, kh, kw], 6 or 5 packed (blocked or plain input).
std::shared_ptr<const BlockedConv> build(const ops::ConvGeometry& g, bool blocked_input, int64_t b,
                                         int64_t weight_rank, bool residual, bool relu, bool winograd, bool bf16) {
  const Tag act_tag = b == 16 ? Tag::nChw16c : Tag::nChw8c;
  const Tag wei_tag = weight_rank == 4 ? Tag::oihw
                      : blocked_input  ? (b == 16 ? Tag::OIhw16i16o : Tag::OIhw8i8o)
                                       : (b == 16 ? Tag::Ohwi16o : Tag::Ohwi8o);
  auto c = std::make_shared<BlockedConv>();
  c->src = dnnl::memory::desc({g.n, g.c, g.h, g.w}, kF32, blocked_input ? act_tag : Tag::nchw);
  c->wei = dnnl::memory::desc({g.o, g.c, g.kh, g.kw}, kF32, wei_tag);
  c->bias = dnnl::memory::desc({g.o}, kF32, Tag::x);
  c->dst = dnnl::memory::desc({g.n, g.o, g.oh, g.ow}, kF32, act_tag);
  c->src_prim = bf16 ? dnnl::memory::desc({g.n, g.c, g.h, g.w}, kBF16, blocked_input ? act_tag : Tag::nchw) : c->src;
  if (bf16) c->src_reorder.emplace(c->src, c->src_prim);
  // A packed weight is read as it is; a plain one (or any in bf16) in the layout the
  // primitive picks.
  const dnnl::memory::desc any({g.o, g.c, g.kh, g.kw}, bf16 ? kBF16 : kF32, Tag::any);
  const dnnl::memory::desc& wei = weight_rank == 4 || bf16 ? any : c->wei;
  std::optional<dnnl::convolution_forward::primitive_desc> pd;
  if (winograd) {
    try {
      pd = make_pd(g, *c, any, true, residual, relu);
    } catch (const dnnl::error& e) {
      // oneDNN has Winograd kernels for some ISAs and shapes only: elsewhere, direct.
      if (e.status != dnnl_unimplemented) throw;
    }
  }
  if (!pd) pd = make_pd(g, *c, wei, false, residual, relu);
  c->prim = dnnl::convolution_forward(*pd);
  c->scratchpad = pd->scratchpad_desc();
  c->wei_prim = pd->weights_desc();
  if (c->wei_prim != c->wei) c->wei_reorder.emplace(c->wei, c->wei_prim);
  return c;
}

std::shared_ptr<const BlockedConv> cached(const ops::ConvGeometry& g, bool blocked_input, int64_t b,
                                          int64_t weight_rank, bool residual, bool relu, bool winograd, bool bf16) {
  return onednn::cached_primitive<BlockedConv>(
      {g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.stride[0], g.stride[1], g.dilation[0], g.dilation[1], g.pad_begin[0],
       g.pad_begin[1], g.pad_end[0], g.pad_end[1], blocked_input, b, weight_rank, residual, relu, winograd, bf16},
      [&] { return build(g, blocked_input, b, weight_rank, residual, relu, winograd, bf16); });
}

void conv2d_blocked(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  const Tensor w = contiguous(call.inputs[1]);
  const Tensor bias = contiguous(call.inputs[2]);
  Tensor& y = call.outputs[0];
  const bool blocked_input = x.dim() == 5;
  const int64_t c = call.attrs.i("in_channels"), o = call.attrs.i("out_channels");
  const int64_t b = blocked_input ? x.size(4) : w.size(-1);
  const int64_t kh = w.dim() == 4 ? w.size(2) : blocked_input ? w.size(2) : w.size(1);
  const int64_t kw = w.dim() == 4 ? w.size(3) : blocked_input ? w.size(3) : w.size(2);
  const ops::ConvGeometry g =
      ops::conv_geometry(Shape{x.size(0), c, x.size(2), x.size(3)}, Shape{o, c, kh, kw}, call.attrs);
  if (y.numel() == 0) return;
  const bool residual = call.inputs.size() == 4;
  if (residual) {
    // The sum post-op adds what the destination holds.
    const Tensor r = contiguous(call.inputs[3]);
    std::memcpy(y.data_ptr(), r.data_ptr(), static_cast<size_t>(y.numel()) * sizeof(float));
  }
  const bool relu = call.attrs.get<std::string>("activation") == "relu";
  const std::string& algorithm = call.attrs.get<std::string>("algorithm");
  const bool bf16 = ops::wants_bf16(call.attrs);
  // F(4x4, 3x3) where it applies; elsewhere (blocks of 16, past 128 x 128 channels, few
  // tiles) "winograd_4x4" runs as "winograd".
  if (algorithm == "winograd_4x4" && !bf16 && blocked_input && w.dim() == 4 && winograd_f32_4x4_applies(g, b)) {
    winograd_f32_4x4_conv(g, x, w, bias, residual, relu, y);
    return;
  }
  const bool winograd = algorithm == "winograd" || algorithm == "winograd_4x4";
  if (winograd && bf16 && blocked_input && w.dim() == 4 && winograd_bf16_applies(g, b)) {
    winograd_bf16_conv(g, x, w, bias, residual, relu, y);
    return;
  }
  // oneDNN's float32 Winograd is AVX-512 only (build() falls back to direct elsewhere).
  if (winograd && !bf16 && blocked_input && w.dim() == 4 && winograd_f32_applies(g, b)) {
    winograd_f32_conv(g, x, w, bias, residual, relu, y);
    return;
  }
  try {
    const auto conv = cached(g, blocked_input, b, w.dim(), residual, relu, winograd, bf16);
    const dnnl::engine& eng = onednn::engine();
    const Tensor weights = conv->wei_reorder ? onednn::prepared_weights(*conv->wei_reorder, w) : w;
    // Kept for a training step's weight gradient, which reads the same bf16 input.
    const Tensor src = conv->src_reorder ? onednn::reordered(*conv->src_reorder, x, onednn::Reuse::kRemember) : x;
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(conv->src_prim, eng, src.data_ptr())},
        {DNNL_ARG_WEIGHTS, dnnl::memory(conv->wei_prim, eng, weights.data_ptr())},
        {DNNL_ARG_BIAS, dnnl::memory(conv->bias, eng, bias.data_ptr())},
        {DNNL_ARG_DST, dnnl::memory(conv->dst, eng, y.data_ptr())}};
    const Tensor scratch = onednn::add_scratchpad(conv->scratchpad, args);
    conv->prim.execute(onednn::stream(), args);
    onednn::stream().wait();
  } catch (const dnnl::error& e) {
    const std::string what = detail::concat("conv2d_blocked: oneDNN failed (", e.what(), ") for input [", g.n, ", ",
                                            g.c, ", ", g.h, ", ", g.w, "], ", g.o, " output channels, kernel ", g.kh,
                                            "x", g.kw, ", block ", b);
    TESSERA_CHECK_ALLOC(e.status != dnnl_out_of_memory, what);
    TESSERA_CHECK_IMPLEMENTED(e.status != dnnl_unimplemented, what);
    TESSERA_INTERNAL_ASSERT(false, what);
  }
}

// The Winograd kernels pool each 2x2 output tile as they compute it (winograd_bf16.h,
// and in float32 winograd_f32.h); every other case runs conv2d_blocked, then the pooling,
// as the unfused graph did. `indices`: conv2d_max_pool2x2_blocked (a training step, whose
// pooling gradient needs the positions); without, conv2d_max_pool2x2_values_blocked (inference).
template <bool kIndices>
void conv2d_max_pool2x2(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  const Tensor w = contiguous(call.inputs[1]);
  const Tensor bias = contiguous(call.inputs[2]);
  Tensor* idx = kIndices ? &call.outputs[1] : nullptr;
  const std::string& algorithm = call.attrs.get<std::string>("algorithm");
  if (x.dim() == 5 && w.dim() == 4 && (algorithm == "winograd" || algorithm == "winograd_4x4")) {
    const int64_t c = call.attrs.i("in_channels"), o = call.attrs.i("out_channels");
    const ops::ConvGeometry g =
        ops::conv_geometry(Shape{x.size(0), c, x.size(2), x.size(3)}, Shape{o, c, w.size(2), w.size(3)}, call.attrs);
    const bool bf16 = ops::wants_bf16(call.attrs);
    const bool f4 = algorithm == "winograd_4x4" && !bf16 && winograd_f32_4x4_applies(g, x.size(4));
    if (f4 && !kIndices) {
      const bool relu = call.attrs.get<std::string>("activation") == "relu";
      if (call.outputs[0].numel() > 0) winograd_f32_4x4_conv_max_pool(g, x, w, bias, relu, call.outputs[0]);
      return;
    }
    // F(4x4) with indices (no graph asks for it) runs as below: its convolution, then the pooling.
    if (!f4 && kIndices && bf16 && winograd_bf16_applies(g, x.size(4))) {
      if (call.outputs[0].numel() > 0) winograd_bf16_conv_max_pool(g, x, w, bias, call.outputs[0], *idx);
      return;
    }
    if (!f4 && !bf16 && winograd_f32_applies(g, x.size(4))) {
      const bool relu = call.attrs.get<std::string>("activation") == "relu";
      if (call.outputs[0].numel() > 0) winograd_f32_conv_max_pool(g, x, w, bias, relu, call.outputs[0], idx);
      return;
    }
  }
  const ops::InferResult conv = ops::infer_shapes(ops::kConv2dBlocked, {x, w, bias}, call.attrs);
  std::vector<Tensor> y{make_tensor(conv.outputs[0].sizes, DType::Float32)};
  conv2d_blocked(KernelCall{ops::kConv2dBlocked, call.inputs, y, call.attrs});
  const ops::Attrs pool = ops::two_by_two_pool();
  const bool b16 = y[0].size(4) == 16;
  if constexpr (kIndices) {
    const KernelCall pool_call{ops::kMaxPool2dIndicesBlocked, y, call.outputs, pool};
    b16 ? max_pool_indices_blocked<float, 16>(pool_call) : max_pool_indices_blocked<float, 8>(pool_call);
  } else {
    const KernelCall pool_call{ops::kMaxPool2dBlocked, y, call.outputs, pool};
    b16 ? max_pool_blocked<float, 16>(pool_call) : max_pool_blocked<float, 8>(pool_call);
  }
}

template <template <typename> class K>
void by_float_type(const KernelCall& call) {
  if (call.outputs[0].dtype() == DType::Float64) {
    K<double>::run(call);
  } else {
    K<float>::run(call);
  }
}
template <typename T> struct ToBlocked { static void run(const KernelCall& c) { to_blocked<T>(c); } };
template <typename T> struct FromBlocked { static void run(const KernelCall& c) { from_blocked<T>(c); } };
template <typename T> struct Pack { static void run(const KernelCall& c) { pack_conv_weight<T>(c); } };
// The kernels that take the block size (8 or 16, the input's last dim) as a template
// argument, so their lane loops have a fixed length.
template <template <typename, int> class K>
void by_float_type_and_block(const KernelCall& call) {
  const bool f64 = call.outputs[0].dtype() == DType::Float64, b16 = call.inputs[0].size(4) == 16;
  if (f64) {
    b16 ? K<double, 16>::run(call) : K<double, 8>::run(call);
  } else {
    b16 ? K<float, 16>::run(call) : K<float, 8>::run(call);
  }
}
template <typename T, int B> struct MaxPool { static void run(const KernelCall& c) { max_pool_blocked<T, B>(c); } };
template <typename T, int B> struct MaxPoolIndices {
  static void run(const KernelCall& c) { max_pool_indices_blocked<T, B>(c); }
};
template <typename T, int B> struct MaxPoolBackward {
  static void run(const KernelCall& c) { max_pool_backward_blocked<T, B>(c); }
};
template <typename T, int B> struct ChannelSum { static void run(const KernelCall& c) { channel_sum_blocked<T, B>(c); } };

}  // namespace

void register_conv_blocked_kernels() {
  using namespace ops;
  register_kernel(kToBlocked, Device::CPU, by_float_type<ToBlocked>, kFloatMask);
  register_kernel(kFromBlocked, Device::CPU, by_float_type<FromBlocked>, kFloatMask);
  register_kernel(kPackConvWeight, Device::CPU, by_float_type<Pack>, kFloatMask);
  register_kernel(kMaxPool2dBlocked, Device::CPU, by_float_type_and_block<MaxPool>, kFloatMask);
  register_kernel(kConv2dBlocked, Device::CPU, conv2d_blocked, dtype_bit(DType::Float32));
  register_kernel(kMaxPool2dIndicesBlocked, Device::CPU, by_float_type_and_block<MaxPoolIndices>, kFloatMask);
  register_kernel(kMaxPool2dBackwardBlocked, Device::CPU, by_float_type_and_block<MaxPoolBackward>, kFloatMask);
  register_kernel(kChannelSumBlocked, Device::CPU, by_float_type_and_block<ChannelSum>, kFloatMask);
  register_kernel(kConv2dMaxPool2x2Blocked, Device::CPU, conv2d_max_pool2x2<true>, dtype_bit(DType::Float32));
  register_kernel(kConv2dMaxPool2x2ValuesBlocked, Device::CPU, conv2d_max_pool2x2<false>, dtype_bit(DType::Float32));
}

}  // namespace tessera::cpu
