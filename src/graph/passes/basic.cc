// The generic passes: dead-code elimination, common-subexpression elimination, constant
// folding, and the pipeline that runs them.
#include <map>
#include <tuple>

#include "graph/passes/passes.h"

namespace tessera::graph {

ValueReaders::ValueReaders(const Graph& g)
    : count_(g.values.size(), 0), last_(g.values.size(), -1), is_output_(g.values.size(), false) {
  for (size_t k = 0; k < g.nodes.size(); ++k)
    for (int id : g.nodes[k].inputs) {
      ++count_[static_cast<size_t>(id)];
      last_[static_cast<size_t>(id)] = static_cast<int>(k);
    }
  for (int id : g.outputs) is_output_[static_cast<size_t>(id)] = true;
}

int ValueReaders::count(int id) const {
  return static_cast<size_t>(id) < count_.size() ? count_[static_cast<size_t>(id)] : 0;
}
bool ValueReaders::is_output(int id) const {
  return static_cast<size_t>(id) < is_output_.size() && is_output_[static_cast<size_t>(id)];
}
int ValueReaders::sole_reader(int id) const {
  return count(id) == 1 && !is_output(id) ? last_[static_cast<size_t>(id)] : -1;
}

void replace_uses(Graph& g, int from, int to) {
  for (Node& n : g.nodes) {
    for (int& id : n.inputs)
      if (id == from) id = to;
    if (n.into == from) n.into = to;
  }
  for (int& id : g.outputs)
    if (id == from) id = to;
}

void remove_nodes(Graph& g, const std::vector<bool>& drop) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    if (drop[k]) continue;
    for (int id : g.nodes[k].outputs) g.values[static_cast<size_t>(id)].node = static_cast<int>(kept.size());
    kept.push_back(std::move(g.nodes[k]));
  }
  g.nodes = std::move(kept);
}

int eliminate_dead_code(Graph& g) {
  std::vector<bool> used(g.values.size(), false);
  for (int id : g.outputs) used[static_cast<size_t>(id)] = true;
  std::vector<bool> drop(g.nodes.size(), false);
  int removed = 0;
  for (size_t k = g.nodes.size(); k-- > 0;) {
    const Node& n = g.nodes[k];
    // A collective stays even if nothing here read its result: the other ranks wait for it.
    bool live = n.writes() || n.is_random() || n.is_collective();
    for (int id : n.outputs) live = live || used[static_cast<size_t>(id)];
    if (!live) {
      drop[k] = true;
      ++removed;
      continue;
    }
    for (int id : n.inputs) used[static_cast<size_t>(id)] = true;
    if (n.into >= 0) used[static_cast<size_t>(n.into)] = true;
  }
  if (removed) remove_nodes(g, drop);
  return removed;
}

int eliminate_common_subexpressions(Graph& g) {
  // Key: op, inputs and the attributes' printed form (exact: doubles print in their
  // shortest round-trip form).
  std::map<std::tuple<const ops::OpDef*, std::vector<int>, std::string>, size_t> seen;
  std::vector<bool> drop(g.nodes.size(), false);
  int merged = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    Node& n = g.nodes[k];
    if (n.writes() || n.is_collective()) {
      seen.clear();  // nothing computed before a write may stand in for what comes after
      continue;      // (and two equal collectives are two exchanges, never one)
    }
    if (n.is_random() || (n.op->flags & ops::kDataDependentShape)) continue;
    auto key = std::make_tuple(n.op, n.inputs, attr_string(n.attrs));
    auto [it, fresh] = seen.emplace(std::move(key), k);
    if (fresh) continue;
    const Node& m = g.nodes[it->second];
    for (size_t o = 0; o < n.outputs.size(); ++o) replace_uses(g, n.outputs[o], m.outputs[o]);
    drop[k] = true;
    ++merged;
  }
  if (merged) remove_nodes(g, drop);
  return merged;
}

int fold_constants(Graph& g, bool freeze) {
  // A folded constant is one tensor shared by every run: a graph that writes could write
  // into it (zeros() then add_), or into the weights `freeze` would bake in.
  if (g.has_writes()) return 0;
  auto is_constant = [&](int id) {
    const ValueKind k = g.values[static_cast<size_t>(id)].kind;
    return k == ValueKind::Constant || (freeze && k == ValueKind::Captured);
  };
  std::vector<bool> drop(g.nodes.size(), false);
  int folded = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    if (n.is_random() || n.is_collective() || (n.op->flags & ops::kDataDependentShape)) continue;
    bool all = true;
    for (int id : n.inputs) all = all && is_constant(id);
    if (!all) continue;
    std::vector<Tensor> args;
    for (int id : n.inputs) args.push_back(g.values[static_cast<size_t>(id)].tensor);
    std::vector<Tensor> outs = ops::call_backend(*n.op, args, n.attrs);
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      Value& v = g.values[static_cast<size_t>(n.outputs[o])];
      v.kind = ValueKind::Constant;
      v.node = -1;
      v.tensor = outs[o];
    }
    drop[k] = true;
    ++folded;
  }
  if (folded) remove_nodes(g, drop);
  return folded;
}

int drop_unused_values(Graph& g) {
  std::vector<bool> used(g.values.size(), false);
  for (const Node& n : g.nodes) {
    for (int id : n.inputs) used[static_cast<size_t>(id)] = true;
    for (int id : n.outputs) used[static_cast<size_t>(id)] = true;
    if (n.into >= 0) used[static_cast<size_t>(n.into)] = true;
  }
  for (int id : g.inputs) used[static_cast<size_t>(id)] = true;
  for (int id : g.outputs) used[static_cast<size_t>(id)] = true;
  std::vector<int> renumber(g.values.size(), -1);
  std::vector<Value> kept;
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (!used[i]) continue;
    renumber[i] = static_cast<int>(kept.size());
    kept.push_back(std::move(g.values[i]));
  }
  const int dropped = static_cast<int>(g.values.size() - kept.size());
  if (dropped == 0) {
    for (size_t i = 0; i < kept.size(); ++i) g.values[i] = std::move(kept[i]);
    return 0;
  }
  g.values = std::move(kept);
  auto remap = [&](int& id) { id = renumber[static_cast<size_t>(id)]; };
  for (Node& n : g.nodes) {
    for (int& id : n.inputs) remap(id);
    for (int& id : n.outputs) remap(id);
    if (n.into >= 0) remap(n.into);
  }
  for (int& id : g.inputs) remap(id);
  for (int& id : g.outputs) remap(id);
  return dropped;
}

std::optional<double> literal_value(const Graph& g, int id) {
  const Value& v = g.values[static_cast<size_t>(id)];
  if (!v.wrapped || !v.tensor.defined() || v.tensor.numel() != 1) return std::nullopt;
  if (v.kind != ValueKind::Captured && v.kind != ValueKind::Constant) return std::nullopt;
  return read_as_double(v.tensor, 0);
}

std::vector<std::string> optimize(Graph& g, const PassOptions& options) {
  std::vector<std::string> log;
  g.verify();
  auto run = [&](const char* name, int changed, const char* what) {
    g.verify();
    if (changed) log.push_back(detail::concat(name, ": ", changed, " ", what));
  };
  run("fold", fold_constants(g, options.freeze), "nodes folded");
  if (options.freeze) run("conv-affine", fold_conv_affine(g), "ops folded into convolutions");
  run("cse", eliminate_common_subexpressions(g), "nodes merged");
  run("dce", eliminate_dead_code(g), "nodes removed");
  if (options.freeze) {
    run("layouts", select_conv_layouts(g), "convolutions and pools run blocked");
    run("fold", fold_constants(g, true), "nodes folded");
    run("dce", eliminate_dead_code(g), "nodes removed");
    run("linear", fuse_linear_epilogues(g), "matmuls fused with their epilogues");
  }
  run("algorithms", select_conv_algorithms(g), "convolutions run with Winograd");
  run("relu-grad", fuse_threshold_backward(g), "ReLU gradients fused");
  run("pool-relu", pool_before_relu(g), "ReLUs moved after their max pooling");
  if (!options.freeze)
    run("training-layouts", select_training_conv_layouts(g), "nodes of a training step run blocked");
  run("conv-pool", fuse_conv_max_pool(g), "convolutions fused with their max pooling");
  run("transposed-grad", fold_transposed_gradients(g), "transposed weight gradients computed in place");
  run("arithmetic", simplify_arithmetic(g), "multiplications by 1 dropped");
  run("elementwise", fuse_elementwise(g), "elementwise chains fused");
  run("values", drop_unused_values(g), "unused values dropped");
  return log;
}

}  // namespace tessera::graph
