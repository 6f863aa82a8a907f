// Gradients of the linear-algebra family (matmul, mm, bmm, addmm, outer, dot): known
// values, and the cases an opdb sample cannot express (an operand expanded from a leaf,
// one leaf as both operands). The gradcheck and gradgradcheck of the other variants (1-D
// operands, broadcast batches, non-contiguous operands, addmm's beta/alpha) are generated
// from each op's tests/opdb entry (OpDb/OpDbGrad.*).
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

// Where the leaf's gradient sums over positions: a batch expanded from one matrix (stride
// 0), and the same matrix on both sides.
TEST(LinalgGrad, ExpandedBatchAndSameOperand) {
  Generator gen(12);
  const std::vector<Tensor> in{randn({3, 4}, kFloat64, &gen).requires_grad_(), randn({4, 2}, kFloat64, &gen).requires_grad_()};
  const TensorFn expanded = [](const std::vector<Tensor>& x) { return matmul(x[0].expand({2, 3, 4}), x[1]); };
  EXPECT_TRUE(gradcheck(expanded, in).ok);
  EXPECT_TRUE(gradgradcheck(expanded, in).ok);
  const std::vector<Tensor> sq{randn({3, 3}, kFloat64, &gen).requires_grad_()};
  const TensorFn same = [](const std::vector<Tensor>& x) { return matmul(x[0], x[0]); };
  const auto r = gradcheck(same, sq);
  EXPECT_TRUE(r.ok) << r.message;
  const auto rr = gradgradcheck(same, sq);
  EXPECT_TRUE(rr.ok) << rr.message;
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
