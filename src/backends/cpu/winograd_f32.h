#pragma once
// A float32 Winograd F(2x2, 3x3) convolution over 8-channel blocks, for inference on CPUs
// with AVX2 and no AVX-512, where oneDNN has no float32 Winograd (its kernels are
// AVX-512 only) and compiled graphs' 3x3 layers ran direct. The transforms are in
// vec/winograd_avx2.cc, the 16 products one batched oneDNN float32 matmul per chunk of
// tiles. 2.25x fewer multiplies; the transforms' coefficients are 0, +-1 and +-1/2, so the
// result agrees with direct to float32 rounding. As any Winograd (oneDNN's too), a NaN or
// infinity in a 4x4 input patch reaches all four outputs of its tile, as NaN.
#include "ops/conv.h"
#include "tessera/tensor.h"

namespace tessera::cpu {

// Whether winograd_f32_conv runs g with block b: 3x3, stride 1, undilated, ungrouped,
// b = 8, enough tiles to pay for reading the transformed weight, and a CPU with AVX2.
bool winograd_f32_applies(const ops::ConvGeometry& g, int64_t b);

// y [N, K/8, OH, OW, 8] = conv(x [N, C/8, H, W, 8], w [K, C, 3, 3]) + bias [K], plus what
// y holds when `residual`, then ReLU when `relu`; the padding of g. The transformed weight
// is kept per weight tensor (onednn::prepared_weights).
void winograd_f32_conv(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias, bool residual,
                       bool relu, Tensor& y);

}  // namespace tessera::cpu
