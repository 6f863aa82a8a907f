// `tessera inspect` and `tessera convert` (tools/onnx_tools.cc) on an exported CNN28: what
// inspect prints (parameters, histogram, FLOPs), and ONNX -> compiled graph -> ONNX giving
// the model's outputs back. Bad inputs and --help: tests/core/error_kinds_test.cc.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "tessera/graph.h"
#include "tessera/models.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"

#if defined(TESSERA_CLI_PATH)
namespace {

using namespace tessera;
namespace fs = std::filesystem;

struct CliRun {
  int status;
  std::string output;
};
CliRun run(const std::string& args) {
  const std::string cmd = std::string(TESSERA_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 512> buf{};
  while (p != nullptr && std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  const int st = p == nullptr ? -1 : ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double e = 0;
  for (size_t i = 0; i < x.size(); ++i) e = std::max(e, std::fabs(x[i] - y[i]));
  return e;
}

TEST(OnnxCli, InspectAndConvertRoundTrip) {
  const std::string dir = testing::TempDir() + "tessera_onnx_cli_" + std::to_string(::getpid());
  fs::create_directories(dir);
  auto net = models::cnn28();
  net->eval();
  const Tensor x = randn({3, 1, 28, 28});
  const Tensor want = (*net)(x);
  onnx::ExportOptions o;
  o.dynamic_batch = true;
  onnx::export_module(*net, {x}, dir + "/cnn28.onnx", o);

  const CliRun insp = run("inspect " + dir + "/cnn28.onnx");
  std::printf("%s", insp.output.c_str());
  EXPECT_EQ(insp.status, 0) << insp.output;
  // 1,199,882 parameters (models.h); the FLOPs of one image: two convolutions and two
  // linear layers dominate (2 * (26*26*32*9 + 24*24*64*288 + 9216*128 + 128*10) = 23.9M).
  for (const char* needle : {"onnx (opset 17", "input_0: [batch, 1, 28, 28] f32", "output_0: [batch, 10] f32",
                             "Conv: 2", "Gemm: 2", "parameters: 1,199,882", "flops: 24,", "symbolic dims taken as 1"})
    EXPECT_NE(insp.output.find(needle), std::string::npos) << "lacks '" << needle << "'";

  // ONNX -> compiled graph (as traced) -> ONNX again, with a symbolic batch.
  const CliRun to_graph = run("convert " + dir + "/cnn28.onnx " + dir + "/cnn28.safetensors --batch 3 --no-optimize");
  ASSERT_EQ(to_graph.status, 0) << to_graph.output;
  CompiledFunction loaded = load_compiled(dir + "/cnn28.safetensors");
  EXPECT_LT(max_abs_diff(loaded(x), want), 1e-5);
  const CliRun insp_graph = run("inspect " + dir + "/cnn28.safetensors");
  EXPECT_EQ(insp_graph.status, 0) << insp_graph.output;
  EXPECT_NE(insp_graph.output.find("tessera compiled graph"), std::string::npos) << insp_graph.output;
  EXPECT_NE(insp_graph.output.find("conv2d: 2"), std::string::npos) << insp_graph.output;
  const CliRun back = run("convert " + dir + "/cnn28.safetensors " + dir + "/again.onnx --dynamic-batch --opset 18");
  ASSERT_EQ(back.status, 0) << back.output;
  onnx::Model again = onnx::import_model(dir + "/again.onnx");
  EXPECT_EQ(again.opset(), 18);
  EXPECT_LT(max_abs_diff(again.run({x}).at(0), want), 1e-5);
  const Tensor x5 = randn({5, 1, 28, 28});
  EXPECT_LT(max_abs_diff(again.run({x5}).at(0), (*net)(x5)), 1e-5);

  // A frozen graph holds the backend's ops: converting it back names them and says how.
  const CliRun frozen = run("convert " + dir + "/cnn28.onnx " + dir + "/frozen.safetensors");
  ASSERT_EQ(frozen.status, 0) << frozen.output;
  const CliRun refused = run("convert " + dir + "/frozen.safetensors " + dir + "/frozen.onnx");
  EXPECT_EQ(refused.status, 6) << refused.output;
  EXPECT_NE(refused.output.find("conv2d_blocked"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("--no-optimize"), std::string::npos) << refused.output;
  std::error_code ec;
  if (!::testing::Test::HasFailure()) fs::remove_all(dir, ec);
}

// A compiled-graph file (saved as traced) -> ONNX with external data -> compiled graph
// again: the outputs stay the compiled function's.
TEST(OnnxCli, CompiledGraphToOnnxAndBack) {
  const std::string dir = testing::TempDir() + "tessera_onnx_cli_back_" + std::to_string(::getpid());
  fs::create_directories(dir);
  auto net = models::cnn28();
  net->eval();
  const Tensor x = randn({2, 1, 28, 28});
  CompileOptions plain;
  plain.optimize = false;
  CompiledFunction f = compile(*net, plain);
  f(x);
  const Tensor want = f(x);
  f.save(dir + "/g.safetensors");
  const CliRun to_onnx = run("convert " + dir + "/g.safetensors " + dir + "/g.onnx --external-data --dynamic-batch");
  std::printf("%s", to_onnx.output.c_str());
  ASSERT_EQ(to_onnx.status, 0) << to_onnx.output;
  EXPECT_NE(to_onnx.output.find("g.onnx.data"), std::string::npos) << to_onnx.output;
  EXPECT_TRUE(fs::exists(dir + "/g.onnx.data"));
  const CliRun back = run("convert " + dir + "/g.onnx " + dir + "/g2.safetensors --batch 2 --no-optimize");
  ASSERT_EQ(back.status, 0) << back.output;
  CompiledFunction again = load_compiled(dir + "/g2.safetensors");
  const double e_back = max_abs_diff(again(x), want);
  const double e_onnx = max_abs_diff(onnx::load_compiled(dir + "/g.onnx")(x), want);
  std::printf("cnn28 compiled graph -> ONNX (external data) -> compiled graph: max abs diff %.1e (ONNX itself %.1e)\n",
              e_back, e_onnx);
  EXPECT_LT(e_back, 1e-5);
  EXPECT_LT(e_onnx, 1e-5);
  std::error_code ec;
  if (!::testing::Test::HasFailure()) fs::remove_all(dir, ec);
}

}  // namespace
#endif
