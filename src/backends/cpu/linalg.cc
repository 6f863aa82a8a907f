// CPU kernels of the linalg family. Every op is a strided, batched GEMM
//     C[b] = alpha * A[b] @ B[b] + beta * C[b]
// over operands described by (rows, cols, row stride, col stride) and per-batch offsets,
// so views (transposes, slices, broadcast batch dims) are read in place:
//   - float32: oneDNN's dnnl_sgemm (backends/cpu/sgemm.h). A transposed view is a trans
//     flag; only a matrix whose strides no BLAS layout can express (both strides > 1,
//     stride 0 rows) is packed first, and one whose rows alias in the cache is copied into
//     longer ones. A product with a transposed right operand (x @ w.T: every linear
//     layer's forward) runs oneDNN's matmul primitive instead, cached per shape (see
//     sgemm_one).
//   - float32 with precision "bf16" (autocast, tessera/autocast.h): oneDNN's matmul
//     primitive with bfloat16 operands and a float32 result (sgemm has no bf16 form). Each
//     operand is rounded into a dense bfloat16 buffer first (row- or column-major, as its
//     view lies, so a transposed weight converts in one linear pass); tensors stay float32.
//   - float64: the cache-blocked kernel in linalg_f64.cc (used for gradient checks).
//   - integers: plain loops accumulating in 64 bits, wrapping like the C types do.
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <bit>
#include <vector>

#include "backends/cpu/onednn.h"
#include "backends/cpu/sgemm.h"
#include "backends/cpu/vec/float_loops.h"
#include "core/parallel_internal.h"
#include "ops/copy.h"
#include "ops/linalg.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;

// One operand as the GEMM sees it: a rows x cols matrix per batch element.
struct Operand {
  const char* base = nullptr;
  int64_t rows = 0, cols = 0, rs = 0, cs = 0;  // element strides
  Shape batch_strides;                         // per output batch dim; 0 where broadcast
};

// `as_row`: a 1-D operand is a [1, k] row (the left operand of matmul) rather than a
// [k, 1] column (the right one).
Operand make_operand(const Tensor& t, IntArrayRef batch, bool as_row) {
  Operand op;
  op.base = static_cast<const char*>(t.data_ptr());
  if (t.dim() == 1) {
    op.rows = as_row ? 1 : t.size(0);
    op.cols = as_row ? t.size(0) : 1;
    op.rs = as_row ? t.size(0) : t.stride(0);
    op.cs = as_row ? t.stride(0) : 1;
  } else {
    op.rows = t.size(-2);
    op.cols = t.size(-1);
    op.rs = t.stride(-2);
    op.cs = t.stride(-1);
  }
  const int64_t own = std::max<int64_t>(t.dim() - 2, 0);
  const int64_t lead = static_cast<int64_t>(batch.size()) - own;
  op.batch_strides.resize(batch.size(), 0);
  for (int64_t d = lead; d < static_cast<int64_t>(batch.size()); ++d) {
    const int64_t td = d - lead;
    op.batch_strides[static_cast<size_t>(d)] = t.size(td) == 1 ? 0 : t.stride(td);
  }
  return op;
}

// Element offsets of batch element `index` (row-major over `batch`) in two operands.
void batch_offsets(int64_t index, IntArrayRef batch, const Operand& a, const Operand& b,
                   int64_t& off_a, int64_t& off_b) {
  off_a = 0;
  off_b = 0;
  for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
    const size_t du = static_cast<size_t>(d);
    const int64_t c = index % batch[du];
    index /= batch[du];
    off_a += c * a.batch_strides[du];
    off_b += c * b.batch_strides[du];
  }
}

// ---------------------------------------------------------------- float32 (oneDNN)

// C = alpha * A @ B + beta * C as a matmul primitive's attributes: oneDNN scales the
// product, then adds beta times what dst held.
dnnl::primitive_attr gemm_attr(float alpha, float beta) {
  dnnl::primitive_attr attr = onednn::attr();
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  if (beta != 0.f) {
    dnnl::post_ops post;
    post.append_sum(beta);
    attr.set_post_ops(post);
  }
  return attr;
}

// A float32 matmul primitive for C[n, m] = alpha * A @ B + beta * C, with A row-major
// (leading dimension lda) and B column-major (B = w.T with w row-major, leading dimension
// ldb).
struct F32MatmulNT {
  dnnl::matmul prim;
  dnnl::memory::desc src, wei, dst, scratchpad;
};

// key: n, m, k, lda, ldb, alpha and beta (bits).
std::shared_ptr<const F32MatmulNT> build_f32_nt(const std::vector<int64_t>& key, float alpha, float beta) {
  const int64_t n = key[0], m = key[1], k = key[2], lda = key[3], ldb = key[4];
  auto c = std::make_shared<F32MatmulNT>();
  constexpr auto f32 = dnnl::memory::data_type::f32;
  c->src = dnnl::memory::desc({n, k}, f32, dnnl::memory::dims{lda, 1});
  c->wei = dnnl::memory::desc({k, m}, f32, dnnl::memory::dims{1, ldb});
  c->dst = dnnl::memory::desc({n, m}, f32, dnnl::memory::dims{m, 1});
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(c->src, c->wei, c->dst), gemm_attr(alpha, beta),
                                        onednn::engine());
  c->prim = dnnl::matmul(pd);
  c->scratchpad = pd.scratchpad_desc();
  return c;
}

// Whether C = A @ B.T should run the matmul primitive rather than sgemm. Measured with
// oneDNN 2.6 on this project's machine (AVX-512), ms at 1 / 2 threads, sgemm vs primitive:
// [64, 9216] @ [9216, 128] (CNN28's first linear layer) 2.25 / 2.30 vs 1.56 / 0.82:
// sgemm leaves a long-k product with a small output on one thread; [32, 8192] @ [8192, 256]
// (CNN64's) 2.74 / 3.67 vs 1.87 / 0.96; [128, 784] @ [784, 512] (the MLP's) 0.99 / 0.68 vs
// 0.95 / 0.50; 1024^3 equal. Single rows are the exception (a [1, 784] @ [784, 512]
// product: 0.021 vs 0.052 ms), so they stay on sgemm, as do products inside a parallel
// region (the batch-parallel path: one small matrix per thread).
bool prefers_matmul_primitive(const BlasLayout& la, const BlasLayout& lb, int64_t n) {
  return la.trans == 'N' && lb.trans == 'T' && n >= 8 && !in_parallel_region();
}

void matmul_nt(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t n, int64_t m,
               int64_t k, float alpha, float beta) {
  const std::vector<int64_t> key{n, m, k, lda, ldb, std::bit_cast<int32_t>(alpha), std::bit_cast<int32_t>(beta)};
  try {
    const auto mm = onednn::cached_primitive<F32MatmulNT>(key, [&] { return build_f32_nt(key, alpha, beta); });
    const dnnl::engine& eng = onednn::engine();
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, dnnl::memory(mm->src, eng, const_cast<float*>(a))},
        {DNNL_ARG_WEIGHTS, dnnl::memory(mm->wei, eng, const_cast<float*>(b))},
        {DNNL_ARG_DST, dnnl::memory(mm->dst, eng, c)}};
    const Tensor scratch = onednn::add_scratchpad(mm->scratchpad, args);
    mm->prim.execute(onednn::stream(), args);
    onednn::stream().wait();
  } catch (const dnnl::error& e) {
    const std::string what =
        detail::concat("matmul: oneDNN failed (", e.what(), ") for [", n, ", ", k, "] @ [", k, ", ", m, "]");
    TESSERA_CHECK_ALLOC(e.status != dnnl_out_of_memory, what);
    TESSERA_INTERNAL_ASSERT(false, what);
  }
}

void sgemm_one(const float* a, int64_t ars, int64_t acs, const float* b, int64_t brs,
               int64_t bcs, float* c, int64_t n, int64_t m, int64_t k, float alpha, float beta) {
  BlasLayout la, lb;
  if (blas_layout(n, k, ars, acs, la) && blas_layout(k, m, brs, bcs, lb) && prefers_matmul_primitive(la, lb, n))
    return matmul_nt(a, la.ld, b, lb.ld, c, n, m, k, alpha, beta);
  sgemm(a, ars, acs, b, brs, bcs, c, n, m, k, alpha, beta);
}

// Small matrices in a batch are better spread over threads one per matrix than each
// split by oneDNN (whose fork/join then costs more than the work).
constexpr int64_t kBatchParallelMaxFlops = int64_t{1} << 21;

// ---------------------------------------------------------------- float32 in bfloat16 (autocast)

// Round to nearest even, NaN to a quiet NaN: BFloat16(float) without the branch, so the
// conversion loops vectorize.
inline uint16_t bf16_bits(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  return (u & 0x7fffffffu) > 0x7f800000u ? uint16_t{0x7fc0} : static_cast<uint16_t>(rounded);
}

// One operand rounded to bfloat16: `nb` dense rows x cols matrices, one per batch element
// of the product or one shared by all (an operand whose batch strides are all 0: a weight
// broadcast over the batch), each row-major, or column-major when the view is a transpose
// (so both read and write run along memory).
struct Bf16Operand {
  Tensor buf;  // BFloat16 [nb * rows * cols]
  int64_t nb = 1;
  bool col_major = false;
};

Bf16Operand to_bf16(const Operand& op, IntArrayRef batch, int64_t nbatch) {
  Bf16Operand r;
  const bool shared = std::all_of(op.batch_strides.begin(), op.batch_strides.end(), [](int64_t s) { return s == 0; });
  r.nb = shared ? 1 : nbatch;
  BlasLayout layout;
  r.col_major = blas_layout(op.rows, op.cols, op.rs, op.cs, layout) && layout.trans == 'T' && op.rows > 1;
  r.buf = make_tensor({r.nb * op.rows * op.cols}, DType::BFloat16);
  // outer x inner per matrix: rows x cols row-major, cols x rows column-major.
  const int64_t outer = r.col_major ? op.cols : op.rows, inner = r.col_major ? op.rows : op.cols;
  const int64_t os = r.col_major ? op.cs : op.rs, is = r.col_major ? op.rs : op.cs;
  const float* src = reinterpret_cast<const float*>(op.base);
  uint16_t* dst = static_cast<uint16_t*>(r.buf.data_ptr());
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, inner));
  const vec::ToBf16Fn round_row = vec::float_loops().to_bf16;
  parallel_for(0, r.nb * outer, grain, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      const int64_t bi = l / outer, o = l % outer;
      int64_t off = 0, unused = 0;
      if (!shared) batch_offsets(bi, batch, op, op, off, unused);
      const float* s = src + off + o * os;
      uint16_t* d = dst + l * inner;
      if (is == 1) {
        round_row(s, d, inner);
      } else {
        for (int64_t i = 0; i < inner; ++i) d[i] = bf16_bits(s[i * is]);
      }
    }
  });
  return r;
}

struct Bf16Matmul {
  dnnl::matmul prim;
  dnnl::memory::desc src, wei, dst, scratchpad;
};

// A dense [nb, rows, cols] bfloat16 matrix batch as oneDNN reads it (nb 1 where shared: the
// primitive broadcasts it over the batch).
dnnl::memory::desc bf16_md(int64_t nb, int64_t rows, int64_t cols, bool col_major) {
  return {{nb, rows, cols}, dnnl::memory::data_type::bf16,
          col_major ? dnnl::memory::dims{rows * cols, 1, rows} : dnnl::memory::dims{rows * cols, cols, 1}};
}

// key: nb_a, nb_b, nbatch, n, k, m, a column-major, b column-major, alpha and beta (bits).
std::shared_ptr<const Bf16Matmul> build_bf16(const std::vector<int64_t>& key, float alpha, float beta) {
  const int64_t nb_a = key[0], nb_b = key[1], nbatch = key[2], n = key[3], k = key[4], m = key[5];
  auto c = std::make_shared<Bf16Matmul>();
  c->src = bf16_md(nb_a, n, k, key[6] != 0);
  c->wei = bf16_md(nb_b, k, m, key[7] != 0);
  c->dst = dnnl::memory::desc({nbatch, n, m}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abc);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(c->src, c->wei, c->dst), gemm_attr(alpha, beta),
                                        onednn::engine());
  c->prim = dnnl::matmul(pd);
  c->scratchpad = pd.scratchpad_desc();
  return c;
}

// ---------------------------------------------------------------- integers

template <typename T>
void int_gemm(const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t bcs, T* c,
              int64_t n, int64_t m, int64_t k, int64_t alpha, int64_t beta) {
  // Unsigned arithmetic wraps instead of overflowing into undefined behaviour.
  std::vector<uint64_t> acc(static_cast<size_t>(m));
  for (int64_t i = 0; i < n; ++i) {
    std::fill(acc.begin(), acc.end(), 0);
    for (int64_t p = 0; p < k; ++p) {
      const uint64_t x = static_cast<uint64_t>(static_cast<int64_t>(a[i * ars + p * acs]));
      if (x == 0) continue;
      const T* brow = b + p * brs;
      for (int64_t j = 0; j < m; ++j)
        acc[static_cast<size_t>(j)] += x * static_cast<uint64_t>(static_cast<int64_t>(brow[j * bcs]));
    }
    T* crow = c + i * m;
    for (int64_t j = 0; j < m; ++j) {
      uint64_t v = static_cast<uint64_t>(alpha) * acc[static_cast<size_t>(j)];
      if (beta != 0) v += static_cast<uint64_t>(beta) * static_cast<uint64_t>(static_cast<int64_t>(crow[j]));
      crow[j] = static_cast<T>(static_cast<int64_t>(v));
    }
  }
}

// ---------------------------------------------------------------- the driver

// A batched GEMM with its operands resolved to strides and per-batch offsets.
struct GemmProblem {
  Operand A, B;
  Shape batch;
  int64_t nbatch = 1, n = 0, m = 0, k = 0;
  bool batch_parallel = false;
};

// The product in bfloat16 (precision "bf16"): the operands rounded, one matmul primitive
// over the whole batch, float32 accumulation into c (contiguous [batch, n, m]).
void gemm_bf16(const GemmProblem& p, float* c, float alpha, float beta) {
  Bf16Operand a = to_bf16(p.A, p.batch, p.nbatch);
  const Bf16Operand b = to_bf16(p.B, p.batch, p.nbatch);
  // A row-major batch times one shared matrix is a single [batch * n, k] @ [k, m] product
  // (a linear layer on [B, T, E]): the rows of all batch elements in one GEMM.
  int64_t nbatch = p.nbatch, n = p.n;
  if (b.nb == 1 && a.nb == nbatch && !a.col_major) {
    n *= nbatch;
    nbatch = a.nb = 1;
  }
  const std::vector<int64_t> key{a.nb, b.nb, nbatch, n, p.k, p.m, a.col_major, b.col_major,
                                 std::bit_cast<int32_t>(alpha), std::bit_cast<int32_t>(beta)};
  try {
    const auto mm = onednn::cached_primitive<Bf16Matmul>(key, [&] { return build_bf16(key, alpha, beta); });
    const dnnl::engine& eng = onednn::engine();
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(mm->src, eng, a.buf.data_ptr())},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(mm->wei, eng, b.buf.data_ptr())},
                                               {DNNL_ARG_DST, dnnl::memory(mm->dst, eng, c)}};
    const Tensor scratch = onednn::add_scratchpad(mm->scratchpad, args);
    mm->prim.execute(onednn::stream(), args);
    onednn::stream().wait();
  } catch (const dnnl::error& e) {
    const std::string what = detail::concat("matmul (bf16): oneDNN failed (", e.what(), ") for a batch of ", nbatch,
                                            " [", n, ", ", p.k, "] @ [", p.k, ", ", p.m, "]");
    TESSERA_CHECK_ALLOC(e.status != dnnl_out_of_memory, what);
    TESSERA_CHECK_IMPLEMENTED(e.status != dnnl_unimplemented, what);
    TESSERA_INTERNAL_ASSERT(false, what);
  }
}

template <typename T>
void run_typed(const GemmProblem& p, T* c, const Scalar& alpha, const Scalar& beta) {
  const int64_t cstride = p.n * p.m;
  if (p.k == 0) {  // an empty sum: only the beta term is left
    const int64_t total = p.nbatch * cstride;
    if (beta.to_double() == 0) {
      std::fill(c, c + total, T(0));
    } else {
      const T be = beta.to<T>();
      for (int64_t i = 0; i < total; ++i) c[i] = static_cast<T>(be * c[i]);
    }
    return;
  }
  auto one = [&](int64_t i) {
    int64_t oa, ob;
    batch_offsets(i, p.batch, p.A, p.B, oa, ob);
    const T* a = reinterpret_cast<const T*>(p.A.base) + oa;
    const T* b = reinterpret_cast<const T*>(p.B.base) + ob;
    T* ci = c + i * cstride;
    if constexpr (std::is_same_v<T, float>) {
      sgemm_one(a, p.A.rs, p.A.cs, b, p.B.rs, p.B.cs, ci, p.n, p.m, p.k,
                static_cast<float>(alpha.to_double()), static_cast<float>(beta.to_double()));
    } else if constexpr (std::is_same_v<T, double>) {
      dgemm_blocked(p.n, p.m, p.k, alpha.to_double(), a, p.A.rs, p.A.cs, b, p.B.rs, p.B.cs,
                    beta.to_double(), ci, p.m, /*allow_parallel=*/!p.batch_parallel);
    } else {
      int_gemm<T>(a, p.A.rs, p.A.cs, b, p.B.rs, p.B.cs, ci, p.n, p.m, p.k, alpha.to_int(),
                  beta.to_int());
    }
  };
  if (p.batch_parallel) {
    parallel_for(0, p.nbatch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < p.nbatch; ++i) one(i);
  }
}

// out (contiguous, [batch..., n?, m?]) = alpha * a @ b + beta * out, with matmul's rank
// rules (a 1-D left operand is a row, a 1-D right operand a column, both dropped from the
// output). out's values are read only when beta != 0.
// `bf16`: a float32 product multiplies in bfloat16 (precision "bf16").
void run_gemm(const Tensor& a, const Tensor& b, Tensor& out, const Scalar& alpha, const Scalar& beta,
              bool outer_product = false, bool bf16 = false) {
  TESSERA_INTERNAL_ASSERT(out.is_contiguous(), "gemm output must be contiguous");
  GemmProblem p;
  if (outer_product) {
    // [n] x [m]: a column times a row, k = 1.
    p.A = make_operand(a, {}, /*as_row=*/false);
    p.B = make_operand(b, {}, /*as_row=*/true);
  } else {
    const size_t mat_dims = (a.dim() >= 2 ? 1 : 0) + (b.dim() >= 2 ? 1 : 0);
    IntArrayRef os = out.sizes();
    p.batch = Shape(IntArrayRef(os.data(), os.size() - mat_dims));
    p.A = make_operand(a, p.batch, /*as_row=*/true);
    p.B = make_operand(b, p.batch, /*as_row=*/false);
  }
  p.n = p.A.rows;
  p.k = p.A.cols;
  p.m = p.B.cols;
  TESSERA_INTERNAL_ASSERT(p.B.rows == p.k, "gemm operands disagree on k");
  p.nbatch = numel_of(p.batch);
  if (p.nbatch == 0 || p.n == 0 || p.m == 0) return;
  p.batch_parallel = p.nbatch > 1 && get_num_threads() > 1 && !in_parallel_region() &&
                     p.n * p.m * p.k <= kBatchParallelMaxFlops;
  // dnnl_sgemm is stateless and thread-safe, but splits its work by OpenMP's thread count,
  // which OpenMP keeps per thread: make it this thread's Tessera count.
  detail::sync_openmp_threads();

  if (bf16 && out.dtype() == DType::Float32 && p.k > 0)
    return gemm_bf16(p, out.data<float>(), static_cast<float>(alpha.to_double()), static_cast<float>(beta.to_double()));
  switch (out.dtype()) {
    case DType::Float32: return run_typed(p, out.data<float>(), alpha, beta);
    case DType::Float64: return run_typed(p, out.data<double>(), alpha, beta);
    case DType::Int64: return run_typed(p, out.data<int64_t>(), alpha, beta);
    case DType::Int32: return run_typed(p, out.data<int32_t>(), alpha, beta);
    case DType::Int8: return run_typed(p, out.data<int8_t>(), alpha, beta);
    case DType::UInt8: return run_typed(p, out.data<uint8_t>(), alpha, beta);
    default: break;
  }
  TESSERA_INTERNAL_ASSERT(false, "linalg kernel reached with dtype ", dtype_name(out.dtype()));
}


void matmul_kernel(const KernelCall& call) {
  run_gemm(call.inputs[0], call.inputs[1], call.outputs[0], Scalar(1), Scalar(0), false, ops::wants_bf16(call.attrs));
}

void outer_kernel(const KernelCall& call) {
  run_gemm(call.inputs[0], call.inputs[1], call.outputs[0], Scalar(1), Scalar(0),
           /*outer_product=*/true);
}

void addmm_kernel(const KernelCall& call) {
  const Scalar& beta = call.attrs.scalar("beta");
  const Scalar& alpha = call.attrs.scalar("alpha");
  Tensor& out = call.outputs[0];
  // With beta == 0 the input is ignored entirely, so NaN/inf in it do not propagate
  // (as BLAS and PyTorch define it).
  if (beta.to_double() != 0) copy_into(out, call.inputs[0]);
  run_gemm(call.inputs[1], call.inputs[2], out, alpha, beta, false, ops::wants_bf16(call.attrs));
}

// bool is left out on purpose: a boolean matmul has no agreed meaning; the dispatcher
// upcasts f16/bf16 to the float32 kernel.
constexpr uint32_t kLinalgDTypes = ops::kNumericMask;

}  // namespace


void register_linalg_kernels() {
  for (const ops::OpDef* op : {&ops::kMatmul, &ops::kMm, &ops::kBmm, &ops::kDot})
    register_kernel(*op, Device::CPU, matmul_kernel, kLinalgDTypes);
  register_kernel(ops::kOuter, Device::CPU, outer_kernel, kLinalgDTypes);
  register_kernel(ops::kAddmm, Device::CPU, addmm_kernel, kLinalgDTypes);
  register_linear_fused_kernel();
}

}  // namespace tessera::cpu
