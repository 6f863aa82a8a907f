// Finite-difference gradient checks (float64) of the nn::functional functions that are not
// ops of their own (composites written in other ops: bilinear, group_norm, dropout, the
// regression and binary losses, ...): one table entry per function (or per distinct path
// through it), checked with gradcheck and, where marked, gradgradcheck. The functions that
// are ops (linear, layer_norm, batch_norm, cross_entropy, nll_loss, attention, conv, pool)
// are checked from their tests/opdb entries (OpDb/OpDbGrad.*).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "tessera/autograd.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"

namespace F = tessera::nn::functional;
using namespace tessera;
using autograd::TensorFn;

namespace {

struct GradCase {
  std::string name;
  std::vector<Tensor> inputs;  // float64; those that require grad are checked
  TensorFn fn;
  bool gradgrad = true;
};

Tensor leaf(Tensor t) { return t.requires_grad_(); }

std::vector<GradCase> cases() {
  Generator g(42);
  auto rn = [&](IntArrayRef s) { return leaf(randn(s, kFloat64, &g)); };
  auto un = [&](IntArrayRef s, double lo, double hi) {
    return leaf(add(mul(rand(s, kFloat64, &g), hi - lo), lo));
  };
  auto cst = [](Tensor t) { return t; };  // a constant input (no gradient checked)
  using R = F::Reduction;
  using V = const std::vector<Tensor>&;
  std::vector<GradCase> c;
  c.push_back({"bilinear", {rn({3, 2}), rn({3, 4}), rn({2, 2, 4}), rn({2})},
               [](V in) { return F::bilinear(in[0], in[1], in[2], in[3]); }});
  c.push_back({"group_norm", {rn({2, 4, 3}), rn({4}), rn({4})},
               [](V in) { return F::group_norm(in[0], 2, in[1], in[2]); }});
  c.push_back({"dropout", {rn({20})},
               [](V in) {
                 Generator fixed(3);  // the same mask on every evaluation
                 return F::dropout(in[0], 0.4, true, &fixed);
               }});
  // Without padding_idx: with it the gradient deliberately differs from the derivative
  // (EmbeddingPaddingRowGetsNoGradient below checks that case).
  c.push_back({"embedding", {cst(tensor<int64_t>({1, 0, 3, 1}, {2, 2})), rn({4, 3})},
               [](V in) { return F::embedding(in[0], in[1]); }});
  c.push_back({"leaky_relu", {rn({10})}, [](V in) { return F::leaky_relu(in[0], 0.1); }});
  c.push_back({"mse_loss", {rn({3, 4}), rn({3, 4})}, [](V in) { return F::mse_loss(in[0], in[1]); }});
  c.push_back({"l1_loss", {rn({3, 4}), rn({3, 4})}, [](V in) { return F::l1_loss(in[0], in[1], R::Sum); }});
  c.push_back({"smooth_l1_loss", {rn({3, 4}), rn({3, 4})},
               [](V in) { return F::smooth_l1_loss(in[0], in[1], R::None, 0.7); }});
  c.push_back({"binary_cross_entropy", {un({3, 4}, 0.1, 0.9), un({3, 4}, 0, 1), rn({4})},
               [](V in) { return F::binary_cross_entropy(in[0], in[1], in[2]); }});
  c.push_back({"binary_cross_entropy_with_logits", {rn({3, 4}), un({3, 4}, 0, 1), rn({3, 1}), un({4}, 0.5, 2)},
               [](V in) { return F::binary_cross_entropy_with_logits(in[0], in[1], in[2], in[3]); }});
  c.push_back({"kl_div", {rn({3, 4}), un({3, 4}, 0.1, 1)},
               [](V in) { return F::kl_div(in[0], in[1], R::Sum); }});
  c.push_back({"kl_div_log_target", {rn({3, 4}), rn({3, 4})},
               [](V in) { return F::kl_div(in[0], in[1], R::Mean, true); }});
  return c;
}

class NnGrad : public ::testing::TestWithParam<std::string> {};

const GradCase& find_case(const std::string& name) {
  static const std::vector<GradCase> all = cases();
  for (const GradCase& c : all)
    if (c.name == name) return c;
  throw std::runtime_error("no grad case " + name);
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const GradCase& c : cases()) names.push_back(c.name);
  return names;
}

TEST_P(NnGrad, Gradcheck) {
  const GradCase& c = find_case(GetParam());
  const auto r = autograd::gradcheck(c.fn, c.inputs);
  EXPECT_TRUE(r.ok) << r.message;
}

TEST_P(NnGrad, Gradgradcheck) {
  const GradCase& c = find_case(GetParam());
  if (!c.gradgrad) GTEST_SKIP() << "no second derivative check for " << c.name;
  const auto r = autograd::gradgradcheck(c.fn, c.inputs);
  EXPECT_TRUE(r.ok) << r.message;
}

INSTANTIATE_TEST_SUITE_P(Functional, NnGrad, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(NnGradExtra, EmbeddingPaddingRowGetsNoGradient) {
  Tensor w = randn({4, 3}, kFloat64).requires_grad_();
  F::embedding(tensor<int64_t>({1, 0, 1, 2}), w, 1).sum().backward();
  const std::vector<double> gw = w.grad().to_vector<double>();
  const std::vector<double> expect = {1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0};
  for (size_t i = 0; i < gw.size(); ++i) EXPECT_EQ(gw[i], expect[i]) << "element " << i;
}

TEST(NnGradExtra, BatchNormRunningStatsHaveNoHistory) {
  Tensor x = randn({4, 2}, kFloat64).requires_grad_();
  Tensor rm = zeros({2}, kFloat64), rv = ones({2}, kFloat64);
  F::batch_norm(x, rm, rv, {}, {}, true);
  EXPECT_FALSE(rm.requires_grad());
  EXPECT_FALSE(rv.requires_grad());
}

}  // namespace
