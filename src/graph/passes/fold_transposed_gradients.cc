// A linear layer's weight gradient, as autograd writes it through linear's decomposition
// (permute + addmm): mm(a, b) computes the gradient of the transposed weight, mul by
// addmm's alpha (1) scales it, permute turns it back, and accumulating it into .grad
// clones that transposed view into a contiguous tensor. Three passes over the largest
// gradient of the step (CNN28's first linear layer: 4.7 MB). Since (a b)^T = b^T a^T and
// the GEMM reads transposed operands in place, the chain becomes one mm(b^T, a^T) writing
// the contiguous result directly. Any graph; only where every link has no other reader.
#include <optional>

#include "graph/passes/passes.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/view.h"

namespace tessera::graph {
namespace {

bool is_transpose(const Node& n) {
  return n.op == &ops::kPermute && n.attrs.ints("dims") == std::vector<int64_t>{1, 0};
}

// A wrapped scalar the traced code wrote with value 1.
bool is_literal_one(const Graph& g, int id) {
  const Value& v = g.values[static_cast<size_t>(id)];
  return v.wrapped && v.tensor.defined() && v.tensor.numel() == 1 &&
         (v.kind == ValueKind::Captured || v.kind == ValueKind::Constant) && read_as_double(v.tensor, 0) == 1.0;
}

}  // namespace

int fold_transposed_gradients(Graph& g) {
  if (g.nodes.empty()) return 0;
  const ValueReaders readers(g);
  std::vector<int> producer(g.values.size(), -1);
  std::vector<bool> written(g.values.size(), false);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    for (int id : g.nodes[k].outputs) producer[static_cast<size_t>(id)] = static_cast<int>(k);
    if (g.nodes[k].into >= 0) written[static_cast<size_t>(g.nodes[k].into)] = true;
  }
  // The node making `id`, when `id` is read by exactly one node, never written, no output.
  auto sole_maker = [&](int id) -> Node* {
    const int p = producer[static_cast<size_t>(id)];
    if (p < 0 || written[static_cast<size_t>(id)] || readers.sole_reader(id) < 0) return nullptr;
    Node* n = &g.nodes[static_cast<size_t>(p)];
    return n->writes() ? nullptr : n;
  };
  std::vector<bool> drop(g.nodes.size(), false);
  int folded = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    Node& clone = g.nodes[k];
    if (clone.op != &ops::kClone || clone.writes()) continue;
    // clone <- as_strided (the transposed view) <- permute <- [mul by 1] <- mm
    Node* as = sole_maker(clone.inputs[0]);
    if (as == nullptr || as->op != &ops::kAsStrided) continue;
    Node* perm = sole_maker(as->inputs[0]);
    if (perm == nullptr || !is_transpose(*perm)) continue;
    Node* scale = nullptr;
    Node* mm = sole_maker(perm->inputs[0]);
    if (mm != nullptr && mm->op == &ops::kMul && mm->inputs.size() == 2 && is_literal_one(g, mm->inputs[1])) {
      scale = mm;
      mm = sole_maker(scale->inputs[0]);
    }
    if (mm == nullptr || mm->op != &ops::kMm) continue;
    const ops::TensorMeta& m = g.values[static_cast<size_t>(mm->outputs[0])].meta;  // [B, A]
    const ops::TensorMeta& out = g.values[static_cast<size_t>(clone.outputs[0])].meta;  // [A, B]
    if (scale != nullptr && g.values[static_cast<size_t>(scale->outputs[0])].meta.dtype != m.dtype) continue;
    // The view must be exactly the transpose of mm's contiguous result.
    if (as->attrs.i("offset") != 0 || out.dtype != m.dtype ||
        as->attrs.ints("sizes") != std::vector<int64_t>{m.sizes[1], m.sizes[0]} ||
        as->attrs.ints("strides") != std::vector<int64_t>{1, m.sizes[1]})
      continue;
    const int a = mm->inputs[0], b = mm->inputs[1];
    const ops::TensorMeta am = g.values[static_cast<size_t>(a)].meta, bm = g.values[static_cast<size_t>(b)].meta;
    // Reuse the chain's nodes: mm's becomes b^T, the permute's a^T (both come after a and
    // b are made), the clone the product; the scale and the view go.
    const int bt = mm->outputs[0], at = perm->outputs[0];
    // The product keeps its precision (autocast's bf16): it is the same product, transposed.
    ops::Attrs mm_attrs;
    if (mm->attrs.has("precision")) mm_attrs.add({"precision", mm->attrs.get<std::string>("precision")});
    *mm = Node{&ops::kPermute, {{"dims", std::vector<int64_t>{1, 0}}}, {b}, {bt}, -1, mm->where};
    g.values[static_cast<size_t>(bt)].meta = {Shape{bm.sizes[1], bm.sizes[0]}, bm.dtype};
    *perm = Node{&ops::kPermute, {{"dims", std::vector<int64_t>{1, 0}}}, {a}, {at}, -1, perm->where};
    g.values[static_cast<size_t>(at)].meta = {Shape{am.sizes[1], am.sizes[0]}, am.dtype};
    clone = Node{&ops::kMm, std::move(mm_attrs), {bt, at}, clone.outputs, -1, clone.where};
    drop[static_cast<size_t>(as - g.nodes.data())] = true;
    if (scale != nullptr) drop[static_cast<size_t>(scale - g.nodes.data())] = true;
    ++folded;
  }
  if (folded) remove_nodes(g, drop);
  return folded;
}

}  // namespace tessera::graph
