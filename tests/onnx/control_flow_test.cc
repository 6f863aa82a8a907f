// ONNX control flow (src/onnx/import_control.cc, docs/onnx.md "Control flow"): If, Loop and
// Scan run their subgraphs, which read enclosing graphs' values by name; compiled, static
// conditions trace one branch and small static loops unroll; everything else says to run
// eagerly; bad subgraphs are refused at import with errors that name them.
#include <gtest/gtest.h>

#include "onnx/onnx_model_builder.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace {

using namespace tessera;
using namespace tessera::onnx::testing;
using onnx::import_model_from_bytes;


std::string bytes_of(const ModelProto& m) { return m.SerializeAsString(); }
std::vector<float> f32(const Tensor& t) { return t.to(kFloat32).to_vector<float>(); }
Tensor b0(bool v) { return tensor<bool>({v}).reshape({}); }  // 0-d, as the models declare
Tensor i0(int64_t v) { return tensor<int64_t>({v}).reshape({}); }

// y = If(c) then x + w (w: the main graph's initializer) else x itself (a branch whose
// output is an enclosing graph's value).
ModelProto if_model(bool cond_is_initializer, bool cond_value = true) {
  ModelProto m = empty_model(13);
  if (cond_is_initializer) add_initializer(m, bool_tensor("c", cond_value));
  else add_input(m, "c", {}, TensorProto::BOOL);
  add_input(m, "x", {3});
  add_initializer(m, float_tensor("w", {3}, {10, 20, 30}));
  GraphProto then_g, else_g;
  then_g.set_name("then");
  graph_node(then_g, "Add", {"x", "w"}, {"sum"});
  graph_output(then_g, "sum");
  else_g.set_name("else");
  graph_output(else_g, "x");
  auto* n = add_node(m, "If", {"c"}, {"y"});
  n->set_name("branch");
  attr_graph(n, "then_branch", then_g);
  attr_graph(n, "else_branch", else_g);
  add_output(m, "y");
  return m;
}

// Loop: y_out = y_in + x * float(i); scan output: each y_out. With M (an input or, when
// m_const >= 0, an initializer) and cond (an initializer, true).
ModelProto loop_model(int64_t m_const = -1) {
  ModelProto m = empty_model(13);
  if (m_const >= 0) add_initializer(m, int64_scalar("M", m_const));
  else add_input(m, "M", {}, TensorProto::INT64);
  add_initializer(m, bool_tensor("go", true));
  add_input(m, "x", {2});
  add_initializer(m, float_tensor("y0", {2}, {0, 0}));
  GraphProto body;
  body.set_name("body");
  graph_input(body, "i", TensorProto::INT64);
  graph_input(body, "cond_in", TensorProto::BOOL);
  graph_input(body, "y_in");
  attr_int(graph_node(body, "Cast", {"i"}, {"fi"}), "to", TensorProto::FLOAT);
  graph_node(body, "Mul", {"x", "fi"}, {"t"});  // x: the main graph's input
  graph_node(body, "Add", {"y_in", "t"}, {"y_out"});
  graph_node(body, "Identity", {"cond_in"}, {"cond_out"});
  graph_node(body, "Identity", {"y_out"}, {"scan"});
  graph_output(body, "cond_out");
  graph_output(body, "y_out");
  graph_output(body, "scan");
  auto* n = add_node(m, "Loop", {"M", "go", "y0"}, {"y", "ys"});
  n->set_name("loop");
  attr_graph(n, "body", body);
  add_output(m, "y");
  add_output(m, "ys");
  return m;
}

TEST(OnnxControlFlow, IfTakesTheBranchOfItsConditionAndReadsEnclosingValues) {
  onnx::Model model = import_model_from_bytes(bytes_of(if_model(false)));
  const Tensor x = tensor<float>({1, 2, 3}, {3});
  EXPECT_EQ(f32(model.run({b0(true), x})[0]), (std::vector<float>{11, 22, 33}));
  EXPECT_EQ(f32(model.run({b0(false), x})[0]), (std::vector<float>{1, 2, 3}));
  // Compiled, a condition the inputs decide cannot be one graph: a clear error, not a
  // graph that silently keeps the branch of the first call.
  CompiledFunction f = model.compile();
  EXPECT_ERROR_KIND(f(std::vector<Tensor>{b0(true), x}), ErrorKind::NotImplemented,
                  "If node 'branch': under compile, its condition depends on the model's inputs");
  EXPECT_ERROR_KIND(f(std::vector<Tensor>{b0(true), x}), ErrorKind::NotImplemented,
                  "run the model eagerly");
}

TEST(OnnxControlFlow, IfWithAStaticConditionTracesOnlyTheTakenBranch) {
  for (bool c : {true, false}) {
    onnx::Model model = import_model_from_bytes(bytes_of(if_model(true, c)));
    CompiledFunction f = model.compile();
    const Tensor x = tensor<float>({1, 2, 3}, {3});
    EXPECT_EQ(f32(f(std::vector<Tensor>{x}).at(0)), c ? (std::vector<float>{11, 22, 33}) : (std::vector<float>{1, 2, 3}));
    const bool has_add = f.last_graph().find("add") != std::string::npos;
    EXPECT_EQ(has_add, c) << f.last_graph();
  }
}

TEST(OnnxControlFlow, IfOnAShapeFoldsUnderCompileOneTracePerShape) {
  // c = Shape(x)[0] > 2: a trace fixes the shape, so the condition is static and each
  // input shape's graph holds its own branch (then: Relu, else: Neg).
  ModelProto m = empty_model(13);
  add_input(m, "x", {-1, 3});
  add_initializer(m, int64_scalar("zero", 0));
  add_initializer(m, int64_scalar("two", 2));
  add_node(m, "Shape", {"x"}, {"s"});
  add_node(m, "Gather", {"s", "zero"}, {"n"});
  add_node(m, "Greater", {"n", "two"}, {"c"});
  GraphProto then_g, else_g;
  then_g.set_name("big");
  graph_node(then_g, "Relu", {"x"}, {"r"});
  graph_output(then_g, "r");
  else_g.set_name("small");
  graph_node(else_g, "Neg", {"x"}, {"g"});
  graph_output(else_g, "g");
  auto* n = add_node(m, "If", {"c"}, {"y"});
  attr_graph(n, "then_branch", then_g);
  attr_graph(n, "else_branch", else_g);
  add_output(m, "y");
  CompiledFunction f = import_model_from_bytes(bytes_of(m)).compile();
  const Tensor big = tensor<float>({-1, 2, -3, 4, -5, 6, -7, 8, -9}, {3, 3});
  EXPECT_EQ(f32(f(std::vector<Tensor>{big}).at(0)), (std::vector<float>{0, 2, 0, 4, 0, 6, 0, 8, 0}));
  EXPECT_NE(f.last_graph().find("relu"), std::string::npos) << f.last_graph();
  const Tensor small = tensor<float>({-1, 2, -3}, {1, 3});
  EXPECT_EQ(f32(f(std::vector<Tensor>{small}).at(0)), (std::vector<float>{1, -2, 3}));
  EXPECT_EQ(f.last_graph().find("relu"), std::string::npos) << f.last_graph();
  EXPECT_EQ(f.stats().traces, 2);
}

TEST(OnnxControlFlow, LoopCarriesValuesAndStacksScanOutputs) {
  onnx::Model model = import_model_from_bytes(bytes_of(loop_model()));
  const Tensor x = tensor<float>({1, 2}, {2});
  auto out = model.run({i0(3), x});
  // i = 0, 1, 2: y = 0, x, 3x.
  EXPECT_EQ(f32(out[0]), (std::vector<float>{3, 6}));
  EXPECT_EQ(out[1].sizes().vec(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(f32(out[1]), (std::vector<float>{0, 0, 1, 2, 3, 6}));
  // No iteration: the carried values are the initial ones, the scan output is empty.
  out = model.run({i0(0), x});
  EXPECT_EQ(f32(out[0]), (std::vector<float>{0, 0}));
  EXPECT_EQ(out[1].numel(), 0);
  // M read safely: negative or not an integer is an error naming the input.
  EXPECT_ERROR_KIND(model.run({i0(-1), x}), ErrorKind::InvalidArgument,
                  "Loop node 'loop': the trip count M (input 0) must be >= 0, got -1");
}

ModelProto nested_model();

TEST(OnnxControlFlow, LoopWithoutTripCountRunsWhileTheBodysConditionHolds) {
  ModelProto m = loop_model(5);
  // No M: the body's own condition (i < 2, with the body's own initializer) ends it.
  auto* n = m.mutable_graph()->mutable_node(0);
  n->set_input(0, "");
  auto* body = n->mutable_attribute(0)->mutable_g();
  *body->add_initializer() = int64_scalar("two", 2);
  body->mutable_node(3)->set_op_type("Less");
  body->mutable_node(3)->clear_input();
  body->mutable_node(3)->add_input("i");
  body->mutable_node(3)->add_input("two");
  onnx::Model model = import_model_from_bytes(bytes_of(m));
  const Tensor x = tensor<float>({1, 2}, {2});
  auto out = model.run({x});
  EXPECT_EQ(f32(out[0]), (std::vector<float>{3, 6}));  // i = 0, 1, 2 (i < 2 fails after 2)
  EXPECT_EQ(out[1].sizes()[0], 3);
  // A condition that never turns false: the caller's bound ends it with an error.
  body->mutable_node(3)->set_op_type("Identity");
  body->mutable_node(3)->clear_input();
  body->mutable_node(3)->add_input("cond_in");
  onnx::ImportOptions o;
  o.max_loop_iterations = 50;
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m), "", o).run({x}), ErrorKind::InvalidArgument,
                  "more than 50 iterations (ImportOptions::max_loop_iterations)");
  // The bound also covers all subgraph runs of one run together: nested_model's Loop takes
  // 4 iterations (under a bound of 6) but runs 8 subgraphs (its body and an If's branch
  // each time).
  onnx::ImportOptions nested;
  nested.max_loop_iterations = 6;
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(nested_model()), "", nested).run({x}),
                  ErrorKind::InvalidArgument, "more than 6 subgraph runs in one run of the model");
  nested.max_loop_iterations = 8;  // exactly enough
  EXPECT_EQ(f32(import_model_from_bytes(bytes_of(nested_model()), "", nested).run({x})[0]),
            (std::vector<float>{6, 12}));
}

TEST(OnnxControlFlow, CompiledLoopsUnrollWhenStaticAndSmall) {
  const Tensor x = tensor<float>({1, 2}, {2});
  onnx::Model small = import_model_from_bytes(bytes_of(loop_model(4)));
  CompiledFunction f = small.compile();
  auto out = f(std::vector<Tensor>{x});
  EXPECT_EQ(f32(out.at(0)), (std::vector<float>{6, 12}));  // 0 + x + 2x + 3x
  EXPECT_EQ(f32(out.at(1)), f32(small.run({x})[1]));
  EXPECT_EQ(f32(f(std::vector<Tensor>{tensor<float>({2, 0}, {2})}).at(0)), (std::vector<float>{12, 0}));
  EXPECT_EQ(f.stats().traces, 1);
  onnx::Model big = import_model_from_bytes(bytes_of(loop_model(100)));
  EXPECT_ERROR_KIND(big.compile()(std::vector<Tensor>{x}), ErrorKind::NotImplemented,
                  "Loop node 'loop': under compile, its 100 iterations are more than the 64 it unrolls");
  EXPECT_EQ(f32(big.run({x})[0]), (std::vector<float>{4950, 9900}));  // eagerly it runs
  onnx::Model dynamic = import_model_from_bytes(bytes_of(loop_model()));
  EXPECT_ERROR_KIND(dynamic.compile()(std::vector<Tensor>{i0(3), x}), ErrorKind::NotImplemented,
                  "its trip count M depends on the model's inputs");
}

TEST(OnnxControlFlow, ScanAxesAndDirections) {
  // s_out = s_in + x_t * z_t; scan outputs: s_out (axis 0, forward) and x_t (axis 1,
  // reversed). x is scanned along axis 0 forward, z along axis -1 (1) in reverse.
  ModelProto m = empty_model(16);
  add_input(m, "s", {2});
  add_input(m, "x", {-1, 2}, TensorProto::FLOAT, {"L"});
  add_input(m, "z", {-1, -1}, TensorProto::FLOAT, {"A", "B"});
  GraphProto body;
  body.set_name("scan_body");
  graph_input(body, "s_in");
  graph_input(body, "x_t");
  graph_input(body, "z_t");
  graph_node(body, "Mul", {"x_t", "z_t"}, {"p"});
  graph_node(body, "Add", {"s_in", "p"}, {"s_out"});
  graph_node(body, "Identity", {"s_out"}, {"s_scan"});
  graph_node(body, "Identity", {"x_t"}, {"x_scan"});
  graph_output(body, "s_out");
  graph_output(body, "s_scan");
  graph_output(body, "x_scan");
  auto* n = add_node(m, "Scan", {"s", "x", "z"}, {"s_final", "ss", "xs"});
  attr_graph(n, "body", body);
  attr_int(n, "num_scan_inputs", 2);
  attr_ints(n, "scan_input_axes", {0, -1});
  attr_ints(n, "scan_input_directions", {0, 1});
  attr_ints(n, "scan_output_axes", {0, 1});
  attr_ints(n, "scan_output_directions", {0, 1});
  add_output(m, "s_final");
  add_output(m, "ss");
  add_output(m, "xs");
  onnx::Model model = import_model_from_bytes(bytes_of(m));
  const std::vector<Tensor> in{tensor<float>({0, 0}, {2}), tensor<float>({1, 2, 3, 4, 5, 6}, {3, 2}),
                               tensor<float>({1, 10, 100, 2, 20, 200}, {2, 3})};
  auto out = model.run(in);
  // z's columns in reverse: [100, 200], [10, 20], [1, 2].
  EXPECT_EQ(f32(out[0]), (std::vector<float>{135, 492}));
  EXPECT_EQ(f32(out[1]), (std::vector<float>{100, 400, 130, 480, 135, 492}));
  EXPECT_EQ(out[2].sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f32(out[2]), (std::vector<float>{5, 3, 1, 6, 4, 2}));
  // Compiled: the length is a shape, fixed per trace, so the scan unrolls.
  CompiledFunction f = model.compile();
  auto got = f(in);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(f32(got.at(i)), f32(out[i])) << "output " << i;
  // Longer than the 64 steps a compiled graph unrolls: a clear error; eagerly it runs.
  const std::vector<Tensor> long_in{tensor<float>({0, 0}, {2}), ones({65, 2}), ones({2, 65})};
  EXPECT_ERROR_KIND(f(long_in), ErrorKind::NotImplemented, "its 65 iterations are more than the 64 it unrolls");
  EXPECT_EQ(f32(model.run(long_in)[0]), (std::vector<float>{65, 65}));
  // Scan inputs of different lengths.
  const std::vector<Tensor> bad{in[0], in[1], tensor<float>({1, 2, 3, 4}, {2, 2})};
  EXPECT_ERROR_KIND(model.run(bad), ErrorKind::InvalidArgument, "scan input 1 has 2 slices along axis 1");
}

TEST(OnnxControlFlow, Opset8ScanRunsOneScanPerBatchEntry) {
  // Batch of 2; the state sums the slices of x along axis 1 (reversed by `directions`).
  ModelProto m = empty_model(8);
  add_input(m, "s", {2, 1});
  add_input(m, "x", {2, 3, 1});
  GraphProto body;
  body.set_name("sum");
  graph_input(body, "s_in");
  graph_input(body, "x_t");
  graph_node(body, "Add", {"s_in", "x_t"}, {"s_out"});
  graph_node(body, "Identity", {"s_out"}, {"partial"});
  graph_output(body, "s_out");
  graph_output(body, "partial");
  auto* n = add_node(m, "Scan", {"", "s", "x"}, {"total", "partials"});
  attr_graph(n, "body", body);
  attr_int(n, "num_scan_inputs", 1);
  attr_ints(n, "directions", {1});
  add_output(m, "total");
  add_output(m, "partials");
  onnx::Model model = import_model_from_bytes(bytes_of(m));
  auto out = model.run({tensor<float>({0, 100}, {2, 1}), tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3, 1})});
  EXPECT_EQ(f32(out[0]), (std::vector<float>{6, 115}));
  EXPECT_EQ(out[1].sizes().vec(), (std::vector<int64_t>{2, 3, 1}));
  EXPECT_EQ(f32(out[1]), (std::vector<float>{3, 5, 6, 106, 111, 115}));
  // sequence_lens shorter than the sequence: refused, not silently run full-length.
  m.mutable_graph()->mutable_node(0)->set_input(0, "lens");
  add_initializer(m, int64_tensor("lens", {3, 2}));
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)).run({tensor<float>({0, 100}, {2, 1}),
                                                            tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3, 1})}),
                  ErrorKind::NotImplemented, "sequence_lens of 2 shorter than the scan inputs' 3");
}

// Loop (M = 4) whose body holds an If on the iteration number's parity: then y + a (a: the
// main graph's input, two scopes out), else y * two (the main graph's initializer).
ModelProto nested_model() {
  ModelProto m = empty_model(13);
  add_input(m, "a", {2});
  add_initializer(m, int64_scalar("M", 4));
  add_initializer(m, bool_tensor("go", true));
  add_initializer(m, float_tensor("y0", {2}, {0, 0}));
  add_initializer(m, float_tensor("two", {2}, {2, 2}));
  GraphProto then_g, else_g, body;
  then_g.set_name("even");
  graph_node(then_g, "Add", {"y_in", "a"}, {"plus"});
  graph_output(then_g, "plus");
  else_g.set_name("odd");
  graph_node(else_g, "Mul", {"y_in", "two"}, {"times"});
  graph_output(else_g, "times");
  body.set_name("body");
  graph_input(body, "i", TensorProto::INT64);
  graph_input(body, "cond_in", TensorProto::BOOL);
  graph_input(body, "y_in");
  *body.add_initializer() = int64_scalar("k2", 2);
  *body.add_initializer() = int64_scalar("k0", 0);
  graph_node(body, "Mod", {"i", "k2"}, {"r"});
  graph_node(body, "Equal", {"r", "k0"}, {"even"});
  auto* branch = graph_node(body, "If", {"even"}, {"y_out"});
  attr_graph(branch, "then_branch", then_g);
  attr_graph(branch, "else_branch", else_g);
  graph_node(body, "Identity", {"cond_in"}, {"cond_out"});
  graph_output(body, "cond_out");
  graph_output(body, "y_out");
  attr_graph(add_node(m, "Loop", {"M", "go", "y0"}, {"y"}), "body", body);
  add_output(m, "y");
  return m;
}

TEST(OnnxControlFlow, NestedControlFlowSeesEveryEnclosingScope) {
  onnx::Model model = import_model_from_bytes(bytes_of(nested_model()));
  const Tensor a = tensor<float>({1, 2}, {2});
  // i = 0: a; 1: 2a; 2: 3a; 3: 6a.
  EXPECT_EQ(f32(model.run({a})[0]), (std::vector<float>{6, 12}));
  // Compiled: M, cond and the parity all static: the loop unrolls and each If traces its
  // one branch.
  CompiledFunction f = model.compile();
  EXPECT_EQ(f32(f(std::vector<Tensor>{a}).at(0)), (std::vector<float>{6, 12}));
  EXPECT_EQ(f32(f(std::vector<Tensor>{tensor<float>({1, -1}, {2})}).at(0)), (std::vector<float>{6, -6}));
  EXPECT_EQ(f.stats().traces, 1);
}

TEST(OnnxControlFlow, GradientsFlowThroughALoopBodyAndAnIfBranch) {
  // out = If(c) then loop_y * w else -loop_y, where loop_y = x * w^3 (a Loop of 3 steps).
  ModelProto m = empty_model(13);
  add_input(m, "c", {}, TensorProto::BOOL);
  add_input(m, "x", {2});
  add_initializer(m, float_tensor("w", {2}, {2, 3}));
  add_initializer(m, int64_scalar("M", 3));
  GraphProto body, then_g, else_g;
  body.set_name("body");
  graph_input(body, "i", TensorProto::INT64);
  graph_input(body, "cond_in", TensorProto::BOOL);
  graph_input(body, "y_in");
  graph_node(body, "Mul", {"y_in", "w"}, {"y_out"});
  graph_node(body, "Identity", {"cond_in"}, {"cond_out"});
  graph_output(body, "cond_out");
  graph_output(body, "y_out");
  attr_graph(add_node(m, "Loop", {"M", "", "x"}, {"loop_y"}), "body", body);
  then_g.set_name("then");
  graph_node(then_g, "Mul", {"loop_y", "w"}, {"t"});
  graph_output(then_g, "t");
  else_g.set_name("else");
  graph_node(else_g, "Neg", {"loop_y"}, {"e"});
  graph_output(else_g, "e");
  auto* n = add_node(m, "If", {"c"}, {"out"});
  attr_graph(n, "then_branch", then_g);
  attr_graph(n, "else_branch", else_g);
  add_output(m, "out");
  for (bool c : {true, false}) {
    onnx::Model model = import_model_from_bytes(bytes_of(m), "", {.trainable = true});
    Tensor w = model.parameters()[0].second;
    w.requires_grad_(true);
    Tensor x = tensor<float>({1, -2}, {2});
    x.requires_grad_(true);
    sum(model.run({b0(c), x})[0]).backward();
    ASSERT_TRUE(w.grad().defined() && x.grad().defined());
    if (c) {  // x w^4: d/dw = 4 w^3 x, d/dx = w^4
      EXPECT_EQ(f32(w.grad()), (std::vector<float>{32, -216}));
      EXPECT_EQ(f32(x.grad()), (std::vector<float>{16, 81}));
    } else {  // -x w^3: d/dw = -3 w^2 x, d/dx = -w^3
      EXPECT_EQ(f32(w.grad()), (std::vector<float>{-12, 54}));
      EXPECT_EQ(f32(x.grad()), (std::vector<float>{-8, -27}));
    }
  }
}

// ---------------------------------------------------------------- hostile subgraphs
TEST(OnnxControlFlow, UndefinedNamesInSubgraphsAreNamed) {
  ModelProto m = if_model(false);
  auto* then_g = m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g();
  then_g->mutable_node(0)->set_input(1, "ghost");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument,
                  "Add node #0 (in subgraph 'then'): input 'ghost' is not defined by any node, graph input or "
                  "initializer of this subgraph or an enclosing graph");
  // A subgraph output no scope defines.
  m = if_model(false);
  m.mutable_graph()->mutable_node(0)->mutable_attribute(1)->mutable_g()->mutable_output(0)->set_name("nowhere");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument,
                  "graph output 'nowhere' (in subgraph 'else') is not defined");
  // A sibling's subgraph values are not in scope: the else branch cannot read "sum".
  m = if_model(false);
  m.mutable_graph()->mutable_node(0)->mutable_attribute(1)->mutable_g()->mutable_output(0)->set_name("sum");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument, "'sum'");
}

TEST(OnnxControlFlow, BadSubgraphAttributesAndCountsAreRefused) {
  ModelProto m = if_model(false);
  m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g()->add_output()->set_name("x");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument,
                  "If node 'branch': its then_branch has 2 output(s); the node has 1");
  m = if_model(false);
  m.mutable_graph()->mutable_node(0)->mutable_attribute()->RemoveLast();
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument,
                  "the required attribute 'else_branch' (a graph) is missing");
  m = loop_model(3);
  auto* a = m.mutable_graph()->mutable_node(0)->mutable_attribute(0);
  a->clear_g();
  a->set_type(AttributeProto::INT);
  a->set_i(7);
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument,
                  "Loop node 'loop': attribute 'body' must be a graph");
  m = loop_model(3);
  m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g()->mutable_input()->RemoveLast();
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument,
                  "its body has 2 input(s); expected 3");
  m = loop_model(3);
  m.mutable_graph()->mutable_node(0)->add_output("extra");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument, "has 3 output(s)");
  // An operator the importer lacks, inside a body: refused at import, named.
  m = loop_model(3);
  m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g()->mutable_node(1)->set_op_type("NoSuchOp");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::NotImplemented,
                  "(in subgraph 'body'): operator 'NoSuchOp' is not supported");
  // A body declaring its iteration number as float while the Loop gives int64.
  m = loop_model(3);
  m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g()->mutable_input(0)->mutable_type()
      ->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)).run({tensor<float>({1, 2}, {2})}), ErrorKind::InvalidArgument,
                  "input 0 ('i') is declared f32; the node gives i64");
  // Scan: num_scan_inputs out of range.
  ModelProto s = empty_model(16);
  add_input(s, "x", {3});
  GraphProto body;
  graph_input(body, "x_t");
  graph_output(body, "x_t");
  auto* n = add_node(s, "Scan", {"x"}, {"y"});
  attr_graph(n, "body", body);
  attr_int(n, "num_scan_inputs", 0);
  add_output(s, "y");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(s)), ErrorKind::InvalidArgument,
                  "attribute 'num_scan_inputs' must be 1 to 1");
}

TEST(OnnxControlFlow, CyclesThroughSubgraphsAndDeepNestingAreRefused) {
  // The If's branch reads "b", which is computed from the If's own output.
  ModelProto m = if_model(false);
  m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g()->mutable_node(0)->set_input(1, "b");
  add_node(m, "Relu", {"y"}, {"b"});
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(m)), ErrorKind::InvalidArgument, "the graph has a cycle");
  // Ifs nested 20 deep.
  GraphProto leaf;
  leaf.set_name("leaf");
  graph_output(leaf, "x");
  GraphProto inner = leaf;
  for (int d = 0; d < 20; ++d) {
    GraphProto outer;
    outer.set_name("level");
    const std::string name(1, static_cast<char>('a' + d));
    auto* n = graph_node(outer, "If", {"c"}, {name});
    attr_graph(n, "then_branch", inner);
    attr_graph(n, "else_branch", leaf);
    graph_output(outer, name);
    inner = outer;
  }
  ModelProto deep = empty_model(13);
  add_input(deep, "c", {}, TensorProto::BOOL);
  add_input(deep, "x", {1});
  auto* top = add_node(deep, "If", {"c"}, {"y"});
  attr_graph(top, "then_branch", inner);
  attr_graph(top, "else_branch", leaf);
  add_output(deep, "y");
  EXPECT_ERROR_KIND(import_model_from_bytes(bytes_of(deep)), ErrorKind::InvalidArgument, "nest more than 16 levels");
}

}  // namespace
