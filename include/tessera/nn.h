#pragma once
// The training-side neural-network API: #include <tessera/nn.h>
//   tessera::nn::Module and the layers (nn/module.h, nn/layers.h),
//   tessera::nn::functional (nn/functional.h), tessera::nn::init (nn/init.h).
#include "tessera/nn/functional.h"
#include "tessera/nn/init.h"
#include "tessera/nn/layers.h"
#include "tessera/nn/module.h"
