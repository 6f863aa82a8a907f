// Tessera's exports of CNN28, ResNet-18 and the encoder layer (../shared/bench/WORKLOADS.md)
// pass onnx.checker and match Tessera's eager outputs in ONNX Runtime within 1e-4, at the
// traced batch and, through the symbolic batch dim, at another (issue 10, acceptance 3).
// tests/onnx/export_ort_check.py does the Python side (ort_check.h: which Python); skipped,
// saying so, when no Python here has onnx and onnxruntime.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

#include "tessera/io.h"
#include "tessera/models.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"
#include "ort_check.h"

namespace {

using namespace tessera;
using test::python_with_ort;
namespace fs = std::filesystem;

void save_case(const std::string& dir, const std::string& prefix, const std::vector<Tensor>& inputs,
               const std::vector<Tensor>& outputs) {
  for (size_t i = 0; i < inputs.size(); ++i) save_npy(dir + "/" + prefix + ".input_" + std::to_string(i) + ".npy", inputs[i]);
  for (size_t i = 0; i < outputs.size(); ++i)
    save_npy(dir + "/" + prefix + ".output_" + std::to_string(i) + ".npy", outputs[i]);
}

void export_model(const std::string& dir, const std::string& name, nn::Module& net, Shape shape, int64_t b2,
                  int64_t opset = 17) {
  net.eval();
  const Tensor x = randn(shape);
  shape[0] = b2;
  const Tensor x2 = randn(shape);
  onnx::ExportOptions o;
  o.opset = opset;
  o.dynamic_batch = true;
  o.input_names = {"input"};
  o.output_names = {"output"};
  onnx::export_module(net, {x}, dir + "/" + name + ".onnx", o);
  save_case(dir, name, {x}, {net(x)});
  save_case(dir, name + ".b2", {x2}, {net(x2)});
}

TEST(OnnxExportOrt, ReferenceModelsPassCheckerAndMatchOnnxRuntime) {
  std::string tried;
  const std::string python = python_with_ort(&tried);
  if (python.empty()) {
    std::cerr << "\n***** WARNING: ONNX Runtime check NOT RUN: no Python with onnx and onnxruntime (tried " << tried
              << "; scripts/venv installs them, or set TESSERA_ONNX_PYTHON) *****\n\n";
    GTEST_SKIP() << "no Python with onnx and onnxruntime (tried " << tried << ")";
  }
  const std::string dir = testing::TempDir() + "tessera_export_ort_" + std::to_string(::getpid());
  fs::create_directories(dir);
  manual_seed(11);
  export_model(dir, "cnn28", *models::cnn28(), {2, 1, 28, 28}, 5);
  export_model(dir, "resnet18", *models::resnet18(), {1, 3, 224, 224}, 2);
  export_model(dir, "encoder", *models::encoder(), {2, 16, 256}, 3);
  // The same at other opsets: the lowest export writes (attribute forms), the encoder's
  // layer norm decomposed (before 17), and the newest.
  export_model(dir, "cnn28_opset11", *models::cnn28(), {2, 1, 28, 28}, 3, 11);
  export_model(dir, "encoder_opset13", *models::encoder(), {2, 16, 256}, 3, 13);
  export_model(dir, "cnn28_opset21", *models::cnn28(), {2, 1, 28, 28}, 3, 21);
  // Gelu is an operator from opset 20 (below: its erf form), tanh's approximation too.
  {
    const Tensor x = randn({4, 8}), x2 = randn({6, 8});
    auto fn = [](const std::vector<Tensor>& in) {
      return std::vector<Tensor>{add(gelu(in[0]), gelu(in[0], "tanh"))};
    };
    for (int64_t opset : {17, 20}) {
      onnx::ExportOptions o;
      o.opset = opset;
      o.dynamic_batch = true;
      const std::string name = "gelu_opset" + std::to_string(opset);
      onnx::export_function(fn, {x}, dir + "/" + name + ".onnx", o);
      save_case(dir, name, {x}, fn({x}));
      save_case(dir, name + ".b2", {x2}, fn({x2}));
    }
  }
  std::string out;
  const int status = test::run_ort_check(python, dir,
                                         "cnn28 resnet18 encoder cnn28_opset11 encoder_opset13 cnn28_opset21"
                                         " gelu_opset17 gelu_opset20",
                                         &out);
  std::cout << out;
  EXPECT_EQ(status, 0) << out;
  std::error_code ec;
  if (status == 0) fs::remove_all(dir, ec);
}

}  // namespace
