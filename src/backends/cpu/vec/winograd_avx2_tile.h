#pragma once
// What the two float32 Winograd files for AVX2 share (winograd_avx2.cc: F(2x2, 3x3) and
// the products; winograd4x4_avx2.cc: F(4x4, 3x3)): 8-float vector types and their loads,
// the tail-lane mask, and the store of one block of an output tile. Include it only from
// files compiled with AVX2 flags (the types are single ymm registers there), and only
// there: its functions are in an unnamed namespace, so each such file has its own.
#include <cstdint>

#include "backends/cpu/vec/winograd.h"

namespace tessera::cpu::vec {
namespace {

using F8 [[gnu::vector_size(32)]] = float;
using U8 [[gnu::vector_size(32)]] = uint32_t;

inline F8 load(const float* p) {
  F8 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, F8 v) { __builtin_memcpy(p, &v, sizeof v); }

// A mask of the first `lanes` lanes of 8: the lanes of a block at and past the channel
// count hold whatever the layout left there, and are read as 0.
inline U8 lanes_mask(int64_t lanes) {
  U8 mask;
  for (int l = 0; l < 8; ++l) mask[l] = l < lanes ? 0xffffffffu : 0u;
  return mask;
}

// One block of a T x T output tile whose first output is (oy, ox) of `plane` (OH x OW
// positions of 8 floats): the outputs inside the plane, plus what the plane holds when
// `residual`, then ReLU when `relu` (NaN stays NaN, as oneDNN's ReLU post-op).
template <int T>
inline void store_output_tile(const WinogradGeometry& g, const F8 (&o)[T][T], float* plane, int64_t oy, int64_t ox,
                              bool residual, bool relu) {
  const bool full = oy + T <= g.OH && ox + T <= g.OW;
  for (int a = 0; a < T; ++a)
    for (int c = 0; c < T; ++c) {
      if (!full && (oy + a >= g.OH || ox + c >= g.OW)) continue;
      float* at = plane + ((oy + a) * g.OW + ox + c) * 8;
      F8 r = o[a][c];
      if (residual) r += load(at);
      if (relu) r = r < 0 ? F8{} : r;
      store(at, r);
    }
}

// Every output tile t0..t1 of a chunk whose first tile is `first`, each block of 8 output
// channels: `transform(row, step, bias, o)` turns the block's rows of M into its T x T
// outputs (with the bias), which store_output_tile writes.
template <int T, class OutputTransform>
inline void store_output_tiles(const WinogradGeometry& g, const float* m, int64_t first, WinogradChunkLayout layout,
                               int64_t t0, int64_t t1, const float* bias, bool residual, bool relu, float* y,
                               OutputTransform transform) {
  const int64_t per_image = g.tiles_h * g.tiles_w, step = layout.matrix_stride;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    const float* row = m + (t - first) * layout.row_stride;
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      F8 o[T][T];
      transform(row + kb * 8, step, bias + kb * 8, o);
      store_output_tile(g, o, y + (n * g.out_blocks + kb) * g.OH * g.OW * 8, T * ty, T * tx, residual, relu);
    }
  }
}

}  // namespace
}  // namespace tessera::cpu::vec
