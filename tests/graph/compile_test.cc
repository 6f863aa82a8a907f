// Graph mode: tessera::compile traces, caches, retraces and runs graphs that give what
// eager gives.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <filesystem>
#include <functional>
#include <iostream>
#include <vector>

#include "graph/compiled_access.h"
#include "graph/executor.h"
#include "graph/passes/passes.h"
#include "graph/tracer.h"
#include "ops/collective.h"
#include "ops/conv.h"
#include "ops/op.h"
#include "tessera/graph.h"
#include "tessera/models.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;
namespace F = tessera::nn::functional;

namespace {

// Every parameter of two same-shaped modules, element-wise.
double max_param_diff(nn::Module& a, nn::Module& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  EXPECT_EQ(pa.size(), pb.size());
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    const std::vector<double> x = pa[i].to_vector<double>(), y = pb[i].to_vector<double>();
    for (size_t j = 0; j < x.size(); ++j) worst = std::max(worst, std::abs(x[j] - y[j]));
  }
  return worst;
}

std::vector<Tensor> mlp_fn(const std::vector<Tensor>& in) {
  Tensor h = relu(add(matmul(in[0], in[1]), in[2]));
  return {sum(mul(h, h), {1}), h};
}

TEST(Compile, FunctionGivesEagerResultsAndReusesItsGraph) {
  manual_seed(1);
  Tensor x = randn({4, 8}), w = randn({8, 3}), b = randn({3});
  CompiledFunction f = compile(mlp_fn);
  const std::vector<Tensor> eager = mlp_fn({x, w, b});
  for (int call = 0; call < 3; ++call) {
    const std::vector<Tensor> got = f({x, w, b});
    ASSERT_EQ(got.size(), 2u);
    EXPECT_LE(max_rel_error(got[0], eager[0]), 0.0);
    EXPECT_LE(max_rel_error(got[1], eager[1]), 0.0);
  }
  EXPECT_EQ(f.stats().traces, 1);
  EXPECT_EQ(f.stats().graph_runs, 2);
  // New inputs of the same signature: the graph computes on them, not on the traced ones.
  Tensor x2 = randn({4, 8});
  EXPECT_LE(max_rel_error(f({x2, w, b})[0], mlp_fn({x2, w, b})[0]), 0.0);
  EXPECT_NE(f.last_graph().find("matmul("), std::string::npos) << f.last_graph();
}

TEST(Compile, NewShapeOrDtypeRetraces) {
  CompiledFunction f = compile(mlp_fn);
  Tensor w = randn({8, 3}), b = randn({3});
  f({randn({4, 8}), w, b});
  f({randn({4, 8}), w, b});
  EXPECT_EQ(f.stats().traces, 1);
  Tensor x5 = randn({5, 8});
  EXPECT_LE(max_rel_error(f({x5, w, b})[0], mlp_fn({x5, w, b})[0]), 0.0);
  EXPECT_EQ(f.stats().traces, 2);
  Tensor xd = randn({4, 8}).to(kFloat64), wd = w.to(kFloat64), bd = b.to(kFloat64);
  const std::vector<Tensor> got = f({xd, wd, bd});
  EXPECT_EQ(got[0].dtype(), kFloat64);
  EXPECT_EQ(f.stats().traces, 3);
  EXPECT_EQ(f.cached_graphs(), 3u);
}

TEST(Compile, CacheKeepsAtMostItsLimit) {
  CompileOptions o;
  o.max_cached_graphs = 2;
  CompiledFunction f = compile([](const std::vector<Tensor>& in) { return std::vector<Tensor>{exp(in[0])}; }, o);
  for (int64_t n = 1; n <= 4; ++n) f({randn({n})});
  EXPECT_EQ(f.cached_graphs(), 2u);
  EXPECT_EQ(f.stats().evictions, 2);
  f({randn({1})});  // evicted: traced again
  EXPECT_EQ(f.stats().traces, 5);
}

TEST(Compile, TrainEvalModeRetraces) {
  manual_seed(3);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(6, 6));
  net->push_back(std::make_shared<nn::Dropout>(0.5));
  CompiledFunction f = compile(*net);
  Tensor x = ones({2, 6});
  net->eval();
  const Tensor eval1 = f(x);
  net->train();
  const Tensor train1 = f(x);
  EXPECT_EQ(f.stats().traces, 2);
  net->eval();
  const Tensor eval2 = f(x);
  EXPECT_EQ(f.stats().traces, 2);  // the eval graph again, from the cache
  EXPECT_LE(max_rel_error(eval2, eval1), 0.0);
  EXPECT_LE(max_rel_error(eval1, (*net)(x)), 0.0);
}

TEST(Compile, DropoutDrawsNewMasksOnEveryRun) {
  manual_seed(4);
  CompiledFunction f = compile([](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{F::dropout(in[0], 0.5, /*training=*/true)};
  });
  Tensor x = ones({64});
  const Tensor a = f(x), b = f(x), c = f(x);
  EXPECT_EQ(f.stats().traces, 1);
  EXPECT_GT(max_rel_error(b, c), 0.0) << "the graph replayed the traced mask";
  EXPECT_GT(max_rel_error(a, b), 0.0);
  // The same draws as eager from the same generator state.
  manual_seed(9);
  const Tensor compiled = f(x);
  manual_seed(9);
  const Tensor eager = F::dropout(x, 0.5, true);
  EXPECT_LE(max_rel_error(compiled, eager), 0.0);
}

TEST(Compile, CppFlagReadThroughTracedFlagRetraces) {
  bool use_exp = true;
  CompiledFunction f = compile([&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{traced_flag(use_exp) ? exp(in[0]) : neg(in[0])};
  });
  Tensor x = randn({3});
  EXPECT_LE(max_rel_error(f(x), exp(x)), 0.0);
  use_exp = false;
  EXPECT_LE(max_rel_error(f(x), neg(x)), 0.0);
  EXPECT_EQ(f.stats().traces, 2);
  use_exp = true;
  EXPECT_LE(max_rel_error(f(x), exp(x)), 0.0);
  EXPECT_EQ(f.stats().traces, 2);
}

TEST(Compile, BranchOnATensorValueIsAnErrorNamingTheOp) {
  CompiledFunction f = compile([](const std::vector<Tensor>& in) {
    Tensor s = sum(in[0]);
    return std::vector<Tensor>{s.item<float>() > 0 ? in[0] : neg(in[0])};
  });
  const std::string msg = error_of([&] { f(randn({3})); });
  EXPECT_NE(msg.find("the output of sum"), std::string::npos) << msg;
  EXPECT_NE(msg.find("read while tracing"), std::string::npos) << msg;
}

TEST(Compile, CopyFillAndInPlaceOpsAreCaptured) {
  Tensor state = zeros({3});
  CompiledFunction f = compile([&](const std::vector<Tensor>& in) {
    Tensor t = empty({3});
    t.fill_(2.0);
    t.mul_(in[0]);
    state.copy_(t);
    state.add_(1.0);
    return std::vector<Tensor>{t};
  });
  Tensor x = tensor<float>({1, 2, 3}, {3});
  f(x);
  Tensor y = tensor<float>({4, 5, 6}, {3});
  const Tensor got = f(y);  // runs the graph
  EXPECT_EQ(f.stats().graph_runs, 1);
  EXPECT_EQ(got.to_vector<float>(), (std::vector<float>{8, 10, 12}));
  EXPECT_EQ(state.to_vector<float>(), (std::vector<float>{9, 11, 13}));
  const std::string g = f.last_graph();
  for (const char* op : {"fill_(", "copy_(", "mul(", "add("})
    EXPECT_NE(g.find(op), std::string::npos) << op << " missing from\n" << g;
}

TEST(Compile, CopyFromATensorRequiringGradKeepsItsGradient) {
  // The bypass of part 1: copy_ from a tensor requiring grad drops nothing.
  Tensor src = randn({3}).requires_grad_();
  Tensor dst = zeros({3});
  dst.copy_(mul(src, 2.0));
  sum(dst).backward();
  EXPECT_LE(max_rel_error(src.grad(), full({3}, 2.0)), 0.0);
}

// The same model trained eager and compiled from the same start: same parameters.
template <typename MakeOpt>
void expect_same_training(const std::shared_ptr<nn::Module>& eager_net, const std::shared_ptr<nn::Module>& compiled_net,
                          MakeOpt make_opt, const std::vector<Tensor>& xs, const std::vector<Tensor>& ys, double tol,
                          bool relative_l2, CompileOptions options = {}) {
  compiled_net->load_state_dict(eager_net->state_dict());
  auto eager_opt = make_opt(*eager_net);
  auto compiled_opt = make_opt(*compiled_net);
  auto step_of = [](nn::Module& net, optim::Optimizer& opt) {
    return [&net, &opt](const std::vector<Tensor>& in) {
      opt.zero_grad();
      Tensor loss = F::cross_entropy(net(in[0]), in[1]);
      loss.backward();
      opt.step();
      return std::vector<Tensor>{loss};
    };
  };
  auto eager_step = step_of(*eager_net, *eager_opt);
  CompiledFunction compiled_step = compile(step_of(*compiled_net, *compiled_opt), options);
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor le = eager_step({xs[i], ys[i]})[0];
    const Tensor lc = compiled_step({xs[i], ys[i]})[0];
    EXPECT_LE(max_rel_error(lc, le), relative_l2 ? 1e-5 : tol) << "step " << i;
  }
  EXPECT_EQ(compiled_step.stats().traces, 1);
  EXPECT_EQ(compiled_step.stats().graph_runs, static_cast<int>(xs.size()) - 1);
  if (relative_l2) {
    const auto pa = eager_net->parameters(), pb = compiled_net->parameters();
    double num = 0, den = 0;
    for (size_t i = 0; i < pa.size(); ++i) {
      const std::vector<double> x = pa[i].to_vector<double>(), y = pb[i].to_vector<double>();
      for (size_t j = 0; j < x.size(); ++j) {
        num += (x[j] - y[j]) * (x[j] - y[j]);
        den += x[j] * x[j];
      }
    }
    std::cout << "compiled training, " << xs.size() << " steps: parameters' relative l2 vs eager "
              << std::sqrt(num / den) << "\n";
    EXPECT_LE(std::sqrt(num / den), tol);
  } else {
    const double diff = max_param_diff(*eager_net, *compiled_net);
    std::cout << "compiled training, " << xs.size() << " steps: parameters' largest element-wise difference vs eager "
              << diff << "\n";
    EXPECT_LE(diff, tol);
  }
}

// The compile cache keeps each graph as traced beside the optimized one (ONNX export
// writes it: onnx::save_compiled), sharing the captured weights; unoptimized, they are
// one graph.
TEST(Compile, KeepsTheLastCallsGraphAsTraced) {
  auto net = models::cnn28();
  net->eval();
  CompileOptions co;
  co.freeze = true;
  CompiledFunction f = compile(*net, co);
  EXPECT_EQ(graph::CompiledAccess::last_graph(f).graph, nullptr);  // never called
  const Tensor x = randn({2, 1, 28, 28});
  f(x);
  const graph::CompiledAccess::LastGraph last = graph::CompiledAccess::last_graph(f);
  ASSERT_NE(last.graph, nullptr);
  EXPECT_FALSE(last.loaded);
  const std::string traced = last.graph->op_histogram();
  EXPECT_NE(traced.find("conv2d: 2"), std::string::npos) << traced;
  EXPECT_EQ(traced.find("blocked"), std::string::npos) << traced;
  EXPECT_NE(f.last_graph().find("conv2d_blocked"), std::string::npos) << "the cache runs the optimized graph";
  last.graph->verify();
  // The composites its decompositions came from (linear: two), for ONNX export.
  int linear = 0;
  for (const graph::CompositeCall& c : last.graph->composites) linear += std::string(c.op->name) == "linear";
  EXPECT_EQ(linear, 2);
  // It shares the module's weights (held by reference, not copied).
  bool shares = false;
  for (const graph::Value& v : last.graph->values)
    if (v.kind == graph::ValueKind::Captured && v.tensor.data_ptr() == net->parameters()[0].data_ptr()) shares = true;
  EXPECT_TRUE(shares);
  // A second signature: the last call's graph is that one's.
  f(randn({3, 1, 28, 28}));
  EXPECT_EQ(graph::CompiledAccess::last_graph(f).graph->values[0].meta.sizes[0], 3);
  f(x);
  EXPECT_EQ(graph::CompiledAccess::last_graph(f).graph->values[0].meta.sizes[0], 2);

  CompileOptions plain;
  plain.optimize = false;
  CompiledFunction g = compile(*net, plain);
  g(x);
  EXPECT_EQ(graph::CompiledAccess::last_graph(g).graph->dump(), g.last_graph());
}

TEST(CompileTrain, MlpWithSgdMomentumMatchesEagerInFloat64) {
  manual_seed(5);
  auto a = models::mlp(), b = models::mlp();
  a->to(kFloat64);
  b->to(kFloat64);
  std::vector<Tensor> xs, ys;
  for (int i = 0; i < 20; ++i) {
    xs.push_back(randn({8, 784}).to(kFloat64));
    ys.push_back(randint(0, 10, {8}));
  }
  expect_same_training(a, b, [](nn::Module& m) {
    optim::SGDOptions o;
    o.lr = 0.05;
    o.momentum = 0.9;
    return std::make_unique<optim::SGD>(m.parameters(), o);
  }, xs, ys, 1e-9, false);
}

// dynamic_batch: one trace, then every other batch (an epoch's short last batch) re-derives
// the graph: the same parameters as eager, step for step.
TEST(CompileDynamicBatch, TrainStepsOfOtherBatchesMatchEagerWithoutTracing) {
  manual_seed(6);
  auto a = models::cnn28(), b = models::cnn28();
  a->to(kFloat64);
  b->to(kFloat64);
  a->eval();  // dropout off: the element-wise comparison
  b->eval();
  std::vector<Tensor> xs, ys;
  for (int64_t batch : {8, 5, 8, 3, 5, 1, 8}) {
    xs.push_back(randn({batch, 1, 28, 28}).to(kFloat64));
    ys.push_back(randint(0, 10, {batch}));
  }
  CompileOptions o;
  o.dynamic_batch = true;
  expect_same_training(a, b, [](nn::Module& m) {
    optim::AdamOptions ao;
    ao.lr = 1e-3;
    return std::make_unique<optim::Adam>(m.parameters(), ao);
  }, xs, ys, 1e-9, false, o);  // (it checks: 1 trace, 6 graph runs)
}

TEST(CompileDynamicBatch, FrozenModelsServeOtherBatchesWithEagersOutputs) {
  for (const char* name : {"cnn28", "resnet18", "encoder"}) {
    manual_seed(0);
    std::shared_ptr<nn::Module> net;
    std::vector<int64_t> item;
    if (std::string(name) == "cnn28") {
      net = models::cnn28();
      item = {1, 28, 28};
    } else if (std::string(name) == "resnet18") {
      net = models::resnet18();
      item = {3, 64, 64};
    } else {
      net = models::encoder();
      item = {16, 256};
    }
    net->eval();
    CompileOptions o;
    o.freeze = true;
    o.dynamic_batch = true;
    CompiledFunction fast = compile(*net, o);
    NoGradGuard no_grad;
    auto input = [&](int64_t batch) {
      std::vector<int64_t> s{batch};
      s.insert(s.end(), item.begin(), item.end());
      return randn(s);
    };
    fast(input(2));
    double worst = 0;
    for (int64_t batch : {1, 5, 2, 3}) {
      const Tensor x = input(batch);
      worst = std::max(worst, max_rel_error(fast(x), (*net)(x)));
    }
    std::printf("dynamic batch, frozen %s: batches 2 (traced), 1, 5, 3 (re-derived): %d traces, %d re-derived, "
                "max relative error %g\n", name, fast.stats().traces, fast.stats().batch_respecializations, worst);
    EXPECT_EQ(fast.stats().traces, 1) << name;
    EXPECT_EQ(fast.stats().batch_respecializations, 3) << name;
    EXPECT_LE(worst, 1e-5) << name;
  }
}

TEST(CompileDynamicBatch, GraphsThatSpellTheBatchElsewhereTraceAgain) {
  // [B, T, C] -> [B*T, C]: the view's leading size is not the batch; zeros({B, C}) is
  // sized by a C++ read of the batch. Both trace again, with correct results.
  auto merge = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{relu(in[0].reshape({in[0].size(0) * in[0].size(1), in[0].size(2)}))};
  };
  auto sized = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{add(in[0], ones({in[0].size(0), in[0].size(1)}))};
  };
  CompileOptions o;
  o.dynamic_batch = true;
  CompiledFunction f = compile(merge, o), g = compile(sized, o);
  for (int64_t batch : {2, 3}) {
    const Tensor x = randn({batch, 4, 5}), y = randn({batch, 5});
    EXPECT_EQ(max_rel_error(f(x), merge({x})[0]), 0.0);
    EXPECT_EQ(max_rel_error(g(y), sized({y})[0]), 0.0);
  }
  EXPECT_EQ(f.stats().traces, 2);
  EXPECT_EQ(g.stats().traces, 2);
  EXPECT_EQ(f.stats().batch_respecializations + g.stats().batch_respecializations, 0);
  // Without the option, another batch traces as before.
  CompiledFunction plain = compile(merge);
  plain(randn({2, 4, 5}));
  plain(randn({3, 4, 5}));
  EXPECT_EQ(plain.stats().traces, 2);
}

TEST(CompileTrain, Cnn28WithAdamMatchesEagerInFloat64) {
  manual_seed(6);
  auto a = models::cnn28(), b = models::cnn28();
  a->to(kFloat64);
  b->to(kFloat64);
  a->eval();  // dropout off, as the acceptance asks for the element-wise comparison
  b->eval();
  std::vector<Tensor> xs, ys;
  for (int i = 0; i < 20; ++i) {
    xs.push_back(randn({4, 1, 28, 28}).to(kFloat64));
    ys.push_back(randint(0, 10, {4}));
  }
  expect_same_training(a, b, [](nn::Module& m) {
    return std::make_unique<optim::Adam>(m.parameters(), optim::AdamOptions{});
  }, xs, ys, 1e-9, false);
}

// The encoder layer trained as a per-token classifier over its 256 features:
// cross_entropy wants the classes in dim 1, so the output is transposed to [N, 256, S].
std::shared_ptr<nn::Module> token_classifier(std::shared_ptr<nn::Module> m) {
  struct Transposed : nn::Module {
    std::shared_ptr<nn::Module> inner;
    explicit Transposed(std::shared_ptr<nn::Module> m) : inner(register_module("inner", std::move(m))) {}
    Tensor forward(const Tensor& x) override { return (*inner)(x).transpose(1, 2); }
  };
  return std::make_shared<Transposed>(std::move(m));
}

TEST(CompileTrain, EncoderLayerWithAdamMatchesEagerInFloat64) {
  manual_seed(19);
  auto a = token_classifier(models::encoder()), b = token_classifier(models::encoder());
  a->to(kFloat64);
  b->to(kFloat64);
  a->eval();  // dropout off
  b->eval();
  std::vector<Tensor> xs, ys;
  for (int i = 0; i < 20; ++i) {
    xs.push_back(randn({2, 8, 256}).to(kFloat64));
    ys.push_back(randint(0, 256, {2, 8}));
  }
  expect_same_training(a, b, [](nn::Module& m) {
    return std::make_unique<optim::Adam>(m.parameters(), optim::AdamOptions{});
  }, xs, ys, 1e-9, false);
}

// Float32: 20 steps compiled (whose 3x3 convolutions' gradient ops run with Winograd)
// against eager (direct kernels), relative l2 of all parameters <= 1e-5: CNN28 with Adam, the MLP with
// SGD momentum and the encoder layer with Adam, dropout off.
TEST(CompileTrain, WorkloadModelsMatchEagerInFloat32) {
  struct Case {
    const char* name;
    std::function<std::shared_ptr<nn::Module>()> make;
    Shape input;
    bool adam;
  };
  const std::vector<Case> cases = {{"cnn28", [] { return models::cnn28(); }, {8, 1, 28, 28}, true},
                                   {"mlp", [] { return models::mlp(); }, {16, 784}, false},
                                   {"encoder", [] { return models::encoder(); }, {2, 16, 256}, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    manual_seed(17);
    auto a = c.make(), b = c.make();
    a->eval();  // dropout off
    b->eval();
    std::vector<Tensor> xs, ys;
    for (int i = 0; i < 20; ++i) {
      xs.push_back(randn(c.input));
      // The encoder's output is [N, S, 256]: cross-entropy over its last dim per token.
      ys.push_back(c.input.size() == 3 ? randint(0, 256, {c.input[0], c.input[1]}) : randint(0, 10, {c.input[0]}));
    }
    if (c.input.size() == 3) {
      a = token_classifier(a);
      b = token_classifier(b);
    }
    if (c.adam) {
      expect_same_training(a, b, [](nn::Module& m) {
        return std::make_unique<optim::Adam>(m.parameters(), optim::AdamOptions{});
      }, xs, ys, 1e-5, true);
    } else {
      expect_same_training(a, b, [](nn::Module& m) {
        optim::SGDOptions o;
        o.lr = 0.05;
        o.momentum = 0.9;
        return std::make_unique<optim::SGD>(m.parameters(), o);
      }, xs, ys, 1e-5, true);
    }
  }
}

TEST(CompileModels, WorkloadModelsGiveEagerOutputs) {
  manual_seed(7);
  struct Case {
    const char* name;
    std::shared_ptr<nn::Module> net;
    Shape input;
  };
  // The workloads' own input shapes. Frozen is what tessera-bench --mode graph runs (weights
  // folded, convolutions blocked, Winograd where it applies).
  std::vector<Case> cases = {{"cnn28", models::cnn28(), {1, 1, 28, 28}},
                             {"cnn64", models::cnn64(), {1, 3, 64, 64}},
                             {"mlp", models::mlp(), {2, 784}},
                             {"encoder", models::encoder(), {1, 128, 256}},
                             {"resnet18", models::resnet18(), {1, 3, 224, 224}}};
  for (Case& c : cases) {
    c.net->eval();
    Tensor x = randn(c.input);
    const Tensor eager = (*c.net)(x);
    for (bool freeze : {false, true}) {
      CompileOptions o;
      o.freeze = freeze;
      CompiledFunction f = compile(*c.net, o);
      f(x);
      const Tensor got = f(x);
      EXPECT_EQ(f.stats().graph_runs, 1) << c.name;
      const double err = max_rel_error(got, eager);
      std::cout << "compiled " << (freeze ? "frozen " : "") << c.name << ": max relative error " << err << "\n";
      EXPECT_LE(err, 1e-5) << c.name << (freeze ? " frozen" : "");
    }
  }
}

// ---- the IR and its passes ----

graph::Trace trace_of(const graph::TracedFn& fn, const std::vector<Tensor>& in) { return graph::trace(fn, in); }

TEST(GraphPasses, DeadCodeIsRemovedButWritesStay) {
  Tensor state = zeros({2});
  graph::Trace t = trace_of([&](const std::vector<Tensor>& in) {
    Tensor unused = exp(in[0]);
    (void)unused;
    state.add_(1.0);
    return std::vector<Tensor>{neg(in[0])};
  }, {randn({2})});
  const size_t before = t.graph.nodes.size();
  EXPECT_EQ(graph::eliminate_dead_code(t.graph), 1);
  t.graph.verify();
  EXPECT_EQ(t.graph.nodes.size(), before - 1);
  EXPECT_EQ(t.graph.dump().find("exp("), std::string::npos);
  EXPECT_NE(t.graph.dump().find("add("), std::string::npos);
}

TEST(GraphPasses, CommonSubexpressionsMergeButNotAcrossWrites) {
  Tensor x = randn({3});
  graph::Trace t = trace_of([](const std::vector<Tensor>& in) {
    Tensor a = exp(in[0]), b = exp(in[0]);
    return std::vector<Tensor>{add(a, b)};
  }, {x});
  EXPECT_EQ(graph::eliminate_common_subexpressions(t.graph), 1);
  t.graph.verify();
  graph::Executor run(t.graph);
  EXPECT_LE(max_rel_error(run.run({x})[0], mul(exp(x), 2.0)), 1e-7);

  Tensor buf = zeros({3});
  graph::Trace w = trace_of([&](const std::vector<Tensor>& in) {
    Tensor a = add(buf, in[0]);
    buf.add_(1.0);
    Tensor b = add(buf, in[0]);  // same op and inputs, but buf was written in between
    return std::vector<Tensor>{a, b};
  }, {x});
  EXPECT_EQ(graph::eliminate_common_subexpressions(w.graph), 0);
}

namespace {

// A communicator of one process that counts its calls (ops/collective.h; the real one,
// over processes, is src/distributed's, tested in tests/distributed).
class CountingCommunicator final : public ops::Communicator {
 public:
  int starts = 0, waits = 0, broadcasts = 0;
  std::string describe() const override { return "counting communicator"; }
  void all_reduce_start(const Tensor&) override { ++starts; }
  void all_reduce_wait(const Tensor&) override { ++waits; }
  void broadcast(const Tensor&, int64_t) override { ++broadcasts; }
};

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

// Collectives talk to other processes: a constant buffer, a result nothing reads, the
// same all-reduce twice: every pass leaves them, and every run of the graph calls them.
TEST(GraphPasses, CollectivesAreNeverFoldedMergedOrDropped) {
  auto comm = std::make_shared<CountingCommunicator>();
  const int64_t id = ops::register_communicator(comm);
  ops::ensure_registered();
  const ops::Attrs group{{"group", id}};
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor buf = full({4}, 2.0);  // made from constants only
    for (int i = 0; i < 2; ++i) {
      ops::call(ops::kAllReduceStart, {buf}, group);
      ops::call(ops::kAllReduceWait, {buf}, group);
    }
    Tensor unread = full({2}, 1.0);
    ops::call(ops::kBroadcastInto, {unread}, {{"group", id}, {"root", int64_t{0}}});
    return std::vector<Tensor>{mul(in[0], 2.0)};
  };
  graph::Trace t = trace_of(fn, {ones({3})});
  EXPECT_EQ(comm->starts, 2);  // tracing runs the function
  EXPECT_EQ(graph::fold_constants(t.graph, true), 0);
  EXPECT_EQ(graph::eliminate_common_subexpressions(t.graph), 0);
  graph::eliminate_dead_code(t.graph);
  t.graph.verify();
  EXPECT_EQ(occurrences(t.graph.dump(), "all_reduce_start_("), 2u) << t.graph.dump();
  EXPECT_EQ(occurrences(t.graph.dump(), "all_reduce_wait_("), 2u);
  EXPECT_EQ(occurrences(t.graph.dump(), "broadcast_("), 1u);

  CompiledFunction f = compile(fn);
  for (int i = 0; i < 3; ++i) f({ones({3})});
  EXPECT_EQ(f.stats().graph_runs, 2);
  EXPECT_EQ(comm->starts, 2 + 6);
  EXPECT_EQ(comm->waits, 2 + 6);
  EXPECT_EQ(comm->broadcasts, 1 + 3);
  EXPECT_EQ(occurrences(f.last_graph(), "all_reduce_start_("), 2u) << f.last_graph();
  // A collective names a communicator of this process: such a graph is not saved.
  const std::string path = (std::filesystem::temp_directory_path() / "tessera_collective_graph.safetensors").string();
  EXPECT_ERROR_HAS(f.save(path), "the graph has a collective (all_reduce_start_)");
  EXPECT_FALSE(std::filesystem::exists(path));
  // A graph that outlived its communicator says so instead of skipping the exchange.
  ops::unregister_communicator(id);
  EXPECT_ERROR_HAS(f({ones({3})}), detail::concat("communicator ", id, " no longer exists"));
}

TEST(GraphPasses, FrozenWeightsFoldIntoConstants) {
  Tensor w = randn({4, 4});
  CompileOptions o;
  o.freeze = true;
  CompiledFunction f = compile([&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{matmul(in[0], mul(w, 2.0).transpose(0, 1))};
  }, o);
  Tensor x = randn({2, 4});
  f(x);
  const std::string g = f.last_graph();
  EXPECT_EQ(g.find("= mul("), std::string::npos) << g;  // folded: w * 2 and its transpose
  EXPECT_EQ(g.find("captured"), std::string::npos) << g;  // w itself is no longer read
  EXPECT_LE(max_rel_error(f(x), matmul(x, mul(w, 2.0).transpose(0, 1))), 1e-6);
}

TEST(GraphPasses, BatchNormFoldsIntoTheConvolutionBeforeIt) {
  manual_seed(11);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(3, 8, 3));
  net->push_back(std::make_shared<nn::BatchNorm2d>(8));
  net->push_back(std::make_shared<nn::ReLU>());
  net->train();
  for (int i = 0; i < 3; ++i) (*net)(randn({4, 3, 10, 10}));  // running statistics away from 0/1
  net->eval();
  CompileOptions o;
  o.freeze = true;
  CompiledFunction f = compile(*net, o);
  Tensor x = randn({2, 3, 10, 10});
  f(x);
  const std::string g = f.last_graph();
  EXPECT_NE(g.find("conv2d"), std::string::npos) << g;  // conv2d, or conv2d_blocked
  for (const char* gone : {"= sub(", "= mul(", "= add(", "rsqrt("})
    EXPECT_EQ(g.find(gone), std::string::npos) << gone << " left in\n" << g;
  EXPECT_LE(max_rel_error(f(x), (*net)(x)), 1e-5);

  // Without freeze the weights may change: nothing is folded.
  CompiledFunction unfrozen = compile(*net);
  unfrozen(x);
  EXPECT_NE(unfrozen.last_graph().find("rsqrt("), std::string::npos);
}

TEST(GraphPasses, FrozenResnet18KeepsItsOutputsWithBatchNormFolded) {
  manual_seed(12);
  auto net = models::resnet18();
  net->eval();
  CompileOptions o;
  o.freeze = true;
  CompiledFunction f = compile(*net, o);
  Tensor x = randn({1, 3, 64, 64});
  const Tensor eager = (*net)(x);
  f(x);
  EXPECT_LE(max_rel_error(f(x), eager), 1e-5);
  EXPECT_EQ(f.last_graph().find("rsqrt("), std::string::npos) << f.last_graph();
}

// How many nodes of `op` a dump lists ("= op(").
// Nodes of `op` in a dump, and steps of `op` inside fused_elementwise programs
// (program="mul(%0,%1);relu($0)"): the ops that compute what `op` computes.
int count_nodes(const std::string& dump, const std::string& op) {
  int n = 0;
  const std::string key = "= " + op + "(";
  for (size_t at = dump.find(key); at != std::string::npos; at = dump.find(key, at + 1)) ++n;
  for (size_t at = dump.find("program=\""); at != std::string::npos; at = dump.find("program=\"", at + 1)) {
    const size_t begin = at + 9, end = dump.find('"', begin);
    const std::string program = dump.substr(begin, end - begin);
    for (const char* sep : {"(", "["})
      for (const std::string lead : {"", ";"}) {
        const std::string step = lead + op + sep;
        for (size_t p = program.find(step); p != std::string::npos; p = program.find(step, p + 1))
          if (!lead.empty() || p == 0) ++n;
      }
  }
  return n;
}

// conv -> relu -> conv -> relu -> pool -> conv (+ the pool's output) -> relu, then a plain tail.
class ResidualNet : public nn::Module {
 public:
  ResidualNet() {
    c1 = register_module("c1", std::make_shared<nn::Conv2d>(3, 32, 3, nn::ConvOptions{.padding = 1}));
    c2 = register_module("c2", std::make_shared<nn::Conv2d>(32, 32, 3));
    c3 = register_module("c3", std::make_shared<nn::Conv2d>(32, 32, 3, nn::ConvOptions{.padding = 1}));
    fc = register_module("fc", std::make_shared<nn::Linear>(32 * 5 * 5, 4));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = F::max_pool2d(relu((*c2)(relu((*c1)(x)))), {2, 2});
    h = relu(add((*c3)(h), h));
    return (*fc)(h.flatten(1));
  }
  std::shared_ptr<nn::Conv2d> c1, c2, c3;
  std::shared_ptr<nn::Linear> fc;
};

TEST(GraphPasses, ConvolutionChainsRunBlockedWithFusedEpilogues) {
  if (ops::conv_channel_block() == 0) GTEST_SKIP() << "no blocked convolution on this CPU";
  manual_seed(13);
  ResidualNet net;
  net.eval();
  CompileOptions o;
  o.freeze = true;
  CompiledFunction f = compile(net, o);
  Tensor x = randn({2, 3, 12, 12});
  const Tensor eager = net(x);
  f(x);
  const std::string g = f.last_graph();
  // On blocks of 8 the float32 Winograd pools c2's output tiles as it makes them: c2 and
  // the pooling are one node.
  const int fused = ops::conv_channel_block() == 8 ? 1 : 0;
  EXPECT_EQ(count_nodes(g, "conv2d_max_pool2x2_values_blocked"), fused) << g;
  EXPECT_EQ(count_nodes(g, "conv2d_blocked"), 3 - fused) << g;
  EXPECT_EQ(count_nodes(g, "max_pool2d_blocked"), 1 - fused) << g;
  // The first layer reads its 3 channels plain; one conversion back, before the flatten.
  EXPECT_EQ(count_nodes(g, "to_blocked"), 0) << g;
  EXPECT_EQ(count_nodes(g, "from_blocked"), 1) << g;
  for (const char* gone : {"relu", "add", "conv2d", "max_pool2d", "pack_conv_weight"})
    EXPECT_EQ(count_nodes(g, gone), 0) << gone << " left in\n" << g;
  EXPECT_NE(g.find("activation=\"relu\""), std::string::npos) << g;
  // An inference graph asks for Winograd F(4x4, 3x3) (select_conv_layouts.cc).
  EXPECT_NE(g.find("algorithm=\"winograd_4x4\""), std::string::npos) << g;
  EXPECT_EQ(g.find("algorithm=\"winograd\""), std::string::npos) << g;
  EXPECT_LE(max_rel_error(f(x), eager), 1e-5);
  EXPECT_LE(max_rel_error(f(x), eager), 1e-5);  // again: the cached graph

  // Without freeze the weights may change: the convolutions stay as they are.
  CompiledFunction unfrozen = compile(net);
  unfrozen(x);
  EXPECT_EQ(count_nodes(unfrozen.last_graph(), "conv2d_blocked"), 0) << unfrozen.last_graph();
}

TEST(GraphPasses, APlainReaderOfABlockedValueGetsItConverted) {
  if (ops::conv_channel_block() == 0) GTEST_SKIP() << "no blocked convolution on this CPU";
  manual_seed(14);
  Tensor w1 = randn({16, 16, 3, 3}), w2 = randn({16, 16, 1, 1}), w3 = randn({10, 16, 1, 1});
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor a = relu(F::conv2d(in[0], w1, Tensor(), {1, 1}, {1, 1}));
    Tensor b = F::conv2d(a, w2);           // continues blocked from a
    Tensor c = F::conv2d(b, w3);           // 10 channels: not a whole block, stays plain
    return std::vector<Tensor>{sigmoid(a), add(b, 1.0), c};  // plain readers of a and b
  };
  CompileOptions o;
  o.freeze = true;
  CompiledFunction f = compile(fn, o);
  Tensor x = randn({1, 16, 6, 6});
  const std::vector<Tensor> eager = fn({x});
  f(std::vector<Tensor>{x});
  const std::vector<Tensor> got = f(std::vector<Tensor>{x});
  const std::string g = f.last_graph();
  EXPECT_EQ(count_nodes(g, "conv2d_blocked"), 2) << g;
  EXPECT_EQ(count_nodes(g, "conv2d"), 1) << g;
  EXPECT_EQ(count_nodes(g, "to_blocked"), 1) << g;  // the 16-channel input
  EXPECT_EQ(count_nodes(g, "from_blocked"), 2) << g;
  for (size_t i = 0; i < eager.size(); ++i) EXPECT_LE(max_rel_error(got[i], eager[i]), 1e-5) << "output " << i;
}

TEST(GraphPasses, FrozenResnet18ConvolutionsChainBlocked) {
  if (ops::conv_channel_block() == 0) GTEST_SKIP() << "no blocked convolution on this CPU";
  manual_seed(15);
  auto net = models::resnet18();
  net->eval();
  CompileOptions o;
  o.freeze = true;
  CompiledFunction f = compile(*net, o);
  Tensor x = randn({1, 3, 64, 64});
  f(x);
  const std::string g = f.last_graph();
  // 20 convolutions, every residual add and ReLU fused, no conversion until the pooling
  // at the end.
  EXPECT_EQ(count_nodes(g, "conv2d_blocked"), 20) << g;
  EXPECT_EQ(count_nodes(g, "to_blocked"), 0) << g;
  EXPECT_EQ(count_nodes(g, "from_blocked"), 1) << g;
  EXPECT_EQ(count_nodes(g, "add"), 0) << g;
  EXPECT_EQ(count_nodes(g, "relu"), 0) << g;
}

TEST(GraphPasses, FrozenLinearLayersFuseBiasResidualAndRelu) {
  manual_seed(16);
  auto enc = models::encoder();
  enc->eval();
  CompileOptions o;
  o.freeze = true;
  CompiledFunction f = compile(*enc, o);
  Tensor x = randn({1, 16, 256});
  const Tensor eager = (*enc)(x);
  f(x);
  const std::string g = f.last_graph();
  // Four projections: qkv (+bias), out (+bias +x), feed-forward 1 (+bias, relu), 2 (+bias +h).
  EXPECT_EQ(count_nodes(g, "linear_fused"), 4) << g;
  // Attention is one node (its fused kernel), not matmul, mul, softmax, matmul.
  EXPECT_EQ(count_nodes(g, "scaled_dot_product_attention"), 1) << g;
  EXPECT_EQ(count_nodes(g, "matmul"), 0) << g;
  EXPECT_EQ(count_nodes(g, "softmax"), 0) << g;
  EXPECT_EQ(count_nodes(g, "relu"), 0) << g;
  EXPECT_NE(g.find("activation=\"relu\""), std::string::npos) << g;
  // Without gradients the composite runs its fused kernel: one node per layer norm, not
  // its eight-op decomposition.
  EXPECT_EQ(count_nodes(g, "layer_norm"), 2) << g;
  EXPECT_EQ(count_nodes(g, "var"), 0) << g;
  EXPECT_LE(max_rel_error(f(x), eager), 1e-5);

  // A matmul whose output is also read elsewhere keeps its epilogue apart, and a value
  // computed after the matmul is no residual of it.
  Tensor w = randn({8, 8}), b = randn({8});
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor y = matmul(in[0], w);
    Tensor later = exp(in[0]);
    return std::vector<Tensor>{relu(add(add(y, b), later)), sigmoid(y)};
  };
  CompiledFunction h = compile(fn, o);
  Tensor v = randn({3, 8});
  const std::vector<Tensor> want = fn({v});
  h(std::vector<Tensor>{v});
  const std::vector<Tensor> got = h(std::vector<Tensor>{v});
  const std::string hg = h.last_graph();
  EXPECT_EQ(count_nodes(hg, "linear_fused"), 1) << hg;  // the matmul alone (zero bias)
  EXPECT_EQ(count_nodes(hg, "relu"), 1) << hg;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_LE(max_rel_error(got[i], want[i]), 1e-5) << "output " << i;
}

TEST(GraphPasses, TrainingGraphsFuseReluGradientsAndPickWinograd) {
  manual_seed(18);
  auto net = models::cnn28();
  net->eval();  // dropout off: compare with eager exactly as far as float32 allows
  optim::SGD opt(net->parameters(), optim::SGDOptions{});
  auto step = [&](const std::vector<Tensor>& in) {
    opt.zero_grad();
    Tensor loss = F::cross_entropy((*net)(in[0]), in[1]);
    loss.backward();
    return std::vector<Tensor>{loss, net->parameters()[0].grad().clone()};
  };
  CompiledFunction f = compile(step);
  const Tensor x = randn({8, 1, 28, 28}), y = randint(0, 10, {8});
  const std::vector<Tensor> first = f({x, y});
  const std::string g = f.last_graph();
  // Three ReLUs: each gradient one node, no bool mask left.
  EXPECT_EQ(count_nodes(g, "threshold_backward"), 3) << g;
  EXPECT_EQ(count_nodes(g, "gt"), 0) << g;
  EXPECT_EQ(count_nodes(g, "where"), 0) << g;
  // The step runs the algorithms eager picks (ops::winograd_pays), recorded on the traced
  // convolution and passed on to its gradient ops: at batch 8 the 32->64 layer (8 x 24 x 24
  // output positions) runs Winograd forward, for the input gradient and for the weight
  // gradient; the first layer (one input channel, where Winograd's transforms cost more than
  // they save) runs direct. oneDNN runs direct where it has no Winograd kernel.
  // (Where the CPU has blocked convolutions they run blocked, with the same attributes.)
  const bool blocked = ops::conv_channel_block() != 0;
  const std::string conv = blocked ? "conv2d_blocked" : "conv2d";
  // On blocks of 8 the 32->64 Winograd also pools its output tiles (fuse_conv_pool.cc):
  // one conv2d_max_pool2x2_blocked node.
  const std::string fused_pool = "conv2d_max_pool2x2_blocked";
  const int fused = ops::conv_channel_block() == 8 ? 1 : 0;
  EXPECT_EQ(count_nodes(g, fused_pool), fused) << g;
  EXPECT_EQ(count_nodes(g, conv), 2 - fused) << g;
  // (Its gradient passes then read the pooled gradient and the indices: their _unpool forms.)
  const std::string input_grad = blocked ? (fused ? "conv2d_backward_input_unpool_blocked" : "conv2d_backward_input_blocked")
                                         : "conv2d_backward_input";
  EXPECT_NE(g.find(input_grad + "(%"), std::string::npos) << g;
  auto lines_of = [&](const std::string& graph, const std::string& head) {
    std::vector<std::string> lines;
    for (size_t at = graph.find(head); at != std::string::npos; at = graph.find(head, at + 1))
      lines.push_back(graph.substr(at, graph.find('\n', at) - at));
    return lines;
  };
  int winograd_forward = 0;
  for (const std::string& head : {"= " + conv + "(", "= " + fused_pool + "("})
    for (const std::string& line : lines_of(g, head)) winograd_forward += line.find("winograd") != std::string::npos;
  EXPECT_EQ(winograd_forward, 1) << g;
  EXPECT_EQ(g.find("winograd_4x4"), std::string::npos) << g;  // F(4x4, 3x3) is inference's only
  for (const std::string& line : lines_of(g, "= " + input_grad + "("))
    EXPECT_NE(line.find("winograd"), std::string::npos) << line;
  for (const std::string weight_grad : {blocked ? "= conv2d_backward_weight_blocked(" : "= conv2d_backward_weight(",
                                        "= conv2d_backward_weight_unpool_blocked("})
    for (const std::string& line : lines_of(g, weight_grad)) {
      const bool first_layer = line.find("weight_size=[32, 1, 3, 3]") != std::string::npos;
      EXPECT_EQ(line.find("winograd") != std::string::npos, !first_layer) << line;
    }
  // Eager made the same choice, so the compiled step computes what eager computes.
  const std::vector<Tensor> eager = step({x, y});
  EXPECT_LE(max_rel_error(first[0], eager[0]), 1e-5);
  EXPECT_LE(max_rel_error(first[1], eager[1]), 1e-4);
  // At batch 4 (2304 positions) eager stays direct, and so does the compiled step.
  CompiledFunction small = compile(step);
  small({randn({4, 1, 28, 28}), randint(0, 10, {4})});
  EXPECT_EQ(small.last_graph().find("winograd"), std::string::npos) << small.last_graph();
  const std::vector<Tensor> again = f({x, y});
  EXPECT_LE(max_rel_error(again[0], first[0]), 1e-5);
  EXPECT_LE(max_rel_error(again[1], first[1]), 1e-5);  // the first conv's weight gradient
}

// A training step keeps its convolutions' activations and gradients in the blocked layout
// from the first convolution to the last pooling, forward and backward, and computes what
// eager computes.
TEST(GraphPasses, TrainingStepsKeepConvolutionChainsBlocked) {
  if (ops::conv_channel_block() == 0) GTEST_SKIP() << "no blocked convolutions on this CPU";
  struct Case {
    const char* name;
    std::function<std::shared_ptr<nn::Module>()> make;
    Shape input;
    int64_t convs, pools;
  };
  for (const Case& c : {Case{"cnn28", [] { return models::cnn28(); }, {8, 1, 28, 28}, 2, 1},
                        Case{"cnn64", [] { return models::cnn64(); }, {4, 3, 64, 64}, 3, 3}}) {
    SCOPED_TRACE(c.name);
    manual_seed(22);
    auto net = c.make(), eager_net = c.make();
    eager_net->load_state_dict(net->state_dict());
    net->eval();  // dropout off: eager and compiled draw nothing
    eager_net->eval();
    auto step_of = [](nn::Module& m) {
      return [&m](const std::vector<Tensor>& in) {
        for (Tensor& p : m.parameters())
          if (p.grad().defined()) p.grad().zero_();
        Tensor loss = F::cross_entropy(m(in[0]), in[1]);
        loss.backward();
        std::vector<Tensor> out{loss};
        for (const Tensor& p : m.parameters()) out.push_back(p.grad().clone());
        return out;
      };
    };
    CompiledFunction f = compile(step_of(*net));
    const Tensor x = randn(c.input), y = randint(0, 8, {c.input[0]});
    f({x, y});
    const std::vector<Tensor> got = f({x, y});
    const std::vector<Tensor> want = step_of(*eager_net)({x, y});
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_LE(max_rel_error(got[i], want[i]), 1e-4) << "output " << i;
    const std::string g = f.last_graph();
    EXPECT_EQ(count_nodes(g, "conv2d"), 0) << g;
    // A Winograd convolution whose output only its pooling reads pools its own tiles
    // (fuse_conv_pool.cc): on blocks of 8 (float32), at least the 32->64 layer.
    const int fused = count_nodes(g, "conv2d_max_pool2x2_blocked");
    if (ops::conv_channel_block() == 8) {
      EXPECT_GE(fused, 1) << g;
    }
    EXPECT_EQ(count_nodes(g, "conv2d_blocked") + fused, c.convs) << g;
    // Its gradient passes read the pooled gradient and the indices where their Winograd
    // can (the input gradient's needs even padding): then no unpooled gradient is made.
    const int unpool_w = count_nodes(g, "conv2d_backward_weight_unpool_blocked");
    const int unpool_x = count_nodes(g, "conv2d_backward_input_unpool_blocked");
    EXPECT_LE(unpool_w, fused) << g;
    EXPECT_EQ(count_nodes(g, "conv2d_backward_weight_blocked") + unpool_w, c.convs) << g;
    EXPECT_EQ(count_nodes(g, "conv2d_backward_input_blocked") + unpool_x, c.convs - 1) << g;  // none for the image
    EXPECT_EQ(count_nodes(g, "channel_sum_blocked"), c.convs) << g;  // the biases' gradients
    EXPECT_EQ(count_nodes(g, "max_pool2d_indices_blocked") + fused, c.pools) << g;
    // Each pooling gradient the passes read through their _unpool forms is gone.
    EXPECT_EQ(count_nodes(g, "max_pool2d_backward_blocked") + unpool_w, c.pools) << g;
    // One conversion each way: the last pooling's output to the linear layers, and their
    // gradient back.
    EXPECT_EQ(count_nodes(g, "from_blocked"), 1) << g;
    EXPECT_EQ(count_nodes(g, "to_blocked"), 1) << g;
  }
}

// Max pooling's ties and NaN: the blocked pooling picks the element max_pool2d picks, so
// its gradient lands where eager's does. Blocks of 16 and 8: the CPU's own block takes its
// ISA's kernel (vec/pool.h), the other the portable loop.
TEST(GraphPasses, BlockedMaxPoolingPicksWhatMaxPool2dPicks) {
  ops::ensure_registered();
  using Ints = std::vector<int64_t>;
  for (const int64_t block : {int64_t{8}, int64_t{16}}) {
    for (const Ints& kernel_stride_pad : {Ints{2, 2, 0}, Ints{3, 2, 1}, Ints{2, 1, 0}, Ints{3, 1, 1}}) {
      SCOPED_TRACE("block " + std::to_string(block) + ", kernel " + std::to_string(kernel_stride_pad[0]) +
                   ", stride " + std::to_string(kernel_stride_pad[1]));
      manual_seed(23);
      Tensor x = randint(-2, 3, {2, 16, 7, 7}).to(kFloat32);  // many ties
      x.data<float>()[11] = std::numeric_limits<float>::quiet_NaN();
      x.data<float>()[60] = -std::numeric_limits<float>::infinity();
      const int64_t k = kernel_stride_pad[0], s = kernel_stride_pad[1], p = kernel_stride_pad[2];
      const ops::Attrs pool{{"kernel", Ints{k, k}}, {"stride", Ints{s, s}}, {"padding", Ints{p, p}},
                            {"dilation", Ints{1, 1}}, {"ceil_mode", false}};
      const std::vector<Tensor> plain = ops::call(*ops::find_op("max_pool2d"), {x}, pool);
      const Tensor xb = ops::call(*ops::find_op("to_blocked"), {x}, {{"block", block}})[0];
      const std::vector<Tensor> blocked = ops::call(*ops::find_op("max_pool2d_indices_blocked"), {xb}, pool);
      const ops::Attrs back{{"channels", int64_t{16}}};
      const Tensor values = ops::call(*ops::find_op("from_blocked"), {blocked[0]}, back)[0];
      const Tensor indices =
          ops::call(*ops::find_op("from_blocked"), {blocked[1].to(kFloat64)}, back)[0].to(kInt64);
      EXPECT_EQ(indices.to_vector<int64_t>(), plain[1].to_vector<int64_t>());
      const std::vector<float> a = values.to_vector<float>(), b = plain[0].to_vector<float>();
      for (size_t j = 0; j < a.size(); ++j) EXPECT_TRUE(a[j] == b[j] || (std::isnan(a[j]) && std::isnan(b[j]))) << j;
      // The gradients scattered: the same sums at the same places.
      const Tensor gy = randn(plain[0].sizes());
      const Tensor want = ops::call(*ops::find_op("max_pool2d_backward"), {gy, plain[1]},
                                    {{"input_size", Ints{2, 16, 7, 7}}})[0];
      const Tensor gyb = ops::call(*ops::find_op("to_blocked"), {gy}, {{"block", block}})[0];
      const Tensor gxb = ops::call(*ops::find_op("max_pool2d_backward_blocked"), {gyb, blocked[1]},
                                   {{"input_size", Ints{2, 16, 7, 7}}})[0];
      const Tensor got = ops::call(*ops::find_op("from_blocked"), {gxb}, back)[0];
      EXPECT_EQ(got.to_vector<float>(), want.to_vector<float>());
    }
  }
}

// max_pool2d_backward_blocked trusts no index: one outside its own 2x2 window (but in the
// plane) is scattered where it points, as max_pool2d_backward would; one outside the plane
// is an error naming it. Blocks of 16 and 8, as above.
TEST(GraphPasses, BlockedPoolGradientChecksItsIndices) {
  ops::ensure_registered();
  using Ints = std::vector<int64_t>;
  for (const int64_t b : {int64_t{8}, int64_t{16}}) {
    SCOPED_TRACE("block " + std::to_string(b));
    const Tensor x = randn({1, 16, 4, 4});
    const ops::Attrs pool{{"kernel", Ints{2, 2}}, {"stride", Ints{2, 2}}, {"padding", Ints{0, 0}},
                          {"dilation", Ints{1, 1}}, {"ceil_mode", false}};
    const ops::Attrs block{{"block", b}};
    const Tensor xb = ops::call(*ops::find_op("to_blocked"), {x}, block)[0];
    Tensor idx = ops::call(*ops::find_op("max_pool2d_indices_blocked"), {xb}, pool)[1].clone();
    idx.data<int64_t>()[b * 3 + 5] = 0;  // window (1, 1), lane 5: the plane's first element
    const Tensor gy = ones({1, 16 / b, 2, 2, b});
    const ops::Attrs size{{"input_size", Ints{1, 16, 4, 4}}};
    const Tensor gx = ops::call(*ops::find_op("max_pool2d_backward_blocked"), {gy, idx}, size)[0];
    const Tensor plain = ops::call(*ops::find_op("from_blocked"), {gx}, {{"channels", int64_t{16}}})[0];
    EXPECT_EQ(sum(plain).item<float>(), 64.f);  // every gradient lands somewhere
    EXPECT_EQ(plain.data<float>()[5 * 16], idx.data<int64_t>()[5] == 0 ? 2.f : 1.f);  // lane 5's plane, element 0
    idx.data<int64_t>()[7] = 99;
    const std::string msg = error_of([&] { ops::call(*ops::find_op("max_pool2d_backward_blocked"), {gy, idx}, size); });
    EXPECT_NE(msg.find("index 99 is out of range for a plane of 16 elements"), std::string::npos) << msg;
  }
}

TEST(GraphPasses, LinearWeightGradientsAreComputedUntransposed) {
  manual_seed(19);
  auto net = models::mlp();
  optim::SGD opt(net->parameters(), optim::SGDOptions{});
  auto step = [&](const std::vector<Tensor>& in) {
    opt.zero_grad();
    Tensor loss = F::cross_entropy((*net)(in[0]), in[1]);
    loss.backward();
    std::vector<Tensor> out{loss};
    for (const Tensor& p : net->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  auto eager_net = models::mlp();
  eager_net->load_state_dict(net->state_dict());
  CompiledFunction f = compile(step);
  const Tensor x = randn({16, 784}), y = randint(0, 10, {16});
  f({x, y});  // traces
  const std::string g = f.last_graph();
  // Three layers: each weight gradient one mm writing [out, in], no transposed copy left.
  EXPECT_EQ(g.find("strides=[1, "), std::string::npos) << g;  // no transposed view copied
  EXPECT_GE(count_nodes(g, "mm"), 3) << g;
  // Nor a contiguous one: the only clones left copy the bias gradients (sum's results, the
  // three of AccumulateGrad) and the six the step returns.
  EXPECT_EQ(count_nodes(g, "clone"), 9) << g;
  const std::vector<Tensor> got = f({x, y});
  optim::SGD eager_opt(eager_net->parameters(), optim::SGDOptions{});
  eager_opt.zero_grad();
  F::cross_entropy((*eager_net)(x), y).backward();
  const std::vector<Tensor> params = eager_net->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_LE(max_rel_error(got[i + 1], params[i].grad()), 1e-6) << i;
}

TEST(GraphIR, VerifierCatchesABrokenGraph) {
  graph::Trace t = trace_of([](const std::vector<Tensor>& in) { return std::vector<Tensor>{exp(neg(in[0]))}; },
                            {randn({2})});
  t.graph.verify();
  std::swap(t.graph.nodes[0], t.graph.nodes[1]);  // exp now reads neg's output before it exists
  const std::string msg = error_of([&] { t.graph.verify(); });
  EXPECT_NE(msg.find("graph verifier"), std::string::npos) << msg;
  EXPECT_NE(msg.find("before its definition"), std::string::npos) << msg;
}

TEST(GraphIR, DumpListsValuesTypesAndAttributes) {
  graph::Trace t = trace_of([](const std::vector<Tensor>& in) { return std::vector<Tensor>{sum(in[0], {1}, true)}; },
                            {randn({2, 3})});
  const std::string d = t.graph.dump();
  EXPECT_NE(d.find("graph(%in0: [2, 3] f32)"), std::string::npos) << d;
  EXPECT_NE(d.find("sum(%in0) {dims=[1], keepdim=true"), std::string::npos) << d;
  EXPECT_NE(d.find(": [2, 1] f32"), std::string::npos) << d;
}

}  // namespace

// ---- elementwise fusion ----

// Nodes of exactly `op` (not steps inside fused programs).
int count_plain(const std::string& dump, const std::string& op) {
  int n = 0;
  const std::string key = "= " + op + "(";
  for (size_t at = dump.find(key); at != std::string::npos; at = dump.find(key, at + 1)) ++n;
  return n;
}

TEST(GraphPasses, ElementwiseChainsRunAsOneNodeWithEagersBits) {
  manual_seed(31);
  const Tensor scale = scalar_tensor(0.5, kFloat64);  // a 0-d f64 operand: converted, as eager does
  auto fn = [&](const std::vector<Tensor>& in) {
    // neg(x) is also an output, so it stays a node and enters the chain as an operand; u is
    // read twice, so the chain ends there and a second one starts.
    Tensor n = neg(in[0]);
    Tensor t = relu(add(mul(in[0], in[1]), n));
    Tensor u = sub(exp(mul(t, scale)), 1);
    Tensor w = mul(sigmoid(u), u);
    return std::vector<Tensor>{w, n};
  };
  CompiledFunction f = compile(fn);
  for (int64_t rows : {3, 128}) {  // 128 x 300: past the parallel grain
    const Tensor x = randn({rows, 300}), y = randn({rows, 300});
    const std::vector<Tensor> want = fn({x, y});
    const std::vector<Tensor> got = f({x, y});
    const std::string g = f.last_graph();
    EXPECT_EQ(count_plain(g, "fused_elementwise"), 2) << g;
    for (const char* op : {"mul", "add", "relu", "exp", "sub", "sigmoid"})
      EXPECT_EQ(count_plain(g, op), 0) << op << "\n" << g;
    EXPECT_EQ(count_plain(g, "neg"), 1) << g;
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(max_abs_diff(got[i], want[i]), 0.0) << "rows " << rows << ", output " << i;
    if (rows == 3) std::cout << g;
  }
}

TEST(GraphPasses, ElementwiseFusionStopsAtBroadcastsAndWrites) {
  manual_seed(32);
  // A [1, 8] row broadcast over [4, 8]: the add is no step; the mul before it and the relu
  // after it have no fusable neighbour.
  const Tensor row = randn({1, 8});
  auto broadcast = [&](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{relu(add(mul(in[0], 2.0), row))};
  };
  CompiledFunction b = compile(broadcast);
  const Tensor x = randn({4, 8});
  const std::vector<Tensor> xs{x};
  EXPECT_EQ(max_abs_diff(b(xs)[0], broadcast(xs)[0]), 0.0);
  EXPECT_EQ(count_plain(b.last_graph(), "fused_elementwise"), 0) << b.last_graph();

  // A write between two ops: fused, the mul would read `state` after the add_ wrote it.
  Tensor state = ones({4, 8});
  auto writes = [&](const std::vector<Tensor>& in) {
    Tensor a = mul(in[0], state);
    state.add_(1.0);
    return std::vector<Tensor>{add(a, 3.0)};
  };
  CompiledFunction w = compile(writes);
  Tensor eager_state = ones({4, 8});
  std::swap(state, eager_state);
  const Tensor want = writes(xs)[0];  // eager, on its own state
  std::swap(state, eager_state);
  const Tensor got = w(xs)[0];
  EXPECT_EQ(max_abs_diff(got, want), 0.0);
  EXPECT_EQ(count_plain(w.last_graph(), "fused_elementwise"), 0) << w.last_graph();
}

TEST(GraphPasses, TrainingStepsFuseTheirElementwiseChains) {
  manual_seed(33);
  auto net = models::cnn28();  // train mode: dropout's mask * scale * x chains
  optim::SGD opt(net->parameters(), optim::SGDOptions{});
  auto step = [&](const std::vector<Tensor>& in) {
    opt.zero_grad();
    Tensor loss = F::cross_entropy((*net)(in[0]), in[1]);
    loss.backward();
    opt.step();
    return std::vector<Tensor>{loss};
  };
  CompiledFunction f = compile(step);
  (void)f({randn({8, 1, 28, 28}), randint(0, 10, {8})});
  const std::string g = f.last_graph();
  const int fused = count_plain(g, "fused_elementwise");
  EXPECT_GE(fused, 3) << g;
  std::cout << "cnn28 training step: " << fused << " fused_elementwise nodes, " << count_plain(g, "mul")
            << " mul nodes left\n";
}

TEST(GraphPasses, MultiplicationsByALiteralOneGo) {
  manual_seed(34);
  const Tensor one = scalar_tensor(1.0);  // a captured tensor, not a literal: it may change
  auto fn = [&](const std::vector<Tensor>& in) {
    Tensor a = mul(mm(in[0], in[1]), 1);  // addmm's backward writes this
    Tensor b = sub(div(a, 1.0), 0);
    Tensor c = mul(b, one);
    Tensor r = mul(in[0], 1);  // returned: stays (it would alias the input)
    // Viewed and the view only read: goes. Viewed and the view returned: stays.
    Tensor v = mul(mm(in[1], in[0]), 1).view({16}).view({2, 8});
    Tensor kept = mul(in[1], 1).view({16});
    return std::vector<Tensor>{mm(c, in[1]), r, v.sum(), kept};
  };
  CompiledFunction f = compile(fn);
  const std::vector<Tensor> xs{randn({4, 4}), randn({4, 4})};
  const std::vector<Tensor> want = fn(xs);
  const std::vector<Tensor> got = f(xs);
  const std::string g = f.last_graph();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(max_abs_diff(got[i], want[i]), 0.0) << i;
  EXPECT_EQ(count_plain(g, "div"), 0) << g;
  EXPECT_EQ(count_plain(g, "sub"), 0) << g;
  EXPECT_EQ(count_plain(g, "mul"), 3) << g;  // by the captured `one`, the returned one and the returned view's
  EXPECT_FALSE(got[1].storage() == xs[0].storage());
  EXPECT_FALSE(got[3].storage() == xs[1].storage());
}

// pool_before_relu.cc: max_pool2d(relu(x)) runs as relu(max_pool2d(x)), and ReLU's
// gradient over the pooled gradient. Exactly equal to eager, values and gradients, with
// ties, windows with no positive element, padding, ceil_mode, overlapping windows and a NaN.
TEST(GraphPasses, MaxPoolingRunsBeforeItsReluExactly) {
  struct Case {
    std::vector<int64_t> kernel, stride, padding;
    bool ceil_mode;
  };
  for (const Case& c : {Case{{2, 2}, {2, 2}, {0, 0}, false}, Case{{3, 3}, {2, 2}, {1, 1}, true},
                        Case{{2, 2}, {1, 1}, {0, 0}, false}}) {
    manual_seed(21);
    // Small integers: many ties, and many windows with no positive element.
    Tensor scale = (randint(-2, 3, {2, 3, 7, 7}).to(kFloat32)).requires_grad_(true);
    Tensor x = randint(-2, 3, {2, 3, 7, 7}).to(kFloat32);
    x.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
    auto step = [&](const std::vector<Tensor>& in) {
      if (scale.grad().defined()) scale.grad().zero_();
      Tensor y = F::max_pool2d(relu(scale * in[0]), c.kernel, c.stride, c.padding, {1, 1}, c.ceil_mode);
      Tensor loss = sum(y * in[1]);
      loss.backward();
      return std::vector<Tensor>{y, scale.grad().clone()};
    };
    const Tensor pooled = F::max_pool2d(x, c.kernel, c.stride, c.padding, {1, 1}, c.ceil_mode);
    const Tensor weights = randn(pooled.sizes());
    const std::vector<Tensor> eager = step({x, weights});
    CompiledFunction f = compile(step);
    const std::vector<Tensor> compiled = f({x, weights});
    const std::string g = f.last_graph();
    EXPECT_NE(g.find("relu(%"), std::string::npos) << g;
    EXPECT_LT(g.find("max_pool2d("), g.find("relu(%")) << "the pooling runs first\n" << g;
    for (size_t i = 0; i < 2; ++i) {
      const std::vector<float> a = eager[i].to_vector<float>(), b = compiled[i].to_vector<float>();
      ASSERT_EQ(a.size(), b.size());
      for (size_t j = 0; j < a.size(); ++j)
        // == and not memcmp: without this pass the compiled gradient's zeros already
        // differ from eager's in sign (-0 vs 0, where the gradient is 0 times a negative).
        EXPECT_TRUE(a[j] == b[j] || (std::isnan(a[j]) && std::isnan(b[j])))
            << "output " << i << " element " << j << ": eager " << a[j] << ", compiled " << b[j];
    }
  }
}
