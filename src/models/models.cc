// The WORKLOADS.md models. Every layer's constructor already applies PyTorch's default
// initialization, so building the same layer sequence gives the same distributions
// and the same parameter names as torch.nn.
#include "tessera/models.h"

#include <string>
#include <utility>

#include "tessera/nn/functional.h"
#include "tessera/ops.h"

namespace tessera::models {

using namespace tessera::nn;  // NOLINT: the layer names read as the PyTorch code does

std::shared_ptr<Sequential> cnn28() {
  // One statement per layer, top to bottom: every layer draws its initial weights from the
  // default generator when constructed, so the order of construction is the order of the
  // draws. Built as arguments of one call, the order would be the compiler's (C++ leaves
  // the evaluation order of function arguments unspecified; GCC goes last to first), and
  // a PyTorch-style Python Net, which draws top to bottom, would start from other weights.
  auto conv1 = std::make_shared<Conv2d>(1, 32, 3);
  auto conv2 = std::make_shared<Conv2d>(32, 64, 3);
  auto fc1 = std::make_shared<Linear>(9216, 128);
  auto fc2 = std::make_shared<Linear>(128, 10);
  return std::make_shared<Sequential>(
      conv1, std::make_shared<ReLU>(), conv2, std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2), std::make_shared<Dropout>(0.25),
      std::make_shared<Flatten>(), fc1, std::make_shared<ReLU>(),
      std::make_shared<Dropout>(0.5), fc2);
}

std::shared_ptr<Sequential> cnn64() {
  ConvOptions same;
  same.padding = 1;  // "same" for a 3x3 kernel at stride 1
  // Layers with weights are built in statements, in order (see cnn28()).
  auto conv1 = std::make_shared<Conv2d>(3, 32, 3, same);
  auto conv2 = std::make_shared<Conv2d>(32, 64, 3, same);
  auto conv3 = std::make_shared<Conv2d>(64, 128, 3, same);
  auto fc1 = std::make_shared<Linear>(8192, 256);
  auto fc2 = std::make_shared<Linear>(256, 8);
  return std::make_shared<Sequential>(
      conv1, std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2), conv2,
      std::make_shared<ReLU>(), std::make_shared<MaxPool2d>(2), conv3, std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2), std::make_shared<Flatten>(), fc1, std::make_shared<ReLU>(),
      fc2);
}

std::shared_ptr<Sequential> mlp() {
  // In statements, in order (see cnn28()).
  auto fc1 = std::make_shared<Linear>(784, 512);
  auto fc2 = std::make_shared<Linear>(512, 512);
  auto fc3 = std::make_shared<Linear>(512, 10);
  return std::make_shared<Sequential>(fc1, std::make_shared<ReLU>(), fc2, std::make_shared<ReLU>(),
                                      fc3);
}

std::shared_ptr<Module> encoder() {
  TransformerEncoderLayerOptions o;
  o.dim_feedforward = 1024;
  o.dropout = 0.0;
  o.batch_first = true;
  return std::make_shared<TransformerEncoderLayer>(256, 4, o);
}

namespace {

ConvOptions conv_opts(int64_t stride, int64_t padding) {
  ConvOptions o;
  o.stride = {stride};
  o.padding = padding;
  o.bias = false;  // every ResNet conv is followed by a BatchNorm
  return o;
}

// torchvision's BasicBlock: conv3x3-bn-relu-conv3x3-bn, plus the (projected) input.
class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride) : Module("BasicBlock") {
    conv1 = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, conv_opts(stride, 1)));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out));
    relu = register_module("relu", std::make_shared<ReLU>());
    conv2 = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, conv_opts(1, 1)));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
    if (stride != 1 || in != out) {
      // The conv first, as torchvision builds it (its weights are drawn; see cnn28()).
      auto conv = std::make_shared<Conv2d>(in, out, 1, conv_opts(stride, 0));
      downsample = register_module(
          "downsample", std::make_shared<Sequential>(conv, std::make_shared<BatchNorm2d>(out)));
    }
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*bn2)((*conv2)((*relu)((*bn1)((*conv1)(x)))));
    return (*relu)(y + (downsample ? (*downsample)(x) : x));
  }
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Sequential> downsample;
};

class ResNet18 : public Module {
 public:
  explicit ResNet18(int64_t num_classes) : Module("ResNet") {
    register_module("conv1", std::make_shared<Conv2d>(3, 64, 7, conv_opts(2, 3)));
    register_module("bn1", std::make_shared<BatchNorm2d>(64));
    register_module("relu", std::make_shared<ReLU>());
    register_module("maxpool", std::make_shared<MaxPool2d>(std::vector<int64_t>{3},
                                                           std::vector<int64_t>{2},
                                                           std::vector<int64_t>{1}));
    int64_t in = 64;
    const int64_t widths[4] = {64, 128, 256, 512};
    for (int i = 0; i < 4; ++i) {
      const int64_t stride = i == 0 ? 1 : 2;
      // The blocks in statements, first to last (see cnn28()).
      auto first = std::make_shared<BasicBlock>(in, widths[i], stride);
      auto second = std::make_shared<BasicBlock>(widths[i], widths[i], 1);
      register_module("layer" + std::to_string(i + 1), std::make_shared<Sequential>(first, second));
      in = widths[i];
    }
    register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
    register_module("flatten", std::make_shared<Flatten>());
    register_module("fc", std::make_shared<Linear>(512, num_classes));
    // torchvision re-initializes convs with kaiming_normal_(fan_out, relu); the layers'
    // own default (kaiming_uniform a=sqrt(5)) differs only in distribution, which speed
    // figures do not depend on. Weights for accuracy come from a checkpoint anyway.
    for (auto& [name, m] : named_children()) order_.push_back(m);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (const ModulePtr& m : order_) y = (*m)(y);
    return y;
  }

 private:
  std::vector<ModulePtr> order_;  // conv1 ... fc in forward order
};

}  // namespace

std::shared_ptr<Module> resnet18(int64_t num_classes) {
  return std::make_shared<ResNet18>(num_classes);
}

}  // namespace tessera::models
