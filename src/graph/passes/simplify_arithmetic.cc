// x * 1, 1 * x, x / 1 and x - 0 by a literal the traced code wrote (a wrapped number,
// fixed at trace time) are x, bit for bit (x + 0 is not: -0 + 0 is +0): the node goes and its readers read x. Autograd
// writes such nodes into every training step (addmm's backward scales by alpha = 1: one
// pass over each linear layer's input gradient). Only where nothing can tell the
// difference: the same shape and dtype as x, and the result no graph output (that would
// alias an input or another output), never written, and never viewed by a view that is
// written or returned (a write through the result would reach x).
#include <optional>

#include "graph/passes/passes.h"
#include "ops/elementwise.h"

namespace tessera::graph {
namespace {

// The operand the node passes through unchanged, or -1.
int identity_operand(const Graph& g, const Node& n) {
  if (n.writes() || n.inputs.size() != 2 || n.outputs.size() != 1) return -1;
  const std::optional<double> a = literal_value(g, n.inputs[0]), b = literal_value(g, n.inputs[1]);
  const ops::OpDef* op = n.op;
  if (op == &ops::kMul) {
    if (b && *b == 1.0) return n.inputs[0];
    if (a && *a == 1.0) return n.inputs[1];
  } else if ((op == &ops::kDiv && b && *b == 1.0) || (op == &ops::kSub && b && *b == 0.0)) {
    return n.inputs[0];
  }
  return -1;
}

}  // namespace

int simplify_arithmetic(Graph& g) {
  // Per value: returned, written, read by a node that writes, or aliased by a view that is
  // itself pinned. A view nothing writes or returns only reads: autograd's backward views
  // its gradients (a linear layer's input gradient viewed back to the conv's shape), and
  // those x * 1 go too. Views come after what they view, so one backward sweep settles it.
  std::vector<bool> pinned(g.values.size(), false);
  for (int id : g.outputs) pinned[static_cast<size_t>(id)] = true;
  for (size_t k = g.nodes.size(); k-- > 0;) {
    const Node& n = g.nodes[k];
    if (n.into >= 0) pinned[static_cast<size_t>(n.into)] = true;
    bool pins = n.writes();
    if (!pins && n.aliases_input())
      for (int id : n.outputs) pins = pins || pinned[static_cast<size_t>(id)];
    if (pins)
      for (int id : n.inputs) pinned[static_cast<size_t>(id)] = true;
  }
  std::vector<bool> drop(g.nodes.size(), false);
  int removed = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    const int x = identity_operand(g, n);
    if (x < 0) continue;
    const int out = n.outputs[0];
    const ops::TensorMeta& xm = g.values[static_cast<size_t>(x)].meta;
    const ops::TensorMeta& om = g.values[static_cast<size_t>(out)].meta;
    if (pinned[static_cast<size_t>(out)] || xm.dtype != om.dtype || !IntArrayRef(xm.sizes).equals(om.sizes)) continue;
    replace_uses(g, out, x);
    drop[k] = true;
    ++removed;
  }
  if (removed) remove_nodes(g, drop);
  return removed;
}

}  // namespace tessera::graph
