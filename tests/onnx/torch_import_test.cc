// PyTorch's ONNX exports imported by Tessera (issue 10, acceptance 2): a CNN, ResNet-18 (from
// torchvision), a transformer encoder layer and a bidirectional LSTM, exported by
// tests/onnx/torch_export_ref.py with dynamic batch; each must match PyTorch's outputs,
// eager and compiled, at two batch sizes, and its input gradient. Skipped, saying so,
// without Debian's python3-torch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

#include "tessera/autograd.h"
#include "tessera/io.h"
#include "tessera/nn/functional.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "ort_check.h"

namespace {

using namespace tessera;
namespace fs = std::filesystem;
const char* const kPython = "/usr/bin/python3";

struct Exports {
  std::string skip_reason, setup_error, dir;
};

const Exports& exports() {
  static const Exports e = [] {
    Exports e;
    if (!fs::exists(kPython) ||
        std::system((std::string(kPython) + " -c 'import torch, torchvision, numpy' >/dev/null 2>&1").c_str()) != 0) {
      e.skip_reason = std::string(kPython) + " with torch, torchvision and numpy is missing (scripts/deps)";
      std::cerr << "\n***** WARNING: PyTorch ONNX exports NOT CHECKED: " << e.skip_reason << " *****\n\n";
      return e;
    }
    e.dir = std::string(TESSERA_TEST_BINARY_DIR) + "/torch_onnx_exports/" + std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(e.dir, ec);
    const std::string cmd = std::string(kPython) + " " + TESSERA_TEST_DIR + "/onnx/torch_export_ref.py " + e.dir +
                            " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) e.setup_error = "export script failed: " + cmd;
    return e;
  }();
  static const struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty() && !::testing::UnitTest::GetInstance()->Failed()) fs::remove_all(dir, ec);
    }
  } cleanup{e.dir};
  return e;
}

// max |a - b| / max(1, max |b|): relative to the output's scale.
double rel_error(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double err = 0, scale = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    err = std::max(err, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(y[i]));
  }
  return err / scale;
}

void check_model(const std::string& name) {
  const Exports& e = exports();
  if (!e.skip_reason.empty()) GTEST_SKIP() << e.skip_reason;
  ASSERT_TRUE(e.setup_error.empty()) << e.setup_error;
  const fs::path d = fs::path(e.dir) / name;
  onnx::Model m = onnx::import_model((d / "model.onnx").string());
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_EQ(m.inputs()[0].dims[0], -1) << "the batch dim should be symbolic";
  CompiledFunction compiled = m.compile();
  for (int k = 0; k < 2; ++k) {
    const Tensor x = load_npy((d / ("case" + std::to_string(k) + "_in0.npy")).string());
    const Tensor want = load_npy((d / ("case" + std::to_string(k) + "_out.npy")).string());
    const Tensor eager = m.run({x})[0];
    ASSERT_EQ(std::vector<int64_t>(eager.sizes().begin(), eager.sizes().end()),
              std::vector<int64_t>(want.sizes().begin(), want.sizes().end()));
    const Tensor graph = compiled(std::vector<Tensor>{x}).at(0);
    const double e1 = rel_error(eager, want), e2 = rel_error(graph, want);
    std::printf("%s batch %ld: eager %.2e, compiled %.2e relative to PyTorch\n", name.c_str(),
                static_cast<long>(x.size(0)), e1, e2);
    EXPECT_LT(e1, 1e-4) << name << " eager, batch " << x.size(0);
    EXPECT_LT(e2, 1e-4) << name << " compiled, batch " << x.size(0);
  }
  EXPECT_EQ(compiled.stats().traces, 2);  // one graph per batch size
  // Differentiates like the original: d sum(out * r) / d input.
  Tensor x = load_npy((d / "case0_in0.npy").string());
  x.requires_grad_(true);
  sum(mul(m.run({x})[0], load_npy((d / "grad_r.npy").string()))).backward();
  const double eg = rel_error(x.grad(), load_npy((d / "grad_x.npy").string()));
  std::printf("%s input gradient: %.2e relative to PyTorch\n", name.c_str(), eg);
  EXPECT_LT(eg, 1e-4) << name << " input gradient";
}

TEST(OnnxTorchExports, Cnn) { check_model("cnn"); }

TEST(OnnxTorchExports, ImportedCnnFineTunes) {
  // Acceptance 4 of issue 10, in small: an imported CNN's initializers are parameters
  // (batch norm's running statistics aside); 20 SGD steps on one random batch lower the
  // loss (the model ends in log_softmax, so the loss is nll_loss).
  const Exports& e = exports();
  if (!e.skip_reason.empty()) GTEST_SKIP() << e.skip_reason;
  ASSERT_TRUE(e.setup_error.empty()) << e.setup_error;
  onnx::Model m = onnx::import_model((fs::path(e.dir) / "cnn" / "model.onnx").string(), {.trainable = true});
  std::vector<Tensor> params;
  for (const auto& [name, t] : m.parameters())
    if (t.is_floating_point() && name.find("running_") == std::string::npos) {  // not batch norm's statistics
      Tensor p = t;
      p.requires_grad_(true);
      params.push_back(p);
    }
  ASSERT_EQ(params.size(), 6u);  // 2 convs (the export folds batch norm into them), linear
  optim::SGD opt(params, {.lr = 0.05});
  Generator gen(7);
  const Tensor x = randn({4, 1, 28, 28}, {}, &gen);
  const Tensor labels = tensor<int64_t>({1, 3, 5, 7});
  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    opt.zero_grad();
    Tensor loss = nn::functional::nll_loss(m.run({x})[0], labels);
    loss.backward();
    opt.step();
    last = loss.item<double>();
    if (step == 0) first = last;
  }
  std::printf("imported CNN fine-tuning: loss %.4f -> %.4f over 20 steps\n", first, last);
  EXPECT_LT(last, first * 0.5);
}
TEST(OnnxTorchExports, ResNet18) { check_model("resnet18"); }

TEST(OnnxTorchExports, ImportedResNet18FineTunesAndReexportsToOnnxRuntime) {
  // Acceptance 4 of issue 10: torchvision's ResNet-18, exported by PyTorch, imported with
  // its initializers as parameters, fine-tuned for 20 steps on one random batch (the loss
  // must fall), then exported by Tessera: ONNX Runtime must run the new weights, giving
  // Tessera's fine-tuned outputs, not the original model's. The export folded batch norm
  // into the convolutions, so nothing normalizes the activations: Adam at a small rate
  // (SGD with momentum 0.9 at 0.01 diverges here, as it does in PyTorch on the same file).
  const Exports& e = exports();
  if (!e.skip_reason.empty()) GTEST_SKIP() << e.skip_reason;
  ASSERT_TRUE(e.setup_error.empty()) << e.setup_error;
  onnx::Model m = onnx::import_model((fs::path(e.dir) / "resnet18" / "model.onnx").string(), {.trainable = true});
  std::vector<Tensor> params;
  for (const auto& [name, t] : m.parameters())
    if (t.is_floating_point()) {
      Tensor p = t;
      p.requires_grad_(true);
      params.push_back(p);
    }
  // 20 convolutions (3 of them the downsampling shortcuts) and fc, weight and bias each: the
  // export folds batch norm into the convolutions.
  ASSERT_EQ(params.size(), 42u);
  Generator gen(3);
  const Tensor x = randn({4, 3, 64, 64}, {}, &gen);  // the export's input size
  const Tensor labels = tensor<int64_t>({3, 8, 1, 5});
  const Tensor before = m.run({x})[0].detach().clone();
  optim::Adam opt(params, {.lr = 1e-4});
  std::vector<double> losses;
  for (int step = 0; step < 20; ++step) {
    opt.zero_grad();
    Tensor loss = nn::functional::cross_entropy(m.run({x})[0], labels);
    loss.backward();
    opt.step();
    losses.push_back(loss.item<double>());
  }
  std::printf("imported ResNet-18 fine-tuning (Adam 1e-4, batch 4): loss %.4f -> %.4f over 20 steps\n",
              losses.front(), losses.back());
  EXPECT_LT(losses.back(), losses.front() * 0.5);

  std::string tried;
  const std::string python = test::python_with_ort(&tried);
  if (python.empty()) GTEST_SKIP() << "re-export not checked: no Python with onnx and onnxruntime (tried " << tried << ")";
  NoGradGuard no_grad;
  const std::string dir = e.dir + "/resnet18_tuned";
  fs::create_directories(dir);
  onnx::ExportOptions o;
  o.dynamic_batch = true;
  o.input_names = {"input"};
  o.output_names = {"output"};
  o.tensor_names = m.parameters();  // the initializers keep their names from the original file
  const auto run = [&m](const std::vector<Tensor>& in) { return m.run(in); };
  onnx::export_function(run, {x}, dir + "/tuned.onnx", o);
  const Tensor after = m.run({x})[0];
  const double moved = rel_error(after, before);
  std::printf("fine-tuned outputs moved by %.2e relative to the original model's\n", moved);
  EXPECT_GT(moved, 1e-2) << "the fine-tuning should have changed the outputs";
  save_npy(dir + "/tuned.input_0.npy", x);
  save_npy(dir + "/tuned.output_0.npy", after);
  std::string out;
  const int status = test::run_ort_check(python, dir, "tuned", &out);
  std::cout << out;
  EXPECT_EQ(status, 0) << out;
}
TEST(OnnxTorchExports, TransformerEncoderLayer) { check_model("encoder"); }
TEST(OnnxTorchExports, BidirectionalLstm) { check_model("lstm"); }

}  // namespace
