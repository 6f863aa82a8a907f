// Chains of float32 elementwise ops become one fused_elementwise node
// (ops/fused_elementwise.h): a node joins the group of a producer whose output it alone
// reads, so every value inside a group is read only inside it and never leaves memory the
// group does not own. Operands are tensors of the output's shape or one-element tensors;
// broadcasting of larger shapes, other dtypes, views and writes end a chain. Nothing is
// fused across a node that writes (an operand read early could be overwritten before the
// fused node runs). Any graph: a training step's backward and dropout chains are such
// chains, and its optimizer updates are writes that stay where they are.
#include <algorithm>
#include <optional>

#include "graph/passes/passes.h"
#include "ops/fused_elementwise.h"

namespace tessera::graph {
namespace {

// The step text a node would be, or nullopt.
std::optional<ops::FusedStep> step_of(const Node& n) {
  ops::FusedStep s;
  s.op = n.op->name;
  if (s.op == "gelu") {
    const std::string& approx = n.attrs.get<std::string>("approximate");
    if (approx == "tanh") s.op = "gelu_tanh";
    else if (approx != "none") return std::nullopt;
  } else if (s.op == "threshold_backward") {
    s.params.push_back(n.attrs.f("threshold"));
  } else if (s.op == "leaky_relu") {
    s.params.push_back(n.attrs.f("negative_slope"));
  } else if (!n.attrs.items().empty()) {
    return std::nullopt;
  }
  if (!ops::is_fusable_step(s.op, n.inputs.size(), s.params.size())) return std::nullopt;
  return s;
}

bool is_scalar_operand(const ops::TensorMeta& m, const ops::TensorMeta& out) {
  return numel_of(m.sizes) == 1 && m.sizes.size() <= out.sizes.size() && m.dtype != DType::Bool &&
         !is_reduced_float(m.dtype);
}

bool fusable(const Graph& g, const Node& n) {
  if (n.writes() || n.outputs.size() != 1 || !step_of(n)) return false;
  const ops::TensorMeta& out = g.values[static_cast<size_t>(n.outputs[0])].meta;
  if (out.dtype != DType::Float32 || numel_of(out.sizes) <= 1) return false;
  for (int id : n.inputs) {
    const ops::TensorMeta& m = g.values[static_cast<size_t>(id)].meta;
    if (is_scalar_operand(m, out)) continue;
    if (m.dtype != DType::Float32 || !IntArrayRef(m.sizes).equals(out.sizes)) return false;
  }
  return true;
}

}  // namespace

int fuse_elementwise(Graph& g) {
  const size_t count = g.nodes.size();
  const ValueReaders readers(g);
  std::vector<int> producer(g.values.size(), -1);
  for (size_t k = 0; k < count; ++k)
    for (int id : g.nodes[k].outputs) producer[static_cast<size_t>(id)] = static_cast<int>(k);
  // Per node k (one more slot for the end).
  struct Slot {
    int writes_before = 0;     // nodes that write among the first k
    int group = -1;            // the group's id: its last member (root)
    std::vector<int> members;  // of the group k is the root of, in graph order
  };
  std::vector<Slot> slots(count + 1);
  for (size_t k = 0; k < count; ++k)
    slots[k + 1].writes_before = slots[k].writes_before + (g.nodes[k].writes() ? 1 : 0);
  auto group_of = [&](int k) -> int& { return slots[static_cast<size_t>(k)].group; };
  auto members = [&](size_t k) -> std::vector<int>& { return slots[k].members; };
  for (size_t k = 0; k < count; ++k) {
    const Node& n = g.nodes[k];
    if (!fusable(g, n)) continue;
    std::vector<int> mine{static_cast<int>(k)};
    for (int id : n.inputs) {
      const int p = producer[static_cast<size_t>(id)];
      if (p < 0 || group_of(p) != p) continue;  // not the root of a group
      if (readers.sole_reader(id) != static_cast<int>(k)) continue;
      std::vector<int>& theirs = members(static_cast<size_t>(p));
      if (slots[k].writes_before != slots[static_cast<size_t>(theirs.front())].writes_before) continue;
      for (int m : theirs) mine.push_back(m);  // (insert() trips GCC 12's alloc-size warning)
      theirs.clear();
    }
    std::sort(mine.begin(), mine.end());
    for (int m : mine) group_of(m) = static_cast<int>(k);
    members(k) = std::move(mine);
  }

  std::vector<bool> drop(count, false);
  int fused = 0;
  for (size_t root = 0; root < count; ++root) {
    const std::vector<int>& group = members(root);
    if (group.size() < 2) continue;
    const ops::TensorMeta& out = g.values[static_cast<size_t>(g.nodes[root].outputs[0])].meta;
    // Operands from outside: full-shaped tensors first (the kernel's dtype is the first
    // input's), then one-element ones, each once.
    std::vector<int> outside;
    for (bool want_full : {true, false})
      for (int m : group)
        for (int id : g.nodes[static_cast<size_t>(m)].inputs) {
          const int p = producer[static_cast<size_t>(id)];
          if (p >= 0 && group_of(p) == static_cast<int>(root)) continue;
          const bool full = !is_scalar_operand(g.values[static_cast<size_t>(id)].meta, out);
          if (full == want_full && std::find(outside.begin(), outside.end(), id) == outside.end())
            outside.push_back(id);
        }
    std::vector<ops::FusedStep> steps;
    for (int m : group) {
      const Node& n = g.nodes[static_cast<size_t>(m)];
      ops::FusedStep s = *step_of(n);
      for (int id : n.inputs) {
        const int p = producer[static_cast<size_t>(id)];
        if (p >= 0 && group_of(p) == static_cast<int>(root)) {
          const auto at = std::find(group.begin(), group.end(), p) - group.begin();
          s.operands.push_back(-1 - static_cast<int>(at));
        } else {
          s.operands.push_back(static_cast<int>(std::find(outside.begin(), outside.end(), id) - outside.begin()));
        }
      }
      steps.push_back(std::move(s));
    }
    Node f;
    f.op = &ops::kFusedElementwise;
    f.attrs = {{"program", ops::fused_program_text(steps)}};
    f.inputs = std::move(outside);
    f.outputs = g.nodes[root].outputs;
    f.where = g.nodes[root].where;
    g.nodes[root] = std::move(f);
    for (int m : group)
      if (m != static_cast<int>(root)) drop[static_cast<size_t>(m)] = true;
    ++fused;
  }
  if (fused) remove_nodes(g, drop);
  return fused;
}

}  // namespace tessera::graph
