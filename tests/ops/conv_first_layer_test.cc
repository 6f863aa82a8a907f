// The weight gradient of 3x3 stride-1 convolutions with 1..4 input channels on blocked
// output gradients (backends/cpu/conv_first_layer.h), which conv2d_backward_weight_blocked
// runs on AVX2 CPUs in place of oneDNN's (which pads the channels to 8): against a float64
// gradient written here, with plain and blocked inputs, padding (none, same, asymmetric),
// output channels that leave padding lanes in the last block, more images than threads
// and fewer, at 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/cpu/conv_first_layer.h"
#include "backends/cpu/vec/float_loops.h"
#include "kernel_test_util.h"
#include "ops/conv.h"
#include "ops/op.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"

namespace {

using namespace tessera;
using kernel_test::call;
using kernel_test::rel_l2;

using Case = kernel_test::Conv3x3Case;

ops::Attrs attrs(const Case& s, int64_t stride = 1) {
  return {{"stride", std::vector<int64_t>{stride, stride}}, {"padding", s.pad}, {"dilation", std::vector<int64_t>{1, 1}},
          {"groups", int64_t{1}}, {"algorithm", std::string("direct")}, {"precision", std::string("float32")},
          {"weight_size", std::vector<int64_t>{s.k, s.c, 3, 3}}};
}

std::vector<double> reference(const Case& s, const Tensor& x, const Tensor& gy) {
  const std::vector<float> xv = x.to_vector<float>(), g = gy.to_vector<float>();
  std::vector<double> want(static_cast<size_t>(s.k * s.c * 9), 0.0);
  kernel_test::for_each_product(s, [&](int64_t n, int64_t k, int64_t i, int64_t j, int64_t c, int64_t a, int64_t b,
                                       int64_t iy, int64_t ix) {
    want[static_cast<size_t>(((k * s.c + c) * 3 + a) * 3 + b)] +=
        double(g[static_cast<size_t>(((n * s.k + k) * s.oh() + i) * s.ow() + j)]) *
        xv[static_cast<size_t>(((n * s.c + c) * s.h + iy) * s.w + ix)];
  });
  return want;
}

TEST(ConvFirstLayer, WeightGradientMatchesFloat64WithinFloat32Rounding) {
  if (!cpu::vec::cpu_runs_isa("avx2")) GTEST_SKIP() << "this CPU has no AVX2";
  manual_seed(31);
  const std::vector<Case> cases{{8, 1, 28, 28, 32, {0, 0, 0, 0}},   // CNN28's first layer
                                {3, 3, 16, 12, 12, {1, 1, 1, 1}},   // RGB, same padding, lanes past 12
                                {1, 2, 9, 11, 8, {2, 0, 1, 2}},     // one image; asymmetric padding
                                {5, 4, 7, 7, 20, {0, 1, 1, 0}}};    // the most channels; lanes past 20
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& s : cases) {
      char trace[96];
      std::snprintf(trace, sizeof trace, "n%ld c%ld %ldx%ld k%ld threads %d", long(s.n), long(s.c), long(s.h),
                    long(s.w), long(s.k), threads);
      SCOPED_TRACE(trace);
      const Tensor x = randn({s.n, s.c, s.h, s.w}), gy = randn({s.n, s.k, s.oh(), s.ow()});
      const ops::Attrs block{{"block", int64_t{8}}};
      const Tensor gyb = call("to_blocked", {gy}, block);
      const ops::ConvGeometry g = ops::conv_geometry(Shape{s.n, s.c, s.h, s.w}, Shape{s.k, s.c, 3, 3}, attrs(s));
      ASSERT_TRUE(cpu::few_channels_weight_grad_applies(g, x, gyb));
      const Tensor gw = call("conv2d_backward_weight_blocked", {x, gyb}, attrs(s));
      // The blocked input (its channels padded to 8) gives the same sums.
      EXPECT_TRUE(equal(call("conv2d_backward_weight_blocked", {call("to_blocked", {x}, block), gyb}, attrs(s)), gw));
      const std::vector<double> want = reference(s, x, gy);
      const double err = rel_l2(gw.to_vector<double>(), want);
      const double onednn_err = rel_l2(call("conv2d_backward_weight", {x, gy}, attrs(s)).to_vector<double>(), want);
      std::printf("few-channel weight gradient %.1e from float64 (oneDNN %.1e)\n", err, onednn_err);
      EXPECT_LT(err, 5e-6);  // sums of up to 5408 float32 products
      EXPECT_LT(err, 4.0 * onednn_err + 1e-7);
    }
  }
  set_num_threads(before);
}

// Past 4 input channels, or at stride 2, oneDNN's kernel runs.
TEST(ConvFirstLayer, AppliesToFewChannelsAtStrideOneOnly) {
  const Tensor gyb = zeros({1, 1, 6, 6, 8});
  Case s{1, 4, 8, 8, 8, {0, 0, 0, 0}};
  auto geometry = [](const Case& c, int64_t stride) {
    return ops::conv_geometry(Shape{c.n, c.c, c.h, c.w}, Shape{c.k, c.c, 3, 3}, attrs(c, stride));
  };
  const bool avx2 = cpu::vec::cpu_runs_isa("avx2");
  EXPECT_EQ(cpu::few_channels_weight_grad_applies(geometry(s, 1), zeros({1, 4, 8, 8}), gyb), avx2);
  EXPECT_FALSE(cpu::few_channels_weight_grad_applies(geometry(s, 2), zeros({1, 4, 8, 8}), gyb));
  s.c = 5;
  EXPECT_FALSE(cpu::few_channels_weight_grad_applies(geometry(s, 1), zeros({1, 5, 8, 8}), gyb));
}

}  // namespace
