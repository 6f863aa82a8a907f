// import_model: parse and check an ONNX file once (structure, types, initializers, the
// order of the nodes), then run it on inputs through the operator table (op_table.cc).
#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "core/files.h"
#include "onnx/import_util.h"
#include "onnx/importer.h"
#include "tessera/error.h"
#include "tessera/onnx.h"
#include "tessera/traced.h"

namespace tessera::onnx {

using tessera::detail::concat;
using detail::NodeContext;

// The lowest and highest opsets of the default domain the importer reads. Opsets 7 to 18
// are the target; older models load when every operator they use has kept its meaning
// since (each table entry names its first opset: Relu since 1, Add since 7, ...).
constexpr int64_t kMinOpset = 1;
constexpr int64_t kMaxOpset = 18;

// One graph's plan: the main graph or a subgraph (a graph attribute of If, Loop, Scan).
struct GraphPlan {
  const onnxpb::GraphProto* g = nullptr;
  std::vector<std::pair<std::string, Tensor>> params;  // its initializers
  std::vector<bool> param_static;  // may be folded when compiled (ImportOptions::trainable)
  std::vector<ValueInfo> inputs;   // main graph: without the inputs initializers feed
  std::vector<std::string> outputs;
  std::vector<int> order;          // node indices in a topological order
  std::vector<const detail::OpEntry*> entries;  // per node (same index as g->node)
  // Values no node reads after node order[k]: released then, so intermediates go back to
  // the allocator as soon as they are dead.
  std::vector<std::vector<std::string>> release_after;
  // Names it (or a subgraph inside it) reads from enclosing graphs.
  std::set<std::string> free_names;
};

struct Model::Impl {
  onnxpb::ModelProto proto;  // kept: the nodes' attributes are read when the model runs
  ImportOptions options;
  detail::TensorLimits limits;
  int64_t opset = 0;
  std::string producer;
  std::vector<ValueInfo> outputs;
  GraphPlan main;
  // The plans of subgraphs, by their GraphProto inside `proto` (stable addresses).
  std::unordered_map<const onnxpb::GraphProto*, std::unique_ptr<GraphPlan>> subgraphs;
};

// How deep subgraphs may nest (a Loop in an If in a Loop...): real models nest a few
// levels; a hostile file must not recurse without bound.
constexpr int kMaxGraphDepth = 16;

namespace {

std::string node_label(const onnxpb::NodeProto& n, int index) {
  return n.name().empty() ? concat(n.op_type(), " node #", index)
                          : concat(n.op_type(), " node '", n.name(), "'");
}

ValueInfo value_info(const onnxpb::ValueInfoProto& v, const char* role) {
  ValueInfo info;
  info.name = v.name();
  TESSERA_CHECK(!v.name().empty(), "onnx: a graph ", role, " has no name");
  const std::string what = concat("graph ", role, " '", v.name(), "'");
  if (!v.has_type()) return info;
  TESSERA_CHECK_IMPLEMENTED(v.type().has_tensor_type(), what,
                            ": only tensor types are supported (not sequences, maps or optionals)");
  const auto& tt = v.type().tensor_type();
  if (tt.has_elem_type()) info.dtype = detail::dtype_from_onnx(tt.elem_type(), what);
  if (tt.has_shape()) {
    info.has_shape = true;
    TESSERA_CHECK(tt.shape().dim_size() <= 64, what, ": ", tt.shape().dim_size(), " dims; at most 64");
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        TESSERA_CHECK(d.dim_value() >= 0, what, ": a dim must be >= 0, got ", d.dim_value());
        info.dims.push_back(d.dim_value());
        info.dim_names.emplace_back();
      } else {
        info.dims.push_back(-1);
        info.dim_names.push_back(d.has_dim_param() ? d.dim_param() : std::string());
      }
    }
  }
  return info;
}

// Checks graph `g` and plans its run: initializers loaded, every output defined once, every
// input resolved (locally, or by name in an enclosing graph: `outer`, innermost last), the
// nodes sorted so each runs after what it reads, subgraphs planned the same way (their
// reads of this graph's values count as the node's inputs, for the order and for cycles),
// and operators known. `depth` 0 is the main graph.
void plan_graph(Model::Impl& m, const onnxpb::GraphProto& g, std::vector<const std::set<std::string>*> outer,
                int depth, GraphPlan& plan) {
  const bool sub = depth > 0;
  const std::string where = sub ? concat(" (in subgraph '", g.name(), "')") : std::string();
  plan.g = &g;
  std::set<std::string> defined;  // inputs and initializers
  for (int i = 0; i < g.initializer_size(); ++i) {
    const auto& init = g.initializer(i);
    const std::string what = concat("initializer '", init.name(), "'", where);
    TESSERA_CHECK(!init.name().empty(), "onnx: initializer #", i, where, " has no name");
    TESSERA_CHECK(defined.insert(init.name()).second, "onnx: ", what, " is defined twice");
    Tensor t = detail::tensor_from_proto(init, m.limits, "onnx: " + what);
    plan.param_static.push_back(!m.options.trainable || !t.is_floating_point());
    plan.params.emplace_back(init.name(), std::move(t));
  }
  std::set<std::string> input_names;
  for (const auto& v : g.input()) {
    TESSERA_CHECK(input_names.insert(v.name()).second, "onnx: graph input '", v.name(), "'", where,
                  " is declared twice");
    // IR < 4 lists initializers among the inputs too (as defaults); they are not inputs.
    // A subgraph's inputs are its formal parameters, each given by the node.
    if (!sub && defined.count(v.name())) continue;
    TESSERA_CHECK(!sub || !defined.count(v.name()), "onnx: subgraph '", g.name(), "': input '", v.name(),
                  "' is also an initializer");
    plan.inputs.push_back(value_info(v, sub ? "subgraph input" : "input"));
    defined.insert(v.name());
  }
  for (const auto& v : g.output()) {
    TESSERA_CHECK(!v.name().empty(), "onnx: a graph output", where, " has no name");
    plan.outputs.push_back(v.name());
  }
  auto outer_defines = [&](const std::string& name) {
    for (const auto* s : outer)
      if (s->count(name)) return true;
    return false;
  };

  // Nodes: every output defined once; the nodes sorted so each runs after what it reads.
  const int n = g.node_size();
  std::unordered_map<std::string, int> producer_of;
  for (int k = 0; k < n; ++k) {
    const auto& node = g.node(k);
    for (const std::string& o : node.output()) {
      if (o.empty()) continue;
      TESSERA_CHECK(!defined.count(o) && producer_of.emplace(o, k).second, "onnx: ", node_label(node, k), where,
                    ": output '", o, "' is already defined (",
                    defined.count(o) ? "a graph input or initializer" : "by another node", ")");
    }
  }
  // What this graph defines, as its subgraphs see it.
  std::set<std::string> visible = defined;
  for (const auto& [name, k] : producer_of) visible.insert(name);
  outer.push_back(&visible);

  // Each node's reads: its inputs, then the names its subgraphs take from outside them.
  std::vector<std::vector<std::string>> reads(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    const auto& node = g.node(k);
    const std::string label = node_label(node, k);
    for (const std::string& in : node.input())
      if (!in.empty()) reads[static_cast<size_t>(k)].push_back(in);
    detail::check_control_node(node, label + where, m.opset);
    for (const auto& a : node.attribute()) {
      if (!a.has_g()) continue;
      TESSERA_CHECK(depth + 1 <= kMaxGraphDepth, "onnx: ", label, where, ": subgraphs nest more than ",
                    kMaxGraphDepth, " levels deep");
      auto child = std::make_unique<GraphPlan>();
      plan_graph(m, a.g(), outer, depth + 1, *child);
      for (const std::string& f : child->free_names) reads[static_cast<size_t>(k)].push_back(f);
      m.subgraphs[&a.g()] = std::move(child);
    }
  }
  std::vector<int> pending(static_cast<size_t>(n), 0);
  std::vector<std::vector<int>> readers(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    const auto& node = g.node(k);
    std::set<int> deps;
    for (const std::string& in : reads[static_cast<size_t>(k)]) {
      if (defined.count(in)) continue;
      auto it = producer_of.find(in);
      if (it == producer_of.end()) {
        TESSERA_CHECK(sub && outer_defines(in), "onnx: ", node_label(node, k), where, ": input '", in,
                      "' is not defined by any node, graph input or initializer",
                      sub ? " of this subgraph or an enclosing graph" : "");
        plan.free_names.insert(in);
        continue;
      }
      // A node that reads its own output (directly or through its subgraph) is a cycle.
      if (deps.insert(it->second).second) {
        ++pending[static_cast<size_t>(k)];
        readers[static_cast<size_t>(it->second)].push_back(k);
      }
    }
  }
  std::vector<int> ready;
  for (int k = n - 1; k >= 0; --k)
    if (pending[static_cast<size_t>(k)] == 0) ready.push_back(k);
  while (!ready.empty()) {  // Kahn's algorithm, taking nodes in file order when free
    const int k = ready.back();
    ready.pop_back();
    plan.order.push_back(k);
    std::vector<int> freed;
    for (int r : readers[static_cast<size_t>(k)])
      if (--pending[static_cast<size_t>(r)] == 0) freed.push_back(r);
    std::sort(freed.rbegin(), freed.rend());
    ready.insert(ready.end(), freed.begin(), freed.end());
    std::sort(ready.rbegin(), ready.rend());
  }
  if (static_cast<int>(plan.order.size()) != n) {
    for (int k = 0; k < n; ++k)
      TESSERA_CHECK(pending[static_cast<size_t>(k)] == 0, "onnx: the graph has a cycle: ",
                    node_label(g.node(k), k), where, " depends on its own output (through ",
                    pending[static_cast<size_t>(k)], " unresolved input(s))");
  }
  for (const std::string& o : plan.outputs) {
    if (defined.count(o) || producer_of.count(o)) continue;
    // A subgraph may give an enclosing graph's value as its output (a branch returning x).
    TESSERA_CHECK(sub && outer_defines(o), "onnx: graph output '", o, "'", where,
                  " is not defined by any node, graph input or initializer");
    plan.free_names.insert(o);
  }
  // Names this graph resolves in the graph just outside it are that graph's business; the
  // ones further out pass on (the enclosing plan sees them as its own free names).

  // Operators: all known now, so an unsupported one is reported before anything runs.
  plan.entries.resize(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    const auto& node = g.node(k);
    const std::string why = unsupported_reason(node.domain().empty() || node.domain() == "ai.onnx"
                                                   ? node.op_type()
                                                   : node.domain() + "." + node.op_type(),
                                               m.opset);
    TESSERA_CHECK_IMPLEMENTED(why.empty(), "onnx: ", node_label(node, k), where, ": ", why);
    plan.entries[static_cast<size_t>(k)] = detail::find_op_entry(node.op_type());
  }

  // Last uses, for releasing intermediates early (reads by subgraphs included).
  std::unordered_map<std::string, size_t> last_use;
  for (size_t pos = 0; pos < plan.order.size(); ++pos)
    for (const std::string& in : reads[static_cast<size_t>(plan.order[pos])]) last_use[in] = pos;
  std::set<std::string> keep(plan.outputs.begin(), plan.outputs.end());
  plan.release_after.resize(plan.order.size());
  for (const auto& [name, pos] : last_use)
    if (!keep.count(name) && producer_of.count(name)) plan.release_after[pos].push_back(name);
}

std::shared_ptr<Model::Impl> build(std::string_view bytes, const std::string& base_dir, const ImportOptions& options) {
  TESSERA_CHECK(options.max_tensor_bytes > 0 && options.max_file_bytes > 0,
                "onnx: ImportOptions limits must be positive");
  TESSERA_CHECK(static_cast<int64_t>(bytes.size()) <= options.max_file_bytes, "onnx: the model has ",
                bytes.size(), " bytes, over ImportOptions::max_file_bytes (", options.max_file_bytes, ")");
  TESSERA_CHECK(bytes.size() < static_cast<size_t>(INT_MAX),
                "onnx: models of 2 GiB or more must keep their weights in external data files");
  auto m = std::make_shared<Model::Impl>();
  m->options = options;
  m->limits.max_bytes = options.max_tensor_bytes;
  m->limits.base_dir = base_dir;
  TESSERA_CHECK(options.max_loop_iterations >= 0, "onnx: ImportOptions::max_loop_iterations must be >= 0, got ",
                options.max_loop_iterations);
  m->limits.max_loop_iterations = options.max_loop_iterations;
  TESSERA_CHECK(!bytes.empty(), "onnx: the model is empty (0 bytes); expected a serialized ModelProto");
  TESSERA_CHECK(m->proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())),
                "onnx: not a valid ONNX model: the ", bytes.size(),
                " bytes do not parse as a ModelProto (truncated, corrupt or another format)");
  const onnxpb::ModelProto& mp = m->proto;
  TESSERA_CHECK(mp.has_graph(), "onnx: the model has no graph (ModelProto.graph is missing; is this an ONNX file?)");
  TESSERA_CHECK(mp.ir_version() >= 3, "onnx: ir_version ", mp.ir_version(),
                " is not supported; expected 3 or later (ONNX 1.0+)");

  // Opsets: the default domain decides the operators' versions.
  bool found = false;
  for (const auto& o : mp.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      found = true;
      m->opset = o.version();
    }
  }
  TESSERA_CHECK(mp.opset_import_size() > 0, "onnx: the model imports no opset (ModelProto.opset_import is empty)");
  TESSERA_CHECK_IMPLEMENTED(found, "onnx: the model imports only other domains (", mp.opset_import(0).domain(),
                            "...); Tessera reads operators of the default domain, ai.onnx");
  TESSERA_CHECK_IMPLEMENTED(m->opset >= kMinOpset && m->opset <= kMaxOpset, "onnx: opset ", m->opset,
                            " of ai.onnx is not supported; expected ", kMinOpset, " to ", kMaxOpset);
  m->producer = mp.producer_name() + (mp.producer_version().empty() ? "" : " " + mp.producer_version());

  m->outputs.clear();
  for (const auto& v : mp.graph().output()) m->outputs.push_back(value_info(v, "output"));
  plan_graph(*m, mp.graph(), {}, 0, m->main);
  return m;
}

bool dims_fit(const ValueInfo& v, const Tensor& t, std::map<std::string, int64_t>& bound, std::string& why) {
  if (!v.has_shape) return true;
  if (static_cast<int64_t>(v.dims.size()) != t.dim()) {
    why = concat(v.dims.size(), " dims");
    return false;
  }
  for (size_t d = 0; d < v.dims.size(); ++d) {
    const int64_t have = t.sizes()[d];
    if (v.dims[d] >= 0 && v.dims[d] != have) {
      why = concat("dim ", d, " of size ", v.dims[d]);
      return false;
    }
    if (v.dims[d] < 0 && !v.dim_names[d].empty()) {
      auto [it, fresh] = bound.emplace(v.dim_names[d], have);
      if (!fresh && it->second != have) {
        why = concat("dim ", d, " ('", v.dim_names[d], "') of size ", it->second, " as bound by an earlier input");
        return false;
      }
    }
  }
  return true;
}

std::string declared(const ValueInfo& v) {
  if (!v.has_shape) return concat("? ", dtype_name(v.dtype));
  std::string s = "[";
  for (size_t d = 0; d < v.dims.size(); ++d) {
    if (d) s += ", ";
    s += v.dims[d] >= 0 ? std::to_string(v.dims[d]) : (v.dim_names[d].empty() ? "?" : v.dim_names[d]);
  }
  return s + "] " + dtype_name(v.dtype);
}

}  // namespace

Model::Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
const std::vector<ValueInfo>& Model::inputs() const { return impl_->main.inputs; }
const std::vector<ValueInfo>& Model::outputs() const { return impl_->outputs; }
int64_t Model::opset() const { return impl_->opset; }
int64_t Model::ir_version() const { return impl_->proto.ir_version(); }
const std::string& Model::producer() const { return impl_->producer; }
size_t Model::num_nodes() const { return static_cast<size_t>(impl_->proto.graph().node_size()); }
const std::vector<std::pair<std::string, Tensor>>& Model::parameters() const { return impl_->main.params; }

std::string Model::op_histogram() const {
  std::map<std::string, int> count;
  for (const auto& n : impl_->proto.graph().node()) ++count[n.op_type()];
  std::string s;
  for (const auto& [op, c] : count) s += concat(s.empty() ? "" : ", ", op, ": ", c);
  return s;
}

namespace {

using detail::Value;

// The values of one running graph, and the scope it sits in: a name not found here is
// looked up in the enclosing graphs' scopes (lexical scoping of subgraphs).
struct Scope {
  std::unordered_map<std::string, Value> values;
  const Scope* parent = nullptr;
  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent) {
      auto it = s->values.find(name);
      if (it != s->values.end()) return &it->second;
    }
    return nullptr;
  }
};

const Value& lookup(const Scope& scope, const std::string& name) {
  const Value* v = scope.find(name);
  // build() resolved every name, so a miss is a bug of the planner, not of the file.
  TESSERA_INTERNAL_ASSERT(v != nullptr, "onnx: value '", name, "' was resolved at import but is not in scope");
  return *v;
}

// Subgraph runs left in this Model::run: ImportOptions::max_loop_iterations bounds them all
// together, so loops nested in loops cannot multiply past it.
void run_graph(const Model::Impl& m, const GraphPlan& plan, Scope& scope, int64_t& runs_left);

// Runs a node's subgraphs in the scope of the graph holding the node.
class ScopedRunner final : public detail::SubgraphRunner {
 public:
  ScopedRunner(const Model::Impl& m, const Scope& scope, int64_t& runs_left)
      : m_(m), scope_(scope), runs_left_(runs_left) {}
  std::vector<Value> run(const onnxpb::GraphProto& g, const std::vector<Value>& inputs) const override {
    auto it = m_.subgraphs.find(&g);
    TESSERA_INTERNAL_ASSERT(it != m_.subgraphs.end(), "onnx: subgraph '", g.name(), "' was not planned at import");
    const GraphPlan& plan = *it->second;
    TESSERA_CHECK(runs_left_ > 0, "onnx: subgraph '", g.name(), "': more than ", m_.limits.max_loop_iterations,
                  " subgraph runs in one run of the model (ImportOptions::max_loop_iterations)");
    --runs_left_;
    TESSERA_INTERNAL_ASSERT(inputs.size() == plan.inputs.size(), "onnx: subgraph '", g.name(), "' takes ",
                            plan.inputs.size(), " inputs, given ", inputs.size());
    Scope local;
    local.parent = &scope_;
    for (size_t i = 0; i < plan.params.size(); ++i)
      local.values[plan.params[i].first] = {plan.params[i].second, plan.param_static[i]};
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& decl = g.input(static_cast<int>(i));
      const bool typed = decl.has_type() && decl.type().tensor_type().has_elem_type();
      TESSERA_CHECK(!typed || inputs[i].t.dtype() == plan.inputs[i].dtype, "onnx: subgraph '", g.name(),
                    "': input ", i, " ('", decl.name(), "') is declared ", dtype_name(plan.inputs[i].dtype),
                    "; the node gives ", dtype_name(inputs[i].t.dtype()));
      local.values[plan.inputs[i].name] = inputs[i];
    }
    run_graph(m_, plan, local, runs_left_);
    std::vector<Value> out;
    for (const std::string& o : plan.outputs) out.push_back(lookup(local, o));
    return out;
  }

 private:
  const Model::Impl& m_;
  const Scope& scope_;
  int64_t& runs_left_;
};

void run_graph(const Model::Impl& m, const GraphPlan& plan, Scope& scope, int64_t& runs_left) {
  const onnxpb::GraphProto& g = *plan.g;
  const std::string where = &g == &m.proto.graph() ? std::string() : concat(" (in subgraph '", g.name(), "')");
  for (size_t pos = 0; pos < plan.order.size(); ++pos) {
    const int k = plan.order[pos];
    const onnxpb::NodeProto& node = g.node(k);
    std::vector<Tensor> ins;
    std::vector<bool> in_static;
    bool all_static = true;
    for (const std::string& name : node.input()) {
      if (name.empty()) {
        ins.emplace_back();
        in_static.push_back(true);
        continue;
      }
      const Value& s = lookup(scope, name);
      ins.push_back(s.t);
      in_static.push_back(s.is_static);
      all_static = all_static && s.is_static;
    }
    const detail::OpEntry* e = plan.entries[static_cast<size_t>(k)];
    // Random ops are never folded; ops over static values only (initializers, Constant,
    // Shape) run untraced, so under tessera::compile their results are constants of the
    // graph and later nodes may read their values.
    // Shape, Size and EyeLike read only their input's metadata, which a traced graph fixes.
    // A node with subgraphs is never folded whole: its subgraphs read values its inputs do
    // not show, and their nodes fold one by one.
    const std::string_view op = e->onnx_op;
    const bool has_subgraphs = std::any_of(node.attribute().begin(), node.attribute().end(),
                                           [](const onnxpb::AttributeProto& a) { return a.has_g(); });
    const bool fold = !has_subgraphs && ((all_static && op.find("Random") == std::string_view::npos &&
                                          op != "Bernoulli") ||
                                         op == "Shape" || op == "Size" || op == "EyeLike");
    std::vector<Tensor> outs;
    NodeContext ctx(node, m.opset, std::move(ins), m.limits);
    ctx.node_index = k;
    ctx.input_static = std::move(in_static);
    ScopedRunner runner(m, scope, runs_left);
    ctx.subgraphs = &runner;
    try {
      if (fold) {
        UntracedScope untraced;
        outs = e->import_fn(ctx);
      } else {
        outs = e->import_fn(ctx);
      }
    } catch (const Error& err) {
      const std::string msg = err.what();
      if (msg.rfind("onnx: ", 0) == 0) throw;
      throw_error(err.kind(), concat("onnx: ", node_label(node, k), where, ": ", msg));
    }
    // An import function may compute more outputs than the node names (LSTM's Y_c); the
    // extra ones are dropped.
    for (int o = 0; o < node.output_size(); ++o) {
      if (node.output(o).empty()) continue;
      const size_t u = static_cast<size_t>(o);
      TESSERA_CHECK_IMPLEMENTED(u < outs.size() && outs[u].defined(), "onnx: ", node_label(node, k), ": output ", o,
                                " ('", node.output(o), "') is not supported");
      const bool is_static = fold || (u < ctx.output_static.size() && ctx.output_static[u]);
      scope.values[node.output(o)] = {outs[u], is_static};
    }
    for (const std::string& dead : plan.release_after[pos]) scope.values.erase(dead);
  }
}

}  // namespace

std::vector<Tensor> Model::run(const std::vector<Tensor>& inputs) const {
  const Impl& m = *impl_;
  const GraphPlan& plan = m.main;
  TESSERA_CHECK(inputs.size() == plan.inputs.size(), "onnx model: takes ", plan.inputs.size(), " input(s), got ",
                inputs.size());
  Scope scope;
  for (size_t i = 0; i < plan.params.size(); ++i)
    scope.values[plan.params[i].first] = {plan.params[i].second, plan.param_static[i]};
  std::map<std::string, int64_t> bound;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ValueInfo& v = plan.inputs[i];
    const Tensor& t = inputs[i];
    TESSERA_CHECK(t.defined(), "onnx model: input ", i, " ('", v.name, "') is an undefined tensor");
    std::string why;
    TESSERA_CHECK(t.dtype() == v.dtype && dims_fit(v, t, bound, why), "onnx model: input ", i, " ('", v.name,
                  "') is declared ", declared(v), "; got ", shape_str(t.sizes()), " ", dtype_name(t.dtype()),
                  why.empty() ? "" : " (expected " + why + ")");
    scope.values[v.name] = {t, false};
  }
  int64_t runs_left = m.limits.max_loop_iterations;
  run_graph(m, plan, scope, runs_left);
  std::vector<Tensor> result;
  for (const std::string& o : plan.outputs) result.push_back(lookup(scope, o).t);
  return result;
}

CompiledFunction Model::compile(CompileOptions options) const {
  std::shared_ptr<Impl> impl = impl_;
  return tessera::compile([impl](const std::vector<Tensor>& in) { return Model(impl).run(in); }, options);
}

Model import_model_from_bytes(std::string_view bytes, const std::string& base_dir, const ImportOptions& options) {
  return Model(build(bytes, base_dir, options));
}

Model import_model(const std::string& path, const ImportOptions& options) {
  tessera::detail::check_readable_file("onnx::import_model", path);
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  TESSERA_CHECK_IO(!ec, "onnx::import_model: '", path, "': cannot read its size: ", ec.message());
  TESSERA_CHECK(static_cast<int64_t>(size) <= options.max_file_bytes, "onnx::import_model: '", path, "' has ",
                size, " bytes, over ImportOptions::max_file_bytes (", options.max_file_bytes, ")");
  std::ifstream in(path, std::ios::binary);
  TESSERA_CHECK_IO(in.good(), "onnx::import_model: cannot open '", path, "'");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  TESSERA_CHECK_IO(static_cast<size_t>(in.gcount()) == size, "onnx::import_model: short read of '", path, "'");
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  try {
    return import_model_from_bytes(bytes, dir, options);
  } catch (const Error& e) {
    throw_error(e.kind(), concat(e.what(), " (in '", path, "')"));
  }
}

// ---- NodeContext ----
namespace detail {

std::string NodeContext::describe() const { return node_label(node_, node_index); }
void NodeContext::fail(const std::string& msg) const {
  throw_error(ErrorKind::InvalidArgument, concat("onnx: ", describe(), ": ", msg));
}
void NodeContext::unsupported(const std::string& msg) const {
  throw_error(ErrorKind::NotImplemented, concat("onnx: ", describe(), ": ", msg));
}

const Tensor& NodeContext::in(size_t i) const {
  if (!has(i)) fail(concat("input ", i, " is required but ", i < inputs_.size() ? "empty" : "missing",
                           " (the node has ", inputs_.size(), " input(s))"));
  return inputs_[i];
}

std::vector<int64_t> NodeContext::ints(size_t i) const {
  const Tensor& t = in(i);
  check(t.dtype() == DType::Int64 || t.dtype() == DType::Int32,
        concat("input ", i, " must be int64 (or int32), got ", dtype_name(t.dtype())));
  check(t.dim() <= 1, concat("input ", i, " must be a 1-D list of integers, got shape ", shape_str(t.sizes())));
  return t.to_vector<int64_t>();
}

double NodeContext::scalar(size_t i) const {
  const Tensor& t = in(i);
  check(t.numel() == 1, concat("input ", i, " must hold one value, got shape ", shape_str(t.sizes())));
  return t.to_vector<double>()[0];
}

int64_t NodeContext::int_scalar(size_t i) const {
  const Tensor& t = in(i);
  check(t.numel() == 1, concat("input ", i, " must hold one value, got shape ", shape_str(t.sizes())));
  if (!is_floating(t.dtype())) return t.to_vector<int64_t>()[0];
  const double v = t.to_vector<double>()[0];
  check(std::isfinite(v) && std::fabs(v) < 4.6e18, concat("input ", i, " must be an integer, got ", v));
  return static_cast<int64_t>(v);
}

int64_t NodeContext::axis(int64_t a, int64_t rank) const {
  check(a >= -rank && a < std::max<int64_t>(rank, 1),
        concat("axis ", a, " is out of range for rank ", rank, " (expected ", -rank, " to ", rank - 1, ")"));
  return a < 0 ? a + rank : a;
}

void NodeContext::check_size(const std::vector<int64_t>& shape, DType dtype) const {
  int64_t n = 1, span = 1;  // span: the product of the non-zero dims (an empty tensor's strides)
  const int64_t cap = limits_.max_bytes / static_cast<int64_t>(itemsize(dtype));
  for (int64_t d : shape) {
    check(d >= 0, concat("shape ", shape_str(shape), " has a negative dim"));
    check(d == 0 || (n <= cap / d && span <= INT64_MAX / d),
          concat("the output ", shape_str(shape), " ", dtype_name(dtype), " would exceed ", limits_.max_bytes,
                 " bytes (ImportOptions::max_tensor_bytes)"));
    n *= d;
    span *= std::max<int64_t>(d, 1);
  }
  check(n <= cap, concat("the output ", shape_str(shape), " ", dtype_name(dtype), " would exceed ", limits_.max_bytes,
                         " bytes (ImportOptions::max_tensor_bytes)"));
}

const onnxpb::AttributeProto* NodeContext::attr(const char* name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) {
      if (!a.ref_attr_name().empty()) unsupported(concat("attribute '", name, "' refers to a function attribute"));
      return &a;
    }
  return nullptr;
}

namespace {
const char* attr_type_name(int t) {
  switch (t) {
    case onnxpb::AttributeProto::FLOAT: return "float";
    case onnxpb::AttributeProto::INT: return "int";
    case onnxpb::AttributeProto::STRING: return "string";
    case onnxpb::AttributeProto::TENSOR: return "tensor";
    case onnxpb::AttributeProto::GRAPH: return "graph";
    case onnxpb::AttributeProto::FLOATS: return "floats";
    case onnxpb::AttributeProto::INTS: return "ints";
    case onnxpb::AttributeProto::STRINGS: return "strings";
    default: return "another type";
  }
}
// Old files may leave `type` unset; then the field that is present decides.
bool attr_is(const onnxpb::AttributeProto& a, onnxpb::AttributeProto::AttributeType want) {
  if (a.has_type()) return a.type() == want;
  switch (want) {
    case onnxpb::AttributeProto::INT: return a.has_i();
    case onnxpb::AttributeProto::FLOAT: return a.has_f();
    case onnxpb::AttributeProto::STRING: return a.has_s();
    case onnxpb::AttributeProto::TENSOR: return a.has_t();
    case onnxpb::AttributeProto::INTS: return a.ints_size() > 0;
    case onnxpb::AttributeProto::FLOATS: return a.floats_size() > 0;
    default: return false;
  }
}
}  // namespace

#define TESSERA_ONNX_ATTR(a, want, name, expected)                                                   \
  check(attr_is(*a, onnxpb::AttributeProto::want),                                                  \
        concat("attribute '", name, "' must be ", expected, ", got ", attr_type_name(a->type())))

int64_t NodeContext::i(const char* name, std::optional<int64_t> def) const {
  const auto* a = attr(name);
  if (a == nullptr) {
    if (!def) fail(concat("the required attribute '", name, "' (an int) is missing"));
    return *def;
  }
  TESSERA_ONNX_ATTR(a, INT, name, "an int");
  return a->i();
}
double NodeContext::f(const char* name, std::optional<double> def) const {
  const auto* a = attr(name);
  if (a == nullptr) {
    if (!def) fail(concat("the required attribute '", name, "' (a float) is missing"));
    return *def;
  }
  TESSERA_ONNX_ATTR(a, FLOAT, name, "a float");
  return a->f();
}
std::string NodeContext::s(const char* name, std::optional<std::string> def) const {
  const auto* a = attr(name);
  if (a == nullptr) {
    if (!def) fail(concat("the required attribute '", name, "' (a string) is missing"));
    return *def;
  }
  TESSERA_ONNX_ATTR(a, STRING, name, "a string");
  return a->s();
}
std::optional<std::vector<int64_t>> NodeContext::ints_attr_opt(const char* name) const {
  const auto* a = attr(name);
  if (a == nullptr) return std::nullopt;
  if (a->has_type() || a->ints_size() > 0) TESSERA_ONNX_ATTR(a, INTS, name, "a list of ints");
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}
std::vector<int64_t> NodeContext::ints_attr(const char* name) const {
  auto v = ints_attr_opt(name);
  if (!v) fail(concat("the required attribute '", name, "' (a list of ints) is missing"));
  return *v;
}
std::vector<float> NodeContext::floats_attr(const char* name) const {
  const auto* a = attr(name);
  if (a == nullptr) return {};
  if (a->has_type() || a->floats_size() > 0) TESSERA_ONNX_ATTR(a, FLOATS, name, "a list of floats");
  return std::vector<float>(a->floats().begin(), a->floats().end());
}
const onnxpb::GraphProto& NodeContext::graph_attr(const char* name) const {
  const auto* a = attr(name);
  if (a == nullptr) fail(concat("the required attribute '", name, "' (a graph) is missing"));
  check(a->has_g() && (!a->has_type() || a->type() == onnxpb::AttributeProto::GRAPH),
        concat("attribute '", name, "' must be a graph, got ", attr_type_name(a->type())));
  check(subgraphs != nullptr, concat("attribute '", name, "': no subgraph runner (internal)"));
  return a->g();
}
Tensor NodeContext::tensor_attr(const char* name) const {
  const auto* a = attr(name);
  if (a == nullptr) fail(concat("the required attribute '", name, "' (a tensor) is missing"));
  TESSERA_ONNX_ATTR(a, TENSOR, name, "a tensor");
  return tensor_from_proto(a->t(), limits_, concat("onnx: ", describe(), ": attribute '", name, "'"));
}

}  // namespace detail
}  // namespace tessera::onnx
