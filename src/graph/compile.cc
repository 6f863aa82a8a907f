#include <cstdio>
#include <cstdlib>
#include <list>
#include <mutex>

#include "graph/executor.h"
#include "graph/passes/passes.h"
#include "graph/tracer.h"
#include "tessera/graph.h"

namespace tessera {
namespace {

struct Signature {
  std::vector<Shape> sizes;
  std::vector<DType> dtypes;
  explicit Signature(const std::vector<Tensor>& inputs) {
    for (const Tensor& t : inputs) {
      TESSERA_CHECK(t.defined(), "compiled function: an input is an undefined tensor");
      sizes.emplace_back(t.sizes());
      dtypes.push_back(t.dtype());
    }
  }
  bool operator==(const Signature& o) const {
    if (dtypes != o.dtypes || sizes.size() != o.sizes.size()) return false;
    for (size_t i = 0; i < sizes.size(); ++i)
      if (!IntArrayRef(sizes[i]).equals(o.sizes[i])) return false;
    return true;
  }
};

struct Entry {
  Signature signature;
  std::vector<graph::Guard> guards;
  std::shared_ptr<const graph::Executor> executor;
  bool matches(const Signature& s) const {
    if (!(signature == s)) return false;
    for (const graph::Guard& g : guards)
      if (!g.holds()) return false;
    return true;
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
  Fn fn;
  CompileOptions options;
  mutable std::mutex mu;
  std::list<Entry> cache;  // most recently used first
  CompileStats stats;
  std::string last_graph;
};

CompiledFunction::CompiledFunction(Fn fn, CompileOptions options) : impl_(std::make_shared<Impl>()) {
  TESSERA_CHECK(fn != nullptr, "compile: the function is empty");
  TESSERA_CHECK(options.max_cached_graphs >= 1, "compile: max_cached_graphs must be >= 1, got ",
                options.max_cached_graphs);
  impl_->fn = std::move(fn);
  impl_->options = options;
}

std::vector<Tensor> CompiledFunction::operator()(const std::vector<Tensor>& inputs) {
  Impl& m = *impl_;
  // Called while another function is traced: run eagerly, so the outer trace records
  // (inlines) this function's ops.
  if (graph::is_tracing()) return m.fn(inputs);
  const Signature sig(inputs);
  std::shared_ptr<const graph::Executor> executor;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    for (auto it = m.cache.begin(); it != m.cache.end(); ++it) {
      if (!it->matches(sig)) continue;
      m.cache.splice(m.cache.begin(), m.cache, it);
      executor = it->executor;
      ++m.stats.graph_runs;
      break;
    }
  }
  if (executor) return executor->run(inputs);

  // A miss: trace (which runs the function eagerly: its results are this call's), then
  // optimize the graph for the calls to come.
  graph::Trace t = graph::trace(m.fn, inputs);
  const bool dump = m.options.dump || dump_from_env();
  if (dump) std::fprintf(stderr, "tessera: traced graph\n%s", t.graph.dump().c_str());
  if (m.options.optimize) {
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
  {
    std::lock_guard<std::mutex> lock(m.mu);
    ++m.stats.traces;
    m.last_graph = std::move(text);
    m.cache.push_front(Entry{sig, std::move(t.guards), std::move(exec)});
    while (m.cache.size() > m.options.max_cached_graphs) {
      m.cache.pop_back();
      ++m.stats.evictions;
    }
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
  return impl_->last_graph;
}

CompiledFunction compile(CompiledFunction::Fn fn, CompileOptions options) {
  return CompiledFunction(std::move(fn), options);
}

}  // namespace tessera
