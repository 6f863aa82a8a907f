#pragma once
// The reference models of ../shared/bench/WORKLOADS.md, built from Tessera's layers with
// PyTorch's default initialization. Parameter names match what the same torch.nn code
// would produce ("0.weight", "0.bias", "2.weight", ... for a Sequential; torchvision's
// names for ResNet-18), so weights exported from PyTorch load with load_state_dict.
//
//   auto net = tessera::models::cnn28();
//   Tensor logits = (*net)(tessera::randn({64, 1, 28, 28}));  // [64, 10]
#include <memory>

#include "tessera/nn/layers.h"

namespace tessera::models {

// CNN28: conv 1->32 3x3, ReLU, conv 32->64 3x3, ReLU, maxpool 2, dropout 0.25, flatten,
// linear 9216->128, ReLU, dropout 0.5, linear 128->10. Input [N, 1, 28, 28]; 1,199,882
// parameters.
TESSERA_API std::shared_ptr<nn::Sequential> cnn28();

// CNN64: [conv 3x3 same, ReLU, maxpool 2] x 3 (3->32->64->128), flatten (8192),
// linear 8192->256, ReLU, linear 256->8. Input [N, 3, 64, 64].
TESSERA_API std::shared_ptr<nn::Sequential> cnn64();

// MLP: 784->512, ReLU, 512->512, ReLU, 512->10. Input [N, 784].
TESSERA_API std::shared_ptr<nn::Sequential> mlp();

// ENCODER: one TransformerEncoderLayer(d_model 256, 4 heads, feed-forward 1024, ReLU,
// post-norm, dropout 0, batch_first). Input [N, S, 256].
TESSERA_API std::shared_ptr<nn::Module> encoder();

// torchvision's resnet18(weights=None): input [N, 3, 224, 224], 1000 classes,
// 11,689,512 parameters.
TESSERA_API std::shared_ptr<nn::Module> resnet18(int64_t num_classes = 1000);

}  // namespace tessera::models
