#pragma once
#include <optional>

#include "ops/op.h"

namespace tessera::ops {
extern OpDef kView, kPermute, kSlice, kSelect, kExpand, kSqueeze, kUnsqueeze, kDiagonal, kAsStrided;
// `shape` with its -1 resolved for `numel` elements (errors name `op`).
Shape infer_size_for_reshape(IntArrayRef shape, int64_t numel, const char* op = "reshape");
// Strides expressing `new_sizes` over (sizes, strides) without a copy, if they exist.
std::optional<Shape> view_strides_for(IntArrayRef sizes, IntArrayRef strides, IntArrayRef new_sizes);
}  // namespace tessera::ops
