// Layers: shapes and known values, PyTorch's parameter names and counts, default
// initialisation, and init statistics.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/nn.h"
#include "test_util.h"

namespace tessera::nn {
namespace {

std::vector<std::string> param_names(Module& m) {
  std::vector<std::string> out;
  for (auto& [k, t] : m.named_parameters()) out.push_back(k + shape_str(t.sizes()));
  return out;
}

void set(Tensor& slot, const Tensor& value) {
  NoGradGuard g;
  slot.copy_(value);
}

Shape shape_of(const Tensor& t) { return Shape(t.sizes()); }

// ============================== linear ==============================

TEST(Layers, LinearKnownValues) {
  Linear lin(3, 2);
  set(lin.weight, tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  set(lin.bias, tensor<float>({0.5f, -1}));
  Tensor y = lin(ones({1, 3}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{6.5f, 14}));
  EXPECT_EQ(shape_of(lin(ones({4, 5, 3}))), Shape({4, 5, 2}));
  EXPECT_ERROR_HAS(lin(ones({2, 4})), "Linear: input [2, 4] f32: expected last dimension 3");
  Linear nob(3, 2, false);
  EXPECT_EQ(param_names(nob), (std::vector<std::string>{"weight[2, 3]"}));
}

TEST(Layers, LinearDefaultInitBounds) {
  manual_seed(1);
  Linear lin(400, 300);
  const double bound = 1.0 / std::sqrt(400.0);
  EXPECT_LE(amax(abs(lin.weight)).item<double>(), bound);
  EXPECT_LE(amax(abs(lin.bias)).item<double>(), bound);
  // U(-b, b) has standard deviation b / sqrt(3).
  EXPECT_NEAR(tessera::std(lin.weight).item<double>(), bound / std::sqrt(3.0), 0.01 * bound);
}

TEST(Layers, BilinearMatchesDefinition) {
  Bilinear bl(2, 3, 4);
  Tensor x1 = randn({5, 2}), x2 = randn({5, 3});
  Tensor y = bl.forward(x1, x2);
  // y[n, o] = sum_ij x1[n, i] W[o, i, j] x2[n, j] + b[o]
  Tensor ref = add(sum(mul(mul(x1.view({5, 1, 2, 1}), bl.weight.unsqueeze(0)), x2.view({5, 1, 1, 3})),
                       {2, 3}),
                   bl.bias);
  EXPECT_TRUE(allclose(y, ref, 1e-5, 1e-5));
  EXPECT_EQ(bl.num_parameters(), 4 * 2 * 3 + 4);
  EXPECT_ERROR_HAS(bl(x1), "Bilinear: takes two inputs");
}

// ============================== convolution ==============================

TEST(Layers, Conv2dShapesAndValues) {
  Conv2d conv(1, 1, 3, {.padding = 1});
  set(conv.weight, ones({1, 1, 3, 3}));
  set(conv.bias, zeros({1}));
  Tensor y = conv(ones({1, 1, 4, 4}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4}));
  EXPECT_EQ(shape_of(conv(ones({1, 4, 4}))), Shape({1, 4, 4}));  // unbatched

  EXPECT_EQ(shape_of(Conv2d(3, 8, 3)(zeros({2, 3, 10, 10}))), Shape({2, 8, 8, 8}));
  EXPECT_EQ(shape_of(Conv2d(3, 8, 4, {.padding = "same"})(zeros({2, 3, 10, 9}))), Shape({2, 8, 10, 9}));
  EXPECT_EQ(shape_of(Conv2d(3, 8, 3, {.padding = "valid"})(zeros({1, 3, 10, 10}))), Shape({1, 8, 8, 8}));
  EXPECT_EQ(shape_of(Conv2d(3, 8, 3, {.stride = {2}, .padding = 1})(zeros({1, 3, 10, 10}))),
            Shape({1, 8, 5, 5}));
  EXPECT_EQ(shape_of(Conv2d(3, 8, {3, 5}, {.stride = {1, 2}, .dilation = {2}})(zeros({1, 3, 10, 20}))),
            Shape({1, 8, 6, 6}));
  Conv2d depthwise(8, 8, 3, {.groups = 8});
  EXPECT_EQ(shape_of(depthwise.weight), Shape({8, 1, 3, 3}));
  EXPECT_EQ(shape_of(depthwise(zeros({1, 8, 5, 5}))), Shape({1, 8, 3, 3}));

  EXPECT_ERROR_HAS(Conv2d(3, 8, 3, {.groups = 2}), "must both be divisible by groups 2");
  EXPECT_ERROR_HAS(Conv2d(3, 8, 3, {.stride = {2}, .padding = "same"}), "padding='same' needs stride 1");
  EXPECT_ERROR_HAS(Conv2d(3, 8, 3, {.padding = "full"}), "padding 'full'");
  EXPECT_ERROR_HAS(Conv2d(3, 8, 3)(zeros({1, 4, 8, 8})), "with 3 channels");
}

TEST(Layers, ConvParameterCountsMatchPyTorch) {
  EXPECT_EQ(Conv2d(32, 64, 3).num_parameters(), 18496);
  EXPECT_EQ(Conv2d(32, 32, 3, {.groups = 32}).num_parameters(), 320);
  EXPECT_EQ(ConvTranspose2d(16, 8, 3).num_parameters(), 1160);
  EXPECT_EQ(Conv1d(4, 6, 5, {.bias = false}).num_parameters(), 120);
  // kaiming_uniform(a=sqrt(5)) on fan_in = 32*3*3: bound 1/sqrt(288).
  Conv2d c(32, 64, 3);
  EXPECT_LE(amax(abs(c.weight)).item<double>(), 1.0 / std::sqrt(288.0));
  EXPECT_LE(amax(abs(c.bias)).item<double>(), 1.0 / std::sqrt(288.0));
}

TEST(Layers, Conv1dAndTranspose) {
  Conv1d c(2, 3, 3);
  EXPECT_EQ(shape_of(c(zeros({4, 2, 10}))), Shape({4, 3, 8}));
  EXPECT_EQ(shape_of(c(zeros({2, 10}))), Shape({3, 8}));
  EXPECT_EQ(shape_of(Conv1d(2, 3, 4, {.padding = "same"})(zeros({1, 2, 7}))), Shape({1, 3, 7}));
  EXPECT_EQ(shape_of(Conv1d(2, 3, 3, {.stride = {2}, .padding = 1})(zeros({1, 2, 8}))), Shape({1, 3, 4}));
  // "same" for Conv1d runs through conv2d; its values agree with explicit padding.
  Conv1d same(2, 3, 3, {.padding = "same"});
  Conv1d pad1(2, 3, 3, {.padding = 1});
  pad1.load_state_dict(same.state_dict());
  Tensor x = randn({2, 2, 6});
  EXPECT_TRUE(allclose(same(x), pad1(x), 1e-5, 1e-6));

  ConvTranspose2d up(4, 2, 3, {.stride = {2}, .padding = 1, .output_padding = {1}});
  EXPECT_EQ(shape_of(up.weight), Shape({4, 2, 3, 3}));
  EXPECT_EQ(shape_of(up(zeros({1, 4, 5, 5}))), Shape({1, 2, 10, 10}));
  EXPECT_EQ(up.repr(), "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                       "output_padding=(1, 1))");
}

// ============================== pooling ==============================

TEST(Layers, Pooling) {
  Tensor x = arange(0, 16, 1, kFloat32).view({1, 1, 4, 4});
  EXPECT_EQ(MaxPool2d(2)(x).to_vector<float>(), (std::vector<float>{5, 7, 13, 15}));
  EXPECT_EQ(AvgPool2d(2)(x).to_vector<float>(), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
  EXPECT_EQ(AdaptiveAvgPool2d(1)(x).to_vector<float>(), (std::vector<float>{7.5f}));
  EXPECT_EQ(shape_of(MaxPool2d({3}, {2}, {1})(zeros({2, 3, 9, 9}))), Shape({2, 3, 5, 5}));
  EXPECT_EQ(shape_of(AdaptiveAvgPool2d({2, 3})(zeros({2, 3, 9, 9}))), Shape({2, 3, 2, 3}));
  EXPECT_EQ(AvgPool2d({2, 3}).repr(), "AvgPool2d(kernel_size=(2, 3), stride=(2, 3), padding=0)");
  EXPECT_EQ(AdaptiveAvgPool2d({1, 1}).repr(), "AdaptiveAvgPool2d(output_size=(1, 1))");
}

// ============================== normalization ==============================

TEST(Layers, BatchNormTracksRunningStats) {
  BatchNorm1d bn(2);
  EXPECT_EQ(param_names(bn), (std::vector<std::string>{"weight[2]", "bias[2]"}));
  Tensor x = tensor<float>({1, 10, 3, 20, 5, 30}, {3, 2});
  Tensor y = bn(x);
  // Training: normalised with the batch's biased variance.
  EXPECT_TRUE(allclose(mean(y, {0}), zeros({2}), 0, 1e-5));
  EXPECT_NEAR(mean(square(y), {0}).to_vector<float>()[0], 1.0, 1e-4);
  // running = 0.9 * running + 0.1 * batch (unbiased variance).
  EXPECT_TRUE(allclose(bn.running_mean, tensor<float>({0.3f, 2.0f}), 1e-5, 1e-6));
  EXPECT_TRUE(allclose(bn.running_var, tensor<float>({0.9f + 0.4f, 0.9f + 10.0f}), 1e-5, 1e-5));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  bn.eval();
  Tensor z = bn(x);
  Tensor ref = div(sub(x, bn.running_mean), sqrt(add(bn.running_var, 1e-5)));
  EXPECT_TRUE(allclose(z, ref, 1e-5, 1e-5));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);

  // momentum=None: a cumulative average of the batch statistics.
  BatchNorm1d cumulative(2, 1e-5, std::nullopt);
  cumulative(x);
  cumulative(mul(x, 3.0));
  EXPECT_TRUE(allclose(cumulative.running_mean, tensor<float>({6.0f, 40.0f}), 1e-5, 1e-5));

  BatchNorm2d bn2(3, 1e-5, 0.1, false, false);
  EXPECT_EQ(bn2.num_parameters(), 0);
  EXPECT_TRUE(bn2.named_buffers().empty());
  bn2.eval();  // no running stats: batch statistics even in eval
  Tensor y2 = bn2(randn({4, 3, 2, 2}));
  EXPECT_TRUE(allclose(mean(y2, {0, 2, 3}), zeros({3}), 0, 1e-5));
  EXPECT_ERROR_HAS(bn2(zeros({4, 3})), "BatchNorm2d: input [4, 3] f32: expected 4-D input");
  EXPECT_ERROR_HAS(bn(zeros({4, 3})), "expected 2 channels in dim 1");
}

TEST(Layers, LayerNormAndGroupNorm) {
  LayerNorm ln(4);
  Tensor x = randn({3, 4});
  Tensor y = ln(x);
  EXPECT_TRUE(allclose(mean(y, {1}), zeros({3}), 0, 1e-5));
  EXPECT_TRUE(allclose(var(y, {1}, 0), ones({3}), 1e-3, 1e-3));
  EXPECT_EQ(param_names(ln), (std::vector<std::string>{"weight[4]", "bias[4]"}));
  EXPECT_EQ(LayerNorm(4, 1e-5, true, false).num_parameters(), 4);
  EXPECT_ERROR_HAS(ln(zeros({3, 5})), "LayerNorm: input [3, 5] f32: expected trailing dimensions [4]");

  GroupNorm gn(2, 4);
  Tensor g = gn(randn({2, 4, 3}));
  Tensor grouped = g.reshape({2, 2, 6});
  EXPECT_TRUE(allclose(mean(grouped, {2}), zeros({2, 2}), 0, 1e-5));
  EXPECT_EQ(gn.repr(), "GroupNorm(2, 4, eps=1e-05, affine=True)");
  EXPECT_ERROR_HAS(GroupNorm(3, 4), "num_channels 4 must be divisible by num_groups 3");
}

// ============================== dropout, embedding, activations ==============================

TEST(Layers, DropoutTrainAndEval) {
  Dropout d(0.25);
  Tensor x = ones({10000});
  Tensor y = d(x);
  std::vector<float> v = y.to_vector<float>();
  int64_t dropped = 0;
  for (float e : v) {
    EXPECT_TRUE(e == 0.0f || std::abs(e - 1.0f / 0.75f) < 1e-6);
    dropped += e == 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / 10000.0, 0.25, 0.03);
  d.eval();
  EXPECT_TRUE(d(x).is_same(x));
  EXPECT_ERROR_HAS(Dropout(1.5), "Dropout: probability 1.5 must be in [0, 1]");
}

TEST(Layers, Embedding) {
  manual_seed(3);
  Embedding e(10, 3, 0);
  EXPECT_TRUE(equal(e.weight[0], zeros({3})));
  Tensor idx = tensor<int64_t>({1, 0, 2, 1}, {2, 2});
  Tensor y = e(idx);
  EXPECT_EQ(shape_of(y), Shape({2, 2, 3}));
  EXPECT_TRUE(equal(y[0][0], e.weight[1]));
  EXPECT_EQ(Embedding(10, 3, -1).padding_idx.value(), 9);
  // The padding row takes no gradient.
  sum(e(tensor<int64_t>({0, 1, 0}))).backward();
  EXPECT_TRUE(equal(e.weight.grad()[0], zeros({3})));
  EXPECT_TRUE(equal(e.weight.grad()[1], ones({3})));
  EXPECT_EQ(e.repr(), "Embedding(10, 3, padding_idx=0)");
  // N(0, 1) initialisation.
  Embedding big(1000, 100);
  EXPECT_NEAR(tessera::std(big.weight).item<double>(), 1.0, 0.02);
  EXPECT_NEAR(mean(big.weight).item<double>(), 0.0, 0.02);
  EXPECT_ERROR_HAS(e(zeros({2})), "Embedding: indices [2] f32: expected an integer");
}

TEST(Layers, Activations) {
  Tensor x = tensor<float>({-2, -0.5f, 0, 1.5f});
  EXPECT_EQ(ReLU()(x).to_vector<float>(), (std::vector<float>{0, 0, 0, 1.5f}));
  EXPECT_TRUE(allclose(LeakyReLU(0.1)(x), tensor<float>({-0.2f, -0.05f, 0, 1.5f})));
  EXPECT_TRUE(allclose(Sigmoid()(x), sigmoid(x)));
  EXPECT_TRUE(allclose(Tanh()(x), tanh(x)));
  EXPECT_TRUE(allclose(SiLU()(x), mul(x, sigmoid(x))));
  EXPECT_NEAR(GELU()(x).to_vector<float>()[3], 1.5 * 0.5 * (1 + std::erf(1.5 / std::sqrt(2.0))), 1e-6);
  Tensor m = tensor<float>({1, 2, 3, 4}, {2, 2});
  EXPECT_TRUE(allclose(sum(Softmax(1)(m), {1}), ones({2})));
  EXPECT_TRUE(allclose(LogSoftmax(1)(m), log(softmax(m, 1))));
  EXPECT_EQ(shape_of(Flatten()(zeros({2, 3, 4}))), Shape({2, 12}));
  EXPECT_EQ(shape_of(Flatten(0, 1)(zeros({2, 3, 4}))), Shape({6, 4}));
  EXPECT_EQ(LeakyReLU().repr(), "LeakyReLU(negative_slope=0.01)");
  EXPECT_EQ(Softmax(1).repr(), "Softmax(dim=1)");
}

// ============================== containers ==============================

TEST(Layers, Containers) {
  auto seq = std::make_shared<Sequential>(std::make_shared<Linear>(3, 4), std::make_shared<ReLU>(),
                                          std::make_shared<Linear>(4, 2));
  EXPECT_EQ(seq->size(), 3u);
  EXPECT_EQ(shape_of((*seq)(zeros({5, 3}))), Shape({5, 2}));
  EXPECT_EQ(seq->at<Linear>(2)->out_features, 2);
  EXPECT_ERROR_HAS(seq->at<Linear>(1), "Sequential: element 1 is a ReLU");
  EXPECT_ERROR_HAS((*seq)[7], "Sequential: index 7 out of range for 3 modules");

  Sequential named({{"fc", std::make_shared<Linear>(3, 4)}, {"act", std::make_shared<ReLU>()}});
  EXPECT_EQ(param_names(named), (std::vector<std::string>{"fc.weight[4, 3]", "fc.bias[4]"}));
  Sequential listed{std::make_shared<Linear>(3, 4), std::make_shared<ReLU>()};
  EXPECT_EQ(listed.size(), 2u);

  ModuleList list{std::make_shared<Linear>(2, 2), std::make_shared<Linear>(2, 3)};
  list.push_back(std::make_shared<Tanh>());
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(param_names(list)[2], "1.weight[3, 2]");
  int n = 0;
  for (auto& m : list) n += m != nullptr;
  EXPECT_EQ(n, 3);
  EXPECT_ERROR_HAS(list(zeros({1})), "ModuleList: defines neither forward(x) nor forward_multi(inputs)");

  ModuleDict dict({{"enc", std::make_shared<Linear>(2, 2)}});
  dict.insert("dec", std::make_shared<Linear>(2, 1));
  EXPECT_TRUE(dict.contains("dec"));
  EXPECT_EQ(dict.keys(), (std::vector<std::string>{"enc", "dec"}));
  EXPECT_EQ(dict["dec"]->type_name(), "Linear");
  EXPECT_ERROR_HAS(dict["nope"], "ModuleDict: no key 'nope'");
  EXPECT_ERROR_HAS(dict.insert("enc", std::make_shared<ReLU>()), "the name is already taken");
}

// ============================== attention ==============================

// Reference multi-head attention written out head by head.
Tensor reference_mha(MultiheadAttention& mha, const Tensor& q_in, const Tensor& k_in,
                     const Tensor& v_in, const Tensor& kpm) {
  const int64_t E = mha.embed_dim, H = mha.num_heads, hd = E / H;
  // inputs [N, L, E]
  Tensor q = add(matmul(q_in, mha.in_proj_weight.slice(0, 0, E).t()), mha.in_proj_bias.slice(0, 0, E));
  Tensor k = add(matmul(k_in, mha.in_proj_weight.slice(0, E, 2 * E).t()), mha.in_proj_bias.slice(0, E, 2 * E));
  Tensor v = add(matmul(v_in, mha.in_proj_weight.slice(0, 2 * E, 3 * E).t()), mha.in_proj_bias.slice(0, 2 * E, 3 * E));
  std::vector<Tensor> heads;
  for (int64_t h = 0; h < H; ++h) {
    Tensor qh = q.slice(2, h * hd, (h + 1) * hd), kh = k.slice(2, h * hd, (h + 1) * hd),
           vh = v.slice(2, h * hd, (h + 1) * hd);
    Tensor s = div(matmul(qh, kh.transpose(1, 2)), std::sqrt(static_cast<double>(hd)));
    if (kpm.defined()) s = masked_fill(s, kpm.unsqueeze(1), -1e30);
    heads.push_back(matmul(softmax(s, -1), vh));
  }
  return add(matmul(cat(heads, 2), mha.out_proj->weight.t()), mha.out_proj->bias);
}

TEST(Layers, MultiheadAttentionMatchesReference) {
  manual_seed(7);
  MultiheadAttention mha(8, 2, 0.0, true, true);
  EXPECT_EQ(param_names(mha), (std::vector<std::string>{"in_proj_weight[24, 8]", "in_proj_bias[24]",
                                                        "out_proj.weight[8, 8]", "out_proj.bias[8]"}));
  EXPECT_TRUE(equal(mha.in_proj_bias, zeros({24})));
  EXPECT_TRUE(equal(mha.out_proj->bias, zeros({8})));
  init::normal_(mha.in_proj_bias, 0, 0.1);
  init::normal_(mha.out_proj->bias, 0, 0.1);
  Tensor q = randn({2, 3, 8}), k = randn({2, 5, 8}), v = randn({2, 5, 8});
  auto [out, w] = mha.forward(q, k, v);
  EXPECT_EQ(shape_of(out), Shape({2, 3, 8}));
  EXPECT_EQ(shape_of(w), Shape({2, 3, 5}));
  EXPECT_TRUE(allclose(sum(w, {2}), ones({2, 3}), 1e-5, 1e-5));
  EXPECT_TRUE(allclose(out, reference_mha(mha, q, k, v, {}), 1e-4, 1e-5));

  // key_padding_mask: true marks keys to ignore; they get zero weight.
  Tensor kpm = ne(tensor<int64_t>({0, 0, 1, 0, 1, 0, 0, 0, 0, 1}, {2, 5}), 0);
  auto [masked, mw] = mha.forward(q, k, v, kpm);
  EXPECT_TRUE(allclose(masked, reference_mha(mha, q, k, v, kpm), 1e-4, 1e-5));
  EXPECT_EQ(mw[0].select(1, 2).to_vector<float>(), (std::vector<float>{0, 0, 0}));
  // The fused path (need_weights=false) agrees.
  auto [fused, none] = mha.forward(q, k, v, kpm, false);
  EXPECT_FALSE(none.defined());
  EXPECT_TRUE(allclose(fused, masked, 1e-4, 1e-5));

  // Sequence-first layout gives the same numbers transposed.
  MultiheadAttention seq_first(8, 2);
  seq_first.load_state_dict(mha.state_dict());
  auto [sf, sw] = seq_first.forward(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1));
  EXPECT_TRUE(allclose(sf.transpose(0, 1), out, 1e-4, 1e-5));
  // Self-attention through forward(x) uses the packed projection.
  EXPECT_TRUE(allclose(mha(q), reference_mha(mha, q, q, q, {}), 1e-4, 1e-5));
  // A causal bool attn_mask (true = not allowed) equals is_causal.
  Tensor causal = triu(ones({3, 3}, kBool), 1);
  EXPECT_TRUE(allclose(mha.forward(q, q, q, {}, false, causal).first,
                       mha.forward(q, q, q, {}, false, {}, true, true).first, 1e-4, 1e-5));
  EXPECT_ERROR_HAS(MultiheadAttention(10, 3), "embed_dim 10 must be divisible by num_heads 3");
  EXPECT_ERROR_HAS(mha.forward(q, k, v, ones({2, 4}, kBool)), "key_padding_mask [2, 4] bool: expected [2, 5]");
}

TEST(Layers, TransformerEncoderLayerMatchesPyTorchLayout) {
  // The ENCODER workload: d_model 256, 4 heads, feed-forward 1024.
  TransformerEncoderLayer enc(256, 4, {.dim_feedforward = 1024, .dropout = 0.0, .batch_first = true});
  EXPECT_EQ(enc.num_parameters(), 789760);  // torch.nn.TransformerEncoderLayer(256, 4, 1024)
  EXPECT_EQ(param_names(enc),
            (std::vector<std::string>{"self_attn.in_proj_weight[768, 256]", "self_attn.in_proj_bias[768]",
                                      "self_attn.out_proj.weight[256, 256]", "self_attn.out_proj.bias[256]",
                                      "linear1.weight[1024, 256]", "linear1.bias[1024]",
                                      "linear2.weight[256, 1024]", "linear2.bias[256]", "norm1.weight[256]",
                                      "norm1.bias[256]", "norm2.weight[256]", "norm2.bias[256]"}));
  EXPECT_EQ(TransformerEncoderLayer(512, 8).num_parameters(), 3152384);  // PyTorch's defaults
  enc.eval();
  Tensor x = randn({2, 7, 256});
  Tensor y = enc(x);
  EXPECT_EQ(shape_of(y), Shape({2, 7, 256}));
  // Post-norm: the output of norm2 has zero mean per position.
  EXPECT_TRUE(allclose(mean(y, {2}), zeros({2, 7}), 0, 1e-4));
  // Written out by hand from its submodules.
  Tensor sa = enc.self_attn->forward(x, x, x, {}, false).first;
  Tensor h = (*enc.norm1)(add(x, sa));
  Tensor ref = (*enc.norm2)(add(h, (*enc.linear2)(relu((*enc.linear1)(h)))));
  EXPECT_TRUE(allclose(y, ref, 1e-4, 1e-4));
  // norm_first reads the same weights differently.
  TransformerEncoderLayer pre(256, 4, {.dim_feedforward = 1024, .dropout = 0.0, .batch_first = true,
                                       .norm_first = true});
  pre.load_state_dict(enc.state_dict());
  pre.eval();
  Tensor n1 = (*pre.norm1)(x);
  Tensor x1 = add(x, pre.self_attn->forward(n1, n1, n1, {}, false).first);
  Tensor ref_pre = add(x1, (*pre.linear2)(relu((*pre.linear1)((*pre.norm2)(x1)))));
  EXPECT_TRUE(allclose(pre(x), ref_pre, 1e-4, 1e-4));
}

// ============================== recurrent ==============================

TEST(Layers, LstmNamesCountsAndOneStep) {
  LSTM lstm(10, 20, {.num_layers = 2});
  EXPECT_EQ(lstm.num_parameters(), 5920);  // torch.nn.LSTM(10, 20, num_layers=2)
  EXPECT_EQ(param_names(lstm),
            (std::vector<std::string>{"weight_ih_l0[80, 10]", "weight_hh_l0[80, 20]", "bias_ih_l0[80]",
                                      "bias_hh_l0[80]", "weight_ih_l1[80, 20]", "weight_hh_l1[80, 20]",
                                      "bias_ih_l1[80]", "bias_hh_l1[80]"}));
  for (auto& p : lstm.parameters()) EXPECT_LE(amax(abs(p)).item<double>(), 1.0 / std::sqrt(20.0));
  EXPECT_EQ(LSTM(4, 3, {.bidirectional = true}).num_parameters(), 2 * (48 + 36 + 24));
  EXPECT_EQ(param_names(*std::make_shared<LSTM>(4, 3, RNNOptions{.bidirectional = true}))[4],
            "weight_ih_l0_reverse[12, 4]");

  // One step of a one-layer LSTM from zero state, gates i, f, g, o.
  LSTM one(3, 2);
  Tensor x = randn({1, 1, 3});
  auto [out, hc] = one.forward(x, {Tensor(), Tensor()});
  Tensor g = add(add(matmul(x[0], one.parameter("weight_ih_l0").t()), one.parameter("bias_ih_l0")),
                 one.parameter("bias_hh_l0"));
  auto gates = chunk(g, 4, 1);
  Tensor c = mul(sigmoid(gates[0]), tanh(gates[2]));
  Tensor h = mul(sigmoid(gates[3]), tanh(c));
  EXPECT_TRUE(allclose(out[0], h, 1e-5, 1e-6));
  EXPECT_TRUE(allclose(hc.first[0], h, 1e-5, 1e-6));
  EXPECT_TRUE(allclose(hc.second[0], c, 1e-5, 1e-6));
}

TEST(Layers, LstmLayoutsAndStates) {
  LSTM lstm(4, 5, {.num_layers = 2, .batch_first = true});
  Tensor x = randn({3, 6, 4});
  auto [out, hc] = lstm.forward(x, {Tensor(), Tensor()});
  EXPECT_EQ(shape_of(out), Shape({3, 6, 5}));
  EXPECT_EQ(shape_of(hc.first), Shape({2, 3, 5}));
  EXPECT_EQ(shape_of(hc.second), Shape({2, 3, 5}));
  // The top layer's final hidden state is the last output.
  EXPECT_TRUE(allclose(hc.first[1], out.select(1, 5)));
  // Sequence-first with the same weights gives the same numbers.
  LSTM seq_first(4, 5, {.num_layers = 2});
  seq_first.load_state_dict(lstm.state_dict());
  EXPECT_TRUE(allclose(seq_first(x.transpose(0, 1)).transpose(0, 1), out, 1e-5, 1e-6));
  // Running in two halves, carrying the state, equals one run.
  auto [a, hc_a] = lstm.forward(x.slice(1, 0, 3), {Tensor(), Tensor()});
  auto [b, hc_b] = lstm.forward(x.slice(1, 3, 6), hc_a);
  EXPECT_TRUE(allclose(cat({a, b}, 1), out, 1e-5, 1e-6));
  // Unbatched input.
  EXPECT_EQ(shape_of(lstm(x[0])), Shape({6, 5}));
  // Bidirectional: output concatenates both directions.
  LSTM bi(4, 5, {.batch_first = true, .bidirectional = true});
  auto [bo, bhc] = bi.forward(x, {Tensor(), Tensor()});
  EXPECT_EQ(shape_of(bo), Shape({3, 6, 10}));
  EXPECT_TRUE(allclose(bhc.first[1], bo.select(1, 0).slice(1, 5, 10)));  // reverse ends at t=0
  EXPECT_ERROR_HAS(lstm.forward(x, {zeros({1, 3, 5}), Tensor()}), "LSTM: h_0 [1, 3, 5] f32: expected [2, 3, 5]");
  EXPECT_ERROR_HAS(lstm(zeros({3, 6, 7})), "LSTM: input [3, 6, 7] f32: expected [N, T, 4]");
}

TEST(Layers, GruOneStepAndShapes) {
  GRU gru(3, 2);
  EXPECT_EQ(GRU(10, 20).num_parameters(), 1920);
  Tensor x = randn({1, 1, 3});
  Tensor h0 = randn({1, 1, 2});
  auto [out, hn] = gru.forward(x, h0);
  auto gi = chunk(add(matmul(x[0], gru.parameter("weight_ih_l0").t()), gru.parameter("bias_ih_l0")), 3, 1);
  auto gh = chunk(add(matmul(h0[0], gru.parameter("weight_hh_l0").t()), gru.parameter("bias_hh_l0")), 3, 1);
  Tensor r = sigmoid(add(gi[0], gh[0])), z = sigmoid(add(gi[1], gh[1]));
  Tensor n = tanh(add(gi[2], mul(r, gh[2])));
  Tensor h = add(mul(1.0 - z, n), mul(z, h0[0]));
  EXPECT_TRUE(allclose(out[0], h, 1e-5, 1e-6));
  EXPECT_TRUE(allclose(hn[0], h, 1e-5, 1e-6));
  GRU deep(3, 4, {.num_layers = 3, .dropout = 0.5});
  deep.eval();
  EXPECT_EQ(shape_of(deep(randn({5, 2, 3}))), Shape({5, 2, 4}));
  EXPECT_EQ(deep.repr(), "GRU(3, 4, num_layers=3, dropout=0.5)");
}

// ============================== init ==============================

TEST(Init, Gains) {
  EXPECT_DOUBLE_EQ(init::calculate_gain("linear"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("conv2d"), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu"), std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_DOUBLE_EQ(init::calculate_gain("selu"), 0.75);
  EXPECT_ERROR_HAS(init::calculate_gain("swish"), "unsupported nonlinearity 'swish'");
  auto [fi, fo] = init::calculate_fan_in_and_fan_out(empty({64, 32, 3, 3}));
  EXPECT_EQ(fi, 288);
  EXPECT_EQ(fo, 576);
  EXPECT_ERROR_HAS(init::calculate_fan_in_and_fan_out(empty({5})), "fewer than 2 dimensions");
}

TEST(Init, Statistics) {
  Generator gen(42);
  Tensor w = empty({256, 512});
  init::kaiming_normal_(w, 0, init::FanMode::FanIn, "relu", &gen);
  EXPECT_NEAR(tessera::std(w).item<double>(), std::sqrt(2.0 / 512), 0.02 * std::sqrt(2.0 / 512));
  init::kaiming_normal_(w, 0, init::FanMode::FanOut, "relu", &gen);
  EXPECT_NEAR(tessera::std(w).item<double>(), std::sqrt(2.0 / 256), 0.02 * std::sqrt(2.0 / 256));
  init::kaiming_uniform_(w, 0, init::FanMode::FanIn, "relu", &gen);
  const double kb = std::sqrt(2.0) * std::sqrt(3.0 / 512);
  EXPECT_LE(amax(abs(w)).item<double>(), kb);
  EXPECT_GE(amax(abs(w)).item<double>(), 0.99 * kb);
  init::xavier_uniform_(w, 1.0, &gen);
  const double xb = std::sqrt(6.0 / (256 + 512));
  EXPECT_LE(amax(abs(w)).item<double>(), xb);
  EXPECT_NEAR(tessera::std(w).item<double>(), xb / std::sqrt(3.0), 0.02 * xb);
  init::xavier_normal_(w, 2.0, &gen);
  EXPECT_NEAR(tessera::std(w).item<double>(), 2.0 * std::sqrt(2.0 / 768), 0.04 * std::sqrt(2.0 / 768));
  init::uniform_(w, 2, 3, &gen);
  EXPECT_GE(amin(w).item<double>(), 2.0);
  EXPECT_NEAR(mean(w).item<double>(), 2.5, 0.01);
  init::constant_(w, 0.5);
  EXPECT_TRUE(equal(w, full({256, 512}, 0.5)));

  // Same seed, same values; and it works on a leaf that requires grad.
  Tensor a = empty({4, 4}).requires_grad_(), b = empty({4, 4});
  Generator g1(5), g2(5);
  init::normal_(a, 0, 1, &g1);
  init::normal_(b, 0, 1, &g2);
  EXPECT_TRUE(equal(a.detach(), b));
  EXPECT_TRUE(a.is_leaf());
}

}  // namespace
}  // namespace tessera::nn
