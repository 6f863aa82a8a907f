#pragma once
// What the bfloat16 (winograd_bf16.cc) and float32 (winograd_f32.cc) Winograd F(2x2, 3x3)
// convolutions share: the tile geometry, the chunking of tiles, and the weight transform.
#include <cstdint>
#include <memory>
#include <vector>

#include "backends/cpu/onednn.h"
#include "backends/cpu/vec/winograd.h"
#include "ops/conv.h"
#include "tessera/tensor.h"

namespace tessera::cpu {

// The tiles of g's output with channels in blocks of `block`.
vec::WinogradGeometry winograd_geometry(const ops::ConvGeometry& g, int64_t block);

// Chunks of equal size (the last one's spare rows computed and dropped, or zero), whose
// count is a multiple of the thread count, of at most about `budget` bytes at `per_tile`
// bytes a tile.
int64_t winograd_chunk_size(int64_t tiles, int64_t per_tile, int64_t budget);

// u = G g G^T for the 3x3 taps g (row-major), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2;
// 0 0 1], in double (the caller rounds once).
void winograd_weight_tile(const float (&g)[9], double (&u)[4][4]);

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

// The input gradient of the convolution g (a forward geometry) is itself a 3x3 stride-1
// convolution: of the output gradient, padded by 2 minus g's padding on each side, with
// w's taps flipped and its two channel dims swapped. Its geometry.
ops::ConvGeometry winograd_backward_data_geometry(const ops::ConvGeometry& g);

}  // namespace tessera::cpu
