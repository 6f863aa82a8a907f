// The bfloat16 Winograd convolution (backends/cpu/winograd_bf16.h), which conv2d_blocked
// runs for a compiled graph's 3x3 stride-1 convolutions under autocast: against a float64
// convolution written here, beside oneDNN's direct bf16 kernel on the same operands.
// Shapes cover odd output sizes (partial 2x2 tiles), channel counts that leave padding
// lanes in the last block of 16, asymmetric padding, several chunks of tiles, the fused
// bias, residual and ReLU, and 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tessera/autocast.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"
#include "kernel_test_util.h"
#include "ops/conv.h"
#include "ops/op.h"

namespace {

using namespace tessera;
using kernel_test::call;
using kernel_test::for_each_product;
using kernel_test::rel_l2;

struct Case {
  int64_t n, c, h, w, k;
  std::vector<int64_t> pad;  // top, left, bottom, right
  bool residual, relu;
};

// y[n][k][i][j] = bias[k] + sum over c, 3x3 of x * w, in float64 (zero padding).
std::vector<double> reference(const Case& s, const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& bias, int64_t oh, int64_t ow) {
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
          y[static_cast<size_t>(((n * s.k + k) * oh + i) * ow + j)] = acc;
        }
  return y;
}

void check(const Case& s) {
  char trace[160];
  std::snprintf(trace, sizeof trace, "n%ld c%ld %ldx%ld k%ld%s%s threads %d", long(s.n), long(s.c), long(s.h),
                long(s.w), long(s.k), s.residual ? " residual" : "", s.relu ? " relu" : "", get_num_threads());
  SCOPED_TRACE(trace);
  const int64_t oh = s.h + s.pad[0] + s.pad[2] - 2, ow = s.w + s.pad[1] + s.pad[3] - 2;
  const Tensor x = relu(randn({s.n, s.c, s.h, s.w}));  // activations, as a ReLU leaves them
  const Tensor w = mul(randn({s.k, s.c, 3, 3}), std::sqrt(2.0 / (9.0 * double(s.c))));
  const Tensor bias = mul(randn({s.k}), 0.1);
  const Tensor residual = randn({s.n, s.k, oh, ow});
  const ops::Attrs block{{"block", int64_t{16}}};
  auto attrs = [&](const std::string& algorithm) {
    return ops::Attrs{{"stride", std::vector<int64_t>{1, 1}}, {"padding", s.pad},
                      {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}},
                      {"in_channels", s.c}, {"out_channels", s.k},
                      {"activation", std::string(s.relu ? "relu" : "none")}, {"algorithm", algorithm},
                      {"precision", std::string("bf16")}};
  };
  const Tensor xb = call("to_blocked", {x}, block);
  const std::vector<Tensor> in = s.residual ? std::vector<Tensor>{xb, w, bias, call("to_blocked", {residual}, block)}
                                            : std::vector<Tensor>{xb, w, bias};
  const Tensor yb = call("conv2d_blocked", in, attrs("winograd"));
  const Tensor y = call("from_blocked", {yb}, {{"channels", s.k}});
  // The padding lanes of the last block of 16 hold zeros.
  const std::vector<float> lanes = yb.to_vector<float>();
  for (int64_t k = s.k; k < yb.size(1) * 16; ++k)
    for (int64_t p = 0; p < s.n * oh * ow; ++p) {
      const int64_t n = p / (oh * ow), pos = p % (oh * ow);
      ASSERT_EQ(lanes[static_cast<size_t>(((n * yb.size(1) + k / 16) * oh * ow + pos) * 16 + k % 16)], 0.f);
    }
  std::vector<double> want = reference(s, x.to_vector<float>(), w.to_vector<float>(), bias.to_vector<float>(), oh, ow);
  const std::vector<float> r = residual.to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) {
    if (s.residual) want[i] += r[i];
    if (s.relu) want[i] = std::max(want[i], 0.0);
  }
  const Tensor direct = call("from_blocked", {call("conv2d_blocked", in, attrs("direct"))}, {{"channels", s.k}});
  const double err = rel_l2(y.to_vector<double>(), want), direct_err = rel_l2(direct.to_vector<double>(), want);
  std::printf("bf16 Winograd %.1e from float64 (direct bf16 %.1e)\n", err, direct_err);
  EXPECT_GT(err, 1e-4);  // bfloat16's rounding: not a float32 kernel
  EXPECT_LT(err, 8e-3);
  EXPECT_LT(err, 2.5 * direct_err);
}

TEST(WinogradBf16, MatchesFloat64WithinBf16Rounding) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)";
  manual_seed(11);
  const std::vector<Case> cases{
      {1, 64, 17, 15, 64, {1, 1, 1, 1}, false, true},   // odd outputs: partial tiles
      {2, 20, 12, 9, 40, {1, 0, 0, 1}, true, true},     // padding lanes in and out; asymmetric padding
      {3, 32, 10, 10, 24, {0, 0, 0, 0}, true, false},   // residual without ReLU
      {8, 16, 24, 24, 16, {1, 1, 1, 1}, false, false},  // 1152 tiles: several chunks
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& s : cases) check(s);
  }
}

// Below 32 tiles the product is too short to pay; conv2d_blocked runs oneDNN's direct
// bf16 kernel (the same bits as asking for "direct").
TEST(WinogradBf16, SmallPlanesRunDirect) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)";
  manual_seed(12);
  const Tensor x = call("to_blocked", {relu(randn({1, 32, 7, 7}))}, {{"block", int64_t{16}}});
  const Tensor w = randn({32, 32, 3, 3}), b = randn({32});
  auto attrs = [](const char* algorithm) {
    return ops::Attrs{{"stride", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{1, 1, 1, 1}},
                      {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}},
                      {"in_channels", int64_t{32}}, {"out_channels", int64_t{32}},
                      {"activation", std::string("none")}, {"algorithm", std::string(algorithm)},
                      {"precision", std::string("bf16")}};
  };
  EXPECT_TRUE(equal(call("conv2d_blocked", {x, w, b}, attrs("winograd")),
                    call("conv2d_blocked", {x, w, b}, attrs("direct"))));
}

// The gradient passes' cases: CNN28's second layer (smaller), same padding with odd
// planes and padding lanes both ways, asymmetric padding up to the kernel's reach, and
// enough tiles for several chunks per thread; at 1 and 2 threads.
using GradCase = kernel_test::Conv3x3Case;

void for_each_grad_case(const std::function<void(const GradCase&)>& check_case) {
  const std::vector<GradCase> cases{{4, 32, 14, 14, 64, {0, 0, 0, 0}},
                                    {2, 20, 11, 9, 40, {1, 1, 1, 1}},
                                    {3, 24, 10, 12, 16, {2, 0, 1, 2}},
                                    {8, 16, 40, 40, 16, {1, 1, 1, 1}},
                                    // 1587 tiles in two chunks of 794: a spare tile in the
                                    // last, after a chunk that left its buffers full
                                    {3, 16, 45, 45, 16, {1, 1, 1, 1}}};
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
}

ops::Attrs grad_attrs(const GradCase& s, const std::string& algorithm, const char* size_name,
                      std::vector<int64_t> size) {
  return {{"stride", std::vector<int64_t>{1, 1}}, {"padding", s.pad}, {"dilation", std::vector<int64_t>{1, 1}},
          {"groups", int64_t{1}}, {"algorithm", algorithm}, {"precision", std::string("bf16")},
          {size_name, std::move(size)}};
}

void expect_bf16_error(const char* what, const Tensor& got, const Tensor& direct, const std::vector<double>& want) {
  const double err = rel_l2(got.to_vector<double>(), want), direct_err = rel_l2(direct.to_vector<double>(), want);
  std::printf("%s: bf16 Winograd %.1e from float64 (direct bf16 %.1e)\n", what, err, direct_err);
  EXPECT_GT(err, 1e-5);  // bfloat16's rounding: not a float32 kernel
  EXPECT_LT(err, 8e-3);
  EXPECT_LT(err, 2.5 * direct_err);
}

// The input gradient of a convolution, which training runs through the same kernel (the
// output gradient padded by 2 minus the padding, the weight's taps flipped and its
// channels swapped): against a float64 gradient written here, blocked (compiled steps) and
// plain (eager's conv2d_backward_input, converting around the kernel) alike.
TEST(WinogradBf16, InputGradientMatchesFloat64WithinBf16Rounding) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)";
  manual_seed(13);
  for_each_grad_case([](const GradCase& s) {
    const Tensor gy = randn({s.n, s.k, s.oh(), s.ow()});
    const Tensor w = mul(randn({s.k, s.c, 3, 3}), std::sqrt(2.0 / (9.0 * double(s.c))));
    auto attrs = [&](const char* algorithm) { return grad_attrs(s, algorithm, "input_size", {s.n, s.c, s.h, s.w}); };
    const Tensor gyb = call("to_blocked", {gy}, {{"block", int64_t{16}}});
    const Tensor gxb = call("conv2d_backward_input_blocked", {gyb, w}, attrs("winograd"));
    // The padding lanes of the last block hold zeros.
    const std::vector<float> lanes = gxb.to_vector<float>();
    for (int64_t ch = s.c; ch < gxb.size(1) * 16; ++ch)
      for (int64_t p = 0; p < s.n * s.h * s.w; ++p) {
        const int64_t n = p / (s.h * s.w), pos = p % (s.h * s.w);
        ASSERT_EQ(lanes[static_cast<size_t>(((n * gxb.size(1) + ch / 16) * s.h * s.w + pos) * 16 + ch % 16)], 0.f);
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
    expect_bf16_error("input gradient", gx, call("conv2d_backward_input", {gy, w}, attrs("direct")), want);
  });
}

// The weight gradient through the same transforms (dU = Z^T V summed over the tiles, then
// G^T dU G): against a float64 gradient written here, blocked and plain alike, with the
// tiles split in several chunks and summed per thread.
TEST(WinogradBf16, WeightGradientMatchesFloat64WithinBf16Rounding) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)";
  manual_seed(14);
  for_each_grad_case([](const GradCase& s) {
    const Tensor x = relu(randn({s.n, s.c, s.h, s.w}));
    const Tensor gy = randn({s.n, s.k, s.oh(), s.ow()});
    auto attrs = [&](const char* algorithm) { return grad_attrs(s, algorithm, "weight_size", {s.k, s.c, 3, 3}); };
    const ops::Attrs block{{"block", int64_t{16}}};
    const Tensor xb = call("to_blocked", {x}, block), gyb = call("to_blocked", {gy}, block);
    const Tensor gw = call("conv2d_backward_weight_blocked", {xb, gyb}, attrs("winograd"));
    EXPECT_TRUE(equal(call("conv2d_backward_weight", {x, gy}, attrs("winograd")), gw));
    const std::vector<float> xv = x.to_vector<float>(), g = gy.to_vector<float>();
    std::vector<double> want(static_cast<size_t>(s.k * s.c * 9), 0.0);
    for_each_product(s, [&](int64_t n, int64_t k, int64_t i, int64_t j, int64_t c, int64_t a, int64_t b, int64_t iy,
                            int64_t ix) {
      want[static_cast<size_t>(((k * s.c + c) * 3 + a) * 3 + b)] +=
          double(g[static_cast<size_t>(((n * s.k + k) * s.oh() + i) * s.ow() + j)]) *
          xv[static_cast<size_t>(((n * s.c + c) * s.h + iy) * s.w + ix)];
    });
    expect_bf16_error("weight gradient", gw, call("conv2d_backward_weight", {x, gy}, attrs("direct")), want);
  });
}

}  // namespace

// conv2d_max_pool2x2_blocked, the fusion of a training step's convolution with its 2x2
// max pooling: the bf16 Winograd pools each output tile as it computes it, and gives the
// values and indices of conv2d_blocked followed by max_pool2d_indices_blocked bit for
// bit. Ties (output channels with zero weights are constant: the first tap wins), NaN (a
// NaN input poisons every output that reads it: the last NaN tap wins), odd output sizes
// (floor pooling drops the last row and column) and a plane below Winograd's 32 tiles
// (the fallback that runs the two ops).
TEST(WinogradBf16, ConvMaxPoolFusionMatchesConvThenPoolBitForBit) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)";
  manual_seed(13);
  const int threads_before = get_num_threads();
  struct Shape4 {
    int64_t n, c, h, w, k;
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Shape4& s : {Shape4{4, 20, 14, 14, 40}, Shape4{3, 16, 15, 13, 16}, Shape4{1, 16, 6, 6, 16}}) {
      SCOPED_TRACE(testing::Message() << "n" << s.n << " c" << s.c << " " << s.h << "x" << s.w << " k" << s.k
                                      << " threads " << threads);
      std::vector<float> xv = relu(randn({s.n, s.c, s.h, s.w})).to_vector<float>();
      xv[static_cast<size_t>(s.h * s.w + 2 * s.w + 5)] = std::nanf("");  // image 0, channel 1, row 2, column 5
      const Tensor x = tensor(xv, {s.n, s.c, s.h, s.w});
      std::vector<float> wv = randn({s.k, s.c, 3, 3}).to_vector<float>();
      for (int64_t k = 0; k < s.k; k += 2)  // even output channels: the bias alone, a tie in every window
        std::fill(wv.begin() + k * s.c * 9, wv.begin() + (k + 1) * s.c * 9, 0.f);
      const Tensor w = tensor(wv, {s.k, s.c, 3, 3}), b = randn({s.k});
      const ops::Attrs conv{{"stride", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{1, 1, 1, 1}},
                            {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}},
                            {"in_channels", s.c}, {"out_channels", s.k}, {"activation", std::string("none")},
                            {"algorithm", std::string("winograd")}, {"precision", std::string("bf16")}};
      const Tensor xb = call("to_blocked", {x}, {{"block", int64_t{16}}});
      const std::vector<Tensor> fused = ops::call(*ops::find_op("conv2d_max_pool2x2_blocked"), {xb, w, b}, conv);
      const Tensor y = call("conv2d_blocked", {xb, w, b}, conv);
      const std::vector<Tensor> pooled = ops::call(*ops::find_op("max_pool2d_indices_blocked"), {y}, ops::two_by_two_pool());
      ASSERT_EQ(fused.size(), 2u);
      ASSERT_TRUE(fused[0].sizes().equals(pooled[0].sizes())) << fused[0].describe();
      const std::vector<float> got = fused[0].to_vector<float>(), want = pooled[0].to_vector<float>();
      int64_t nans = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        nans += std::isnan(want[i]);
        ASSERT_EQ(std::memcmp(&got[i], &want[i], 4), 0) << "value " << i << ": " << got[i] << " vs " << want[i];
      }
      EXPECT_GT(nans, 0);
      EXPECT_TRUE(equal(fused[1], pooled[1]));
    }
  }
  set_num_threads(threads_before);
}

// The gradient passes of such a fused convolution read the pooling's gradient as gp and
// the fused pooling's indices (conv2d_backward_{input,weight}_unpool_blocked): bit for bit
// the plain passes on max_pool2d_backward_blocked(gp, idx). Even padding (the input
// gradient's Winograd builds its tiles from whole windows) and odd padding (the input
// gradient unpools first), an odd output (rows past the last window get no gradient), a
// NaN gradient, and an index moved out of its window (the kernels then unpool first).
TEST(WinogradBf16, UnpoolGradientPassesMatchThePlainPassesBitForBit) {
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)";
  manual_seed(14);
  const int threads_before = get_num_threads();
  struct Case {
    int64_t n, c, h, w, k, pad;
    bool corrupt;
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& s : {Case{4, 20, 14, 14, 40, 0, false}, Case{3, 16, 17, 15, 16, 0, false},
                          Case{2, 16, 12, 12, 32, 1, false}, Case{4, 16, 14, 14, 16, 0, true}}) {
      SCOPED_TRACE(testing::Message() << "n" << s.n << " c" << s.c << " " << s.h << "x" << s.w << " k" << s.k
                                      << " pad " << s.pad << (s.corrupt ? " corrupt" : "") << " threads " << threads);
      const kernel_test::UnpoolGradientCase u =
          kernel_test::unpool_gradient_case(s.n, s.c, s.h, s.w, s.k, s.pad, s.corrupt, 16, "bf16");
      const Tensor &w = u.w, &xb = u.xb, &gp = u.gp, &idx = u.idx, &gy = u.gy;
      const ops::Attrs &in_attrs = u.input_attrs, &w_attrs = u.weight_attrs;
      const Tensor gx = call("conv2d_backward_input_unpool_blocked", {gp, idx, w}, in_attrs);
      const Tensor gx_plain = call("conv2d_backward_input_blocked", {gy, w}, in_attrs);
      EXPECT_TRUE(kernel_test::same_bits(gx, gx_plain));
      const Tensor gw = call("conv2d_backward_weight_unpool_blocked", {xb, gp, idx}, w_attrs);
      const Tensor gw_plain = call("conv2d_backward_weight_blocked", {xb, gy}, w_attrs);
      EXPECT_TRUE(kernel_test::same_bits(gw, gw_plain));
    }
  }
  set_num_threads(threads_before);
}
