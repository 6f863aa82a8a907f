#include "graph/executor.h"

#include "ops/random.h"

namespace tessera::graph {

Executor::Executor(Graph graph) : graph_(std::move(graph)) {
  const size_t nv = graph_.values.size();
  std::vector<int> last_use(nv, -1);
  for (size_t k = 0; k < graph_.nodes.size(); ++k) {
    const Node& n = graph_.nodes[k];
    for (int id : n.inputs) last_use[static_cast<size_t>(id)] = static_cast<int>(k);
    if (n.into >= 0) last_use[static_cast<size_t>(n.into)] = static_cast<int>(k);
    for (int id : n.outputs)  // an output nothing reads is released at once
      if (last_use[static_cast<size_t>(id)] < 0) last_use[static_cast<size_t>(id)] = static_cast<int>(k);
  }
  for (int id : graph_.outputs) last_use[static_cast<size_t>(id)] = -1;  // kept to the end
  release_after_.resize(graph_.nodes.size());
  for (size_t id = 0; id < nv; ++id)
    if (graph_.values[id].kind == ValueKind::Node && last_use[id] >= 0)
      release_after_[static_cast<size_t>(last_use[id])].push_back(static_cast<int>(id));
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs) const {
  const Graph& g = graph_;
  TESSERA_CHECK(inputs.size() == g.inputs.size(), "compiled graph: expected ", g.inputs.size(),
                " inputs, got ", inputs.size());
  std::vector<Tensor> env(g.values.size());
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].tensor.defined()) env[i] = g.values[i].tensor;
  for (size_t i = 0; i < inputs.size(); ++i) env[static_cast<size_t>(g.inputs[i])] = inputs[i];

  std::vector<Tensor> args;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    args.clear();
    for (int id : n.inputs) args.push_back(env[static_cast<size_t>(id)]);
    const Tensor into = n.into >= 0 ? env[static_cast<size_t>(n.into)] : Tensor();
    std::vector<Tensor> outs;
    if (n.is_random()) {
      std::vector<ops::InputMeta> metas(args.begin(), args.end());
      const ops::Attrs fresh = ops::with_fresh_counters(*n.op, metas, n.attrs, current_generator());
      outs = ops::call_backend(*n.op, args, fresh, into);
    } else {
      outs = ops::call_backend(*n.op, args, n.attrs, into);
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) env[static_cast<size_t>(n.outputs[o])] = std::move(outs[o]);
    for (int id : release_after_[k]) env[static_cast<size_t>(id)] = Tensor();
  }
  std::vector<Tensor> result;
  result.reserve(g.outputs.size());
  for (int id : g.outputs) result.push_back(env[static_cast<size_t>(id)]);
  return result;
}

}  // namespace tessera::graph
