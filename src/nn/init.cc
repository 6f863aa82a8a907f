// torch.nn.init's formulas; the random draws are tessera's own uniform_/normal_.
#include "tessera/nn/init.h"

#include <cmath>

#include "tessera/autograd.h"

namespace tessera::nn::init {

double calculate_gain(const std::string& nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity == "identity" ||
      nonlinearity.rfind("conv", 0) == 0)
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") {
    const double slope = param < 0 ? 0.01 : param;
    return std::sqrt(2.0 / (1.0 + slope * slope));
  }
  if (nonlinearity == "selu") return 3.0 / 4.0;
  TESSERA_CHECK(false, "calculate_gain: unsupported nonlinearity '", nonlinearity,
                "'; expected linear, conv1d/2d/3d, sigmoid, tanh, relu, leaky_relu or selu");
  return 1.0;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  TESSERA_CHECK(t.dim() >= 2, "calculate_fan_in_and_fan_out: tensor ", t.describe(),
                " has fewer than 2 dimensions; fans are defined for weights of rank >= 2");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

namespace {
int64_t fan_of(const Tensor& t, FanMode mode) {
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  return mode == FanMode::FanIn ? in : out;
}
}  // namespace

Tensor uniform_(const Tensor& t, double low, double high, Generator* gen) {
  NoGradGuard no_grad;
  Tensor h = t;
  ::tessera::uniform_(h, low, high, gen);
  return t;
}

Tensor normal_(const Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard no_grad;
  Tensor h = t;
  ::tessera::normal_(h, mean, std, gen);
  return t;
}

Tensor constant_(const Tensor& t, double value) {
  NoGradGuard no_grad;
  Tensor h = t;
  h.fill_(value);
  return t;
}

Tensor zeros_(const Tensor& t) { return constant_(t, 0.0); }
Tensor ones_(const Tensor& t) { return constant_(t, 1.0); }

Tensor xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  const double a = gain * std::sqrt(6.0 / static_cast<double>(in + out));
  return uniform_(t, -a, a, gen);
}

Tensor xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  auto [in, out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(in + out)), gen);
}

Tensor kaiming_uniform_(const Tensor& t, double a, FanMode mode, const std::string& nonlinearity,
                        Generator* gen) {
  const int64_t fan = fan_of(t, mode);
  TESSERA_CHECK(fan > 0, "kaiming_uniform_: tensor ", t.describe(), " has a zero fan");
  const double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / static_cast<double>(fan));
  return uniform_(t, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& t, double a, FanMode mode, const std::string& nonlinearity,
                       Generator* gen) {
  const int64_t fan = fan_of(t, mode);
  TESSERA_CHECK(fan > 0, "kaiming_normal_: tensor ", t.describe(), " has a zero fan");
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan)), gen);
}

}  // namespace tessera::nn::init
