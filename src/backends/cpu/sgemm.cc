// oneDNN's dnnl_sgemm over strided operands: the layout each operand is read with, and
// the copies made where no layout fits or where one reads badly.
#include "backends/cpu/sgemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "ops/linalg.h"
#include "tessera/error.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

std::atomic<int64_t> g_packed_operands{0};
std::atomic<int64_t> g_restrided_operands{0};

}  // namespace

bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, BlasLayout& out) {
  // A dim of size 1 has no meaningful stride, so it never blocks a layout.
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= std::max<int64_t>(1, cols))) {
    out = {'N', rows == 1 ? std::max<int64_t>(1, cols) : rs};
    return true;
  }
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= std::max<int64_t>(1, rows))) {
    out = {'T', cols == 1 ? std::max<int64_t>(1, rows) : cs};
    return true;
  }
  return false;
}

namespace {

// oneDNN's sgemm packs each operand in panels along k. Where k steps from one memory row to
// the next (a transposed left operand, a plain right one) and the leading dimension is a
// multiple of 512 floats (2 KB), those rows fall into the same few sets of the L1 cache and
// the packing thrashes. Copying such an operand into rows 16 floats longer first pays where
// a packed panel serves few rows of the product. On the AVX2 VM, 1 thread, the copy
// included (ms): [128, 512] @ [512, 512] 1.41 -> 0.91 and [128, 512].T @ [128, 512] 1.80 ->
// 1.40 (the MLP's input and weight gradients), [64, 1024] @ [1024, 1024] 3.48 -> 1.71,
// [2048, 512].T @ [2048, 512] 22.5 -> 14.0. Operands whose k runs along their rows (x in
// x @ w.T) ran the same with either leading dimension, as did products whose panels serve
// 1024 rows or more (1024^3, [2048, 512] @ [512, 512]); those, and products too thin to
// repay a copy, are read in place.
constexpr int64_t kAliasingLd = 512;
constexpr int64_t kLdPadding = 16;

bool aliases_cache_sets(int64_t ld, int64_t memory_rows, int64_t reuse) {
  return ld % kAliasingLd == 0 && memory_rows > 1 && reuse >= 32 && reuse < 1024;
}

// Returns the pointer and layout sgemm should read the matrix with: in place where a BLAS
// layout fits (copied into longer rows, keeping that layout, where its leading dimension
// aliases, see above), else packed into `scratch`. `k_is_rows`: the operand is the right
// one (k x m) rather than the left (n x k). `reuse`: how many rows (or columns) of the
// product each element of this operand serves.
const float* sgemm_operand(const float* p, int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool k_is_rows,
                           int64_t reuse, std::vector<float>& scratch, BlasLayout& layout) {
  if (blas_layout(rows, cols, rs, cs, layout)) {
    const bool row_major = layout.trans == 'N';
    const int64_t memory_rows = row_major ? rows : cols, memory_cols = row_major ? cols : rows;
    if (row_major != k_is_rows || !aliases_cache_sets(layout.ld, memory_rows, reuse)) return p;
    g_restrided_operands.fetch_add(1, std::memory_order_relaxed);
    const int64_t ld = memory_cols + (memory_cols % kAliasingLd == 0 ? kLdPadding : 0);
    scratch.resize(static_cast<size_t>(memory_rows * ld));
    float* dst = scratch.data();
    const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, memory_cols));
    parallel_for(0, memory_rows, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) std::copy_n(p + i * layout.ld, memory_cols, dst + i * ld);
    });
    layout.ld = ld;
    return scratch.data();
  }
  g_packed_operands.fetch_add(1, std::memory_order_relaxed);
  const int64_t ld = cols + (cols % kAliasingLd == 0 ? kLdPadding : 0);
  scratch.resize(static_cast<size_t>(rows * ld));
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) scratch[static_cast<size_t>(i * ld + j)] = p[i * rs + j * cs];
  layout = {'N', std::max<int64_t>(1, ld)};
  return scratch.data();
}

}  // namespace

void sgemm(const float* a, int64_t ars, int64_t acs, const float* b, int64_t brs, int64_t bcs, float* c,
           int64_t n, int64_t m, int64_t k, float alpha, float beta) {
  std::vector<float> scratch_a, scratch_b;  // stay empty (no allocation) unless copying
  BlasLayout la, lb;
  const float* pa = sgemm_operand(a, n, k, ars, acs, /*k_is_rows=*/false, /*reuse=*/m, scratch_a, la);
  const float* pb = sgemm_operand(b, k, m, brs, bcs, /*k_is_rows=*/true, /*reuse=*/n, scratch_b, lb);
  const dnnl_status_t st = dnnl_sgemm(la.trans, lb.trans, n, m, k, alpha, pa, la.ld, pb, lb.ld, beta, c, m);
  // oneDNN may run out of memory packing large operands; any other failure means the
  // shapes passed the shape rule but not oneDNN, which is a bug here.
  TESSERA_CHECK_ALLOC(st != dnnl_out_of_memory, "matmul: oneDNN's sgemm ran out of memory (n ", n, ", m ", m,
                      ", k ", k, ")");
  TESSERA_INTERNAL_ASSERT(st == dnnl_success, "dnnl_sgemm failed with status ", static_cast<int>(st), " (n ", n,
                          ", m ", m, ", k ", k, ", lda ", la.ld, ", ldb ", lb.ld, ")");
}

int64_t linalg_packed_operands() { return g_packed_operands.load(std::memory_order_relaxed); }
int64_t linalg_restrided_operands() { return g_restrided_operands.load(std::memory_order_relaxed); }

}  // namespace tessera::cpu
