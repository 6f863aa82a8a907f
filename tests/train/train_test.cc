// fit / evaluate / predict, metrics, callbacks and the progress bar.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/data.h"
#include "tessera/nn.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/serialize.h"
#include "tessera/train.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::train;
namespace F = tessera::nn::functional;

namespace {

// Two linearly separable classes in 2-D with a margin: class = (x0 + 2 x1 > 0).
data::TensorDataset separable(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> xs;
  std::vector<int64_t> ys;
  while (static_cast<int64_t>(ys.size()) < n) {
    const std::vector<float> p = randn({2}, kFloat32, &gen).to_vector<float>();
    const float s = p[0] + 2 * p[1];
    if (std::abs(s) < 0.5f) continue;
    xs.insert(xs.end(), p.begin(), p.end());
    ys.push_back(s > 0 ? 1 : 0);
  }
  return data::TensorDataset(tensor<float>(xs, {n, 2}), tensor<int64_t>(ys, {n}));
}

data::DataLoaderOptions loader_options(int64_t batch_size, bool shuffle = false, uint64_t seed = 0) {
  data::DataLoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = shuffle;
  o.seed = seed;
  return o;
}

LossFn ce() {
  return [](const Tensor& out, const Tensor& y) { return F::cross_entropy(out, y); };
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("tessera_train_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

struct Toy {
  std::shared_ptr<nn::Linear> model = std::make_shared<nn::Linear>(2, 2);
  data::DataLoader train{separable(128, 1), loader_options(16, true, 3)};
  data::DataLoader val{separable(64, 2), loader_options(32)};
  optim::Adam opt{model->parameters(), {.lr = 0.1}};
  FitOptions options() {
    FitOptions o;
    o.optimizer = &opt;
    o.loss = ce();
    o.verbose = 0;
    return o;
  }
};

// Records every call, and can inject a value into the epoch logs.
class Recorder : public Callback {
 public:
  std::vector<std::string> calls;
  std::vector<double> inject;  // logs["score"] = inject[epoch] when set
  std::vector<nn::StateDict> weights;
  void on_train_begin(TrainContext&) override { calls.push_back("train_begin"); }
  void on_train_end(TrainContext&) override { calls.push_back("train_end"); }
  void on_epoch_begin(int64_t e, TrainContext&) override {
    calls.push_back("epoch_begin " + std::to_string(e));
  }
  void on_epoch_end(int64_t e, Logs& logs, TrainContext& ctx) override {
    calls.push_back("epoch_end " + std::to_string(e));
    if (!inject.empty()) logs["score"] = inject.at(static_cast<size_t>(e));
    nn::StateDict w;
    for (const auto& [k, t] : ctx.model.state_dict()) w.emplace_back(k, t.clone());
    weights.push_back(w);
  }
  void on_batch_end(int64_t b, const Logs& logs, TrainContext&) override {
    calls.push_back("batch_end " + std::to_string(b));
    EXPECT_TRUE(logs.count("loss"));
  }
};

}  // namespace

TEST(Fit, LinearModelSeparatesTheData) {
  Toy s;
  FitOptions o = s.options();
  o.epochs = 25;
  o.metrics = {std::make_shared<Accuracy>()};
  o.validation = &s.val;
  const History h = fit(*s.model, s.train, o);
  ASSERT_EQ(h.size(), 25u);
  EXPECT_EQ(h.get("val_accuracy").back(), 1.0);
  EXPECT_LT(h.get("loss").back(), h.get("loss").front());
  const Logs ev = evaluate(*s.model, s.train, ce(), {std::make_shared<Accuracy>()});
  EXPECT_EQ(ev.at("accuracy"), 1.0);
  EXPECT_TRUE(s.model->is_training());  // evaluate restored the mode

  const Tensor pred = predict(*s.model, s.val);
  EXPECT_EQ(pred.sizes().vec(), (std::vector<int64_t>{64, 2}));
  const Tensor inputs = dynamic_cast<const data::TensorDataset&>(s.val.dataset()).inputs();
  EXPECT_TRUE(allclose(predict(*s.model, inputs, 10), pred));
}

// fit's step is train_step unless FitOptions.step replaces it (graph mode's compiled
// step plugs in there): the same step written by hand gives the very same weights.
TEST(Fit, StepIsTrainStepAndCanBeReplaced) {
  manual_seed(0);
  Toy a;
  manual_seed(0);
  Toy b;
  ASSERT_TRUE(equal(a.model->weight, b.model->weight));
  FitOptions oa = a.options();
  oa.epochs = 2;
  fit(*a.model, a.train, oa);

  FitOptions ob = b.options();
  ob.epochs = 2;
  int calls = 0;
  ob.step = [&](const data::Batch& batch) {
    ++calls;
    EXPECT_TRUE(b.model->is_training());
    return train_step(*b.model, b.opt, ce(), batch);
  };
  const History h = fit(*b.model, b.train, ob);
  EXPECT_EQ(calls, 2 * 8);  // 128 examples in batches of 16
  EXPECT_TRUE(equal(a.model->weight, b.model->weight));
  EXPECT_TRUE(equal(a.model->bias, b.model->bias));
  EXPECT_EQ(h.get("loss").size(), 2u);

  ob.step = [](const data::Batch&) { return StepOutput{}; };
  EXPECT_ERROR_HAS(fit(*b.model, b.train, ob), "fit: the training step must return one loss value");
}

TEST(Fit, CallbacksFireInOrder) {
  Toy s;
  data::DataLoader small(separable(40, 4), loader_options(16));  // 3 batches
  auto rec = std::make_shared<Recorder>();
  FitOptions o = s.options();
  o.epochs = 2;
  o.callbacks = {rec};
  o.metrics = {std::make_shared<Accuracy>()};
  o.validation = &s.val;
  const History h = fit(*s.model, small, o);
  const std::vector<std::string> want = {
      "train_begin", "epoch_begin 0", "batch_end 0", "batch_end 1", "batch_end 2", "epoch_end 0",
      "epoch_begin 1", "batch_end 0", "batch_end 1", "batch_end 2", "epoch_end 1", "train_end"};
  EXPECT_EQ(rec->calls, want);
  std::vector<std::string> keys;
  for (const auto& [k, v] : h.epochs[0]) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"accuracy", "loss", "lr", "val_accuracy", "val_loss"}));
  EXPECT_ERROR_HAS(h.get("nope"), "History::get: no 'nope' in the logs (they have: accuracy, loss");
}

TEST(Fit, EarlyStoppingStopsAndRestoresBest) {
  Toy s;
  auto rec = std::make_shared<Recorder>();
  rec->inject = {1.0, 0.5, 0.6, 0.55, 0.4, 0.3, 0.2, 0.1};
  auto stop = std::make_shared<EarlyStopping>("score", 2, 0.0, Mode::Min, true);
  FitOptions o = s.options();
  o.epochs = 8;
  o.callbacks = {rec, stop};
  const History h = fit(*s.model, s.train, o);
  // Best at epoch 1; epochs 2 and 3 do not improve on it, so training stops after epoch 3.
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(stop->stopped_epoch(), 3);
  EXPECT_EQ(stop->best_epoch(), 1);
  EXPECT_EQ(stop->best(), 0.5);
  // restore_best: the model holds epoch 1's weights again.
  const nn::StateDict now = s.model->state_dict();
  ASSERT_EQ(now.size(), rec->weights[1].size());
  for (size_t i = 0; i < now.size(); ++i) EXPECT_TRUE(equal(now[i].second, rec->weights[1][i].second));
  EXPECT_FALSE(equal(now[0].second, rec->weights[3][0].second));

  // Monitoring something absent names what is there.
  FitOptions o2 = s.options();
  o2.callbacks = {std::make_shared<EarlyStopping>("val_loss")};
  EXPECT_ERROR_HAS(fit(*s.model, s.train, o2),
                   "monitored value 'val_loss' is not in the logs (they have: loss, lr); did you "
                   "pass validation data?");
}

TEST(Fit, CSVLoggerWritesOneRowPerEpoch) {
  Toy s;
  const std::string path = temp_path("log.csv");
  FitOptions o = s.options();
  o.epochs = 3;
  o.metrics = {std::make_shared<Accuracy>()};
  o.callbacks = {std::make_shared<CSVLogger>(path)};
  const History h = fit(*s.model, s.train, o);
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  fs::remove(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "epoch,accuracy,loss,lr");
  EXPECT_EQ(lines[1].substr(0, 2), "0,");
  EXPECT_EQ(lines[3].substr(0, 2), "2,");
  // Values read back exactly.
  std::istringstream row(lines[2]);
  std::string field;
  std::vector<double> v;
  while (std::getline(row, field, ',')) v.push_back(std::stod(field));
  EXPECT_EQ(v[2], h.get("loss")[1]);
  EXPECT_EQ(v[3], 0.1);
}

TEST(Fit, ModelCheckpointSavesBestOnly) {
  Toy s;
  auto rec = std::make_shared<Recorder>();
  rec->inject = {0.9, 0.95, 0.97, 0.96};
  const std::string path = temp_path("best_{epoch}.safetensors");
  auto ckpt = std::make_shared<ModelCheckpoint>(path, "score", true, Mode::Max);
  FitOptions o = s.options();
  o.epochs = 4;
  o.callbacks = {rec, ckpt};
  fit(*s.model, s.train, o);
  ASSERT_EQ(ckpt->saved().size(), 3u);  // epochs 1, 2, 3 improved; 4 did not
  const std::string last = ckpt->saved().back();
  EXPECT_EQ(last, temp_path("best_3.safetensors"));
  const SafetensorsContents c = load_safetensors(last);
  EXPECT_EQ(c.metadata.at("epoch"), "3");
  EXPECT_EQ(std::stod(c.metadata.at("score")), 0.97);
  ASSERT_EQ(c.tensors.size(), 2u);
  EXPECT_EQ(c.tensors[0].first, "weight");
  EXPECT_TRUE(equal(c.tensors[0].second, rec->weights[2][0].second));
  for (const auto& p : ckpt->saved()) fs::remove(p);
}

TEST(Fit, LRSchedulerCallback) {
  Toy s;
  auto sched = std::make_shared<optim::StepLR>(s.opt, 1, 0.5);
  FitOptions o = s.options();
  o.epochs = 3;
  o.callbacks = {std::make_shared<LRSchedulerCallback>(sched)};
  const History h = fit(*s.model, s.train, o);
  EXPECT_EQ(h.get("lr"), (std::vector<double>{0.1, 0.05, 0.025}));

  // Per batch (OneCycleLR): 8 batches per epoch, stepped 8 times.
  Toy s2;
  auto one = std::make_shared<optim::OneCycleLR>(s2.opt, 0.1, 16);
  FitOptions o2 = s2.options();
  o2.epochs = 2;
  o2.callbacks = {std::make_shared<LRSchedulerCallback>(one, true)};
  fit(*s2.model, s2.train, o2);
  EXPECT_EQ(one->last_epoch(), 16);
}

TEST(Fit, ProgressLinesWhenNotATerminal) {
  Toy s;
  std::ostringstream out;
  FitOptions o = s.options();
  o.epochs = 2;
  o.verbose = 1;
  o.out = &out;
  o.tty = 0;
  o.metrics = {std::make_shared<Accuracy>()};
  fit(*s.model, s.train, o);
  const std::string text = out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 2u) << text;
  EXPECT_EQ(lines[0].rfind("Epoch 1/2  8/8  ", 0), 0u) << lines[0];
  EXPECT_NE(lines[1].find("samples/s  loss: "), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("  accuracy: "), std::string::npos) << lines[1];
}

TEST(Progress, FormatLine) {
  const Logs logs{{"loss", 0.5}, {"accuracy", 0.75}, {"lr", 0.1}, {"val_loss", 0.625}};
  EXPECT_EQ(ProgressBar::format_line(0, 5, 10, 10, 2.0, 640, logs, false, true),
            "Epoch 1/5  10/10  2.0s  320.0 samples/s  loss: 0.5000  accuracy: 0.7500  "
            "val_loss: 0.6250");
  EXPECT_EQ(ProgressBar::format_line(1, 5, 3, 10, 3.0, 192, {{"loss", 1.25}}, true, false),
            "Epoch 2/5  3/10 [=========>....................]  ETA 0:07  64.0 samples/s  loss: 1.2500");
  // A terminal gets '\r' redraws and a final newline.
  std::ostringstream out;
  ProgressBar bar(out, true, 0, 1, 2);
  bar.update(1, 8, {{"loss", 1.0}});
  bar.update(2, 16, {{"loss", 0.5}});
  bar.finish(2, 16, {{"loss", 0.5}});
  const std::string s = out.str();
  EXPECT_EQ(s.front(), '\r');
  EXPECT_EQ(s.back(), '\n');
  EXPECT_NE(s.find("[==============================]"), std::string::npos) << s;
}

TEST(Fit, Errors) {
  Toy s;
  FitOptions o;
  o.loss = ce();
  EXPECT_ERROR_HAS(fit(*s.model, s.train, o), "fit: FitOptions.optimizer is not set");
  o.optimizer = &s.opt;
  o.loss = [](const Tensor& out, const Tensor&) { return out; };
  o.verbose = 0;
  EXPECT_ERROR_HAS(fit(*s.model, s.train, o), "train_step: the loss function must return one value, got [16, 2] f32");
}

// ---------------------------------------------------------------- metrics

TEST(Metrics, KnownValues) {
  const Tensor logits = tensor<float>({2, 1, 0, /**/ 0, 3, 1, /**/ 1, 0, 2, /**/ 0, 1, 2}, {4, 3});
  const Tensor target = tensor<int64_t>({0, 0, 2, 1});

  Accuracy acc;
  acc.update(logits, target);
  EXPECT_DOUBLE_EQ(acc.result(), 0.5);
  acc.update(logits.narrow(0, 0, 1), target.narrow(0, 0, 1));
  EXPECT_DOUBLE_EQ(acc.result(), 3.0 / 5.0);
  acc.reset();
  EXPECT_EQ(acc.result(), 0.0);
  // One-hot targets and single-logit binary outputs.
  acc.update(logits, one_hot(target, 3).to(kFloat32));
  EXPECT_DOUBLE_EQ(acc.result(), 0.5);
  Accuracy bin;
  bin.update(tensor<float>({2.0f, -1.0f, 0.5f}), tensor<float>({1.0f, 0.0f, 0.0f}));
  EXPECT_DOUBLE_EQ(bin.result(), 2.0 / 3.0);

  TopKAccuracy top2(2);
  EXPECT_EQ(top2.name(), "top2_accuracy");
  top2.update(logits, target);  // top-2 sets: {0,1} {1,2} {2,0} {2,1}
  EXPECT_DOUBLE_EQ(top2.result(), 0.75);
  TopKAccuracy top9(9);
  EXPECT_ERROR_HAS(top9.update(logits, target), "k must be in [1, 3] for output [4, 3] f32, got 9");

  MeanLoss ml([](const Tensor& o, const Tensor& t) { return F::mse_loss(o, t); });
  ml.update(tensor<float>({1, 2}, {2, 1}), tensor<float>({0, 0}, {2, 1}));  // mean 2.5, n 2
  ml.update(tensor<float>({1}, {1, 1}), tensor<float>({0}, {1, 1}));        // mean 1, n 1
  EXPECT_DOUBLE_EQ(ml.result(), 2.0);

  ConfusionMatrix cm(3);
  cm.update(logits, target);  // predictions 0, 1, 2, 2
  EXPECT_EQ(cm.count(0, 0), 1);
  EXPECT_EQ(cm.count(0, 1), 1);
  EXPECT_EQ(cm.count(2, 2), 1);
  EXPECT_EQ(cm.count(1, 2), 1);
  EXPECT_DOUBLE_EQ(cm.result(), 0.5);
  EXPECT_EQ(cm.matrix().to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 0, 0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(cm.to_string(), "1 1 0\n0 0 1\n0 0 1\n");
  EXPECT_ERROR_HAS(cm.update(logits, tensor<int64_t>({0, 5, 1, 1})), "target class 5 is outside [0, 3)");
  EXPECT_ERROR_HAS(acc.update(logits, tensor<int64_t>({0, 1})),
                   "expected target class indices of shape [N] for output [N, C], got output [4, 3] f32, target [2] i64");
}
