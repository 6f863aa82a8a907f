#pragma once
#include "ops/op.h"

namespace tessera::ops {
extern OpDef kClone;  // contiguous copy, same dtype
extern OpDef kCast;   // attrs: dtype
extern OpDef kCopy;   // copy_: writes input 0 (self) from input 1 (broadcast, converted)
extern OpDef kFill;   // fill_: writes attr `value` into every element of input 0
}  // namespace tessera::ops

namespace tessera::cpu {
// Copies src into dst (broadcasting src to dst's shape), converting the element type.
void copy_into(const Tensor& dst, const Tensor& src);
// Writes `value` into every element of dst.
void fill(const Tensor& dst, const Scalar& value);
// What kernels use instead of Tensor::contiguous() / to(): the same results without
// going back through dispatch (a kernel's helpers must stay invisible to autograd and
// the tracer, which already see the op the kernel serves).
Tensor contiguous(const Tensor& t);  // t itself when already contiguous
Tensor cast(const Tensor& t, DType dtype);  // t itself when the dtype matches
}  // namespace tessera::cpu
