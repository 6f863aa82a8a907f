// Writes a compiled CNN28 (eval mode, seed 0) and one input/output pair computed by the full
// library's run of that graph into the directory given, for inference_smoke to run with the
// inference library alone (tests/CMakeLists.txt: the cnn28_graph fixture).
#include <iostream>

#include "tessera/models.h"
#include "tessera/tessera.h"

int main(int argc, char** argv) {
  using namespace tessera;
  if (argc != 2) {
    std::cerr << "usage: make_compiled_cnn28 DIR\n";
    return 2;
  }
  try {
    const std::string dir = argv[1];
    manual_seed(0);
    auto net = models::cnn28();
    net->eval();
    CompileOptions options;
    options.freeze = true;
    CompiledFunction model = compile(*net, options);
    const Tensor x = randn({1, 1, 28, 28});
    // The first call traces the model, and what it returns is eager's output; the second
    // runs the compiled graph, the one the inference library must reproduce. (Compiled and
    // eager differ by rounding: 1.1e-6 relative with oneDNN's AVX2 kernels.)
    (void)model(x);
    const Tensor y = model(x);
    model.save(dir + "/cnn28.graph.safetensors");
    save_safetensors(dir + "/cnn28.io.safetensors", {{"x", x}, {"y", y}});
    std::cout << "make_compiled_cnn28: wrote " << dir << "/cnn28.graph.safetensors\n";
  } catch (const Error& e) {
    std::cerr << "make_compiled_cnn28: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
