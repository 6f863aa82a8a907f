#pragma once
// The convolution and pooling family (NCHW), shared by the op definitions (ops/conv.cc,
// ops/pool.cc) and the CPU kernels (backends/cpu/conv.cc, backends/cpu/pool.cc).
//
// Convolution is three ops around one geometry: conv2d (forward), conv2d_backward_input
// and conv2d_backward_weight. Each one's backward rule is written with the other two, so
// gradients of gradients work; conv_transpose2d is the backward-input computation exposed
// as a forward op (x plays the role of the convolution's output gradient).
//
// Attributes (ONNX's conventions, so export maps them one to one):
//   stride {sh, sw}, dilation {dh, dw}, groups,
//   padding {top, left, bottom, right} (begin and end may differ: padding="same" with an
//   even kernel pads more at the end, as PyTorch does),
//   conv_transpose2d: output_padding {oh, ow}; backward ops: input_size / weight_size.
#include <cstdint>
#include <vector>

#include "ops/op.h"

namespace tessera::ops {

extern OpDef kConv2d;               // (x, w[, b]) -> y
extern OpDef kConv2dBackwardInput;  // (gy, w) -> gx, attr input_size
extern OpDef kConv2dBackwardWeight; // (x, gy) -> gw, attr weight_size
extern OpDef kConvTranspose2d;      // (x, w[, b]) -> y, w is [Cin, Cout/groups, kh, kw]

extern OpDef kMaxPool2d;            // x -> (values, int64 indices into each H*W plane)
extern OpDef kMaxPool2dBackward;    // (gy, indices) -> gx, attr input_size
extern OpDef kAvgPool2d;            // x -> y; kernel, stride, padding {ph, pw}, ceil_mode,
                                    // count_include_pad
extern OpDef kAvgPool2dBackward;    // gy -> gx, avg_pool2d's attrs + input_size
extern OpDef kAdaptiveAvgPool2d;    // x -> y, attr output_size
extern OpDef kGlobalAvgPool2d;      // x -> [N, C, 1, 1] (adaptive with output 1x1)
extern OpDef kAdaptiveAvgPool2dBackward;  // gy -> gx, attr input_size

// The forward convolution a conv op computes or differentiates: input [N, C, H, W],
// weight [O, C / groups, kh, kw], output [N, O, oh, ow].
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t o = 0, kh = 0, kw = 0;
  int64_t oh = 0, ow = 0;
  int64_t groups = 1;
  int64_t stride[2] = {1, 1};
  int64_t dilation[2] = {1, 1};
  int64_t pad_begin[2] = {0, 0};
  // The end padding the output size actually uses: (out - 1) * stride + extent - in -
  // pad_begin. Smaller than the requested one (even negative, above -stride) when the
  // last rows or columns of the input are never reached.
  int64_t pad_end[2] = {0, 0};
};

// Validates the convolution attributes and the input/weight sizes against each other
// (user errors name expected vs got), and derives the output size.
ConvGeometry conv_geometry(IntArrayRef input, IntArrayRef weight, const Attrs& attrs);

// Whether a float32 convolution should run oneDNN's Winograd kernels, eager or compiled:
// a 3x3, stride-1, undilated, ungrouped convolution with at least kWinogradMinChannels
// input and output channels and at least kWinogradMinPositions output positions (batch
// times height times width). Measured on CNN28's 32->64 layer at batch 64 (AVX-512, 1
// thread, real activations), Winograd takes 0.55-0.7 of the direct kernels' time in each
// of the three passes (forward 13.4 -> 7.5 ms, input gradient 14.0 -> 8.4-10.0, weight
// gradient 12.8 -> 8.1-8.7). With a handful of input channels (an image's 1 or 3) the tile
// transforms are all there is: CNN28's first layer's weight gradient took 4.65 ms against
// 1.29 direct. With few positions (batch-1 inference) the weights' transform, redone on
// every eager call, costs more than it saves; frozen graphs transform them once and ask
// for Winograd themselves (graph/passes/select_conv_algorithms.cc).
inline constexpr int64_t kWinogradMinChannels = 16;
inline constexpr int64_t kWinogradMinPositions = 4096;
bool winograd_pays(const ConvGeometry& g);
// The same without the positions: the shapes Winograd suits once the weights' transform
// is paid for (what the inference pass asks for).
bool winograd_suits(const ConvGeometry& g);
// The same from the sizes and attributes an op is called with; false for anything the
// shape rule would refuse (it reports that).
bool winograd_pays(IntArrayRef input, IntArrayRef weight, const Attrs& attrs);

// Pooling windows along one spatial dim: output i reads input rows [begin[i], end[i])
// and, for averages, divides by div[i] (the product over both dims is the divisor).
struct PoolAxis {
  std::vector<int64_t> begin, end, div;
};
// For avg_pool2d (attrs kernel/stride/padding/ceil_mode/count_include_pad) or, when attrs
// hold output_size, adaptive average pooling. `axis` is 0 (height) or 1 (width).
PoolAxis avg_pool_axis(const Attrs& attrs, int64_t in, int axis);
// Output size of max/avg pooling along one dim (PyTorch's rule, incl. ceil_mode).
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                         int64_t dilation, bool ceil_mode);

void register_pool_ops();  // ops/pool.cc, called by register_conv_ops

// The channel-blocked ops of compiled graphs (ops/conv_blocked.cc says the layouts).
extern OpDef kToBlocked;         // [N, C, H, W] -> [N, C/b, H, W, b], attr block
extern OpDef kFromBlocked;       // [N, C/b, H, W, b] -> [N, C, H, W], attr channels
extern OpDef kPackConvWeight;    // [O, C, kh, kw] -> oneDNN's blocked weight layout
extern OpDef kConv2dBlocked;     // (x, packed w, bias[, residual]) -> act(conv + bias [+ residual])
extern OpDef kMaxPool2dBlocked;  // blocked x -> blocked max (no indices)
// A training step's: the gradient passes on blocked activations, pooling with indices and
// its gradient, a conv bias's gradient.
extern OpDef kConv2dBackwardInputBlocked;   // (blocked gy, w) -> blocked gx
extern OpDef kConv2dBackwardWeightBlocked;  // (x, blocked gy) -> gw
extern OpDef kMaxPool2dIndicesBlocked;      // blocked x -> blocked max, indices
extern OpDef kMaxPool2dBackwardBlocked;     // (blocked gy, indices) -> blocked gx
extern OpDef kChannelSumBlocked;            // blocked x -> [C]
extern OpDef kConv2dMaxPool2x2Blocked;      // (x, w, bias) -> 2x2 max pool of the conv: values, indices
extern OpDef kConv2dMaxPool2x2ValuesBlocked;  // (x, w, bias) -> 2x2 max pool of the conv: values (inference)
extern OpDef kConv2dBackwardInputUnpoolBlocked;   // (pooled gy, indices, w) -> blocked gx
extern OpDef kConv2dBackwardWeightUnpoolBlocked;  // (x, pooled gy, indices) -> gw
// max_pool2d_indices_blocked's attributes for the 2x2 windows at stride 2 that
// conv2d_max_pool2x2_blocked pools.
Attrs two_by_two_pool();
void register_conv_blocked_ops();  // ops/conv_blocked.cc, called by register_conv_ops
// The channel block the CPU backend's convolutions run fastest with (16 with AVX-512, 8
// with AVX2), or 0 where it has no blocked convolution (the pass then leaves graphs alone).
int64_t conv_channel_block();
// Whether conv2d_blocked may run `g` with algorithm "winograd" (3x3, stride 1, blocked input).
bool winograd_applies(const ConvGeometry& g, bool blocked_input);

}  // namespace tessera::ops

namespace tessera::cpu {
// How many oneDNN convolution primitives have been built (tests check the cache is hit).
int64_t conv_primitives_created();
// How many times a backward pass found an input already in its primitive's layout (the
// forward pass or the other backward pass reordered it) instead of reordering it again.
int64_t conv_reorders_reused();
void register_pool_kernels();  // backends/cpu/pool.cc, called by register_conv_kernels
void register_conv_blocked_kernels();  // backends/cpu/conv_blocked.cc, likewise
}  // namespace tessera::cpu
