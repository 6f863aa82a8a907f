// Finite-difference checks (float64) of the convolution and pooling gradients: gradcheck
// and gradgradcheck for conv2d, conv1d and conv_transpose2d (whose double backward runs
// through the conv family's own gradient ops), gradcheck (and gradgradcheck where the op
// is piecewise linear) for the pools.
#include <gtest/gtest.h>

#include "tessera/autograd.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"

namespace F = tessera::nn::functional;
// A braced list for conv2d's padding would also match its std::string overload.
using Ints = std::vector<int64_t>;
using namespace tessera;
using autograd::gradcheck;
using autograd::gradgradcheck;

namespace {

Tensor leaf(IntArrayRef sizes, Generator& gen) { return randn(sizes, kFloat64, &gen).requires_grad_(); }

void check_both(const autograd::TensorFn& fn, const std::vector<Tensor>& in, const char* what) {
  const auto r = gradcheck(fn, in);
  EXPECT_TRUE(r.ok) << what << ": " << r.message;
  const auto rr = gradgradcheck(fn, in);
  EXPECT_TRUE(rr.ok) << what << " (second order): " << rr.message;
}

}  // namespace

TEST(ConvGrad, Conv2d) {
  Generator gen(1);
  check_both([](const std::vector<Tensor>& in) { return F::conv2d(in[0], in[1], in[2], {2, 1}, Ints{1, 0}, {1, 2}); },
             {leaf({2, 2, 6, 7}, gen), leaf({3, 2, 3, 2}, gen), leaf({3}, gen)}, "conv2d");
  check_both(
      [](const std::vector<Tensor>& in) { return F::conv2d(in[0], in[1], {}, {1, 1}, Ints{1, 1}, {1, 1}, 2); },
      {leaf({1, 4, 5, 5}, gen), leaf({4, 2, 3, 3}, gen)}, "conv2d groups");
  check_both(
      [](const std::vector<Tensor>& in) { return F::conv2d(in[0], in[1], in[2], {1, 1}, Ints{1, 1}, {1, 1}, 3); },
      {leaf({2, 3, 4, 5}, gen), leaf({3, 1, 3, 3}, gen), leaf({3}, gen)}, "conv2d depthwise");
  check_both(
      [](const std::vector<Tensor>& in) {
        return F::conv2d(in[0], in[1], {}, {1, 1}, std::string("same"), {1, 1});
      },
      {leaf({1, 2, 5, 4}, gen), leaf({2, 2, 2, 3}, gen)}, "conv2d same");
  // Stride 3 leaves the last input rows unused: their gradient must be exactly 0.
  check_both([](const std::vector<Tensor>& in) { return F::conv2d(in[0], in[1], {}, {3, 3}); },
             {leaf({1, 2, 8, 8}, gen), leaf({2, 2, 2, 2}, gen)}, "conv2d stride 3");
}

TEST(ConvGrad, Conv1d) {
  Generator gen(2);
  check_both([](const std::vector<Tensor>& in) { return F::conv1d(in[0], in[1], in[2], 2, 1, 2, 2); },
             {leaf({2, 4, 9}, gen), leaf({4, 2, 3}, gen), leaf({4}, gen)}, "conv1d");
}

TEST(ConvGrad, ConvTranspose2d) {
  Generator gen(3);
  check_both(
      [](const std::vector<Tensor>& in) {
        return F::conv_transpose2d(in[0], in[1], in[2], {2, 2}, {1, 0}, {1, 1}, 1, {1, 2});
      },
      {leaf({2, 2, 3, 4}, gen), leaf({2, 3, 3, 2}, gen), leaf({3}, gen)}, "conv_transpose2d");
  check_both(
      [](const std::vector<Tensor>& in) {
        return F::conv_transpose2d(in[0], in[1], {}, {1, 2}, {0, 1}, {0, 1}, 2);
      },
      {leaf({1, 4, 3, 3}, gen), leaf({4, 1, 2, 3}, gen)}, "conv_transpose2d groups");
}

TEST(ConvGrad, GradientOpsThemselves) {
  // The double-backward path alone: differentiate the weight gradient w.r.t. x and gy.
  Generator gen(4);
  Tensor x = leaf({2, 2, 5, 5}, gen), w = leaf({3, 2, 3, 3}, gen);
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor y = F::conv2d(in[0], in[1], {}, {2, 2}, Ints{1, 1});
    Tensor gw = autograd::grad({y}, {in[1]}, {mul(y, y)}, true, true)[0];
    return gw;
  };
  const auto r = gradcheck(fn, {x, w});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(PoolGrad, MaxPool2d) {
  // Distinct values far apart, so finite differences never flip a max.
  Tensor x = mul(randperm(2 * 3 * 7 * 6).to(kFloat64).view({2, 3, 7, 6}), 0.1).detach().requires_grad_();
  check_both([](const std::vector<Tensor>& in) { return F::max_pool2d(in[0], {3, 2}, {2, 1}, {1, 1}, {1, 2}, true); },
             {x}, "max_pool2d");
}

TEST(PoolGrad, AvgPool2d) {
  Generator gen(5);
  check_both([](const std::vector<Tensor>& in) { return F::avg_pool2d(in[0], {3, 2}, {2, 2}, {1, 1}, true, false); },
             {leaf({2, 2, 7, 6}, gen)}, "avg_pool2d");
  check_both([](const std::vector<Tensor>& in) { return F::avg_pool2d(in[0], {2, 3}, {1, 2}, {1, 1}, false, true); },
             {leaf({1, 2, 5, 6}, gen)}, "avg_pool2d count_include_pad");
}

TEST(PoolGrad, AdaptiveAvgPool2d) {
  Generator gen(6);
  check_both([](const std::vector<Tensor>& in) { return F::adaptive_avg_pool2d(in[0], {3, 4}); },
             {leaf({2, 2, 7, 5}, gen)}, "adaptive_avg_pool2d");
  check_both([](const std::vector<Tensor>& in) { return F::adaptive_avg_pool2d(in[0], {1, 1}); },
             {leaf({2, 3, 4, 5}, gen)}, "global avg pool");
}
