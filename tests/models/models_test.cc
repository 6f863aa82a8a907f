// The WORKLOADS.md models: output shapes, parameter counts and PyTorch's parameter names
// (so state dicts exported from torch.nn load unchanged).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tessera/models.h"
#include "tessera/nn.h"
#include "tessera/ops.h"

namespace tessera::models {
namespace {

std::vector<std::string> names(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [n, t] : m.named_parameters()) out.push_back(n);
  return out;
}

TEST(Models, Cnn28ShapesCountsAndNames) {
  auto net = cnn28();
  EXPECT_EQ(net->num_parameters(), 1199882);
  EXPECT_EQ(names(*net), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias",
                                                   "7.weight", "7.bias", "10.weight",
                                                   "10.bias"}));
  Tensor y = (*net)(randn({2, 1, 28, 28}));
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 10}));
}

// The layers draw their initial weights first to last, as the same PyTorch code (and a
// Python Net declaring them in order) does: after the same seed, cnn28() and mlp() hold the
// weights of their layers built one by one in that order. Built as the arguments of one
// call they came out in the compiler's argument order (last to first with GCC).
TEST(Models, LayersDrawTheirWeightsInDeclarationOrder) {
  manual_seed(3);
  auto net = cnn28();
  manual_seed(3);
  const std::vector<nn::ModulePtr> in_order = {std::make_shared<nn::Conv2d>(1, 32, 3),
                                               std::make_shared<nn::Conv2d>(32, 64, 3),
                                               std::make_shared<nn::Linear>(9216, 128),
                                               std::make_shared<nn::Linear>(128, 10)};
  std::vector<Tensor> want;
  for (const auto& m : in_order)
    for (const Tensor& p : m->parameters()) want.push_back(p);
  const std::vector<Tensor> got = net->parameters();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(equal(got[i], want[i])) << "parameter " << i;

  manual_seed(4);
  auto m = mlp();
  manual_seed(4);
  nn::Linear a(784, 512), b(512, 512), c(512, 10);
  EXPECT_TRUE(equal(m->parameters()[0], a.weight));
  EXPECT_TRUE(equal(m->parameters()[2], b.weight));
  EXPECT_TRUE(equal(m->parameters()[4], c.weight));
}

TEST(Models, Cnn64ShapesAndCounts) {
  auto net = cnn64();
  // convs 896 + 18,496 + 73,856, linears 2,097,408 + 2,056.
  EXPECT_EQ(net->num_parameters(), 2192712);
  EXPECT_EQ(names(*net).front(), "0.weight");
  EXPECT_EQ(names(*net).back(), "12.bias");
  Tensor y = (*net)(randn({2, 3, 64, 64}));
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 8}));
}

TEST(Models, MlpShapesAndCounts) {
  auto net = mlp();
  EXPECT_EQ(net->num_parameters(), 669706);
  EXPECT_EQ(names(*net), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias",
                                                   "4.weight", "4.bias"}));
  Tensor y = (*net)(randn({3, 784}));
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{3, 10}));
}

TEST(Models, EncoderShapesAndCounts) {
  auto net = encoder();
  // in_proj 197,376, out_proj 65,792, linear1 263,168, linear2 262,400, two norms 1,024.
  EXPECT_EQ(net->num_parameters(), 789760);
  net->eval();
  Tensor y = (*net)(randn({1, 128, 256}));
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 128, 256}));
}

TEST(Models, Resnet18ShapesCountsAndNames) {
  auto net = resnet18();
  EXPECT_EQ(net->num_parameters(), 11689512);  // torchvision's figure
  const std::vector<std::string> n = names(*net);
  EXPECT_EQ(n.front(), "conv1.weight");
  EXPECT_EQ(n.back(), "fc.bias");
  EXPECT_NE(std::find(n.begin(), n.end(), "layer2.0.downsample.0.weight"), n.end());
  EXPECT_NE(std::find(n.begin(), n.end(), "layer4.1.bn2.bias"), n.end());
  // torchvision has 20 BatchNorms, each with running_mean, running_var, num_batches_tracked.
  EXPECT_EQ(net->named_buffers().size(), 60u);
  net->eval();
  NoGradGuard no_grad;
  Tensor y = (*net)(randn({1, 3, 64, 64}));  // any size >= 32 works through the adaptive pool
  EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{1, 1000}));
}

}  // namespace
}  // namespace tessera::models
