#pragma once
// What the layers above graph mode (ONNX export: onnx::save_compiled) may read of a
// compiled function without a public type for graphs: the graph of its last call, as
// traced (before the passes). Internal: not installed, not part of the API.
#include <memory>
#include <string>

#include "graph/ir.h"
#include "tessera/graph.h"

namespace tessera::graph {

struct CompiledAccess {
  struct LastGraph {
    // The graph of the last call: as traced for a compiled function (re-derived for the
    // batch of the last call under dynamic_batch); for one loaded by load_compiled, the
    // graph the file holds (after whatever passes it was saved with). Null when the
    // function was never called. It shares the captured tensors (weights) with the
    // function, so it shows their current values.
    std::shared_ptr<const Graph> graph;
    bool loaded = false;  // from load_compiled
    std::string source;   // loaded: its file
  };
  // An InvalidArgumentError when the last call ran a graph re-derived for another batch
  // whose traced form cannot be re-derived (with the reason).
  static LastGraph last_graph(const CompiledFunction& f);
};

}  // namespace tessera::graph
