#pragma once
// What the bfloat16 (winograd_bf16.cc) and float32 (winograd_f32.cc) Winograd F(2x2, 3x3)
// convolutions share: the tile geometry, the chunking of tiles, and the weight transform.
#include <cstdint>

#include "backends/cpu/vec/winograd.h"
#include "ops/conv.h"

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

}  // namespace tessera::cpu
