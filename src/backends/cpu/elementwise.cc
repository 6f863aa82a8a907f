// CPU kernels of the elementwise family. float32 goes through the vectorized loops of the
// running CPU's ISA (vec/float_loops.h) for every layout: contiguous and scalar-broadcast
// operands directly, strided ones through a small gather buffer, so a result never depends
// on the layout. Other dtypes use the generic map_loop. Integer arithmetic wraps around
// (as PyTorch's does) instead of invoking signed-overflow UB.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "backends/cpu/threshold_loop.h"
#include "backends/cpu/vec/float_loops.h"
#include "core/elementwise_loop.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/registration.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;
using vec::Binary;
using vec::Unary;

template <typename T>
inline constexpr bool kIsInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// ---- wrapping integer arithmetic (floats pass through) ----
template <typename T>
T wadd(T a, T b) {
  if constexpr (kIsInt<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
T wsub(T a, T b) {
  if constexpr (kIsInt<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
T wmul(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return a && b;
  } else if constexpr (kIsInt<T>) {
    // uint8/int8 products promote to int and cannot overflow it; wider ones go unsigned.
    using U = std::conditional_t<(sizeof(T) < sizeof(int)), unsigned, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}
template <typename T>
T wneg(T a) { return wsub(T(0), a); }

template <typename T>
T nan_min(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return (a < b || a != a) ? a : b;
  else return b < a ? b : a;
}
template <typename T>
T nan_max(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return (a > b || a != a) ? a : b;
  else return a < b ? b : a;
}

// ---- running loops ----

// body(begin, end) over [0, n), split over threads when large. The std::function of
// parallel_for is only built on that path, so small calls stay cheap.
template <typename F>
void flat_for(int64_t n, F&& body) {
  if (n <= 0) return;
  if (n < kElementwiseGrain || get_num_threads() == 1 || in_parallel_region()) {
    body(int64_t{0}, n);
    return;
  }
  parallel_for(0, n, kElementwiseGrain, [&](int64_t b, int64_t e) { body(b, e); });
}

// Same elements in the same order as a contiguous `out` (no broadcasting).
bool dense_like(const Tensor& t, const Tensor& out) {
  return t.is_contiguous() && t.numel() == out.numel();
}

constexpr int64_t kBlock = 256;

template <typename T>
const T* cptr(const Tensor& t) { return static_cast<const T*>(t.data_ptr()); }
template <typename T>
T* mptr(const Tensor& t) { return static_cast<T*>(t.data_ptr()); }

void unary_f32(Unary op, vec::UnaryParams p, const Tensor& out, const Tensor& in) {
  const vec::UnaryFn fn = vec::float_loops().unary[static_cast<int>(op)];
  if (out.is_contiguous() && dense_like(in, out)) {
    const float* x = cptr<float>(in);
    float* y = mptr<float>(out);
    flat_for(out.numel(), [&](int64_t b, int64_t e) { fn(x + b, y + b, e - b, p); });
    return;
  }
  ElementwiseLoop loop({&out}, {&in});
  loop.run([&](char** ptr, const int64_t* s, int64_t n) {
    if (s[0] == 4 && s[1] == 4) {
      fn(reinterpret_cast<const float*>(ptr[1]), reinterpret_cast<float*>(ptr[0]), n, p);
      return;
    }
    float buf[kBlock];
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
      const int64_t m = std::min(kBlock, n - i0);
      for (int64_t i = 0; i < m; ++i) buf[i] = *reinterpret_cast<const float*>(ptr[1] + (i0 + i) * s[1]);
      fn(buf, buf, m, p);
      for (int64_t i = 0; i < m; ++i) *reinterpret_cast<float*>(ptr[0] + (i0 + i) * s[0]) = buf[i];
    }
  });
}

void binary_f32(Binary op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const vec::FloatLoops& t = vec::float_loops();
  const int k = static_cast<int>(op);
  if (out.is_contiguous()) {
    float* y = mptr<float>(out);
    const float* pa = cptr<float>(a);
    const float* pb = cptr<float>(b);
    const bool da = dense_like(a, out), db = dense_like(b, out);
    if (da && db) {
      flat_for(out.numel(), [&](int64_t s, int64_t e) { t.binary[k](pa + s, pb + s, y + s, e - s); });
      return;
    }
    if (da && b.numel() == 1) {
      const float bv = *pb;
      flat_for(out.numel(), [&](int64_t s, int64_t e) { t.binary_vs[k](pa + s, bv, y + s, e - s); });
      return;
    }
    if (db && a.numel() == 1) {
      const float av = *pa;
      flat_for(out.numel(), [&](int64_t s, int64_t e) { t.binary_sv[k](av, pb + s, y + s, e - s); });
      return;
    }
  }
  ElementwiseLoop loop({&out}, {&a, &b});
  loop.run([&](char** p, const int64_t* s, int64_t n) {
    if (s[0] == 4) {
      float* y = reinterpret_cast<float*>(p[0]);
      const float* pa = reinterpret_cast<const float*>(p[1]);
      const float* pb = reinterpret_cast<const float*>(p[2]);
      if (s[1] == 4 && s[2] == 4) return t.binary[k](pa, pb, y, n);
      if (s[1] == 4 && s[2] == 0) return t.binary_vs[k](pa, *pb, y, n);
      if (s[1] == 0 && s[2] == 4) return t.binary_sv[k](*pa, pb, y, n);
    }
    float ba[kBlock], bb[kBlock];
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
      const int64_t m = std::min(kBlock, n - i0);
      for (int64_t i = 0; i < m; ++i) {
        ba[i] = *reinterpret_cast<const float*>(p[1] + (i0 + i) * s[1]);
        bb[i] = *reinterpret_cast<const float*>(p[2] + (i0 + i) * s[2]);
      }
      t.binary[k](ba, bb, ba, m);
      for (int64_t i = 0; i < m; ++i) *reinterpret_cast<float*>(p[0] + (i0 + i) * s[0]) = ba[i];
    }
  });
}

// out = f(in) for float ops: f32 through the table, f64 through f.
template <typename F>
void float_unary(const KernelCall& c, Unary op, F f, vec::UnaryParams p = {}) {
  const Tensor& out = c.outputs[0];
  const Tensor& in = c.inputs[0];
  if (out.dtype() == kFloat32) return unary_f32(op, p, out, in);
  ElementwiseLoop loop({&out}, {&in});
  TESSERA_DISPATCH_FLOATING(out.dtype(), c.op.name, [&] {
    map_loop<scalar_t, scalar_t>(loop, [&](scalar_t v) { return static_cast<scalar_t>(f(v)); });
  });
}

// out = f(in) for ops that keep the dtype (ints included); f32 through the table.
template <typename F>
void numeric_unary(const KernelCall& c, Unary op, F f, vec::UnaryParams p = {}) {
  const Tensor& out = c.outputs[0];
  const Tensor& in = c.inputs[0];
  if (out.dtype() == kFloat32) return unary_f32(op, p, out, in);
  ElementwiseLoop loop({&out}, {&in});
  TESSERA_DISPATCH_NUMERIC(out.dtype(), c.op.name, [&] {
    map_loop<scalar_t, scalar_t>(loop, [&](scalar_t v) { return static_cast<scalar_t>(f(v)); });
  });
}

// out = f(a, b), all one dtype; f32 through the table when `op` is given.
template <typename F>
void numeric_binary(const KernelCall& c, std::optional<Binary> op, F f) {
  const Tensor& out = c.outputs[0];
  if (op && out.dtype() == kFloat32) return binary_f32(*op, out, c.inputs[0], c.inputs[1]);
  ElementwiseLoop loop({&out}, {&c.inputs[0], &c.inputs[1]});
  TESSERA_DISPATCH_NUMERIC(out.dtype(), c.op.name, [&] {
    map_loop<scalar_t, scalar_t, scalar_t>(
        loop, [&](scalar_t a, scalar_t b) { return static_cast<scalar_t>(f(a, b)); });
  });
}

// bool out = f(a, b) with a and b of one (compute) dtype.
template <typename F>
void predicate_binary(const KernelCall& c, F f) {
  ElementwiseLoop loop({&c.outputs[0]}, {&c.inputs[0], &c.inputs[1]});
  TESSERA_DISPATCH_NUMERIC(c.inputs[0].dtype(), c.op.name, [&] {
    map_loop<bool, scalar_t, scalar_t>(loop, [&](scalar_t a, scalar_t b) -> bool { return f(a, b); });
  });
}
template <typename F>
void predicate_unary(const KernelCall& c, F f) {
  ElementwiseLoop loop({&c.outputs[0]}, {&c.inputs[0]});
  TESSERA_DISPATCH_NUMERIC(c.inputs[0].dtype(), c.op.name, [&] {
    map_loop<bool, scalar_t>(loop, [&](scalar_t v) -> bool { return f(v); });
  });
}

// ---- arithmetic ----

void add_kernel(const KernelCall& c) {
  numeric_binary(c, Binary::Add, [](auto a, auto b) {
    if constexpr (std::is_same_v<decltype(a), bool>) return a || b;
    else return wadd(a, b);
  });
}
void sub_kernel(const KernelCall& c) {
  numeric_binary(c, Binary::Sub, [](auto a, auto b) { return wsub(a, b); });
}
void mul_kernel(const KernelCall& c) {
  numeric_binary(c, Binary::Mul, [](auto a, auto b) {
    if constexpr (std::is_same_v<decltype(a), bool>) return a && b;
    else return wmul(a, b);
  });
}
void div_kernel(const KernelCall& c) {
  numeric_binary(c, Binary::Div, [](auto a, auto b) {
    if constexpr (std::is_floating_point_v<decltype(a)>) return a / b;
    else return a;  // unreachable: div computes in a floating dtype
  });
}
void minimum_kernel(const KernelCall& c) {
  numeric_binary(c, Binary::Minimum, [](auto a, auto b) { return nan_min(a, b); });
}
void maximum_kernel(const KernelCall& c) {
  numeric_binary(c, Binary::Maximum, [](auto a, auto b) { return nan_max(a, b); });
}

// Integer division by zero is a user error (not a SIGFPE); the flag is raised inside the
// loop, possibly on several threads, and reported once the loop is done.
struct ZeroDivision {
  std::atomic<bool> hit{false};
  void check() const {
    TESSERA_CHECK(!hit.load(std::memory_order_relaxed), "integer division by zero");
  }
};

template <typename T>
T floor_div(T a, T b, ZeroDivision& z) {
  if constexpr (std::is_floating_point_v<T>) {
    // PyTorch's div_floor: exact for representable quotients, no double rounding.
    if (b == 0) return a / b;
    const T mod = std::fmod(a, b);
    T div = (a - mod) / b;
    if (mod != 0 && (b < 0) != (mod < 0)) div -= 1;
    if (div == 0) return std::copysign(T(0), a / b);
    T fl = std::floor(div);
    if (div - fl > T(0.5)) fl += 1;
    return fl;
  } else {
    if (b == 0) {
      z.hit.store(true, std::memory_order_relaxed);
      return T(0);
    }
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return wneg(a);  // INT_MIN / -1 would trap
      T q = static_cast<T>(a / b);
      if (static_cast<T>(a % b) != 0 && ((a < 0) != (b < 0))) --q;
      return q;
    } else {
      return static_cast<T>(a / b);
    }
  }
}
template <typename T>
T py_remainder(T a, T b, ZeroDivision& z) {
  if constexpr (std::is_floating_point_v<T>) {
    T mod = std::fmod(a, b);
    if (mod != 0 && (b < 0) != (mod < 0)) mod += b;
    return mod;
  } else {
    if (b == 0) {
      z.hit.store(true, std::memory_order_relaxed);
      return T(0);
    }
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return T(0);
      T r = static_cast<T>(a % b);
      if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
      return r;
    } else {
      return static_cast<T>(a % b);
    }
  }
}
void floor_divide_kernel(const KernelCall& c) {
  ZeroDivision z;
  numeric_binary(c, std::nullopt, [&](auto a, auto b) {
    if constexpr (std::is_same_v<decltype(a), bool>) return a;
    else return floor_div(a, b, z);
  });
  z.check();
}
void remainder_kernel(const KernelCall& c) {
  ZeroDivision z;
  numeric_binary(c, std::nullopt, [&](auto a, auto b) {
    if constexpr (std::is_same_v<decltype(a), bool>) return a;
    else return py_remainder(a, b, z);
  });
  z.check();
}

template <typename T>
T int_pow(T base, T exp) {
  if constexpr (std::is_signed_v<T>) {
    if (exp < 0) {  // only +-1 have integer reciprocals
      if (base == 1) return 1;
      if (base == -1) return (exp & 1) ? T(-1) : T(1);
      return 0;
    }
  }
  T result = 1;
  while (exp) {
    if (exp & 1) result = wmul(result, base);
    exp = static_cast<T>(exp >> 1);
    base = wmul(base, base);
  }
  return result;
}

// PyTorch computes a float tensor to a scalar power (pow(x, 0.5), not pow(x, tensor)) with
// other functions for some exponents, and their special values are not pow's: sqrt(-0) is
// -0 where pow(-0, 0.5) is +0, sqrt(-inf) is NaN where pow(-inf, 0.5) is +inf, and
// 1 / sqrt(-0) is -inf. Tessera follows it, so pow(x, 0.5) and sqrt(x) agree.
enum class PowForm { General, Square, Cube, Sqrt, Rsqrt, Reciprocal, InverseSquare };
PowForm pow_form(double e) {
  if (e == 2.0) return PowForm::Square;
  if (e == 3.0) return PowForm::Cube;
  if (e == 0.5) return PowForm::Sqrt;
  if (e == -0.5) return PowForm::Rsqrt;
  if (e == -1.0) return PowForm::Reciprocal;
  if (e == -2.0) return PowForm::InverseSquare;
  return PowForm::General;
}

template <typename T>
void pow_scalar_exponent(const Tensor& out, const Tensor& x, PowForm form, T e) {
  ElementwiseLoop loop({&out}, {&x});
  switch (form) {
    case PowForm::Square: return map_loop<T, T>(loop, [](T v) { return v * v; });
    case PowForm::Cube: return map_loop<T, T>(loop, [](T v) { return v * v * v; });
    case PowForm::Sqrt: return map_loop<T, T>(loop, [](T v) { return std::sqrt(v); });
    case PowForm::Rsqrt: return map_loop<T, T>(loop, [](T v) { return T(1) / std::sqrt(v); });
    case PowForm::Reciprocal: return map_loop<T, T>(loop, [](T v) { return T(1) / v; });
    case PowForm::InverseSquare: return map_loop<T, T>(loop, [](T v) { return T(1) / (v * v); });
    case PowForm::General: return map_loop<T, T>(loop, [e](T v) { return std::pow(v, e); });
  }
}

void pow_kernel(const KernelCall& c) {
  const Tensor& out = c.outputs[0];
  const Tensor& x = c.inputs[0];
  const Tensor& b = c.inputs[1];
  if (is_floating(out.dtype()) && ops::is_wrapped_scalar(b) && x.sizes().equals(out.sizes())) {
    const PowForm form = pow_form(b.item<double>());
    if (out.dtype() == kFloat32) {
      // The common exponents run on the vectorized unary loops.
      std::optional<Unary> op;
      if (form == PowForm::Square) op = Unary::Square;
      else if (form == PowForm::Sqrt) op = Unary::Sqrt;
      else if (form == PowForm::Reciprocal) op = Unary::Reciprocal;
      else if (form == PowForm::Rsqrt) op = Unary::Rsqrt;
      if (op) return unary_f32(*op, {}, out, x);
    }
    return TESSERA_DISPATCH_FLOATING(out.dtype(), "pow", [&] {
      pow_scalar_exponent<scalar_t>(out, x, form, b.item<scalar_t>());
    });
  }
  numeric_binary(c, std::nullopt, [](auto a, auto e) {
    using T = decltype(a);
    if constexpr (std::is_floating_point_v<T>) return std::pow(a, e);
    else if constexpr (std::is_same_v<T, bool>) return a || !e;
    else return int_pow(a, e);
  });
}

void atan2_kernel(const KernelCall& c) {
  ElementwiseLoop loop({&c.outputs[0]}, {&c.inputs[0], &c.inputs[1]});
  TESSERA_DISPATCH_FLOATING(c.outputs[0].dtype(), "atan2", [&] {
    map_loop<scalar_t, scalar_t, scalar_t>(loop, [](scalar_t a, scalar_t b) { return std::atan2(a, b); });
  });
}

// ---- unary ----

// Floats flip the sign bit (-x): 0 - x would make neg(+0) +0, not -0.
void neg_kernel(const KernelCall& c) {
  numeric_unary(c, Unary::Neg, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return -v;
    else return wneg(v);
  });
}
void abs_kernel(const KernelCall& c) {
  numeric_unary(c, Unary::Abs, [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_floating_point_v<T>) return std::fabs(v);
    else if constexpr (std::is_signed_v<T>) return v < 0 ? wneg(v) : v;
    else return v;
  });
}
void sign_kernel(const KernelCall& c) {
  numeric_unary(c, Unary::Sign, [](auto v) {
    using T = decltype(v);
    if constexpr (std::is_unsigned_v<T>) return static_cast<T>(v > 0);
    else return static_cast<T>((T(0) < v) - (v < T(0)));
  });
}
void relu_kernel(const KernelCall& c) {
  numeric_unary(c, Unary::Relu, [](auto v) { return v < decltype(v)(0) ? decltype(v)(0) : v; });
}
void square_kernel(const KernelCall& c) {
  numeric_unary(c, Unary::Square, [](auto v) { return wmul(v, v); });
}
void floor_kernel(const KernelCall& c) {
  numeric_unary(c, Unary::Floor, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::floor(v);
    else return v;
  });
}
void ceil_kernel(const KernelCall& c) {
  numeric_unary(c, Unary::Ceil, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::ceil(v);
    else return v;
  });
}
void round_kernel(const KernelCall& c) {
  numeric_unary(c, Unary::Round, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::nearbyint(v);  // ties to even
    else return v;
  });
}

double sigmoid_d(double x) {
  const double e = std::exp(-std::fabs(x));
  return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

void exp_kernel(const KernelCall& c) { float_unary(c, Unary::Exp, [](double v) { return std::exp(v); }); }
void expm1_kernel(const KernelCall& c) { float_unary(c, Unary::Expm1, [](double v) { return std::expm1(v); }); }
void log_kernel(const KernelCall& c) { float_unary(c, Unary::Log, [](double v) { return std::log(v); }); }
void log1p_kernel(const KernelCall& c) { float_unary(c, Unary::Log1p, [](double v) { return std::log1p(v); }); }
void log2_kernel(const KernelCall& c) { float_unary(c, Unary::Log2, [](double v) { return std::log2(v); }); }
void sqrt_kernel(const KernelCall& c) { float_unary(c, Unary::Sqrt, [](double v) { return std::sqrt(v); }); }
void rsqrt_kernel(const KernelCall& c) { float_unary(c, Unary::Rsqrt, [](double v) { return 1.0 / std::sqrt(v); }); }
void sin_kernel(const KernelCall& c) { float_unary(c, Unary::Sin, [](double v) { return std::sin(v); }); }
void cos_kernel(const KernelCall& c) { float_unary(c, Unary::Cos, [](double v) { return std::cos(v); }); }
void tan_kernel(const KernelCall& c) { float_unary(c, Unary::Tan, [](double v) { return std::tan(v); }); }
void tanh_kernel(const KernelCall& c) { float_unary(c, Unary::Tanh, [](double v) { return std::tanh(v); }); }
void sigmoid_kernel(const KernelCall& c) { float_unary(c, Unary::Sigmoid, sigmoid_d); }
void erf_kernel(const KernelCall& c) { float_unary(c, Unary::Erf, [](double v) { return std::erf(v); }); }
// Below -700, sigmoid(x) ~ e^x is near or below the smallest normal double and keeps few
// bits; x e^x is then taken in long double (whose range goes far below), so silu(-745) is
// -2.1e-321 and not 745 times the rounded 4.9e-324.
void silu_kernel(const KernelCall& c) {
  float_unary(c, Unary::Silu, [](double v) {
    if (v < -700.0) {
      const long double x = v, e = std::exp(x);
      return static_cast<double>(x * e / (1.0L + e));
    }
    return v * sigmoid_d(v);
  });
}
void reciprocal_kernel(const KernelCall& c) { float_unary(c, Unary::Reciprocal, [](double v) { return 1.0 / v; }); }
void gelu_kernel(const KernelCall& c) {
  if (c.attrs.get<std::string>("approximate") == "tanh") {
    float_unary(c, Unary::GeluTanh, [](double x) {
      const double y = 0.7978845608028654 * (x + 0.044715 * x * x * x);
      return x * sigmoid_d(2.0 * y);
    });
  } else {
    // erfc(z) has relative condition 2 z^2: rounding z = -x / sqrt(2) in double would cost
    // hundreds of ulps in the tail (gelu(-30) = -1.5e-196), so z and erfc are long double.
    float_unary(c, Unary::GeluErf, [](double x) {
      const long double lx = x;
      constexpr long double kInvSqrt2 = 0.707106781186547524400844362104849039L;
      return static_cast<double>(0.5L * lx * std::erfc(-lx * kInvSqrt2));
    });
  }
}
void softplus_kernel(const KernelCall& c) {
  const double beta = c.attrs.f("beta"), threshold = c.attrs.f("threshold");
  float_unary(
      c, Unary::Softplus,
      [=](double x) { return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta; },
      {static_cast<float>(beta), static_cast<float>(threshold)});
}

void leaky_relu_kernel(const KernelCall& c) {
  const double slope = c.attrs.f("negative_slope");
  // float32 multiplies by the slope rounded to float, as PyTorch's kernel does.
  float_unary(c, Unary::LeakyRelu, [=](double x) { return x > 0 ? x : x * slope; }, {static_cast<float>(slope)});
}

void clamp_kernel(const KernelCall& c) {
  const Scalar lo = c.attrs.scalar("min"), hi = c.attrs.scalar("max");
  const bool has_lo = c.attrs.b("has_min"), has_hi = c.attrs.b("has_max");
  const Tensor& out = c.outputs[0];
  // PyTorch 1.13: with both bounds given, a NaN bound makes every element NaN (its clamp
  // is minimum(maximum(x, min), max), which propagate NaN); a single NaN bound (clamp_min,
  // clamp_max) is ignored. A NaN x stays NaN either way, and min > max gives max.
  if (has_lo && has_hi && is_floating(out.dtype()) &&
      (std::isnan(lo.to<double>()) || std::isnan(hi.to<double>()))) {
    ElementwiseLoop loop({&out}, {&c.inputs[0]});
    return TESSERA_DISPATCH_FLOATING(out.dtype(), "clamp", [&] {
      constexpr scalar_t nan = std::numeric_limits<scalar_t>::quiet_NaN();
      map_loop<scalar_t, scalar_t>(loop, [](scalar_t) { return nan; });
    });
  }
  if (out.dtype() == kFloat32) {
    const float inf = std::numeric_limits<float>::infinity();
    return unary_f32(Unary::Clamp,
                     {has_lo ? lo.to<float>() : -inf, has_hi ? hi.to<float>() : inf}, out,
                     c.inputs[0]);
  }
  ElementwiseLoop loop({&out}, {&c.inputs[0]});
  TESSERA_DISPATCH_NUMERIC(out.dtype(), "clamp", [&] {
    const scalar_t l = has_lo ? lo.to<scalar_t>() : std::numeric_limits<scalar_t>::lowest();
    const scalar_t h = has_hi ? hi.to<scalar_t>() : std::numeric_limits<scalar_t>::max();
    map_loop<scalar_t, scalar_t>(loop, [=](scalar_t v) -> scalar_t {
      const scalar_t r = (has_lo && v < l) ? l : v;
      return (has_hi && r > h) ? h : r;
    });
  });
}
void clamp_tensor_kernel(const KernelCall& c) {
  ElementwiseLoop loop({&c.outputs[0]}, {&c.inputs[0], &c.inputs[1], &c.inputs[2]});
  TESSERA_DISPATCH_NUMERIC(c.outputs[0].dtype(), "clamp", [&] {
    map_loop<scalar_t, scalar_t, scalar_t, scalar_t>(
        loop, [](scalar_t v, scalar_t l, scalar_t h) { return nan_min(nan_max(v, l), h); });
  });
}

// ---- comparisons, logic, tests ----

void eq_kernel(const KernelCall& c) { predicate_binary(c, [](auto a, auto b) { return a == b; }); }
void ne_kernel(const KernelCall& c) { predicate_binary(c, [](auto a, auto b) { return a != b; }); }
void lt_kernel(const KernelCall& c) { predicate_binary(c, [](auto a, auto b) { return a < b; }); }
void le_kernel(const KernelCall& c) { predicate_binary(c, [](auto a, auto b) { return a <= b; }); }
void gt_kernel(const KernelCall& c) { predicate_binary(c, [](auto a, auto b) { return a > b; }); }
void ge_kernel(const KernelCall& c) { predicate_binary(c, [](auto a, auto b) { return a >= b; }); }
void logical_and_kernel(const KernelCall& c) {
  predicate_binary(c, [](auto a, auto b) { return static_cast<bool>(a) && static_cast<bool>(b); });
}
void logical_or_kernel(const KernelCall& c) {
  predicate_binary(c, [](auto a, auto b) { return static_cast<bool>(a) || static_cast<bool>(b); });
}
void logical_xor_kernel(const KernelCall& c) {
  predicate_binary(c, [](auto a, auto b) { return static_cast<bool>(a) != static_cast<bool>(b); });
}
void logical_not_kernel(const KernelCall& c) {
  predicate_unary(c, [](auto v) { return !static_cast<bool>(v); });
}
void isnan_kernel(const KernelCall& c) {
  predicate_unary(c, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return v != v;
    else return false;
  });
}
void isinf_kernel(const KernelCall& c) {
  predicate_unary(c, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return std::fabs(v) == std::numeric_limits<decltype(v)>::infinity();
    else return false;
  });
}
void isfinite_kernel(const KernelCall& c) {
  predicate_unary(c, [](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) return v - v == 0;  // false for inf, NaN
    else return true;
  });
}
// nan_to_num over contiguous floats in 16-byte vector lanes (GCC/Clang vector types: SSE2
// at the baseline ISA): three compare-and-selects, where the per-element ternary chain ran
// scalar (0.65 ms for [64, 64, 12, 12] floats at 1 thread). o may be x (the in-place op).
template <typename T>
void nan_to_num_run(T* o, const T* x, int64_t n, T nan, T pos, T neg) {
  using V [[gnu::vector_size(16)]] = T;
  constexpr int64_t kPerV = 16 / sizeof(T);
  constexpr T inf = std::numeric_limits<T>::infinity();
  // Broadcast lane by lane: V{} + -0.0 would be +0 (nan_to_num(x, nan=-0.0) keeps the sign).
  V nan_v{}, pos_v{}, neg_v{};
  for (int64_t l = 0; l < kPerV; ++l) {
    nan_v[l] = nan;
    pos_v[l] = pos;
    neg_v[l] = neg;
  }
  int64_t i = 0;
  for (; i + kPerV <= n; i += kPerV) {
    V v;
    std::memcpy(&v, x + i, sizeof v);
    V r = v != v ? nan_v : v;
    r = v == inf ? pos_v : r;
    r = v == -inf ? neg_v : r;
    std::memcpy(o + i, &r, sizeof r);
  }
  for (; i < n; ++i) {
    const T v = x[i];
    o[i] = v != v ? nan : v == inf ? pos : v == -inf ? neg : v;
  }
}

void nan_to_num_kernel(const KernelCall& c) {
  const double nan = c.attrs.f("nan"), pos = c.attrs.f("posinf"), neg = c.attrs.f("neginf");
  const Tensor &out = c.outputs[0], &in = c.inputs[0];
  if ((out.dtype() == kFloat32 || out.dtype() == kFloat64) && in.dtype() == out.dtype() && out.is_contiguous() &&
      in.is_contiguous() && in.numel() == out.numel()) {
    auto run = [&](auto zero) {
      using T = decltype(zero);
      T* o = out.data<T>();
      const T* x = in.data<T>();
      parallel_for(0, out.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) {
        nan_to_num_run(o + b, x + b, e - b, static_cast<T>(nan), static_cast<T>(pos), static_cast<T>(neg));
      });
    };
    if (out.dtype() == kFloat32) run(0.f);
    else run(0.0);
    return;
  }
  ElementwiseLoop loop({&c.outputs[0]}, {&c.inputs[0]});
  TESSERA_DISPATCH_NUMERIC(c.outputs[0].dtype(), "nan_to_num", [&] {
    if constexpr (std::is_floating_point_v<scalar_t>) {
      constexpr scalar_t inf = std::numeric_limits<scalar_t>::infinity();
      const scalar_t n = static_cast<scalar_t>(nan), p = static_cast<scalar_t>(pos),
                     m = static_cast<scalar_t>(neg);
      map_loop<scalar_t, scalar_t>(loop, [=](scalar_t v) {
        return v != v ? n : v == inf ? p : v == -inf ? m : v;
      });
    } else {
      map_loop<scalar_t, scalar_t>(loop, [](scalar_t v) { return v; });
    }
  });
}

// o[i] = m[i] ? x[i] : y[i], x or y possibly one broadcast value. Floats select by bit
// masks (exact, NaN and infinities included), which vectorizes where the ternary on a
// bool compiled to a branch per element: with masks from data, a misprediction each.
template <typename T>
void select_loop(T* __restrict o, const uint8_t* __restrict m, const T* __restrict x, bool x_scalar,
                 const T* __restrict y, bool y_scalar, int64_t n) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    const U* xb = reinterpret_cast<const U*>(x);
    const U* yb = reinterpret_cast<const U*>(y);
    U* ob = reinterpret_cast<U*>(o);
    const U xs = xb[0], ys = yb[0];
    auto run = [&](auto get_x, auto get_y) {
      for (int64_t i = 0; i < n; ++i) {
        const U mask = U(0) - static_cast<U>(m[i] != 0);
        ob[i] = (get_x(i) & mask) | (get_y(i) & ~mask);
      }
    };
    auto vec_x = [&](int64_t i) { return xb[i]; };
    auto one_x = [&](int64_t) { return xs; };
    auto vec_y = [&](int64_t i) { return yb[i]; };
    auto one_y = [&](int64_t) { return ys; };
    if (!x_scalar && y_scalar) {
      run(vec_x, one_y);
    } else if (x_scalar && !y_scalar) {
      run(one_x, vec_y);
    } else if (!x_scalar && !y_scalar) {
      run(vec_x, vec_y);
    } else {
      run(one_x, one_y);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = m[i] ? (x_scalar ? x[0] : x[i]) : (y_scalar ? y[0] : y[i]);
  }
}

void threshold_backward_kernel(const KernelCall& c) {
  const Tensor& out = c.outputs[0];
  const Tensor g = contiguous(c.inputs[0]), y = contiguous(c.inputs[1]);
  const double t = c.attrs.f("threshold");
  const int64_t n = out.numel();
  auto run = [&](auto* o, const auto* gp, const auto* yp, auto tv) {
    parallel_for(0, n, kElementwiseGrain, [&](int64_t b, int64_t e) {
      threshold_backward_loop(o + b, gp + b, yp + b, tv, e - b);
    });
  };
  if (out.dtype() == DType::Float64) {
    run(out.data<double>(), g.data<double>(), y.data<double>(), t);
  } else {
    run(out.data<float>(), g.data<float>(), y.data<float>(), static_cast<float>(t));
  }
}

void where_kernel(const KernelCall& c) {
  const Tensor& out = c.outputs[0];
  const Tensor a = cast(c.inputs[1], out.dtype()), b = cast(c.inputs[2], out.dtype());
  ElementwiseLoop loop({&out}, {&c.inputs[0], &a, &b});
  TESSERA_DISPATCH_ALL(out.dtype(), "where", [&] {
    using T = scalar_t;
    constexpr int64_t t = sizeof(T);
    // Gradients of ReLU, clamp, abs... are where(mask, g, 0): a scalar on one side. map_loop
    // would take its strided (per-element address) path for the broadcast operand; these
    // loops keep it in a register and vectorize.
    loop.run([&](char** p, const int64_t* s, int64_t n) {
      if (s[0] == t && s[1] == 1 && (s[2] == t || s[2] == 0) && (s[3] == t || s[3] == 0)) {
        select_loop<T>(reinterpret_cast<T*>(p[0]), reinterpret_cast<const uint8_t*>(p[1]),
                       reinterpret_cast<const T*>(p[2]), s[2] == 0, reinterpret_cast<const T*>(p[3]), s[3] == 0, n);
        return;
      }
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const bool*>(p[1] + i * s[1])
                                                      ? *reinterpret_cast<const T*>(p[2] + i * s[2])
                                                      : *reinterpret_cast<const T*>(p[3] + i * s[3]);
    });
  });
}
void masked_fill_kernel(const KernelCall& c) {
  const Tensor& out = c.outputs[0];
  const Scalar& value = c.attrs.scalar("value");
  ElementwiseLoop loop({&out}, {&c.inputs[0], &c.inputs[1]});
  TESSERA_DISPATCH_ALL(out.dtype(), "masked_fill", [&] {
    using T = scalar_t;
    constexpr int64_t t = sizeof(T);
    const T v = value.to<T>();
    // select_loop, as where's: `m ? v : x` compiled to a branch per element, 25x slower
    // on a random mask.
    loop.run([&](char** p, const int64_t* s, int64_t n) {
      if (s[0] == t && (s[1] == t || s[1] == 0) && s[2] == 1) {
        select_loop<T>(reinterpret_cast<T*>(p[0]), reinterpret_cast<const uint8_t*>(p[2]), &v, true,
                       reinterpret_cast<const T*>(p[1]), s[1] == 0, n);
        return;
      }
      if (s[0] == t && s[1] == t && s[2] == 0) {  // a broadcast mask: one choice for the run
        T* o = reinterpret_cast<T*>(p[0]);
        const T* x = reinterpret_cast<const T*>(p[1]);
        if (*reinterpret_cast<const bool*>(p[2])) std::fill(o, o + n, v);
        else if (o != x) std::copy(x, x + n, o);  // (an in-place masked_fill_ has o == x)
        return;
      }
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<T*>(p[0] + i * s[0]) =
            *reinterpret_cast<const bool*>(p[2] + i * s[2]) ? v : *reinterpret_cast<const T*>(p[1] + i * s[1]);
    });
  });
}

}  // namespace

void register_elementwise_kernels() {
  using namespace ops;  // NOLINT: the OpDefs and masks
  const uint32_t num = kNumericMask, num_bool = kNumericMask | dtype_bit(kBool);
  struct Entry {
    const OpDef& op;
    KernelFn fn;
    uint32_t mask;
  };
  const Entry entries[] = {
      {kAdd, add_kernel, num_bool},           {kSub, sub_kernel, num},
      {kMul, mul_kernel, num_bool},           {kDiv, div_kernel, kFloatMask},
      {kFloorDivide, floor_divide_kernel, num}, {kRemainder, remainder_kernel, num},
      {kPow, pow_kernel, num},                {kMinimum, minimum_kernel, num_bool},
      {kMaximum, maximum_kernel, num_bool},   {kAtan2, atan2_kernel, kFloatMask},
      {kNeg, neg_kernel, num},                {kAbs, abs_kernel, num},
      {kSign, sign_kernel, num},              {kExp, exp_kernel, kFloatMask},
      {kExpm1, expm1_kernel, kFloatMask},     {kLog, log_kernel, kFloatMask},
      {kLog1p, log1p_kernel, kFloatMask},     {kLog2, log2_kernel, kFloatMask},
      {kSqrt, sqrt_kernel, kFloatMask},       {kRsqrt, rsqrt_kernel, kFloatMask},
      {kSin, sin_kernel, kFloatMask},         {kCos, cos_kernel, kFloatMask},
      {kTan, tan_kernel, kFloatMask},         {kTanh, tanh_kernel, kFloatMask},
      {kSigmoid, sigmoid_kernel, kFloatMask}, {kErf, erf_kernel, kFloatMask},
      {kRelu, relu_kernel, num},              {kGelu, gelu_kernel, kFloatMask},
      {kSilu, silu_kernel, kFloatMask},       {kSoftplus, softplus_kernel, kFloatMask}, {kLeakyRelu, leaky_relu_kernel, kFloatMask},
      {kSquare, square_kernel, num},          {kReciprocal, reciprocal_kernel, kFloatMask},
      {kFloor, floor_kernel, num},            {kCeil, ceil_kernel, num},
      {kRound, round_kernel, num},            {kClamp, clamp_kernel, num},
      {kClampTensor, clamp_tensor_kernel, num}, {kEq, eq_kernel, num_bool},
      {kNe, ne_kernel, num_bool},             {kLt, lt_kernel, num_bool},
      {kLe, le_kernel, num_bool},             {kGt, gt_kernel, num_bool},
      {kGe, ge_kernel, num_bool},             {kLogicalAnd, logical_and_kernel, num_bool},
      {kLogicalOr, logical_or_kernel, num_bool}, {kLogicalXor, logical_xor_kernel, num_bool},
      {kLogicalNot, logical_not_kernel, num_bool}, {kWhere, where_kernel, kAllMask},
      {kIsNan, isnan_kernel, num_bool},       {kIsInf, isinf_kernel, num_bool},
      {kIsFinite, isfinite_kernel, num_bool}, {kNanToNum, nan_to_num_kernel, num_bool},
      {kMaskedFill, masked_fill_kernel, kAllMask},
      {kThresholdBackward, threshold_backward_kernel, kFloatMask},
  };
  for (const Entry& e : entries) register_kernel(e.op, Device::CPU, e.fn, e.mask);
}

}  // namespace tessera::cpu
