#include <cstdio>
#include <cstdlib>
#include <list>
#include <mutex>
#include <optional>

#include "graph/compiled_access.h"
#include "graph/executor.h"
#include "graph/passes/passes.h"
#include "graph/serialize.h"
#include "graph/tracer.h"
#include "tessera/autocast.h"
#include "tessera/grad_mode.h"
#include "tessera/graph.h"

namespace tessera {
namespace {

struct Signature {
  std::vector<Shape> sizes;
  std::vector<DType> dtypes;
  // Autocast (tessera/autocast.h) changes the ops a trace records: a graph traced with it
  // on is a different graph.
  bool autocast = autocast_bf16_active();
  explicit Signature(const std::vector<Tensor>& inputs) {
    for (const Tensor& t : inputs) {
      TESSERA_CHECK(t.defined(), "compiled function: an input is an undefined tensor");
      sizes.emplace_back(t.sizes());
      dtypes.push_back(t.dtype());
    }
  }
  bool operator==(const Signature& o) const {
    if (autocast != o.autocast || dtypes != o.dtypes || sizes.size() != o.sizes.size()) return false;
    for (size_t i = 0; i < sizes.size(); ++i)
      if (!IntArrayRef(sizes[i]).equals(o.sizes[i])) return false;
    return true;
  }
};

struct Entry {
  Signature signature;
  std::vector<graph::Guard> guards;
  std::shared_ptr<const graph::Executor> executor;
  // The graph as the tracer recorded it, before the passes (what ONNX export writes:
  // plain ops, never the backend's blocked layouts or fused kernels). It shares the
  // captured tensors with `executor`'s graph, so it costs the node list alone; without
  // optimization it is the executor's graph itself. A graph re-derived for another batch
  // (dynamic_batch) keeps its base's, re-derived when asked for (CompiledAccess).
  std::shared_ptr<const graph::Graph> traced;
  bool guards_hold() const {
    for (const graph::Guard& g : guards)
      if (!g.holds()) return false;
    return true;
  }
  bool matches(const Signature& s) const { return signature == s && guards_hold(); }
  // The batch `s` has where it differs from this entry's signature in dim 0 alone (the
  // same in every input), else -1.
  int64_t other_batch(const Signature& s) const {
    if (signature.autocast != s.autocast || signature.dtypes != s.dtypes || s.sizes.empty() ||
        signature.sizes.size() != s.sizes.size())
      return -1;
    int64_t batch = -1;
    for (size_t i = 0; i < s.sizes.size(); ++i) {
      const Shape &a = signature.sizes[i], &b = s.sizes[i];
      if (a.size() != b.size() || a.empty() || a[0] != signature.sizes[0][0]) return -1;
      for (size_t d = 1; d < a.size(); ++d)
        if (a[d] != b[d]) return -1;
      if (i == 0) batch = b[0];
      if (b[0] != batch) return -1;
    }
    return batch == signature.sizes[0][0] ? -1 : batch;
  }
};

bool dump_from_env() {
  static const bool on = [] {
    const char* v = std::getenv("TESSERA_DUMP_GRAPH");
    return v != nullptr && *v != '\0' && std::string(v) != "0";
  }();
  return on;
}

}  // namespace

struct CompiledFunction::Impl {
  Fn fn;  // empty for a loaded graph, which never retraces
  std::string source;  // a loaded graph's file
  CompileOptions options;
  mutable std::mutex mu;
  std::list<Entry> cache;  // most recently used first
  CompileStats stats;
  std::string last_graph;
  std::shared_ptr<const graph::Executor> last;
  std::shared_ptr<const graph::Graph> last_traced;  // the traced form of `last`'s graph
};

namespace {

std::string signature_string(const std::vector<Shape>& sizes, const std::vector<DType>& dtypes) {
  std::string s;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += ", ";
    s += shape_str(sizes[i]);
    s += " ";
    s += dtype_name(dtypes[i]);
  }
  return s.empty() ? "none" : s;
}

}  // namespace

CompiledFunction::CompiledFunction(Fn fn, CompileOptions options) : impl_(std::make_shared<Impl>()) {
  TESSERA_CHECK(fn != nullptr, "compile: the function is empty");
  TESSERA_CHECK(options.max_cached_graphs >= 1, "compile: max_cached_graphs must be >= 1, got ",
                options.max_cached_graphs);
  impl_->fn = std::move(fn);
  impl_->options = options;
}

namespace {

// Caches a new graph as the most recently used (the caller holds m.mu), dropping the least
// recently used beyond the limit.
void remember(CompiledFunction::Impl& m, Entry e, std::string text) {
  m.last_graph = std::move(text);
  m.last = e.executor;
  m.last_traced = e.traced;
  m.cache.push_front(std::move(e));
  while (m.cache.size() > m.options.max_cached_graphs) {
    m.cache.pop_back();
    ++m.stats.evictions;
  }
}

// dynamic_batch: a cached graph that differs from `sig` in the batch alone, re-derived for
// it and cached under `sig` with the same guards; null when there is none or the graph
// does not allow it.
std::shared_ptr<const graph::Executor> respecialize(CompiledFunction::Impl& m, const Signature& sig) {
  std::shared_ptr<const graph::Executor> base;
  std::shared_ptr<const graph::Graph> base_traced;
  std::vector<graph::Guard> guards;
  int64_t batch = -1;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    for (const Entry& e : m.cache) {
      batch = e.other_batch(sig);
      if (batch >= 0 && e.guards_hold()) {
        base = e.executor;
        base_traced = e.traced;
        guards = e.guards;
        break;
      }
    }
  }
  if (!base) return nullptr;
  std::string why_not;
  std::optional<graph::Graph> g = graph::with_batch_size(base->graph(), batch, &why_not);
  const bool dump = m.options.dump || dump_from_env();
  if (!g) {
    if (dump)
      std::fprintf(stderr, "tessera: graph not re-derived for batch %lld (%s): tracing\n",
                   static_cast<long long>(batch), why_not.c_str());
    return nullptr;
  }
  std::string text = g->dump();
  if (dump)
    std::fprintf(stderr, "tessera: graph re-derived for batch %lld\n%s", static_cast<long long>(batch), text.c_str());
  auto exec = std::make_shared<const graph::Executor>(std::move(*g));
  std::lock_guard<std::mutex> lock(m.mu);
  ++m.stats.batch_respecializations;
  ++m.stats.graph_runs;
  remember(m, Entry{sig, std::move(guards), exec, std::move(base_traced)}, std::move(text));
  return exec;
}

}  // namespace

std::vector<Tensor> CompiledFunction::operator()(const std::vector<Tensor>& inputs, CallSite at) {
  detail::UserCallScope scope(at);
  Impl& m = *impl_;
  // Called while another function is traced: run eagerly, so the outer trace records
  // (inlines) this function's ops.
  if (graph::is_tracing()) return m.fn(inputs);
  Signature sig(inputs);
  if (!m.fn) sig.autocast = false;  // a loaded graph runs as saved, autocast or not
  std::shared_ptr<const graph::Executor> executor;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    for (auto it = m.cache.begin(); it != m.cache.end(); ++it) {
      if (!it->matches(sig)) continue;
      m.cache.splice(m.cache.begin(), m.cache, it);
      executor = it->executor;
      m.last = executor;
      m.last_traced = it->traced;
      ++m.stats.graph_runs;
      break;
    }
  }
  if (executor) return executor->run(inputs);
  if (m.options.dynamic_batch) {
    if (std::shared_ptr<const graph::Executor> e = respecialize(m, sig)) return e->run(inputs);
  }
  if (!m.fn) {
    const Entry& only = m.cache.front();
    throw_error(ErrorKind::InvalidArgument,
                detail::concat("compiled graph '", m.source, "': takes inputs ",
                               signature_string(only.signature.sizes, only.signature.dtypes), "; got ",
                               signature_string(sig.sizes, sig.dtypes)));
  }

  // A miss: trace (which runs the function eagerly: its results are this call's), then
  // optimize the graph for the calls to come.
  // A frozen graph is for inference: traced without gradients, as every later call runs
  // (a graph's outputs carry no history), so composites record their fused form.
  graph::Trace t = [&] {
    std::optional<NoGradGuard> no_grad;
    if (m.options.freeze) no_grad.emplace();
    return graph::trace(m.fn, inputs);
  }();
  const bool dump = m.options.dump || dump_from_env();
  if (dump) std::fprintf(stderr, "tessera: traced graph\n%s", t.graph.dump().c_str());
  std::shared_ptr<const graph::Graph> traced;
  if (m.options.optimize) {
    traced = std::make_shared<const graph::Graph>(t.graph);  // the passes rewrite t.graph in place
    t.graph.composites.clear();  // node indices the passes would invalidate
    const std::vector<std::string> log = graph::optimize(t.graph, {m.options.freeze});
    if (dump) {
      for (const std::string& line : log) std::fprintf(stderr, "tessera: pass %s\n", line.c_str());
      std::fprintf(stderr, "tessera: optimized graph\n%s", t.graph.dump().c_str());
    }
  } else {
    t.graph.verify();
  }
  std::string text = t.graph.dump();
  auto exec = std::make_shared<const graph::Executor>(std::move(t.graph));
  // Unoptimized, the executor runs the graph as traced: share it (aliasing the executor).
  if (!traced) traced = std::shared_ptr<const graph::Graph>(exec, &exec->graph());
  {
    std::lock_guard<std::mutex> lock(m.mu);
    ++m.stats.traces;
    remember(m, Entry{sig, std::move(t.guards), std::move(exec), std::move(traced)}, std::move(text));
  }
  return std::move(t.outputs);
}

CompileStats CompiledFunction::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

size_t CompiledFunction::cached_graphs() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->cache.size();
}

std::string CompiledFunction::last_graph() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  // The graph of the last call, cache hits included (last_graph is the text of the last
  // graph made, which a hit on an older one does not replace).
  if (impl_->last) return impl_->last->graph().dump();
  return impl_->last_graph;
}

void CompiledFunction::save(const std::string& path) const {
  std::shared_ptr<const graph::Executor> last;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    last = impl_->last;
  }
  TESSERA_CHECK(last != nullptr, "CompiledFunction::save: nothing to save yet: call the function once "
                "(with the inputs to serve) so it traces a graph");
  graph::save_graph(last->graph(), path);
}

const CompiledFunction::Fn& CompiledFunction::function() const { return impl_->fn; }

CompiledFunction compile(CompiledFunction::Fn fn, CompileOptions options) {
  return CompiledFunction(std::move(fn), options);
}

CompiledFunction load_compiled(const std::string& path, CompileOptions options) {
  graph::Graph g = graph::load_graph(path);
  Entry e{Signature(std::vector<Tensor>{}), {}, nullptr, nullptr};
  e.signature.autocast = false;  // its ops hold the precision they were traced with
  for (int id : g.inputs) {
    const graph::Value& v = g.values[static_cast<size_t>(id)];
    e.signature.sizes.push_back(v.meta.sizes);
    e.signature.dtypes.push_back(v.meta.dtype);
  }
  std::string text = g.dump();
  e.executor = std::make_shared<const graph::Executor>(std::move(g));
  // A placeholder function keeps the constructor's checks; the cache always answers (or,
  // with dynamic_batch, re-derives a cached graph).
  CompileOptions kept;
  kept.dynamic_batch = options.dynamic_batch;
  kept.max_cached_graphs = options.max_cached_graphs;
  CompiledFunction f([](const std::vector<Tensor>&) { return std::vector<Tensor>{}; }, kept);
  CompiledFunction::Impl& m = *f.impl_;
  m.fn = nullptr;
  m.source = path;
  m.last_graph = std::move(text);
  m.last = e.executor;
  m.cache.push_front(std::move(e));
  return f;
}

namespace graph {

CompiledAccess::LastGraph CompiledAccess::last_graph(const CompiledFunction& f) {
  const CompiledFunction::Impl& m = *f.impl_;
  LastGraph r;
  std::shared_ptr<const Executor> last;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    last = m.last;
    r.graph = m.last_traced;
  }
  r.source = m.source;
  r.loaded = !m.fn;
  if (last == nullptr) return r;
  if (r.loaded) {
    // The file holds the graph as saved (after the passes it was saved with).
    r.graph = std::shared_ptr<const Graph>(last, &last->graph());
    return r;
  }
  TESSERA_INTERNAL_ASSERT(r.graph != nullptr, "compiled function: a cached graph without its traced form");
  // Re-derived for another batch (dynamic_batch): the traced graph follows to that batch.
  const Graph& run = last->graph();
  if (run.inputs.empty()) return r;
  const Value& a = run.values[static_cast<size_t>(run.inputs.at(0))];
  const Value& b = r.graph->values[static_cast<size_t>(r.graph->inputs.at(0))];
  if (!IntArrayRef(a.meta.sizes).equals(b.meta.sizes)) {
    const int64_t batch = a.meta.sizes[0];
    std::string why_not;
    std::optional<Graph> g = with_batch_size(*r.graph, batch, &why_not);
    TESSERA_CHECK(g.has_value(), "compiled function: the last call ran a graph re-derived for batch ", batch,
                  " (dynamic_batch), whose traced form cannot be (", why_not,
                  "); call it once with the batch it was traced with (", b.meta.sizes[0], ")");
    g->composites.clear();  // their attributes may spell the old batch
    r.graph = std::make_shared<const Graph>(std::move(*g));
  }
  return r;
}

}  // namespace graph

}  // namespace tessera
