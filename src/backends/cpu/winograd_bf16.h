#pragma once
// A bfloat16 Winograd convolution: F(2x2, 3x3) with the input and weight transforms
// rounded to bfloat16 and the 16 products run as one batched oneDNN bf16 matmul (float32
// accumulation). oneDNN has Winograd only in float32; its bf16 convolutions are direct.
// On a CPU whose bf16 multiply rate is twice float32's (AVX512-BF16 without AMX), direct
// bf16 is no faster than float32 Winograd, so autocast gained nothing on 3x3 layers.
// F(2x2, 3x3) does 2.25x fewer multiplies. Its transforms have coefficients 0, +-1 and
// +-1/2, so rounding the transformed operands costs little: on ReLU activations with 64
// channels the RMS error against float64 was 1.55x direct bf16's (0.34% vs 0.22% of the
// output's RMS); F(4x4, 3x3)'s larger coefficients would amplify it.
#include "ops/conv.h"
#include "tessera/tensor.h"

namespace tessera::cpu {

// Whether winograd_bf16_conv can run g with block b (and the CPU has AVX512-BF16).
bool winograd_bf16_applies(const ops::ConvGeometry& g, int64_t b);

// y [N, K/16, OH, OW, 16] = conv(x [N, C/16, H, W, 16], w [K, C, 3, 3]) + bias [K],
// plus what y holds when `residual`, then ReLU when `relu`; stride 1, the padding of g.
// The transformed weight is kept per weight tensor (onednn::prepared_weights).
void winograd_bf16_conv(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                        bool residual, bool relu, Tensor& y);

// The same convolution (no residual, no ReLU) followed by 2x2 max pooling at stride 2
// with its indices, pooled [N, K/16, OH/2, OW/2, 16] and int64 indices (the position in the
// OH x OW plane) bit for bit as max_pool2d_indices_blocked gives them; the convolution's
// output is never written (conv2d_max_pool2x2_blocked, a training step's conv + pool).
void winograd_bf16_conv_max_pool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                                 Tensor& pooled, Tensor& indices);

// The input gradient of the convolution g (a forward geometry) is itself a 3x3 stride-1
// convolution: of the output gradient, padded by 2 minus g's padding on each side, with
// w's taps flipped and its two channel dims swapped. So training runs it through the same
// kernel (the transformed weight kept apart from the forward's).
bool winograd_bf16_backward_data_applies(const ops::ConvGeometry& g, int64_t b);
// gx [N, C/16, H, W, 16] from gy [N, K/16, OH, OW, 16] and w [K, C, 3, 3].
void winograd_bf16_backward_data(const ops::ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx);

// The weight gradient through the same transforms (where winograd_bf16_applies(g, b)):
// with V the input's transform (as in the forward pass) and Z = A dY A^T the output
// gradient's, dU = sum over the tiles of Z^T V is the gradient of the transformed weight
// U = G g G^T, and G^T dU G that of the weight. The sums run as one batched bf16 matmul per
// chunk of tiles (float32 accumulation, one accumulator per thread, added in thread
// order), 2.25x fewer multiplies than the direct kernel's.
// gw [K, C, 3, 3] from gy [N, K/16, OH, OW, 16] and x [N, C/16, H, W, 16] or plain
// [N, C, H, W] (a layer whose input is not blocked: converted, as the _plain forms do).
void winograd_bf16_backward_weight(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw);

// The two gradient passes where the output gradient is max_pool2d_backward_blocked(gp,
// idx) over 2x2 windows at stride 2 (a compiled training step's conv + pool): read from
// gp and idx [N, K/16, OH/2, OW/2, 16] without writing the unpooled gradient, bit for bit
// the passes above on it. Where winograd_bf16_unpool_applies (the input gradient's
// padded patches must be whole windows: even padding). They return false, their output
// not (or partly) written, where an index lies outside its window; x blocked or plain.
bool winograd_bf16_unpool_applies(const ops::ConvGeometry& g, int64_t b);
bool winograd_bf16_backward_data_unpool(const ops::ConvGeometry& g, const Tensor& gp, const Tensor& idx,
                                        const Tensor& w, Tensor& gx);
bool winograd_bf16_backward_weight_unpool(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gp,
                                          const Tensor& idx, Tensor& gw);

// The three on plain [N, C, H, W] tensors (eager's layout): converted to blocks of 16 and
// back around the blocked kernels, so eager computes what a compiled step computes.
// `bias` may be undefined.
void winograd_bf16_conv_plain(const ops::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& bias,
                              Tensor& y);
void winograd_bf16_backward_data_plain(const ops::ConvGeometry& g, const Tensor& gy, const Tensor& w, Tensor& gx);
void winograd_bf16_backward_weight_plain(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw);

}  // namespace tessera::cpu
