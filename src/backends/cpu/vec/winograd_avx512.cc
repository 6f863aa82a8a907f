// Winograd F(2x2, 3x3) transforms with AVX-512 (vec/winograd.h). One 16-channel block of
// one tile is 16 registers; the transforms are adds and subtracts between them. Written
// with GCC/Clang vector types, which this file's -m flags make single AVX-512 registers,
// and no standard-library calls (float_loops_impl.h says why).
// GCC 12 reports its own intrinsics' _mm512_undefined_* placeholders as "maybe
// uninitialized" (the pooling's index widening); the warning is about the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>

#include "backends/cpu/vec/winograd.h"

namespace tessera::cpu::vec {
namespace {

using F16 [[gnu::vector_size(64)]] = float;
using U16 [[gnu::vector_size(64)]] = uint32_t;
using H16 [[gnu::vector_size(32)]] = uint16_t;

inline F16 load(const float* p) {
  F16 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, F16 v) { __builtin_memcpy(p, &v, sizeof v); }

// Round to nearest even, NaN kept NaN: AVX512-BF16's VCVTNEPS2BF16 (the function's target
// adds it to this file's flags; the caller runs only where bf16_supported()).
[[gnu::target("avx512bf16")]] inline void store_bf16(uint16_t* p, F16 v) {
  const __m256bh h = _mm512_cvtneps_pbh(reinterpret_cast<__m512>(v));
  __builtin_memcpy(p, &h, sizeof h);
}

// V = B^T d B of one 16-channel block of one tile, rounded into element e's matrix (out
// is the block's place in element 0's; `step` from one matrix to the next).
[[gnu::target("avx512bf16")]] inline void input_transform_store(const F16 (&d)[4][4], uint16_t* out, int64_t step) {
  F16 s[4][4];  // B^T d
  for (int j = 0; j < 4; ++j) {
    s[0][j] = d[0][j] - d[2][j];
    s[1][j] = d[1][j] + d[2][j];
    s[2][j] = d[2][j] - d[1][j];
    s[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; ++i) {  // (B^T d) B
    store_bf16(out + (4 * i + 0) * step, s[i][0] - s[i][2]);
    store_bf16(out + (4 * i + 1) * step, s[i][1] + s[i][2]);
    store_bf16(out + (4 * i + 2) * step, s[i][2] - s[i][1]);
    store_bf16(out + (4 * i + 3) * step, s[i][1] - s[i][3]);
  }
}

// Z = A dY A^T of one block's 2x2 output gradient, stored as input_transform_store stores.
[[gnu::target("avx512bf16")]] inline void output_grad_transform_store(const F16 (&d)[2][2], uint16_t* out,
                                                                     int64_t step) {
  F16 r[4][2];  // A dY, A = [1 0; 1 1; 1 -1; 0 -1]
  for (int b = 0; b < 2; ++b) {
    r[0][b] = d[0][b];
    r[1][b] = d[0][b] + d[1][b];
    r[2][b] = d[0][b] - d[1][b];
    r[3][b] = -d[1][b];
  }
  for (int i = 0; i < 4; ++i) {  // (A dY) A^T
    store_bf16(out + (4 * i + 0) * step, r[i][0]);
    store_bf16(out + (4 * i + 1) * step, r[i][0] + r[i][1]);
    store_bf16(out + (4 * i + 2) * step, r[i][0] - r[i][1]);
    store_bf16(out + (4 * i + 3) * step, -r[i][1]);
  }
}

// One tile's 2x2 outputs of one 16-channel block, (A^T M A) + bias, from its 16 products
// (`in` its row in element 0's matrix, `step` from one matrix to the next): the one
// expression both output transforms use, so the fused pooling sees the bits
// winograd_output_avx512 writes.
inline void output_tile(const float* in, int64_t step, const float* bias, F16 (&o)[2][2]) {
  F16 s[2][4];  // A^T M
  for (int j = 0; j < 4; ++j) {
    const F16 m0 = load(in + (0 + j) * step), m1 = load(in + (4 + j) * step);
    const F16 m2 = load(in + (8 + j) * step), m3 = load(in + (12 + j) * step);
    s[0][j] = m0 + m1 + m2;
    s[1][j] = m1 - m2 - m3;
  }
  const F16 b = load(bias);
  for (int a = 0; a < 2; ++a) {  // (A^T M) A + bias
    o[a][0] = s[a][0] + s[a][1] + s[a][2] + b;
    o[a][1] = s[a][1] - s[a][2] - s[a][3] + b;
  }
}

// The 2x2 block of max_pool2d_backward_blocked's gradient under pooling window (wy, wx)
// of one channel-blocked plane (W columns, PW windows a row): the window's gradient at
// the position its index names, 0 at the other three. False where some lane's index is
// not inside its window (indices that are not a 2x2 pooling's: the caller then unpools
// them the general way).
inline bool unpool_window(const float* gp, const int64_t* idx, int64_t W, int64_t PW, int64_t wy, int64_t wx,
                          F16 (&d)[2][2]) {
  const int64_t at = (wy * PW + wx) * 16, here = 2 * wy * W + 2 * wx;
  const __m512i base = _mm512_set1_epi64(here);
  // Relative to the window, saturated to int32 (a far index matches no position).
  const __m256i lo = _mm512_cvtsepi64_epi32(_mm512_sub_epi64(_mm512_loadu_si512(idx + at), base));
  const __m256i hi = _mm512_cvtsepi64_epi32(_mm512_sub_epi64(_mm512_loadu_si512(idx + at + 8), base));
  const __m512i rel = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
  const __mmask16 m00 = _mm512_cmpeq_epi32_mask(rel, _mm512_setzero_si512());
  const __mmask16 m01 = _mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(1));
  const __mmask16 m10 = _mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(static_cast<int32_t>(W)));
  const __mmask16 m11 = _mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(static_cast<int32_t>(W + 1)));
  if (static_cast<__mmask16>(m00 | m01 | m10 | m11) != 0xffff) return false;
  const __m512 v = _mm512_loadu_ps(gp + at);
  d[0][0] = reinterpret_cast<F16>(_mm512_maskz_mov_ps(m00, v));
  d[0][1] = reinterpret_cast<F16>(_mm512_maskz_mov_ps(m01, v));
  d[1][0] = reinterpret_cast<F16>(_mm512_maskz_mov_ps(m10, v));
  d[1][1] = reinterpret_cast<F16>(_mm512_maskz_mov_ps(m11, v));
  return true;
}

}  // namespace

[[gnu::target("avx512bf16")]] void winograd_input_bf16_avx512(const WinogradGeometry& g, const float* x, int64_t first, int64_t chunk, int64_t t0,
                                int64_t t1, uint16_t* v) {
  const int64_t per_image = g.tiles_h * g.tiles_w, c16 = 16 * g.in_blocks;
  const int64_t tail_lanes = g.in_channels - 16 * (g.in_blocks - 1);  // valid lanes of the last block
  U16 tail_mask;
  for (int l = 0; l < 16; ++l) tail_mask[l] = l < tail_lanes ? 0xffffffffu : 0u;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    const int64_t y0 = 2 * ty - g.pad_top, x0 = 2 * tx - g.pad_left;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= g.H && x0 + 4 <= g.W;
    uint16_t* row = v + (t - first) * c16;
    for (int64_t cb = 0; cb < g.in_blocks; ++cb) {
      const float* plane = x + (n * g.in_blocks + cb) * g.H * g.W * 16;
      // The tile after next reads two new positions per row: ask for them now (the loads
      // otherwise wait on memory, a row of tiles being eight interleaved streams).
      if (inside && x0 + 8 <= g.W)
        for (int i = 0; i < 4; ++i) {
          __builtin_prefetch(plane + ((y0 + i) * g.W + x0 + 6) * 16);
          __builtin_prefetch(plane + ((y0 + i) * g.W + x0 + 7) * 16);
        }
      F16 d[4][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          const int64_t iy = y0 + i, ix = x0 + j;
          d[i][j] = inside || (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? load(plane + (iy * g.W + ix) * 16) : F16{};
        }
      if (cb == g.in_blocks - 1 && tail_lanes < 16)
        for (auto& r : d)
          for (F16& e : r) e = reinterpret_cast<F16>(reinterpret_cast<U16>(e) & tail_mask);
      input_transform_store(d, row + cb * 16, chunk * c16);
    }
  }
}

[[gnu::target("avx512bf16")]] void winograd_output_grad_bf16_avx512(const WinogradGeometry& g, const float* gy,
                                                                    int64_t channels, int64_t first, int64_t chunk,
                                                                    int64_t t0, int64_t t1, uint16_t* z) {
  const int64_t per_image = g.tiles_h * g.tiles_w, k16 = 16 * g.out_blocks, step = chunk * k16;
  const int64_t tail_lanes = channels - 16 * (g.out_blocks - 1);
  U16 tail_mask;
  for (int l = 0; l < 16; ++l) tail_mask[l] = l < tail_lanes ? 0xffffffffu : 0u;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    const int64_t oy = 2 * ty, ox = 2 * tx;
    const bool full = oy + 2 <= g.OH && ox + 2 <= g.OW;
    uint16_t* row = z + (t - first) * k16;
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      const float* plane = gy + (n * g.out_blocks + kb) * g.OH * g.OW * 16;
      // As the input transform: the tile after next's lines, asked for now. CNN28's 64
      // channels at batch 64 (9.4 MB, read once) took 0.8 instead of 1.3 ms at 1 thread.
      if (full && ox + 6 <= g.OW)
        for (int a = 0; a < 2; ++a) {
          __builtin_prefetch(plane + ((oy + a) * g.OW + ox + 4) * 16);
          __builtin_prefetch(plane + ((oy + a) * g.OW + ox + 5) * 16);
        }
      F16 d[2][2];  // the outputs past the plane were dropped: their gradient is 0
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b)
          d[a][b] = full || (oy + a < g.OH && ox + b < g.OW) ? load(plane + ((oy + a) * g.OW + ox + b) * 16) : F16{};
      if (kb == g.out_blocks - 1 && tail_lanes < 16)
        for (auto& r : d)
          for (F16& e : r) e = reinterpret_cast<F16>(reinterpret_cast<U16>(e) & tail_mask);
      output_grad_transform_store(d, row + kb * 16, step);
    }
  }
}

[[gnu::target("avx512bf16")]] bool winograd_input_unpool_bf16_avx512(const WinogradGeometry& g, const float* gp,
                                                                     const int64_t* idx, int64_t first, int64_t chunk,
                                                                     int64_t t0, int64_t t1, uint16_t* v) {
  const int64_t per_image = g.tiles_h * g.tiles_w, c16 = 16 * g.in_blocks;
  const int64_t PH = g.H / 2, PW = g.W / 2, pooled_plane = PH * PW * 16;
  const int64_t tail_lanes = g.in_channels - 16 * (g.in_blocks - 1);  // as the plain transform
  U16 tail_mask;
  for (int l = 0; l < 16; ++l) tail_mask[l] = l < tail_lanes ? 0xffffffffu : 0u;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    // Even padding: the 4x4 patch is exactly the 2x2 windows from (wy0, wx0).
    const int64_t wy0 = ty - g.pad_top / 2, wx0 = tx - g.pad_left / 2;
    uint16_t* row = v + (t - first) * c16;
    for (int64_t cb = 0; cb < g.in_blocks; ++cb) {
      const int64_t plane = n * g.in_blocks + cb;
      F16 d[4][4];
      for (int wi = 0; wi < 2; ++wi)
        for (int wj = 0; wj < 2; ++wj) {
          const int64_t wy = wy0 + wi, wx = wx0 + wj;
          F16 w[2][2] = {};  // no window there: the gradient is 0
          if (wy >= 0 && wy < PH && wx >= 0 && wx < PW &&
              !unpool_window(gp + plane * pooled_plane, idx + plane * pooled_plane, g.W, PW, wy, wx, w))
            return false;
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) d[2 * wi + a][2 * wj + b] = w[a][b];
        }
      if (cb == g.in_blocks - 1 && tail_lanes < 16)
        for (auto& r : d)
          for (F16& e : r) e = reinterpret_cast<F16>(reinterpret_cast<U16>(e) & tail_mask);
      input_transform_store(d, row + cb * 16, chunk * c16);
    }
  }
  return true;
}

[[gnu::target("avx512bf16")]] bool winograd_output_grad_unpool_bf16_avx512(const WinogradGeometry& g, const float* gp,
                                                                           const int64_t* idx, int64_t channels,
                                                                           int64_t first, int64_t chunk, int64_t t0,
                                                                           int64_t t1, uint16_t* z) {
  const int64_t per_image = g.tiles_h * g.tiles_w, k16 = 16 * g.out_blocks, step = chunk * k16;
  const int64_t PH = g.OH / 2, PW = g.OW / 2, pooled_plane = PH * PW * 16;
  const int64_t tail_lanes = channels - 16 * (g.out_blocks - 1);
  U16 tail_mask;
  for (int l = 0; l < 16; ++l) tail_mask[l] = l < tail_lanes ? 0xffffffffu : 0u;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    uint16_t* row = z + (t - first) * k16;
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      const int64_t plane = n * g.out_blocks + kb;
      F16 d[2][2] = {};  // a tile past the last window (an odd OH or OW): no gradient
      if (ty < PH && tx < PW &&
          !unpool_window(gp + plane * pooled_plane, idx + plane * pooled_plane, g.OW, PW, ty, tx, d))
        return false;
      if (kb == g.out_blocks - 1 && tail_lanes < 16)
        for (auto& r : d)
          for (F16& e : r) e = reinterpret_cast<F16>(reinterpret_cast<U16>(e) & tail_mask);
      output_grad_transform_store(d, row + kb * 16, step);
    }
  }
  return true;
}

void winograd_output_avx512(const WinogradGeometry& g, const float* m, int64_t first, int64_t chunk, int64_t t0,
                            int64_t t1, const float* bias, bool residual, bool relu, float* y) {
  const int64_t per_image = g.tiles_h * g.tiles_w, k16 = 16 * g.out_blocks, step = chunk * k16;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    const int64_t oy = 2 * ty, ox = 2 * tx;
    const bool full = oy + 2 <= g.OH && ox + 2 <= g.OW;
    const float* row = m + (t - first) * k16;
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      F16 o[2][2];
      output_tile(row + kb * 16, step, bias + kb * 16, o);
      float* plane = y + (n * g.out_blocks + kb) * g.OH * g.OW * 16;
      if (full && ox + 6 <= g.OW)  // the tile after next's lines, for writing
        for (int a = 0; a < 2; ++a) {
          __builtin_prefetch(plane + ((oy + a) * g.OW + ox + 4) * 16, 1);
          __builtin_prefetch(plane + ((oy + a) * g.OW + ox + 5) * 16, 1);
        }
      for (int a = 0; a < 2; ++a)
        for (int c = 0; c < 2; ++c) {
          if (!full && (oy + a >= g.OH || ox + c >= g.OW)) continue;
          float* at = plane + ((oy + a) * g.OW + ox + c) * 16;
          F16 r = o[a][c];
          if (residual) r += load(at);
          if (relu) r = r < 0 ? F16{} : r;  // NaN stays NaN, as oneDNN's ReLU post-op
          store(at, r);
        }
    }
  }
}

void winograd_output_max_pool_avx512(const WinogradGeometry& g, const float* m, int64_t first, int64_t chunk,
                                     int64_t t0, int64_t t1, const float* bias, float* pooled, int64_t* idx) {
  const int64_t per_image = g.tiles_h * g.tiles_w, k16 = 16 * g.out_blocks, step = chunk * k16;
  const int64_t PH = g.OH / 2, PW = g.OW / 2;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / per_image, ty = (t % per_image) / g.tiles_w, tx = t % g.tiles_w;
    if (ty >= PH || tx >= PW) continue;
    const float* row = m + (t - first) * k16;
    const int64_t here = 2 * ty * g.OW + 2 * tx;  // the window's first position in the plane
    for (int64_t kb = 0; kb < g.out_blocks; ++kb) {
      F16 o[2][2];  // the very values winograd_output_avx512 writes
      output_tile(row + kb * 16, step, bias + kb * 16, o);
      // Fold the window row by row: a tap wins where it is greater or NaN (vec/pool.h).
      __m512 best = reinterpret_cast<__m512>(o[0][0]);
      __m512i where = _mm512_setzero_si512();
      const int32_t offsets[3] = {1, static_cast<int32_t>(g.OW), static_cast<int32_t>(g.OW + 1)};
      const F16 taps[3] = {o[0][1], o[1][0], o[1][1]};
      for (int i = 0; i < 3; ++i) {
        const __m512 v = reinterpret_cast<__m512>(taps[i]);
        const __mmask16 wins = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, wins, v);
        where = _mm512_mask_mov_epi32(where, wins, _mm512_set1_epi32(offsets[i]));
      }
      const int64_t at = ((n * g.out_blocks + kb) * PH * PW + ty * PW + tx) * 16;
      _mm512_storeu_ps(pooled + at, best);
      const __m512i base = _mm512_set1_epi64(here);
      _mm512_storeu_si512(idx + at, _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(where))));
      _mm512_storeu_si512(idx + at + 8,
                          _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(where, 1))));
    }
  }
}

}  // namespace tessera::cpu::vec
