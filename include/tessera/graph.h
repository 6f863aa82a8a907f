#pragma once
// Graph mode: the same model code, captured into a graph, optimized and run compiled.
//
//   auto fast = tessera::compile(model);             // a Module: its forward
//   Tensor y = fast(x);                              // first call traces, later ones reuse
//   auto step = tessera::compile([&](const std::vector<Tensor>& in) {   // any function
//     optimizer.zero_grad();
//     Tensor loss = nn::functional::cross_entropy(model(in[0]), in[1]);
//     loss.backward();
//     optimizer.step();
//     return std::vector<Tensor>{loss};
//   });
//
// The first call with given input shapes and dtypes runs the function eagerly while
// recording every op it calls (include/tessera/traced.h says what else it notices),
// optimizes the recorded graph and keeps it; later calls with the same signature run the
// graph. A new shape or dtype, or a guarded C++ value that changed (a module's train/eval
// mode, a traced_flag), traces again. See docs/graph.md.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tessera/call_site.h"
#include "tessera/tensor.h"

namespace tessera {

namespace nn {
class Module;
}
namespace graph {
struct CompiledAccess;  // src/graph/compiled_access.h: the traced graph, for ONNX export
}

struct CompileOptions {
  bool optimize = true;  // run the passes; false runs the graph as traced
  // Treat the tensors the function captured (weights) as constants of the graph, so they
  // fold: for inference, when the weights won't change while the compiled function lives.
  // The trace runs without gradients (as NoGradGuard), so the first call's outputs carry
  // no history either. Ignored for graphs that write tensors (a train step).
  bool freeze = false;
  // Print each new graph (before and after the passes) to stderr; TESSERA_DUMP_GRAPH=1
  // in the environment does the same for every compiled function.
  bool dump = false;
  size_t max_cached_graphs = 8;  // per compiled function; the least recently used goes
  // Inputs whose batch (dim 0, the same in every input) differs from a cached graph's, and
  // nothing else, re-derive that graph for the new batch instead of tracing again: no eager
  // run, no passes (tf.function's None batch dimension, torch.compile(dynamic=True)).
  // Promise that the function depends on the batch only through its tensors' shapes: a
  // value computed from x.size(0) in C++ (a loss divided by the batch by hand; use mean)
  // is baked into the graph. Where the graph spells the batch into something other than a
  // shape, or a shape rule refuses, it traces as without the option (docs/graph.md).
  bool dynamic_batch = false;
};

struct CompileStats {
  int traces = 0;     // graphs captured (first calls and retraces)
  int graph_runs = 0; // calls answered by a cached graph
  int evictions = 0;  // graphs dropped for the size limit
  int batch_respecializations = 0;  // graphs re-derived for a new batch (dynamic_batch)
};

class CompiledFunction;
TESSERA_API CompiledFunction load_compiled(const std::string& path, CompileOptions options = {});

class TESSERA_API CompiledFunction {
 public:
  using Fn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
  CompiledFunction(Fn fn, CompileOptions options = {});

  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs,
                                 CallSite at = CallSite::current());
  Tensor operator()(const Tensor& input, CallSite at = CallSite::current()) {
    return (*this)(std::vector<Tensor>{input}, at).at(0);
  }

  CompileStats stats() const;
  size_t cached_graphs() const;
  // The optimized graph the last call used (or traced), as Graph::dump prints it.
  std::string last_graph() const;
  // Writes the graph the last call used, with the tensors it captured (weights), to one
  // safetensors file; load_compiled runs it without the code that made it (docs/graph.md).
  // Meant for inference graphs (compile a module in eval mode, call it once, save). The
  // graph is the optimized one (for this machine's backend); onnx::save_compiled
  // (tessera/onnx.h) writes the same call's graph as traced, as a portable ONNX model.
  void save(const std::string& path) const;
  // The function it traces (empty for a graph loaded by load_compiled): what ONNX export
  // traces afresh, before the passes.
  const Fn& function() const;

  struct Impl;

 private:
  friend TESSERA_API CompiledFunction load_compiled(const std::string& path, CompileOptions options);
  friend struct graph::CompiledAccess;
  std::shared_ptr<Impl> impl_;
};

TESSERA_API CompiledFunction compile(CompiledFunction::Fn fn, CompileOptions options = {});
// A graph saved by CompiledFunction::save. It takes inputs of the shapes and dtypes it was
// traced with (another is an InvalidArgumentError naming both) or, with
// options.dynamic_batch, of any batch where the graph allows it (options.max_cached_graphs
// bounds the batches kept; the other options are the saved graph's). A missing file is an
// IOError, a corrupt one an InvalidArgumentError naming what is wrong.
// A module's forward (forward_multi: any number of inputs and outputs). The module is held
// by reference: it must outlive the compiled function.
TESSERA_API CompiledFunction compile(nn::Module& module, CompileOptions options = {});

}  // namespace tessera
