// A linear layer's weight gradient, as autograd writes it through linear's decomposition
// (permute + addmm), ends in AccumulateGrad's clone of a view of a product. Either the
// product is the transposed weight's gradient, mm(a, b) [* alpha 1], turned back by a
// permute: the clone then copies a transposed view element by element, three passes over
// the step's largest gradient (CNN28's first linear layer: 4.7 MB); or (addmm's rule since
// it computes an operand stored transposed in that layout, as PyTorch does) the product is
// already the weight's gradient, turned twice: the clone copies a contiguous result that
// nothing else reads. Since (a b)^T = b^T a^T and the GEMM reads transposed operands in
// place, the first chain becomes one mm(b^T, a^T) and the second mm(a, b), each writing
// the contiguous gradient directly. Any graph; only where every link has no other reader.
#include <optional>
#include <vector>

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
    // clone <- as_strided (the view) <- permute, one or more <- [mul by 1] <- mm
    Node* as = sole_maker(clone.inputs[0]);
    if (as == nullptr || as->op != &ops::kAsStrided) continue;
    std::vector<Node*> perms;
    Node* next = sole_maker(as->inputs[0]);
    while (next != nullptr && is_transpose(*next)) {
      perms.push_back(next);
      next = sole_maker(next->inputs[0]);
    }
    if (perms.empty()) continue;
    Node* scale = nullptr;
    Node* mm = next;
    if (mm != nullptr && mm->op == &ops::kMul && mm->inputs.size() == 2 && is_literal_one(g, mm->inputs[1])) {
      scale = mm;
      mm = sole_maker(scale->inputs[0]);
    }
    if (mm == nullptr || mm->op != &ops::kMm) continue;
    const ops::TensorMeta& m = g.values[static_cast<size_t>(mm->outputs[0])].meta;  // [B, A]
    const ops::TensorMeta& out = g.values[static_cast<size_t>(clone.outputs[0])].meta;
    if (scale != nullptr && g.values[static_cast<size_t>(scale->outputs[0])].meta.dtype != m.dtype) continue;
    // The view must be exactly mm's contiguous result, transposed (an odd number of
    // permutes) or as it is (an even number).
    const bool transposed = perms.size() % 2 == 1;
    const std::vector<int64_t> sizes = transposed ? std::vector<int64_t>{m.sizes[1], m.sizes[0]}
                                                  : std::vector<int64_t>{m.sizes[0], m.sizes[1]};
    const std::vector<int64_t> strides = transposed ? std::vector<int64_t>{1, m.sizes[1]}
                                                    : std::vector<int64_t>{m.sizes[1], 1};
    if (as->attrs.i("offset") != 0 || out.dtype != m.dtype || as->attrs.ints("sizes") != sizes ||
        as->attrs.ints("strides") != strides)
      continue;
    // The product keeps its precision (autocast's bf16): it is the same product.
    ops::Attrs mm_attrs;
    if (mm->attrs.has("precision")) mm_attrs.add({"precision", mm->attrs.get<std::string>("precision")});
    if (transposed) {
      // Reuse the chain's nodes: mm's becomes b^T, the last permute's a^T (both come after
      // a and b are made), the clone the product.
      const int a = mm->inputs[0], b = mm->inputs[1];
      const ops::TensorMeta am = g.values[static_cast<size_t>(a)].meta, bm = g.values[static_cast<size_t>(b)].meta;
      Node* perm = perms.back();
      const int bt = mm->outputs[0], at = perm->outputs[0];
      *mm = Node{&ops::kPermute, {{"dims", std::vector<int64_t>{1, 0}}}, {b}, {bt}, -1, mm->where};
      g.values[static_cast<size_t>(bt)].meta = {Shape{bm.sizes[1], bm.sizes[0]}, bm.dtype};
      *perm = Node{&ops::kPermute, {{"dims", std::vector<int64_t>{1, 0}}}, {a}, {at}, -1, perm->where};
      g.values[static_cast<size_t>(at)].meta = {Shape{am.sizes[1], am.sizes[0]}, am.dtype};
      clone = Node{&ops::kMm, std::move(mm_attrs), {bt, at}, clone.outputs, -1, clone.where};
      perms.pop_back();
    } else {
      // The clone becomes the product itself (its operands are made before mm was).
      clone = Node{&ops::kMm, std::move(mm_attrs), mm->inputs, clone.outputs, -1, clone.where};
      drop[static_cast<size_t>(mm - g.nodes.data())] = true;
    }
    for (Node* p : perms) drop[static_cast<size_t>(p - g.nodes.data())] = true;
    drop[static_cast<size_t>(as - g.nodes.data())] = true;
    if (scale != nullptr) drop[static_cast<size_t>(scale - g.nodes.data())] = true;
    ++folded;
  }
  if (folded) remove_nodes(g, drop);
  return folded;
}

}  // namespace tessera::graph
