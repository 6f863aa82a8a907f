#pragma once
#include "ops/op.h"

namespace tessera::ops {
extern OpDef kFull, kArange, kLinspace, kEye;
}  // namespace tessera::ops
