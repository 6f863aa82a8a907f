// onnx::save_compiled / onnx::load_compiled (issue 10: the compiled-model file of graph
// mode as ONNX). A compiled function, called once, writes its last call's graph as traced,
// without tracing again; the file loads back as a compiled function (and as a Model) that
// gives the compiled function's outputs. Also: a symbolic batch, ONNX external data, the
// errors (never called, a train step, a loaded optimized graph), and ONNX Runtime's view
// of the saved files where a Python with onnx and onnxruntime is found (ort_check.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <unistd.h>

#include "onnx/proto/onnx_subset.pb.h"
#include "tessera/graph.h"
#include "tessera/io.h"
#include "tessera/models.h"
#include "tessera/nn/functional.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "ort_check.h"

namespace {

using namespace tessera;
namespace F = tessera::nn::functional;
namespace fs = std::filesystem;

// max |a - b| / max(1, max |b|).
double rel_error(const Tensor& a, const Tensor& b) {
  EXPECT_TRUE(a.sizes().equals(b.sizes())) << shape_str(a.sizes()) << " vs " << shape_str(b.sizes());
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double err = 0, scale = 1;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    err = std::max(err, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(y[i]));
  }
  return err / scale;
}

// A fresh folder per test (removed when the test passed).
struct TempDir {
  std::string path;
  explicit TempDir(const std::string& name)
      : path(testing::TempDir() + "tessera_save_compiled_" + name + "_" + std::to_string(::getpid())) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    if (!testing::Test::HasFailure()) fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& f) const { return path + "/" + f; }
};

void expect_error(const std::function<void()>& f, ErrorKind kind, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "lacks '" << p << "': " << e.what();
  }
}

onnxpb::ModelProto read_proto(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  onnxpb::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes)) << path;
  return m;
}

// Compiles `net` (eval mode) with `co`, calls it on x (trace) and again (a graph run),
// saves it with save_compiled and checks both ways back against the graph run's output.
// `ops`: what the ONNX histogram must hold (composites written whole: linear as Gemm
// without a Transpose, batch_norm as BatchNormalization, as export_module writes them).
void round_trip(const char* name, nn::Module& net, const Shape& shape, CompileOptions co,
                const std::vector<std::string>& ops) {
  net.eval();
  manual_seed(21);
  const Tensor x = randn(shape);
  CompiledFunction f = compile(net, co);
  f(x);
  const Tensor want = f(x);  // from the cached (optimized) graph
  const CompileStats before = f.stats();
  TempDir dir(name);
  const std::string path = dir / (std::string(name) + ".onnx");
  const onnx::ExportSummary s = onnx::save_compiled(f, path, onnx::with_module_names(net, {}));
  // Nothing traced or ran again: the graph came from the cache.
  EXPECT_EQ(f.stats().traces, before.traces);
  EXPECT_EQ(f.stats().graph_runs, before.graph_runs);
  for (const std::string& op : ops) EXPECT_NE(s.op_histogram.find(op), std::string::npos) << s.op_histogram;
  EXPECT_EQ(s.op_histogram.find("Transpose"), std::string::npos) << s.op_histogram;

  CompiledFunction loaded = onnx::load_compiled(path);
  const double e_loaded = rel_error(loaded(x), want);
  onnx::Model m = onnx::import_model(path);
  const double e_model = rel_error(m.run({x}).at(0), want);
  // The initializers carry the module's parameter names.
  bool named = false;
  for (const auto& [pname, t] : m.parameters()) named = named || pname.find("weight") != std::string::npos;
  EXPECT_TRUE(named) << "no initializer is named after a parameter";
  std::printf("%s (optimize %d, freeze %d): saved %zu ONNX nodes (%s), %zu initializers, %lld bytes; "
              "vs the compiled function: onnx::load_compiled %.1e, import_model %.1e\n",
              name, co.optimize, co.freeze, s.num_nodes, s.op_histogram.c_str(), s.num_initializers,
              static_cast<long long>(fs::file_size(path)), e_loaded, e_model);
  EXPECT_LT(e_loaded, 1e-5);
  EXPECT_LT(e_model, 1e-5);
}

TEST(OnnxSaveCompiled, Cnn28RoundTrips) {
  auto net = models::cnn28();
  round_trip("cnn28", *net, {2, 1, 28, 28}, {}, {"Conv: 2", "Gemm: 2"});
}

// Frozen: the cached graph holds blocked convolutions and folded weights; what is saved is
// the graph as traced, so it is plain ONNX all the same.
TEST(OnnxSaveCompiled, FrozenCnn28SavesTheGraphAsTraced) {
  auto net = models::cnn28();
  CompileOptions co;
  co.freeze = true;
  round_trip("cnn28_frozen", *net, {2, 1, 28, 28}, co, {"Conv: 2", "Gemm: 2"});
}

TEST(OnnxSaveCompiled, ResNet18RoundTrips) {
  auto net = models::resnet18();
  round_trip("resnet18", *net, {1, 3, 64, 64}, {}, {"Conv: 20", "BatchNormalization: 20", "Gemm: 1"});
}

TEST(OnnxSaveCompiled, DynamicBatchIsHonoured) {
  auto net = models::cnn28();
  net->eval();
  manual_seed(4);
  const Tensor x2 = randn({2, 1, 28, 28}), x5 = randn({5, 1, 28, 28});
  CompiledFunction f = compile(*net);
  f(x2);
  TempDir dir("dynamic");
  onnx::ExportOptions o;
  o.dynamic_batch = true;
  o.input_names = {"image"};
  o.output_names = {"logits"};
  onnx::save_compiled(f, dir / "cnn28.onnx", o);
  onnx::Model m = onnx::import_model(dir / "cnn28.onnx");
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_EQ(m.inputs()[0].name, "image");
  EXPECT_EQ(m.inputs()[0].dims[0], -1);
  EXPECT_EQ(m.inputs()[0].dim_names[0], "batch");
  EXPECT_EQ(m.outputs()[0].dim_names[0], "batch");
  const Tensor want5 = f(x5);  // a second trace, at batch 5
  const double e_model = rel_error(m.run({x5}).at(0), want5);
  CompiledFunction loaded = onnx::load_compiled(dir / "cnn28.onnx");
  const double e_loaded = rel_error(loaded(x5), want5);
  const double e_loaded2 = rel_error(loaded(x2), f(x2));
  std::printf("cnn28 saved at batch 2 with a symbolic batch: at batch 5 import_model %.1e, load_compiled %.1e; "
              "batch 2 %.1e\n", e_model, e_loaded, e_loaded2);
  EXPECT_LT(e_model, 1e-5);
  EXPECT_LT(e_loaded, 1e-5);
  EXPECT_LT(e_loaded2, 1e-5);
  EXPECT_EQ(loaded.stats().traces, 2);  // one graph per batch
}

// CompileOptions::dynamic_batch re-derives the optimized graph for a new batch; what
// save_compiled writes is the last call's graph as traced, re-derived for that batch too.
TEST(OnnxSaveCompiled, GraphReDerivedForABatchSavesAtThatBatch) {
  auto net = models::cnn28();
  net->eval();
  CompileOptions co;
  co.dynamic_batch = true;
  CompiledFunction f = compile(*net, co);
  manual_seed(5);
  const Tensor x2 = randn({2, 1, 28, 28}), x4 = randn({4, 1, 28, 28});
  f(x2);
  const Tensor want4 = f(x4);
  ASSERT_EQ(f.stats().batch_respecializations, 1);
  TempDir dir("rederived");
  onnx::save_compiled(f, dir / "cnn28.onnx");
  onnx::Model m = onnx::import_model(dir / "cnn28.onnx");
  EXPECT_EQ(m.inputs()[0].dims, (std::vector<int64_t>{4, 1, 28, 28}));
  EXPECT_EQ(m.outputs()[0].dims, (std::vector<int64_t>{4, 10}));
  EXPECT_LT(rel_error(m.run({x4}).at(0), want4), 1e-5);
  // After a call at the traced batch, that one.
  f(x2);
  onnx::save_compiled(f, dir / "cnn28_b2.onnx");
  EXPECT_EQ(onnx::import_model(dir / "cnn28_b2.onnx").inputs()[0].dims[0], 2);
}

TEST(OnnxSaveCompiled, NeverCalledIsAnError) {
  auto net = models::mlp();
  CompiledFunction f = compile(*net);
  TempDir dir("never");
  expect_error([&] { onnx::save_compiled(f, dir / "never.onnx"); }, ErrorKind::InvalidArgument,
               {"onnx::save_compiled", "no graph yet", "call it once"});
  EXPECT_FALSE(fs::exists(dir / "never.onnx"));
}

// A compiled train step's graph writes (zero_grad, the optimizer's update): refused as a
// whole, not exported as its forward with the updates silently dropped.
TEST(OnnxSaveCompiled, TrainStepIsRefused) {
  auto net = models::mlp();
  optim::SGD opt(net->parameters());
  CompiledFunction step = compile([&](const std::vector<Tensor>& in) {
    opt.zero_grad();
    Tensor loss = F::cross_entropy((*net)(in[0]), in[1]);
    loss.backward();
    opt.step();
    return std::vector<Tensor>{loss};
  });
  step({randn({4, 784}), tensor<int64_t>({1, 2, 3, 4})});
  TempDir dir("train");
  expect_error([&] { onnx::save_compiled(step, dir / "step.onnx"); }, ErrorKind::NotImplemented,
               {"writes tensors", "train step", "eval mode"});
  EXPECT_FALSE(fs::exists(dir / "step.onnx"));
}

TEST(OnnxSaveCompiled, ExternalDataRoundTrips) {
  auto net = models::resnet18();
  net->eval();
  manual_seed(8);
  const Tensor x = randn({1, 3, 64, 64});
  CompiledFunction f = compile(*net);
  f(x);
  const Tensor want = f(x);
  TempDir dir("external");
  onnx::ExportOptions o = onnx::with_module_names(*net, {});
  o.external_data = true;
  o.dynamic_batch = true;
  const onnx::ExportSummary s = onnx::save_compiled(f, dir / "resnet18.onnx", o);
  const std::string data = dir / "resnet18.onnx.data";
  ASSERT_TRUE(fs::exists(data));
  EXPECT_EQ(s.external_data_path, data);
  EXPECT_GT(s.num_external, 0u);
  const auto model_bytes = static_cast<int64_t>(fs::file_size(dir / "resnet18.onnx"));
  const auto data_bytes = static_cast<int64_t>(fs::file_size(data));
  EXPECT_EQ(data_bytes, s.external_bytes);
  // ResNet-18's 11.7M weights are in the data file; the model keeps the graph and the
  // tensors under the threshold (shapes, axes, scalars).
  EXPECT_GT(data_bytes, 11'000'000 * 4);
  EXPECT_LT(model_bytes, 200'000);
  // The standard form: EXTERNAL, with location/offset/length, no raw bytes inline.
  const onnxpb::ModelProto proto = read_proto(dir / "resnet18.onnx");
  int external = 0;
  for (const auto& t : proto.graph().initializer()) {
    if (t.data_location() != onnxpb::TensorProto::EXTERNAL) {
      EXPECT_LT(t.raw_data().size(), 1024u) << t.name();
      continue;
    }
    ++external;
    EXPECT_TRUE(t.raw_data().empty()) << t.name();
    std::map<std::string, std::string> kv;
    for (const auto& e : t.external_data()) kv[e.key()] = e.value();
    EXPECT_EQ(kv["location"], "resnet18.onnx.data");
    EXPECT_EQ(std::stoll(kv["offset"]) % 64, 0) << t.name();
    EXPECT_LE(std::stoll(kv["offset"]) + std::stoll(kv["length"]), data_bytes) << t.name();
  }
  EXPECT_EQ(static_cast<size_t>(external), s.num_external);
  const double e_loaded = rel_error(onnx::load_compiled(dir / "resnet18.onnx")(x), want);
  const double e_model = rel_error(onnx::import_model(dir / "resnet18.onnx").run({x}).at(0), want);
  std::printf("resnet18 with external data: model %lld bytes, %zu tensors in %s (%lld bytes); "
              "vs the compiled function: load_compiled %.1e, import_model %.1e\n",
              static_cast<long long>(model_bytes), s.num_external, fs::path(data).filename().c_str(),
              static_cast<long long>(data_bytes), e_loaded, e_model);
  EXPECT_LT(e_loaded, 1e-5);
  EXPECT_LT(e_model, 1e-5);

  // Another name and a threshold of 0 (every initializer with bytes goes out).
  o.external_data_location = "weights.bin";
  o.external_data_threshold = 0;
  const onnx::ExportSummary all = onnx::save_compiled(f, dir / "all.onnx", o);
  EXPECT_TRUE(fs::exists(dir / "weights.bin"));
  EXPECT_EQ(all.num_external, all.num_initializers);
  EXPECT_LT(rel_error(onnx::import_model(dir / "all.onnx").run({x}).at(0), want), 1e-5);
  // The data file must lie next to the model.
  o.external_data_location = "../weights.bin";
  expect_error([&] { onnx::save_compiled(f, dir / "bad.onnx", o); }, ErrorKind::InvalidArgument,
               {"external_data_location '../weights.bin'", "file name"});
  o.external_data_location = "bad.onnx";
  expect_error([&] { onnx::save_compiled(f, dir / "bad.onnx", o); }, ErrorKind::InvalidArgument,
               {"the model's own file name"});
  EXPECT_FALSE(fs::exists(dir / "bad.onnx"));
  // Bytes in memory have no side file.
  onnx::ExportOptions bytes_opt;
  bytes_opt.external_data = true;
  expect_error([&] { onnx::export_module_to_bytes(*net, {x}, bytes_opt); }, ErrorKind::InvalidArgument,
               {"external_data", "no file"});
}

// export_function and export_module write external data the same way.
TEST(OnnxSaveCompiled, ExportFunctionWritesExternalDataToo) {
  auto net = models::cnn28();
  net->eval();
  const Tensor x = randn({2, 1, 28, 28});
  TempDir dir("export_fn");
  onnx::ExportOptions o;
  o.external_data = true;
  const onnx::ExportSummary s = onnx::export_module(*net, {x}, dir / "cnn28.onnx", o);
  EXPECT_EQ(s.num_external, 4u);  // the two conv and two linear weights; every bias is under 1 KiB
  EXPECT_LT(rel_error(onnx::import_model(dir / "cnn28.onnx").run({x}).at(0), (*net)(x)), 1e-5);
}

// A graph file saved by CompiledFunction::save and loaded by tessera::load_compiled has no
// traced form: it is exported as the file holds it.
TEST(OnnxSaveCompiled, LoadedGraphFilesExportWhenPlain) {
  auto net = models::cnn28();
  net->eval();
  const Tensor x = randn({3, 1, 28, 28});
  TempDir dir("loaded");
  CompileOptions plain;
  plain.optimize = false;
  CompiledFunction f = compile(*net, plain);
  f(x);
  f.save(dir / "plain.safetensors");
  CompiledFunction loaded = load_compiled(dir / "plain.safetensors");
  const Tensor want = loaded(x);
  onnx::save_compiled(loaded, dir / "plain.onnx");
  EXPECT_LT(rel_error(onnx::load_compiled(dir / "plain.onnx")(x), want), 1e-5);

  // Saved frozen: blocked convolutions, which only this backend has.
  CompileOptions frozen;
  frozen.freeze = true;
  CompiledFunction g = compile(*net, frozen);
  g(x);
  g.save(dir / "frozen.safetensors");
  CompiledFunction loaded_frozen = load_compiled(dir / "frozen.safetensors");
  loaded_frozen(x);
  expect_error([&] { onnx::save_compiled(loaded_frozen, dir / "frozen.onnx"); }, ErrorKind::NotImplemented,
               {"onnx::save_compiled", "frozen.safetensors", "conv2d_blocked", "optimize = false"});
  // The function it came from still saves (its graph as traced).
  onnx::save_compiled(g, dir / "from_frozen.onnx");
  EXPECT_LT(rel_error(onnx::import_model(dir / "from_frozen.onnx").run({x}).at(0), g(x)), 1e-5);
}

void save_case(const std::string& dir, const std::string& prefix, const std::vector<Tensor>& inputs,
               const std::vector<Tensor>& outputs) {
  for (size_t i = 0; i < inputs.size(); ++i) save_npy(dir + "/" + prefix + ".input_" + std::to_string(i) + ".npy", inputs[i]);
  for (size_t i = 0; i < outputs.size(); ++i)
    save_npy(dir + "/" + prefix + ".output_" + std::to_string(i) + ".npy", outputs[i]);
}

// The saved files in ONNX Runtime: onnx.checker (full) and ORT's outputs against the
// compiled function's, at the saved batch and another (the batch is symbolic).
TEST(OnnxSaveCompiled, SavedFilesRunInOnnxRuntime) {
  std::string tried;
  const std::string python = test::python_with_ort(&tried);
  if (python.empty()) {
    std::cerr << "\n***** WARNING: ONNX Runtime check NOT RUN: no Python with onnx and onnxruntime (tried " << tried
              << "; scripts/venv installs them, or set TESSERA_ONNX_PYTHON) *****\n\n";
    GTEST_SKIP() << "no Python with onnx and onnxruntime (tried " << tried << ")";
  }
  TempDir dir("ort");
  manual_seed(12);
  auto save = [&](const std::string& name, nn::Module& net, Shape shape, int64_t b2, bool external) {
    net.eval();
    CompileOptions co;
    co.freeze = true;
    CompiledFunction f = compile(net, co);
    const Tensor x = randn(shape);
    shape[0] = b2;
    const Tensor x2 = randn(shape);
    save_case(dir.path, name, {x}, f(std::vector<Tensor>{x}));
    onnx::ExportOptions o = onnx::with_module_names(net, {});
    o.dynamic_batch = true;
    o.external_data = external;
    onnx::save_compiled(f, dir / (name + ".onnx"), o);
    save_case(dir.path, name + ".b2", {x2}, f(std::vector<Tensor>{x2}));
  };
  auto cnn = models::cnn28();
  auto r18 = models::resnet18();
  save("cnn28_compiled", *cnn, {2, 1, 28, 28}, 3, false);
  save("resnet18_compiled_external", *r18, {1, 3, 64, 64}, 2, true);
  std::string out;
  const int status = test::run_ort_check(python, dir.path, "cnn28_compiled resnet18_compiled_external", &out);
  std::cout << out;
  EXPECT_EQ(status, 0) << out;
}

}  // namespace
