// Gradients of the shape family (cat, stack, repeat/tile, flip, roll, tril, triu) and the
// index family (gather, scatter, scatter_add, index_select, index_put, sort, topk): a
// finite-difference gradcheck and a gradgradcheck per case, plus known values.
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <set>
#include <string>

#include "ops/index.h"
#include "ops/shape.h"
#include "autograd/grad_test_util.h"
#include "tessera/tessera.h"

using namespace tessera;
using autograd::gradcheck;
using autograd::gradgradcheck;
using autograd::TensorFn;

namespace {

using GradCase = grad_test::ShapedGradCase;
using grad_test::random_inputs;

Tensor i64(std::vector<int64_t> v, IntArrayRef shape = {}) { return tensor<int64_t>(v, shape); }

std::vector<GradCase> shape_cases() {
  using V = const std::vector<Tensor>&;
  // Index tensors are fixed data captured by the case (gradcheck perturbs only floats).
  // Per column of dim 0 these are distinct, so scatter (last write wins) is smooth.
  const Tensor col_unique = i64({0, 1, 2, 0, 1, 2, 0, 1, 1, 0}, {2, 5});
  const Tensor with_dups = i64({0, 0, 2, 1, 3, 3, 0, 1}, {2, 4});
  return {
      {"cat_dim0", "cat", {{2, 3}, {1, 3}, {4, 3}},
       [](V x) { return cat({x[0], x[1], x[2]}, 0); }},
      {"cat_negative_dim", "cat", {{2, 3}, {2, 1}}, [](V x) { return cat({x[0], x[1]}, -1); }},
      {"cat_skips_empty_1d", "cat", {{2, 3}, {0}, {2, 2}},
       [](V x) { return cat({x[0], x[1], x[2]}, 1); }},
      {"cat_strided", "cat", {{3, 2}, {1, 2}}, [](V x) { return cat({x[0].t(), x[1].t()}, 1); }},
      {"cat_same_tensor_twice", "cat", {{2, 2}}, [](V x) { return cat({x[0], x[0]}, 0); }},
      {"stack_dim0", "stack", {{2, 3}, {2, 3}}, [](V x) { return stack({x[0], x[1]}, 0); }},
      {"stack_dim1", "stack", {{2, 3}, {2, 3}, {2, 3}},
       [](V x) { return stack({x[0], x[1], x[2]}, 1); }},
      {"stack_last_dim", "stack", {{4}, {4}}, [](V x) { return stack({x[0], x[1]}, -1); }},
      {"repeat_same_rank", "repeat", {{2, 3}}, [](V x) { return repeat(x[0], {2, 1}); }},
      {"repeat_new_dims", "repeat", {{2, 3}}, [](V x) { return repeat(x[0], {2, 1, 3}); }},
      {"repeat_0d", "repeat", {{}}, [](V x) { return repeat(x[0], {3}); }},
      {"repeat_strided", "repeat", {{3, 2}}, [](V x) { return repeat(x[0].t(), {2, 2}); }},
      {"tile_short_reps", "repeat", {{2, 3}}, [](V x) { return tile(x[0], {2}); }},
      {"flip_one_dim", "flip", {{3, 4}}, [](V x) { return flip(x[0], {0}); }},
      {"flip_two_dims", "flip", {{2, 3, 4}}, [](V x) { return flip(x[0], {0, -1}); }},
      {"roll_one_dim", "roll", {{3, 4}}, [](V x) { return roll(x[0], {1}, {1}); }},
      {"roll_two_dims", "roll", {{3, 4}}, [](V x) { return roll(x[0], {1, -3}, {0, 1}); }},
      {"roll_flattened", "roll", {{3, 4}}, [](V x) { return roll(x[0], {5}); }},
      {"tril", "tril", {{4, 4}}, [](V x) { return tril(x[0]); }},
      {"tril_diagonal", "tril", {{3, 5}}, [](V x) { return tril(x[0], 1); }},
      {"triu", "triu", {{4, 4}}, [](V x) { return triu(x[0]); }},
      {"triu_batched", "triu", {{2, 3, 3}}, [](V x) { return triu(x[0], -1); }},
      {"gather_dim0", "gather", {{4, 5}},
       [=](V x) { return gather(x[0], 0, col_unique); }},
      {"gather_dim1_duplicates", "gather", {{2, 6}},
       [=](V x) { return gather(x[0], 1, with_dups); }},
      {"gather_smaller_index", "gather", {{3, 6}},
       [=](V x) { return gather(x[0], 1, with_dups); }},
      {"gather_strided", "gather", {{5, 3}},
       [=](V x) { return gather(x[0].t(), 0, col_unique.narrow(1, 0, 3)); }},
      {"scatter_src", "scatter", {{3, 5}, {2, 5}},
       [=](V x) { return scatter(x[0], 0, col_unique, x[1]); }},
      {"scatter_larger_src", "scatter", {{3, 5}, {3, 6}},
       [=](V x) { return scatter(x[0], 0, col_unique, x[1]); }},
      {"scatter_value", "scatter", {{3, 5}},
       [=](V x) { return scatter(x[0], 0, col_unique, 2.5); }},
      {"scatter_add", "scatter_add", {{2, 5}, {2, 4}},
       [=](V x) { return scatter_add(x[0], 1, with_dups, x[1]); }},
      {"scatter_add_larger_src", "scatter_add", {{2, 4}, {3, 5}},
       [=](V x) { return scatter_add(x[0], 1, with_dups, x[1]); }},
      {"index_select_dim0_duplicates", "index_select", {{4, 3}},
       [](V x) { return index_select(x[0], 0, i64({3, 0, 3, 1})); }},
      {"index_select_dim1", "index_select", {{2, 4, 3}},
       [](V x) { return index_select(x[0], 1, i64({2, 2, 0})); }},
      {"index_select_int32", "index_select", {{5}},
       [](V x) { return index_select(x[0], 0, tensor<int32_t>({4, 1, 1})); }},
      {"index_select_0d_index", "index_select", {{3, 4}},
       [](V x) { return index_select(x[0], 1, i64({2}).reshape({})); }},
      {"index_select_0d_input", "index_select", {{}},
       [](V x) { return index_select(x[0], 0, i64({0, 0, 0})); }},
      {"index_put", "index_put", {{5, 3}, {2, 3}},
       [](V x) { return index_put(x[0], {i64({4, 1})}, x[1]); }},
      {"index_put_accumulate_duplicates", "index_put", {{5, 3}, {3, 3}},
       [](V x) { return index_put(x[0], {i64({0, 2, 0})}, x[1], true); }},
      {"index_put_broadcast_values", "index_put", {{5, 3}, {3}},
       [](V x) { return index_put(x[0], {i64({0, 3, 4})}, x[1], true); }},
      {"index_put_scalar_value", "index_put", {{5, 3}, {}},
       [](V x) { return index_put(x[0], {i64({1, 3})}, x[1]); }},
      {"index_put_negative_indices", "index_put", {{5, 3}, {2, 3}},
       [](V x) { return index_put(x[0], {i64({-1, 1})}, x[1]); }},
      {"index_put_two_broadcast_indices", "index_put", {{4, 5, 2}, {2, 3, 2}},
       [](V x) { return index_put(x[0], {i64({3, 0}, {2, 1}), i64({1, 4, 2})}, x[1]); }},
      {"index_put_bool_mask", "index_put", {{4, 3}, {2, 3}},
       [](V x) { return index_put(x[0], {tensor<bool>({true, false, false, true})}, x[1]); }},
      {"index_put_2d_mask", "index_put", {{2, 3, 2}, {3, 2}},
       [](V x) {
         Tensor mask = tensor<bool>({false, true, true, false, false, true}, {2, 3});
         return index_put(x[0], {mask}, x[1], true);
       }},
      {"sort_ascending", "sort", {{3, 5}}, [](V x) { return sort(x[0], 1).first; }},
      {"sort_descending_dim0", "sort", {{4, 3}}, [](V x) { return sort(x[0], 0, true).first; }},
      {"sort_strided", "sort", {{5, 3}}, [](V x) { return sort(x[0].t(), -1).first; }},
      {"topk_largest", "topk", {{3, 6}}, [](V x) { return topk(x[0], 2).first; }},
      {"topk_smallest_dim0", "topk", {{5, 3}},
       [](V x) { return topk(x[0], 3, 0, false).first; }},
      {"topk_0d", "topk", {{}}, [](V x) { return topk(x[0], 1, 0).first; }},
      {"sort_0d", "sort", {{}}, [](V x) { return sort(x[0], 0).first; }},
      {"gather_0d", "gather", {{}}, [](V x) { return gather(x[0], 0, i64({0}).reshape({})); }},
      {"cat_only_empty", "cat", {{0}, {0}}, [](V x) { return cat({x[0], x[1]}, 0); }},
  };
}

class ShapeGrad : public ::testing::TestWithParam<GradCase> {};

TEST_P(ShapeGrad, Gradcheck) {
  const GradCase& c = GetParam();
  const auto r = gradcheck(c.fn, random_inputs(c));
  EXPECT_TRUE(r.ok) << r.message;
}

// These ops are linear, so their second derivative is zero; squaring the output makes the
// gradient depend on the inputs, so the check really differentiates each backward rule.
TEST_P(ShapeGrad, Gradgradcheck) {
  const GradCase& c = GetParam();
  const TensorFn squared = [&c](const std::vector<Tensor>& x) {
    Tensor y = c.fn(x);
    return mul(y, y);
  };
  const auto r = gradgradcheck(squared, random_inputs(c));
  EXPECT_TRUE(r.ok) << r.message;
}

INSTANTIATE_TEST_SUITE_P(Cases, ShapeGrad, ::testing::ValuesIn(shape_cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) {
                           return info.param.name;
                         });

// Every differentiable op of the shape and index families has a rule and at least one
// case above; one_hot (integer output) is not differentiable.
TEST(ShapeGradCoverage, EveryOpChecked) {
  std::set<std::string> covered;
  for (const GradCase& c : shape_cases()) covered.insert(c.op);
  int checked = 0;
  for (const ops::OpDef* op :
       {&ops::kCat, &ops::kStack, &ops::kRepeat, &ops::kFlip, &ops::kRoll, &ops::kTril,
        &ops::kTriu, &ops::kGather, &ops::kScatter, &ops::kScatterAdd, &ops::kIndexSelect,
        &ops::kIndexPut, &ops::kSort, &ops::kTopK}) {
    EXPECT_TRUE(op->flags & ops::kDifferentiable) << op->name;
    EXPECT_NE(op->backward, nullptr) << op->name;
    EXPECT_TRUE(covered.count(op->name)) << op->name << " has no gradcheck case";
    checked += covered.count(op->name) ? 1 : 0;
  }
  EXPECT_FALSE(ops::kOneHot.flags & ops::kDifferentiable);
  std::cout << "shape_grad_test: gradcheck + gradgradcheck on " << checked << " ops ("
            << shape_cases().size() << " cases)\n";
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
