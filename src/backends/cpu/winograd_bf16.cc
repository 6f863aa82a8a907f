// The bfloat16 Winograd convolution (winograd_bf16.h): the transforms in
// vec/winograd_avx512.cc, the 16 products as one batched oneDNN matmul per chunk of tiles.
//
// Tiles are taken in chunks so that a chunk's transformed input (bf16) and products
// (float32) stay in the L2 cache between the three stages instead of making a round trip
// through memory: CNN28's second layer at batch 64 has 9216 tiles, 47 MB of both.
#include "backends/cpu/winograd_bf16.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "backends/cpu/onednn.h"
#include "backends/cpu/vec/winograd.h"
#include "backends/cpu/winograd_common.h"
#include "core/parallel_internal.h"
#include "tessera/autocast.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

constexpr auto kBF16 = dnnl::memory::data_type::bf16;

// A chunk's V and M together (the L2 cache of the dev machine's Zen 4 cores is 1 MiB), or
// the transformed weight's size if larger: every chunk reads all of it.
constexpr int64_t kChunkBytes = int64_t{1} << 20;
constexpr int64_t kMinTiles = 32;

// U[xi * 4 + nu][c][k] = (G g G^T)[xi][nu] for g = w[k][c], G = [1 0 0; 1/2 1/2 1/2;
// 1/2 -1/2 1/2; 0 0 1], computed in double and rounded once; zero for padding channels.
// `flipped` (the input gradient): the convolution's out channels k are w's in channels,
// its in channels c are w's out channels, and g = w[c][k] turned by 180 degrees.
void transform_weight(const Tensor& w, bool flipped, int64_t c16, int64_t k16, uint16_t* u) {
  const int64_t K = flipped ? w.size(1) : w.size(0), C = flipped ? w.size(0) : w.size(1);
  const float* wp = w.data<float>();
  std::fill(u, u + 16 * c16 * k16, uint16_t{0});
  parallel_for(0, K, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, C)), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t c = 0; c < C; ++c) {
        float g[9];
        if (flipped) {
          const float* src = wp + (c * K + k) * 9;
          for (int i = 0; i < 9; ++i) g[i] = src[8 - i];
        } else {
          std::memcpy(g, wp + (k * C + c) * 9, sizeof g);
        }
        double uu[4][4];
        winograd_weight_tile(g, uu);
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j)
            u[((i * 4 + j) * c16 + c) * k16 + k] = BFloat16(static_cast<float>(uu[i][j])).bits;
      }
  });
}

}  // namespace

bool winograd_bf16_applies(const ops::ConvGeometry& g, int64_t b) {
  // Below about 32 tiles the products are too short to pay for reading the transformed
  // weight, 16/9 the size of the direct one. ResNet-18's layers at batch 1, 1 thread, ms,
  // bf16 direct -> this: 56x56 (784 tiles) 1.03 -> 0.67; 28x28 (196) 0.97 -> 0.60; 14x14
  // (49) 0.99 -> 0.71; 7x7 with 512 channels (16 tiles) 0.83 -> 0.89.
  const int64_t tiles = g.n * ((g.oh + 1) / 2) * ((g.ow + 1) / 2);
  return b == 16 && g.kh == 3 && g.kw == 3 && g.stride[0] == 1 && g.stride[1] == 1 && g.dilation[0] == 1 &&
         g.dilation[1] == 1 && g.groups == 1 && tiles >= kMinTiles && bf16_supported();
}

namespace {

// The kernel for the convolution g (in channels g.c, out g.o) of x by w, read as
// transform_weight reads it; `bias` has g.o entries or is null. With `pool_idx`, yp is
// instead the 2x2 max pooling of the output (and pool_idx its indices), the output itself
// never written (residual and relu false). With `unpool`, the input is instead the
// unpooling of a 2x2 max pooling's gradient (xp unread); false where its indices are not
// such a pooling's (yp then partly written).
struct Unpooled {
  const float* gp;
  const int64_t* idx;
};

bool run_winograd(const ops::ConvGeometry& g, const float* xp, const Tensor& w, bool flipped, const float* bias,
                  bool residual, bool relu, float* yp, int64_t* pool_idx = nullptr, const Unpooled* unpool = nullptr) {
  const vec::WinogradGeometry wg = winograd_geometry(g, 16);
  const int64_t c16 = 16 * wg.in_blocks, k16 = 16 * wg.out_blocks;
  const int64_t tiles = g.n * wg.tiles_h * wg.tiles_w;
  if (tiles == 0) return true;
  std::atomic<bool> unpooled{true};
  // Each thread runs whole chunks, all three stages (so a chunk's V and M stay in its
  // core's cache, and the stages need no barrier), with a single-threaded product. The
  // chunks are of equal size (the last one's spare rows are computed and dropped), so one
  // primitive and one prepared weight serve them all, and their count is a multiple of
  // the thread count.
  const int64_t chunk = winograd_chunk_size(tiles, 16 * (2 * c16 + 4 * k16), std::max(kChunkBytes, 16 * c16 * k16 * 2));
  std::shared_ptr<const WinogradPlan> plan;
  {
    SerialGuard serial;  // builds the primitive for one thread (the key holds the count)
    plan = winograd_plan(chunk, c16, k16, kBF16);
  }
  const void* key = flipped ? static_cast<const void*>(&plan->backward_data_key) : plan.get();
  const Tensor u = onednn::prepared_weights(key, w, plan->wei.get_size(), [&](void* out) {
    Tensor plain = make_tensor({16 * c16 * k16}, DType::BFloat16);
    transform_weight(w, flipped, c16, k16, static_cast<uint16_t*>(plain.data_ptr()));
    if (plan->wei_reorder)
      onednn::run_reorder(*plan->wei_reorder, plain.data_ptr(), out);
    else
      std::memcpy(out, plain.data_ptr(), plan->wei.get_size());
  });
  std::vector<float> bias16(static_cast<size_t>(k16), 0.f);
  if (bias != nullptr) std::memcpy(bias16.data(), bias, static_cast<size_t>(g.o) * sizeof(float));
  parallel_for(0, (tiles + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
    Tensor v = make_tensor({16 * chunk * c16}, DType::BFloat16);
    Tensor m = make_tensor({16 * chunk * k16}, DType::Float32);
    auto* vp = static_cast<uint16_t*>(v.data_ptr());
    float* mp = m.data<float>();
    const dnnl::engine& eng = onednn::engine();
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(plan->src, eng, vp)},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(plan->wei, eng, u.data_ptr())},
                                               {DNNL_ARG_DST, dnnl::memory(plan->dst, eng, mp)}};
    const Tensor scratch = onednn::add_scratchpad(plan->scratchpad, args);
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t first = c * chunk, last = std::min(tiles, first + chunk);
      if (unpool == nullptr) {
        vec::winograd_input_bf16_avx512(wg, xp, first, chunk, first, last, vp);
      } else if (!vec::winograd_input_unpool_bf16_avx512(wg, unpool->gp, unpool->idx, first, chunk, first, last, vp)) {
        unpooled = false;
        return;
      }
      if (last - first < chunk)  // the last chunk's spare rows: zeros, not stale bits
        for (int64_t e = 0; e < 16; ++e)
          std::fill(vp + (e * chunk + last - first) * c16, vp + (e + 1) * chunk * c16, uint16_t{0});
      plan->prim.execute(onednn::stream(), args);
      onednn::stream().wait();
      if (pool_idx != nullptr)
        vec::winograd_output_max_pool_avx512(wg, mp, first, chunk, first, last, bias16.data(), yp, pool_idx);
      else
        vec::winograd_output_avx512(wg, mp, first, chunk, first, last, bias16.data(), residual, relu, yp);
    }
  });
  return unpooled;
}

const float* floats(const Tensor& t) { return static_cast<const float*>(t.data_ptr()); }

}  // namespace

void winograd_bf16_conv(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                        bool residual, bool relu, Tensor& y) {
  run_winograd(g, x.data<float>(), w, false, bias.data<float>(), residual, relu, y.data<float>());
}

void winograd_bf16_conv_max_pool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                                  Tensor& pooled, Tensor& indices) {
  run_winograd(g, x.data<float>(), w, false, bias.data<float>(), false, false, pooled.data<float>(),
               indices.data<int64_t>());
}

bool winograd_bf16_backward_data_applies(const ops::ConvGeometry& g, int64_t b) {
  // Padding past the kernel's reach would leave the gradient's padding negative.
  for (int d = 0; d < 2; ++d)
    if (g.pad_begin[d] < 0 || g.pad_begin[d] > 2 || g.pad_end[d] < 0 || g.pad_end[d] > 2) return false;
  return winograd_bf16_applies(g, b) && winograd_bf16_applies(winograd_backward_data_geometry(g), b);
}

void winograd_bf16_backward_data(const ops::ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx) {
  run_winograd(winograd_backward_data_geometry(g), gy.data<float>(), w, true, nullptr, false, false, gx.data<float>());
}

namespace {

// With `unpool`, the output gradient is the unpooling of a 2x2 max pooling's gradient
// (gyp unread); false where its indices are not such a pooling's (gw not written).
bool run_backward_weight(const ops::ConvGeometry& g, const float* xp, const float* gyp, Tensor& gw,
                         const Unpooled* unpool = nullptr) {
  const vec::WinogradGeometry wg = winograd_geometry(g, 16);
  const int64_t c16 = 16 * wg.in_blocks, k16 = 16 * wg.out_blocks;
  const int64_t tiles = g.n * wg.tiles_h * wg.tiles_w;
  float* out = gw.data<float>();
  if (tiles == 0) {
    std::fill(out, out + gw.numel(), 0.f);
    return true;
  }
  std::atomic<bool> unpooled{true};
  const int64_t chunk = winograd_chunk_size(tiles, 16 * (2 * c16 + 2 * k16), kChunkBytes);
  const int64_t chunks = (tiles + chunk - 1) / chunk;
  std::shared_ptr<const WinogradWeightGradPlan> plan;
  {
    SerialGuard serial;  // built for one thread, as run_winograd's
    plan = winograd_weight_grad_plan(chunk, k16, c16, kBF16);
  }
  // Each share of the chunks (one per thread) sums into its own dU; the shares are added
  // in order, so the result depends on the thread count only, as oneDNN's own do.
  const int64_t shares = std::min<int64_t>(get_num_threads(), chunks);
  std::vector<Tensor> du(static_cast<size_t>(shares));
  parallel_for(0, shares, 1, [&](int64_t s0, int64_t s1) {
    Tensor v = make_tensor({16 * chunk * c16}, DType::BFloat16);
    Tensor z = make_tensor({16 * chunk * k16}, DType::BFloat16);
    auto* vp = static_cast<uint16_t*>(v.data_ptr());
    auto* zp = static_cast<uint16_t*>(z.data_ptr());
    for (int64_t share = s0; share < s1; ++share) {
      Tensor acc = make_tensor({16 * k16 * c16}, DType::Float32);
      std::fill(acc.data<float>(), acc.data<float>() + acc.numel(), 0.f);
      const dnnl::engine& eng = onednn::engine();
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(plan->src, eng, vp)},
                                                 {DNNL_ARG_WEIGHTS, dnnl::memory(plan->wei, eng, zp)},
                                                 {DNNL_ARG_DST, dnnl::memory(plan->dst, eng, acc.data_ptr())}};
      const Tensor scratch = onednn::add_scratchpad(plan->scratchpad, args);
      for (int64_t c = share * chunks / shares; c < (share + 1) * chunks / shares; ++c) {
        const int64_t first = c * chunk, last = std::min(tiles, first + chunk);
        vec::winograd_input_bf16_avx512(wg, xp, first, chunk, first, last, vp);
        if (unpool == nullptr) {
          vec::winograd_output_grad_bf16_avx512(wg, gyp, g.o, first, chunk, first, last, zp);
        } else if (!vec::winograd_output_grad_unpool_bf16_avx512(wg, unpool->gp, unpool->idx, g.o, first, chunk,
                                                                 first, last, zp)) {
          unpooled = false;
          return;
        }
        if (last - first < chunk)  // the last chunk's spare rows: zeros, adding nothing
          for (int64_t e = 0; e < 16; ++e) {
            std::fill(vp + (e * chunk + last - first) * c16, vp + (e + 1) * chunk * c16, uint16_t{0});
            std::fill(zp + (e * chunk + last - first) * k16, zp + (e + 1) * chunk * k16, uint16_t{0});
          }
        plan->prim.execute(onednn::stream(), args);
        onednn::stream().wait();
      }
      du[static_cast<size_t>(share)] = acc;
    }
  });
  if (!unpooled) return false;
  winograd_weight_grad_finish(du, c16, k16, g, out);
  return true;
}

}  // namespace

void winograd_bf16_backward_weight(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw) {
  if (x.dim() == 5) {
    run_backward_weight(g, x.data<float>(), gy.data<float>(), gw);
  } else {
    const Tensor xb = onednn::reordered(winograd_layouts(g.n, g.c, g.h, g.w, 16)->to_blocked, x, onednn::Reuse::kReuse);
    run_backward_weight(g, floats(xb), gy.data<float>(), gw);
  }
}

void winograd_bf16_conv_plain(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                              Tensor& y) {
  const auto lx = winograd_layouts(g.n, g.c, g.h, g.w, 16), ly = winograd_layouts(g.n, g.o, g.oh, g.ow, 16);
  // x's blocked copy is kept for the weight gradient.
  winograd_plain_pass(lx->to_blocked, onednn::Reuse::kRemember, x, ly->to_plain, y, [&](const float* xb, float* yb) {
    run_winograd(g, xb, w, false, bias.defined() ? bias.data<float>() : nullptr, false, false, yb);
  });
}

void winograd_bf16_backward_data_plain(const ops::ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx) {
  const auto lx = winograd_layouts(g.n, g.c, g.h, g.w, 16), ly = winograd_layouts(g.n, g.o, g.oh, g.ow, 16);
  // gy's blocked copy is shared with the weight gradient.
  winograd_plain_pass(ly->to_blocked, onednn::Reuse::kReuse, gy, lx->to_plain, gx, [&](const float* gyb, float* gxb) {
    run_winograd(winograd_backward_data_geometry(g), gyb, w, true, nullptr, false, false, gxb);
  });
}

void winograd_bf16_backward_weight_plain(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw) {
  const auto lx = winograd_layouts(g.n, g.c, g.h, g.w, 16), ly = winograd_layouts(g.n, g.o, g.oh, g.ow, 16);
  const Tensor xb = onednn::reordered(lx->to_blocked, x, onednn::Reuse::kReuse);
  const Tensor gyb = onednn::reordered(ly->to_blocked, gy, onednn::Reuse::kReuse);
  run_backward_weight(g, floats(xb), floats(gyb), gw);
}

bool winograd_bf16_unpool_applies(const ops::ConvGeometry& g, int64_t b) {
  return g.pad_begin[0] % 2 == 0 && g.pad_begin[1] % 2 == 0 && winograd_bf16_backward_data_applies(g, b);
}

bool winograd_bf16_backward_data_unpool(const ops::ConvGeometry& g, const Tensor& gp, const Tensor& idx,
                                        const Tensor& w, Tensor& gx) {
  const Unpooled unpool{gp.data<float>(), idx.data<int64_t>()};
  return run_winograd(winograd_backward_data_geometry(g), nullptr, w, true, nullptr, false, false, gx.data<float>(), nullptr,
                      &unpool);
}

bool winograd_bf16_backward_weight_unpool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gp,
                                          const Tensor& idx, Tensor& gw) {
  const Unpooled unpool{gp.data<float>(), idx.data<int64_t>()};
  if (x.dim() == 5) return run_backward_weight(g, x.data<float>(), nullptr, gw, &unpool);
  const Tensor xb = onednn::reordered(winograd_layouts(g.n, g.c, g.h, g.w, 16)->to_blocked, x, onednn::Reuse::kReuse);
  return run_backward_weight(g, floats(xb), nullptr, gw, &unpool);
}

}  // namespace tessera::cpu
