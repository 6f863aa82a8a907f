#include "graph/serialize.h"

#include <charconv>
#include <cmath>
#include <sstream>

#include "io/json.h"
#include "tessera/serialize.h"

namespace tessera::graph {
namespace {

constexpr const char* kMetadataKey = "tessera.graph";

std::string number(double x) {
  if (std::isnan(x)) return "\"nan\"";
  if (std::isinf(x)) return x > 0 ? "\"inf\"" : "\"-inf\"";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

template <typename Ints>
std::string ints(const Ints& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

const char* kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::Input: return "input";
    case ValueKind::Captured: return "captured";
    case ValueKind::Constant: return "constant";
    case ValueKind::Node: return "node";
  }
  return "?";
}

std::string attr_json(const ops::Attr& a) {
  std::ostringstream os;
  os << "{\"name\": " << json::quote(a.name) << ", \"type\": \""
     << ops::attr_type_name(ops::attr_type_of(a.value)) << "\", \"value\": ";
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::vector<int64_t>>) os << ints(x);
        else if constexpr (std::is_same_v<T, std::string>) os << json::quote(x);
        else if constexpr (std::is_same_v<T, DType>) os << '"' << dtype_name(x) << '"';
        else if constexpr (std::is_same_v<T, bool>) os << (x ? "true" : "false");
        else if constexpr (std::is_same_v<T, double>) os << number(x);
        else if constexpr (std::is_same_v<T, Scalar>) {
          if (x.is_floating()) os << number(x.to_double()) << ", \"scalar\": \"float\"";
          else if (x.is_bool()) os << (x.template to<bool>() ? "true" : "false") << ", \"scalar\": \"bool\"";
          else os << x.to_int() << ", \"scalar\": \"int\"";
        } else {
          os << x;
        }
      },
      a.value);
  os << "}";
  return os.str();
}

// ---- reading: every access checked, errors name the file and the place ----

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw_error(ErrorKind::InvalidArgument,
                detail::concat("load_compiled: '", path_, "': not a valid compiled graph: ", what));
  }

  const json::Value& member(const json::Value& obj, const char* key, json::Value::Kind kind,
                            const std::string& where) const {
    if (!obj.is_object()) fail(where + " is not an object");
    const json::Value* v = obj.find(key);
    if (v == nullptr) fail(detail::concat(where, " has no \"", key, "\""));
    if (v->kind != kind)
      fail(detail::concat(where, ".", key, " is a ", json::kind_name(v->kind), ", expected a ",
                          json::kind_name(kind)));
    return *v;
  }

  int64_t integer(const json::Value& v, const std::string& where) const {
    int64_t out = 0;
    if (!v.is_number()) fail(where + " is not a number");
    const auto r = std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
    if (r.ec != std::errc() || r.ptr != v.text.data() + v.text.size()) fail(where + " is not an integer: " + v.text);
    return out;
  }

  double real(const json::Value& v, const std::string& where) const {
    if (v.is_string()) {
      if (v.text == "nan") return std::nan("");
      if (v.text == "inf") return INFINITY;
      if (v.text == "-inf") return -INFINITY;
      fail(where + " is not a number: \"" + v.text + "\"");
    }
    if (!v.is_number()) fail(where + " is not a number");
    double out = 0;
    const auto r = std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
    if (r.ec != std::errc() || r.ptr != v.text.data() + v.text.size()) fail(where + " is not a number: " + v.text);
    return out;
  }

  std::vector<int64_t> int_list(const json::Value& v, const std::string& where) const {
    if (!v.is_array()) fail(where + " is not an array");
    std::vector<int64_t> out;
    for (size_t i = 0; i < v.items.size(); ++i) out.push_back(integer(v.items[i], detail::concat(where, "[", i, "]")));
    return out;
  }

  DType dtype(const json::Value& v, const std::string& where) const {
    if (!v.is_string()) fail(where + " is not a dtype name");
    for (int i = 0; i < kNumDTypes; ++i)
      if (v.text == dtype_name(static_cast<DType>(i))) return static_cast<DType>(i);
    fail(detail::concat(where, ": unknown dtype \"", v.text, "\""));
  }

  ops::TensorMeta meta(const json::Value& v, const std::string& where) const {
    ops::TensorMeta m;
    const std::vector<int64_t> shape = int_list(member(v, "shape", json::Value::Kind::Array, where), where + ".shape");
    for (int64_t d : shape)
      if (d < 0) fail(detail::concat(where, ".shape has a negative size ", d));
    m.sizes = Shape(shape);
    m.dtype = dtype(member(v, "dtype", json::Value::Kind::String, where), where + ".dtype");
    return m;
  }

  ops::Attr attr(const ops::OpDef& op, const json::Value& v, const std::string& where) const {
    const std::string& name = member(v, "name", json::Value::Kind::String, where).text;
    const ops::AttrSpec* spec = nullptr;
    for (const ops::AttrSpec& s : op.attrs)
      if (s.name == name) spec = &s;
    if (spec == nullptr) fail(detail::concat(where, ": ", op.name, " has no attribute '", name, "'"));
    const std::string& type = member(v, "type", json::Value::Kind::String, where).text;
    if (type != ops::attr_type_name(spec->type))
      fail(detail::concat(where, ": attribute '", name, "' of ", op.name, " is ",
                          ops::attr_type_name(spec->type), ", the file says ", type));
    const json::Value* value = v.find("value");
    if (value == nullptr) fail(where + " has no \"value\"");
    const std::string at = where + ".value";
    switch (spec->type) {
      case ops::AttrType::Int: return {spec->name, integer(*value, at)};
      case ops::AttrType::Float: return {spec->name, real(*value, at)};
      case ops::AttrType::Bool:
        if (value->kind != json::Value::Kind::Bool) fail(at + " is not a bool");
        return {spec->name, value->boolean};
      case ops::AttrType::Scalar: {
        const std::string& kind = member(v, "scalar", json::Value::Kind::String, where).text;
        if (kind == "float") return {spec->name, Scalar(real(*value, at))};
        if (kind == "int") return {spec->name, Scalar(integer(*value, at))};
        if (kind == "bool" && value->kind == json::Value::Kind::Bool) return {spec->name, Scalar(value->boolean)};
        fail(at + ": a scalar must be float, int or bool");
      }
      case ops::AttrType::DType: return {spec->name, dtype(*value, at)};
      case ops::AttrType::Ints: return {spec->name, int_list(*value, at)};
      case ops::AttrType::String:
        if (!value->is_string()) fail(at + " is not a string");
        return {spec->name, value->text};
    }
    fail(at + ": unknown attribute type");
  }

 private:
  std::string path_;
};

}  // namespace

std::string graph_to_json(const Graph& g) {
  std::ostringstream os;
  os << "{\"format\": \"tessera.graph\", \"version\": 1,\n \"values\": [";
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    os << (i ? ",\n  " : "\n  ") << "{\"kind\": \"" << kind_name(v.kind) << "\"";
    if (v.kind == ValueKind::Input) os << ", \"index\": " << v.index;
    if (v.wrapped) os << ", \"wrapped\": true";
    os << ", \"shape\": " << ints(v.meta.sizes) << ", \"dtype\": \"" << dtype_name(v.meta.dtype) << "\"}";
  }
  os << "],\n \"nodes\": [";
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    os << (k ? ",\n  " : "\n  ") << "{\"op\": " << json::quote(n.op->name) << ", \"inputs\": " << ints(n.inputs)
       << ", \"outputs\": " << ints(n.outputs) << ", \"into\": " << n.into << ", \"attrs\": [";
    for (size_t a = 0; a < n.attrs.items().size(); ++a) os << (a ? ", " : "") << attr_json(n.attrs.items()[a]);
    os << "]";
    if (!n.where.empty()) os << ", \"where\": " << json::quote(n.where);
    os << "}";
  }
  os << "],\n \"inputs\": " << ints(g.inputs) << ",\n \"outputs\": " << ints(g.outputs) << "}\n";
  return os.str();
}

void save_graph(const Graph& g, const std::string& path) {
  g.verify();
  // A collective names a process group of this process by a handle: in a file it would
  // name nothing, or another group.
  for (const Node& n : g.nodes)
    if (n.is_collective())
      throw_error(ErrorKind::NotImplemented,
                  detail::concat("CompiledFunction::save: '", path, "': the graph has a collective (", n.op->name,
                                 "), a node tied to this process's process group; save an inference graph "
                                 "(the model's forward, compiled on its own)"));
  NamedTensors tensors;
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    if (v.kind == ValueKind::Captured || v.kind == ValueKind::Constant)
      tensors.emplace_back(detail::concat("c", i), v.tensor);
  }
  save_safetensors(path, tensors, {{kMetadataKey, graph_to_json(g)}});
}

Graph load_graph(const std::string& path) {
  SafetensorsContents file = load_safetensors(path);
  Reader r(path);
  auto meta_it = file.metadata.find(kMetadataKey);
  if (meta_it == file.metadata.end()) r.fail("no \"tessera.graph\" entry in the metadata (a plain weights file?)");
  const json::Value doc = json::parse(meta_it->second, "load_compiled: '" + path + "': tessera.graph");
  if (r.member(doc, "format", json::Value::Kind::String, "the graph").text != "tessera.graph")
    r.fail("format is not \"tessera.graph\"");
  const int64_t version = r.integer(r.member(doc, "version", json::Value::Kind::Number, "the graph"), "version");
  if (version != 1)
    throw_error(ErrorKind::NotImplemented,
                detail::concat("load_compiled: '", path, "': graph format version ", version,
                               " (this build reads version 1)"));
  std::map<std::string, Tensor> tensors;
  for (auto& [name, t] : file.tensors) tensors[name] = t;

  Graph g;
  const json::Value& values = r.member(doc, "values", json::Value::Kind::Array, "the graph");
  const json::Value& nodes = r.member(doc, "nodes", json::Value::Kind::Array, "the graph");
  const int64_t nv = static_cast<int64_t>(values.items.size());
  auto check_id = [&](int64_t id, const std::string& where) {
    if (id < 0 || id >= nv) r.fail(detail::concat(where, ": value id ", id, " out of range [0, ", nv, ")"));
    return static_cast<int>(id);
  };
  for (int64_t i = 0; i < nv; ++i) {
    const std::string where = detail::concat("values[", i, "]");
    const json::Value& jv = values.items[static_cast<size_t>(i)];
    Value v;
    v.meta = r.meta(jv, where);
    const std::string& kind = r.member(jv, "kind", json::Value::Kind::String, where).text;
    if (kind == "input") {
      v.kind = ValueKind::Input;
      v.index = static_cast<int>(r.integer(r.member(jv, "index", json::Value::Kind::Number, where), where + ".index"));
    } else if (kind == "captured" || kind == "constant") {
      v.kind = kind == "captured" ? ValueKind::Captured : ValueKind::Constant;
      auto it = tensors.find(detail::concat("c", i));
      if (it == tensors.end()) r.fail(detail::concat(where, ": its tensor \"c", i, "\" is not in the file"));
      if (!it->second.sizes().equals(v.meta.sizes) || it->second.dtype() != v.meta.dtype)
        r.fail(detail::concat(where, ": its tensor is ", it->second.describe(), ", the graph says ",
                              shape_str(v.meta.sizes), " ", dtype_name(v.meta.dtype)));
      v.tensor = it->second;
      if (const json::Value* w = jv.find("wrapped"); w != nullptr && w->kind == json::Value::Kind::Bool && w->boolean) {
        v.wrapped = true;
        v.tensor.impl()->wrapped_number = true;
      }
    } else if (kind == "node") {
      v.kind = ValueKind::Node;
    } else {
      r.fail(detail::concat(where, ": unknown kind \"", kind, "\""));
    }
    g.values.push_back(std::move(v));
  }
  for (size_t k = 0; k < nodes.items.size(); ++k) {
    const std::string where = detail::concat("nodes[", k, "]");
    const json::Value& jn = nodes.items[k];
    Node n;
    const std::string& op_name = r.member(jn, "op", json::Value::Kind::String, where).text;
    n.op = ops::find_op(op_name);
    if (n.op == nullptr)
      throw_error(ErrorKind::NotImplemented,
                  detail::concat("load_compiled: '", path, "': ", where, ": unknown op '", op_name, "'"));
    if (n.op->flags & ops::kCollective)  // save_graph never writes one (see there)
      r.fail(detail::concat(where, ": the collective '", op_name, "' cannot come from a file"));
    for (int64_t id : r.int_list(r.member(jn, "inputs", json::Value::Kind::Array, where), where + ".inputs"))
      n.inputs.push_back(check_id(id, where + ".inputs"));
    for (int64_t id : r.int_list(r.member(jn, "outputs", json::Value::Kind::Array, where), where + ".outputs")) {
      const int o = check_id(id, where + ".outputs");
      Value& v = g.values[static_cast<size_t>(o)];
      if (v.kind != ValueKind::Node || v.node >= 0) r.fail(detail::concat(where, ": output ", o, " is not a free node value"));
      v.node = static_cast<int>(k);
      v.index = static_cast<int>(n.outputs.size());
      n.outputs.push_back(o);
    }
    const int64_t into = r.integer(r.member(jn, "into", json::Value::Kind::Number, where), where + ".into");
    n.into = into < 0 ? -1 : check_id(into, where + ".into");
    const json::Value& attrs = r.member(jn, "attrs", json::Value::Kind::Array, where);
    for (size_t a = 0; a < attrs.items.size(); ++a)
      n.attrs.add(r.attr(*n.op, attrs.items[a], detail::concat(where, ".attrs[", a, "]")));
    if (const json::Value* w = jn.find("where"); w != nullptr && w->is_string()) n.where = w->text;
    g.nodes.push_back(std::move(n));
  }
  for (int64_t id : r.int_list(r.member(doc, "inputs", json::Value::Kind::Array, "the graph"), "inputs"))
    g.inputs.push_back(check_id(id, "inputs"));
  for (int64_t id : r.int_list(r.member(doc, "outputs", json::Value::Kind::Array, "the graph"), "outputs"))
    g.outputs.push_back(check_id(id, "outputs"));
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Value& v = g.values[static_cast<size_t>(g.inputs[i])];
    if (v.kind != ValueKind::Input || v.index != static_cast<int>(i))
      r.fail(detail::concat("inputs[", i, "] is not graph input ", i));
  }
  // Everything else (definitions before uses, shapes the ops' rules agree with, complete
  // attributes) is the verifier's: its complaint is the file's fault here, not a bug.
  try {
    g.verify();
  } catch (const Error& e) {
    r.fail(e.what());
  }
  return g;
}

}  // namespace tessera::graph
