// The float32 Winograd convolution on 8-channel blocks (backends/cpu/winograd_f32.h),
// which conv2d_blocked runs for a compiled inference graph's 3x3 stride-1 convolutions on
// AVX2 CPUs: against a float64 convolution written here, beside oneDNN's direct kernel on
// the same operands. Shapes cover odd output sizes (partial 2x2 tiles), channel counts
// that leave padding lanes in the last block of 8, asymmetric padding, several chunks of
// tiles, the fused bias, residual and ReLU, and 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backends/cpu/vec/float_loops.h"
#include "backends/cpu/winograd_f32.h"
#include "kernel_test_util.h"
#include "ops/conv.h"
#include "ops/op.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"

namespace {

using namespace tessera;
using kernel_test::call;
using kernel_test::for_each_product;
using kernel_test::rel_l2;
using kernel_test::same_bits;

struct Case {
  int64_t n, c, h, w, k;
  std::vector<int64_t> pad;  // top, left, bottom, right
  bool residual, relu;
};

ops::Attrs conv_attrs(const Case& s, const std::string& algorithm) {
  return ops::Attrs{{"stride", std::vector<int64_t>{1, 1}}, {"padding", s.pad},
                    {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}},
                    {"in_channels", s.c}, {"out_channels", s.k},
                    {"activation", std::string(s.relu ? "relu" : "none")}, {"algorithm", algorithm},
                    {"precision", std::string("float32")}};
}

// bias + sum over c, 3x3 of x * w in float64 (zero padding), + residual, then ReLU.
std::vector<double> reference(const Case& s, const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& rt,
                              int64_t oh, int64_t ow) {
  const std::vector<float> x = xt.to_vector<float>(), w = wt.to_vector<float>(), bias = bt.to_vector<float>();
  const std::vector<float> r = rt.to_vector<float>();
  std::vector<double> y(static_cast<size_t>(s.n * s.k * oh * ow));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t k = 0; k < s.k; ++k)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = bias[static_cast<size_t>(k)];
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t a = 0; a < 3; ++a)
              for (int64_t b = 0; b < 3; ++b) {
                const int64_t iy = i - s.pad[0] + a, ix = j - s.pad[1] + b;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                acc += double(x[static_cast<size_t>(((n * s.c + c) * s.h + iy) * s.w + ix)]) *
                       w[static_cast<size_t>(((k * s.c + c) * 3 + a) * 3 + b)];
              }
          const size_t at = static_cast<size_t>(((n * s.k + k) * oh + i) * ow + j);
          if (s.residual) acc += r[at];
          y[at] = s.relu ? std::max(acc, 0.0) : acc;
        }
  return y;
}

// conv2d_blocked with `algorithm` ("winograd", or "winograd_4x4": F(4x4, 3x3)) against
// float64 and beside oneDNN's direct kernel. F(4x4)'s transforms (coefficients up to 8)
// round more: its bound is looser, and it must stay within a few times F(2x2)'s error.
void check(const Case& s, const std::string& algorithm = "winograd") {
  char trace[160];
  std::snprintf(trace, sizeof trace, "%s n%ld c%ld %ldx%ld k%ld%s%s threads %d", algorithm.c_str(), long(s.n),
                long(s.c), long(s.h), long(s.w), long(s.k), s.residual ? " residual" : "", s.relu ? " relu" : "",
                get_num_threads());
  SCOPED_TRACE(trace);
  const bool four = algorithm == "winograd_4x4";
  const int64_t oh = s.h + s.pad[0] + s.pad[2] - 2, ow = s.w + s.pad[1] + s.pad[3] - 2;
  const ops::ConvGeometry g = ops::conv_geometry(Shape{s.n, s.c, s.h, s.w}, Shape{s.k, s.c, 3, 3},
                                                 conv_attrs(s, algorithm));
  // else this would test oneDNN's direct kernel (or F(2x2) for F(4x4))
  ASSERT_TRUE(four ? cpu::winograd_f32_4x4_applies(g, 8) : cpu::winograd_f32_applies(g, 8));
  EXPECT_FALSE(cpu::winograd_f32_applies(g, 16));
  EXPECT_FALSE(cpu::winograd_f32_4x4_applies(g, 16));
  const Tensor x = relu(randn({s.n, s.c, s.h, s.w}));  // activations, as a ReLU leaves them
  const Tensor w = mul(randn({s.k, s.c, 3, 3}), std::sqrt(2.0 / (9.0 * double(s.c))));
  const Tensor bias = mul(randn({s.k}), 0.1);
  const Tensor residual = randn({s.n, s.k, oh, ow});
  const ops::Attrs block{{"block", int64_t{8}}};
  const Tensor xb = call("to_blocked", {x}, block);
  const std::vector<Tensor> in = s.residual ? std::vector<Tensor>{xb, w, bias, call("to_blocked", {residual}, block)}
                                            : std::vector<Tensor>{xb, w, bias};
  const Tensor yb = call("conv2d_blocked", in, conv_attrs(s, algorithm));
  // The padding lanes of the last block of 8 hold zeros (no residual: that adds its own).
  if (!s.residual) {
    const std::vector<float> lanes = yb.to_vector<float>();
    for (int64_t k = s.k; k < yb.size(1) * 8; ++k)
      for (int64_t p = 0; p < s.n * oh * ow; ++p) {
        const int64_t n = p / (oh * ow), pos = p % (oh * ow);
        ASSERT_EQ(lanes[static_cast<size_t>(((n * yb.size(1) + k / 8) * oh * ow + pos) * 8 + k % 8)], 0.f);
      }
  }
  const Tensor y = call("from_blocked", {yb}, {{"channels", s.k}});
  const std::vector<double> want = reference(s, x, w, bias, residual, oh, ow);
  const Tensor direct = call("from_blocked", {call("conv2d_blocked", in, conv_attrs(s, "direct"))}, {{"channels", s.k}});
  const double err = rel_l2(y.to_vector<double>(), want), direct_err = rel_l2(direct.to_vector<double>(), want);
  EXPECT_FALSE(equal(y, direct));  // another kernel's rounding: not oneDNN's direct one
  if (!four) {
    std::printf("float32 Winograd %.1e from float64 (direct %.1e)\n", err, direct_err);
    EXPECT_LT(err, 6e-7);
    EXPECT_LT(err, 4.0 * direct_err);
    return;
  }
  const Tensor f2 = call("from_blocked", {call("conv2d_blocked", in, conv_attrs(s, "winograd"))}, {{"channels", s.k}});
  const double f2_err = rel_l2(f2.to_vector<double>(), want);
  std::printf("float32 Winograd F(4x4) %.1e from float64 (F(2x2) %.1e, direct %.1e)\n", err, f2_err, direct_err);
  EXPECT_FALSE(equal(y, f2));  // F(4x4)'s own kernel ran
  // Measured (AVX2 VM): 4.7e-7 to 1.4e-6, 4-7x F(2x2)'s, 2-7x direct's.
  EXPECT_LT(err, 3e-6);
  EXPECT_LT(err, 12.0 * std::max(f2_err, direct_err));
}

TEST(WinogradF32, MatchesFloat64WithinFloat32Rounding) {
  if (!cpu::vec::cpu_runs_isa("avx2")) GTEST_SKIP() << "this CPU has no AVX2";
  manual_seed(21);
  const std::vector<Case> cases{
      {1, 64, 17, 15, 64, {1, 1, 1, 1}, false, true},   // odd outputs: partial tiles
      {2, 20, 12, 9, 13, {1, 0, 2, 1}, false, true},    // padding lanes in and out; asymmetric padding
      {3, 16, 10, 10, 24, {0, 0, 0, 0}, true, false},   // residual without ReLU
      {2, 12, 14, 14, 20, {1, 1, 1, 1}, true, true},    // residual and ReLU, lanes past 12 and 20
      {8, 32, 24, 24, 16, {1, 1, 1, 1}, false, false},  // 1152 tiles: several chunks
      {2, 136, 10, 10, 128, {1, 1, 1, 1}, true, true},  // past 128 x 128 channels: oneDNN's products
  };
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& s : cases) check(s);
  }
  set_num_threads(before);
}

// F(4x4, 3x3), which inference graphs ask for: partial 4x4 tiles (odd outputs, 14 = 3.5
// tiles), the 4 tiles from which it runs, padding lanes, asymmetric padding, residual and
// ReLU, several chunks, 128 x 128 channels (the most it takes), at 1 and 2 threads.
TEST(WinogradF32, FourByFourMatchesFloat64) {
  if (!cpu::vec::cpu_runs_isa("avx2")) GTEST_SKIP() << "this CPU has no AVX2";
  manual_seed(27);
  const std::vector<Case> cases{
      {1, 64, 17, 15, 64, {1, 1, 1, 1}, false, true},    // 17 x 15: partial tiles both ways
      {2, 20, 12, 9, 13, {1, 0, 2, 1}, false, true},     // padding lanes in and out; asymmetric padding
      {3, 16, 10, 10, 24, {0, 0, 0, 0}, true, false},    // residual without ReLU
      {2, 12, 14, 14, 20, {1, 1, 1, 1}, true, true},     // residual and ReLU, lanes past 12 and 20
      {8, 32, 24, 24, 16, {1, 1, 1, 1}, false, false},   // 288 tiles: several chunks
      {1, 16, 8, 8, 16, {1, 1, 1, 1}, false, false},     // 4 tiles, the fewest it takes
      {1, 128, 12, 12, 128, {1, 1, 1, 1}, true, true},   // 128 x 128 channels
  };
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& s : cases) check(s, "winograd_4x4");
  }
  set_num_threads(before);
}

// Where F(4x4) does not apply (past 128 x 128 channels, fewer than 4 tiles), "winograd_4x4"
// runs as "winograd" does, bit for bit.
TEST(WinogradF32, FourByFourFallsBackToTwoByTwo) {
  if (!cpu::vec::cpu_runs_isa("avx2")) GTEST_SKIP() << "this CPU has no AVX2";
  manual_seed(28);
  for (const Case& s : {Case{2, 136, 10, 10, 128, {1, 1, 1, 1}, false, true},
                        Case{2, 16, 3, 4, 16, {1, 1, 1, 1}, false, false}}) {  // 2 tiles
    const ops::ConvGeometry g =
        ops::conv_geometry(Shape{s.n, s.c, s.h, s.w}, Shape{s.k, s.c, 3, 3}, conv_attrs(s, "winograd_4x4"));
    EXPECT_FALSE(cpu::winograd_f32_4x4_applies(g, 8)) << s.c << " " << s.h;
    const Tensor xb = call("to_blocked", {relu(randn({s.n, s.c, s.h, s.w}))}, {{"block", int64_t{8}}});
    const Tensor w = randn({s.k, s.c, 3, 3}), b = randn({s.k});
    EXPECT_TRUE(equal(call("conv2d_blocked", {xb, w, b}, conv_attrs(s, "winograd_4x4")),
                      call("conv2d_blocked", {xb, w, b}, conv_attrs(s, "winograd"))));
  }
}

// NaN and infinity reach the outputs whose windows hold them, as direct convolution's do.
TEST(WinogradF32, NonFiniteInputsReachTheirWindows) {
  if (!cpu::vec::cpu_runs_isa("avx2")) GTEST_SKIP() << "this CPU has no AVX2";
  manual_seed(22);
  const Case s{1, 16, 16, 16, 16, {1, 1, 1, 1}, false, false};
  Tensor x = relu(randn({1, 16, 16, 16}));
  std::vector<float> xv = x.to_vector<float>();
  xv[static_cast<size_t>((3 * 16 + 5) * 16 + 7)] = std::nanf("");  // channel 3, (5, 7)
  x = tensor(xv, {1, 16, 16, 16});
  const Tensor w = randn({16, 16, 3, 3}), b = zeros({16});
  const ops::Attrs block{{"block", int64_t{8}}};
  for (const char* algorithm : {"winograd", "winograd_4x4"}) {
    const Tensor y = call("from_blocked", {call("conv2d_blocked", {call("to_blocked", {x}, block), w, b},
                                                conv_attrs(s, algorithm))},
                          {{"channels", int64_t{16}}});
    const std::vector<float> yv = y.to_vector<float>();
    int64_t nans = 0;
    for (int64_t k = 0; k < 16; ++k)
      for (int64_t i = 0; i < 16; ++i)
        for (int64_t j = 0; j < 16; ++j) {
          const bool reached = i >= 4 && i <= 6 && j >= 6 && j <= 8;  // outputs whose 3x3 window holds (5, 7)
          const float v = yv[static_cast<size_t>((k * 16 + i) * 16 + j)];
          nans += std::isnan(v);
          if (reached) {
            EXPECT_TRUE(std::isnan(v)) << algorithm << " " << k << " " << i << " " << j;
          }
        }
    // Beyond them only the tiles whose patches hold it: 4x4 (F(2x2)) or 6x6 (F(4x4)) outputs a channel.
    EXPECT_LE(nans, 16 * (std::string(algorithm) == "winograd" ? 16 : 64)) << algorithm;
  }
}

// The gradient passes' cases: same padding with odd planes and padding lanes both ways,
// asymmetric padding up to the kernel's reach, enough tiles for several chunks per thread
// (a spare tile in the last), and channels past the 128 x 128 up to which the forward and
// input gradient run Tessera's own products (past it, oneDNN's); at 1 and 2 threads.
using GradCase = kernel_test::Conv3x3Case;

void for_each_grad_case(const std::function<void(const GradCase&)>& check_case) {
  const std::vector<GradCase> cases{{4, 32, 14, 14, 64, {0, 0, 0, 0}},
                                    {2, 20, 11, 9, 12, {1, 1, 1, 1}},
                                    {3, 24, 10, 12, 16, {2, 0, 1, 2}},
                                    {3, 16, 45, 45, 16, {1, 1, 1, 1}},
                                    {2, 136, 10, 10, 128, {1, 1, 1, 1}}};
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const GradCase& s : cases) {
      char trace[120];
      std::snprintf(trace, sizeof trace, "n%ld c%ld %ldx%ld k%ld pad %ld,%ld,%ld,%ld threads %d", long(s.n),
                    long(s.c), long(s.h), long(s.w), long(s.k), long(s.pad[0]), long(s.pad[1]), long(s.pad[2]),
                    long(s.pad[3]), threads);
      SCOPED_TRACE(trace);
      check_case(s);
    }
  }
  set_num_threads(before);
}

ops::Attrs grad_attrs(const GradCase& s, const std::string& algorithm, const char* size_name,
                      std::vector<int64_t> size) {
  return {{"stride", std::vector<int64_t>{1, 1}}, {"padding", s.pad}, {"dilation", std::vector<int64_t>{1, 1}},
          {"groups", int64_t{1}}, {"algorithm", algorithm}, {"precision", std::string("float32")},
          {size_name, std::move(size)}};
}

void expect_f32_error(const char* what, const Tensor& got, const Tensor& direct, const std::vector<double>& want) {
  const double err = rel_l2(got.to_vector<double>(), want), direct_err = rel_l2(direct.to_vector<double>(), want);
  std::printf("%s: float32 Winograd %.1e from float64 (direct %.1e)\n", what, err, direct_err);
  EXPECT_FALSE(equal(got, direct));  // another kernel's rounding: not oneDNN's direct one
  EXPECT_LT(err, 1e-6);
  EXPECT_LT(err, 4.0 * direct_err);
}

// Training runs all three passes through Winograd where oneDNN has none of its own
// (winograd_f32_native: an AVX2 CPU); elsewhere they run oneDNN's.
#define SKIP_UNLESS_NATIVE()                    \
  if (!cpu::winograd_f32_native()) {            \
    GTEST_SKIP() << "oneDNN's best ISA here is not AVX2"; \
  }

// The input gradient (the output gradient padded by 2 minus the padding, convolved with
// the flipped, transposed weight): against a float64 gradient written here, blocked
// (compiled steps) and plain (eager's conv2d_backward_input) bit for bit alike.
TEST(WinogradF32, InputGradientMatchesFloat64WithinFloat32Rounding) {
  SKIP_UNLESS_NATIVE();
  manual_seed(23);
  for_each_grad_case([](const GradCase& s) {
    const Tensor gy = randn({s.n, s.k, s.oh(), s.ow()});
    const Tensor w = mul(randn({s.k, s.c, 3, 3}), std::sqrt(2.0 / (9.0 * double(s.c))));
    auto attrs = [&](const char* algorithm) { return grad_attrs(s, algorithm, "input_size", {s.n, s.c, s.h, s.w}); };
    const Tensor gyb = call("to_blocked", {gy}, {{"block", int64_t{8}}});
    const Tensor gxb = call("conv2d_backward_input_blocked", {gyb, w}, attrs("winograd"));
    const std::vector<float> lanes = gxb.to_vector<float>();  // padding lanes: zeros
    for (int64_t ch = s.c; ch < gxb.size(1) * 8; ++ch)
      for (int64_t p = 0; p < s.n * s.h * s.w; ++p) {
        const int64_t n = p / (s.h * s.w), pos = p % (s.h * s.w);
        ASSERT_EQ(lanes[static_cast<size_t>(((n * gxb.size(1) + ch / 8) * s.h * s.w + pos) * 8 + ch % 8)], 0.f);
      }
    const Tensor gx = call("from_blocked", {gxb}, {{"channels", s.c}});
    EXPECT_TRUE(equal(call("conv2d_backward_input", {gy, w}, attrs("winograd")), gx));
    const std::vector<float> g = gy.to_vector<float>(), wv = w.to_vector<float>();
    std::vector<double> want(static_cast<size_t>(s.n * s.c * s.h * s.w), 0.0);
    for_each_product(s, [&](int64_t n, int64_t k, int64_t i, int64_t j, int64_t c, int64_t a, int64_t b, int64_t iy,
                            int64_t ix) {
      want[static_cast<size_t>(((n * s.c + c) * s.h + iy) * s.w + ix)] +=
          double(g[static_cast<size_t>(((n * s.k + k) * s.oh() + i) * s.ow() + j)]) *
          wv[static_cast<size_t>(((k * s.c + c) * 3 + a) * 3 + b)];
    });
    expect_f32_error("input gradient", gx, call("conv2d_backward_input", {gy, w}, attrs("direct")), want);
  });
}

// The weight gradient (dU = Z^T V summed over the tiles, then G^T dU G): against a float64
// gradient written here, blocked and plain bit for bit alike, the tiles split in several
// chunks and summed per thread.
TEST(WinogradF32, WeightGradientMatchesFloat64WithinFloat32Rounding) {
  SKIP_UNLESS_NATIVE();
  manual_seed(24);
  for_each_grad_case([](const GradCase& s) {
    const Tensor x = relu(randn({s.n, s.c, s.h, s.w}));
    const Tensor gy = randn({s.n, s.k, s.oh(), s.ow()});
    auto attrs = [&](const char* algorithm) { return grad_attrs(s, algorithm, "weight_size", {s.k, s.c, 3, 3}); };
    const ops::Attrs block{{"block", int64_t{8}}};
    const Tensor xb = call("to_blocked", {x}, block), gyb = call("to_blocked", {gy}, block);
    const Tensor gw = call("conv2d_backward_weight_blocked", {xb, gyb}, attrs("winograd"));
    EXPECT_TRUE(equal(call("conv2d_backward_weight", {x, gy}, attrs("winograd")), gw));
    EXPECT_TRUE(equal(call("conv2d_backward_weight_blocked", {x, gyb}, attrs("winograd")), gw));  // plain x
    const std::vector<float> xv = x.to_vector<float>(), g = gy.to_vector<float>();
    std::vector<double> want(static_cast<size_t>(s.k * s.c * 9), 0.0);
    for_each_product(s, [&](int64_t n, int64_t k, int64_t i, int64_t j, int64_t c, int64_t a, int64_t b, int64_t iy,
                            int64_t ix) {
      want[static_cast<size_t>(((k * s.c + c) * 3 + a) * 3 + b)] +=
          double(g[static_cast<size_t>(((n * s.k + k) * s.oh() + i) * s.ow() + j)]) *
          xv[static_cast<size_t>(((n * s.c + c) * s.h + iy) * s.w + ix)];
    });
    expect_f32_error("weight gradient", gw, call("conv2d_backward_weight", {x, gy}, attrs("direct")), want);
  });
}

// Eager's forward converts to blocks of 8 around the same kernel: what a compiled step's
// conv2d_blocked computes, bit for bit.
TEST(WinogradF32, EagerForwardIsTheBlockedKernel) {
  SKIP_UNLESS_NATIVE();
  manual_seed(25);
  const Case s{4, 24, 13, 11, 20, {1, 1, 1, 1}, false, false};
  const Tensor x = relu(randn({s.n, s.c, s.h, s.w})), w = randn({s.k, s.c, 3, 3}), b = randn({s.k});
  const ops::Attrs block{{"block", int64_t{8}}};
  const Tensor blocked = call("from_blocked", {call("conv2d_blocked", {call("to_blocked", {x}, block), w, b},
                                                    conv_attrs(s, "winograd"))},
                              {{"channels", s.k}});
  ops::Attrs eager{{"stride", std::vector<int64_t>{1, 1}}, {"padding", s.pad}, {"dilation", std::vector<int64_t>{1, 1}},
                   {"groups", int64_t{1}}, {"algorithm", std::string("winograd")}};
  EXPECT_TRUE(equal(call("conv2d", {x, w, b}, eager), blocked));
}

// conv2d_max_pool2x2_blocked and _values_blocked on blocks of 8: the float32 Winograd pools
// each output tile as it computes it. With indices (a training step's) values and indices
// are conv2d_blocked then max_pool2d_indices_blocked's bit for bit; values only
// (inference's) max_pool2d_blocked's, with a fused ReLU equal but for the sign of zeros.
// Ties (output channels with zero weights give the bias in every tap: the first wins), a
// NaN input (the last NaN tap wins), odd outputs (floor pooling drops the last row and
// column), and planes below Winograd's 32 tiles (the two ops run; F(4x4, 3x3), values
// only, pools from 4 of its tiles, 2 tiles run the two ops).
TEST(WinogradF32, ConvMaxPoolFusionMatchesConvThenPool) {
  SKIP_UNLESS_NATIVE();
  manual_seed(26);
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& base : {Case{4, 20, 14, 14, 40, {1, 1, 1, 1}, false, false},
                             Case{3, 16, 15, 13, 16, {1, 1, 1, 1}, false, false},
                             Case{2, 8, 12, 12, 24, {0, 0, 0, 0}, false, false},
                             Case{1, 16, 6, 6, 16, {1, 1, 1, 1}, false, false},
                             Case{2, 16, 3, 4, 16, {1, 1, 1, 1}, false, false}}) {
      SCOPED_TRACE(testing::Message() << "n" << base.n << " c" << base.c << " " << base.h << "x" << base.w << " k"
                                      << base.k << " threads " << threads);
      std::vector<float> xv = relu(randn({base.n, base.c, base.h, base.w})).to_vector<float>();
      xv[static_cast<size_t>(base.h * base.w + 2 * base.w + 5)] = std::nanf("");  // image 0, channel 1, (2, 5)
      const Tensor x = tensor(xv, {base.n, base.c, base.h, base.w});
      std::vector<float> wv = randn({base.k, base.c, 3, 3}).to_vector<float>();
      for (int64_t k = 0; k < base.k; k += 2)  // even output channels: the bias alone, a tie in every window
        std::fill(wv.begin() + k * base.c * 9, wv.begin() + (k + 1) * base.c * 9, 0.f);
      const Tensor w = tensor(wv, {base.k, base.c, 3, 3}), b = randn({base.k});
      const Tensor xb = call("to_blocked", {x}, {{"block", int64_t{8}}});
      for (const bool relu_fused : {false, true}) {
        for (const char* algorithm : {"winograd", "winograd_4x4"}) {
          SCOPED_TRACE(algorithm);
          Case s = base;
          s.relu = relu_fused;
          const ops::Attrs conv = conv_attrs(s, algorithm);
          const Tensor y = call("conv2d_blocked", {xb, w, b}, conv);
          const std::vector<Tensor> values =
              ops::call(*ops::find_op("conv2d_max_pool2x2_values_blocked"), {xb, w, b}, conv);
          const Tensor want_values = call("max_pool2d_blocked", {y}, ops::two_by_two_pool());
          ASSERT_EQ(values.size(), 1u);
          ASSERT_TRUE(values[0].sizes().equals(want_values.sizes())) << values[0].describe();
          const std::vector<float> got = values[0].to_vector<float>(), want = want_values.to_vector<float>();
          int64_t nans = 0;
          for (size_t i = 0; i < got.size(); ++i) {
            nans += std::isnan(want[i]);
            // Bit for bit but for a zero's sign (ReLU after the maximum, not before).
            if (relu_fused && got[i] == 0.f && want[i] == 0.f) continue;
            ASSERT_EQ(std::memcmp(&got[i], &want[i], 4), 0) << "value " << i << ": " << got[i] << " vs " << want[i];
          }
          if (relu_fused) continue;  // oneDNN's direct ReLU (the small plane's) turns NaN into 0
          EXPECT_GT(nans, 0);
          // Indices: activation "none" only, and F(2x2)'s (no graph asks F(4x4) for them).
          if (std::string(algorithm) == "winograd_4x4") continue;
          const std::vector<Tensor> fused = ops::call(*ops::find_op("conv2d_max_pool2x2_blocked"), {xb, w, b}, conv);
          const std::vector<Tensor> pooled =
              ops::call(*ops::find_op("max_pool2d_indices_blocked"), {y}, ops::two_by_two_pool());
          ASSERT_EQ(fused.size(), 2u);
          EXPECT_EQ(fused[0].to_vector<float>().size(), got.size());
          const std::vector<float> fv = fused[0].to_vector<float>();
          EXPECT_EQ(std::memcmp(fv.data(), got.data(), got.size() * 4), 0);
          EXPECT_TRUE(equal(fused[1], pooled[1]));
        }
      }
    }
  }
  set_num_threads(before);
}

// The gradient passes of such a fused convolution read the pooling's gradient as gp and
// the fused pooling's indices (conv2d_backward_{input,weight}_unpool_blocked): bit for bit
// the plain passes on max_pool2d_backward_blocked(gp, idx), on blocks of 8. Even padding
// (the input gradient's Winograd builds its tiles from whole windows) and odd padding (the
// input gradient unpools first), an odd output (rows past the last window get no
// gradient), padding lanes, a NaN gradient, and an index moved out of its window (the
// kernels then unpool first).
TEST(WinogradF32, UnpoolGradientPassesMatchThePlainPassesBitForBit) {
  SKIP_UNLESS_NATIVE();
  manual_seed(27);
  const int before = get_num_threads();
  struct UnpoolCase {
    int64_t n, c, h, w, k, pad;
    bool corrupt;
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const UnpoolCase& s : {UnpoolCase{4, 20, 14, 14, 36, 0, false}, UnpoolCase{3, 16, 17, 15, 16, 0, false},
                                UnpoolCase{2, 16, 12, 12, 32, 1, false}, UnpoolCase{4, 16, 14, 14, 16, 0, true}}) {
      SCOPED_TRACE(testing::Message() << "n" << s.n << " c" << s.c << " " << s.h << "x" << s.w << " k" << s.k
                                      << " pad " << s.pad << (s.corrupt ? " corrupt" : "") << " threads " << threads);
      const kernel_test::UnpoolGradientCase u =
          kernel_test::unpool_gradient_case(s.n, s.c, s.h, s.w, s.k, s.pad, s.corrupt, 8, "float32");
      const Tensor &w = u.w, &xb = u.xb, &gp = u.gp, &idx = u.idx, &gy = u.gy;
      const ops::Attrs &in_attrs = u.input_attrs, &w_attrs = u.weight_attrs, &conv = u.conv;
      const Tensor gx = call("conv2d_backward_input_unpool_blocked", {gp, idx, w}, in_attrs);
      EXPECT_TRUE(same_bits(gx, call("conv2d_backward_input_blocked", {gy, w}, in_attrs)));
      const Tensor gw = call("conv2d_backward_weight_unpool_blocked", {xb, gp, idx}, w_attrs);
      EXPECT_TRUE(same_bits(gw, call("conv2d_backward_weight_blocked", {xb, gy}, w_attrs)));
      // The kernels above equal the plain passes either way; that they read gp and idx
      // themselves (and refuse corrupt indices) is the transforms' own answer.
      const ops::ConvGeometry g = ops::conv_geometry(Shape{s.n, s.c, s.h, s.w}, Shape{s.k, s.c, 3, 3}, conv);
      Tensor gx_direct = call("to_blocked", {zeros({s.n, s.c, s.h, s.w})}, {{"block", int64_t{8}}});
      Tensor gw_direct = zeros({s.k, s.c, 3, 3});
      EXPECT_EQ(cpu::winograd_f32_backward_weight_unpool(g, xb, gp, idx, gw_direct), !s.corrupt);
      if (cpu::winograd_f32_unpool_applies(g, 8)) {
        EXPECT_EQ(s.pad % 2, 0);
        EXPECT_EQ(cpu::winograd_f32_backward_data_unpool(g, gp, idx, w, gx_direct), !s.corrupt);
        EXPECT_TRUE(s.corrupt || same_bits(gx_direct, gx));
      } else {
        EXPECT_EQ(s.pad % 2, 1);
      }
      EXPECT_TRUE(s.corrupt || same_bits(gw_direct, gw));
    }
  }
  set_num_threads(before);
}

}  // namespace
