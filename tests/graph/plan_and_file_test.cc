// The memory planner and the compiled-graph file.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "graph/planner.h"
#include "graph/serialize.h"
#include "graph/tracer.h"
#include "tessera/graph.h"
#include "tessera/models.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

graph::Graph traced_eval(nn::Module& net, const Tensor& x) {
  net.eval();
  graph::Trace t = graph::trace([&](const std::vector<Tensor>& in) { return net.forward_multi(in); }, {x});
  return std::move(t.graph);
}

TEST(MemoryPlan, Resnet18ArenaIsAFractionOfItsIntermediates) {
  manual_seed(0);
  auto net = models::resnet18();
  const graph::Graph g = traced_eval(*net, randn({1, 3, 224, 224}));
  const graph::MemoryPlan plan = graph::plan_memory(g);
  graph::verify_plan(plan);
  const double ratio = static_cast<double>(plan.arena_bytes) / static_cast<double>(plan.intermediate_bytes);
  std::printf("memory plan resnet18_infer_b1: %zu buffers, intermediates %.2f MB, arena %.2f MB (%.1f%%), "
              "peak live %.2f MB\n",
              plan.buffers.size(), plan.intermediate_bytes / 1e6, plan.arena_bytes / 1e6, 100 * ratio,
              plan.peak_live_bytes / 1e6);
  EXPECT_LE(ratio, 0.40);
  EXPECT_GE(plan.arena_bytes, plan.peak_live_bytes);  // no plan beats the peak
}

TEST(MemoryPlan, AliasesShareTheirBufferAndOutputsStayOut) {
  graph::Trace t = graph::trace([](const std::vector<Tensor>& in) {
    Tensor a = exp(in[0]);          // buffer 0
    Tensor v = a.view({4, 2});      // a view: a's buffer
    Tensor b = neg(v);              // graph output: not planned
    return std::vector<Tensor>{b};
  }, {randn({8})});
  const graph::MemoryPlan plan = graph::plan_memory(t.graph);
  graph::verify_plan(plan);
  const graph::Node& view = t.graph.nodes[1];
  EXPECT_EQ(plan.buffer_of[static_cast<size_t>(view.outputs[0])], plan.buffer_of[static_cast<size_t>(view.inputs[0])]);
  EXPECT_GE(plan.buffer_of[static_cast<size_t>(view.inputs[0])], 0);
  EXPECT_EQ(plan.buffer_of[static_cast<size_t>(t.graph.outputs[0])], -1);
  EXPECT_EQ(plan.buffers.size(), 1u);
}

std::string temp_path(const char* name) {
  return std::string(TESSERA_TEST_BINARY_DIR) + "/" + name + "." + std::to_string(::getpid()) + ".safetensors";
}

TEST(CompiledFile, SavedCnn28RunsAfterLoadingWithTheSameOutputs) {
  manual_seed(1);
  auto net = models::cnn28();
  net->eval();
  CompiledFunction f = compile(*net);
  const Tensor x = randn({2, 1, 28, 28});
  f(x);                   // traces (eager results)
  const Tensor y = f(x);  // the graph's: what the saved file must reproduce exactly
  const std::string path = temp_path("cnn28_graph");
  f.save(path);
  CompiledFunction g = load_compiled(path);
  std::remove(path.c_str());
  const Tensor got = g(x);
  EXPECT_LE(max(abs(got - y)).item<double>(), 0.0);
  const Tensor x2 = randn({2, 1, 28, 28});
  EXPECT_LE(max(abs(g(x2) - (*net)(x2))).item<double>(), 1e-6);
  // Another input shape than the graph's: an error naming both.
  const std::string msg = error_of([&] { g(randn({3, 1, 28, 28})); });
  EXPECT_NE(msg.find("takes inputs [2, 1, 28, 28] f32; got [3, 1, 28, 28] f32"), std::string::npos) << msg;
}

TEST(CompiledFile, SaveBeforeAnyCallIsAClearError) {
  CompiledFunction f = compile([](const std::vector<Tensor>& in) { return in; });
  EXPECT_NE(error_of([&] { f.save(temp_path("never")); }).find("call the function once"), std::string::npos);
}

TEST(CompiledFile, CorruptFilesAreRejectedNamingTheProblem) {
  manual_seed(2);
  Tensor w = randn({3, 3});
  CompiledFunction f = compile([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{relu(matmul(in[0], w))}; });
  f(randn({2, 3}));
  const std::string path = temp_path("corrupt");
  f.save(path);
  const std::string good = read_bytes(path);

  // A graph whose JSON names an op that does not exist, or a value id out of range.
  auto rewrite = [&](const std::string& from, const std::string& to) {
    std::string bytes = good;
    const size_t at = bytes.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    bytes.replace(at, from.size(), to);
    write_bytes(path, bytes);
  };
  rewrite("\\\"op\\\": \\\"relu\\\"", "\\\"op\\\": \\\"reul\\\"");  // same length: the header stays valid
  EXPECT_NE(error_of([&] { load_compiled(path); }).find("unknown op 'reul'"), std::string::npos);
  rewrite("\\\"into\\\": -1", "\\\"into\\\": 99");
  {
    const std::string msg = error_of([&] { load_compiled(path); });
    EXPECT_NE(msg.find("not a valid compiled graph"), std::string::npos) << msg;
    EXPECT_NE(msg.find("value id 99 out of range"), std::string::npos) << msg;
  }

  // Random byte flips and truncations: an Error every time the file is refused, never a crash.
  std::mt19937 rng(7);
  int refused = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = good;
    if (trial % 3 == 0) {
      bytes.resize(rng() % bytes.size());
    } else {
      for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
    }
    write_bytes(path, bytes);
    try {
      CompiledFunction g = load_compiled(path);
      g(randn({2, 3}));
    } catch (const Error&) {
      ++refused;
    }
  }
  std::remove(path.c_str());
  EXPECT_GT(refused, 100);
}

TEST(CompiledFile, APlainWeightsFileIsNotAGraph) {
  const std::string path = temp_path("plain");
  save_safetensors(path, {{"w", ones({2})}});
  const std::string msg = error_of([&] { load_compiled(path); });
  std::remove(path.c_str());
  EXPECT_NE(msg.find("no \"tessera.graph\" entry"), std::string::npos) << msg;
}

}  // namespace
