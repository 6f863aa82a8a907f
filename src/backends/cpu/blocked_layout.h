#pragma once
// The channel-blocked activation layout of ops/conv_blocked.cc, for kernels that convert
// to it and back around a blocked kernel (eager's bf16 Winograd convolutions):
// [N, C, H, W] <-> [N, ceil(C / b), H, W, b], the last block's padding lanes zero.
// Instantiated for float and double.
#include "tessera/tensor.h"

namespace tessera::cpu {

// y [N, ceil(C / b), H, W, b], allocated, from x [N, C, H, W] (any strides).
template <typename T>
void to_blocked_layout(const Tensor& x, Tensor& y);
// y [N, C, H, W], allocated, from x [N, ceil(C / b), H, W, b] (any strides).
template <typename T>
void from_blocked_layout(const Tensor& x, Tensor& y);

}  // namespace tessera::cpu
