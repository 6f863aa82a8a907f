#pragma once
#include "ops/op.h"

namespace tessera::ops {
extern OpDef kClone;  // contiguous copy, same dtype
extern OpDef kCast;   // attrs: dtype
}  // namespace tessera::ops

namespace tessera::cpu {
// Copies src into dst (broadcasting src to dst's shape), converting the element type.
void copy_into(const Tensor& dst, const Tensor& src);
// Writes `value` into every element of dst.
void fill(const Tensor& dst, const Scalar& value);
}  // namespace tessera::cpu
