#include "backends/cpu/winograd_common.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>

#include "tessera/parallel.h"

namespace tessera::cpu {

vec::WinogradGeometry winograd_geometry(const ops::ConvGeometry& g, int64_t block, int64_t tile) {
  vec::WinogradGeometry wg;
  wg.H = g.h;
  wg.W = g.w;
  wg.OH = g.oh;
  wg.OW = g.ow;
  wg.pad_top = g.pad_begin[0];
  wg.pad_left = g.pad_begin[1];
  wg.tiles_h = (g.oh + tile - 1) / tile;
  wg.tiles_w = (g.ow + tile - 1) / tile;
  wg.in_blocks = (g.c + block - 1) / block;
  wg.out_blocks = (g.o + block - 1) / block;
  wg.in_channels = g.c;
  return wg;
}

int64_t winograd_chunk_size(int64_t tiles, int64_t per_tile, int64_t budget) {
  const int64_t threads = get_num_threads();
  const int64_t most = std::max<int64_t>(16, budget / per_tile);
  int64_t chunks = std::max((tiles + most - 1) / most, std::min(threads, tiles));
  chunks = (chunks + threads - 1) / threads * threads;
  return (tiles + chunks - 1) / chunks;
}

void winograd_weight_tile(const float (&g)[9], double (&u)[4][4]) {
  double gg[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    gg[0][j] = g[j];
    gg[1][j] = 0.5 * (double(g[j]) + g[3 + j] + g[6 + j]);
    gg[2][j] = 0.5 * (double(g[j]) - g[3 + j] + g[6 + j]);
    gg[3][j] = g[6 + j];
  }
  for (int i = 0; i < 4; ++i) {  // (G g) G^T
    u[i][0] = gg[i][0];
    u[i][1] = 0.5 * (gg[i][0] + gg[i][1] + gg[i][2]);
    u[i][2] = 0.5 * (gg[i][0] - gg[i][1] + gg[i][2]);
    u[i][3] = gg[i][2];
  }
}

void winograd4x4_weight_tile(const float (&g)[9], double (&u)[6][6]) {
  static const double G[6][3] = {{1.0 / 4, 0, 0},
                                 {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                 {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                 {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                 {0, 0, 1}};
  double gg[6][3];  // G g
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 3; ++j) gg[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
  for (int i = 0; i < 6; ++i)  // (G g) G^T
    for (int j = 0; j < 6; ++j) u[i][j] = gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2];
}

void winograd_weight_grad_tile(const double (&m)[4][4], float (&o)[9]) {
  double h[3][4];  // G^T m
  for (int j = 0; j < 4; ++j) {
    h[0][j] = m[0][j] + 0.5 * (m[1][j] + m[2][j]);
    h[1][j] = 0.5 * (m[1][j] - m[2][j]);
    h[2][j] = 0.5 * (m[1][j] + m[2][j]) + m[3][j];
  }
  for (int p = 0; p < 3; ++p) {  // (G^T m) G
    o[p * 3 + 0] = static_cast<float>(h[p][0] + 0.5 * (h[p][1] + h[p][2]));
    o[p * 3 + 1] = static_cast<float>(0.5 * (h[p][1] - h[p][2]));
    o[p * 3 + 2] = static_cast<float>(0.5 * (h[p][1] + h[p][2]) + h[p][3]);
  }
}

void winograd_weight_grad_finish(std::vector<Tensor>& shares, int64_t c_padded, int64_t k_padded,
                                 const ops::ConvGeometry& g, float* gw) {
  float* sum = shares[0].data<float>();
  for (size_t share = 1; share < shares.size(); ++share) {
    const float* b = shares[share].data<float>();
    for (int64_t i = 0; i < 16 * k_padded * c_padded; ++i) sum[i] += b[i];
  }
  // gw[k][c] = G^T dU[., k, c] G, in double (the shares hold dU^T).
  for (int64_t k = 0; k < g.o; ++k)
    for (int64_t c = 0; c < g.c; ++c) {
      double m[4][4];
      for (int e = 0; e < 16; ++e) m[e / 4][e % 4] = sum[(e * c_padded + c) * k_padded + k];
      float o[9];
      winograd_weight_grad_tile(m, o);
      std::memcpy(gw + (k * g.c + c) * 9, o, sizeof o);
    }
}

std::shared_ptr<const WinogradLayouts> winograd_layouts(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block) {
  return onednn::cached_primitive<WinogradLayouts>({n, c, h, w, block}, [&] {
    using Tag = dnnl::memory::format_tag;
    constexpr auto kF32 = dnnl::memory::data_type::f32;
    const dnnl::memory::desc plain({n, c, h, w}, kF32, Tag::nchw),
        blocked({n, c, h, w}, kF32, block == 16 ? Tag::nChw16c : Tag::nChw8c);
    return std::make_shared<WinogradLayouts>(
        WinogradLayouts{onednn::Reorder(plain, blocked), onednn::Reorder(blocked, plain)});
  });
}

ops::ConvGeometry winograd_backward_data_geometry(const ops::ConvGeometry& g) {
  ops::ConvGeometry b = g;
  b.c = g.o;
  b.o = g.c;
  b.h = g.oh;
  b.w = g.ow;
  b.oh = g.h;
  b.ow = g.w;
  for (int d = 0; d < 2; ++d) {
    b.pad_begin[d] = g.kh - 1 - g.pad_begin[d];
    b.pad_end[d] = g.kh - 1 - g.pad_end[d];
  }
  return b;
}

void winograd_plain_pass(const onednn::Reorder& from, onednn::Reuse reuse, const Tensor& src,
                         const onednn::Reorder& to, Tensor& dst,
                         const std::function<void(const float* src_blocked, float* dst_blocked)>& blocked) {
  const Tensor sb = onednn::reordered(from, src, reuse);
  Tensor db = make_tensor({static_cast<int64_t>(to.from.get_size())}, DType::UInt8);
  blocked(static_cast<const float*>(sb.data_ptr()), static_cast<float*>(db.data_ptr()));
  onednn::run_reorder(to, db.data_ptr(), dst.data_ptr());
}

std::shared_ptr<const WinogradPlan> winograd_plan(int64_t chunk, int64_t c, int64_t k,
                                                  dnnl::memory::data_type operand) {
  using Tag = dnnl::memory::format_tag;
  return onednn::cached_primitive<WinogradPlan>({chunk, c, k, static_cast<int64_t>(operand)}, [&] {
    auto p = std::make_shared<WinogradPlan>();
    p->src = dnnl::memory::desc({16, chunk, c}, operand, Tag::abc);
    p->wei_plain = dnnl::memory::desc({16, c, k}, operand, Tag::abc);
    p->dst = dnnl::memory::desc({16, chunk, k}, dnnl::memory::data_type::f32, Tag::abc);
    const dnnl::memory::desc any({16, c, k}, operand, Tag::any);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p->src, any, p->dst), onednn::attr(),
                                          onednn::engine());
    p->prim = dnnl::matmul(pd);
    p->wei = pd.weights_desc();
    p->scratchpad = pd.scratchpad_desc();
    if (p->wei != p->wei_plain) p->wei_reorder.emplace(p->wei_plain, p->wei);
    return p;
  });
}

// oneDNN copies the operand it reads transposed; V, with half Z's columns at CNN28's
// 32 -> 64 layer, costs half as much to copy as Z would (the chunks' products in bfloat16
// at 1 thread: 4.0 -> 3.7 ms).
std::shared_ptr<const WinogradWeightGradPlan> winograd_weight_grad_plan(int64_t chunk, int64_t k, int64_t c,
                                                                        dnnl::memory::data_type operand) {
  using Tag = dnnl::memory::format_tag;
  return onednn::cached_primitive<WinogradWeightGradPlan>({chunk, k, c, static_cast<int64_t>(operand)}, [&] {
    auto p = std::make_shared<WinogradWeightGradPlan>();
    p->src = dnnl::memory::desc({16, c, chunk}, operand, Tag::acb);
    p->wei = dnnl::memory::desc({16, chunk, k}, operand, Tag::abc);
    p->dst = dnnl::memory::desc({16, c, k}, dnnl::memory::data_type::f32, Tag::abc);
    dnnl::primitive_attr attr = onednn::attr();
    dnnl::post_ops sum;
    sum.append_sum(1.f);
    attr.set_post_ops(sum);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p->src, p->wei, p->dst), attr, onednn::engine());
    p->prim = dnnl::matmul(pd);
    p->scratchpad = pd.scratchpad_desc();
    return p;
  });
}

}  // namespace tessera::cpu
