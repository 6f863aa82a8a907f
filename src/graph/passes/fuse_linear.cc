// Fusion of the fully connected layers of frozen (inference) graphs: matmul (or addmm)
// by a constant 2-D weight, followed by what reads its output alone: a bias add (a [N]
// constant), a residual add (a value computed before the matmul, of the output's shape),
// a ReLU, in that order, each optional. The chain becomes one linear_fused node, whose
// kernel packs the weight once and applies the epilogue in registers (ops/linear_fused.cc).
// A transformer layer's projections and feed-forward, and the classifiers of the CNNs,
// are such chains. Frozen graphs only (the weight must be constant; no writes).
#include "graph/passes/passes.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "tessera/ops.h"

namespace tessera::graph {
namespace {

bool is_constant(const Graph& g, int id) {
  const ValueKind k = g.values[static_cast<size_t>(id)].kind;
  return k == ValueKind::Constant || k == ValueKind::Captured;
}

bool is_f32(const Graph& g, int id) { return g.values[static_cast<size_t>(id)].meta.dtype == DType::Float32; }
const Shape& sizes(const Graph& g, int id) { return g.values[static_cast<size_t>(id)].meta.sizes; }
bool is_one(const Scalar& s) { return s.to<double>() == 1.0; }

}  // namespace

int fuse_linear_epilogues(Graph& g) {
  if (g.has_writes()) return 0;
  const ValueReaders readers(g);
  auto sole_reader = [&](int id) { return readers.sole_reader(id); };
  // Defined before node k: the residual must exist when the fused node runs in k's place.
  auto before = [&](int id, size_t k) {
    const Value& v = g.values[static_cast<size_t>(id)];
    return v.kind != ValueKind::Node || static_cast<size_t>(v.node) < k;
  };
  auto plain_add = [&](int node) {
    const Node& a = g.nodes[static_cast<size_t>(node)];
    return a.op == &ops::kAdd && a.into < 0 && a.attrs.items().empty();
  };

  std::vector<bool> drop(g.nodes.size(), false);
  int fused = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    int x = -1, w = -1, bias = -1;
    if (n.op == &ops::kMatmul && n.into < 0) {
      x = n.inputs[0];
      w = n.inputs[1];
      if (sizes(g, x).size() < 2) continue;
    } else if (n.op == &ops::kAddmm && n.into < 0 && is_one(n.attrs.scalar("beta")) && is_one(n.attrs.scalar("alpha"))) {
      bias = n.inputs[0];
      x = n.inputs[1];
      w = n.inputs[2];
    } else {
      continue;
    }
    if (!is_constant(g, w) || sizes(g, w).size() != 2 || !is_f32(g, x) || !is_f32(g, w)) continue;
    const int out = n.outputs[0];
    const Shape out_sizes = sizes(g, out);
    const int64_t features = sizes(g, w)[1];
    if (bias >= 0 && !(is_constant(g, bias) && is_f32(g, bias) && sizes(g, bias).size() == 1 &&
                       sizes(g, bias)[0] == features))
      continue;

    int last = out, residual = -1;
    bool relu = false;
    std::vector<int> absorbed;
    int r = sole_reader(last);
    if (bias < 0 && r >= 0 && plain_add(r)) {
      const Node& a = g.nodes[static_cast<size_t>(r)];
      const int other = a.inputs[0] == last ? a.inputs[1] : a.inputs[0];
      if (other != last && is_constant(g, other) && is_f32(g, other) && sizes(g, other).size() == 1 &&
          sizes(g, other)[0] == features && IntArrayRef(sizes(g, a.outputs[0])).equals(out_sizes)) {
        bias = other;
        absorbed.push_back(r);
        last = a.outputs[0];
        r = sole_reader(last);
      }
    }
    if (r >= 0 && plain_add(r)) {
      const Node& a = g.nodes[static_cast<size_t>(r)];
      const int other = a.inputs[0] == last ? a.inputs[1] : a.inputs[0];
      if (other != last && before(other, k) && is_f32(g, other) && IntArrayRef(sizes(g, other)).equals(out_sizes) &&
          IntArrayRef(sizes(g, a.outputs[0])).equals(out_sizes)) {
        residual = other;
        absorbed.push_back(r);
        last = a.outputs[0];
        r = sole_reader(last);
      }
    }
    if (r >= 0 && g.nodes[static_cast<size_t>(r)].op == &ops::kRelu && g.nodes[static_cast<size_t>(r)].into < 0) {
      relu = true;
      absorbed.push_back(r);
      last = g.nodes[static_cast<size_t>(r)].outputs[0];
    }
    if (bias < 0) {
      Value v;
      v.kind = ValueKind::Constant;
      v.tensor = zeros({features}, kFloat32);
      v.meta = {Shape{features}, DType::Float32};
      bias = g.add_value(std::move(v));
    }
    Node f;
    f.op = &ops::kLinearFused;
    // The product's precision (autocast) goes with it: a graph traced under autocast keeps it.
    f.attrs = {{"activation", std::string(relu ? "relu" : "none")},
               {"precision", n.attrs.has("precision") ? n.attrs.get<std::string>("precision") : std::string("float32")}};
    f.inputs = {x, w, bias};
    if (residual >= 0) f.inputs.push_back(residual);
    f.outputs = {last};  // the chain's last value, so its readers read the fused node
    f.where = n.where;
    Value& lv = g.values[static_cast<size_t>(last)];
    lv.node = static_cast<int>(k);
    lv.index = 0;
    g.nodes[k] = std::move(f);
    for (int a : absorbed) drop[static_cast<size_t>(a)] = true;
    ++fused;
  }
  if (fused) remove_nodes(g, drop);
  return fused;
}

}  // namespace tessera::graph
