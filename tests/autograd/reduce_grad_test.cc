// Backward rules of the reduction family (reductions, scans, softmax): known values where
// finite differences cannot judge (ties, zeros, a zero norm) and properties (softmax's
// gradient sums to zero). The gradcheck and gradgradcheck of every differentiable op over
// all dims, one dim, several, negative dims and keepdim are generated from its tests/opdb
// entry (OpDb/OpDbGrad.*).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <set>
#include <string>

#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

// ---- known values ----

std::vector<double> vals(const Tensor& t) { return t.contiguous().to_vector<double>(); }
Tensor grad_of(const Tensor& y, const Tensor& x) { return autograd::grad({sum(y)}, {x})[0]; }
void expect_near(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << "element " << i;
}

TEST(ReduceGradValues, MeanSpreadsEvenly) {
  const Tensor x = zeros({2, 4}, kFloat64).requires_grad_();
  expect_near(vals(grad_of(mean(x, {1}), x)), std::vector<double>(8, 0.25));
}

TEST(ReduceGradValues, ZeroDimInput) {
  const Tensor x = tensor<double>({3}, {}).requires_grad_();
  EXPECT_EQ(vals(grad_of(sum(x, {0}), x)), (std::vector<double>{1}));
  EXPECT_EQ(vals(grad_of(amax(x, {-1}), x)), (std::vector<double>{1}));
  EXPECT_EQ(vals(grad_of(cumsum(x, 0), x)), (std::vector<double>{1}));
}

TEST(ReduceGradValues, ProdWithZeros) {
  const Tensor x = tensor<double>({2, 0, 3, 0, 5, 4}, {2, 3}).requires_grad_();
  // Row 0 has one zero: it gets the product of the others. Whole tensor: two zeros.
  expect_near(vals(grad_of(prod(x, {1}), x)), {0, 6, 0, 20, 0, 0});
  expect_near(vals(grad_of(prod(x), x)), {0, 0, 0, 0, 0, 0});
  const Tensor y = tensor<double>({2, 3, 4}).requires_grad_();
  expect_near(vals(grad_of(prod(y), y)), {12, 8, 6});
}

TEST(ReduceGradValues, ExtremaSplitTiesEvenly) {
  const Tensor x = tensor<double>({1, 3, 3, 5, 5, 5}, {2, 3}).requires_grad_();
  expect_near(vals(grad_of(amax(x, {1}), x)), {0, 0.5, 0.5, 1. / 3, 1. / 3, 1. / 3});
  expect_near(vals(grad_of(max(x, 1).first, x)), {0, 0.5, 0.5, 1. / 3, 1. / 3, 1. / 3});
  expect_near(vals(grad_of(amin(x), x)), {1, 0, 0, 0, 0, 0});
  const auto mn = min(x, 1);
  EXPECT_FALSE(mn.second.requires_grad());  // the indices
  expect_near(vals(grad_of(mn.first, x)), {1, 0, 0, 1. / 3, 1. / 3, 1. / 3});
}

TEST(ReduceGradValues, NormEdgeCases) {
  const Tensor z = zeros({3}, kFloat64).requires_grad_();
  expect_near(vals(grad_of(norm(z), z)), {0, 0, 0});  // not 0/0
  expect_near(vals(grad_of(norm(z, 3), z)), {0, 0, 0});
  expect_near(vals(grad_of(tessera::std(z), z)), {0, 0, 0});
  const Tensor x = tensor<double>({-3, 3, 1}).requires_grad_();
  expect_near(vals(grad_of(norm(x, INFINITY), x)), {-0.5, 0.5, 0});
  expect_near(vals(grad_of(norm(x, 1), x)), {-1, 1, 1});
  expect_near(vals(grad_of(norm(x, 0), x)), {0, 0, 0});
  const double n2 = std::sqrt(19.0);
  expect_near(vals(grad_of(norm(x), x)), {-3 / n2, 3 / n2, 1 / n2});
}

TEST(ReduceGradValues, CumsumIsAReversedCumsum) {
  const Tensor x = tensor<double>({1, 2, 3}).requires_grad_();
  const Tensor w = tensor<double>({1, 10, 100});
  EXPECT_EQ(vals(grad_of(mul(cumsum(x, 0), w), x)), (std::vector<double>{111, 110, 100}));
}

TEST(ReduceGradValues, SoftmaxGradientSumsToZero) {
  Generator gen(7);
  const Tensor x = randn({3, 5}, kFloat64, &gen).requires_grad_();
  const Tensor v = randn({3, 5}, kFloat64, &gen);
  const Tensor g = autograd::grad({softmax(x, 1)}, {x}, {v})[0];
  for (double s : vals(sum(g, {1}))) EXPECT_NEAR(s, 0, 1e-12);
}

TEST(ReduceGradValues, LogSoftmaxOfOneClassIsOneHotMinusSoftmax) {
  const Tensor x = tensor<double>({0.5, -1, 2}).requires_grad_();
  const Tensor pick = tensor<double>({0, 0, 1});
  const std::vector<double> p = vals(softmax(x.detach(), 0));
  expect_near(vals(grad_of(mul(log_softmax(x, 0), pick), x)), {-p[0], -p[1], 1 - p[2]});
  expect_near(vals(grad_of(logsumexp(x, {0}), x)), p);
}

TEST(ReduceGradValues, VarMatchesItsFormula) {
  const Tensor x = tensor<double>({1, 2, 6}).requires_grad_();
  // mean 3: 2 (x - 3) / (3 - 1)
  expect_near(vals(grad_of(var(x), x)), {-2, -1, 3});
  expect_near(vals(grad_of(var(x, {}, 0), x)), {-4. / 3, -2. / 3, 2});
}

}  // namespace
