// Float32 loops, written once and compiled per ISA: each float_loops_<isa>.cc includes this
// file inside its own namespace after including <immintrin.h>, <cstdint> and
// float_loops.h. No include guard and no standard-library calls on purpose: inline
// functions from std would be emitted as shared weak symbols, and the linker could then
// hand AVX-512 code to a caller on an AVX2 machine. Everything here is file-local.
//
// The transcendental functions are branch-free (selects instead of ifs) and use bit
// manipulation instead of frexp/ldexp, so GCC vectorizes the loops at -O3 for whatever
// -m flags the including file is compiled with. Accuracy: <= 2-3 ulp over the whole float
// range (tests/backends/vec_test.cc measures it against a double reference).

// Without this GCC will not if-convert `r = c ? a : f(x)` when f may raise an FP exception
// (it would have to evaluate f unconditionally), and leaves such loops scalar. Nothing in
// Tessera reads the FP exception flags.
#if defined(__GNUC__) && !defined(__clang__)  // clang defaults to -fno-trapping-math
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

namespace {

#define TV_INLINE __attribute__((always_inline)) inline

TV_INLINE uint32_t as_u(float f) { return __builtin_bit_cast(uint32_t, f); }
TV_INLINE float as_f(uint32_t u) { return __builtin_bit_cast(float, u); }
TV_INLINE float fabs_f(float x) { return as_f(as_u(x) & 0x7fffffffu); }
// x with the sign bit of s OR-ed in (x is expected non-negative or to share s's sign).
TV_INLINE float or_sign(float x, float s) { return as_f(as_u(x) | (as_u(s) & 0x80000000u)); }

constexpr float kInf = __builtin_inff();
constexpr float kNaN = __builtin_nanf("");

// e^x. Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then a degree-7 polynomial
// (Cephes' coefficients). 2^n is applied as two factors so that n = 128 (results just
// below FLT_MAX) and subnormal results both come out right. exp_f(x, k) is e^x * 2^k
// (k in [0, 24]), for callers that need e^x beyond the normal range. x is clamped where
// e^x * 2^k rounds to 0 (-104 - k ln2), so below it the result is 0, as it should be.
TV_INLINE float exp_f(float x, int32_t k = 0) {
  const float lowest = -104.0f - 0.693147181f * static_cast<float>(k);
  float xc = x > 88.8f ? 88.8f : x;  // NaN passes both selects unchanged
  xc = xc < lowest ? lowest : xc;
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float t = xc * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;
  const int32_t ni = static_cast<int32_t>(as_u(t) - as_u(kMagic));
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = (p * r) * r + r + 1.0f;
  const int32_t n1 = (ni + k) >> 1;
  const int32_t n2 = (ni + k) - n1;
  const float s1 = as_f(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = as_f(static_cast<uint32_t>(n2 + 127) << 23);
  return e * s1 * s2;
}

// ln(m) - f and the exponent of x = 2^e * m, m in [sqrt(1/2), sqrt(2)), f = m - 1.
// Subnormals are scaled by 2^23 first. Special values are fixed by the callers.
struct LogParts {
  float f;   // m - 1
  float y;   // ln(m) - f
  float e;   // exponent
};
TV_INLINE LogParts log_parts(float x) {
  const bool sub = x < 1.17549435e-38f;
  const float xs = sub ? x * 8388608.0f : x;
  const uint32_t u = as_u(xs);
  int32_t e = static_cast<int32_t>((u >> 23) & 0xffu) - 126;
  e = sub ? e - 23 : e;
  const float m = as_f((u & 0x007fffffu) | 0x3f000000u);  // [0.5, 1)
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1 : e;
  const float f = low ? m + m - 1.0f : m - 1.0f;
  const float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  return {f, f * z * p - 0.5f * z, static_cast<float>(e)};
}
TV_INLINE float log_special(float x, float r) {
  r = x == 0.0f ? -kInf : r;
  r = x < 0.0f ? kNaN : r;
  r = x == kInf ? kInf : r;
  return x != x ? x : r;
}
TV_INLINE float log_f(float x) {
  const LogParts l = log_parts(x);
  // ln2 split in two so e * ln2_hi is exact.
  float r = l.f + (l.y + l.e * -2.12194440e-4f);
  r = r + l.e * 0.693359375f;
  return log_special(x, r);
}
TV_INLINE float log2_f(float x) {
  const LogParts l = log_parts(x);
  const float r = (l.f + l.y) * 1.44269504088896341f + l.e;  // exact for powers of two
  return log_special(x, r);
}
// log(1 + x) = log(u) * x / (u - 1) with u = fl(1 + x): the factor cancels the rounding
// of u (Goldberg's trick), so small x keep full relative accuracy.
TV_INLINE float log1p_f(float x) {
  const float u = 1.0f + x;
  const float d = u - 1.0f;
  float r = log_f(u) * (x / d);
  r = d == 0.0f ? x : r;
  return x == kInf ? kInf : r;
}

TV_INLINE float expm1_f(float x) {
  float xc = x > 20.0f ? 20.0f : x;
  xc = xc < -18.0f ? -18.0f : xc;  // below -18, e^x - 1 rounds to -1
  constexpr float kMagic = 12582912.0f;
  const float t = xc * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;
  const int32_t ni = static_cast<int32_t>(as_u(t) - as_u(kMagic));
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float em = (p * r) * r + r;  // e^r - 1 without the cancellation of e^r - 1
  const float s = as_f(static_cast<uint32_t>(ni + 127) << 23);
  float res = s * em + (s - 1.0f);
  res = x > 20.0f ? exp_f(x) : res;  // the -1 no longer matters there
  return x == 0.0f ? x : res;        // keeps -0
}

// Cephes' odd polynomial below 0.625, 1 - 2 / (e^2|x| + 1) above, both on |x| with x's
// sign put back: tanh(-0) is -0 (p z x + x would give +0).
TV_INLINE float tanh_f(float x) {
  const float ax = fabs_f(x);
  const float e = exp_f(ax + ax);
  const float big = 1.0f - 2.0f / (e + 1.0f);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * ax + ax;
  return or_sign(ax < 0.625f ? small : big, x);
}

// e^-|x| never overflows, so both tails are accurate (sigmoid(-100) is 3.7e-44, not 0).
TV_INLINE float sigmoid_f(float x) {
  const float e = exp_f(-fabs_f(x));
  const float d = 1.0f / (1.0f + e);
  return x >= 0.0f ? d : e * d;
}

// erf(x) / x as a polynomial in x^2 on |x| < 1 (Chebyshev fit, error 3e-11).
TV_INLINE float erf_small(float x) {
  const float z = x * x;
  float p = -9.667044571486996e-06f;
  p = p * z + 1.1265959025606609e-04f;
  p = p * z - 8.484080405535107e-04f;
  p = p * z + 5.221031807858023e-03f;
  p = p * z - 2.6865430727670243e-02f;
  p = p * z + 1.1283782495236845e-01f;
  p = p * z - 3.761263846802871e-01f;
  p = p * z + 1.1283791670615435f;
  return p * x;
}
// a^2 as hi + lo exactly (Dekker's product with a 12-bit split), because e^-a^2
// magnifies the rounding error of a^2 by a^2.
struct Square2 {
  float hi, lo;
};
TV_INLINE Square2 square2(float a) {
  const float ah = as_f(as_u(a) & 0xfffff000u);
  const float al = a - ah;
  const float hi = a * a;
  return {hi, ((ah * ah - hi) + 2.0f * ah * al) + al * al};
}
// erfc(a) for a >= 1, given a^2 = sq.hi + sq.lo: e^-a^2 * h(1/a), h a Chebyshev fit of
// erfcx(1/u) on u in [0.1, 1] (absolute error 3.4e-9), centred at 0.55 to keep the
// coefficients small.
TV_INLINE float erfc_tail(float a, Square2 sq) {
  float ac = a < 1.0f ? 1.0f : a;
  ac = ac > 10.0f ? 10.0f : ac;
  const float v = 1.0f / ac - 0.55f;
  float h = -0.052419359773853036f;
  h = h * v + 0.06280205939538447f;
  h = h * v - 0.01758480113604317f;
  h = h * v - 0.02562760310900911f;
  h = h * v + 0.05668017420267643f;
  h = h * v - 0.06931089615928938f;
  h = h * v + 0.0449876333652747f;
  h = h * v + 0.03372434034813002f;
  h = h * v - 0.1812351433519346f;
  h = h * v + 0.4088341855253443f;
  h = h * v + 0.276294382840337f;
  const float r = exp_f(-sq.hi) * (1.0f - sq.lo) * h;
  return a > 10.5f ? 0.0f : r;
}
TV_INLINE float erf_f(float x) {
  const float ax = fabs_f(x);
  const float big = or_sign(1.0f - erfc_tail(ax, square2(ax)), x);
  const float r = ax < 1.0f ? erf_small(x) : big;
  return x != x ? x : r;
}
// erfc(x / sqrt2): (x / sqrt2)^2 is x^2 / 2, exact from x's own square.
TV_INLINE float erfc_scaled_f(float x) {
  const float z = x * 0.707106781186547524f;
  const float az = fabs_f(z);
  Square2 sq = square2(x);
  sq.hi *= 0.5f;
  sq.lo *= 0.5f;
  const float tail = erfc_tail(az, sq);
  float r = z > 0.0f ? tail : 2.0f - tail;
  r = az < 1.0f ? 1.0f - erf_small(z) : r;
  return z != z ? z : r;
}
// 0.5 x (1 + erf(x/sqrt2)) = 0.5 x erfc(-x/sqrt2): the erfc form keeps the negative tail
// accurate, where 1 + erf cancels.
TV_INLINE float gelu_erf_f(float x) { return 0.5f * x * erfc_scaled_f(-x); }
// 0.5 x (1 + tanh(y)) = x sigmoid(2y), again free of cancellation for negative x.
TV_INLINE float gelu_tanh_f(float x) {
  const float y = 0.797884560802865356f * (x + 0.044715f * x * x * x);
  return x * sigmoid_f(y + y);
}
// x sigmoid(x) = x e / (1 + e), e = e^-|x| for x < 0. e is taken scaled by 2^24 so that
// x * e stays exact down to the last denormal result instead of multiplying by a
// subnormal. Far below (x < -120.6, where exp_f clamps) e24 is 0 and the result -0.
TV_INLINE float silu_f(float x) {
  const float e24 = exp_f(-fabs_f(x), 24);
  const float e = e24 * 5.9604644775390625e-8f;  // 2^-24
  const float d = 1.0f / (1.0f + e);
  const float r = x >= 0.0f ? x * d : ((x * e24) * d) * 5.9604644775390625e-8f;
  return x == -kInf ? kNaN : r;  // -inf * sigmoid(-inf) = -inf * 0, as PyTorch
}
TV_INLINE float softplus_f(float x, float beta, float threshold) {
  const float v = x * beta;
  const float r = log1p_f(exp_f(v)) / beta;
  return v > threshold ? x : r;
}

// Round half to even for |x| < 2^23 by adding and removing 2^23; larger values (and inf)
// are already integers. The result keeps x's sign (-0.3 -> -0), as does floor/ceil's.
TV_INLINE float round_f(float x) {
  const float ax = fabs_f(x);
  float r = (ax + 8388608.0f) - 8388608.0f;
  r = ax < 8388608.0f ? r : ax;
  r = x != x ? x : r;
  return or_sign(r, x);
}
TV_INLINE float floor_f(float x) {
  const float r = round_f(x);
  return or_sign(r > x ? r - 1.0f : r, x);
}
TV_INLINE float ceil_f(float x) {
  const float r = round_f(x);
  return or_sign(r < x ? r + 1.0f : r, x);
}

// ---- loops ----

// GCC does not vectorize sqrtf without -fno-math-errno, which we do not impose on the
// whole library; intrinsics do it here.
TV_INLINE void sqrt_loop(const float* x, float* y, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_sqrt_ps(_mm512_loadu_ps(x + i)));
#elif defined(__AVX__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
#else
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
  for (; i < n; ++i) y[i] = __builtin_sqrtf(x[i]);
}

#define TV_UNARY(NAME, EXPR)                                                   \
  void NAME(const float* x, float* y, int64_t n, UnaryParams p) {              \
    (void)p;                                                                   \
    for (int64_t i = 0; i < n; ++i) {                                          \
      const float v = x[i];                                                    \
      y[i] = (EXPR);                                                           \
    }                                                                          \
  }

TV_UNARY(u_neg, -v)
TV_UNARY(u_abs, fabs_f(v))
TV_UNARY(u_sign, static_cast<float>((0.0f < v) - (v < 0.0f)))
TV_UNARY(u_exp, exp_f(v))
TV_UNARY(u_expm1, expm1_f(v))
TV_UNARY(u_log, log_f(v))
TV_UNARY(u_log1p, log1p_f(v))
TV_UNARY(u_log2, log2_f(v))
TV_UNARY(u_sin, __builtin_sinf(v))
TV_UNARY(u_cos, __builtin_cosf(v))
TV_UNARY(u_tan, __builtin_tanf(v))
TV_UNARY(u_tanh, tanh_f(v))
TV_UNARY(u_sigmoid, sigmoid_f(v))
TV_UNARY(u_erf, erf_f(v))
TV_UNARY(u_relu, v < 0.0f ? 0.0f : v)
TV_UNARY(u_gelu_erf, gelu_erf_f(v))
TV_UNARY(u_gelu_tanh, gelu_tanh_f(v))
TV_UNARY(u_silu, silu_f(v))
TV_UNARY(u_square, v * v)
TV_UNARY(u_reciprocal, 1.0f / v)
TV_UNARY(u_floor, floor_f(v))
TV_UNARY(u_ceil, ceil_f(v))
TV_UNARY(u_round, round_f(v))
TV_UNARY(u_softplus, softplus_f(v, p.a, p.b))
// NaN in x stays NaN; a low bound above the high one gives the high one (as PyTorch).
// x * slope where x is not above 0 (so NaN stays NaN, -0 gives -0 * slope), as PyTorch.
TV_UNARY(u_leaky_relu, v > 0.0f ? v : v * p.a)
TV_UNARY(u_clamp, (v < p.a ? p.a : v) > p.b ? p.b : (v < p.a ? p.a : v))
#undef TV_UNARY

void u_sqrt(const float* x, float* y, int64_t n, UnaryParams) { sqrt_loop(x, y, n); }
void u_rsqrt(const float* x, float* y, int64_t n, UnaryParams) {
  sqrt_loop(x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / y[i];
}

// NaN-propagating minimum/maximum (std::min would return the other operand).
TV_INLINE float minimum_f(float a, float b) { return (a < b || a != a) ? a : b; }
TV_INLINE float maximum_f(float a, float b) { return (a > b || a != a) ? a : b; }

#define TV_BINARY(NAME, EXPR)                                                  \
  void NAME##_vv(const float* pa, const float* pb, float* y, int64_t n) {      \
    for (int64_t i = 0; i < n; ++i) {                                          \
      const float a = pa[i], b = pb[i];                                        \
      y[i] = (EXPR);                                                           \
    }                                                                          \
  }                                                                            \
  void NAME##_vs(const float* pa, float b, float* y, int64_t n) {              \
    for (int64_t i = 0; i < n; ++i) {                                          \
      const float a = pa[i];                                                   \
      y[i] = (EXPR);                                                           \
    }                                                                          \
  }                                                                            \
  void NAME##_sv(float a, const float* pb, float* y, int64_t n) {              \
    for (int64_t i = 0; i < n; ++i) {                                          \
      const float b = pb[i];                                                   \
      y[i] = (EXPR);                                                           \
    }                                                                          \
  }

TV_BINARY(b_add, a + b)
TV_BINARY(b_sub, a - b)
TV_BINARY(b_mul, a * b)
TV_BINARY(b_div, a / b)
TV_BINARY(b_minimum, minimum_f(a, b))
TV_BINARY(b_maximum, maximum_f(a, b))
#undef TV_BINARY

// Written as integer arithmetic rather than VCVTNEPS2BF16 so that every ISA's table has it
// (AVX512-BF16 is a separate flag); it vectorizes to the same memory-bound loop.
void to_bf16_loop(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = as_u(x[i]);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    y[i] = (u & 0x7fffffffu) > 0x7f800000u ? uint16_t{0x7fc0} : static_cast<uint16_t>(rounded);
  }
}

// Four rows of the panel at a time into four sets of accumulators, so that the sums are
// four independent chains (one chain waits on each add's latency); the sets are added at
// the end. Each column's sum runs in the same order whatever the ISA's width, and a
// thread count only changes which thread runs a panel, so the result is deterministic.
void gemv_packed_loop(const float* x, const float* packed, int64_t k, int64_t n, int64_t p0, int64_t p1, float* y) {
  constexpr int64_t P = kGemvPanel;
  for (int64_t p = p0; p < p1; ++p) {
    const float* w = packed + p * k * P;
    float a0[P] = {}, a1[P] = {}, a2[P] = {}, a3[P] = {};
    int64_t i = 0;
    for (; i + 4 <= k; i += 4, w += 4 * P) {
      const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
      for (int64_t j = 0; j < P; ++j) {
        a0[j] += x0 * w[j];
        a1[j] += x1 * w[P + j];
        a2[j] += x2 * w[2 * P + j];
        a3[j] += x3 * w[3 * P + j];
      }
    }
    for (; i < k; ++i, w += P)
      for (int64_t j = 0; j < P; ++j) a0[j] += x[i] * w[j];
    const int64_t cols = n - p * P < P ? n - p * P : P;
    for (int64_t j = 0; j < cols; ++j) y[p * P + j] = (a0[j] + a1[j]) + (a2[j] + a3[j]);
  }
}
#undef TV_INLINE

}  // namespace

FloatLoops make_table(const char* isa) {
  FloatLoops t{};
  t.isa = isa;
  auto set = [&](Unary op, UnaryFn fn) { t.unary[static_cast<int>(op)] = fn; };
  set(Unary::Neg, u_neg);
  set(Unary::Abs, u_abs);
  set(Unary::Sign, u_sign);
  set(Unary::Exp, u_exp);
  set(Unary::Expm1, u_expm1);
  set(Unary::Log, u_log);
  set(Unary::Log1p, u_log1p);
  set(Unary::Log2, u_log2);
  set(Unary::Sqrt, u_sqrt);
  set(Unary::Rsqrt, u_rsqrt);
  set(Unary::Sin, u_sin);
  set(Unary::Cos, u_cos);
  set(Unary::Tan, u_tan);
  set(Unary::Tanh, u_tanh);
  set(Unary::Sigmoid, u_sigmoid);
  set(Unary::Erf, u_erf);
  set(Unary::Relu, u_relu);
  set(Unary::GeluErf, u_gelu_erf);
  set(Unary::GeluTanh, u_gelu_tanh);
  set(Unary::Silu, u_silu);
  set(Unary::Square, u_square);
  set(Unary::Reciprocal, u_reciprocal);
  set(Unary::Floor, u_floor);
  set(Unary::Ceil, u_ceil);
  set(Unary::Round, u_round);
  set(Unary::Softplus, u_softplus);
  set(Unary::Clamp, u_clamp);
  set(Unary::LeakyRelu, u_leaky_relu);
  auto setb = [&](Binary op, BinaryFn vv, BinaryScalarRhsFn vs, BinaryScalarLhsFn sv) {
    const int i = static_cast<int>(op);
    t.binary[i] = vv;
    t.binary_vs[i] = vs;
    t.binary_sv[i] = sv;
  };
  setb(Binary::Add, b_add_vv, b_add_vs, b_add_sv);
  setb(Binary::Sub, b_sub_vv, b_sub_vs, b_sub_sv);
  setb(Binary::Mul, b_mul_vv, b_mul_vs, b_mul_sv);
  setb(Binary::Div, b_div_vv, b_div_vs, b_div_sv);
  setb(Binary::Minimum, b_minimum_vv, b_minimum_vs, b_minimum_sv);
  setb(Binary::Maximum, b_maximum_vv, b_maximum_vs, b_maximum_sv);
  t.to_bf16 = to_bf16_loop;
  t.gemv_packed = gemv_packed_loop;
  return t;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
