// Backward rules of the elementwise family: for every differentiable op a gradcheck and a
// gradgradcheck (float64 finite differences) on inputs away from the op's
// non-differentiable points, binary ops with broadcast inputs; then known values at the
// special points (ties, 0^0, clamp bounds, non-finite values), where finite differences
// cannot judge.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <set>
#include <string>

#include "ops/elementwise.h"
#include "autograd/grad_test_util.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

using In = std::vector<Tensor>;

// ---- input makers (float64; leaves that require grad unless said otherwise) ----
using grad_test::leaf;
using grad_test::uniform_values;
Tensor uniform(IntArrayRef shape, double lo, double hi, Generator& g) {
  return leaf(uniform_values(shape, lo, hi, g));
}
// |x| in [lo, hi] with a random sign: keeps clear of a kink at 0.
Tensor signed_away(IntArrayRef shape, double lo, double hi, Generator& g) {
  const Tensor sign = sub(mul(gt(rand(shape, kFloat64, &g), 0.5).to(kFloat64), 2.0), 1.0);
  return leaf(mul(uniform_values(shape, lo, hi, g), sign));
}
// An integer in [-3, 3] plus a fraction in [0.1, 0.4]: away from where floor, ceil and
// round jump.
Tensor off_integer(IntArrayRef shape, Generator& g) {
  const Tensor k = floor(uniform_values(shape, -3, 4, g));
  return leaf(add(k, uniform_values(shape, 0.1, 0.4, g)));
}
Tensor bool_mask(IntArrayRef shape, Generator& g) { return gt(rand(shape, kFloat64, &g), 0.5); }

struct GradCase {
  std::string name;
  std::vector<std::string> ops;  // the op table entries this case exercises
  std::function<In(Generator&)> inputs;
  autograd::TensorFn fn;
};
// gtest (and so ctest's test list) prints a parameter with this: the name, not its bytes.
void PrintTo(const GradCase& c, std::ostream* os) { *os << c.name; }

std::vector<GradCase> cases() {
  using G = Generator;
  const Shape m{3, 4}, row{4}, col{3, 1};
  std::vector<GradCase> c;
  auto unary = [&](std::string name, std::string op, std::function<Tensor(IntArrayRef, G&)> make,
                   std::function<Tensor(const Tensor&)> f) {
    c.push_back({std::move(name), {std::move(op)},
                 [make, m](G& g) { return In{make(m, g)}; },
                 [f](const In& x) { return f(x[0]); }});
  };
  auto any_value = [](IntArrayRef s, G& g) { return uniform(s, -2, 2, g); };
  auto positive = [](IntArrayRef s, G& g) { return uniform(s, 0.3, 2, g); };
  auto nonzero = [](IntArrayRef s, G& g) { return signed_away(s, 0.3, 2, g); };

  // Binary arithmetic, each with broadcasting ([3, 4] with [4] or [3, 1]).
  c.push_back({"add", {"add"}, [=](G& g) { return In{uniform(m, -2, 2, g), uniform(row, -2, 2, g)}; },
               [](const In& x) { return add(x[0], x[1]); }});
  c.push_back({"sub", {"sub"}, [=](G& g) { return In{uniform(col, -2, 2, g), uniform(m, -2, 2, g)}; },
               [](const In& x) { return sub(x[0], x[1]); }});
  c.push_back({"mul", {"mul"}, [=](G& g) { return In{uniform(m, -2, 2, g), uniform(col, -2, 2, g)}; },
               [](const In& x) { return mul(x[0], x[1]); }});
  c.push_back({"div", {"div"}, [=](G& g) { return In{uniform(m, -2, 2, g), signed_away(row, 0.5, 2, g)}; },
               [](const In& x) { return div(x[0], x[1]); }});
  c.push_back({"div_scalar", {"div"}, [=](G& g) { return In{uniform(m, -2, 2, g)}; },
               [](const In& x) { return div(x[0], 2.5); }});
  // a / b = k + u with u in [0.1, 0.9]: away from the jumps of floor(a / b).
  auto quotient_inputs = [=](G& g) {
    const Tensor b = signed_away(row, 0.5, 2, g);
    const Tensor q = add(floor(uniform_values(m, -3, 3, g)), uniform_values(m, 0.1, 0.9, g));
    return In{leaf(mul(q, b)), b};
  };
  c.push_back({"floor_divide", {"floor_divide"}, quotient_inputs,
               [](const In& x) { return floor_divide(x[0], x[1]); }});
  c.push_back({"remainder", {"remainder"}, quotient_inputs,
               [](const In& x) { return remainder(x[0], x[1]); }});
  c.push_back({"pow", {"pow"}, [=](G& g) { return In{uniform(m, 0.5, 2, g), uniform(row, -1.5, 1.5, g)}; },
               [](const In& x) { return pow(x[0], x[1]); }});
  c.push_back({"pow_scalar_exponent", {"pow"}, [=](G& g) { return In{uniform(m, 0.5, 2, g)}; },
               [](const In& x) { return pow(x[0], 2.5); }});
  c.push_back({"pow_int_exponent_negative_base", {"pow"}, [=](G& g) { return In{uniform(m, -2, 2, g)}; },
               [](const In& x) { return pow(x[0], 3); }});
  c.push_back({"pow_scalar_base", {"pow"}, [=](G& g) { return In{uniform(m, -1.5, 1.5, g)}; },
               [](const In& x) { return pow(2.5, x[0]); }});
  // Distinct values: ties are tested by value below.
  c.push_back({"minimum", {"minimum"}, [=](G& g) { return In{uniform(m, -2, 2, g), uniform(row, -2, 2, g)}; },
               [](const In& x) { return minimum(x[0], x[1]); }});
  c.push_back({"maximum", {"maximum"}, [=](G& g) { return In{uniform(col, -2, 2, g), uniform(m, -2, 2, g)}; },
               [](const In& x) { return maximum(x[0], x[1]); }});
  c.push_back({"atan2", {"atan2"}, [=](G& g) { return In{nonzero(m, g), nonzero(row, g)}; },
               [](const In& x) { return atan2(x[0], x[1]); }});

  // Unary.
  unary("neg", "neg", any_value, [](const Tensor& x) { return neg(x); });
  unary("abs", "abs", nonzero, [](const Tensor& x) { return abs(x); });
  unary("sign", "sign", nonzero, [](const Tensor& x) { return mul(sign(x), x); });
  unary("exp", "exp", any_value, [](const Tensor& x) { return exp(x); });
  unary("expm1", "expm1", any_value, [](const Tensor& x) { return expm1(x); });
  unary("log", "log", positive, [](const Tensor& x) { return log(x); });
  unary("log1p", "log1p", [](IntArrayRef s, G& g) { return uniform(s, -0.7, 2, g); },
        [](const Tensor& x) { return log1p(x); });
  unary("log2", "log2", positive, [](const Tensor& x) { return log2(x); });
  unary("sqrt", "sqrt", positive, [](const Tensor& x) { return sqrt(x); });
  unary("rsqrt", "rsqrt", positive, [](const Tensor& x) { return rsqrt(x); });
  unary("sin", "sin", any_value, [](const Tensor& x) { return sin(x); });
  unary("cos", "cos", any_value, [](const Tensor& x) { return cos(x); });
  unary("tan", "tan", [](IntArrayRef s, G& g) { return uniform(s, -1.2, 1.2, g); },
        [](const Tensor& x) { return tan(x); });
  unary("tanh", "tanh", any_value, [](const Tensor& x) { return tanh(x); });
  unary("sigmoid", "sigmoid", any_value, [](const Tensor& x) { return sigmoid(x); });
  unary("erf", "erf", any_value, [](const Tensor& x) { return erf(x); });
  unary("relu", "relu", nonzero, [](const Tensor& x) { return relu(x); });
  unary("gelu", "gelu", any_value, [](const Tensor& x) { return gelu(x); });
  unary("gelu_tanh", "gelu", any_value, [](const Tensor& x) { return gelu(x, "tanh"); });
  unary("silu", "silu", any_value, [](const Tensor& x) { return silu(x); });
  unary("softplus", "softplus", any_value, [](const Tensor& x) { return softplus(x); });
  // beta 2, threshold 1: the linear branch above x = 0.5 (kept clear of it).
  unary("softplus_threshold", "softplus",
        [](IntArrayRef s, G& g) { return leaf(add(signed_away(s, 0.1, 1.5, g), 0.5)); },
        [](const Tensor& x) { return softplus(x, 2.0, 1.0); });
  unary("square", "square", any_value, [](const Tensor& x) { return square(x); });
  unary("reciprocal", "reciprocal", nonzero, [](const Tensor& x) { return reciprocal(x); });
  unary("floor", "floor", off_integer, [](const Tensor& x) { return floor(x); });
  unary("ceil", "ceil", off_integer, [](const Tensor& x) { return ceil(x); });
  unary("round", "round", off_integer, [](const Tensor& x) { return round(x); });
  // Bounds +-0.5, values at least 0.1 away from them.
  auto off_bounds = [](IntArrayRef s, G& g) {
    const Tensor v = uniform_values(s, -1.5, 1.5, g);
    const Tensor near = lt(abs(sub(abs(v), 0.5)), 0.1);
    return leaf(where(near, mul(v, 1.5), v));
  };
  unary("clamp", "clamp", off_bounds, [](const Tensor& x) { return clamp(x, -0.5, 0.5); });
  unary("clamp_min", "clamp", off_bounds, [](const Tensor& x) { return clamp(x, -0.5, std::nullopt); });
  unary("clamp_max", "clamp", off_bounds, [](const Tensor& x) { return clamp(x, std::nullopt, 0.5); });
  // Tensor bounds: lo in [-1, -0.3], hi in [0.3, 1] (and swapped, lo > hi); x on a grid
  // of values that keeps clear of both.
  auto clamp_inputs = [=](bool swapped) {
    return [=](G& g) {
      const Tensor x = leaf(tensor<double>({-1.4, -0.15, 0.1, 1.3, 0.2, -1.2, 1.1, -0.05, 1.45,
                                            -1.35, 0.05, 0.25}, {3, 4}));
      Tensor lo = uniform(col, -1, -0.3, g), hi = uniform(row, 0.3, 1, g);
      if (swapped) std::swap(lo, hi);
      return In{x, lo, hi};
    };
  };
  c.push_back({"clamp_tensor", {"clamp_tensor"}, clamp_inputs(false),
               [](const In& x) { return clamp(x[0], x[1], x[2]); }});
  c.push_back({"clamp_tensor_lo_above_hi", {"clamp_tensor"}, clamp_inputs(true),
               [](const In& x) { return clamp(x[0], x[1], x[2]); }});
  c.push_back({"where", {"where"},
               [=](G& g) { return In{bool_mask(m, g), uniform(row, -2, 2, g), uniform(m, -2, 2, g)}; },
               [](const In& x) { return where(x[0], x[1], x[2]); }});
  c.push_back({"where_scalar", {"where"}, [=](G& g) { return In{bool_mask(row, g), uniform(m, -2, 2, g)}; },
               [](const In& x) { return where(x[0], x[1], 0.5); }});
  c.push_back({"masked_fill", {"masked_fill"}, [=](G& g) { return In{uniform(m, -2, 2, g), bool_mask(row, g)}; },
               [](const In& x) { return masked_fill(x[0], x[1], 7.0); }});
  unary("nan_to_num", "nan_to_num", any_value, [](const Tensor& x) { return nan_to_num(x); });
  return c;
}

class ElementwiseGrad : public ::testing::TestWithParam<GradCase> {
 protected:
  In inputs() const {
    Generator g(std::hash<std::string>{}(GetParam().name));
    return GetParam().inputs(g);
  }
};

TEST_P(ElementwiseGrad, Gradcheck) {
  const auto r = autograd::gradcheck(GetParam().fn, inputs());
  EXPECT_TRUE(r.ok) << r.message;
}

// Checked on f(x)^2 rather than f(x): for a piecewise-linear op the second derivative of f
// is 0 and would say nothing; squaring feeds the rule a gradient that depends on x, so the
// rule's own backward (its linearity in the incoming gradient) is exercised too.
TEST_P(ElementwiseGrad, Gradgradcheck) {
  const autograd::TensorFn& f = GetParam().fn;
  const auto r = autograd::gradgradcheck([&](const In& x) { return square(f(x)); }, inputs());
  EXPECT_TRUE(r.ok) << r.message;
}

INSTANTIATE_TEST_SUITE_P(Ops, ElementwiseGrad, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<GradCase>& i) { return i.param.name; });

// Every op of the family that claims differentiability has a rule and a case above, and
// no op with bool outputs claims it.
TEST(ElementwiseGradCoverage, EveryDifferentiableOpIsChecked) {
  using namespace tessera::ops;
  ensure_registered();
  const OpDef* family[] = {&kAdd,  &kSub,  &kMul,   &kDiv,     &kFloorDivide, &kRemainder,
                           &kPow,  &kMinimum, &kMaximum, &kAtan2, &kNeg, &kAbs, &kSign,
                           &kExp,  &kExpm1, &kLog, &kLog1p, &kLog2, &kSqrt, &kRsqrt, &kSin,
                           &kCos,  &kTan, &kTanh, &kSigmoid, &kErf, &kRelu, &kGelu, &kSilu,
                           &kSoftplus, &kSquare, &kReciprocal, &kFloor, &kCeil, &kRound,
                           &kClamp, &kClampTensor, &kEq, &kNe, &kLt, &kLe, &kGt, &kGe,
                           &kLogicalAnd, &kLogicalOr, &kLogicalXor, &kLogicalNot, &kWhere,
                           &kIsNan, &kIsInf, &kIsFinite, &kNanToNum, &kMaskedFill};
  const std::set<std::string> bool_outputs{"eq", "ne", "lt", "le", "gt", "ge", "logical_and",
                                           "logical_or", "logical_xor", "logical_not",
                                           "isnan", "isinf", "isfinite"};
  std::set<std::string> covered;
  const auto all = cases();
  for (const GradCase& c : all) covered.insert(c.ops.begin(), c.ops.end());
  int checked = 0;
  for (const OpDef* op : family) {
    const bool diff = (op->flags & kDifferentiable) != 0;
    EXPECT_EQ(diff, bool_outputs.count(op->name) == 0) << op->name;
    if (!diff) continue;
    EXPECT_NE(op->backward, nullptr) << op->name;
    EXPECT_EQ(covered.count(op->name), 1u) << op->name << " has no gradcheck case";
    ++checked;
  }
  std::cout << "[elementwise_grad] gradcheck + gradgradcheck: " << checked
            << " differentiable ops in " << all.size() << " cases\n";
}

// ---- known values at the points finite differences cannot judge ----

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }
Tensor grad_of(const Tensor& y, const Tensor& x) { return autograd::grad({sum(y)}, {x})[0]; }

TEST(ElementwiseGradValues, ReluPassesOnlyPositiveInputs) {
  const Tensor x = tensor<double>({-2, -0.5, 0, 0.5, 3}).requires_grad_();
  EXPECT_EQ(vals(grad_of(relu(x), x)), (std::vector<double>{0, 0, 0, 1, 1}));
}

TEST(ElementwiseGradValues, MaximumAndMinimumSplitTies) {
  const Tensor a = tensor<double>({1, 2, 3}).requires_grad_();
  const Tensor b = tensor<double>({2, 2, 1}).requires_grad_();
  auto g = autograd::grad({sum(maximum(a, b))}, {a, b});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{0, 0.5, 1}));
  EXPECT_EQ(vals(g[1]), (std::vector<double>{1, 0.5, 0}));
  g = autograd::grad({sum(minimum(a, b))}, {a, b});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{1, 0.5, 0}));
  EXPECT_EQ(vals(g[1]), (std::vector<double>{0, 0.5, 1}));
}

TEST(ElementwiseGradValues, PowAtZeroFollowsPyTorch) {
  // d/da a^0 = 0 (not 0 * 0^-1 = NaN); d/db 0^b = 0 for b >= 0; d/da 0^2 = 0.
  const Tensor a = tensor<double>({0, 0, 0, 2}).requires_grad_();
  const Tensor b = tensor<double>({0, 2, 0.5, 3}).requires_grad_();
  auto g = autograd::grad({sum(pow(a, b))}, {a, b});
  const std::vector<double> ga = vals(g[0]), gb = vals(g[1]);
  EXPECT_EQ(ga[0], 0);
  EXPECT_EQ(ga[1], 0);
  EXPECT_TRUE(std::isinf(ga[2]));  // 0.5 * 0^-0.5
  EXPECT_EQ(ga[3], 12);
  EXPECT_EQ(gb[0], 0);
  EXPECT_EQ(gb[1], 0);
  EXPECT_EQ(gb[2], 0);
  EXPECT_NEAR(gb[3], 8 * std::log(2.0), 1e-12);
  // log of a negative base: NaN, as in PyTorch.
  const Tensor n = tensor<double>({-2}).requires_grad_();
  const Tensor e = tensor<double>({2}).requires_grad_();
  g = autograd::grad({sum(pow(n, e))}, {n, e});
  EXPECT_EQ(vals(g[0])[0], -4);
  EXPECT_TRUE(std::isnan(vals(g[1])[0]));
}

TEST(ElementwiseGradValues, PowScalarExponentAndBase) {
  const Tensor x = tensor<double>({0, 1, 2}).requires_grad_();
  EXPECT_EQ(vals(grad_of(pow(x, 2), x)), (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(vals(grad_of(pow(x, 0), x)), (std::vector<double>{0, 0, 0}));
  const std::vector<double> g = vals(grad_of(pow(2.0, x), x));
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(g[i], std::pow(2.0, double(i)) * std::log(2.0), 1e-12);
}

TEST(ElementwiseGradValues, ClampPassesAtTheBoundsAndStopsOutside) {
  const Tensor x = tensor<double>({-2, -1, 0, 1, 2}).requires_grad_();
  EXPECT_EQ(vals(grad_of(clamp(x, -1, 1), x)), (std::vector<double>{0, 1, 1, 1, 0}));
  const Tensor lo = tensor<double>({-1}).requires_grad_();
  const Tensor hi = tensor<double>({1}).requires_grad_();
  auto g = autograd::grad({sum(clamp(x, lo, hi))}, {x, lo, hi});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{0, 1, 1, 1, 0}));
  EXPECT_EQ(vals(g[1]), (std::vector<double>{1}));
  EXPECT_EQ(vals(g[2]), (std::vector<double>{1}));
}

TEST(ElementwiseGradValues, PiecewiseConstantOpsGiveZeros) {
  const Tensor x = tensor<double>({-1.5, 0.2, 2.7}).requires_grad_();
  for (const Tensor& y : {floor(x), ceil(x), round(x), sign(x), floor_divide(x, 2.0)}) {
    ASSERT_TRUE(y.requires_grad());
    EXPECT_EQ(vals(grad_of(y, x)), (std::vector<double>{0, 0, 0}));
  }
}

TEST(ElementwiseGradValues, NanToNumStopsAtReplacedValues) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = tensor<double>({1, std::nan(""), inf, -inf}).requires_grad_();
  EXPECT_EQ(vals(grad_of(nan_to_num(x), x)), (std::vector<double>{1, 0, 0, 0}));
}

TEST(ElementwiseGradValues, WhereAndMaskedFillRouteTheGradient) {
  const Tensor cond = tensor<bool>({true, false, true});
  const Tensor a = tensor<double>({1, 2, 3}).requires_grad_();
  const Tensor b = tensor<double>({4, 5, 6}).requires_grad_();
  auto g = autograd::grad({sum(where(cond, a, b))}, {a, b});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(vals(g[1]), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(vals(grad_of(masked_fill(a, cond, 0.0), a)), (std::vector<double>{0, 1, 0}));
}

TEST(ElementwiseGradValues, ComparisonsCarryNoHistory) {
  const Tensor x = tensor<double>({1, 2}).requires_grad_();
  EXPECT_FALSE(gt(x, 1.5).requires_grad());
  EXPECT_FALSE(isfinite(x).requires_grad());
  EXPECT_FALSE(logical_not(eq(x, x)).requires_grad());
}

TEST(ElementwiseGradValues, Float32InputsGetFloat32Gradients) {
  const Tensor x = tensor<float>({0.5f, 2.0f}).requires_grad_();
  const Tensor g = grad_of(div(exp(x), 2.0), x);
  EXPECT_EQ(g.dtype(), kFloat32);
  EXPECT_NEAR(vals(g.to(kFloat64))[1], std::exp(2.0) / 2, 1e-5);
}

}  // namespace
