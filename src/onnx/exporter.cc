// ONNX export (docs/onnx.md, "Export"): a function traced into a graph (src/graph/tracer.h),
// before any pass, written node by node by the operator table's export functions
// (export_ops.cc) into a ModelProto.
//
// Values get ONNX names once: graph inputs by ExportOptions::input_names, node outputs
// "v<id>" (or the output name when the value is a graph output), captured and constant
// tensors become initializers on first use, named after ExportOptions::tensor_names when
// they are one of those tensors. Nodes whose outputs reach no graph output are dropped
// first (a max_pool2d's unused indices stay unwritten; an op nothing reads needs no
// mapping).
#include "onnx/exporter.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "core/files.h"
#include "graph/tracer.h"
#include "tessera/error.h"
#include "tessera/grad_mode.h"

namespace tessera::onnx::detail {

using tessera::detail::concat;

int32_t onnx_type_of(DType t) {
  using P = onnxpb::TensorProto;
  switch (t) {
    case DType::Float32: return P::FLOAT;
    case DType::Float64: return P::DOUBLE;
    case DType::Float16: return P::FLOAT16;
    case DType::BFloat16: return P::BFLOAT16;
    case DType::UInt8: return P::UINT8;
    case DType::Int8: return P::INT8;
    case DType::Int32: return P::INT32;
    case DType::Int64: return P::INT64;
    case DType::Bool: return P::BOOL;
  }
  throw_error(ErrorKind::NotImplemented, concat("ONNX export: dtype ", dtype_name(t), " has no ONNX element type"));
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnxpb::TensorProto& p) {
  p.set_name(name);
  p.set_data_type(onnx_type_of(t.dtype()));
  for (int64_t d : t.sizes()) p.add_dims(d);
  const Tensor c = t.contiguous();
  // Tessera stores elements little-endian in ONNX's own layouts (bool as one byte,
  // float16/bfloat16 as their bits), which is what raw_data holds.
  const size_t bytes = static_cast<size_t>(c.numel()) * itemsize(c.dtype());
  if (bytes > 0) p.set_raw_data(static_cast<const char*>(c.data_ptr()), bytes);
  else p.set_raw_data(std::string());
}

void set_attr(onnxpb::NodeProto* n, const char* name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnxpb::AttributeProto::INT);
  a->set_i(v);
}
void set_attr(onnxpb::NodeProto* n, const char* name, double v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnxpb::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}
void set_attr(onnxpb::NodeProto* n, const char* name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnxpb::AttributeProto::STRING);
  a->set_s(v);
}
void set_attr(onnxpb::NodeProto* n, const char* name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnxpb::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void set_attr_tensor(onnxpb::NodeProto* n, const char* name, const Tensor& t) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnxpb::AttributeProto::TENSOR);
  tensor_to_proto(t, "", *a->mutable_t());
}

class Exporter {
 public:
  Exporter(const graph::Graph& g, const ExportOptions& o) : g_(g), opt_(o) {}

  onnxpb::ModelProto run(ExportSummary* summary);

  int64_t opset() const { return opt_.opset; }
  bool dynamic() const { return dynamic_; }
  const graph::Graph& graph() const { return g_; }
  onnxpb::GraphProto& proto() { return *gp_; }

  std::string fresh(const std::string& hint) {
    for (;;) {
      std::string n = concat(hint, "_", counter_++);
      if (taken_.insert(n).second) return n;
    }
  }
  std::string unique(const std::string& want) {
    if (taken_.insert(want).second) return want;
    return fresh(want);
  }
  std::string initializer(const Tensor& t, const std::string& name) {
    std::string n = unique(name);
    tensor_to_proto(t, n, *gp_->add_initializer());
    return n;
  }
  // The ONNX name of value `id`; captured and constant values become initializers here.
  std::string name_of(int id) {
    std::string& n = names_[static_cast<size_t>(id)];
    if (!n.empty()) return n;
    const graph::Value& v = g_.values[static_cast<size_t>(id)];
    TESSERA_INTERNAL_ASSERT(v.kind == graph::ValueKind::Captured || v.kind == graph::ValueKind::Constant,
                            "ONNX export: value ", graph::value_name(g_, id), " used before it is written");
    n = initializer(v.tensor, tensor_name(v.tensor, id));
    return n;
  }
  std::string out_name(int id) const { return names_[static_cast<size_t>(id)]; }
  bool used(int id) const { return uses_[static_cast<size_t>(id)] > 0; }

 private:
  std::string tensor_name(const Tensor& t, int id) const {
    for (const auto& [name, named] : opt_.tensor_names)
      if (named.defined() && named.dtype() == t.dtype() && named.data_ptr() == t.data_ptr() &&
          named.sizes().equals(t.sizes()) && named.strides().equals(t.strides()))
        return name;
    return concat("const_", id);
  }
  void declare(onnxpb::ValueInfoProto* vi, const std::string& name, const ops::TensorMeta& m);

  const graph::Graph& g_;
  const ExportOptions& opt_;
  onnxpb::GraphProto* gp_ = nullptr;
  std::vector<std::string> names_;
  std::vector<int> uses_;
  std::set<std::string> taken_;
  int counter_ = 0;
  bool dynamic_ = false;
};

// ---- ExportContext ----

int64_t ExportContext::opset() const { return ex_.opset(); }
bool ExportContext::dynamic() const { return ex_.dynamic(); }
const ops::TensorMeta& ExportContext::in_meta(size_t i) const {
  TESSERA_INTERNAL_ASSERT(i < node_.inputs.size(), op_name(), ": no input ", i);
  return g_.values[static_cast<size_t>(node_.inputs[i])].meta;
}
const ops::TensorMeta& ExportContext::out_meta(size_t i) const {
  TESSERA_INTERNAL_ASSERT(i < node_.outputs.size(), op_name(), ": no output ", i);
  return g_.values[static_cast<size_t>(node_.outputs[i])].meta;
}
std::string ExportContext::in(size_t i) const {
  TESSERA_INTERNAL_ASSERT(i < node_.inputs.size(), op_name(), ": no input ", i);
  return ex_.name_of(node_.inputs[i]);
}
std::string ExportContext::out(size_t i) const {
  TESSERA_INTERNAL_ASSERT(i < node_.outputs.size(), op_name(), ": no output ", i);
  return ex_.out_name(node_.outputs[i]);
}
bool ExportContext::output_used(size_t i) const { return i < node_.outputs.size() && ex_.used(node_.outputs[i]); }
Tensor ExportContext::in_constant(size_t i) const {
  const graph::Value& v = g_.values[static_cast<size_t>(node_.inputs.at(i))];
  return v.kind == graph::ValueKind::Captured || v.kind == graph::ValueKind::Constant ? v.tensor : Tensor();
}
std::string ExportContext::in_as(size_t i, DType dtype) {
  if (in_meta(i).dtype == dtype) return in(i);
  const Tensor c = in_constant(i);
  // A wrapped scalar (add(x, 2.5)) or another tiny constant: written in the dtype the op
  // computes in, as ONNX wants its operands' types equal.
  if (c.defined() && c.numel() <= 16) return ex_.initializer(c.to(dtype), fresh("scalar"));
  return cast(in(i), dtype);
}
std::string ExportContext::fresh(const std::string& hint) { return ex_.fresh(concat(op_name(), "_", hint)); }
onnxpb::NodeProto* ExportContext::add(const std::string& op_type, const std::vector<std::string>& ins,
                                      const std::vector<std::string>& outs) {
  onnxpb::NodeProto* n = ex_.proto().add_node();
  n->set_op_type(op_type);
  for (const std::string& s : ins) n->add_input(s);
  if (outs.empty()) n->add_output(fresh(op_type));
  for (const std::string& s : outs) n->add_output(s);
  return n;
}
std::string ExportContext::op1(const std::string& op_type, const std::vector<std::string>& ins) {
  return add(op_type, ins, {})->output(0);
}
std::string ExportContext::cast(const std::string& x, DType to) {
  onnxpb::NodeProto* n = add("Cast", {x}, {});
  set_attr(n, "to", int64_t{onnx_type_of(to)});
  return n->output(0);
}
std::string ExportContext::const_i64(const std::vector<int64_t>& v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, TensorOptions(kInt64));
  for (size_t k = 0; k < v.size(); ++k) t.data<int64_t>()[k] = v[k];
  return ex_.initializer(t, fresh("i64"));
}
std::string ExportContext::const_i64_scalar(int64_t v) {
  return ex_.initializer(full({}, Scalar(v), TensorOptions(kInt64)), fresh("i64"));
}
std::string ExportContext::const_scalar(double v, DType dtype) {
  Tensor t = full({}, Scalar(v), TensorOptions(kFloat64)).to(dtype);
  return ex_.initializer(t, fresh("scalar"));
}
std::string ExportContext::const_tensor(const Tensor& t) { return ex_.initializer(t, fresh("const")); }
std::string ExportContext::unsqueeze(const std::string& x, const std::vector<int64_t>& axes, const std::string& out) {
  const std::string o = out.empty() ? fresh("unsqueeze") : out;
  if (opset() >= 13) {
    add("Unsqueeze", {x, const_i64(axes)}, {o});
  } else {
    set_attr(add("Unsqueeze", {x}, {o}), "axes", axes);
  }
  return o;
}
std::string ExportContext::squeeze(const std::string& x, const std::vector<int64_t>& axes, const std::string& out) {
  const std::string o = out.empty() ? fresh("squeeze") : out;
  if (opset() >= 13) {
    add("Squeeze", {x, const_i64(axes)}, {o});
  } else {
    set_attr(add("Squeeze", {x}, {o}), "axes", axes);
  }
  return o;
}
onnxpb::NodeProto* ExportContext::reduce(const std::string& op_type, const std::string& x,
                                         const std::vector<int64_t>& axes, bool keepdims, const std::string& out,
                                         int input_from) {
  onnxpb::NodeProto* n;
  if (axes.empty()) {
    n = add(op_type, {x}, {out});
  } else if (opset() >= input_from) {
    n = add(op_type, {x, const_i64(axes)}, {out});
  } else {
    n = add(op_type, {x}, {out});
    set_attr(n, "axes", axes);
  }
  set_attr(n, "keepdims", int64_t{keepdims ? 1 : 0});
  return n;
}
std::string ExportContext::reshape(const std::string& x, const std::vector<int64_t>& in_shape,
                                   const std::vector<int64_t>& shape, const std::string& out) {
  std::vector<int64_t> s = shape;
  const bool has_zero = std::find(s.begin(), s.end(), 0) != s.end();
  const std::string o = out.empty() ? fresh("reshape") : out;
  if (has_zero) {
    // An empty result: a 0 in Reshape's shape copies the input's dim unless allowzero (14).
    if (opset() >= 14) {
      onnxpb::NodeProto* n = add("Reshape", {x, const_i64(s)}, {o});
      set_attr(n, "allowzero", int64_t{1});
      return o;
    }
    for (size_t d = 0; d < s.size(); ++d)
      if (s[d] == 0 && !(d < in_shape.size() && in_shape[d] == 0))
        unsupported(concat("a reshape to ", shape_str(shape), " (an empty tensor) needs opset 14 (allowzero)"));
  } else if (dynamic() && !in_shape.empty() && !s.empty()) {
    bool copied0 = false;
    for (size_t d = 0; d < s.size() && d < in_shape.size(); ++d)
      if (s[d] == in_shape[d]) {
        s[d] = 0;  // copy the input's dim: follows a symbolic one
        copied0 = copied0 || d == 0;
      }
    // The leading dim absorbed the batch ([N, S, C] -> [N*S, C]) or gave it back
    // ([N*S, C] -> [N, S, C]): let it be inferred.
    if (!copied0 && std::find(s.begin(), s.end(), -1) == s.end()) s[0] = -1;
  }
  add("Reshape", {x, const_i64(s)}, {o});
  return o;
}

void ExportContext::unsupported(const std::string& why) const {
  throw_error(ErrorKind::NotImplemented,
              concat("ONNX export (opset ", opset(), "): Tessera op '", op_name(), "': ", why));
}

// ---- the exporter ----

namespace {

int64_t ir_version_for(int64_t opset) {
  // The IR version each opset came with (onnx/helper.py's VERSION_TABLE).
  if (opset <= 8) return 3;
  if (opset == 9) return 4;
  if (opset == 10) return 5;
  if (opset == 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

}  // namespace

void Exporter::declare(onnxpb::ValueInfoProto* vi, const std::string& name, const ops::TensorMeta& m) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx_type_of(m.dtype));
  auto* shape = tt->mutable_shape();
  const auto axes = opt_.dynamic_axes.find(name);
  for (size_t d = 0; d < m.sizes.size(); ++d) {
    auto* dim = shape->add_dim();
    std::string param;
    if (axes != opt_.dynamic_axes.end()) {
      auto it = axes->second.find(static_cast<int64_t>(d));
      if (it != axes->second.end()) param = it->second;
    }
    if (param.empty() && opt_.dynamic_batch && d == 0) param = "batch";
    if (!param.empty()) dim->set_dim_param(param);
    else dim->set_dim_value(m.sizes[d]);
  }
}

onnxpb::ModelProto Exporter::run(ExportSummary* summary) {
  TESSERA_CHECK(opt_.opset >= 11 && opt_.opset <= 21, "ONNX export: opset ", opt_.opset,
                " is not supported: export writes opsets 11 to 21");
  const size_t n_in = g_.inputs.size(), n_out = g_.outputs.size();
  TESSERA_CHECK(opt_.input_names.empty() || opt_.input_names.size() == n_in, "ONNX export: ",
                opt_.input_names.size(), " input names for ", n_in, " inputs");
  TESSERA_CHECK(opt_.output_names.empty() || opt_.output_names.size() == n_out, "ONNX export: ",
                opt_.output_names.size(), " output names for ", n_out, " outputs");
  std::vector<std::string> in_names, out_names;
  for (size_t i = 0; i < n_in; ++i) in_names.push_back(opt_.input_names.empty() ? concat("input_", i) : opt_.input_names[i]);
  for (size_t i = 0; i < n_out; ++i)
    out_names.push_back(opt_.output_names.empty() ? concat("output_", i) : opt_.output_names[i]);
  {
    std::set<std::string> seen;
    for (const std::string& n : in_names) TESSERA_CHECK(!n.empty() && seen.insert(n).second, "ONNX export: input name '", n, "' is empty or given twice");
    for (const std::string& n : out_names) TESSERA_CHECK(!n.empty() && seen.insert(n).second, "ONNX export: output name '", n, "' is empty or given twice");
    for (const auto& [name, dims] : opt_.dynamic_axes) {
      TESSERA_CHECK(seen.count(name), "ONNX export: dynamic_axes names '", name, "', which is no input or output");
      if (!dims.empty()) dynamic_ = true;
    }
  }
  dynamic_ = dynamic_ || opt_.dynamic_batch;
  for (const auto& [name, dims] : opt_.dynamic_axes) {
    int id = -1;
    for (size_t i = 0; i < n_in; ++i)
      if (in_names[i] == name) id = g_.inputs[i];
    for (size_t i = 0; i < n_out; ++i)
      if (out_names[i] == name) id = g_.outputs[i];
    const size_t rank = g_.values[static_cast<size_t>(id)].meta.sizes.size();
    for (const auto& [d, param] : dims)
      TESSERA_CHECK(d >= 0 && static_cast<size_t>(d) < rank && !param.empty(), "ONNX export: dynamic_axes of '",
                    name, "': dim ", d, " named '", param, "', but '", name, "' has ", rank,
                    " dims (and a name must not be empty)");
  }

  // Nodes that reach an output (writes were refused before, so liveness is plain).
  std::vector<bool> live(g_.nodes.size(), false);
  uses_.assign(g_.values.size(), 0);
  for (int id : g_.outputs) ++uses_[static_cast<size_t>(id)];
  for (size_t k = g_.nodes.size(); k-- > 0;) {
    const graph::Node& n = g_.nodes[k];
    bool any = false;
    for (int o : n.outputs) any = any || uses_[static_cast<size_t>(o)] > 0;
    if (!any) continue;
    live[k] = true;
    for (int i : n.inputs) ++uses_[static_cast<size_t>(i)];
  }
  for (size_t k = 0; k < g_.nodes.size(); ++k) {
    if (!live[k]) continue;
    const graph::Node& n = g_.nodes[k];
    TESSERA_CHECK_IMPLEMENTED(!n.writes(), "ONNX export: the graph writes tensors (Tessera op '", n.op->name,
                              "'): a train step or in-place update has no ONNX form; export the forward "
                              "function (the model in eval mode)");
    TESSERA_CHECK_IMPLEMENTED(!n.is_random(), "ONNX export: Tessera op '", n.op->name,
                              "' draws random numbers, which another runtime cannot reproduce; export in "
                              "eval mode (dropout off)");
  }

  onnxpb::ModelProto model;
  model.set_ir_version(ir_version_for(opt_.opset));
  model.set_producer_name(opt_.producer_name);
  auto* os = model.add_opset_import();
  os->set_domain("");
  os->set_version(opt_.opset);
  gp_ = model.mutable_graph();
  gp_->set_name(opt_.graph_name);
  names_.assign(g_.values.size(), "");
  for (const std::string& n : in_names) taken_.insert(n);
  for (const std::string& n : out_names) taken_.insert(n);
  for (size_t i = 0; i < n_in; ++i) {
    const int id = g_.inputs[i];
    names_[static_cast<size_t>(id)] = in_names[i];
    declare(gp_->add_input(), in_names[i], g_.values[static_cast<size_t>(id)].meta);
  }
  // A node's output that is a graph output (the first time) is written under its name.
  std::vector<bool> named_out(n_out, false);
  for (size_t i = 0; i < n_out; ++i) {
    const int id = g_.outputs[i];
    const graph::Value& v = g_.values[static_cast<size_t>(id)];
    if (v.kind == graph::ValueKind::Node && names_[static_cast<size_t>(id)].empty()) {
      names_[static_cast<size_t>(id)] = out_names[i];
      named_out[i] = true;
    }
  }
  for (size_t k = 0; k < g_.nodes.size(); ++k) {
    if (!live[k]) continue;
    const graph::Node& n = g_.nodes[k];
    for (int o : n.outputs)
      if (names_[static_cast<size_t>(o)].empty()) names_[static_cast<size_t>(o)] = unique(concat("v", o));
    const ExportRow* row = find_export(n.op->name);
    if (row == nullptr) {
      // The ops of the backend's passes (blocked layouts, packed weights) exist only in
      // optimized graphs: say where the plain graph comes from.
      static const std::set<std::string> backend_ops{"to_blocked", "from_blocked", "pack_conv_weight",
                                                     "conv2d_blocked", "max_pool2d_blocked"};
      const bool backend = backend_ops.count(n.op->name) > 0;
      throw_error(ErrorKind::NotImplemented,
                  concat("ONNX export (opset ", opt_.opset, "): Tessera op '", n.op->name, "' has no ONNX mapping",
                         backend ? ": it is made by the backend's graph passes; export the graph before them "
                                   "(export_function/export_module trace afresh; a compiled-graph file saved with "
                                   "CompileOptions::optimize = false, `tessera convert --no-optimize`)"
                                 : " (supported_ops() lists what exports)"));
    }
    if (opt_.opset < row->since_opset)
      throw_error(ErrorKind::NotImplemented,
                  concat("ONNX export (opset ", opt_.opset, "): Tessera op '", n.op->name, "' is written as ONNX ",
                         row->onnx_op, ", which needs opset ", row->since_opset, " or later"));
    ExportContext ctx(*this, g_, n);
    row->fn(ctx);
  }
  for (size_t i = 0; i < n_out; ++i) {
    const int id = g_.outputs[i];
    if (!named_out[i]) {
      onnxpb::NodeProto* idn = gp_->add_node();
      idn->set_op_type("Identity");
      idn->add_input(name_of(id));
      idn->add_output(out_names[i]);
    }
    declare(gp_->add_output(), out_names[i], g_.values[static_cast<size_t>(id)].meta);
  }
  if (summary != nullptr) {
    std::map<std::string, int> hist;
    for (const auto& n : gp_->node()) ++hist[n.op_type()];
    summary->opset = opt_.opset;
    summary->num_nodes = static_cast<size_t>(gp_->node_size());
    summary->num_initializers = static_cast<size_t>(gp_->initializer_size());
    summary->op_histogram.clear();
    for (const auto& [op, count] : hist)
      summary->op_histogram += concat(summary->op_histogram.empty() ? "" : ", ", op, ": ", count);
  }
  return model;
}

namespace {

// A graph compile traced (onnx::save_compiled) holds composites as their decompositions'
// nodes, which the executor needs; Graph::composites remembers each call. Those with an
// export function are put back as one node (linear as Gemm, batch_norm in eval mode as
// BatchNormalization), as the tracer's KeepWhole records them when export traces for
// itself. A span is kept as nodes when anything outside it reads a value computed inside
// it (other than the call's outputs), when it writes or draws random numbers, or when it
// overlaps one already put back (an outer call is tried first). nullopt: nothing to do.
std::optional<graph::Graph> with_composites_whole(const graph::Graph& g) {
  if (g.composites.empty()) return std::nullopt;
  const int nn = static_cast<int>(g.nodes.size());
  std::vector<std::vector<int>> readers(g.values.size());
  for (int k = 0; k < nn; ++k) {
    for (int id : g.nodes[static_cast<size_t>(k)].inputs) readers[static_cast<size_t>(id)].push_back(k);
    if (g.nodes[static_cast<size_t>(k)].into >= 0) readers[static_cast<size_t>(g.nodes[static_cast<size_t>(k)].into)].push_back(k);
  }
  std::vector<bool> is_output(g.values.size(), false);
  for (int id : g.outputs) is_output[static_cast<size_t>(id)] = true;

  std::vector<const graph::CompositeCall*> order;
  for (const graph::CompositeCall& c : g.composites) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(), [](const graph::CompositeCall* a, const graph::CompositeCall* b) {
    return a->first_node != b->first_node ? a->first_node < b->first_node : a->end_node > b->end_node;
  });
  std::vector<bool> replaced(static_cast<size_t>(nn), false);
  std::vector<const graph::CompositeCall*> at_start(static_cast<size_t>(nn), nullptr);
  bool any = false;
  for (const graph::CompositeCall* c : order) {
    if (c->op == nullptr || c->first_node < 0 || c->end_node > nn || c->first_node >= c->end_node) continue;
    if (find_export(c->op->name) == nullptr) continue;
    if (std::string_view(c->op->name) == "batch_norm" && c->attrs.b("training")) continue;
    bool ok = true;
    for (int id : c->inputs) {  // defined before the span
      const graph::Value& v = g.values[static_cast<size_t>(id)];
      ok = ok && (v.kind != graph::ValueKind::Node || v.node < c->first_node);
    }
    for (int k = c->first_node; ok && k < c->end_node; ++k) {
      const graph::Node& n = g.nodes[static_cast<size_t>(k)];
      ok = !replaced[static_cast<size_t>(k)] && !n.writes() && !n.is_random();
      for (int o : n.outputs) {
        if (!ok) break;
        if (std::find(c->outputs.begin(), c->outputs.end(), o) != c->outputs.end()) continue;
        ok = !is_output[static_cast<size_t>(o)];
        for (int r : readers[static_cast<size_t>(o)]) ok = ok && r >= c->first_node && r < c->end_node;
      }
    }
    if (!ok) continue;
    for (int k = c->first_node; k < c->end_node; ++k) replaced[static_cast<size_t>(k)] = true;
    at_start[static_cast<size_t>(c->first_node)] = c;
    any = true;
  }
  if (!any) return std::nullopt;
  graph::Graph out;
  out.values = g.values;
  out.inputs = g.inputs;
  out.outputs = g.outputs;
  auto place = [&out](graph::Node n) {
    const int idx = static_cast<int>(out.nodes.size());
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      graph::Value& v = out.values[static_cast<size_t>(n.outputs[i])];
      v.node = idx;
      v.index = static_cast<int>(i);
    }
    out.nodes.push_back(std::move(n));
  };
  for (int k = 0; k < nn; ++k) {
    if (const graph::CompositeCall* c = at_start[static_cast<size_t>(k)]) {
      graph::Node n;
      n.op = c->op;
      n.attrs = c->attrs;
      n.inputs = c->inputs;
      n.outputs = c->outputs;
      n.where = g.nodes[static_cast<size_t>(k)].where;
      place(std::move(n));
    } else if (!replaced[static_cast<size_t>(k)]) {
      place(g.nodes[static_cast<size_t>(k)]);
    }
  }
  return out;
}

}  // namespace

onnxpb::ModelProto export_graph(const graph::Graph& g, const ExportOptions& options, ExportSummary* summary) {
  const std::optional<graph::Graph> whole = with_composites_whole(g);
  Exporter ex(whole ? *whole : g, options);
  return ex.run(summary);
}

namespace {

// Protobuf cannot serialize a message of 2 GiB or more: say what to do instead of failing
// inside protobuf.
std::string serialize(const onnxpb::ModelProto& model) {
  const size_t size = model.ByteSizeLong();
  TESSERA_CHECK(size < size_t{INT_MAX}, "ONNX export: the model is ", size,
                " bytes, over protobuf's 2 GiB limit for one file; set ExportOptions::external_data "
                "(`--external-data`) to write the weights to a side file");
  std::string bytes;
  TESSERA_INTERNAL_ASSERT(model.SerializeToString(&bytes), "ONNX export: the ModelProto did not serialize");
  return bytes;
}

// Offsets of tensors in the external data file are multiples of this, so a reader that
// maps the file gets aligned tensors.
constexpr int64_t kExternalAlign = 64;

}  // namespace

std::string export_graph_to_bytes(const graph::Graph& g, const ExportOptions& options, ExportSummary* summary) {
  check_bytes_options(options);
  return serialize(export_graph(g, options, summary));
}

void check_bytes_options(const ExportOptions& options) {
  TESSERA_CHECK(!options.external_data, "ONNX export: external_data writes the weights to a file next to the model; "
                "the *_to_bytes functions have no file: use export_function, export_module, save_compiled");
}

void write_model_file(onnxpb::ModelProto& model, const std::string& path, const ExportOptions& options,
                      ExportSummary* summary) {
  namespace fs = std::filesystem;
  TESSERA_CHECK(!path.empty(), "ONNX export: the model's path is empty");
  if (!options.external_data) {
    tessera::detail::write_file_atomically("ONNX export", path, serialize(model));
    return;
  }
  // ONNX's external data (onnx/docs/ExternalData.md): the raw bytes of each large
  // initializer go to one file next to the model; the TensorProto keeps its name, type and
  // dims and says where its bytes are (data_location EXTERNAL, location/offset/length).
  const std::string file = fs::path(path).filename().string();
  const std::string location = options.external_data_location.empty() ? file + ".data"
                                                                        : options.external_data_location;
  TESSERA_CHECK(location.find('/') == std::string::npos && location != "." && location != "..",
                "ONNX export: external_data_location '", location,
                "' must be a file name: the data file is written next to the model (readers look for it in the "
                "model's folder)");
  TESSERA_CHECK(location != file, "ONNX export: external_data_location '", location, "' is the model's own file name");
  TESSERA_CHECK(options.external_data_threshold >= 0, "ONNX export: external_data_threshold must be >= 0, got ",
                options.external_data_threshold);
  const std::string data_path = (fs::path(path).parent_path() / location).string();
  tessera::detail::AtomicFile data("ONNX export (external data)", data_path);
  int64_t offset = 0, moved = 0;
  static const char zeros[kExternalAlign] = {};
  for (onnxpb::TensorProto& t : *model.mutable_graph()->mutable_initializer()) {
    const int64_t length = static_cast<int64_t>(t.raw_data().size());
    if (!t.has_raw_data() || length == 0 || length < options.external_data_threshold) continue;
    const int64_t pad = (kExternalAlign - offset % kExternalAlign) % kExternalAlign;
    data.write(zeros, static_cast<size_t>(pad));
    offset += pad;
    data.write(t.raw_data());
    t.clear_raw_data();
    t.set_data_location(onnxpb::TensorProto::EXTERNAL);
    auto entry = [&t](const char* key, const std::string& value) {
      onnxpb::StringStringEntryProto* e = t.add_external_data();
      e->set_key(key);
      e->set_value(value);
    };
    entry("location", location);
    entry("offset", std::to_string(offset));
    entry("length", std::to_string(length));
    offset += length;
    ++moved;
  }
  // The weights first, then the model that points at them.
  if (moved > 0) data.commit();
  tessera::detail::write_file_atomically("ONNX export", path, serialize(model));
  if (summary != nullptr) {
    summary->num_external = static_cast<size_t>(moved);
    summary->external_bytes = offset;
    summary->external_data_path = moved > 0 ? data_path : std::string();
  }
}

ExportSummary export_graph_to_file(const graph::Graph& g, const std::string& path, const ExportOptions& options) {
  ExportSummary s;
  onnxpb::ModelProto model = export_graph(g, options, &s);
  write_model_file(model, path, options, &s);
  return s;
}

}  // namespace tessera::onnx::detail

namespace tessera::onnx {

namespace {

onnxpb::ModelProto export_function_model(const FunctionToExport& fn, const std::vector<Tensor>& example_inputs,
                                         const ExportOptions& options, ExportSummary* summary) {
  TESSERA_CHECK(fn != nullptr, "ONNX export: the function is empty");
  // Before running anything (the exporter checks the rest once the graph is there).
  TESSERA_CHECK(options.opset >= 11 && options.opset <= 21, "ONNX export: opset ", options.opset,
                " is not supported: export writes opsets 11 to 21");
  // Traced without gradients, as an inference graph runs: composites record their fused
  // form where they have one, and no backward bookkeeping enters the graph.
  // Composites with an export function of their own (linear as Gemm, batch_norm in eval
  // mode as BatchNormalization, layer_norm) are recorded whole rather than decomposed.
  graph::TraceOptions to;
  to.keep_whole = [](const ops::OpDef& op, const ops::Attrs& attrs) {
    if (detail::find_export(op.name) == nullptr) return false;
    return std::string_view(op.name) != "batch_norm" || !attrs.b("training");
  };
  // A train step (or a module in train mode updating running statistics) is stopped before
  // its first write, so exporting it by mistake leaves the model as it was.
  to.refuse_writes = "an ONNX model has no in-place updates: export the forward function (the model in eval mode)";
  graph::Trace t = [&] {
    NoGradGuard no_grad;
    return graph::trace(fn, example_inputs, to);
  }();
  return detail::export_graph(t.graph, options, summary);
}

}  // namespace

std::string export_function_to_bytes(const FunctionToExport& fn, const std::vector<Tensor>& example_inputs,
                                     const ExportOptions& options, ExportSummary* summary) {
  detail::check_bytes_options(options);
  return detail::serialize(export_function_model(fn, example_inputs, options, summary));
}

ExportSummary export_function(const FunctionToExport& fn, const std::vector<Tensor>& example_inputs,
                              const std::string& path, const ExportOptions& options) {
  ExportSummary s;
  onnxpb::ModelProto model = export_function_model(fn, example_inputs, options, &s);
  detail::write_model_file(model, path, options, &s);
  return s;
}

ExportSummary export_compiled(const CompiledFunction& f, const std::vector<Tensor>& example_inputs,
                              const std::string& path, const ExportOptions& options) {
  const CompiledFunction::Fn& fn = f.function();
  TESSERA_CHECK(fn != nullptr, "ONNX export: this compiled function was loaded from a file (load_compiled) and "
                "has no function to trace; export the model it was saved from (or onnx::save_compiled, which "
                "writes the graph it holds)");
  return export_function(fn, example_inputs, path, options);
}

}  // namespace tessera::onnx
