// Backward rules of the elementwise family at the points finite differences cannot judge:
// ties, 0^0, clamp bounds, non-finite values. The gradcheck and gradgradcheck of every
// differentiable op (on inputs away from those points, broadcast and non-contiguous ones
// included) are generated from its tests/opdb entry (OpDb/OpDbGrad.*).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <set>
#include <string>

#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

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
