// The float32 Winograd convolution on 8-channel blocks (winograd_f32.h), chunked as the
// bfloat16 one (winograd_bf16.cc): each thread runs whole chunks of tiles through the
// input transform, the batched product and the output transform, so that a chunk's
// transformed input and products stay in its core's L2 cache.
#include "backends/cpu/winograd_f32.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "backends/cpu/onednn.h"
#include "backends/cpu/vec/float_loops.h"
#include "backends/cpu/vec/winograd.h"
#include "backends/cpu/winograd_common.h"
#include "core/parallel_internal.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

constexpr auto kF32 = dnnl::memory::data_type::f32;
constexpr int64_t kBlock = 8;
// A chunk's V and M together in about half of a 1 MiB L2, or the transformed weight's
// size if larger: every chunk reads all of it.
constexpr int64_t kChunkBytes = int64_t{1} << 19;

// The forward's (and input gradient's) 16 products run as Tessera's own register-tiled
// kernel (vec::winograd_products_f32_avx2) up to 128 x 128 padded channels, and as one
// oneDNN batched matmul a chunk past that. Own, V and M are tile-major (a tile's 16 rows
// together), so the transforms read and write one contiguous 2-8 KB row a tile instead
// of 16 rows 16 matrices apart; the rows are 16 floats longer than the 16 matrices, so
// that at 64 channels (4 KB) the kernel's six rows do not share an L1 set. A pass alone,
// 1 thread, AVX2 VM, median of 10-12 alternating runs, own / oneDNN (ms): CNN28's 32->64
// forward 14.2 / 15.8 and its input gradient (64->32, both at 48-tile chunks) 13.4 / 18.1;
// CNN64's 32->64 10.8 / 15.7 and 64->128 9.1 / 10.0; ResNet-18's 64->64 at 56x56 1.6 / 2.1
// and 128->128 at 28x28 1.6 / 1.9. At 256 channels (256 KB of U a matrix, read again for
// every 6 tiles) oneDNN's packed GEMM wins: 2.2 / 1.6.
constexpr int64_t kOwnProductsMaxWeights = 128 * 128;
constexpr int64_t kOwnRowPad = 16;
// The weight gradient's own products sum V[e]^T Z[e] down a chunk's tiles: 16 KB of one
// matrix of each (42 tiles at 32 -> 64 channels) stay in L1. A chunk's products alone at
// CNN28's 32 -> 64, 1 thread: 24 or 48 tiles 75-76 GFLOP/s, 85 tiles 57; tile-major
// (the rows 2 and 4 KB apart) 42.
constexpr int64_t kOwnWeightGradMatrixBytes = int64_t{1} << 14;
// V and M of a chunk within about a quarter of L2 (42 tiles at 32 -> 64 channels), or
// U's size if larger, as every chunk reads all of U: with U[e] read from L2 for every 6
// tiles the chunk need not be longer, and shorter chunks leave L2 to U and the input. (At
// 128 -> 128 on 28x28, one pass: 16 tiles a chunk 2.1 ms, 33 tiles 2.0, 66 tiles 2.1.)
constexpr int64_t kOwnChunkBytes = int64_t{1} << 18;
// The keys of the own path's transformed weights (onednn::prepared_weights): plain
// [16][C8][K8], kept apart from the oneDNN path's (which may be blocked) and the forward's
// apart from the input gradient's.
const char kOwnForwardKey = 0, kOwnBackwardDataKey = 0, kOwn4x4Key = 0;
// F(4x4, 3x3) (inference) runs from 4 tiles of 4x4 up: three 64 -> 64 convolutions on
// 8x8 (4 tiles each), 1 thread, 0.081 ms against 0.167 direct (F(2x2) wants 32 of its
// tiles); on 28x28 0.97 against F(2x2)'s 1.17, on 14x14 (a partial tile row) 0.32 and
// 0.31. Up to 128 x 128 channels, as the own products: at 256 (U 9 MB) it took 7.0 ms
// against F(2x2)'s 4.5 with oneDNN's products, at 512 on 7x7 23 against 10 direct.
constexpr int64_t k4x4MinTiles = 4;

// U[e][c][k] = (G g G^T)[e / n][e % n] for g = w[k][c], zero for the padding channels:
// n = 4 for F(2x2, 3x3), 6 for F(4x4, 3x3) (`four`). `flipped` (the input gradient, F(2x2)
// only): the convolution's out channels k are w's in channels, its in channels c are w's
// out channels, and g = w[c][k] turned by 180 degrees.
void transform_weight(const Tensor& w, bool flipped, bool four, int64_t c8, int64_t k8, float* u) {
  const int64_t K = flipped ? w.size(1) : w.size(0), C = flipped ? w.size(0) : w.size(1);
  const int n = four ? 6 : 4;
  const float* wp = w.data<float>();
  std::fill(u, u + n * n * c8 * k8, 0.f);
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
        double u4[4][4], u6[6][6];
        if (four) {
          winograd4x4_weight_tile(g, u6);
        } else {
          winograd_weight_tile(g, u4);
        }
        for (int e = 0; e < n * n; ++e)
          u[(e * c8 + c) * k8 + k] = static_cast<float>(four ? u6[e / 6][e % 6] : u4[e / 4][e % 4]);
      }
  });
}

// A chunk's V and M, per thread and kept between calls, so that a warm inference
// allocates only its outputs (tests/graph/plan_and_file_test.cc). At most about the
// chunk budget a thread.
float* chunk_buffer(size_t floats) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer.data();
}

// Where the output transform writes: y (with the residual it holds added, then ReLU), or,
// when `pooled` is set, the 2x2 max pool of the outputs (then ReLU; their positions into
// idx, unless null).
struct WinogradOut {
  float* y = nullptr;
  bool residual = false, relu = false;
  float* pooled = nullptr;
  int64_t* idx = nullptr;
};

void write_output(const vec::WinogradGeometry& wg, const float* mp, int64_t first, vec::WinogradChunkLayout ml,
                  int64_t last, const float* bias8, const WinogradOut& out) {
  if (out.pooled != nullptr)
    vec::winograd_output_max_pool_f32_avx2(wg, mp, first, ml, first, last, bias8, out.relu, out.pooled, out.idx);
  else
    vec::winograd_output_f32_avx2(wg, mp, first, ml, first, last, bias8, out.residual, out.relu, out.y);
}

// A convolution's input (the input gradient's: the output gradient) given as the
// unpooling of a 2x2 max pooling's gradient: gp and the pooling's indices.
struct Unpooled {
  const float* gp;
  const int64_t* idx;
};

// The input transform of tiles [first, last) from xp, or from `unpool` when set: false
// where its indices are not a 2x2 pooling's.
bool read_input(const vec::WinogradGeometry& wg, const float* xp, const Unpooled* unpool, int64_t first,
                vec::WinogradChunkLayout vl, int64_t last, float* vp) {
  if (unpool == nullptr) {
    vec::winograd_input_f32_avx2(wg, xp, first, vl, first, last, vp);
    return true;
  }
  return vec::winograd_input_unpool_f32_avx2(wg, unpool->gp, unpool->idx, first, vl, first, last, vp);
}

// 3x3, stride 1, undilated, ungrouped, on blocks of 8, on a CPU with AVX2.
bool kernel_suits(const ops::ConvGeometry& g, int64_t b) {
  static const bool avx2 = vec::cpu_runs_isa("avx2");
  return b == kBlock && g.kh == 3 && g.kw == 3 && g.stride[0] == 1 && g.stride[1] == 1 && g.dilation[0] == 1 &&
         g.dilation[1] == 1 && g.groups == 1 && avx2;
}

}  // namespace

bool winograd_f32_native() { return ops::conv_channel_block() == kBlock; }

bool winograd_f32_applies(const ops::ConvGeometry& g, int64_t b) {
  // Below about 32 tiles the products are too short to pay for reading the transformed
  // weight, 16/9 the size of the direct one: ResNet-18's 7x7 layers with 512 channels (16
  // tiles at batch 1) would take 3.9 ms of products alone against 3.4 direct (AVX2 VM, 1
  // thread), where its 14x14 ones (49 tiles, 256 channels) take 1.2 against 2.7.
  const int64_t tiles = g.n * ((g.oh + 1) / 2) * ((g.ow + 1) / 2);
  return kernel_suits(g, b) && tiles >= 32;
}

namespace {

// The forward with Tessera's own products (kOwnProductsMaxWeights): each thread runs whole
// chunks through the input transform, the 16 products and the output transform.
bool run_winograd_own(const ops::ConvGeometry& g, const vec::WinogradGeometry& wg, const float* xp, const Tensor& w,
                      bool flipped, const float* bias8, const WinogradOut& out, const Unpooled* unpool) {
  const int64_t c8 = kBlock * wg.in_blocks, k8 = kBlock * wg.out_blocks;
  const int64_t tiles = g.n * wg.tiles_h * wg.tiles_w;
  const vec::WinogradChunkLayout vl{c8, 16 * c8 + kOwnRowPad}, ml{k8, 16 * k8 + kOwnRowPad};
  const int64_t chunk =
      winograd_chunk_size(tiles, 4 * (vl.row_stride + ml.row_stride), std::max(kOwnChunkBytes, 16 * c8 * k8 * 4));
  const Tensor u = onednn::prepared_weights(flipped ? &kOwnBackwardDataKey : &kOwnForwardKey, w,
                                            static_cast<size_t>(16 * c8 * k8) * sizeof(float), [&](void* out) {
                                              transform_weight(w, flipped, false, c8, k8, static_cast<float*>(out));
                                            });
  const float* up = static_cast<const float*>(u.data_ptr());
  std::atomic<bool> read{true};
  parallel_for(0, (tiles + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
    float* vp = chunk_buffer(static_cast<size_t>(chunk * (vl.row_stride + ml.row_stride)));
    float* mp = vp + chunk * vl.row_stride;
    for (int64_t c = c0; c < c1 && read; ++c) {
      const int64_t first = c * chunk, last = std::min(tiles, first + chunk);
      if (!read_input(wg, xp, unpool, first, vl, last, vp)) {
        read = false;
        return;
      }
      vec::winograd_products_f32_avx2(vp, vl, up, last - first, c8, k8, mp, ml, 16);
      write_output(wg, mp, first, ml, last, bias8, out);
    }
  });
  return read;
}

// The forward kernel for the convolution g of xp by w (read as transform_weight reads it),
// bias (g.o entries) or null. With `unpool`, the input is instead the unpooling of a 2x2
// max pooling's gradient (xp unread); false where its indices are not such a pooling's
// (the output then partly written).
bool run_winograd(const ops::ConvGeometry& g, const float* xp, const Tensor& w, bool flipped, const float* bias,
                  const WinogradOut& out, const Unpooled* unpool = nullptr) {
  const vec::WinogradGeometry wg = winograd_geometry(g, kBlock);
  const int64_t c8 = kBlock * wg.in_blocks, k8 = kBlock * wg.out_blocks;
  const int64_t tiles = g.n * wg.tiles_h * wg.tiles_w;
  if (tiles == 0) return true;
  std::vector<float> bias8(static_cast<size_t>(k8), 0.f);
  if (bias != nullptr) std::memcpy(bias8.data(), bias, static_cast<size_t>(g.o) * sizeof(float));
  if (c8 * k8 <= kOwnProductsMaxWeights) return run_winograd_own(g, wg, xp, w, flipped, bias8.data(), out, unpool);
  const int64_t chunk = winograd_chunk_size(tiles, 16 * 4 * (c8 + k8), std::max(kChunkBytes, 16 * c8 * k8 * 4));
  const vec::WinogradChunkLayout vl{chunk * c8, c8}, ml{chunk * k8, k8};
  std::shared_ptr<const WinogradPlan> plan;
  {
    SerialGuard serial;  // builds the primitive for one thread (the key holds the count)
    plan = winograd_plan(chunk, c8, k8, kF32);
  }
  // The input gradient's transformed weight is kept apart from the forward's.
  const void* key = flipped ? static_cast<const void*>(&plan->backward_data_key) : plan.get();
  const Tensor u = onednn::prepared_weights(key, w, plan->wei.get_size(), [&](void* out) {
    Tensor plain = make_tensor({16 * c8 * k8}, DType::Float32);
    transform_weight(w, flipped, false, c8, k8, plain.data<float>());
    if (plan->wei_reorder)
      onednn::run_reorder(*plan->wei_reorder, plain.data_ptr(), out);
    else
      std::memcpy(out, plain.data_ptr(), plan->wei.get_size());
  });
  std::atomic<bool> read{true};
  parallel_for(0, (tiles + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
    float* vp = chunk_buffer(static_cast<size_t>(16 * chunk * (c8 + k8)));
    float* mp = vp + 16 * chunk * c8;
    const dnnl::engine& eng = onednn::engine();
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(plan->src, eng, vp)},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(plan->wei, eng, u.data_ptr())},
                                               {DNNL_ARG_DST, dnnl::memory(plan->dst, eng, mp)}};
    const Tensor scratch = onednn::add_scratchpad(plan->scratchpad, args);
    for (int64_t c = c0; c < c1 && read; ++c) {
      const int64_t first = c * chunk, last = std::min(tiles, first + chunk);
      if (!read_input(wg, xp, unpool, first, vl, last, vp)) {
        read = false;
        return;
      }
      if (last - first < chunk)  // the last chunk's spare rows: zeros, not stale values
        for (int64_t e = 0; e < 16; ++e) std::fill(vp + (e * chunk + last - first) * c8, vp + (e + 1) * chunk * c8, 0.f);
      plan->prim.execute(onednn::stream(), args);
      onednn::stream().wait();
      write_output(wg, mp, first, ml, last, bias8.data(), out);
    }
  });
  return read;
}

// F(4x4, 3x3) (inference, winograd_f32_4x4_applies): as run_winograd_own with 36
// matrices a tile and 4x4 output tiles; `out` writes y, or the pooled values (no indices).
void run_winograd_4x4(const ops::ConvGeometry& g, const float* xp, const Tensor& w, const float* bias,
                      const WinogradOut& out) {
  const vec::WinogradGeometry wg = winograd_geometry(g, kBlock, 4);
  const int64_t c8 = kBlock * wg.in_blocks, k8 = kBlock * wg.out_blocks;
  const int64_t tiles = g.n * wg.tiles_h * wg.tiles_w;
  if (tiles == 0) return;
  std::vector<float> bias8(static_cast<size_t>(k8), 0.f);
  if (bias != nullptr) std::memcpy(bias8.data(), bias, static_cast<size_t>(g.o) * sizeof(float));
  const vec::WinogradChunkLayout vl{c8, 36 * c8 + kOwnRowPad}, ml{k8, 36 * k8 + kOwnRowPad};
  const int64_t chunk =
      winograd_chunk_size(tiles, 4 * (vl.row_stride + ml.row_stride), std::max(kOwnChunkBytes, 36 * c8 * k8 * 4));
  const Tensor u = onednn::prepared_weights(&kOwn4x4Key, w, static_cast<size_t>(36 * c8 * k8) * sizeof(float),
                                            [&](void* dst) {
                                              transform_weight(w, false, true, c8, k8, static_cast<float*>(dst));
                                            });
  const float* up = static_cast<const float*>(u.data_ptr());
  parallel_for(0, (tiles + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
    float* vp = chunk_buffer(static_cast<size_t>(chunk * (vl.row_stride + ml.row_stride)));
    float* mp = vp + chunk * vl.row_stride;
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t first = c * chunk, last = std::min(tiles, first + chunk);
      vec::winograd4x4_input_f32_avx2(wg, xp, first, vl, first, last, vp);
      vec::winograd_products_f32_avx2(vp, vl, up, last - first, c8, k8, mp, ml, 36);
      if (out.pooled != nullptr)
        vec::winograd4x4_output_max_pool_f32_avx2(wg, mp, first, ml, first, last, bias8.data(), out.relu, out.pooled);
      else
        vec::winograd4x4_output_f32_avx2(wg, mp, first, ml, first, last, bias8.data(), out.residual, out.relu, out.y);
    }
  });
}

// With the weight gradient's chunks (V and Z in the thread's chunk buffer, matrix-major),
// their products Tessera's own up to kOwnProductsMaxWeights, else one oneDNN batched
// matmul a chunk. Unlike the forward's, the own products here read V[e] and Z[e] down
// the tiles (the sum runs over them), so those stay matrix-major, in chunks short enough
// for one matrix of each to stay in L1 (kOwnWeightGradMatrixBytes). With `unpool`, the
// output gradient is instead the unpooling of a 2x2 max pooling's gradient (gyp unread);
// false where its indices are not such a pooling's (gw then unwritten).
bool run_backward_weight(const ops::ConvGeometry& g, const float* xp, const float* gyp, Tensor& gw,
                         const Unpooled* unpool = nullptr) {
  const vec::WinogradGeometry wg = winograd_geometry(g, kBlock);
  const int64_t c8 = kBlock * wg.in_blocks, k8 = kBlock * wg.out_blocks;
  const int64_t tiles = g.n * wg.tiles_h * wg.tiles_w;
  float* out = gw.data<float>();
  if (tiles == 0) {
    std::fill(out, out + gw.numel(), 0.f);
    return true;
  }
  const bool own = c8 * k8 <= kOwnProductsMaxWeights;
  const int64_t chunk = own ? winograd_chunk_size(tiles, 4 * (c8 + k8), kOwnWeightGradMatrixBytes)
                            : winograd_chunk_size(tiles, 4 * 16 * (c8 + k8), kChunkBytes);
  const int64_t chunks = (tiles + chunk - 1) / chunk;
  const vec::WinogradChunkLayout vl{chunk * c8, c8}, zl{chunk * k8, k8};
  const size_t v_floats = static_cast<size_t>(16 * chunk * c8), z_floats = static_cast<size_t>(16 * chunk * k8);
  std::shared_ptr<const WinogradWeightGradPlan> plan;
  if (!own) {
    SerialGuard serial;  // built for one thread, as run_winograd's
    plan = winograd_weight_grad_plan(chunk, k8, c8, kF32);
  }
  // Each share of the chunks (one per thread) sums into its own dU; the shares are added
  // in order, so the result depends on the thread count only, as oneDNN's own do.
  const int64_t shares = std::min<int64_t>(get_num_threads(), chunks);
  std::vector<Tensor> du(static_cast<size_t>(shares));
  std::atomic<bool> read{true};
  parallel_for(0, shares, 1, [&](int64_t s0, int64_t s1) {
    float* vp = chunk_buffer(v_floats + z_floats);
    float* zp = vp + v_floats;
    for (int64_t share = s0; share < s1; ++share) {
      Tensor acc = make_tensor({16 * k8 * c8}, DType::Float32);
      std::fill(acc.data<float>(), acc.data<float>() + acc.numel(), 0.f);
      std::unordered_map<int, dnnl::memory> args;
      Tensor scratch;
      if (!own) {
        const dnnl::engine& eng = onednn::engine();
        args = {{DNNL_ARG_SRC, dnnl::memory(plan->src, eng, vp)},
                {DNNL_ARG_WEIGHTS, dnnl::memory(plan->wei, eng, zp)},
                {DNNL_ARG_DST, dnnl::memory(plan->dst, eng, acc.data_ptr())}};
        scratch = onednn::add_scratchpad(plan->scratchpad, args);
      }
      for (int64_t c = share * chunks / shares; c < (share + 1) * chunks / shares && read; ++c) {
        const int64_t first = c * chunk, last = std::min(tiles, first + chunk);
        vec::winograd_input_f32_avx2(wg, xp, first, vl, first, last, vp);
        if (unpool == nullptr) {
          vec::winograd_output_grad_f32_avx2(wg, gyp, g.o, first, zl, first, last, zp);
        } else if (!vec::winograd_output_grad_unpool_f32_avx2(wg, unpool->gp, unpool->idx, g.o, first, zl, first, last,
                                                              zp)) {
          read = false;
          return;
        }
        if (own) {
          vec::winograd_weight_grad_products_f32_avx2(vp, vl, zp, zl, last - first, c8, k8, acc.data<float>());
          continue;
        }
        if (last - first < chunk)  // the last chunk's spare rows: zeros, adding nothing
          for (int64_t e = 0; e < 16; ++e) {
            std::fill(vp + (e * chunk + last - first) * c8, vp + (e + 1) * chunk * c8, 0.f);
            std::fill(zp + (e * chunk + last - first) * k8, zp + (e + 1) * chunk * k8, 0.f);
          }
        plan->prim.execute(onednn::stream(), args);
        onednn::stream().wait();
      }
      du[static_cast<size_t>(share)] = acc;
    }
  });
  if (!read) return false;
  winograd_weight_grad_finish(du, c8, k8, g, out);
  return true;
}

const float* floats(const Tensor& t) { return static_cast<const float*>(t.data_ptr()); }

}  // namespace

void winograd_f32_conv(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias, bool residual,
                       bool relu, Tensor& y) {
  run_winograd(g, x.data<float>(), w, false, bias.data<float>(), WinogradOut{y.data<float>(), residual, relu});
}

void winograd_f32_conv_max_pool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                                bool relu, Tensor& pooled, Tensor* idx) {
  WinogradOut out;
  out.relu = relu;
  out.pooled = pooled.data<float>();
  out.idx = idx != nullptr ? idx->data<int64_t>() : nullptr;
  run_winograd(g, x.data<float>(), w, false, bias.data<float>(), out);
}

bool winograd_f32_4x4_applies(const ops::ConvGeometry& g, int64_t b) {
  const int64_t tiles = g.n * ((g.oh + 3) / 4) * ((g.ow + 3) / 4);
  const int64_t c8 = (g.c + kBlock - 1) / kBlock * kBlock, k8 = (g.o + kBlock - 1) / kBlock * kBlock;
  return kernel_suits(g, b) && c8 * k8 <= kOwnProductsMaxWeights && tiles >= k4x4MinTiles;
}

void winograd_f32_4x4_conv(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                           bool residual, bool relu, Tensor& y) {
  run_winograd_4x4(g, x.data<float>(), w, bias.data<float>(), WinogradOut{y.data<float>(), residual, relu});
}

void winograd_f32_4x4_conv_max_pool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                                    bool relu, Tensor& pooled) {
  WinogradOut out;
  out.relu = relu;
  out.pooled = pooled.data<float>();
  run_winograd_4x4(g, x.data<float>(), w, bias.data<float>(), out);
}

bool winograd_f32_backward_data_applies(const ops::ConvGeometry& g, int64_t b) {
  // Padding past the kernel's reach would leave the gradient's padding negative.
  for (int d = 0; d < 2; ++d)
    if (g.pad_begin[d] < 0 || g.pad_begin[d] > 2 || g.pad_end[d] < 0 || g.pad_end[d] > 2) return false;
  return winograd_f32_applies(g, b) && winograd_f32_applies(winograd_backward_data_geometry(g), b);
}

void winograd_f32_backward_data(const ops::ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx) {
  run_winograd(winograd_backward_data_geometry(g), gy.data<float>(), w, true, nullptr, WinogradOut{gx.data<float>()});
}

bool winograd_f32_unpool_applies(const ops::ConvGeometry& g, int64_t b) {
  return g.pad_begin[0] % 2 == 0 && g.pad_begin[1] % 2 == 0 && winograd_f32_backward_data_applies(g, b);
}

bool winograd_f32_backward_data_unpool(const ops::ConvGeometry& g, const Tensor& gp, const Tensor& idx,
                                       const Tensor& w, Tensor& gx) {
  const Unpooled unpool{gp.data<float>(), idx.data<int64_t>()};
  return run_winograd(winograd_backward_data_geometry(g), nullptr, w, true, nullptr, WinogradOut{gx.data<float>()},
                      &unpool);
}

bool winograd_f32_backward_weight_unpool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gp,
                                         const Tensor& idx, Tensor& gw) {
  const Unpooled unpool{gp.data<float>(), idx.data<int64_t>()};
  if (x.dim() == 5) return run_backward_weight(g, x.data<float>(), nullptr, gw, &unpool);
  const Tensor xb = onednn::reordered(winograd_layouts(g.n, g.c, g.h, g.w, kBlock)->to_blocked, x, onednn::Reuse::kReuse);
  return run_backward_weight(g, floats(xb), nullptr, gw, &unpool);
}

void winograd_f32_backward_weight(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw) {
  if (x.dim() == 5) {
    run_backward_weight(g, x.data<float>(), gy.data<float>(), gw);
  } else {
    const Tensor xb = onednn::reordered(winograd_layouts(g.n, g.c, g.h, g.w, kBlock)->to_blocked, x, onednn::Reuse::kReuse);
    run_backward_weight(g, floats(xb), gy.data<float>(), gw);
  }
}

void winograd_f32_conv_plain(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                             Tensor& y) {
  const auto lx = winograd_layouts(g.n, g.c, g.h, g.w, kBlock), ly = winograd_layouts(g.n, g.o, g.oh, g.ow, kBlock);
  // x's blocked copy is kept for the weight gradient.
  winograd_plain_pass(lx->to_blocked, onednn::Reuse::kRemember, x, ly->to_plain, y, [&](const float* xb, float* yb) {
    run_winograd(g, xb, w, false, bias.defined() ? bias.data<float>() : nullptr, WinogradOut{yb});
  });
}

void winograd_f32_backward_data_plain(const ops::ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx) {
  const auto lx = winograd_layouts(g.n, g.c, g.h, g.w, kBlock), ly = winograd_layouts(g.n, g.o, g.oh, g.ow, kBlock);
  // gy's blocked copy is shared with the weight gradient.
  winograd_plain_pass(ly->to_blocked, onednn::Reuse::kReuse, gy, lx->to_plain, gx, [&](const float* gyb, float* gxb) {
    run_winograd(winograd_backward_data_geometry(g), gyb, w, true, nullptr, WinogradOut{gxb});
  });
}

void winograd_f32_backward_weight_plain(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw) {
  const auto lx = winograd_layouts(g.n, g.c, g.h, g.w, kBlock), ly = winograd_layouts(g.n, g.o, g.oh, g.ow, kBlock);
  const Tensor xb = onednn::reordered(lx->to_blocked, x, onednn::Reuse::kReuse);
  const Tensor gyb = onednn::reordered(ly->to_blocked, gy, onednn::Reuse::kReuse);
  run_backward_weight(g, floats(xb), floats(gyb), gw);
}

}  // namespace tessera::cpu
