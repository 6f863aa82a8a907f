// nn::functional: known values, argument errors, and agreement with PyTorch.
//
// The PyTorch comparison: every case below writes its float64 inputs as .npy files; the
// Python script embedded at the end of this file (run with Debian's /usr/bin/python3 and
// python3-torch) applies torch.nn.functional to the same inputs and writes its outputs and
// the gradients of sum(out0 * c) (c[i] = sin(i + 1)) with respect to every input not named
// "c_..." (constants: targets, indices, running statistics). The test is skipped, loudly,
// when python or torch is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "tessera/autograd.h"
#include "tessera/io.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace F = tessera::nn::functional;
using namespace tessera;
namespace fs = std::filesystem;

namespace {

void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_TRUE(a.sizes().equals(b.sizes()))
      << what << ": shape " << shape_str(a.sizes()) << " vs " << shape_str(b.sizes());
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(y[i]) && std::isnan(x[i])) continue;
    ASSERT_NEAR(x[i], y[i], tol * (1 + std::abs(y[i]))) << what << ", element " << i;
  }
}

Tensor f64(std::initializer_list<double> v, IntArrayRef shape = {}) { return tensor<double>(v, shape); }

// ------------------------------------------------------------------ known values

TEST(NnFunctional, LinearMatchesMatmulPlusBias) {
  const Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor w = f64({1, 0, -1, 2, 1, 0}, {2, 3});
  const Tensor b = f64({10, 20});
  expect_close(F::linear(x, w, b), f64({8, 24, 8, 33}, {2, 2}), 1e-12, "linear 2-D");
  expect_close(F::linear(x, w), f64({-2, 4, -2, 13}, {2, 2}), 1e-12, "linear no bias");
  expect_close(F::linear(x.view({1, 2, 3}), w, b), f64({8, 24, 8, 33}, {1, 2, 2}), 1e-12,
               "linear 3-D");
  expect_close(F::linear(f64({1, 2, 3}), w, b), f64({8, 24}), 1e-12, "linear 1-D");
}

TEST(NnFunctional, LinearErrorsNameShapes) {
  const Tensor x = zeros({2, 3}), w = zeros({4, 5});
  EXPECT_ERROR_HAS(F::linear(x, w), "linear: [2, 3] f32, [4, 5] f32: input [2, 3] f32 has 3 features");
  EXPECT_ERROR_HAS(F::linear(x, zeros({4, 3}), zeros({5})), "expected a bias of shape [4]");
  EXPECT_ERROR_HAS(F::bilinear(x, x, zeros({2, 3, 4})), "bilinear: inputs [2, 3] f32");
}

TEST(NnFunctional, BatchNormTrainingUpdatesRunningStatsUnbiased) {
  // One channel holding 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased 5/3.
  const Tensor x = f64({1, 2, 3, 4}, {4, 1});
  Tensor rm = f64({0}), rv = f64({1});
  const Tensor y = F::batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, 0.0);
  const double s = 1 / std::sqrt(1.25);
  expect_close(y, f64({-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s}, {4, 1}), 1e-12, "normalized");
  EXPECT_NEAR(rm.item<double>(), 0.25, 1e-12);
  EXPECT_NEAR(rv.item<double>(), 0.9 + 0.1 * 5.0 / 3.0, 1e-12);
  // Evaluation normalizes with the running statistics and leaves them alone.
  const Tensor e = F::batch_norm(x, rm, rv, f64({2}), f64({1}), false, 0.1, 0.0);
  const double es = 2 / std::sqrt(rv.item<double>());
  expect_close(e, f64({(1 - 0.25) * es + 1, (2 - 0.25) * es + 1, (3 - 0.25) * es + 1, (4 - 0.25) * es + 1}, {4, 1}),
               1e-12, "eval");
  EXPECT_NEAR(rm.item<double>(), 0.25, 1e-12);
}

TEST(NnFunctional, BatchNormErrors) {
  EXPECT_ERROR_HAS(F::batch_norm(zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                   "expected more than 1 value per channel");
  EXPECT_ERROR_HAS(F::batch_norm(zeros({2, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false),
                   "evaluation mode (training=false) needs running_mean");
  EXPECT_ERROR_HAS(F::batch_norm(zeros({2, 3}), zeros({4}), ones({4}), Tensor(), Tensor(), false),
                   "expected running_mean of shape [3], got [4] f32");
}

TEST(NnFunctional, LayerAndGroupNormErrors) {
  EXPECT_ERROR_HAS(F::layer_norm(zeros({2, 3}), {4}), "must end in the normalized shape [4]");
  EXPECT_ERROR_HAS(F::layer_norm(zeros({2, 3}), {3}, zeros({4})), "expected weight of shape [3]");
  EXPECT_ERROR_HAS(F::group_norm(zeros({2, 6, 3}), 4), "6 channels of input [2, 6, 3] f32 cannot be split into 4");
}

TEST(NnFunctional, LayerNormNormalizesTrailingDims) {
  const Tensor y = F::layer_norm(f64({1, 2, 3, 10, 12, 14}, {2, 3}), {3}, Tensor(), Tensor(), 0.0);
  const double s = std::sqrt(1.5);  // each row is its mean +- sqrt(1.5) standard deviations
  expect_close(y, f64({-s, 0, s, -s, 0, s}, {2, 3}), 1e-12, "layer_norm");
}

TEST(NnFunctional, DropoutSemantics) {
  const Tensor x = ones({1000});
  EXPECT_TRUE(F::dropout(x, 0.0).is_same(x));
  EXPECT_TRUE(F::dropout(x, 0.7, false).is_same(x));
  EXPECT_EQ(F::dropout(x, 1.0).sum().item<double>(), 0.0);
  EXPECT_ERROR_HAS(F::dropout(x, 1.5), "dropout: probability must be in [0, 1], got 1.5");
  EXPECT_ERROR_HAS(F::dropout(x, -0.1), "got -0.1");
  Generator g1(7), g2(7);
  const Tensor a = F::dropout(x, 0.25, true, &g1), b = F::dropout(x, 0.25, true, &g2);
  EXPECT_TRUE(equal(a, b)) << "the same seed gives the same mask";
  int64_t zeros_seen = 0;
  for (float v : a.to_vector<float>()) {
    if (v == 0) ++zeros_seen;
    else EXPECT_NEAR(v, 1 / 0.75, 1e-6);  // inverted dropout scales the survivors
  }
  EXPECT_GT(zeros_seen, 190);
  EXPECT_LT(zeros_seen, 310);
}

TEST(NnFunctional, EmbeddingLooksUpRows) {
  const Tensor w = arange(0, 12, 1, kFloat64).view({4, 3});
  const Tensor idx = tensor<int64_t>({3, 0, 3, 1}, {2, 2});
  const Tensor e = F::embedding(idx, w);
  EXPECT_EQ(shape_str(e.sizes()), "[2, 2, 3]");
  expect_close(e, f64({9, 10, 11, 0, 1, 2, 9, 10, 11, 3, 4, 5}, {2, 2, 3}), 0, "embedding");
  EXPECT_ERROR_HAS(F::embedding(idx, w, 4), "padding_idx must be -1 (none) or in [0, 4), got 4");
  EXPECT_ERROR_HAS(F::embedding(zeros({2}), w), "expected integer indices");
}

TEST(NnFunctional, AttentionArgumentErrors) {
  const Tensor q = zeros({2, 3, 4}), k = zeros({2, 5, 4}), v = zeros({2, 5, 6});
  EXPECT_EQ(shape_str(F::scaled_dot_product_attention(q, k, v).sizes()), "[2, 3, 6]");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, zeros({2, 5, 3}), v), "expected k [..., S, 4]");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(q, k, v, ones({3, 5}, kBool), 0.0, true),
                   "either attn_mask or is_causal");
}

TEST(NnFunctional, AttentionWithUniformScoresAveragesValues) {
  // Equal scores: every query gets the mean of the values it may attend to.
  const Tensor q = zeros({1, 3, 2}, kFloat64), k = zeros({1, 3, 2}, kFloat64);
  const Tensor v = f64({1, 2, 3}, {1, 3, 1});
  expect_close(F::scaled_dot_product_attention(q, k, v), f64({2, 2, 2}, {1, 3, 1}), 1e-12, "full");
  expect_close(F::scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true),
               f64({1, 1.5, 2}, {1, 3, 1}), 1e-12, "causal");
}

TEST(NnFunctional, LeakyRelu) {
  expect_close(F::leaky_relu(f64({-2, 0, 3}), 0.1), f64({-0.2, 0, 3}), 1e-12, "leaky_relu");
}

TEST(NnFunctional, CrossEntropyKnownValues) {
  // Uniform logits: log(C) per sample, whatever the target.
  const Tensor logits = zeros({2, 4}, kFloat64);
  const Tensor target = tensor<int64_t>({1, 3});
  EXPECT_NEAR(F::cross_entropy(logits, target).item<double>(), std::log(4.0), 1e-12);
  // Every target ignored: Mean is 0/0 like PyTorch's.
  EXPECT_TRUE(std::isnan(F::cross_entropy(logits, tensor<int64_t>({-100, -100})).item<double>()));
  // Sum over one sample of a two-class problem.
  const Tensor l = f64({0, std::log(3.0)}, {1, 2});
  EXPECT_NEAR(F::cross_entropy(l, tensor<int64_t>({1}), Tensor(), -100, F::Reduction::Sum).item<double>(),
              -std::log(0.75), 1e-12);
}

TEST(NnFunctional, ClassificationLossErrors) {
  const Tensor logits = zeros({2, 4});
  EXPECT_ERROR_HAS(F::cross_entropy(logits, tensor<int64_t>({1, 4})),
                   "cross_entropy: [2, 4] f32, [2] i64: target 4 is out of bounds for 4 classes");
  EXPECT_ERROR_HAS(F::cross_entropy(logits, tensor<int64_t>({1, 2, 3})),
                   "expects a target of shape [2], got [3] i64");
  EXPECT_ERROR_HAS(F::cross_entropy(logits, zeros({2, 3})), "must have the input's shape [2, 4]");
  EXPECT_ERROR_HAS(F::cross_entropy(logits, tensor<int64_t>({1, 2}), zeros({3})),
                   "class weights of shape [4]");
  EXPECT_ERROR_HAS(F::cross_entropy(logits, tensor<int64_t>({1, 2}), Tensor(), -100,
                                    F::Reduction::Mean, 1.5),
                   "label_smoothing must be in [0, 1]");
  EXPECT_ERROR_HAS(F::nll_loss(logits, zeros({2})), "nll_loss: [2, 4] f32, [2] f32: expected int64 class indices");
  EXPECT_ERROR_HAS(F::binary_cross_entropy(full({2}, 1.5), zeros({2})),
                   "every input must be a probability in [0, 1]");
  EXPECT_ERROR_HAS(F::smooth_l1_loss(zeros({2}), zeros({2}), F::Reduction::Mean, -1),
                   "beta must be >= 0");
}

TEST(NnFunctional, RegressionLossesKnownValues) {
  const Tensor a = f64({0, 1, 4}), b = f64({1, 1, 1});
  EXPECT_NEAR(F::mse_loss(a, b).item<double>(), 10.0 / 3, 1e-12);
  EXPECT_NEAR(F::l1_loss(a, b, F::Reduction::Sum).item<double>(), 4.0, 1e-12);
  // |d| = 1, 0, 3 with beta 2: 0.25, 0, 2.
  expect_close(F::smooth_l1_loss(a, b, F::Reduction::None, 2.0), f64({0.25, 0, 2}), 1e-12, "smooth_l1");
  // p = 0 or 1 against the opposite label: PyTorch clamps the log at -100.
  EXPECT_NEAR(F::binary_cross_entropy(f64({0, 1}), f64({1, 0})).item<double>(), 100.0, 1e-12);
  // A large logit stays finite: (1 - y) x + softplus(-x).
  EXPECT_NEAR(F::binary_cross_entropy_with_logits(f64({1000}), f64({0})).item<double>(), 1000.0, 1e-9);
  // 0 log 0 = 0 in kl_div.
  EXPECT_NEAR(F::kl_div(f64({-1, -2}), f64({0, 1}), F::Reduction::Sum).item<double>(), 2.0, 1e-12);
}

// ------------------------------------------------------------------ agreement with PyTorch

const char* const kPython = "/usr/bin/python3";

// The reference side. Cases are keyed by name; each gets its inputs as a dict of tensors.
const char* const kTorchScript = R"PY(
import sys, os, math
import numpy as np
import torch
import torch.nn.functional as F
torch.set_default_dtype(torch.float64)
d = sys.argv[1]

def sdpa(q, k, v, mask=None, causal=False):
    # The math definition (torch 1.13's F has no public scaled_dot_product_attention).
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
    if mask is not None:
        s = s.masked_fill(~mask, float('-inf')) if mask.dtype == torch.bool else s + mask
    return torch.softmax(s, -1) @ v

R = {'none': 'none', 'mean': 'mean', 'sum': 'sum'}
cases = {
  'linear': lambda t: F.linear(t['x'], t['w'], t['b']),
  'linear3d': lambda t: F.linear(t['x'], t['w'], t['b']),
  'bilinear': lambda t: F.bilinear(t['x1'], t['x2'], t['w'], t['b']),
  'batch_norm_train': lambda t: (F.batch_norm(t['x'], t['c_rm'], t['c_rv'], t['w'], t['b'], True, 0.2, 1e-3), t['c_rm'], t['c_rv']),
  'batch_norm_eval': lambda t: F.batch_norm(t['x'], t['c_rm'], t['c_rv'], t['w'], t['b'], False, 0.1, 1e-5),
  'layer_norm': lambda t: F.layer_norm(t['x'], [3, 4], t['w'], t['b'], 1e-5),
  'group_norm': lambda t: F.group_norm(t['x'], 3, t['w'], t['b'], 1e-5),
  'embedding': lambda t: F.embedding(t['c_idx'], t['w'], padding_idx=1),
  'sdpa': lambda t: sdpa(t['q'], t['k'], t['v']),
  'sdpa_bool_mask': lambda t: sdpa(t['q'], t['k'], t['v'], t['c_mask']),
  'sdpa_float_mask': lambda t: sdpa(t['q'], t['k'], t['v'], t['c_mask']),
  'sdpa_causal': lambda t: sdpa(t['q'], t['k'], t['v'], causal=True),
  'leaky_relu': lambda t: F.leaky_relu(t['x'], 0.2),
  'ce_mean': lambda t: F.cross_entropy(t['x'], t['c_t']),
  'ce_weight_ignore_ls': lambda t: F.cross_entropy(t['x'], t['c_t'], t['c_w'], ignore_index=2, label_smoothing=0.1),
  'ce_none_ls': lambda t: F.cross_entropy(t['x'], t['c_t'], ignore_index=2, reduction='none', label_smoothing=0.3),
  'ce_sum_weight': lambda t: F.cross_entropy(t['x'], t['c_t'], t['c_w'], reduction='sum', label_smoothing=0.2),
  'ce_nd': lambda t: F.cross_entropy(t['x'], t['c_t'], t['c_w'], ignore_index=0),
  'ce_probs': lambda t: F.cross_entropy(t['x'], t['c_p'], t['c_w'], label_smoothing=0.25),
  'nll': lambda t: F.nll_loss(t['x'], t['c_t'], t['c_w'], ignore_index=1),
  'mse': lambda t: F.mse_loss(t['x'], t['y']),
  'l1_sum': lambda t: F.l1_loss(t['x'], t['y'], reduction='sum'),
  'smooth_l1': lambda t: F.smooth_l1_loss(t['x'], t['y'], reduction='none', beta=0.5),
  'bce': lambda t: F.binary_cross_entropy(t['x'], t['c_y'], t['c_w']),
  'bce_logits': lambda t: F.binary_cross_entropy_with_logits(t['x'], t['c_y'], t['c_w'], pos_weight=t['c_pw']),
  'kl_div': lambda t: F.kl_div(t['x'], t['c_y'], reduction='sum'),
  'kl_div_log_target': lambda t: F.kl_div(t['x'], t['y'], reduction='mean', log_target=True),
}
for name, fn in cases.items():
    prefix = name + '__'
    t = {}
    for f in sorted(os.listdir(d)):
        if f.startswith(prefix) and f.endswith('.npy') and not f[len(prefix):].startswith('out'):
            key = f[len(prefix):-4]
            if key.startswith('grad_'):
                continue
            a = torch.from_numpy(np.load(os.path.join(d, f)))
            if not key.startswith('c_'):
                a.requires_grad_(True)
            t[key] = a
    if not t:
        continue
    outs = fn(t)
    outs = outs if isinstance(outs, tuple) else (outs,)
    for i, o in enumerate(outs):
        np.save(os.path.join(d, prefix + 'out%d.npy' % i), o.detach().numpy())
    c = torch.sin(torch.arange(1, outs[0].numel() + 1, dtype=torch.float64)).reshape(outs[0].shape)
    (outs[0] * c).sum().backward()
    for k, a in t.items():
        if a.requires_grad:
            g = a.grad if a.grad is not None else torch.zeros_like(a)
            np.save(os.path.join(d, prefix + 'grad_' + k + '.npy'), g.numpy())
)PY";

using Inputs = std::map<std::string, Tensor>;
struct TorchCase {
  std::string name;
  Inputs inputs;
  std::function<std::vector<Tensor>(const Inputs&)> fn;
};

Tensor uniform(IntArrayRef shape, double lo, double hi, Generator& g) {
  return add(mul(rand(shape, kFloat64, &g), hi - lo), lo);
}

std::vector<TorchCase> torch_cases() {
  Generator g(1234);
  auto rn = [&](IntArrayRef s) { return randn(s, kFloat64, &g); };
  auto one = [](Tensor t) { return std::vector<Tensor>{t}; };
  using R = F::Reduction;
  std::vector<TorchCase> c;
  c.push_back({"linear", {{"x", rn({4, 5})}, {"w", rn({3, 5})}, {"b", rn({3})}},
               [=](const Inputs& t) { return one(F::linear(t.at("x"), t.at("w"), t.at("b"))); }});
  c.push_back({"linear3d", {{"x", rn({2, 3, 5})}, {"w", rn({4, 5})}, {"b", rn({4})}},
               [=](const Inputs& t) { return one(F::linear(t.at("x"), t.at("w"), t.at("b"))); }});
  c.push_back({"bilinear", {{"x1", rn({4, 3})}, {"x2", rn({4, 5})}, {"w", rn({2, 3, 5})}, {"b", rn({2})}},
               [=](const Inputs& t) {
                 return one(F::bilinear(t.at("x1"), t.at("x2"), t.at("w"), t.at("b")));
               }});
  c.push_back({"batch_norm_train",
               {{"x", rn({4, 3, 5})}, {"c_rm", rn({3})}, {"c_rv", uniform({3}, 0.5, 2, g)},
                {"w", rn({3})}, {"b", rn({3})}},
               [=](const Inputs& t) {
                 Tensor rm = t.at("c_rm").clone(), rv = t.at("c_rv").clone();
                 Tensor y = F::batch_norm(t.at("x"), rm, rv, t.at("w"), t.at("b"), true, 0.2, 1e-3);
                 return std::vector<Tensor>{y, rm, rv};
               }});
  c.push_back({"batch_norm_eval",
               {{"x", rn({4, 3, 2, 2})}, {"c_rm", rn({3})}, {"c_rv", uniform({3}, 0.5, 2, g)},
                {"w", rn({3})}, {"b", rn({3})}},
               [=](const Inputs& t) {
                 return one(F::batch_norm(t.at("x"), t.at("c_rm"), t.at("c_rv"), t.at("w"), t.at("b"),
                                          false, 0.1, 1e-5));
               }});
  c.push_back({"layer_norm", {{"x", rn({2, 3, 4})}, {"w", rn({3, 4})}, {"b", rn({3, 4})}},
               [=](const Inputs& t) { return one(F::layer_norm(t.at("x"), {3, 4}, t.at("w"), t.at("b"))); }});
  c.push_back({"group_norm", {{"x", rn({2, 6, 3})}, {"w", rn({6})}, {"b", rn({6})}},
               [=](const Inputs& t) { return one(F::group_norm(t.at("x"), 3, t.at("w"), t.at("b"))); }});
  c.push_back({"embedding", {{"c_idx", tensor<int64_t>({1, 0, 4, 1, 2, 2}, {2, 3})}, {"w", rn({5, 4})}},
               [=](const Inputs& t) { return one(F::embedding(t.at("c_idx"), t.at("w"), 1)); }});
  const Inputs qkv = {{"q", rn({2, 3, 4})}, {"k", rn({2, 5, 4})}, {"v", rn({2, 5, 6})}};
  auto with = [](Inputs in, const std::string& k, Tensor v) {
    in[k] = v;
    return in;
  };
  c.push_back({"sdpa", qkv, [=](const Inputs& t) {
                 return one(F::scaled_dot_product_attention(t.at("q"), t.at("k"), t.at("v")));
               }});
  c.push_back({"sdpa_bool_mask", with(qkv, "c_mask", gt(rn({3, 5}), -0.5)), [=](const Inputs& t) {
                 return one(F::scaled_dot_product_attention(t.at("q"), t.at("k"), t.at("v"), t.at("c_mask")));
               }});
  c.push_back({"sdpa_float_mask", with(qkv, "c_mask", rn({2, 3, 5})), [=](const Inputs& t) {
                 return one(F::scaled_dot_product_attention(t.at("q"), t.at("k"), t.at("v"), t.at("c_mask")));
               }});
  c.push_back({"sdpa_causal", qkv, [=](const Inputs& t) {
                 return one(F::scaled_dot_product_attention(t.at("q"), t.at("k"), t.at("v"), Tensor(), 0.0, true));
               }});
  c.push_back({"leaky_relu", {{"x", rn({10})}},
               [=](const Inputs& t) { return one(F::leaky_relu(t.at("x"), 0.2)); }});
  const Tensor targets = tensor<int64_t>({0, 2, 4, 1, 2, 3});
  const Tensor cw = uniform({5}, 0.2, 2, g);
  c.push_back({"ce_mean", {{"x", rn({6, 5})}, {"c_t", targets}},
               [=](const Inputs& t) { return one(F::cross_entropy(t.at("x"), t.at("c_t"))); }});
  c.push_back({"ce_weight_ignore_ls", {{"x", rn({6, 5})}, {"c_t", targets}, {"c_w", cw}},
               [=](const Inputs& t) {
                 return one(F::cross_entropy(t.at("x"), t.at("c_t"), t.at("c_w"), 2, R::Mean, 0.1));
               }});
  c.push_back({"ce_none_ls", {{"x", rn({6, 5})}, {"c_t", targets}},
               [=](const Inputs& t) {
                 return one(F::cross_entropy(t.at("x"), t.at("c_t"), Tensor(), 2, R::None, 0.3));
               }});
  c.push_back({"ce_sum_weight", {{"x", rn({6, 5})}, {"c_t", targets}, {"c_w", cw}},
               [=](const Inputs& t) {
                 return one(F::cross_entropy(t.at("x"), t.at("c_t"), t.at("c_w"), -100, R::Sum, 0.2));
               }});
  c.push_back({"ce_nd", {{"x", rn({2, 5, 3})}, {"c_t", tensor<int64_t>({0, 1, 4, 0, 3, 3}, {2, 3})}, {"c_w", cw}},
               [=](const Inputs& t) { return one(F::cross_entropy(t.at("x"), t.at("c_t"), t.at("c_w"), 0)); }});
  c.push_back({"ce_probs", {{"x", rn({4, 5})}, {"c_p", softmax(rn({4, 5}), 1)}, {"c_w", cw}},
               [=](const Inputs& t) {
                 return one(F::cross_entropy(t.at("x"), t.at("c_p"), t.at("c_w"), -100, R::Mean, 0.25));
               }});
  c.push_back({"nll", {{"x", log_softmax(rn({6, 5}), 1)}, {"c_t", targets}, {"c_w", cw}},
               [=](const Inputs& t) { return one(F::nll_loss(t.at("x"), t.at("c_t"), t.at("c_w"), 1)); }});
  c.push_back({"mse", {{"x", rn({3, 4})}, {"y", rn({3, 4})}},
               [=](const Inputs& t) { return one(F::mse_loss(t.at("x"), t.at("y"))); }});
  c.push_back({"l1_sum", {{"x", rn({3, 4})}, {"y", rn({3, 4})}},
               [=](const Inputs& t) { return one(F::l1_loss(t.at("x"), t.at("y"), R::Sum)); }});
  c.push_back({"smooth_l1", {{"x", rn({3, 4})}, {"y", rn({3, 4})}},
               [=](const Inputs& t) { return one(F::smooth_l1_loss(t.at("x"), t.at("y"), R::None, 0.5)); }});
  c.push_back({"bce", {{"x", uniform({3, 4}, 0.05, 0.95, g)}, {"c_y", rand({3, 4}, kFloat64, &g)}, {"c_w", rn({4})}},
               [=](const Inputs& t) {
                 return one(F::binary_cross_entropy(t.at("x"), t.at("c_y"), t.at("c_w")));
               }});
  c.push_back({"bce_logits",
               {{"x", mul(rn({3, 4}), 3.0)}, {"c_y", rand({3, 4}, kFloat64, &g)}, {"c_w", rn({3, 1})},
                {"c_pw", uniform({4}, 0.5, 3, g)}},
               [=](const Inputs& t) {
                 return one(F::binary_cross_entropy_with_logits(t.at("x"), t.at("c_y"), t.at("c_w"), t.at("c_pw")));
               }});
  Tensor kl_target = softmax(rn({3, 4}), 1);
  kl_target.select(0, 1).select(0, 2).fill_(0.0);  // exercises 0 log 0
  c.push_back({"kl_div", {{"x", log_softmax(rn({3, 4}), 1)}, {"c_y", kl_target}},
               [=](const Inputs& t) { return one(F::kl_div(t.at("x"), t.at("c_y"), R::Sum)); }});
  c.push_back({"kl_div_log_target", {{"x", log_softmax(rn({3, 4}), 1)}, {"y", log_softmax(rn({3, 4}), 1)}},
               [=](const Inputs& t) { return one(F::kl_div(t.at("x"), t.at("y"), R::Mean, true)); }});
  return c;
}

// Writes every case's inputs, runs the script once per process, and returns the directory
// holding PyTorch's results ("" with a message printed when torch is unavailable).
const std::string& torch_dir() {
  static const std::string dir = [] {
    if (!fs::exists(kPython) ||
        std::system((std::string(kPython) + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) != 0) {
      std::cerr << "\n***** WARNING: nn::functional agreement with PyTorch NOT CHECKED: " << kPython
                << " with torch and numpy is missing *****\n\n";
      return std::string();
    }
    const std::string d = std::string(TESSERA_TEST_BINARY_DIR) + "/nn_functional_ref/" +
                          std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(d, ec);
    fs::create_directories(d);
    for (const TorchCase& c : torch_cases())
      for (const auto& [k, v] : c.inputs) save_npy(d + "/" + c.name + "__" + k + ".npy", v);
    std::ofstream(d + "/ref.py") << kTorchScript;
    const std::string cmd = std::string(kPython) + " " + d + "/ref.py " + d;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("reference script failed: " + cmd);
    return d;
  }();
  return dir;
}

Tensor sin_weights(const Tensor& like) {
  return sin(arange(1, like.numel() + 1, 1, kFloat64)).view(like.sizes());
}

TEST(NnFunctionalTorch, ForwardAgrees) {
  const std::string& d = torch_dir();
  if (d.empty()) GTEST_SKIP() << "python3 with torch is missing";
  for (const TorchCase& c : torch_cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<Tensor> out = c.fn(c.inputs);
    for (size_t i = 0; i < out.size(); ++i)
      expect_close(out[i], load_npy(d + "/" + c.name + "__out" + std::to_string(i) + ".npy"), 1e-10,
                   c.name + " output " + std::to_string(i));
  }
}

TEST(NnFunctionalTorch, GradientsAgree) {
  const std::string& d = torch_dir();
  if (d.empty()) GTEST_SKIP() << "python3 with torch is missing";
  for (const TorchCase& c : torch_cases()) {
    SCOPED_TRACE(c.name);
    Inputs in;
    std::vector<std::string> names;
    std::vector<Tensor> leaves;
    for (const auto& [k, v] : c.inputs) {
      in[k] = k.rfind("c_", 0) == 0 ? v : v.clone().requires_grad_();
      if (k.rfind("c_", 0) != 0) {
        names.push_back(k);
        leaves.push_back(in[k]);
      }
    }
    const std::string msg = error_of([&] {
      const Tensor y = c.fn(in)[0];
      const std::vector<Tensor> grads = autograd::grad({mul(y, sin_weights(y)).sum()}, leaves, {},
                                                       false, false, /*allow_unused=*/true);
      for (size_t i = 0; i < leaves.size(); ++i) {
        const Tensor gi = grads[i].defined() ? grads[i] : zeros_like(leaves[i]);
        expect_close(gi, load_npy(d + "/" + c.name + "__grad_" + names[i] + ".npy"), 1e-9,
                     c.name + " d/d" + names[i]);
      }
    });
    EXPECT_EQ(msg, "<no error>");
  }
}

}  // namespace
