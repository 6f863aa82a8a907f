#pragma once
// What the bfloat16 (winograd_bf16.cc) and float32 (winograd_f32.cc) Winograd F(2x2, 3x3)
// convolutions share: the tile geometry, the chunking of tiles, the weight transform and
// the oneDNN plans of the batched products.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "backends/cpu/onednn.h"
#include "backends/cpu/vec/winograd.h"
#include "ops/conv.h"
#include "tessera/tensor.h"

namespace tessera::cpu {

// The tiles (`tile` x `tile` outputs: 2, or F(4x4, 3x3)'s 4) of g's output with channels
// in blocks of `block`.
vec::WinogradGeometry winograd_geometry(const ops::ConvGeometry& g, int64_t block, int64_t tile = 2);

// Chunks of equal size (the last one's spare rows computed and dropped, or zero), whose
// count is a multiple of the thread count, of at most about `budget` bytes at `per_tile`
// bytes a tile.
int64_t winograd_chunk_size(int64_t tiles, int64_t per_tile, int64_t budget);

// u = G g G^T for the 3x3 taps g (row-major), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2;
// 0 0 1], in double (the caller rounds once).
void winograd_weight_tile(const float (&g)[9], double (&u)[4][4]);
// F(4x4, 3x3)'s: u = G g G^T, G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6;
// 1/24 -1/12 1/6; 0 0 1], in double.
void winograd4x4_weight_tile(const float (&g)[9], double (&u)[6][6]);

// The gradient of the 3x3 taps from that of u = G g G^T: G^T du G, in double.
void winograd_weight_grad_tile(const double (&du)[4][4], float (&gw)[9]);

// The weight gradient from the per-thread sums of dU^T (`shares`, each [16, C, K] for
// C, K the padded channel counts): added in order into the first, then
// gw [g.o, g.c, 3, 3] = G^T dU G per channel pair (winograd_weight_grad_tile).
void winograd_weight_grad_finish(std::vector<Tensor>& shares, int64_t c_padded, int64_t k_padded,
                                 const ops::ConvGeometry& g, float* gw);

// Plain [N, C, H, W] float32 and its channel blocks of `block` (nChw16c or nChw8c), both
// ways: oneDNN reorders, cached per shape. Eager's passes convert with them; the blocked
// copies of a convolution's input and output gradient are kept for the other gradient
// pass (onednn::reordered), as oneDNN's own convolutions keep theirs.
struct WinogradLayouts {
  onednn::Reorder to_blocked, to_plain;
};
std::shared_ptr<const WinogradLayouts> winograd_layouts(int64_t n, int64_t c, int64_t h, int64_t w, int64_t block);

// The batched product of one chunk: M[16, chunk, K] = V[16, chunk, C] @ U[16, C, K], V and
// U of type `operand` (f32, or bf16 for the bfloat16 kernel), M float32; C and K are the
// padded channel counts.
struct WinogradPlan {
  dnnl::matmul prim;
  dnnl::memory::desc src, wei, dst, scratchpad;
  dnnl::memory::desc wei_plain;               // U as the weight transform writes it
  std::optional<onednn::Reorder> wei_reorder;  // to the layout the matmul reads
  // The key of the input gradient's transformed weight (prepared_weights), which a plan
  // of the same sizes must keep apart from the forward's (the plan's own address).
  char backward_data_key = 0;
};
std::shared_ptr<const WinogradPlan> winograd_plan(int64_t chunk, int64_t c, int64_t k,
                                                  dnnl::memory::data_type operand);

// The weight gradient's product of one chunk, added to what dst holds, transposed:
// dU^T[16, C, K] += V[16, chunk, C]^T @ Z[16, chunk, K], V and Z of type `operand`.
struct WinogradWeightGradPlan {
  dnnl::matmul prim;
  dnnl::memory::desc src, wei, dst, scratchpad;
};
std::shared_ptr<const WinogradWeightGradPlan> winograd_weight_grad_plan(int64_t chunk, int64_t k, int64_t c,
                                                                        dnnl::memory::data_type operand);

// A forward or input-gradient pass on plain [N, C, H, W] tensors through a blocked kernel:
// `src` converted by `from` (its blocked copy kept or reused as `reuse` says), `blocked` run
// from that copy into a blocked buffer, and the buffer converted into `dst` by `to`.
void winograd_plain_pass(const onednn::Reorder& from, onednn::Reuse reuse, const Tensor& src,
                         const onednn::Reorder& to, Tensor& dst,
                         const std::function<void(const float* src_blocked, float* dst_blocked)>& blocked);

// The input gradient of the convolution g (a forward geometry) is itself a 3x3 stride-1
// convolution: of the output gradient, padded by 2 minus g's padding on each side, with
// w's taps flipped and its two channel dims swapped. Its geometry.
ops::ConvGeometry winograd_backward_data_geometry(const ops::ConvGeometry& g);

}  // namespace tessera::cpu
