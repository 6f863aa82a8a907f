#pragma once
// OpDefs of the elementwise family, shared by the family's CPU kernels.
//
// Attributes:
//   approximate (string "none" | "tanh")                        - gelu
//   beta, threshold (double)                                    - softplus
//   min, max (Scalar), has_min, has_max (bool)                  - clamp
//   nan, posinf, neginf (double, already resolved per dtype)    - nan_to_num
//   value (Scalar)                                              - masked_fill
#include <vector>

#include "ops/op.h"

namespace tessera::ops {

// Binary arithmetic: broadcast, promote (PyTorch's result_type).
extern OpDef kAdd, kSub, kMul, kDiv, kFloorDivide, kRemainder, kPow, kMinimum, kMaximum,
    kAtan2;
// Unary: "float" ops compute in the input's floating dtype (ints promote to f32).
extern OpDef kNeg, kAbs, kSign, kExp, kExpm1, kLog, kLog1p, kLog2, kSqrt, kRsqrt, kSin, kCos,
    kTan, kTanh, kSigmoid, kErf, kRelu, kGelu, kSilu, kSoftplus, kLeakyRelu, kSquare, kReciprocal, kFloor,
    kCeil, kRound;
extern OpDef kClamp;        // x; attrs min/max
extern OpDef kThresholdBackward;  // (g, y) -> g where y > threshold else 0 (graphs: ReLU's gradient)
extern OpDef kClampTensor;  // x, min, max (all broadcast)
// Comparisons and logic: bool outputs.
extern OpDef kEq, kNe, kLt, kLe, kGt, kGe, kLogicalAnd, kLogicalOr, kLogicalXor, kLogicalNot;
extern OpDef kWhere;  // cond (bool), a, b
extern OpDef kIsNan, kIsInf, kIsFinite, kNanToNum;
extern OpDef kMaskedFill;  // x, mask (bool, broadcastable to x); attr value

// Shape/dtype rule of arithmetic binary ops: broadcast shapes, promote dtypes.
InferResult infer_binary_arith(const std::vector<InputMeta>& inputs, const Attrs& attrs);

// The dtype a "float" unary op computes in for an input of dtype t.
inline DType float_op_dtype(DType t) { return is_floating(t) ? t : DType::Float32; }

}  // namespace tessera::ops
