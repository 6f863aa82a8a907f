#pragma once
// OpDefs of the elementwise family, shared by the family's CPU kernels.
#include "ops/op.h"

namespace tessera::ops {
extern OpDef kAdd;
// Shape/dtype rule of arithmetic binary ops: broadcast shapes, promote dtypes.
InferResult infer_binary_arith(const std::vector<Tensor>& inputs, const Attrs& attrs);
}  // namespace tessera::ops
