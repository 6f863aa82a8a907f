// float64 GEMM: the classic three-level blocking (Goto/BLIS): a KC x NC panel of B and an
// MC x KC block of A are packed so the micro-kernel streams both from cache with unit
// stride, whatever the operands' strides were. It exists for gradient checks in double,
// so it aims at "not pathologically slow", not at peak: the micro-kernel is plain C++ the
// compiler vectorizes for the baseline ISA.
#include <algorithm>
#include <vector>

#include "ops/linalg.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

constexpr int64_t kMR = 4;    // micro-tile rows
constexpr int64_t kNR = 8;    // micro-tile cols
constexpr int64_t kMC = 64;   // A block rows (kMC x kKC doubles = 128 KiB, L2)
constexpr int64_t kKC = 256;  // shared depth of the packed blocks
constexpr int64_t kNC = 512;  // B panel cols (kKC x kNC doubles = 1 MiB, L2/L3)

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// B[pc:pc+kc, jc:jc+nc] as nc/NR slivers of kc x NR, zero-padded to whole slivers.
void pack_b(const double* b, int64_t brs, int64_t bcs, int64_t kc, int64_t nc, double* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += kNR) {
    const int64_t nr = std::min(kNR, nc - j0);
    for (int64_t p = 0; p < kc; ++p) {
      const double* src = b + p * brs + j0 * bcs;
      for (int64_t j = 0; j < nr; ++j) dst[j] = src[j * bcs];
      for (int64_t j = nr; j < kNR; ++j) dst[j] = 0;
      dst += kNR;
    }
  }
}

// A[ic:ic+mc, pc:pc+kc] as mc/MR slivers of kc x MR (column-major within a sliver).
void pack_a(const double* a, int64_t ars, int64_t acs, int64_t mc, int64_t kc, double* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMR) {
    const int64_t mr = std::min(kMR, mc - i0);
    for (int64_t p = 0; p < kc; ++p) {
      const double* src = a + i0 * ars + p * acs;
      for (int64_t i = 0; i < mr; ++i) dst[i] = src[i * ars];
      for (int64_t i = mr; i < kMR; ++i) dst[i] = 0;
      dst += kMR;
    }
  }
}

// C[0:mr, 0:nr] += alpha * (packed A sliver) @ (packed B sliver).
void micro_kernel(int64_t kc, const double* a, const double* b, double alpha, double* c,
                  int64_t ldc, int64_t mr, int64_t nr) {
  double acc[kMR][kNR] = {};
  for (int64_t p = 0; p < kc; ++p) {
    for (int64_t i = 0; i < kMR; ++i)
      for (int64_t j = 0; j < kNR; ++j) acc[i][j] += a[i] * b[j];
    a += kMR;
    b += kNR;
  }
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) c[i * ldc + j] += alpha * acc[i][j];
}

// One thread's share: rows [0, n) of C, beta already applied.
void dgemm_serial(int64_t n, int64_t m, int64_t k, double alpha, const double* a, int64_t ars,
                  int64_t acs, const double* b, int64_t brs, int64_t bcs, double* c, int64_t ldc) {
  const int64_t kc_max = std::min(k, kKC);
  std::vector<double> bpack(static_cast<size_t>(kc_max * round_up(std::min(m, kNC), kNR)));
  std::vector<double> apack(static_cast<size_t>(kc_max * round_up(std::min(n, kMC), kMR)));
  for (int64_t jc = 0; jc < m; jc += kNC) {
    const int64_t nc = std::min(kNC, m - jc);
    for (int64_t pc = 0; pc < k; pc += kKC) {
      const int64_t kc = std::min(kKC, k - pc);
      pack_b(b + pc * brs + jc * bcs, brs, bcs, kc, nc, bpack.data());
      for (int64_t ic = 0; ic < n; ic += kMC) {
        const int64_t mc = std::min(kMC, n - ic);
        pack_a(a + ic * ars + pc * acs, ars, acs, mc, kc, apack.data());
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            micro_kernel(kc, apack.data() + ir * kc, bpack.data() + jr * kc, alpha,
                         c + (ic + ir) * ldc + jc + jr, ldc, std::min(kMR, mc - ir),
                         std::min(kNR, nc - jr));
          }
        }
      }
    }
  }
}

}  // namespace

void dgemm_blocked(int64_t n, int64_t m, int64_t k, double alpha, const double* a, int64_t ars,
                   int64_t acs, const double* b, int64_t brs, int64_t bcs, double beta, double* c,
                   int64_t ldc, bool allow_parallel) {
  if (n <= 0 || m <= 0) return;
  for (int64_t i = 0; i < n; ++i) {
    double* row = c + i * ldc;
    // beta == 0 overwrites, so garbage (even NaN) in an uninitialised C never leaks in.
    if (beta == 0) std::fill(row, row + m, 0.0);
    else if (beta != 1) for (int64_t j = 0; j < m; ++j) row[j] *= beta;
  }
  if (k <= 0 || alpha == 0) return;
  auto rows = [&](int64_t i0, int64_t i1) {
    dgemm_serial(i1 - i0, m, k, alpha, a + i0 * ars, ars, acs, b, brs, bcs, c + i0 * ldc, ldc);
  };
  // Enough rows per thread that a chunk's ~2*rows*m*k flops dwarf the fork/join and the
  // B panel each thread packs for itself.
  const int64_t grain = std::max<int64_t>(kMC, (int64_t{1} << 22) / std::max<int64_t>(1, m * k));
  if (allow_parallel && n > grain)
    parallel_for(0, n, grain, rows);
  else
    rows(0, n);
}

}  // namespace tessera::cpu
