#pragma once
// A float32 Winograd F(2x2, 3x3) convolution over 8-channel blocks, for CPUs with AVX2
// and no AVX-512, where oneDNN has no float32 Winograd (its kernels are AVX-512 only) and
// every 3x3 layer ran direct. The transforms and, up to 128 x 128 channels, the 16
// products of each chunk of tiles are in vec/winograd_avx2.cc; past that the products are
// one batched oneDNN float32 matmul a chunk (winograd_f32.cc says why): 2.25x fewer
// multiplies than direct. The transforms' coefficients are 0, +-1 and +-1/2, so results
// agree with direct to float32 rounding. As any Winograd (oneDNN's too), a NaN or infinity in a 4x4 input patch
// reaches all four outputs of its tile, as NaN.
//
// Compiled inference graphs run the forward pass; training runs all three passes, eager
// (converting to blocks of 8 and back) and compiled alike, wherever eager asks for
// Winograd (ops::winograd_pays) on such a CPU (winograd_f32_native()), so that a compiled
// step computes what eager computes.
#include "ops/conv.h"
#include "tessera/tensor.h"

namespace tessera::cpu {

// Whether this is the Winograd eager and compiled training run for float32: oneDNN's
// best ISA here is AVX2 (so compiled graphs block channels by 8 and oneDNN has no
// float32 Winograd of its own).
bool winograd_f32_native();

// Whether winograd_f32_conv runs g with block b: 3x3, stride 1, undilated, ungrouped,
// b = 8, enough tiles to pay for reading the transformed weight, and a CPU with AVX2.
bool winograd_f32_applies(const ops::ConvGeometry& g, int64_t b);

// y [N, K/8, OH, OW, 8] = conv(x [N, C/8, H, W, 8], w [K, C, 3, 3]) + bias [K], plus what
// y holds when `residual`, then ReLU when `relu`; the padding of g. The transformed weight
// is kept per weight tensor (onednn::prepared_weights).
void winograd_f32_conv(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias, bool residual,
                       bool relu, Tensor& y);

// The same convolution (no residual) max-pooled over 2x2 windows at stride 2 as its
// output tiles are computed, so that y is never written: pooled [N, K/8, OH/2, OW/2, 8]
// and, unless idx is null, idx the positions, bit for bit winograd_f32_conv followed by
// max_pool2d_indices_blocked. Inference asks for the values only, and may ask for the
// ReLU, applied after the pooling (the same values but for the sign of a zero maximum).
void winograd_f32_conv_max_pool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                                bool relu, Tensor& pooled, Tensor* idx);

// Winograd F(4x4, 3x3): the convolution of inference graphs (algorithm "winograd_4x4",
// chosen by graph/passes/select_conv_layouts.cc). 4x4 output tiles from 6x6 input patches
// take 36 products per 16 outputs where F(2x2, 3x3) takes 16 per 4: 1.78x fewer, for
// transforms with coefficients up to 8, which round more (about 4x F(2x2)'s error from
// float64, tests/ops/winograd_f32_test.cc). So training keeps F(2x2, 3x3), whose
// gradients eager and compiled steps share. Where winograd_f32_4x4_applies: as
// winograd_f32_applies, up to 128 x 128 channels (Tessera's own products), from 4 tiles
// (winograd_f32.cc has the measurements). winograd_f32_4x4_conv_max_pool writes the pooled values only (no indices), with
// ReLU after the maximum, as winograd_f32_conv_max_pool's inference form.
bool winograd_f32_4x4_applies(const ops::ConvGeometry& g, int64_t b);
void winograd_f32_4x4_conv(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                           bool residual, bool relu, Tensor& y);
void winograd_f32_4x4_conv_max_pool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                                    bool relu, Tensor& pooled);

// The input gradient, itself a 3x3 stride-1 convolution of the padded output gradient by
// the flipped, transposed weight (winograd_backward_data_geometry), through the same
// kernel: gx [N, C/8, H, W, 8] from gy [N, K/8, OH, OW, 8] and w [K, C, 3, 3].
bool winograd_f32_backward_data_applies(const ops::ConvGeometry& g, int64_t b);
void winograd_f32_backward_data(const ops::ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx);

// The weight gradient through the same transforms (where winograd_f32_applies(g, b)):
// dU = sum over the tiles of Z^T V (Z = A dY A^T, V the input's transform), chunk by chunk
// of tiles, by the same products as the forward's (one accumulator per thread, added in
// thread order),
// then G^T dU G. gw [K, C, 3, 3] from gy [N, K/8, OH, OW, 8] and x [N, C/8, H, W, 8] or
// plain [N, C, H, W].
void winograd_f32_backward_weight(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw);

// The input and weight gradients of a convolution whose output gradient is
// max_pool2d_backward_blocked(gp, idx) for a 2x2 stride-2 pooling (fused with it,
// conv2d_max_pool2x2_blocked), read from gp and idx [N, K/8, OH/2, OW/2, 8] without writing
// the unpooled gradient, bit for bit the passes above on it. The input gradient's where
// winograd_f32_unpool_applies (even padding, so that its 4x4 patches are whole windows);
// the weight gradient's where winograd_f32_applies. False where the indices are not such
// a pooling's (the output then partly written: the caller unpools and runs the plain pass).
bool winograd_f32_unpool_applies(const ops::ConvGeometry& g, int64_t b);
bool winograd_f32_backward_data_unpool(const ops::ConvGeometry& g, const Tensor& gp, const Tensor& idx,
                                       const Tensor& w, Tensor& gx);
bool winograd_f32_backward_weight_unpool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gp,
                                         const Tensor& idx, Tensor& gw);

// The three on plain [N, C, H, W] tensors (eager's layout), converted to blocks of 8 and
// back around the blocked kernels. `bias` may be undefined.
void winograd_f32_conv_plain(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                             Tensor& y);
void winograd_f32_backward_data_plain(const ops::ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx);
void winograd_f32_backward_weight_plain(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw);

}  // namespace tessera::cpu
