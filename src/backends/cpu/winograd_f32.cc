// The float32 Winograd convolution on 8-channel blocks (winograd_f32.h), chunked as the
// bfloat16 one (winograd_bf16.cc): each thread runs whole chunks of tiles through the
// input transform, the batched product and the output transform, so that a chunk's
// transformed input and products stay in its core's L2 cache.
#include "backends/cpu/winograd_f32.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
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

using Tag = dnnl::memory::format_tag;
constexpr auto kF32 = dnnl::memory::data_type::f32;
constexpr int64_t kBlock = 8;
// A chunk's V and M together in about half of a 1 MiB L2, or the transformed weight's
// size if larger: every chunk reads all of it.
constexpr int64_t kChunkBytes = int64_t{1} << 19;

// M[16, chunk, K8] = V[16, chunk, C8] @ U[16, C8, K8].
struct Plan {
  dnnl::matmul prim;
  dnnl::memory::desc src, wei, dst, scratchpad;
  dnnl::memory::desc wei_plain;               // U as transform_weight writes it
  std::optional<onednn::Reorder> wei_reorder;  // to the layout the matmul reads
};

std::shared_ptr<const Plan> plan_for(int64_t chunk, int64_t c8, int64_t k8) {
  return onednn::cached_primitive<Plan>({chunk, c8, k8}, [&] {
    auto p = std::make_shared<Plan>();
    p->src = dnnl::memory::desc({16, chunk, c8}, kF32, Tag::abc);
    p->wei_plain = dnnl::memory::desc({16, c8, k8}, kF32, Tag::abc);
    p->dst = dnnl::memory::desc({16, chunk, k8}, kF32, Tag::abc);
    const dnnl::memory::desc any({16, c8, k8}, kF32, Tag::any);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p->src, any, p->dst), onednn::attr(), onednn::engine());
    p->prim = dnnl::matmul(pd);
    p->wei = pd.weights_desc();
    p->scratchpad = pd.scratchpad_desc();
    if (p->wei != p->wei_plain) p->wei_reorder.emplace(p->wei_plain, p->wei);
    return p;
  });
}

// U[e][c][k] = (G w[k][c] G^T)[e / 4][e % 4], zero for the padding channels.
void transform_weight(const Tensor& w, int64_t c8, int64_t k8, float* u) {
  const int64_t K = w.size(0), C = w.size(1);
  const float* wp = w.data<float>();
  std::fill(u, u + 16 * c8 * k8, 0.f);
  parallel_for(0, K, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, C)), [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t c = 0; c < C; ++c) {
        float g[9];
        std::memcpy(g, wp + (k * C + c) * 9, sizeof g);
        double uu[4][4];
        winograd_weight_tile(g, uu);
        for (int e = 0; e < 16; ++e) u[(e * c8 + c) * k8 + k] = static_cast<float>(uu[e / 4][e % 4]);
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

}  // namespace

bool winograd_f32_applies(const ops::ConvGeometry& g, int64_t b) {
  // Below about 32 tiles the products are too short to pay for reading the transformed
  // weight, 16/9 the size of the direct one: ResNet-18's 7x7 layers with 512 channels (16
  // tiles at batch 1) would take 3.9 ms of products alone against 3.4 direct (AVX2 VM, 1
  // thread), where its 14x14 ones (49 tiles, 256 channels) take 1.2 against 2.7.
  const int64_t tiles = g.n * ((g.oh + 1) / 2) * ((g.ow + 1) / 2);
  static const bool avx2 = vec::cpu_runs_isa("avx2");
  return b == kBlock && g.kh == 3 && g.kw == 3 && g.stride[0] == 1 && g.stride[1] == 1 && g.dilation[0] == 1 &&
         g.dilation[1] == 1 && g.groups == 1 && tiles >= 32 && avx2;
}

void winograd_f32_conv(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias, bool residual,
                       bool relu, Tensor& y) {
  const vec::WinogradGeometry wg = winograd_geometry(g, kBlock);
  const int64_t c8 = kBlock * wg.in_blocks, k8 = kBlock * wg.out_blocks;
  const int64_t tiles = g.n * wg.tiles_h * wg.tiles_w;
  if (tiles == 0) return;
  const int64_t chunk = winograd_chunk_size(tiles, 16 * 4 * (c8 + k8), std::max(kChunkBytes, 16 * c8 * k8 * 4));
  std::shared_ptr<const Plan> plan;
  {
    SerialGuard serial;  // builds the primitive for one thread (the key holds the count)
    plan = plan_for(chunk, c8, k8);
  }
  const Tensor u = onednn::prepared_weights(plan.get(), w, plan->wei.get_size(), [&](void* out) {
    Tensor plain = make_tensor({16 * c8 * k8}, DType::Float32);
    transform_weight(w, c8, k8, plain.data<float>());
    if (plan->wei_reorder)
      onednn::run_reorder(*plan->wei_reorder, plain.data_ptr(), out);
    else
      std::memcpy(out, plain.data_ptr(), plan->wei.get_size());
  });
  std::vector<float> bias8(static_cast<size_t>(k8), 0.f);
  std::memcpy(bias8.data(), bias.data<float>(), static_cast<size_t>(g.o) * sizeof(float));
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  parallel_for(0, (tiles + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
    float* vp = chunk_buffer(static_cast<size_t>(16 * chunk * (c8 + k8)));
    float* mp = vp + 16 * chunk * c8;
    const dnnl::engine& eng = onednn::engine();
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(plan->src, eng, vp)},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(plan->wei, eng, u.data_ptr())},
                                               {DNNL_ARG_DST, dnnl::memory(plan->dst, eng, mp)}};
    const Tensor scratch = onednn::add_scratchpad(plan->scratchpad, args);
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t first = c * chunk, last = std::min(tiles, first + chunk);
      vec::winograd_input_f32_avx2(wg, xp, first, chunk, first, last, vp);
      if (last - first < chunk)  // the last chunk's spare rows: zeros, not stale values
        for (int64_t e = 0; e < 16; ++e) std::fill(vp + (e * chunk + last - first) * c8, vp + (e + 1) * chunk * c8, 0.f);
      plan->prim.execute(onednn::stream(), args);
      onednn::stream().wait();
      vec::winograd_output_f32_avx2(wg, mp, first, chunk, first, last, bias8.data(), residual, relu, yp);
    }
  });
}

}  // namespace tessera::cpu
