#pragma once
// OpDefs of the reduction family (reductions, scans and softmax), shared by its CPU kernels.
//
// Attributes:
//   dims (vector<int64_t>, empty = all dims), keepdim (bool)  - sum, mean, prod, amax, amin,
//       var, std, norm*, logsumexp, all, any
//   dtype (DType, optional)                                  - sum
//   correction (int64_t)                                     - var, std
//   p (double)                                               - norm, norm_l1, norm_l2
//   dim (int64_t; optional for argmax/argmin = flattened)    - max, min, argmax, argmin,
//       cumsum, softmax, log_softmax
#include <vector>

#include "ops/op.h"

namespace tessera::ops {

extern OpDef kSum, kMean, kProd, kAmax, kAmin;
extern OpDef kMaxDim, kMinDim;  // "max"/"min" along a dim: (values, int64 indices)
extern OpDef kArgmax, kArgmin;
extern OpDef kVar, kStd;
// norm with p = 1 and p = 2 are their own ops so that each maps to one ONNX operator
// (ReduceL1 / ReduceL2); "norm" covers every other p. All three carry the attribute p.
extern OpDef kNorm, kNormL1, kNormL2;
extern OpDef kLogSumExp, kAll, kAny;
extern OpDef kCumsum, kSoftmax, kLogSoftmax;

// The dims reduced by a `dims` attribute over a tensor of `rank` (empty = all): entry d is
// true when dim d is reduced. Negative dims count from the end; a 0-d tensor accepts 0 and
// -1. Duplicates and out-of-range dims are user errors.
std::vector<bool> reduced_dims_mask(int64_t rank, const std::vector<int64_t>& dims);

}  // namespace tessera::ops
