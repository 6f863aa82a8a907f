#pragma once
// The transforms of Winograd's F(2x2, 3x3) convolution on channel-blocked float32
// activations: 16 channels per block (nChw16c) for the bfloat16 convolution of
// backends/cpu/winograd_bf16.cc, compiled for AVX-512 only (winograd_avx512.cc: call them
// only where the CPU has AVX512-BF16, bf16_supported(), which implies it); and 8 channels
// per block (nChw8c) in float32 for backends/cpu/winograd_f32.cc, compiled for AVX2
// (winograd_avx2.cc: only where vec::cpu_runs_isa("avx2")). Below, 16 stands for the
// block width.
//
// Each 2x2 output tile t = (n, ty, tx), numbered row-major over the batch, reads a 4x4
// input patch from (2 ty - pad_top, 2 tx - pad_left), zeros outside the plane. A chunk of
// tiles [first, first + chunk) is laid out as 16 matrices, one per element (xi, nu) of the
// 4x4 transform, row t - first:
//   V[xi * 4 + nu][t - first][C16]  = (B^T d B)[xi][nu], rounded to bfloat16
//   M[xi * 4 + nu][t - first][K16]  = V[xi * 4 + nu] @ U[xi * 4 + nu]   (the GEMMs)
//   y[n][k][2 ty + a][2 tx + b]     = (A^T M A)[a][b] + bias[k] (+ y) (then ReLU)
// with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] and A^T = [1 1 1 0; 0 1 -1 -1].
#include <cstdint>

namespace tessera::cpu::vec {

struct WinogradGeometry {
  int64_t H = 0, W = 0, OH = 0, OW = 0;  // input and output planes
  int64_t pad_top = 0, pad_left = 0;
  int64_t tiles_h = 0, tiles_w = 0;        // ceil(OH / 2), ceil(OW / 2)
  int64_t in_blocks = 0, out_blocks = 0;   // blocks of 16 (or 8) channels (C16 = 16 in_blocks)
  int64_t in_channels = 0;                 // lanes at and past it are read as 0
};

// Tiles [t0, t1) of chunk `first` (first <= t0 <= t1 <= first + chunk) from
// x [N, in_blocks, H, W, 16] into v (bfloat16 bits, round to nearest even, NaN kept).
void winograd_input_bf16_avx512(const WinogradGeometry& g, const float* x, int64_t first, int64_t chunk, int64_t t0,
                                int64_t t1, uint16_t* v);
// The weight gradient's transform of the output gradient: tiles [t0, t1) of chunk
// `first` from gy [N, out_blocks, OH, OW, 16] (zeros past OH, OW and at lanes at and past
// `channels`) into z (bfloat16 bits), Z[xi * 4 + nu][t - first][K16] = (A dY A^T)[xi][nu]
// for the tile's 2x2 block dY. Then dU = Z^T V, summed over the tiles, is the gradient of
// U = G g G^T, and G^T dU G that of the 3x3 weight g.
void winograd_output_grad_bf16_avx512(const WinogradGeometry& g, const float* gy, int64_t channels, int64_t first,
                                      int64_t chunk, int64_t t0, int64_t t1, uint16_t* z);
// The two transforms of a gradient that is max_pool2d_backward_blocked(gp, idx) over the
// 2x2 windows at stride 2 of its plane, read from gp and idx [N, blocks, H / 2, W / 2, 16]
// without writing that gradient: each window's 2x2 block is gp at the position idx names,
// 0 elsewhere; rows and columns past the last window are 0. Bit for bit the plain
// transforms of the unpooled gradient. They return false, having written part of their
// output, where an index lies outside its window (not a 2x2 pooling's indices).
// The input gradient's input transform: g is its geometry (gy H x W, padded), with even
// padding so that each 4x4 patch is four whole windows.
bool winograd_input_unpool_bf16_avx512(const WinogradGeometry& g, const float* gp, const int64_t* idx, int64_t first,
                                       int64_t chunk, int64_t t0, int64_t t1, uint16_t* v);
// The weight gradient's transform (winograd_output_grad_bf16_avx512's, lanes at and past
// `channels` read as 0).
bool winograd_output_grad_unpool_bf16_avx512(const WinogradGeometry& g, const float* gp, const int64_t* idx,
                                             int64_t channels, int64_t first, int64_t chunk, int64_t t0, int64_t t1,
                                             uint16_t* z);
// Tiles [t0, t1) of chunk `first` from m into y [N, out_blocks, OH, OW, 16]. `bias` has
// 16 out_blocks entries; `residual`: add what y holds; `relu`: then max(., 0), NaN kept.
void winograd_output_avx512(const WinogradGeometry& g, const float* m, int64_t first, int64_t chunk, int64_t t0,
                            int64_t t1, const float* bias, bool residual, bool relu, float* y);

// The same outputs (no residual, no ReLU) max-pooled over the 2x2 windows at stride 2
// that the tiles are: pooled [N, out_blocks, OH / 2, OW / 2, 16] gets each window's
// maximum and idx its position in the OH x OW plane, by max pooling's rule (the first of
// equal values wins; a NaN beats any number and a later NaN an earlier one: vec/pool.h).
// The values are bit for bit what winograd_output_avx512 writes, so this equals it followed
// by max_pool2d_indices_blocked. Tiles past OH / 2 x OW / 2 windows (an odd OH or OW) are
// dropped, as floor-mode pooling drops that row and column.
void winograd_output_max_pool_avx512(const WinogradGeometry& g, const float* m, int64_t first, int64_t chunk,
                                     int64_t t0, int64_t t1, const float* bias, float* pooled, int64_t* idx);

// The float32 kernels on 8-channel blocks (AVX2) take where a chunk's 16 matrices lie:
// row t - first of matrix e at e * matrix_stride + (t - first) * row_stride floats. The
// bf16 kernels' layout above is {chunk * C16, C16} (matrix-major); the float32 forward's
// own products read and write {C8, 16 * C8 + pad} (tile-major: one tile's 16 rows
// together, winograd_f32.cc says why).
struct WinogradChunkLayout {
  int64_t matrix_stride = 0, row_stride = 0;
};

// The float32 forward: the input transform of tiles [t0, t1) into v (float32, lanes at
// and past in_channels read as 0), and the output transform as winograd_output_avx512's
// (bias has 8 out_blocks entries).
void winograd_input_f32_avx2(const WinogradGeometry& g, const float* x, int64_t first, WinogradChunkLayout layout,
                             int64_t t0, int64_t t1, float* v);
// The weight gradient's transform of the output gradient (winograd_output_grad_bf16_avx512's
// in float32 over blocks of 8).
void winograd_output_grad_f32_avx2(const WinogradGeometry& g, const float* gy, int64_t channels, int64_t first,
                                   WinogradChunkLayout layout, int64_t t0, int64_t t1, float* z);
// The two transforms of a gradient that is max_pool2d_backward_blocked(gp, idx), read from
// gp and idx [N, blocks, H / 2, W / 2, 8] as the bf16 ones above do, bit for bit the
// plain transforms of the unpooled gradient; false, having written part of their output,
// where an index lies outside its window. The input gradient's (g its geometry, with even
// padding) and the weight gradient's.
bool winograd_input_unpool_f32_avx2(const WinogradGeometry& g, const float* gp, const int64_t* idx, int64_t first,
                                    WinogradChunkLayout layout, int64_t t0, int64_t t1, float* v);
bool winograd_output_grad_unpool_f32_avx2(const WinogradGeometry& g, const float* gp, const int64_t* idx,
                                          int64_t channels, int64_t first, WinogradChunkLayout layout, int64_t t0,
                                          int64_t t1, float* z);
void winograd_output_f32_avx2(const WinogradGeometry& g, const float* m, int64_t first, WinogradChunkLayout layout,
                              int64_t t0, int64_t t1, const float* bias, bool residual, bool relu, float* y);
// Its outputs max-pooled over the 2x2 windows that the tiles are, as
// winograd_output_max_pool_avx512 does on blocks of 16: pooled [N, out_blocks, OH / 2,
// OW / 2, 8] and, unless idx is null (inference wants the values only), idx the positions.
// `relu` (values only): ReLU on the pooled values.
void winograd_output_max_pool_f32_avx2(const WinogradGeometry& g, const float* m, int64_t first,
                                       WinogradChunkLayout layout, int64_t t0, int64_t t1, const float* bias,
                                       bool relu, float* pooled, int64_t* idx);

// The `matrices` products (16, or F(4x4, 3x3)'s 36) of a chunk's `rows` tiles: M[e] =
// V[e] @ U[e], V[e] rows x C8 and M[e] rows x K8 as their layouts say, U [matrices][C8][K8]
// dense; C8 and K8 multiples of 8. Register-tiled (6 rows x 16 columns of M in 12
// accumulators), reading U[e] once per 6 rows: for U[e] of up to some 64 KB, which an L2
// cache keeps.
void winograd_products_f32_avx2(const float* v, WinogradChunkLayout v_layout, const float* u, int64_t rows,
                                int64_t c8, int64_t k8, float* m, WinogradChunkLayout m_layout, int matrices);
// Winograd F(4x4, 3x3) in float32 on blocks of 8, for inference (winograd4x4_avx2.cc;
// the CPU backend's winograd_f32.h says where it runs). Output tiles are 4x4 (tiles_h =
// ceil(OH / 4)); tile t reads a 6x6 patch from (4 ty - pad_top, 4 tx - pad_left), zeros
// outside the plane, and a chunk holds 36 matrices, e = xi * 6 + nu, laid out as the
// float32 forward's:
//   V[e] = (B^T d B)[xi][nu],  M[e] = V[e] @ U[e],  y = (A^T M A) + bias (+ y) (then ReLU)
// with B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
// 0 4 0 -5 0 1] and A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]. The
// transforms take the same arguments as F(2x2, 3x3)'s above.
void winograd4x4_input_f32_avx2(const WinogradGeometry& g, const float* x, int64_t first, WinogradChunkLayout layout,
                                int64_t t0, int64_t t1, float* v);
void winograd4x4_output_f32_avx2(const WinogradGeometry& g, const float* m, int64_t first, WinogradChunkLayout layout,
                                 int64_t t0, int64_t t1, const float* bias, bool residual, bool relu, float* y);
// Its outputs max-pooled over 2x2 windows at stride 2 (four in a tile), values only, then
// ReLU when `relu`: bit for bit winograd4x4_output_f32_avx2 followed by max pooling (the
// fold of winograd_output_max_pool_f32_avx2) but for the sign of a zero maximum.
void winograd4x4_output_max_pool_f32_avx2(const WinogradGeometry& g, const float* m, int64_t first,
                                          WinogradChunkLayout layout, int64_t t0, int64_t t1, const float* bias,
                                          bool relu, float* pooled);

// The weight gradient's: du [16][C8][K8] += V[e]^T @ Z[e] over the chunk's `rows` tiles
// (V rows x C8, Z rows x K8 as their layouts say), with the same register tiles.
void winograd_weight_grad_products_f32_avx2(const float* v, WinogradChunkLayout v_layout, const float* z,
                                            WinogradChunkLayout z_layout, int64_t rows, int64_t c8, int64_t k8,
                                            float* du);

}  // namespace tessera::cpu::vec
