// Autocast (tessera/autocast.h; issue 9's mixed precision): under AutocastGuard(kBFloat16)
// the convolutions read their operands rounded to bfloat16 and accumulate in float32. Each
// check compares against float32 on operands rounded by hand (x.to(kBFloat16).to(kFloat32)),
// which must agree to float32 rounding, and against plain float32, which must differ by
// bfloat16's rounding: a run that ignored autocast fails the first kind of check.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/autocast.h"
#include "tessera/autograd.h"
#include "tessera/graph.h"
#include "tessera/models.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"

namespace {

using namespace tessera;
namespace F = nn::functional;

double rel_l2(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

Tensor rounded(const Tensor& t) { return t.to(kBFloat16).to(kFloat32); }

#define SKIP_WITHOUT_BF16() \
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)"

TEST(Autocast, GuardNestsAndRefusesFloat16) {
  EXPECT_FALSE(is_autocast_enabled());
  {
    AutocastGuard on;
    EXPECT_TRUE(is_autocast_enabled());
    EXPECT_EQ(autocast_bf16_active(), bf16_supported());
    {
      AutocastGuard off(kBFloat16, false);
      EXPECT_FALSE(is_autocast_enabled());
      EXPECT_FALSE(autocast_bf16_active());
    }
    EXPECT_TRUE(is_autocast_enabled());
  }
  EXPECT_FALSE(is_autocast_enabled());
  try {
    AutocastGuard half(kFloat16);
    FAIL() << "float16 autocast should be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("f16"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_autocast_enabled());
}

TEST(Autocast, Conv2dForwardAndGradientsMultiplyInBf16) {
  SKIP_WITHOUT_BF16();
  manual_seed(1);
  const Tensor x0 = randn({4, 8, 12, 12}), w0 = randn({16, 8, 3, 3}), b = randn({16}), gy = randn({4, 16, 12, 12});
  Tensor x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  Tensor y;
  {
    AutocastGuard autocast;
    y = F::conv2d(x, w, b, {1}, {1});
  }
  EXPECT_EQ(y.dtype(), kFloat32);  // outputs stay float32
  // The gradients run after the scope has closed, and still in bf16 (the op recorded it).
  sum(mul(y, gy)).backward();

  const Tensor y_ref = F::conv2d(rounded(x0), rounded(w0), b, {1}, {1});
  const Tensor y_f32 = F::conv2d(x0, w0, b, {1}, {1});
  EXPECT_LT(rel_l2(y, y_ref), 1e-5);
  EXPECT_GT(rel_l2(y, y_f32), 1e-4);
  EXPECT_LT(rel_l2(y, y_f32), 1e-2);

  // gx reads (gy, w), gw reads (x, gy): both rounded.
  Tensor xr = rounded(x0).requires_grad_(true), wr = rounded(w0).requires_grad_(true);
  sum(mul(F::conv2d(xr, wr, b, {1}, {1}), rounded(gy))).backward();
  Tensor xf = x0.clone().requires_grad_(true), wf = w0.clone().requires_grad_(true);
  sum(mul(F::conv2d(xf, wf, b, {1}, {1}), gy)).backward();
  const double ex = rel_l2(x.grad(), xr.grad()), ew = rel_l2(w.grad(), wr.grad());
  std::printf("bf16 conv2d: output %.1e, input gradient %.1e, weight gradient %.1e from float32 on rounded "
              "operands; %.1e, %.1e, %.1e from float32\n",
              rel_l2(y, y_ref), ex, ew, rel_l2(y, y_f32), rel_l2(x.grad(), xf.grad()), rel_l2(w.grad(), wf.grad()));
  EXPECT_LT(ex, 1e-5);
  EXPECT_LT(ew, 1e-5);
  EXPECT_GT(rel_l2(x.grad(), xf.grad()), 1e-4);
  EXPECT_LT(rel_l2(w.grad(), wf.grad()), 1e-2);
}

TEST(Autocast, Float64AndUnsupportedCpusAreLeftAlone) {
  manual_seed(2);
  const Tensor x = randn({2, 3, 8, 8}), w = randn({4, 3, 3, 3});
  const Tensor plain = F::conv2d(x, w);
  {
    detail::set_bf16_disabled_for_testing(true);
    AutocastGuard autocast;
    EXPECT_FALSE(autocast_bf16_active());
    const Tensor y = F::conv2d(x, w);
    detail::set_bf16_disabled_for_testing(false);
    EXPECT_TRUE(equal(y, plain)) << "without bf16 instructions autocast must change nothing";
  }
  AutocastGuard autocast;
  const Tensor xd = x.to(kFloat64), wd = w.to(kFloat64);
  EXPECT_TRUE(equal(F::conv2d(xd, wd), [&] {
    AutocastGuard off(kBFloat16, false);
    return F::conv2d(xd, wd);
  }()));
}

TEST(Autocast, CompiledGraphsKeepThePrecisionAndCacheApart) {
  SKIP_WITHOUT_BF16();
  manual_seed(3);
  auto net = models::cnn28();
  net->eval();
  NoGradGuard no_grad;
  const Tensor x = randn({2, 1, 28, 28});
  const Tensor f32 = (*net)(x);
  Tensor eager_bf16;
  {
    AutocastGuard autocast;
    eager_bf16 = (*net)(x);
  }
  for (bool freeze : {false, true}) {  // the frozen graph runs the blocked convolutions
    CompileOptions o;
    o.freeze = freeze;
    CompiledFunction f = compile(*net, o);
    Tensor graph_bf16;
    {
      AutocastGuard autocast;
      graph_bf16 = f(x);
    }
    EXPECT_NE(f.last_graph().find("bf16"), std::string::npos) << f.last_graph();
    const Tensor graph_f32 = f(x);
    EXPECT_EQ(f.stats().traces, 2) << "a graph traced under autocast is not the float32 one";
    EXPECT_EQ(f.last_graph().find("bf16"), std::string::npos) << f.last_graph();
    std::printf("cnn28 compiled (freeze %d) under autocast: %.1e from eager autocast, %.1e from float32\n",
                freeze, rel_l2(graph_bf16, eager_bf16), rel_l2(graph_bf16, f32));
    EXPECT_LT(rel_l2(graph_bf16, eager_bf16), 1e-4);
    EXPECT_GT(rel_l2(graph_bf16, f32), 1e-5);
    EXPECT_LT(rel_l2(graph_bf16, f32), 2e-2);
    EXPECT_LT(rel_l2(graph_f32, f32), 1e-5);
  }
}

}  // namespace
