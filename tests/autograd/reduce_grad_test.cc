// Backward rules of the reduction family (reductions, scans, softmax): for every
// differentiable op a gradcheck and a gradgradcheck (float64 finite differences) over all
// dims, one dim, several dims, negative dims and keepdim; then known values where finite
// differences cannot judge (ties, zeros, a zero norm) and properties (softmax's gradient
// sums to zero).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <set>
#include <string>

#include "ops/reduce.h"
#include "autograd/grad_test_util.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

using In = std::vector<Tensor>;

using grad_test::leaf;
using grad_test::signed_away;
using grad_test::uniform_values;

struct GradCase {
  std::string name;
  std::string op;  // the op table entry this case exercises
  std::function<Tensor(Generator&)> input;
  std::function<Tensor(const Tensor&)> fn;
};
// gtest (and so ctest's test list) prints a parameter with this: the name, not its bytes.
void PrintTo(const GradCase& c, std::ostream* os) { *os << c.name; }

std::vector<GradCase> cases() {
  using G = Generator;
  const Shape s{2, 3, 4};
  auto any_value = [s](G& g) { return leaf(uniform_values(s, -2, 2, g)); };
  // Away from 0 (kinks of |x|) and, for prod, with factors near 1 so products stay O(1).
  auto nonzero = [s](G& g) { return leaf(signed_away(s, 0.3, 2, g)); };
  auto near_one = [](G& g) { return leaf(signed_away({2, 3, 4}, 0.6, 1.4, g)); };
  // One zero in each slice along dim 1 (and so in the whole tensor).
  auto one_zero = [](G& g) {
    Tensor x = signed_away({2, 3, 4}, 0.6, 1.4, g);
    const Tensor zero_at = eq(arange(3).view({1, 3, 1}), tensor<int64_t>({0, 1, 2, 1}).view({1, 1, 4}));
    return leaf(masked_fill(x, logical_and(zero_at, eq(arange(2).view({2, 1, 1}), 0)), 0.0));
  };
  std::vector<GradCase> c = {
      {"sum_all", "sum", any_value, [](const Tensor& x) { return sum(x); }},
      {"sum_dim", "sum", any_value, [](const Tensor& x) { return sum(x, {1}); }},
      {"sum_dims_keepdim", "sum", any_value, [](const Tensor& x) { return sum(x, {0, 2}, true); }},
      {"sum_negative_dim", "sum", any_value, [](const Tensor& x) { return sum(x, {-1}); }},
      {"mean_all", "mean", any_value, [](const Tensor& x) { return mean(x); }},
      {"mean_dims", "mean", any_value, [](const Tensor& x) { return mean(x, {0, 2}); }},
      {"mean_dim_keepdim", "mean", any_value, [](const Tensor& x) { return mean(x, {-2}, true); }},
      {"prod_all", "prod", near_one, [](const Tensor& x) { return prod(x); }},
      {"prod_dim_keepdim", "prod", near_one, [](const Tensor& x) { return prod(x, {1}, true); }},
      {"prod_dims", "prod", near_one, [](const Tensor& x) { return prod(x, {0, 2}); }},
      {"prod_single_zero_per_slice", "prod", one_zero, [](const Tensor& x) { return prod(x, {1}); }},
      {"prod_single_zero_all", "prod", [](G& g) {
         Tensor x = signed_away({2, 3}, 0.6, 1.4, g);
         return leaf(masked_fill(x, eq(arange(6).view({2, 3}), 4), 0.0));
       }, [](const Tensor& x) { return prod(x); }},
      {"amax_all", "amax", any_value, [](const Tensor& x) { return amax(x); }},
      {"amax_dims_keepdim", "amax", any_value, [](const Tensor& x) { return amax(x, {0, 2}, true); }},
      {"amin_dim", "amin", any_value, [](const Tensor& x) { return amin(x, {1}); }},
      {"amin_negative_dim", "amin", any_value, [](const Tensor& x) { return amin(x, {-1}, true); }},
      {"max_dim", "max", any_value, [](const Tensor& x) { return max(x, 1).first; }},
      {"max_dim_keepdim", "max", any_value, [](const Tensor& x) { return max(x, -1, true).first; }},
      {"min_dim", "min", any_value, [](const Tensor& x) { return min(x, 0).first; }},
      {"min_dim_keepdim", "min", any_value, [](const Tensor& x) { return min(x, 2, true).first; }},
      {"var_dim", "var", any_value, [](const Tensor& x) { return var(x, {1}); }},
      {"var_all_biased_keepdim", "var", any_value, [](const Tensor& x) { return var(x, {}, 0, true); }},
      {"var_dims", "var", any_value, [](const Tensor& x) { return var(x, {0, -1}, 1); }},
      {"std_dim", "std", any_value, [](const Tensor& x) { return tessera::std(x, {2}); }},
      {"std_all", "std", any_value, [](const Tensor& x) { return tessera::std(x); }},
      {"std_dims_keepdim", "std", any_value, [](const Tensor& x) { return tessera::std(x, {0, 1}, 0, true); }},
      {"norm_l2_all", "norm_l2", any_value, [](const Tensor& x) { return norm(x); }},
      {"norm_l2_dim_keepdim", "norm_l2", any_value, [](const Tensor& x) { return norm(x, 2, {1}, true); }},
      {"norm_l1", "norm_l1", nonzero, [](const Tensor& x) { return norm(x, 1, {0, 2}); }},
      {"norm_p3", "norm", any_value, [](const Tensor& x) { return norm(x, 3, {2}); }},
      {"norm_p1_5", "norm", nonzero, [](const Tensor& x) { return norm(x, 1.5, {1}); }},
      {"norm_p0_5", "norm", nonzero, [](const Tensor& x) { return norm(x, 0.5, {-1}); }},
      {"norm_inf", "norm", nonzero, [](const Tensor& x) { return norm(x, INFINITY, {1}); }},
      {"norm_neg_inf", "norm", nonzero, [](const Tensor& x) { return norm(x, -INFINITY); }},
      {"norm_p0", "norm", nonzero, [](const Tensor& x) { return mul(norm(x, 0, {2}, true), x); }},
      {"logsumexp_dim", "logsumexp", any_value, [](const Tensor& x) { return logsumexp(x, {1}); }},
      {"logsumexp_dims_keepdim", "logsumexp", any_value,
       [](const Tensor& x) { return logsumexp(x, {0, 2}, true); }},
      {"cumsum_dim0", "cumsum", any_value, [](const Tensor& x) { return cumsum(x, 0); }},
      {"cumsum_last", "cumsum", any_value, [](const Tensor& x) { return cumsum(x, -1); }},
      {"softmax_dim1", "softmax", any_value, [](const Tensor& x) { return softmax(x, 1); }},
      {"softmax_last", "softmax", any_value, [](const Tensor& x) { return softmax(x, -1); }},
      {"log_softmax_dim0", "log_softmax", any_value, [](const Tensor& x) { return log_softmax(x, 0); }},
      {"log_softmax_last", "log_softmax", any_value, [](const Tensor& x) { return log_softmax(x, 2); }},
  };
  return c;
}

class ReduceGrad : public ::testing::TestWithParam<GradCase> {
 protected:
  In inputs() const {
    Generator g(std::hash<std::string>{}(GetParam().name));
    return {GetParam().input(g)};
  }
};

TEST_P(ReduceGrad, Gradcheck) {
  const auto& f = GetParam().fn;
  const auto r = autograd::gradcheck([&](const In& x) { return f(x[0]); }, inputs());
  EXPECT_TRUE(r.ok) << r.message;
}

// On f(x)^2: the linear reductions (sum, mean, cumsum, max) have a zero second derivative;
// squaring also checks that each rule is differentiable in its incoming gradient.
TEST_P(ReduceGrad, Gradgradcheck) {
  const auto& f = GetParam().fn;
  const auto r = autograd::gradgradcheck([&](const In& x) { return square(f(x[0])); }, inputs());
  EXPECT_TRUE(r.ok) << r.message;
}

INSTANTIATE_TEST_SUITE_P(Ops, ReduceGrad, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<GradCase>& i) { return i.param.name; });

TEST(ReduceGradCoverage, EveryDifferentiableOpIsChecked) {
  using namespace tessera::ops;
  ensure_registered();
  const OpDef* family[] = {&kSum, &kMean, &kProd, &kAmax, &kAmin, &kMaxDim, &kMinDim,
                           &kArgmax, &kArgmin, &kVar, &kStd, &kNorm, &kNormL1, &kNormL2,
                           &kLogSumExp, &kAll, &kAny, &kCumsum, &kSoftmax, &kLogSoftmax};
  const std::set<std::string> not_float{"argmax", "argmin", "all", "any"};
  std::set<std::string> covered;
  const auto all = cases();
  for (const GradCase& c : all) covered.insert(c.op);
  int checked = 0;
  for (const OpDef* op : family) {
    const bool diff = (op->flags & kDifferentiable) != 0;
    EXPECT_EQ(diff, not_float.count(op->name) == 0) << op->name;
    if (!diff) continue;
    EXPECT_NE(op->backward, nullptr) << op->name;
    EXPECT_EQ(covered.count(op->name), 1u) << op->name << " has no gradcheck case";
    ++checked;
  }
  std::cout << "[reduce_grad] gradcheck + gradgradcheck: " << checked
            << " differentiable ops in " << all.size() << " cases\n";
}

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
