#pragma once
// OpDefs of the index family: gather/scatter, index_select/index_put, one_hot, sort, topk.
#include "ops/op.h"

namespace tessera::ops {
// inputs (x, index int64); attrs: dim.
extern OpDef kGather;
// inputs (x, index int64, src); attrs: dim, reduction ("none" or "add", as ONNX).
extern OpDef kScatter, kScatterAdd;
// inputs (x, index int64/int32, 0-d or 1-D); attrs: dim.
extern OpDef kIndexSelect;
// inputs (x, values, index...), each index int64/int32 or a bool mask; attrs: accumulate.
extern OpDef kIndexPut;
// inputs (labels int64); attrs: num_classes (-1: max label + 1). Output int64.
extern OpDef kOneHot;
// inputs (x); attrs: dim, descending, stable. Outputs (values, indices int64).
extern OpDef kSort;
// inputs (x); attrs: k, dim, largest, sorted. Outputs (values, indices int64).
extern OpDef kTopK;
}  // namespace tessera::ops
