#pragma once
// A compiled graph in a file: one safetensors file (include/tessera/serialize.h) whose
// tensors are the graph's captured weights and constants ("c<value id>") and whose
// metadata entry "tessera.graph" holds the graph as JSON (docs/graph.md shows the schema):
//
//   {"format": "tessera.graph", "version": 1,
//    "values": [{"kind": "input", "index": 0, "shape": [1, 1, 28, 28], "dtype": "f32"},
//               {"kind": "captured", "shape": [32, 1, 3, 3], "dtype": "f32"}, ...,
//               {"kind": "node", "shape": [1, 32, 26, 26], "dtype": "f32"}, ...],
//    "nodes": [{"op": "conv2d", "inputs": [0, 1, 2], "outputs": [3], "into": -1,
//               "attrs": [{"name": "stride", "type": "ints", "value": [1, 1]}, ...]}, ...],
//    "outputs": [9]}
//
// Any reader of safetensors gets the weights; the loader trusts nothing: every id, op,
// attribute and shape is checked (the graph verifier runs last), and a bad file is an
// InvalidArgumentError naming it and what is wrong.
#include <string>

#include "graph/ir.h"

namespace tessera::graph {

void save_graph(const Graph& g, const std::string& path);
Graph load_graph(const std::string& path);

// The JSON text alone (tests, docs).
std::string graph_to_json(const Graph& g);

}  // namespace tessera::graph
