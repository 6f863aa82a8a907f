// ReLU's gradient as autograd writes it, where(gt(y, t), g, 0) with t and 0 scalars the
// traced code wrote (wrapped numbers), becomes one threshold_backward(g, y) {threshold: t}
// node: one pass over g and y instead of a pass writing a bool mask and another reading
// it (on CNN28's training step the pair was 8% of the step at 2 threads). Any graph,
// training steps included; the comparison node stays if something else reads its mask.
#include <optional>

#include "graph/passes/passes.h"
#include "ops/elementwise.h"

namespace tessera::graph {

int fuse_threshold_backward(Graph& g) {
  std::vector<int> readers(g.values.size(), 0);
  std::vector<int> producer(g.values.size(), -1);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    for (int id : g.nodes[k].inputs) ++readers[static_cast<size_t>(id)];
    for (int id : g.nodes[k].outputs) producer[static_cast<size_t>(id)] = static_cast<int>(k);
  }
  for (int id : g.outputs) ++readers[static_cast<size_t>(id)];
  std::vector<bool> drop(g.nodes.size(), false);
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    Node& w = g.nodes[k];
    if (w.op != &ops::kWhere || w.into >= 0) continue;
    const int cond = w.inputs[0], grad = w.inputs[1];
    const std::optional<double> zero = literal_value(g, w.inputs[2]);
    if (!zero || *zero != 0.0) continue;
    const int p = producer[static_cast<size_t>(cond)];
    if (p < 0 || g.nodes[static_cast<size_t>(p)].op != &ops::kGt || g.nodes[static_cast<size_t>(p)].into >= 0) continue;
    const Node& gt = g.nodes[static_cast<size_t>(p)];
    const int y = gt.inputs[0];
    const std::optional<double> t = literal_value(g, gt.inputs[1]);
    if (!t) continue;
    const ops::TensorMeta& ym = g.values[static_cast<size_t>(y)].meta;
    const ops::TensorMeta& gm = g.values[static_cast<size_t>(grad)].meta;
    const ops::TensorMeta& om = g.values[static_cast<size_t>(w.outputs[0])].meta;
    // No broadcasting, no type promotion: exactly the shape of ReLU's gradient.
    if (!is_floating(ym.dtype) || ym.dtype != gm.dtype || gm.dtype != om.dtype || !IntArrayRef(ym.sizes).equals(gm.sizes) ||
        !IntArrayRef(gm.sizes).equals(om.sizes))
      continue;
    Node f;
    f.op = &ops::kThresholdBackward;
    f.attrs = {{"threshold", *t}};
    f.inputs = {grad, y};
    f.outputs = w.outputs;
    f.where = w.where;
    w = std::move(f);
    if (--readers[static_cast<size_t>(cond)] == 0) drop[static_cast<size_t>(p)] = true;
    ++fused;
  }
  if (fused) remove_nodes(g, drop);
  return fused;
}

}  // namespace tessera::graph
