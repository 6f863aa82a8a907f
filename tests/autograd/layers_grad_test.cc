// Finite-difference gradient checks of every layer's forward, with respect to its input and
// every parameter, in float64 (module.to(kFloat64), then autograd::gradcheck).
#include <gtest/gtest.h>

#include <functional>
#include <iostream>

#include "tessera/nn.h"
#include "test_util.h"

namespace tessera::nn {
namespace {

int& checked_count() {
  static int n = 0;
  return n;
}

using Call = std::function<Tensor(Module&, const std::vector<Tensor>&)>;

// gradcheck clones its inputs, so the function swaps the clones into the module's
// parameter slots before each call and the originals are put back afterwards.
void check_layer(const std::string& what, Module& m, std::vector<Tensor> data, const Call& call,
                 bool wrt_data = true) {
  m.to(kFloat64);
  std::vector<Tensor*> slots;
  std::vector<Tensor> inputs, originals;
  for (Tensor& d : data) {
    Tensor t = d.is_floating_point() ? d.to(kFloat64).detach().clone() : d;
    if (wrt_data && t.is_floating_point()) t.requires_grad_();
    inputs.push_back(t);
  }
  const size_t n_data = inputs.size();
  for (auto& [name, p] : m.named_parameters()) {
    slots.push_back(&m.parameter(name));
    originals.push_back(p);
    inputs.push_back(p);
  }
  autograd::TensorFn fn = [&](const std::vector<Tensor>& xs) {
    for (size_t i = 0; i < slots.size(); ++i) *slots[i] = xs[n_data + i];
    return call(m, std::vector<Tensor>(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(n_data)));
  };
  // One random projection per layer keeps the suite quick; every Jacobian entry still
  // enters the checked vector-Jacobian product.
  autograd::GradcheckOptions options;
  options.projections = 1;
  autograd::GradcheckResult r = autograd::gradcheck(fn, inputs, options);
  for (size_t i = 0; i < slots.size(); ++i) *slots[i] = originals[i];
  EXPECT_TRUE(r.ok) << what << ": " << r.message;
  ++checked_count();
}

// The common case: one input through operator().
void check_layer(const std::string& what, Module& m, const Tensor& x) {
  check_layer(what, m, {x}, [](Module& mod, const std::vector<Tensor>& xs) { return mod(xs[0]); });
}

TEST(LayersGrad, Linear) {
  Linear a(3, 4), b(3, 2, false);
  check_layer("Linear", a, randn({2, 3}));
  check_layer("Linear 3-D input", a, randn({2, 2, 3}));
  check_layer("Linear no bias", b, randn({2, 3}));
  Bilinear bl(2, 3, 2);
  check_layer("Bilinear", bl, {randn({2, 2}), randn({2, 3})},
              [](Module& m, const std::vector<Tensor>& xs) {
                return static_cast<Bilinear&>(m).forward(xs[0], xs[1]);
              });
}

TEST(LayersGrad, Convolutions) {
  Conv1d c1(2, 3, 3, {.stride = {2}, .padding = 1});
  check_layer("Conv1d", c1, randn({2, 2, 7}));
  Conv1d c1s(2, 2, 4, {.padding = "same", .dilation = {2}});
  check_layer("Conv1d same even kernel", c1s, randn({1, 2, 6}));
  Conv2d c2(2, 3, 3, {.stride = {2, 1}, .padding = 1, .dilation = {1, 2}});
  check_layer("Conv2d", c2, randn({2, 2, 5, 6}));
  Conv2d grouped(4, 4, 3, {.groups = 2});
  check_layer("Conv2d groups", grouped, randn({1, 4, 4, 4}));
  Conv2d depthwise(3, 3, 2, {.padding = "same", .groups = 3, .bias = false});
  check_layer("Conv2d depthwise same", depthwise, randn({1, 3, 4, 5}));
  ConvTranspose2d up(2, 3, 3, {.stride = {2}, .padding = 1, .output_padding = {1}});
  check_layer("ConvTranspose2d", up, randn({1, 2, 3, 3}));
}

TEST(LayersGrad, Pooling) {
  MaxPool2d mp({3}, {2}, {1});
  check_layer("MaxPool2d", mp, randn({2, 2, 5, 5}));
  AvgPool2d ap({2, 3}, {1}, {1, 1}, false, false);
  check_layer("AvgPool2d", ap, randn({1, 2, 4, 5}));
  AdaptiveAvgPool2d aap({2, 3});
  check_layer("AdaptiveAvgPool2d", aap, randn({1, 2, 5, 7}));
}

TEST(LayersGrad, Normalization) {
  BatchNorm1d bn1(3);
  check_layer("BatchNorm1d train", bn1, randn({4, 3}));
  check_layer("BatchNorm1d train 3-D", bn1, randn({2, 3, 3}));
  BatchNorm2d bn2(2);
  check_layer("BatchNorm2d train", bn2, randn({2, 2, 3, 3}));
  init::uniform_(bn2.running_var, 0.5, 2);
  bn2.eval();
  check_layer("BatchNorm2d eval", bn2, randn({2, 2, 3, 3}));
  LayerNorm ln({2, 3});
  init::normal_(ln.weight);
  check_layer("LayerNorm", ln, randn({2, 2, 3}));
  GroupNorm gn(2, 4);
  check_layer("GroupNorm", gn, randn({2, 4, 3}));
}

TEST(LayersGrad, DropoutEmbeddingActivations) {
  Dropout d(0.3);
  // Reseeding before every call makes the mask the same for every evaluation.
  check_layer("Dropout train", d, {randn({4, 5})}, [](Module& m, const std::vector<Tensor>& xs) {
    manual_seed(11);
    return m(xs[0]);
  });
  // Without padding_idx: that row's zero gradient is by design, not a derivative.
  Embedding e(5, 3);
  check_layer("Embedding", e, tensor<int64_t>({0, 1, 4, 4, 2}, {5}));
  ReLU relu_;
  LeakyReLU leaky(0.2);
  GELU gelu_, gelu_tanh("tanh");
  SiLU silu_;
  Sigmoid sigm;
  Tanh tanh_;
  Softmax sm(1);
  LogSoftmax lsm(0);
  Flatten fl;
  std::vector<std::pair<const char*, Module*>> acts = {
      {"ReLU", &relu_},       {"LeakyReLU", &leaky}, {"GELU", &gelu_},  {"GELU tanh", &gelu_tanh},
      {"SiLU", &silu_},       {"Sigmoid", &sigm},    {"Tanh", &tanh_},  {"Softmax", &sm},
      {"LogSoftmax", &lsm},   {"Flatten", &fl}};
  for (auto& [name, m] : acts) check_layer(name, *m, randn({3, 2, 2}));
}

TEST(LayersGrad, Sequential) {
  Sequential mlp(std::make_shared<Linear>(4, 5), std::make_shared<Tanh>(), std::make_shared<Linear>(5, 2),
                 std::make_shared<LogSoftmax>(1));
  check_layer("Sequential MLP", mlp, randn({3, 4}));
  Sequential cnn(std::make_shared<Conv2d>(1, 2, 3), std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2),
                 std::make_shared<Flatten>(), std::make_shared<Linear>(8, 3));
  check_layer("Sequential CNN", cnn, randn({2, 1, 6, 6}));
}

TEST(LayersGrad, Attention) {
  MultiheadAttention mha(4, 2, 0.0, true, true);
  init::normal_(mha.in_proj_bias, 0, 0.1);
  check_layer("MultiheadAttention self", mha, randn({2, 3, 4}));
  Tensor kpm = ne(tensor<int64_t>({0, 0, 1, 0, 0, 0}, {2, 3}), 0);
  check_layer("MultiheadAttention cross, masked, weights", mha, {randn({2, 2, 4}), randn({2, 3, 4})},
              [kpm](Module& m, const std::vector<Tensor>& xs) {
                auto [out, w] = static_cast<MultiheadAttention&>(m).forward(xs[0], xs[1], xs[1], kpm, true);
                return cat({out.reshape({-1}), w.reshape({-1})}, 0);
              });
  check_layer("MultiheadAttention causal fused", mha, {randn({1, 3, 4})},
              [](Module& m, const std::vector<Tensor>& xs) {
                return static_cast<MultiheadAttention&>(m).forward(xs[0], xs[0], xs[0], {}, false, {}, true, true).first;
              });
  TransformerEncoderLayer post(4, 2, {.dim_feedforward = 6, .dropout = 0.0});
  check_layer("TransformerEncoderLayer post-norm", post, randn({3, 2, 4}));
  TransformerEncoderLayer pre(4, 2, {.dim_feedforward = 6, .dropout = 0.0, .activation = "gelu",
                                     .batch_first = true, .norm_first = true});
  check_layer("TransformerEncoderLayer norm_first gelu", pre, randn({2, 3, 4}));
}

TEST(LayersGrad, Recurrent) {
  LSTM lstm(3, 2, {.num_layers = 2, .batch_first = true});
  check_layer("LSTM 2 layers", lstm, randn({2, 3, 3}));
  check_layer("LSTM with state", lstm, {randn({2, 3, 3}), randn({2, 2, 2}), randn({2, 2, 2})},
              [](Module& m, const std::vector<Tensor>& xs) {
                auto [out, hc] = static_cast<LSTM&>(m).forward(xs[0], {xs[1], xs[2]});
                return cat({out.reshape({-1}), hc.first.reshape({-1}), hc.second.reshape({-1})}, 0);
              });
  LSTM bi(2, 2, {.bidirectional = true});
  check_layer("LSTM bidirectional", bi, randn({3, 1, 2}));
  GRU gru(3, 2, {.num_layers = 2});
  check_layer("GRU 2 layers", gru, randn({3, 2, 3}));
  check_layer("GRU with state", gru, {randn({3, 2, 3}), randn({2, 2, 2})},
              [](Module& m, const std::vector<Tensor>& xs) {
                auto [out, h] = static_cast<GRU&>(m).forward(xs[0], xs[1]);
                return cat({out.reshape({-1}), h.reshape({-1})}, 0);
              });
}

// Last in the file: gtest runs a file's tests in order.
TEST(LayersGrad, ZCount) {
  std::cout << "layers gradchecked: " << checked_count() << "\n";
  if (::testing::GTEST_FLAG(filter) == "*") {
    EXPECT_GE(checked_count(), 40);
  }
}

}  // namespace
}  // namespace tessera::nn
