#include "graph/tracer.h"

#include <unordered_map>

#include "ops/view.h"
#include "tessera/call_site.h"

namespace tessera::graph {
namespace {

// " at model.cc:42" for the user's code being traced, or "".
std::string at_site() {
  const std::string site = describe_call_site(current_call_site());
  return site.empty() ? site : " at " + site;
}

class TraceState final : public detail::TraceObserver, public ops::CompositeObserver {
 public:
  Graph graph;
  std::vector<Guard> guards;
  int depth = 0;  // > 0 while the backend of a recorded call runs (its reads are kernels')
  TraceOptions options;  // composites kept whole, writes refused (export)

  void bind_input(const Tensor& t, int index) {
    Value v;
    v.kind = ValueKind::Input;
    v.meta = {Shape(t.sizes()), t.dtype()};
    v.index = index;
    const int id = graph.add_value(std::move(v));
    graph.inputs.push_back(id);
    bind(t, id, /*computed=*/true);
  }

  void bind(const Tensor& t, int id, bool computed) {
    keep_.push_back(t);  // an impl freed mid-trace could be reused at the same address
    by_impl_[t.impl()] = id;
    if (computed) by_storage_[t.storage().get()] = id;
  }

  int value_of(const Tensor& t) {
    if (auto it = by_impl_.find(t.impl()); it != by_impl_.end()) return it->second;
    if (auto it = by_storage_.find(t.storage().get()); it != by_storage_.end()) {
      // An alias of a computed tensor made outside dispatch: rebuilt from that value.
      Node n;
      n.op = &ops::kAsStrided;
      n.attrs = ops::Attrs{{"sizes", t.sizes().vec()}, {"strides", t.strides().vec()},
                           {"offset", t.storage_offset()}};
      n.inputs = {it->second};
      const int node = graph.add_node(std::move(n), {{Shape(t.sizes()), t.dtype()}});
      const int id = graph.nodes[static_cast<size_t>(node)].outputs[0];
      bind(t, id, true);
      return id;
    }
    Value v;
    v.kind = ValueKind::Captured;
    v.meta = {Shape(t.sizes()), t.dtype()};
    v.wrapped = t.impl()->wrapped_number;
    v.tensor = t;
    const int id = graph.add_value(std::move(v));
    bind(t, id, false);
    return id;
  }

  // The value a tensor's data comes from, if the trace computed it (or it is an input).
  const Value* computed_value(const Tensor& t) const {
    int id = -1;
    if (auto it = by_impl_.find(t.impl()); it != by_impl_.end()) id = it->second;
    else if (auto st = by_storage_.find(t.storage().get()); st != by_storage_.end()) id = st->second;
    if (id < 0) return nullptr;
    const Value& v = graph.values[static_cast<size_t>(id)];
    return v.kind == ValueKind::Node || v.kind == ValueKind::Input ? &v : nullptr;
  }

  void on_value_read(const Tensor& t) override {
    if (depth > 0) return;
    const Value* v = computed_value(t);
    if (v == nullptr) return;  // a captured tensor: its value is a constant of the graph
    const std::string source =
        v->kind == ValueKind::Input
            ? detail::concat("graph input ", v->index)
            : detail::concat("the output of ", graph.nodes[static_cast<size_t>(v->node)].op->name);
    throw_error(ErrorKind::InvalidArgument,
                detail::concat("compile: the value of ", source, " (", t.describe(),
                               ") is read while tracing (item/to_vector)", at_site(),
                               ": control flow on tensor "
                               "values can't be captured in a graph; compute the choice with ops "
                               "(where, masks) or read the value outside the compiled function"));
  }

  // A composite call run as its decomposition (ops::CompositeObserver): remembered in
  // Graph::composites when its ops were recorded, its inputs and outputs are values the
  // trace knows and its outputs were computed by those ops.
  int begin() override { return static_cast<int>(graph.nodes.size()); }
  void end(int first, const ops::OpDef& op, const std::vector<Tensor>& inputs, const ops::Attrs& attrs,
           const std::vector<Tensor>& outputs) override {
    const int stop = static_cast<int>(graph.nodes.size());
    if (depth > 0 || stop <= first || outputs.empty()) return;
    CompositeCall call;
    call.op = &op;
    call.attrs = attrs;
    call.first_node = first;
    call.end_node = stop;
    for (const Tensor& t : inputs) {
      auto it = by_impl_.find(t.impl());
      if (it == by_impl_.end()) return;
      call.inputs.push_back(it->second);
    }
    for (const Tensor& t : outputs) {
      auto it = by_impl_.find(t.impl());
      if (it == by_impl_.end()) return;
      const Value& v = graph.values[static_cast<size_t>(it->second)];
      if (v.kind != ValueKind::Node || v.node < first) return;
      call.outputs.push_back(it->second);
    }
    graph.composites.push_back(std::move(call));
  }

  void on_guard(const void* where, detail::GuardReader read) override {
    for (const Guard& g : guards)
      if (g.where == where) return;
    guards.push_back({where, read, read(where)});
  }

 private:
  std::unordered_map<const TensorImpl*, int> by_impl_;
  std::unordered_map<const Storage*, int> by_storage_;
  std::vector<Tensor> keep_;
};

thread_local TraceState* t_state = nullptr;

class TracerLayer final : public ops::DispatchLayer {
 public:
  bool wants(const ops::OpCall&) const override {
    return t_state != nullptr && t_state->depth == 0 && !detail::in_untraced_scope();
  }

  std::vector<Tensor> handle(ops::OpCall& c, const Below& below) override {
    TraceState& s = *t_state;
    // A composite without a fused kernel runs its decomposition: the ops it calls are
    // recorded instead (each with its own backward, which a training graph needs).
    if (c.op.decompose != nullptr && ops::find_kernel(c.op, Device::CPU) == nullptr &&
        !(s.options.keep_whole && s.options.keep_whole(c.op, c.attrs)))
      return below(c);
    if (!s.options.refuse_writes.empty() && (c.out.defined() || c.op.mutates != 0))
      throw_error(ErrorKind::NotImplemented, detail::concat("the traced function writes a tensor (op '", c.op.name,
                                                            "', refused before it ran: nothing was changed); ",
                                                            s.options.refuse_writes));
    Node n;
    n.op = &c.op;
    n.attrs = c.attrs;
    n.where = describe_call_site(current_call_site());
    for (const Tensor& t : c.inputs) n.inputs.push_back(s.value_of(t));
    if (c.out.defined()) n.into = s.value_of(c.out);
    std::vector<Tensor> outputs;
    {
      ++s.depth;
      struct Restore {
        TraceState& s;
        ~Restore() { --s.depth; }
      } restore{s};
      outputs = below(c);
    }
    std::vector<ops::TensorMeta> metas;
    for (const Tensor& t : outputs) metas.push_back({Shape(t.sizes()), t.dtype()});
    const int node = s.graph.add_node(std::move(n), metas);
    const std::vector<int>& ids = s.graph.nodes[static_cast<size_t>(node)].outputs;
    for (size_t i = 0; i < outputs.size(); ++i) s.bind(outputs[i], ids[i], true);
    return outputs;
  }
};

// Installed on the first trace (and again should something have taken the slot since):
// a program that never compiles never pays for the tracer's wants() check.
void install_tracer() {
  // Leaked on purpose, as the autograd layer: ops may run during static destruction.
  static ops::DispatchLayer* const layer = new TracerLayer();
  if (ops::installed_layer(ops::LayerSlot::Tracer) != layer) ops::install_layer(ops::LayerSlot::Tracer, layer);
}

}  // namespace

bool is_tracing() { return t_state != nullptr; }

Trace trace(const TracedFn& fn, const std::vector<Tensor>& inputs, const TraceOptions& options) {
  ops::ensure_registered();
  install_tracer();
  TESSERA_CHECK(t_state == nullptr, "compile: a trace is already being taken on this thread");
  TraceState s;
  s.options = options;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TESSERA_CHECK(inputs[i].defined(), "compile: input ", i, " is an undefined tensor");
    s.bind_input(inputs[i], static_cast<int>(i));
  }
  struct Activate {
    TraceState* s;
    detail::TraceObserver* previous;
    ops::CompositeObserver* previous_composite;
    explicit Activate(TraceState* st) : s(st), previous(detail::trace_observer()) {
      t_state = s;
      detail::set_trace_observer(s);
      previous_composite = ops::set_composite_observer(s);
    }
    ~Activate() {
      t_state = nullptr;
      detail::set_trace_observer(previous);
      ops::set_composite_observer(previous_composite);
    }
  };
  Trace result;
  {
    Activate active(&s);
    result.outputs = fn(inputs);
    for (const Tensor& t : result.outputs) {
      TESSERA_CHECK(t.defined(), "compile: the traced function returned an undefined tensor");
      s.graph.outputs.push_back(s.value_of(t));
    }
  }
  result.graph = std::move(s.graph);
  result.guards = std::move(s.guards);
  return result;
}

}  // namespace tessera::graph
