#pragma once
// OpDefs of the linear-algebra family, shared with its CPU kernels (backends/cpu/linalg.cc).
#include <cstdint>

#include "ops/op.h"

namespace tessera::ops {
extern OpDef kMatmul;  // NumPy matmul: 1-D operands, batch broadcasting
extern OpDef kMm;      // 2-D x 2-D only
extern OpDef kBmm;     // 3-D x 3-D, equal batch sizes (no broadcasting)
extern OpDef kAddmm;   // beta * input + alpha * (a @ b); attrs "beta", "alpha" (Scalar)
extern OpDef kOuter;   // [n] x [m] -> [n, m]
extern OpDef kDot;     // [k] x [k] -> []
// act(x @ w + bias [+ residual]) with the weight packed once (frozen graphs; linear_fused.cc)
extern OpDef kLinearFused;
}  // namespace tessera::ops

namespace tessera::cpu {
// How many matrix operands the float32 path had to copy into a packed buffer because their
// strides could not be passed to sgemm as they are. Tests use it to check that transposed
// and sliced views really go through without a copy.
int64_t linalg_packed_operands();
// How many operands were copied into longer rows because their leading dimension made
// oneDNN's sgemm thrash the cache (see sgemm_operand in linalg.cc).
int64_t linalg_restrided_operands();
void register_linear_fused_kernel();  // backends/cpu/linear_fused.cc

// C = alpha * A @ B + beta * C for float64, A n x k and B k x m read through element
// strides, C row-major with leading dimension ldc. C is not read when beta == 0.
// Cache-blocked, parallel over row blocks when `allow_parallel` (linalg_f64.cc).
void dgemm_blocked(int64_t n, int64_t m, int64_t k, double alpha, const double* a, int64_t ars,
                   int64_t acs, const double* b, int64_t brs, int64_t bcs, double beta, double* c,
                   int64_t ldc, bool allow_parallel);
}  // namespace tessera::cpu
