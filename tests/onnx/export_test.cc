// ONNX export (issue 10): the reference models exported and imported back give the eager
// outputs (also at another batch with a symbolic batch dim), opset-dependent mappings
// (LayerNormalization from 17, Gelu from 20, Trilu from 14), and clear errors for what
// cannot be exported. ONNX Runtime's view of the same exports: export_ort_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "onnx/proto/onnx_subset.pb.h"
#include "tessera/graph.h"
#include "tessera/models.h"
#include "tessera/nn/functional.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"
#include "tessera/optim.h"

namespace {

using namespace tessera;
namespace F = tessera::nn::functional;

// max |a - b| / max(1, max |b|).
double rel_error(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double err = 0, scale = 1;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    err = std::max(err, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(y[i]));
  }
  return err / scale;
}

onnxpb::ModelProto parse(const std::string& bytes) {
  onnxpb::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

// Exports `net` traced at batch `b0`, imports it back, and compares with eager at b0 and
// (symbolic batch) at b1.
void round_trip_model(const char* name, nn::Module& net, Shape input_shape, int64_t b0, int64_t b1) {
  net.eval();
  manual_seed(7);
  Shape s0 = input_shape, s1 = input_shape;
  s0[0] = b0;
  s1[0] = b1;
  const Tensor x0 = randn(s0), x1 = randn(s1);
  onnx::ExportOptions o;
  o.dynamic_batch = true;
  onnx::ExportSummary summary;
  const std::string bytes = onnx::export_module_to_bytes(net, {x0}, o, &summary);
  onnx::Model m = onnx::import_model_from_bytes(bytes);
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_EQ(m.inputs()[0].dims[0], -1) << "the batch dim should be symbolic";
  EXPECT_EQ(m.inputs()[0].dim_names[0], "batch");
  const Tensor want0 = net(x0), want1 = net(x1);
  const double e0 = rel_error(m.run({x0}).at(0), want0);
  const double e1 = rel_error(m.run({x1}).at(0), want1);
  std::printf("%s: %zu ONNX nodes (%s), %zu initializers; re-imported vs eager: batch %ld %.1e, batch %ld %.1e\n",
              name, summary.num_nodes, summary.op_histogram.c_str(), summary.num_initializers,
              static_cast<long>(b0), e0, static_cast<long>(b1), e1);
  EXPECT_LT(e0, 1e-5);
  EXPECT_LT(e1, 1e-5);
  // Initializers carry the module's parameter names.
  const auto& params = m.parameters();
  bool named = false;
  for (const auto& [pname, t] : params) named = named || pname.find("weight") != std::string::npos;
  EXPECT_TRUE(named) << "no initializer is named after a parameter";
}

TEST(OnnxExport, Cnn28RoundTripsWithSymbolicBatch) {
  auto net = models::cnn28();
  round_trip_model("cnn28", *net, {1, 1, 28, 28}, 2, 5);
}

TEST(OnnxExport, ResNet18RoundTripsWithSymbolicBatch) {
  auto net = models::resnet18();
  round_trip_model("resnet18", *net, {1, 3, 64, 64}, 1, 2);
}

TEST(OnnxExport, EncoderRoundTripsWithSymbolicBatch) {
  auto net = models::encoder();
  round_trip_model("encoder", *net, {1, 10, 256}, 2, 3);
}

TEST(OnnxExport, FunctionWithSeveralInputsAndOutputs) {
  manual_seed(3);
  const Tensor a = randn({3, 4}), b = randn({4});
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor s = add(in[0], in[1]);
    return std::vector<Tensor>{relu(s), mul(s, 2.5), in[0]};
  };
  onnx::ExportOptions o;
  o.input_names = {"a", "b"};
  o.output_names = {"r", "m", "a_again"};
  o.dynamic_axes = {{"a", {{0, "rows"}}}, {"r", {{0, "rows"}}}};
  onnx::Model m = onnx::import_model_from_bytes(onnx::export_function_to_bytes(fn, {a, b}, o));
  EXPECT_EQ(m.inputs()[0].name, "a");
  EXPECT_EQ(m.inputs()[0].dims, (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(m.inputs()[0].dim_names[0], "rows");
  EXPECT_EQ(m.inputs()[1].dims, (std::vector<int64_t>{4}));
  EXPECT_EQ(m.outputs()[2].name, "a_again");
  const std::vector<Tensor> got = m.run({a, b}), want = fn({a, b});
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_LT(rel_error(got[i], want[i]), 1e-6) << i;
}

TEST(OnnxExport, CompiledFunctionExportsItsGraphBeforeThePasses) {
  auto net = models::cnn28();
  net->eval();
  CompileOptions co;
  co.freeze = true;
  CompiledFunction f = compile(*net, co);
  const Tensor x = randn({2, 1, 28, 28});
  f(x);  // the cached graph is frozen (blocked convolutions, fused linear layers)
  const std::string path = testing::TempDir() + "tessera_export_compiled.onnx";
  const onnx::ExportSummary s = onnx::export_compiled(f, {x}, path);
  EXPECT_NE(s.op_histogram.find("Conv: 2"), std::string::npos) << s.op_histogram;
  onnx::Model m = onnx::import_model(path);
  EXPECT_LT(rel_error(m.run({x}).at(0), (*net)(x)), 1e-5);
  std::filesystem::remove(path);
}

TEST(OnnxExport, CompositesFollowTheOpset) {
  manual_seed(5);
  const Tensor x = randn({2, 3, 8}), w = randn({8}), b = randn({8});
  auto ln = [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{F::layer_norm(in[0], {8}, w, b, 1e-5)}; };
  for (int64_t opset : {13, 17, 18}) {
    onnx::ExportOptions o;
    o.opset = opset;
    onnx::ExportSummary s;
    const std::string bytes = onnx::export_function_to_bytes(ln, {x}, o, &s);
    EXPECT_EQ(parse(bytes).opset_import(0).version(), opset);
    EXPECT_EQ(s.op_histogram.find("LayerNormalization") != std::string::npos, opset >= 17) << s.op_histogram;
    onnx::Model m = onnx::import_model_from_bytes(bytes);
    EXPECT_LT(rel_error(m.run({x}).at(0), ln({x}).at(0)), 1e-5) << "opset " << opset;
  }
  auto gelu_fn = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{tessera::gelu(in[0])}; };
  for (int64_t opset : {17, 20}) {
    onnx::ExportOptions o;
    o.opset = opset;
    onnx::ExportSummary s;
    const std::string bytes = onnx::export_function_to_bytes(gelu_fn, {x}, o, &s);
    EXPECT_EQ(s.op_histogram.find("Gelu") != std::string::npos, opset >= 20) << s.op_histogram;
    if (opset <= 18) {
      onnx::Model m = onnx::import_model_from_bytes(bytes);
      EXPECT_LT(rel_error(m.run({x}).at(0), gelu_fn({x}).at(0)), 1e-6);
    }
  }
}

TEST(OnnxExport, ErrorsNameTheOpAndTheOpset) {
  const Tensor x = randn({3, 3});
  auto expect_error = [](const std::function<void()>& f, ErrorKind kind, std::vector<std::string> parts) {
    try {
      f();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  // as_strided has no export function (it addresses storage, which ONNX has no notion of).
  expect_error([&] { onnx::export_function_to_bytes([](const std::vector<Tensor>& in) {
                       return std::vector<Tensor>{in[0].as_strided({2, 2}, {1, 3})}; }, {x}); },
               ErrorKind::NotImplemented, {"'as_strided'", "opset 17", "no ONNX mapping"});
  // Trilu arrived at opset 14.
  onnx::ExportOptions o13;
  o13.opset = 13;
  expect_error([&] { onnx::export_function_to_bytes([](const std::vector<Tensor>& in) {
                       return std::vector<Tensor>{tril(in[0])}; }, {x}, o13); },
               ErrorKind::NotImplemented, {"'tril'", "Trilu", "opset 14", "opset 13"});
  onnx::ExportOptions bad;
  bad.opset = 5;
  expect_error([&] { onnx::export_function_to_bytes([](const std::vector<Tensor>& in) { return in; }, {x}, bad); },
               ErrorKind::InvalidArgument, {"opset 5", "11 to 21"});
  onnx::ExportOptions axes;
  axes.dynamic_axes = {{"input_0", {{2, "n"}}}};
  expect_error([&] { onnx::export_function_to_bytes([](const std::vector<Tensor>& in) { return in; }, {x}, axes); },
               ErrorKind::InvalidArgument, {"dynamic_axes of 'input_0'", "dim 2", "has 2 dims"});
  axes.dynamic_axes = {{"nope", {{0, "n"}}}};
  expect_error([&] { onnx::export_function_to_bytes([](const std::vector<Tensor>& in) { return in; }, {x}, axes); },
               ErrorKind::InvalidArgument, {"'nope'", "no input or output"});
  onnx::ExportOptions names;
  names.input_names = {"a", "b"};
  expect_error([&] { onnx::export_function_to_bytes([](const std::vector<Tensor>& in) { return in; }, {x}, names); },
               ErrorKind::InvalidArgument, {"2 input names for 1 inputs"});
  // A graph that writes (an in-place update of a captured tensor) is no ONNX model; the
  // write is refused before it happens.
  Tensor state = zeros({3, 3});
  expect_error([&] { onnx::export_function_to_bytes([&](const std::vector<Tensor>& in) {
                       state.add_(in[0]);
                       return std::vector<Tensor>{mul(state, 2.0)}; }, {x}); },
               ErrorKind::NotImplemented, {"writes a tensor", "'add'", "nothing was changed", "eval mode"});
  EXPECT_EQ(state.abs().sum().item<double>(), 0.0) << "the export wrote the captured tensor";
  // Dropout in train mode draws random numbers.
  expect_error([&] { onnx::export_function_to_bytes([](const std::vector<Tensor>& in) {
                       return std::vector<Tensor>{F::dropout(in[0], 0.5, true)}; }, {x}); },
               ErrorKind::NotImplemented, {"random"});
  CompiledFunction loaded = [] {
    auto net = models::mlp();
    net->eval();
    CompiledFunction f = compile(*net);
    f(randn({1, 784}));
    const std::string p = testing::TempDir() + "tessera_export_loaded.safetensors";
    f.save(p);
    CompiledFunction l = load_compiled(p);
    std::filesystem::remove(p);
    return l;
  }();
  expect_error([&] { onnx::export_compiled(loaded, {randn({1, 784})}, testing::TempDir() + "never.onnx"); },
               ErrorKind::InvalidArgument, {"load_compiled"});
  expect_error([&] { onnx::export_function([](const std::vector<Tensor>& in) { return in; }, {x},
                                           "/nonexistent-dir/x.onnx"); },
               ErrorKind::IO, {"/nonexistent-dir/x.onnx"});
}

// Exporting a compiled train step by mistake is refused before its optimizer runs: the
// weights stay as they were.
TEST(OnnxExport, TrainStepIsRefusedWithoutChangingTheModel) {
  auto net = models::mlp();
  optim::SGD opt(net->parameters());
  CompiledFunction step = compile([&](const std::vector<Tensor>& in) {
    opt.zero_grad();
    Tensor loss = F::cross_entropy((*net)(in[0]), in[1]);
    loss.backward();
    opt.step();
    return std::vector<Tensor>{loss};
  });
  const Tensor x = randn({4, 784}), y = tensor<int64_t>({1, 2, 3, 4});
  std::vector<Tensor> before;
  for (const Tensor& p : net->parameters()) before.push_back(p.clone());
  EXPECT_THROW(onnx::export_compiled(step, {x, y}, testing::TempDir() + "never_step.onnx"), Error);
  const std::vector<Tensor> after = net->parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(rel_error(after[i], before[i]), 0.0) << i;
  // Its model exports: the forward.
  net->eval();
  onnx::Model m = onnx::import_model_from_bytes(onnx::export_module_to_bytes(*net, {x}));
  EXPECT_LT(rel_error(m.run({x}).at(0), (*net)(x)), 1e-6);
}

TEST(OnnxExport, SupportedOpsListWhatExports) {
  size_t exporting = 0;
  bool gemm = false, gelu = false;
  for (const onnx::OpSupport& s : onnx::supported_ops()) {
    if (s.exports) ++exporting;
    if (s.onnx_op == "Gemm") gemm = s.exports && s.exported_from.find("addmm") != std::string::npos;
    if (s.onnx_op == "Gelu") gelu = s.exports && s.since_opset == 0;  // export only: newer than the importer
  }
  EXPECT_TRUE(gemm);
  // docs/onnx.md holds the table as generated (tessera onnx-conformance --ops-markdown).
  std::ifstream in(std::string(TESSERA_TEST_DIR) + "/../docs/onnx.md");
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const onnx::OpSupport& s : onnx::supported_ops())
    EXPECT_NE(doc.find(onnx::ops_markdown_row(s)), std::string::npos) << "docs/onnx.md lacks: " << onnx::ops_markdown_row(s);
  EXPECT_TRUE(gelu);
  EXPECT_GE(exporting, 60u);
}

}  // namespace
