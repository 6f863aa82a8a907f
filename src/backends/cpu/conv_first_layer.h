#pragma once
// The weight gradient of a 3x3 stride-1 convolution with at most 4 input channels (a
// network's first layer: 1 grayscale or 3 RGB channels) on a compiled step's output
// gradient in blocks of 8 channels. oneDNN's AVX2 kernel pads the input channels to a
// block of 8 and so computes 8 / C times the products: CNN28's 1 -> 32 layer at batch 64
// took 3.2-3.7 ms for 25 MFLOP (8 GFLOP/s). This one vectorizes over the output channels
// (vec/conv_first_layer.h) and runs on AVX2 CPUs without AVX-512, where compiled graphs
// block channels by 8.
#include "ops/conv.h"
#include "tessera/tensor.h"

namespace tessera::cpu {

// Whether few_channels_weight_grad runs g: float32, 3x3, stride 1, undilated, ungrouped,
// 1..4 input channels, x plain [N, C, H, W] or in blocks of 8, gy in blocks of 8.
bool few_channels_weight_grad_applies(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy);

// gw [K, C, 3, 3] from x and gy [N, K/8, OH, OW, 8]. The images are split in one share a
// thread, each summed on its own and the shares added in order: the result depends on
// the thread count only.
void few_channels_weight_grad(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw);

}  // namespace tessera::cpu
