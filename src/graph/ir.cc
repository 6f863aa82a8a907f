#include "graph/ir.h"

#include <charconv>
#include <map>
#include <sstream>

#include "ops/view.h"

namespace tessera::graph {

bool Node::aliases_input() const { return (op->flags & ops::kIsView) || op == &ops::kAsStrided; }

namespace {

[[noreturn]] void broken(const Graph& g, size_t node, const std::string& what) {
  const Node& n = g.nodes[node];
  throw_error(ErrorKind::Internal, detail::concat("graph verifier: node ", node, " (", n.op->name,
                                                  n.where.empty() ? "" : " at ", n.where, "): ", what));
}

bool same_meta(const ops::TensorMeta& a, const ops::TensorMeta& b) {
  return a.dtype == b.dtype && IntArrayRef(a.sizes).equals(b.sizes);
}

// The shortest form that reads back as the same double: exact, so CSE may compare it.
std::string shortest(double x) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

std::string meta_string(const ops::TensorMeta& m) { return shape_str(m.sizes) + " " + dtype_name(m.dtype); }

}  // namespace

ops::InputMeta input_meta(const Graph& g, int id) {
  const Value& v = g.values[static_cast<size_t>(id)];
  if (v.tensor.defined()) return ops::InputMeta(v.tensor);
  return ops::InputMeta(v.meta.sizes, v.meta.dtype);
}

int Graph::add_value(Value v) {
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

int Graph::add_node(Node n, const std::vector<ops::TensorMeta>& output_metas) {
  std::vector<ops::TensorMeta> metas = output_metas;
  if (metas.empty()) {
    std::vector<ops::InputMeta> in;
    for (int id : n.inputs) in.push_back(input_meta(*this, id));
    metas = ops::infer_shapes(*n.op, in, n.attrs).outputs;
  }
  const int id = static_cast<int>(nodes.size());
  n.outputs.clear();
  for (size_t i = 0; i < metas.size(); ++i) {
    Value v;
    v.kind = ValueKind::Node;
    v.meta = metas[i];
    v.node = id;
    v.index = static_cast<int>(i);
    n.outputs.push_back(add_value(std::move(v)));
  }
  nodes.push_back(std::move(n));
  return id;
}

void Graph::verify() const {
  const size_t nv = values.size();
  std::vector<bool> defined(nv, false);
  for (size_t i = 0; i < nv; ++i)
    if (values[i].kind != ValueKind::Node) defined[i] = true;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int id = inputs[i];
    TESSERA_INTERNAL_ASSERT(id >= 0 && static_cast<size_t>(id) < nv &&
                                values[static_cast<size_t>(id)].kind == ValueKind::Input,
                            "graph verifier: graph input ", i, " is not an input value");
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    if (n.op == nullptr || n.op->index < 0) broken(*this, k, "an unregistered op");
    if (ops::check_attrs(*n.op, n.attrs).has_value()) broken(*this, k, "attributes not complete");
    std::vector<ops::InputMeta> in;
    for (int id : n.inputs) {
      if (id < 0 || static_cast<size_t>(id) >= nv) broken(*this, k, "an input id out of range");
      if (!defined[static_cast<size_t>(id)])
        broken(*this, k, detail::concat("uses ", value_name(*this, id), " before its definition"));
      in.push_back(input_meta(*this, id));
    }
    if (n.into >= 0 && (static_cast<size_t>(n.into) >= nv || !defined[static_cast<size_t>(n.into)]))
      broken(*this, k, "writes into a value not yet defined");
    if (n.op->num_inputs >= 0 && static_cast<int>(n.inputs.size()) != n.op->num_inputs)
      broken(*this, k, detail::concat(n.inputs.size(), " inputs, the op takes ", n.op->num_inputs));
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      const int id = n.outputs[o];
      if (id < 0 || static_cast<size_t>(id) >= nv) broken(*this, k, "an output id out of range");
      const Value& v = values[static_cast<size_t>(id)];
      if (v.kind != ValueKind::Node || v.node != static_cast<int>(k) || v.index != static_cast<int>(o))
        broken(*this, k, detail::concat("output ", o, " is not defined by this node"));
      if (defined[static_cast<size_t>(id)]) broken(*this, k, "an output defined twice");
      defined[static_cast<size_t>(id)] = true;
    }
    // The shape rule on the inputs' metadata must give the recorded outputs (an in-place
    // form's output is the tensor written, whose dtype the result was cast to).
    const ops::InferResult r = ops::infer_shapes(*n.op, in, n.attrs);
    if (n.into >= 0) {
      if (n.outputs.size() != 1 ||
          !same_meta(values[static_cast<size_t>(n.outputs[0])].meta, values[static_cast<size_t>(n.into)].meta))
        broken(*this, k, "an in-place form's output must be the value it writes");
      continue;
    }
    if (r.outputs.size() != n.outputs.size())
      broken(*this, k, detail::concat(n.outputs.size(), " outputs, the shape rule gives ", r.outputs.size()));
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      const ops::TensorMeta& have = values[static_cast<size_t>(n.outputs[o])].meta;
      const ops::TensorMeta& want = r.outputs[o];
      bool unknown = false;
      for (int64_t d : want.sizes) unknown = unknown || d == ops::kUnknownDim;
      if (unknown ? have.dtype != want.dtype : !same_meta(have, want))
        broken(*this, k, detail::concat("output ", o, " is ", meta_string(have), ", the shape rule gives ",
                                        meta_string(want)));
    }
  }
  for (int id : outputs)
    TESSERA_INTERNAL_ASSERT(id >= 0 && static_cast<size_t>(id) < nv && defined[static_cast<size_t>(id)],
                            "graph verifier: a graph output is not defined");
}

std::string value_name(const Graph& g, int id) {
  const Value& v = g.values[static_cast<size_t>(id)];
  // Appended piece by piece: GCC 12's -Wrestrict misfires on "literal" + std::string.
  std::string s = "%";
  switch (v.kind) {
    case ValueKind::Input: s += "in"; s += std::to_string(v.index); return s;
    case ValueKind::Captured: s += "c"; break;
    case ValueKind::Constant: s += "k"; break;
    case ValueKind::Node: break;
  }
  s += std::to_string(id);
  return s;
}

std::string attr_string(const ops::Attrs& attrs) {
  std::ostringstream os;
  bool first = true;
  for (const ops::Attr& a : attrs.items()) {
    os << (first ? "" : ", ") << a.name << "=";
    first = false;
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) os << shape_str(x);
          else if constexpr (std::is_same_v<T, std::string>) os << '"' << x << '"';
          else if constexpr (std::is_same_v<T, DType>) os << dtype_name(x);
          else if constexpr (std::is_same_v<T, Scalar>) os << (x.is_floating() ? shortest(x.to_double()) : std::to_string(x.to_int()));
          else if constexpr (std::is_same_v<T, bool>) os << (x ? "true" : "false");
          else if constexpr (std::is_same_v<T, double>) os << shortest(x);
          else os << x;
        },
        a.value);
  }
  return os.str();
}

std::string Graph::dump() const {
  std::ostringstream os;
  os << "graph(";
  for (size_t i = 0; i < inputs.size(); ++i)
    os << (i ? ", " : "") << value_name(*this, inputs[i]) << ": "
       << meta_string(values[static_cast<size_t>(inputs[i])].meta);
  os << ") {\n";
  for (size_t i = 0; i < values.size(); ++i) {
    const Value& v = values[i];
    if (v.kind != ValueKind::Captured && v.kind != ValueKind::Constant) continue;
    os << "  " << value_name(*this, static_cast<int>(i)) << " = "
       << (v.kind == ValueKind::Captured ? "captured" : "constant") << " : "
       << (v.wrapped ? "scalar " : "") << meta_string(v.meta) << "\n";
  }
  for (const Node& n : nodes) {
    os << "  ";
    for (size_t o = 0; o < n.outputs.size(); ++o) os << (o ? ", " : "") << value_name(*this, n.outputs[o]);
    os << " = " << n.op->name << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", " : "") << value_name(*this, n.inputs[i]);
    os << ")";
    if (n.into >= 0) os << " into " << value_name(*this, n.into);
    if (!n.attrs.items().empty()) os << " {" << attr_string(n.attrs) << "}";
    os << " :";
    for (size_t o = 0; o < n.outputs.size(); ++o)
      os << (o ? "," : "") << " " << meta_string(values[static_cast<size_t>(n.outputs[o])].meta);
    if (!n.where.empty()) os << "  # " << n.where;
    os << "\n";
  }
  os << "  return ";
  for (size_t i = 0; i < outputs.size(); ++i) os << (i ? ", " : "") << value_name(*this, outputs[i]);
  os << "\n}\n";
  return os.str();
}

std::string Graph::op_histogram() const {
  std::map<std::string, int> count;
  for (const Node& n : nodes) ++count[n.op->name];
  std::ostringstream os;
  bool first = true;
  for (const auto& [name, c] : count) {
    os << (first ? "" : ", ") << name << ": " << c;
    first = false;
  }
  return os.str();
}

bool Graph::has_writes() const {
  for (const Node& n : nodes)
    if (n.writes()) return true;
  return false;
}

}  // namespace tessera::graph
