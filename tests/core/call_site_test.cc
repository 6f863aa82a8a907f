// Call sites: errors and graph nodes name the line of the user's code that called the op
// (include/tessera/call_site.h), the innermost one outside Tessera's own sources.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "tessera/graph.h"
#include "tessera/tessera.h"

using namespace tessera;
namespace F = tessera::nn::functional;

namespace {

std::string here(int line) { return "call_site_test.cc:" + std::to_string(line); }

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The message of the InvalidArgumentError `fn` throws.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const InvalidArgumentError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InvalidArgumentError";
  return {};
}

// A user's module: its forward's lines are what its ops' errors name.
class TwoLayers : public nn::Module {
 public:
  TwoLayers() : Module("TwoLayers") {
    w1_ = &register_parameter("w1", randn({4, 8}));
    w2_ = &register_parameter("w2", randn({3, 2}));  // wrong on purpose: [8, 2] would fit
  }
  static constexpr int kSecondMatmulLine = __LINE__ + 3;
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(matmul(x, *w1_));
    return matmul(h, *w2_);
  }

 private:
  Tensor* w1_;
  Tensor* w2_;
};

}  // namespace

TEST(CallSite, EagerErrorsNameTheCallingLine) {
  const std::string msg = error_of([] {
    (void)F::conv2d(zeros({1, 3, 28, 28}), zeros({8, 1, 3, 3}));
  });
  EXPECT_TRUE(starts_with(msg, "conv2d at " + here(__LINE__ - 2) + ": [1, 3, 28, 28] f32, [8, 1, 3, 3] f32: ")) << msg;
  std::cout << "eager error: " << msg << "\n";
  const std::string sum_msg = error_of([] { (void)add(ones({2, 3}), ones({4})); });
  EXPECT_TRUE(starts_with(sum_msg, "add at " + here(__LINE__ - 1) + ": ")) << sum_msg;
}

TEST(CallSite, AUserForwardNamesItsOwnLineNotTheCallers) {
  TwoLayers m;
  const std::string msg = error_of([&] { (void)m(randn({5, 4})); });
  EXPECT_TRUE(starts_with(msg, "matmul at " + here(TwoLayers::kSecondMatmulLine) + ": ")) << msg;
}

TEST(CallSite, LibraryLayersNameTheLineThatCalledTheModel) {
  auto net = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 3),
                                              std::make_shared<nn::ReLU>());
  const std::string msg = error_of([&] { (void)(*net)(randn({2, 5})); });
  EXPECT_TRUE(starts_with(msg, "Linear at " + here(__LINE__ - 1) + ": input [2, 5]")) << msg;
  // Not a line of Tessera's own sources.
  EXPECT_FALSE(contains(msg, "layers.cc")) << msg;
}

TEST(CallSite, OperatorsTakeTheSiteAroundThem) {
  // `a + b` has no site of its own: at top level there is none, inside a call it is that
  // call's.
  const std::string top = error_of([] { (void)(ones({2, 3}) + ones({4})); });
  EXPECT_TRUE(starts_with(top, "add: ")) << top;
  EXPECT_EQ(current_call_site().line(), 0u);
}

TEST(CallSite, IsRestoredAfterTheCallAndPerThread) {
  EXPECT_EQ(current_call_site().line(), 0u);
  (void)relu(ones({2}));
  EXPECT_EQ(current_call_site().line(), 0u);
  std::string seen_inside;
  auto hook_net = std::make_shared<nn::ReLU>();
  hook_net->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) {
    seen_inside = describe_call_site(current_call_site());
    std::thread other([&] { EXPECT_EQ(current_call_site().line(), 0u); });
    other.join();
  });
  (void)(*hook_net)(ones({2}));
  EXPECT_EQ(seen_inside, here(__LINE__ - 1));
  EXPECT_EQ(current_call_site().line(), 0u);
}

TEST(CallSite, GraphNodesKeepTheirLinesInTheDumpAndTheSavedFile) {
  const int relu_line = __LINE__ + 5;
  CompileOptions as_traced;
  as_traced.optimize = false;  // (the passes would fuse the two into one node, on the mul's line)
  auto fn = compile(
      [&](const std::vector<Tensor>& in) -> std::vector<Tensor> {
        Tensor y = relu(in[0]);
        return {mul(y, in[0])};
      },
      as_traced);
  const int mul_line = relu_line + 1;
  (void)fn(randn({2, 3}));
  const std::string dump = fn.last_graph();
  std::cout << dump;
  EXPECT_TRUE(contains(dump, "relu(%in0) : [2, 3] f32  # " + here(relu_line))) << dump;
  EXPECT_TRUE(contains(dump, "# " + here(mul_line))) << dump;

  // A model of library layers, compiled: its nodes name the line that called the compiled model.
  auto net = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 3),
                                              std::make_shared<nn::ReLU>());
  net->eval();
  auto compiled = compile(*net);
  (void)compiled(randn({2, 4}));
  const int call_line = __LINE__ - 1;
  const std::string net_dump = compiled.last_graph();
  EXPECT_TRUE(contains(net_dump, "# " + here(call_line))) << net_dump;
  const std::string path =
      (std::filesystem::temp_directory_path() / "tessera_call_site_test.safetensors").string();
  compiled.save(path);
  auto loaded = load_compiled(path);
  (void)loaded(randn({2, 4}));
  std::remove(path.c_str());
  EXPECT_TRUE(contains(loaded.last_graph(), "# " + here(call_line))) << loaded.last_graph();
}

TEST(CallSite, AValueReadWhileTracingNamesTheCall) {
  auto fn = compile([](const std::vector<Tensor>& in) -> std::vector<Tensor> {
    if (in[0].sum().item<float>() > 0) return {in[0]};
    return {neg(in[0])};
  });
  const std::string msg = error_of([&] { (void)fn(ones({2})); });
  EXPECT_TRUE(contains(msg, "read while tracing (item/to_vector) at " + here(__LINE__ - 1)))
      << msg;
}
