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
