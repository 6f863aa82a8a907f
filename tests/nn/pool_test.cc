// max_pool2d, avg_pool2d, adaptive_avg_pool2d: known values, PyTorch's size rules
// (ceil_mode, padding, dilation), gradients, errors, and agreement with PyTorch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ops/conv.h"
#include "tessera/allocator.h"
#include "tessera/autograd.h"
#include "tessera/io.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace F = tessera::nn::functional;
using namespace tessera;


TEST(MaxPool2d, KnownValuesAndIndices) {
  Tensor x = arange(0, 16, 1, kFloat32).view({1, 1, 4, 4});
  EXPECT_EQ(F::max_pool2d(x, {2, 2}).to_vector<float>(), (std::vector<float>{5, 7, 13, 15}));
  std::vector<Tensor> out = ops::call(ops::kMaxPool2d, {x},
                                      {{"kernel", std::vector<int64_t>{2, 2}},
                                       {"stride", std::vector<int64_t>{2, 2}},
                                       {"padding", std::vector<int64_t>{0, 0}},
                                       {"dilation", std::vector<int64_t>{1, 1}},
                                       {"ceil_mode", false}});
  EXPECT_EQ(out[1].dtype(), kInt64);
  EXPECT_EQ(out[1].to_vector<int64_t>(), (std::vector<int64_t>{5, 7, 13, 15}));
  // Dilation 2 reads every other element; padding never wins (it is -inf).
  EXPECT_EQ(F::max_pool2d(x, {2, 2}, {1, 1}, {0, 0}, {2, 2}).to_vector<float>(),
            (std::vector<float>{10, 11, 14, 15}));
  EXPECT_EQ(F::max_pool2d(-x, {3, 3}, {2, 2}, {1, 1}).to_vector<float>(),
            (std::vector<float>{0, -1, -4, -5}));
}

// Under NoGradGuard no gradient can follow, so max_pool2d writes no argmax indices (as
// PyTorch): the same values, and only the values' memory.
TEST(MaxPool2d, WritesNoIndicesWithoutGradients) {
  manual_seed(3);
  for (DType t : {kFloat32, kFloat64}) {
    const Tensor x = randn({4, 8, 32, 32}, t);
    // The 2x2 / stride 2 fast path and the general loop.
    for (const auto& [k, s, p] : {std::tuple<int64_t, int64_t, int64_t>{2, 2, 0}, {3, 2, 1}}) {
      const Tensor with_grad = F::max_pool2d(x, {k, k}, {s, s}, {p, p});
      NoGradGuard no_grad;
      empty_cache();
      reset_peak_memory();
      const int64_t base = memory_stats().current_bytes;
      const Tensor without = F::max_pool2d(x, {k, k}, {s, s}, {p, p});
      const int64_t used = memory_stats().peak_bytes - base;
      EXPECT_LE(used, static_cast<int64_t>(without.nbytes()) + 1024) << dtype_name(t) << " kernel " << k;
      EXPECT_TRUE(equal(with_grad, without)) << dtype_name(t) << " kernel " << k;
    }
  }
  // The op itself: indices=false leaves its second output empty.
  const std::vector<Tensor> out = ops::call(ops::kMaxPool2d, {ones({1, 1, 4, 4})},
                                            {{"kernel", std::vector<int64_t>{2, 2}},
                                             {"stride", std::vector<int64_t>{2, 2}},
                                             {"indices", false}});
  EXPECT_TRUE(out[0].sizes().equals(Shape({1, 1, 2, 2})));
  EXPECT_EQ(out[1].numel(), 0);
}

TEST(MaxPool2d, CeilModeSizes) {
  Tensor x = zeros({2, 3, 7, 7});
  EXPECT_EQ(F::max_pool2d(x, {2, 2}).sizes(), (Shape{2, 3, 3, 3}));
  EXPECT_EQ(F::max_pool2d(x, {2, 2}, {}, {0, 0}, {1, 1}, true).sizes(), (Shape{2, 3, 4, 4}));
  // The last window may not start in the right padding: 3 windows, not 4.
  EXPECT_EQ(F::max_pool2d(zeros({1, 1, 5, 5}), {2, 2}, {2, 2}, {1, 1}, {1, 1}, true).sizes(),
            (Shape{1, 1, 3, 3}));
  EXPECT_EQ(F::max_pool2d(zeros({3, 7, 7}), {2, 2}).sizes(), (Shape{3, 3, 3}));  // unbatched
}

TEST(MaxPool2d, NanPropagatesAndGradientGoesToTheMax) {
  Tensor x = tensor<float>({1, std::numeric_limits<float>::quiet_NaN(), 3, 2}, {1, 1, 2, 2});
  EXPECT_TRUE(std::isnan(F::max_pool2d(x, {2, 2}).item<float>()));
  Tensor y = tensor<float>({1, 5, 3, 2, 0, 9, 4, 4, 4}, {1, 1, 3, 3}).requires_grad_();
  // Overlapping windows (stride 1): a max shared by two windows gets both gradients.
  sum(F::max_pool2d(y, {2, 2}, {1, 1})).backward();
  EXPECT_EQ(y.grad().to_vector<float>(), (std::vector<float>{0, 1, 0, 0, 0, 2, 1, 0, 0}));
}

// The general loop (any window other than 2x2 / stride 2) against a plain loop over each
// window, with PyTorch's rule (the first maximum, the last NaN): ties (values from a small set), NaN and -inf, windows in the padding, dilation,
// ceil_mode's partial windows, and rows wider than the kernel's chunk of 64 outputs.
template <typename T>
void expect_max_pool_matches_plain_loop(int64_t H, int64_t W, std::vector<int64_t> k, std::vector<int64_t> s,
                                        std::vector<int64_t> p, std::vector<int64_t> d, bool ceil_mode) {
  SCOPED_TRACE(::testing::Message() << "H " << H << " W " << W << " kernel " << k[0] << "x" << k[1] << " stride "
                                    << s[0] << "x" << s[1] << " padding " << p[0] << "x" << p[1] << " dilation "
                                    << d[0] << "x" << d[1] << " ceil " << ceil_mode);
  std::vector<T> v(static_cast<size_t>(2 * H * W));
  uint32_t r = 12345;
  for (T& e : v) {
    r = r * 1664525u + 1013904223u;
    const uint32_t pick = (r >> 8) % 50;
    e = pick == 0   ? std::numeric_limits<T>::quiet_NaN()
        : pick == 1 ? -std::numeric_limits<T>::infinity()
                    : static_cast<T>(static_cast<int>(pick % 7) - 3);
  }
  const Tensor x = tensor<T>(v, {1, 2, H, W});
  const std::vector<Tensor> out =
      ops::call(ops::kMaxPool2d, {x}, {{"kernel", k}, {"stride", s}, {"padding", p}, {"dilation", d}, {"ceil_mode", ceil_mode}});
  const int64_t OH = out[0].size(2), OW = out[0].size(3);
  const std::vector<T> y = out[0].contiguous().to_vector<T>();
  const std::vector<int64_t> idx = out[1].contiguous().to_vector<int64_t>();
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_i = -1;
        for (int64_t ki = 0; ki < k[0]; ++ki)
          for (int64_t kj = 0; kj < k[1]; ++kj) {
            const int64_t ih = oh * s[0] - p[0] + ki * d[0], iw = ow * s[1] - p[1] + kj * d[1];
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const T e = v[static_cast<size_t>((c * H + ih) * W + iw)];
            if (best_i < 0) best_i = ih * W + iw;  // a window of -inf keeps its first tap
            if (e > best || std::isnan(e)) {  // PyTorch's rule: a later NaN takes over
              best = e;
              best_i = ih * W + iw;
            }
          }
        const size_t o = static_cast<size_t>((c * OH + oh) * OW + ow);
        if (std::isnan(best)) {
          EXPECT_TRUE(std::isnan(y[o])) << "output " << o;
        } else {
          EXPECT_EQ(y[o], best) << "output " << o;
        }
        EXPECT_EQ(idx[o], best_i) << "output " << o;
      }
}

TEST(MaxPool2d, GeneralWindowsMatchAPlainLoop) {
  for (int pass = 0; pass < 2; ++pass) {
    auto check = [&](auto... a) {
      if (pass == 0) expect_max_pool_matches_plain_loop<float>(a...);
      else expect_max_pool_matches_plain_loop<double>(a...);
    };
    check(9, 150, std::vector<int64_t>{3, 3}, std::vector<int64_t>{2, 2}, std::vector<int64_t>{1, 1},
          std::vector<int64_t>{1, 1}, false);  // ResNet's stem pool, two chunks a row
    check(8, 131, std::vector<int64_t>{3, 3}, std::vector<int64_t>{1, 1}, std::vector<int64_t>{1, 1},
          std::vector<int64_t>{1, 1}, false);
    check(11, 17, std::vector<int64_t>{2, 3}, std::vector<int64_t>{1, 2}, std::vector<int64_t>{1, 1},
          std::vector<int64_t>{2, 1}, false);
    check(9, 12, std::vector<int64_t>{3, 3}, std::vector<int64_t>{1, 1}, std::vector<int64_t>{0, 0},
          std::vector<int64_t>{2, 2}, false);
    check(7, 9, std::vector<int64_t>{3, 2}, std::vector<int64_t>{2, 2}, std::vector<int64_t>{1, 1},
          std::vector<int64_t>{1, 1}, true);  // partial windows at the end
    check(3, 2, std::vector<int64_t>{3, 3}, std::vector<int64_t>{1, 1}, std::vector<int64_t>{1, 1},
          std::vector<int64_t>{1, 1}, false);  // no window wholly inside a row
    check(5, 5, std::vector<int64_t>{1, 1}, std::vector<int64_t>{2, 1}, std::vector<int64_t>{0, 0},
          std::vector<int64_t>{1, 1}, false);
  }
}

TEST(AvgPool2d, KnownValuesPaddingAndCeilMode) {
  Tensor x = arange(0, 16, 1, kFloat32).view({1, 1, 4, 4});
  EXPECT_EQ(F::avg_pool2d(x, {2, 2}).to_vector<float>(), (std::vector<float>{2.5, 4.5, 10.5, 12.5}));
  // Padding 1: the top windows hold one input row; the divisor counts the padding (4) or
  // only the input positions (2 for the second window).
  Tensor inc = F::avg_pool2d(x, {2, 2}, {2, 2}, {1, 1}, false, true);
  Tensor exc = F::avg_pool2d(x, {2, 2}, {2, 2}, {1, 1}, false, false);
  EXPECT_EQ(inc.sizes(), (Shape{1, 1, 3, 3}));
  EXPECT_FLOAT_EQ(inc.to_vector<float>()[0], 0.0f / 4);
  EXPECT_FLOAT_EQ(inc.to_vector<float>()[1], (1 + 2) / 4.0f);
  EXPECT_FLOAT_EQ(exc.to_vector<float>()[1], (1 + 2) / 2.0f);
  EXPECT_FLOAT_EQ(exc.to_vector<float>()[4], (5 + 6 + 9 + 10) / 4.0f);
  // ceil_mode: the extra window past the input is clipped; its divisor counts only
  // positions inside input + padding.
  Tensor c = F::avg_pool2d(arange(0, 25, 1, kFloat32).view({1, 1, 5, 5}), {2, 2}, {2, 2}, {0, 0}, true, true);
  EXPECT_EQ(c.sizes(), (Shape{1, 1, 3, 3}));
  EXPECT_FLOAT_EQ(c.to_vector<float>()[8], 24.0f);
  EXPECT_FLOAT_EQ(c.to_vector<float>()[2], (4 + 9) / 2.0f);
}

TEST(AdaptiveAvgPool2d, WindowsAndGlobal) {
  Tensor x = arange(0, 10, 1, kFloat32).view({1, 1, 2, 5});
  // Width 5 -> 3: windows [0,2), [1,4), [3,5).
  Tensor y = F::adaptive_avg_pool2d(x, {1, 3});
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{(0 + 1 + 5 + 6) / 4.0f, (1 + 2 + 3 + 6 + 7 + 8) / 6.0f,
                                                       (3 + 4 + 8 + 9) / 4.0f}));
  Tensor g = F::adaptive_avg_pool2d(x, {1, 1});
  EXPECT_EQ(g.sizes(), (Shape{1, 1, 1, 1}));
  EXPECT_FLOAT_EQ(g.item<float>(), 4.5f);
  EXPECT_STREQ(ops::find_op("global_avg_pool2d")->onnx_op, "GlobalAveragePool");
  EXPECT_STREQ(ops::find_op("avg_pool2d")->onnx_op, "AveragePool");
  EXPECT_STREQ(ops::find_op("max_pool2d")->onnx_op, "MaxPool");
  // Upsampling sizes (output > input) repeat elements.
  EXPECT_EQ(F::adaptive_avg_pool2d(x, {4, 5}).sizes(), (Shape{1, 1, 4, 5}));
}

TEST(Pool2d, Errors) {
  Tensor x = zeros({1, 1, 4, 4});
  EXPECT_ERROR_HAS(F::max_pool2d(x, {2, 2}, {}, {2, 2}), "at most half the kernel size");
  EXPECT_ERROR_HAS(F::max_pool2d(x, {5, 5}), "too small for kernel");
  EXPECT_ERROR_HAS(F::max_pool2d(x, {2, 2, 2}), "kernel size must have 1 or 2 values");
  EXPECT_ERROR_HAS(F::avg_pool2d(zeros({4, 4}), {2, 2}), "expected a 3-D [C, H, W] or 4-D");
  EXPECT_ERROR_HAS(F::avg_pool2d(x, {2, 2}, {0, 1}), "stride must be two positive");
  EXPECT_ERROR_HAS(F::adaptive_avg_pool2d(x, {0, 2}), "output_size must be two positive");
  EXPECT_ERROR_HAS(F::max_pool2d(x.to(kInt64), {2, 2}), "floating-point");
}

// ---- agreement with PyTorch ----

TEST(Pool2d, AgreesWithPyTorch) {
  const std::filesystem::path dir = std::filesystem::path(TESSERA_TEST_BINARY_DIR) / "pool_torch_ref";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "gen.py") << R"PY(
import sys, numpy as np, torch
import torch.nn.functional as F
out = sys.argv[1]
torch.manual_seed(0)
def save(name, t): np.save(f"{out}/{name}.npy", t.detach().numpy())
x = torch.randn(2, 3, 11, 10, dtype=torch.float64, requires_grad=True)
save("x", x)
ys = {
  "max": F.max_pool2d(x, (3, 2), (2, 3), (1, 1), (2, 1), ceil_mode=True),
  "avg": F.avg_pool2d(x, (3, 4), (2, 3), (1, 2), ceil_mode=True, count_include_pad=False),
  "avgi": F.avg_pool2d(x, (3, 3), (2, 2), (1, 1), ceil_mode=False, count_include_pad=True),
  "ada": F.adaptive_avg_pool2d(x, (4, 3)),
}
for k, y in ys.items():
  gy = torch.randn(y.shape, dtype=torch.float64)
  gx, = torch.autograd.grad(y, x, gy)
  save(k + "_y", y); save(k + "_gy", gy); save(k + "_gx", gx)
)PY";
  const std::string cmd = "/usr/bin/python3 " + (dir / "gen.py").string() + " " + dir.string() + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "python3 with torch not available";
  auto load = [&](const std::string& n) { return load_npy((dir / (n + ".npy")).string()); };
  for (DType dt : {kFloat64, kFloat32}) {
    const double tol = dt == kFloat64 ? 1e-12 : 1e-5;
    const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> fns = {
        {"max", [](const Tensor& x) { return F::max_pool2d(x, {3, 2}, {2, 3}, {1, 1}, {2, 1}, true); }},
        {"avg", [](const Tensor& x) { return F::avg_pool2d(x, {3, 4}, {2, 3}, {1, 2}, true, false); }},
        {"avgi", [](const Tensor& x) { return F::avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false, true); }},
        {"ada", [](const Tensor& x) { return F::adaptive_avg_pool2d(x, {4, 3}); }},
    };
    for (const auto& [k, fn] : fns) {
      Tensor x = load("x").to(dt).requires_grad_();
      Tensor y = fn(x);
      EXPECT_LT(max_abs_diff(y, load(k + "_y")), tol) << k;
      y.backward(load(k + "_gy").to(dt));
      EXPECT_LT(max_abs_diff(x.grad(), load(k + "_gx")), tol * 10) << k;
    }
  }
}
