// Gradients of the linear-algebra family (matmul, mm, bmm, addmm, outer, dot): a
// finite-difference gradcheck and a gradgradcheck per case (1-D operands, broadcast
// batches, non-contiguous operands, addmm's beta/alpha), plus known values.
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <set>
#include <string>

#include "ops/linalg.h"
#include "autograd/grad_test_util.h"
#include "tessera/tessera.h"

using namespace tessera;
using autograd::gradcheck;
using autograd::gradgradcheck;
using autograd::TensorFn;

namespace {

using GradCase = grad_test::ShapedGradCase;
using grad_test::random_inputs;

// Cases whose operands are views with strides the GEMM must honour: a transpose, a
// stepped slice, an expanded (stride-0) batch.
Tensor transposed(const Tensor& t) { return t.transpose(-1, -2); }
Tensor every_other_row(const Tensor& t) { return t.slice(-2, 0, t.size(-2), 2); }

std::vector<GradCase> linalg_cases() {
  using V = const std::vector<Tensor>&;
  return {
      {"matmul_2d_2d", "matmul", {{3, 4}, {4, 5}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_1d_1d", "matmul", {{4}, {4}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_1d_2d", "matmul", {{4}, {4, 3}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_2d_1d", "matmul", {{3, 4}, {4}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_1d_3d", "matmul", {{4}, {2, 4, 3}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_3d_1d", "matmul", {{2, 3, 4}, {4}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_batched", "matmul", {{2, 3, 4}, {2, 4, 2}}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_broadcast_2d_3d", "matmul", {{3, 4}, {2, 4, 5}},
       [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_broadcast_batch_dims", "matmul", {{2, 1, 3, 4}, {3, 4, 2}},
       [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_broadcast_size1_batch", "matmul", {{1, 3, 2}, {4, 2, 3}},
       [](V x) { return matmul(x[0], x[1]); }},
      {"matmul_transposed_operands", "matmul", {{2, 4, 3}, {2, 5, 4}},
       [](V x) { return matmul(transposed(x[0]), transposed(x[1])); }},
      {"matmul_sliced_operand", "matmul", {{6, 4}, {4, 3}},
       [](V x) { return matmul(every_other_row(x[0]), x[1]); }},
      {"matmul_expanded_batch", "matmul", {{3, 4}, {4, 2}},
       [](V x) { return matmul(x[0].expand({2, 3, 4}), x[1]); }},
      {"matmul_same_operand", "matmul", {{3, 3}}, [](V x) { return matmul(x[0], x[0]); }},
      {"mm", "mm", {{3, 4}, {4, 2}}, [](V x) { return mm(x[0], x[1]); }},
      {"mm_transposed", "mm", {{4, 3}, {2, 4}},
       [](V x) { return mm(x[0].t(), x[1].t()); }},
      {"mm_sliced", "mm", {{6, 4}, {4, 5}},
       [](V x) { return mm(every_other_row(x[0]), x[1].slice(1, 1, 5, 2)); }},
      {"bmm", "bmm", {{2, 3, 4}, {2, 4, 2}}, [](V x) { return bmm(x[0], x[1]); }},
      {"bmm_transposed", "bmm", {{2, 4, 3}, {2, 2, 4}},
       [](V x) { return bmm(transposed(x[0]), transposed(x[1])); }},
      {"addmm", "addmm", {{3, 2}, {3, 4}, {4, 2}},
       [](V x) { return addmm(x[0], x[1], x[2]); }},
      {"addmm_beta_alpha", "addmm", {{3, 2}, {3, 4}, {4, 2}},
       [](V x) { return addmm(x[0], x[1], x[2], 0.5, -2.0); }},
      {"addmm_beta_zero", "addmm", {{3, 2}, {3, 4}, {4, 2}},
       [](V x) { return addmm(x[0], x[1], x[2], 0.0, 1.5); }},
      {"addmm_bias_row", "addmm", {{2}, {3, 4}, {4, 2}},
       [](V x) { return addmm(x[0], x[1], x[2], 2.0, 1.0); }},
      {"addmm_bias_column", "addmm", {{3, 1}, {3, 4}, {4, 2}},
       [](V x) { return addmm(x[0], x[1], x[2]); }},
      {"addmm_bias_scalar", "addmm", {{}, {3, 4}, {4, 2}},
       [](V x) { return addmm(x[0], x[1], x[2], 3.0, 0.5); }},
      {"addmm_transposed", "addmm", {{3, 2}, {4, 3}, {2, 4}},
       [](V x) { return addmm(x[0], x[1].t(), x[2].t()); }},
      {"outer", "outer", {{3}, {4}}, [](V x) { return outer(x[0], x[1]); }},
      {"outer_strided", "outer", {{6}, {4}},
       [](V x) { return outer(x[0].slice(0, 0, 6, 2), x[1]); }},
      {"dot", "dot", {{5}, {5}}, [](V x) { return dot(x[0], x[1]); }},
      {"dot_strided", "dot", {{6}, {3}}, [](V x) { return dot(x[0].slice(0, 1, 6, 2), x[1]); }},
  };
}

class LinalgGrad : public ::testing::TestWithParam<GradCase> {};

TEST_P(LinalgGrad, Gradcheck) {
  const GradCase& c = GetParam();
  const auto r = gradcheck(c.fn, random_inputs(c));
  EXPECT_TRUE(r.ok) << r.message;
}

// Required for the whole matmul family (issue 3, acceptance 2).
TEST_P(LinalgGrad, Gradgradcheck) {
  const GradCase& c = GetParam();
  const auto r = gradgradcheck(c.fn, random_inputs(c));
  EXPECT_TRUE(r.ok) << r.message;
}

INSTANTIATE_TEST_SUITE_P(Cases, LinalgGrad, ::testing::ValuesIn(linalg_cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) {
                           return info.param.name;
                         });

// Every differentiable op of the family has a rule and at least one case above.
TEST(LinalgGradCoverage, EveryOpChecked) {
  std::set<std::string> covered;
  for (const GradCase& c : linalg_cases()) covered.insert(c.op);
  int checked = 0;
  for (const ops::OpDef* op : {&ops::kMatmul, &ops::kMm, &ops::kBmm, &ops::kAddmm, &ops::kOuter,
                               &ops::kDot}) {
    EXPECT_TRUE(op->flags & ops::kDifferentiable) << op->name;
    EXPECT_NE(op->backward, nullptr) << op->name;
    EXPECT_TRUE(covered.count(op->name)) << op->name << " has no gradcheck case";
    checked += covered.count(op->name) ? 1 : 0;
  }
  std::cout << "linalg_grad_test: gradcheck + gradgradcheck on " << checked << " ops ("
            << linalg_cases().size() << " cases)\n";
}

// ---- known values ----

Tensor leaf(std::vector<double> v, IntArrayRef shape) {
  return tensor<double>(v, shape).requires_grad_();
}
std::vector<double> vals(const Tensor& t) { return t.contiguous().to_vector<double>(); }

TEST(LinalgGradValues, MatmulOfSum) {
  Tensor a = leaf({1, 2, 3, 4}, {2, 2});
  Tensor b = leaf({5, 6, 7, 8}, {2, 2});
  sum(matmul(a, b)).backward();
  // d/da = ones @ b^T: each row holds b's row sums; d/db = a^T @ ones: a's column sums.
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{11, 15, 11, 15}));
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{4, 4, 6, 6}));
}

TEST(LinalgGradValues, MatmulBroadcastBatchSumsBack) {
  Tensor a = leaf({1, 2}, {1, 2});                          // [1, 2], shared by the batch
  Tensor b = ones({3, 2, 1}, kFloat64).requires_grad_();  // batch of 3
  Tensor y = matmul(a, b);                                  // [3, 1, 1]
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{3, 1, 1}));
  sum(y).backward();
  EXPECT_EQ(a.grad().sizes().vec(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{3, 3}));  // summed over the batch
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{1, 2, 1, 2, 1, 2}));
}

TEST(LinalgGradValues, MatmulVectorVector) {
  Tensor a = leaf({1, 2, 3}, {3});
  Tensor b = leaf({4, 5, 6}, {3});
  matmul(a, b).backward();
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{1, 2, 3}));
}

TEST(LinalgGradValues, AddmmScalesByBetaAndAlpha) {
  Tensor in = leaf({1, 1}, {2});
  Tensor a = leaf({1, 2, 3, 4}, {2, 2});
  Tensor b = leaf({1, 0, 0, 1}, {2, 2});
  sum(addmm(in, a, b, 3.0, 2.0)).backward();
  EXPECT_EQ(vals(in.grad()), (std::vector<double>{6, 6}));  // beta times 2 broadcast rows
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{2, 2, 2, 2}));
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{8, 8, 12, 12}));
}

TEST(LinalgGradValues, OuterAndDot) {
  Tensor a = leaf({1, 2}, {2});
  Tensor b = leaf({3, 4, 5}, {3});
  sum(outer(a, b)).backward();
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{12, 12}));
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{3, 3, 3}));
  Tensor c = leaf({1, 2, 3}, {3});
  Tensor d = leaf({-1, 0, 2}, {3});
  mul(dot(c, d), 2.0).backward();
  EXPECT_EQ(vals(c.grad()), (std::vector<double>{-2, 0, 4}));
  EXPECT_EQ(vals(d.grad()), (std::vector<double>{2, 4, 6}));
}

// Second derivative by hand: y = sum(A @ A) for a 2x2 A; dy/dA = 1 A^T + A^T 1 (1 = ones),
// whose own gradient (summed) is 2 * 2 = 4 per element: each a_ij appears in 4 entries.
TEST(LinalgGradValues, MatmulSecondDerivative) {
  Tensor a = leaf({1, 2, 3, 4}, {2, 2});
  Tensor y = sum(matmul(a, a));
  auto g = autograd::grad({y}, {a}, {}, false, true);
  // dy/da_ij = sum_k a_jk + sum_k a_ki: row sums of A (by j) plus column sums (by i).
  EXPECT_EQ(vals(g[0]), (std::vector<double>{3 + 4, 7 + 4, 3 + 6, 7 + 6}));
  auto gg = autograd::grad({sum(g[0])}, {a});
  EXPECT_EQ(vals(gg[0]), (std::vector<double>{4, 4, 4, 4}));
}

TEST(LinalgGradValues, MixedDtypeGradientKeepsInputDtype) {
  Tensor a = ones({2, 3}, kFloat32).requires_grad_();
  Tensor b = ones({3, 2}, kFloat64).requires_grad_();
  sum(matmul(a, b)).backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(b.grad().dtype(), kFloat64);
  EXPECT_EQ(a.grad().to(kFloat64).contiguous().to_vector<double>(),
            (std::vector<double>(6, 2.0)));
}

}  // namespace
