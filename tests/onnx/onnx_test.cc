// ONNX import (src/onnx/, docs/onnx.md): models built in memory with the importer's own
// protobuf messages, the ONNX node tests' expected-pass list, and hostile files.
#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "onnx/onnx_model_builder.h"
#include "ops/op.h"
#include "tessera/autograd.h"
#include "tessera/nn/functional.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace {

using namespace tessera;
using namespace tessera::onnx::testing;
namespace fs = std::filesystem;
using onnx::import_model_from_bytes;


std::vector<int64_t> dims(const Tensor& t) { return std::vector<int64_t>(t.sizes().begin(), t.sizes().end()); }

std::string bytes_of(const ModelProto& m) { return m.SerializeAsString(); }

fs::path scratch_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("tessera_onnx_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// ---------------------------------------------------------------- import and run
TEST(OnnxImport, GemmReluRunsEagerAndCompiledWithASymbolicBatch) {
  onnx::Model m = import_model_from_bytes(bytes_of(gemm_relu_model()));
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_EQ(m.inputs()[0].dims, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(m.inputs()[0].dim_names[0], "N");
  EXPECT_EQ(m.opset(), 17);
  EXPECT_EQ(m.op_histogram(), "Gemm: 1, Relu: 1");
  const Tensor x = tensor<float>({1, 1, 1, 0, 1, 0}, {2, 3});
  // Row 0: [6 + 0.5, -6 + 10] = [6.5, 4]; row 1: [2.5, 8].
  const std::vector<float> want{6.5f, 4.f, 2.5f, 8.f};
  EXPECT_EQ(m.run({x})[0].to_vector<float>(), want);
  CompiledFunction f = m.compile();
  EXPECT_EQ(f(std::vector<Tensor>{x}).at(0).to_vector<float>(), want);
  EXPECT_EQ(f(std::vector<Tensor>{x}).at(0).to_vector<float>(), want);  // the cached graph
  const Tensor x3 = tensor<float>({1, 1, 1, 0, 1, 0, 0, 0, 0}, {3, 3});
  EXPECT_EQ(dims(f(std::vector<Tensor>{x3}).at(0)), (std::vector<int64_t>{3, 2}));  // another batch: a new trace
  EXPECT_EQ(f.stats().traces, 2);
  EXPECT_NE(f.last_graph().find("relu"), std::string::npos) << f.last_graph();
}

TEST(OnnxImport, InitializersAreTheModelsParametersAndTrain) {
  onnx::Model m = import_model_from_bytes(bytes_of(gemm_relu_model()), "", {.trainable = true});
  ASSERT_EQ(m.parameters().size(), 2u);
  EXPECT_EQ(m.parameters()[0].first, "W");
  Tensor w = m.parameters()[0].second;
  w.requires_grad_(true);
  const Tensor x = tensor<float>({1, 1, 1}, {1, 3});
  Tensor loss = sum(m.run({x})[0]);
  loss.backward();
  ASSERT_TRUE(w.grad().defined());
  // relu passes both outputs (6.5 and 4 > 0): d loss / d W = [x; x].
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{1, 1, 1, 1, 1, 1}));
}

TEST(OnnxImport, CompiledModelSeesParameterUpdates) {
  // Trainable: the initializers are captured by reference, so an optimizer's in-place
  // update shows in the next run of the compiled graph (nothing was folded from them).
  onnx::Model m = import_model_from_bytes(bytes_of(gemm_relu_model()), "", {.trainable = true});
  CompiledFunction f = m.compile();
  const Tensor x = tensor<float>({1, 1, 1}, {1, 3});
  EXPECT_EQ(f(std::vector<Tensor>{x}).at(0).to_vector<float>(), (std::vector<float>{6.5f, 4.f}));
  Tensor w = m.parameters()[0].second;
  mul_(w, zeros_like(w));  // W = 0: y = relu(b)
  EXPECT_EQ(f(std::vector<Tensor>{x}).at(0).to_vector<float>(), (std::vector<float>{0.5f, 10.f}));
  EXPECT_EQ(f.stats().traces, 1);
}

TEST(OnnxImport, PaddedMaxPoolGradientMatchesTesserasOwn) {
  // Even pads within half the kernel are max_pool2d's own padding; others (uneven, wider)
  // an explicit -inf border. Either way the gradient is that of max_pool2d's padding
  // (finite, routed to the maxima).
  ModelProto m = empty_model(13);
  add_input(m, "x", {1, 2, 5, 5});
  auto* p = add_node(m, "MaxPool", {"x"}, {"y"});
  attr_ints(p, "kernel_shape", {3, 3});
  attr_ints(p, "strides", {2, 2});
  attr_ints(p, "pads", {1, 1, 1, 1});
  add_output(m, "y");
  Generator gen(3);
  Tensor x = randn({1, 2, 5, 5}, {}, &gen);
  x.requires_grad_(true);
  sum(mul(import_model_from_bytes(bytes_of(m)).run({x})[0], arange(Scalar(1.0), Scalar(19.0), Scalar(1.0)).to(kFloat32).reshape({1, 2, 3, 3}))).backward();
  const Tensor g = x.grad().clone();
  x.grad() = Tensor();
  Tensor x2 = x.detach().clone();
  x2.requires_grad_(true);
  sum(mul(nn::functional::max_pool2d(x2, {3, 3}, {2, 2}, {1, 1}), arange(Scalar(1.0), Scalar(19.0), Scalar(1.0)).to(kFloat32).reshape({1, 2, 3, 3}))).backward();
  EXPECT_TRUE(allclose(g, x2.grad())) << g << x2.grad();
}

// ResNet's stem pool as exporters write it (3x3, stride 2, pads 1): compiled, it is one
// max_pool2d on the input with its own padding, no -inf border around a copy, so the layout
// passes treat it as they treat a native model's (docs/onnx.md, "Speed of imported
// models"). Pads it cannot express keep the border, with the same values as before.
TEST(OnnxImport, EvenMaxPoolPadsAreMaxPool2dsOwnPadding) {
  auto pool_model = [](std::vector<int64_t> pads, int64_t ceil_mode) {
    ModelProto m = empty_model(13);
    add_input(m, "x", {1, 3, 9, 10});
    auto* p = add_node(m, "MaxPool", {"x"}, {"y"});
    attr_ints(p, "kernel_shape", {3, 3});
    attr_ints(p, "strides", {2, 2});
    attr_ints(p, "pads", pads);
    if (ceil_mode) attr_int(p, "ceil_mode", ceil_mode);
    add_output(m, "y");
    return import_model_from_bytes(bytes_of(m));
  };
  Generator gen(5);
  const Tensor x = randn({1, 3, 9, 10}, {}, &gen);
  onnx::Model even = pool_model({1, 1, 1, 1}, 0);
  CompiledFunction f = even.compile();
  const Tensor y = f(std::vector<Tensor>{x}).at(0);
  EXPECT_TRUE(equal(y, nn::functional::max_pool2d(x, {3, 3}, {2, 2}, {1, 1})));
  EXPECT_NE(f.last_graph().find("max_pool2d"), std::string::npos) << f.last_graph();
  EXPECT_EQ(f.last_graph().find("cat"), std::string::npos) << f.last_graph();
  EXPECT_EQ(f.last_graph().find("pad"), f.last_graph().find("padding")) << f.last_graph();
  // Uneven pads ([h_begin, w_begin, h_end, w_end]), and ceil_mode, whose last window may
  // start in ONNX's end padding: the -inf border, pooled without padding.
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor uneven = full({1, 3, 11, 11}, -inf);
  uneven.slice(2, 0, 9).slice(3, 1, 11).copy_(x);
  EXPECT_TRUE(equal(pool_model({0, 1, 2, 0}, 0).run({x})[0], nn::functional::max_pool2d(uneven, {3, 3}, {2, 2})));
  const Tensor ceil = full({1, 3, 11, 12}, -inf);
  ceil.slice(2, 1, 10).slice(3, 1, 11).copy_(x);
  const Tensor y_ceil = pool_model({1, 1, 1, 1}, 1).run({x})[0];
  EXPECT_EQ(y_ceil.sizes(), (Shape{1, 3, 5, 6}));
  EXPECT_TRUE(equal(y_ceil, nn::functional::max_pool2d(ceil, {3, 3}, {2, 2}, {0, 0}, {1, 1}, true)));
}

TEST(OnnxImport, ShapeComputationsFoldUnderCompile) {
  // y = Reshape(x, Concat(Shape(x)[0:1], [-1])): the shape is computed from the input's
  // shape, which a compiled graph knows, so it folds to a constant.
  ModelProto m = empty_model(13);
  add_input(m, "x", {-1, 2, 3});
  add_initializer(m, int64_tensor("minus1", {-1}));
  add_node(m, "Shape", {"x"}, {"s"});
  add_initializer(m, int64_tensor("zero", {0}));
  add_initializer(m, int64_tensor("one", {1}));
  add_node(m, "Slice", {"s", "zero", "one"}, {"batch"});
  auto* c = add_node(m, "Concat", {"batch", "minus1"}, {"shape"});
  attr_int(c, "axis", 0);
  add_node(m, "Reshape", {"x", "shape"}, {"y"});
  add_output(m, "y");
  onnx::Model model = import_model_from_bytes(bytes_of(m));
  CompiledFunction f = model.compile();
  const Tensor x = arange(Scalar(0.0), Scalar(24.0), Scalar(1.0)).reshape({4, 2, 3});
  EXPECT_EQ(dims(f(std::vector<Tensor>{x}).at(0)), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(f.last_graph().find("cat"), std::string::npos) << "the shape should have folded:\n" << f.last_graph();
}

TEST(OnnxImport, OpsetDifferencesSoftmaxAxisAndClipInputs) {
  for (int64_t opset : {11, 13}) {
    ModelProto m = empty_model(opset);
    add_input(m, "x", {2, 2, 2});
    auto* n = add_node(m, "Softmax", {"x"}, {"y"});
    attr_int(n, "axis", 1);
    add_output(m, "y");
    const Tensor x = arange(Scalar(0.0), Scalar(8.0), Scalar(1.0)).reshape({2, 2, 2}).to(kFloat32);
    const Tensor y = import_model_from_bytes(bytes_of(m)).run({x})[0];
    // Opset 11 normalizes over the last two dims together (2-D coercion), 13 over dim 1.
    const Tensor want = opset < 13 ? softmax(x.reshape({2, 4}), 1).reshape({2, 2, 2}) : softmax(x, 1);
    EXPECT_TRUE(allclose(y, want)) << "opset " << opset;
  }
  ModelProto clip6 = empty_model(7);  // before 11: min/max attributes
  add_input(clip6, "x", {3});
  auto* n = add_node(clip6, "Clip", {"x"}, {"y"});
  attr_float(n, "min", -1.f);
  attr_float(n, "max", 1.f);
  add_output(clip6, "y");
  EXPECT_EQ(import_model_from_bytes(bytes_of(clip6)).run({tensor<float>({-5, 0.5f, 5})})[0].to_vector<float>(),
            (std::vector<float>{-1, 0.5f, 1}));
}

TEST(OnnxImport, ModFmodFollowsTheDividendsSign) {
  for (int64_t fmod : {0, 1}) {
    ModelProto m = empty_model(13);
    add_input(m, "a", {4}, TensorProto::INT64);
    add_input(m, "b", {4}, TensorProto::INT64);
    attr_int(add_node(m, "Mod", {"a", "b"}, {"y"}), "fmod", fmod);
    add_output(m, "y", TensorProto::INT64);
    const auto y = import_model_from_bytes(bytes_of(m))
                       .run({tensor<int64_t>({-7, 7, -7, 7}), tensor<int64_t>({3, -3, -3, 3})})[0]
                       .to_vector<int64_t>();
    EXPECT_EQ(y, fmod ? std::vector<int64_t>({-1, 1, -1, 1}) : std::vector<int64_t>({2, -2, -1, 1})) << fmod;
  }
}

TEST(OnnxImport, EinsumEquations) {
  auto einsum = [](const std::string& eq, const std::vector<Tensor>& in) {
    ModelProto m = empty_model(12);
    std::vector<std::string> names;
    for (size_t i = 0; i < in.size(); ++i) {
      std::string name = "x";  // (not "x" + to_string: GCC 12's -Wrestrict misfires on it)
      name += std::to_string(i);
      names.push_back(name);
      std::vector<int64_t> d(in[i].sizes().begin(), in[i].sizes().end());
      add_input(m, names.back(), d);
    }
    auto* n = add_node(m, "Einsum", names, {"y"});
    auto* a = n->add_attribute();
    a->set_name("equation");
    a->set_type(AttributeProto::STRING);
    a->set_s(eq);
    add_output(m, "y");
    return import_model_from_bytes(bytes_of(m)).run(in)[0];
  };
  Generator gen(5);
  const Tensor a = randn({2, 3, 4}, {}, &gen), b = randn({2, 4, 5}, {}, &gen), sq = randn({3, 3}, {}, &gen);
  EXPECT_TRUE(allclose(einsum("bij,bjk->bik", {a, b}), matmul(a, b), 1e-5, 1e-6));
  EXPECT_TRUE(allclose(einsum("...ij,...jk->...ik", {a, b}), matmul(a, b), 1e-5, 1e-6));
  // Implicit output: the indices seen once, so b is summed too (as numpy).
  EXPECT_TRUE(allclose(einsum("bij,bjk", {a, b}), sum(matmul(a, b), {0}), 1e-5, 1e-5));
  EXPECT_EQ(einsum("ii->i", {sq}).to_vector<float>(),
            (std::vector<float>{sq.to_vector<float>()[0], sq.to_vector<float>()[4], sq.to_vector<float>()[8]}));
  EXPECT_TRUE(allclose(einsum("ii", {sq}), sum(einsum("ii->i", {sq}))));  // trace
  EXPECT_ERROR_KIND(einsum("ij,jk->ik", {a, b}), ErrorKind::InvalidArgument, "has rank 3");
}

TEST(OnnxImport, Opset18MishGroupNormalizationCenterCropPad) {
  // Opset-18 operators the Debian node tests (ONNX 1.12) do not cover, checked against
  // Tessera's own functions.
  Generator gen(11);
  const Tensor x = randn({2, 4, 3, 3}, {}, &gen);
  {
    ModelProto m = empty_model(18);
    add_input(m, "x", {2, 4, 3, 3});
    add_node(m, "Mish", {"x"}, {"y"});
    add_output(m, "y");
    EXPECT_TRUE(allclose(import_model_from_bytes(bytes_of(m)).run({x})[0], mul(x, tanh(softplus(x)))));
  }
  {
    ModelProto m = empty_model(18);
    add_input(m, "x", {2, 4, 3, 3});
    add_initializer(m, float_tensor("scale", {2}, {2.f, 0.5f}));
    add_initializer(m, float_tensor("bias", {2}, {1.f, -1.f}));
    auto* n = add_node(m, "GroupNormalization", {"x", "scale", "bias"}, {"y"});
    attr_int(n, "num_groups", 2);
    add_output(m, "y");
    // Per-group scale and bias are per-channel ones repeated over each group's 2 channels.
    const Tensor want = nn::functional::group_norm(x, 2, tensor<float>({2, 2, 0.5f, 0.5f}), tensor<float>({1, 1, -1, -1}));
    EXPECT_TRUE(allclose(import_model_from_bytes(bytes_of(m)).run({x})[0], want, 1e-4, 1e-5));
  }
  {
    ModelProto m = empty_model(18);
    add_input(m, "x", {2, 5});
    add_initializer(m, int64_tensor("shape", {3, 2}));
    add_node(m, "CenterCropPad", {"x", "shape"}, {"y"});
    add_output(m, "y");
    // Axis 0: 2 -> 3 (a zero row after: the odd element goes to the end); axis 1: 5 -> 2
    // (columns 1 and 2: one cropped at the start, two at the end).
    const Tensor y = import_model_from_bytes(bytes_of(m)).run({arange(Scalar(0.0), Scalar(10.0), Scalar(1.0)).to(kFloat32).reshape({2, 5})})[0];
    EXPECT_EQ(dims(y), (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1, 2, 6, 7, 0, 0}));
  }
}

TEST(OnnxImport, ExternalDataInsideTheFolderLoads) {
  const fs::path dir = scratch_dir("external");
  const std::vector<float> w{1, 2, 3, 4, 5, 6};
  write_bytes((dir / "weights.bin").string(), std::string(8, 'x') + std::string(reinterpret_cast<const char*>(w.data()), 24));
  ModelProto m = empty_model();
  add_input(m, "x", {1, 3});
  TensorProto t;
  t.set_name("W");
  t.set_data_type(TensorProto::FLOAT);
  t.add_dims(3);
  t.add_dims(2);
  t.set_data_location(TensorProto::EXTERNAL);
  for (auto [k, v] : {std::pair{"location", "weights.bin"}, {"offset", "8"}, {"length", "24"}}) {
    auto* e = t.add_external_data();
    e->set_key(k);
    e->set_value(v);
  }
  add_initializer(m, t);
  add_node(m, "MatMul", {"x", "W"}, {"y"});
  add_output(m, "y");
  write_bytes((dir / "model.onnx").string(), bytes_of(m));
  const Tensor y = onnx::import_model((dir / "model.onnx").string()).run({tensor<float>({1, 1, 1}, {1, 3})})[0];
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{9, 12}));
  fs::remove_all(dir);
}

// ---------------------------------------------------------------- hostile input
TEST(OnnxHostile, TruncatedAndGarbageFilesAreRefused) {
  const std::string good = bytes_of(gemm_relu_model());
  for (size_t cut : {good.size() / 2, good.size() - 3, size_t{5}})
    EXPECT_ERROR_KIND(import_model_from_bytes(good.substr(0, cut)), ErrorKind::InvalidArgument,
                      "do not parse as a ModelProto");
  EXPECT_ERROR_KIND(import_model_from_bytes(""), ErrorKind::InvalidArgument, "the model is empty");
  EXPECT_ERROR_KIND(import_model_from_bytes(std::string(64, '\xff')), ErrorKind::InvalidArgument, "do not parse");
  // Parses (protobuf is lenient) but holds no graph.
  EXPECT_ERROR_KIND(import_model_from_bytes(std::string("\x08\x07", 2)), ErrorKind::InvalidArgument, "has no graph");
  EXPECT_ERROR_KIND(onnx::import_model("/nonexistent/model.onnx"), ErrorKind::IO, "/nonexistent/model.onnx");
}

TEST(OnnxHostile, FilesOverTheSizeLimitAreRefusedBeforeReading) {
  const std::string good = bytes_of(gemm_relu_model());
  onnx::ImportOptions small;
  small.max_file_bytes = 16;
  EXPECT_ERROR_KIND(import_model_from_bytes(good, "", small), ErrorKind::InvalidArgument, "max_file_bytes");
}

TEST(OnnxHostile, WrongTypesNameTheFieldExpectedAndGiven) {
  ModelProto m = empty_model(13);
  add_input(m, "x", {2, 2});
  attr_float(add_node(m, "Softmax", {"x"}, {"y"}), "axis", 1.f);
  add_output(m, "y");
  onnx::Model model = import_model_from_bytes(bytes_of(m));
  EXPECT_ERROR_KIND(model.run({ones({2, 2})}), ErrorKind::InvalidArgument, "attribute 'axis' must be an int, got float");
  // An input of the wrong dtype or shape.
  onnx::Model g = import_model_from_bytes(bytes_of(gemm_relu_model()));
  EXPECT_ERROR_KIND(g.run({ones({2, 3}, kInt64)}), ErrorKind::InvalidArgument, "declared [N, 3] f32; got [2, 3] i64");
  EXPECT_ERROR_KIND(g.run({ones({2, 4})}), ErrorKind::InvalidArgument, "expected dim 1 of size 3");
  EXPECT_ERROR_KIND(g.run({}), ErrorKind::InvalidArgument, "takes 1 input(s), got 0");
  // An element type with no Tessera dtype, an unknown one.
  ModelProto s = empty_model();
  add_input(s, "x", {2}, TensorProto::STRING);
  add_output(s, "x");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(s)), ErrorKind::NotImplemented, "element type string");
  ModelProto u = empty_model();
  add_input(u, "x", {2}, 99);
  add_output(u, "x");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(u)), ErrorKind::InvalidArgument, "element type 99");
}

TEST(OnnxHostile, NegativeAbsurdAndMismatchedShapesAreRefusedWithoutAllocating) {
  auto with_init = [](TensorProto t) {
    ModelProto m = empty_model();
    add_input(m, "x", {1});
    add_initializer(m, std::move(t));
    add_node(m, "Add", {"x", "w"}, {"y"});
    add_output(m, "y");
    return bytes_of(m);
  };
  TensorProto neg = float_tensor("w", {2}, {1, 2});
  neg.set_dims(0, -2);
  EXPECT_ERROR_KIND(import_model_from_bytes(with_init(neg)), ErrorKind::InvalidArgument, "dims must be >= 0, got -2");
  TensorProto huge = float_tensor("w", {1}, {1});
  huge.clear_dims();
  for (int i = 0; i < 4; ++i) huge.add_dims(int64_t{1} << 20);  // 2^80 elements
  EXPECT_ERROR_KIND(import_model_from_bytes(with_init(huge)), ErrorKind::InvalidArgument, "overflows int64");
  TensorProto empty_huge = float_tensor("w", {1}, {});  // 0 elements, but strides that overflow
  empty_huge.clear_dims();
  for (int64_t d : {int64_t{0}, int64_t{1} << 40, int64_t{1} << 40}) empty_huge.add_dims(d);
  empty_huge.clear_raw_data();
  EXPECT_ERROR_KIND(import_model_from_bytes(with_init(empty_huge)), ErrorKind::InvalidArgument, "overflows int64");
  EXPECT_ERROR_KIND(import_model_from_bytes(read_bytes(std::string(TESSERA_TEST_DIR) +
                                                       "/fuzz/onnx_corpus/regression_empty_huge_dims.onnx")),
                    ErrorKind::InvalidArgument, "overflows int64");
  TensorProto big = float_tensor("w", {1}, {1});
  big.set_dims(0, int64_t{1} << 40);  // 4 TiB declared, 4 bytes present
  EXPECT_ERROR_KIND(import_model_from_bytes(with_init(big)), ErrorKind::InvalidArgument, "over the limit");
  TensorProto short_data = float_tensor("w", {1000}, {1, 2, 3});
  EXPECT_ERROR_KIND(import_model_from_bytes(with_init(short_data)), ErrorKind::InvalidArgument,
                    "raw_data holds 12 bytes; dims [1000] of float need 4000");
  TensorProto typed = int64_tensor("w", {1, 2, 3});
  typed.set_dims(0, 5);
  EXPECT_ERROR_KIND(import_model_from_bytes(with_init(typed)), ErrorKind::InvalidArgument, "int64_data holds 3 values");
  // A value-driven size (ConstantOfShape of a huge shape) is refused at run time.
  ModelProto c = empty_model(13);
  add_input(c, "shape", {2}, TensorProto::INT64);
  add_node(c, "ConstantOfShape", {"shape"}, {"y"});
  add_output(c, "y");
  onnx::ImportOptions limits;
  limits.max_tensor_bytes = 1 << 20;
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(c), "", limits).run({tensor<int64_t>({1 << 20, 1 << 20})}),
                    ErrorKind::InvalidArgument, "max_tensor_bytes");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(c)).run({tensor<int64_t>({2, -3})}), ErrorKind::InvalidArgument,
                    "negative dim");
  // A Reshape to a shape whose element count overflows int64 (found by the fuzzer:
  // tests/fuzz/onnx_corpus/regression_reshape_overflow.onnx).
  ModelProto r = empty_model(13);
  add_input(r, "x", {2, 6});
  add_initializer(r, int64_tensor("shape", {12, INT64_MAX - 10}));
  add_node(r, "Reshape", {"x", "shape"}, {"y"});
  add_output(r, "y");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(r)).run({ones({2, 6})}), ErrorKind::InvalidArgument,
                    "does not fit the input");
  EXPECT_ERROR_KIND(import_model_from_bytes(read_bytes(std::string(TESSERA_TEST_DIR) +
                                                       "/fuzz/onnx_corpus/regression_reshape_overflow.onnx"))
                        .run({ones({2, 2, 3})}),
                    ErrorKind::InvalidArgument, "Reshape");
  // Attribute-driven sizes: huge pads on a pooling node, a huge window length.
  ModelProto pool = empty_model(13);
  add_input(pool, "x", {1, 1, 4, 4});
  auto* p = add_node(pool, "MaxPool", {"x"}, {"y"});
  attr_ints(p, "kernel_shape", {2, 2});
  attr_ints(p, "pads", {0, 0, 1 << 30, 1 << 30});
  add_output(pool, "y");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(pool), "", limits).run({ones({1, 1, 4, 4})}),
                    ErrorKind::InvalidArgument, "max_tensor_bytes");
  ModelProto win = empty_model(17);
  add_input(win, "n", {}, TensorProto::INT64);
  add_node(win, "HannWindow", {"n"}, {"y"});
  add_output(win, "y");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(win), "", limits).run({full({}, Scalar(int64_t{1} << 40), kInt64)}),
                    ErrorKind::InvalidArgument, "max_tensor_bytes");
}

TEST(OnnxHostile, UndefinedInputsMissingInitializersAndCyclesAreNamed) {
  ModelProto missing = empty_model();
  add_input(missing, "x", {2});
  add_node(missing, "Add", {"x", "bias"}, {"y"});  // "bias": no initializer
  add_output(missing, "y");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(missing)), ErrorKind::InvalidArgument,
                    "input 'bias' is not defined by any node, graph input or initializer");
  ModelProto cycle = empty_model();
  add_input(cycle, "x", {2});
  add_node(cycle, "Add", {"x", "b"}, {"a"});
  add_node(cycle, "Relu", {"a"}, {"b"});
  add_output(cycle, "a");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(cycle)), ErrorKind::InvalidArgument, "the graph has a cycle");
  ModelProto twice = empty_model();
  add_input(twice, "x", {2});
  add_node(twice, "Relu", {"x"}, {"y"});
  add_node(twice, "Neg", {"x"}, {"y"});
  add_output(twice, "y");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(twice)), ErrorKind::InvalidArgument, "output 'y' is already defined");
  ModelProto no_out = empty_model();
  add_input(no_out, "x", {2});
  add_output(no_out, "nowhere");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(no_out)), ErrorKind::InvalidArgument,
                    "graph output 'nowhere' is not defined");
  // Nodes out of order are fine: they are sorted.
  ModelProto order = empty_model();
  add_input(order, "x", {2});
  add_node(order, "Neg", {"a"}, {"y"});
  add_node(order, "Relu", {"x"}, {"a"});
  add_output(order, "y");
  EXPECT_EQ(import_model_from_bytes(bytes_of(order)).run({tensor<float>({-1, 2})})[0].to_vector<float>(),
            (std::vector<float>{0, -2}));
}

TEST(OnnxHostile, UnsupportedOperatorsAndOpsetsAreNotImplementedErrors) {
  ModelProto m = empty_model();
  add_input(m, "x", {2});
  add_node(m, "FancyOp", {"x"}, {"y"});
  add_output(m, "y");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::NotImplemented, "operator 'FancyOp' is not supported");
  ModelProto future = empty_model(99);
  add_input(future, "x", {2});
  add_output(future, "x");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(future)), ErrorKind::NotImplemented, "opset 99");
  ModelProto none = empty_model();
  none.clear_opset_import();
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(none)), ErrorKind::InvalidArgument, "imports no opset");
}

TEST(OnnxHostile, ExternalDataPathsLeavingTheFolderAreRefused) {
  const fs::path root = scratch_dir("escape");
  fs::create_directories(root / "model");
  write_bytes((root / "secret.bin").string(), std::string(8, 's'));
  fs::create_symlink(root / "secret.bin", root / "model" / "link.bin");
  auto model_with = [&](const std::string& location, const std::string& length = "8") {
    ModelProto m = empty_model();
    add_input(m, "x", {2});
    TensorProto t;
    t.set_name("w");
    t.set_data_type(TensorProto::FLOAT);
    t.add_dims(2);
    t.set_data_location(TensorProto::EXTERNAL);
    auto* e = t.add_external_data();
    e->set_key("location");
    e->set_value(location);
    auto* l = t.add_external_data();
    l->set_key("length");
    l->set_value(length);
    add_initializer(m, t);
    add_node(m, "Add", {"x", "w"}, {"y"});
    add_output(m, "y");
    const std::string path = (root / "model" / "model.onnx").string();
    write_bytes(path, bytes_of(m));
    return path;
  };
  EXPECT_ERROR_KIND(onnx::import_model(model_with("../secret.bin")), ErrorKind::InvalidArgument, "leaves the model's folder");
  EXPECT_ERROR_KIND(onnx::import_model(model_with((root / "secret.bin").string())), ErrorKind::InvalidArgument,
                    "is an absolute path");
  EXPECT_ERROR_KIND(onnx::import_model(model_with("link.bin")), ErrorKind::InvalidArgument, "outside the model's folder");
  EXPECT_ERROR_KIND(onnx::import_model(model_with("absent.bin")), ErrorKind::IO, "absent.bin");
  write_bytes((root / "model" / "short.bin").string(), std::string(4, 's'));
  EXPECT_ERROR_KIND(onnx::import_model(model_with("short.bin")), ErrorKind::InvalidArgument, "exceeds the file's 4 bytes");
  EXPECT_ERROR_KIND(onnx::import_model(model_with("short.bin", "-1")), ErrorKind::InvalidArgument,
                    "must be a non-negative integer");
  // From bytes, with no folder to look in.
  EXPECT_ERROR_KIND(import_model_from_bytes(read_bytes(model_with("short.bin"))), ErrorKind::InvalidArgument,
                    "needs the model's folder");
  fs::remove_all(root);
}

TEST(OnnxHostile, SymbolicDimsMustAgreeAcrossInputs) {
  ModelProto m = empty_model();
  add_input(m, "a", {-1, 2}, TensorProto::FLOAT, {"batch"});
  add_input(m, "b", {-1, 2}, TensorProto::FLOAT, {"batch"});
  add_node(m, "Add", {"a", "b"}, {"y"});
  add_output(m, "y");
  onnx::Model model = import_model_from_bytes(bytes_of(m));
  EXPECT_EQ(dims(model.run({ones({3, 2}), ones({3, 2})})[0]), (std::vector<int64_t>{3, 2}));
  EXPECT_ERROR_KIND(model.run({ones({3, 2}), ones({1, 2})}), ErrorKind::InvalidArgument,
                    "dim 0 ('batch') of size 3 as bound by an earlier input");
}

// ---------------------------------------------------------------- conformance
std::set<std::string> expected_pass() {
  std::ifstream in(std::string(TESSERA_TEST_DIR) + "/onnx/expected_pass.txt");
  std::set<std::string> names;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') names.insert(line);
  return names;
}

TEST(OnnxConformance, ExpectedPassListStillPasses) {
  const std::string dir = onnx::default_node_test_dir();
  if (dir.empty()) GTEST_SKIP() << "Debian's libonnx-testdata is not installed (apt-get install libonnx-testdata); "
                                   "the ONNX node tests cannot run";
  const std::set<std::string> names = expected_pass();
  ASSERT_GT(names.size(), 700u) << "tests/onnx/expected_pass.txt is missing or short";
  int passed = 0;
  for (const std::string& name : names) {
    const onnx::CaseResult r = onnx::run_node_test(dir + "/" + name);
    if (r.status == onnx::CaseStatus::Pass) ++passed;
    else ADD_FAILURE() << name << " no longer passes: " << r.detail;
  }
  std::printf("onnx node tests on the expected-pass list: %d of %zu pass\n", passed, names.size());
}

TEST(OnnxConformance, CompiledGraphsPassTooWhereTheGraphIsFixed) {
  // The same cases through tessera::compile (one traced, optimized graph each): those whose
  // graph inputs only carry data must pass compiled as well; those whose inputs decide
  // shapes are reported as such (they run eagerly only).
  const std::string dir = onnx::default_node_test_dir();
  if (dir.empty()) GTEST_SKIP() << "Debian's libonnx-testdata is not installed (apt-get install libonnx-testdata)";
  onnx::ConformanceOptions compiled;
  compiled.compiled = true;
  int passed = 0, eager_only = 0;
  for (const std::string& name : expected_pass()) {
    if (name.find("conv") == std::string::npos && name.find("gemm") == std::string::npos &&
        name.find("lstm") == std::string::npos && name.find("resize") == std::string::npos &&
        name.find("pool") == std::string::npos && name.find("softmax") == std::string::npos &&
        name.find("reduce_sum") == std::string::npos)
      continue;
    const onnx::CaseResult r = onnx::run_node_test(dir + "/" + name, compiled);
    if (r.status == onnx::CaseStatus::Pass) ++passed;
    else if (r.detail.rfind("compiled: an input's values decide the graph", 0) == 0) ++eager_only;
    else ADD_FAILURE() << name << " fails compiled: " << r.detail;
  }
  std::printf("compiled: %d pass, %d run eagerly only\n", passed, eager_only);
  EXPECT_GT(passed, 80);
}

TEST(OnnxConformance, EveryOpDefsOnnxNameHasAnImportFunction) {
  // The op table's onnx_op names (src/ops/op.h) are where export will start from; each must
  // come back through an import function, or be a known exception: operators of opsets
  // above 18 (Attention: 23, Gelu: 20) and random ones, whose values cannot match another
  // runtime's, so the conformance runner reports them unsupported.
  const std::set<std::string> exceptions{"Attention", "Gelu", "Bernoulli", "RandomNormal", "RandomUniform"};
  ops::ensure_registered();
  int mapped = 0;
  for (const ops::OpDef* op : ops::all_ops()) {
    if (op->onnx_op == nullptr || exceptions.count(op->onnx_op)) continue;
    EXPECT_TRUE(onnx::unsupported_reason(op->onnx_op, 17).empty())
        << op->name << " maps to ONNX " << op->onnx_op << ", which the importer does not take";
    ++mapped;
  }
  EXPECT_GT(mapped, 50);
}

TEST(OnnxConformance, SupportedOpsTableIsSortedAndDocumented) {
  const auto ops = onnx::supported_ops();
  ASSERT_GT(ops.size(), 100u);
  for (size_t i = 1; i < ops.size(); ++i) EXPECT_LT(ops[i - 1].onnx_op, ops[i].onnx_op) << "sorted, one row per operator";
  // docs/onnx.md lists every operator of the table.
  const std::string doc = read_bytes(std::string(TESSERA_TEST_DIR) + "/../docs/onnx.md");
  for (const auto& op : ops) EXPECT_NE(doc.find("| " + op.onnx_op + " |"), std::string::npos) << op.onnx_op;
  EXPECT_TRUE(onnx::unsupported_reason("Conv", 13).empty());
  EXPECT_TRUE(onnx::unsupported_reason("Loop", 13).empty());  // control flow: import_control.cc
  EXPECT_NE(onnx::unsupported_reason("TfIdfVectorizer", 13).find("not supported"), std::string::npos);
}

}  // namespace

// ---------------------------------------------------------------- the fuzzer's seeds
namespace {

// Small valid models covering the importer's paths: Gemm with initializers, a Conv/Pool
// stack, shape computations (Shape, Slice, Concat, Reshape), attribute-heavy ops.
std::vector<std::pair<std::string, std::string>> seed_models() {
  std::vector<std::pair<std::string, std::string>> seeds;
  seeds.emplace_back("gemm_relu.onnx", bytes_of(gemm_relu_model()));
  {
    ModelProto m = empty_model(13);
    add_input(m, "x", {1, 1, 4, 4});
    add_initializer(m, float_tensor("w", {2, 1, 3, 3}, std::vector<float>(18, 0.5f)));
    auto* c = add_node(m, "Conv", {"x", "w"}, {"c"});
    attr_ints(c, "pads", {1, 1, 1, 1});
    auto* p = add_node(m, "MaxPool", {"c"}, {"p"});
    attr_ints(p, "kernel_shape", {2, 2});
    attr_ints(p, "strides", {2, 2});
    add_node(m, "Flatten", {"p"}, {"f"});
    attr_int(add_node(m, "Softmax", {"f"}, {"y"}), "axis", 1);
    add_output(m, "y");
    seeds.emplace_back("conv_pool_softmax.onnx", bytes_of(m));
  }
  {
    ModelProto m = empty_model(13);
    add_input(m, "x", {-1, 2, 3});
    add_initializer(m, int64_tensor("zero", {0}));
    add_initializer(m, int64_tensor("one", {1}));
    add_initializer(m, int64_tensor("minus1", {-1}));
    add_node(m, "Shape", {"x"}, {"s"});
    add_node(m, "Slice", {"s", "zero", "one"}, {"b"});
    attr_int(add_node(m, "Concat", {"b", "minus1"}, {"shape"}), "axis", 0);
    add_node(m, "Reshape", {"x", "shape"}, {"r"});
    add_node(m, "ReduceSum", {"r", "one"}, {"y"});
    add_output(m, "y");
    seeds.emplace_back("shape_reshape_reduce.onnx", bytes_of(m));
  }
  {
    ModelProto m = empty_model(11);
    add_input(m, "x", {2, 3});
    add_initializer(m, int64_tensor("pads", {0, 1, 0, 2}));
    add_node(m, "Pad", {"x", "pads"}, {"p"});
    add_initializer(m, int64_tensor("axes", {1}));
    add_initializer(m, int64_tensor("k", {2}));
    auto* t = add_node(m, "TopK", {"p", "k"}, {"v", "i"});
    attr_int(t, "axis", 1);
    add_node(m, "Cast", {"i"}, {"fi"});
    attr_int(m.mutable_graph()->mutable_node(m.graph().node_size() - 1), "to", TensorProto::FLOAT);
    add_node(m, "Add", {"v", "fi"}, {"y"});
    add_output(m, "y");
    seeds.emplace_back("pad_topk_cast.onnx", bytes_of(m));
  }
  {
    // Control flow: a Loop (M = 3) carrying y and stacking a scan output, its body reading
    // the main graph's x and holding an If on the body's own comparison.
    ModelProto m = empty_model(13);
    add_input(m, "x", {2});
    add_initializer(m, int64_scalar("M", 3));
    add_initializer(m, bool_tensor("go", true));
    add_initializer(m, float_tensor("y0", {2}, {0, 0}));
    GraphProto then_g, else_g, body;
    then_g.set_name("then");
    graph_node(then_g, "Add", {"y_in", "x"}, {"a"});
    graph_output(then_g, "a");
    else_g.set_name("else");
    graph_node(else_g, "Sub", {"y_in", "x"}, {"s"});
    graph_output(else_g, "s");
    body.set_name("body");
    graph_input(body, "i", TensorProto::INT64);
    graph_input(body, "cond_in", TensorProto::BOOL);
    graph_input(body, "y_in");
    *body.add_initializer() = int64_scalar("one", 1);
    graph_node(body, "Less", {"i", "one"}, {"first"});
    auto* branch = graph_node(body, "If", {"first"}, {"y_out"});
    attr_graph(branch, "then_branch", then_g);
    attr_graph(branch, "else_branch", else_g);
    graph_node(body, "Identity", {"cond_in"}, {"cond_out"});
    graph_node(body, "Identity", {"y_out"}, {"scan"});
    graph_output(body, "cond_out");
    graph_output(body, "y_out");
    graph_output(body, "scan");
    attr_graph(add_node(m, "Loop", {"M", "go", "y0"}, {"y", "ys"}), "body", body);
    add_output(m, "y");
    add_output(m, "ys");
    seeds.emplace_back("loop_if.onnx", bytes_of(m));
  }
  return seeds;
}

}  // namespace

TEST(OnnxFuzzSeeds, CommittedCorpusImportsAndRuns) {
  // TESSERA_WRITE_ONNX_SEEDS=DIR writes the seeds (to refresh tests/fuzz/onnx_corpus).
  if (const char* dir = std::getenv("TESSERA_WRITE_ONNX_SEEDS"))
    for (const auto& [name, bytes] : seed_models()) write_bytes(std::string(dir) + "/" + name, bytes);
  const fs::path corpus = fs::path(TESSERA_TEST_DIR) / "fuzz" / "onnx_corpus";
  int n = 0;
  for (const auto& [name, bytes] : seed_models()) {
    ASSERT_EQ(read_bytes((corpus / name).string()), bytes) << name << ": the committed seed differs from the builder's";
    onnx::Model m = import_model_from_bytes(bytes);
    std::vector<Tensor> in;
    for (const auto& v : m.inputs()) {
      std::vector<int64_t> d;
      for (int64_t x : v.dims) d.push_back(x < 0 ? 2 : x);
      in.push_back(ones(d, v.dtype));
    }
    EXPECT_EQ(m.run(in).size(), m.outputs().size()) << name;
    ++n;
  }
  EXPECT_EQ(n, 5);
}

TEST(OnnxHostile, RandomMutationsNeverCrash) {
  // A small in-test fuzz: flip bytes of valid models; every outcome is a model or an Error.
  std::vector<std::string> seeds;
  for (const auto& [name, bytes] : seed_models()) seeds.push_back(bytes);
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  int imported = 0, refused = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string b = seeds[static_cast<size_t>(round) % seeds.size()];
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int f = 0; f < flips; ++f) b[next() % b.size()] = static_cast<char>(next() & 0xff);
    onnx::ImportOptions o;
    o.max_tensor_bytes = 1 << 20;
    o.max_loop_iterations = 1000;  // a mutated trip count must not make a round run for ever
    try {
      onnx::Model m = import_model_from_bytes(b, "", o);
      ++imported;
      std::vector<Tensor> in;
      for (const auto& v : m.inputs()) {
        std::vector<int64_t> dims;
        for (int64_t d : v.dims) dims.push_back(d < 0 ? 2 : std::min<int64_t>(d, 8));
        in.push_back(zeros(dims, v.dtype));
      }
      (void)m.run(in);
    } catch (const Error& e) {
      ++refused;
      EXPECT_NE(e.kind(), ErrorKind::Internal) << e.what();
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(imported, 0);
}
