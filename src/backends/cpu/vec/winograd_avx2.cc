// Winograd F(2x2, 3x3) float32 transforms for AVX2 over 8-channel blocks (vec/winograd.h):
// one block of one tile is 16 ymm registers, the transforms adds and subtracts between
// them. Written with GCC/Clang vector types, which this file's -m flags make single AVX2
// registers, and no standard-library calls (float_loops_impl.h says why).
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/winograd_avx2_tile.h"

namespace tessera::cpu::vec {
namespace {

// The lanes of a block at and past the channel count read as 0 (lanes_mask).
template <int R, int C>
inline void mask_tail(F8 (&d)[R][C], U8 mask) {
  for (auto& r : d)
    for (F8& e : r) e = reinterpret_cast<F8>(reinterpret_cast<U8>(e) & mask);
}

// (B^T d) B of one block's 4x4 patch, its 16 rows stored `step` floats apart.
inline void input_transform_store(const F8 (&d)[4][4], float* out, int64_t step) {
  F8 s[4][4];  // B^T d
  for (int j = 0; j < 4; ++j) {
    s[0][j] = d[0][j] - d[2][j];
    s[1][j] = d[1][j] + d[2][j];
    s[2][j] = d[2][j] - d[1][j];
    s[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; ++i) {
    store(out + (4 * i + 0) * step, s[i][0] - s[i][2]);
    store(out + (4 * i + 1) * step, s[i][1] + s[i][2]);
    store(out + (4 * i + 2) * step, s[i][2] - s[i][1]);
    store(out + (4 * i + 3) * step, s[i][1] - s[i][3]);
  }
}

// (A dY) A^T of one block's 2x2 gradient, A = [1 0; 1 1; 1 -1; 0 -1], its 16 rows stored
// `step` floats apart.
inline void output_grad_transform_store(const F8 (&d)[2][2], float* out, int64_t step) {
  F8 r[4][2];  // A dY
  for (int b = 0; b < 2; ++b) {
    r[0][b] = d[0][b];
    r[1][b] = d[0][b] + d[1][b];
    r[2][b] = d[0][b] - d[1][b];
    r[3][b] = -d[1][b];
  }
  for (int i = 0; i < 4; ++i) {
    store(out + (4 * i + 0) * step, r[i][0]);
    store(out + (4 * i + 1) * step, r[i][0] + r[i][1]);
    store(out + (4 * i + 2) * step, r[i][0] - r[i][1]);
    store(out + (4 * i + 3) * step, -r[i][1]);
  }
}

// The 2x2 block of window (wy, wx) of an unpooled gradient, as max_pool2d_backward_blocked
// writes it: gp at the position its index names, 0 at the other three. gp and idx are the
// pooled planes (PW windows a row, blocks of 8); W is the unpooled plane's width. False
// where an index is not inside its window (indices that are not a 2x2 pooling's: the
// caller then unpools them the general way). Branch-free: which tap won is data (a
// branch per lane mispredicted a quarter of the time and made the pass 3x slower).
inline bool unpool_window(const float* gp, const int64_t* idx, int64_t W, int64_t PW, int64_t wy, int64_t wx,
                          F8 (&d)[2][2]) {
  const int64_t at = (wy * PW + wx) * 8;
  const __m256i base = _mm256_set1_epi64x(2 * wy * W + 2 * wx);
  // Relative to the window, in 64 bits (wrapping: any index is data).
  const __m256i r0 = _mm256_sub_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + at)), base);
  const __m256i r1 = _mm256_sub_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + at + 4)), base);
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  auto lanes_equal = [&](int64_t v) {  // the 8 lanes' rel == v, as a float mask
    const __m256i c = _mm256_set1_epi64x(v);
    const __m256i m0 = _mm256_permutevar8x32_epi32(_mm256_cmpeq_epi64(r0, c), even);
    const __m256i m1 = _mm256_permutevar8x32_epi32(_mm256_cmpeq_epi64(r1, c), even);
    return _mm256_castsi256_ps(_mm256_permute2x128_si256(m0, m1, 0x20));
  };
  const __m256 m00 = lanes_equal(0), m01 = lanes_equal(1), m10 = lanes_equal(W), m11 = lanes_equal(W + 1);
  if (_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(m00, m01), _mm256_or_ps(m10, m11))) != 0xff) return false;
  const __m256 v = _mm256_loadu_ps(gp + at);
  d[0][0] = reinterpret_cast<F8>(_mm256_and_ps(m00, v));
  d[0][1] = reinterpret_cast<F8>(_mm256_and_ps(m01, v));
  d[1][0] = reinterpret_cast<F8>(_mm256_and_ps(m10, v));
  d[1][1] = reinterpret_cast<F8>(_mm256_and_ps(m11, v));
  return true;
}

}  // namespace

void winograd_input_f32_avx2(const WinogradGeometry& g, const float* x, int64_t first, WinogradChunkLayout layout,
                             int64_t t0, int64_t t1, float* v) {
  const int64_t per_image = g.tiles_h * g.tiles_w, step = layout.matrix_stride;
  const int64_t tail_lanes = g.in_channels - 8 * (g.in_blocks - 1);  // valid lanes of the last block
  const U8 tail_mask = lanes_mask(tail_lanes);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    const int64_t y0 = 2 * ty - g.pad_top, x0 = 2 * tx - g.pad_left;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= g.H && x0 + 4 <= g.W;
    float* row = v + (t - first) * layout.row_stride;
    for (int64_t cb = 0; cb < g.in_blocks; ++cb) {
      const float* plane = x + (n * g.in_blocks + cb) * g.H * g.W * 8;
      F8 d[4][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          const int64_t iy = y0 + i, ix = x0 + j;
          d[i][j] = inside || (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? load(plane + (iy * g.W + ix) * 8) : F8{};
        }
      if (cb == g.in_blocks - 1 && tail_lanes < 8) mask_tail(d, tail_mask);
      input_transform_store(d, row + cb * 8, step);
    }
  }
}

bool winograd_input_unpool_f32_avx2(const WinogradGeometry& g, const float* gp, const int64_t* idx, int64_t first,
                                    WinogradChunkLayout layout, int64_t t0, int64_t t1, float* v) {
  const int64_t per_image = g.tiles_h * g.tiles_w, step = layout.matrix_stride;
  const int64_t PH = g.H / 2, PW = g.W / 2, pooled_plane = PH * PW * 8;
  const int64_t tail_lanes = g.in_channels - 8 * (g.in_blocks - 1);
  const U8 tail_mask = lanes_mask(tail_lanes);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    // Even padding: the 4x4 patch is exactly the 2x2 windows from (wy0, wx0).
    const int64_t wy0 = ty - g.pad_top / 2, wx0 = tx - g.pad_left / 2;
    float* row = v + (t - first) * layout.row_stride;
    for (int64_t cb = 0; cb < g.in_blocks; ++cb) {
      const int64_t plane = n * g.in_blocks + cb;
      F8 d[4][4];
      for (int wi = 0; wi < 2; ++wi)
        for (int wj = 0; wj < 2; ++wj) {
          const int64_t wy = wy0 + wi, wx = wx0 + wj;
          F8 w[2][2] = {};  // no window there (padding, or rows past the last window): 0
          if (wy >= 0 && wy < PH && wx >= 0 && wx < PW &&
              !unpool_window(gp + plane * pooled_plane, idx + plane * pooled_plane, g.W, PW, wy, wx, w))
            return false;
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) d[2 * wi + a][2 * wj + b] = w[a][b];
        }
      if (cb == g.in_blocks - 1 && tail_lanes < 8) mask_tail(d, tail_mask);
      input_transform_store(d, row + cb * 8, step);
    }
  }
  return true;
}

void winograd_output_grad_f32_avx2(const WinogradGeometry& g, const float* gy, int64_t channels, int64_t first,
                                   WinogradChunkLayout layout, int64_t t0, int64_t t1, float* z) {
  const int64_t per_image = g.tiles_h * g.tiles_w, step = layout.matrix_stride;
  const int64_t tail_lanes = channels - 8 * (g.out_blocks - 1);
  const U8 tail_mask = lanes_mask(tail_lanes);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    const int64_t oy = 2 * ty, ox = 2 * tx;
    const bool full = oy + 2 <= g.OH && ox + 2 <= g.OW;
    float* row = z + (t - first) * layout.row_stride;
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      const float* plane = gy + (n * g.out_blocks + kb) * g.OH * g.OW * 8;
      F8 d[2][2];  // the outputs past the plane were dropped: their gradient is 0
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b)
          d[a][b] = full || (oy + a < g.OH && ox + b < g.OW) ? load(plane + ((oy + a) * g.OW + ox + b) * 8) : F8{};
      if (kb == g.out_blocks - 1 && tail_lanes < 8) mask_tail(d, tail_mask);
      output_grad_transform_store(d, row + kb * 8, step);
    }
  }
}

bool winograd_output_grad_unpool_f32_avx2(const WinogradGeometry& g, const float* gp, const int64_t* idx,
                                          int64_t channels, int64_t first, WinogradChunkLayout layout, int64_t t0,
                                          int64_t t1, float* z) {
  const int64_t per_image = g.tiles_h * g.tiles_w, step = layout.matrix_stride;
  const int64_t PH = g.OH / 2, PW = g.OW / 2, pooled_plane = PH * PW * 8;
  const int64_t tail_lanes = channels - 8 * (g.out_blocks - 1);
  const U8 tail_mask = lanes_mask(tail_lanes);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    float* row = z + (t - first) * layout.row_stride;
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      const int64_t plane = n * g.out_blocks + kb;
      F8 d[2][2] = {};  // a tile past the last window (an odd OH or OW): no gradient
      if (ty < PH && tx < PW &&
          !unpool_window(gp + plane * pooled_plane, idx + plane * pooled_plane, g.OW, PW, ty, tx, d))
        return false;
      if (kb == g.out_blocks - 1 && tail_lanes < 8) mask_tail(d, tail_mask);
      output_grad_transform_store(d, row + kb * 8, step);
    }
  }
  return true;
}

namespace {

// One block of one tile's 2x2 outputs, (A^T M) A + bias, from its 16 products M[e] at
// in + e * step.
inline void output_tile(const float* in, int64_t step, const float* bias, F8 o[2][2]) {
  F8 s[2][4];  // A^T M
  for (int j = 0; j < 4; ++j) {
    const F8 m0 = load(in + (0 + j) * step), m1 = load(in + (4 + j) * step);
    const F8 m2 = load(in + (8 + j) * step), m3 = load(in + (12 + j) * step);
    s[0][j] = m0 + m1 + m2;
    s[1][j] = m1 - m2 - m3;
  }
  const F8 b = load(bias);
  for (int a = 0; a < 2; ++a) {
    o[a][0] = s[a][0] + s[a][1] + s[a][2] + b;
    o[a][1] = s[a][1] - s[a][2] - s[a][3] + b;
  }
}

}  // namespace

void winograd_output_f32_avx2(const WinogradGeometry& g, const float* m, int64_t first, WinogradChunkLayout layout,
                              int64_t t0, int64_t t1, const float* bias, bool residual, bool relu, float* y) {
  store_output_tiles<2>(g, m, first, layout, t0, t1, bias, residual, relu, y,
                        [](const float* row, int64_t step, const float* b, F8(&o)[2][2]) { output_tile(row, step, b, o); });
}

void winograd_output_max_pool_f32_avx2(const WinogradGeometry& g, const float* m, int64_t first,
                                       WinogradChunkLayout layout, int64_t t0, int64_t t1, const float* bias,
                                       bool relu, float* pooled, int64_t* idx) {
  using I8 [[gnu::vector_size(32)]] = int32_t;
  const int64_t per_image = g.tiles_h * g.tiles_w, step = layout.matrix_stride;
  const int64_t PH = g.OH / 2, PW = g.OW / 2;
  const int32_t offsets[3] = {1, static_cast<int32_t>(g.OW), static_cast<int32_t>(g.OW + 1)};
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    if (ty >= PH || tx >= PW) continue;
    const float* row = m + (t - first) * layout.row_stride;
    const int64_t here = 2 * ty * g.OW + 2 * tx;  // the window's first position in the plane
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      F8 o[2][2];  // the very values winograd_output_f32_avx2 writes
      output_tile(row + kb * 8, step, bias + kb * 8, o);
      // Fold the window in row-major order: a tap wins where it is greater or NaN (vec/pool.h).
      F8 best = o[0][0];
      I8 where{};
      const F8 taps[3] = {o[0][1], o[1][0], o[1][1]};
      for (int i = 0; i < 3; ++i) {
        const I8 wins = (taps[i] > best) | (taps[i] != taps[i]);
        best = wins ? taps[i] : best;
        where = wins ? I8{} + offsets[i] : where;
      }
      const int64_t at = ((n * g.out_blocks + kb) * PH * PW + ty * PW + tx) * 8;
      if (relu) best = best < 0 ? F8{} : best;  // as winograd_output_f32_avx2's
      store(pooled + at, best);
      if (idx != nullptr)
        for (int j = 0; j < 8; ++j) idx[at + j] = here + where[j];
    }
  }
}

namespace {

inline F8 broadcast(const float* p) {
  const float s = *p;
  return F8{s, s, s, s, s, s, s, s};  // one vbroadcastss (F8{} + s would add a -0.0-safe zero)
}

// R rows x 8 NB columns of M = A @ B over `depth` steps, in 8 NB R accumulators:
// A[r][d] at a + r * a_row + d * a_step, B[d][j] at b + d * b_step + j, M[r][j] at
// m + r * ldm + j, added to what M holds when kAccumulate. The unroll pragmas keep the
// accumulator array in registers: GCC otherwise stores it to the stack on every step of
// the loop over d (seen at -O3, half the speed).
template <int R, int NB, bool kAccumulate>
inline void product_tile(const float* a, int64_t a_row, int64_t a_step, int64_t depth, const float* b, int64_t b_step,
                         float* m, int64_t ldm) {
  F8 acc[R][NB];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) acc[r][j] = kAccumulate ? load(m + r * ldm + 8 * j) : F8{};
  for (int64_t d = 0; d < depth; ++d) {
    F8 bv[NB];
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) bv[j] = load(b + d * b_step + 8 * j);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const F8 av = broadcast(a + r * a_row + d * a_step);
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) acc[r][j] += av * bv[j];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) store(m + r * ldm + 8 * j, acc[r][j]);
}

// All `cols` (a multiple of 8) columns of R rows.
template <int R, bool kAccumulate>
void product_rows(const float* a, int64_t a_row, int64_t a_step, int64_t depth, const float* b, int64_t b_step,
                  int64_t cols, float* m, int64_t ldm) {
  int64_t j = 0;
  for (; j + 16 <= cols; j += 16) product_tile<R, 2, kAccumulate>(a, a_row, a_step, depth, b + j, b_step, m + j, ldm);
  if (j < cols) product_tile<R, 1, kAccumulate>(a, a_row, a_step, depth, b + j, b_step, m + j, ldm);
}

// M (rows x cols) (+)= A (rows x depth) @ B (depth x cols), strided as product_tile's.
template <bool kAccumulate>
void product(const float* a, int64_t a_row, int64_t a_step, int64_t rows, int64_t depth, const float* b,
             int64_t b_step, int64_t cols, float* m, int64_t ldm) {
  int64_t r = 0;
  for (; r + 6 <= rows; r += 6)
    product_rows<6, kAccumulate>(a + r * a_row, a_row, a_step, depth, b, b_step, cols, m + r * ldm, ldm);
  const float* ar = a + r * a_row;
  float* mr = m + r * ldm;
  switch (rows - r) {
    case 5: product_rows<5, kAccumulate>(ar, a_row, a_step, depth, b, b_step, cols, mr, ldm); break;
    case 4: product_rows<4, kAccumulate>(ar, a_row, a_step, depth, b, b_step, cols, mr, ldm); break;
    case 3: product_rows<3, kAccumulate>(ar, a_row, a_step, depth, b, b_step, cols, mr, ldm); break;
    case 2: product_rows<2, kAccumulate>(ar, a_row, a_step, depth, b, b_step, cols, mr, ldm); break;
    case 1: product_rows<1, kAccumulate>(ar, a_row, a_step, depth, b, b_step, cols, mr, ldm); break;
    default: break;
  }
}

}  // namespace

void winograd_products_f32_avx2(const float* v, WinogradChunkLayout v_layout, const float* u, int64_t rows,
                                int64_t c8, int64_t k8, float* m, WinogradChunkLayout m_layout, int matrices) {
  for (int e = 0; e < matrices; ++e)
    product<false>(v + e * v_layout.matrix_stride, v_layout.row_stride, 1, rows, c8, u + e * c8 * k8, k8, k8,
                   m + e * m_layout.matrix_stride, m_layout.row_stride);
}

void winograd_weight_grad_products_f32_avx2(const float* v, WinogradChunkLayout v_layout, const float* z,
                                            WinogradChunkLayout z_layout, int64_t rows, int64_t c8, int64_t k8,
                                            float* du) {
  // dU[e] (c8 x k8) += V[e]^T Z[e]: A[c][t] = V[e][t][c], B[t][k] = Z[e][t][k].
  for (int e = 0; e < 16; ++e)
    product<true>(v + e * v_layout.matrix_stride, 1, v_layout.row_stride, c8, rows, z + e * z_layout.matrix_stride,
                  z_layout.row_stride, k8, du + e * c8 * k8, k8);
}

}  // namespace tessera::cpu::vec
