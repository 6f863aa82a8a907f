// TensorBoard's own loader reads what Tessera writes: tests/summary/tb_check.py runs
// EventAccumulator (TensorBoard from PyPI, in the build/venv that scripts/venv creates)
// over event files written
//   1. by fit with the TensorBoard callback (plus an image and a text) on a synthetic set,
//      checking every scalar value against the History;
//   2. by `tessera train --logdir` on a tiny synthetic Fashion-MNIST-shaped dataset.
// Without build/venv both skip, saying how to create it (scripts/test always does).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/data.h"
#include "tessera/nn.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/summary.h"
#include "tessera/train.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

// $TESSERA_VENV_PYTHON, else the source tree's build/venv.
std::string venv_python() {
  if (const char* p = std::getenv("TESSERA_VENV_PYTHON"); p != nullptr && *p) return p;
  return std::string(TESSERA_TEST_DIR) + "/../build/venv/bin/python";
}

#define SKIP_WITHOUT_VENV()                                                                 \
  do {                                                                                      \
    if (!fs::exists(venv_python()))                                                         \
      GTEST_SKIP() << "no " << venv_python()                                                \
                   << ": run scripts/venv to install TensorBoard for this test "            \
                      "(scripts/test does)";                                                \
  } while (0)

struct Scratch {
  std::string path;
  explicit Scratch(const std::string& name)
      : path((fs::temp_directory_path() /
              ("tessera_tbcompat_" + std::to_string(::getpid()) + "_" + name))
                 .string()) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// Runs tb_check.py on `spec` (JSON); returns its exit status and output.
int run_check(const std::string& dir, const std::string& spec, std::string& output) {
  const std::string spec_path = dir + "/spec.json", out_path = dir + "/check.txt";
  write_bytes(spec_path, spec);
  const std::string cmd = venv_python() + " " + TESSERA_TEST_DIR + "/summary/tb_check.py " +
                          spec_path + " >" + out_path + " 2>&1";
  const int rc = std::system(cmd.c_str());
  output = read_bytes(out_path);
  return rc;
}

// Four Gaussian blobs in 2-D, one class each.
data::TensorDataset blobs(int64_t n, uint64_t seed) {
  Generator gen(seed);
  Tensor y = randint(0, 4, {n}, kInt64, &gen);
  std::vector<float> centers;
  for (int64_t c : y.to_vector<int64_t>()) {
    centers.push_back(c % 2 == 0 ? -2.f : 2.f);
    centers.push_back(c / 2 == 0 ? -2.f : 2.f);
  }
  return data::TensorDataset(tensor<float>(centers, {n, 2}) + randn({n, 2}, kFloat32, &gen) * 0.5, y);
}

}  // namespace

TEST(TensorBoardCompat, EventAccumulatorReadsFitLogs) {
  SKIP_WITHOUT_VENV();
  Scratch dir("fit");
  const std::string logdir = dir.path + "/runs/blobs";
  constexpr int64_t kEpochs = 3;
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 8),
                                                std::make_shared<nn::ReLU>(),
                                                std::make_shared<nn::Linear>(8, 4));
  data::DataLoader train(blobs(256, 1), {.batch_size = 32, .shuffle = true, .seed = 1});
  data::DataLoader val(blobs(64, 2), {.batch_size = 64});
  optim::SGD opt(model->parameters(), {.lr = 0.1});
  train::FitOptions o;
  o.epochs = kEpochs;
  o.optimizer = &opt;
  o.loss = [](const Tensor& out, const Tensor& y) { return nn::functional::cross_entropy(out, y); };
  o.metrics = {std::make_shared<train::Accuracy>()};
  o.validation = &val;
  o.verbose = 0;
  auto writer = std::make_shared<summary::SummaryWriter>(logdir);
  o.callbacks = {std::make_shared<train::TensorBoard>(
      writer, train::TensorBoardOptions{.hparams = {{"lr", 0.1}, {"optimizer", std::string("sgd")}},
                                        .hparam_metrics = {"val_accuracy"},
                                        .graph_input = zeros({1, 2})})};
  const train::History h = train::fit(*model, train, o);
  // Besides the callback's: one image (uint8 HWC RGB) and one text per epoch.
  for (int64_t e = 0; e < kEpochs; ++e) {
    const Tensor pattern = remainder(arange(5 * 7 * 3) * (e + 1), 256).to(kUInt8).reshape({5, 7, 3});
    writer->add_image("pattern", pattern, e, summary::ImageLayout::HWC);
    writer->add_text("note", "epoch " + std::to_string(e), e);
  }
  writer->close();

  std::string spec = "{\"logdir\": " + json_str(logdir) + ", \"epochs\": " + std::to_string(kEpochs) +
                     ", \"exact_scalar_tags\": true, \"scalars\": {";
  bool first = true;
  for (const std::string key : {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}) {
    spec += std::string(first ? "" : ", ") + json_str(key) + ": [";
    first = false;
    const std::vector<double> vs = h.get(key);
    for (size_t i = 0; i < vs.size(); ++i)
      spec += (i ? ", " : "") + num(static_cast<double>(static_cast<float>(vs[i])));
    spec += "]";
  }
  spec += ", \"samples_per_second\": null}, \"histograms\": {";
  first = true;
  for (const auto& [name, p] : model->named_parameters()) {
    for (const char* kind : {"weights/", "gradients/"}) {
      spec += std::string(first ? "" : ", ") + json_str(kind + name) + ": " + std::to_string(p.numel());
      first = false;
    }
  }
  spec += "}, \"images\": {\"pattern\": [7, 5]}, \"texts\": {\"note\": \"epoch 0\"},"
          " \"hparams\": [\"lr\", \"optimizer\"], \"graph\": [[\"input\", \"Input\", []],"
          " [\"Sequential/0\", \"Linear\", [\"input\"]], [\"Sequential/1\", \"ReLU\", [\"Sequential/0\"]],"
          " [\"Sequential/2\", \"Linear\", [\"Sequential/1\"]], [\"output\", \"Output\", [\"Sequential/2\"]]]}";
  std::string output;
  const int rc = run_check(dir.path, spec, output);
  EXPECT_EQ(rc, 0) << output << "\nspec: " << spec;
  std::printf("[ tensorboard ] %s", output.c_str());
}

#if defined(TESSERA_CLI_PATH)
TEST(TensorBoardCompat, EventAccumulatorReadsTesseraTrainLogdir) {
  SKIP_WITHOUT_VENV();
  Scratch dir("cli");
  // A tiny Fashion-MNIST-shaped dataset (IDX, as Debian ships the real one): 48 random
  // images with random labels, for train and test alike; seconds, not minutes.
  const std::string data_dir = dir.path + "/data";
  fs::create_directories(data_dir);
  Generator gen(7);
  const Tensor images = randint(0, 256, {48, 28, 28}, kInt64, &gen).to(kUInt8);
  const Tensor labels = randint(0, 10, {48}, kInt64, &gen).to(kUInt8);
  for (const char* split : {"train", "t10k"}) {
    data::write_idx(data_dir + "/" + split + "-images-idx3-ubyte", images);
    data::write_idx(data_dir + "/" + split + "-labels-idx1-ubyte", labels);
  }
  const std::string logdir = dir.path + "/logs";
  const std::string cmd = std::string("timeout 300 ") + TESSERA_CLI_PATH +
                          " train --epochs 2 --batch-size 16 --data " + data_dir + " --out " +
                          dir.path + "/ck.safetensors --logdir " + logdir + " >" + dir.path +
                          "/train.txt 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_bytes(dir.path + "/train.txt");

  // Every scalar tag once per epoch; CNN28's 8 parameters' weight and gradient histograms
  // (numbers of values: its conv and linear shapes); the 4x4 grid of test images.
  const std::vector<std::pair<std::string, int64_t>> params = {
      {"0.weight", 32 * 1 * 3 * 3}, {"0.bias", 32},       {"2.weight", 64 * 32 * 3 * 3},
      {"2.bias", 64},               {"7.weight", 128 * 64 * 12 * 12}, {"7.bias", 128},
      {"10.weight", 10 * 128},      {"10.bias", 10}};
  std::string spec = "{\"logdir\": " + json_str(logdir) +
                     ", \"epochs\": 2, \"exact_scalar_tags\": true, \"scalars\": {\"loss\": null, "
                     "\"accuracy\": null, \"val_loss\": null, \"val_accuracy\": null, \"lr\": [0.001, "
                     "0.001], \"samples_per_second\": null}, \"histograms\": {";
  for (size_t i = 0; i < params.size(); ++i) {
    spec += (i ? ", " : "") + json_str("weights/" + params[i].first) + ": " +
            std::to_string(params[i].second) + ", " + json_str("gradients/" + params[i].first) + ": " +
            std::to_string(params[i].second);
  }
  spec += "}, \"images\": {\"test_images\": [112, 112]}, \"texts\": {\"test_predictions\": null},"
          " \"hparams\": [\"batch_size\", \"epochs\", \"lr\", \"model\", \"seed\"], \"graph\": [";
  // CNN28's layers in a chain: conv, relu, conv, relu, pool, dropout, flatten, linear,
  // relu, dropout, linear.
  const std::vector<std::string> ops = {"Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Dropout",
                                        "Flatten", "Linear", "ReLU", "Dropout", "Linear"};
  spec += "[\"input\", \"Input\", []]";
  std::string prev = "input";
  for (size_t i = 0; i < ops.size(); ++i) {
    const std::string name = "Sequential/" + std::to_string(i);
    spec += ", [" + json_str(name) + ", " + json_str(ops[i]) + ", [" + json_str(prev) + "]]";
    prev = name;
  }
  spec += ", [\"output\", \"Output\", [" + json_str(prev) + "]]]}";
  std::string output;
  const int rc = run_check(dir.path, spec, output);
  EXPECT_EQ(rc, 0) << output << "\ntessera train said:\n" << read_bytes(dir.path + "/train.txt");
  std::printf("[ tessera train --logdir ] %s", output.c_str());
}
#endif
