// The memory planner and the compiled-graph file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "graph/executor.h"
#include "graph/passes/passes.h"
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
              "peak live %.2f MB, %d outputs written in place\n",
              plan.buffers.size(), plan.intermediate_bytes / 1e6, plan.arena_bytes / 1e6, 100 * ratio,
              plan.peak_live_bytes / 1e6, plan.reused_in_place);
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

TEST(MemoryPlan, ElementwiseChainsRunInPlaceAndGiveEagersResults) {
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor a = exp(in[0]);
    Tensor b = relu(add(a, in[1]));  // add over a (dead after it), relu over the sum
    Tensor c = mul(b, 2.0);
    Tensor keep = sigmoid(c);        // c is read again below: sigmoid may not take it
    return std::vector<Tensor>{sum(add(keep, c))};
  };
  const std::vector<Tensor> x{randn({64, 33}), randn({64, 33})};
  graph::Trace t = graph::trace(fn, x);
  const graph::MemoryPlan plan = graph::plan_memory(t.graph);
  graph::verify_plan(plan);
  // add takes a's buffer, relu and mul the same; the last add takes sigmoid's or c's.
  EXPECT_EQ(plan.reused_in_place, 4);
  const auto buffer = [&](int node) { return plan.buffer_of[static_cast<size_t>(t.graph.nodes[static_cast<size_t>(node)].outputs[0])]; };
  EXPECT_EQ(buffer(0), buffer(1));  // exp -> add
  EXPECT_EQ(buffer(1), buffer(2));  // add -> relu
  EXPECT_NE(buffer(3), buffer(4));  // c still live when sigmoid writes
  graph::Executor run(t.graph);
  for (int call = 0; call < 3; ++call)  // warm calls reuse the frame: same results
    EXPECT_EQ(max_rel_error(run.run(x)[0], fn(x)[0]), 0.0);
}

TEST(Executor, WarmCallsOfFrozenModelsAllocateOnlyTheirOutputs) {
  for (const char* name : {"cnn28", "resnet18"}) {
    manual_seed(0);
    std::shared_ptr<nn::Module> net;
    if (std::string(name) == "cnn28") net = models::cnn28(); else net = models::resnet18();
    net->eval();
    const Tensor x = std::string(name) == "cnn28" ? randn({1, 1, 28, 28}) : randn({1, 3, 224, 224});
    graph::Trace t = [&] {
      NoGradGuard no_grad;
      return graph::trace([&](const std::vector<Tensor>& in) { return net->forward_multi(in); }, {x});
    }();
    graph::optimize(t.graph, {.freeze = true});
    const graph::Executor exec(std::move(t.graph));
    const Tensor expected = [&] { NoGradGuard g; return net->forward(x); }();
    EXPECT_LE(max_rel_error(exec.run({x})[0], expected), 1e-5) << name;
    exec.run({x});  // warm: the frame exists, oneDNN primitives are made
    const int64_t before = memory_stats().alloc_calls;
    const Tensor y = exec.run({x})[0];
    const int64_t allocations = memory_stats().alloc_calls - before;
    // What is left: the output, and the scratchpad a oneDNN primitive may take from the
    // caching allocator per execution (a cache hit, not a malloc; none when it needs none).
    int primitives = 0;
    for (const graph::Node& n : exec.graph().nodes)
      primitives += std::string(n.op->name) == "conv2d_blocked" || std::string(n.op->name) == "linear_fused";
    std::printf("frozen %s: %zu nodes, %d on the fast path, %lld allocations per warm call (%d oneDNN "
                "scratchpads)\n", name, exec.graph().nodes.size(), exec.fast_path_nodes(),
                static_cast<long long>(allocations), primitives);
    EXPECT_EQ(exec.fast_path_nodes(), static_cast<int>(exec.graph().nodes.size())) << name;
    EXPECT_LE(allocations, 1 + primitives) << name;  // every intermediate lives in the arena
    EXPECT_LE(max_rel_error(y, expected), 1e-5) << name;
  }
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
  // Loaded with dynamic_batch: any batch (the graph re-derived), the same outputs as eager;
  // another image size is still an error.
  f.save(path);
  CompileOptions o;
  o.dynamic_batch = true;
  CompiledFunction h = load_compiled(path, o);
  std::remove(path.c_str());
  for (int64_t batch : {3, 1, 16}) {
    const Tensor xb = randn({batch, 1, 28, 28});
    EXPECT_LE(max(abs(h(xb) - (*net)(xb))).item<double>(), 1e-6) << batch;
  }
  EXPECT_EQ(h.stats().batch_respecializations, 3);
  EXPECT_NE(error_of([&] { h(randn({2, 1, 32, 32})); }).find("got [2, 1, 32, 32] f32"), std::string::npos);
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

  // A collective names a process group of the process that traced it: never read from a
  // file (save refuses to write one; a file edited to hold one is refused as well).
  {
    write_bytes(path, good);
    SafetensorsContents c = load_safetensors(path);
    std::string json = c.metadata.at("tessera.graph");
    const std::string relu_op = "\"op\": \"relu\"";
    const size_t at = json.find(relu_op);
    ASSERT_NE(at, std::string::npos) << json;
    json.replace(at, relu_op.size(), "\"op\": \"broadcast_\"");
    c.metadata["tessera.graph"] = json;
    save_safetensors(path, c.tensors, c.metadata);
    const std::string msg = error_of([&] { load_compiled(path); });
    EXPECT_NE(msg.find("the collective 'broadcast_' cannot come from a file"), std::string::npos) << msg;
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

// TESSERA_PROFILE=1: a process that ran compiled graphs prints, at exit, where their nodes
// spent the time; without it, nothing. tessera-bench runs CNN28's training step compiled.
TEST(Executor, ProfileFromEnvironmentTablesTheNodesAtExit) {
#ifndef TESSERA_BENCH_PATH
  GTEST_SKIP() << "built without tools (no tessera-bench)";
#else
  const std::string out = ::testing::TempDir() + "/tessera_profile_" + std::to_string(::getpid()) + ".txt";
  RemoveOnExit cleanup{out};
  const std::string bench = std::string(TESSERA_BENCH_PATH) +
                            " --workload cnn28_train_b64 --mode graph --threads 1 --iters 3 > " + out + " 2>&1";
  ASSERT_EQ(std::system(("TESSERA_PROFILE=1 " + bench).c_str()), 0) << read_bytes(out);
  const std::string text = read_bytes(out);
  EXPECT_NE(text.find("# TESSERA_PROFILE: compiled graphs' nodes"), std::string::npos) << text;
  // One row per op and shape: the 32->64 convolution, its two gradients (their blocked
  // forms where the CPU has blocked convolutions: docs/graph.md, "training layouts"; fused
  // with the pooling where the Winograd pools its tiles), Adam's update.
  const std::vector<std::vector<std::string>> rows{
      {"conv2d [64x64x24x24]", "conv2d_blocked [64x", "conv2d_max_pool2x2_blocked [64x"},
      {"conv2d_backward_input [64x32x26x26]", "conv2d_backward_input_blocked [64x",
       "conv2d_backward_input_unpool_blocked [64x"},
      {"conv2d_backward_weight [64x32x3x3]", "conv2d_backward_weight_blocked [64x32x3x3]",
       "conv2d_backward_weight_unpool_blocked [64x32x3x3]"},
      {"adam_update_ [128x9216;"}};
  for (const auto& forms : rows) {
    bool found = false;
    for (const std::string& f : forms) found = found || text.find(f) != std::string::npos;
    EXPECT_TRUE(found) << forms[0] << "\n" << text;
  }
  ASSERT_EQ(std::system(("TESSERA_PROFILE=0 " + bench).c_str()), 0);
  EXPECT_EQ(read_bytes(out).find("TESSERA_PROFILE"), std::string::npos);
#endif
}
