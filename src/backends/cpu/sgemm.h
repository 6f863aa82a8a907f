// float32 GEMM through oneDNN's dnnl_sgemm over operands given by element strides, shared
// by the linalg kernels (matmul, addmm, bmm, ...) and linear_fused.
#pragma once

#include <cstdint>

namespace tessera::cpu {

// The BLAS layout that reads a rows x cols matrix with strides (rs, cs) in place, if any:
// 'N' = row-major with leading dimension ld, 'T' = column-major (a transposed view).
struct BlasLayout {
  char trans;
  int64_t ld;
};
bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, BlasLayout& out);

// C [n, m] = alpha * A [n, k] @ B [k, m] + beta * C, C row-major with leading dimension m
// and not read when beta == 0. A and B are read in place where a BLAS layout fits; one
// that no layout fits is packed first, and one whose leading dimension makes oneDNN's
// packing thrash the cache is copied into longer rows (see sgemm.cc). Runs on the calling
// thread's OpenMP team (detail::sync_openmp_threads() first).
void sgemm(const float* a, int64_t ars, int64_t acs, const float* b, int64_t brs, int64_t bcs, float* c,
           int64_t n, int64_t m, int64_t k, float alpha, float beta);

}  // namespace tessera::cpu
