// Resumable training: FitOptions.initial_epoch and BackupAndRestore. A run interrupted
// (an exception in the middle of an epoch, standing for a kill) or split in two, then
// resumed with fresh objects, must end with bit-identical weights and per-epoch logs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
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

namespace {

std::string scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tessera_resume_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string p = (dir / name).string();
  fs::remove(p);
  return p;
}

// Everything random in play: dropout (the current generator), shuffling and a random
// transform (the loader's seed), an Adam state and a step scheduler.
struct Job {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<data::DataLoader> loader;
  std::unique_ptr<optim::Adam> opt;
  std::shared_ptr<optim::StepLR> sched;

  explicit Job(uint64_t seed) {
    manual_seed(seed);
    model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 16),
                                             std::make_shared<nn::ReLU>(),
                                             std::make_shared<nn::Dropout>(0.3),
                                             std::make_shared<nn::Linear>(16, 4));
    Generator gen(11);
    Tensor y = randint(0, 4, {96}, kInt64, &gen);
    Tensor x = randn({96, 2}, kFloat32, &gen) + y.to(kFloat32).unsqueeze(1);
    data::DataLoaderOptions o;
    o.batch_size = 16;
    o.shuffle = true;
    o.seed = 3;
    o.transform = [](const Tensor& t, Generator& g) { return t + randn(t.sizes(), kFloat32, &g) * 0.1; };
    loader = std::make_unique<data::DataLoader>(data::TensorDataset(x, y), o);
    opt = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 0.05});
    sched = std::make_shared<optim::StepLR>(*opt, 1, 0.7);
  }

  FitOptions options(int64_t epochs) {
    FitOptions o;
    o.epochs = epochs;
    o.optimizer = opt.get();
    o.loss = [](const Tensor& out, const Tensor& t) { return nn::functional::cross_entropy(out, t); };
    o.metrics = {std::make_shared<Accuracy>()};
    o.verbose = 0;
    o.callbacks = {std::make_shared<LRSchedulerCallback>(sched)};
    return o;
  }

  std::vector<std::vector<float>> weights() const {
    std::vector<std::vector<float>> w;
    for (const auto& [k, t] : model->state_dict()) w.push_back(t.to_vector<float>());
    return w;
  }
};

// Throws in the middle of an epoch: a kill, as far as the training state is concerned.
struct Crash : Callback {
  int64_t epoch, batch, current = -1;
  Crash(int64_t e, int64_t b) : epoch(e), batch(b) {}
  void on_epoch_begin(int64_t e, TrainContext&) override { current = e; }
  void on_batch_end(int64_t b, const Logs&, TrainContext&) override {
    if (current == epoch && b == batch) throw std::runtime_error("simulated kill");
  }
};

}  // namespace

TEST(Resume, KilledMidEpochThenResumedMatchesUninterrupted) {
  constexpr int64_t kEpochs = 4;
  Job a(5);
  const History ha = fit(*a.model, *a.loader, a.options(kEpochs));

  const std::string path = scratch("killed.backup");
  {
    Job b(5);
    FitOptions o = b.options(kEpochs);
    o.callbacks.push_back(std::make_shared<Crash>(2, 3));  // epoch 3 (0-based 2), batch 4
    o.callbacks.push_back(std::make_shared<BackupAndRestore>(path, b.sched, Metadata{{"seed", "5"}}));
    EXPECT_THROW(fit(*b.model, *b.loader, o), std::runtime_error);
  }
  // A new process, as it were: other seed, fresh objects; everything comes from the backup.
  Job c(999);
  FitOptions o = c.options(kEpochs);
  auto backup = std::make_shared<BackupAndRestore>(path, c.sched, Metadata{{"seed", "5"}});
  o.callbacks.push_back(backup);
  const History hc = fit(*c.model, *c.loader, o);
  EXPECT_EQ(backup->restored_epoch(), 2);
  ASSERT_EQ(hc.size(), 2u);
  ASSERT_EQ(backup->restored_history().size(), 2u);
  // Per-epoch logs: the restored ones and the resumed ones equal the uninterrupted run's.
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(backup->restored_history().epochs[e], ha.epochs[e]) << e;
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(hc.epochs[e], ha.epochs[e + 2]) << e + 2;
  EXPECT_EQ(c.weights(), a.weights());
  EXPECT_EQ(c.sched->last_epoch(), a.sched->last_epoch());
  std::printf("[ resume ] killed in epoch 3 of 4, resumed: losses %.6f %.6f %.6f %.6f, "
              "weights bit-identical\n",
              ha.epochs[0].at("loss"), ha.epochs[1].at("loss"), hc.epochs[0].at("loss"),
              hc.epochs[1].at("loss"));
}

TEST(Resume, OneEpochPlusOneEqualsTwo) {
  Job a(1);
  const History ha = fit(*a.model, *a.loader, a.options(2));
  const std::string path = scratch("split.backup");
  {
    Job b(1);
    FitOptions o = b.options(1);
    o.callbacks.push_back(std::make_shared<BackupAndRestore>(path, b.sched));
    fit(*b.model, *b.loader, o);
  }
  Job c(2);
  FitOptions o = c.options(2);
  o.callbacks.push_back(std::make_shared<BackupAndRestore>(path, c.sched));
  const History hc = fit(*c.model, *c.loader, o);
  ASSERT_EQ(hc.size(), 1u);
  EXPECT_EQ(hc.epochs[0], ha.epochs[1]);
  EXPECT_EQ(c.weights(), a.weights());
  // Resumed again with no epochs left: nothing runs, nothing changes.
  Job d(3);
  FitOptions od = d.options(2);
  od.callbacks.push_back(std::make_shared<BackupAndRestore>(path, d.sched));
  EXPECT_EQ(fit(*d.model, *d.loader, od).size(), 0u);
  EXPECT_EQ(d.weights(), a.weights());
}

TEST(Resume, BackupsInThePreviousLayoutStillResume) {
  // Backups written before the one StateDict type had no "tessera.checkpoint" marker, the
  // optimizer's keys sorted (a std::map's order) and buffers after all parameters. Loads
  // go by key, so such a file resumes to the same result.
  Job a(1);
  const History ha = fit(*a.model, *a.loader, a.options(2));
  const std::string path = scratch("old_layout.backup");
  {
    Job b(1);
    FitOptions o = b.options(1);
    o.callbacks.push_back(std::make_shared<BackupAndRestore>(path, b.sched));
    fit(*b.model, *b.loader, o);
  }
  SafetensorsContents now = load_safetensors(path);
  ASSERT_EQ(now.metadata.erase("tessera.checkpoint"), 1u);
  std::map<std::string, Tensor> optim_sorted;
  StateDict old, others;
  for (const auto& [name, t] : a.model->named_parameters()) old.insert("model." + name, now.tensors.at("model." + name));
  for (const auto& [k, t] : now.tensors) {
    if (k.rfind("optim.", 0) == 0) optim_sorted.emplace(k, t);
    else if (!old.contains(k)) others.insert(k, t);  // buffers, then the scheduler's
  }
  ASSERT_GT(optim_sorted.size(), 0u);
  old.update(others);
  for (const auto& [k, t] : optim_sorted) old.insert(k, t);
  save_safetensors(path, old, now.metadata);

  Job c(2);
  FitOptions o = c.options(2);
  auto backup = std::make_shared<BackupAndRestore>(path, c.sched);
  o.callbacks.push_back(backup);
  const History hc = fit(*c.model, *c.loader, o);
  EXPECT_EQ(backup->restored_epoch(), 1);
  ASSERT_EQ(hc.size(), 1u);
  EXPECT_EQ(hc.epochs[0], ha.epochs[1]);
  EXPECT_EQ(c.weights(), a.weights());
}

TEST(Resume, InitialEpochSetsTheLoadersEpoch) {
  Job a(4);
  FitOptions o = a.options(3);
  o.initial_epoch = 2;
  EXPECT_EQ(fit(*a.model, *a.loader, o).size(), 1u);
  EXPECT_EQ(a.loader->epoch(), 3);
  o.initial_epoch = 4;
  EXPECT_ERROR_HAS(fit(*a.model, *a.loader, o), "initial_epoch must be in 0..epochs (3), got 4");
}

TEST(Resume, MismatchedBackupsAreRefused) {
  const std::string path = scratch("mismatch.backup");
  {
    Job b(1);
    FitOptions o = b.options(1);
    o.callbacks.push_back(std::make_shared<BackupAndRestore>(path, b.sched, Metadata{{"batch_size", "16"}}));
    fit(*b.model, *b.loader, o);
  }
  {
    Job c(1);
    FitOptions o = c.options(2);
    o.callbacks.push_back(std::make_shared<BackupAndRestore>(path, c.sched, Metadata{{"batch_size", "32"}}));
    EXPECT_ERROR_HAS(fit(*c.model, *c.loader, o),
                     "was made with batch_size=16, this run has batch_size=32");
  }
  {
    // Another architecture: named in the error, the model left as it was.
    Job c(1);
    c.model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 4));
    c.opt = std::make_unique<optim::Adam>(c.model->parameters(), optim::AdamOptions{.lr = 0.05});
    c.sched = std::make_shared<optim::StepLR>(*c.opt, 1, 0.7);
    const auto before = c.weights();
    FitOptions o = c.options(2);
    o.callbacks.push_back(std::make_shared<BackupAndRestore>(path, c.sched));
    EXPECT_ERROR_HAS(fit(*c.model, *c.loader, o), "does not fit this run");
    EXPECT_EQ(c.weights(), before);
  }
  {
    // Without the scheduler it was saved with.
    Job c(1);
    FitOptions o = c.options(2);
    o.callbacks.push_back(std::make_shared<BackupAndRestore>(path));
    EXPECT_ERROR_HAS(fit(*c.model, *c.loader, o), "has a scheduler's state, but this run has no scheduler");
  }
  // A safetensors file that is no backup.
  const std::string plain = scratch("plain.safetensors");
  save_safetensors(plain, {{"w", ones({2})}});
  Job c(1);
  FitOptions o = c.options(1);
  o.callbacks.push_back(std::make_shared<BackupAndRestore>(plain));
  EXPECT_ERROR_HAS(fit(*c.model, *c.loader, o), "is not a Tessera training backup");
}
