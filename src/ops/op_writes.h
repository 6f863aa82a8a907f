#pragma once
// Whether an op writes its input i (OpDef::mutates, bit i). False past bit 31: a variadic
// op such as stack may take any number of inputs, and shifting a uint32_t by 32 or more is
// undefined (UBSan caught `stack` of 33 tensors).
#include <cstddef>

#include "ops/op.h"

namespace tessera::ops {
inline bool writes_input(const OpDef& op, size_t i) { return i < 32 && ((op.mutates >> i) & 1u) != 0; }
}  // namespace tessera::ops
