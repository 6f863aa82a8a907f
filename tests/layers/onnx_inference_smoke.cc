// Linked against the inference library only (no autograd, no training layers): imports an
// ONNX model (y = relu(x @ W^T + b), tests/fuzz/onnx_corpus/gemm_relu.onnx, written by the
// tests' model builder), runs it eagerly and compiled, and checks the known result.
#include <cstdio>
#include <vector>

#include "tessera/onnx.h"
#include "tessera/ops.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: onnx_inference_smoke MODEL.onnx\n");
    return 2;
  }
  try {
    tessera::onnx::Model m = tessera::onnx::import_model(argv[1]);
    const tessera::Tensor x = tessera::tensor<float>({1, 1, 1, 0, 1, 0}, {2, 3});
    const std::vector<float> want{6.5f, 4.f, 2.5f, 8.f};
    tessera::CompiledFunction f = m.compile();
    if (m.run({x})[0].to_vector<float>() != want || f(std::vector<tessera::Tensor>{x}).at(0).to_vector<float>() != want) {
      std::fprintf(stderr, "onnx_inference_smoke: wrong result\n");
      return 1;
    }
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "onnx_inference_smoke: %s\n", e.what());
    return 1;
  }
  std::printf("onnx_inference_smoke: ok\n");
  return 0;
}
