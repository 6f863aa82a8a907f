// Gradients of the shape family (cat, stack, repeat/tile, flip, roll, tril, triu) and the
// index family (gather, scatter, scatter_add, index_select, index_put, sort, topk): known
// values, and the one case an opdb sample cannot express (one leaf passed twice). The
// gradcheck and gradgradcheck of each op's variants are generated from its tests/opdb
// entry (OpDb/OpDbGrad.*).
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <set>
#include <string>

#include "tessera/tessera.h"

using namespace tessera;
using autograd::gradcheck;
using autograd::gradgradcheck;
using autograd::TensorFn;

namespace {

Tensor i64(std::vector<int64_t> v, IntArrayRef shape = {}) { return tensor<int64_t>(v, shape); }

// The same leaf twice: its gradient is the sum of both positions' (an opdb sample's
// inputs are separate leaves, so the accumulation is checked here).
TEST(ShapeGrad, CatOfTheSameTensorTwice) {
  Generator gen(11);
  const std::vector<Tensor> in{randn({2, 2}, kFloat64, &gen).requires_grad_()};
  const TensorFn fn = [](const std::vector<Tensor>& x) { return cat({x[0], x[0]}, 0); };
  const auto r = gradcheck(fn, in);
  EXPECT_TRUE(r.ok) << r.message;
  const auto rr = gradgradcheck([&](const std::vector<Tensor>& x) { return square(fn(x)); }, in);
  EXPECT_TRUE(rr.ok) << rr.message;
}

// ---- known values ----

Tensor leaf(std::vector<double> v, IntArrayRef shape = {}) {
  return tensor<double>(v, shape).requires_grad_();
}
std::vector<double> vals(const Tensor& t) { return t.contiguous().to_vector<double>(); }
// Weights 1, 2, 3, ... in the output's shape: each gradient element names where it came from.
Tensor weights(const Tensor& y) {
  return arange(1, y.numel() + 1, 1, kFloat64).reshape(y.sizes());
}
void backward_weighted(const Tensor& y) { sum(mul(y, weights(y))).backward(); }

TEST(ShapeGradValues, CatAndStackSplitTheGradient) {
  Tensor a = leaf({0, 0}, {1, 2});
  Tensor b = leaf({0, 0, 0, 0}, {2, 2});
  backward_weighted(cat({a, b}, 0));
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{1, 2}));
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{3, 4, 5, 6}));
  Tensor c = leaf({0, 0});
  Tensor d = leaf({0, 0});
  backward_weighted(stack({c, d}, 1));  // [[c0, d0], [c1, d1]]
  EXPECT_EQ(vals(c.grad()), (std::vector<double>{1, 3}));
  EXPECT_EQ(vals(d.grad()), (std::vector<double>{2, 4}));
}

TEST(ShapeGradValues, RepeatSumsTheCopies) {
  Tensor x = leaf({0, 0});
  backward_weighted(repeat(x, {2, 2}));  // [[x0, x1, x0, x1], [x0, x1, x0, x1]]
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{1 + 3 + 5 + 7, 2 + 4 + 6 + 8}));
  Tensor y = leaf({0, 0});
  backward_weighted(repeat(y, {0}));  // no copies: zero gradient of y's shape
  EXPECT_EQ(vals(y.grad()), (std::vector<double>{0, 0}));
}

TEST(ShapeGradValues, FlipRollTrilMoveTheGradientBack) {
  Tensor x = leaf({0, 0, 0});
  backward_weighted(flip(x, {0}));
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{3, 2, 1}));
  Tensor r = leaf({0, 0, 0});
  backward_weighted(roll(r, {1}));  // [r2, r0, r1]
  EXPECT_EQ(vals(r.grad()), (std::vector<double>{2, 3, 1}));
  Tensor t = leaf({0, 0, 0, 0}, {2, 2});
  backward_weighted(tril(t));
  EXPECT_EQ(vals(t.grad()), (std::vector<double>{1, 0, 3, 4}));
}

TEST(ShapeGradValues, GatherAddsUpDuplicates) {
  Tensor x = leaf({0, 0, 0});
  sum(gather(x, 0, i64({0, 0, 2}))).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, 0, 1}));
}

TEST(ShapeGradValues, ScatterZeroesOverwrittenInput) {
  Tensor x = leaf({0, 0, 0, 0});
  Tensor src = leaf({0, 0, 0});
  backward_weighted(scatter(x, 0, i64({2, 0}), src));  // src[2] is not scattered
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{0, 2, 0, 4}));
  EXPECT_EQ(vals(src.grad()), (std::vector<double>{3, 1, 0}));
  Tensor y = leaf({0, 0, 0});
  Tensor s = leaf({0, 0, 0});
  backward_weighted(scatter_add(y, 0, i64({1, 1, 0}), s));
  EXPECT_EQ(vals(y.grad()), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(vals(s.grad()), (std::vector<double>{2, 2, 1}));
}

TEST(ShapeGradValues, IndexSelectAndIndexPut) {
  Tensor x = leaf({0, 0, 0, 0, 0, 0}, {3, 2});
  sum(index_select(x, 0, i64({2, 2, 0}))).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{1, 1, 0, 0, 2, 2}));

  Tensor base = leaf({0, 0, 0, 0, 0, 0}, {3, 2});
  Tensor v = leaf({0, 0}, {2});  // broadcast to both picked rows
  backward_weighted(index_put(base, {i64({2, 0})}, v));
  EXPECT_EQ(vals(base.grad()), (std::vector<double>{0, 0, 3, 4, 0, 0}));
  EXPECT_EQ(vals(v.grad()), (std::vector<double>{5 + 1, 6 + 2}));

  Tensor acc = leaf({0, 0, 0}, {3});
  Tensor w = leaf({0, 0, 0}, {3});
  backward_weighted(index_put(acc, {tensor<bool>({true, false, true})}, w.narrow(0, 0, 2), true));
  EXPECT_EQ(vals(acc.grad()), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{1, 3, 0}));
}

TEST(ShapeGradValues, SortAndTopkRouteToTheChosenElements) {
  Tensor x = leaf({3, 1, 2});
  backward_weighted(sort(x).first);  // values [1, 2, 3] from positions [1, 2, 0]
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{3, 1, 2}));
  Tensor y = leaf({5, 9, 1, 7});
  backward_weighted(topk(y, 2).first);  // [9, 7]
  EXPECT_EQ(vals(y.grad()), (std::vector<double>{0, 1, 0, 2}));
}

// Double backward by hand: y = sum(gather(x, idx)^2) with idx picking x0 twice:
// dy/dx0 = 2 * 2 x0, d/dx0 of that = 4.
TEST(ShapeGradValues, GatherSecondDerivative) {
  Tensor x = leaf({3, 5});
  Tensor g = gather(x, 0, i64({0, 0, 1}));
  auto d1 = autograd::grad({sum(mul(g, g))}, {x}, {}, false, true);
  EXPECT_EQ(vals(d1[0]), (std::vector<double>{12, 10}));
  auto d2 = autograd::grad({sum(d1[0])}, {x});
  EXPECT_EQ(vals(d2[0]), (std::vector<double>{4, 2}));
}

}  // namespace
