// Module bookkeeping: names, modes, state_dict round trips and their error texts,
// dtype conversion, parameter counts, printing and summary.
#include <gtest/gtest.h>

#include <iostream>

#include "tessera/models.h"
#include "tessera/nn.h"
#include "test_util.h"

namespace tessera::nn {
namespace {

using models::cnn28;  // CNN28 from shared/bench/WORKLOADS.md

// A user-defined module the way a user would write one.
struct Net : Module {
  Net() : Module("Net") {
    fc1 = register_module("fc1", std::make_shared<Linear>(4, 3));
    bn = register_module("bn", std::make_shared<BatchNorm1d>(3));
    fc2 = register_module("fc2", std::make_shared<Linear>(3, 2, false));
    scale = &register_parameter("scale", ones({2}));
  }
  Tensor forward(const Tensor& x) override { return mul((*fc2)((*bn)((*fc1)(x))), *scale); }
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<BatchNorm1d> bn;
  Tensor* scale;
};

std::vector<std::string> keys(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (auto& [k, t] : v) out.push_back(k);
  return out;
}
std::vector<std::string> keys(const StateDict& sd) { return sd.keys(); }

TEST(Module, NamesInRegistrationOrder) {
  auto net = std::make_shared<Net>();
  EXPECT_EQ(keys(net->named_parameters()),
            (std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias",
                                      "fc2.weight"}));
  EXPECT_EQ(keys(net->named_parameters(false)), (std::vector<std::string>{"scale"}));
  EXPECT_EQ(keys(net->named_buffers()),
            (std::vector<std::string>{"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}));
  std::vector<std::string> mods;
  for (auto& [n, m] : net->named_modules()) mods.push_back(n + ":" + m->type_name());
  EXPECT_EQ(mods, (std::vector<std::string>{":Net", "fc1:Linear", "bn:BatchNorm1d", "fc2:Linear"}));
  EXPECT_EQ(net->children().size(), 3u);
  EXPECT_TRUE(net->parameter("fc1.weight").is_same(net->fc1->weight));
  EXPECT_TRUE(net->buffer("bn.running_var").is_same(net->bn->running_var));
  EXPECT_ERROR_HAS(net->parameter("fc3.weight"), "no submodule 'fc3'");
  EXPECT_ERROR_HAS(net->parameter("fc1.gamma"), "no parameter 'fc1.gamma'");
  for (auto& p : net->parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_FALSE(net->bn->running_mean.requires_grad());
}

TEST(Module, RegistrationErrors) {
  Module m("M");
  m.register_parameter("w", zeros({2}));
  EXPECT_ERROR_HAS(m.register_buffer("w", zeros({2})), "cannot register buffer 'w': the name is already taken");
  EXPECT_ERROR_HAS(m.register_parameter("a.b", zeros({2})), "must be non-empty and contain no '.'");
  EXPECT_ERROR_HAS(m.register_parameter("i", zeros({2}, kInt64)), "only floating tensors can require grad");
  EXPECT_ERROR_HAS(m.forward(zeros({1})), "M: defines neither forward(x) nor forward_multi(inputs)");
}

TEST(Module, TrainEvalPropagates) {
  auto net = cnn28();
  EXPECT_TRUE(net->is_training());
  net->eval();
  for (auto& [n, m] : net->named_modules()) EXPECT_FALSE(m->is_training()) << n;
  net->train();
  for (auto& [n, m] : net->named_modules()) EXPECT_TRUE(m->is_training()) << n;
}

TEST(Module, ZeroGradClearsGradients) {
  auto lin = std::make_shared<Linear>(3, 2);
  Tensor y = (*lin)(ones({4, 3})).sum();
  y.backward();
  ASSERT_TRUE(lin->weight.grad().defined());
  lin->zero_grad();
  EXPECT_FALSE(lin->weight.grad().defined());
  EXPECT_FALSE(lin->bias.grad().defined());
}

TEST(Module, StateDictRoundTrip) {
  auto a = std::make_shared<Net>();
  auto b = std::make_shared<Net>();
  StateDict sd = a->state_dict();
  // PyTorch's order (torch.nn.Module.state_dict): each module's parameters, its
  // persistent buffers, then its children's.
  EXPECT_EQ(keys(sd), (std::vector<std::string>{"scale", "fc1.weight", "fc1.bias", "bn.weight",
                                                "bn.bias", "bn.running_mean", "bn.running_var",
                                                "bn.num_batches_tracked", "fc2.weight"}));
  for (auto& [k, t] : sd) EXPECT_FALSE(t.requires_grad()) << k;
  EXPECT_TRUE(sd[1].second.shares_storage(a->fc1->weight));  // detached, not copied
  EXPECT_FALSE(equal(a->fc1->weight, b->fc1->weight));
  auto r = b->load_state_dict(sd);
  EXPECT_TRUE(r.missing_keys.empty() && r.unexpected_keys.empty());
  StateDict sb = b->state_dict();
  for (size_t i = 0; i < sd.size(); ++i) EXPECT_TRUE(equal(sb[i].second, sd[i].second)) << sd[i].first;
  // The load copied values: b's tensors are still its own.
  EXPECT_FALSE(b->fc1->weight.shares_storage(a->fc1->weight));
  EXPECT_TRUE(b->fc1->weight.requires_grad());
}

TEST(Module, LoadStateDictErrorsListEveryProblem) {
  auto net = std::make_shared<Net>();
  StateDict sd = net->state_dict();
  const Tensor before = net->fc1->bias.clone();
  StateDict bad;
  for (auto& [k, t] : sd) {
    if (k == "fc2.weight") continue;                            // missing
    if (k == "fc1.bias") bad.emplace_back(k, zeros({5}));       // mis-shaped
    else bad.emplace_back(k, t);
  }
  bad.emplace_back("foo", zeros({1}));                          // unexpected
  EXPECT_EQ(error_of([&] { net->load_state_dict(bad); }),
            "load_state_dict (Net): missing keys: fc2.weight; unexpected keys: foo; "
            "fc1.bias: expected [3] got [5]");
  EXPECT_TRUE(equal(net->fc1->bias, before));  // nothing written by a failed load

  // Non-strict: missing and unexpected keys are returned, shapes still checked.
  bad[2].second = zeros({3});
  auto r = net->load_state_dict(bad, false);
  EXPECT_EQ(r.missing_keys, (std::vector<std::string>{"fc2.weight"}));
  EXPECT_EQ(r.unexpected_keys, (std::vector<std::string>{"foo"}));
  EXPECT_TRUE(equal(net->fc1->bias, zeros({3})));
  bad[2].second = zeros({4});
  EXPECT_ERROR_HAS(net->load_state_dict(bad, false), "fc1.bias: expected [3] got [4]");
}

TEST(Module, LoadStateDictConvertsDtype) {
  auto lin = std::make_shared<Linear>(2, 2);
  StateDict sd = {{"weight", ones({2, 2}, kFloat64)}, {"bias", zeros({2}, kFloat64)}};
  lin->load_state_dict(sd);
  EXPECT_EQ(lin->weight.dtype(), kFloat32);
  EXPECT_TRUE(equal(lin->weight, ones({2, 2})));
}

TEST(Module, ToDtypeKeepsIntegerBuffersAndReferences) {
  auto net = std::make_shared<Net>();
  net->to(kFloat64);
  for (auto& [k, p] : net->named_parameters()) {
    EXPECT_EQ(p.dtype(), kFloat64) << k;
    EXPECT_TRUE(p.requires_grad()) << k;
    EXPECT_TRUE(p.is_leaf()) << k;
  }
  EXPECT_EQ(net->fc1->weight.dtype(), kFloat64);  // the layer's reference sees the new tensor
  EXPECT_EQ(net->bn->running_var.dtype(), kFloat64);
  EXPECT_EQ(net->bn->num_batches_tracked.dtype(), kInt64);
  EXPECT_EQ(net->forward(ones({5, 4}, kFloat64)).dtype(), kFloat64);
}

TEST(Module, ParameterCounts) {
  EXPECT_EQ(cnn28()->num_parameters(), 1199882);  // torch: sum(p.numel() for p in parameters())
  auto net = std::make_shared<Net>();
  EXPECT_EQ(net->num_parameters(), 2 + 15 + 6 + 6);
  net->scale->requires_grad_(false);
  EXPECT_EQ(net->num_parameters(true), 15 + 6 + 6);
}

TEST(Module, ReprLikePyTorch) {
  auto net = std::make_shared<Sequential>(
      std::make_shared<Conv2d>(1, 32, 3), std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(32, 64, std::vector<int64_t>{3, 3},
                               ConvOptions{.stride = {2}, .padding = 1, .groups = 2, .bias = false}),
      std::make_shared<BatchNorm2d>(64), std::make_shared<MaxPool2d>(2), std::make_shared<Dropout>(0.25),
      std::make_shared<Sequential>(std::make_shared<Flatten>(), std::make_shared<Linear>(9216, 10)));
  EXPECT_EQ(net->repr(),
            "Sequential(\n"
            "  (0): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))\n"
            "  (1): ReLU()\n"
            "  (2): Conv2d(32, 64, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2, bias=False)\n"
            "  (3): BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
            "  (4): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
            "  (5): Dropout(p=0.25, inplace=False)\n"
            "  (6): Sequential(\n"
            "    (0): Flatten(start_dim=1, end_dim=-1)\n"
            "    (1): Linear(in_features=9216, out_features=10, bias=True)\n"
            "  )\n"
            ")");
  EXPECT_EQ(LayerNorm(64).repr(), "LayerNorm((64,), eps=1e-05, elementwise_affine=True)");
  EXPECT_EQ(LSTM(10, 20, {.num_layers = 2, .batch_first = true}).repr(),
            "LSTM(10, 20, num_layers=2, batch_first=True)");
  EXPECT_EQ(Conv2d(3, 8, 3, {.padding = "same"}).repr(),
            "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=same)");
  EXPECT_EQ(GELU().repr(), "GELU(approximate='none')");
  EXPECT_EQ(BatchNorm1d(4, 1e-3, std::nullopt).repr(),
            "BatchNorm1d(4, eps=0.001, momentum=None, affine=True, track_running_stats=True)");
}

TEST(Module, PythonFloatRepr) {
  EXPECT_EQ(repr::py_float(1e-5), "1e-05");
  EXPECT_EQ(repr::py_float(0.1), "0.1");
  EXPECT_EQ(repr::py_float(1.0), "1.0");
  EXPECT_EQ(repr::py_float(0.0001), "0.0001");
  EXPECT_EQ(repr::py_float(1e16), "1e+16");
  EXPECT_EQ(repr::py_tuple({3}), "(3,)");
}

TEST(Module, SummaryShowsShapesAndCounts) {
  auto net = cnn28();
  const Tensor running = net->parameter("0.weight").clone();
  std::string s = net->summary({1, 1, 28, 28});
  EXPECT_NE(s.find("0 (Conv2d)"), std::string::npos) << s;
  EXPECT_NE(s.find("[1, 32, 26, 26]"), std::string::npos) << s;
  EXPECT_NE(s.find("[1, 64, 12, 12]"), std::string::npos) << s;
  EXPECT_NE(s.find("[1, 9216]"), std::string::npos) << s;
  EXPECT_NE(s.find("1,179,776"), std::string::npos) << s;  // 9216*128 + 128
  EXPECT_NE(s.find("Total params: 1,199,882"), std::string::npos) << s;
  EXPECT_NE(s.find("Trainable params: 1,199,882"), std::string::npos) << s;
  EXPECT_NE(s.find("Non-trainable params: 0"), std::string::npos) << s;
  EXPECT_TRUE(net->is_training());  // modes restored
  EXPECT_TRUE(equal(net->parameter("0.weight"), running));
  std::cout << s;
}

TEST(Module, SummaryLeavesBatchNormStatsAlone) {
  auto net = std::make_shared<Sequential>(std::make_shared<Linear>(3, 4), std::make_shared<BatchNorm1d>(4));
  net->summary({2, 3});
  EXPECT_EQ(net->buffer("1.num_batches_tracked").item<int64_t>(), 0);
  EXPECT_TRUE(net->at<BatchNorm1d>(1)->is_training());
}

TEST(Module, ForwardHooksFireAndRemove) {
  auto lin = std::make_shared<Linear>(3, 2);
  int calls = 0;
  int64_t id = lin->register_forward_hook([&](Module& m, const Tensor& in, const Tensor& out) {
    ++calls;
    EXPECT_EQ(&m, lin.get());
    EXPECT_EQ(out.size(1), 2);
  });
  (*lin)(ones({1, 3}));
  lin->remove_forward_hook(id);
  (*lin)(ones({1, 3}));
  EXPECT_EQ(calls, 1);
}

TEST(Module, SharedSubmoduleListedOnce) {
  auto lin = std::make_shared<Linear>(2, 2);
  Sequential seq(lin, lin);
  EXPECT_EQ(seq.parameters().size(), 2u);
  EXPECT_EQ(seq.num_parameters(), 6);
}

}  // namespace
}  // namespace tessera::nn

namespace tessera::nn {

namespace {
// Two heads over one trunk: one input, two outputs.
class TwoHeads : public nn::Module {
 public:
  TwoHeads() : Module("TwoHeads") {
    trunk = register_module("trunk", std::make_shared<nn::Linear>(4, 3));
  }
  std::vector<Tensor> forward_multi(const std::vector<Tensor>& in) override {
    TESSERA_CHECK(in.size() == 1, "TwoHeads: takes one input, got ", in.size());
    Tensor h = (*trunk)(in[0]);
    return {relu(h), neg(h)};
  }
  std::shared_ptr<nn::Linear> trunk;
};
// Two inputs, one output.
class AddPair : public nn::Module {
 public:
  AddPair() : Module("AddPair") {}
  std::vector<Tensor> forward_multi(const std::vector<Tensor>& in) override {
    TESSERA_CHECK(in.size() == 2, "AddPair: takes two inputs, got ", in.size());
    return {add(in[0], in[1])};
  }
};
class NoForward : public nn::Module {
 public:
  NoForward() : Module("NoForward") {}
};
}  // namespace

TEST(Module, SeveralInputsAndOutputs) {
  manual_seed(0);
  auto heads = std::make_shared<TwoHeads>();
  const Tensor x = randn({2, 4});
  const std::vector<Tensor> out = (*heads)(std::vector<Tensor>{x});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(equal(add(out[0], relu(neg(out[1]))), add(relu((*heads->trunk)(x)), relu((*heads->trunk)(x)))));
  // A Sequential feeds each stage's outputs to the next: 1 -> 2 -> 1.
  nn::Sequential seq(heads, std::make_shared<AddPair>(), std::make_shared<nn::ReLU>());
  const Tensor y = seq(x);  // one in, one out overall: the one-tensor call works too
  EXPECT_TRUE(equal(y, relu(add(out[0], out[1]))));
  EXPECT_TRUE(equal(seq(std::vector<Tensor>{x})[0], y));
  // A layer written for one tensor takes the multi call with one input.
  nn::Linear lin(4, 2);
  EXPECT_TRUE(equal(lin(std::vector<Tensor>{x})[0], lin(x)));
  // Errors name the module and the counts.
  EXPECT_ERROR_HAS(lin(std::vector<Tensor>{x, x}), "Linear: takes one input (it defines forward(x)), got 2");
  EXPECT_ERROR_HAS((*heads)(x), "TwoHeads: called with one tensor, its forward_multi returned 2 outputs");
  NoForward none;
  EXPECT_ERROR_HAS(none(x), "NoForward: defines neither forward(x) nor forward_multi(inputs)");
  EXPECT_ERROR_HAS(none(std::vector<Tensor>{x}), "NoForward: defines neither forward(x) nor forward_multi(inputs)");
}

TEST(Module, MultiForwardHooksSeeEveryCall) {
  auto heads = std::make_shared<TwoHeads>();
  size_t seen_outputs = 0;
  int single_calls = 0;
  heads->register_forward_hook(
      [&](nn::Module&, const std::vector<Tensor>&, const std::vector<Tensor>& out) { seen_outputs += out.size(); });
  heads->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) { ++single_calls; });
  (*heads)(std::vector<Tensor>{randn({1, 4})});
  EXPECT_EQ(seen_outputs, 2u);
  EXPECT_EQ(single_calls, 0);  // two outputs: the one-tensor hook does not apply
}

}  // namespace tessera::nn
