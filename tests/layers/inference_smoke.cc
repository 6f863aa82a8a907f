// Linked against tessera_inference only (no autograd, nn modules, optimizers, training or
// zlib): runs a small conv2d -> relu -> matmul on values whose result is known by hand, a
// safetensors round trip and a user error, and prints what it computed. Run as a CTest
// (tests/CMakeLists.txt, LayerChecks.inference_*); exits non-zero on any mismatch.
//
// It may include only the headers of the inference layers; tessera/tessera.h would also
// declare nn modules and the trainer, whose definitions this library does not have.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "tessera/grad_mode.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"
#include "tessera/serialize.h"
#include "tessera/tensor.h"
#include "tessera/version.h"

namespace {

int failures = 0;

void expect_near(const char* what, double got, double want) {
  const bool ok = std::fabs(got - want) <= 1e-5 * (1.0 + std::fabs(want));
  std::cout << "  " << what << " = " << got;
  if (!ok) std::cout << "  MISMATCH, expected " << want;
  std::cout << "\n";
  if (!ok) ++failures;
}

}  // namespace

int main() {
  using namespace tessera;
  namespace F = tessera::nn::functional;
  try {
    std::cout << "tessera " << version() << " (" << build_info() << "), inference library\n";
    NoGradGuard no_grad;  // grad mode lives in core, so inference code can still say it

    // x: 1x1x3x3 holding 1..9. Channel 0's kernel [[1, 0], [0, -1]] gives x[i][j] -
    // x[i+1][j+1] = -4 at every position; channel 1's all-ones kernel sums each 2x2
    // window: 12 16 / 24 28. Biases 0.5 and -20: channel 0 is -3.5 everywhere (relu: 0),
    // channel 1 is -8 -4 / 4 8 (relu: 0 0 / 4 8).
    const Tensor x = tensor<float>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
    const Tensor w = tensor<float>({1, 0, 0, -1, 1, 1, 1, 1}, {2, 1, 2, 2});
    const Tensor b = tensor<float>({0.5f, -20.0f}, {2});
    const Tensor y = relu(F::conv2d(x, w, b));
    std::cout << "relu(conv2d(x, w, b)) = " << y << "\n";
    expect_near("y.sum()", y.sum().item<double>(), 12.0);

    // Flattened to [1, 8] = (0 0 0 0 0 0 4 8), times [8, 2] whose column 0 is ones and
    // column 1 is 1..8: (12, 4*7 + 8*8 = 92).
    const Tensor m = tensor<float>({1, 1, 1, 2, 1, 3, 1, 4, 1, 5, 1, 6, 1, 7, 1, 8}, {8, 2});
    const Tensor z = matmul(y.reshape({1, 8}), m);
    std::cout << "matmul(flatten(y), m) = " << z << "\n";
    expect_near("z[0, 0]", z.select(1, 0).item<double>(), 12.0);
    expect_near("z[0, 1]", z.select(1, 1).item<double>(), 92.0);

    // Weights come from safetensors files: the inference io layer.
    const std::string path = "inference_smoke." + std::to_string(::getpid()) + ".safetensors";
    save_safetensors(path, {{"w", w}, {"b", b}});
    const SafetensorsContents loaded = load_safetensors(path);
    std::remove(path.c_str());
    double max_diff = -1;
    for (const auto& [name, t] : loaded.tensors) {
      const Tensor& ref = name == "w" ? w : b;
      max_diff = std::max(max_diff, max(abs(t - ref)).item<double>());
    }
    expect_near("tensors loaded", static_cast<double>(loaded.tensors.size()), 2.0);
    expect_near("max |loaded - saved|", max_diff, 0.0);

    // A user error is still a tessera::Error naming the shapes.
    try {
      (void)matmul(x.reshape({9, 1}), m);
      std::cout << "  matmul of [9, 1] by [8, 2] did not throw\n";
      ++failures;
    } catch (const InvalidArgumentError& e) {
      std::cout << "  caught: " << e.what() << "\n";
    }
  } catch (const Error& e) {
    std::cerr << "inference_smoke: " << e.what() << "\n";
    return 1;
  }
  std::cout << (failures == 0 ? "inference_smoke: ok\n" : "inference_smoke: FAILED\n");
  return failures == 0 ? 0 : 1;
}
