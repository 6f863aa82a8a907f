#pragma once
// Builds small ONNX models in memory for the importer's tests and the fuzzer's seeds, with
// the importer's own protobuf messages (src/onnx/proto/onnx_subset.proto).
#include <cstring>
#include <string>
#include <vector>

#include "onnx/proto/onnx_subset.pb.h"

namespace tessera::onnx::testing {

using onnxpb::AttributeProto;
using onnxpb::ModelProto;
using onnxpb::NodeProto;
using onnxpb::TensorProto;

inline ModelProto empty_model(int64_t opset = 17) {
  ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("tessera-tests");
  auto* o = m.add_opset_import();
  o->set_domain("");
  o->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

// dims: -1 is a symbolic dim named by `names` (or "N" when none is given).
inline void add_input(ModelProto& m, const std::string& name, std::vector<int64_t> dims,
                      int32_t elem = TensorProto::FLOAT, std::vector<std::string> names = {}) {
  auto* v = m.mutable_graph()->add_input();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* d = shape->add_dim();
    if (dims[i] >= 0) d->set_dim_value(dims[i]);
    else d->set_dim_param(i < names.size() ? names[i] : std::string("N"));
  }
}
inline void add_output(ModelProto& m, const std::string& name, int32_t elem = TensorProto::FLOAT) {
  auto* v = m.mutable_graph()->add_output();
  v->set_name(name);
  v->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
}
inline NodeProto* add_node(ModelProto& m, const std::string& op, std::vector<std::string> in,
                           std::vector<std::string> out) {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  for (auto& s : in) n->add_input(s);
  for (auto& s : out) n->add_output(s);
  return n;
}
inline void attr_int(NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INT);
  a->set_i(v);
}
inline void attr_float(NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::FLOAT);
  a->set_f(v);
}
inline void attr_ints(NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline TensorProto float_tensor(const std::string& name, std::vector<int64_t> dims, std::vector<float> values) {
  TensorProto t;
  t.set_name(name);
  t.set_data_type(TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t;
}
inline TensorProto int64_tensor(const std::string& name, std::vector<int64_t> values) {
  TensorProto t;
  t.set_name(name);
  t.set_data_type(TensorProto::INT64);
  t.add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t.add_int64_data(v);
  return t;
}
inline void add_initializer(ModelProto& m, TensorProto t) { *m.mutable_graph()->add_initializer() = std::move(t); }
inline TensorProto bool_tensor(const std::string& name, bool v) {  // a scalar
  TensorProto t;
  t.set_name(name);
  t.set_data_type(TensorProto::BOOL);
  t.add_int32_data(v ? 1 : 0);
  return t;
}
inline TensorProto int64_scalar(const std::string& name, int64_t v) {
  TensorProto t;
  t.set_name(name);
  t.set_data_type(TensorProto::INT64);
  t.add_int64_data(v);
  return t;
}

// Subgraphs (If's branches, Loop's and Scan's body): the same pieces on a GraphProto.
using onnxpb::GraphProto;
inline void graph_input(GraphProto& g, const std::string& name, int32_t elem = TensorProto::FLOAT) {
  auto* v = g.add_input();
  v->set_name(name);
  v->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
}
inline void graph_output(GraphProto& g, const std::string& name) { g.add_output()->set_name(name); }
inline NodeProto* graph_node(GraphProto& g, const std::string& op, std::vector<std::string> in,
                             std::vector<std::string> out) {
  auto* n = g.add_node();
  n->set_op_type(op);
  for (auto& s : in) n->add_input(s);
  for (auto& s : out) n->add_output(s);
  return n;
}
inline void attr_graph(NodeProto* n, const std::string& name, GraphProto g) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(AttributeProto::GRAPH);
  *a->mutable_g() = std::move(g);
}

// y = relu(x @ W^T + b) with a symbolic batch: x [N, 3], W [2, 3], b [2] (Gemm transB=1).
inline ModelProto gemm_relu_model() {
  ModelProto m = empty_model();
  add_input(m, "x", {-1, 3});
  add_initializer(m, float_tensor("W", {2, 3}, {1, 2, 3, -1, -2, -3}));
  add_initializer(m, float_tensor("b", {2}, {0.5f, 10.f}));
  auto* g = add_node(m, "Gemm", {"x", "W", "b"}, {"h"});
  attr_int(g, "transB", 1);
  add_node(m, "Relu", {"h"}, {"y"});
  add_output(m, "y");
  return m;
}

}  // namespace tessera::onnx::testing
