// conv2d, conv1d and conv_transpose2d: known values, oneDNN (float32) against the float64
// reference loop for forward and both gradients over many geometries, primitive caching,
// errors, and agreement with PyTorch (generated at test time when python3 + torch exist).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ops/conv.h"
#include "tessera/autograd.h"
#include "tessera/io.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace F = tessera::nn::functional;
// A braced list for conv2d's padding would also match its std::string overload.
using Ints = std::vector<int64_t>;
using namespace tessera;

namespace {

// Largest |a - b| relative to the reference's largest magnitude (at least 1): float32
// sums of thousands of products err relative to their scale, not to each small result.
double max_rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_TRUE(a.sizes().equals(b.sizes())) << shape_str(a.sizes()) << " vs " << shape_str(b.sizes());
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0, scale = 1;
  for (double v : vb) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m / scale;
}

struct ConvCase {
  Shape x, w;
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups;
  bool bias;
};

// Forward and both gradients in float32 (oneDNN) and float64 (reference loop).
void expect_f32_matches_f64(const ConvCase& c, bool transpose = false,
                            std::vector<int64_t> output_padding = {0, 0}) {
  Generator gen(7);
  const Tensor x64 = randn(c.x, kFloat64, &gen), w64 = randn(c.w, kFloat64, &gen);
  const int64_t out_channels = transpose ? c.w[1] * c.groups : c.w[0];
  const Tensor b64 = c.bias ? randn({out_channels}, kFloat64, &gen) : Tensor();
  auto run = [&](DType dt) {
    Tensor x = x64.to(dt).detach().requires_grad_(), w = w64.to(dt).detach().requires_grad_();
    Tensor b = c.bias ? b64.to(dt).detach().requires_grad_() : Tensor();
    Tensor y = transpose ? F::conv_transpose2d(x, w, b, c.stride, c.padding, output_padding, c.groups,
                                               c.dilation)
                         : F::conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups);
    Generator g2(11);
    const Tensor gy = randn(y.sizes(), kFloat64, &g2).to(dt);
    std::vector<Tensor> wrt{x, w};
    if (c.bias) wrt.push_back(b);
    std::vector<Tensor> grads = autograd::grad({y}, wrt, {gy});
    grads.insert(grads.begin(), y.detach());
    return grads;
  };
  const std::vector<Tensor> f32 = run(kFloat32), f64 = run(kFloat64);
  const char* names[] = {"output", "grad x", "grad w", "grad b"};
  for (size_t i = 0; i < f32.size(); ++i) {
    EXPECT_EQ(f32[i].dtype(), kFloat32);
    EXPECT_LT(max_rel_diff(f32[i], f64[i]), 2e-4)
        << names[i] << " x " << shape_str(c.x) << " w " << shape_str(c.w) << " stride "
        << shape_str(c.stride) << " padding " << shape_str(c.padding) << " dilation "
        << shape_str(c.dilation) << " groups " << c.groups;
  }
}

}  // namespace

TEST(Conv2d, KnownValues) {
  // 3x3 input 0..8, 2x2 kernel of ones: each output sums a 2x2 window.
  Tensor x = arange(0, 9, 1, kFloat32).view({1, 1, 3, 3});
  Tensor w = ones({1, 1, 2, 2});
  Tensor y = F::conv2d(x, w, tensor<float>({10}));
  EXPECT_EQ(y.sizes(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{18, 22, 30, 34}));
  // Padding 1, stride 2: the corners of the padded 4x4 output grid.
  Tensor y2 = F::conv2d(x, w, {}, {2, 2}, Ints{1, 1});
  EXPECT_EQ(y2.sizes(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y2.to_vector<float>(), (std::vector<float>{0, 3, 9, 24}));
  // The float64 reference gives the same.
  EXPECT_EQ(F::conv2d(x.to(kFloat64), w.to(kFloat64), {}, {2, 2}, Ints{1, 1}).to_vector<float>(),
            (std::vector<float>{0, 3, 9, 24}));
}

TEST(Conv2d, OneDnnMatchesReference) {
  const std::vector<ConvCase> cases = {
      {{2, 3, 9, 8}, {4, 3, 3, 3}, {1, 1}, {0, 0}, {1, 1}, 1, true},
      {{2, 3, 9, 8}, {4, 3, 3, 2}, {2, 1}, {1, 0}, {1, 1}, 1, false},
      {{1, 4, 11, 10}, {6, 2, 3, 3}, {1, 2}, {2, 1}, {2, 1}, 2, true},      // groups, dilation
      {{2, 8, 7, 7}, {8, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1}, 8, true},        // depthwise
      {{2, 3, 10, 10}, {5, 3, 1, 1}, {3, 3}, {0, 0}, {1, 1}, 1, false},     // unused last rows
      {{2, 3, 9, 9}, {4, 3, 1, 1}, {3, 3}, {0, 0}, {1, 1}, 1, true},        // negative end padding
      {{3, 2, 6, 5}, {4, 2, 5, 4}, {2, 2}, {2, 2}, {1, 1}, 1, true},
      {{64, 1, 28, 28}, {32, 1, 3, 3}, {1, 1}, {0, 0}, {1, 1}, 1, true},    // CNN28's convs
      {{8, 32, 26, 26}, {64, 32, 3, 3}, {1, 1}, {0, 0}, {1, 1}, 1, true},
  };
  for (const ConvCase& c : cases) expect_f32_matches_f64(c);
}

TEST(ConvTranspose2d, OneDnnMatchesReference) {
  // w is [Cin, Cout / groups, kh, kw].
  expect_f32_matches_f64({{2, 4, 5, 6}, {4, 3, 3, 3}, {2, 2}, {1, 1}, {1, 1}, 1, true}, true, {1, 0});
  expect_f32_matches_f64({{1, 4, 4, 4}, {4, 2, 2, 3}, {1, 2}, {0, 1}, {2, 1}, 2, true}, true, {0, 1});
  expect_f32_matches_f64({{2, 3, 3, 3}, {3, 2, 4, 4}, {3, 3}, {0, 0}, {1, 1}, 1, false}, true, {2, 1});
}

TEST(ConvTranspose2d, KnownValuesAndShape) {
  // A 1x1 input scattered through a 2x2 kernel is the kernel scaled.
  Tensor x = full({1, 1, 1, 1}, 2.0);
  Tensor w = tensor<float>({1, 2, 3, 4}, {1, 1, 2, 2});
  EXPECT_EQ(F::conv_transpose2d(x, w).to_vector<float>(), (std::vector<float>{2, 4, 6, 8}));
  // PyTorch's size rule: (H - 1) * stride - 2 * pad + dilation * (k - 1) + output_padding + 1.
  Tensor y = F::conv_transpose2d(zeros({2, 4, 5, 7}), zeros({4, 6, 3, 3}), zeros({6}), {2, 2}, {1, 1},
                                 {1, 0});
  EXPECT_EQ(y.sizes(), (Shape{2, 6, 10, 13}));
}

TEST(Conv2d, SamePaddingAndValid) {
  Generator gen(1);
  Tensor x = randn({2, 3, 7, 8}, {}, &gen);
  for (int64_t k : {2, 3, 4}) {
    Tensor w = randn({5, 3, k, k + 1}, {}, &gen);
    Tensor y = F::conv2d(x, w, {}, {1, 1}, std::string("same"), {1, 2});
    EXPECT_EQ(y.sizes(), (Shape{2, 5, 7, 8})) << "k " << k;
    // Even kernels pad one more at the end: equal to padding explicitly then "valid".
    const int64_t th = k - 1, tw = 2 * k;
    Tensor xp = zeros({2, 3, 7 + th, 8 + tw});
    xp.slice(2, th / 2, th / 2 + 7).slice(3, tw / 2, tw / 2 + 8).copy_(x);
    Tensor ref = F::conv2d(xp, w, {}, {1, 1}, std::string("valid"), {1, 2});
    EXPECT_LT(max_rel_diff(y, ref), 1e-5);
  }
  EXPECT_ERROR_HAS(F::conv2d(x, randn({5, 3, 3, 3}), {}, {2, 2}, std::string("same")),
                   "needs stride 1");
  EXPECT_ERROR_HAS(F::conv2d(x, randn({5, 3, 3, 3}), {}, {1, 1}, std::string("full")),
                   "\"same\" or \"valid\"");
}

TEST(Conv1d, MatchesConv2dWithUnitHeight) {
  Generator gen(3);
  Tensor x = randn({2, 4, 15}, {}, &gen), w = randn({6, 2, 3}, {}, &gen), b = randn({6}, {}, &gen);
  Tensor y = F::conv1d(x, w, b, 2, 1, 2, 2);
  EXPECT_EQ(y.sizes(), (Shape{2, 6, 7}));
  Tensor ref = F::conv2d(x.unsqueeze(2), w.unsqueeze(2), b, {1, 2}, Ints{0, 1}, {1, 2}, 2).squeeze(2);
  EXPECT_LT(max_rel_diff(y, ref), 1e-6);
  // Unbatched [C, L].
  EXPECT_EQ(F::conv1d(x[0], w, b, 2, 1, 2, 2).sizes(), (Shape{6, 7}));
}

TEST(Conv2d, UnbatchedAndNonContiguousInputs) {
  Generator gen(5);
  Tensor x = randn({3, 9, 9}, {}, &gen), w = randn({4, 3, 3, 3}, {}, &gen);
  EXPECT_EQ(F::conv2d(x, w).sizes(), (Shape{4, 7, 7}));
  Tensor xt = randn({1, 9, 9, 3}, {}, &gen).permute({0, 3, 1, 2});  // NHWC storage
  EXPECT_LT(max_rel_diff(F::conv2d(xt, w), F::conv2d(xt.contiguous(), w)), 1e-6);
}

TEST(Conv2d, EmptyBatch) {
  Tensor x = zeros({0, 3, 5, 5}, kFloat32).requires_grad_();
  Tensor w = ones({2, 3, 3, 3}).requires_grad_();
  Tensor y = F::conv2d(x, w);
  EXPECT_EQ(y.sizes(), (Shape{0, 2, 3, 3}));
  sum(y).backward();
  EXPECT_EQ(w.grad().to_vector<float>(), std::vector<float>(54, 0.0f));
}

TEST(Conv2d, PrimitivesAreCachedAcrossSteps) {
  Generator gen(9);
  Tensor x = randn({4, 3, 12, 12}, {}, &gen);
  Tensor w = randn({5, 3, 3, 3}, {}, &gen).requires_grad_();
  auto step = [&] {
    Tensor y = F::conv2d(x.detach().requires_grad_(), w, {}, {1, 1}, Ints{1, 1});
    sum(y).backward();
  };
  step();
  const int64_t built = cpu::conv_primitives_created();
  for (int i = 0; i < 3; ++i) step();
  EXPECT_EQ(cpu::conv_primitives_created(), built);
}

TEST(Conv2d, BackwardPassesReuseReorderedInputsUntilTheyAreWritten) {
  Generator gen(3);
  const Tensor x = randn({8, 16, 14, 14}, {}, &gen);
  Tensor w = randn({32, 16, 3, 3}, {}, &gen).requires_grad_();
  // A step: the weight gradient finds x as the forward pass reordered it, and the output
  // gradient as the input gradient's pass reordered it (or the other way round).
  const int64_t before = cpu::conv_reorders_reused();
  Tensor xr = x.detach().requires_grad_();
  Tensor y = F::conv2d(xr, w);
  sum(mul(y, y)).backward();
  const int64_t reused = cpu::conv_reorders_reused() - before;
  std::printf("conv2d step: %lld reorders reused\n", static_cast<long long>(reused));
  EXPECT_GE(reused, 2);

  // A write between the forward pass and the weight gradient makes the kept copy stale:
  // the gradient is that of the new values, bit for bit what a fresh tensor gives.
  Tensor xw = x.clone();
  const Tensor gy = randn({8, 32, 12, 12}, {}, &gen);
  const ops::Attrs attrs{{"weight_size", std::vector<int64_t>{32, 16, 3, 3}}};
  (void)ops::call1(ops::kConv2d, {xw, w.detach()});  // reorders xw and keeps the copy
  xw.mul_(2.0);
  const Tensor gw = ops::call1(ops::kConv2dBackwardWeight, {xw, gy}, attrs);
  const Tensor want = ops::call1(ops::kConv2dBackwardWeight, {xw.clone(), gy}, attrs);
  EXPECT_EQ(gw.to_vector<float>(), want.to_vector<float>());

  // Without gradients (inference, evaluation) no backward pass follows, so the forward
  // pass keeps nothing: a weight gradient computed anyway reorders its input itself.
  const Tensor fresh = randn({8, 16, 14, 14}, {}, &gen);
  {
    NoGradGuard no_grad;
    (void)ops::call1(ops::kConv2d, {fresh, w.detach()});
  }
  const int64_t before_no_grad = cpu::conv_reorders_reused();
  (void)ops::call1(ops::kConv2dBackwardWeight, {fresh, randn({8, 32, 12, 12}, {}, &gen)}, attrs);
  EXPECT_EQ(cpu::conv_reorders_reused(), before_no_grad);
}

// Eager picks Winograd where it pays (ops::winograd_pays): 3x3, stride 1, at least 16
// channels in and out, at least 4096 output positions. The op records the choice, its
// gradient ops inherit it, and the results agree with the direct kernels to float32
// rounding.
TEST(Conv2d, EagerRunsWinogradWhereItPays) {
  Generator gen(11);
  const Tensor x0 = randn({8, 16, 26, 26}, {}, &gen), w0 = randn({24, 16, 3, 3}, {}, &gen);
  const Tensor b = randn({24}, {}, &gen), gy = randn({8, 24, 24, 24}, {}, &gen);
  EXPECT_TRUE(ops::winograd_pays(x0.sizes(), w0.sizes(), ops::Attrs{{"stride", std::vector<int64_t>{1, 1}},
                                                                     {"padding", std::vector<int64_t>{0, 0, 0, 0}},
                                                                     {"dilation", std::vector<int64_t>{1, 1}},
                                                                     {"groups", int64_t{1}}}));
  Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
  Tensor y = F::conv2d(x, w, b);
  sum(mul(y, gy)).backward();
  const ops::Attrs direct{{"algorithm", std::string("direct")}};
  const Tensor y_direct = ops::call1(ops::kConv2d, {x0, w0, b}, direct);
  ops::Attrs gx_attrs = direct, gw_attrs = direct;
  gx_attrs.add({"input_size", std::vector<int64_t>{8, 16, 26, 26}});
  gw_attrs.add({"weight_size", std::vector<int64_t>{24, 16, 3, 3}});
  const Tensor gx_direct = ops::call1(ops::kConv2dBackwardInput, {gy, w0}, gx_attrs);
  const Tensor gw_direct = ops::call1(ops::kConv2dBackwardWeight, {x0, gy}, gw_attrs);
  std::printf("eager Winograd vs direct: output %.1e, input gradient %.1e, weight gradient %.1e (max relative)\n",
              max_rel_error(y, y_direct), max_rel_error(x.grad(), gx_direct), max_rel_error(w.grad(), gw_direct));
  EXPECT_LE(max_rel_error(y, y_direct), 1e-4);
  // Where oneDNN has Winograd kernels (AVX-512: blocks of 16), they round differently.
  if (ops::conv_channel_block() == 16) {
    EXPECT_GT(max_rel_error(y, y_direct), 0.0) << "Winograd did not run";
  }
  EXPECT_LE(max_rel_error(x.grad(), gx_direct), 1e-4);
  EXPECT_LE(max_rel_error(w.grad(), gw_direct), 1e-4);
  // Where it does not pay: few positions, few channels, a stride, float64.
  const ops::Attrs plain{{"stride", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{0, 0, 0, 0}},
                         {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}}};
  EXPECT_FALSE(ops::winograd_pays(Shape{1, 16, 26, 26}, Shape{24, 16, 3, 3}, plain));
  EXPECT_FALSE(ops::winograd_pays(Shape{8, 3, 26, 26}, Shape{24, 3, 3, 3}, plain));
  const ops::Attrs strided{{"stride", std::vector<int64_t>{2, 2}}, {"padding", std::vector<int64_t>{0, 0, 0, 0}},
                       {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}}};
  EXPECT_FALSE(ops::winograd_pays(Shape{8, 16, 26, 26}, Shape{24, 16, 3, 3}, strided));
  EXPECT_FALSE(ops::winograd_pays(Shape{8, 16, 26, 26}, Shape{24, 8, 3, 3}, plain));  // refused by the shape rule
  EXPECT_EQ(F::conv2d(x0.to(kFloat64), w0.to(kFloat64)).dtype(), kFloat64);
}

TEST(Conv2d, Errors) {
  Tensor x = zeros({2, 3, 8, 8});
  EXPECT_ERROR_HAS(F::conv2d(x, zeros({4, 2, 3, 3})), "has 3 channels but weight [4, 2, 3, 3]");
  EXPECT_ERROR_HAS(F::conv2d(x, zeros({4, 3, 3, 3}), zeros({5})), "expected a bias of shape [4]");
  EXPECT_ERROR_HAS(F::conv2d(x, zeros({4, 1, 3, 3}), {}, {1, 1}, Ints{0, 0}, {1, 1}, 3),
                   "out_channels (4");
  EXPECT_ERROR_HAS(F::conv2d(x, zeros({4, 3, 9, 3})), "smaller than the dilated kernel");
  EXPECT_ERROR_HAS(F::conv2d(zeros({8, 8}), zeros({4, 3, 3, 3})), "expected a 3-D [C, H, W] or 4-D");
  EXPECT_ERROR_HAS(F::conv2d(x, zeros({4, 3, 3, 3}), {}, {0, 1}), "stride must be two positive");
  EXPECT_ERROR_HAS(F::conv2d(x.to(kInt64), zeros({4, 3, 3, 3}, kInt64)), "floating-point");
  EXPECT_ERROR_HAS(F::conv_transpose2d(x, zeros({3, 2, 3, 3}), {}, {2, 2}, {0, 0}, {2, 0}),
                   "output_padding");
  EXPECT_ERROR_HAS(F::conv_transpose2d(x, zeros({4, 2, 3, 3})), "has 3 channels but weight");
}

TEST(Conv2d, OpTableEntries) {
  EXPECT_STREQ(ops::find_op("conv2d")->onnx_op, "Conv");
  EXPECT_STREQ(ops::find_op("conv_transpose2d")->onnx_op, "ConvTranspose");
  for (const char* name : {"conv2d", "conv2d_backward_input", "conv2d_backward_weight", "conv_transpose2d"})
    EXPECT_NE(ops::find_op(name)->backward, nullptr) << name;
}

// ---- agreement with PyTorch ----

namespace {

// Writes a script that saves inputs and PyTorch's outputs as .npy under `dir`; returns
// false (the test skips) when python3 or torch is missing.
bool generate_torch_reference(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const std::filesystem::path script = dir / "gen.py";
  std::ofstream(script) << R"PY(
import sys, numpy as np, torch
import torch.nn.functional as F
out = sys.argv[1]
torch.manual_seed(0)
def save(name, t): np.save(f"{out}/{name}.npy", t.detach().numpy())
cases = {
  "a": dict(x=(2, 4, 9, 7), w=(6, 2, 3, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
  "b": dict(x=(3, 3, 8, 8), w=(3, 1, 5, 5), stride=(1, 1), padding=(2, 2), dilation=(1, 1), groups=3),
}
for k, c in cases.items():
  x = torch.randn(c["x"], dtype=torch.float64, requires_grad=True)
  w = torch.randn(c["w"], dtype=torch.float64, requires_grad=True)
  b = torch.randn(c["w"][0], dtype=torch.float64, requires_grad=True)
  y = F.conv2d(x, w, b, c["stride"], c["padding"], c["dilation"], c["groups"])
  gy = torch.randn(y.shape, dtype=torch.float64)
  y.backward(gy)
  for n, t in dict(x=x, w=w, b=b, y=y, gy=gy, gx=x.grad, gw=w.grad, gb=b.grad).items(): save(f"{k}_{n}", t)
x = torch.randn(2, 4, 5, 6, dtype=torch.float64); w = torch.randn(4, 3, 3, 2, dtype=torch.float64)
save("t_x", x); save("t_w", w)
save("t_y", F.conv_transpose2d(x, w, None, (2, 3), (1, 0), (1, 2), 2, (1, 2)))
x = torch.randn(2, 4, 13, dtype=torch.float64); w = torch.randn(6, 4, 4, dtype=torch.float64)
save("c1_x", x); save("c1_w", w); save("c1_y", F.conv1d(x, w, None, 3, 2, 2))
x = torch.randn(2, 3, 7, 8, dtype=torch.float64); w = torch.randn(4, 3, 4, 3, dtype=torch.float64)
save("s_x", x); save("s_w", w); save("s_y", F.conv2d(x, w, None, 1, "same", (2, 1)))
)PY";
  const std::string cmd = "/usr/bin/python3 " + script.string() + " " + dir.string() + " 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

TEST(Conv2d, AgreesWithPyTorch) {
  const std::filesystem::path dir = std::filesystem::path(TESSERA_TEST_BINARY_DIR) / "conv_torch_ref";
  if (!generate_torch_reference(dir)) GTEST_SKIP() << "python3 with torch not available";
  auto load = [&](const std::string& n) { return load_npy((dir / (n + ".npy")).string()); };
  struct Geo {
    const char* key;
    std::vector<int64_t> stride, padding, dilation;
    int64_t groups;
  };
  for (const Geo& g : {Geo{"a", {2, 1}, {1, 2}, {1, 2}, 2}, Geo{"b", {1, 1}, {2, 2}, {1, 1}, 3}}) {
    const std::string k = g.key;
    for (DType dt : {kFloat64, kFloat32}) {
      const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
      Tensor x = load(k + "_x").to(dt).requires_grad_(), w = load(k + "_w").to(dt).requires_grad_();
      Tensor b = load(k + "_b").to(dt).requires_grad_();
      Tensor y = F::conv2d(x, w, b, g.stride, g.padding, g.dilation, g.groups);
      EXPECT_LT(max_rel_diff(y, load(k + "_y")), tol) << k;
      y.backward(load(k + "_gy").to(dt));
      EXPECT_LT(max_rel_diff(x.grad(), load(k + "_gx")), tol) << k;
      EXPECT_LT(max_rel_diff(w.grad(), load(k + "_gw")), tol) << k;
      EXPECT_LT(max_rel_diff(b.grad(), load(k + "_gb")), tol) << k;
    }
  }
  EXPECT_LT(max_rel_diff(F::conv_transpose2d(load("t_x"), load("t_w"), {}, {2, 3}, {1, 0}, {1, 2}, 2, {1, 2}),
                         load("t_y")),
            1e-10);
  EXPECT_LT(max_rel_diff(F::conv1d(load("c1_x").to(kFloat32), load("c1_w").to(kFloat32), {}, 3, 2, 2),
                         load("c1_y")),
            1e-4);
  EXPECT_LT(max_rel_diff(F::conv2d(load("s_x"), load("s_w"), {}, {1, 1}, std::string("same"), {2, 1}),
                         load("s_y")),
            1e-10);
}

// The braced padding must pick the numeric overload (it once also matched std::string).
TEST(Conv2d, BracedPaddingCompiles) {
  namespace F = tessera::nn::functional;
  tessera::Tensor x = tessera::ones({1, 1, 3, 3});
  tessera::Tensor w = tessera::ones({1, 1, 3, 3});
  tessera::Tensor y = F::conv2d(x, w, {}, {1, 1}, {1, 1});
  EXPECT_TRUE(y.sizes().equals({1, 1, 3, 3}));
  EXPECT_EQ(y[0][0][1][1].item<float>(), 9.0f);
  EXPECT_EQ(F::conv2d(x, w, {}, {1, 1}, "same").size(-1), 3);
}
