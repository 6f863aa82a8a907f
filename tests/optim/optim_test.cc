// Optimizers, clipping and schedulers against PyTorch (computed at test time by Debian's
// /usr/bin/python3 with python3-torch; the comparisons skip when it is missing), plus
// state_dict round trips and error messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/autograd.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/parallel.h"
#include "tessera/serialize.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::optim;

namespace {

bool have_torch() {
  static const bool ok = fs::exists("/usr/bin/python3") &&
                         std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
  return ok;
}

// Runs a Python program (torch imported as `torch`) and returns every number it prints,
// whitespace separated.
std::vector<double> run_python(const std::string& body) {
  const fs::path script = fs::temp_directory_path() /
                          ("tessera_optim_" + std::to_string(::getpid()) + "_" +
                           std::to_string(std::hash<std::string>{}(body)) + ".py");
  {
    std::ofstream f(script);
    f << "import math\nimport torch\ntorch.set_num_threads(1)\n" << body << "\n";
  }
  std::vector<double> out;
  FILE* p = ::popen(("/usr/bin/python3 " + script.string()).c_str(), "r");
  EXPECT_NE(p, nullptr);
  if (p == nullptr) return out;
  double v;
  while (std::fscanf(p, "%lf", &v) == 1) out.push_back(v);
  EXPECT_EQ(::pclose(p), 0) << "python failed:\n" << body;
  fs::remove(script);
  return out;
}

constexpr int kSteps = 12;
const std::vector<double> kInit = {0.5, -1.25, 2.0, 0.75, -0.3, 1.1};
const std::vector<double> kA = {1.0, 0.5, -2.0, 1.5, 3.0, -0.7};
const std::vector<double> kB = {0.2, -0.4, 1.0, 0.0, 0.5, 2.0};

// The shared toy problem: loss = sum((w * a - b)^2) + 0.1 * sum(w^3) over a [2, 3] weight
// and a [3] bias (bias' loss: sum((bias - 1)^2)).
std::string python_problem(const std::string& dtype, const std::string& make_opt) {
  std::ostringstream s;
  s << "dt = torch." << dtype << "\n"
    << "w = torch.tensor([" << kInit[0];
  for (size_t i = 1; i < kInit.size(); ++i) s << ", " << kInit[i];
  s << "], dtype=dt).reshape(2, 3).requires_grad_()\n"
    << "bias = torch.tensor([0.1, -0.2, 0.3], dtype=dt).requires_grad_()\n"
    << "a = torch.tensor([" << kA[0];
  for (size_t i = 1; i < kA.size(); ++i) s << ", " << kA[i];
  s << "], dtype=dt).reshape(2, 3)\nb = torch.tensor([" << kB[0];
  for (size_t i = 1; i < kB.size(); ++i) s << ", " << kB[i];
  s << "], dtype=dt).reshape(2, 3)\n"
    << "opt = " << make_opt << "\n"
    << "for _ in range(" << kSteps << "):\n"
    << "    opt.zero_grad()\n"
    << "    loss = ((w * a - b) ** 2).sum() + 0.1 * (w ** 3).sum() + ((bias - 1) ** 2).sum()\n"
    << "    loss.backward()\n"
    << "    opt.step()\n"
    << "    print(' '.join(repr(float(x)) for x in torch.cat([w.detach().reshape(-1), bias.detach()])))\n";
  return s.str();
}

using MakeOpt = std::function<std::unique_ptr<Optimizer>(Tensor w, Tensor bias)>;

std::vector<double> tessera_problem(DType dt, const MakeOpt& make) {
  Tensor w = tensor<double>(kInit, {2, 3}).to(dt).clone().requires_grad_();
  Tensor bias = tensor<double>({0.1, -0.2, 0.3}).to(dt).clone().requires_grad_();
  const Tensor a = tensor<double>(kA, {2, 3}).to(dt);
  const Tensor b = tensor<double>(kB, {2, 3}).to(dt);
  auto opt = make(w, bias);
  std::vector<double> out;
  for (int s = 0; s < kSteps; ++s) {
    opt->zero_grad();
    Tensor loss = sum(square(w * a - b)) + sum(w * w * w) * 0.1 + sum(square(bias - 1.0));
    loss.backward();
    opt->step();
    for (double v : w.to_vector<double>()) out.push_back(v);
    for (double v : bias.to_vector<double>()) out.push_back(v);
  }
  return out;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i]));
    if (err > worst) worst = err, at = i;
  }
  EXPECT_LE(worst, tol) << what << ": worst relative error " << worst << " at value " << at
                        << " (step " << at / 9 << "): got " << got[at] << ", PyTorch "
                        << want[at];
}

struct OptCase {
  const char* name;
  std::string torch_ctor;  // uses w and bias
  MakeOpt make;
};

std::vector<OptCase> optimizer_cases() {
  std::vector<OptCase> c;
  c.push_back({"sgd", "torch.optim.SGD([w, bias], lr=0.05)", [](Tensor w, Tensor b) {
                 return std::make_unique<SGD>(std::vector<Tensor>{w, b}, SGDOptions{.lr = 0.05});
               }});
  c.push_back({"sgd_momentum",
               "torch.optim.SGD([w, bias], lr=0.02, momentum=0.9, dampening=0.1, weight_decay=0.01)",
               [](Tensor w, Tensor b) {
                 return std::make_unique<SGD>(
                     std::vector<Tensor>{w, b},
                     SGDOptions{.lr = 0.02, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
               }});
  c.push_back({"sgd_nesterov",
               "torch.optim.SGD([w, bias], lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05)",
               [](Tensor w, Tensor b) {
                 return std::make_unique<SGD>(
                     std::vector<Tensor>{w, b},
                     SGDOptions{.lr = 0.02, .momentum = 0.8, .weight_decay = 0.05, .nesterov = true});
               }});
  c.push_back({"sgd_groups",
               "torch.optim.SGD([{'params': [w]}, {'params': [bias], 'lr': 0.1, 'momentum': 0.5}],"
               " lr=0.03, momentum=0.9)",
               [](Tensor w, Tensor b) {
                 return std::make_unique<SGD>(
                     std::vector<ParamGroup>{{{w}}, {{b}, {{"lr", 0.1}, {"momentum", 0.5}}}},
                     SGDOptions{.lr = 0.03, .momentum = 0.9});
               }});
  c.push_back({"adam", "torch.optim.Adam([w, bias], lr=0.1)", [](Tensor w, Tensor b) {
                 return std::make_unique<Adam>(std::vector<Tensor>{w, b}, AdamOptions{.lr = 0.1});
               }});
  c.push_back({"adam_l2_amsgrad",
               "torch.optim.Adam([w, bias], lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1,"
               " amsgrad=True)",
               [](Tensor w, Tensor b) {
                 return std::make_unique<Adam>(
                     std::vector<Tensor>{w, b},
                     AdamOptions{.lr = 0.05, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6,
                                 .weight_decay = 0.1, .amsgrad = true});
               }});
  c.push_back({"adamw", "torch.optim.AdamW([w, bias], lr=0.1, weight_decay=0.2)",
               [](Tensor w, Tensor b) {
                 return std::make_unique<AdamW>(std::vector<Tensor>{w, b},
                                                AdamOptions{.lr = 0.1, .weight_decay = 0.2});
               }});
  c.push_back({"rmsprop", "torch.optim.RMSprop([w, bias], lr=0.01)", [](Tensor w, Tensor b) {
                 return std::make_unique<RMSprop>(std::vector<Tensor>{w, b},
                                                  RMSpropOptions{.lr = 0.01});
               }});
  c.push_back({"rmsprop_centered_momentum",
               "torch.optim.RMSprop([w, bias], lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1,"
               " momentum=0.5, centered=True)",
               [](Tensor w, Tensor b) {
                 return std::make_unique<RMSprop>(
                     std::vector<Tensor>{w, b},
                     RMSpropOptions{.lr = 0.01, .alpha = 0.9, .eps = 1e-6, .weight_decay = 0.1,
                                    .momentum = 0.5, .centered = true});
               }});
  c.push_back({"adagrad",
               "torch.optim.Adagrad([w, bias], lr=0.1, lr_decay=0.01, weight_decay=0.1,"
               " initial_accumulator_value=0.1)",
               [](Tensor w, Tensor b) {
                 return std::make_unique<Adagrad>(
                     std::vector<Tensor>{w, b},
                     AdagradOptions{.lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.1,
                                    .initial_accumulator_value = 0.1});
               }});
  c.push_back({"adadelta", "torch.optim.Adadelta([w, bias])", [](Tensor w, Tensor b) {
                 return std::make_unique<Adadelta>(std::vector<Tensor>{w, b});
               }});
  c.push_back({"adadelta_options",
               "torch.optim.Adadelta([{'params': [w]}, {'params': [bias], 'rho': 0.5}], lr=0.5,"
               " rho=0.95, eps=1e-4, weight_decay=0.1)",
               [](Tensor w, Tensor b) {
                 return std::make_unique<Adadelta>(
                     std::vector<ParamGroup>{{{w}}, {{b}, {{"rho", 0.5}}}},
                     AdadeltaOptions{.lr = 0.5, .rho = 0.95, .eps = 1e-4, .weight_decay = 0.1});
               }});
  return c;
}

}  // namespace

// ---------------------------------------------------------------- trajectories vs PyTorch

TEST(Optim, TrajectoriesMatchPyTorch) {
  if (!have_torch()) GTEST_SKIP() << "/usr/bin/python3 with torch not available";
  for (const auto& c : optimizer_cases()) {
    // float64: the same operations in the same order agree to rounding.
    expect_close(tessera_problem(kFloat64, c.make),
                 run_python(python_problem("float64", c.torch_ctor)), 1e-12,
                 std::string(c.name) + " f64");
    // float32 (the fused fast path): within 1e-6 after 12 steps.
    expect_close(tessera_problem(kFloat32, c.make),
                 run_python(python_problem("float32", c.torch_ctor)), 1e-6,
                 std::string(c.name) + " f32");
  }
}

TEST(Optim, LargeParameterUsesAllChunks) {
  // Larger than the parallel grain: every chunk must be updated exactly as a small one.
  const int64_t n = 200003;
  Tensor w = randn({n}, kFloat32).requires_grad_();
  Tensor w_small = w.detach().clone().requires_grad_();
  Tensor g = randn({n}, kFloat32);
  w.set_grad(g.clone());
  Adam big({w}, {.lr = 0.01});
  big.step();
  // The reference: the same update on 1-element pieces (never parallel).
  std::vector<Tensor> pieces;
  for (int64_t i = 0; i < n; i += 50000) {
    Tensor p = w_small.detach().narrow(0, i, std::min<int64_t>(50000, n - i)).clone().requires_grad_();
    p.set_grad(g.narrow(0, i, p.numel()).clone());
    pieces.push_back(p);
  }
  Adam small(pieces, {.lr = 0.01});
  small.step();
  EXPECT_TRUE(equal(w.detach(), cat(pieces, 0).detach()));
}

// ---------------------------------------------------------------- behaviour and errors

TEST(Optim, ZeroGradAndSkipsParamsWithoutGrad) {
  Tensor a = ones({3}).requires_grad_();
  Tensor b = ones({3}).requires_grad_();
  SGD opt({a, b}, {.lr = 0.5});
  sum(a * 2.0).backward();
  opt.step();  // b has no gradient: untouched
  EXPECT_EQ(a.to_vector<float>(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(b.to_vector<float>(), std::vector<float>(3, 1.0f));
  opt.zero_grad(false);
  ASSERT_TRUE(a.grad().defined());
  EXPECT_EQ(a.grad().to_vector<float>(), std::vector<float>(3, 0.0f));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optim, ConstructionErrors) {
  Tensor a = ones({2}).requires_grad_();
  EXPECT_ERROR_HAS(SGD({a}, {.lr = -1}), "lr must be >= 0, got -1");
  EXPECT_ERROR_HAS(SGD({a}, {.lr = 0.1, .nesterov = true}), "nesterov needs momentum > 0");
  EXPECT_ERROR_HAS(Adam({a}, {.beta1 = 1.0}), "betas must be in [0, 1), got (1, 0.999)");
  EXPECT_ERROR_HAS(Adadelta({a}, {.rho = 1.5}), "Adadelta: rho must be in [0, 1], got 1.5");
  EXPECT_ERROR_HAS(Adadelta({a}, {.eps = -1}), "Adadelta: eps must be >= 0, got -1");
  EXPECT_ERROR_HAS(Adadelta({a}, {.weight_decay = -0.5}), "Adadelta: weight_decay must be >= 0, got -0.5");
  EXPECT_ERROR_HAS(SGD({a, a}), "appears twice in one param group");
  EXPECT_ERROR_HAS(SGD(std::vector<ParamGroup>{{{a}}, {{a}}}), "appears in more than one param group");
  EXPECT_ERROR_HAS(SGD(std::vector<ParamGroup>{{{a}, {{"betas", 0.9}}}}),
                   "unknown option 'betas'");
  EXPECT_ERROR_HAS(SGD({ones({2}, kInt64)}), "must be f32 or f64, got [2] i64");
  Tensor leaf = ones({2}).requires_grad_();
  EXPECT_ERROR_HAS(SGD({leaf * 2.0}), "can't optimize a non-leaf tensor");
  EXPECT_ERROR_HAS(ParamGroup({a}, {{"lr", 1}}).get("momentum"), "no option 'momentum' (has: lr)");
}

// ---------------------------------------------------------------- state_dict

namespace {
std::vector<Tensor> fresh_params() {
  Generator gen(7);
  return {randn({4, 3}, kFloat32, &gen).requires_grad_(), randn({3}, kFloat32, &gen).requires_grad_()};
}
void train_steps(Optimizer& opt, const std::vector<Tensor>& params, int steps) {
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    sum(square(params[0] - 1.0)).backward();
    Tensor loss = sum(params[1] * params[1] * params[1]);
    loss.backward();
    opt.step();
  }
}
}  // namespace

TEST(Optim, StateDictRoundTripThroughSafetensors) {
  auto p1 = fresh_params();
  Adam a1(std::vector<ParamGroup>{{{p1[0]}}, {{p1[1]}, {{"lr", 0.05}}}},
          {.lr = 0.01, .amsgrad = true});
  train_steps(a1, p1, 3);
  const StateDict sd = a1.state_dict();
  EXPECT_EQ(read_as_double(sd.at("state.0.step"), 0), 3.0);
  EXPECT_EQ(read_as_double(sd.at("param_groups.1.lr"), 0), 0.05);
  EXPECT_TRUE(sd.count("state.1.max_exp_avg_sq"));

  // Through a file, as a checkpoint would carry it.
  const std::string path = (fs::temp_directory_path() /
                            ("tessera_optim_sd_" + std::to_string(::getpid()) + ".safetensors")).string();
  save_safetensors(path, NamedTensors(sd.begin(), sd.end()));
  const SafetensorsContents loaded = load_safetensors(path);
  fs::remove(path);
  StateDict sd2(loaded.tensors.begin(), loaded.tensors.end());

  std::vector<Tensor> p2;
  for (auto& p : p1) p2.push_back(p.detach().clone().requires_grad_());
  Adam a2(std::vector<ParamGroup>{{{p2[0]}}, {{p2[1]}}}, {.lr = 0.3});
  a2.load_state_dict(sd2);
  EXPECT_EQ(a2.param_groups()[1].lr(), 0.05);
  EXPECT_EQ(a2.param_groups()[0].get("amsgrad"), 1.0);
  train_steps(a1, p1, 4);
  train_steps(a2, p2, 4);
  EXPECT_TRUE(equal(p1[0].detach(), p2[0].detach()));
  EXPECT_TRUE(equal(p1[1].detach(), p2[1].detach()));
}

TEST(Optim, SGDAndAdagradStateRoundTrip) {
  auto p1 = fresh_params();
  SGD s1(p1, {.lr = 0.01, .momentum = 0.9});
  train_steps(s1, p1, 2);
  std::vector<Tensor> p2;
  for (auto& p : p1) p2.push_back(p.detach().clone().requires_grad_());
  SGD s2(p2, {.lr = 0.01, .momentum = 0.9});
  s2.load_state_dict(s1.state_dict());
  train_steps(s1, p1, 3);
  train_steps(s2, p2, 3);
  EXPECT_TRUE(equal(p1[0].detach(), p2[0].detach()));

  // Adagrad's accumulator exists before the first step; a never-stepped state loads too.
  auto q = fresh_params();
  Adagrad g1(q, {.initial_accumulator_value = 0.5});
  Adagrad g2(fresh_params(), {});
  g2.load_state_dict(g1.state_dict());
  EXPECT_EQ(g2.param_groups()[0].get("initial_accumulator_value"), 0.5);
}

TEST(Optim, AdadeltaStateRoundTrip) {
  auto p1 = fresh_params();
  Adadelta a1(p1, {.lr = 0.5, .rho = 0.8});
  train_steps(a1, p1, 2);
  const StateDict sd = a1.state_dict();
  EXPECT_EQ(read_as_double(sd.at("state.1.step"), 0), 2.0);
  EXPECT_EQ(read_as_double(sd.at("param_groups.0.rho"), 0), 0.8);
  ASSERT_TRUE(sd.count("state.0.square_avg") && sd.count("state.0.acc_delta"));
  // Both running averages have moved off zero after two steps.
  EXPECT_GT(read_as_double(sum(sd.at("state.0.acc_delta")), 0), 0.0);
  std::vector<Tensor> p2;
  for (auto& p : p1) p2.push_back(p.detach().clone().requires_grad_());
  Adadelta a2(p2);  // lr 1, rho 0.9: the state brings 0.5 and 0.8
  a2.load_state_dict(sd);
  EXPECT_EQ(a2.param_groups()[0].get("rho"), 0.8);
  train_steps(a1, p1, 3);
  train_steps(a2, p2, 3);
  EXPECT_TRUE(equal(p1[0].detach(), p2[0].detach()));
  EXPECT_TRUE(equal(p1[1].detach(), p2[1].detach()));
  // Another optimizer's state is refused, naming the first key it lacks.
  Adam adam(fresh_params());
  EXPECT_ERROR_HAS(adam.load_state_dict(sd), "Adam.load_state_dict: missing key 'param_groups.0.amsgrad'");
}

TEST(Optim, LoadStateDictErrors) {
  auto p = fresh_params();
  Adam adam(p);
  train_steps(adam, p, 1);
  const StateDict sd = adam.state_dict();

  SGD sgd(fresh_params(), {.momentum = 0.9});
  EXPECT_ERROR_HAS(sgd.load_state_dict(sd), "SGD.load_state_dict: missing key 'param_groups.0.dampening'");

  EXPECT_ERROR_HAS(Adam(std::vector<Tensor>{fresh_params()[0]}).load_state_dict(sd),
                   "group 0 has 2 parameters in the state, 1 in this optimizer");

  Adam two_groups(std::vector<ParamGroup>{{{fresh_params()[0]}}, {{fresh_params()[1]}}});
  EXPECT_ERROR_HAS(two_groups.load_state_dict(sd), "the state has 1 param groups, this optimizer has 2");

  StateDict bad = sd;
  bad.set("state.0.exp_avg", zeros({5}));
  Adam a2(fresh_params());
  EXPECT_ERROR_HAS(a2.load_state_dict(bad), "'state.0.exp_avg' is [5] f32, its parameter is [4, 3] f32");
  bad = sd;
  bad.set("state.0.momentum_buffer", zeros({4, 3}));
  EXPECT_ERROR_HAS(a2.load_state_dict(bad), "unexpected key 'state.0.momentum_buffer'");
  // Nothing was changed by the failed loads.
  EXPECT_EQ(a2.state_of(a2.param_groups()[0].params[0])->steps(), 0.0);
}

// ---------------------------------------------------------------- clipping

TEST(Optim, ClipGradNorm) {
  Tensor a = zeros({2}).requires_grad_();
  Tensor b = zeros({1}).requires_grad_();
  Tensor c = zeros({1}).requires_grad_();  // no gradient: ignored
  a.set_grad(tensor<float>({3.0f, 0.0f}));
  b.set_grad(tensor<float>({4.0f}));
  const double total = clip_grad_norm_({a, b, c}, 1.0);
  EXPECT_NEAR(total, 5.0, 1e-6);
  const double coef = 1.0 / (5.0 + 1e-6);
  EXPECT_NEAR(a.grad().to_vector<float>()[0], 3.0 * coef, 1e-6);
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 4.0 * coef, 1e-6);
  // Below the limit nothing changes.
  EXPECT_NEAR(clip_grad_norm_({a, b}, 10.0), 1.0, 1e-5);
  EXPECT_NEAR(b.grad().to_vector<float>()[0], 4.0 * coef, 1e-6);
  // Infinity norm and 1-norm.
  a.set_grad(tensor<float>({-6.0f, 2.0f}));
  b.set_grad(tensor<float>({1.0f}));
  EXPECT_NEAR(clip_grad_norm_({a, b}, 100.0, INFINITY), 6.0, 1e-6);
  EXPECT_NEAR(clip_grad_norm_({a, b}, 100.0, 1.0), 9.0, 1e-5);
  a.set_grad(tensor<float>({NAN, 1.0f}));
  EXPECT_ERROR_HAS(clip_grad_norm_({a}, 1.0, 2.0, true), "total gradient norm (order 2) is nan");
}

TEST(Optim, ClipGradValue) {
  Tensor a = zeros({4}).requires_grad_();
  a.set_grad(tensor<float>({-3.0f, -0.5f, 0.5f, 3.0f}));
  clip_grad_value_({a}, 1.0);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{-1.0f, -0.5f, 0.5f, 1.0f}));
  EXPECT_ERROR_HAS(clip_grad_value_({a}, -1.0), "clip_value must be >= 0, got -1");
}

// ---------------------------------------------------------------- schedulers vs PyTorch

namespace {

constexpr int kSchedSteps = 40;

// Python: prints lr (and the momentum key when given) before each of kSchedSteps steps.
std::vector<double> torch_lrs(const std::string& opt_ctor, const std::string& sched_ctor,
                              const std::string& momentum_expr = "") {
  std::ostringstream s;
  s << "import warnings\nwarnings.simplefilter('ignore')\n"
    << "p = torch.zeros(1, requires_grad=True)\n"
    << "opt = " << opt_ctor << "\n"
    << "sched = " << sched_ctor << "\n"
    << "for i in range(" << kSchedSteps << "):\n"
    << "    print(repr(opt.param_groups[0]['lr']))\n";
  if (!momentum_expr.empty()) s << "    print(repr(float(" << momentum_expr << ")))\n";
  s << "    opt.step()\n    sched.step()\n";
  return run_python(s.str());
}

std::vector<double> our_lrs(Optimizer& opt, LRScheduler& sched, const std::string& mkey = "") {
  std::vector<double> out;
  for (int i = 0; i < kSchedSteps; ++i) {
    out.push_back(opt.param_groups()[0].lr());
    EXPECT_EQ(sched.get_last_lr()[0], opt.param_groups()[0].lr());
    if (!mkey.empty()) out.push_back(opt.param_groups()[0].get(mkey));
    sched.step();
  }
  return out;
}

Tensor one_param() { return zeros({1}).requires_grad_(); }

}  // namespace

TEST(Schedulers, MatchPyTorch) {
  if (!have_torch()) GTEST_SKIP() << "/usr/bin/python3 with torch not available";
  const std::string sgd = "torch.optim.SGD([p], lr=0.1, momentum=0.9)";
  struct Case {
    const char* name;
    std::string torch_sched;
    std::function<std::unique_ptr<LRScheduler>(Optimizer&)> make;
  };
  std::vector<Case> cases = {
      {"StepLR", "torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)",
       [](Optimizer& o) { return std::make_unique<StepLR>(o, 7, 0.5); }},
      {"MultiStepLR", "torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[5, 12, 12, 30], gamma=0.3)",
       [](Optimizer& o) { return std::make_unique<MultiStepLR>(o, std::vector<int64_t>{5, 12, 12, 30}, 0.3); }},
      {"ExponentialLR", "torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.93)",
       [](Optimizer& o) { return std::make_unique<ExponentialLR>(o, 0.93); }},
      {"CosineAnnealingLR", "torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=25, eta_min=0.001)",
       [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 25, 0.001); }},
      {"CosineAnnealingWarmRestarts",
       "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=0.01)",
       [](Optimizer& o) { return std::make_unique<CosineAnnealingWarmRestarts>(o, 4, 2, 0.01); }},
      {"LinearLR", "torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=8)",
       [](Optimizer& o) { return std::make_unique<LinearLR>(o, 0.1, 1.0, 8); }},
  };
  for (const auto& c : cases) {
    SGD opt({one_param()}, {.lr = 0.1, .momentum = 0.9});
    auto sched = c.make(opt);
    expect_close(our_lrs(opt, *sched), torch_lrs(sgd, c.torch_sched), 1e-12, c.name);
  }
  {
    SGD opt({one_param()}, {.lr = 0.1, .momentum = 0.9});
    OneCycleLR sched(opt, 1.0, kSchedSteps, {.pct_start = 0.25});
    expect_close(our_lrs(opt, sched, "momentum"),
                 torch_lrs(sgd, "torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=40,"
                                " pct_start=0.25)", "opt.param_groups[0]['momentum']"),
                 1e-12, "OneCycleLR sgd cos");
  }
  {
    Adam opt({one_param()}, {.lr = 0.1});
    OneCycleLR sched(opt, 0.5, kSchedSteps,
                     {.cos_anneal = false, .div_factor = 10, .final_div_factor = 100,
                      .three_phase = true});
    expect_close(our_lrs(opt, sched, "beta1"),
                 torch_lrs("torch.optim.Adam([p], lr=0.1)",
                           "torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=40,"
                           " anneal_strategy='linear', div_factor=10, final_div_factor=100,"
                           " three_phase=True)",
                           "opt.param_groups[0]['betas'][0]"),
                 1e-12, "OneCycleLR adam linear three-phase");
  }
}

TEST(Schedulers, ReduceLROnPlateauMatchesPyTorch) {
  if (!have_torch()) GTEST_SKIP() << "/usr/bin/python3 with torch not available";
  const std::vector<double> metrics = {1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9,
                                       0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6};
  std::ostringstream s;
  s << "p = torch.zeros(1, requires_grad=True)\nopt = torch.optim.SGD([p], lr=1.0)\n"
    << "sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode='min', factor=0.5,"
    << " patience=2, threshold=0.05, threshold_mode='abs', cooldown=1, min_lr=0.1)\n"
    << "for m in [";
  for (double m : metrics) s << m << ",";
  s << "]:\n    sched.step(m)\n    print(repr(opt.param_groups[0]['lr']))\n";
  const std::vector<double> want = run_python(s.str());

  SGD opt({one_param()}, {.lr = 1.0});
  ReduceLROnPlateau sched(opt, {.mode = "min", .factor = 0.5, .patience = 2, .threshold = 0.05,
                                .threshold_mode = "abs", .cooldown = 1, .min_lr = 0.1});
  std::vector<double> got;
  for (double m : metrics) {
    sched.step(m);
    got.push_back(sched.get_last_lr()[0]);
  }
  expect_close(got, want, 1e-15, "ReduceLROnPlateau");
}

TEST(Schedulers, KnownValuesAndErrors) {
  SGD opt({one_param()}, {.lr = 1.0});
  StepLR step(opt, 2, 0.1);
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].lr(), 1.0);
  step.step();
  step.step();
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].lr(), 0.1);
  EXPECT_ERROR_HAS(StepLR(opt, 0), "step_size must be > 0, got 0");

  SGD plain({one_param()}, {.lr = 1.0});
  EXPECT_ERROR_HAS(OneCycleLR(*std::make_unique<Adagrad>(std::vector<Tensor>{one_param()}), 1.0, 10),
                   "cycle_momentum needs an optimizer with 'momentum' or 'beta1', Adagrad has neither");
  OneCycleLR one(plain, 1.0, 3, {.cycle_momentum = false});
  for (int i = 0; i < 3; ++i) one.step();
  EXPECT_ERROR_HAS(one.step(), "OneCycleLR: step 4 is past total_steps 3");
  EXPECT_ERROR_HAS(ReduceLROnPlateau(plain, {.mode = "up"}), "mode must be 'min' or 'max', got 'up'");
}

TEST(Schedulers, StateDictResumes) {
  SGD o1({one_param()}, {.lr = 0.5});
  CosineAnnealingWarmRestarts s1(o1, 3, 2, 0.0);
  for (int i = 0; i < 5; ++i) s1.step();
  SGD o2({one_param()}, {.lr = 0.5});
  CosineAnnealingWarmRestarts s2(o2, 3, 2, 0.0);
  s2.load_state_dict(s1.state_dict());
  EXPECT_EQ(s2.last_epoch(), 5);
  for (int i = 0; i < 8; ++i) {
    EXPECT_DOUBLE_EQ(o1.param_groups()[0].lr(), o2.param_groups()[0].lr()) << "step " << i;
    s1.step();
    s2.step();
  }
}
