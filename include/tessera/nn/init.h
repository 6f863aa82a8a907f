#pragma once
// Parameter initialisation (torch.nn.init). Every function fills its tensor in place
// without recording history (so it works on leaves that require grad), draws from `gen`
// or the thread's current generator (current_generator()), and returns the same tensor.
#include <string>
#include <utility>

#include "tessera/ops.h"

namespace tessera::nn::init {

enum class FanMode { FanIn, FanOut };

// PyTorch's calculate_gain: linear/conv*/sigmoid 1, tanh 5/3, relu sqrt(2),
// leaky_relu sqrt(2 / (1 + slope^2)) with slope `param` (0.01 when negative), selu 3/4.
TESSERA_API double calculate_gain(const std::string& nonlinearity, double param = -1);
// (fan_in, fan_out) of a weight of rank >= 2: dims 1 and 0 times the receptive field.
TESSERA_API std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

TESSERA_API Tensor uniform_(const Tensor& t, double low = 0, double high = 1,
                            Generator* gen = nullptr);
TESSERA_API Tensor normal_(const Tensor& t, double mean = 0, double std = 1,
                           Generator* gen = nullptr);
TESSERA_API Tensor constant_(const Tensor& t, double value);
TESSERA_API Tensor zeros_(const Tensor& t);
TESSERA_API Tensor ones_(const Tensor& t);
// U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).
TESSERA_API Tensor xavier_uniform_(const Tensor& t, double gain = 1, Generator* gen = nullptr);
// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
TESSERA_API Tensor xavier_normal_(const Tensor& t, double gain = 1, Generator* gen = nullptr);
// U(-b, b) with b = gain(nonlinearity, a) * sqrt(3 / fan).
TESSERA_API Tensor kaiming_uniform_(const Tensor& t, double a = 0, FanMode mode = FanMode::FanIn,
                                    const std::string& nonlinearity = "leaky_relu",
                                    Generator* gen = nullptr);
// N(0, std^2) with std = gain(nonlinearity, a) / sqrt(fan).
TESSERA_API Tensor kaiming_normal_(const Tensor& t, double a = 0, FanMode mode = FanMode::FanIn,
                                   const std::string& nonlinearity = "leaky_relu",
                                   Generator* gen = nullptr);

}  // namespace tessera::nn::init
