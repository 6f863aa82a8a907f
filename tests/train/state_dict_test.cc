// The one state-dict type across a module, an optimizer and a scheduler: each round-trips
// through StateDict and through a checkpoint file, and a run continued from the loaded
// state is bit-identical to one that never stopped (losses, weights, optimizer state and
// lr). Bad keys and shapes give errors naming them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/nn.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/serialize.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::optim;

namespace {

std::string scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tessera_sd_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string p = (dir / name).string();
  fs::remove(p);
  return p;
}

// A model with every kind of entry: weights, an absent-free bias, BatchNorm's float
// running statistics and its int64 num_batches_tracked.
std::shared_ptr<nn::Sequential> make_model(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(
      std::make_shared<nn::Linear>(3, 8), std::make_shared<nn::BatchNorm1d>(8),
      std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 2));
}

using MakeOpt = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>, double lr)>;
using MakeSched = std::function<std::unique_ptr<LRScheduler>(Optimizer&)>;

struct TrainRun {
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LRScheduler> sched;
  TrainRun(uint64_t seed, double lr, const MakeOpt& mo, const MakeSched& ms)
      : model(make_model(seed)), opt(mo(model->parameters(), lr)), sched(ms(*opt)) {}

  // `steps` optimizer steps on a fixed batch each (a function of the step number only),
  // the scheduler stepped after each; returns the losses' exact values.
  std::vector<double> train(int first, int steps) {
    std::vector<double> losses;
    for (int s = first; s < first + steps; ++s) {
      Generator gen(100 + s);
      const Tensor x = randn({6, 3}, kFloat32, &gen);
      const Tensor y = randn({6, 2}, kFloat32, &gen);
      opt->zero_grad();
      Tensor loss = nn::functional::mse_loss((*model)(x), y);
      loss.backward();
      opt->step();
      sched->step();
      losses.push_back(loss.item<double>());
    }
    return losses;
  }
};

struct Case {
  const char* name;
  MakeOpt opt;
  MakeSched sched;
};

std::vector<Case> cases() {
  return {
      {"Adam+StepLR",
       [](std::vector<Tensor> p, double lr) { return std::make_unique<Adam>(std::move(p), AdamOptions{.lr = lr}); },
       [](Optimizer& o) { return std::make_unique<StepLR>(o, 2, 0.5); }},
      {"AdamW-amsgrad+OneCycleLR",  // the schedule also cycles beta1, a group option
       [](std::vector<Tensor> p, double lr) {
         return std::make_unique<AdamW>(std::move(p), AdamOptions{.lr = lr, .weight_decay = 0.01, .amsgrad = true});
       },
       [](Optimizer& o) { return std::make_unique<OneCycleLR>(o, 0.05, 20); }},
      {"SGD-nesterov+CosineAnnealingWarmRestarts",
       [](std::vector<Tensor> p, double lr) {
         return std::make_unique<SGD>(std::move(p), SGDOptions{.lr = lr, .momentum = 0.9, .nesterov = true});
       },
       [](Optimizer& o) { return std::make_unique<CosineAnnealingWarmRestarts>(o, 3, 2); }},
      {"RMSprop-centered+ExponentialLR",
       [](std::vector<Tensor> p, double lr) {
         return std::make_unique<RMSprop>(std::move(p), RMSpropOptions{.lr = lr, .momentum = 0.5, .centered = true});
       },
       [](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.9); }},
  };
}

}  // namespace

TEST(StateDictRoundTrip, ModuleOptimizerSchedulerResumeBitIdentical) {
  constexpr int kBefore = 5, kAfter = 6;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    // The reference: one run of kBefore + kAfter steps that never stops.
    TrainRun whole(1, 0.01, c.opt, c.sched);
    whole.train(0, kBefore);
    // The module's entries are live views of its tensors (as in PyTorch), so the
    // in-memory snapshot clones them; the optimizer's and scheduler's are copies already.
    StateDict model_sd;
    for (const auto& [k, t] : whole.model->state_dict()) model_sd.insert(k, t.clone());
    const StateDict opt_sd = whole.opt->state_dict();
    const StateDict sched_sd = whole.sched->state_dict();
    const std::string path = scratch(std::string(c.name) + ".safetensors");
    save_checkpoint(path, Checkpoint{whole.model->state_dict(), whole.opt->state_dict(),
                                     whole.sched->state_dict(), {{"step", std::to_string(kBefore)}}});
    const std::vector<double> expected = whole.train(kBefore, kAfter);
    EXPECT_TRUE(whole.opt->state_dict().scalar("state.0.step") == kBefore + kAfter &&
                opt_sd.scalar("state.0.step") == kBefore)
        << "a state_dict taken earlier does not move with the optimizer";

    // The module's keys line up with PyTorch's for the same Sequential.
    EXPECT_EQ(model_sd.keys(),
              (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                        "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias"}));
    // PyTorch's optimizer order: per-parameter state, then the groups.
    EXPECT_EQ(opt_sd.position("state.0.step"), 0);
    EXPECT_LT(opt_sd.position("state.5.step"), opt_sd.position("param_groups.0.lr"));
    EXPECT_EQ(opt_sd.at("state.0.step").dim(), 0);
    EXPECT_EQ(sched_sd.scalar("last_epoch"), kBefore);

    // A fresh run (other weights, other lr) loads the three states, from memory or from
    // the file, and continues exactly as the whole run did: same losses, same weights,
    // same optimizer state, same lr.
    const Checkpoint back = load_checkpoint(path);
    EXPECT_EQ(back.metadata.at("step"), std::to_string(kBefore));
    EXPECT_TRUE(back.model.equal(model_sd));
    EXPECT_TRUE(back.optimizer.equal(opt_sd)) << "the optimizer's state, key order included";
    EXPECT_TRUE(back.scheduler.equal(sched_sd));
    for (const Checkpoint* from : {static_cast<const Checkpoint*>(nullptr), &back}) {
      SCOPED_TRACE(from == nullptr ? "from memory" : "from the file");
      TrainRun resumed(2, 0.3, c.opt, c.sched);
      EXPECT_FALSE(resumed.model->state_dict().equal(model_sd));
      resumed.model->load_state_dict(from ? from->model : model_sd);
      resumed.opt->load_state_dict(from ? from->optimizer : opt_sd);
      resumed.sched->load_state_dict(from ? from->scheduler : sched_sd);
      EXPECT_EQ(resumed.opt->param_groups()[0].lr(), opt_sd.scalar("param_groups.0.lr"));
      const std::vector<double> got = resumed.train(kBefore, kAfter);
      ASSERT_EQ(got.size(), expected.size());
      for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "step " << kBefore + i;
      EXPECT_TRUE(resumed.model->state_dict().equal(whole.model->state_dict())) << "weights differ";
      EXPECT_TRUE(resumed.opt->state_dict().equal(whole.opt->state_dict())) << "optimizer state differs";
      EXPECT_TRUE(resumed.sched->state_dict().equal(whole.sched->state_dict()));
      EXPECT_EQ(resumed.opt->param_groups()[0].lr(), whole.opt->param_groups()[0].lr());
    }
    std::printf("[ state dict ] %s: %zu model + %zu optimizer + %zu scheduler entries; steps %d-%d "
                "resumed from memory and from the file: losses %.6f .. %.6f, lr %.6g\n",
                c.name, model_sd.size(), opt_sd.size(), sched_sd.size(), kBefore + 1, kBefore + kAfter,
                expected.front(), expected.back(), whole.opt->param_groups()[0].lr());
    fs::remove(path);
  }
}

TEST(StateDictRoundTrip, PlateauSchedulerStateRoundTrips) {
  auto model = make_model(1);
  SGD o1(model->parameters(), {.lr = 1.0});
  ReduceLROnPlateau p1(o1, {.patience = 1, .cooldown = 2});
  for (double m : {5.0, 4.0, 4.0, 4.0, 4.0}) p1.step(m);  // one cut, then cooling down
  const StateDict sd = p1.state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"best", "num_bad_epochs", "cooldown_counter", "last_epoch"}));
  SGD o2(make_model(2)->parameters(), {.lr = 1.0});
  ReduceLROnPlateau p2(o2, {.patience = 1, .cooldown = 2});
  p2.load_state_dict(sd);
  o2.load_state_dict(o1.state_dict());  // the lowered lr travels with the optimizer
  for (double m : {4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0}) {
    p1.step(m);
    p2.step(m);
    EXPECT_EQ(p1.get_last_lr(), p2.get_last_lr());
    EXPECT_EQ(p1.num_bad_epochs(), p2.num_bad_epochs());
    EXPECT_EQ(p1.best(), p2.best());
  }
  EXPECT_LT(p2.get_last_lr()[0], 0.1);  // the schedule did cut more than once
  StateDict bad = sd;
  bad.insert("factor", full({}, 0.5, kFloat64));
  EXPECT_ERROR_HAS(p2.load_state_dict(bad), "ReduceLROnPlateau.load_state_dict: unexpected key 'factor'");
  StateDict missing{{"best", sd.at("best")}};
  EXPECT_ERROR_HAS(p2.load_state_dict(missing), "missing key 'num_bad_epochs'");
}

TEST(StateDictRoundTrip, BadKeysAndShapesAreNamed) {
  // Module: every problem in one message, keys and both shapes named; nothing written.
  auto model = make_model(1);
  StateDict sd = model->state_dict();
  StateDict bad;
  for (const auto& [k, t] : sd) {
    if (k == "1.running_var") continue;
    bad.insert(k, k == "3.weight" ? zeros({2, 9}) : t.clone());
  }
  bad.insert("4.weight", zeros({1}));
  const Tensor before = model->parameter("3.weight").clone();
  auto other = make_model(2);
  EXPECT_EQ(error_of([&] { other->load_state_dict(bad); }),
            "load_state_dict (Sequential): missing keys: 1.running_var; unexpected keys: 4.weight; "
            "3.weight: expected [2, 8] got [2, 9]");
  EXPECT_FALSE(equal(other->parameter("0.weight"), model->parameter("0.weight")));

  // Optimizer: a wrong buffer shape names the key and both shapes; stray keys are listed.
  Adam adam(model->parameters(), {.lr = 0.1});
  Generator gen(3);
  (*model)(randn({4, 3}, kFloat32, &gen)).sum().backward();
  adam.step();
  StateDict osd = adam.state_dict();
  Adam fresh(make_model(2)->parameters());
  StateDict wrong = osd;
  wrong.set("state.2.exp_avg_sq", zeros({3}));
  EXPECT_ERROR_HAS(fresh.load_state_dict(wrong),
                   "Adam.load_state_dict: 'state.2.exp_avg_sq' is [3] f32, its parameter is [8] f32");
  wrong = osd;
  wrong.insert("state.0.momentum_buffer", zeros({8, 3}));
  wrong.insert("param_groups.0.nesterov", zeros({}));
  EXPECT_ERROR_HAS(fresh.load_state_dict(wrong),
                   "unexpected keys 'state.0.momentum_buffer', 'param_groups.0.nesterov'");
  wrong = osd;
  wrong.set("param_groups.0.lr", zeros({2}));
  EXPECT_ERROR_HAS(fresh.load_state_dict(wrong), "'param_groups.0.lr' should hold one value, got [2] f32");
  EXPECT_EQ(fresh.state_of(fresh.param_groups()[0].params[0])->steps(), 0.0) << "a failed load changes nothing";

  // Scheduler: another kind's state is refused by its keys; a base_lrs of the wrong size too.
  SGD sgd(make_model(1)->parameters(), {.lr = 0.1});
  StepLR step(sgd, 2);
  SGD sgd2(make_model(1)->parameters(), {.lr = 0.1});
  CosineAnnealingWarmRestarts warm(sgd2, 3);
  EXPECT_ERROR_HAS(step.load_state_dict(warm.state_dict()),
                   "LRScheduler.load_state_dict: unexpected keys 'T_i', 'T_cur'");
  EXPECT_ERROR_HAS(warm.load_state_dict(step.state_dict()), "missing key 'T_i'");
  StateDict two = step.state_dict();
  two.set("base_lrs", zeros({2}, kFloat64));
  EXPECT_ERROR_HAS(step.load_state_dict(two), "'base_lrs' is [2] f64, expected [1]");
}

TEST(StateDictRoundTrip, CheckpointsInThePreviousKeyOrderStillLoad) {
  // Before the one type, an optimizer's state_dict was a std::map: its keys went into a
  // checkpoint sorted ("param_groups.*" before "state.*"). Keys, not order, are what a
  // load reads, so such a file loads as before.
  auto model = make_model(1);
  Adam adam(model->parameters(), {.lr = 0.02});
  Generator gen(4);
  (*model)(randn({4, 3}, kFloat32, &gen)).sum().backward();
  adam.step();
  std::map<std::string, Tensor> sorted;
  for (const auto& [k, t] : adam.state_dict()) sorted.emplace(k, t);
  StateDict file = model->state_dict().with_prefix("model.");
  for (const auto& [k, t] : sorted) file.insert("optim." + k, t);
  const std::string path = scratch("old_order.safetensors");
  save_safetensors(path, file, {{"tessera.checkpoint", "1"}});
  const Checkpoint c = load_checkpoint(path);
  EXPECT_EQ(c.optimizer.entry(0).first, "param_groups.0.amsgrad");
  EXPECT_TRUE(c.scheduler.empty());
  Adam fresh(make_model(2)->parameters());
  fresh.load_state_dict(c.optimizer);
  EXPECT_TRUE(fresh.state_dict().equal(adam.state_dict()));
  fs::remove(path);
}
