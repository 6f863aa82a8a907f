#pragma once
// Contiguous float32 loops, compiled once per ISA (float_loops_{avx512,avx2,base}.cc from
// the single source float_loops_impl.h) and chosen at run time from the CPU's flags, so
// one binary uses AVX-512 where it exists and still runs on AVX2-only or older machines.
// Kernels call through float_loops(); tests may ask for a specific table to compare ISAs.
#include <cstdint>
#include <string_view>

namespace tessera::cpu::vec {

enum class Unary : int {
  Neg, Abs, Sign, Exp, Expm1, Log, Log1p, Log2, Sqrt, Rsqrt, Sin, Cos, Tan, Tanh, Sigmoid,
  Erf, Relu, GeluErf, GeluTanh, Silu, Square, Reciprocal, Floor, Ceil, Round,
  Softplus,  // a = beta, b = threshold
  Clamp,     // a = low, b = high (use -inf / inf for a missing bound)
  LeakyRelu,  // a = negative_slope
  kCount
};
enum class Binary : int { Add, Sub, Mul, Div, Minimum, Maximum, kCount };

inline constexpr int kNumUnary = static_cast<int>(Unary::kCount);
inline constexpr int kNumBinary = static_cast<int>(Binary::kCount);

struct UnaryParams {
  float a = 0.0f;
  float b = 0.0f;
};

// y may alias x (in-place ops); no other overlap is allowed.
using UnaryFn = void (*)(const float* x, float* y, int64_t n, UnaryParams p);
using BinaryFn = void (*)(const float* a, const float* b, float* y, int64_t n);
using BinaryScalarRhsFn = void (*)(const float* a, float b, float* y, int64_t n);
using BinaryScalarLhsFn = void (*)(float a, const float* b, float* y, int64_t n);
// float32 -> bfloat16 bits, round to nearest even, NaN -> quiet NaN (0x7fc0): autocast's
// operand rounding, which at baseline -O3 ran at a third of this table's AVX-512 speed.
using ToBf16Fn = void (*)(const float* x, uint16_t* y, int64_t n);
// The matrix-vector product of batch-1 fully connected layers, y[0, n) = x[0, k) @ W, with
// W [k, n] packed in panels of kGemvPanel columns: W[i][p * kGemvPanel + j] at
// packed[(p * k + i) * kGemvPanel + j], zeros past column n. Each panel is then one
// sequential stream, which the hardware prefetcher follows; a row-major W read a column
// panel at a time touches a new cache line every row, and a weight that has fallen out of
// the cache (CNN64's 8 MB one, between two inferences) arrived at half the bandwidth.
// Writes y for panels [p0, p1) only (columns below n), so callers split panels across threads.
inline constexpr int64_t kGemvPanel = 16;
using GemvPackedFn = void (*)(const float* x, const float* packed, int64_t k, int64_t n, int64_t p0, int64_t p1,
                              float* y);

struct FloatLoops {
  const char* isa;
  UnaryFn unary[kNumUnary];
  BinaryFn binary[kNumBinary];
  BinaryScalarRhsFn binary_vs[kNumBinary];
  BinaryScalarLhsFn binary_sv[kNumBinary];
  ToBf16Fn to_bf16;
  GemvPackedFn gemv_packed;
};

// The table of the best ISA this CPU supports (or the one TESSERA_ISA=avx2|baseline asks
// for, never higher than the CPU supports). Picked once.
const FloatLoops& float_loops();
// "avx512", "avx2" or "baseline": the ISA of float_loops().
const char* cpu_isa_name();
// A specific ISA's table, or nullptr when this CPU cannot run it (for tests and benches).
const FloatLoops* float_loops_for(std::string_view isa);

// Whether this CPU can run code compiled for `isa` ("avx512", "avx2", "baseline"; false for
// any other name). Every per-ISA table (philox.h, pool.h, optim/kernels.h) is built only
// after this says yes: its maker is compiled for that ISA, and even filling in the table's
// fields may use the ISA's instructions (an AVX2-only CPU died building the AVX-512 one).
bool cpu_runs_isa(std::string_view isa);

}  // namespace tessera::cpu::vec
