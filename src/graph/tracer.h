#pragma once
// The tracer: a dispatch layer (slot Tracer, below autograd) that, on a thread taking a
// trace, records every op call into a Graph while the call itself runs as usual. Tracing is
// running: the traced function computes real values, so its shapes and any C++ logic come
// out as they would eagerly, and what it returns is checked against what was recorded.
//
// What the trace sees of a tensor it did not compute:
//   - a graph input (the function's arguments): an Input value;
//   - a view or alias of a computed tensor made outside dispatch (detach(), the autograd
//     engine's gradient handles): an as_strided node over the computed value, so the alias
//     follows the value on every run;
//   - anything else (parameters, optimizer state, constants the code built): a Captured
//     value, the tensor held by reference (its later writes show in later runs).
#include <functional>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "tessera/traced.h"

namespace tessera::graph {

// A C++ value the traced code read through traced_flag/traced_value, and what it was.
struct Guard {
  const void* where;
  detail::GuardReader read;
  int64_t seen;
  bool holds() const { return read(where) == seen; }
};

struct Trace {
  Graph graph;
  std::vector<Guard> guards;
  std::vector<Tensor> outputs;  // what the traced call returned (its eager results)
};

using TracedFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Composites (ops with a decomposition and no kernel: linear, batch_norm...) are recorded
// as the ops of their decomposition, each with its backward. A KeepWhole predicate that
// answers true for a call records it as one node instead (its decomposition still runs,
// unrecorded): ONNX export keeps the composites ONNX has an operator for. Such a graph is
// for export only (the executor runs kernels, which those ops lack).
using KeepWhole = std::function<bool(const ops::OpDef&, const ops::Attrs&)>;

struct TraceOptions {
  KeepWhole keep_whole;
  // Non-empty: an op that writes a tensor (in place, an optimizer's update, a running
  // statistic) throws NotImplementedError naming it, followed by this text, before it runs:
  // a trace for export must not change the model.
  std::string refuse_writes;
};

// Calls fn(inputs) once, eagerly, recording it. Errors of the function pass through; a
// read of a computed tensor's value (item, to_vector) is an InvalidArgumentError naming
// the op that computed it.
Trace trace(const TracedFn& fn, const std::vector<Tensor>& inputs, const TraceOptions& options = {});

// Whether the calling thread is taking a trace (a compiled function called inside another
// one's trace runs eagerly, and so is inlined into the outer graph).
bool is_tracing();

}  // namespace tessera::graph
