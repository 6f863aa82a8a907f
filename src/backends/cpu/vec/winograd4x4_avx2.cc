// Winograd F(4x4, 3x3) float32 transforms for AVX2 over 8-channel blocks (vec/winograd.h):
// a 6x6 patch of one block is 36 ymm values, transformed a column at a time, then a row at
// a time, through a stack array that stays in L1. Written with GCC/Clang vector types,
// which this file's -m flags make single AVX2 registers, and no standard-library calls
// (float_loops_impl.h says why).
#include <cstdint>

#include "backends/cpu/vec/winograd_avx2_tile.h"

namespace tessera::cpu::vec {
namespace {

using I8 [[gnu::vector_size(32)]] = int32_t;

inline F8 splat(float s) { return F8{s, s, s, s, s, s, s, s}; }

// B^T applied to six values a stride apart: out[i] = sum_j B^T[i][j] in[j].
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
//          0 4 0 -5 0 1]
// Rows 1-4 share d4 - 4 d2 and d3 - 4 d1 (and d4 - d2, d3 - d1): 12 adds and 6 multiplies.
inline void bt6(const F8 (&d)[6], F8 (&out)[6]) {
  const F8 four = splat(4.f), five = splat(5.f), two = splat(2.f);
  const F8 a = d[4] - four * d[2], b = d[3] - four * d[1];  // rows 1 and 2: a + b, a - b
  const F8 c = d[4] - d[2], e = two * (d[3] - d[1]);        // rows 3 and 4: c + e, c - e
  out[0] = four * d[0] - five * d[2] + d[4];
  out[1] = a + b;
  out[2] = a - b;
  out[3] = c + e;
  out[4] = c - e;
  out[5] = four * d[1] - five * d[3] + d[5];
}

// A^T applied to six values: out[i] = sum_j A^T[i][j] in[j].
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
inline void at6(const F8 (&m)[6], F8 (&out)[4]) {
  const F8 two = splat(2.f), four = splat(4.f), eight = splat(8.f);
  const F8 p = m[1] + m[2], q = m[1] - m[2], r = m[3] + m[4], s = m[3] - m[4];
  out[0] = m[0] + p + r;
  out[1] = q + two * s;
  out[2] = p + four * r;
  out[3] = q + eight * s + m[5];
}

// One block of one tile's 4x4 outputs, (A^T M) A + bias, from its 36 products M[e] at
// in + e * step. The conv and its pooled form both take their values from here.
inline void output_tile(const float* in, int64_t step, const float* bias, F8 (&o)[4][4]) {
  F8 s[4][6];  // A^T M
  for (int j = 0; j < 6; ++j) {
    F8 col[6], out[4];
    for (int i = 0; i < 6; ++i) col[i] = load(in + (6 * i + j) * step);
    at6(col, out);
    for (int a = 0; a < 4; ++a) s[a][j] = out[a];
  }
  const F8 b = load(bias);
  for (int a = 0; a < 4; ++a) {
    F8 out[4];
    at6(s[a], out);
    for (int c = 0; c < 4; ++c) o[a][c] = out[c] + b;
  }
}

}  // namespace

void winograd4x4_input_f32_avx2(const WinogradGeometry& g, const float* x, int64_t first, WinogradChunkLayout layout,
                                int64_t t0, int64_t t1, float* v) {
  const int64_t per_image = g.tiles_h * g.tiles_w, step = layout.matrix_stride;
  const int64_t tail_lanes = g.in_channels - 8 * (g.in_blocks - 1);  // valid lanes of the last block
  const U8 tail_mask = lanes_mask(tail_lanes);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    const int64_t y0 = 4 * ty - g.pad_top, x0 = 4 * tx - g.pad_left;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= g.H && x0 + 6 <= g.W;
    float* row = v + (t - first) * layout.row_stride;
    for (int64_t cb = 0; cb < g.in_blocks; ++cb) {
      const float* plane = x + (n * g.in_blocks + cb) * g.H * g.W * 8;
      const bool masked = cb == g.in_blocks - 1 && tail_lanes < 8;
      F8 s[6][6];  // B^T d, column by column
      for (int j = 0; j < 6; ++j) {
        F8 col[6], out[6];
        const int64_t ix = x0 + j;
        for (int i = 0; i < 6; ++i) {
          const int64_t iy = y0 + i;
          col[i] = inside || (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? load(plane + (iy * g.W + ix) * 8) : F8{};
          // Lanes past the channel count hold whatever the layout left there: read as 0.
          if (masked) col[i] = reinterpret_cast<F8>(reinterpret_cast<U8>(col[i]) & tail_mask);
        }
        bt6(col, out);
        for (int i = 0; i < 6; ++i) s[i][j] = out[i];
      }
      for (int i = 0; i < 6; ++i) {  // (B^T d) B, row by row
        F8 out[6];
        bt6(s[i], out);
        for (int j = 0; j < 6; ++j) store(row + cb * 8 + (6 * i + j) * step, out[j]);
      }
    }
  }
}

void winograd4x4_output_f32_avx2(const WinogradGeometry& g, const float* m, int64_t first, WinogradChunkLayout layout,
                                 int64_t t0, int64_t t1, const float* bias, bool residual, bool relu, float* y) {
  store_output_tiles<4>(g, m, first, layout, t0, t1, bias, residual, relu, y,
                        [](const float* row, int64_t step, const float* b, F8(&o)[4][4]) { output_tile(row, step, b, o); });
}

void winograd4x4_output_max_pool_f32_avx2(const WinogradGeometry& g, const float* m, int64_t first,
                                          WinogradChunkLayout layout, int64_t t0, int64_t t1, const float* bias,
                                          bool relu, float* pooled) {
  const int64_t per_image = g.tiles_h * g.tiles_w, step = layout.matrix_stride;
  const int64_t PH = g.OH / 2, PW = g.OW / 2;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    if (2 * ty >= PH || 2 * tx >= PW) continue;  // no whole window in this tile
    const float* row = m + (t - first) * layout.row_stride;
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      F8 o[4][4];  // the very values winograd4x4_output_f32_avx2 writes
      output_tile(row + kb * 8, step, bias + kb * 8, o);
      float* plane = pooled + (n * g.out_blocks + kb) * PH * PW * 8;
      for (int wa = 0; wa < 2; ++wa)
        for (int wb = 0; wb < 2; ++wb) {
          const int64_t wy = 2 * ty + wa, wx = 2 * tx + wb;
          if (wy >= PH || wx >= PW) continue;  // floor-mode pooling drops a last odd row or column
          // Fold the window in row-major order: a tap wins where it is greater or NaN
          // (vec/pool.h), as winograd_output_max_pool_f32_avx2 does.
          F8 best = o[2 * wa][2 * wb];
          const F8 taps[3] = {o[2 * wa][2 * wb + 1], o[2 * wa + 1][2 * wb], o[2 * wa + 1][2 * wb + 1]};
          for (const F8& tap : taps) {
            const I8 wins = (tap > best) | (tap != tap);
            best = wins ? tap : best;
          }
          if (relu) best = best < 0 ? F8{} : best;
          store(plane + (wy * PW + wx) * 8, best);
        }
    }
  }
}

}  // namespace tessera::cpu::vec
