// The elementwise family: OpDefs with their shape/dtype rules, the public functions of
// ops.h's "elementwise" section, the in-place forms and the Tensor methods built on them.
#include "ops/elementwise.h"

#include <cmath>
#include <limits>

#include "core/elementwise_loop.h"
#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

using In = std::vector<InputMeta>;

// Broadcast of two or three shapes, with a message that needs no op name (the dispatcher
// adds it, and the inputs, in front).
Shape broadcast(IntArrayRef a, IntArrayRef b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TESSERA_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ",
                  shape_str(b), " are not broadcastable (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}
Shape broadcast(const In& in) {
  Shape s = in[0].sizes();
  for (size_t i = 1; i < in.size(); ++i) s = broadcast(s, in[i].sizes());
  return s;
}

InferResult infer_sub(const In& in, const Attrs& attrs) {
  InferResult r = infer_binary_arith(in, attrs);
  TESSERA_CHECK(r.outputs[0].dtype != DType::Bool,
                "bool tensors cannot be subtracted; use logical_xor instead");
  return r;
}
// True division and atan2: integer inputs give the default float.
InferResult infer_binary_float(const In& in, const Attrs&) {
  const DType dt = float_op_dtype(result_type(in));
  return {{{broadcast(in[0].sizes(), in[1].sizes()), dt}}, dt};
}
InferResult infer_pow(const In& in, const Attrs& attrs) {
  InferResult r = infer_binary_arith(in, attrs);
  if (r.outputs[0].dtype == DType::Bool) r.outputs[0].dtype = *(r.input_dtype = DType::Int64);
  return r;
}
InferResult infer_compare(const In& in, const Attrs&) {
  return {{{broadcast(in[0].sizes(), in[1].sizes()), DType::Bool}}, result_type(in)};
}
InferResult infer_unary_float(const In& in, const Attrs&) {
  const DType dt = float_op_dtype(in[0].dtype());
  return {{{in[0].sizes(), dt}}, dt};
}
// PyTorch refuses integer inputs here ("not implemented for 'Long'") rather than promote.
InferResult infer_float_only(const In& in, const Attrs&) {
  TESSERA_CHECK(is_floating(in[0].dtype()), "expected a floating-point input, got ", in[0].describe());
  return {{{in[0].sizes(), in[0].dtype()}}, std::nullopt};
}
InferResult infer_unary_same(const In& in, const Attrs&) {
  return {{{in[0].sizes(), in[0].dtype()}}, std::nullopt};
}
InferResult infer_neg(const In& in, const Attrs& attrs) {
  TESSERA_CHECK(in[0].dtype() != DType::Bool,
                "negating a bool tensor is not supported; use logical_not instead");
  return infer_unary_same(in, attrs);
}
InferResult infer_square(const In& in, const Attrs&) {
  const DType dt = in[0].dtype() == DType::Bool ? DType::Int64 : in[0].dtype();
  return {{{in[0].sizes(), dt}}, dt};
}
InferResult infer_unary_bool(const In& in, const Attrs&) {
  return {{{in[0].sizes(), DType::Bool}}, std::nullopt};
}
InferResult infer_gelu(const In& in, const Attrs& attrs) {
  const std::string& approx = attrs.get<std::string>("approximate");
  TESSERA_CHECK(approx == "none" || approx == "tanh",
                "approximate must be \"none\" or \"tanh\", got \"", approx, "\"");
  return infer_unary_float(in, attrs);
}
InferResult infer_clamp(const In& in, const Attrs& attrs) {
  const bool has_min = attrs.b("has_min"), has_max = attrs.b("has_max");
  TESSERA_CHECK(has_min || has_max, "at least one of min and max must be given");
  const DType xt = in[0].dtype();
  DType dt = xt;
  const bool float_bound = (has_min && attrs.scalar("min").is_floating()) ||
                           (has_max && attrs.scalar("max").is_floating());
  if (!is_floating(xt) && float_bound) dt = DType::Float32;
  else if (xt == DType::Bool) dt = DType::Int64;
  return {{{in[0].sizes(), dt}}, dt};
}
InferResult infer_clamp_tensor(const In& in, const Attrs&) {
  const DType dt = result_type(in);
  return {{{broadcast(in), dt}}, dt};
}
InferResult infer_where(const In& in, const Attrs&) {
  TESSERA_CHECK(in[0].dtype() == DType::Bool, "the condition must be a bool tensor, got ",
                dtype_name(in[0].dtype()));
  return {{{broadcast(in), result_type({in[1], in[2]})}}, std::nullopt};
}
InferResult infer_masked_fill(const In& in, const Attrs&) {
  TESSERA_CHECK(in[1].dtype() == DType::Bool, "the mask must be a bool tensor, got ",
                dtype_name(in[1].dtype()));
  const Shape s = broadcast(in[0].sizes(), in[1].sizes());
  TESSERA_CHECK(IntArrayRef(s).equals(in[0].sizes()), "mask of shape ",
                shape_str(in[1].sizes()), " does not broadcast to the input's shape ",
                shape_str(in[0].sizes()));
  return {{{in[0].sizes(), in[0].dtype()}}, std::nullopt};
}

constexpr uint32_t kEw = kElementwise;
constexpr uint32_t kEwD = kElementwise | kDifferentiable;

}  // namespace

InferResult infer_binary_arith(const std::vector<InputMeta>& in, const Attrs&) {
  const DType dt = result_type(in);
  return {{{broadcast(in[0].sizes(), in[1].sizes()), dt}}, dt};
}

// ---- backward rules ----
// Each rule sits beside its OpDef. They are written with ops, never kernels, so that with
// create_graph the gradient is itself differentiable (gradgradcheck, Hessian-vector
// products). Binary ops broadcast, so their gradients are summed back to each input's shape.
// Where a formula has a point to exclude (0^0, log 0), the excluded value is replaced
// before the risky op rather than masked after it: a NaN in an unselected branch of
// `where` would come back as 0 * inf = NaN in the second derivative.
namespace {
// g where cond holds, 0 elsewhere.
Tensor keep_where(const Tensor& cond, const Tensor& g) { return where(cond, g, 0.0); }
// The gradient for input i computed by f (at the output's shape), summed back to the
// input's shape; undefined when the input needs none (the work is skipped).
template <typename F>
Tensor input_grad(const BackwardCall& c, size_t i, F&& f) {
  return c.needs(i) ? sum_to(f(), c.input_sizes(i)) : Tensor();
}
// Piecewise-constant ops (floor, sign, ...): zero almost everywhere, as PyTorch defines it.
Tensor zero_grad(const BackwardCall& c, size_t i) {
  return c.needs(i) ? zeros(c.input_sizes(i), c.input_dtype(i)) : Tensor();
}
std::vector<Tensor> zero_backward(const BackwardCall& c) {
  std::vector<Tensor> r;
  for (size_t i = 0; i < c.num_inputs(); ++i) r.push_back(zero_grad(c, i));
  return r;
}

std::vector<Tensor> add_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {input_grad(c, 0, [&] { return g; }), input_grad(c, 1, [&] { return g; })};
}
std::vector<Tensor> sub_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {input_grad(c, 0, [&] { return g; }), input_grad(c, 1, [&] { return neg(g); })};
}
std::vector<Tensor> mul_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {input_grad(c, 0, [&] { return mul(g, c.input(1)); }),
          input_grad(c, 1, [&] { return mul(g, c.input(0)); })};
}
// d(a/b) = da / b - a db / b^2.
std::vector<Tensor> div_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {input_grad(c, 0, [&] { return div(g, c.input(1)); }),
          input_grad(c, 1, [&] {
            const Tensor& b = c.input(1);
            return neg(div(mul(g, c.input(0)), mul(b, b)));
          })};
}
}  // namespace

OpDef kAdd{"add", 2, kEwD, {}, infer_binary_arith, nullptr, "Add", add_backward};
OpDef kSub{"sub", 2, kEwD, {}, infer_sub, nullptr, "Sub", sub_backward};
OpDef kMul{"mul", 2, kEwD, {}, infer_binary_arith, nullptr, "Mul", mul_backward};
OpDef kDiv{"div", 2, kEwD, {}, infer_binary_float, nullptr, "Div", div_backward};
// Floor division is piecewise constant: zero gradients for both inputs (as PyTorch).
OpDef kFloorDivide{"floor_divide", 2, kEwD, {}, infer_binary_arith, nullptr, nullptr, zero_backward};

namespace {
// remainder(a, b) = a - floor(a / b) * b: da = g, db = -g * floor(a / b).
std::vector<Tensor> remainder_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {input_grad(c, 0, [&] { return g; }), input_grad(c, 1, [&] {
            return neg(mul(g, floor_divide(c.input(0), c.input(1))));
          })};
}
// PyTorch's formulas: d/da a^b = b a^(b-1), taken as 0 where b == 0 (so 0^0 has gradient 0,
// not 0 * inf); d/db a^b = a^b log(a), taken as 0 where a == 0 and b >= 0 (the limit);
// a negative base gives NaN there, as log does.
std::vector<Tensor> pow_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  return {input_grad(c, 0, [&] {
            // b == 0: a^0 times b is 0 with no infinite intermediate at a == 0.
            const Tensor exponent = where(ne(b, 0), sub(b, 1), 0.0);
            return mul(g, mul(b, pow(a, exponent)));
          }),
          input_grad(c, 1, [&] {
            const Tensor limit = logical_and(eq(a, 0), ge(b, 0));
            // A 0-d 1 of the gradient's dtype, not a wrapped scalar: for a Scalar base
            // both branches would be wrapped, and promotion would take log in float32.
            Tensor safe_a = where(logical_not(limit), a, ones({}, g.dtype()));
            if (safe_a.dtype() != g.dtype()) safe_a = safe_a.to(g.dtype());
            return keep_where(logical_not(limit), mul(g, mul(c.output(0), log(safe_a))));
          })};
}
// The winner takes the gradient; a tie splits it half and half (PyTorch).
Tensor extremum_share(const Tensor& g, const Tensor& wins, const Tensor& tie) {
  return where(tie, mul(g, 0.5), keep_where(wins, g));
}
std::vector<Tensor> minimum_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  return {input_grad(c, 0, [&] { return extremum_share(g, lt(a, b), eq(a, b)); }),
          input_grad(c, 1, [&] { return extremum_share(g, gt(a, b), eq(a, b)); })};
}
std::vector<Tensor> maximum_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  return {input_grad(c, 0, [&] { return extremum_share(g, gt(a, b), eq(a, b)); }),
          input_grad(c, 1, [&] { return extremum_share(g, lt(a, b), eq(a, b)); })};
}
// atan2(a, b): da = b / (a^2 + b^2), db = -a / (a^2 + b^2).
std::vector<Tensor> atan2_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  const Tensor scale = div(g, add(square(a), square(b)));
  return {input_grad(c, 0, [&] { return mul(scale, b); }),
          input_grad(c, 1, [&] { return neg(mul(scale, a)); })};
}
}  // namespace

OpDef kRemainder{"remainder", 2, kEwD, {}, infer_binary_arith, nullptr, "Mod", remainder_backward};
OpDef kPow{"pow", 2, kEwD, {}, infer_pow, nullptr, "Pow", pow_backward};
OpDef kMinimum{"minimum", 2, kEwD, {}, infer_binary_arith, nullptr, "Min", minimum_backward};
OpDef kMaximum{"maximum", 2, kEwD, {}, infer_binary_arith, nullptr, "Max", maximum_backward};
OpDef kAtan2{"atan2", 2, kEwD, {}, infer_binary_float, nullptr, nullptr, atan2_backward};

// Unary rules: x = input, y = output (reused where the derivative is cheaper in it).
namespace {
constexpr double kTwoOverSqrtPi = 1.1283791670955126;    // 2 / sqrt(pi)
constexpr double kInvSqrt2Pi = 0.3989422804014327;       // 1 / sqrt(2 pi)
constexpr double kSqrtTwoOverPi = 0.7978845608028654;    // sqrt(2 / pi)
constexpr double kGeluTanhCubic = 0.044715;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kLn2 = 0.69314718055994530942;

Tensor in0(const BackwardCall& c) { return c.input(0); }
Tensor out0(const BackwardCall& c) { return c.output(0); }

std::vector<Tensor> neg_backward(const BackwardCall& c) { return {neg(c.grad(0))}; }
std::vector<Tensor> abs_backward(const BackwardCall& c) { return {mul(c.grad(0), sign(in0(c)))}; }
std::vector<Tensor> exp_backward(const BackwardCall& c) { return {mul(c.grad(0), out0(c))}; }
std::vector<Tensor> expm1_backward(const BackwardCall& c) {
  return {mul(c.grad(0), add(out0(c), 1.0))};
}
std::vector<Tensor> log_backward(const BackwardCall& c) { return {div(c.grad(0), in0(c))}; }
std::vector<Tensor> log1p_backward(const BackwardCall& c) {
  return {div(c.grad(0), add(in0(c), 1.0))};
}
std::vector<Tensor> log2_backward(const BackwardCall& c) {
  return {div(c.grad(0), mul(in0(c), kLn2))};
}
std::vector<Tensor> sqrt_backward(const BackwardCall& c) {
  return {div(c.grad(0), mul(out0(c), 2.0))};
}
// rsqrt(x) = x^(-1/2): -1/2 x^(-3/2) = -y^3 / 2.
std::vector<Tensor> rsqrt_backward(const BackwardCall& c) {
  const Tensor y = out0(c);
  return {mul(mul(c.grad(0), mul(y, square(y))), -0.5)};
}
std::vector<Tensor> sin_backward(const BackwardCall& c) { return {mul(c.grad(0), cos(in0(c)))}; }
std::vector<Tensor> cos_backward(const BackwardCall& c) {
  return {neg(mul(c.grad(0), sin(in0(c))))};
}
std::vector<Tensor> tan_backward(const BackwardCall& c) {
  return {mul(c.grad(0), add(square(out0(c)), 1.0))};
}
std::vector<Tensor> tanh_backward(const BackwardCall& c) {
  const Tensor y = out0(c);
  return {mul(c.grad(0), 1.0 - square(y))};
}
std::vector<Tensor> sigmoid_backward(const BackwardCall& c) {
  const Tensor y = out0(c);
  return {mul(c.grad(0), mul(y, 1.0 - y))};
}
std::vector<Tensor> erf_backward(const BackwardCall& c) {
  const Tensor x = in0(c);
  return {mul(c.grad(0), mul(exp(neg(square(x))), kTwoOverSqrtPi))};
}
std::vector<Tensor> relu_backward(const BackwardCall& c) {
  return {keep_where(gt(out0(c), 0), c.grad(0))};
}
// gelu(x) = x Phi(x): Phi(x) + x phi(x). The tanh form is 0.5 x (1 + tanh(u)) with
// u = sqrt(2/pi) (x + 0.044715 x^3).
std::vector<Tensor> gelu_backward(const BackwardCall& c) {
  const Tensor x = in0(c);
  if (c.attrs().get<std::string>("approximate") == "tanh") {
    const Tensor x2 = square(x);
    const Tensor t = tanh(mul(add(x, mul(mul(x2, x), kGeluTanhCubic)), kSqrtTwoOverPi));
    const Tensor du = mul(add(mul(x2, 3 * kGeluTanhCubic), 1.0), kSqrtTwoOverPi);
    const Tensor d = add(mul(add(t, 1.0), 0.5), mul(mul(x, 1.0 - square(t)), mul(du, 0.5)));
    return {mul(c.grad(0), d)};
  }
  const Tensor cdf = mul(add(erf(mul(x, kInvSqrt2)), 1.0), 0.5);
  const Tensor pdf = mul(exp(mul(square(x), -0.5)), kInvSqrt2Pi);
  return {mul(c.grad(0), add(cdf, mul(x, pdf)))};
}
// silu(x) = x s(x): s (1 + x (1 - s)).
std::vector<Tensor> silu_backward(const BackwardCall& c) {
  const Tensor x = in0(c);
  const Tensor s = sigmoid(x);
  return {mul(c.grad(0), mul(s, add(mul(x, 1.0 - s), 1.0)))};
}
// PyTorch's rule: the slope where x is not above 0 (at 0 too).
std::vector<Tensor> leaky_relu_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {where(gt(in0(c), 0), g, mul(g, c.attrs().f("negative_slope")))};
}
// Above the threshold softplus is the identity; below, its slope is sigmoid(beta x).
std::vector<Tensor> softplus_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Tensor bx = mul(in0(c), c.attrs().f("beta"));
  return {where(gt(bx, c.attrs().f("threshold")), g, mul(g, sigmoid(bx)))};
}
std::vector<Tensor> square_backward(const BackwardCall& c) {
  return {mul(c.grad(0), mul(in0(c), 2.0))};
}
std::vector<Tensor> reciprocal_backward(const BackwardCall& c) {
  return {neg(mul(c.grad(0), square(out0(c))))};
}
// Inside [min, max] the gradient passes; a clamped element gets none (PyTorch: the bounds
// themselves count as inside).
std::vector<Tensor> clamp_backward(const BackwardCall& c) {
  const Tensor x = in0(c);
  Tensor inside;
  if (c.attrs().b("has_min")) inside = ge(x, c.attrs().scalar("min"));
  if (c.attrs().b("has_max")) {
    const Tensor below = le(x, c.attrs().scalar("max"));
    inside = inside.defined() ? logical_and(inside, below) : below;
  }
  return {keep_where(inside, c.grad(0))};
}
// clamp(x, lo, hi) = min(max(x, lo), hi): when lo > hi the result is hi everywhere, so
// hi takes the gradient and lo none (PyTorch's rule).
std::vector<Tensor> clamp_tensor_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Tensor& x = c.input(0);
  const Tensor& lo = c.input(1);
  const Tensor& hi = c.input(2);
  return {input_grad(c, 0, [&] { return keep_where(logical_and(ge(x, lo), le(x, hi)), g); }),
          input_grad(c, 1, [&] { return keep_where(logical_and(lt(x, lo), lt(lo, hi)), g); }),
          input_grad(c, 2, [&] { return keep_where(logical_or(gt(x, hi), lt(hi, lo)), g); })};
}
}  // namespace

OpDef kNeg{"neg", 1, kEwD, {}, infer_neg, nullptr, "Neg", neg_backward};
OpDef kAbs{"abs", 1, kEwD, {}, infer_unary_same, nullptr, "Abs", abs_backward};
OpDef kSign{"sign", 1, kEwD, {}, infer_unary_same, nullptr, "Sign", zero_backward};
OpDef kExp{"exp", 1, kEwD, {}, infer_unary_float, nullptr, "Exp", exp_backward};
OpDef kExpm1{"expm1", 1, kEwD, {}, infer_unary_float, nullptr, nullptr, expm1_backward};
OpDef kLog{"log", 1, kEwD, {}, infer_unary_float, nullptr, "Log", log_backward};
OpDef kLog1p{"log1p", 1, kEwD, {}, infer_unary_float, nullptr, nullptr, log1p_backward};
OpDef kLog2{"log2", 1, kEwD, {}, infer_unary_float, nullptr, nullptr, log2_backward};
OpDef kSqrt{"sqrt", 1, kEwD, {}, infer_unary_float, nullptr, "Sqrt", sqrt_backward};
OpDef kRsqrt{"rsqrt", 1, kEwD, {}, infer_unary_float, nullptr, nullptr, rsqrt_backward};
OpDef kSin{"sin", 1, kEwD, {}, infer_unary_float, nullptr, "Sin", sin_backward};
OpDef kCos{"cos", 1, kEwD, {}, infer_unary_float, nullptr, "Cos", cos_backward};
OpDef kTan{"tan", 1, kEwD, {}, infer_unary_float, nullptr, "Tan", tan_backward};
OpDef kTanh{"tanh", 1, kEwD, {}, infer_unary_float, nullptr, "Tanh", tanh_backward};
OpDef kSigmoid{"sigmoid", 1, kEwD, {}, infer_unary_float, nullptr, "Sigmoid", sigmoid_backward};
OpDef kErf{"erf", 1, kEwD, {}, infer_unary_float, nullptr, "Erf", erf_backward};
OpDef kRelu{"relu", 1, kEwD, {}, infer_unary_same, nullptr, "Relu", relu_backward};
OpDef kGelu{"gelu", 1, kEwD,
            {attr("approximate", AttrType::String, std::string("none"))},
            infer_gelu, nullptr, "Gelu", gelu_backward};
OpDef kSilu{"silu", 1, kEwD, {}, infer_unary_float, nullptr, nullptr, silu_backward};
OpDef kSoftplus{"softplus", 1, kEwD,
                {attr("beta", AttrType::Float, 1.0), attr("threshold", AttrType::Float, 20.0)},
                infer_unary_float, nullptr, "Softplus", softplus_backward};
OpDef kLeakyRelu{"leaky_relu", 1, kEwD, {attr("negative_slope", AttrType::Float, 0.01)}, infer_float_only,
                 nullptr, "LeakyRelu", leaky_relu_backward};
OpDef kSquare{"square", 1, kEwD, {}, infer_square, nullptr, nullptr, square_backward};
OpDef kReciprocal{"reciprocal", 1, kEwD, {}, infer_unary_float, nullptr, "Reciprocal",
                  reciprocal_backward};
OpDef kFloor{"floor", 1, kEwD, {}, infer_unary_same, nullptr, "Floor", zero_backward};
OpDef kCeil{"ceil", 1, kEwD, {}, infer_unary_same, nullptr, "Ceil", zero_backward};
OpDef kRound{"round", 1, kEwD, {}, infer_unary_same, nullptr, "Round", zero_backward};
OpDef kClamp{"clamp", 1, kEwD,
             {attr("min", AttrType::Scalar), attr("max", AttrType::Scalar),
              attr("has_min", AttrType::Bool), attr("has_max", AttrType::Bool)},
             infer_clamp, nullptr, "Clip", clamp_backward};
OpDef kClampTensor{"clamp_tensor", 3, kEwD, {}, infer_clamp_tensor, nullptr, "Clip",
                   clamp_tensor_backward};

// Comparisons, logic and tests have bool outputs: nothing to differentiate.
OpDef kEq{"eq", 2, kEw, {}, infer_compare, nullptr, "Equal"};
OpDef kNe{"ne", 2, kEw, {}, infer_compare, nullptr, nullptr};
OpDef kLt{"lt", 2, kEw, {}, infer_compare, nullptr, "Less"};
OpDef kLe{"le", 2, kEw, {}, infer_compare, nullptr, "LessOrEqual"};
OpDef kGt{"gt", 2, kEw, {}, infer_compare, nullptr, "Greater"};
OpDef kGe{"ge", 2, kEw, {}, infer_compare, nullptr, "GreaterOrEqual"};
OpDef kLogicalAnd{"logical_and", 2, kEw, {}, infer_compare, nullptr, "And"};
OpDef kLogicalOr{"logical_or", 2, kEw, {}, infer_compare, nullptr, "Or"};
OpDef kLogicalXor{"logical_xor", 2, kEw, {}, infer_compare, nullptr, "Xor"};
OpDef kLogicalNot{"logical_not", 1, kEw, {}, infer_unary_bool, nullptr, "Not"};

namespace {
// The condition selects; it gets no gradient (bool).
std::vector<Tensor> where_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Tensor& cond = c.input(0);
  return {Tensor(), input_grad(c, 1, [&] { return keep_where(cond, g); }),
          input_grad(c, 2, [&] { return keep_where(logical_not(cond), g); })};
}
// Replaced values came from no input: the gradient stops there (PyTorch also masks
// infinities, which nan_to_num replaces).
std::vector<Tensor> nan_to_num_backward(const BackwardCall& c) {
  return {keep_where(isfinite(in0(c)), c.grad(0))};
}
std::vector<Tensor> masked_fill_backward(const BackwardCall& c) {
  return {keep_where(logical_not(c.input(1)), c.grad(0)), Tensor()};
}
}  // namespace

OpDef kWhere{"where", 3, kEwD, {}, infer_where, nullptr, "Where", where_backward};
OpDef kIsNan{"isnan", 1, kEw, {}, infer_unary_bool, nullptr, "IsNaN"};
OpDef kIsInf{"isinf", 1, kEw, {}, infer_unary_bool, nullptr, "IsInf"};
OpDef kIsFinite{"isfinite", 1, kEw, {}, infer_unary_bool, nullptr, nullptr};
OpDef kNanToNum{"nan_to_num", 1, kEwD,
                {attr("nan", AttrType::Float, 0.0), attr("posinf", AttrType::Float),
                 attr("neginf", AttrType::Float)},
                infer_unary_same, nullptr, nullptr, nan_to_num_backward};
OpDef kMaskedFill{"masked_fill", 2, kEwD,
                  {attr("value", AttrType::Scalar)},
                  infer_masked_fill, nullptr, nullptr,
                  masked_fill_backward};

// threshold_backward(g, y) {threshold}: g where y > threshold, else 0 (PyTorch's name). The
// gradient of ReLU (threshold 0) in one pass: autograd writes it as where(gt(y, 0), g, 0),
// and a graph pass (graph/passes/fuse_threshold_backward.cc) fuses the pair. Inputs of one
// shape, floating point; a NaN y gives 0, as the pair does. Not differentiable: it appears
// only in graphs, after autograd has run.
InferResult infer_threshold_backward(const std::vector<InputMeta>& in, const Attrs&) {
  TESSERA_CHECK(in[0].sizes().equals(in[1].sizes()), "expected a gradient and an input of one shape, got ",
                in[0].describe(), " and ", in[1].describe());
  TESSERA_CHECK(is_floating(in[0].dtype()) && in[0].dtype() == in[1].dtype(),
                "expected floating-point tensors of one dtype, got ", in[0].describe(), " and ", in[1].describe());
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}
OpDef kThresholdBackward{"threshold_backward", 2, kEw, {attr("threshold", AttrType::Float)},
                         infer_threshold_backward};

void register_elementwise_ops() {
  for (OpDef* op : {&kAdd, &kSub, &kMul, &kDiv, &kFloorDivide, &kRemainder, &kPow, &kMinimum,
                    &kMaximum, &kAtan2, &kNeg, &kAbs, &kSign, &kExp, &kExpm1, &kLog, &kLog1p,
                    &kLog2, &kSqrt, &kRsqrt, &kSin, &kCos, &kTan, &kTanh, &kSigmoid, &kErf,
                    &kRelu, &kGelu, &kSilu, &kSoftplus, &kLeakyRelu, &kSquare, &kReciprocal, &kFloor, &kCeil,
                    &kRound, &kClamp, &kClampTensor, &kEq, &kNe, &kLt, &kLe, &kGt, &kGe,
                    &kLogicalAnd, &kLogicalOr, &kLogicalXor, &kLogicalNot, &kWhere, &kIsNan,
                    &kIsInf, &kIsFinite, &kNanToNum, &kMaskedFill, &kThresholdBackward})
    register_op(*op);
}

}  // namespace tessera::ops

namespace tessera {

using ops::call1;
using ops::wrap_scalar;

namespace {
ops::Attrs clamp_attrs(const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  return {{"min", min.value_or(Scalar(0))},
          {"max", max.value_or(Scalar(0))},
          {"has_min", min.has_value()},
          {"has_max", max.has_value()}};
}
void check_int_pow(const Tensor& a, const Scalar& b) {
  TESSERA_CHECK(!(is_integral(a.dtype(), true) && b.is_integral() && b.to_int() < 0),
                "pow: a ", a.describe(), ", exponent ", b.to_int(),
                ": integers to negative integer powers are not allowed");
}
}  // namespace

#define TESSERA_BINARY(NAME, DEF)                                                          \
  Tensor NAME(const Tensor& a, const Tensor& b, CallSite at) {                            \
    detail::UserCallScope scope(at);                                                       \
    return call1(ops::DEF, {a, b});                                                        \
  }                                                                                        \
  Tensor NAME(const Tensor& a, const Scalar& b, CallSite at) {                            \
    detail::UserCallScope scope(at);                                                       \
    return call1(ops::DEF, {a, wrap_scalar(b)});                                           \
  }
TESSERA_BINARY(add, kAdd)
TESSERA_BINARY(sub, kSub)
TESSERA_BINARY(mul, kMul)
TESSERA_BINARY(div, kDiv)
TESSERA_BINARY(floor_divide, kFloorDivide)
TESSERA_BINARY(remainder, kRemainder)
TESSERA_BINARY(eq, kEq)
TESSERA_BINARY(ne, kNe)
TESSERA_BINARY(lt, kLt)
TESSERA_BINARY(le, kLe)
TESSERA_BINARY(gt, kGt)
TESSERA_BINARY(ge, kGe)
#undef TESSERA_BINARY

Tensor pow(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kPow, {a, b});
}
Tensor pow(const Tensor& a, const Scalar& b, CallSite at) {
  detail::UserCallScope scope(at);
  check_int_pow(a, b);
  return call1(ops::kPow, {a, wrap_scalar(b)});
}
Tensor pow(const Scalar& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kPow, {wrap_scalar(a), b});
}
Tensor minimum(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kMinimum, {a, b});
}
Tensor maximum(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kMaximum, {a, b});
}
Tensor atan2(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kAtan2, {a, b});
}
Tensor logical_and(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kLogicalAnd, {a, b});
}
Tensor logical_or(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kLogicalOr, {a, b});
}
Tensor logical_xor(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kLogicalXor, {a, b});
}

#define TESSERA_UNARY(NAME, DEF)            \
  Tensor NAME(const Tensor& x, CallSite at) { \
    detail::UserCallScope scope(at);          \
    return call1(ops::DEF, {x});              \
  }
TESSERA_UNARY(neg, kNeg)
TESSERA_UNARY(abs, kAbs)
TESSERA_UNARY(sign, kSign)
TESSERA_UNARY(exp, kExp)
TESSERA_UNARY(expm1, kExpm1)
TESSERA_UNARY(log, kLog)
TESSERA_UNARY(log1p, kLog1p)
TESSERA_UNARY(log2, kLog2)
TESSERA_UNARY(sqrt, kSqrt)
TESSERA_UNARY(rsqrt, kRsqrt)
TESSERA_UNARY(sin, kSin)
TESSERA_UNARY(cos, kCos)
TESSERA_UNARY(tan, kTan)
TESSERA_UNARY(tanh, kTanh)
TESSERA_UNARY(sigmoid, kSigmoid)
TESSERA_UNARY(erf, kErf)
TESSERA_UNARY(relu, kRelu)
TESSERA_UNARY(silu, kSilu)
TESSERA_UNARY(square, kSquare)
TESSERA_UNARY(reciprocal, kReciprocal)
TESSERA_UNARY(floor, kFloor)
TESSERA_UNARY(ceil, kCeil)
TESSERA_UNARY(round, kRound)
TESSERA_UNARY(logical_not, kLogicalNot)
TESSERA_UNARY(isnan, kIsNan)
TESSERA_UNARY(isinf, kIsInf)
TESSERA_UNARY(isfinite, kIsFinite)
#undef TESSERA_UNARY

Tensor gelu(const Tensor& x, const std::string& approximate, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kGelu, {x}, {{"approximate", approximate}});
}
Tensor softplus(const Tensor& x, double beta, double threshold, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kSoftplus, {x}, {{"beta", beta}, {"threshold", threshold}});
}
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kClamp, {x}, clamp_attrs(min, max));
}
Tensor clamp(const Tensor& x, const Tensor& min, const Tensor& max, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kClampTensor, {x, min, max});
}
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kWhere, {cond, a, b});
}
Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kWhere, {cond, a, wrap_scalar(b)});
}

Tensor nan_to_num(const Tensor& x, double nan, std::optional<double> posinf,
                  std::optional<double> neginf, CallSite at) {
  detail::UserCallScope scope(at);
  // The defaults are the limits of x's own dtype (65504 for f16), resolved here because
  // reduced floats run on the f32 kernel.
  double hi = std::numeric_limits<double>::max();
  if (x.defined()) {
    switch (x.dtype()) {
      case DType::Float32: hi = std::numeric_limits<float>::max(); break;
      case DType::Float16: hi = 65504.0; break;
      case DType::BFloat16: hi = 3.3895313892515355e38; break;
      default: break;
    }
  }
  return call1(ops::kNanToNum, {x},
               {{"nan", nan}, {"posinf", posinf.value_or(hi)}, {"neginf", neginf.value_or(-hi)}});
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value, CallSite at) {
  detail::UserCallScope scope(at);
  return call1(ops::kMaskedFill, {x, mask}, {{"value", value}});
}

namespace {
// |a - b| <= atol + rtol |b| elementwise, in double, over the broadcast shape.
Tensor isclose_f64(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  const Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
  const Tensor out = make_tensor(ops::broadcast_shapes(a.sizes(), b.sizes(), "allclose"), kBool);
  ElementwiseLoop loop({&out}, {&a64, &b64});
  map_loop<bool, double, double>(loop, [=](double x, double y) {
    if (x == y) return true;  // equal infinities too
    if (std::isnan(x) || std::isnan(y)) return equal_nan && std::isnan(x) && std::isnan(y);
    return std::fabs(x - y) <= atol + rtol * std::fabs(y);
  });
  return out;
}
bool all_true(const Tensor& t) {
  const Tensor c = t.contiguous();
  const bool* p = c.data<bool>();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (!p[i]) return false;
  return true;
}
}  // namespace

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan,
              CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(a.defined() && b.defined(), "allclose: undefined tensor");
  TESSERA_CHECK(rtol >= 0 && atol >= 0, "allclose: rtol and atol must be non-negative, got ",
                rtol, " and ", atol);
  return all_true(isclose_f64(a, b, rtol, atol, equal_nan));
}

bool equal(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(a.defined() && b.defined(), "equal: undefined tensor");
  if (!a.sizes().equals(b.sizes())) return false;
  return all_true(eq(a, b));
}

// ---- in-place forms ----
Tensor& add_(Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kAdd, a, {a, b}, {});
}
Tensor& sub_(Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kSub, a, {a, b}, {});
}
Tensor& mul_(Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kMul, a, {a, b}, {});
}
Tensor& div_(Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kDiv, a, {a, b}, {});
}
Tensor& pow_(Tensor& a, const Scalar& b, CallSite at) {
  detail::UserCallScope scope(at);
  check_int_pow(a, b);
  return ops::call_inplace(ops::kPow, a, {a, wrap_scalar(b)}, {});
}
Tensor& neg_(Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kNeg, x, {x}, {});
}
Tensor& abs_(Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kAbs, x, {x}, {});
}
Tensor& exp_(Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kExp, x, {x}, {});
}
Tensor& log_(Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kLog, x, {x}, {});
}
Tensor& sqrt_(Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kSqrt, x, {x}, {});
}
Tensor& relu_(Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kRelu, x, {x}, {});
}
Tensor& sigmoid_(Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kSigmoid, x, {x}, {});
}
Tensor& tanh_(Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kTanh, x, {x}, {});
}
Tensor& clamp_(Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kClamp, x, {x}, clamp_attrs(min, max));
}
Tensor& masked_fill_(Tensor& x, const Tensor& mask, const Scalar& value, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kMaskedFill, x, {x, mask}, {{"value", value}});
}

// ---- Tensor methods ----
Tensor Tensor::operator-() const { return tessera::neg(*this); }
Tensor Tensor::abs() const { return tessera::abs(*this); }
Tensor Tensor::exp() const { return tessera::exp(*this); }
Tensor Tensor::log() const { return tessera::log(*this); }
Tensor Tensor::sqrt() const { return tessera::sqrt(*this); }
Tensor Tensor::relu() const { return tessera::relu(*this); }
Tensor& Tensor::add_(const Tensor& other) { return tessera::add_(*this, other); }
Tensor& Tensor::sub_(const Tensor& other) { return tessera::sub_(*this, other); }
Tensor& Tensor::mul_(const Tensor& other) { return tessera::mul_(*this, other); }
Tensor& Tensor::div_(const Tensor& other) { return tessera::div_(*this, other); }
Tensor& Tensor::add_(const Scalar& other) {
  return ops::call_inplace(ops::kAdd, *this, {*this, wrap_scalar(other)}, {});
}
Tensor& Tensor::sub_(const Scalar& other) {
  return ops::call_inplace(ops::kSub, *this, {*this, wrap_scalar(other)}, {});
}
Tensor& Tensor::mul_(const Scalar& other) {
  return ops::call_inplace(ops::kMul, *this, {*this, wrap_scalar(other)}, {});
}
Tensor& Tensor::div_(const Scalar& other) {
  return ops::call_inplace(ops::kDiv, *this, {*this, wrap_scalar(other)}, {});
}

}  // namespace tessera
